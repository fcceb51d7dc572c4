"""Tests for course_utils.metrics against scikit-learn, torchmetrics, closed forms and hand-worked values."""

import math
import re
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import UndefinedMetricWarning
from torchmetrics.functional.retrieval import (
    retrieval_average_precision,
    retrieval_normalized_dcg,
    retrieval_reciprocal_rank,
)

from course_utils import metric_demos as D
from course_utils import metrics as M
from course_utils.explorers import EXPLORERS

# ---------------------------------------------------------------------------------------------
# Ranking: hand-worked examples
# ---------------------------------------------------------------------------------------------
# Scores falling left to right, so the listed order is the ranking.
RANKED = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]])


def test_mrr_hand_worked():
    y_true = [[0, 0, 1, 0, 0, 0],   # first hit at rank 3 -> 1/3
              [0, 1, 1, 0, 0, 0],   # rank 2 -> 1/2
              [1, 0, 0, 0, 0, 1],   # rank 1 -> 1
              [0, 0, 0, 0, 0, 0]]   # no relevant item -> 0
    scores = np.repeat(RANKED, 4, axis=0)
    assert M.mean_reciprocal_rank(y_true, scores) == pytest.approx((1 / 3 + 1 / 2 + 1 + 0) / 4)


def test_mrr_ranks_by_score_not_by_position():
    y_true = [[1, 0, 0]]
    assert M.mean_reciprocal_rank(y_true, [[0.1, 0.5, 0.9]]) == pytest.approx(1 / 3)
    assert M.mean_reciprocal_rank(y_true, [[0.9, 0.5, 0.1]]) == pytest.approx(1.0)


def test_map_hand_worked():
    # relevant at ranks 1, 3, 6; R = 3
    y_true = [[1, 0, 1, 0, 0, 1]]
    p1, p3, p6 = 1 / 1, 2 / 3, 3 / 6  # precision@rank at each hit
    assert M.mean_average_precision(y_true, RANKED) == pytest.approx((p1 + p3 + p6) / 3)
    assert M.mean_average_precision(y_true, RANKED, k=4) == pytest.approx((p1 + p3) / min(3, 4))
    assert M.mean_average_precision(y_true, RANKED, k=2) == pytest.approx(p1 / min(3, 2))
    assert M.mean_average_precision(y_true, RANKED, k=100) == pytest.approx((p1 + p3 + p6) / 3)


def test_map_averages_queries_and_counts_empty_query_as_zero():
    y_true = [[1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]
    scores = np.repeat(RANKED, 3, axis=0)
    ap = [(1 + 2 / 3 + 3 / 6) / 3, 1 / 2, 0.0]
    assert M.mean_average_precision(y_true, scores) == pytest.approx(np.mean(ap))


def test_ties_keep_listed_order():
    # equal scores: the item listed first ranks first (documented rule)
    assert M.mean_reciprocal_rank([[0, 1, 0]], [[0.5, 0.5, 0.5]]) == pytest.approx(1 / 2)
    assert M.mean_average_precision([[0, 1, 1]], [[0.5, 0.5, 0.5]]) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_ndcg_hand_worked_linear_gains_and_ties():
    rel = np.array([[3, 2, 3, 0, 1, 2]], dtype=float)
    discounts = 1 / np.log2(np.arange(2, 8))  # 1/log2(r + 1) for r = 1..6
    dcg = (rel[0] * discounts).sum()
    ideal = (np.sort(rel[0])[::-1] * discounts).sum()
    assert M.ndcg_at_k(rel, RANKED) == pytest.approx(dcg / ideal)
    dcg3 = (rel[0, :3] * discounts[:3]).sum()
    ideal3 = (np.array([3, 3, 2]) * discounts[:3]).sum()
    assert M.ndcg_at_k(rel, RANKED, k=3) == pytest.approx(dcg3 / ideal3)
    # tied scores: the gain is averaged over the tied ranks (sklearn's convention)
    tied = (0.5 * 1 + 0.5 / math.log2(3)) / 1.0
    assert M.ndcg_at_k([[1, 0]], [[0.3, 0.3]]) == pytest.approx(tied)
    # a query without relevant items scores 0
    assert M.ndcg_at_k([[0, 0, 0]], [[0.3, 0.2, 0.1]]) == 0.0


# ---------------------------------------------------------------------------------------------
# Ranking: random cases against torchmetrics and scikit-learn
# ---------------------------------------------------------------------------------------------
def _random_queries(seed, n_queries=40, n_items=12):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n_queries, n_items)) < 0.3).astype(int)
    y_true[0] = 0  # one query with no relevant item
    y_true[1] = 1  # one with all relevant
    scores = rng.uniform(0.01, 1.0, (n_queries, n_items))  # > 0: torchmetrics retrieves every item
    return y_true, scores


