"""Metric pitfalls on imbalanced data: accuracy against F1, thresholds, ROC vs PR, MAE vs MSE, ranking.

Three layers, as everywhere in the course:

* pure compute functions (arrays in, numbers out). Everything scikit-learn has comes from
  scikit-learn; only what it lacks is written here: :func:`mean_reciprocal_rank` and
  :func:`mean_average_precision` (ranking), plus numpy shortcuts on confusion-matrix counts
  (:func:`metrics_from_counts`) that let a slider move in microseconds; the tests compare those
  with scikit-learn.
* ``plot_*`` functions that draw on a given ``Axes`` and return the artists a widget updates.
* thin widgets (:class:`ClassRatioExplorer`, :class:`ThresholdExplorer`, :class:`RocPrExplorer`,
  :class:`OutlierExplorer`, :class:`RankingExplorer`) on :class:`course_utils.widgets.PlotWidget`.

"Undefined" values (precision when nothing is predicted positive: 0/0) are ``nan`` here and are
shown as *undefined*; scikit-learn's ``zero_division`` decides what it returns instead (default
``"warn"``: 0.0 plus an ``UndefinedMetricWarning``).
"""

from __future__ import annotations

import html
import numbers

import ipywidgets as W
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from sklearn import metrics as skm

from course_utils.checks import check_number, check_type
from course_utils.plotting import COLORS, show_message
from course_utils.explorers.base import PlotWidget, new_figure

#: Positive-class shares of the class-ratio slider, from balanced (50 %) down to 0.5 %.
SHARE_GRID = (0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.18, 0.16, 0.14, 0.12, 0.1, 0.09, 0.08, 0.07, 0.06,
              0.05, 0.045, 0.04, 0.035, 0.03, 0.025, 0.02, 0.018, 0.016, 0.014, 0.012, 0.01, 0.009,
              0.008, 0.007, 0.006, 0.005)

#: Names of the binary-classification numbers, in the order the readouts show them.
BINARY_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "macro_f1",
                  "roc_auc", "average_precision")

_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "precision": "precision",
           "recall": "recall", "f1": "F1 (positive class)", "macro_f1": "macro-F1", "roc_auc": "ROC-AUC",
           "average_precision": "average precision"}
_MODEL = COLORS["ce"]
_BASE = COLORS["baseline"]
_ACCENT = COLORS["accent"]
_UNDEFINED_NOTE = ("<i>undefined</i> = 0/0: nothing was predicted positive, so precision = TP/(TP+FP) has no "
                   "value. scikit-learn returns <code>zero_division</code> instead (default <code>'warn'"
                   "</code>: 0.0 plus an UndefinedMetricWarning; or 0.0, 1.0, <code>np.nan</code>). "
                   "F1 = 2TP/(2TP+FP+FN) is still defined: 0.")


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
    rel = _ranked_relevance(y_true, y_score)
    has_relevant = rel.any(axis=1)
    first = rel.argmax(axis=1)  # index of the first relevant item in ranked order
    rr = np.where(has_relevant, 1.0 / (first + 1.0), 0.0)
    return float(rr.mean())


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
    rel = _ranked_relevance(y_true, y_score)
    n_relevant = rel.sum(axis=1)
    if k is not None:
        rel = rel[:, :k]
        n_relevant = np.minimum(n_relevant, k)
    ranks = np.arange(1, rel.shape[1] + 1)
    precision_at = np.cumsum(rel, axis=1) / ranks
    summed = (precision_at * rel).sum(axis=1)
    ap = np.divide(summed, n_relevant, out=np.zeros_like(summed), where=n_relevant > 0)
    return float(ap.mean())


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


