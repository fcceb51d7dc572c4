"""Decision rules for macro-F1: argmax, per-class biases, per-class thresholds, the binary threshold.

A classifier gives scores; the *rule* turns them into a class. ``argmax`` is one rule. Two families
tuned for macro-F1 on a validation split:

* **biases**: ``argmax_c (log p_c + b_c)`` -- a per-class offset on the log-probabilities (the
  logits), i.e. each probability multiplied by ``e^{b_c}``; post-hoc logit adjustment is the member
  ``b_c = −τ log π_c``;
* **thresholds**: ``argmax_c (p_c − t_c)`` -- a per-class offset on the probabilities themselves.

Both are tuned by coordinate ascent over a grid (each class's offset in turn, the others fixed, a few
sweeps) and must be tuned on **validation** data, never on the test split. For two classes the rule
is one threshold on the positive score (``score >= t``, scikit-learn's convention in
``TunedThresholdClassifierCV``); :func:`best_binary_threshold` searches every candidate. Lipton et
al. (2014): for calibrated probabilities the F1-optimal threshold is half the optimal F1
(:func:`expected_f1_curve` computes both).

Every macro-F1 here is :func:`macro_f1_batch`: scikit-learn's ``f1_score(average="macro",
labels=range(K), zero_division=0)`` for many prediction vectors at once (checked against it in
``tests/test_decision_rules.py``).
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import check_choice, check_number

__all__ = ["RULES", "best_binary_threshold", "binary_f1_curve", "expected_f1_curve", "macro_f1_batch",
           "apply_rule", "recall_batch", "tune_along", "tune_offsets"]

RULES = {"argmax": "argmax of the scores", "bias": "argmax of log p + b (per-class bias on the logits)",
         "threshold": "argmax of p − t (per-class threshold on the probabilities)"}


def _labels(y, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} has dtype {arr.dtype}; allowed: integer class indices")
    return arr.astype(np.int64)


def _counts(y_true, y_pred, n_classes: int):
    """TP, predicted and true counts per class for each row: three (B, K) arrays."""
    y_true = np.atleast_2d(y_true)
    y_pred = np.atleast_2d(y_pred)
    rows = np.arange(y_pred.shape[0])[:, None] * n_classes
    size = y_pred.shape[0] * n_classes
    hit = (y_true == y_pred)
    yt = np.broadcast_to(y_true, y_pred.shape)
    tp = np.bincount((rows + yt)[hit], minlength=size).reshape(-1, n_classes)
    pred = np.bincount((rows + y_pred).ravel(), minlength=size).reshape(-1, n_classes)
    true = np.bincount((rows + yt).ravel(), minlength=size).reshape(-1, n_classes)
    return tp, pred, true


def macro_f1_batch(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Macro-F1 of each row of ``y_pred`` (shape (B, n) or (n,)) against ``y_true`` ((B, n) or (n,)).

    F1 of class c = 2 TP / (2 TP + FP + FN) = 2 TP / (predicted + true), 0 when the class is neither
    predicted nor present (``zero_division=0``); the mean over all ``n_classes`` classes.
    """
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if n_classes is None:
        n_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    check_number("n_classes", n_classes, low=1, integer=True)
    if y_true.shape[-1] != y_pred.shape[-1]:
        raise ValueError(f"y_true has {y_true.shape[-1]} samples and y_pred {y_pred.shape[-1]}; "
                         "allowed: equal numbers")
    tp, pred, true = _counts(y_true, y_pred, n_classes)
    denom = pred + true
    f1 = np.divide(2.0 * tp, denom, out=np.zeros(denom.shape), where=denom > 0)
    out = f1.mean(axis=1)
    return out if y_pred.ndim > 1 or y_true.ndim > 1 else out[0]


