"""Learning-rate schedules, read off the real ``torch.optim.lr_scheduler`` classes: compute and drawing.

Nothing here re-implements a schedule: :func:`lr_curve` steps a throw-away ``SGD(lr=lr)`` and the
named torch scheduler (``optimizer.step()``, then ``scheduler.step()``) and records the lr of each
epoch; :func:`plateau_trace` feeds ``ReduceLROnPlateau`` a validation loss and reads its state
(``best``, ``num_bad_epochs``, ``cooldown_counter``) to say *why* the lr was cut. Each scheduler is
ONE :class:`SchedulerSpec` in :data:`SCHEDULERS` (its arguments' checks and sliders, its closed
form, how to build it). Drawing: ``plot_x(ax, ...)`` -> artists, ``update_x(artists, ...)``; the
explorers are in :mod:`course_utils.explorers.schedules`.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.collections import PolyCollection
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, ScalarFormatter
from torch.optim import lr_scheduler

from course_utils import arg_specs as A
from course_utils.arg_specs import Param, Slider, check_params
from course_utils.checks import check_number, check_type
from course_utils.plotting import COLORS, show_message

__all__ = [
    "PLATEAU", "SCHEDULERS", "SCHEDULER_NAMES", "Param", "PlateauTrace", "SchedulerSpec", "Slider",
    "lr_curve", "plateau_curve", "plateau_trace", "plot_lr_curve", "plot_plateau", "scheduler_call",
    "synthetic_val_losses", "update_lr_axes", "update_lr_curve", "update_marker", "update_plateau",
    "update_text",
]


# ---------------------------------------------------------------------------------------------
# One spec per scheduler: its arguments (checks and sliders), its closed form, how to build it
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchedulerSpec:
    """Everything about one scheduler; adding a scheduler is adding one of these to :data:`SCHEDULERS`.

    ``params``: argument -> :class:`Param`, in the order the explorer shows and the readout writes
    them; ``formula``: the closed form (HTML) for the readout; ``complete(steps, args)``: fills the
    defaults :func:`lr_curve` documents and checks the arguments against each other; ``build(optimizer,
    args)``: the scheduler (default: the torch class ``name``); ``call(args)``: its torch code;
    ``ignores_lr``: what sets the first lr when the scheduler ignores the optimizer's; ``marker``:
    ``(argument, note)``, a dotted line at that epoch when it falls inside the run; ``per_batch``: usually
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
                  "lr·γ<sup>(number of milestones ≤ e)</sup>"),
    SchedulerSpec("ExponentialLR",
                  {"gamma": A.real(0.0, required=True, slider=A.linear(0.95, 0.8, 1.0, 0.005, ".3f",
                                                                  key="gamma_exp"))},
                  "lr·γ<sup>e</sup>"),
    SchedulerSpec("CosineAnnealingLR", {"T_max": A.integer(1, required=True, slider=A.linear(100, 1, 200, 1)),
                                        "eta_min": _ETA_MIN},
                  "η<sub>min</sub> + (lr − η<sub>min</sub>)·(1 + cos(π·e / T_max)) / 2 "
                  "&nbsp;(periodic: climbs back after T_max)",
                  marker=("T_max", "after T_max the cosine climbs back up")),
    SchedulerSpec("CosineAnnealingWarmRestarts", {
        "T_0": A.integer(1, required=True, slider=A.linear(10, 1, 100, 1)),
        "T_mult": A.integer(1, slider=A.linear(2, 1, 4, 1)), "eta_min": _ETA_MIN},
                  "η<sub>min</sub> + (lr − η<sub>min</sub>)·(1 + cos(π·T_cur / T_i)) / 2, "
                  "T_i = T_0·T_mult<sup>restarts</sup>"),
    SchedulerSpec("LinearLR", {"start_factor": _START_FACTOR,
                               "end_factor": A.real(0.0, 1.0, slider=A.linear(1.0, 0.0, 1.0, 0.01, ".2f")),
                               "total_iters": _TOTAL_ITERS},
                  "lr·(start + (end − start)·min(e, total_iters) / total_iters)"),
    SchedulerSpec("ConstantLR", {"factor": A.real(0.0, 1.0, slider=A.linear(0.5, 0.0, 1.0, 0.05, ".2f")),
                                 "total_iters": _TOTAL_ITERS},
                  "lr·factor for e &lt; total_iters, then lr"),
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
        "max_lr/div_factor ↗ max_lr (first pct_start of the steps) ↘ max_lr/(div_factor·final_div_factor); "
        "with cycle_momentum=True (the default) the momentum (SGD) or β₁ (Adam) goes 0.95 ↘ 0.85 ↗ 0.95 the "
        "other way",
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
                  "lr·(start + (1 − start)·e / warmup) for e &lt; warmup, then cosine from lr over T_max = "
                  "epochs − warmup",
                  complete=_warmup_cosine_args, build=_warmup_cosine, call=_warmup_cosine_call,
                  per_batch=True),
)

