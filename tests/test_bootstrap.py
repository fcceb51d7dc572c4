"""The paired bootstrap re-derived with scikit-learn and against scipy.stats.bootstrap; the shake-up formula
against a direct simulation."""

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score, recall_score

from course_utils.bootstrap import (
    paired_bootstrap,
    per_image_sd,
    percentile_interval,
    shakeup_probability,
    simulate_leaderboard,
)


def _two_models(n=400, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(k, size=n, p=np.geomspace(1, 0.15, k) / np.geomspace(1, 0.15, k).sum())
    noise = rng.integers(0, k, size=n)
    a = np.where(rng.random(n) < 0.75, y, noise)
    b = np.where(rng.random(n) < 0.78, y, noise)
    return y, a, b


def test_paired_bootstrap_equals_a_loop_over_sklearn_with_the_same_draws():
    y, a, b = _two_models()
    boot = paired_bootstrap(y, a, b, n_classes=5, n_boot=250, seed=7)  # (scored 100 resamples at a time)
    idx = np.random.default_rng(7).integers(0, len(y), size=(250, len(y)))  # the documented draw
    fa = [f1_score(y[i], a[i], average="macro", labels=range(5), zero_division=0) for i in idx]
    fb = [f1_score(y[i], b[i], average="macro", labels=range(5), zero_division=0) for i in idx]
    np.testing.assert_allclose(boot.f1_a, fa, rtol=1e-12)
    np.testing.assert_allclose(boot.f1_b, fb, rtol=1e-12)
    ra = [recall_score(y[i], a[i], average=None, labels=range(5), zero_division=0) for i in idx]
    np.testing.assert_allclose(boot.recall_a, ra, rtol=1e-12)
    lo, hi = boot.interval()
    diff = np.array(fb) - np.array(fa)
    assert (lo, hi) == pytest.approx((np.percentile(diff, 2.5), np.percentile(diff, 97.5)), abs=1e-12)
    assert boot.point["f1_a"] == pytest.approx(f1_score(y, a, average="macro", zero_division=0))


def test_interval_agrees_with_scipy_bootstrap_paired_percentile():
    y, a, b = _two_models(n=300, seed=1)
    boot = paired_bootstrap(y, a, b, n_classes=5, n_boot=4000, seed=0)

    def gap(yy, aa, bb):
        return (f1_score(yy, bb, average="macro", labels=range(5), zero_division=0)
                - f1_score(yy, aa, average="macro", labels=range(5), zero_division=0))

    ref = stats.bootstrap((y, a, b), gap, paired=True, vectorized=False, n_resamples=600,
                          method="percentile", confidence_level=0.95, random_state=1)
    lo, hi = boot.interval()
    width = hi - lo
    assert abs(lo - ref.confidence_interval.low) < 0.15 * width
    assert abs(hi - ref.confidence_interval.high) < 0.15 * width


def test_percentile_interval_is_numpy_quantiles():
    x = np.random.default_rng(0).normal(size=1001)
    assert percentile_interval(x, 0.9) == pytest.approx(tuple(np.quantile(x, [0.05, 0.95])))


def test_shakeup_formula_equals_a_monte_carlo_of_its_own_model():
    rng = np.random.default_rng(0)
    sd, n, share = 0.8, 2000, 0.3
    for gap in (0.0, 0.01, 0.03):
        pub = rng.normal(gap, sd / math.sqrt(share * n), 200_000)
        priv = rng.normal(gap, sd / math.sqrt((1 - share) * n), 200_000)
        mc = np.mean(np.sign(pub) != np.sign(priv))
        assert float(shakeup_probability(gap, sd, n, share)) == pytest.approx(mc, abs=0.004)
    assert float(shakeup_probability(0.0, sd, n, share)) == pytest.approx(0.5)


def test_formula_with_the_bootstrap_spread_predicts_the_simulated_leaderboards():
    y, a, b = _two_models(n=2000, seed=2)
    boot = paired_bootstrap(y, a, b, n_classes=5, n_boot=2000, seed=0)
    sd = per_image_sd(boot)
    for n_test in (300, 1000):
        sim = simulate_leaderboard(y, a, b, n_test=n_test, n_sims=3000, seed=n_test, n_classes=5)
        predicted = float(shakeup_probability(sim["pool_gap"], sd, n_test, 0.3))
        assert sim["shakeup"] == pytest.approx(predicted, abs=0.04), n_test
    # the simulation itself, re-derived for leaderboards in each block of 100 that it scores at once
    sim = simulate_leaderboard(y, a, b, n_test=500, n_sims=205, seed=3, n_classes=5)
    idx = np.random.default_rng(3).integers(0, len(y), size=(205, 500))
    for row in (0, 99, 100, 204):
        pub, priv = idx[row, :150], idx[row, 150:]
        for board, gap in ((pub, sim["gap_public"][row]), (priv, sim["gap_private"][row])):
            ref = (f1_score(y[board], b[board], average="macro", labels=range(5), zero_division=0)
                   - f1_score(y[board], a[board], average="macro", labels=range(5), zero_division=0))
            assert gap == pytest.approx(ref, abs=1e-12), row


def test_bad_arguments_name_themselves():
    y, a, b = _two_models()
    with pytest.raises(ValueError, match="pred_b"):
        paired_bootstrap(y, a, b[:-1])
    with pytest.raises(ValueError, match="public_share"):
        shakeup_probability(0.01, 1.0, 100, public_share=1.0)
    with pytest.raises(ValueError, match="n_test"):
        shakeup_probability(0.01, 1.0, 1)
    with pytest.raises(ValueError, match="level"):
        percentile_interval([1.0, 2.0], 1.0)


def test_paired_verdict_is_scipys_paired_t_test():
    from course_utils.bootstrap import paired_verdict

    rng = np.random.default_rng(0)
    a, b = rng.normal(0.8, 0.02, 6), rng.normal(0.8, 0.02, 6)
    for shift, expected in ((0.0, None), (0.05, "beyond the noise")):
        ours = paired_verdict((b + shift) - a)
        ref = stats.ttest_rel(b + shift, a)
        assert ours["t"] == pytest.approx(ref.statistic, rel=1e-10)
        assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-10)
        assert ours["verdict"] == ("beyond the noise" if ref.pvalue < 0.05 else "within the noise")
        if expected:
            assert ours["verdict"] == expected
    with pytest.raises(ValueError, match="diffs"):
        paired_verdict([0.1])


def test_ties_count_as_half_a_shakeup():
    y = np.array([0, 1, 2, 0, 1, 2] * 20)
    same = y.copy()  # two identical models: every board ties
    sim = simulate_leaderboard(y, same, same, n_test=60, n_sims=50, seed=0, n_classes=3)
    assert sim["ties"] == 1.0 and sim["shakeup"] == 0.5
