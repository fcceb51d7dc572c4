"""Learning-rate schedules, read off the real ``torch.optim.lr_scheduler`` classes: compute and drawing.

Nothing here re-implements a schedule: :func:`lr_curve` steps a throw-away ``SGD(lr=lr)`` and the
named torch scheduler (``optimizer.step()``, then ``scheduler.step()``) and records the lr of each
epoch (as no parameter has a gradient, only the first ``optimizer.step()`` is called: torch checks the
order there, and the others change no lr -- a test compares with the loop that calls both every
epoch). ``ReduceLROnPlateau``, which reads a validation loss instead, is in :mod:`course_utils.plateau`
(its names are reachable from here too: ``schedules.plateau_trace``). Each scheduler is
ONE :class:`SchedulerSpec` in :data:`SCHEDULERS` (its arguments' checks and sliders, its closed
form, how to build it). Drawing: ``plot_x(ax, ...)`` -> artists, ``update_x(artists, ...)``; the
explorers are in :mod:`course_utils.explorers.schedules`.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, ScalarFormatter
from torch.optim import lr_scheduler

from course_utils import arg_specs as A
from course_utils.arg_specs import Param, Slider, check_params
from course_utils.checks import check_number, check_type
from course_utils.i18n import N_, tr
from course_utils.plotting import COLORS

__all__ = [
    "SCHEDULERS", "SCHEDULER_NAMES", "Param", "SchedulerSpec", "Slider", "lr_curve", "plot_lr_curve",
    "scheduler_call", "update_lr_axes", "update_lr_curve", "update_marker", "update_text",
]


# ---------------------------------------------------------------------------------------------
# One spec per scheduler: its arguments (checks and sliders), its closed form, how to build it
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchedulerSpec:
    """Everything about one scheduler; adding a scheduler is adding one of these to :data:`SCHEDULERS`.

    ``params``: argument -> :class:`Param`, in the order the explorer shows and the readout writes
    them; ``formula``: the closed form (HTML) for the readout (its words marked with ``N_``: the readout
    shows ``tr(formula)``); ``complete(steps, args)``: fills the
    defaults :func:`lr_curve` documents and checks the arguments against each other; ``build(optimizer,
    args)``: the scheduler (default: the torch class ``name``); ``call(args)``: its torch code;
    ``ignores_lr``: what sets the first lr when the scheduler ignores the optimizer's; ``marker``:
    ``(argument, note)``, a dotted line at that epoch when it falls inside the run (the note marked with
    ``N_``, shown through ``tr``); ``per_batch``: usually
    stepped once per batch (its lengths then count batches), not once per epoch.
    """

    name: str
    params: Mapping[str, Param]
    formula: str
    complete: Callable[[int, dict], dict] | None = None
    build: Callable | None = None
    call: Callable[[dict], str] | None = None
    ignores_lr: str = ""
    marker: tuple[str, str] | None = None
    per_batch: bool = False


def _one_cycle_args(steps: int, args: dict) -> dict:
    """``total_steps`` defaults to ``steps`` and may not be smaller; three phases need pct_start < 0.5."""
    args.setdefault("total_steps", steps)
    if args["total_steps"] < steps:
        raise ValueError(
            f"OneCycleLR: total_steps={args['total_steps']} is smaller than steps={steps}; "
            f"OneCycleLR raises when stepped more than total_steps times, allowed: total_steps >= steps")
    if args.get("three_phase") and args.get("pct_start", 0.3) >= 0.5:
        raise ValueError(f"OneCycleLR: pct_start={args['pct_start']!r} with three_phase=True; "
                         "allowed: pct_start < 0.5 (the warm-up and the way back take 2*pct_start)")
    return args


def _cyclic_args(steps: int, args: dict) -> dict:
    """The cycle's top may not be below its bottom."""
    if args["max_lr"] < args["base_lr"]:
        raise ValueError(f"CyclicLR: max_lr={args['max_lr']!r} is below base_lr={args['base_lr']!r}; "
                         "allowed: max_lr >= base_lr")
    return args


def _warmup_cosine_args(steps: int, args: dict) -> dict:
    """The cosine spans the epochs after the warm-up."""
    args.setdefault("T_max", max(1, steps - args["warmup_steps"]))
    return args


