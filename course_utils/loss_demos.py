"""Notebook 02's demos around the two special losses: torch's own losses, an imbalanced logistic
regression, and confidence against accuracy.

* :data:`TOUR`, :func:`tour_rows` / :func:`format_tour` - eight losses of ``torch.nn``, each run on a
  small example: what it expects, the shape of ``reduction="none"``, its default reduction, its value
  and the same value from its formula written out with elementary tensor operations;
* :func:`error_of` / :func:`warnings_of` - what a call raises or warns, as one short line (for the
  classic mistakes the notebook shows live); :func:`ce_after_softmax_floor` - the lowest
  cross-entropy left when a softmax ran before ``nn.CrossEntropyLoss``;
* :func:`loss_shape_curves` / :func:`plot_loss_shapes` - classification losses against the true-class
  margin, regression losses against the residual;
* :func:`logistic_logits_per_epoch` - the logits of a logistic regression, epoch by epoch (section 2);
* :func:`plot_confidence_vs_accuracy` - mean confidence against accuracy, one point per run.
"""

from __future__ import annotations

import math
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import check_number
from course_utils.i18n import tr
from course_utils.plotting import COLORS

__all__ = ["TOUR", "ce_after_softmax_floor", "error_of", "format_tour", "logistic_logits_per_epoch",
           "loss_shape_curves", "plot_confidence_vs_accuracy", "plot_loss_shapes", "tour_rows", "warnings_of"]

_MAX_LINE = 160


@dataclass(frozen=True)
class TourLoss:
    """One loss of the tour: its class (and options), what it expects, an example and its formula."""

    name: str
    options: dict
    expects: str          # the input, in words
    target: str           # the target, in words
    example: Callable     # (n, c, generator) -> (input, target)
    formula: Callable     # (input, target) -> per-element loss from elementary tensor operations
    other_dtype: torch.dtype | None = None  # the target dtype students pass by mistake

    def module(self) -> nn.Module:
        return getattr(nn, self.name)(**self.options)

    def label(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.name}({opts})"


def _logits_and_index(n, c, g):
    return torch.randn(n, c, generator=g) * 2, torch.randint(0, c, (n,), generator=g)


def _log_probs_and_index(n, c, g):
    x, y = _logits_and_index(n, c, g)
    return F.log_softmax(x, dim=1), y


def _binary_logits(n, c, g):
    return torch.randn(n, generator=g) * 2, torch.randint(0, 2, (n,), generator=g).float()


def _binary_probs(n, c, g):
    z, t = _binary_logits(n, c, g)
    return torch.sigmoid(z), t


def _regression(n, c, g):
    return torch.randn(n, generator=g) * 2, torch.randn(n, generator=g)


def _log_probs_and_probs(n, c, g):
    x, _ = _logits_and_index(n, c, g)
    return F.log_softmax(x, dim=1), torch.softmax(torch.randn(n, c, generator=g), dim=1)


def _rows(x, y):
    return torch.arange(x.shape[0]), y


def _huber(d, delta):
    a = d.abs()
    return torch.where(a < delta, 0.5 * d ** 2, delta * (a - 0.5 * delta))


TOUR = (
    TourLoss("CrossEntropyLoss", {}, "logits (N,C)", "int64 class (N,)", _logits_and_index,
             lambda x, y: torch.logsumexp(x, dim=1) - x[_rows(x, y)], torch.float32),
    TourLoss("NLLLoss", {}, "log-probs (N,C)", "int64 class (N,)", _log_probs_and_index,
             lambda x, y: -x[_rows(x, y)], torch.float32),
    TourLoss("BCEWithLogitsLoss", {}, "logits (N,)", "float 0/1 (N,)", _binary_logits,
             lambda z, t: z.clamp_min(0) - z * t + torch.log1p(torch.exp(-z.abs())), torch.int64),
    TourLoss("BCELoss", {}, "probs (N,)", "float 0/1 (N,)", _binary_probs,
             lambda p, t: -(t * torch.log(p) + (1 - t) * torch.log(1 - p)), torch.int64),
    TourLoss("MSELoss", {}, "predictions (N,)", "float (N,)", _regression,
             lambda x, t: (x - t) ** 2, torch.int64),
    TourLoss("L1Loss", {}, "predictions (N,)", "float (N,)", _regression,
             lambda x, t: (x - t).abs(), torch.int64),
    TourLoss("HuberLoss", {"delta": 1.0}, "predictions (N,)", "float (N,)", _regression,
             lambda x, t: _huber(x - t, 1.0), torch.int64),
    TourLoss("SmoothL1Loss", {"beta": 2.0}, "predictions (N,)", "float (N,)", _regression,
             lambda x, t: _huber(x - t, 2.0) / 2.0, torch.int64),
    TourLoss("KLDivLoss", {"reduction": "batchmean"}, "log-probs (N,C)", "probs (N,C)",
             _log_probs_and_probs, lambda q, p: p * (torch.log(p) - q)),
)


