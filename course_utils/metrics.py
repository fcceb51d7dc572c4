"""Metrics for imbalanced data, computed: classification, ranking, regression and calibration.

Everything scikit-learn has comes from scikit-learn; only what it lacks is written here:
:func:`mean_reciprocal_rank` and :func:`mean_average_precision` (ranking), plus numpy shortcuts on
confusion-matrix counts (:func:`metrics_from_counts`, :func:`threshold_counts`) that let a slider
move in microseconds; the tests compare those with scikit-learn. :func:`class_ratio_data` is the
seeded problem of the metric-pitfalls notebook, :func:`class_ratio_metrics` every number of it.
The sweeps the explorers show live in :mod:`course_utils.metric_demos`, their drawing in
:mod:`course_utils.metric_plots`.

"Undefined" values (precision when nothing is predicted positive: 0/0) are ``nan`` here and are
shown as *undefined*; scikit-learn's ``zero_division`` decides what it returns instead (default
``"warn"``: 0.0 plus an ``UndefinedMetricWarning``).
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from course_utils.checks import check_number
from course_utils.i18n import tr
from course_utils.plotting import COLORS, linestyle_for

#: Names of the binary-classification numbers, in the order the readouts show them.
BINARY_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "macro_f1",
                  "roc_auc", "average_precision")


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------
def _check_share(name, value):
    """A class share strictly between 0 and 1."""
    return float(check_number(name, value, low=0, high=1, low_open=True, high_open=True))


def _check_k(k):
    """``k`` is None or an integer >= 1."""
    if k is not None:
        check_number("k", k, low=1, integer=True)
    return k


def _check_ranking_inputs(y_true, y_score, *, binary):
    """Two 2-D arrays of one shape (n_queries, n_items), finite scores, relevance 0/1 or >= 0."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    for name, arr in (("y_true", y_true), ("y_score", y_score)):
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} has dtype {arr.dtype}; allowed: numbers (bool, int or float)")
        if arr.ndim != 2:
            raise ValueError(f"{name} has shape {arr.shape}; allowed: a 2-D array (n_queries, n_items) "
                             "(wrap a single query as [list])")
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true has shape {y_true.shape} and y_score has shape {y_score.shape}; "
                         "allowed: the same shape")
    if y_true.size == 0:
        raise ValueError(f"y_true has shape {y_true.shape} (empty); allowed: at least one query and item")
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score contains NaN or inf; allowed: finite scores")
    y_true = y_true.astype(float)
    if binary and not np.all((y_true == 0) | (y_true == 1)):
        raise ValueError(f"y_true has values {np.unique(y_true)[:6]}; allowed: binary relevance 0/1 "
                         "(use y_true > 0 to binarise graded relevance)")
    if not np.all(np.isfinite(y_true)) or np.any(y_true < 0):
        raise ValueError("y_true has negative or non-finite values; allowed: relevance >= 0")
    return y_true, y_score.astype(float)


def _ranked_relevance(y_true, y_score):
    """Relevance re-ordered by descending score per query; ties keep the items' original order."""
    order = np.argsort(-y_score, axis=1, kind="stable")
    return np.take_along_axis(y_true, order, axis=1)


def _reciprocal_ranks(ranked):
    """1/rank of the first nonzero entry of each row of ranked relevance (0 for a row with none)."""
    first = ranked.argmax(axis=1)  # index of the first relevant item in ranked order
    return np.where(ranked.any(axis=1), 1.0 / (first + 1.0), 0.0)


def _average_precisions(ranked, k):
    """AP@k of each row of ranked binary relevance (unchecked; see :func:`mean_average_precision`)."""
    n_relevant = ranked.sum(axis=1)
    if k is not None:
        ranked = ranked[:, :k]
        n_relevant = np.minimum(n_relevant, k)
    precision_at = np.cumsum(ranked, axis=1) / np.arange(1, ranked.shape[1] + 1)
    summed = (precision_at * ranked).sum(axis=1)
    return np.divide(summed, n_relevant, out=np.zeros_like(summed), where=n_relevant > 0)


# ---------------------------------------------------------------------------------------------
# Ranking: what scikit-learn lacks (MRR, MAP@k) and its NDCG
# ---------------------------------------------------------------------------------------------
def mean_reciprocal_rank(y_true, y_score) -> float:
    """Mean over queries of 1/rank of the first relevant item (0 for a query with none).

    ``y_true``: binary relevance, ``y_score``: scores, both shaped (n_queries, n_items). Items are
    ranked by descending score; tied scores keep the order in which the items are listed. Every
    item counts as retrieved (torchmetrics' ``RetrievalMRR`` drops items with score <= 0).
    scikit-learn has no MRR.
    """
    y_true, y_score = _check_ranking_inputs(y_true, y_score, binary=True)
    return float(_reciprocal_ranks(_ranked_relevance(y_true, y_score)).mean())