def recall_batch(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Recall per class of each row (shape (B, K), or (K,) for 1-D input); 0 for an absent class."""
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    tp, _, true = _counts(y_true, y_pred, n_classes)
    rec = np.divide(tp, true, out=np.zeros(true.shape), where=true > 0)
    return rec if y_pred.ndim > 1 or y_true.ndim > 1 else rec[0]


def _check_scores(scores) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"scores has shape {s.shape}; allowed: (n_samples, n_classes >= 2)")
    return s


def _rule_scores(probs, rule: str) -> np.ndarray:
    """What the offsets are added to: log p for ``"bias"`` (and ``"argmax"``), p for ``"threshold"``."""
    check_choice("rule", rule, RULES)
    p = _check_scores(probs)
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError("probs are not probabilities (rows >= 0 summing to 1); allowed: softmax outputs")
    return p if rule == "threshold" else np.log(np.clip(p, 1e-300, None))


def apply_rule(probs, rule: str = "argmax", offsets=None) -> np.ndarray:
    """Predicted classes: ``argmax(log p + b)`` (``"bias"``), ``argmax(p − t)`` (``"threshold"``, the
    offsets are the thresholds) or ``argmax p`` (``"argmax"``)."""
    s = _rule_scores(probs, rule)
    if rule == "argmax" or offsets is None:
        return s.argmax(axis=1)
    off = np.asarray(offsets, dtype=np.float64)
    if off.shape != (s.shape[1],):
        raise ValueError(f"offsets has shape {off.shape}; allowed: ({s.shape[1]},), one per class")
    return (s - off if rule == "threshold" else s + off).argmax(axis=1)


def tune_offsets(probs, y, rule: str = "bias", *, grid=None, sweeps: int = 3) -> tuple[np.ndarray, float]:
    """Per-class offsets that maximise macro-F1 of ``apply_rule(probs, rule, offsets)`` on ``(probs, y)``.

    Coordinate ascent from all-zero offsets: for each class in turn, every value of ``grid`` is tried
    with the other offsets fixed and the best kept (a tie keeps the current value); ``sweeps`` passes
    over the classes, or fewer once a pass changes nothing. Default grid: biases −3 … 3 in steps of
    0.1 (log scale), thresholds −0.5 … 0.5 in steps of 0.02. Returns ``(offsets, macro-F1 on (probs, y))``.
    Tune on validation data: on the data you then report, the score is optimistic.
    """
    check_choice("rule", rule, ("bias", "threshold"))
    check_number("sweeps", sweeps, low=1, integer=True)
    s = _rule_scores(probs, rule)
    y = _labels(y, "y")
    if len(y) != len(s):
        raise ValueError(f"y has {len(y)} labels for {len(s)} rows of probs; allowed: one label per row")
    if grid is None:
        grid = np.round(np.arange(-3.0, 3.0001, 0.1), 10) if rule == "bias" else \
            np.round(np.arange(-0.5, 0.5001, 0.02), 10)
    grid = np.asarray(grid, dtype=np.float64)
    sign = -1.0 if rule == "threshold" else 1.0
    n, k = s.shape
    off = np.zeros(k)
    best = float(macro_f1_batch(y, s.argmax(axis=1), k))
    for _ in range(sweeps):
        changed = False
        for c in range(k):
            shifted = s + sign * off
            others = shifted.copy()
            others[:, c] = -np.inf
            other_idx = others.argmax(axis=1)
            other_val = others[np.arange(n), other_idx]
            cand = s[:, c][None, :] + sign * grid[:, None]           # (G, n): class c's score per grid value
            preds = np.where(cand > other_val[None, :], c, other_idx[None, :])
            scores = macro_f1_batch(np.broadcast_to(y, preds.shape), preds, k)
            g = int(np.argmax(scores))
            if scores[g] > best + 1e-12:
                best, off[c], changed = float(scores[g]), grid[g], True
        if not changed:
            break
    return off, best


def tune_along(probs, y, direction, grid) -> tuple[float, float]:
    """The scale τ on ``grid`` that maximises macro-F1 of ``argmax(log p + τ · direction)`` on ``(probs, y)``.

    With ``direction = −log π`` (π the training prior) this is post-hoc logit adjustment with its τ tuned
    (Menon et al. 2021); one number instead of one per class. Ties keep the first (smallest) τ.
    Returns ``(τ, macro-F1)``.
    """
    s = _rule_scores(probs, "bias")
    y = _labels(y, "y")
    d = np.asarray(direction, dtype=np.float64)
    g = np.asarray(grid, dtype=np.float64).ravel()
    if d.shape != (s.shape[1],) or g.size == 0:
        raise ValueError(f"direction has shape {d.shape} and grid {g.shape}; allowed: ({s.shape[1]},) and a "
                         "non-empty grid")
    preds = (s[None, :, :] + g[:, None, None] * d[None, None, :]).argmax(axis=2)
    scores = macro_f1_batch(np.broadcast_to(y, preds.shape), preds, s.shape[1])
    i = int(np.argmax(scores))
    return float(g[i]), float(scores[i])


# ---------------------------------------------------------------------------------------------
# two classes: one threshold
# ---------------------------------------------------------------------------------------------
def binary_f1_curve(scores, y, thresholds) -> np.ndarray:
    """F1 of the positive class for the rule ``score >= t``, for each ``t`` in ``thresholds``."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = _labels(y, "y").ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores has {s.size} values and y {y.size}; allowed: equal")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y has labels other than 0 and 1; allowed: binary labels 0/1")
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp_cum = np.concatenate([[0], np.cumsum(y_sorted)])
    n_pred = np.searchsorted(-s_sorted, -t, side="right")  # number of scores >= t
    tp = tp_cum[n_pred]
    denom = n_pred + y.sum()
    return np.divide(2.0 * tp, denom, out=np.zeros(t.shape), where=denom > 0)


def best_binary_threshold(scores, y, thresholds=None) -> tuple[float, float]:
    """The threshold (rule ``score >= t``) with the highest F1, by trying every candidate.

    Default candidates: every distinct score (each gives a different prediction set). The first of
    tied maxima is returned, as ``TunedThresholdClassifierCV`` does with the same candidates.
    Returns ``(threshold, F1)``.
    """
    t = np.unique(np.asarray(scores, dtype=np.float64)) if thresholds is None else \
        np.asarray(thresholds, dtype=np.float64).ravel()
    if t.size == 0:
        raise ValueError("thresholds is empty; allowed: at least one candidate")
    f1 = binary_f1_curve(scores, y, t)
    i = int(np.argmax(f1))
    return float(t[i]), float(f1[i])


def expected_f1_curve(probs) -> tuple[np.ndarray, np.ndarray]:
    """Expected-count F1 of a **calibrated** classifier for ``p >= t`` at every ``t`` in the sorted ``probs``.

    With calibrated probabilities the expected counts are TP(t) = Σ_{p≥t} p, FP(t) = Σ_{p≥t} (1 − p),
    FN(t) = Σ_{p<t} p. Returns ``(thresholds, F1)``; Lipton et al. (2014): at the best threshold,
    threshold = F1 / 2 (up to the spacing of the ``probs``).
    """
    p = np.sort(np.asarray(probs, dtype=np.float64).ravel())[::-1]
    if p.size == 0 or np.any((p < 0) | (p > 1)):
        raise ValueError("probs must be a non-empty array of probabilities in [0, 1]")
    tp = np.cumsum(p)
    fp = np.cumsum(1.0 - p)
    fn = p.sum() - tp
    return p, 2 * tp / (2 * tp + fp + fn)
