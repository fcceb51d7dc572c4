"""Drawing for the metric explorers: ``plot_x(ax, <data>)`` draws, returns artists; ``update_x`` changes them.

Metric-vs-share curves, threshold sweeps, ROC and precision-recall curves, per-class F1 bars, a
ranked list, bars, and the MAE-vs-MSE outlier panels. Only matplotlib and numpy: the numbers come
from :mod:`course_utils.metrics` and :mod:`course_utils.metric_demos`.

Drawn for the explorers' budget of a few milliseconds a move: what changes on a move is a handful of
lines, markers and collections; numbers that change go to the explorer's readout, not into text
artists (each costs 0.3 ms or more to draw).
"""

from __future__ import annotations

import itertools

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D

from course_utils.i18n import N_, tr
from course_utils.plotting import COLORS

#: How the readouts and legends name the metrics of :data:`course_utils.metrics.BINARY_METRICS` (in English;
#: shown as ``tr(label)``).
METRIC_LABELS = {"accuracy": N_("accuracy"), "balanced_accuracy": N_("balanced accuracy"),
                 "precision": N_("precision"), "recall": N_("recall"), "f1": N_("F1 (positive class)"),
                 "macro_f1": "macro-F1", "roc_auc": "ROC-AUC", "average_precision": N_("average precision")}
_MODEL = COLORS["ce"]
_BASE = COLORS["baseline"]
_ACCENT = COLORS["accent"]
_FAMILY_STYLES = ("--", "-.", ":")  # thin curves of a family, beside the current one drawn solid
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
def plot_metric_vs_share(ax, curves, metrics, index, *, title):
    """Two ``metrics`` (solid, dashed) against the positive share, model and baseline, marked at ``index``.

    ``curves``: :func:`course_utils.metric_demos.class_ratio_curves`. The share axis is logarithmic
    (and labelled so) with 50 % on the left, like the slider. Returns the marker artists
    ``{"line", "points"}``.
    """
    pct = 100 * curves["share"]
    for who, color, name in (("model", _MODEL, tr("model")), ("baseline", _BASE, tr("always-negative"))):
        for metric, style in zip(metrics, ("-", "--")):
            ax.plot(pct, curves[who][metric], style, color=color,
                    label=f"{name}: {tr(METRIC_LABELS[metric])}")
    ax.set_xscale("log")
    ax.set_xlim(pct.max() * 1.15, pct.min() / 1.15)
    ax.set_ylim(-0.04, 1.04)
    ticks = [50, 20, 10, 5, 2, 1, 0.5]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel(tr("positive share (%, log scale)"))
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
    return fig.legend(handles, [tr("model (fixed scores, threshold {threshold:g})", threshold=threshold),
                                tr("always-negative baseline")],
                      loc="upper center", ncol=2, frameon=False, bbox_to_anchor=anchor)


def plot_threshold_sweep(ax, sweep, at):
    """Precision, recall and F1 against the threshold; a dotted line and markers at the row ``at``.

    ``sweep``: :func:`course_utils.metric_demos.threshold_sweep`; ``at``: one row of it
    (:func:`~course_utils.metric_demos.row_at`). Returns ``{"lines", "threshold", "points"}``: the
    curves change only with the data (:func:`update_threshold_sweep`), the line and the markers
    with the threshold (:func:`update_threshold_marker`).
    """
    lines = {k: ax.plot([], [], color=color, ls=ls, label=tr(METRIC_LABELS[k]))[0]
             for k, color, ls in (("precision", COLORS["focal"], "--"), ("recall", COLORS["smooth"], "-."),
                                  ("f1", _MODEL, "-"))}
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.04, 1.04), xlabel=tr("threshold (predict 1 if score >= t)"))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 0.99), ncol=3, frameon=False, fontsize="small",
              handlelength=1.2, columnspacing=1.0)
    artists = {"lines": lines, "threshold": ax.axvline(at["threshold"], color=_ACCENT, lw=2, ls=":"),
               "points": _marker(ax, size=7)}
    update_threshold_sweep(artists, sweep)
    update_threshold_marker(artists, at)
    return artists


