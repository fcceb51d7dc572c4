"""Logits -> softmax -> cross-entropy for one example (the start-here notebook's warm-up): compute, draw."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checks import check_number, check_type
from course_utils.plotting import COLORS

CLASS_NAMES = ("cat", "dog", "bird")


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
    colors = [COLORS["accent"] if i == target else COLORS["ce"] for i in range(len(probs))]
    bars = ax.bar(names, probs, color=colors)
    ax.set_ylim(0, 1)
    ax.set_ylabel("softmax probability")
    ax.set_title(f"model output (true class: {names[target]})")
    return bars


def update_probabilities(bars, probs) -> None:
    """Set the heights of the bars made by :func:`plot_probabilities`."""
    for bar, p in zip(bars, probs):
        bar.set_height(p)


def plot_loss_curve(ax, other_logits, target: int, grid, names=CLASS_NAMES):
    """The loss -ln p against the target's logit, and a marker for the current logit; returns the marker."""
    ax.plot(grid, loss_curve(other_logits, target, grid), color=COLORS["ce"])
    ax.set_xlabel(f"logit of '{names[target]}'")
    ax.set_ylabel("cross-entropy  -ln p")
    ax.set_title("loss for this example")
    (point,) = ax.plot([], [], "o", color=COLORS["accent"], markersize=10)
    return point