def class_ratio_curves(shares=SHARE_GRID, *, n_samples=2000, separation=2.5, threshold=0.5, seed=0) -> dict:
    """Every number of :func:`class_ratio_metrics` over a grid of shares, as arrays (fast).

    Counts come from numpy, ROC-AUC and average precision of the model from scikit-learn; the
    constant baseline has ROC-AUC 0.5 and average precision = positive share. Keys: ``share``,
    ``n_positive``, ``model`` and ``baseline`` (dicts of arrays, with counts ``tn, fp, fn, tp``).
    """
    shares = [_check_share("shares", s) for s in np.atleast_1d(shares).tolist()]
    check_number("threshold", threshold, low=0, high=1)
    rows = {"model": [], "baseline": []}
    realized, n_positive = [], []
    for share in shares:
        y_true, y_score = class_ratio_data(share, n_samples=n_samples, separation=separation, seed=seed)
        n_pos = int(y_true.sum())
        n_neg = y_true.size - n_pos
        counts = {k: int(v[0]) for k, v in threshold_counts(y_true, y_score, threshold).items()}
        counts["roc_auc"] = skm.roc_auc_score(y_true, y_score)
        counts["average_precision"] = skm.average_precision_score(y_true, y_score)
        rows["model"].append(counts)
        if majority_label(y_true) == 1:
            base = {"tn": 0, "fp": n_neg, "fn": 0, "tp": n_pos}
        else:
            base = {"tn": n_neg, "fp": 0, "fn": n_pos, "tp": 0}
        base.update(roc_auc=0.5, average_precision=n_pos / y_true.size)
        rows["baseline"].append(base)
        realized.append(n_pos / y_true.size)
        n_positive.append(n_pos)
    out = {"share": np.array(realized), "n_positive": np.array(n_positive)}
    for who, table in rows.items():
        cols = {key: np.array([row[key] for row in table]) for key in table[0]}
        cols.update(metrics_from_counts(cols["tn"], cols["fp"], cols["fn"], cols["tp"]))
        out[who] = cols
    return out


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
def outlier_regression_data(n_points=20, *, noise=0.5, seed=0):
    """A small regression set ``(x, y_true, y_pred)``: y = 1 + 0.5 x + noise, predicted by the true line."""
    check_number("n_points", n_points, low=2, integer=True)
    check_number("noise", noise, low=0)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 10, n_points)
    y_pred = 1 + 0.5 * x
    return x, y_pred + rng.normal(0, noise, n_points), y_pred


def regression_metrics(y_true, y_pred) -> dict:
    """MAE, MSE and RMSE from scikit-learn (``root_mean_squared_error``; ``squared=False`` is gone)."""
    return {"mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "mse": float(skm.mean_squared_error(y_true, y_pred)),
            "rmse": float(skm.root_mean_squared_error(y_true, y_pred))}


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
# Plot functions: draw on a given Axes, return the artists a widget updates
# ---------------------------------------------------------------------------------------------
def _fmt(value, digits=3) -> str:
    """A metric for display: 'undefined' for nan."""
    return "undefined" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def plot_confusion_matrix(ax, title):
    """An empty 2x2 confusion matrix (rows: true label, columns: predicted); returns the count texts.

    Correct cells (TN, TP) are tinted blue, errors (FP, FN) orange; only the counts change.
    """
    ax.set(xlim=(-0.5, 1.5), ylim=(1.5, -0.5))
    ax.set_aspect("equal")
    for i, row in enumerate((("TN", "FP"), ("FN", "TP"))):
        for j, name in enumerate(row):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fc="#deebf7" if i == j else "#fde0c5",
                                   ec="white", lw=3))
            ax.text(j, i - 0.24, name, ha="center", va="center", fontsize="small", color="#444444")
    ax.set_xticks([0, 1], ["pred 0", "pred 1"])
    ax.set_yticks([0, 1], ["true 0", "true 1"], rotation=90, va="center")
    ax.set_title(title)
    ax.grid(False)
    ax.tick_params(length=0)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    return [[ax.text(j, i + 0.1, "", ha="center", va="center", fontsize="large", fontweight="bold")
             for j in range(2)] for i in range(2)]


def set_confusion_matrix(texts, tn, fp, fn, tp) -> None:
    """Write the counts into the texts returned by :func:`plot_confusion_matrix`."""
    for text, count in zip((*texts[0], *texts[1]), (tn, fp, fn, tp)):
        text.set_text(str(int(count)))


