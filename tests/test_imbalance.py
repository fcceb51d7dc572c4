"""Imbalance remedies against scikit-learn, torch and the papers' formulas (Cui et al. 2019; Menon et al.
2021)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from course_utils.imbalance import (
    LogitAdjustedLoss,
    balanced_sampler,
    class_prior,
    effective_number_weights,
    inverse_frequency_weights,
    posthoc_adjust,
)

COUNTS = np.array([120, 80, 40, 20, 12])


def test_inverse_frequency_is_sklearns_balanced():
    y = np.repeat(np.arange(5), COUNTS)
    np.testing.assert_allclose(inverse_frequency_weights(COUNTS),
                               compute_class_weight("balanced", classes=np.arange(5), y=y), rtol=1e-12)


def test_effective_number_weights_follow_cui_et_al():
    beta = 0.99
    eff = (1 - beta ** COUNTS) / (1 - beta)  # the effective number of samples E_n (paper, eq. 3)
    w = effective_number_weights(COUNTS, beta)
    np.testing.assert_allclose(w, (1 / eff) / (1 / eff).sum() * 5, rtol=1e-12)
    assert w.sum() == pytest.approx(5.0)
    np.testing.assert_allclose(effective_number_weights(COUNTS, 0.0), np.ones(5))  # β = 0: no re-weighting
    inv = 1 / COUNTS
    np.testing.assert_allclose(effective_number_weights(COUNTS, 1 - 1e-9), inv / inv.sum() * 5, rtol=1e-5)
    assert np.all(np.diff(w) > 0)  # rarer class, larger weight


def test_logit_adjusted_loss_is_ce_on_shifted_logits():
    torch.manual_seed(0)
    logits, y = torch.randn(64, 5), torch.randint(0, 5, (64,))
    prior = class_prior(COUNTS)
    for tau in (0.0, 0.5, 1.0, 2.0):
        ref = F.cross_entropy(logits + tau * torch.log(torch.tensor(prior, dtype=torch.float32)), y)
        torch.testing.assert_close(LogitAdjustedLoss(prior, tau)(logits, y), ref)
    torch.testing.assert_close(LogitAdjustedLoss(prior, 0.0)(logits, y), F.cross_entropy(logits, y))


def test_posthoc_adjustment_favours_rare_classes_and_tau_zero_is_argmax():
    prior = class_prior(COUNTS)
    z = np.zeros((1, 5))  # a tie: the adjusted argmax is the rarest class
    assert posthoc_adjust(z, prior, 1.0).argmax() == 4
    rng = np.random.default_rng(0)
    z = rng.normal(size=(100, 5))
    np.testing.assert_array_equal(posthoc_adjust(z, prior, 0.0), z)
    # Menon et al.: with τ = 1 the adjusted logit is log p(x|y) up to a constant, for softmax = p(y|x)
    np.testing.assert_allclose(posthoc_adjust(z, prior, 1.0) - z, np.broadcast_to(-np.log(prior), z.shape))


def test_balanced_sampler_draws_classes_equally_often():
    y = np.repeat(np.arange(5), COUNTS)
    sampler = balanced_sampler(y, seed=0, num_samples=50_000)
    drawn = np.bincount(y[np.fromiter(iter(sampler), int)], minlength=5) / 50_000
    np.testing.assert_allclose(drawn, 0.2, atol=0.01)
    again = np.fromiter(iter(balanced_sampler(y, seed=0)), int)
    np.testing.assert_array_equal(again, np.fromiter(iter(balanced_sampler(y, seed=0)), int))


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="counts"):
        inverse_frequency_weights([10, 0, 3])
    with pytest.raises(ValueError, match="beta"):
        effective_number_weights(COUNTS, 1.0)
    with pytest.raises(ValueError, match="prior"):
        LogitAdjustedLoss([0.5, 0.6])
    with pytest.raises(ValueError, match="tau"):
        posthoc_adjust(np.zeros((2, 5)), class_prior(COUNTS), -1.0)
    assert math.isclose(class_prior(COUNTS).sum(), 1.0)


def _fake_runs(seed=0):
    """RemedyRun objects with synthetic predictions: 'better' beats 'ce' by a margin, 'same' is noise."""
    from course_utils.imbalance import RemedyRun

    rng = np.random.default_rng(seed)
    prior = class_prior(COUNTS)
    runs = []
    for s in range(5):
        y = rng.integers(0, 5, 200)
        for name, acc in (("ce", 0.70), ("better", 0.85), ("same", 0.70)):
            pred = np.where(rng.random(200) < acc, y, rng.integers(0, 5, 200))
            z = np.zeros((200, 5))
            runs.append(RemedyRun(name, s, prior, y, z, y, z, pred))
    return runs


def test_paired_differences_equal_scipys_paired_t_test():
    from scipy.stats import ttest_rel

    from course_utils.imbalance import paired_differences, summarize

    runs = _fake_runs()
    table = paired_differences(runs, "macro_f1")
    ce = [r.macro_f1 for r in runs if r.remedy == "ce"]
    for name in ("better", "same"):
        other = [r.macro_f1 for r in runs if r.remedy == name]
        ref = ttest_rel(other, ce)
        assert table[name]["t"] == pytest.approx(ref.statistic, rel=1e-10)
        assert table[name]["p"] == pytest.approx(ref.pvalue, rel=1e-10)
        np.testing.assert_allclose(table[name]["diffs"], np.subtract(other, ce))
    assert table["better"]["verdict"] == "beyond the noise"
    stats = summarize(runs, "macro_f1")
    assert stats["ce"]["mean"] == pytest.approx(np.mean(ce))
    assert stats["ce"]["sd"] == pytest.approx(np.std(ce, ddof=1))


def test_run_experiment_takes_a_remedys_criterion_and_sampler():
    # the two hooks the remedies need in course_utils.training.run_experiment
    from course_utils.data import load_imbalanced_digits
    from course_utils.training import TrainConfig, run_experiment

    data = load_imbalanced_digits(seed=0)
    cfg = TrainConfig(epochs=2, seed=0)
    plain = run_experiment(cfg, data, progress=False)
    prior = class_prior(data.train_counts)
    same = run_experiment(cfg, data, criterion=LogitAdjustedLoss(prior, 0.0), progress=False)
    assert same.history["train_loss"] == plain.history["train_loss"]  # τ = 0 is plain CE, batch for batch
    adjusted = run_experiment(cfg, data, criterion=LogitAdjustedLoss(prior, 1.0), progress=False)
    assert adjusted.history["train_loss"] != plain.history["train_loss"]
    sampled = [run_experiment(cfg, data, sampler=balanced_sampler(data.y_train, 0), progress=False)
               for _ in range(2)]
    assert sampled[0].history == sampled[1].history  # seeded
    assert sampled[0].history["train_loss"] != plain.history["train_loss"]
    with pytest.raises(TypeError, match="criterion"):
        run_experiment(cfg, data, criterion="focal", progress=False)


def test_holdout_split_is_stratified_and_disjoint():
    from course_utils.data import load_imbalanced_digits
    from course_utils.imbalance import holdout_split

    data = load_imbalanced_digits(seed=1, val_size=0.5)
    kept, X_test, y_test = holdout_split(data, seed=1)
    assert len(kept.y_val) + len(y_test) == len(data.y_val)
    np.testing.assert_array_equal(kept.y_train, data.y_train)
    assert set(kept.val_index) < set(data.val_index) and len(set(kept.val_index)) == len(kept.y_val)
    rest = np.isin(data.val_index, kept.val_index, invert=True)  # the test images: the other held-out rows
    assert sorted(map(tuple, X_test.tolist())) == sorted(map(tuple, data.X_val[rest].tolist()))
    counts_test, counts_val = np.bincount(y_test, minlength=10), np.bincount(kept.y_val, minlength=10)
    assert np.all(np.abs(counts_test - counts_val) <= 1)  # stratified: each class split in half