def _warmup_cosine(optimizer, args: dict):
    """SequentialLR of a linear warm-up and a cosine."""
    warmup = args["warmup_steps"]
    warm = lr_scheduler.LinearLR(optimizer, start_factor=args.get("start_factor", 1 / 3), end_factor=1.0,
                                 total_iters=warmup)
    cos = lr_scheduler.CosineAnnealingLR(optimizer, T_max=args["T_max"], eta_min=args.get("eta_min", 0.0))
    return lr_scheduler.SequentialLR(optimizer, [warm, cos], milestones=[warmup])


def _warmup_cosine_call(args: dict) -> str:
    """The torch code of the warm-up + cosine pair."""
    warm, sf = args.get("warmup_steps"), args.get("start_factor", 1 / 3)
    cos = ", ".join(f"{k}={_fmt_arg(args[k])}" for k in ("T_max", "eta_min") if k in args)
    return (f"SequentialLR(optimizer, [LinearLR(optimizer, start_factor={_fmt_arg(sf)}, "
            f"total_iters={warm}), CosineAnnealingLR(optimizer, {cos})], milestones=[{warm}])")


# arguments (and sliders) several schedulers share
_GAMMA = A.real(0.0, slider=A.linear(0.1, 0.0, 1.0, 0.05, ".2f"))
_ETA_MIN = A.real(0.0, slider=A.linear(0.0, 0.0, 0.1, 0.005, ".3f"))
_TOTAL_ITERS = A.integer(1, slider=A.linear(20, 1, 200, 1))
_START_FACTOR = A.real(0.0, 1.0, low_open=True, slider=A.linear(0.1, 0.01, 1.0, 0.01, ".2f"))
_MAX_LR = A.real(0.0, low_open=True, required=True, slider=A.log(0.1, -3, 0))
_MOMENTUM = A.real(0.0, 1.0)

