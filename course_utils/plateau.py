"""``ReduceLROnPlateau`` on a replayed validation loss: compute and drawing.

:func:`plateau_trace` feeds a real ``torch.optim.lr_scheduler.ReduceLROnPlateau`` one validation loss
per epoch and reads its state (``best``, ``num_bad_epochs``, ``cooldown_counter``) to say *why* the lr
was cut; :func:`synthetic_val_losses` is the seeded curve the notebook and the explorer replay. Drawing:
:func:`plot_plateau` -> artists, :func:`update_plateau`; the explorer is
:class:`course_utils.explorers.schedules.PlateauExplorer`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from matplotlib.collections import PolyCollection
from torch.optim import lr_scheduler

from course_utils import arg_specs as A
from course_utils.arg_specs import Slider, check_params
from course_utils.checks import check_number
from course_utils.i18n import N_, tr
from course_utils.plotting import COLORS, show_message
from course_utils.schedules import SchedulerSpec, _plain_log_y

__all__ = ["PLATEAU", "PlateauTrace", "plateau_curve", "plateau_trace", "plot_plateau",
           "synthetic_val_losses", "update_plateau"]

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
}, N_("new lr = max(lr·factor, min_lr), skipped if the change is ≤ eps"))


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
    or ``eps`` stopped it); ``why`` explains every cut or block, by epoch (in the course's language).
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
            run = tr("{bad} epochs in a row (patience={patience}) without beating {bar} = {value:.4g}",
                     bad=int(bad[e]), patience=sched.patience, value=bar_before,
                     bar="best·(1−threshold)" if sched.threshold_mode == "rel" and mode == "min"
                     else tr("the bar"))
            if after_lr < before_lr:
                events.append("cut")
                why[e] = f"{run} → lr {before_lr:.3g} → {after_lr:.3g}"
            else:
                events.append("blocked")
                wanted = before_lr * sched.factor
                if wanted <= sched.min_lrs[0]:
                    reason = tr("min_lr={min_lr:.3g} reached", min_lr=sched.min_lrs[0])
                else:
                    reason = tr("the change {change:.2g} is not above eps={eps:.2g}",
                                change=before_lr - wanted, eps=sched.eps)
                why[e] = tr("{run}, but no cut: {reason}", run=run, reason=reason)
        else:
            events.append("bad")
    return PlateauTrace(np.asarray(vals), lr_used, lr_after, best, bar, bad, cooldown, events, why,
                        dict(checked, lr=lr))


@functools.lru_cache(maxsize=64)
def _synthetic_vals(epochs: int, seed: int) -> tuple[float, ...]:
    """``synthetic_val_losses(epochs, seed=seed)``, made once per curve for the explorer."""
    return tuple(synthetic_val_losses(epochs, seed=seed).tolist())


@functools.lru_cache(maxsize=512)
def _synthetic_trace(epochs: int, seed: int, lr: float, frozen: tuple, lang: str) -> PlateauTrace:
    """The trace on ``synthetic_val_losses(epochs, seed=seed)``, cached for the explorer (read-only).

    ``lang``: the course's language (:func:`course_utils.i18n.get_language`), which its ``why`` texts are
    written in: part of the cache key, so that a trace is never shown in another language.
    """
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
# Drawing on given Axes: plot_plateau(ax_loss, ax_lr, trace) -> artists, update_plateau(artists, trace)
# ---------------------------------------------------------------------------------------------
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
    for name, ax, label in (("cool_loss", ax_loss, tr("cooldown")), ("cool_lr", ax_lr, None)):
        art[name] = ax.add_collection(PolyCollection([], facecolors="#9ecae1", alpha=0.35, edgecolors="none",
                                                     transform=ax.get_xaxis_transform(), label=label))
    (art["val"],) = ax_loss.plot(np.arange(len(trace.val)), trace.val, "-", color=COLORS["baseline"], lw=1.2,
                                 label=tr("val loss"))
    (art["bad"],) = ax_loss.plot([], [], "o", color=COLORS["baseline"], ms=4, label=tr("no improvement"))
    (art["improved"],) = ax_loss.plot([], [], "o", color=COLORS["smooth"], ms=6, label=tr("new best"))
    (art["bar"],) = ax_loss.plot([], [], "--", color=COLORS["smooth"], lw=1.2, drawstyle="steps-post",
                                 label=tr("bar to beat"))
    (art["cut_loss"],) = ax_loss.plot([], [], "v", color=COLORS["focal"], ms=11, label=tr("lr cut"))
    (art["lr"],) = ax_lr.plot([], [], color=COLORS["ce"], drawstyle="steps-post")
    (art["cut_lr"],) = ax_lr.plot([], [], "v", color=COLORS["focal"], ms=11)
    (art["blocked"],) = ax_lr.plot([], [], "x", color="k", ms=10, mew=2, label=tr("cut blocked"))
    art["min_lr"] = ax_lr.axhline(1.0, color=COLORS["baseline"], ls=":", lw=1.5, label="min_lr")
    art["message"] = show_message(ax_lr, "")
    ax_loss.set_ylabel(tr("val loss"))
    ax_lr.set_ylabel(tr("learning rate (log)"))
    ax_lr.set_xlabel(tr("epoch"))
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
        text = tr("lr reached 0 (factor=0, min_lr=0):\nthe log axis cannot show it")
    elif lrs.min() < art["lr"].axes.get_ylim()[0]:
        text = tr("lr fell to {lr:.2g}, below this axis", lr=lrs.min())
    else:
        text = ""
    show_message(None, text, artist=art["message"])