def mean_average_precision(y_true, y_score, k=None) -> float:
    """Mean over queries of average precision AP@k (0 for a query with no relevant item).

    AP = (1 / min(R, k)) * sum over the ranks r <= k that hold a relevant item of precision@r,
    where precision@r = (relevant items in the top r) / r and R = relevant items in the query
    (``k=None``: all ranks, denominator R). Binary relevance, shape (n_queries, n_items); items
    ranked by descending score, ties in listed order.

    How it differs from torchmetrics 1.9 ``retrieval_average_precision(top_k=k)``: torchmetrics
    divides by the number of relevant items *found in the top k*, so a list that finds one of its
    five relevant items at rank 1 scores 1.0 there and 1/min(5, k) here; it also treats items
    with score <= 0 as not retrieved. Both agree for ``k=None`` with positive scores, and that AP
    equals scikit-learn's ``average_precision_score`` on one query when no scores tie.
    """
    y_true, y_score = _check_ranking_inputs(y_true, y_score, binary=True)
    _check_k(k)
    return float(_average_precisions(_ranked_relevance(y_true, y_score), k).mean())


def ndcg_at_k(y_true, y_score, k=None) -> float:
    """Normalised DCG@k: exactly ``sklearn.metrics.ndcg_score(y_true, y_score, k=k)``.

    scikit-learn's DCG uses *linear* gains rel/log2(rank+1) (not 2**rel - 1), averages the gain
    over tied scores, and gives 0 to a query with no relevant item. Shape (n_queries, n_items)
    with n_items >= 2, relevance >= 0 (graded allowed).
    """
    y_true, y_score = _check_ranking_inputs(y_true, y_score, binary=False)
    _check_k(k)
    if y_true.shape[1] < 2:
        raise ValueError(f"y_true has shape {y_true.shape}; allowed: at least 2 items per query "
                         "(NDCG of a single item is always 1)")
    return float(skm.ndcg_score(y_true, y_score, k=k))


# ---------------------------------------------------------------------------------------------
# Binary classification: a seeded dataset and a fixed score model at any class ratio
# ---------------------------------------------------------------------------------------------
def class_ratio_data(positive_share, *, n_samples=2000, separation=2.5, seed=0):
    """Labels and model scores for one positive-class share: ``(y_true, y_score)``.

    The model is fixed: a feature x ~ N(separation, 1) for positives and N(0, 1) for negatives,
    scored as sigmoid(x - separation/2), so the threshold 0.5 sits halfway between the classes.
    The samples are drawn once per seed and the first round(share * n_samples) positives and the
    first negatives are taken, so every share sees the same model on nested data.
    """
    share = _check_share("positive_share", positive_share)
    check_number("n_samples", n_samples, low=2, integer=True)
    check_number("separation", separation, low=0)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    n_pos = int(np.floor(share * n_samples + 0.5))
    if n_pos < 1 or n_pos > n_samples - 1:
        raise ValueError(f"positive_share={positive_share!r} with n_samples={n_samples} gives {n_pos} "
                         f"positives of {n_samples}; allowed: a share that leaves at least one sample "
                         "of each class")
    rng = np.random.default_rng(seed)
    pos = rng.normal(separation, 1.0, n_samples)[:n_pos]
    neg = rng.normal(0.0, 1.0, n_samples)[: n_samples - n_pos]
    x = np.concatenate([neg, pos])
    y_true = np.concatenate([np.zeros(n_samples - n_pos, dtype=int), np.ones(n_pos, dtype=int)])
    y_score = 1.0 / (1.0 + np.exp(-(x - separation / 2)))
    return y_true, y_score


def majority_label(y_true) -> int:
    """The most frequent label of binary ``y_true`` (a tie goes to 0, like DummyClassifier)."""
    y_true = np.asarray(y_true)
    return int(np.sum(y_true == 1) > np.sum(y_true == 0))


