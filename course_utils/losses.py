"""Special losses: focal loss and label smoothing -- the torch losses, their curves, and the drawing.

Public losses (stable API, used by the training-loop notebook):

* :func:`focal_loss` / :class:`FocalLoss` - multi-class softmax focal loss (Lin et al. 2017);
* :func:`sigmoid_focal_loss` - the binary / multi-label form, same semantics as
  ``torchvision.ops.sigmoid_focal_loss``;
* :func:`smooth_targets`, :func:`label_smoothing_loss` / :class:`LabelSmoothingLoss` - label
  smoothing in torch's ("uniform", Szegedy et al.) or the bootcamp's ("others") convention;
  :func:`equivalent_eps` converts eps between them.

NumPy curves of both (:func:`focal_curve`, :func:`focal_logit_grad`, :func:`smoothed_loss_curve`) and
their drawing (``plot_*`` / ``update_*``) serve notebook 02 and its explorers
(``course_utils.explorers.losses``); the notebook's other demos are in ``course_utils.loss_demos``.
All logs are natural logs, as in torch.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import check_choice, check_number, check_type
from course_utils.i18n import tr
from course_utils.plotting import COLORS

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
    return _soft_target_values(num_classes, eps, convention)


def _soft_target_values(num_classes, eps, convention):
    """:func:`soft_target_values` without the checks."""
    if convention == "uniform":
        return 1.0 - eps + eps / num_classes, eps / num_classes
    return 1.0 - eps, eps / (num_classes - 1)


def _soft_targets(target, num_classes, eps, convention, dtype, device):
    on, off = _soft_target_values(num_classes, eps, convention)
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
    return _focal_curve(p, gamma, alpha_t)


def _focal_curve(p, gamma, alpha_t=1.0):
    """:func:`focal_curve` without the checks."""
    return -alpha_t * (1.0 - p) ** gamma * np.log(p)


def focal_logit_grad(p_t, gamma, alpha_t=1.0) -> np.ndarray:
    """Size of the focal-loss gradient on the true class's logit, ``|dFL/dz_t|``, as a function of p_t.

    ``alpha_t (1-p)**gamma ((1-p) - gamma p ln p)``; ``gamma = 0`` gives cross-entropy's ``1 - p``.
    """
    p = _check_probabilities("p_t", p_t)
    _check_finite("gamma", gamma, low=0)
    _check_finite("alpha_t", alpha_t, low=0)
    return _focal_logit_grad(p, gamma, alpha_t)


def _focal_logit_grad(p, gamma, alpha_t=1.0):
    """:func:`focal_logit_grad` without the checks."""
    return alpha_t * (1.0 - p) ** gamma * ((1.0 - p) - gamma * p * np.log(p))


def ce_over_focal(p_t, gamma) -> float:
    """How many times smaller the unweighted focal loss is than cross-entropy at ``p_t``: (1-p_t)**-gamma."""
    _check_finite("gamma", gamma, low=0)
    p = _check_finite("p_t", p_t, low=0, high=1, low_open=True, high_open=True)
    return float((1.0 - p) ** (-gamma))


def smoothed_loss_curve(p_true, num_classes, eps, convention="uniform") -> np.ndarray:
    """Loss against the soft target when the model gives ``p_true`` to the true class, the rest evenly."""
    p = _check_probabilities("p_true", p_true)
    soft_target_values(num_classes, eps, convention)  # the checks
    return _smoothed_loss_curve(p, num_classes, eps, convention)


def _smoothed_loss_curve(p, num_classes, eps, convention):
    """:func:`smoothed_loss_curve` without the checks."""
    on, off = _soft_target_values(num_classes, eps, convention)
    if num_classes == 1:
        return -on * np.log(p)
    p_other = (1.0 - p) / (num_classes - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        other_term = np.where(off == 0, 0.0, off * np.log(np.where(p_other > 0, p_other, 1.0)))
        other_term = np.where((off > 0) & (p_other == 0), -np.inf, other_term)
    return -(on * np.log(p) + (num_classes - 1) * other_term)


def smoothing_summary(num_classes, eps, p_confident=0.99) -> dict:
    """Per convention: the soft target (true, other), the loss of a confident prediction ``p_confident``
    and the loss of the best prediction (p = the target: the minimum, the target's entropy)."""
    check_number("num_classes", num_classes, low=2, integer=True)
    _check_eps(eps)
    _check_finite("p_confident", p_confident, low=0, high=1, low_open=True)
    return _smoothing_summary(num_classes, eps, p_confident)


def _smoothing_summary(num_classes, eps, p_confident):
    """:func:`smoothing_summary` without the checks."""
    out = {}
    for conv in CONVENTIONS:
        on, off = _soft_target_values(num_classes, eps, conv)
        out[conv] = {"on": on, "off": off,
                     "confident": float(_smoothed_loss_curve(p_confident, num_classes, eps, conv)),
                     "best": float(_smoothed_loss_curve(on, num_classes, eps, conv))}
    return out


# ---------------------------------------------------------------------------------------------
# drawing: plot_* draws on a given Axes and returns the artists, update_* changes them
# ---------------------------------------------------------------------------------------------
_LABEL_X = {0.5: 0.6, 1.0: 0.45, 2.0: 0.3, 5.0: 0.15}  # where each Fig. 1 label sits on its curve


def plot_focal_curves(ax, p_t, gammas=PAPER_GAMMAS, *, ymax=5.0):
    """Lin et al. 2017 Fig. 1: loss against p_t for each gamma (0 = cross-entropy); returns the lines."""
    p_t = _check_probabilities("p_t", p_t)
    lines = {}
    for g in gammas:
        if g == 0:
            (lines[g],) = ax.plot(p_t, focal_curve(p_t, 0.0), color=COLORS["ce"], lw=2.5, ls="-.",
                                  label="CE (γ = 0)")
            continue
        (lines[g],) = ax.plot(p_t, focal_curve(p_t, g), color=COLORS["baseline"], lw=1.2, alpha=0.8)
        x = _LABEL_X.get(float(g), 0.6)
        ax.text(x, float(focal_curve(x, g)), f"γ={g:g}", color="#444444", fontsize="small", ha="center",
                va="center", bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.axvspan(0.5, 1.0, color="#2ca02c", alpha=0.06, lw=0)
    ax.text(0.75, ymax * 0.3, tr("well-classified\n(p_t > 0.5)"), ha="center", va="center", fontsize="small",
            color="#2c6e2c")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, ymax)
    ax.set_xlabel(tr("p_t  (probability of the true class)"))
    ax.set_ylabel("loss")
    return lines


def plot_focal_gradients(ax, p_t, gamma, *, ymax=None):
    """|dloss/dz_t| against p_t for cross-entropy and focal loss at ``gamma``; returns (ce_line, fl_line)."""
    p_t = _check_probabilities("p_t", p_t)
    (ce,) = ax.plot(p_t, focal_logit_grad(p_t, 0.0), color=COLORS["ce"], lw=2.5, ls="-.", label="CE")
    (fl,) = ax.plot(p_t, focal_logit_grad(p_t, gamma), color=COLORS["focal"], lw=2.5, label=f"FL γ={gamma:g}")
    ax.set_xlim(0, 1)
    if ymax is not None:
        ax.set_ylim(0, ymax)
    ax.set_xlabel("p_t")
    ax.set_ylabel(tr("|∂loss/∂z_t|  (true-class logit)"))
    return ce, fl


def focal_summary(p_t, gamma, alpha=-1.0) -> dict:
    """At one ``p_t``: CE, the unweighted FL, CE/FL, and the FL of a label-1 (weight alpha) and a
    label-0 (weight 1 - alpha) example; ``alpha < 0``: no weighting (both weights 1)."""
    _check_finite("p_t", p_t, low=0, high=1, low_open=True, high_open=True)
    _check_finite("gamma", gamma, low=0)
    _check_finite("alpha", alpha, high=1)
    ce, fl = -math.log(p_t), float(_focal_curve(p_t, gamma))
    a_pos, a_neg = _alpha_pair(alpha)
    return {"ce": ce, "fl": fl, "ratio": ce_over_focal(p_t, gamma), "pos": a_pos * fl, "neg": a_neg * fl}


def _alpha_pair(alpha):
    """(weight of label 1, weight of label 0): (alpha, 1 - alpha), or (1, 1) when alpha < 0 (off)."""
    return (alpha, 1.0 - alpha) if alpha >= 0 else (1.0, 1.0)


def plot_focal_panels(ax_loss, ax_grad, p_t, gamma, alpha=-1.0, *, p_read=0.9, max_gamma=5.0) -> dict:
    """The focal explorer's figure: Fig. 1 (left) and the gradients (right) with focal loss at ``gamma``.

    Solid: a label-1 example (weight alpha), dashed: a label-0 example (weight 1 - alpha), shown only
    when ``alpha >= 0``; a marker on the solid curve at ``p_read``. The gradient axis fits every gamma
    up to ``max_gamma``. Returns the artists :func:`update_focal_panels` changes.
    """
    p = _check_probabilities("p_t", p_t)
    focal_summary(p_read, gamma, alpha)  # the checks
    plot_focal_curves(ax_loss, p)
    ax_loss.set_title(tr("loss (Lin et al. 2017, Fig. 1)"))
    grad_max = max(float(_focal_logit_grad(p, g).max()) for g in np.linspace(0, max_gamma, 51))
    _, grad_pos = plot_focal_gradients(ax_grad, p, gamma, ymax=1.08 * grad_max)
    ax_grad.set_title(tr("gradient on the true-class logit"))
    art = {"loss_pos": ax_loss.plot(p, p, color=COLORS["focal"], lw=2.8)[0], "grad_pos": grad_pos,
           "loss_neg": ax_loss.plot(p, p, color=COLORS["focal"], lw=2.2, ls="--")[0],  # data: update below
           "grad_neg": ax_grad.plot(p, p, color=COLORS["focal"], lw=2.0, ls="--")[0]}
    ax_loss.plot([p_read], [-math.log(p_read)], "o", color=COLORS["ce"], ms=7)
    art["mark"] = ax_loss.plot([p_read], [0.0], "o", color=COLORS["accent"], ms=8, mec="black", mew=0.8)[0]
    update_focal_panels(art, p, gamma, alpha, p_read=p_read)
    update_focal_legend(art, alpha >= 0)
    return art


def update_focal_panels(art, p_t, gamma, alpha, *, p_read=0.9) -> None:
    """Show focal loss at ``gamma`` and ``alpha`` (< 0: off) in the artists of :func:`plot_focal_panels`."""
    a_pos, a_neg = _alpha_pair(alpha)
    art["loss_pos"].set_ydata(_focal_curve(p_t, gamma, a_pos))
    art["grad_pos"].set_ydata(_focal_logit_grad(p_t, gamma, a_pos))
    for key, curve in (("loss_neg", _focal_curve), ("grad_neg", _focal_logit_grad)):
        art[key].set_visible(alpha >= 0)
        if alpha >= 0:
            art[key].set_ydata(curve(p_t, gamma, a_neg))
    art["mark"].set_data([p_read], [a_pos * float(_focal_curve(p_read, gamma))])


def update_focal_legend(art, alpha_on: bool) -> None:
    """The legends of :func:`plot_focal_panels`: the label-0 curves are named only when alpha is on."""
    ax_l, ax_g = art["loss_pos"].axes, art["grad_pos"].axes
    extra = ([art["loss_neg"]], ["FL, y = 0: (1−α)·FL"]) if alpha_on else ([], [])
    ax_l.legend([ax_l.lines[0], art["loss_pos"], *extra[0]],
                ["CE (γ = 0)", "FL, y = 1: α·FL" if alpha_on else tr("FL, current γ"), *extra[1]],
                loc="upper right", framealpha=0.9)
    ax_g.legend([ax_g.lines[0], art["grad_pos"]] + ([art["grad_neg"]] if alpha_on else []),
                ["CE", "FL (y = 1)" if alpha_on else "FL"] + (["FL (y = 0)"] if alpha_on else []),
                loc="upper right", framealpha=0.9)


def bar_vertices(heights, offset=0.0, width=0.42) -> np.ndarray:
    """Corner points (n, 4, 2) of bars of the given heights centred on 0, 1, ..., n-1 plus ``offset``."""
    h = np.asarray(heights, dtype=np.float64)
    x = np.arange(h.size) + offset
    left, right = x - width / 2, x + width / 2
    zero = np.zeros_like(h)
    return np.stack([np.stack([left, zero], 1), np.stack([left, h], 1),
                     np.stack([right, h], 1), np.stack([right, zero], 1)], axis=1)


def plot_soft_targets(ax, num_classes, eps, *, true_class=1, max_classes=None, width=0.42):
    """Grouped bars of the soft target in both conventions (one PolyCollection each); returns the two.

    ``max_classes``: the x axis fits that many classes (a slider's maximum), ticked every second one.
    """
    from matplotlib.collections import PolyCollection

    soft_target_values(num_classes, eps, "others")  # the checks
    check_number("true_class", true_class, low=0, high=num_classes - 1, integer=True)
    n = max_classes or num_classes
    bars_u = ax.add_collection(PolyCollection([], facecolors=COLORS["smooth"], label="torch: uniform"))
    bars_o = ax.add_collection(PolyCollection([], facecolors=OTHERS_COLOR, label=tr("bootcamp: others")))
    update_soft_targets((bars_u, bars_o), num_classes, eps, true_class=true_class, width=width)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 1.08)
    if max_classes:
        ax.set_xticks(range(0, max_classes, 2))
    ax.set_xlabel(tr("class (true class = {true_class})", true_class=true_class))
    ax.set_ylabel(tr("target probability"))
    ax.set_title(tr("soft target"))
    ax.legend(loc="upper right", framealpha=0.9)
    return bars_u, bars_o