def _tm(fn, y_true, scores, **kw):
    return np.array([fn(torch.tensor(s), torch.tensor(t), **kw).item() for t, s in zip(y_true, scores)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mrr_and_map_match_torchmetrics(seed):
    y_true, scores = _random_queries(seed)
    assert M.mean_reciprocal_rank(y_true, scores) == pytest.approx(
        _tm(retrieval_reciprocal_rank, y_true, scores).mean(), abs=1e-6)
    assert M.mean_average_precision(y_true, scores) == pytest.approx(
        _tm(retrieval_average_precision, y_true, scores).mean(), abs=1e-6)


@pytest.mark.parametrize("k", [1, 3, 5, 12])
def test_map_at_k_rederived_from_torchmetrics_denominator(k):
    # torchmetrics' AP@k divides by the hits inside the top k; ours by min(R, k): rescale.
    y_true, scores = _random_queries(3)
    tm_ap = _tm(retrieval_average_precision, y_true, scores, top_k=k)
    order = np.argsort(-scores, axis=1)
    hits_in_top_k = np.take_along_axis(y_true, order, axis=1)[:, :k].sum(axis=1)
    denominator = np.minimum(y_true.sum(axis=1), k)
    expected = np.divide(tm_ap * hits_in_top_k, denominator, out=np.zeros(len(tm_ap)), where=denominator > 0)
    assert M.mean_average_precision(y_true, scores, k=k) == pytest.approx(expected.mean(), abs=1e-6)


def test_map_at_k_differs_from_torchmetrics_when_hits_are_missing():
    # 5 relevant items, only one (at rank 1) inside the top 3
    y_true = np.array([[1, 0, 0, 1, 1, 1, 1]])
    scores = np.linspace(0.9, 0.3, 7)[None, :]
    tm = retrieval_average_precision(torch.tensor(scores[0]), torch.tensor(y_true[0]), top_k=3).item()
    assert tm == pytest.approx(1.0)
    assert M.mean_average_precision(y_true, scores, k=3) == pytest.approx(1 / 3)


def test_scores_at_or_below_zero_still_count_unlike_torchmetrics():
    y_true, scores = [[0, 1]], [[0.5, -1.0]]
    assert M.mean_reciprocal_rank(y_true, scores) == pytest.approx(0.5)
    tm = retrieval_reciprocal_rank(torch.tensor(scores[0]), torch.tensor(y_true[0])).item()
    assert tm == 0.0  # torchmetrics: score <= 0 means "not retrieved"


@pytest.mark.parametrize("seed", [0, 1])
def test_map_matches_sklearn_lrap_and_average_precision(seed):
    y_true, scores = _random_queries(seed)
    keep = y_true.sum(axis=1) > 0  # LRAP scores a query with no relevant item 1, ours 0
    y_true, scores = y_true[keep], scores[keep]
    assert M.mean_average_precision(y_true, scores) == pytest.approx(
        skm.label_ranking_average_precision_score(y_true, scores))
    per_query = [skm.average_precision_score(t, s) for t, s in zip(y_true, scores)]
    assert M.mean_average_precision(y_true, scores) == pytest.approx(np.mean(per_query))


@pytest.mark.parametrize("k", [None, 1, 4, 12])
def test_ndcg_matches_sklearn_and_torchmetrics(k):
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 4, (30, 12))
    scores = rng.uniform(0.01, 1.0, (30, 12))
    ours = M.ndcg_at_k(y_true, scores, k=k)
    assert ours == pytest.approx(skm.ndcg_score(y_true, scores, k=k))
    tm = _tm(retrieval_normalized_dcg, y_true, scores, top_k=k).mean()
    assert ours == pytest.approx(tm, abs=1e-6)


@pytest.mark.parametrize(("call", "match"), [
    (lambda: M.mean_reciprocal_rank([[0, 1]], [[0.1, 0.2, 0.3]]), "same shape"),
    (lambda: M.mean_reciprocal_rank([0, 1], [0.1, 0.2]), "2-D"),
    (lambda: M.mean_reciprocal_rank(np.zeros((0, 3)), np.zeros((0, 3))), "empty"),
    (lambda: M.mean_reciprocal_rank([[0, 2]], [[0.1, 0.2]]), "binary"),
    (lambda: M.mean_average_precision([[0, 1]], [[0.1, np.nan]]), "NaN"),
    (lambda: M.mean_average_precision([[0, 1]], [[0.1, 0.2]], k=0), "k=0"),
    (lambda: M.mean_average_precision([[0, 1]], [[0.1, 0.2]], k=-2), "k=-2"),
    (lambda: M.ndcg_at_k([[1]], [[0.1]]), "at least 2 items"),
    (lambda: M.ndcg_at_k([[1, -1]], [[0.1, 0.2]]), "relevance >= 0"),
])
def test_ranking_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_ranking_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="k=1.5"):
        M.mean_average_precision([[0, 1]], [[0.1, 0.2]], k=1.5)
    with pytest.raises(TypeError, match="y_score has dtype"):
        M.mean_reciprocal_rank([[0, 1]], [["a", "b"]])