#: name -> :class:`SchedulerSpec`, one per scheduler :func:`lr_curve` knows.
SCHEDULERS: Mapping[str, SchedulerSpec] = {s.name: s for s in _SPECS}
#: Names :func:`lr_curve` knows (torch class names, plus ``"WarmupCosine"``).
SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)

#: ``ReduceLROnPlateau``: the arguments of :func:`plateau_trace` (and the plateau explorer's sliders).
PLATEAU = SchedulerSpec("ReduceLROnPlateau", {
    "patience": A.integer(0, slider=A.linear(5, 0, 20, 1)),
    "factor": A.real(0.0, 1.0, high_open=True, slider=A.linear(0.5, 0.0, 0.95, 0.05, ".2f")),
    "threshold": A.real(0.0, slider=A.log(1e-4, -5, -1, 0.25, ".1e")),
    "threshold_mode": A.choice("rel", "abs", slider=Slider("rel", kind="choice")),
    "cooldown": A.integer(0, slider=A.linear(0, 0, 10, 1)),
    # a 1-2-5 spread: each notch moves the floor by a visible step on the log lr axis (a linear 0.001 step
    # near 0.05 is 2 %, under a pixel there)
    "min_lr": A.real(0.0, slider=A.select(0.0, (0.0, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05))),
    "mode": A.choice("min", "max"),
    "eps": A.real(0.0),
}, "new lr = max(lr·factor, min_lr), skipped if the change is ≤ eps")


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
        lrs = []
        for _ in range(steps):
            lrs.append(float(optimizer.param_groups[0]["lr"]))  # the lr this epoch trains with
            optimizer.step()  # (no gradient here: nothing moves, but torch sees the right order)
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


def _check_val_losses(val_losses) -> list[float]:
    allowed = "a non-empty 1-D sequence of real numbers (one validation loss per epoch)"
    if isinstance(val_losses, torch.Tensor):
        val_losses = val_losses.detach().cpu().numpy()
    if isinstance(val_losses, (str, bytes)) or not hasattr(val_losses, "__len__"):
        raise TypeError(f"val_losses={val_losses!r} has type {type(val_losses).__name__}; allowed: {allowed}")
    arr = np.asarray(val_losses)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"val_losses has shape {arr.shape}; allowed: {allowed}")
    if not (np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)) or arr.dtype == bool:
        raise TypeError(f"val_losses has dtype {arr.dtype}; allowed: {allowed}")
    return [float(v) for v in arr]


@dataclass
class PlateauTrace:
    """What a real ``ReduceLROnPlateau`` did with one validation-loss sequence, epoch by epoch.

    ``lr[e]`` is the lr used in epoch ``e``; ``lr_after[e]`` the lr after ``scheduler.step(val[e])``.
    ``best[e]``, ``bad[e]`` and ``cooldown[e]`` are the scheduler's ``best``, its run of bad epochs
    (``num_bad_epochs`` before a cut resets it) and whether epoch ``e`` fell in a cooldown.
    ``bar[e]`` is the value epoch ``e+1`` must beat to count as an improvement. ``event[e]`` is one of
    ``"improved"``, ``"bad"``, ``"cooldown"``, ``"cut"``, ``"blocked"`` (a cut was due but ``min_lr``
    or ``eps`` stopped it); ``why`` explains every cut or block, by epoch.
    """

    val: np.ndarray
    lr: np.ndarray
    lr_after: np.ndarray
    best: np.ndarray
    bar: np.ndarray
    bad: np.ndarray
    cooldown: np.ndarray
    event: list[str]
    why: dict[int, str] = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def cuts(self) -> list[int]:
        """Epochs at whose end the lr was cut."""
        return [e for e, ev in enumerate(self.event) if ev == "cut"]