def update_soft_targets(bars, num_classes, eps, *, true_class=1, width=0.42) -> None:
    """Set the two bar groups of :func:`plot_soft_targets` to the soft targets of ``num_classes`` classes."""
    for collection, conv, offset in zip(bars, CONVENTIONS, (-width / 2, width / 2)):
        on, off = _soft_target_values(num_classes, eps, conv)
        heights = np.full(num_classes, off)
        heights[true_class] = on
        collection.set_verts(bar_vertices(heights, offset, width))


def plot_smoothed_loss(ax, p_true, num_classes, eps, *, p_confident=0.99) -> dict:
    """Loss against p_true for one-hot CE and both smoothing conventions, with markers at a confident
    prediction ``p_confident`` (●) and at each minimum (★, p = the target); returns the artists that
    :func:`update_smoothed_loss` changes."""
    p = _check_probabilities("p_true", p_true)
    smoothing_summary(num_classes, eps, p_confident)  # the checks
    ax.plot(p, -np.log(p), color=COLORS["ce"], lw=2.5, label=tr("one-hot (CE)"))
    art = {"uniform": ax.plot(p, p, color=COLORS["smooth"], lw=2.5, ls="-.",  # data: update below
                              label=tr("smoothed: torch (uniform)"))[0],
           "others": ax.plot(p, p, color=OTHERS_COLOR, lw=2.5, ls="--",  # data: update below
                             label=tr("smoothed: bootcamp (others)"))[0],
           "confident": ax.plot([], [], "o", color=COLORS["accent"], ms=8, mec="black", mew=0.8,
                                label=tr("confident: p = {p}", p=p_confident))[0],
           "best": ax.plot([], [], "*", color="black", ms=11, label=tr("p = target (minimum)"))[0]}
    ax.set_xlim(0, 1)
    ax.set_xlabel(tr("p given to the true class (rest split evenly)"))
    ax.set_ylabel("loss")
    ax.set_title(tr("loss of a prediction against that target"))
    ax.legend(loc="upper right", framealpha=0.9, fontsize="small")
    update_smoothed_loss(art, p, num_classes, eps, _smoothing_summary(num_classes, eps, p_confident),
                         p_confident=p_confident)
    return art


def update_smoothed_loss(art, p_true, num_classes, eps, summary, *, p_confident=0.99) -> None:
    """Curves and markers of :func:`plot_smoothed_loss` for ``num_classes`` and ``eps``; ``summary``:
    their :func:`smoothing_summary`. The loss axis takes one of two fixed heights (0-2.5, 0-5)."""
    for conv in CONVENTIONS:
        art[conv].set_ydata(_smoothed_loss_curve(p_true, num_classes, eps, conv))
    art["confident"].set_data([p_confident] * 2, [summary[c]["confident"] for c in CONVENTIONS])
    art["best"].set_data([summary[c]["on"] for c in CONVENTIONS], [summary[c]["best"] for c in CONVENTIONS])
    # two fixed scales: a change of limits redraws everything, so only switch when the minima need it
    art["best"].axes.set_ylim(0, 2.5 if max(summary[c]["best"] for c in CONVENTIONS) < 1.6 else 5.0)
