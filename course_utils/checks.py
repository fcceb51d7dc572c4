"""Argument checks that raise errors naming the argument, its value and what is allowed."""

from __future__ import annotations

import numbers
from collections.abc import Iterable


def check_type(name: str, value, types, allowed: str):
    """Raise TypeError unless ``value`` is an instance of ``types``."""
    if isinstance(value, bool) and bool not in _as_tuple(types):
        raise TypeError(f"{name}={value!r} is a bool; allowed: {allowed}")
    if not isinstance(value, types):
        raise TypeError(f"{name}={value!r} has type {type(value).__name__}; allowed: {allowed}")
    return value


def check_number(name: str, value, *, low=None, high=None, low_open=False, high_open=False,
                 integer=False):
    """Raise TypeError/ValueError unless ``value`` is a real number inside the given bounds."""
    kind = "an integer" if integer else "a real number"
    types = numbers.Integral if integer else numbers.Real
    check_type(name, value, types, kind)
    if value != value:  # NaN
        raise ValueError(f"{name}={value!r} is NaN; allowed: {kind}{_bounds(low, high, low_open, high_open)}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        raise ValueError(f"{name}={value!r} is out of range; allowed: {kind}"
                         f"{_bounds(low, high, low_open, high_open)}")
    return value


def check_choice(name: str, value, choices: Iterable):
    """Raise ValueError unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not known; allowed: {', '.join(map(repr, choices))}")
    return value


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _bounds(low, high, low_open, high_open) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low}"
    if low is None:
        return f" {'<' if high_open else '<='} {high}"
    return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