def _bar(best: float, mode: str, threshold: float, threshold_mode: str) -> float:
    """The value the next epoch must beat (ReduceLROnPlateau's documented dynamic threshold)."""
    if threshold_mode == "rel":
        return best * (1 - threshold) if mode == "min" else best * (1 + threshold)
    return best - threshold if mode == "min" else best + threshold


def plateau_trace(val_losses, lr: float = 0.1, **params) -> PlateauTrace:
    """Drive a real ``ReduceLROnPlateau(SGD(lr=lr), **params)`` with ``val_losses``; record its state.

    ``scheduler.step(val_losses[e])`` runs at the end of epoch ``e``. The parameters are those of
    torch (mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps).
    """
    vals = _check_val_losses(val_losses)
    check_number("lr", lr, low=0.0)
    return _trace(vals, float(lr), check_params("ReduceLROnPlateau", params, PLATEAU.params))


def _trace(vals: list[float], lr: float, checked: dict) -> PlateauTrace:
    """:func:`plateau_trace` for arguments already checked."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    try:
        sched = lr_scheduler.ReduceLROnPlateau(optimizer, **checked)
    except (TypeError, ValueError) as exc:  # pragma: no cover - the checks above come first
        raise ValueError(f"torch rejected ReduceLROnPlateau({checked}): {exc}") from exc
    mode, thr = sched.mode, sched.threshold
    n = len(vals)
    lr_used, lr_after, best, bar, bad = (np.empty(n) for _ in range(5))
    cooldown = np.zeros(n, dtype=bool)
    events, why = [], {}
    for e, v in enumerate(vals):
        before_lr = float(optimizer.param_groups[0]["lr"])
        before_best, before_bad = sched.best, sched.num_bad_epochs
        in_cooldown = sched.cooldown_counter > 0
        lr_used[e] = before_lr
        sched.step(v)  # (ReduceLROnPlateau does not check the optimizer.step() order: no call needed)
        after_lr = float(optimizer.param_groups[0]["lr"])
        improved = sched.best != before_best
        # Outside a cooldown, a bad epoch adds one to num_bad_epochs; it only drops back to 0 when
        # the count passed patience and the scheduler tried to cut.
        attempted = not improved and not in_cooldown and sched.num_bad_epochs == 0
        lr_after[e], best[e] = after_lr, sched.best
        bar[e] = _bar(sched.best, mode, thr, sched.threshold_mode)
        cooldown[e] = in_cooldown
        bad[e] = before_bad + 1 if attempted else sched.num_bad_epochs
        bar_before = _bar(before_best, mode, thr, sched.threshold_mode)
        if improved:
            events.append("improved")
        elif in_cooldown:
            events.append("cooldown")
        elif attempted:
            run = (f"{int(bad[e])} epochs in a row (patience={sched.patience}) without beating "
                   f"{'best·(1−threshold)' if sched.threshold_mode == 'rel' and mode == 'min' else 'the bar'}"
                   f" = {bar_before:.4g}")
            if after_lr < before_lr:
                events.append("cut")
                why[e] = f"{run} → lr {before_lr:.3g} → {after_lr:.3g}"
            else:
                events.append("blocked")
                wanted = before_lr * sched.factor
                reason = (f"min_lr={sched.min_lrs[0]:.3g} reached" if wanted <= sched.min_lrs[0]
                          else f"the change {before_lr - wanted:.2g} is not above eps={sched.eps:.2g}")
                why[e] = f"{run}, but no cut: {reason}"
        else:
            events.append("bad")
    return PlateauTrace(np.asarray(vals), lr_used, lr_after, best, bar, bad, cooldown, events, why,
                        dict(checked, lr=lr))


@functools.lru_cache(maxsize=64)
def _synthetic_vals(epochs: int, seed: int) -> tuple[float, ...]:
    """``synthetic_val_losses(epochs, seed=seed)``, made once per curve for the explorer."""
    return tuple(synthetic_val_losses(epochs, seed=seed).tolist())


@functools.lru_cache(maxsize=512)
def _synthetic_trace(epochs: int, seed: int, lr: float, frozen: tuple) -> PlateauTrace:
    """The trace on ``synthetic_val_losses(epochs, seed=seed)``, cached for the explorer (read-only)."""
    return _trace(list(_synthetic_vals(epochs, seed)), lr, dict(frozen))


def plateau_curve(val_losses, lr: float = 0.1, **params) -> list[float]:
    """The lr used in each epoch by a real ``ReduceLROnPlateau`` stepped with ``val_losses[e]``."""
    return [float(v) for v in plateau_trace(val_losses, lr, **params).lr]


def synthetic_val_losses(epochs: int = 60, *, seed: int = 0, start: float = 1.6, floor: float = 0.55,
                         tau: float = 6.0, rise: float = 0.001, noise: float = 0.012) -> np.ndarray:
    """A seeded validation-loss curve: a fast fall from ``start``, then a noisy plateau that creeps up.

    ``loss[e] = floor + (start − floor)·exp(−e/tau) + rise·e + noise·N(0, 1)`` with NumPy's
    ``default_rng(seed)``; ``rise > 0`` is mild over-fitting, ``rise < 0`` a slow improvement.
    """
    check_number("epochs", epochs, low=1, integer=True)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    check_number("start", start)
    check_number("floor", floor)
    check_number("tau", tau, low=0.0, low_open=True)
    check_number("rise", rise)
    check_number("noise", noise, low=0.0)
    rng = np.random.default_rng(seed)
    e = np.arange(epochs)
    return floor + (start - floor) * np.exp(-e / tau) + rise * e + noise * rng.standard_normal(epochs)



# ---------------------------------------------------------------------------------------------
# Drawing on a given Axes: plot_x(ax, ...) -> artists, update_x(artists, ...)
# ---------------------------------------------------------------------------------------------
def plot_lr_curve(ax, lrs, *, label=None, **line_kw):
    """Draw the lr of each epoch as a step line (the lr is constant during an epoch); return the Line2D."""
    lrs = np.asarray(lrs, dtype=float)
    epochs = np.arange(len(lrs) + 1)
    kw = {"color": COLORS["ce"], "drawstyle": "steps-post", "label": label} | line_kw
    (line,) = ax.plot(epochs, np.append(lrs, lrs[-1:]), **kw)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate (log)" if ax.get_yscale() == "log" else "learning rate")
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
    label = "learning rate (log)" if log_y else "learning rate"
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


def _spans(mask) -> list[list[tuple[int, int]]]:
    """Runs of True in ``mask`` as [start, end) epoch spans (unit-height rectangles in axes y)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask, dtype=int), [0]]))).tolist()
    return [[(s, 0), (e, 0), (e, 1), (s, 1)] for s, e in zip(edges[::2], edges[1::2])]


