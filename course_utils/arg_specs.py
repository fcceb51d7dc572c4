"""Argument specs: what each argument of a torch object may be, and how an explorer shows it as a control.

A :class:`Param` checks one argument (raising errors that name it, its value and what is allowed);
its optional :class:`Slider` is plain data from which an explorer builds the control. The scheduler
specs of :mod:`course_utils.schedules` are made of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from course_utils.checks import check_choice, check_number, check_type

__all__ = ["Param", "Slider", "check_params", "choice", "integer", "linear", "log", "real", "select"]


@dataclass(frozen=True)
class Slider:
    """How an explorer shows one argument (plain data: the explorer builds the control).

    ``kind``: ``"linear"`` (``low``..``high`` by ``step``), ``"log"`` (``10**low``..``10**high``,
    ``step`` on the exponent), ``"range"`` (two ints, for milestones), ``"choice"`` (the
    argument's choices, a dropdown) or ``"select"`` (a slider over the values in ``options``: for
    an argument where 0 and a log-like spread of values both matter). ``key``: the control's name
    (default: the argument's); schedulers whose arguments have the same key share one control, so
    they must have the same slider.
    """

    value: object
    low: float | None = None
    high: float | None = None
    step: float | None = None
    fmt: str | None = None
    kind: str = "linear"
    label: str | None = None
    key: str | None = None
    options: tuple = ()


@dataclass(frozen=True)
class Param:
    """What one scheduler argument may be, and (``slider``) how the explorer shows it."""

    kind: str  # "int", "real", "bool", "choice", "milestones"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    required: bool = False
    allow_none: bool = False
    slider: Slider | None = None

    def check(self, name: str, value):
        """The value torch should get (ints stay ints, reals become float), or raise."""
        if value is None and self.allow_none:
            return None
        if self.kind == "bool":
            return check_type(name, value, bool, "True or False")
        if self.kind == "choice":
            return check_choice(name, value, self.choices)
        if self.kind == "milestones":
            check_type(name, value, (list, tuple), "a list of epoch numbers (integers >= 1)")
            if len(value) == 0:
                raise ValueError(f"{name}={value!r} is empty; allowed: a list of epoch numbers "
                                 "(integers >= 1)")
            for v in value:
                check_number(f"{name} entry", v, low=1, integer=True)
            return [int(v) for v in value]
        check_number(name, value, low=self.low, high=self.high, low_open=self.low_open,
                     high_open=self.high_open, integer=self.kind == "int")
        return int(value) if self.kind == "int" else float(value)


def check_params(owner: str, params: dict, specs: Mapping[str, Param]) -> dict:
    """Checked copies of ``params`` for ``owner``; unknown or missing names raise TypeError."""
    unknown = [k for k in params if k not in specs]
    if unknown:
        raise TypeError(f"{owner} got unknown parameter(s) {', '.join(unknown)}; "
                        f"allowed: {', '.join(specs)}")
    missing = [k for k, spec in specs.items() if spec.required and k not in params]
    if missing:
        raise TypeError(f"{owner} needs parameter(s) {', '.join(missing)}; allowed: {', '.join(specs)}")
    out = {}
    for key, value in params.items():
        try:
            out[key] = specs[key].check(key, value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{owner}: {exc}") from None
    return out


def integer(low=None, high=None, **kw) -> Param:
    """An integer argument in [low, high]."""
    return Param("int", low, high, **kw)


def real(low=None, high=None, **kw) -> Param:
    """A real argument in [low, high] (``low_open``/``high_open`` exclude an end)."""
    return Param("real", low, high, **kw)


def choice(*choices, **kw) -> Param:
    """An argument that is one of ``choices``."""
    return Param("choice", choices=choices, **kw)


def linear(value, low, high, step, fmt=None, **kw) -> Slider:
    """A linear slider."""
    return Slider(value, low, high, step, fmt, **kw)


def log(value, low_exp, high_exp, step=0.1, fmt=".3g", **kw) -> Slider:
    """A log slider from ``10**low_exp`` to ``10**high_exp``."""
    return Slider(value, low_exp, high_exp, step, fmt, kind="log", **kw)


def select(value, options, **kw) -> Slider:
    """A slider over the values ``options`` (``value`` among them)."""
    if value not in options:
        raise ValueError(f"value={value!r} is not one of options={options!r}; allowed: one of the options")
    return Slider(value, min(options), max(options), kind="select", options=tuple(options), **kw)
