"""Logits -> softmax -> cross-entropy for one example (the start-here notebook's warm-up): compute, draw."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checks import check_number, check_type
from course_utils.i18n import tr
from course_utils.plotting import COLORS

#: The warm-up's classes (English; :func:`class_names` gives them in the current language).
CLASS_NAMES = ("cat", "dog", "bird")


def class_names() -> tuple[str, ...]:
    """:data:`CLASS_NAMES` in the current language (what the plots write)."""
    return (tr("cat"), tr("dog"), tr("bird"))


def _shown(names) -> tuple:
    """The class names a plot writes: :data:`CLASS_NAMES` translated, any other names as given."""
    return class_names() if tuple(names) == CLASS_NAMES else tuple(names)


def softmax_cross_entropy(logits, target: int) -> tuple[np.ndarray, float]:
    """Softmax probabilities of one example's logits and its cross-entropy (natural log) for ``target``."""
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    if z.ndim != 1 or z.numel() < 2:
        raise ValueError(f"logits has shape {tuple(z.shape)}; "
                         "allowed: one example, a 1-D array of >= 2 scores")
    check_type("target", target, (int, np.integer), "an int class index")
    check_number("target", int(target), low=0, high=z.numel() - 1, integer=True)
    log_p = F.log_softmax(z, dim=0)
    return log_p.exp().numpy(), float(-log_p[int(target)])


def loss_curve(other_logits, target: int, grid) -> np.ndarray:
    """Cross-entropy as the target's logit runs over ``grid`` (the other logits fixed)."""
    grid = np.asarray(grid, dtype=np.float64)
    others = np.asarray(other_logits, dtype=np.float64)
    z = np.repeat(np.insert(others, target, 0.0)[None, :], grid.size, axis=0)
    z[:, target] = grid
    return F.cross_entropy(torch.from_numpy(z), torch.full((grid.size,), target), reduction="none").numpy()


def plot_probabilities(ax, probs, target: int, names=CLASS_NAMES):
    """Bar chart of the softmax probabilities, the target class highlighted; returns the bars."""
    names = _shown(names)
    colors = [COLORS["accent"] if i == target else COLORS["ce"] for i in range(len(probs))]
    bars = ax.bar(names, probs, color=colors)
    ax.set_ylim(0, 1)
    ax.set_ylabel(tr("softmax probability"))
    ax.set_title(tr("model output (true class: {name})", name=names[target]))
    return bars


def update_probabilities(bars, probs) -> None:
    """Set the heights of the bars made by :func:`plot_probabilities`."""
    for bar, p in zip(bars, probs):
        bar.set_height(p)


def plot_loss_curve(ax, other_logits, target: int, grid, names=CLASS_NAMES):
    """The loss -ln p against the target's logit, and a marker for the current logit; returns the marker."""
    ax.plot(grid, loss_curve(other_logits, target, grid), color=COLORS["ce"])
    names = _shown(names)
    ax.set_xlabel(tr("logit of '{name}'", name=names[target]))
    ax.set_ylabel(tr("cross-entropy  -ln p"))
    ax.set_title(tr("loss for this example"))
    (point,) = ax.plot([], [], "o", color=COLORS["accent"], markersize=10)
    return point