def plot_plateau(ax_loss, ax_lr, trace: PlateauTrace, *, lr_limits=None) -> dict:
    """Draw the val loss (with best and the bar to beat) on ``ax_loss`` and the lr on ``ax_lr``.

    Cuts are red triangles, blocked cuts grey crosses, cooldown epochs shaded, ``min_lr`` a dotted line
    (none for ``min_lr=0``, which a log axis cannot show). ``lr_limits``: the
    lr axis (log), by default around ``trace``'s lrs. Returns the artists by name, for
    :func:`update_plateau`.
    """
    art = {}
    for name, ax, label in (("cool_loss", ax_loss, "cooldown"), ("cool_lr", ax_lr, None)):
        art[name] = ax.add_collection(PolyCollection([], facecolors="#9ecae1", alpha=0.35, edgecolors="none",
                                                     transform=ax.get_xaxis_transform(), label=label))
    (art["val"],) = ax_loss.plot(np.arange(len(trace.val)), trace.val, "-", color=COLORS["baseline"], lw=1.2,
                                 label="val loss")
    (art["bad"],) = ax_loss.plot([], [], "o", color=COLORS["baseline"], ms=4, label="no improvement")
    (art["improved"],) = ax_loss.plot([], [], "o", color=COLORS["smooth"], ms=6, label="new best")
    (art["bar"],) = ax_loss.plot([], [], "--", color=COLORS["smooth"], lw=1.2, drawstyle="steps-post",
                                 label="bar to beat")
    (art["cut_loss"],) = ax_loss.plot([], [], "v", color=COLORS["focal"], ms=11, label="lr cut")
    (art["lr"],) = ax_lr.plot([], [], color=COLORS["ce"], drawstyle="steps-post")
    (art["cut_lr"],) = ax_lr.plot([], [], "v", color=COLORS["focal"], ms=11)
    (art["blocked"],) = ax_lr.plot([], [], "x", color="k", ms=10, mew=2, label="cut blocked")
    art["min_lr"] = ax_lr.axhline(1.0, color=COLORS["baseline"], ls=":", lw=1.5, label="min_lr")
    art["message"] = show_message(ax_lr, "")
    ax_loss.set_ylabel("val loss")
    ax_lr.set_ylabel("learning rate (log)")
    ax_lr.set_xlabel("epoch")
    if lr_limits is None:
        lrs = np.concatenate([trace.lr, trace.lr_after])
        low = float(lrs[lrs > 0].min()) if np.any(lrs > 0) else 1e-3
        lr_limits = (10 ** math.floor(math.log10(low) - 0.3), 2 * float(lrs.max() or 1.0))
    _plain_log_y(ax_lr, *lr_limits)
    ax_loss.legend(handles=[art[k] for k in ("improved", "bad", "bar", "cut_loss", "cool_loss")],
                   loc="upper right", ncols=3, fontsize="small", framealpha=0.9)
    ax_lr.legend(handles=[art["blocked"], art["min_lr"]], loc="lower left", ncols=2, fontsize="small")
    update_plateau(art, trace)
    return art