def plot_metric_vs_share(ax, curves, metrics, *, title):
    """Curves of two ``metrics`` (solid, dashed) against the positive share, model and baseline.

    The share axis is logarithmic with 50 % on the left, like the slider. Returns the current-share
    marker artists ``{"line", "points"}``.
    """
    pct = 100 * curves["share"]
    styles = {0: "-", 1: "--"}
    for who, color, name in (("model", _MODEL, "model"), ("baseline", _BASE, "always-negative")):
        for i, metric in enumerate(metrics):
            ax.plot(pct, curves[who][metric], styles[i], color=color, label=f"{name}: {_LABELS[metric]}")
    ax.set_xscale("log")
    ax.set_xlim(pct.max() * 1.15, pct.min() / 1.15)
    ax.set_ylim(-0.04, 1.04)
    ticks = [50, 20, 10, 5, 2, 1, 0.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("positive share (%)")
    ax.set_title(title)
    line = ax.axvline(pct.max(), color=_ACCENT, lw=1.5, ls=":")
    points = ax.plot([], [], "o", color=_ACCENT, ms=8, mec="black", zorder=5)[0]
    return {"line": line, "points": points}


def plot_roc(ax, *, title="ROC curve"):
    """Empty ROC axes with the chance diagonal; returns ``{"curve", "point"}`` lines to fill."""
    ax.plot([0, 1], [0, 1], ":", color=_BASE, lw=1.2, label="chance (AUC 0.5)")
    curve = ax.plot([], [], color=_MODEL, label="model")[0]
    point = ax.plot([], [], "o", color=_ACCENT, ms=10, mec="black", zorder=5)[0]
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="false positive rate", ylabel="true positive rate",
           title=title)
    ax.set_aspect("equal", adjustable="box")
    return {"curve": curve, "point": point}


def plot_pr(ax, *, title="precision-recall curve"):
    """Empty PR axes; returns ``{"curve", "point", "chance"}`` lines to fill (chance = positive share)."""
    curve = ax.plot([], [], color=_MODEL, label="model")[0]
    chance = ax.plot([], [], ":", color=_BASE, lw=1.5, label="chance = share")[0]
    point = ax.plot([], [], "o", color=_ACCENT, ms=10, mec="black", zorder=5)[0]
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="recall", ylabel="precision", title=title)
    ax.set_aspect("equal", adjustable="box")
    return {"curve": curve, "point": point, "chance": chance}


def plot_per_class_f1(ax, f1, support, *, title="per-class F1"):
    """Bars of per-class F1, each class's sample count under its tick label; returns the bars."""
    f1 = np.asarray(f1, dtype=float)
    classes = np.arange(f1.size)
    bars = ax.bar(classes, f1, color=[_ACCENT if c == int(np.argmax(support)) else _MODEL for c in classes])
    ax.set(ylim=(0, 1.1), xlabel="class (below it: its number of samples)", ylabel="F1", title=title)
    ax.set_xticks(classes, [f"{c}\n{int(n)}" for c, n in zip(classes, support)])
    ax.tick_params(axis="x", labelsize="x-small")
    return bars


def plot_ranked_list(ax, n_items):
    """A row of ``n_items`` boxes for a ranked list (rank 1 on the left) and rows of per-rank numbers."""
    ax.set(xlim=(0.4, n_items + 0.6), ylim=(-3.3, 1.2))
    ax.axis("off")
    boxes = []
    for r in range(1, n_items + 1):
        boxes.append(ax.add_patch(Rectangle((r - 0.42, 0.0), 0.84, 0.9, ec="black", lw=1.2)))
        ax.text(r, 1.0, f"#{r}", ha="center", va="bottom", fontsize="small")
    row_names = ("relevance", "precision@r", "gain / log2(r+1)")
    for y, name in zip((0.45, -1.0, -2.3), row_names):
        ax.text(0.38, y, name, ha="right", va="center", fontsize="small")
    rel_texts = [ax.text(r, 0.45, "", ha="center", va="center", fontsize="large", fontweight="bold")
                 for r in range(1, n_items + 1)]
    prec_texts = [ax.text(r, -1.0, "", ha="center", va="center", fontsize="small")
                  for r in range(1, n_items + 1)]
    gain_texts = [ax.text(r, -2.3, "", ha="center", va="center", fontsize="small")
                  for r in range(1, n_items + 1)]
    cut = ax.axvline(n_items + 0.5, color=_ACCENT, lw=2.5, ls="--")
    cut_label = ax.text(n_items + 0.5, -3.2, "", color=_ACCENT, ha="left", va="bottom", fontsize="small")
    return {"boxes": boxes, "rel": rel_texts, "prec": prec_texts, "gain": gain_texts, "cut": cut,
            "cut_label": cut_label}