# ---------------------------------------------------------------------------------------------
# Class ratio: the always-majority baseline
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.5, 0.2, 0.1, 0.05, 0.01, 0.005])
def test_always_negative_baseline_closed_forms(p):
    res = M.class_ratio_metrics(p)
    assert res["positive_share"] == pytest.approx(p)  # the grid shares give whole counts of 2000
    base = res["baseline"]
    # predicting 0 everywhere: TN = (1-p)n, FN = pn, TP = FP = 0
    n = res["n_positive"] + res["n_negative"]
    tn, fn = (1 - p) * n, p * n
    f1_negative = 2 * tn / (2 * tn + fn)  # = 2(1-p)/(2-p)
    assert f1_negative == pytest.approx(2 * (1 - p) / (2 - p))
    assert base["accuracy"] == pytest.approx(1 - p)
    assert base["f1"] == 0.0
    assert base["macro_f1"] == pytest.approx((f1_negative + 0.0) / 2)
    assert base["macro_f1"] == pytest.approx((1 - p) / (2 - p))
    assert base["recall"] == 0.0
    assert math.isnan(base["precision"])  # 0/0: undefined
    assert base["balanced_accuracy"] == pytest.approx(0.5)
    assert base["roc_auc"] == pytest.approx(0.5)
    assert base["average_precision"] == pytest.approx(p)
    assert (base["tn"], base["fp"], base["fn"], base["tp"]) == (round(tn), 0, round(fn), 0)
    # and straight from scikit-learn on labels built from those counts
    y_true = np.r_[np.zeros(round(tn), int), np.ones(round(fn), int)]
    y_pred = np.zeros_like(y_true)
    assert skm.accuracy_score(y_true, y_pred) == pytest.approx(1 - p)
    assert skm.f1_score(y_true, y_pred, zero_division=0) == 0.0
    assert skm.f1_score(y_true, y_pred, average="macro", zero_division=0) == pytest.approx((1 - p) / (2 - p))


@pytest.mark.parametrize("p", [0.3, 0.1, 0.01, 0.7])
def test_baseline_equals_sklearn_dummy_classifier(p):
    y_true, y_score = M.class_ratio_data(p)
    X = y_score[:, None]
    y_dummy = DummyClassifier(strategy="most_frequent").fit(X, y_true).predict(X)
    base = M.class_ratio_metrics(p)["baseline"]
    assert base["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_dummy))
    assert base["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_dummy, average="macro"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning for p < 0.5: the point of the lesson
        assert base["f1"] == pytest.approx(skm.f1_score(y_true, y_dummy))
    if p > 0.5:  # always-positive: precision = p, recall = 1, F1 = 2p/(1+p)
        assert base["precision"] == pytest.approx(p)
        assert base["f1"] == pytest.approx(2 * p / (1 + p))


def test_sklearn_zero_division_fills_precision_not_f1():
    # the convention the notebook explains: zero_division only fills the undefined precision
    y_true, _ = M.class_ratio_data(0.1)
    y_pred = np.zeros_like(y_true)
    for fill in (0.0, 1.0):
        assert skm.precision_score(y_true, y_pred, zero_division=fill) == fill
        assert skm.f1_score(y_true, y_pred, zero_division=fill) == 0.0
    with pytest.warns(UndefinedMetricWarning):
        assert skm.precision_score(y_true, y_pred) == 0.0


# ---------------------------------------------------------------------------------------------
# Class ratio: the model, the data and the fast path
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.5, 0.1, 0.005])
def test_model_metrics_equal_sklearn_on_the_data(p):
    y_true, y_score = M.class_ratio_data(p)
    y_pred = (y_score >= 0.5).astype(int)
    model = M.class_ratio_metrics(p)["model"]
    assert model["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert model["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    assert model["precision"] == pytest.approx(skm.precision_score(y_true, y_pred))
    assert model["recall"] == pytest.approx(skm.recall_score(y_true, y_pred))
    assert model["f1"] == pytest.approx(skm.f1_score(y_true, y_pred))
    assert model["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert model["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, y_score))
    assert model["average_precision"] == pytest.approx(skm.average_precision_score(y_true, y_score))
    cm = skm.confusion_matrix(y_true, y_pred).ravel()
    assert (model["tn"], model["fp"], model["fn"], model["tp"]) == tuple(cm)
    assert all(isinstance(v, float) for k, v in model.items() if k not in ("tn", "fp", "fn", "tp"))


def test_class_ratio_data_counts_seed_and_nesting():
    y, s = M.class_ratio_data(0.1, n_samples=1000)
    assert y.shape == s.shape == (1000,) and y.sum() == 100
    assert np.all((s > 0) & (s < 1))
    y2, s2 = M.class_ratio_data(0.1, n_samples=1000)
    assert np.array_equal(s, s2)  # seeded
    assert not np.array_equal(s, M.class_ratio_data(0.1, n_samples=1000, seed=1)[1])
    # nested: the positives at 5 % are the first positives at 10 %
    y5, s5 = M.class_ratio_data(0.05, n_samples=1000)
    assert_allclose(s5[y5 == 1], s[y == 1][:50])


