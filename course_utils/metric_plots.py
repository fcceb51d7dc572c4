"""Drawing for the metric explorers: ``plot_x(ax, <data>)`` draws, returns artists; ``update_x`` changes them.

Confusion matrices, metric-vs-share curves, threshold sweeps, ROC and precision-recall curves,
per-class F1 bars, a ranked list with its per-rank terms, bars with their values, and the MAE-vs-MSE
outlier panels. Only matplotlib and numpy: the numbers come from :mod:`course_utils.metrics` and
:mod:`course_utils.metric_demos`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from course_utils.plotting import COLORS

#: How the readouts and legends name the metrics of :data:`course_utils.metrics.BINARY_METRICS`.
METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "precision": "precision",
                 "recall": "recall", "f1": "F1 (positive class)", "macro_f1": "macro-F1",
                 "roc_auc": "ROC-AUC", "average_precision": "average precision"}
_MODEL = COLORS["ce"]
_BASE = COLORS["baseline"]
_ACCENT = COLORS["accent"]
_SHADES = ("#eeeeee", "#c7e9c0", "#74c476", "#238b45")  # relevance 0..3 of a ranked item


def _marker(ax, *, size=10):
    """The course's current-value marker (orange, black edge), placed by an ``update_*``."""
    return ax.plot([], [], "o", color=_ACCENT, ms=size, mec="black", zorder=5)[0]


def _set_point(line, point) -> None:
    """Put ``line`` (a marker) at ``point`` ``(x, y)``, or hide it when ``point`` is None."""
    line.set_data(*(([], []) if point is None else ([point[0]], [point[1]])))


