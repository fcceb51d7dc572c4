"""Learning-rate schedules, read off the real ``torch.optim.lr_scheduler`` classes.

Nothing here re-implements a schedule: :func:`lr_curve` builds a throw-away parameter, an
``SGD(lr=lr)`` optimizer and the named torch scheduler, and records the lr the optimizer uses in
each epoch (``optimizer.step()`` first, then ``scheduler.step()``, the order torch asks for).
:func:`plateau_curve` does the same for ``ReduceLROnPlateau`` fed with a validation-loss sequence,
and :func:`plateau_trace` also reads the scheduler's own state (``best``, ``num_bad_epochs``,
``cooldown_counter``) after every epoch to say *why* the lr was cut.

Three layers: compute (``lr_curve``, ``plateau_curve``, ``plateau_trace``,
``synthetic_val_losses``), drawing on a given ``Axes`` (``plot_lr_curve``, ``plot_plateau``) and the
widgets ``LRScheduleExplorer`` and ``PlateauExplorer``.
"""

from __future__ import annotations

import difflib
import functools
import math
from dataclasses import dataclass, field

import ipywidgets as W
import numpy as np
import torch
from matplotlib.collections import PolyCollection
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from torch.optim import lr_scheduler

from course_utils.checks import check_choice, check_number, check_type
from course_utils.plotting import COLORS, show_message
from course_utils.explorers.base import PlotWidget, control_test_values, new_figure

__all__ = [
    "SCHEDULER_NAMES", "LRScheduleExplorer", "PlateauExplorer", "PlateauTrace", "lr_curve",
    "plateau_curve", "plateau_trace", "plot_lr_curve", "plot_plateau", "scheduler_call",
    "sweep_every_scheduler", "synthetic_val_losses", "update_plateau_artists",
]


# ---------------------------------------------------------------------------------------------
# Parameter checks: clear errors before torch sees the arguments
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Param:
    """What one scheduler argument may be."""

    kind: str  # "int", "real", "bool", "choice", "milestones"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple = ()
    required: bool = False
    allow_none: bool = False

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


def _int(low=None, high=None, **kw):
    return _Param("int", low, high, **kw)


def _real(low=None, high=None, **kw):
    return _Param("real", low, high, **kw)


_GAMMA = _real(0.0)
_MOMENTUM = _real(0.0, 1.0)
_SCHEDULER_PARAMS: dict[str, dict[str, _Param]] = {
    "StepLR": {"step_size": _int(1, required=True), "gamma": _GAMMA},
    "MultiStepLR": {"milestones": _Param("milestones", required=True), "gamma": _GAMMA},
    "ExponentialLR": {"gamma": _real(0.0, required=True)},
    "CosineAnnealingLR": {"T_max": _int(1, required=True), "eta_min": _real(0.0)},
    "CosineAnnealingWarmRestarts": {"T_0": _int(1, required=True), "T_mult": _int(1),
                                    "eta_min": _real(0.0)},
    "LinearLR": {"start_factor": _real(0.0, 1.0, low_open=True), "end_factor": _real(0.0, 1.0),
                 "total_iters": _int(1)},
    "ConstantLR": {"factor": _real(0.0, 1.0), "total_iters": _int(1)},
    "PolynomialLR": {"total_iters": _int(1), "power": _real(0.0)},
    "OneCycleLR": {"max_lr": _real(0.0, low_open=True, required=True), "total_steps": _int(1),
                   "pct_start": _real(0.0, 1.0, high_open=True),
                   "anneal_strategy": _Param("choice", choices=("cos", "linear")),
                   "div_factor": _real(0.0, low_open=True), "final_div_factor": _real(0.0, low_open=True),
                   "three_phase": _Param("bool"), "cycle_momentum": _Param("bool"),
                   "base_momentum": _MOMENTUM, "max_momentum": _MOMENTUM},
    "CyclicLR": {"base_lr": _real(0.0, required=True), "max_lr": _real(0.0, required=True),
                 "step_size_up": _int(1), "step_size_down": _int(1, allow_none=True),
                 "mode": _Param("choice", choices=("triangular", "triangular2", "exp_range")),
                 "gamma": _real(0.0, 1.0, low_open=True), "cycle_momentum": _Param("bool"),
                 "base_momentum": _MOMENTUM, "max_momentum": _MOMENTUM},
    # linear warm-up, then cosine: SequentialLR([LinearLR, CosineAnnealingLR], milestones=[warmup_steps])
    "WarmupCosine": {"warmup_steps": _int(1, required=True), "start_factor": _real(0.0, 1.0, low_open=True),
                     "T_max": _int(1), "eta_min": _real(0.0)},
}