def _html_table(header, rows, *, note="") -> str:
    """A projector-readable HTML table (header: list of str, rows: lists of str)."""
    head = "".join(f"<th style='padding:2px 12px;text-align:right'>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 12px;text-align:right'>{c}</td>" for c in row)
                   + "</tr>" for row in rows)
    foot = f"<div style='font-size:13px;max-width:1100px'>{note}</div>" if note else ""
    return (f"<div style='font-size:16px'><table style='border-collapse:collapse'><tr>{head}</tr>{body}"
            f"</table>{foot}</div>")


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


def plot_reliability(ax, probs, labels, n_bins=10, *, color=None, label=None):
    """Reliability diagram: accuracy against mean confidence per bin (marker area ~ the bin's share)."""
    mean_conf, acc, count = calibration_bins(probs, labels, n_bins)
    ax.plot([0, 1], [0, 1], color=COLORS["baseline"], lw=1, ls=":")
    full = count > 0
    ax.plot(mean_conf[full], acc[full], "-", color=color, lw=1.5, alpha=0.8)
    ax.scatter(mean_conf[full], acc[full], s=10 + 300 * count[full] / count.sum(), color=color, label=label,
               zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top-1 probability)")
    ax.set_ylabel("accuracy")
    return ax


# ---------------------------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------------------------
class ClassRatioExplorer(PlotWidget):
    """Positive share 50 % -> 0.5 %: accuracy vs F1 (and balanced accuracy, macro-F1), model vs baseline.

    Every number is computed once over :data:`SHARE_GRID` (:func:`class_ratio_curves`); a move of
    the slider only looks them up and redraws the markers and the confusion matrices.
    """

    def __init__(self, *, n_samples=2000, separation=2.5, threshold=0.5, seed=0, start=0.1):
        self.curves = class_ratio_curves(SHARE_GRID, n_samples=n_samples, separation=separation,
                                         threshold=threshold, seed=seed)
        fig, axes = new_figure((11.5, 4.3), ncols=4, gridspec_kw={"width_ratios": [1.3, 1.3, 0.62, 0.62]})
        fig.subplots_adjust(left=0.04, right=0.99, bottom=0.13, top=0.8, wspace=0.32)
        self.acc = plot_metric_vs_share(axes[0], self.curves, ("accuracy", "f1"),
                                        title="accuracy (\u2014) vs F1 (- -)")
        self.bal = plot_metric_vs_share(axes[1], self.curves, ("balanced_accuracy", "macro_f1"),
                                        title="balanced acc. (\u2014), macro-F1 (- -)")
        handles = [Line2D([], [], color=_MODEL, lw=3), Line2D([], [], color=_BASE, lw=3)]
        fig.legend(handles, [f"model (fixed scores, threshold {threshold:g})", "always-negative baseline"],
                   loc="upper center", ncol=2, frameon=False, bbox_to_anchor=(0.36, 1.0))
        self.cm_model = plot_confusion_matrix(axes[2], f"model\n(score >= {threshold:g})")
        self.cm_base = plot_confusion_matrix(axes[3], "always-negative")
        base = self.curves["baseline"]
        if np.all(base["tp"] + base["fp"] == 0):  # the baseline never predicts positive on this grid
            axes[3].text(0.5, -0.2, "precision = 0/0:\nundefined", transform=axes[3].transAxes,
                         ha="center", va="top", fontsize="small", color="#a00000")
        for art in (self.acc["line"], self.acc["points"], self.bal["line"], self.bal["points"],
                    *self.cm_model[0], *self.cm_model[1], *self.cm_base[0], *self.cm_base[1]):
            self.dynamic(art)
        options = [(f"{100 * s:g} %", i) for i, s in enumerate(SHARE_GRID)]
        start_index = int(np.argmin(np.abs(np.array(SHARE_GRID) - start)))
        slider = W.SelectionSlider(options=options, value=start_index, description="positive share",
                                   continuous_update=True, style={"description_width": "initial"},
                                   layout=W.Layout(width="520px"))
        super().__init__(fig, {"share": slider})

    def update(self, share):
        i = int(share)
        c = self.curves
        pct = 100 * c["share"][i]
        m, b = c["model"], c["baseline"]
        self.acc["line"].set_xdata([pct, pct])
        self.acc["points"].set_data([pct] * 4, [m["accuracy"][i], m["f1"][i], b["accuracy"][i], b["f1"][i]])
        self.bal["line"].set_xdata([pct, pct])
        self.bal["points"].set_data([pct] * 4, [m["balanced_accuracy"][i], m["macro_f1"][i],
                                                b["balanced_accuracy"][i], b["macro_f1"][i]])
        set_confusion_matrix(self.cm_model, m["tn"][i], m["fp"][i], m["fn"][i], m["tp"][i])
        set_confusion_matrix(self.cm_base, b["tn"][i], b["fp"][i], b["fn"][i], b["tp"][i])
        rows = [[_LABELS[k], _fmt(m[k][i]), _fmt(b[k][i])] for k in BINARY_METRICS]
        n_pos = int(c["n_positive"][i])
        n_all = n_pos + int(m["tn"][i] + m["fp"][i])
        self.readout.value = _html_table([f"{pct:g} % positive ({n_pos} of {n_all})", "model",
                                          "always-negative"], rows, note=_UNDEFINED_NOTE)


