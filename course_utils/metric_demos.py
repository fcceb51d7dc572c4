"""The synthetic sweeps behind the metric explorers: class shares, thresholds, an outlier, a ranked list.

Each function validates its arguments once and returns plain numbers or numpy arrays that an
explorer looks up on a move (:func:`class_ratio_curves`, :func:`threshold_sweep`,
:func:`outlier_metric_curves`, read with :func:`row_at`) or a cached result
(:func:`ranking_breakdown`). The metrics themselves are :mod:`course_utils.metrics`
(scikit-learn where it has them); the drawing is :mod:`course_utils.metric_plots`.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np
from sklearn import metrics as skm

from course_utils.checks import check_number, check_type
from course_utils.metrics import (
    _average_precisions,
    _check_ranking_inputs,
    _check_share,
    _reciprocal_ranks,
    class_ratio_data,
    majority_label,
    metrics_from_counts,
    threshold_counts,
)

#: Positive-class shares of the class-ratio slider, from balanced (50 %) down to 0.5 %.
SHARE_GRID = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.18, 0.16, 0.14, 0.12, 0.1, 0.09, 0.08, 0.07, 0.06,
              0.05, 0.045, 0.04, 0.035, 0.03, 0.025, 0.02, 0.018, 0.016, 0.014, 0.012, 0.01, 0.009,
              0.008, 0.007, 0.006, 0.005)


# ---------------------------------------------------------------------------------------------
# Binary classification: every share, every threshold
# ---------------------------------------------------------------------------------------------
def class_ratio_curves(shares=SHARE_GRID, *, n_samples=2000, separation=2.5, threshold=0.5, seed=0,
                       ranking=True) -> dict:
    """Every number of :func:`class_ratio_metrics` over a grid of shares, as arrays (fast).

    Counts come from numpy, ROC-AUC and average precision of the model from scikit-learn; the
    constant baseline has ROC-AUC 0.5 and average precision = positive share. Keys: ``share``,
    ``n_positive``, ``model`` and ``baseline`` (dicts of arrays, with counts ``tn, fp, fn, tp``).
    ``ranking=False`` leaves out ROC-AUC and average precision (two scikit-learn calls per share,
    most of the time this takes) for a caller that shows only the thresholded metrics.
    """
    shares = [_check_share("shares", s) for s in np.atleast_1d(shares).tolist()]
    check_number("threshold", threshold, low=0, high=1)
    check_type("ranking", ranking, bool, "True or False")
    rows = {"model": [], "baseline": []}
    realized, n_positive = [], []
    for share in shares:
        y_true, y_score = class_ratio_data(share, n_samples=n_samples, separation=separation, seed=seed)
        n_pos = int(y_true.sum())
        n_neg = y_true.size - n_pos
        counts = {k: int(v[0]) for k, v in threshold_counts(y_true, y_score, threshold).items()}
        if majority_label(y_true) == 1:
            base = {"tn": 0, "fp": n_neg, "fn": 0, "tp": n_pos}
        else:
            base = {"tn": n_neg, "fp": 0, "fn": n_pos, "tp": 0}
        if ranking:
            counts["roc_auc"] = skm.roc_auc_score(y_true, y_score)
            counts["average_precision"] = skm.average_precision_score(y_true, y_score)
            base.update(roc_auc=0.5, average_precision=n_pos / y_true.size)
        rows["model"].append(counts)
        rows["baseline"].append(base)
        realized.append(n_pos / y_true.size)
        n_positive.append(n_pos)
    out = {"share": np.array(realized), "n_positive": np.array(n_positive)}
    for who, table in rows.items():
        cols = {key: np.array([row[key] for row in table]) for key in table[0]}
        cols.update(metrics_from_counts(cols["tn"], cols["fp"], cols["fn"], cols["tp"]))
        out[who] = cols
    return out


def threshold_sweep(y_true, y_score, thresholds) -> dict:
    """Counts, :func:`~course_utils.metrics.metrics_from_counts` and the false positive rate per threshold.

    Arrays over ``thresholds`` (kept under ``"threshold"``); predict positive for score >= threshold.
    """
    counts = threshold_counts(y_true, y_score, thresholds)
    out = {"threshold": np.atleast_1d(np.asarray(thresholds, dtype=float)), **counts,
           **metrics_from_counts(**counts)}
    negatives = counts["fp"] + counts["tn"]
    out["fpr"] = np.divide(counts["fp"], negatives, out=np.full(negatives.shape, np.nan), where=negatives > 0)
    return out


def row_at(table: dict, column: str, value: float) -> dict:
    """The row of a sweep (a dict of equal-length arrays) whose ``column`` is nearest ``value``, as numbers.

    An explorer's slider moves on the sweep's grid, so a move is a lookup, not a computation.
    """
    i = int(np.abs(table[column] - value).argmin())
    return {key: values[i].item() for key, values in table.items()}


# ---------------------------------------------------------------------------------------------
# Multi-class: an 18-class problem with one dominant class
# ---------------------------------------------------------------------------------------------
def imbalanced_multiclass_example(n_classes=18, *, n_samples=3000, dominant_share=0.4, seed=0):
    """Labels and predictions of a model that favours the dominant class 0: ``(y_true, y_pred)``.

    Class 0 holds ``dominant_share`` of the samples, the others share the rest with sizes
    falling geometrically. The model is right on a class with a probability that grows with the
    class's size (0.97 on class 0, down to about 0.35 on the rarest); three quarters of its
    mistakes say "class 0", the rest a random class.
    """
    check_number("n_classes", n_classes, low=2, integer=True)
    check_number("n_samples", n_samples, low=n_classes, integer=True)
    dominant = _check_share("dominant_share", dominant_share)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    rng = np.random.default_rng(seed)
    rest = 0.8 ** np.arange(n_classes - 1)
    prior = np.concatenate([[dominant], (1 - dominant) * rest / rest.sum()])
    sizes = np.maximum(1, np.floor(prior * n_samples + 0.5).astype(int))
    sizes[0] = n_samples - sizes[1:].sum()
    y_true = np.repeat(np.arange(n_classes), sizes)
    p_right = 0.35 + 0.62 * (sizes / sizes.max()) ** 0.5
    right = rng.random(y_true.size) < p_right[y_true]
    to_dominant = rng.random(y_true.size) < 0.75
    other = (y_true + rng.integers(1, n_classes, y_true.size)) % n_classes  # a class != y_true
    wrong = np.where(to_dominant & (y_true != 0), 0, other)
    y_pred = np.where(right, y_true, wrong)
    return y_true, y_pred


# ---------------------------------------------------------------------------------------------
# Regression: MAE vs MSE with one outlier
# ---------------------------------------------------------------------------------------------
def outlier_regression_data(n_points=20, *, noise=0.5, seed=0):
    """A small regression set ``(x, y_true, y_pred)``: y = 1 + 0.5 x + noise, predicted by the true line."""
    check_number("n_points", n_points, low=2, integer=True)
    check_number("noise", noise, low=0)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 10, n_points)
    y_pred = 1 + 0.5 * x
    return x, y_pred + rng.normal(0, noise, n_points), y_pred


def outlier_metric_curves(y_true, y_pred, outliers, *, index=-1) -> dict:
    """MAE, MSE, RMSE when ``outlier`` is added to ``y_true[index]``, for each value (numpy arrays).

    Also the share of each metric's total that the one outlier point contributes:
    ``mae_share`` = |r_o| / sum |r|, ``mse_share`` = r_o**2 / sum r**2 (nan when all residuals are 0).
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"y_true has shape {y_true.shape} and y_pred {y_pred.shape}; "
                         "allowed: two non-empty 1-D arrays of one length")
    check_type("index", index, numbers.Integral, "an integer index into y_true")
    if not -y_true.size <= index < y_true.size:
        raise ValueError(f"index={index} is out of range; allowed: -{y_true.size} .. {y_true.size - 1}")
    o = np.atleast_1d(np.asarray(outliers, dtype=float))
    r = y_true - y_pred
    r_o = r[index] + o
    abs_rest = np.abs(r).sum() - abs(r[index])
    sq_rest = (r ** 2).sum() - r[index] ** 2
    abs_sum = abs_rest + np.abs(r_o)
    sq_sum = sq_rest + r_o ** 2
    n = y_true.size
    return {
        "outlier": o, "mae": abs_sum / n, "mse": sq_sum / n, "rmse": np.sqrt(sq_sum / n),
        "mae_share": np.divide(np.abs(r_o), abs_sum, out=np.full(o.shape, np.nan), where=abs_sum > 0),
        "mse_share": np.divide(r_o ** 2, sq_sum, out=np.full(o.shape, np.nan), where=sq_sum > 0),
    }