#: Names :func:`lr_curve` knows (torch class names, plus ``"WarmupCosine"``).
SCHEDULER_NAMES: tuple[str, ...] = tuple(_SCHEDULER_PARAMS)

_PLATEAU_PARAMS: dict[str, _Param] = {
    "mode": _Param("choice", choices=("min", "max")),
    "factor": _real(0.0, 1.0, high_open=True),
    "patience": _int(0),
    "threshold": _real(0.0),
    "threshold_mode": _Param("choice", choices=("rel", "abs")),
    "cooldown": _int(0),
    "min_lr": _real(0.0),
    "eps": _real(0.0),
}


def _check_params(owner: str, params: dict, specs: dict[str, _Param]) -> dict:
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


def _check_name(name) -> str:
    check_type("name", name, str, f"one of {', '.join(SCHEDULER_NAMES)}")
    if name == "ReduceLROnPlateau":
        raise ValueError("name='ReduceLROnPlateau' needs the validation loss of every epoch: "
                         "use plateau_curve(val_losses, lr, **params)")
    if name not in _SCHEDULER_PARAMS:
        close = difflib.get_close_matches(name, SCHEDULER_NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"name={name!r} is not a known scheduler{hint}; "
                         f"allowed: {', '.join(SCHEDULER_NAMES)}")
    return name


def _schedule_params(name: str, steps: int, params: dict) -> dict:
    """Checked scheduler arguments with the defaults lr_curve fills in (documented there)."""
    checked = _check_params(name, params, _SCHEDULER_PARAMS[name])
    if name == "OneCycleLR":
        checked.setdefault("total_steps", steps)
        if checked["total_steps"] < steps:
            raise ValueError(
                f"OneCycleLR: total_steps={checked['total_steps']} is smaller than steps={steps}; "
                f"OneCycleLR raises when stepped more than total_steps times, allowed: total_steps >= steps")
        if checked.get("three_phase") and checked.get("pct_start", 0.3) >= 0.5:
            raise ValueError(f"OneCycleLR: pct_start={checked['pct_start']!r} with three_phase=True; "
                             "allowed: pct_start < 0.5 (the warm-up and the way back take 2*pct_start)")
    if name == "WarmupCosine":
        checked.setdefault("T_max", max(1, steps - checked["warmup_steps"]))
    if name == "CyclicLR" and checked["max_lr"] < checked["base_lr"]:
        raise ValueError(f"CyclicLR: max_lr={checked['max_lr']!r} is below base_lr={checked['base_lr']!r}; "
                         "allowed: max_lr >= base_lr")
    return checked


def scheduler_call(name: str, **params) -> str:
    """The torch code that builds scheduler ``name`` with ``params`` (for readouts)."""
    args = ", ".join(f"{k}={_fmt_arg(v)}" for k, v in params.items())
    if name == "WarmupCosine":
        p = dict(params)
        warm, sf = p.get("warmup_steps"), p.get("start_factor", 1 / 3)
        cos = ", ".join(f"{k}={_fmt_arg(p[k])}" for k in ("T_max", "eta_min") if k in p)
        return (f"SequentialLR(optimizer, [LinearLR(optimizer, start_factor={_fmt_arg(sf)}, "
                f"total_iters={warm}), CosineAnnealingLR(optimizer, {cos})], milestones=[{warm}])")
    return f"{name}(optimizer, {args})" if args else f"{name}(optimizer)"


def _fmt_arg(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value)


# ---------------------------------------------------------------------------------------------
# Compute
# ---------------------------------------------------------------------------------------------
def _build_scheduler(name: str, optimizer, params: dict):
    """The real torch scheduler ``name`` on ``optimizer``."""
    if name == "WarmupCosine":
        warmup = params["warmup_steps"]
        warm = lr_scheduler.LinearLR(optimizer, start_factor=params.get("start_factor", 1 / 3),
                                     end_factor=1.0, total_iters=warmup)
        cos = lr_scheduler.CosineAnnealingLR(optimizer, T_max=params["T_max"],
                                             eta_min=params.get("eta_min", 0.0))
        return lr_scheduler.SequentialLR(optimizer, [warm, cos], milestones=[warmup])
    return getattr(lr_scheduler, name)(optimizer, **params)


