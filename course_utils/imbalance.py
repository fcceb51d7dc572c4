"""Remedies for class imbalance, and a fair comparison of them over several seeds.

The remedies (each a small, tested building block):

* class weights for ``nn.CrossEntropyLoss(weight=...)``: inverse frequency ``N / (K n_c)``
  (scikit-learn's ``"balanced"``) and the *effective number* weights of Cui et al. (2019),
  ``(1 − β) / (1 − β^{n_c})`` normalised to sum to K;
* a ``WeightedRandomSampler`` that draws every class equally often (:func:`balanced_sampler`);
* focal loss (``course_utils.losses.FocalLoss``);
* **logit adjustment** (Menon et al. 2021): the loss version trains on ``logits + τ log π``
  (:class:`LogitAdjustedLoss`); the post-hoc version trains with plain CE and predicts
  ``argmax(logits − τ log π)`` (:func:`posthoc_adjust`), π the training class prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import WeightedRandomSampler

from course_utils.checks import check_number
from course_utils.i18n import N_, tr
from course_utils.plotting import COLORS

__all__ = ["EFFECTIVE_BETA", "REMEDIES", "TAU", "LogitAdjustedLoss", "RemedyRun", "balanced_sampler",
           "class_prior", "effective_number_weights", "holdout_split", "inverse_frequency_weights",
           "paired_differences", "plot_remedies", "posthoc_adjust", "remedy_name", "remedy_parts",
           "run_remedies", "summarize"]


def _counts(counts) -> np.ndarray:
    c = np.asarray(counts)
    if c.ndim != 1 or c.size < 2 or not np.issubdtype(c.dtype, np.number):
        raise ValueError(f"counts has shape {c.shape}; allowed: a 1-D array of samples per class "
                         "(>= 2 classes)")
    if np.any(c <= 0):
        raise ValueError(f"counts={c.tolist()} has a class without samples; allowed: every count > 0")
    return c.astype(np.float64)


def class_prior(counts) -> np.ndarray:
    """π_c = n_c / N, the training class frequencies."""
    c = _counts(counts)
    return c / c.sum()


def inverse_frequency_weights(counts) -> np.ndarray:
    """``N / (K n_c)``: scikit-learn's ``compute_class_weight("balanced")``; the weighted counts are equal."""
    c = _counts(counts)
    return c.sum() / (len(c) * c)


def effective_number_weights(counts, beta: float = 0.999) -> np.ndarray:
    """Cui et al. (2019): ``w_c ∝ (1 − β) / (1 − β^{n_c})``, normalised so that ``Σ w_c = K``.

    ``1 − β^{n}`` over ``1 − β`` is the *effective number* of samples of a class with n samples: β = 0
    gives equal weights (plain CE), β → 1 gives inverse frequency.
    """
    check_number("beta", beta, low=0.0, high=1.0, high_open=True)
    c = _counts(counts)
    w = (1.0 - beta) / (1.0 - np.power(beta, c))
    return w * len(c) / w.sum()