# ---------------------------------------------------------------------------------------------
# Binary classification
# ---------------------------------------------------------------------------------------------
def plot_binary_confusion(ax, tn, fp, fn, tp, title, *, note=""):
    """A 2x2 confusion matrix with its counts (rows: true label, columns: predicted); returns the count texts.

    Correct cells (TN, TP) are tinted blue, errors (FP, FN) orange; ``note`` is written under it.
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
    if note:
        ax.text(0.5, -0.2, note, transform=ax.transAxes, ha="center", va="top", fontsize="small",
                color="#a00000")
    texts = [ax.text(j, i + 0.1, "", ha="center", va="center", fontsize="large", fontweight="bold")
             for i in range(2) for j in range(2)]
    update_binary_confusion(texts, tn, fp, fn, tp)
    return texts


def update_binary_confusion(texts, tn, fp, fn, tp) -> None:
    """Write the counts into the texts returned by :func:`plot_binary_confusion`."""
    for text, count in zip(texts, (tn, fp, fn, tp)):
        text.set_text(str(int(count)))


def plot_metric_vs_share(ax, curves, metrics, index, *, title):
    """Two ``metrics`` (solid, dashed) against the positive share, model and baseline, marked at ``index``.

    ``curves``: :func:`course_utils.metric_demos.class_ratio_curves`. The share axis is logarithmic
    with 50 % on the left, like the slider. Returns the marker artists ``{"line", "points"}``.
    """
    pct = 100 * curves["share"]
    for who, color, name in (("model", _MODEL, "model"), ("baseline", _BASE, "always-negative")):
        for metric, style in zip(metrics, ("-", "--")):
            ax.plot(pct, curves[who][metric], style, color=color, label=f"{name}: {METRIC_LABELS[metric]}")
    ax.set_xscale("log")
    ax.set_xlim(pct.max() * 1.15, pct.min() / 1.15)
    ax.set_ylim(-0.04, 1.04)
    ticks = [50, 20, 10, 5, 2, 1, 0.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("positive share (%)")
    ax.set_title(title)
    artists = {"line": ax.axvline(pct.max(), color=_ACCENT, lw=1.5, ls=":"), "points": _marker(ax, size=8)}
    update_metric_vs_share(artists, curves, metrics, index)
    return artists


def update_metric_vs_share(artists, curves, metrics, index) -> None:
    """Move the markers of :func:`plot_metric_vs_share` to the share at ``index``."""
    pct = 100 * curves["share"][index]
    artists["line"].set_xdata([pct, pct])
    values = [curves[who][metric][index] for who in ("model", "baseline") for metric in metrics]
    artists["points"].set_data([pct] * len(values), values)


def plot_model_baseline_legend(fig, threshold, *, anchor=(0.36, 1.0)):
    """A figure legend: the model's colour (scores >= ``threshold``) and the always-negative baseline's."""
    handles = [Line2D([], [], color=_MODEL, lw=3), Line2D([], [], color=_BASE, lw=3)]
    return fig.legend(handles, [f"model (fixed scores, threshold {threshold:g})", "always-negative baseline"],
                      loc="upper center", ncol=2, frameon=False, bbox_to_anchor=anchor)


def plot_threshold_sweep(ax, sweep, threshold):
    """Precision, recall and F1 against the threshold, a dotted line at ``threshold``; returns the artists.

    ``sweep``: :func:`course_utils.metric_demos.threshold_sweep`.
    """
    lines = {k: ax.plot([], [], color=color, label=METRIC_LABELS[k])[0]
             for k, color in (("precision", COLORS["focal"]), ("recall", COLORS["smooth"]), ("f1", _MODEL))}
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.04, 1.04), xlabel="threshold (predict 1 if score >= t)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 0.99), ncol=3, frameon=False, fontsize="small",
              handlelength=1.2, columnspacing=1.0)
    artists = {"lines": lines, "threshold": ax.axvline(threshold, color=_ACCENT, lw=2, ls=":")}
    update_threshold_sweep(artists, sweep, threshold)
    return artists


def update_threshold_sweep(artists, sweep, threshold) -> None:
    """Redraw the curves of :func:`plot_threshold_sweep` for ``sweep`` and move the threshold line."""
    for k, line in artists["lines"].items():
        line.set_data(sweep["threshold"], sweep[k])
    artists["threshold"].set_xdata([threshold, threshold])


def plot_roc(ax, curves, point=None, *, marker=True, title="ROC curve", label="model", lw=None):
    """The ROC curve of ``curves`` (:func:`course_utils.metrics.roc_pr_curves`) over the chance diagonal.

    ``point``: where the marker sits, ``(fpr, tpr)`` (None: hidden); ``marker=False``: no marker.
    Returns ``{"curve"}`` (+ ``"point"``).
    """
    ax.plot([0, 1], [0, 1], ":", color=_BASE, lw=1.2, label="chance (AUC 0.5)")
    artists = {"curve": ax.plot(curves["fpr"], curves["tpr"], color=_MODEL, label=label, lw=lw)[0]}
    if marker:
        artists["point"] = _marker(ax)
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="false positive rate", ylabel="true positive rate",
           title=title)
    ax.set_aspect("equal", adjustable="box")
    update_roc(artists, curves, point)
    return artists


def update_roc(artists, curves, point=None) -> None:
    """Show ``curves`` in the artists of :func:`plot_roc`; move its marker to ``point`` (None hides it)."""
    artists["curve"].set_data(curves["fpr"], curves["tpr"])
    if "point" in artists:
        _set_point(artists["point"], point)


def plot_pr(ax, curves, point=None, *, marker=True, title="precision-recall curve", label="model", lw=None):
    """The precision-recall curve of ``curves`` and the chance level (the positive share).

    ``point``: where the marker sits, ``(recall, precision)`` (None: hidden); ``marker=False``: no
    marker. Returns ``{"curve", "chance"}`` (+ ``"point"``).
    """
    artists = {"curve": ax.plot(curves["recall"], curves["precision"], color=_MODEL, label=label, lw=lw)[0],
               "chance": ax.plot([], [], ":", color=_BASE, lw=lw or 1.5, label="chance = share")[0]}
    if marker:
        artists["point"] = _marker(ax)
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="recall", ylabel="precision", title=title)
    ax.set_aspect("equal", adjustable="box")
    update_pr(artists, curves, point)
    return artists


def update_pr(artists, curves, point=None) -> None:
    """Show ``curves`` in the artists of :func:`plot_pr`; move its marker to ``point`` (None hides it)."""
    artists["curve"].set_data(curves["recall"], curves["precision"])
    share = curves["positive_share"]
    artists["chance"].set_data([0, 1], [share, share])
    if "point" in artists:
        _set_point(artists["point"], point)


def plot_roc_pr_family(ax_roc, ax_pr, family: dict, colors: dict):
    """Thin ROC and PR curves of each entry of ``family`` (``{factor: roc_pr_curves(...)}``) to compare."""
    for factor, c in family.items():
        ax_roc.plot(c["fpr"], c["tpr"], color=colors[factor], lw=1, alpha=0.6,
                    label=f"x{factor}: AUC {c['roc_auc']:.3f}")
        ax_pr.plot(c["recall"], c["precision"], color=colors[factor], lw=1, alpha=0.6,
                   label=f"x{factor}: AP {c['average_precision']:.3f}")


def plot_per_class_f1(ax, f1, support, *, title="per-class F1"):
    """Bars of per-class F1, each class's sample count under its tick label; returns the bars."""
    f1 = np.asarray(f1, dtype=float)
    classes = np.arange(f1.size)
    bars = ax.bar(classes, f1, color=[_ACCENT if c == int(np.argmax(support)) else _MODEL for c in classes])
    ax.set(ylim=(0, 1.1), xlabel="class (below it: its number of samples)", ylabel="F1", title=title)
    ax.set_xticks(classes, [f"{c}\n{int(n)}" for c, n in zip(classes, support)])
    ax.tick_params(axis="x", labelsize="x-small")
    return bars