def binary_metrics(y_true, y_pred, y_score) -> dict:
    """scikit-learn's binary metrics as plain floats; ``nan`` where a value is undefined (0/0).

    Keys: ``BINARY_METRICS`` plus the confusion counts ``tn, fp, fn, tp`` (ints). Precision,
    recall and F1 are for the positive class (label 1); ``zero_division=np.nan`` marks 0/0.
    """
    y_true, y_pred, y_score = (np.asarray(a) for a in (y_true, y_pred, y_score))
    if not (y_true.shape == y_pred.shape == y_score.shape) or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"y_true, y_pred, y_score have shapes {y_true.shape}, {y_pred.shape}, "
                         f"{y_score.shape}; allowed: three non-empty 1-D arrays of one length")
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(y_true, y_pred, zero_division=np.nan),
        "recall": skm.recall_score(y_true, y_pred, zero_division=np.nan),
        "f1": skm.f1_score(y_true, y_pred, zero_division=np.nan),
        "macro_f1": skm.f1_score(y_true, y_pred, average="macro", zero_division=np.nan),
        "roc_auc": skm.roc_auc_score(y_true, y_score),
        "average_precision": skm.average_precision_score(y_true, y_score),
    }
    out = {name: float(value) for name, value in out.items()}
    out.update(tn=int(tn), fp=int(fp), fn=int(fn), tp=int(tp))
    return out


def class_ratio_metrics(positive_share, *, n_samples=2000, separation=2.5, threshold=0.5, seed=0) -> dict:
    """All binary metrics at one positive share, for the model and the always-majority baseline.

    Returns ``{"positive_share", "n_positive", "n_negative", "model": {...}, "baseline": {...}}``;
    each inner dict is :func:`binary_metrics` (scikit-learn). The model predicts positive when its
    score >= ``threshold``; the baseline always predicts the majority label (negative for shares
    <= 0.5) and scores every sample with that constant, so its ROC-AUC is 0.5 and its average
    precision the positive share.
    """
    check_number("threshold", threshold, low=0, high=1)
    y_true, y_score = class_ratio_data(positive_share, n_samples=n_samples, separation=separation,
                                       seed=seed)
    y_model = (y_score >= threshold).astype(int)
    y_base = np.full_like(y_true, majority_label(y_true))
    n_pos = int(y_true.sum())
    return {
        "positive_share": n_pos / y_true.size,
        "n_positive": n_pos,
        "n_negative": int(y_true.size - n_pos),
        "model": binary_metrics(y_true, y_model, y_score),
        "baseline": binary_metrics(y_true, y_base, y_base.astype(float)),
    }


def metrics_from_counts(tn, fp, fn, tp) -> dict:
    """Accuracy, balanced accuracy, precision, recall, F1 and macro-F1 from confusion counts.

    Works elementwise on arrays (a whole grid at once) in numpy; ``nan`` marks 0/0. Matches
    scikit-learn with ``zero_division=np.nan`` (tested): macro-F1 and balanced accuracy average
    over the classes whose value is defined.
    """
    tn, fp, fn, tp = (np.asarray(a, dtype=float) for a in (tn, fp, fn, tp))
    if np.any(np.stack(np.broadcast_arrays(tn, fp, fn, tp)) < 0):
        raise ValueError("tn, fp, fn, tp contain a negative count; allowed: counts >= 0")

    def ratio(num, den):
        return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)

    n = tn + fp + fn + tp
    recall = ratio(tp, tp + fn)
    specificity = ratio(tn, tn + fp)
    f1_pos = ratio(2 * tp, 2 * tp + fp + fn)
    f1_neg = ratio(2 * tn, 2 * tn + fp + fn)
    with np.errstate(invalid="ignore"):
        balanced = _nanmean2(recall, specificity)
        macro_f1 = _nanmean2(f1_pos, f1_neg)
    return {
        "accuracy": ratio(tp + tn, n),
        "balanced_accuracy": balanced,
        "precision": ratio(tp, tp + fp),
        "recall": recall,
        "f1": f1_pos,
        "macro_f1": macro_f1,
    }


def _nanmean2(a, b):
    """Elementwise mean of two arrays ignoring nan (nan where both are nan)."""
    both = np.stack(np.broadcast_arrays(a, b))
    count = np.sum(~np.isnan(both), axis=0)
    total = np.nansum(both, axis=0)
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def threshold_counts(y_true, y_score, thresholds) -> dict:
    """Confusion counts ``tn, fp, fn, tp`` (arrays) when predicting positive for score >= threshold."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    if y_true.shape != y_score.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"y_true has shape {y_true.shape} and y_score {y_score.shape}; "
                         "allowed: two non-empty 1-D arrays of one length")
    t = np.atleast_1d(np.asarray(thresholds, dtype=float))
    pos = np.sort(y_score[y_true == 1])
    neg = np.sort(y_score[y_true != 1])
    tp = pos.size - np.searchsorted(pos, t, side="left")
    fp = neg.size - np.searchsorted(neg, t, side="left")
    return {"tn": neg.size - fp, "fp": fp, "fn": pos.size - tp, "tp": tp}


def roc_pr_curves(y_true, y_score) -> dict:
    """scikit-learn's ROC and precision-recall curves (corner points only), ROC-AUC and average precision."""
    fpr, tpr, _ = skm.roc_curve(y_true, y_score)  # drop_intermediate: only the curve's corners
    precision, recall, _ = skm.precision_recall_curve(y_true, y_score, drop_intermediate=True)
    return {"fpr": fpr, "tpr": tpr, "precision": precision, "recall": recall,
            "roc_auc": float(skm.roc_auc_score(y_true, y_score)),
            "average_precision": float(skm.average_precision_score(y_true, y_score)),
            "positive_share": float(np.mean(np.asarray(y_true) == 1))}