def update_plateau(art: dict, trace: PlateauTrace) -> None:
    """Point the artists made by :func:`plot_plateau` at ``trace``.

    The loss axis shows the plateau (the first epochs go off the top), its limits on a 0.05 grid so
    that neighbouring curves share them; a note says when the lr leaves the lr axis.
    """
    n = len(trace.val)
    e = np.arange(n)
    ev = np.asarray(trace.event)
    cut, blocked = ev == "cut", ev == "blocked"
    art["val"].set_data(e, trace.val)
    art["improved"].set_data(e[ev == "improved"], trace.val[ev == "improved"])
    not_better = ev != "improved"
    art["bad"].set_data(e[not_better], trace.val[not_better])
    # the bar set at the end of epoch e applies to epoch e+1
    art["bar"].set_data(np.arange(1, n + 1), trace.bar)
    art["cut_loss"].set_data(e[cut], trace.val[cut])
    art["lr"].set_data(np.arange(n + 1), np.append(trace.lr, trace.lr_after[-1]))
    art["cut_lr"].set_data(e[cut] + 1, trace.lr_after[cut])
    art["blocked"].set_data(e[blocked] + 1, trace.lr_after[blocked])
    spans = _spans(trace.cooldown)
    art["cool_loss"].set_verts(spans)
    art["cool_lr"].set_verts(spans)
    min_lr = float(trace.params.get("min_lr", 0.0))
    art["min_lr"].set_visible(min_lr > 0)
    if min_lr > 0:
        art["min_lr"].set_ydata([min_lr, min_lr])
    lo, hi = float(trace.val.min()), float(trace.val.max())
    span = 0.3 * (hi - lo)
    art["val"].axes.set_ylim(np.floor((lo - 0.1 * span) / 0.05) * 0.05, np.ceil((lo + span) / 0.05) * 0.05)
    lrs = trace.lr_after
    if np.any(lrs <= 0):
        text = "lr reached 0 (factor=0, min_lr=0):\nthe log axis cannot show it"
    elif lrs.min() < art["lr"].axes.get_ylim()[0]:
        text = f"lr fell to {lrs.min():.2g}, below this axis"
    else:
        text = ""
    show_message(None, text, artist=art["message"])
