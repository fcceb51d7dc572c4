"""Special losses: focal loss and label smoothing, their widgets, and a small loss comparison.

Public losses (stable API, used by the training-loop notebook):

* :func:`focal_loss` / :class:`FocalLoss` - multi-class softmax focal loss (Lin et al. 2017);
* :func:`sigmoid_focal_loss` - the binary / multi-label form, same semantics as
  ``torchvision.ops.sigmoid_focal_loss``;
* :func:`smooth_targets`, :func:`label_smoothing_loss` / :class:`LabelSmoothingLoss` - label
  smoothing in torch's ("uniform", Szegedy et al.) or the bootcamp's ("others") convention;
  :func:`equivalent_eps` converts eps between them.

All logs are natural logs, as in torch.
"""

from __future__ import annotations

import math
import numbers

import ipywidgets as W
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import check_choice, check_number, check_type
from course_utils.explorers.base import PlotWidget, new_figure
from course_utils.plotting import COLORS, show_message
from course_utils.reproducibility import torch_threads

__all__ = [
    "FocalLoss", "LabelSmoothingLoss", "equivalent_eps", "focal_loss", "label_smoothing_loss",
    "sigmoid_focal_loss", "smooth_targets",
]

REDUCTIONS = ("none", "mean", "sum")
CONVENTIONS = ("uniform", "others")
#: Colour of the bootcamp ("others") smoothing convention; torch's ("uniform") uses COLORS["smooth"].
OTHERS_COLOR = "#9467bd"
#: The gamma values of Lin et al. 2017, Fig. 1.
PAPER_GAMMAS = (0.0, 0.5, 1.0, 2.0, 5.0)


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
def _check_finite(name: str, value, **bounds):
    """check_number plus: not infinite."""
    check_number(name, value, **bounds)
    if math.isinf(value):
        raise ValueError(f"{name}={value!r} is infinite; allowed: a finite real number")
    return value


def _check_logits(name: str, logits, ndim: int | None = 2) -> torch.Tensor:
    """A float tensor, (N, C) with N >= 1 when ``ndim == 2``."""
    check_type(name, logits, torch.Tensor, "a float torch.Tensor")
    if not logits.is_floating_point():
        raise TypeError(f"{name} has dtype {logits.dtype}; allowed: a float tensor (call .float())")
    if ndim == 2:
        if logits.dim() != 2:
            raise ValueError(f"{name} has shape {tuple(logits.shape)}; allowed: (N, C) = (batch, classes)")
        if logits.shape[0] == 0 or logits.shape[1] == 0:
            raise ValueError(f"{name} has shape {tuple(logits.shape)}; allowed: N >= 1 samples, "
                             "C >= 1 classes")
    return logits