def tour_rows(n: int = 4, num_classes: int = 3, seed: int = 0) -> list[dict]:
    """Run every loss of :data:`TOUR` on a seeded example of ``n`` samples and ``num_classes`` classes.

    Per loss: ``loss``, ``expects``, ``target`` (in words); ``target_dtype`` (the dtype given);
    ``none_shape`` (shape of ``reduction="none"``); ``default`` (the class's default ``reduction``);
    ``value`` (the loss as configured); ``formula`` (the same from the written-out formula, reduced the
    same way); ``matches`` (``torch.allclose`` of the two, also per element); ``other_dtype`` and
    ``with_other_dtype``: what the loss does with the target cast to the other dtype (``None`` where
    no cast is tried, ``"accepted"`` or the error line of :func:`error_of`).
    """
    check_number("n", n, low=1, integer=True)
    check_number("num_classes", num_classes, low=2, integer=True)
    check_number("seed", seed, low=0, integer=True)
    rows = []
    for i, spec in enumerate(TOUR):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        x, y = spec.example(n, num_classes, g)
        module = spec.module()
        value = module(x, y)
        options = {k: v for k, v in spec.options.items() if k != "reduction"}
        none = getattr(nn, spec.name)(reduction="none", **options)(x, y)
        per_element = spec.formula(x, y)
        by_hand = per_element.sum() / n if module.reduction == "batchmean" else per_element.mean()
        other = None
        if spec.other_dtype is not None:
            cast = y.to(spec.other_dtype)
            other = error_of(lambda m=module, a=x, b=cast: m(a, b)) or "accepted"
        rows.append({"loss": spec.label(), "expects": spec.expects, "target": spec.target,
                     "target_dtype": y.dtype, "none_shape": tuple(none.shape),
                     "default": getattr(nn, spec.name)().reduction, "value": float(value),
                     "formula": float(by_hand), "other_dtype": spec.other_dtype, "with_other_dtype": other,
                     "matches": bool(torch.allclose(value, by_hand, rtol=1e-5, atol=1e-6)
                                     and torch.allclose(none, per_element, rtol=1e-5, atol=1e-6))})
    return rows


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _tour_words() -> dict[str, str]:
    """The words of :data:`TOUR`'s inputs and targets, in the current language."""
    return {"logits (N,C)": tr("logits (N,C)"), "logits (N,)": tr("logits (N,)"),
            "int64 class (N,)": tr("int64 class (N,)"), "log-probs (N,C)": tr("log-probs (N,C)"),
            "probs (N,)": tr("probs (N,)"), "predictions (N,)": tr("predictions (N,)"),
            "probs (N,C)": tr("probs (N,C)")}


