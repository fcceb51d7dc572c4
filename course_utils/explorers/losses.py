"""Notebook 02's explorers: focal loss (γ, α) over Lin et al.'s Fig. 1, and label smoothing (ε, C)."""

from __future__ import annotations

import numpy as np

from course_utils.checks import check_number
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.i18n import tr
from course_utils.losses import (
    OTHERS_COLOR,
    equivalent_eps,
    focal_summary,
    plot_focal_panels,
    plot_smoothed_loss,
    plot_soft_targets,
    smoothing_summary,
    update_focal_legend,
    update_focal_panels,
    update_smoothed_loss,
    update_soft_targets,
)
from course_utils.plotting import COLORS, new_figure, show_message, text_color


class FocalLossExplorer(PlotWidget):
    """Sliders for gamma and alpha: focal loss vs CE against p_t (Lin et al. Fig. 1), and the gradients."""

    P_READ = 0.9  # the p_t of the "how many times smaller" readout

    def __init__(self, gamma: float = 2.0, alpha: float | None = None):
        check_number("gamma", gamma, low=0, high=5)
        if alpha is not None:
            check_number("alpha", alpha, low=0, high=1)
        alphas = [(tr("off"), -1.0)] + [(f"{a:.2f}", float(a)) for a in np.round(np.linspace(0, 1, 21), 2)]
        alpha_value = -1.0 if alpha is None else min((v for _, v in alphas), key=lambda v: abs(v - alpha))
        self.p = np.linspace(1e-3, 1.0, 400)
        fig, (ax_l, ax_g) = new_figure((9.6, 3.9), ncols=2)
        self.art = plot_focal_panels(ax_l, ax_g, self.p, gamma, alpha_value, p_read=self.P_READ)
        self.message = show_message(ax_l, "")
        self.message.set_position((0.62, 0.47))
        self.grad_message = show_message(ax_g, "")
        fig.subplots_adjust(left=0.075, right=0.985, bottom=0.15, top=0.91, wspace=0.24)
        controls = {"gamma": C.slider(tr("γ (focusing)"), float(gamma), 0.0, 5.0, 0.1, fmt=".1f"),
                    "alpha": C.selection_slider(tr("α (class-1 weight)"), alphas, alpha_value)}
        # the legend is static: rebuild it when alpha is switched on or off (before the redraw)
        controls["alpha"].observe(self._on_alpha, names="value")
        super().__init__(fig, controls, dynamic=[*self.art.values(), self.message, self.grad_message])
        self.refresh()

    def _on_alpha(self, change) -> None:
        if (change["new"] >= 0) != (change["old"] >= 0):
            update_focal_legend(self.art, change["new"] >= 0)
            self.invalidate()

    def update(self, gamma, alpha):
        update_focal_panels(self.art, self.p, gamma, alpha, p_read=self.P_READ)
        s = focal_summary(self.P_READ, gamma, alpha)
        notes = []
        if gamma == 0:
            notes.append(tr("γ = 0: focal loss = cross-entropy"))
        if alpha == 0:
            notes.append(tr("α = 0: class-1 examples get no loss"))
        if alpha == 1:
            notes.append(tr("α = 1: class-0 examples get no loss"))
        show_message(None, "\n".join(notes), artist=self.message)
        show_message(None, tr("γ = 0: same gradient as CE") if gamma == 0 and alpha < 0 else "",
                     artist=self.grad_message)
        fields = {"p": self.P_READ, "ce": s["ce"], "fl": s["fl"], "gamma": gamma}
        if gamma == 0:
            html = tr("<b>At p_t = {p}:</b> CE = {ce:.4f}, FL(γ = {gamma:.1f}) = {fl:.3g} → FL = CE (γ = 0).",
                      **fields)
        else:
            html = tr("<b>At p_t = {p}:</b> CE = {ce:.4f}, FL(γ = {gamma:.1f}) = {fl:.3g} → FL is "
                      "<b>{ratio:,.4g}× smaller</b> than CE (= 1/(1−p_t)<sup>γ</sup>).", **fields,
                      ratio=s["ratio"])
        if alpha >= 0:
            html += "<br>" + self._alpha_sentence(alpha, s)
        self.readout.value = C.readout_html(html)

    @staticmethod
    def _alpha_sentence(alpha, s) -> str:
        """What alpha does at the readout's p_t: how many times smaller each label's loss is than CE."""
        pos = s["ce"] / s["pos"] if s["pos"] > 0 else None
        neg = s["ce"] / s["neg"] if s["neg"] > 0 else None
        if pos is not None and neg is not None:
            return tr("With α = {alpha:.2f} (weights class 1 by α, class 0 by 1−α): a y = 1 example's loss "
                      "is {pos:,.4g}× smaller, a y = 0 example's {neg:,.4g}× smaller.", alpha=alpha, pos=pos,
                      neg=neg)
        if neg is not None:
            return tr("With α = {alpha:.2f} (weights class 1 by α, class 0 by 1−α): a y = 1 example's loss "
                      "is zero, a y = 0 example's {neg:,.4g}× smaller.", alpha=alpha, neg=neg)
        if pos is not None:
            return tr("With α = {alpha:.2f} (weights class 1 by α, class 0 by 1−α): a y = 1 example's loss "
                      "is {pos:,.4g}× smaller, a y = 0 example's zero.", alpha=alpha, pos=pos)
        return tr("With α = {alpha:.2f} (weights class 1 by α, class 0 by 1−α): a y = 1 example's loss is "
                  "zero, a y = 0 example's zero.", alpha=alpha)


