"""Decision rules against scikit-learn (f1_score, TunedThresholdClassifierCV), brute-force searches and
Lipton et al. (2014)."""

import itertools
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_curve, recall_score
from sklearn.model_selection import TunedThresholdClassifierCV

from course_utils.decision_rules import (
    apply_rule,
    best_binary_threshold,
    binary_f1_curve,
    expected_f1_curve,
    macro_f1_batch,
    recall_batch,
    tune_along,
    tune_offsets,
)


def _probs(n=300, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=np.geomspace(1, 0.1, k) / np.geomspace(1, 0.1, k).sum())
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y] + np.linspace(1.0, 0, k)  # biased to class 0
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True), y


def test_macro_f1_batch_equals_sklearn_row_by_row():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 6, size=(40, 50))
    pred = np.where(rng.random((40, 50)) < 0.6, y, rng.integers(0, 6, size=(40, 50)))
    pred[0] = 0  # a row that predicts one class only: zero_division
    ours = macro_f1_batch(y, pred, 6)
    ref = [f1_score(a, b, average="macro", labels=range(6), zero_division=0) for a, b in zip(y, pred)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    rec = recall_batch(y, pred, 6)
    ref_rec = [recall_score(a, b, average=None, labels=range(6), zero_division=0) for a, b in zip(y, pred)]
    np.testing.assert_allclose(rec, ref_rec, rtol=1e-12)
    assert math.isclose(macro_f1_batch(y[3], pred[3], 6), ref[3], rel_tol=1e-12)


def test_rules_are_their_formulas():
    p, _ = _probs()
    b = np.array([0.0, 0.3, -0.2, 1.0, 0.5])
    np.testing.assert_array_equal(apply_rule(p, "bias", b), np.argmax(p * np.exp(b), axis=1))
    np.testing.assert_array_equal(apply_rule(p, "threshold", b / 10), np.argmax(p - b / 10, axis=1))
    np.testing.assert_array_equal(apply_rule(p, "argmax"), p.argmax(1))


@pytest.mark.parametrize("rule", ["bias", "threshold"])
def test_tuning_improves_and_reports_the_sklearn_score_of_its_offsets(rule):
    p, y = _probs()
    off, score = tune_offsets(p, y, rule)
    pred = apply_rule(p, rule, off)
    assert math.isclose(score, f1_score(y, pred, average="macro", labels=range(5), zero_division=0),
                        rel_tol=1e-12)
    assert score > f1_score(y, p.argmax(1), average="macro", labels=range(5), zero_division=0)


def test_tuned_biases_are_a_coordinate_optimum_checked_by_brute_force():
    p, y = _probs(k=4, seed=2)
    grid = np.round(np.arange(-2, 2.0001, 0.25), 10)
    off, score = tune_offsets(p, y, "bias", grid=grid, sweeps=20)
    for c, g in itertools.product(range(4), grid):  # no single offset on the grid does better
        trial = off.copy()
        trial[c] = g
        assert f1_score(y, apply_rule(p, "bias", trial), average="macro", zero_division=0) <= score + 1e-12


def test_three_classes_reach_the_exhaustive_grid_optimum():
    p, y = _probs(n=200, k=3, seed=3)
    grid = np.round(np.arange(-2, 2.0001, 0.5), 10)
    _, score = tune_offsets(p, y, "bias", grid=grid, sweeps=20)
    best = max(f1_score(y, apply_rule(p, "bias", np.array([a, b, c])), average="macro", zero_division=0)
               for a, b, c in itertools.product(grid, grid, grid))
    assert score == pytest.approx(best, abs=1e-12)


def _binary(seed=0):
    from sklearn.datasets import load_digits

    X, digit = load_digits(return_X_y=True)
    y = (digit == 9).astype(int)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    fit, val = idx[:900], idx[900:]
    clf = LogisticRegression(max_iter=2000).fit(X[fit] / 16, y[fit])
    return clf, X[val] / 16, y[val]


def test_binary_threshold_equals_tuned_threshold_classifier_cv():
    clf, X, y = _binary()
    s = clf.predict_proba(X)[:, 1]
    candidates = np.unique(np.quantile(s, np.linspace(0, 1, 150)))  # the same candidates for both
    t, f1 = best_binary_threshold(s, y, candidates)
    ref = TunedThresholdClassifierCV(clf, scoring="f1", cv="prefit", refit=False, thresholds=candidates,
                                     response_method="predict_proba").fit(X, y)
    assert t == ref.best_threshold_
    assert math.isclose(f1, ref.best_score_, rel_tol=1e-12)
    np.testing.assert_array_equal(ref.predict(X), (s >= t).astype(int))


def test_binary_f1_curve_equals_a_brute_force_loop():
    clf, X, y = _binary(1)
    s = clf.predict_proba(X)[:, 1]
    ts = np.concatenate([np.linspace(0, 1, 41), s[:20]])
    ref = [f1_score(y, (s >= t).astype(int), zero_division=0) for t in ts]
    np.testing.assert_allclose(binary_f1_curve(s, y, ts), ref, rtol=1e-12)
    t, f1 = best_binary_threshold(s, y)
    precision, recall, cuts = precision_recall_curve(y, s)  # every distinct threshold at once
    f1_all = 2 * precision * recall / np.maximum(precision + recall, 1e-300)
    assert f1 == pytest.approx(f1_all.max(), rel=1e-12)
    assert t == cuts[np.argmax(f1_all[:-1])]


@pytest.mark.parametrize("a, b", [(0.5, 3.0), (2.0, 2.0), (1.0, 8.0)])
def test_lipton_the_optimal_threshold_is_half_the_optimal_f1(a, b):
    p = np.random.default_rng(0).beta(a, b, size=200_000)
    t, f1 = expected_f1_curve(p)
    i = int(np.argmax(f1))
    assert abs(t[i] - f1[i] / 2) < 1e-3
    # and with real labels drawn from the calibrated probabilities, up to sampling noise
    y = (np.random.default_rng(1).random(p.size) < p).astype(int)
    t_hat, f1_hat = best_binary_threshold(p, y, np.linspace(0.01, 0.99, 99))
    assert abs(t_hat - f1_hat / 2) < 0.03


def test_bad_arguments_name_themselves():
    p, y = _probs()
    with pytest.raises(ValueError, match="rule"):
        tune_offsets(p, y, "median")
    with pytest.raises(ValueError, match="probs"):
        apply_rule(p * 2, "bias", np.zeros(5))
    with pytest.raises(ValueError, match="offsets"):
        apply_rule(p, "bias", np.zeros(3))
    with pytest.raises(ValueError, match="y has"):
        binary_f1_curve([0.1, 0.2], [0, 2], [0.5])
    with pytest.raises(TypeError, match="y_pred"):
        macro_f1_batch([0, 1], [0.5, 1.0])


def test_tune_along_is_a_brute_force_over_tau():
    p, y = _probs(seed=4)
    prior = np.bincount(y, minlength=5) / len(y)
    grid = np.linspace(0, 2, 21)
    tau, score = tune_along(p, y, -np.log(prior), grid)
    scores = [f1_score(y, np.argmax(np.log(p) - t * np.log(prior), axis=1), average="macro", labels=range(5),
                       zero_division=0) for t in grid]
    assert score == pytest.approx(max(scores), rel=1e-12)
    assert tau == grid[int(np.argmax(scores))]