def _freeze(params: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))


@functools.lru_cache(maxsize=1024)
def _lr_curve_cached(name: str, steps: int, lr: float, frozen: tuple) -> tuple[float, ...]:
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in frozen}
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    call = scheduler_call(name, **params)
    try:
        scheduler = _build_scheduler(name, optimizer, params)
        lrs = []
        for _ in range(steps):
            lrs.append(float(optimizer.param_groups[0]["lr"]))  # the lr this epoch trains with
            optimizer.step()  # (no gradient here: nothing moves, but torch sees the right order)
            scheduler.step()
    except (ArithmeticError, TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"torch rejected {call} with steps={steps}, lr={lr}: "
                         f"{type(exc).__name__}: {exc}") from exc
    return tuple(lrs)


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
    checked = _schedule_params(name, int(steps), params)
    return list(_lr_curve_cached(name, int(steps), float(lr), _freeze(checked)))


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
    checked = _check_params("ReduceLROnPlateau", params, _PLATEAU_PARAMS)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=float(lr))
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
                        dict(checked, lr=float(lr)))


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
# Drawing on a given Axes
# ---------------------------------------------------------------------------------------------
def plot_lr_curve(ax, lrs, *, label=None, **line_kw):
    """Draw the lr of each epoch as a step line (the lr is constant during an epoch); return the Line2D."""
    lrs = np.asarray(lrs, dtype=float)
    epochs = np.arange(len(lrs) + 1)
    kw = {"color": COLORS["ce"], "drawstyle": "steps-post", "label": label} | line_kw
    (line,) = ax.plot(epochs, np.append(lrs, lrs[-1:]), **kw)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    return line


def _plain_log_y(ax, low: float, high: float) -> None:
    """Log y axis on [low, high], ticks written as plain numbers (0.05, not 5×10^-2).

    Ticks at 1, 2, 5 × 10^k over up to 3 decades, at the decades beyond.
    """
    if ax.get_yscale() != "log":
        ax.set_yscale("log")
    ax.set_ylim(low, high)
    subs = (1.0, 2.0, 5.0) if np.log10(high / low) <= 3.01 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _spans(mask) -> list[list[tuple[float, float]]]:
    """Runs of True in ``mask`` as [start, end) epoch spans (unit-height rectangles in axes y)."""
    polys, e, n = [], 0, len(mask)
    while e < n:
        if mask[e]:
            s = e
            while e < n and mask[e]:
                e += 1
            polys.append([(s, 0), (e, 0), (e, 1), (s, 1)])
        else:
            e += 1
    return polys


def plot_plateau(ax_loss, ax_lr, trace: PlateauTrace) -> dict:
    """Draw the val loss (with best and the bar to beat) on ``ax_loss`` and the lr on ``ax_lr``.

    Cuts are red triangles, blocked cuts grey crosses, cooldown epochs shaded. Returns the artists
    by name, for :func:`update_plateau_artists`.
    """
    e = np.arange(len(trace.val))
    art = {}
    art["cool_loss"] = PolyCollection([], facecolors="#9ecae1", alpha=0.35, edgecolors="none",
                                      transform=ax_loss.get_xaxis_transform(), label="cooldown")
    art["cool_lr"] = PolyCollection([], facecolors="#9ecae1", alpha=0.35, edgecolors="none",
                                    transform=ax_lr.get_xaxis_transform())
    ax_loss.add_collection(art["cool_loss"])
    ax_lr.add_collection(art["cool_lr"])
    (art["val"],) = ax_loss.plot(e, trace.val, "-", color=COLORS["baseline"], lw=1.2, label="val loss")
    (art["bad"],) = ax_loss.plot([], [], "o", color=COLORS["baseline"], ms=4, label="no improvement")
    (art["improved"],) = ax_loss.plot([], [], "o", color=COLORS["smooth"], ms=6, label="new best")
    (art["bar"],) = ax_loss.plot([], [], "--", color=COLORS["smooth"], lw=1.2, drawstyle="steps-post",
                                 label="bar to beat")
    (art["cut_loss"],) = ax_loss.plot([], [], "v", color=COLORS["focal"], ms=11, label="lr cut")
    (art["lr"],) = ax_lr.plot([], [], color=COLORS["ce"], drawstyle="steps-post")
    (art["cut_lr"],) = ax_lr.plot([], [], "v", color=COLORS["focal"], ms=11)
    (art["blocked"],) = ax_lr.plot([], [], "x", color="k", ms=10, mew=2, label="cut blocked")
    ax_loss.set_ylabel("val loss")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("epoch")
    lrs = np.concatenate([trace.lr, trace.lr_after])
    low = float(lrs[lrs > 0].min()) if np.any(lrs > 0) else 1e-3
    _plain_log_y(ax_lr, 10 ** math.floor(math.log10(low) - 0.3), 2 * float(lrs.max() or 1.0))
    ax_loss.legend(handles=[art[k] for k in ("improved", "bad", "bar", "cut_loss", "cool_loss")],
                   loc="upper right", ncols=3, fontsize="small", framealpha=0.9)
    ax_lr.legend(handles=[art["blocked"]], loc="lower left", fontsize="small")
    update_plateau_artists(art, trace)
    return art