# ---------------------------------------------------------------------------------------------
# Ranking: one list, term by term
# ---------------------------------------------------------------------------------------------
def ranking_breakdown(relevance, k) -> dict:
    """MRR, AP@k and NDCG@k of one ranked list and the terms that make them (a cached lookup).

    ``relevance``: graded relevance (>= 0) of the items in ranked order (rank 1 first; the scores
    are a falling line); relevance > 0 counts as a hit for RR and AP. Returns ``rr``, ``ap``,
    ``ndcg`` (``sklearn.metrics.ndcg_score``), ``hits`` (hits in the top r, per rank r),
    ``gains`` (rel / log2(r + 1)), ``dcg``, ``ideal_dcg``, ``n_relevant``, ``sklearn_ap``
    (``average_precision_score`` over all ranks, None without a relevant item) and ``scores``.
    """
    return _ranking_breakdown(*_checked_ranking(relevance, k))


def ranking_terms(relevance, k) -> dict:
    """:func:`ranking_breakdown` without its scikit-learn calls (numpy only; a cached lookup): the same
    keys but ``sklearn_ap``, with ``ndcg`` = ``dcg / ideal_dcg`` (0 without a relevant item), the value
    ``sklearn.metrics.ndcg_score`` gives for this list (the scores fall: no ties)."""
    return _ranking_terms(*_checked_ranking(relevance, k))