class ThresholdExplorer(PlotWidget):
    """Decision threshold -> confusion matrix, precision/recall/F1 and the point on the ROC and PR curves.

    The curves of each share are computed once (scikit-learn's ``roc_curve`` and
    ``precision_recall_curve``); a threshold move counts the confusion matrix in numpy.
    """

    SHARES = (("50 %", 0.5), ("10 %", 0.1), ("1 %", 0.01))

    def __init__(self, *, n_samples=2000, separation=2.5, seed=0, share=0.1, threshold=0.5):
        self.grid = np.round(np.linspace(0, 1, 101), 2)
        self.data, self.curves, self.sweeps = {}, {}, {}
        for _, s in self.SHARES:
            y, score = class_ratio_data(s, n_samples=n_samples, separation=separation, seed=seed)
            self.data[s] = (y, score)
            self.curves[s] = roc_pr_curves(y, score)
            self.sweeps[s] = metrics_from_counts(**threshold_counts(y, score, self.grid))
        fig, axes = new_figure((11.5, 4.0), ncols=4, gridspec_kw={"width_ratios": [0.62, 1.25, 1, 1]})
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.15, top=0.88, wspace=0.35)
        self.cm = plot_confusion_matrix(axes[0], "confusion matrix")
        ax = axes[1]
        self.sweep_lines = {k: ax.plot([], [], color=col, label=_LABELS[k])[0]
                            for k, col in (("precision", COLORS["focal"]), ("recall", COLORS["smooth"]),
                                           ("f1", _MODEL))}
        self.t_line = ax.axvline(threshold, color=_ACCENT, lw=2, ls=":")
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.04, 1.04), xlabel="threshold (predict 1 if score >= t)")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 0.99), ncol=3, frameon=False, fontsize="small",
                  handlelength=1.2, columnspacing=1.0)
        self.roc = plot_roc(axes[2])
        self.pr = plot_pr(axes[3])
        axes[3].legend(loc="center left", fontsize="small")
        self.msg = show_message(axes[3], "")
        for art in (*self.sweep_lines.values(), self.t_line, self.roc["curve"], self.roc["point"],
                    self.pr["curve"], self.pr["chance"], self.pr["point"], self.msg,
                    *self.cm[0], *self.cm[1]):
            self.dynamic(art)
        controls = {
            "threshold": W.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.01, description="threshold",
                                       continuous_update=True, layout=W.Layout(width="480px")),
            "share": W.ToggleButtons(options=self.SHARES, value=share, description="positive share",
                                     style={"description_width": "initial", "button_width": "70px"}),
        }
        super().__init__(fig, controls)

    def update(self, threshold, share):
        sweep, curves = self.sweeps[share], self.curves[share]
        for k, line in self.sweep_lines.items():
            line.set_data(self.grid, sweep[k])
        self.roc["curve"].set_data(curves["fpr"], curves["tpr"])
        self.pr["curve"].set_data(curves["recall"], curves["precision"])
        self.pr["chance"].set_data([0, 1], [share, share])
        y, score = self.data[share]
        counts = {k: int(v[0]) for k, v in threshold_counts(y, score, threshold).items()}
        m = {k: float(v) for k, v in metrics_from_counts(**counts).items()}
        self.t_line.set_xdata([threshold, threshold])
        fpr = counts["fp"] / (counts["fp"] + counts["tn"])
        self.roc["point"].set_data([fpr], [m["recall"]])
        set_confusion_matrix(self.cm, **counts)
        undefined = np.isnan(m["precision"])
        self.pr["point"].set_data(*(([], []) if undefined else ([m["recall"]], [m["precision"]])))
        show_message(self.pr["curve"].axes, "nothing predicted positive:\nprecision = 0/0 undefined"
                     if undefined else "", artist=self.msg)
        rows = [[_LABELS[k], _fmt(m[k])] for k in ("accuracy", "balanced_accuracy", "precision", "recall",
                                                   "f1", "macro_f1")]
        rows.append(["false positive rate", _fmt(fpr)])
        rows.append(["ROC-AUC / average precision (whole curve)",
                     f"{curves['roc_auc']:.3f} / {curves['average_precision']:.3f}"])
        self.readout.value = _html_table([f"threshold {threshold:.2f}, {100 * share:g} % positive", "value"],
                                         rows, note=_UNDEFINED_NOTE if undefined else "")