class LabelSmoothingExplorer(PlotWidget):
    """Sliders for eps and the number of classes: soft targets in both conventions and the loss they give."""

    MAX_CLASSES = 20
    TRUE_CLASS = 1
    P_CONFIDENT = 0.99

    def __init__(self, eps: float = 0.1, num_classes: int = 5):
        check_number("eps", eps, low=0, high=0.9)
        check_number("num_classes", num_classes, low=2, high=self.MAX_CLASSES, integer=True)
        self.p = np.linspace(0.005, 0.9995, 400)
        fig, (ax_t, ax_l) = new_figure((9.6, 3.9), ncols=2)
        self.bars = plot_soft_targets(ax_t, num_classes, eps, true_class=self.TRUE_CLASS,
                                      max_classes=self.MAX_CLASSES)
        self.art = plot_smoothed_loss(ax_l, self.p, num_classes, eps, p_confident=self.P_CONFIDENT)
        self.message = show_message(ax_t, "")
        self.message.set_position((0.6, 0.36))
        fig.subplots_adjust(left=0.075, right=0.985, bottom=0.15, top=0.91, wspace=0.24)
        controls = {"eps": C.slider(tr("ε (smoothing)"), float(eps), 0.0, 0.9, 0.01, fmt=".2f"),
                    "num_classes": C.slider(tr("classes C"), int(num_classes), 2, self.MAX_CLASSES, 1)}
        super().__init__(fig, controls, dynamic=[*self.bars, *self.art.values(), self.message])
        self.refresh()

    @property
    def bars_u(self):
        """The soft-target bars of torch's ("uniform") convention."""
        return self.bars[0]

    @property
    def bars_o(self):
        """The soft-target bars of the bootcamp's ("others") convention."""
        return self.bars[1]

    def update(self, eps, num_classes):
        c = num_classes
        s = smoothing_summary(c, eps, self.P_CONFIDENT)
        update_soft_targets(self.bars, c, eps, true_class=self.TRUE_CLASS)
        update_smoothed_loss(self.art, self.p, c, eps, s, p_confident=self.P_CONFIDENT)
        note = ""
        if eps == 0:
            note = tr("ε = 0: one-hot target\n(plain cross-entropy)")
        elif s["others"]["on"] <= s["others"]["off"]:
            note = tr("bootcamp ε ≥ (C−1)/C = {limit:.2f}:\nthe true class is no\nlonger the largest target",
                      limit=(c - 1) / c)
        show_message(None, note, artist=self.message)
        self._shown = (eps, c, s)

    def readout_html(self) -> str:
        return self._readout(*self._shown)

    def _readout(self, eps, c, s) -> str:
        to_boot = equivalent_eps(eps, c, "uniform", "others")
        try:
            torch_eps = equivalent_eps(eps, c, "others", "uniform")
        except ValueError:
            convert = tr("Convert: bootcamp ε = {eps:.2f} ≙ no torch ε (bootcamp ε ≥ (C−1)/C); torch ε = "
                         "{eps:.2f} ≙ bootcamp ε = {to_boot:.5g}.", eps=eps, to_boot=to_boot)
        else:
            convert = tr("Convert: bootcamp ε = {eps:.2f} ≙ torch {to_torch}; torch ε = {eps:.2f} ≙ bootcamp "
                         "ε = {to_boot:.5g}.", eps=eps, to_boot=to_boot,
                         to_torch=C.code(f"label_smoothing={torch_eps:.5g}"))
        uni, oth = s["uniform"], s["others"]
        uni_c, oth_c = text_color(COLORS["smooth"]), text_color(OTHERS_COLOR)  # 4.5:1 on white, as text
        rows = [
            tr("<b>ε = {eps:.2f}, C = {c}.</b> <span style='color:{uni_c}'>torch (uniform)</span>: "
               "true {uni_on:.4g}, others {uni_off:.4g} · <span style='color:{oth_c}'>bootcamp "
               "(others)</span>: true {oth_on:.4g}, others {oth_off:.4g}", eps=eps, c=c, uni_c=uni_c,
               oth_c=oth_c, uni_on=uni["on"], uni_off=uni["off"], oth_on=oth["on"], oth_off=oth["off"]),
            convert,
            tr("Loss of a confident prediction (p = {p}, <span style='color:{color}'>●</span>): torch "
               "{uni_confident:.3f}, bootcamp {oth_confident:.3f} · of the smoothed prediction (p = target, "
               "★): torch {uni_best:.3f}, bootcamp {oth_best:.3f} (the minimum, = entropy of the target).",
               p=self.P_CONFIDENT, color=text_color(COLORS["accent"]), uni_confident=uni["confident"],
               oth_confident=oth["confident"], uni_best=uni["best"], oth_best=oth["best"]),
        ]
        return C.readout_html("<br>".join(rows))