def update_threshold_sweep(artists, sweep) -> None:
    """Show the curves of ``sweep`` in the artists of :func:`plot_threshold_sweep`."""
    for k, line in artists["lines"].items():
        line.set_data(sweep["threshold"], sweep[k])


def update_threshold_marker(artists, at) -> None:
    """Move the threshold line and the markers of :func:`plot_threshold_sweep` to the row ``at``.

    An undefined precision (nan: nothing predicted positive) has no marker.
    """
    t = at["threshold"]
    artists["threshold"].set_xdata([t, t])
    artists["points"].set_data([t] * 3, [at[k] for k in artists["lines"]])


def plot_roc(ax, curves, point=None, *, marker=True, title=None, label=None, lw=None):
    """The ROC curve of ``curves`` (:func:`course_utils.metrics.roc_pr_curves`) over the chance diagonal.

    ``point``: where the marker sits, ``(fpr, tpr)`` (None: hidden); ``marker=False``: no marker.
    ``title`` and ``label`` default to "ROC curve" and "model" (in the course's language).
    Returns ``{"curve"}`` (+ ``"point"``).
    """
    title = tr("ROC curve") if title is None else title
    label = tr("model") if label is None else label
    ax.plot([0, 1], [0, 1], ":", color=_BASE, lw=1.2, label=tr("chance (AUC 0.5)"))
    artists = {"curve": ax.plot(curves["fpr"], curves["tpr"], color=_MODEL, label=label, lw=lw)[0]}
    if marker:
        artists["point"] = _marker(ax)
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel=tr("false positive rate"),
           ylabel=tr("true positive rate"), title=title)
    ax.set_aspect("equal", adjustable="box")
    update_roc(artists, curves, point)
    return artists


def update_roc(artists, curves, point=None) -> None:
    """Show ``curves`` in the artists of :func:`plot_roc`; move its marker to ``point`` (None hides it)."""
    artists["curve"].set_data(curves["fpr"], curves["tpr"])
    if "point" in artists:
        _set_point(artists["point"], point)


def plot_pr(ax, curves, point=None, *, marker=True, title=None, label=None, lw=None):
    """The precision-recall curve of ``curves`` and the chance level (the positive share).

    ``point``: where the marker sits, ``(recall, precision)`` (None: hidden); ``marker=False``: no
    marker. ``title`` and ``label`` default to "precision-recall curve" and "model" (in the course's
    language). Returns ``{"curve", "chance"}`` (+ ``"point"``).
    """
    title = tr("precision-recall curve") if title is None else title
    label = tr("model") if label is None else label
    artists = {"curve": ax.plot(curves["recall"], curves["precision"], color=_MODEL, label=label, lw=lw)[0],
               "chance": ax.plot([], [], ":", color=_BASE, lw=lw or 1.5, label=tr("chance = share"))[0]}
    if marker:
        artists["point"] = _marker(ax)
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel=tr("recall"), ylabel=tr("precision"), title=title)
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
    """Thin ROC and PR curves of each entry of ``family`` (``{factor: roc_pr_curves(...)}``) to compare,
    each in its own line style too."""
    for (factor, c), ls in zip(family.items(), itertools.cycle(_FAMILY_STYLES)):
        ax_roc.plot(c["fpr"], c["tpr"], color=colors[factor], lw=1.2, ls=ls, alpha=0.7,
                    label=f"x{factor}: AUC {c['roc_auc']:.3f}")
        ax_pr.plot(c["recall"], c["precision"], color=colors[factor], lw=1.2, ls=ls, alpha=0.7,
                   label=f"x{factor}: AP {c['average_precision']:.3f}")


def plot_per_class_f1(ax, f1, support, *, title=None):
    """Bars of per-class F1, each class's sample count under its tick label; returns the bars.
    ``title`` defaults to "per-class F1" (in the course's language)."""
    title = tr("per-class F1") if title is None else title
    f1 = np.asarray(f1, dtype=float)
    classes = np.arange(f1.size)
    bars = ax.bar(classes, f1, color=[_ACCENT if c == int(np.argmax(support)) else _MODEL for c in classes])
    ax.set(ylim=(0, 1.1), xlabel=tr("class (below it: its number of samples)"), ylabel="F1", title=title)
    ax.set_xticks(classes, [f"{c}\n{int(n)}" for c, n in zip(classes, support)])
    ax.tick_params(axis="x", labelsize="x-small")
    return bars


