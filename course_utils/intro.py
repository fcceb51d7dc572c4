"""The warm-up widget of the start-here notebook: logits -> softmax -> cross-entropy."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch
import torch.nn.functional as F

from course_utils.checks import check_number, check_type
from course_utils.plotting import COLORS, show_message
from course_utils.widgets import PlotWidget, new_figure

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


class CrossEntropyExplorer(PlotWidget):
    """Slide the true class's logit and watch the probability and the loss -log p move."""

    def __init__(self, other_logits=(1.0, 0.5), target: int = 0):
        self.others = np.asarray(other_logits, dtype=np.float64)
        self.target = target
        fig, (self.ax_p, self.ax_l) = new_figure((8.5, 3.4), ncols=2)
        self.grid = np.linspace(-4, 6, 201)
        probs, _ = softmax_cross_entropy(self._logits(0.0), target)
        self.bars = plot_probabilities(self.ax_p, probs, target)
        for bar in self.bars:
            self.dynamic(bar)
        self.ax_l.plot(self.grid, loss_curve(self.others, target, self.grid), color=COLORS["ce"])
        self.ax_l.set_xlabel(f"logit of '{CLASS_NAMES[target]}'")
        self.ax_l.set_ylabel("cross-entropy  -ln p")
        self.ax_l.set_title("loss for this example")
        (self.point,) = self.ax_l.plot([], [], "o", color=COLORS["accent"], markersize=10)
        self.dynamic(self.point)
        self.note = self.dynamic(show_message(self.ax_l, ""))
        fig.tight_layout()
        controls = {"logit": W.FloatSlider(value=0.0, min=-4.0, max=6.0, step=0.1,
                                           description="true-class logit",
                                           style={"description_width": "initial"})}
        super().__init__(fig, controls)

    def _logits(self, logit):
        return np.insert(self.others, self.target, logit)

    def update(self, logit):
        probs, loss = softmax_cross_entropy(self._logits(logit), self.target)
        for bar, p in zip(self.bars, probs):
            bar.set_height(p)
        self.point.set_data([logit], [loss])
        show_message(self.ax_l, "already confident:\nthe loss is almost 0" if loss < 0.02 else "",
                     artist=self.note)
        self.readout.value = (f"<b>p(true class) = {probs[self.target]:.4f}</b> &nbsp; "
                              f"loss = -ln p = <b>{loss:.4f}</b>")


BENCHMARK_WIDGETS = {"00 cross-entropy explorer": CrossEntropyExplorer}