_SPECS = (
    SchedulerSpec("StepLR", {"step_size": A.integer(1, required=True, slider=A.linear(30, 1, 100, 1)),
                             "gamma": _GAMMA},
                  "lr·γ<sup>⌊e / step_size⌋</sup>"),
    SchedulerSpec("MultiStepLR", {"milestones": Param("milestones", required=True,
                                                      slider=Slider((30, 80), 1, 200, 1, kind="range")),
                                  "gamma": _GAMMA},
                  N_("lr·γ<sup>(number of milestones ≤ e)</sup>")),
    SchedulerSpec("ExponentialLR",
                  {"gamma": A.real(0.0, required=True, slider=A.linear(0.95, 0.8, 1.0, 0.005, ".3f",
                                                                  key="gamma_exp"))},
                  "lr·γ<sup>e</sup>"),
    SchedulerSpec("CosineAnnealingLR", {"T_max": A.integer(1, required=True, slider=A.linear(100, 1, 200, 1)),
                                        "eta_min": _ETA_MIN},
                  N_("η<sub>min</sub> + (lr − η<sub>min</sub>)·(1 + cos(π·e / T_max)) / 2 "
                     "&nbsp;(periodic: climbs back after T_max)"),
                  marker=("T_max", N_("after T_max the cosine climbs back up"))),
    SchedulerSpec("CosineAnnealingWarmRestarts", {
        "T_0": A.integer(1, required=True, slider=A.linear(10, 1, 100, 1)),
        "T_mult": A.integer(1, slider=A.linear(2, 1, 4, 1)), "eta_min": _ETA_MIN},
                  N_("η<sub>min</sub> + (lr − η<sub>min</sub>)·(1 + cos(π·T_cur / T_i)) / 2, "
                     "T_i = T_0·T_mult<sup>restarts</sup>")),
    SchedulerSpec("LinearLR", {"start_factor": _START_FACTOR,
                               "end_factor": A.real(0.0, 1.0, slider=A.linear(1.0, 0.0, 1.0, 0.01, ".2f")),
                               "total_iters": _TOTAL_ITERS},
                  "lr·(start + (end − start)·min(e, total_iters) / total_iters)"),
    SchedulerSpec("ConstantLR", {"factor": A.real(0.0, 1.0, slider=A.linear(0.5, 0.0, 1.0, 0.05, ".2f")),
                                 "total_iters": _TOTAL_ITERS},
                  N_("lr·factor for e &lt; total_iters, then lr")),
    SchedulerSpec("PolynomialLR", {"total_iters": _TOTAL_ITERS,
                                   "power": A.real(0.0, slider=A.linear(1.0, 0.0, 5.0, 0.1, ".1f"))},
                  "lr·(1 − min(e, total_iters) / total_iters)<sup>power</sup>"),
    SchedulerSpec("OneCycleLR", {
        "max_lr": _MAX_LR,
        "pct_start": A.real(0.0, 1.0, high_open=True, slider=A.linear(0.3, 0.0, 0.95, 0.05, ".2f")),
        "div_factor": A.real(0.0, low_open=True, slider=A.log(25.0, 0, 3)),
        "final_div_factor": A.real(0.0, low_open=True, slider=A.log(1e4, 0, 5, 0.25)),
        "anneal_strategy": A.choice("cos", "linear", slider=Slider("cos", kind="choice", label="anneal")),
        "total_steps": A.integer(1), "three_phase": Param("bool"), "cycle_momentum": Param("bool"),
        "base_momentum": _MOMENTUM, "max_momentum": _MOMENTUM},
        N_("max_lr/div_factor ↗ max_lr (first pct_start of the steps) ↘ "
           "max_lr/(div_factor·final_div_factor); with cycle_momentum=True (the default) the momentum (SGD) "
           "or β₁ (Adam) goes 0.95 ↘ 0.85 ↗ 0.95 the other way"),
        complete=_one_cycle_args, ignores_lr="max_lr/div_factor", per_batch=True),
    SchedulerSpec("CyclicLR", {
        "base_lr": A.real(0.0, required=True, slider=A.log(0.01, -4, 0)), "max_lr": _MAX_LR,
        "step_size_up": A.integer(1, slider=A.linear(10, 1, 100, 1)),
        "mode": A.choice("triangular", "triangular2", "exp_range",
                        slider=Slider("triangular", kind="choice", key="cyclic_mode")),
        "gamma": A.real(0.0, 1.0, low_open=True,
                       slider=A.linear(0.99, 0.9, 1.0, 0.005, ".3f", key="cyclic_gamma")),
        "step_size_down": A.integer(1, allow_none=True), "cycle_momentum": Param("bool"),
        "base_momentum": _MOMENTUM, "max_momentum": _MOMENTUM},
        "base_lr + (max_lr − base_lr)·triangle(e / step_size_up)·scale(cycle)",
        complete=_cyclic_args, ignores_lr="base_lr", per_batch=True),
    # linear warm-up, then cosine: SequentialLR([LinearLR, CosineAnnealingLR], milestones=[warmup_steps])
    SchedulerSpec("WarmupCosine", {"warmup_steps": A.integer(1, required=True,
                                                        slider=A.linear(10, 1, 100, 1, label="warmup")),
                                   "start_factor": _START_FACTOR, "T_max": A.integer(1), "eta_min": _ETA_MIN},
                  N_("lr·(start + (1 − start)·e / warmup) for e &lt; warmup, then cosine from lr over "
                     "T_max = epochs − warmup"),
                  complete=_warmup_cosine_args, build=_warmup_cosine, call=_warmup_cosine_call,
                  per_batch=True),
)

#: name -> :class:`SchedulerSpec`, one per scheduler :func:`lr_curve` knows.
SCHEDULERS: Mapping[str, SchedulerSpec] = {s.name: s for s in _SPECS}
#: Names :func:`lr_curve` knows (torch class names, plus ``"WarmupCosine"``).
SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)

def _check_name(name) -> str:
    check_type("name", name, str, f"one of {', '.join(SCHEDULER_NAMES)}")
    if name == "ReduceLROnPlateau":
        raise ValueError("name='ReduceLROnPlateau' needs the validation loss of every epoch: "
                         "use plateau_curve(val_losses, lr, **params)")
    if name not in SCHEDULERS:
        close = difflib.get_close_matches(name, SCHEDULER_NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"name={name!r} is not a known scheduler{hint}; "
                         f"allowed: {', '.join(SCHEDULER_NAMES)}")
    return name


