"""The competition playbook's explorers: the LR range test, momentum's phase diagram, leaderboard shake-up.

Each computes what it shows once in ``__init__`` (a range test run over the whole lr range, the
rate maps and the torch SGD runs for every κ of the slider); a move only re-reads those numbers with
the compute functions of :mod:`course_utils.lr_finder`, :mod:`course_utils.momentum` and
:mod:`course_utils.bootstrap` and calls their ``update_*`` functions.
"""

from __future__ import annotations

import numpy as np

from course_utils.bootstrap import plot_shakeup, shakeup_probability, update_shakeup
from course_utils.checks import check_number, check_type
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.i18n import tr
from course_utils.lr_finder import (
    SUGGESTION_NAMES,
    SUGGESTION_RULES,
    LRRange,
    default_range_test,
    onecycle_curve,
    plot_lr_range,
    update_lr_range,
)
from course_utils.momentum import (
    LR_MAX,
    closed_form_rate,
    gd_optimum,
    measured_rates,
    optimum,
    phase_image,
    plot_phase_diagram,
    plot_rate_slice,
    speedup,
    steps_per_digit,
    update_phase_diagram,
    update_rate_slice,
)
from course_utils.plotting import COLORS, new_figure, pasted_text, show_message


class LRFinderExplorer(PlotWidget):
    """Smoothing and the suggestion rule over a recorded range test; the OneCycleLR schedule it would give.

    ``result``: a range test run without stopping (``lr_range_test(..., stop_on_divergence=False)``),
    so that every smoothing can be re-read from the same raw losses; default:
    :func:`course_utils.lr_finder.default_range_test`. ``steps``: the length of the OneCycleLR run.
    """

    def __init__(self, result: LRRange | None = None, *, steps: int = 300, smooth: float = 0.05,
                 rule: str = "steepest"):
        self.result = default_range_test() if result is None else check_type(
            "result", result, LRRange, "an LRRange from lr_range_test(..., stop_on_divergence=False)")
        check_number("steps", steps, low=10, integer=True)
        self.steps = steps
        fig, (ax, ax_cycle) = new_figure((11.5, 4.1), ncols=2, gridspec_kw={"width_ratios": [1.35, 1]})
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.28)
        first = self.result.reanalysed(smooth)
        self.art = plot_lr_range(ax, first)
        ax.legend(loc="upper left", fontsize="small", ncols=2)
        lo, hi = self.result.planned[0], self.result.planned[-1]
        (self.cycle,) = ax_cycle.plot(np.arange(steps), np.full(steps, np.nan), color=COLORS["accent"])
        self.peak = ax_cycle.axhline(np.nan, color=COLORS["baseline"], ls=":", lw=1.2)
        ax_cycle.set_yscale("log")
        ax_cycle.set(xlim=(0, steps), ylim=(lo / 1e4, hi), xlabel=tr("training step (batch)"),
                     ylabel=tr("learning rate (log scale)"), title=tr("OneCycleLR(max_lr = the suggestion)"))
        self.note = show_message(ax, "")
        controls = {"smooth": C.slider(tr("smoothing (weight of the new loss)"), smooth, 0.0, 0.5, 0.01,
                                       width="wide"),
                    "rule": C.dropdown(tr("suggestion"), [(tr(v), k) for k, v in SUGGESTION_RULES.items()],
                                       rule, width="wide")}
        dynamic = [self.art["smoothed"], self.art["stop"], *self.art["marks"].values(), self.cycle, self.peak,
                   self.note]
        super().__init__(fig, controls, dynamic=dynamic)
        self.refresh()

    def update(self, smooth, rule):
        res = self.result.reanalysed(smooth)
        update_lr_range(self.art, res)
        lr = res.suggestions.get(rule)
        if lr is None:
            self.cycle.set_ydata(np.full(self.steps, np.nan))
            self.peak.set_ydata([np.nan, np.nan])
            show_message(None, tr("no '{rule}' suggestion:\ntoo few points before divergence",
                                  rule=tr(SUGGESTION_NAMES.get(rule, rule))), artist=self.note)
        else:
            self.cycle.set_ydata(onecycle_curve(lr, self.steps))
            self.peak.set_ydata([lr, lr])
            show_message(None, "", artist=self.note)
        self._shown = (smooth, res)

    def readout_html(self) -> str:
        smooth, res = self._shown
        rows = [[tr(SUGGESTION_RULES.get(k, SUGGESTION_NAMES.get(k, k))), f"{v:.3g}"]
                for k, v in res.suggestions.items()]
        stop = f"{res.lrs[-1]:.3g}" if res.diverged else tr("no divergence in the range")
        rows.append([tr("divergence (smoothed loss > {factor:g} × its minimum)", factor=res.diverge_factor),
                     stop])
        head = tr("smoothing {smooth:.2f}: {kept} of {planned} steps kept", smooth=smooth, kept=len(res.lrs),
                  planned=len(res.planned))
        return C.html_table([head, "lr"], rows, align=["left", "right"], note=tr(
            "OneCycleLR peaks at the chosen lr, starts at 1/25 of it and ends 10⁴ times lower. "
            "Less smoothing: the raw, noisy losses trigger the divergence rule earlier."))


