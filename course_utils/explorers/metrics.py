"""The metric-pitfalls notebook's explorers: class ratio, threshold, ROC vs PR, an outlier, a ranked list.

Each computes its sweeps once in ``__init__`` (:mod:`course_utils.metric_demos`); a move looks up
or calls a cached compute function, then the ``update_*`` functions of
:mod:`course_utils.metric_plots`, then writes a compact readout.

Built for a few milliseconds a move (issue 18): a move redraws only markers, lines and collections
(no text artists -- each costs 0.3 ms or more), the figures are kept small in pixels (the PNG encode
grows with them), curves that change only with a button are static and redrawn once when it is
pressed, and the readouts are small tables whose numbers change, their notes short.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import check_choice, check_number
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.i18n import N_, tr
from course_utils.metric_demos import (
    SHARE_GRID,
    class_ratio_curves,
    outlier_metric_curves,
    outlier_regression_data,
    ranking_breakdown,
    ranking_terms,
    row_at,
    threshold_sweep,
)
from course_utils.metric_plots import (
    plot_metric_vs_share,
    plot_model_baseline_legend,
    plot_outlier_curves,
    plot_outlier_data,
    plot_outlier_shares,
    plot_pr,
    plot_ranked_list,
    plot_roc,
    plot_roc_pr_family,
    plot_threshold_sweep,
    plot_value_bars,
    update_metric_vs_share,
    update_outlier_curves,
    update_outlier_data,
    update_outlier_shares,
    update_pr,
    update_ranked_list,
    update_roc,
    update_threshold_marker,
    update_threshold_sweep,
    update_value_bars,
)
from course_utils.metrics import class_ratio_data, multiply_negatives, roc_pr_curves
from course_utils.plotting import COLORS, new_figure, show_message

#: The readouts' note on 0/0 (English; shown as ``tr(UNDEFINED_NOTE, code=C.code("zero_division"))``).
UNDEFINED_NOTE = N_("<i>undefined</i> = 0/0: nothing predicted positive, so precision has no value; "
                    "scikit-learn returns {code} instead (default 0.0 and a warning).")
_COUNTS = ("tn", "fp", "fn", "tp")
_COUNT_HEADER = ["TN", "FP", "FN", "TP"]
_TABLE = "<table style='border-collapse:separate;border-spacing:12px 0;margin-left:-12px;text-align:right'>"
_LEFT = "<td style='text-align:left'>"


def _undefined_note() -> str:
    return tr(UNDEFINED_NOTE, code=C.code("zero_division"))


def _fmt(value, digits=3) -> str:
    """A metric for display: 'undefined' for nan."""
    return tr("undefined") if value is None or np.isnan(value) else f"{value:.{digits}f}"


def _counts(table, i=None) -> list[str]:
    """The confusion counts ``tn, fp, fn, tp`` of a row (or of index ``i`` of a table of arrays), as text."""
    return [str(int(table[k] if i is None else table[k][i])) for k in _COUNTS]


def numbers_table(header, rows, *, title: str = "", note: str = "") -> str:
    """A compact readout: an optional title line, a table (first column left, the others right), a note.

    The style sits on the table, not on every cell, so a move sends a few hundred bytes and the
    page re-lays out a small table whose numbers change. ``header`` and ``rows`` hold cell HTML.
    """
    def row(cells, bold=False):
        cells = [f"<b>{c}</b>" if bold and c else str(c) for c in cells]
        return "<tr>" + _LEFT + cells[0] + "</td>" + "".join(f"<td>{c}</td>" for c in cells[1:]) + "</tr>"

    parts = [f"{title}<br>" if title else "", _TABLE, row(header, bold=True), *map(row, rows), "</table>",
             f"<small>{note}</small>" if note else ""]
    return C.readout_html("".join(parts))


class ClassRatioExplorer(PlotWidget):
    """Positive share 50 % -> 0.5 %: accuracy vs F1 (and balanced accuracy, macro-F1), model vs baseline.

    Every number is computed once over :data:`~course_utils.metric_demos.SHARE_GRID`
    (:func:`~course_utils.metric_demos.class_ratio_curves`); a move of the slider only looks them
    up, moves the markers and writes both confusion matrices' counts into the readout.
    """

    PANELS = (("accuracy", "f1"), ("balanced_accuracy", "macro_f1"))
    READOUT = (("accuracy", N_("accuracy")), ("f1", "F1"), ("balanced_accuracy", N_("balanced acc.")),
               ("macro_f1", "macro-F1"), ("precision", N_("precision")), ("recall", N_("recall")))

    def __init__(self, *, n_samples=2000, separation=2.5, threshold=0.5, seed=0, start=0.1):
        check_number("start", start, low=0, high=1)
        self.curves = c = class_ratio_curves(SHARE_GRID, n_samples=n_samples, separation=separation,
                                             threshold=threshold, seed=seed, ranking=False)
        i = int(np.argmin(np.abs(np.array(SHARE_GRID) - start)))
        fig, axes = new_figure((8.4, 3.4), ncols=2)
        fig.subplots_adjust(left=0.06, right=0.99, bottom=0.17, top=0.8, wspace=0.2)
        titles = (tr("accuracy (\u2014) vs F1 (- -)"), tr("balanced acc. (\u2014), macro-F1 (- -)"))
        self.panels = [plot_metric_vs_share(ax, c, metrics, i, title=title)
                       for ax, metrics, title in zip(axes, self.PANELS, titles)]
        plot_model_baseline_legend(fig, threshold, anchor=(0.5, 1.0))
        self.threshold = threshold
        options = [(f"{100 * s:g} %", j) for j, s in enumerate(SHARE_GRID)]
        controls = {"share": C.selection_slider(tr("positive share"), options, i, width="wide")}
        super().__init__(fig, controls, dynamic=[a for p in self.panels for a in p.values()])
        self.refresh()

    def update(self, share):
        i = int(share)
        for artists, metrics in zip(self.panels, self.PANELS):
            update_metric_vs_share(artists, self.curves, metrics, i)
        self.readout.value = self._readout(i)

    def _readout(self, i) -> str:
        c = self.curves
        rows = [[who, *(_fmt(c[key][k][i]) for k, _ in self.READOUT), *_counts(c[key], i)]
                for key, who in (("model", tr("model (score &ge; {threshold:g})", threshold=self.threshold)),
                                 ("baseline", tr("always-negative")))]
        n_pos = int(c["n_positive"][i])
        n_all = n_pos + int(c["model"]["tn"][i] + c["model"]["fp"][i])
        title = tr("<b>{share:g} % positive</b> ({n_pos} of {n_all})", share=100 * c["share"][i], n_pos=n_pos,
                   n_all=n_all)
        note = _undefined_note() if np.isnan(c["baseline"]["precision"][i]) else ""
        return numbers_table(["", *(tr(name) for _, name in self.READOUT), *_COUNT_HEADER], rows, title=title,
                             note=note)


class ThresholdExplorer(PlotWidget):
    """Decision threshold -> precision/recall/F1, the point on the ROC and PR curves, the confusion counts.

    The curves of each share (scikit-learn's ``roc_curve`` and ``precision_recall_curve``) and the
    confusion counts at every threshold of the slider are computed once; a move of the threshold
    looks them up and moves a line and three markers. The curves are static: switching the share
    redraws them once.
    """

    SHARES = (("50 %", 0.5), ("10 %", 0.1), ("1 %", 0.01))
    STEP = 0.01
    READOUT = (("precision", N_("precision")), ("recall", N_("recall")), ("f1", "F1"), ("fpr", "FPR"),
               ("accuracy", N_("accuracy")))

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
        fig, axes = new_figure((9.6, 3.3), ncols=3, gridspec_kw={"width_ratios": [1.3, 1, 1]})
        fig.subplots_adjust(left=0.04, right=0.99, bottom=0.17, top=0.86, wspace=0.32)
        self.sweep = plot_threshold_sweep(axes[0], self.sweeps[share], at)
        self.roc = plot_roc(axes[1], self.curves[share], self._points(at)[0])
        self.pr = plot_pr(axes[2], self.curves[share], self._points(at)[1])
        axes[2].legend(loc="center left", fontsize="small")
        self.msg = show_message(axes[2], "")
        self._shown = share  # the share whose curves the (static) background shows
        dynamic = [self.sweep["threshold"], self.sweep["points"], self.roc["point"], self.pr["point"],
                   self.msg]
        controls = {"threshold": C.slider(tr("threshold"), threshold, 0.0, 1.0, self.STEP, width="wide"),
                    "share": C.choice_buttons(tr("positive share"), self.SHARES, share)}
        # the curves of each share are static: one cached background per share, all drawn now
        super().__init__(fig, controls, dynamic=dynamic, backgrounds=len(self.SHARES))
        for _, s in self.SHARES:
            controls["share"].value = s
        controls["share"].value = share
        self.refresh()

    def static_state(self):
        return super().static_state(), self._shown

    @staticmethod
    def _points(at) -> tuple:
        """The ROC point and the PR point (None when precision is 0/0) of one row of a threshold sweep."""
        pr = None if np.isnan(at["precision"]) else (at["recall"], at["precision"])
        return (at["fpr"], at["recall"]), pr

    def update(self, threshold, share):
        sweep, curves = self.sweeps[share], self.curves[share]
        if share != self._shown:  # new curves: part of the static background
            update_threshold_sweep(self.sweep, sweep)
            self._shown = share  # (in static_state(): the background of this share is used)
        at = row_at(sweep, "threshold", threshold)
        roc_point, pr_point = self._points(at)
        update_threshold_marker(self.sweep, at)
        update_roc(self.roc, curves, roc_point)
        update_pr(self.pr, curves, pr_point)
        show_message(None, "" if pr_point else tr("nothing predicted positive:\nprecision = 0/0 undefined"),
                     artist=self.msg)
        self.readout.value = self._readout(at, share, curves)

    def _readout(self, at, share, curves) -> str:
        row = [f"{at['threshold']:.2f}", *(_fmt(at[k]) for k, _ in self.READOUT), *_counts(at)]
        title = tr("<b>{share:g} % positive</b>; whole curves: ROC-AUC {auc:.3f}, average precision {ap:.3f}",
                   share=100 * share, auc=curves["roc_auc"], ap=curves["average_precision"])
        header = [tr("threshold"), *(tr(name) for _, name in self.READOUT), *_COUNT_HEADER]
        return numbers_table(header, [row], title=title,
                             note=_undefined_note() if np.isnan(at["precision"]) else "")


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
        fig, axes = new_figure((8.4, 3.7), ncols=2)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.9, wspace=0.3)
        plot_roc_pr_family(axes[0], axes[1], self.curves, self.SHADES)
        self.roc = plot_roc(axes[0], self.curves[factor], marker=False, title=tr("ROC: unchanged"),
                            label=tr("current"), lw=3)
        self.pr = plot_pr(axes[1], self.curves[factor], marker=False, title=tr("precision-recall: falls"),
                          label=tr("current"), lw=3)
        for ax, loc in zip(axes, ("lower right", "lower left")):
            ax.legend(loc=loc, fontsize="small", title=tr("negatives"), title_fontsize="small")
        controls = {"factor": C.choice_buttons(tr("negatives"), self.FACTORS, factor)}
        super().__init__(fig, controls, dynamic=[*self.roc.values(), *self.pr.values()])
        self.refresh()

    def update(self, factor):
        update_roc(self.roc, self.curves[factor])
        update_pr(self.pr, self.curves[factor])
        rows = [[f"x{f}" + (" ←" if f == factor else ""), f"{100 * c['positive_share']:.2g} %",
                 f"{c['roc_auc']:.3f}", f"{c['average_precision']:.3f}"] for f, c in self.curves.items()]
        self.readout.value = numbers_table(
            [tr("negatives"), tr("positive share"), "ROC-AUC", tr("average precision")], rows,
            note=tr("Each negative copied: the false positive <i>rate</i> stays at every threshold, the "
                    "false positive <i>count</i> grows, so precision falls."))


class OutlierExplorer(PlotWidget):
    """One target pushed away by an outlier: MAE grows linearly, MSE quadratically; the outlier's share."""

    STEP = 0.5

    def __init__(self, *, n_points=20, seed=0, max_outlier=30.0, outlier=10.0):
        check_number("max_outlier", max_outlier, low=self.STEP)
        check_number("outlier", outlier, low=0, high=max_outlier)
        self.x, self.y_true, self.y_pred = outlier_regression_data(n_points, seed=seed)
        grid = np.arange(0, max_outlier + self.STEP / 2, self.STEP)  # the slider's positions
        self.curves = outlier_metric_curves(self.y_true, self.y_pred, grid, index=-1)
        at = row_at(self.curves, "outlier", outlier)
        fig, axes = new_figure((9.8, 3.3), ncols=3)
        fig.subplots_adjust(left=0.055, right=0.99, bottom=0.17, top=0.89, wspace=0.58)
        self.data = plot_outlier_data(axes[0], self.x, self.y_true, self.y_pred, outlier,
                                      max_outlier=max_outlier)
        self.marks = plot_outlier_curves(axes[1], self.curves, at)
        self.shares = plot_outlier_shares(axes[2], self.curves, at)
        dynamic = [*self.data.values(), *self.marks.values(), self.shares]
        controls = {"outlier": C.slider(tr("outlier"), outlier, 0.0, float(max_outlier), self.STEP,
                                        width="wide")}
        super().__init__(fig, controls, dynamic=dynamic)
        self.refresh()

    def update(self, outlier):
        at = row_at(self.curves, "outlier", outlier)
        update_outlier_data(self.data, self.x, self.y_true, self.y_pred, outlier)
        update_outlier_curves(self.marks, at)
        update_outlier_shares(self.shares, at)
        row = [f"{outlier:g}", *(f"{at[k]:.3f}" for k in ("mae", "mse", "rmse")),
               *(_fmt(100 * at[k], 1) + " %" for k in ("mae_share", "mse_share"))]
        self.readout.value = numbers_table(
            [tr("outlier"), "MAE", "MSE", "RMSE", tr("its share of &Sigma;|r|"),
             tr("its share of &Sigma;r&sup2;")],
            [row],
            note=tr("sklearn.metrics: {mae}, {mse}, {rmse} give the same numbers.",
                    mae=C.code("mean_absolute_error"), mse=C.code("mean_squared_error"),
                    rmse=C.code("root_mean_squared_error")))


class RankingExplorer(PlotWidget):
    """Edit the relevance of a ranked list of 8 items and the cut-off k: RR, AP@k, NDCG@k."""

    LEVELS = (0, 1, 2, 3)

    def __init__(self, *, relevance=(0, 3, 0, 1, 2, 0, 0, 1), k=5):
        for r, v in enumerate(relevance):
            check_choice(f"relevance[{r}]", v, self.LEVELS)
        breakdown = ranking_breakdown(relevance, k)  # checks the list and k
        self.n = len(relevance)
        fig, axes = new_figure((8.8, 2.5), ncols=2, gridspec_kw={"width_ratios": [2.6, 1]})
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.12, top=0.86, wspace=0.12)
        self.listing = plot_ranked_list(axes[0], relevance, k)
        axes[0].set_title(tr("ranked list: relevance 0-3 (faded: below the cut-off k)"), fontsize="medium")
        self.bars = plot_value_bars(axes[1], ["RR", "AP@k", "NDCG@k"], self._values(breakdown),
                                    [COLORS["smooth"], COLORS["focal"], COLORS["ce"]],
                                    title=tr("this query"))
        self.msg = show_message(axes[1], "")
        listing = self.listing
        dynamic = [listing["boxes"], *listing["digits"], listing["cut"], *self.bars["bars"], self.msg]
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
        b = ranking_terms(relevance, k)  # (scikit-learn's cross-check waits for the readout)
        update_ranked_list(self.listing, relevance, k)
        update_value_bars(self.bars, self._values(b))
        show_message(None, "" if b["n_relevant"] else tr("no relevant item:\nevery metric is 0"),
                     artist=self.msg)
        self._shown = (relevance, k, b)

    def readout_html(self) -> str:
        relevance, k, drawn = self._shown
        return self._readout(relevance, k, ranking_breakdown(relevance, k), drawn["ndcg"])

    def _readout(self, relevance, k, b, drawn_ndcg) -> str:
        """The terms of ``b`` (:func:`ranking_breakdown`, with scikit-learn's NDCG); ``drawn_ndcg``: the
        NDCG the bar shows (DCG / ideal DCG), checked against scikit-learn's here."""
        shown = [rel > 0 and r < k for r, rel in enumerate(relevance)]  # the terms inside the top k
        prec = [f"{b['hits'][r]}/{r + 1}" if s else "" for r, s in enumerate(shown)]
        gain = [f"{b['gains'][r]:.2f}" if s else "" for r, s in enumerate(shown)]
        rows = [[tr("relevance"), *(str(int(rel)) for rel in relevance)], ["precision@r", *prec],
                [tr("gain / log2(r+1)"), *gain]]
        ap_terms = " + ".join(p for p in prec if p) or "0"
        sk_ap = (tr("{ap:.3f} (all ranks, = AP@{n})", ap=b["sklearn_ap"], n=self.n) if b["n_relevant"]
                 else tr("undefined (no relevant item)"))
        title = tr("RR = <b>{rr:.3f}</b> &nbsp; AP@{k} = ({terms}) / min({n_relevant}, {k}) = "
                   "<b>{ap:.3f}</b> &nbsp; NDCG@{k} = DCG / ideal DCG = {dcg:.3f} / {ideal:.3f} = "
                   "<b>{ndcg:.3f}</b>",
                   rr=b["rr"], k=k, terms=ap_terms, n_relevant=b["n_relevant"], ap=b["ap"], dcg=b["dcg"],
                   ideal=b["ideal_dcg"], ndcg=b["ndcg"])
        note = (tr("scikit-learn: {ndcg} gives the same NDCG; {ap}: {sk_ap}; no MRR.",
                   ndcg=C.code(f"ndcg_score(k={k})"), ap=C.code("average_precision_score"), sk_ap=sk_ap)
                if abs(drawn_ndcg - b["ndcg"]) <= 1e-12 else
                tr("scikit-learn: {ndcg} gives {value:.6f}, the bar {bar:.6f}; {ap}: {sk_ap}; no MRR.",
                   ndcg=C.code(f"ndcg_score(k={k})"), value=b["ndcg"], bar=drawn_ndcg,
                   ap=C.code("average_precision_score"), sk_ap=sk_ap))
        return numbers_table([tr("rank"), *(f"#{r + 1}" for r in range(self.n))], rows, title=title,
                             note=note)