def multiply_negatives(y_true, y_score, factor):
    """The data with every negative sample repeated ``factor`` times (positives unchanged)."""
    check_number("factor", factor, low=1, integer=True)
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_true.shape != y_score.shape or y_true.ndim != 1:
        raise ValueError(f"y_true has shape {y_true.shape} and y_score {y_score.shape}; "
                         "allowed: two 1-D arrays of one length")
    neg = y_true == 0
    return (np.concatenate([y_true[~neg], np.tile(y_true[neg], factor)]),
            np.concatenate([y_score[~neg], np.tile(y_score[neg], factor)]))


# ---------------------------------------------------------------------------------------------
# Multi-class: an 18-class problem with one dominant class
# ---------------------------------------------------------------------------------------------
def multiclass_f1_summary(y_true, y_pred) -> dict:
    """Accuracy, micro/macro/weighted F1 and the F1 of macro-P and macro-R (scikit-learn)."""
    p_macro = skm.precision_score(y_true, y_pred, average="macro", zero_division=0)
    r_macro = skm.recall_score(y_true, y_pred, average="macro", zero_division=0)
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "micro_f1": float(skm.f1_score(y_true, y_pred, average="micro")),
        "macro_f1": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "weighted_f1": float(skm.f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "macro_precision": float(p_macro),
        "macro_recall": float(r_macro),
        "f1_of_macro_p_r": float(2 * p_macro * r_macro / (p_macro + r_macro)) if p_macro + r_macro else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# Regression: MAE vs MSE with one outlier
# ---------------------------------------------------------------------------------------------
def regression_metrics(y_true, y_pred) -> dict:
    """MAE, MSE and RMSE from scikit-learn (``root_mean_squared_error``; ``squared=False`` is gone)."""
    return {"mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "mse": float(skm.mean_squared_error(y_true, y_pred)),
            "rmse": float(skm.root_mean_squared_error(y_true, y_pred))}


# ---------------------------------------------------------------------------------------------
# Calibration: is a predicted probability of 0.8 right 80 % of the time?
# ---------------------------------------------------------------------------------------------
def calibration_bins(probs, labels, n_bins=10):
    """Equal-width confidence bins of the top-1 prediction: (mean confidence, accuracy, count) per bin.

    Bin i holds confidences in [i/n, (i+1)/n); a confidence of exactly 1 goes to the last bin.
    Empty bins give NaN confidence and accuracy.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError(f"probs has shape {probs.shape} and labels {labels.shape}; allowed: (N, C) and (N,)")
    check_number("n_bins", n_bins, low=1, integer=True)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    idx = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return mean_conf, acc, count


def expected_calibration_error(probs, labels, n_bins=10) -> float:
    """ECE: the count-weighted mean of |accuracy - confidence| over equal-width confidence bins."""
    mean_conf, acc, count = calibration_bins(probs, labels, n_bins)
    full = count > 0
    return float(np.sum(count[full] * np.abs(acc[full] - mean_conf[full])) / count.sum())


def plot_reliability(ax, probs, labels, n_bins=10, *, color=None, label=None, ls=None):
    """Reliability diagram: accuracy against mean confidence per bin (marker area ~ the bin's share).

    ``ls``: the line style (default: the one that goes with ``color``,
    :func:`~course_utils.plotting.linestyle_for`)."""
    mean_conf, acc, count = calibration_bins(probs, labels, n_bins)
    ax.plot([0, 1], [0, 1], color=COLORS["baseline"], lw=1, ls=":")
    full = count > 0
    (line,) = ax.plot(mean_conf[full], acc[full], color=color, lw=1.5, alpha=0.8,
                      ls=linestyle_for(color) if ls is None else ls)
    ax.scatter(mean_conf[full], acc[full], s=10 + 300 * count[full] / count.sum(), color=color, zorder=3)
    if label is not None:  # the legend shows the line style with the marker
        ax.plot([], [], marker="o", color=line.get_color(), ls=line.get_linestyle(), label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(tr("confidence (top-1 probability)"))
    ax.set_ylabel(tr("accuracy"))
    return ax