# ---------------------------------------------------------------------------------------------
# Bars with their values (the outlier's share, a query's metrics)
# ---------------------------------------------------------------------------------------------
def plot_value_bars(ax, names, values, colors, *, percent=False, title=""):
    """Bars of ``values`` (in [0, 1]) with each value written above its bar; returns ``{"bars", "texts"}``.

    ``percent``: values and the y axis read as percentages.
    """
    bars = ax.bar(list(names), list(values), color=list(colors))
    texts = [ax.text(i, 0, "", ha="center", va="bottom", fontsize="large") for i in range(len(bars))]
    ax.set(ylim=(0, 1.18 if not percent else 1.15), title=title)
    if percent:
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1], ["0", "25 %", "50 %", "75 %", "100 %"])
    artists = {"bars": list(bars), "texts": texts, "percent": percent}
    update_value_bars(artists, values)
    return artists


def update_value_bars(artists, values) -> None:
    """Set the heights and labels of the bars made by :func:`plot_value_bars`."""
    for bar, text, value in zip(artists["bars"], artists["texts"], values):
        bar.set_height(value)
        text.set_position((bar.get_x() + bar.get_width() / 2, value + 0.02))
        text.set_text(f"{100 * value:.1f} %" if artists["percent"] else f"{value:.3f}")


# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------
def plot_ranked_list(ax, relevance, k, breakdown):
    """A ranked list as a row of boxes (rank 1 on the left) with its per-rank terms and the cut-off ``k``.

    ``breakdown``: :func:`course_utils.metric_demos.ranking_breakdown` of ``relevance`` and ``k``.
    Rows: the relevance (box shade), precision@r and gain / log2(r + 1) of the hits inside the top
    k (the terms of AP@k and DCG@k). Returns the artists for :func:`update_ranked_list`.
    """
    n_items = len(relevance)
    ranks = range(1, n_items + 1)
    ax.set(xlim=(0.4, n_items + 0.6), ylim=(-3.3, 1.2))
    ax.axis("off")
    for r in ranks:
        ax.text(r, 1.0, f"#{r}", ha="center", va="bottom", fontsize="small")
    for y, name in zip((0.45, -1.0, -2.3), ("relevance", "precision@r", "gain / log2(r+1)")):
        ax.text(0.38, y, name, ha="right", va="center", fontsize="small")
    artists = {
        "boxes": [ax.add_patch(Rectangle((r - 0.42, 0.0), 0.84, 0.9, ec="black", lw=1.2)) for r in ranks],
        "rel": [ax.text(r, 0.45, "", ha="center", va="center", fontsize="large", fontweight="bold")
                for r in ranks],
        "prec": [ax.text(r, -1.0, "", ha="center", va="center", fontsize="small") for r in ranks],
        "gain": [ax.text(r, -2.3, "", ha="center", va="center", fontsize="small") for r in ranks],
        "cut": ax.axvline(k + 0.5, color=_ACCENT, lw=2.5, ls="--"),
        "cut_label": ax.text(k + 0.58, -3.25, "", color=_ACCENT, ha="left", va="bottom", fontsize="small"),
    }
    update_ranked_list(artists, relevance, k, breakdown)
    return artists