class MomentumExplorer(PlotWidget):
    """κ and β sliders over the (lr, β) phase diagram; the rate along the current β, closed form and torch.

    ``kappas``: the κ slider's values; ``betas``: the β slider's values (the torch runs are made for
    each of them); ``n_lr``: points of the lr grid of the torch runs. All maps and runs are computed
    here, once.
    """

    def __init__(self, kappas=(1, 3, 10, 100, 1000), betas=(0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95),
                 *, kappa=100, beta=0.6, n_lr: int = 20, steps: int = 100):
        self.kappas, self.betas = tuple(kappas), tuple(float(b) for b in betas)
        if kappa not in self.kappas or float(beta) not in self.betas:
            raise ValueError(f"kappa={kappa!r}, beta={beta!r}; allowed: kappa in {self.kappas}, "
                             f"beta in {self.betas}")
        self.lr_fine = np.linspace(LR_MAX / 400, LR_MAX, 400)
        self.beta_fine = np.linspace(0.0, 0.99, 200)
        self.lr_runs = np.linspace(LR_MAX / n_lr, LR_MAX, n_lr)
        b = np.array(self.betas)
        self.maps = {k: phase_image(closed_form_rate(self.lr_fine[None, :], self.beta_fine[:, None], k))
                     for k in self.kappas}
        self.measured = {k: measured_rates(self.lr_runs, b, k, steps) for k in self.kappas}
        fig, (ax_map, ax_slice) = new_figure((11.5, 4.3), ncols=2, gridspec_kw={"width_ratios": [1.2, 1]})
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.3)
        self.map_art = plot_phase_diagram(ax_map, self.maps[kappa], self.lr_fine, self.beta_fine)
        ax_map.legend(loc="lower right", fontsize="small")
        self.map_title = ax_map.set_title("")
        self.slice_art = plot_rate_slice(ax_slice, self.lr_fine)
        ax_slice.legend(loc="lower left", fontsize="small")
        self.slice_title = ax_slice.set_title("")
        controls = {"kappa": C.selection_slider(tr("condition number κ"), self.kappas, kappa),
                    "beta": C.selection_slider(tr("momentum β"), self.betas, float(beta))}
        art = [a for k, a in self.map_art.items() if k != "image"]  # the map itself is background
        pasted_text(self.slice_title)  # one of a few wordings: rendered once each, then pasted
        # the heat map and its title are static for one κ (the title is in static_state()): one cached
        # background per κ; (κ, β) is all the plot shows, so every one of its few pictures is kept
        super().__init__(fig, controls, dynamic=[*art, *self.slice_art.values(), self.slice_title],
                         backgrounds=len(self.kappas), pngs=len(self.kappas) * len(self.betas))
        for k in self.kappas:  # draw every picture now: a later move only sends one
            controls["kappa"].value = k
            for b in self.betas:
                controls["beta"].value = b
        controls["kappa"].value, controls["beta"].value = kappa, float(beta)
        self.refresh()

    def plot_state(self):
        """(κ, β): the plot shows nothing else."""
        values = self.values()
        return values["kappa"], values["beta"]

    def update(self, kappa, beta):
        update_phase_diagram(self.map_art, self.maps[kappa], kappa, beta)
        closed = closed_form_rate(self.lr_fine, beta, kappa)
        row = self.measured[kappa][self.betas.index(beta)]
        update_rate_slice(self.slice_art, self.lr_fine, closed, self.lr_runs, row, kappa)
        best, gd = optimum(kappa), gd_optimum(kappa)
        # static: in κ's background (static_state() holds the title's text, so each language its own)
        self.map_title.set_text(tr("κ = {kappa}: steps per 10× less error", kappa=kappa))
        self.slice_title.set_text(tr("β = {beta:g}: rate against lr", beta=beta))  # (pasted: keyed by text)
        i = int(np.argmin(closed))
        here = (tr("{rate:.4f} at lr {lr:.3f}", rate=closed[i], lr=self.lr_fine[i]) if closed[i] < 1
                else tr("diverges at every lr"))
        ok = np.isfinite(row)
        err = float(np.max(np.abs(row[ok] - closed_form_rate(self.lr_runs[ok], beta, kappa)))) if ok.any() \
            else float("nan")
        rows = [[tr("best rate at this β (closed form)"), here],
                [tr("steps per 10× at that lr"), f"{steps_per_digit(closed[i]):.1f}"],
                [tr("torch runs vs closed form (max |Δρ|)"), f"{err:.3f}"],
                [tr("optimal momentum: α*, β*, ρ*"),
                 f"{best['lr']:.3f}, {best['beta']:.3f}, {best['rate']:.4f}"],
                [tr("best plain GD: α, ρ"), f"{gd['lr']:.3f}, {gd['rate']:.4f}"],
                [tr("steps saved by momentum (GD steps ÷ momentum steps)"),
                 f"{speedup(kappa):.2f} (√κ = {np.sqrt(kappa):.2f})"]]
        self.readout.value = C.html_table([f"κ = {kappa}, β = {beta:g}", tr("value")], rows,
                                          align=["left", "right"])