def _check_target(target, n: int, num_classes: int, name: str = "target") -> torch.Tensor:
    """An int64 tensor of ``n`` class indices in [0, num_classes)."""
    check_type(name, target, torch.Tensor, "an int64 torch.Tensor of class indices")
    if target.dtype != torch.int64:
        raise TypeError(f"{name} has dtype {target.dtype}; allowed: torch.int64 class indices (call .long())")
    if target.dim() != 1 or (n >= 0 and target.shape[0] != n):
        want = "(N,)" if n < 0 else f"({n},), one class index per row of the logits"
        raise ValueError(f"{name} has shape {tuple(target.shape)}; allowed: {want}")
    if target.numel():
        low, high = int(target.min()), int(target.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(f"{name} contains the class index {bad}; allowed: 0 .. {num_classes - 1} "
                             f"({num_classes} classes)")
    return target


def _check_eps(eps):
    return _check_finite("eps", eps, low=0, high=1, high_open=True)


def _check_convention(convention: str, num_classes: int) -> str:
    check_choice("convention", convention, CONVENTIONS)
    if convention == "others" and num_classes < 2:
        raise ValueError(f"num_classes={num_classes} with convention='others' divides eps by C - 1 = 0; "
                         "allowed: num_classes >= 2")
    return convention


def _alpha_tensor(alpha, num_classes: int | None, like: torch.Tensor | None = None) -> torch.Tensor | None:
    """``alpha`` (None or C non-negative per-class weights) as a 1-D tensor."""
    if alpha is None:
        return None
    allowed = "None, or a sequence / 1-D tensor of C non-negative per-class weights"
    if isinstance(alpha, (str, bytes)) or isinstance(alpha, numbers.Number):
        raise TypeError(f"alpha={alpha!r} has type {type(alpha).__name__}; allowed: {allowed} "
                        "(for the binary alpha of the paper use sigmoid_focal_loss)")
    try:
        a = torch.as_tensor(alpha)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"alpha={alpha!r} cannot be read as numbers; allowed: {allowed}") from exc
    if a.dtype == torch.bool or not (a.is_floating_point() or a.dtype in (torch.int64, torch.int32)):
        raise TypeError(f"alpha={alpha!r} has dtype {a.dtype}; allowed: {allowed}")
    if a.dim() != 1 or (num_classes is not None and a.shape[0] != num_classes):
        need = f"{num_classes} weights, one per class" if num_classes is not None else "a 1-D sequence"
        raise ValueError(f"alpha has shape {tuple(a.shape)}; allowed: {need}")
    if not bool(torch.isfinite(a).all()) or bool((a < 0).any()):
        raise ValueError(f"alpha={alpha!r} contains a negative or non-finite weight; allowed: {allowed}")
    if like is not None:
        a = a.to(dtype=like.dtype, device=like.device)
    return a


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# ---------------------------------------------------------------------------------------------
# focal loss
# ---------------------------------------------------------------------------------------------
def focal_loss(logits, target, gamma=2.0, alpha=None, reduction="mean"):
    """Multi-class softmax focal loss (Lin et al. 2017), natural log.

    Per sample ``-alpha[y] * (1 - p_y)**gamma * log(p_y)``, with ``log p_y`` from ``log_softmax``
    (stable for large logits) and ``1 - p_y = -expm1(log p_y)`` (accurate for confident samples).

    Args:
        logits: (N, C) float tensor of raw scores.
        target: (N,) int64 tensor of class indices in [0, C).
        gamma: focusing parameter >= 0; ``gamma=0`` (and ``alpha=None``) is exactly cross-entropy.
        alpha: ``None`` (no weighting) or C non-negative per-class weights (sequence or tensor).
        reduction: ``"none"`` (N,), ``"sum"``, or ``"mean"`` = the plain mean over the N samples.
            Note: ``F.cross_entropy(weight=w, reduction="mean")`` divides by ``sum(w[y])`` instead,
            so with ``alpha`` the two means differ by the factor ``N / sum(alpha[y])``.
    """
    _check_logits("logits", logits)
    n, c = logits.shape
    _check_target(target, n, c)
    _check_finite("gamma", gamma, low=0)
    check_choice("reduction", reduction, REDUCTIONS)
    alpha = _alpha_tensor(alpha, c, like=logits)
    log_probs = F.log_softmax(logits, dim=1)
    if gamma == 0 and alpha is None:  # plain cross-entropy, computed the way F.cross_entropy does
        return F.nll_loss(log_probs, target, reduction=reduction)
    log_p = log_probs.gather(1, target[:, None]).squeeze(1)
    loss = -log_p
    if gamma != 0:
        # clamp: where p_y rounds to 1 the factor is 0 anyway; it keeps the gradient of (1-p)**gamma
        # (gamma < 1) finite there instead of 0 * inf = nan
        one_minus_p = (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)
        loss = one_minus_p.pow(gamma) * loss
    if alpha is not None:
        loss = alpha[target] * loss
    return _reduce(loss, reduction)


class FocalLoss(nn.Module):
    """:func:`focal_loss` as an ``nn.Module`` (``alpha`` is a buffer: it follows ``.to(device)``)."""

    def __init__(self, gamma=2.0, alpha=None, reduction="mean"):
        super().__init__()
        self.gamma = _check_finite("gamma", gamma, low=0)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        a = _alpha_tensor(alpha, None)
        self.register_buffer("alpha", None if a is None else a.to(torch.get_default_dtype()))

    def forward(self, logits, target):
        return focal_loss(logits, target, gamma=self.gamma, alpha=self.alpha, reduction=self.reduction)

    def extra_repr(self) -> str:
        alpha = None if self.alpha is None else [round(float(a), 4) for a in self.alpha]
        return f"gamma={self.gamma}, alpha={alpha}, reduction={self.reduction!r}"


def sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """Binary / multi-label focal loss with the semantics of ``torchvision.ops.sigmoid_focal_loss``.

    ``p = sigmoid(logits)``, ``ce = BCE-with-logits``, ``p_t = p*t + (1-p)*(1-t)``,
    ``loss = ce * (1 - p_t)**gamma``, times ``alpha_t = alpha*t + (1-alpha)*(1-t)`` when
    ``alpha >= 0``. As in the paper, ``alpha`` weights the label-1 (positive) side: the default 0.25
    weights positives *less* than negatives (0.75). A negative ``alpha`` turns the weighting off.

    Args:
        logits: float tensor of any shape.
        targets: float tensor of the same shape, values in [0, 1] (0/1 labels or soft labels).
        alpha: number <= 1; negative disables the weighting.
        gamma: focusing parameter >= 0.
        reduction: ``"none"`` (same shape as logits), ``"mean"`` (over all elements) or ``"sum"``.
    """
    _check_logits("logits", logits, ndim=None)
    check_type("targets", targets, torch.Tensor, "a float torch.Tensor of 0/1 (or soft) labels")
    if not targets.is_floating_point():
        raise TypeError(f"targets has dtype {targets.dtype}; allowed: a float tensor of labels in [0, 1] "
                        "(call .float())")
    if targets.shape != logits.shape:
        raise ValueError(f"targets has shape {tuple(targets.shape)}; allowed: the shape of logits "
                         f"{tuple(logits.shape)}")
    if targets.numel() and (float(targets.min()) < 0 or float(targets.max()) > 1):
        raise ValueError(f"targets has values in [{float(targets.min())}, {float(targets.max())}]; "
                         "allowed: labels in [0, 1]")
    _check_finite("alpha", alpha, high=1)
    _check_finite("gamma", gamma, low=0)
    check_choice("reduction", reduction, REDUCTIONS)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    # 1 - p_t, written without cancellation: 1 - (p t + (1-p)(1-t)) = p (1-t) + (1-p) t
    one_minus_pt = p * (1 - targets) + torch.sigmoid(-logits) * targets
    loss = ce
    if gamma != 0:
        loss = ce * one_minus_pt.clamp_min(torch.finfo(p.dtype).tiny).pow(gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


# ---------------------------------------------------------------------------------------------
# label smoothing
# ---------------------------------------------------------------------------------------------
def soft_target_values(num_classes: int, eps: float, convention: str = "uniform") -> tuple[float, float]:
    """(value for the true class, value for each other class) of the smoothed target."""
    check_number("num_classes", num_classes, low=1, integer=True)
    _check_eps(eps)
    _check_convention(convention, num_classes)
    if convention == "uniform":
        return 1.0 - eps + eps / num_classes, eps / num_classes
    return 1.0 - eps, eps / (num_classes - 1)


def _soft_targets(target, num_classes, eps, convention, dtype, device):
    on, off = soft_target_values(num_classes, eps, convention)
    q = torch.full((target.shape[0], num_classes), off, dtype=dtype, device=device)
    return q.scatter_(1, target[:, None], on)


def smooth_targets(target, num_classes, eps, convention="uniform"):
    """(N, C) soft targets for class indices ``target``.

    ``"uniform"`` (Szegedy et al.; torch's ``label_smoothing``): true class ``1 - eps + eps/C``,
    others ``eps/C``. ``"others"`` (the bootcamp baseline): true class ``1 - eps``, others
    ``eps/(C-1)`` (needs C >= 2). ``eps`` in [0, 1); each row sums to 1.
    """
    check_number("num_classes", num_classes, low=1, integer=True)
    _check_target(target, -1, num_classes)
    _check_eps(eps)
    _check_convention(convention, num_classes)
    return _soft_targets(target, num_classes, eps, convention, torch.get_default_dtype(), target.device)


def label_smoothing_loss(logits, target, eps=0.1, convention="uniform", reduction="mean"):
    """Cross-entropy of ``logits`` (N, C) against ``smooth_targets(target, C, eps, convention)``.

    With ``convention="uniform"`` this equals ``F.cross_entropy(logits, target, label_smoothing=eps)``.
    ``reduction``: ``"none"`` (N,), ``"sum"`` or ``"mean"`` (over the N samples).
    """
    _check_logits("logits", logits)
    n, c = logits.shape
    _check_target(target, n, c)
    _check_eps(eps)
    _check_convention(convention, c)
    check_choice("reduction", reduction, REDUCTIONS)
    q = _soft_targets(target, c, eps, convention, logits.dtype, logits.device)
    loss = -(q * F.log_softmax(logits, dim=1)).sum(dim=1)
    return _reduce(loss, reduction)


class LabelSmoothingLoss(nn.Module):
    """:func:`label_smoothing_loss` as an ``nn.Module`` for ``num_classes`` classes (mean over the batch)."""

    def __init__(self, num_classes, eps=0.1, convention="uniform"):
        super().__init__()
        self.num_classes = check_number("num_classes", num_classes, low=1, integer=True)
        self.eps = _check_eps(eps)
        self.convention = _check_convention(convention, num_classes)

    def forward(self, logits, target):
        _check_logits("logits", logits)
        if logits.shape[1] != self.num_classes:
            raise ValueError(f"logits has shape {tuple(logits.shape)}; allowed: (N, {self.num_classes}), "
                             f"this loss was built for num_classes={self.num_classes}")
        return label_smoothing_loss(logits, target, eps=self.eps, convention=self.convention)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, eps={self.eps}, convention={self.convention!r}"


def equivalent_eps(eps, num_classes, from_convention="others", to_convention="uniform") -> float:
    """The eps in ``to_convention`` that gives the same soft targets as ``eps`` in ``from_convention``.

    others -> uniform: ``eps * C / (C - 1)`` (bootcamp 0.1 with 18 classes = torch 0.10588...);
    uniform -> others: ``eps * (C - 1) / C``. Raises ValueError when the result leaves [0, 1).
    """
    check_number("num_classes", num_classes, low=2, integer=True)
    _check_eps(eps)
    check_choice("from_convention", from_convention, CONVENTIONS)
    check_choice("to_convention", to_convention, CONVENTIONS)
    if from_convention == to_convention:
        return float(eps)
    c = num_classes
    out = eps * c / (c - 1) if from_convention == "others" else eps * (c - 1) / c
    if out >= 1:
        raise ValueError(f"eps={eps!r} ({from_convention!r}, C={c}) gives the true class {1 - eps:.4g} "
                         f"<= 1/C; no {to_convention!r} eps in [0, 1) gives the same targets (allowed here: "
                         f"eps < {(c - 1) / c:.4g})")
    return float(out)


# ---------------------------------------------------------------------------------------------
# compute functions for the widgets (NumPy, vectorised over p_t)
# ---------------------------------------------------------------------------------------------
def _check_probabilities(name, p, open_low=True):
    p = np.asarray(p, dtype=np.float64)
    if p.size and (np.any(~np.isfinite(p)) or p.min() <= 0 or p.max() > 1):
        raise ValueError(f"{name} has values in [{p.min()}, {p.max()}]; allowed: probabilities in (0, 1]")
    return p


def focal_curve(p_t, gamma, alpha_t=1.0) -> np.ndarray:
    """Focal loss ``-alpha_t (1-p_t)**gamma ln p_t`` as a function of the true-class probability."""
    p = _check_probabilities("p_t", p_t)
    _check_finite("gamma", gamma, low=0)
    _check_finite("alpha_t", alpha_t, low=0)
    return -alpha_t * (1.0 - p) ** gamma * np.log(p)


def focal_logit_grad(p_t, gamma, alpha_t=1.0) -> np.ndarray:
    """Size of the focal-loss gradient on the true class's logit, ``|dFL/dz_t|``, as a function of p_t.

    ``alpha_t (1-p)**gamma ((1-p) - gamma p ln p)``; ``gamma = 0`` gives cross-entropy's ``1 - p``.
    """
    p = _check_probabilities("p_t", p_t)
    _check_finite("gamma", gamma, low=0)
    _check_finite("alpha_t", alpha_t, low=0)
    return alpha_t * (1.0 - p) ** gamma * ((1.0 - p) - gamma * p * np.log(p))


def ce_over_focal(p_t, gamma) -> float:
    """How many times smaller the unweighted focal loss is than cross-entropy at ``p_t``: (1-p_t)**-gamma."""
    _check_finite("gamma", gamma, low=0)
    p = _check_finite("p_t", p_t, low=0, high=1, low_open=True, high_open=True)
    return float((1.0 - p) ** (-gamma))


def smoothed_loss_curve(p_true, num_classes, eps, convention="uniform") -> np.ndarray:
    """Loss against the soft target when the model gives ``p_true`` to the true class, the rest evenly."""
    p = _check_probabilities("p_true", p_true)
    on, off = soft_target_values(num_classes, eps, convention)
    if num_classes == 1:
        return -on * np.log(p)
    p_other = (1.0 - p) / (num_classes - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        other_term = np.where(off == 0, 0.0, off * np.log(np.where(p_other > 0, p_other, 1.0)))
        other_term = np.where((off > 0) & (p_other == 0), -np.inf, other_term)
    return -(on * np.log(p) + (num_classes - 1) * other_term)


# ---------------------------------------------------------------------------------------------
# plot functions (draw on a given Axes, return the artists)
# ---------------------------------------------------------------------------------------------
_LABEL_X = {0.5: 0.6, 1.0: 0.45, 2.0: 0.3, 5.0: 0.15}  # where each Fig. 1 label sits on its curve


def plot_focal_curves(ax, p_t, gammas=PAPER_GAMMAS, *, ymax=5.0):
    """Lin et al. 2017 Fig. 1: loss against p_t for each gamma (0 = cross-entropy); returns the lines."""
    p_t = _check_probabilities("p_t", p_t)
    lines = {}
    for g in gammas:
        if g == 0:
            (lines[g],) = ax.plot(p_t, focal_curve(p_t, 0.0), color=COLORS["ce"], lw=2.5, label="CE (γ = 0)")
            continue
        (lines[g],) = ax.plot(p_t, focal_curve(p_t, g), color=COLORS["baseline"], lw=1.2, alpha=0.8)
        x = _LABEL_X.get(float(g), 0.6)
        ax.text(x, float(focal_curve(x, g)), f"γ={g:g}", color="#444444", fontsize="small", ha="center",
                va="center", bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.axvspan(0.5, 1.0, color="#2ca02c", alpha=0.06, lw=0)
    ax.text(0.75, ymax * 0.3, "well-classified\n(p_t > 0.5)", ha="center", va="center", fontsize="small",
            color="#2c6e2c")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, ymax)
    ax.set_xlabel("p_t  (probability of the true class)")
    ax.set_ylabel("loss")
    return lines


def plot_focal_gradients(ax, p_t, gamma, *, ymax=None):
    """|dloss/dz_t| against p_t for cross-entropy and focal loss at ``gamma``; returns (ce_line, fl_line)."""
    p_t = _check_probabilities("p_t", p_t)
    (ce,) = ax.plot(p_t, focal_logit_grad(p_t, 0.0), color=COLORS["ce"], lw=2.5, label="CE")
    (fl,) = ax.plot(p_t, focal_logit_grad(p_t, gamma), color=COLORS["focal"], lw=2.5, label=f"FL γ={gamma:g}")
    ax.set_xlim(0, 1)
    if ymax is not None:
        ax.set_ylim(0, ymax)
    ax.set_xlabel("p_t")
    ax.set_ylabel("|∂loss/∂z_t|  (true-class logit)")
    return ce, fl


def bar_vertices(heights, offset=0.0, width=0.42) -> np.ndarray:
    """Corner points (n, 4, 2) of bars of the given heights centred on 0, 1, ..., n-1 plus ``offset``."""
    h = np.asarray(heights, dtype=np.float64)
    x = np.arange(h.size) + offset
    left, right = x - width / 2, x + width / 2
    zero = np.zeros_like(h)
    return np.stack([np.stack([left, zero], 1), np.stack([left, h], 1),
                     np.stack([right, h], 1), np.stack([right, zero], 1)], axis=1)


def plot_soft_targets(ax, num_classes, eps, *, true_class=1, max_classes=None, width=0.42):
    """Grouped bars of the soft target in both conventions (one PolyCollection each); returns the two."""
    from matplotlib.collections import PolyCollection

    n = max_classes or num_classes
    bars_u = ax.add_collection(PolyCollection([], facecolors=COLORS["smooth"], label="torch: uniform"))
    bars_o = ax.add_collection(PolyCollection([], facecolors=OTHERS_COLOR, label="bootcamp: others"))
    set_soft_target_bars(bars_u, bars_o, num_classes, eps, true_class=true_class, width=width)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel(f"class (true class = {true_class})")
    ax.set_ylabel("target probability")
    return bars_u, bars_o


def set_soft_target_bars(bars_u, bars_o, num_classes, eps, *, true_class=1, width=0.42):
    """Show the soft targets of ``num_classes`` classes as bars; returns (on, off) for uniform and others."""
    rows = []
    for bars, conv, offset in ((bars_u, "uniform", -width / 2), (bars_o, "others", width / 2)):
        on, off = soft_target_values(num_classes, eps, conv)
        rows.append((on, off))
        heights = np.full(num_classes, off)
        heights[true_class] = on
        bars.set_verts(bar_vertices(heights, offset, width))
    return rows


def plot_smoothed_loss(ax, p_true, num_classes, eps, *, ymax=2.5):
    """Loss against p_true for one-hot CE and both smoothing conventions; returns the three lines."""
    p = _check_probabilities("p_true", p_true)
    (ce,) = ax.plot(p, -np.log(p), color=COLORS["ce"], lw=2.5, label="one-hot (CE)")
    (u,) = ax.plot(p, smoothed_loss_curve(p, num_classes, eps, "uniform"), color=COLORS["smooth"], lw=2.5,
                   label="smoothed: torch (uniform)")
    (o,) = ax.plot(p, smoothed_loss_curve(p, num_classes, eps, "others"), color=OTHERS_COLOR, lw=2.5, ls="--",
                   label="smoothed: bootcamp (others)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, ymax)
    ax.set_xlabel("p given to the true class (rest split evenly)")
    ax.set_ylabel("loss")
    return ce, u, o


# ---------------------------------------------------------------------------------------------
# widgets
# ---------------------------------------------------------------------------------------------
def _slider(cls, description, **kw):
    return cls(description=description, style={"description_width": "initial"}, continuous_update=True,
               layout=W.Layout(width="340px"), **kw)


class FocalLossExplorer(PlotWidget):
    """Sliders for gamma and alpha: focal loss vs CE against p_t (Lin et al. Fig. 1), and the gradients."""

    P_READ = 0.9  # the p_t of the "how many times smaller" readout

    def __init__(self, gamma: float = 2.0, alpha: float | None = None):
        _check_finite("gamma", gamma, low=0, high=5)
        if alpha is not None:
            _check_finite("alpha", alpha, low=0, high=1)
        self.p = np.linspace(1e-3, 1.0, 400)
        fig, (self.ax_l, self.ax_g) = new_figure((9.6, 3.9), ncols=2)
        plot_focal_curves(self.ax_l, self.p)
        self.ax_l.set_title("loss (Lin et al. 2017, Fig. 1)")
        grid_max = max(float(focal_logit_grad(self.p, g).max()) for g in np.linspace(0, 5, 51))
        _, self.grad_fl = plot_focal_gradients(self.ax_g, self.p, gamma, ymax=1.08 * grid_max)
        self.ax_g.set_title("gradient on the true-class logit")
        (self.fl_pos,) = self.ax_l.plot(self.p, focal_curve(self.p, gamma), color=COLORS["focal"], lw=2.8)
        (self.fl_neg,) = self.ax_l.plot(self.p, focal_curve(self.p, gamma), color=COLORS["focal"], lw=2.2,
                                        ls="--")
        (self.grad_neg,) = self.ax_g.plot(self.p, focal_logit_grad(self.p, gamma), color=COLORS["focal"],
                                          lw=2.0, ls="--")
        self.ax_l.plot([self.P_READ], [-math.log(self.P_READ)], "o", color=COLORS["ce"], ms=7)
        (self.mark_fl,) = self.ax_l.plot([], [], "o", color=COLORS["accent"], ms=8, mec="black", mew=0.8)
        for artist in (self.fl_pos, self.fl_neg, self.grad_fl, self.grad_neg, self.mark_fl):
            self.dynamic(artist)
        self.message = self.dynamic(show_message(self.ax_l, ""))
        self.grad_message = self.dynamic(show_message(self.ax_g, ""))
        self.message.set_position((0.62, 0.47))
        self._alpha_on = None
        fig.subplots_adjust(left=0.075, right=0.985, bottom=0.15, top=0.91, wspace=0.24)
        alphas = [("off", -1.0)] + [(f"{a:.2f}", float(a)) for a in np.round(np.linspace(0, 1, 21), 2)]
        alpha_value = -1.0 if alpha is None else min((v for _, v in alphas), key=lambda v: abs(v - alpha))
        controls = {
            "gamma": _slider(W.FloatSlider, "γ (focusing)", value=float(gamma), min=0.0, max=5.0, step=0.1,
                             readout_format=".1f"),
            "alpha": _slider(W.SelectionSlider, "α (class-1 weight)", options=alphas, value=alpha_value),
        }
        super().__init__(fig, controls)

    def _legend(self, alpha_on: bool) -> None:
        handles = [self.ax_l.lines[0], self.fl_pos]
        labels = ["CE (γ = 0)", "FL, y = 1: α·FL" if alpha_on else "FL, current γ"]
        if alpha_on:
            handles.append(self.fl_neg)
            labels.append("FL, y = 0: (1−α)·FL")
        self.ax_l.legend(handles, labels, loc="upper right", framealpha=0.9)
        self.ax_g.legend([self.ax_g.lines[0], self.grad_fl] + ([self.grad_neg] if alpha_on else []),
                         ["CE", "FL (y = 1)" if alpha_on else "FL"] + (["FL (y = 0)"] if alpha_on else []),
                         loc="upper right", framealpha=0.9)

    def update(self, gamma, alpha):
        alpha_on = alpha >= 0
        self.fl_neg.set_visible(alpha_on)
        self.grad_neg.set_visible(alpha_on)
        if alpha_on != self._alpha_on:  # the legend is static: rebuild it when alpha is switched on/off
            self._alpha_on = alpha_on
            self._legend(alpha_on)
            self.invalidate()
        a_pos, a_neg = (alpha, 1.0 - alpha) if alpha_on else (1.0, 1.0)
        self.fl_pos.set_ydata(focal_curve(self.p, gamma, a_pos))
        self.grad_fl.set_ydata(focal_logit_grad(self.p, gamma, a_pos))
        if alpha_on:
            self.fl_neg.set_ydata(focal_curve(self.p, gamma, a_neg))
            self.grad_neg.set_ydata(focal_logit_grad(self.p, gamma, a_neg))
        p = self.P_READ
        ce = -math.log(p)
        fl = float(focal_curve(p, gamma))
        self.mark_fl.set_data([p], [a_pos * fl])
        notes = []
        if gamma == 0:
            notes.append("γ = 0: focal loss = cross-entropy")
        if alpha_on and alpha == 0:
            notes.append("α = 0: class-1 examples get no loss")
        if alpha_on and alpha == 1:
            notes.append("α = 1: class-0 examples get no loss")
        show_message(self.ax_l, "\n".join(notes), artist=self.message)
        show_message(self.ax_g, "γ = 0: same gradient as CE" if gamma == 0 and not alpha_on else "",
                     artist=self.grad_message)
        ratio = ce_over_focal(p, gamma)
        html = f"<b>At p_t = {p}:</b> CE = {ce:.4f}, FL(γ = {gamma:.1f}) = {fl:.3g} → "
        html += ("FL = CE (γ = 0)." if gamma == 0 else
                 f"FL is <b>{ratio:,.4g}× smaller</b> than CE (= 1/(1−p_t)<sup>γ</sup>).")
        if alpha_on:
            pos = f"{ce / (a_pos * fl):,.4g}× smaller" if a_pos > 0 else "zero"
            neg = f"{ce / (a_neg * fl):,.4g}× smaller" if a_neg > 0 else "zero"
            html += (f"<br>With α = {alpha:.2f} (weights class 1 by α, class 0 by 1−α): a y = 1 example's "
                     f"loss is {pos}, a y = 0 example's {neg}.")
        self.readout.value = f"<div style='font-size:15px'>{html}</div>"


class LabelSmoothingExplorer(PlotWidget):
    """Sliders for eps and the number of classes: soft targets in both conventions and the loss they give."""

    MAX_CLASSES = 20
    TRUE_CLASS = 1
    P_CONFIDENT = 0.99

    def __init__(self, eps: float = 0.1, num_classes: int = 5):
        check_number("eps", eps, low=0, high=0.9)
        check_number("num_classes", num_classes, low=2, high=self.MAX_CLASSES, integer=True)
        self.p = np.linspace(0.005, 0.9995, 400)
        fig, (self.ax_t, self.ax_l) = new_figure((9.6, 3.9), ncols=2)
        self.bars_u, self.bars_o = plot_soft_targets(self.ax_t, num_classes, eps, true_class=self.TRUE_CLASS,
                                                     max_classes=self.MAX_CLASSES)
        self.ax_t.set_xticks(range(0, self.MAX_CLASSES, 2))
        self.ax_t.legend(loc="upper right", framealpha=0.9)
        self.ax_t.set_title("soft target")
        _, self.loss_u, self.loss_o = plot_smoothed_loss(self.ax_l, self.p, num_classes, eps)
        self.ax_l.set_title("loss of a prediction against that target")
        (self.conf_pts,) = self.ax_l.plot([], [], "o", color=COLORS["accent"], ms=8, mec="black", mew=0.8,
                                          label=f"confident: p = {self.P_CONFIDENT}")
        (self.min_pts,) = self.ax_l.plot([], [], "*", color="black", ms=11, label="p = target (minimum)")
        self.ax_l.legend(loc="upper right", framealpha=0.9, fontsize="small")
        for artist in (self.bars_u, self.bars_o, self.loss_u, self.loss_o,
                       self.conf_pts, self.min_pts):
            self.dynamic(artist)
        self.message = self.dynamic(show_message(self.ax_t, ""))
        self.message.set_position((0.6, 0.36))
        fig.subplots_adjust(left=0.075, right=0.985, bottom=0.15, top=0.91, wspace=0.24)
        controls = {
            "eps": _slider(W.FloatSlider, "ε (smoothing)", value=float(eps), min=0.0, max=0.9, step=0.01,
                           readout_format=".2f"),
            "num_classes": _slider(W.IntSlider, "classes C", value=int(num_classes), min=2,
                                   max=self.MAX_CLASSES),
        }
        super().__init__(fig, controls)

    def update(self, eps, num_classes):
        c, t = num_classes, self.TRUE_CLASS
        (on_u, off_u), (on_o, off_o) = set_soft_target_bars(self.bars_u, self.bars_o, c, eps, true_class=t)
        curve_u = smoothed_loss_curve(self.p, c, eps, "uniform")
        curve_o = smoothed_loss_curve(self.p, c, eps, "others")
        self.loss_u.set_ydata(curve_u)
        self.loss_o.set_ydata(curve_o)
        pc = self.P_CONFIDENT
        conf = [float(smoothed_loss_curve(pc, c, eps, conv)) for conv in CONVENTIONS]
        self.conf_pts.set_data([pc, pc], conf)
        best = [(on, float(smoothed_loss_curve(on, c, eps, conv))) for on, conv in ((on_u, "uniform"),
                                                                                  (on_o, "others"))]
        self.min_pts.set_data([b[0] for b in best], [b[1] for b in best])
        # two fixed scales: a change of limits redraws everything, so only switch when the minima need it
        self.ax_l.set_ylim(0, 2.5 if max(b[1] for b in best) < 1.6 else 5.0)
        notes = []
        if eps == 0:
            notes.append("ε = 0: one-hot target\n(plain cross-entropy)")
        elif on_o <= off_o:
            notes.append(f"bootcamp ε ≥ (C−1)/C = {(c - 1) / c:.2f}:\nthe true class is no\n"
                         "longer the largest target")
        show_message(self.ax_t, "\n".join(notes), artist=self.message)
        self.readout.value = self._readout(eps, c, (on_u, off_u), (on_o, off_o), conf, best)

    def _readout(self, eps, c, uni, oth, conf, best) -> str:
        try:
            to_torch = f"torch <code>label_smoothing={equivalent_eps(eps, c, 'others', 'uniform'):.5g}</code>"
        except ValueError:
            to_torch = "no torch ε (bootcamp ε ≥ (C−1)/C)"
        to_boot = f"bootcamp ε = {equivalent_eps(eps, c, 'uniform', 'others'):.5g}"
        rows = [
            f"<b>ε = {eps:.2f}, C = {c}.</b> <span style='color:{COLORS['smooth']}'>torch (uniform)</span>: "
            f"true {uni[0]:.4g}, others {uni[1]:.4g} · <span style='color:{OTHERS_COLOR}'>bootcamp (others)"
            f"</span>: true {oth[0]:.4g}, others {oth[1]:.4g}",
            f"Convert: bootcamp ε = {eps:.2f} ≙ {to_torch}; torch ε = {eps:.2f} ≙ {to_boot}.",
            f"Loss of a confident prediction (p = {self.P_CONFIDENT}, "
            f"<span style='color:{COLORS['accent']}'>●</span>): torch {conf[0]:.3f}, "
            f"bootcamp {conf[1]:.3f} · of the smoothed prediction (p = target, ★): torch {best[0][1]:.3f}, "
            f"bootcamp {best[1][1]:.3f} (the minimum, = entropy of the target).",
        ]
        return "<div style='font-size:15px'>" + "<br>".join(rows) + "</div>"


# ---------------------------------------------------------------------------------------------
# the loss comparison: data, a tiny classifier, calibration
# ---------------------------------------------------------------------------------------------
def logistic_logits_per_epoch(X, y, epochs=100, lr=0.3) -> torch.Tensor:
    """Logits of a logistic regression (zero init) trained full-batch with BCE and SGD; row e: after e epochs.

    Returns an (epochs + 1, N) tensor (row 0: the untrained model, every logit 0).
    """
    check_number("epochs", epochs, low=1, integer=True)
    _check_finite("lr", lr, low=0, low_open=True)
    X = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    t = torch.as_tensor(np.asarray(y), dtype=torch.float32)
    if X.dim() != 2 or t.shape != (X.shape[0],):
        raise ValueError(f"X has shape {tuple(X.shape)} and y {tuple(t.shape)}; allowed: (N, d) and (N,)")
    model = nn.Linear(X.shape[1], 1)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rows = []
    for _ in range(epochs + 1):
        z = model(X).squeeze(1)
        rows.append(z.detach().clone())
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(z, t).backward()
        opt.step()
    return torch.stack(rows)


def long_tailed_digits(imbalance=0.05, test_size=0.5, seed=0):
    """scikit-learn's digits with a long-tailed training set: X_train, X_test, y_train, y_test tensors.

    A stratified split first; then class k keeps ``round(n_max * imbalance**(k/9))`` training images
    (class 0 the most, class 9 the fewest). The test half stays balanced, so each class's recall is
    measured on ~90 images. Features are standardised with the training set's mean and std.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    _check_finite("imbalance", imbalance, low=0, high=1, low_open=True)
    _check_finite("test_size", test_size, low=0, high=1, low_open=True, high_open=True)
    check_number("seed", seed, low=0, integer=True)
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    n_max = np.bincount(y_tr).min()
    keep = []
    for k in range(10):
        idx = np.flatnonzero(y_tr == k)
        n_k = max(1, int(round(n_max * imbalance ** (k / 9))))
        keep.append(rng.choice(idx, size=n_k, replace=False))
    keep = np.sort(np.concatenate(keep))
    X_tr, y_tr = X_tr[keep], y_tr[keep]
    mean, std = X_tr.mean(axis=0), X_tr.std(axis=0) + 1e-6
    as_x = lambda a: torch.tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    return as_x(X_tr), as_x(X_te), torch.as_tensor(y_tr), torch.as_tensor(y_te)


def train_classifier(X, y, loss_fn, *, hidden=32, epochs=150, lr=0.01, weight_decay=1e-4, seed=0):
    """A one-hidden-layer MLP trained full-batch with Adam on ``loss_fn(logits, y)``; returns the model.

    Runs on one CPU thread (restored afterwards): for matrices this small, that is the fastest.
    """
    check_number("epochs", epochs, low=1, integer=True)
    check_number("hidden", hidden, low=1, integer=True)
    torch.manual_seed(seed)
    n_classes = int(y.max()) + 1
    model = nn.Sequential(nn.Linear(X.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    with torch_threads(1):
        for _ in range(epochs):
            opt.zero_grad()
            loss = loss_fn(model(X), y)
            loss.backward()
            opt.step()
    return model.eval()


def plot_class_recall(ax, recalls: dict, colors: dict | None = None):
    """Grouped bars of per-class recall, one group per class, one bar per entry of ``recalls``."""
    names = list(recalls)
    k = len(next(iter(recalls.values())))
    w = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar(np.arange(k) + (i - (len(names) - 1) / 2) * w, recalls[name], w, label=name,
               color=(colors or {}).get(name))
    ax.set_xticks(range(k))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("class")
    ax.set_ylabel("recall")
    return ax


#: For the lead's benchmark: short label -> factory of a ready widget.
BENCHMARK_WIDGETS = {
    "focal loss (γ, α)": FocalLossExplorer,
    "label smoothing (ε, C)": LabelSmoothingExplorer,
}