# ---------------------------------------------------------------------------------------------
# Bars (a query's metrics)
# ---------------------------------------------------------------------------------------------
def plot_value_bars(ax, names, values, colors, *, title=""):
    """Bars of ``values`` in [0, 1] (the values themselves belong in the readout); returns ``{"bars"}``."""
    bars = ax.bar(list(names), list(values), color=list(colors))
    ax.set(ylim=(0, 1.05), title=title)
    artists = {"bars": list(bars)}
    update_value_bars(artists, values)
    return artists


def update_value_bars(artists, values) -> None:
    """Set the heights of the bars made by :func:`plot_value_bars`."""
    for bar, value in zip(artists["bars"], values):
        bar.set_height(value)


# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------
_BOX_W, _BOX_H = 0.84, 0.9
_OUTSIDE_ALPHA = 0.3  # items below the cut-off k


def plot_ranked_list(ax, relevance, k):
    """A ranked list as a row of boxes (rank 1 on the left), shaded by relevance, and the cut-off ``k``.

    One collection for the boxes, one marker line per relevance level for the digits in them, one
    dashed line for the cut-off: a move redraws six artists whatever the list's length. Items
    below the cut-off are faded. The per-rank terms of AP@k and DCG@k belong in the readout.
    Returns the artists for :func:`update_ranked_list`.
    """
    n_items = len(relevance)
    ranks = np.arange(1, n_items + 1)
    ax.set(xlim=(0.4, n_items + 0.6), ylim=(-0.15, 1.35))
    ax.axis("off")
    for r in ranks:
        ax.text(r, 1.0, f"#{r}", ha="center", va="bottom", fontsize="small")
    boxes = PolyCollection([[(r - _BOX_W / 2, 0), (r + _BOX_W / 2, 0), (r + _BOX_W / 2, _BOX_H),
                             (r - _BOX_W / 2, _BOX_H)] for r in ranks], linewidths=1.2)
    ax.add_collection(boxes, autolim=False)
    digits = [ax.plot([], [], ls="none", marker=f"${level}$", ms=13, color="black", mew=0)[0]
              for level in range(len(_SHADES))]
    artists = {"boxes": boxes, "digits": digits, "cut": ax.axvline(k + 0.5, color=_ACCENT, lw=2.5, ls="--")}
    update_ranked_list(artists, relevance, k)
    return artists


def update_ranked_list(artists, relevance, k) -> None:
    """Show ``relevance`` and the cut-off ``k`` in the artists of :func:`plot_ranked_list`."""
    levels = np.minimum(np.asarray(relevance, dtype=int), len(_SHADES) - 1)
    alpha = np.where(np.arange(levels.size) < k, 1.0, _OUTSIDE_ALPHA)
    artists["boxes"].set_facecolors([to_rgba(_SHADES[v], a) for v, a in zip(levels, alpha)])
    artists["boxes"].set_edgecolors([to_rgba("black", a) for a in alpha])
    for level, line in enumerate(artists["digits"]):
        at = np.flatnonzero(levels == level)
        line.set_data(at + 1, np.full(at.size, _BOX_H / 2))
    artists["cut"].set_xdata([k + 0.5, k + 0.5])