def update_plateau_artists(art: dict, trace: PlateauTrace) -> None:
    """Point the artists made by :func:`plot_plateau` at ``trace``."""
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


# ---------------------------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------------------------
_STYLE = {"description_width": "initial"}
_SLIDER_LAYOUT = {"width": "290px"}


def _slider(kind, description, value, lo, hi, step, fmt=None):
    kw = {"description": description, "value": value, "min": lo, "max": hi, "step": step,
          "continuous_update": True, "style": _STYLE, "layout": W.Layout(**_SLIDER_LAYOUT)}
    if fmt:
        kw["readout_format"] = fmt
    return kind(**kw)


def _log_slider(description, value, lo_exp, hi_exp, step=0.1, fmt=".3g"):
    return W.FloatLogSlider(description=description, value=value, base=10, min=lo_exp, max=hi_exp,
                            step=step, readout_format=fmt, style=_STYLE, layout=W.Layout(**_SLIDER_LAYOUT))


# scheduler name -> {control name: scheduler argument}; controls shared by two schedulers mean the same
_SCHEDULE_CONTROLS: dict[str, dict[str, str]] = {
    "StepLR": {"step_size": "step_size", "gamma": "gamma"},
    "MultiStepLR": {"milestones": "milestones", "gamma": "gamma"},
    "ExponentialLR": {"gamma_exp": "gamma"},
    "CosineAnnealingLR": {"T_max": "T_max", "eta_min": "eta_min"},
    "CosineAnnealingWarmRestarts": {"T_0": "T_0", "T_mult": "T_mult", "eta_min": "eta_min"},
    "LinearLR": {"start_factor": "start_factor", "end_factor": "end_factor", "total_iters": "total_iters"},
    "ConstantLR": {"factor": "factor", "total_iters": "total_iters"},
    "PolynomialLR": {"total_iters": "total_iters", "power": "power"},
    "OneCycleLR": {"max_lr": "max_lr", "pct_start": "pct_start", "div_factor": "div_factor",
                   "final_div_factor": "final_div_factor", "anneal_strategy": "anneal_strategy"},
    "CyclicLR": {"base_lr": "base_lr", "max_lr": "max_lr", "step_size_up": "step_size_up",
                 "cyclic_mode": "mode", "cyclic_gamma": "gamma"},
    "WarmupCosine": {"warmup_steps": "warmup_steps", "start_factor": "start_factor", "eta_min": "eta_min"},
}
_COMMON_CONTROLS = ("scheduler", "epochs", "lr", "log_y", "hold")

_FORMULAS = {
    "StepLR": "lr·γ<sup>⌊e / step_size⌋</sup>",
    "MultiStepLR": "lr·γ<sup>(number of milestones ≤ e)</sup>",
    "ExponentialLR": "lr·γ<sup>e</sup>",
    "CosineAnnealingLR": "η<sub>min</sub> + (lr − η<sub>min</sub>)·(1 + cos(π·e / T_max)) / 2 "
                         "&nbsp;(periodic: climbs back after T_max)",
    "CosineAnnealingWarmRestarts": "η<sub>min</sub> + (lr − η<sub>min</sub>)·(1 + cos(π·T_cur / T_i)) / 2, "
                                   "T_i = T_0·T_mult<sup>restarts</sup>",
    "LinearLR": "lr·(start + (end − start)·min(e, total_iters) / total_iters)",
    "ConstantLR": "lr·factor for e &lt; total_iters, then lr",
    "PolynomialLR": "lr·(1 − min(e, total_iters) / total_iters)<sup>power</sup>",
    "OneCycleLR": "max_lr/div_factor ↗ max_lr (first pct_start of the steps) "
                  "↘ max_lr/(div_factor·final_div_factor)",
    "CyclicLR": "base_lr + (max_lr − base_lr)·triangle(e / step_size_up)·scale(cycle)",
    "WarmupCosine": "lr·(start + (1 − start)·e / warmup) for e &lt; warmup, then cosine from lr over T_max = "
                    "epochs − warmup",
}


