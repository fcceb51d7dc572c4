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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import WeightedRandomSampler

from course_utils.checks import check_number

__all__ = ["LogitAdjustedLoss", "balanced_sampler", "class_prior", "effective_number_weights",
           "inverse_frequency_weights", "posthoc_adjust"]


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