# ---------------------------------------------------------------------------------------------
# Regression: one outlier
# ---------------------------------------------------------------------------------------------
def plot_outlier_data(ax, x, y_true, y_pred, outlier, *, max_outlier):
    """The targets, the prediction line and the last target moved up by ``outlier``; returns its artists."""
    ax.plot(x, y_pred, color=_MODEL, label=tr("prediction"))
    ax.plot(x[:-1], y_true[:-1], "o", color="black", ms=5, label=tr("targets"))
    artists = {"point": ax.plot([], [], "o", color=COLORS["focal"], ms=9, label=tr("outlier"))[0],
               "residual": ax.plot([], [], "-", color=COLORS["focal"], lw=1.5)[0]}
    ax.set(ylim=(y_true.min() - 1, y_pred[-1] + max_outlier + 2), xlabel="x", ylabel="y",
           title=tr("data: one target moved up"))
    ax.legend(loc="upper left", fontsize="small")
    update_outlier_data(artists, x, y_true, y_pred, outlier)
    return artists


def update_outlier_data(artists, x, y_true, y_pred, outlier) -> None:
    """Move the outlier of :func:`plot_outlier_data` to ``y_true[-1] + outlier`` with its residual."""
    moved = y_true[-1] + outlier
    artists["point"].set_data([x[-1]], [moved])
    artists["residual"].set_data([x[-1], x[-1]], [moved, y_pred[-1]])


def plot_outlier_curves(ax, curves, at):
    """MAE (left axis, units of y) and MSE (right axis, units of y²) against the outlier's size.

    Each on its own axis, so that their shapes compare: MAE a straight line, MSE a parabola.
    ``curves``: :func:`course_utils.metric_demos.outlier_metric_curves` over a grid; ``at``: one row
    of it (the current outlier). Returns ``{"mae", "mse"}``, the two markers.
    """
    mse_color = COLORS["focal"]
    line_mae = ax.plot(curves["outlier"], curves["mae"], color=_MODEL, label=tr("MAE (left axis)"))[0]
    ax.set_xlabel(tr("outlier size"))
    ax.set_ylabel(tr("MAE (units of y)"), color=_MODEL)
    twin = ax.twinx()
    line_mse = twin.plot(curves["outlier"], curves["mse"], "--", color=mse_color,
                         label=tr("MSE (right axis)"))[0]
    twin.set_ylabel(tr("MSE (units of y²)"), color=mse_color)
    twin.spines["right"].set_visible(True)
    twin.grid(False)
    for axis, top in ((ax, curves["mae"].max()), (twin, curves["mse"].max())):
        axis.set_ylim(0, 1.08 * top)
    ax.legend([line_mae, line_mse], [line_mae.get_label(), line_mse.get_label()], loc="upper left",
              fontsize="small")
    ax.set_title(tr("MAE: a line, MSE: a parabola"))
    marks = {"mae": _marker(ax, size=9), "mse": _marker(twin, size=9)}
    update_outlier_curves(marks, at)
    return marks


def update_outlier_curves(marks, at) -> None:
    """Move the markers of :func:`plot_outlier_curves` to ``at`` (a row: ``outlier``, ``mae``, ``mse``)."""
    _set_point(marks["mae"], (at["outlier"], at["mae"]))
    _set_point(marks["mse"], (at["outlier"], at["mse"]))


def plot_outlier_shares(ax, curves, at):
    """The outlier's share of the sum of |r| (MAE) and of r² (MSE) against its size, in %.

    Both climb toward 100 % (the one big term takes over its sum); the squared one much sooner.
    Returns the markers (one line, two points) for :func:`update_outlier_shares`.
    """
    ax.plot(curves["outlier"], curves["mae_share"], color=_MODEL, label=tr("of the MAE sum"))
    ax.plot(curves["outlier"], curves["mse_share"], "--", color=COLORS["focal"], label=tr("of the MSE sum"))
    ax.axhline(1.0, color=_BASE, lw=1, ls=":")
    ax.set(ylim=(0, 1.08), xlabel=tr("outlier size"), title=tr("the outlier's share"))
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1], ["0", "25 %", "50 %", "75 %", "100 %"])
    ax.legend(loc="lower right", fontsize="small")
    marks = _marker(ax, size=9)
    update_outlier_shares(marks, at)
    return marks


def update_outlier_shares(marks, at) -> None:
    """Move the markers of :func:`plot_outlier_shares` to ``at`` (a row with the two shares)."""
    marks.set_data([at["outlier"]] * 2, [at["mae_share"], at["mse_share"]])
