"""The metric-pitfalls notebook's explorers: class ratio, threshold, ROC vs PR, an outlier, a ranked list.

Each computes its sweeps once in ``__init__`` (:mod:`course_utils.metric_demos`); a move looks up
or calls a cached compute function, then the ``update_*`` functions of
:mod:`course_utils.metric_plots`, then writes the readout table.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import check_choice, check_number
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.metric_demos import (
    SHARE_GRID,
    class_ratio_curves,
    outlier_metric_curves,
    outlier_regression_data,
    ranking_breakdown,
    row_at,
    threshold_sweep,
)
from course_utils.metric_plots import (
    METRIC_LABELS,
    plot_binary_confusion,
    plot_metric_vs_share,
    plot_model_baseline_legend,
    plot_outlier_curves,
    plot_outlier_data,
    plot_pr,
    plot_ranked_list,
    plot_roc,
    plot_roc_pr_family,
    plot_threshold_sweep,
    plot_value_bars,
    update_binary_confusion,
    update_metric_vs_share,
    update_outlier_curves,
    update_outlier_data,
    update_pr,
    update_ranked_list,
    update_roc,
    update_threshold_sweep,
    update_value_bars,
)
from course_utils.metrics import BINARY_METRICS, class_ratio_data, multiply_negatives, roc_pr_curves
from course_utils.plotting import COLORS, new_figure, show_message

UNDEFINED_NOTE = ("<i>undefined</i> = 0/0: nothing was predicted positive, so precision = TP/(TP+FP) has no "
                  "value. scikit-learn returns <code>zero_division</code> instead (default <code>'warn'"
                  "</code>: 0.0 plus an UndefinedMetricWarning; or 0.0, 1.0, <code>np.nan</code>). "
                  "F1 = 2TP/(2TP+FP+FN) is still defined: 0.")
_COUNTS = ("tn", "fp", "fn", "tp")


def _fmt(value, digits=3) -> str:
    """A metric for display: 'undefined' for nan."""
    return "undefined" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def _counts(table, i=None) -> tuple:
    """The confusion counts ``tn, fp, fn, tp`` of a row (or of index ``i`` of a table of arrays)."""
    return tuple(table[k] if i is None else table[k][i] for k in _COUNTS)


class ClassRatioExplorer(PlotWidget):
    """Positive share 50 % -> 0.5 %: accuracy vs F1 (and balanced accuracy, macro-F1), model vs baseline.

    Every number is computed once over :data:`~course_utils.metric_demos.SHARE_GRID`
    (:func:`~course_utils.metric_demos.class_ratio_curves`); a move of the slider only looks them
    up and moves the markers and the confusion counts.
    """

    PANELS = (("accuracy", "f1"), ("balanced_accuracy", "macro_f1"))

    def __init__(self, *, n_samples=2000, separation=2.5, threshold=0.5, seed=0, start=0.1):
        check_number("start", start, low=0, high=1)
        self.curves = c = class_ratio_curves(SHARE_GRID, n_samples=n_samples, separation=separation,
                                             threshold=threshold, seed=seed)
        i = int(np.argmin(np.abs(np.array(SHARE_GRID) - start)))
        fig, axes = new_figure((11.5, 4.3), ncols=4, gridspec_kw={"width_ratios": [1.3, 1.3, 0.62, 0.62]})
        fig.subplots_adjust(left=0.04, right=0.99, bottom=0.13, top=0.8, wspace=0.32)
        titles = ("accuracy (\u2014) vs F1 (- -)", "balanced acc. (\u2014), macro-F1 (- -)")
        self.panels = [plot_metric_vs_share(ax, c, metrics, i, title=title)
                       for ax, metrics, title in zip(axes, self.PANELS, titles)]
        plot_model_baseline_legend(fig, threshold)
        base = c["baseline"]
        never_positive = bool(np.all(base["tp"] + base["fp"] == 0))  # precision 0/0 at every share
        self.cm_model = plot_binary_confusion(axes[2], *_counts(c["model"], i),
                                              f"model\n(score >= {threshold:g})")
        self.cm_base = plot_binary_confusion(axes[3], *_counts(base, i), "always-negative",
                                             note="precision = 0/0:\nundefined" if never_positive else "")
        dynamic = [a for p in self.panels for a in p.values()] + self.cm_model + self.cm_base
        options = [(f"{100 * s:g} %", j) for j, s in enumerate(SHARE_GRID)]
        controls = {"share": C.selection_slider("positive share", options, i, width="wide")}
        super().__init__(fig, controls, dynamic=dynamic)
        self.refresh()

    def update(self, share):
        i = int(share)
        c = self.curves
        for artists, metrics in zip(self.panels, self.PANELS):
            update_metric_vs_share(artists, c, metrics, i)
        update_binary_confusion(self.cm_model, *_counts(c["model"], i))
        update_binary_confusion(self.cm_base, *_counts(c["baseline"], i))
        self.readout.value = self._readout(i)

    def _readout(self, i) -> str:
        m, b = self.curves["model"], self.curves["baseline"]
        rows = [[METRIC_LABELS[k], _fmt(m[k][i]), _fmt(b[k][i])] for k in BINARY_METRICS]
        n_pos = int(self.curves["n_positive"][i])
        n_all = n_pos + int(m["tn"][i] + m["fp"][i])
        pct = 100 * self.curves["share"][i]
        return C.html_table([f"{pct:g} % positive ({n_pos} of {n_all})", "model", "always-negative"], rows,
                            note=UNDEFINED_NOTE)


class ThresholdExplorer(PlotWidget):
    """Decision threshold -> confusion matrix, precision/recall/F1 and the point on the ROC and PR curves.

    The curves of each share (scikit-learn's ``roc_curve`` and ``precision_recall_curve``) and the
    confusion counts at every threshold of the slider are computed once; a move looks them up.
    """

    SHARES = (("50 %", 0.5), ("10 %", 0.1), ("1 %", 0.01))
    STEP = 0.01

    def __init__(self, *, n_samples=2000, separation=2.5, seed=0, share=0.1, threshold=0.5):
        check_choice("share", share, [s for _, s in self.SHARES])
        check_number("threshold", threshold, low=0, high=1)
        grid = np.round(np.arange(0, 1 + self.STEP / 2, self.STEP), 2)  # the slider's positions
        self.data, self.curves, self.sweeps = {}, {}, {}
        for _, s in self.SHARES:
            y, score = class_ratio_data(s, n_samples=n_samples, separation=separation, seed=seed)
            self.data[s] = y, score
            self.curves[s] = roc_pr_curves(y, score)
            self.sweeps[s] = threshold_sweep(y, score, grid)
        at = row_at(self.sweeps[share], "threshold", threshold)
        fig, axes = new_figure((11.5, 4.0), ncols=4, gridspec_kw={"width_ratios": [0.62, 1.25, 1, 1]})
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.15, top=0.88, wspace=0.35)
        self.cm = plot_binary_confusion(axes[0], *_counts(at), "confusion matrix")
        self.sweep = plot_threshold_sweep(axes[1], self.sweeps[share], threshold)
        self.roc = plot_roc(axes[2], self.curves[share], self._points(at)[0])
        self.pr = plot_pr(axes[3], self.curves[share], self._points(at)[1])
        axes[3].legend(loc="center left", fontsize="small")
        self.msg = show_message(axes[3], "")
        dynamic = [*self.sweep["lines"].values(), self.sweep["threshold"], *self.roc.values(),
                   *self.pr.values(), self.msg, *self.cm]
        controls = {"threshold": C.slider("threshold", threshold, 0.0, 1.0, self.STEP, width="wide"),
                    "share": C.choice_buttons("positive share", self.SHARES, share)}
        super().__init__(fig, controls, dynamic=dynamic)
        self.refresh()

    @staticmethod
    def _points(at) -> tuple:
        """The ROC point and the PR point (None when precision is 0/0) of one row of a threshold sweep."""
        pr = None if np.isnan(at["precision"]) else (at["recall"], at["precision"])
        return (at["fpr"], at["recall"]), pr

    def update(self, threshold, share):
        sweep, curves = self.sweeps[share], self.curves[share]
        at = row_at(sweep, "threshold", threshold)
        roc_point, pr_point = self._points(at)
        update_threshold_sweep(self.sweep, sweep, threshold)
        update_roc(self.roc, curves, roc_point)
        update_pr(self.pr, curves, pr_point)
        update_binary_confusion(self.cm, *_counts(at))
        show_message(None, "" if pr_point else "nothing predicted positive:\nprecision = 0/0 undefined",
                     artist=self.msg)
        self.readout.value = self._readout(threshold, share, at, curves)

    @staticmethod
    def _readout(threshold, share, at, curves) -> str:
        rows = [[METRIC_LABELS[k], _fmt(at[k])] for k in BINARY_METRICS[:6]]
        rows.append(["false positive rate", _fmt(at["fpr"])])
        rows.append(["ROC-AUC / average precision (whole curve)",
                     f"{curves['roc_auc']:.3f} / {curves['average_precision']:.3f}"])
        return C.html_table([f"threshold {threshold:.2f}, {100 * share:g} % positive", "value"], rows,
                            note=UNDEFINED_NOTE if np.isnan(at["precision"]) else "")


class RocPrExplorer(PlotWidget):
    """Negatives multiplied x1, x10, x100: ROC-AUC stays put, average precision falls.

    Saito & Rehmsmeier (2015), PLoS ONE 10(3): e0118432.
    """

    FACTORS = (("x1", 1), ("x10", 10), ("x100", 100))
    SHADES = {1: "#9ecae1", 10: "#4292c6", 100: "#084594"}

    def __init__(self, *, n_per_class=200, separation=2.5, seed=0, factor=1):
        check_choice("factor", factor, [f for _, f in self.FACTORS])
        check_number("n_per_class", n_per_class, low=1, integer=True)
        y, score = class_ratio_data(0.5, n_samples=2 * n_per_class, separation=separation, seed=seed)
        self.curves = {f: roc_pr_curves(*multiply_negatives(y, score, f)) for _, f in self.FACTORS}
        fig, axes = new_figure((9.5, 4.2), ncols=2)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
        plot_roc_pr_family(axes[0], axes[1], self.curves, self.SHADES)
        self.roc = plot_roc(axes[0], self.curves[factor], marker=False, title="ROC: unchanged",
                            label="current", lw=3)
        self.pr = plot_pr(axes[1], self.curves[factor], marker=False, title="precision-recall: falls",
                          label="current", lw=3)
        for ax, loc in zip(axes, ("lower right", "lower left")):
            ax.legend(loc=loc, fontsize="small", title="negatives", title_fontsize="small")
        controls = {"factor": C.choice_buttons("negatives", self.FACTORS, factor)}
        super().__init__(fig, controls, dynamic=[*self.roc.values(), *self.pr.values()])
        self.refresh()

    def update(self, factor):
        update_roc(self.roc, self.curves[factor])
        update_pr(self.pr, self.curves[factor])
        rows = [[f"x{f}" + (" &larr;" if f == factor else ""), f"{100 * c['positive_share']:.2g} %",
                 f"{c['roc_auc']:.3f}", f"{c['average_precision']:.3f}"] for f, c in self.curves.items()]
        self.readout.value = C.html_table(
            ["negatives", "positive share", "ROC-AUC", "average precision"], rows,
            note="Each negative is copied: the false positive <i>rate</i> is the same at every threshold, "
                 "the false positive <i>count</i> grows, so precision falls.")


class OutlierExplorer(PlotWidget):
    """One target pushed away by an outlier: MAE grows linearly, MSE quadratically."""

    STEP = 0.5
    SKLEARN = (("mae", "mean_absolute_error"), ("mse", "mean_squared_error"),
               ("rmse", "root_mean_squared_error"))  # readout rows: the function giving the same number

    def __init__(self, *, n_points=20, seed=0, max_outlier=30.0, outlier=10.0):
        check_number("max_outlier", max_outlier, low=self.STEP)
        check_number("outlier", outlier, low=0, high=max_outlier)
        self.x, self.y_true, self.y_pred = outlier_regression_data(n_points, seed=seed)
        grid = np.arange(0, max_outlier + self.STEP / 2, self.STEP)  # the slider's positions
        self.curves = outlier_metric_curves(self.y_true, self.y_pred, grid, index=-1)
        at = row_at(self.curves, "outlier", outlier)
        fig, axes = new_figure((11.5, 4.0), ncols=3, gridspec_kw={"width_ratios": [1.2, 1.2, 0.8]})
        fig.subplots_adjust(left=0.05, right=0.98, bottom=0.15, top=0.85, wspace=0.3)
        self.data = plot_outlier_data(axes[0], self.x, self.y_true, self.y_pred, outlier,
                                      max_outlier=max_outlier)
        self.marks = plot_outlier_curves(axes[1], self.curves, at)
        self.bars = plot_value_bars(axes[2], ["MAE", "MSE"], [at["mae_share"], at["mse_share"]],
                                    [COLORS["ce"], COLORS["focal"]], percent=True,
                                    title=f"the outlier's share of the\nsum ({n_points} points in all)")
        dynamic = [*self.data.values(), self.marks, *self.bars["bars"], *self.bars["texts"]]
        controls = {"outlier": C.slider("outlier", outlier, 0.0, float(max_outlier), self.STEP, width="wide")}
        super().__init__(fig, controls, dynamic=dynamic)
        self.refresh()

    def update(self, outlier):
        at = row_at(self.curves, "outlier", outlier)
        update_outlier_data(self.data, self.x, self.y_true, self.y_pred, outlier)
        update_outlier_curves(self.marks, at)
        update_value_bars(self.bars, [at["mae_share"], at["mse_share"]])
        rows = [[name.upper(), f"{at[name]:.3f}", fn] for name, fn in self.SKLEARN]
        self.readout.value = C.html_table([f"outlier {outlier:g}", "value", "scikit-learn function"], rows)


class RankingExplorer(PlotWidget):
    """Edit the relevance of a ranked list of 8 items and the cut-off k: RR, AP@k, NDCG@k."""

    LEVELS = (0, 1, 2, 3)

    def __init__(self, *, relevance=(0, 3, 0, 1, 2, 0, 0, 1), k=5):
        for r, v in enumerate(relevance):
            check_choice(f"relevance[{r}]", v, self.LEVELS)
        breakdown = ranking_breakdown(relevance, k)  # checks the list and k
        self.n = len(relevance)
        fig, axes = new_figure((11.5, 3.6), ncols=2, gridspec_kw={"width_ratios": [2.3, 1]})
        fig.subplots_adjust(left=0.125, right=0.98, bottom=0.1, top=0.88, wspace=0.15)
        self.listing = plot_ranked_list(axes[0], relevance, k, breakdown)
        axes[0].set_title("ranked list (relevance 0-3; MRR/MAP count relevance > 0 as a hit)")
        self.bars = plot_value_bars(axes[1], ["RR", "AP@k", "NDCG@k"], self._values(breakdown),
                                    [COLORS["smooth"], COLORS["focal"], COLORS["ce"]],
                                    title="metrics of this query")
        self.msg = show_message(axes[1], "")
        listing = self.listing
        dynamic = [*listing["boxes"], *listing["rel"], *listing["prec"], *listing["gain"], listing["cut"],
                   listing["cut_label"], *self.bars["bars"], *self.bars["texts"], self.msg]
        controls = {f"rel{r + 1}": C.dropdown(f"#{r + 1}", self.LEVELS, int(v), width="tiny")
                    for r, v in enumerate(relevance)}
        controls["k"] = C.slider("k", int(k), 1, self.n, 1)
        super().__init__(fig, controls, dynamic=dynamic)
        self.refresh()

    @staticmethod
    def _values(b) -> tuple:
        return b["rr"], b["ap"], b["ndcg"]

    def update(self, k, **rels):
        relevance = [rels[f"rel{r + 1}"] for r in range(self.n)]
        b = ranking_breakdown(relevance, k)
        update_ranked_list(self.listing, relevance, k, b)
        update_value_bars(self.bars, self._values(b))
        show_message(None, "" if b["n_relevant"] else "no relevant item:\nevery metric is 0",
                     artist=self.msg)
        self.readout.value = self._readout(relevance, k, b)

    def _readout(self, relevance, k, b) -> str:
        ap_terms = " + ".join(f"{b['hits'][r]}/{r + 1}" for r in range(k) if relevance[r] > 0) or "0"
        sk_ap = (f"{b['sklearn_ap']:.3f} (all ranks, = AP@{self.n})" if b["n_relevant"]
                 else "undefined (no relevant item)")
        rows = [["reciprocal rank", f"{b['rr']:.3f}", "none (scikit-learn has no MRR)"],
                [f"AP@{k} = ({ap_terms}) / min({b['n_relevant']}, {k})", f"{b['ap']:.3f}",
                 f"average_precision_score: {sk_ap}"],
                [f"NDCG@{k} = DCG / ideal DCG = {b['dcg']:.3f} / {b['ideal_dcg']:.3f}", f"{b['ndcg']:.3f}",
                 f"ndcg_score(k={k}): {b['ndcg']:.3f} (the same call)"]]
        return C.html_table(["metric", "value", "scikit-learn"], rows,
                            note=C.escape("NDCG gains are linear: rel / log2(rank + 1), "
                                          "as in sklearn.metrics.ndcg_score."))