class LeaderboardExplorer(PlotWidget):
    """Test-set size and the true gap: how likely the public-board winner loses on the private board.

    ``sd``: the per-image spread of the macro-F1 difference of two models (the notebook passes the
    one its paired bootstrap measured, :func:`course_utils.bootstrap.per_image_sd`); ``public_share``:
    the public board's share of the test set; ``simulated``: optional ``{(n_test, gap): shake-up share}``
    from :func:`course_utils.bootstrap.simulate_leaderboard`, drawn as squares.
    """

    GAPS = np.linspace(0.0, 0.05, 101)

    def __init__(self, sd: float = 1.0, *, public_share: float = 0.3, simulated=None, n_test: int = 1000,
                 gap: float = 0.004):
        check_number("sd", sd, low=0.0, low_open=True)
        check_number("public_share", public_share, low=0.0, high=1.0, low_open=True, high_open=True)
        self.sd, self.share, self.simulated = float(sd), float(public_share), dict(simulated or {})
        fig, (ax_curve, ax_dist) = new_figure((11.5, 4.1), ncols=2)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
        self.art = plot_shakeup(ax_curve, ax_dist, self.GAPS)
        ax_dist.set_ylim(0, 1.1)
        ax_dist.set_ylabel(tr("density (each scaled to peak 1)"))
        controls = {"n_test": C.log_slider(tr("test images"), n_test, 2, 4.5, step=0.05, fmt=".0f",
                                           width="wide"),
                    "gap": C.slider(tr("true macro-F1 gap"), gap, 0.0, 0.05, 0.001, fmt=".3f", width="wide")}
        super().__init__(fig, controls, dynamic=[a for k, a in self.art.items() if k != "x"])
        self.refresh()

    def update(self, n_test, gap):
        n = int(round(n_test))
        p = update_shakeup(self.art, self.GAPS, gap, self.sd, n, self.share)
        for key in ("pub", "priv"):  # peak-normalised: the widths are what matters
            y = self.art[key].get_ydata()
            self.art[key].set_ydata(y / y.max())
        pts = [(g, v) for (nn, g), v in self.simulated.items() if nn == n]
        self.art["sims"].set_data([g for g, _ in pts], [v for _, v in pts])
        self._shown = (n, gap, p)

    def readout_html(self) -> str:
        n, gap, p = self._shown
        se = self.sd * np.sqrt(1 / (self.share * n) + 1 / ((1 - self.share) * n))
        rows = [[tr("P(public winner loses on the private board)"), f"<b>{p:.1%}</b>"],
                [tr("public / private images"), f"{round(self.share * n)} / {n - round(self.share * n)}"],
                [tr("spread of public − private gap (1 sd)"), f"{se:.4f}"],
                [tr("gap at which the shake-up falls to 5 %"), _gap_for(0.05, self.sd, n, self.share)]]
        return C.html_table([tr("{n} test images, true gap {gap:.3f}", n=n, gap=gap), ""], rows,
                            align=["left", "right"])


def _gap_for(target: float, sd: float, n: int, share: float) -> str:
    gaps = LeaderboardExplorer.GAPS
    p = shakeup_probability(gaps, sd, n, share)
    below = np.flatnonzero(p <= target)
    return f"{gaps[below[0]]:.3f}" if below.size else f"> {gaps[-1]:.2f}"