class LogitAdjustedLoss(nn.Module):
    """Menon et al. (2021), eq. (10): cross-entropy on ``logits + τ log π``.

    Adding ``τ log π_y`` makes frequent classes *easier* during training, so the model must put a
    larger margin on rare ones; at prediction time the plain logits are used (``argmax f(x)``).
    ``τ = 0`` is plain cross-entropy.
    """

    def __init__(self, prior, tau: float = 1.0):
        super().__init__()
        check_number("tau", tau, low=0.0)
        p = np.asarray(prior, dtype=np.float64)
        if p.ndim != 1 or np.any(p <= 0) or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"prior={p.tolist()}; allowed: class frequencies > 0 that sum to 1")
        self.tau = float(tau)
        self.register_buffer("shift", torch.tensor(self.tau * np.log(p), dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits + self.shift.to(logits.dtype), target)

    def extra_repr(self) -> str:
        return f"tau={self.tau}"


def posthoc_adjust(logits, prior, tau: float = 1.0) -> np.ndarray:
    """Menon et al. (2021), eq. (9): ``logits − τ log π`` (predict with their argmax)."""
    check_number("tau", tau, low=0.0)
    z = np.asarray(logits.detach().cpu().numpy() if isinstance(logits, torch.Tensor) else logits,
                   dtype=np.float64)
    p = np.asarray(prior, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != p.size:
        raise ValueError(f"logits has shape {z.shape} and prior {p.shape}; allowed: (n, K) and (K,)")
    return z - tau * np.log(p)


def balanced_sampler(y, seed: int = 0, num_samples: int | None = None) -> WeightedRandomSampler:
    """A ``WeightedRandomSampler`` over the training set: sample i has weight ``1 / n_{y_i}``, so each class
    is drawn equally often in expectation; ``num_samples`` (default len(y)) draws with replacement,
    seeded by its own generator."""
    y = np.asarray(y)
    check_number("seed", seed, low=0, integer=True)
    counts = np.bincount(y)
    if np.any(counts == 0):
        raise ValueError(f"y has no sample of class(es) {np.flatnonzero(counts == 0).tolist()}; "
                         "allowed: every class present")
    weights = torch.as_tensor(1.0 / counts[y], dtype=torch.double)
    return WeightedRandomSampler(weights, num_samples or len(y), replacement=True,
                                 generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# the comparison: every remedy over several seeds, through the training module
# ---------------------------------------------------------------------------------------------
#: The remedies compared, by key, with their names (English; shown in the course's language by
#: :func:`remedy_name`).
#: ``la_posthoc`` reuses the plain-CE model of the same seed.
REMEDIES = {
    "ce": N_("cross-entropy"),
    "inverse_freq": N_("CE, weight = N/(K·n_c)"),
    "effective_number": N_("CE, weight = effective number"),
    "sampler": "CE + WeightedRandomSampler",
    "focal": "focal loss (γ=2)",
    "la_loss": N_("logit-adjusted loss (τ=1)"),
    "la_posthoc": N_("CE + post-hoc logit adj. (τ=1)"),
}
#: β of the effective-number weights (Cui et al. try 0.9 … 0.9999; β → 1 is inverse frequency).
EFFECTIVE_BETA = 0.99
#: τ of both logit adjustments (Menon et al.'s default: τ = 1).
TAU = 1.0


def remedy_name(remedy: str) -> str:
    """The name of a remedy of :data:`REMEDIES` in the course's language (a table's row, a plot's label)."""
    return tr(REMEDIES.get(remedy, remedy))


def holdout_split(data, test_size: float = 0.5, seed: int = 0):
    """Split the held-out part of ``data`` (a ``course_utils.data.DigitsSplit``) into validation and test.

    Stratified, seeded. Returns ``(data with only the validation images held out, X_test, y_test)``: the
    training loop sees the validation images only; the test images are kept for the final numbers.
    """
    from dataclasses import replace

    from sklearn.model_selection import train_test_split

    check_number("test_size", test_size, low=0.0, high=1.0, low_open=True, high_open=True)
    idx = np.arange(len(data.y_val))
    val, test = train_test_split(idx, test_size=test_size, stratify=data.y_val, random_state=seed)
    kept = replace(data, X_val=data.X_val[val], y_val=data.y_val[val], val_index=data.val_index[val])
    return kept, data.X_val[test], data.y_val[test]


def remedy_parts(remedy: str, y_train, n_classes: int, seed: int = 0) -> dict:
    """What :func:`course_utils.training.run_experiment` gets for a remedy: ``loss`` (a training-module
    loss name), and ``criterion`` / ``sampler`` overrides (None: the training module's default)."""
    from course_utils.checks import check_choice

    check_choice("remedy", remedy, REMEDIES)
    counts = np.bincount(np.asarray(y_train), minlength=n_classes)
    as_weight = lambda w: torch.tensor(w, dtype=torch.float32)  # noqa: E731
    parts = {"loss": "ce", "criterion": None, "sampler": None}
    if remedy == "inverse_freq":
        parts["criterion"] = nn.CrossEntropyLoss(weight=as_weight(inverse_frequency_weights(counts)))
    elif remedy == "effective_number":
        weights = effective_number_weights(counts, EFFECTIVE_BETA)
        parts["criterion"] = nn.CrossEntropyLoss(weight=as_weight(weights))
    elif remedy == "sampler":
        parts["sampler"] = balanced_sampler(y_train, seed)
    elif remedy == "focal":
        parts["loss"] = "focal"
    elif remedy == "la_loss":
        parts["criterion"] = LogitAdjustedLoss(class_prior(counts), TAU)
    return parts


@dataclass(eq=False)
class RemedyRun:
    """One remedy on one seed: labels, logits and predictions on the validation and the test images."""

    remedy: str
    seed: int
    prior: np.ndarray
    y_val: np.ndarray
    logits_val: np.ndarray
    y_test: np.ndarray
    logits_test: np.ndarray
    pred_test: np.ndarray
    seconds: float = 0.0

    @property
    def n_classes(self) -> int:
        return len(self.prior)

    @property
    def rare(self) -> np.ndarray:
        """The 3 classes with the fewest training images."""
        return np.sort(np.argsort(self.prior, kind="stable")[:3])

    @property
    def macro_f1(self) -> float:
        """Test macro-F1 (scikit-learn's definition, ``zero_division=0``)."""
        from course_utils.decision_rules import macro_f1_batch

        return float(macro_f1_batch(self.y_test, self.pred_test, self.n_classes))

    @property
    def recall(self) -> np.ndarray:
        """Test recall per class."""
        from course_utils.decision_rules import recall_batch

        return recall_batch(self.y_test, self.pred_test, self.n_classes)

    @property
    def rare_recall(self) -> float:
        """Mean test recall of the 3 rarest classes."""
        return float(self.recall[self.rare].mean())

    def probs(self, part: str = "val") -> np.ndarray:
        """Softmax probabilities on ``"val"`` or ``"test"``."""
        z = self.logits_val if part == "val" else self.logits_test
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def run_remedies(seeds=(0, 1, 2, 3), remedies=tuple(REMEDIES), *, val_size: float = 0.5, **config) -> list:
    """Every remedy on every seed; each seed has its own split (train / validation / test) and initialisation.

    Seed ``s``: ``load_imbalanced_digits(seed=s, val_size=val_size)``, its held-out part split in half
    by :func:`holdout_split`, then one :func:`course_utils.training.run_experiment` per trained remedy
    (``config`` overrides :class:`~course_utils.training.TrainConfig`'s fields, e.g. ``epochs=20``);
    ``la_posthoc`` adjusts the same seed's plain-CE logits. Returns :class:`RemedyRun` s, seed by seed.
    """
    from course_utils.checks import check_choice
    from course_utils.data import load_imbalanced_digits
    from course_utils.training import TrainConfig, run_experiment

    for r in remedies:
        check_choice("remedies", r, REMEDIES)
    needed = [r for r in REMEDIES if r in remedies and r != "la_posthoc"]
    if "la_posthoc" in remedies and "ce" not in needed:
        needed.insert(0, "ce")
    out = []
    for s in seeds:
        data, X_test, y_test = holdout_split(load_imbalanced_digits(seed=s, val_size=val_size), seed=s)
        prior = class_prior(data.train_counts)
        by_remedy = {}
        for r in needed:
            parts = remedy_parts(r, data.y_train, data.n_classes, s)
            cfg = TrainConfig(loss=parts["loss"], seed=s, **config)
            run = run_experiment(cfg, data, criterion=parts["criterion"], sampler=parts["sampler"],
                                 progress=False)
            with torch.no_grad():
                z_val = run.model.eval()(torch.from_numpy(data.X_val)).numpy().astype(np.float64)
                z_test = run.model(torch.from_numpy(X_test)).numpy().astype(np.float64)
            by_remedy[r] = RemedyRun(r, s, prior, data.y_val, z_val, y_test, z_test, z_test.argmax(1),
                                     run.seconds)
        if "la_posthoc" in remedies:
            ce = by_remedy["ce"]
            adjusted = posthoc_adjust(ce.logits_test, prior, TAU)
            by_remedy["la_posthoc"] = RemedyRun("la_posthoc", s, prior, ce.y_val,
                                                posthoc_adjust(ce.logits_val, prior, TAU), y_test, adjusted,
                                                adjusted.argmax(1))
        out += [by_remedy[r] for r in remedies]
    return out


def summarize(runs, metric: str = "macro_f1") -> dict:
    """remedy -> {"mean", "sd" (ddof=1), "min", "max", "values"} of ``metric`` over the seeds."""
    from course_utils.checks import check_choice

    check_choice("metric", metric, ("macro_f1", "rare_recall"))
    values: dict[str, list] = {}
    for r in runs:
        values.setdefault(r.remedy, []).append(getattr(r, metric))
    return {k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"),
                "min": float(np.min(v)), "max": float(np.max(v)), "values": np.array(v)}
            for k, v in values.items()}


def paired_differences(runs, metric: str = "macro_f1", reference: str = "ce", alpha: float = 0.05) -> dict:
    """Each remedy against ``reference`` on the same seeds (same split, same initialisation seed).

    Per remedy: :func:`course_utils.bootstrap.paired_verdict` of the per-seed differences (their mean,
    sd, paired t statistic, two-sided p-value and ``"beyond the noise"`` when p < ``alpha``).
    """
    from course_utils.bootstrap import paired_verdict

    ref = {r.seed: getattr(r, metric) for r in runs if r.remedy == reference}
    return {name: paired_verdict([getattr(r, metric) - ref[r.seed] for r in runs if r.remedy == name], alpha)
            for name in dict.fromkeys(r.remedy for r in runs) if name != reference}


def plot_remedies(ax, runs, metric: str = "macro_f1", title: str = "") -> None:
    """One row per remedy: each seed's value (dots), the mean (bar) and mean ± sd (line)."""
    stats = summarize(runs, metric)
    names = list(stats)
    y = np.arange(len(names))[::-1]
    for yi, name in zip(y, names):
        s = stats[name]
        ax.plot(s["values"], np.full(len(s["values"]), yi), "o", color="0.55", ms=5, zorder=2)
        ax.errorbar([s["mean"]], [yi], xerr=[[s["sd"]], [s["sd"]]], fmt="D", color=COLORS["ce"], ms=8,
                    capsize=4, zorder=3)
    ax.set_yticks(y, [remedy_name(n) for n in names])
    ax.set(xlabel=tr("test macro-F1 (dots: seeds; ◆ mean ± sd)") if metric == "macro_f1" else
           tr("test recall of the 3 rarest digits (dots: seeds; ◆ mean ± sd)"), title=title)