def test_score_model_closed_forms():
    # x ~ N(d, 1) vs N(0, 1), threshold at d/2: recall = Phi(d/2), FPR = 1 - Phi(d/2), AUC = Phi(d/sqrt 2)
    d = 2.5
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    res = M.class_ratio_metrics(0.5, n_samples=100_000, separation=d)["model"]
    assert res["recall"] == pytest.approx(phi(d / 2), abs=0.01)
    assert res["fp"] / (res["fp"] + res["tn"]) == pytest.approx(1 - phi(d / 2), abs=0.01)
    assert res["roc_auc"] == pytest.approx(phi(d / math.sqrt(2)), abs=0.005)


def _labels_from_counts(tn, fp, fn, tp):
    y_true = np.r_[np.zeros(tn + fp, int), np.ones(fn + tp, int)]
    y_pred = np.r_[np.zeros(tn, int), np.ones(fp, int), np.zeros(fn, int), np.ones(tp, int)]
    return y_true, y_pred


def _sklearn_counts_metrics(y_true, y_pred):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # single-class y_true in the edge cases
        return {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
            "precision": skm.precision_score(y_true, y_pred, labels=[0, 1], zero_division=np.nan),
            "recall": skm.recall_score(y_true, y_pred, labels=[0, 1], zero_division=np.nan),
            "f1": skm.f1_score(y_true, y_pred, labels=[0, 1], zero_division=np.nan),
            "macro_f1": skm.f1_score(y_true, y_pred, labels=[0, 1], average="macro", zero_division=np.nan),
        }


EDGE_COUNTS = [(5, 0, 3, 0), (5, 2, 0, 0), (0, 0, 3, 2), (0, 2, 3, 0), (4, 0, 0, 3), (5, 0, 0, 0),
               (0, 0, 0, 4), (0, 5, 0, 0), (1, 0, 0, 0)]


@pytest.mark.parametrize("counts", EDGE_COUNTS + [tuple(c) for c in
                                                  np.random.default_rng(0).integers(0, 50, (12, 4))])
def test_metrics_from_counts_match_sklearn(counts):
    if sum(counts) == 0:
        pytest.skip("no samples")
    ours = M.metrics_from_counts(*counts)
    ref = _sklearn_counts_metrics(*_labels_from_counts(*(int(c) for c in counts)))
    for name, value in ref.items():
        assert_allclose(ours[name], value, rtol=1e-12, equal_nan=True, err_msg=f"{name} at {counts}")


def test_metrics_from_counts_is_vectorised_and_checks_counts():
    counts = np.random.default_rng(1).integers(1, 30, (4, 25))
    grid = M.metrics_from_counts(*counts)
    for j in range(25):
        one = M.metrics_from_counts(*counts[:, j])
        for name in one:
            assert_allclose(grid[name][j], one[name], equal_nan=True)
    with pytest.raises(ValueError, match="negative count"):
        M.metrics_from_counts(1, -1, 0, 0)


def test_class_ratio_curves_without_ranking_metrics_leave_out_only_those():
    full, lean = D.class_ratio_curves([0.3, 0.02]), D.class_ratio_curves([0.3, 0.02], ranking=False)
    for who in ("model", "baseline"):
        assert set(full[who]) - set(lean[who]) == {"roc_auc", "average_precision"}
        for key, value in lean[who].items():
            assert_allclose(value, full[who][key], equal_nan=True)


def test_class_ratio_curves_equal_sklearn_backed_metrics_at_every_grid_point():
    curves = D.class_ratio_curves()
    assert len(curves["share"]) == len(D.SHARE_GRID)
    for i, p in enumerate(D.SHARE_GRID):
        ref = M.class_ratio_metrics(p)
        assert curves["share"][i] == pytest.approx(ref["positive_share"])
        for who in ("model", "baseline"):
            for name, value in ref[who].items():
                assert_allclose(curves[who][name][i], value, rtol=1e-12, equal_nan=True,
                                err_msg=f"{who} {name} at share {p}")