def scheduler_call(name: str, **params) -> str:
    """The torch code that builds scheduler ``name`` with ``params`` (for readouts)."""
    spec = SCHEDULERS.get(name)
    if spec is not None and spec.call is not None:
        return spec.call(params)
    args = ", ".join(f"{k}={_fmt_arg(v)}" for k, v in params.items())
    return f"{name}(optimizer, {args})" if args else f"{name}(optimizer)"


def _fmt_arg(value) -> str:
    """An argument as the readout writes it (reals to 4 significant digits)."""
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


# ---------------------------------------------------------------------------------------------
# Compute
# ---------------------------------------------------------------------------------------------
def _freeze(params: dict) -> tuple:
    """``params`` as a hashable cache key (lists become tuples)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))


@functools.lru_cache(maxsize=1024)
def _lr_curve_cached(name: str, steps: int, lr: float, frozen: tuple) -> tuple[float, ...]:
    spec = SCHEDULERS[name]
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in frozen}
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    try:
        scheduler = (spec.build(optimizer, params) if spec.build is not None
                     else getattr(lr_scheduler, name)(optimizer, **params))
        # torch checks the order once, at the first scheduler.step(); further optimizer.step() calls
        # (no gradient: nothing moves) would change no lr
        optimizer.step()
        lrs = []
        for _ in range(steps):
            lrs.append(float(optimizer.param_groups[0]["lr"]))  # the lr this epoch trains with
            scheduler.step()
    except (ArithmeticError, TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"torch rejected {scheduler_call(name, **params)} with steps={steps}, lr={lr}: "
                         f"{type(exc).__name__}: {exc}") from exc
    return tuple(lrs)


def _schedule_unchecked(name: str, steps: int, lr: float, params: dict) -> tuple[np.ndarray, dict]:
    """The lr of each epoch and the completed arguments, for arguments already known to be in range.

    The explorer's path (its sliders cannot leave their ranges): only the checks between
    arguments run (``spec.complete``), and the curve comes from the cache.
    """
    spec = SCHEDULERS[name]
    args = spec.complete(steps, dict(params)) if spec.complete is not None else dict(params)
    return np.asarray(_lr_curve_cached(name, steps, lr, _freeze(args))), args


def lr_curve(name: str, steps: int, lr: float = 0.1, **params) -> list[float]:
    """The lr used in each of ``steps`` epochs by ``torch.optim.lr_scheduler.<name>(SGD(lr=lr), **params)``.

    Element ``e`` is ``optimizer.param_groups[0]["lr"]`` during epoch ``e``; after it, the loop calls
    ``optimizer.step()`` then ``scheduler.step()``. ``name`` is a torch class name from
    :data:`SCHEDULER_NAMES` or ``"WarmupCosine"`` (``SequentialLR`` of ``LinearLR(start_factor,
    total_iters=warmup_steps)`` and ``CosineAnnealingLR(T_max, eta_min)``, ``start_factor`` defaulting
    to LinearLR's 1/3 and ``T_max`` to ``steps - warmup_steps``). ``OneCycleLR``'s ``total_steps``
    defaults to ``steps``; note that ``OneCycleLR`` and ``CyclicLR`` ignore ``lr`` (they start at
    ``max_lr/div_factor`` and ``base_lr``).
    """
    name = _check_name(name)
    check_number("steps", steps, low=1, integer=True)
    check_number("lr", lr, low=0.0)
    checked = check_params(name, params, SCHEDULERS[name].params)
    return _schedule_unchecked(name, int(steps), float(lr), checked)[0].tolist()


# ---------------------------------------------------------------------------------------------
# Drawing on a given Axes: plot_x(ax, ...) -> artists, update_x(artists, ...)
# ---------------------------------------------------------------------------------------------
def plot_lr_curve(ax, lrs, *, label=None, **line_kw):
    """Draw the lr of each epoch as a step line (the lr is constant during an epoch); return the Line2D."""
    lrs = np.asarray(lrs, dtype=float)
    epochs = np.arange(len(lrs) + 1)
    kw = {"color": COLORS["ce"], "drawstyle": "steps-post", "label": label} | line_kw
    (line,) = ax.plot(epochs, np.append(lrs, lrs[-1:]), **kw)
    ax.set_xlabel(tr("epoch"))
    ax.set_ylabel(tr("learning rate (log)") if ax.get_yscale() == "log" else tr("learning rate"))
    if ax.get_yscale() == "linear":
        _short_linear_y(ax)
    return line


def update_lr_curve(line, lrs) -> None:
    """Point a line made by :func:`plot_lr_curve` at ``lrs``; ``None`` hides it."""
    line.set_visible(lrs is not None)
    if lrs is not None:
        lrs = np.asarray(lrs, dtype=float)
        line.set_data(np.arange(len(lrs) + 1), np.append(lrs, lrs[-1:]))


def update_lr_axes(ax, curves, log_y: bool) -> None:
    """Round limits for the lr ``curves`` shown: most slider moves keep them (and the cached background).

    The y label says "(log)" on a log axis; tick labels stay short at any lr (``2e-4``, or a linear
    axis's common factor written once above it), so that the label never leaves the figure.
    """
    top = max(float(np.max(c)) for c in curves) or 1.0
    if log_y:
        positive = np.concatenate([c[c > 0] for c in curves] + [np.array([top])])
        low = 10 ** math.floor(math.log10(max(float(positive.min()), 1e-9)) - 0.15)
        high = _nice_top(top, True)
        if (ax.get_yscale(), ax.get_ylim()) != ("log", (low, high)):
            _plain_log_y(ax, low, high)
    else:
        if ax.get_yscale() != "linear":
            ax.set_yscale("linear")
            _short_linear_y(ax)
        ax.set_ylim(0, _nice_top(top, False))
    label = tr("learning rate (log)") if log_y else tr("learning rate")
    if ax.get_ylabel() != label:
        ax.set_ylabel(label)
    ax.set_xlim(0, _nice_epochs(max(len(c) for c in curves)))


def update_marker(line, x) -> None:
    """Move a vertical line (``ax.axvline``) to ``x``; ``None`` hides it."""
    line.set_visible(x is not None)
    if x is not None:
        line.set_xdata([x, x])


def update_text(artist, text: str) -> bool:
    """Set ``artist``'s text; True when it changed (a static text: the background must be redrawn)."""
    if artist.get_text() == text:
        return False
    artist.set_text(text)
    return True


def _nice_epochs(n: int) -> int:
    """A round x-axis end at or above ``n`` epochs."""
    return next((m for m in (10, 20, 25, 30, 40, 50, 60, 75, 100, 120, 150, 200) if m >= n), n)


def _nice_top(value: float, log: bool) -> float:
    """A round upper y-limit so that small slider moves keep the axes."""
    value = max(value, 1e-12)
    if log:
        return 10 ** math.ceil(math.log10(value) + 0.15)
    for m in (1.0, 2.0, 5.0, 10.0):
        top = m * 10 ** math.floor(math.log10(value))
        if top >= value * 1.04:
            return top
    return 10 * 10 ** math.floor(math.log10(value))


def _short_number(value: float, _pos=None) -> str:
    """A tick label of at most 5 characters: 0.05, 0.001, then 5e-4, 1e-8."""
    if value == 0 or value >= 1e-3:
        return f"{value:g}"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _short_linear_y(ax) -> None:
    """Linear y ticks without long decimals: below 0.01 the common factor (×10⁻⁴) is written once."""
    formatter = ScalarFormatter(useMathText=True)
    formatter.set_powerlimits((-2, 4))
    ax.yaxis.set_major_formatter(formatter)


def _plain_log_y(ax, low: float, high: float) -> None:
    """Log y axis on [low, high], ticks written as short plain numbers (0.05, 5e-4; not 5×10^-2).

    Ticks at 1, 2, 5 × 10^k over up to 3 decades, at the decades beyond.
    """
    if ax.get_yscale() != "log":
        ax.set_yscale("log")
    ax.set_ylim(low, high)
    subs = (1.0, 2.0, 5.0) if np.log10(high / low) <= 3.01 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(_short_number))
    ax.yaxis.set_minor_formatter(NullFormatter())


_PLATEAU_NAMES = ("PLATEAU", "PlateauTrace", "plateau_curve", "plateau_trace", "plot_plateau",
                  "synthetic_val_losses", "update_plateau")


def __getattr__(name: str):
    """``schedules.plateau_trace`` and the other names of :mod:`course_utils.plateau`, imported on use."""
    if name in _PLATEAU_NAMES:
        from course_utils import plateau

        return getattr(plateau, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
