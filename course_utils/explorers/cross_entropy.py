"""The start-here notebook's warm-up explorer: slide a logit, watch softmax and -ln p."""

from __future__ import annotations

import numpy as np

from course_utils.checks import check_number, check_type
from course_utils.cross_entropy import (
    CLASS_NAMES,
    plot_loss_curve,
    plot_probabilities,
    softmax_cross_entropy,
    update_probabilities,
)
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.i18n import tr
from course_utils.plotting import new_figure, show_message


class CrossEntropyExplorer(PlotWidget):
    """Slide the true class's logit and watch the probability and the loss -ln p move."""

    def __init__(self, other_logits=(1.0, 0.5), target: int = 0):
        self.others = np.asarray(other_logits, dtype=np.float64)
        if self.others.ndim != 1 or self.others.size != len(CLASS_NAMES) - 1:
            raise ValueError(f"other_logits={other_logits!r}; allowed: {len(CLASS_NAMES) - 1} numbers "
                             f"(the logits of the other classes of {CLASS_NAMES})")
        check_type("target", target, (int, np.integer), "an int class index")
        check_number("target", int(target), low=0, high=len(CLASS_NAMES) - 1, integer=True)
        self.target = int(target)
        fig, (ax_p, ax_l) = new_figure((8.5, 3.4), ncols=2)
        probs, _ = softmax_cross_entropy(self._logits(0.0), self.target)
        self.bars = plot_probabilities(ax_p, probs, self.target)
        self.point = plot_loss_curve(ax_l, self.others, self.target, np.linspace(-4, 6, 201))
        self.note = show_message(ax_l, "")
        fig.tight_layout()
        controls = {"logit": C.slider(tr("true-class logit"), 0.0, -4.0, 6.0, 0.1)}
        super().__init__(fig, controls, dynamic=[*self.bars, self.point, self.note])
        self.refresh()

    def _logits(self, logit):
        return np.insert(self.others, self.target, logit)

    def update(self, logit):
        probs, loss = softmax_cross_entropy(self._logits(logit), self.target)
        update_probabilities(self.bars, probs)
        self.point.set_data([logit], [loss])
        confident = loss < 0.02
        show_message(None, tr("already confident:\nthe loss is almost 0") if confident else "",
                     artist=self.note)
        self.readout.value = tr("<b>p(true class) = {p:.4f}</b> &nbsp; loss = -ln p = <b>{loss:.4f}</b>",
                                p=probs[self.target], loss=loss)