@pytest.mark.parametrize("share", [0.5, 0.1, 0.01])
def test_threshold_counts_match_sklearn_confusion_matrix(share):
    y, s = M.class_ratio_data(share)
    thresholds = [0.0, 0.13, 0.5, float(s[-1]), float(np.sort(s)[len(s) // 2]), 0.99, 1.0]
    counts = M.threshold_counts(y, s, thresholds)
    for i, t in enumerate(thresholds):  # predict 1 when score >= t (sklearn's roc_curve convention)
        cm = skm.confusion_matrix(y, (s >= t).astype(int), labels=[0, 1]).ravel()
        assert (counts["tn"][i], counts["fp"][i], counts["fn"][i], counts["tp"][i]) == tuple(cm)


def test_threshold_points_lie_on_sklearn_roc_curve():
    y, s = M.class_ratio_data(0.1)
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    c = M.threshold_counts(y, s, thr[1:])
    assert_allclose(c["fp"] / (c["fp"] + c["tn"]), fpr[1:])
    assert_allclose(c["tp"] / (c["tp"] + c["fn"]), tpr[1:])


def test_multiplying_negatives_keeps_roc_auc_and_lowers_average_precision():
    y, s = M.class_ratio_data(0.5, n_samples=400)
    res = {f: M.roc_pr_curves(*M.multiply_negatives(y, s, f)) for f in (1, 10, 100)}
    # reference: the same data as sample weights (each negative counted f times)
    for f, r in res.items():
        w = np.where(y == 0, f, 1)
        assert r["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w))
        assert r["average_precision"] == pytest.approx(skm.average_precision_score(y, s, sample_weight=w))
        assert r["positive_share"] == pytest.approx(200 / (200 + 200 * f))
    assert res[1]["roc_auc"] == pytest.approx(res[100]["roc_auc"])
    assert res[1]["average_precision"] > res[10]["average_precision"] > res[100]["average_precision"]


@pytest.mark.parametrize(("call", "err", "match"), [
    (lambda: M.class_ratio_metrics(0.0), ValueError, "positive_share=0.0"),
    (lambda: M.class_ratio_metrics(1.0), ValueError, "positive_share=1.0"),
    (lambda: M.class_ratio_metrics(-0.1), ValueError, "positive_share=-0.1"),
    (lambda: M.class_ratio_metrics(1e-5), ValueError, "at least one sample of each class"),
    (lambda: M.class_ratio_metrics("0.1"), TypeError, "positive_share='0.1'"),
    (lambda: M.class_ratio_metrics(0.1, threshold=1.5), ValueError, "threshold=1.5"),
    (lambda: M.class_ratio_data(0.1, n_samples=1), ValueError, "n_samples=1"),
    (lambda: D.class_ratio_curves([0.1, 2.0]), ValueError, "shares=2.0"),
    (lambda: D.class_ratio_curves([0.1], ranking=1), TypeError, "ranking=1"),
    (lambda: M.binary_metrics([0, 1], [0], [0.1, 0.2]), ValueError, "one length"),
    (lambda: M.binary_metrics([], [], []), ValueError, "non-empty"),
    (lambda: M.threshold_counts([0, 1], [0.1], 0.5), ValueError, "one length"),
    (lambda: M.multiply_negatives([0, 1], [0.1, 0.2], 0), ValueError, "factor=0"),
])
def test_classification_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# Multi-class
# ---------------------------------------------------------------------------------------------
def test_multiclass_example_and_f1_averages():
    y_true, y_pred = D.imbalanced_multiclass_example()
    assert set(np.unique(y_true)) == set(range(18))
    assert np.mean(y_true == 0) == pytest.approx(0.4, abs=0.01)
    s = M.multiclass_f1_summary(y_true, y_pred)
    # micro-F1 = accuracy for single-label data
    assert s["micro_f1"] == pytest.approx(np.mean(y_true == y_pred))
    assert s["accuracy"] == pytest.approx(s["micro_f1"])
    p, r, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    assert s["macro_f1"] == pytest.approx(f1.mean())
    assert s["weighted_f1"] == pytest.approx((f1 * support).sum() / support.sum())
    # macro-F1 is not the F1 of macro-precision and macro-recall
    hm = 2 * p.mean() * r.mean() / (p.mean() + r.mean())
    assert s["f1_of_macro_p_r"] == pytest.approx(hm)
    assert abs(s["f1_of_macro_p_r"] - s["macro_f1"]) > 0.005
    # the teaching point: accuracy looks fine, macro-F1 does not
    assert s["accuracy"] - s["macro_f1"] > 0.1
    assert np.array_equal(y_pred, D.imbalanced_multiclass_example()[1])  # seeded


# ---------------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------------
def test_outlier_curves_match_sklearn():
    x, y_true, y_pred = D.outlier_regression_data()
    grid = np.array([0.0, 0.5, 3.0, 10.0, 30.0])
    c = D.outlier_metric_curves(y_true, y_pred, grid, index=-1)
    for i, o in enumerate(grid):
        y = y_true.copy()
        y[-1] += o
        assert c["mae"][i] == pytest.approx(skm.mean_absolute_error(y, y_pred))
        assert c["mse"][i] == pytest.approx(skm.mean_squared_error(y, y_pred))
        assert c["rmse"][i] == pytest.approx(skm.root_mean_squared_error(y, y_pred))
        r = y - y_pred
        assert c["mae_share"][i] == pytest.approx(abs(r[-1]) / np.abs(r).sum())
        assert c["mse_share"][i] == pytest.approx(r[-1] ** 2 / (r ** 2).sum())
        assert M.regression_metrics(y, y_pred) == pytest.approx(
            {"mae": c["mae"][i], "mse": c["mse"][i], "rmse": c["rmse"][i]})


def test_outlier_growth_linear_vs_quadratic():
    _, y_true, y_pred = D.outlier_regression_data(n_points=20)
    grid = np.arange(10.0, 20.0, 1.0)  # far beyond the noise: |r| = r + o
    c = D.outlier_metric_curves(y_true, y_pred, grid)
    assert_allclose(np.diff(c["mae"]), 1 / 20)          # slope 1/n
    assert_allclose(np.diff(c["mse"], 2), 2 / 20)       # second difference 2 h^2 / n
    with pytest.raises(ValueError, match="index=20"):
        D.outlier_metric_curves(y_true, y_pred, 1.0, index=20)


# ---------------------------------------------------------------------------------------------
# Sweeps behind the explorers
# ---------------------------------------------------------------------------------------------
def test_threshold_sweep_rows_equal_sklearn():
    y, s = M.class_ratio_data(0.1)
    grid = np.round(np.arange(0, 1.005, 0.01), 2)
    sweep = D.threshold_sweep(y, s, grid)
    for t in (0.0, 0.3, 0.57, 1.0):
        row = D.row_at(sweep, "threshold", t + 0.004)  # nearest grid threshold
        pred = (s >= t).astype(int)
        tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
        assert (row["threshold"], row["tn"], row["fp"], row["fn"], row["tp"]) == (t, tn, fp, fn, tp)
        assert row["fpr"] == pytest.approx(fp / (fp + tn))
        assert row["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
    assert math.isnan(D.row_at(sweep, "threshold", 1.0)["precision"])  # nothing predicted positive


@pytest.mark.parametrize(("relevance", "k"), [((0, 3, 0, 1, 2, 0, 0, 1), 5), ((1, 0, 2, 0, 0, 3, 1, 0), 3),
                                              ((0, 0, 0, 0, 0, 0, 0, 1), 8), ((2, 2, 1, 1, 0, 0, 3, 3), 1)])
def test_ranking_breakdown_against_torchmetrics_and_sklearn(relevance, k):
    b = D.ranking_breakdown(relevance, k)
    rel = np.array(relevance, dtype=float)
    hit = (rel > 0).astype(int)
    scores = np.linspace(1.0, 0.3, rel.size)
    t_scores, t_hit = torch.tensor(scores), torch.tensor(hit)
    assert b["rr"] == pytest.approx(retrieval_reciprocal_rank(t_scores, t_hit).item())
    # torchmetrics' AP@k divides by the hits inside the top k; ours by min(R, k)
    tm_ap = retrieval_average_precision(t_scores, t_hit, top_k=k).item()
    assert b["ap"] == pytest.approx(tm_ap * hit[:k].sum() / min(hit.sum(), k))
    assert b["ndcg"] == pytest.approx(retrieval_normalized_dcg(t_scores, torch.tensor(rel), top_k=k).item())
    assert b["sklearn_ap"] == pytest.approx(skm.average_precision_score(hit, scores))
    discounts = 1 / np.log2(np.arange(2, rel.size + 2))
    assert b["dcg"] / b["ideal_dcg"] == pytest.approx(b["ndcg"])
    assert b["dcg"] == pytest.approx((rel * discounts)[:k].sum())


def test_ranking_terms_equal_sklearn_without_calling_it():
    # the explorer draws these (numpy only) and checks them against scikit-learn in its readout
    rng = np.random.default_rng(7)
    lists = [rng.integers(0, 4, size=n) for n in (2, 3, 5, 8, 8, 8, 12) for _ in range(6)]
    lists.append(np.zeros(6, int))
    for rel in lists:
        for k in {1, 2, rel.size // 2 or 1, rel.size}:
            terms, full = D.ranking_terms(rel, k), D.ranking_breakdown(rel, k)
            scores = np.linspace(1.0, 0.3, rel.size)
            reference = skm.ndcg_score(rel[None, :], scores[None, :], k=k)
            assert terms["ndcg"] == pytest.approx(reference, abs=1e-12)
            assert "sklearn_ap" not in terms
            for key in ("rr", "ap", "dcg", "ideal_dcg", "n_relevant"):
                assert terms[key] == full[key], key
            np.testing.assert_array_equal(terms["gains"], full["gains"])
    with pytest.raises(ValueError, match="k=4"):
        D.ranking_terms([0, 1, 0], 4)


def test_ranking_breakdown_without_relevant_item_and_bad_input():
    b = D.ranking_breakdown([0, 0, 0], 2)
    assert (b["rr"], b["ap"], b["ndcg"], b["n_relevant"], b["sklearn_ap"]) == (0.0, 0.0, 0.0, 0, None)
    with pytest.raises(ValueError, match="k=4"):
        D.ranking_breakdown([0, 1, 0], 4)
    with pytest.raises(ValueError, match="relevance >= 0"):
        D.ranking_breakdown([0, -1, 0], 2)
    with pytest.raises(ValueError, match="1-D"):
        D.ranking_breakdown([[0, 1]], 1)


# ---------------------------------------------------------------------------------------------
# Explorers (headless): readout numbers against scikit-learn
# ---------------------------------------------------------------------------------------------
def _cells(html):
    """The text of every table cell of a readout, row by row (tags stripped)."""
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in rows]


def _readout_row(html, label):
    """The cells after the first of the readout row whose first cell starts with ``label``."""
    rows = [r for r in _cells(html) if r and r[0].startswith(label)]
    assert len(rows) == 1, f"no single row {label!r} in {_cells(html)}"
    return rows[0][1:]


def _column(html, name):
    """``{row label: cell}`` of the readout column headed ``name``."""
    header, *rows = _cells(html)
    j = header.index(name)
    return {row[0]: row[j] for row in rows}


def test_class_ratio_explorer_numbers_equal_sklearn():
    w = EXPLORERS["class_ratio"]()
    slider = w.controls["share"]
    acc, bal = w.panels
    for i in (0, D.SHARE_GRID.index(0.1), len(D.SHARE_GRID) - 1):
        slider.value = i
        ref = M.class_ratio_metrics(D.SHARE_GRID[i])
        m, b = ref["model"], ref["baseline"]
        html = w.readout.value
        for label, r in (("model", m), ("always-negative", b)):
            cells = dict(zip(_cells(html)[0][1:], _readout_row(html, label)))
            assert [int(cells[k]) for k in ("TN", "FP", "FN", "TP")] == [r["tn"], r["fp"], r["fn"], r["tp"]]
            for key, name in (("accuracy", "accuracy"), ("f1", "F1"), ("balanced_accuracy", "balanced acc."),
                              ("macro_f1", "macro-F1"), ("recall", "recall")):
                assert cells[name] == f"{r[key]:.3f}", (label, name)
            precision = "undefined" if math.isnan(r["precision"]) else f"{r['precision']:.3f}"
            assert cells["precision"] == precision
        assert_allclose(acc["points"].get_ydata(), [m["accuracy"], m["f1"], b["accuracy"], b["f1"]])
        assert_allclose(bal["points"].get_ydata(),
                        [m["balanced_accuracy"], m["macro_f1"], b["balanced_accuracy"], b["macro_f1"]])
        assert "zero_division" in html  # the baseline's precision is 0/0 at every share here
    assert w.fig.axes[0].get_xscale() == "log" and "log" in w.fig.axes[0].get_xlabel()


def test_threshold_explorer_extremes_and_numbers():
    w = EXPLORERS["threshold"]()
    y, s = w.data[0.1]
    w.controls["threshold"].value = 1.0  # nothing predicted positive
    assert w.msg.get_visible() and "undefined" in w.msg.get_text()
    assert len(w.pr["point"].get_xdata()) == 0
    assert _column(w.readout.value, "precision") == {"1.00": "undefined"}
    assert "zero_division" in w.readout.value
    w.controls["threshold"].value = 0.3
    assert not w.msg.get_visible() and "zero_division" not in w.readout.value
    pred = (s >= 0.3).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    header, row = _cells(w.readout.value)
    cells = dict(zip(header, row))
    assert [int(cells[k]) for k in ("TN", "FP", "FN", "TP")] == [tn, fp, fn, tp]
    assert cells["F1"] == f"{skm.f1_score(y, pred):.3f}" and cells["FPR"] == f"{fp / (fp + tn):.3f}"
    assert_allclose(w.roc["point"].get_xydata()[0], [fp / (fp + tn), skm.recall_score(y, pred)])
    assert_allclose(w.pr["point"].get_xydata()[0], [skm.recall_score(y, pred), skm.precision_score(y, pred)])
    assert_allclose(w.sweep["threshold"].get_xdata(), [0.3, 0.3])
    assert_allclose(w.sweep["points"].get_ydata(),
                    [skm.precision_score(y, pred), skm.recall_score(y, pred), skm.f1_score(y, pred)])
    background = w._background
    w.controls["threshold"].value = 0.4  # a threshold move keeps the static curves (blit)
    assert w._background is background
    w.controls["share"].value = 0.01  # a share move redraws the curves once
    y1, s1 = w.data[0.01]
    assert w._background is not background
    assert_allclose(w.pr["chance"].get_ydata(), [0.01, 0.01])
    grid = w.sweep["lines"]["recall"].get_xdata()
    assert_allclose(w.sweep["lines"]["recall"].get_ydata(), [(s1[y1 == 1] >= t).mean() for t in grid])
    assert f"{skm.roc_auc_score(y1, s1):.3f}" in w.readout.value
    assert f"{skm.average_precision_score(y1, s1):.3f}" in w.readout.value


def test_roc_pr_explorer_switches_curves():
    w = EXPLORERS["roc_pr"]()
    y, s = M.class_ratio_data(0.5, n_samples=400)
    before = w.pr["curve"].get_ydata().copy()
    w.controls["factor"].value = 100
    assert not np.array_equal(before, w.pr["curve"].get_ydata())
    weights = np.where(y == 0, 100, 1)
    ap = _column(w.readout.value, "average precision")
    assert ap["x100 \u2190"] == f"{skm.average_precision_score(y, s, sample_weight=weights):.3f}"
    assert len(set(_column(w.readout.value, "ROC-AUC").values())) == 1  # ROC-AUC stays
    assert_allclose(w.pr["chance"].get_ydata(), [200 / 20200] * 2)


def test_outlier_explorer_curves_shares_and_readout():
    w = EXPLORERS["outlier"]()
    w.controls["outlier"].value = 30.0
    y = w.y_true.copy()
    y[-1] += 30.0
    r = y - w.y_pred
    # the plot shows what its text says: MAE and MSE (not RMSE) against the outlier's size
    assert_allclose(w.marks["mae"].get_ydata(), [skm.mean_absolute_error(y, w.y_pred)])
    assert_allclose(w.marks["mse"].get_ydata(), [skm.mean_squared_error(y, w.y_pred)])
    labels = [ax.get_ylabel() for ax in w.fig.axes]
    assert "MAE (units of y)" in labels and "MSE (units of y²)" in labels
    assert_allclose(w.shares.get_ydata(), [abs(r[-1]) / np.abs(r).sum(), r[-1] ** 2 / (r ** 2).sum()])
    assert_allclose(w.data["point"].get_ydata(), [y[-1]])
    (row,) = _cells(w.readout.value)[1:]
    assert row[1:4] == [f"{f(y, w.y_pred):.3f}" for f in (skm.mean_absolute_error, skm.mean_squared_error,
                                                         skm.root_mean_squared_error)]
    assert row[5] == f"{100 * r[-1] ** 2 / (r ** 2).sum():.1f} %"


def test_ranking_explorer_values_and_empty_list():
    w = EXPLORERS["ranking"](relevance=(0, 3, 0, 1, 2, 0, 0, 1), k=5)
    heights = [b.get_height() for b in w.bars["bars"]]
    # hand-worked: first hit at rank 2; hits at 2, 4, 5 inside k=5, R = 4
    assert heights[0] == pytest.approx(1 / 2)
    assert heights[1] == pytest.approx((1 / 2 + 2 / 4 + 3 / 5) / min(4, 5))
    ref = skm.ndcg_score([[0, 3, 0, 1, 2, 0, 0, 1]], [np.linspace(1, 0.3, 8)], k=5)
    assert heights[2] == pytest.approx(ref)
    assert "(1/2 + 2/4 + 3/5) / min(4, 5)" in w.readout.value
    assert _readout_row(w.readout.value, "precision@r") == ["", "1/2", "", "2/4", "3/5", "", "", ""]
    gains = np.array([0, 3, 0, 1, 2, 0, 0, 1]) / np.log2(np.arange(2, 10))
    shown = [f"{g:.2f}" if i in (1, 3, 4) else "" for i, g in enumerate(gains)]  # the hits inside k
    assert _readout_row(w.readout.value, "gain") == shown
    # the picture: one digit marker per relevance level at the items' ranks, the items below k faded
    digits = [sorted(line.get_xdata().tolist()) for line in w.listing["digits"]]
    assert digits == [[1, 3, 6, 7], [4, 8], [5], [2]]
    alphas = w.listing["boxes"].get_facecolors()[:, 3]
    assert_allclose(alphas, [1, 1, 1, 1, 1, 0.3, 0.3, 0.3])
    for r in range(8):
        w.controls[f"rel{r + 1}"].value = 0
    assert w.msg.get_visible()
    assert [b.get_height() for b in w.bars["bars"]] == [0.0, 0.0, 0.0]
    assert w.last_error is None
    with pytest.raises(ValueError, match="relevance\\[1\\]=4"):
        EXPLORERS["ranking"](relevance=(0, 4, 0))


def test_ranking_readout_checks_the_drawn_ndcg_against_sklearn(monkeypatch):
    import course_utils.explorers.metrics as explorer_module

    w = EXPLORERS["ranking"](relevance=(0, 3, 0, 1, 2, 0, 0, 1), k=5)
    assert "gives the same NDCG" in w.readout.value
    real = explorer_module.ranking_terms  # a drawn NDCG that scikit-learn does not give is said so
    monkeypatch.setattr(explorer_module, "ranking_terms", lambda rel, k: {**real(rel, k), "ndcg": 0.5})
    w.controls["k"].value = 4
    ref = skm.ndcg_score([[0, 3, 0, 1, 2, 0, 0, 1]], [np.linspace(1, 0.3, 8)], k=4)
    assert "the same NDCG" not in w.readout.value
    assert f"gives {ref:.6f}, the bar 0.500000" in w.readout.value


def test_metric_explorer_moves_draw_no_text_and_send_small_readouts():
    # issue 18: a move redraws only lines, markers and collections (each text artist costs >= 0.3 ms) and
    # sends a compact readout; the class-ratio and threshold frames are smaller than the old 1150 x 430 px
    from matplotlib.text import Text

    for name in ("class_ratio", "threshold", "roc_pr", "outlier", "ranking"):
        w = EXPLORERS[name]()
        shown_texts = [a for a in w._dynamic if isinstance(a, Text) and a.get_visible()]
        assert shown_texts == [], f"{name}: text artists drawn on every move: {shown_texts}"
        width, height = w.fig.get_size_inches() * w.fig.dpi
        assert width * height <= 330_000, f"{name}: {width:.0f} x {height:.0f} px"
        assert len(w.readout.value) < 1500, f"{name}: readout of {len(w.readout.value)} characters"