class RocPrExplorer(PlotWidget):
    """Negatives multiplied x1, x10, x100: ROC-AUC stays put, average precision falls.

    Saito & Rehmsmeier (2015), PLoS ONE 10(3): e0118432.
    """

    FACTORS = (("x1", 1), ("x10", 10), ("x100", 100))

    def __init__(self, *, n_per_class=200, separation=2.5, seed=0, factor=1):
        y, score = class_ratio_data(0.5, n_samples=2 * n_per_class, separation=separation, seed=seed)
        self.curves = {f: roc_pr_curves(*multiply_negatives(y, score, f)) for _, f in self.FACTORS}
        fig, axes = new_figure((9.5, 4.2), ncols=2)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
        shades = {1: "#9ecae1", 10: "#4292c6", 100: "#084594"}
        for _, f in self.FACTORS:  # all three, thin, for comparison
            c = self.curves[f]
            axes[0].plot(c["fpr"], c["tpr"], color=shades[f], lw=1, alpha=0.6,
                         label=f"x{f}: AUC {c['roc_auc']:.3f}")
            axes[1].plot(c["recall"], c["precision"], color=shades[f], lw=1, alpha=0.6,
                         label=f"x{f}: AP {c['average_precision']:.3f}")
        self.roc = plot_roc(axes[0], title="ROC: unchanged")
        self.pr = plot_pr(axes[1], title="precision-recall: falls")
        self.roc["curve"].set_label("current")
        self.pr["curve"].set_label("current")
        axes[0].legend(loc="lower right", fontsize="small", title="negatives", title_fontsize="small")
        axes[1].legend(loc="lower left", fontsize="small", title="negatives", title_fontsize="small")
        for art in (self.roc["curve"], self.pr["curve"], self.pr["chance"]):
            art.set_linewidth(3)
            self.dynamic(art)
        control = W.ToggleButtons(options=self.FACTORS, value=factor, description="negatives",
                                  style={"button_width": "70px"})
        super().__init__(fig, {"factor": control})

    def update(self, factor):
        c = self.curves[factor]
        self.roc["curve"].set_data(c["fpr"], c["tpr"])
        self.pr["curve"].set_data(c["recall"], c["precision"])
        share = c["positive_share"]
        self.pr["chance"].set_data([0, 1], [share, share])
        rows = [[f"x{f}" + (" &larr;" if f == factor else ""), f"{100 * cf['positive_share']:.2g} %",
                 f"{cf['roc_auc']:.3f}", f"{cf['average_precision']:.3f}"]
                for f, cf in self.curves.items()]
        header = ["negatives", "positive share", "ROC-AUC", "average precision"]
        self.readout.value = _html_table(header, rows,
                                         note="Each negative is copied: the false positive <i>rate</i> is "
                                              "the same at every threshold, the false positive <i>count</i> "
                                              "grows, so precision falls.")