def _nice_epochs(n: int) -> int:
    """A round x-axis end at or above ``n`` epochs."""
    return next((m for m in (10, 20, 25, 30, 40, 50, 60, 75, 100, 120, 150, 200) if m >= n), n)


def _nice_top(value: float, log: bool) -> float:
    """A round upper y-limit so that small slider moves keep the axes (and the cached background)."""
    value = max(value, 1e-12)
    if log:
        return 10 ** math.ceil(math.log10(value) + 0.15)
    for m in (1.0, 2.0, 5.0, 10.0):
        top = m * 10 ** math.floor(math.log10(value))
        if top >= value * 1.04:
            return top
    return 10 * 10 ** math.floor(math.log10(value))


class LRScheduleExplorer(PlotWidget):
    """Pick a torch scheduler, move its own sliders, see the lr of every epoch; hold a curve to compare."""

    def __init__(self, scheduler: str = "StepLR", epochs: int = 100, lr: float = 0.1):
        _check_name(scheduler)
        check_number("epochs", epochs, low=10, high=200, integer=True)
        check_number("lr", lr, low=1e-3, high=1.0)
        c = {
            "scheduler": W.Dropdown(options=list(SCHEDULER_NAMES), value=scheduler, description="scheduler",
                                    style=_STYLE, layout=W.Layout(width="290px")),
            "epochs": _slider(W.IntSlider, "epochs", epochs, 10, 200, 1),
            "lr": _log_slider("optimizer lr", lr, -3, 0),
            "log_y": W.Checkbox(value=False, description="log y", indent=False,
                                layout=W.Layout(width="80px")),
            "hold": W.ToggleButton(value=False, description="hold as reference",
                                   tooltip="keep the current curve (dashed) to compare with the next one"),
            "step_size": _slider(W.IntSlider, "step_size", 30, 1, 100, 1),
            "gamma": _slider(W.FloatSlider, "gamma", 0.1, 0.0, 1.0, 0.05, ".2f"),
            "milestones": W.IntRangeSlider(description="milestones", value=(30, 80), min=1, max=200, step=1,
                                           style=_STYLE, layout=W.Layout(**_SLIDER_LAYOUT)),
            "gamma_exp": _slider(W.FloatSlider, "gamma", 0.95, 0.8, 1.0, 0.005, ".3f"),
            "T_max": _slider(W.IntSlider, "T_max", 100, 1, 200, 1),
            "eta_min": _slider(W.FloatSlider, "eta_min", 0.0, 0.0, 0.1, 0.005, ".3f"),
            "T_0": _slider(W.IntSlider, "T_0", 10, 1, 100, 1),
            "T_mult": _slider(W.IntSlider, "T_mult", 2, 1, 4, 1),
            "start_factor": _slider(W.FloatSlider, "start_factor", 0.1, 0.01, 1.0, 0.01, ".2f"),
            "end_factor": _slider(W.FloatSlider, "end_factor", 1.0, 0.0, 1.0, 0.01, ".2f"),
            "total_iters": _slider(W.IntSlider, "total_iters", 20, 1, 200, 1),
            "factor": _slider(W.FloatSlider, "factor", 0.5, 0.0, 1.0, 0.05, ".2f"),
            "power": _slider(W.FloatSlider, "power", 1.0, 0.0, 5.0, 0.1, ".1f"),
            "max_lr": _log_slider("max_lr", 0.1, -3, 0),
            "pct_start": _slider(W.FloatSlider, "pct_start", 0.3, 0.0, 0.95, 0.05, ".2f"),
            "div_factor": _log_slider("div_factor", 25.0, 0, 3),
            "final_div_factor": _log_slider("final_div_factor", 1e4, 0, 5, 0.25),
            "anneal_strategy": W.Dropdown(options=["cos", "linear"], value="cos", description="anneal",
                                          style=_STYLE, layout=W.Layout(width="160px")),
            "base_lr": _log_slider("base_lr", 0.01, -4, 0),
            "step_size_up": _slider(W.IntSlider, "step_size_up", 10, 1, 100, 1),
            "cyclic_mode": W.Dropdown(options=["triangular", "triangular2", "exp_range"], value="triangular",
                                      description="mode", style=_STYLE, layout=W.Layout(width="210px")),
            "cyclic_gamma": _slider(W.FloatSlider, "gamma", 0.99, 0.9, 1.0, 0.005, ".3f"),
            "warmup_steps": _slider(W.IntSlider, "warmup", 10, 1, 100, 1),
        }
        self._shown: str | None = None
        self._held: tuple | None = None
        self._hold_was = False
        self._log = None
        fig, ax = new_figure((9.0, 4.2))
        fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.14)
        self.ax = ax
        first = lr_curve(scheduler, epochs, lr, **self._params(scheduler, {k: w.value for k, w in c.items()}))
        self.ref_line = plot_lr_curve(ax, first, color=COLORS["baseline"], ls="--", lw=2,
                                      label="held")
        self.line = plot_lr_curve(ax, first, color=COLORS["ce"], lw=2.5, label="selected")
        # the legend is made before the lines turn dynamic (its handles copy them) and never changes
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, frameon=False)
        self.dynamic(self.ref_line)
        self.dynamic(self.line)
        self.tmax_line = self.dynamic(ax.axvline(0, color=COLORS["accent"], ls=":", lw=2))
        # The note is static (drawing a text costs ~4 ms, a blit of lines < 1 ms): it changes only with
        # the dropdown or when T_max crosses epochs, and then everything is redrawn.
        self.note = ax.text(0.0, 1.02, "", transform=ax.transAxes, ha="left", va="bottom",
                            color=COLORS["accent"])
        self.message = self.dynamic(show_message(ax, ""))
        self.ref_line.set_visible(False)
        super().__init__(fig, c)

    @staticmethod
    def _params(name: str, values: dict) -> dict:
        """Scheduler arguments for ``name`` from the control values."""
        p = {arg: values[ctl] for ctl, arg in _SCHEDULE_CONTROLS[name].items()}
        if "milestones" in p:
            p["milestones"] = list(p["milestones"])
        if name == "WarmupCosine":
            p["T_max"] = max(1, values["epochs"] - p["warmup_steps"])
        return p

    def _show_controls(self, name: str) -> None:
        visible = set(_COMMON_CONTROLS) | set(_SCHEDULE_CONTROLS[name])
        for key, control in self.controls.items():
            on = key in visible
            control.layout.display = None if on else "none"
            control.disabled = not on
        self._shown = name

    def _static_text(self, artist, text: str) -> None:
        if artist.get_text() != text:
            artist.set_text(text)
            self.invalidate()

    def update(self, scheduler, epochs, lr, log_y, hold, **values):
        if scheduler != self._shown:
            self._show_controls(scheduler)
        params = self._params(scheduler, dict(values, epochs=epochs))
        ax = self.ax
        call = scheduler_call(scheduler, **params)
        try:
            lrs = np.asarray(lr_curve(scheduler, epochs, lr, **params))
        except (TypeError, ValueError) as exc:
            text = str(exc) if str(exc).startswith(scheduler) else f"{scheduler}: {exc}"
            show_message(ax, text.replace("; allowed", ";\nallowed"), artist=self.message)
            self.line.set_visible(False)
            self.tmax_line.set_visible(False)
            self._static_text(self.note, "")
            self.readout.value = f"<code>{call}</code> cannot run: {exc}"
            return
        show_message(ax, "", artist=self.message)
        x = np.arange(epochs + 1)
        self.line.set_data(x, np.append(lrs, lrs[-1]))
        self.line.set_visible(True)
        if hold and not self._hold_was:
            self._held = (x, np.append(lrs, lrs[-1]), f"{scheduler}, lr={lr:.3g}")
        self._hold_was = hold
        if not hold:
            self._held = None
        self.ref_line.set_visible(self._held is not None)
        if self._held is not None:
            self.ref_line.set_data(self._held[0], self._held[1])

        # axes: x follows epochs, y a round top (changes rarely, so most moves only blit)
        shown = [lrs] + ([self._held[1]] if self._held is not None else [])
        top = max(float(np.max(s)) for s in shown)
        if log_y != self._log:
            self._log = log_y
            self.invalidate()
        if log_y:
            positive = np.concatenate([s[s > 0] for s in shown] + [np.array([top or 1.0])])
            low = 10 ** math.floor(math.log10(max(float(positive.min()), 1e-9)) - 0.15)
            top_y = _nice_top(top or 1.0, True)
            if (ax.get_yscale(), ax.get_ylim()) != ("log", (low, top_y)):
                _plain_log_y(ax, low, top_y)
        else:
            if ax.get_yscale() != "linear":
                ax.set_yscale("linear")
            ax.set_ylim(0, _nice_top(top or 1.0, False))
        xmax = max(epochs, len(self._held[0]) - 1 if self._held is not None else 0)
        ax.set_xlim(0, _nice_epochs(xmax))  # round, so dragging "epochs" rarely redraws the axes

        # teaching notes on the plot
        note = ""
        tmax = params.get("T_max") if scheduler == "CosineAnnealingLR" else None
        if tmax is not None and tmax < epochs:
            self.tmax_line.set_xdata([tmax, tmax])
            self.tmax_line.set_visible(True)
            note = "after T_max the cosine climbs back up"
        else:
            self.tmax_line.set_visible(False)
        if scheduler in ("OneCycleLR", "CyclicLR"):
            note = f"{scheduler} ignores the optimizer's lr"
        if not np.any(lrs > 0):
            note = "lr is 0 in every epoch: nothing would train"
        self._static_text(self.note, note)
        self.readout.value = (
            (f"<b>{scheduler} ignores the optimizer's lr={lr:.3g}</b>: it starts at {lrs[0]:.4g}"
             f"{' = max_lr/div_factor' if scheduler == 'OneCycleLR' else ' = base_lr'}<br>"
             if scheduler in ("OneCycleLR", "CyclicLR") else "") +
            f"<code>optimizer = torch.optim.SGD(params, lr={lr:.3g})</code><br>"
            f"<code>scheduler = {call}</code><br>"
            f"closed form: {_FORMULAS[scheduler]}<br>"
            f"epoch 0: <b>{lrs[0]:.4g}</b> · epoch {epochs - 1}: <b>{lrs[-1]:.4g}</b> · "
            f"max {lrs.max():.4g} · min {lrs.min():.4g}"
            + (f"<br>dashed grey: held {self._held[2]}" if self._held is not None else ""))