def _checked_ranking(relevance, k) -> tuple[tuple, int]:
    rel = np.asarray(relevance)
    if rel.ndim != 1:
        raise ValueError(f"relevance has shape {rel.shape}; allowed: a 1-D list of relevances, in ranked "
                         "order")
    _check_ranking_inputs(rel[None, :], np.zeros((1, rel.size)), binary=False)
    check_number("k", k, low=1, high=rel.size, integer=True)
    if rel.size < 2:
        raise ValueError(f"relevance has {rel.size} item; allowed: at least 2 (NDCG of one item is always 1)")
    return tuple(float(r) for r in rel), int(k)


@lru_cache(maxsize=512)
def _ranking_terms(relevance: tuple, k: int) -> dict:
    """:func:`ranking_terms` on checked arguments."""
    rel = np.array(relevance)
    scores = _falling_scores(rel.size)
    hit = (rel > 0).astype(float)
    discount = 1 / np.log2(np.arange(2, rel.size + 2))
    dcg, ideal = float(rel[:k] @ discount[:k]), float(np.sort(rel)[::-1][:k] @ discount[:k])
    return {
        "rr": float(_reciprocal_ranks(hit[None, :])[0]),
        "ap": float(_average_precisions(hit[None, :], k)[0]),
        "ndcg": dcg / ideal if ideal > 0 else 0.0,
        "hits": np.cumsum(hit).astype(int), "gains": rel * discount, "dcg": dcg, "ideal_dcg": ideal,
        "n_relevant": int(hit.sum()), "scores": scores,
    }


@lru_cache(maxsize=512)
def _ranking_breakdown(relevance: tuple, k: int) -> dict:
    """:func:`ranking_breakdown` on checked arguments."""
    terms = _ranking_terms(relevance, k)
    rel, scores = np.array(relevance), terms["scores"]
    return {**terms, "ndcg": float(skm.ndcg_score(rel[None, :], scores[None, :], k=k)),
            "sklearn_ap": _sklearn_ap(relevance)}


@lru_cache(maxsize=512)
def _sklearn_ap(relevance: tuple) -> float | None:
    """``average_precision_score`` of the list (over all ranks: the same for every k), None without a hit."""
    hit = (np.array(relevance) > 0).astype(float)
    if not hit.any():
        return None
    return float(skm.average_precision_score(hit, _falling_scores(hit.size)))


def _falling_scores(n: int) -> np.ndarray:
    """The scores of a ranked list of ``n`` items: rank r holds the item with the r-th highest score."""
    return np.linspace(1.0, 0.3, n)
