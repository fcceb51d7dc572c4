"""The learning-rate range test (Smith 2017; fastai's ``lr_find``, the ``torch-lr-finder`` package).

The lr grows geometrically from ``start_lr`` to ``end_lr`` over ``num_iter`` mini-batches, one
optimizer step per batch, while the training loss of each batch is recorded. The recorded loss is
smoothed exponentially (``torch-lr-finder``'s rule: ``s_i = smooth * loss_i + (1 - smooth) * s_{i-1}``)
and the test stops once the smoothed loss passes ``diverge_factor`` times the best smoothed loss so
far (that last point is kept, as in ``torch-lr-finder``). The model's weights, its train/eval mode
and the optimizer's state are put back afterwards: the test is a measurement, not training.

Three layers: compute (:func:`lr_range_test` -> :class:`LRRange`; :func:`smooth_losses`,
:func:`divergence_index`, :func:`suggest_lrs` -- pure functions of the recorded losses, which the
widget calls again for other smoothing values), drawing on a given ``Axes`` (:func:`plot_lr_range`,
:func:`update_lr_range`), and the explorer in ``course_utils.explorers.playbook``.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from course_utils.checks import check_choice, check_number, check_type
from course_utils.i18n import N_, tr
from course_utils.plotting import COLORS
from course_utils.reproducibility import torch_threads

__all__ = ["LRRange", "SUGGESTION_NAMES", "SUGGESTION_RULES", "default_range_test", "divergence_index",
           "lr_range_test", "lr_schedule", "onecycle_curve",
           "plot_lr_range", "smooth_losses", "suggest_lrs", "update_lr_range"]

#: How a suggestion is read off the smoothed curve (what the widget's dropdown shows: ``tr(text)``).
SUGGESTION_RULES = {
    "steepest": N_("steepest descent (most negative slope of the smoothed loss vs log lr)"),
    "minimum/10": N_("lr of the smoothed loss's minimum, divided by 10"),
}
#: The suggestions' short names, for a legend (``tr(name)``): the keys of :func:`suggest_lrs`'s result.
SUGGESTION_NAMES = {"steepest": N_("steepest"), "minimum/10": N_("minimum/10"), "minimum": N_("minimum")}
#: Points left out at the start and end when the slope is read (``torch-lr-finder``'s defaults).
SKIP_START, SKIP_END = 10, 5


def lr_schedule(start_lr: float, end_lr: float, num_iter: int) -> np.ndarray:
    """The lr of iteration ``i``: ``start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))``."""
    check_number("start_lr", start_lr, low=0.0, low_open=True)
    check_number("end_lr", end_lr, low=0.0, low_open=True)
    check_number("num_iter", num_iter, low=2, integer=True)
    if end_lr <= start_lr:
        raise ValueError(f"end_lr={end_lr!r} is not above start_lr={start_lr!r}; allowed: end_lr > start_lr")
    i = np.arange(num_iter)
    return start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))


def smooth_losses(losses, smooth: float = 0.05) -> np.ndarray:
    """Exponential smoothing: ``s_0 = loss_0``, ``s_i = smooth * loss_i + (1 - smooth) * s_{i-1}``.

    ``smooth=0`` keeps the raw losses (``torch-lr-finder``'s convention: smoothing is off at 0);
    ``smooth`` near 0 smooths hard, 1 is not allowed.
    """
    check_number("smooth", smooth, low=0.0, high=1.0, high_open=True)
    raw = np.asarray(losses, dtype=np.float64)
    if raw.ndim != 1:
        raise ValueError(f"losses has shape {raw.shape}; allowed: a 1-D sequence of losses")
    if smooth == 0 or raw.size == 0:
        return raw.copy()
    out = np.empty_like(raw)
    acc = raw[0]
    out[0] = acc
    for i in range(1, raw.size):  # a few hundred points: a loop is clearer than lfilter and as fast here
        acc = smooth * raw[i] + (1 - smooth) * acc
        out[i] = acc
    return out


def divergence_index(smoothed, diverge_factor: float = 5.0) -> int | None:
    """The first index where ``smoothed`` exceeds ``diverge_factor`` times its running minimum
    (or is not finite), or None when it never does."""
    check_number("diverge_factor", diverge_factor, low=1.0, low_open=True)
    s = np.asarray(smoothed, dtype=np.float64)
    if s.size == 0:
        return None
    bad = ~np.isfinite(s)
    best = np.minimum.accumulate(np.where(bad, np.inf, s))
    hit = np.flatnonzero(bad | (s > diverge_factor * best))
    hit = hit[(hit > 0) | bad[hit]]  # a finite first point is its own best
    return int(hit[0]) if hit.size else None


def suggest_lrs(lrs, smoothed, *, skip_start: int = SKIP_START, skip_end: int = SKIP_END) -> dict:
    """The usual suggestions read off a (smoothed) range-test curve.

    ``"steepest"``: the lr where the smoothed loss falls fastest per decade of lr (``np.gradient``
    against ``log10(lr)``, leaving out ``skip_start`` / ``skip_end`` points as ``torch-lr-finder``
    does; on a geometric lr sequence that is the same point as its slope per index).
    ``"minimum/10"``: the lr at the smallest smoothed loss, divided by 10 (fastai's ``minimum``).
    ``"minimum"``: that lr itself (not a suggestion: where the loss is about to blow up).
    A rule without enough points is left out.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    s = np.asarray(smoothed, dtype=np.float64)
    if lrs.shape != s.shape or lrs.ndim != 1:
        raise ValueError(f"lrs has shape {lrs.shape} and smoothed {s.shape}; allowed: two 1-D arrays of "
                         "equal length")
    out = {}
    finite = np.isfinite(s)
    if finite.any():
        i_min = int(np.nanargmin(np.where(finite, s, np.nan)))
        out["minimum"] = float(lrs[i_min])
        out["minimum/10"] = float(lrs[i_min] / 10)
    stop = len(s) - skip_end
    if stop - skip_start >= 2 and np.all(finite[skip_start:stop]):
        grad = np.gradient(s[skip_start:stop], np.log10(lrs[skip_start:stop]))
        out["steepest"] = float(lrs[skip_start + int(np.argmin(grad))])
    return out


@dataclass
class LRRange:
    """The result of a range test.

    ``lrs``: the lr of each iteration run (geometric from ``start_lr``; shorter than ``num_iter``
    when the loss diverged); ``losses``: the raw loss of each batch; ``smoothed``: their
    exponential smoothing; ``diverged_at``: the index of the point that triggered the stop (the last
    one), or None; ``suggestions``: see :func:`suggest_lrs`; ``planned``: the full lr sequence.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestions: dict
    diverged_at: int | None
    planned: np.ndarray
    smooth: float
    diverge_factor: float
    settings: dict = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def reanalysed(self, smooth: float | None = None, diverge_factor: float | None = None) -> LRRange:
        """The same raw losses read with another smoothing / divergence factor (no training)."""
        smooth = self.smooth if smooth is None else smooth
        factor = self.diverge_factor if diverge_factor is None else diverge_factor
        n = len(self.losses)
        return analyse(self.planned[:n], self.losses, smooth, factor, self.planned, self.settings)


def analyse(lrs, losses, smooth: float, diverge_factor: float, planned=None, settings=None) -> LRRange:
    """Smooth the raw ``losses``, cut at the divergence point, read the suggestions."""
    lrs = np.asarray(lrs, dtype=np.float64)
    raw = np.asarray(losses, dtype=np.float64)
    s = smooth_losses(raw, smooth)
    stop = divergence_index(s, diverge_factor)
    n = len(raw) if stop is None else stop + 1
    return LRRange(lrs[:n].copy(), raw[:n].copy(), s[:n], suggest_lrs(lrs[:n], s[:n]), stop,
                   lrs.copy() if planned is None else np.asarray(planned, dtype=np.float64),
                   float(smooth), float(diverge_factor), dict(settings or {}))


def _make_optimizer(optimizer_cls, params, lr: float, optimizer_kw: dict):
    """A torch optimizer from a class, a factory, or a name of ``course_utils.optimizers.OPTIMIZERS``."""
    if isinstance(optimizer_cls, str):
        from course_utils.optimizers import OPTIMIZERS

        check_choice("optimizer_cls", optimizer_cls, OPTIMIZERS)
        cls, defaults = OPTIMIZERS[optimizer_cls]
        return cls(params, lr=lr, **(defaults | optimizer_kw))
    if not callable(optimizer_cls):
        raise TypeError(f"optimizer_cls={optimizer_cls!r} has type {type(optimizer_cls).__name__}; allowed: "
                        "a torch.optim.Optimizer class, a factory (params, lr=...) -> optimizer, an "
                        "optimizer instance, or a name of course_utils.optimizers.OPTIMIZERS")
    return optimizer_cls(params, lr=lr, **optimizer_kw)


def _batches(loader_or_data) -> Callable[[], tuple]:
    """A function that returns the next (x, y) batch, cycling through a loader when it runs out."""
    if isinstance(loader_or_data, (tuple, list)) and len(loader_or_data) == 2 \
            and all(isinstance(t, torch.Tensor) for t in loader_or_data):
        x, y = loader_or_data
        return lambda: (x, y)  # one full batch, every step
    if not hasattr(loader_or_data, "__iter__"):
        raise TypeError(f"loader_or_data has type {type(loader_or_data).__name__}; allowed: a DataLoader (or "
                        "any iterable of (x, y) batches) or a tuple (X, y) of tensors")
    state = {"it": iter(loader_or_data)}

    def next_batch():
        try:
            batch = next(state["it"])
        except StopIteration:
            state["it"] = iter(loader_or_data)
            batch = next(state["it"])
        return batch[0], batch[1]

    return next_batch


def _run(model, next_batch, criterion, optimizer, planned, smooth, diverge_factor, stop_on_divergence,
         losses: list) -> None:
    """The test's loop: one step per planned lr, raw losses appended to ``losses``."""
    best, cur = math.inf, math.nan
    model.train()
    for lr in planned:
        for group in optimizer.param_groups:
            group["lr"] = float(lr)
        x, y = next_batch()
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if stop_on_divergence:  # divergence_index's rule, applied online
            raw = losses[-1]
            cur = raw if len(losses) == 1 or smooth == 0 else smooth * raw + (1 - smooth) * cur
            best = min(best, cur)
            if not math.isfinite(cur) or cur > diverge_factor * best:
                break


def lr_range_test(model: torch.nn.Module, loader_or_data, criterion, optimizer_cls, start_lr: float = 1e-5,
                  end_lr: float = 10.0, num_iter: int = 200, smooth: float = 0.05,
                  diverge_factor: float = 5.0, *, stop_on_divergence: bool = True, threads: int | None = 1,
                  **optimizer_kw) -> LRRange:
    """Run the range test on ``model`` and put the model (and a given optimizer) back as they were.

    ``loader_or_data``: a DataLoader (cycled when it runs out) or a tuple ``(X, y)`` used as one
    full batch every step. ``optimizer_cls``: a ``torch.optim`` class (``torch.optim.SGD``), a
    factory ``(params, lr=...)``, a name of ``course_utils.optimizers.OPTIMIZERS`` (``"SGD+momentum"``),
    or an existing optimizer over the model's parameters (its state is saved and restored).
    ``optimizer_kw``: extra arguments for the optimizer (``momentum=0.9``). Iteration ``i`` runs at
    ``lr_schedule(start_lr, end_lr, num_iter)[i]``. ``stop_on_divergence=False`` runs all
    ``num_iter`` steps (the result is still cut where the rule says; ``reanalysed`` reads the rest).
    ``threads=1``: the batches are tiny; one torch CPU thread is the fastest for them.
    """
    check_type("model", model, torch.nn.Module, "a torch.nn.Module")
    if not callable(criterion):
        raise TypeError(f"criterion={criterion!r} is not callable; allowed: a loss module or function")
    planned = lr_schedule(start_lr, end_lr, num_iter)
    smooth_losses([], smooth)  # argument checks before any training
    divergence_index([], diverge_factor)
    next_batch = _batches(loader_or_data)
    saved_model = copy.deepcopy(model.state_dict())
    was_training = model.training
    given = isinstance(optimizer_cls, torch.optim.Optimizer)
    if given and optimizer_kw:
        raise TypeError(f"optimizer_kw={optimizer_kw!r} given with an optimizer instance; allowed: none "
                        "(build the optimizer with them)")
    optimizer = optimizer_cls if given else _make_optimizer(optimizer_cls, model.parameters(), planned[0],
                                                            optimizer_kw)
    saved_optimizer = copy.deepcopy(optimizer.state_dict()) if given else None
    losses: list[float] = []
    try:
        with torch_threads(threads):
            _run(model, next_batch, criterion, optimizer, planned, smooth, diverge_factor, stop_on_divergence,
                 losses)
    finally:
        model.load_state_dict(saved_model)
        model.train(was_training)
        if given:
            optimizer.load_state_dict(saved_optimizer)
        else:
            optimizer.zero_grad()
        for p in model.parameters():
            p.grad = None
    settings = {"start_lr": start_lr, "end_lr": end_lr, "num_iter": num_iter,
                "optimizer": getattr(optimizer_cls, "__name__", str(optimizer_cls)) if not given
                else type(optimizer).__name__, **optimizer_kw}
    return analyse(planned[:len(losses)], losses, smooth, diverge_factor, planned, settings)


def default_range_test(seed: int = 0, num_iter: int = 300, start_lr: float = 1e-4, end_lr: float = 10.0,
                       batch_size: int = 32) -> LRRange:
    """The notebook's range test, run over the whole range (no stop, for re-reading): the course's MLP
    on the long-tailed digits, cross-entropy, SGD with momentum 0.9 (the training module's ``"sgd"``),
    seeded."""
    from torch.utils.data import DataLoader, TensorDataset

    from course_utils.data import load_imbalanced_digits
    from course_utils.reproducibility import set_seed
    from course_utils.training import make_model

    data = load_imbalanced_digits(seed=seed)
    set_seed(seed)
    model = make_model("mlp", data.X_train.shape[1], data.n_classes)
    loader = DataLoader(TensorDataset(torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)),
                        batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    return lr_range_test(model, loader, torch.nn.CrossEntropyLoss(), "SGD+momentum", start_lr, end_lr,
                         num_iter, stop_on_divergence=False)


@functools.lru_cache(maxsize=16)
def _unit_onecycle(steps: int) -> np.ndarray:
    from course_utils.schedules import lr_curve  # the real torch OneCycleLR

    return np.asarray(lr_curve("OneCycleLR", steps, max_lr=1.0), dtype=np.float64)


def onecycle_curve(max_lr: float, steps: int) -> np.ndarray:
    """The lr of each of ``steps`` steps of ``torch.optim.lr_scheduler.OneCycleLR(max_lr=max_lr)``.

    Read once from the real scheduler at ``max_lr = 1`` (``course_utils.schedules.lr_curve``) and
    scaled: every phase of OneCycleLR is a multiple of ``max_lr`` (start ``max_lr / 25``, peak
    ``max_lr``, end ``max_lr / 25 / 1e4``), so the curve is ``max_lr`` times the unit curve.
    """
    check_number("max_lr", max_lr, low=0.0, low_open=True)
    check_number("steps", steps, low=1, integer=True)
    return max_lr * _unit_onecycle(int(steps))


# ---------------------------------------------------------------------------------------------
# drawing on a given Axes
# ---------------------------------------------------------------------------------------------
_MARKS = {"steepest": ("o", COLORS["focal"]), "minimum/10": ("s", COLORS["smooth"]),
          "minimum": ("v", COLORS["baseline"])}


def plot_lr_range(ax, result: LRRange, *, ylim=None) -> dict:
    """Raw loss of every recorded batch (light; static), the smoothed loss up to the stop, the divergence
    point and the suggestions, on a log-lr axis. :func:`update_lr_range` moves all but the raw loss."""
    (raw,) = ax.plot(result.planned[:len(result.losses)], result.losses, color=COLORS["ce"], alpha=0.3, lw=1,
                     label=tr("loss of each batch"))
    (smoothed,) = ax.plot(result.lrs, result.smoothed, color=COLORS["ce"], label=tr("smoothed"))
    (stop,) = ax.plot([], [], "x", color="k", ms=11, mew=2.5, label=tr("divergence: stop"))
    marks = {}
    for name, (marker, color) in _MARKS.items():
        (marks[name],) = ax.plot([], [], marker, color=color, ms=10, ls="none",
                                 label=tr(SUGGESTION_NAMES.get(name, name)))
    ax.set_xscale("log")
    ax.set(xlabel=tr("learning rate (log scale)"), ylabel=tr("training loss"), title=tr("LR range test"))
    ax.set_xlim(result.planned[0], result.planned[-1])
    finite = result.smoothed[np.isfinite(result.smoothed)]
    if ylim is None and finite.size:
        ylim = (0.0, 1.5 * float(finite[0]) if finite[0] > 0 else 1.0)
    if ylim is not None:
        ax.set_ylim(*ylim)
    art = {"raw": raw, "smoothed": smoothed, "stop": stop, "marks": marks}
    update_lr_range(art, result)
    return art


def update_lr_range(art: dict, result: LRRange) -> None:
    """Move the smoothed curve, the stop and the suggestions of :func:`plot_lr_range` to ``result``."""
    art["smoothed"].set_data(result.lrs, result.smoothed)
    if result.diverged:
        art["stop"].set_data([result.lrs[-1]], [np.clip(result.smoothed[-1], None, 1e6)])
    else:
        art["stop"].set_data([], [])
    for name, line in art["marks"].items():
        lr = result.suggestions.get(name)
        if lr is None:
            line.set_data([], [])
            continue
        y = np.interp(np.log(lr), np.log(result.lrs), result.smoothed)
        line.set_data([lr], [y])