class OutlierExplorer(PlotWidget):
    """One target pushed away by an outlier: MAE grows linearly, MSE quadratically."""

    def __init__(self, *, n_points=20, seed=0, max_outlier=30.0, outlier=10.0):
        self.x, self.y_true, self.y_pred = outlier_regression_data(n_points, seed=seed)
        self.grid = np.arange(0, max_outlier + 0.25, 0.5)
        self.curves = outlier_metric_curves(self.y_true, self.y_pred, self.grid, index=-1)
        fig, axes = new_figure((11.5, 4.0), ncols=3, gridspec_kw={"width_ratios": [1.2, 1.2, 0.8]})
        fig.subplots_adjust(left=0.05, right=0.98, bottom=0.15, top=0.85, wspace=0.3)
        ax = axes[0]
        ax.plot(self.x, self.y_pred, color=_MODEL, label="prediction")
        ax.plot(self.x[:-1], self.y_true[:-1], "o", color="black", ms=5, label="targets")
        self.point = self.dynamic(ax.plot([], [], "o", color=COLORS["focal"], ms=9, label="outlier")[0])
        self.residual = self.dynamic(ax.plot([], [], "-", color=COLORS["focal"], lw=1.5)[0])
        ax.set(ylim=(self.y_true.min() - 1, self.y_pred[-1] + max_outlier + 2), xlabel="x", ylabel="y",
               title="data: one target moved up")
        ax.legend(loc="upper left", fontsize="small")
        ax = axes[1]
        ax.plot(self.grid, self.curves["mae"], color=_MODEL, label="MAE")
        ax.plot(self.grid, self.curves["rmse"], color=COLORS["focal"], label="RMSE = sqrt(MSE)")
        self.marks = self.dynamic(ax.plot([], [], "o", color=_ACCENT, ms=9, mec="black", zorder=5)[0])
        ax.set(xlabel="outlier size", ylabel="metric (units of y)", title="MAE vs RMSE")
        ax.legend(loc="upper left", fontsize="small")
        ax = axes[2]
        self.bars = ax.bar(["MAE", "MSE"], [0, 0], color=[_MODEL, COLORS["focal"]])
        for bar in self.bars:
            self.dynamic(bar)
        self.bar_texts = [self.dynamic(ax.text(i, 0, "", ha="center", va="bottom", fontsize="large"))
                          for i in range(2)]
        ax.set(ylim=(0, 1.15), title=f"the outlier's share of the\nsum ({n_points} points in all)")
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1], ["0", "25 %", "50 %", "75 %", "100 %"])
        slider = W.FloatSlider(value=outlier, min=0.0, max=float(max_outlier), step=0.5,
                               description="outlier", continuous_update=True, layout=W.Layout(width="480px"))
        super().__init__(fig, {"outlier": slider})

    def update(self, outlier):
        y = self.y_true.copy()
        y[-1] += outlier
        c = outlier_metric_curves(self.y_true, self.y_pred, outlier, index=-1)
        self.point.set_data([self.x[-1]], [y[-1]])
        self.residual.set_data([self.x[-1], self.x[-1]], [y[-1], self.y_pred[-1]])
        self.marks.set_data([outlier, outlier], [c["mae"][0], c["rmse"][0]])
        for i, share in enumerate((c["mae_share"][0], c["mse_share"][0])):
            self.bars[i].set_height(share)
            self.bar_texts[i].set_position((i, share + 0.02))
            self.bar_texts[i].set_text(f"{100 * share:.1f} %")
        sk = regression_metrics(y, self.y_pred)
        rows = [["MAE", f"{sk['mae']:.3f}", "mean_absolute_error"],
                ["MSE", f"{sk['mse']:.3f}", "mean_squared_error"],
                ["RMSE", f"{sk['rmse']:.3f}", "root_mean_squared_error"]]
        self.readout.value = _html_table([f"outlier {outlier:g}", "value", "scikit-learn function"], rows)