def _width(text: str) -> int:
    """Columns ``text`` takes in a fixed-width font: two for a wide character (Hangul), one otherwise."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def format_tour(rows) -> str:
    """The rows of :func:`tour_rows` as a fixed-width text table."""
    head = ("loss", tr("input"), tr("target"), "'none' →", tr("value"), tr("= formula"),
            tr("target of the other dtype"))
    words = _tour_words()
    lines = []
    for r in rows:
        other = "—"
        if r["other_dtype"] is not None:
            verdict = r["with_other_dtype"]
            verdict = tr("accepted") if verdict == "accepted" else verdict.split(":")[0]
            other = f"{_dtype_name(r['other_dtype'])}: {verdict}"
        lines.append((r["loss"], words.get(r["expects"], r["expects"]), words.get(r["target"], r["target"]),
                      str(r["none_shape"]), f"{r['value']:.4f}", "✓" if r["matches"] else "✗", other))
    widths = [max(_width(str(row[k])) for row in [head, *lines]) for k in range(len(head))]

    def line(row):
        return "  ".join(str(cell) + " " * (w - _width(str(cell))) for cell, w in zip(row, widths))

    out = [line(head), "  ".join("─" * w for w in widths)]
    out += [line(row) for row in lines]
    defaults = sorted({r["default"] for r in rows})
    out.append(tr("default reduction of every class: {defaults}", defaults=", ".join(map(repr, defaults))))
    return "\n".join(out)


def _first_line(text: str) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= _MAX_LINE else line[:_MAX_LINE - 1] + "…"


def error_of(call: Callable) -> str | None:
    """Run ``call()``; return ``"ErrorType: first line of the message"`` if it raises, else None."""
    if not callable(call):
        raise TypeError(f"call={call!r} is not callable; allowed: a function of no arguments")
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the point is to show whatever torch raises
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return None


def warnings_of(call: Callable) -> tuple[object, list[str]]:
    """Run ``call()``; return its result and the first line of each warning it issued."""
    if not callable(call):
        raise TypeError(f"call={call!r} is not callable; allowed: a function of no arguments")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [f"{w.category.__name__}: {_first_line(w.message)}" for w in caught]


def ce_after_softmax_floor(num_classes: int) -> float:
    """The lowest ``nn.CrossEntropyLoss`` of outputs that went through a softmax first.

    Probabilities lie in [0, 1], so the second softmax sees logits at most 1 apart: the best case is
    ``[1, 0, ..., 0]`` for the true class, a loss of ``ln(1 + (C - 1)/e)``.
    """
    check_number("num_classes", num_classes, low=2, integer=True)
    return math.log1p((num_classes - 1) / math.e)


def loss_shape_curves(margins, residuals, num_classes: int = 3) -> dict:
    """Per-sample losses from torch, for the two panels of :func:`plot_loss_shapes`.

    ``margins``: true-class logit minus every other logit (the others 0); ``"ce"``:
    ``nn.CrossEntropyLoss`` of ``[m, 0, ..., 0]`` with class 0 true, ``"bce"``: ``nn.BCEWithLogitsLoss``
    of logit ``m`` with label 1. ``residuals``: prediction minus target; ``"mse"``, ``"l1"``,
    ``"huber"`` (``nn.HuberLoss(delta=1)``, equal to ``nn.SmoothL1Loss(beta=1)``).
    """
    check_number("num_classes", num_classes, low=2, integer=True)
    m = torch.as_tensor(np.asarray(margins, dtype=np.float64))
    r = torch.as_tensor(np.asarray(residuals, dtype=np.float64))
    if m.dim() != 1 or r.dim() != 1:
        raise ValueError(f"margins has shape {tuple(m.shape)}, residuals {tuple(r.shape)}; allowed: 1-D")
    logits = torch.zeros(len(m), num_classes, dtype=torch.float64)
    logits[:, 0] = m
    zero, first = torch.zeros_like(r), torch.zeros(len(m), dtype=torch.long)
    return {"ce": nn.CrossEntropyLoss(reduction="none")(logits, first).numpy(),
            "bce": nn.BCEWithLogitsLoss(reduction="none")(m, torch.ones_like(m)).numpy(),
            "mse": nn.MSELoss(reduction="none")(r, zero).numpy(),
            "l1": nn.L1Loss(reduction="none")(r, zero).numpy(),
            "huber": nn.HuberLoss(reduction="none", delta=1.0)(r, zero).numpy()}


def plot_loss_shapes(ax_cls, ax_reg, margins, residuals, num_classes: int = 3) -> dict:
    """Left: CE and BCE-with-logits against the true-class margin; right: MSE, L1 and Huber against
    the residual. Returns the lines by the keys of :func:`loss_shape_curves`."""
    curves = loss_shape_curves(margins, residuals, num_classes)
    styles = {"ce": (COLORS["ce"], "-", f"CrossEntropyLoss (C = {num_classes})"),
              "bce": (COLORS["focal"], "--", tr("BCEWithLogitsLoss (label 1)")),
              "mse": (COLORS["ce"], "-", "MSELoss"), "l1": (COLORS["focal"], "--", "L1Loss"),
              "huber": (COLORS["smooth"], "-.", "HuberLoss(δ=1) = SmoothL1Loss(β=1)")}
    lines = {}
    for key, ax, x in (("ce", ax_cls, margins), ("bce", ax_cls, margins), ("mse", ax_reg, residuals),
                       ("l1", ax_reg, residuals), ("huber", ax_reg, residuals)):
        color, ls, label = styles[key]
        (lines[key],) = ax.plot(x, curves[key], color=color, ls=ls, label=label)
    ax_cls.set(xlabel=tr("true-class logit − the others"), ylabel="loss",
               title=tr("classification: logits in"))
    ax_reg.set(xlabel=tr("prediction − target"), ylabel="loss", title=tr("regression"))
    ax_reg.set_ylim(0, float(np.max(curves["l1"])) * 1.6)
    for ax in (ax_cls, ax_reg):
        ax.legend(loc="upper center", framealpha=0.9)
    return lines


# ---------------------------------------------------------------------------------------------
# a logistic regression's logits, epoch by epoch; confidence against accuracy
# ---------------------------------------------------------------------------------------------
def logistic_logits_per_epoch(X, y, epochs=100, lr=0.3) -> torch.Tensor:
    """Logits of a logistic regression (zero init) trained full-batch with BCE and SGD; row e: after e epochs.

    Returns an (epochs + 1, N) tensor (row 0: the untrained model, every logit 0).
    """
    check_number("epochs", epochs, low=1, integer=True)
    check_number("lr", lr, low=0, low_open=True)
    if math.isinf(lr):
        raise ValueError(f"lr={lr!r} is infinite; allowed: a finite real number > 0")
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


def plot_confidence_vs_accuracy(ax, groups: dict, colors: dict | None = None) -> dict:
    """One point per run at (mean confidence, accuracy), a colour per group; the diagonal is calibrated.

    ``groups``: label -> (mean confidences, accuracies), one pair per run. Below the diagonal the
    confidence exceeds the accuracy (over-confident), above it falls short (under-confident).
    Returns label -> the group's scatter artist.
    """
    colors = colors or {}
    points = {}
    for label, (conf, acc) in groups.items():
        conf, acc = np.asarray(conf, dtype=np.float64), np.asarray(acc, dtype=np.float64)
        if conf.shape != acc.shape or conf.ndim != 1 or not conf.size:
            raise ValueError(f"groups[{label!r}] has {conf.shape} confidences and {acc.shape} accuracies; "
                             "allowed: two 1-D sequences of the same non-zero length")
        if np.any((conf < 0) | (conf > 1) | (acc < 0) | (acc > 1)):
            raise ValueError(f"groups[{label!r}] has values outside [0, 1]; allowed: fractions")
        points[label] = (conf, acc)
    if not points:
        raise ValueError("groups={}; allowed: at least one label -> (confidences, accuracies)")
    values = np.concatenate([np.concatenate(v) for v in points.values()])
    lo, hi = max(0.0, values.min() - 0.05), min(1.0, values.max() + 0.05)
    ax.plot([lo, hi], [lo, hi], color=COLORS["baseline"], lw=1, ls=":")
    ax.text(0.97, 0.03, tr("over-confident\n(confidence > accuracy)"), transform=ax.transAxes, ha="right",
            va="bottom", fontsize="small", color="#444444")
    ax.text(0.03, 0.97, tr("under-confident\n(confidence < accuracy)"), transform=ax.transAxes, ha="left",
            va="top", fontsize="small", color="#444444")
    artists = {label: ax.scatter(conf, acc, s=60, color=colors.get(label), label=label, zorder=3,
                                 edgecolors="black", linewidths=0.6)
               for label, (conf, acc) in points.items()}
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel=tr("mean confidence (top-1 probability)"),
           ylabel=tr("accuracy"))
    ax.set_aspect("equal")
    return artists