def sweep_every_scheduler(widget: LRScheduleExplorer) -> list[tuple[str, str, object, str]]:
    """For each scheduler in the dropdown, move each of its visible controls to its extremes and middle.

    Returns ``(scheduler, control, value, traceback)`` for every setting that failed to draw (empty
    when all drew). Controls are put back after each scheduler.
    """
    failures = []
    chooser = widget.controls["scheduler"]
    start = chooser.value
    for name in chooser.options:
        chooser.value = name
        widget.refresh()
        if widget.last_error:
            failures.append((name, "scheduler", name, widget.last_error))
        for key in set(_SCHEDULE_CONTROLS[name]) | {"epochs", "lr", "log_y", "hold"}:
            control = widget.controls[key]
            original = control.value
            for value in control_test_values(control):
                control.value = value
                widget.refresh()
                if widget.last_error:
                    failures.append((name, key, value, widget.last_error))
            control.value = original
    chooser.value = start
    return failures


class PlateauExplorer(PlotWidget):
    """ReduceLROnPlateau on a synthetic val-loss curve: where the lr is cut, and why."""

    def __init__(self, epochs: int = 60, lr: float = 0.1):
        check_number("epochs", epochs, low=10, high=300, integer=True)
        check_number("lr", lr, low=1e-4, high=10.0)
        self.lr0 = float(lr)
        self.epochs = int(epochs)
        c = {
            "patience": _slider(W.IntSlider, "patience", 5, 0, 20, 1),
            "factor": _slider(W.FloatSlider, "factor", 0.5, 0.0, 0.95, 0.05, ".2f"),
            "threshold": _log_slider("threshold", 1e-4, -5, -1, 0.25, ".1e"),
            "threshold_mode": W.Dropdown(options=["rel", "abs"], value="rel", description="threshold_mode",
                                         style=_STYLE, layout=W.Layout(width="210px")),
            "cooldown": _slider(W.IntSlider, "cooldown", 0, 0, 10, 1),
            "min_lr": _slider(W.FloatSlider, "min_lr", 0.0, 0.0, 0.05, 0.001, ".3f"),
            "seed": _slider(W.IntSlider, "noise seed", 0, 0, 20, 1),
        }
        fig, (ax_loss, ax_lr) = new_figure((9.0, 5.2), nrows=2, sharex=True)
        fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.1, hspace=0.12)
        self.ax_loss, self.ax_lr = ax_loss, ax_lr
        trace = plateau_trace(synthetic_val_losses(self.epochs, seed=0), self.lr0, patience=5, factor=0.5)
        self.art = plot_plateau(ax_loss, ax_lr, trace)
        for artist in self.art.values():  # (the legends were made before: their handles stay static)
            self.dynamic(artist)
        ax_loss.set_xlim(0, self.epochs)
        _plain_log_y(ax_lr, self.lr0 * 1e-3, self.lr0 * 2)  # fixed: slider moves only blit
        ax_loss.set_title("ReduceLROnPlateau on a replayed validation-loss curve", loc="left")
        self.message = self.dynamic(show_message(ax_lr, ""))
        self._seed = None
        super().__init__(fig, c)

    def update(self, patience, factor, threshold, threshold_mode, cooldown, min_lr, seed):
        params = {"patience": patience, "factor": factor, "threshold": threshold,
                  "threshold_mode": threshold_mode, "cooldown": cooldown, "min_lr": min_lr}
        val = synthetic_val_losses(self.epochs, seed=seed)
        trace = _cached_trace(self.epochs, seed, self.lr0, tuple(sorted(params.items())))
        update_plateau_artists(self.art, trace)
        if seed != self._seed:  # the loss axis follows the curve (only when the seed changes): it
            lo, hi = float(val.min()), float(val.max())  # shows the plateau, the first epochs go off the top
            span = 0.3 * (hi - lo)  # limits on a 0.05 grid: neighbouring seeds share them (no full redraw)
            self.ax_loss.set_ylim(np.floor((lo - 0.1 * span) / 0.05) * 0.05,
                                  np.ceil((lo + span) / 0.05) * 0.05)
            self._seed = seed
        lrs = trace.lr_after
        if np.any(lrs <= 0):
            show_message(self.ax_lr, "lr reached 0 (factor=0, min_lr=0):\nthe log axis cannot show it",
                         artist=self.message)
        elif lrs.min() < self.ax_lr.get_ylim()[0]:
            show_message(self.ax_lr, f"lr fell to {lrs.min():.2g}, below this axis", artist=self.message)
        else:
            show_message(self.ax_lr, "", artist=self.message)
        cuts = trace.cuts
        first = f"first cut after epoch {cuts[0]}" if cuts else "no cut"
        call = ", ".join(f"{k}={_fmt_arg(v)}" for k, v in params.items())
        items = list(trace.why.items())
        rows = "".join(f"<li>end of epoch {e}: {why}</li>" for e, why in items[:8])
        if len(items) > 8:
            rows += f"<li>… and {len(items) - 8} more</li>"
        self.readout.value = (
            f"<b>{len(cuts)} cut(s), {first}; final lr {trace.lr_after[-1]:.3g}</b><br>"
            f"<code>scheduler = ReduceLROnPlateau(optimizer, {call})</code>; "
            f"<code>scheduler.step(val_loss)</code> at the end of each epoch.<br>"
            f"A cut needs patience+1 = {patience + 1} bad epochs in a row; "
            f"{'cooldown ' + str(cooldown) + ' swallows the epochs after a cut; ' if cooldown else ''}"
            f"new lr = max(lr·factor, min_lr), skipped if the change is ≤ eps."
            f"<ul style='margin:2px 0'>{rows or '<li>no cut: every run of bad epochs was shorter</li>'}</ul>")


@functools.lru_cache(maxsize=512)
def _cached_trace(epochs: int, seed: int, lr: float, params: tuple) -> PlateauTrace:
    """plateau_trace on synthetic_val_losses(epochs, seed), cached for the widget (read-only)."""
    return plateau_trace(synthetic_val_losses(epochs, seed=seed), lr, **dict(params))


def _benchmark_schedule():
    return LRScheduleExplorer()


def _benchmark_plateau():
    return PlateauExplorer()


#: For the lead's benchmark: label -> factory of a ready widget.
BENCHMARK_WIDGETS = {"LR schedule explorer": _benchmark_schedule,
                     "ReduceLROnPlateau explorer": _benchmark_plateau}