class RankingExplorer(PlotWidget):
    """Edit the relevance of a ranked list of 8 items and the cut-off k: RR, AP@k, NDCG@k."""

    def __init__(self, *, relevance=(0, 3, 0, 1, 2, 0, 0, 1), k=5):
        n = len(relevance)
        self.scores = np.linspace(1.0, 0.3, n)  # rank r holds the item with the r-th highest score
        fig, axes = new_figure((11.5, 3.6), ncols=2, gridspec_kw={"width_ratios": [2.3, 1]})
        fig.subplots_adjust(left=0.125, right=0.98, bottom=0.1, top=0.88, wspace=0.15)
        self.listing = plot_ranked_list(axes[0], n)
        axes[0].set_title("ranked list (relevance 0-3; MRR/MAP count relevance > 0 as a hit)")
        ax = axes[1]
        self.bars = ax.bar(["RR", "AP@k", "NDCG@k"], [0, 0, 0],
                           color=[COLORS["smooth"], COLORS["focal"], _MODEL])
        self.bar_texts = [ax.text(i, 0, "", ha="center", va="bottom", fontsize="large") for i in range(3)]
        ax.set(ylim=(0, 1.18), title="metrics of this query")
        self.msg = show_message(ax, "")
        arts = [*self.listing["boxes"], *self.listing["rel"], *self.listing["prec"], *self.listing["gain"],
                self.listing["cut"], self.listing["cut_label"], *self.bars, *self.bar_texts, self.msg]
        for art in arts:
            self.dynamic(art)
        controls = {f"rel{r + 1}": W.Dropdown(options=[0, 1, 2, 3], value=int(v), description=f"#{r + 1}",
                                              style={"description_width": "22px"},
                                              layout=W.Layout(width="85px"))
                    for r, v in enumerate(relevance)}
        controls["k"] = W.IntSlider(value=k, min=1, max=n, description="k", layout=W.Layout(width="300px"))
        super().__init__(fig, controls)

    def update(self, k, **rels):
        n = len(self.scores)
        rel = np.array([rels[f"rel{r + 1}"] for r in range(n)], dtype=float)
        hit = (rel > 0).astype(float)
        n_hits = np.cumsum(hit)
        shades = ("#eeeeee", "#c7e9c0", "#74c476", "#238b45")
        for r in range(n):
            inside = r < k
            self.listing["boxes"][r].set_facecolor(shades[int(rel[r])])
            self.listing["boxes"][r].set_alpha(1.0 if inside else 0.35)
            self.listing["rel"][r].set_text(f"{int(rel[r])}")
            shown = hit[r] and inside  # only the terms that enter AP@k and DCG@k
            self.listing["prec"][r].set_text(f"{int(n_hits[r])}/{r + 1}" if shown else "")
            self.listing["gain"][r].set_text(f"{rel[r] / np.log2(r + 2):.2f}" if shown else "")
        self.listing["cut"].set_xdata([k + 0.5, k + 0.5])
        self.listing["cut_label"].set_position((k + 0.58, -3.25))
        self.listing["cut_label"].set_text(f"k = {k}")
        y_true, y_hit, y_score = rel[None, :], hit[None, :], self.scores[None, :]
        values = (mean_reciprocal_rank(y_hit, y_score), mean_average_precision(y_hit, y_score, k=k),
                  ndcg_at_k(y_true, y_score, k=k))
        for i, v in enumerate(values):
            self.bars[i].set_height(v)
            self.bar_texts[i].set_position((i, v + 0.02))
            self.bar_texts[i].set_text(f"{v:.3f}")
        show_message(self.bars[0].axes, "no relevant item:\nevery metric is 0" if not hit.any() else "",
                     artist=self.msg)
        discount = 1 / np.log2(np.arange(2, k + 2))
        dcg = float(rel[:k] @ discount)
        ideal = float(np.sort(rel)[::-1][:k] @ discount)
        n_rel = int(hit.sum())
        ap_terms = " + ".join(f"{int(n_hits[r])}/{r + 1}" for r in range(k) if hit[r]) or "0"
        sk_ap = (f"{skm.average_precision_score(hit, self.scores):.3f} (all ranks, = AP@{n})"
                 if n_rel else "undefined (no relevant item)")
        rows = [["reciprocal rank", f"{values[0]:.3f}", "none (scikit-learn has no MRR)"],
                [f"AP@{k} = ({ap_terms}) / min({n_rel}, {k})", f"{values[1]:.3f}",
                 f"average_precision_score: {sk_ap}"],
                [f"NDCG@{k} = DCG / ideal DCG = {dcg:.3f} / {ideal:.3f}", f"{values[2]:.3f}",
                 f"ndcg_score(k={k}): {values[2]:.3f} (the same call)"]]
        self.readout.value = _html_table(["metric", "value", "scikit-learn"], rows,
                                         note=html.escape("NDCG gains are linear: rel / log2(rank + 1), "
                                                          "as in sklearn.metrics.ndcg_score."))


#: Widgets for the lead's benchmark: label -> factory returning a ready widget.
BENCHMARK_WIDGETS = {
    "metrics: class ratio": ClassRatioExplorer,
    "metrics: threshold": ThresholdExplorer,
    "metrics: ROC vs PR": RocPrExplorer,
    "metrics: MAE vs MSE outlier": OutlierExplorer,
    "metrics: ranking": RankingExplorer,
}