def update_ranked_list(artists, relevance, k, breakdown) -> None:
    """Show ``relevance``, the cut-off ``k`` and the terms of ``breakdown`` (see :func:`plot_ranked_list`)."""
    for r, rel in enumerate(relevance):
        inside = r < k
        box = artists["boxes"][r]
        box.set_facecolor(_SHADES[min(int(rel), len(_SHADES) - 1)])
        box.set_alpha(1.0 if inside else 0.35)
        artists["rel"][r].set_text(f"{int(rel)}")
        shown = rel > 0 and inside  # only the terms that enter AP@k and DCG@k
        artists["prec"][r].set_text(f"{breakdown['hits'][r]}/{r + 1}" if shown else "")
        artists["gain"][r].set_text(f"{breakdown['gains'][r]:.2f}" if shown else "")
    artists["cut"].set_xdata([k + 0.5, k + 0.5])
    artists["cut_label"].set_position((k + 0.58, -3.25))
    artists["cut_label"].set_text(f"k = {k}")


# ---------------------------------------------------------------------------------------------
# Regression: one outlier
# ---------------------------------------------------------------------------------------------
def plot_outlier_data(ax, x, y_true, y_pred, outlier, *, max_outlier):
    """The targets, the prediction line and the last target moved up by ``outlier``; returns its artists."""
    ax.plot(x, y_pred, color=_MODEL, label="prediction")
    ax.plot(x[:-1], y_true[:-1], "o", color="black", ms=5, label="targets")
    artists = {"point": ax.plot([], [], "o", color=COLORS["focal"], ms=9, label="outlier")[0],
               "residual": ax.plot([], [], "-", color=COLORS["focal"], lw=1.5)[0]}
    ax.set(ylim=(y_true.min() - 1, y_pred[-1] + max_outlier + 2), xlabel="x", ylabel="y",
           title="data: one target moved up")
    ax.legend(loc="upper left", fontsize="small")
    update_outlier_data(artists, x, y_true, y_pred, outlier)
    return artists


def update_outlier_data(artists, x, y_true, y_pred, outlier) -> None:
    """Move the outlier of :func:`plot_outlier_data` to ``y_true[-1] + outlier`` with its residual."""
    moved = y_true[-1] + outlier
    artists["point"].set_data([x[-1]], [moved])
    artists["residual"].set_data([x[-1], x[-1]], [moved, y_pred[-1]])


def plot_outlier_curves(ax, curves, at):
    """MAE and RMSE against the outlier's size (``curves``: ``outlier_metric_curves`` over a grid).

    ``at``: one row of ``curves`` (the current outlier); returns its markers.
    """
    ax.plot(curves["outlier"], curves["mae"], color=_MODEL, label="MAE")
    ax.plot(curves["outlier"], curves["rmse"], color=COLORS["focal"], label="RMSE = sqrt(MSE)")
    marks = _marker(ax, size=9)
    ax.set(xlabel="outlier size", ylabel="metric (units of y)", title="MAE vs RMSE")
    ax.legend(loc="upper left", fontsize="small")
    update_outlier_curves(marks, at)
    return marks


def update_outlier_curves(marks, at) -> None:
    """Move the markers of :func:`plot_outlier_curves` to ``at`` (a row: ``outlier``, ``mae``, ``rmse``)."""
    marks.set_data([at["outlier"]] * 2, [at["mae"], at["rmse"]])
