"""The optimizer explorer: two optimizers, each with its own (log) learning rate, and a momentum β -> their
paths on a 2-D loss surface and their losses per step."""

from __future__ import annotations

from course_utils.checks import check_choice, check_number
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.i18n import tr
from course_utils.optimizers import (
    _HORIZONS,
    BETA_ARGUMENT,
    OPTIMIZERS,
    SURFACES,
    _cached_grid,
    _cached_trajectory,
    _grid_run,
    beta_params,
    optimizer_call,
    plot_run,
    update_loss_xlim,
    update_run,
    update_surface,
    zigzag,
)
from course_utils.plotting import COLORS, new_figure, show_message, text_color

__all__ = ["OptimizerExplorer"]

_COLORS = (COLORS["focal"], COLORS["ce"])  # the "optimizer" run, the "compare with" run
_LR_DEFAULT = 10 ** -0.75  # 0.178: a notch of the lr slider where plain SGD zig-zags along y on the bowl


def _precompute(surface: str, beta: float, steps: int, shown: tuple[str, ...]) -> None:
    """Run every optimizer over the lr grid at the explorer's first β (cached): picking another optimizer
    in either dropdown then computes nothing. The optimizers ``shown`` first are run at every β notch
    at once (:func:`~course_utils.optimizers._cached_grid`): moving β then computes nothing either."""
    horizon = next(h for h in _HORIZONS if h >= steps)
    for name in OPTIMIZERS:
        params = tuple(beta_params(name, beta).items())
        try:
            if name in shown:
                _cached_grid(surface, name, params, horizon)
            else:
                _grid_run(surface, name, params, horizon)
        except ValueError:  # a setting torch refuses (Nesterov with β = 0): the explorer says so
            pass


class OptimizerExplorer(PlotWidget):
    """Two optimizers, each with its own (log) learning rate, and a momentum β -> paths on a 2-D loss
    surface and the loss per step.

    One lr means different things to different optimizers (SGD's step is lr·gradient, Adam's about
    lr whatever the gradient), so each run has its own lr slider. β is SGD's ``momentum`` or Adam's
    ``β1`` (:data:`~course_utils.optimizers.BETA_ARGUMENT`); optimizers without one ignore it.
    """

    def __init__(self, surface: str = "bowl", optimizer: str = "SGD", lr: float = _LR_DEFAULT,
                 compare: str = "SGD+momentum", compare_lr: float = _LR_DEFAULT, beta: float = 0.5,
                 steps: int = 60):
        s = SURFACES[check_choice("surface", surface, SURFACES)]
        names2d = [k for k, v in SURFACES.items() if v.dim == 2]
        if s.dim != 2:
            raise ValueError(f"surface={surface!r} is 1-D; allowed: one of {', '.join(map(repr, names2d))}")
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("compare", compare, ["none", *OPTIMIZERS])
        check_number("lr", lr, low=1e-4, high=10.0)
        check_number("compare_lr", compare_lr, low=1e-4, high=10.0)
        check_number("beta", beta, low=0.0, high=0.95)
        check_number("steps", steps, low=1, high=200, integer=True)
        controls = {
            # (surface and optimizer names are the values a notebook passes: they stay as they are)
            "surface": C.dropdown(tr("surface"), names2d, s.name, width="narrow"),
            "optimizer": C.dropdown(tr("optimizer"), list(OPTIMIZERS), optimizer, width="narrow"),
            "lr": C.log_slider("lr", float(lr), -4, 1, step=0.05),
            "compare": C.dropdown(tr("compare with"), [(tr("none"), "none"), *((o, o) for o in OPTIMIZERS)],
                                  compare),
            "compare_lr": C.log_slider(tr("its lr"), float(compare_lr), -4, 1, step=0.05),
            "beta": C.slider(tr("momentum β"), float(beta), 0.0, 0.95, 0.05, fmt=".2f"),
            "steps": C.slider(tr("steps"), int(steps), 1, 200, 1),
        }
        fig, (ax, ax_loss) = new_figure((9.0, 4.2), ncols=2, gridspec_kw={"width_ratios": [1.35, 1]})
        fig.subplots_adjust(left=0.075, right=0.98, top=0.85, bottom=0.14, wspace=0.27)
        self.ax, self.ax_loss = ax, ax_loss
        self._surfaces: dict[str, list] = {}
        update_surface(self._surfaces, ax, s.name)
        _precompute(s.name, beta, int(steps), (optimizer, compare))
        first = _cached_trajectory(s.name, optimizer, float(lr), int(steps))
        self.runs = [plot_run(ax, ax_loss, first, color=color) for color in _COLORS]
        # Texts are static (drawing one costs ~4 ms, a blit of lines < 1 ms): the names of the two
        # runs are in the readout; the plot labels say which colour is which control.
        for i, (color, text) in enumerate(zip(_COLORS, (tr("- - optimizer"), tr("── compare with")),
                                              strict=True)):
            ax_loss.text(float(i), 1.03, text, transform=ax_loss.transAxes, ha=("left", "right")[i],
                         va="bottom", color=color, fontweight="bold")
        self.message = show_message(ax, "")
        controls["surface"].observe(self._on_surface, names="value")  # (acts before the base's redraw)
        # drawn in this order: the paths, their ends over them, then the losses
        dynamic = [artist for kind in zip(*self.runs) for artist in kind]
        # the steps slider moves the loss plot's x-axis end among a few round values: each is drawn once
        super().__init__(fig, controls, dynamic=[*dynamic, self.message], backgrounds=8)
        self.refresh()

    def _on_surface(self, change) -> None:
        update_surface(self._surfaces, self.ax, change["new"])
        self.invalidate()

    @staticmethod
    def _trajectory(surface, optimizer, lr, steps, beta):
        """The run (cached), or the reason torch refuses the setting (Nesterov with β = 0)."""
        try:
            params = tuple(beta_params(optimizer, beta).items())
            return _cached_trajectory(surface, optimizer, lr, steps, params), ""
        except ValueError as exc:
            return None, tr("{optimizer} with β={beta:.2f}: torch refuses it\n({reason})",
                            optimizer=optimizer, beta=beta, reason=str(exc).split(": ")[-1])

    def update(self, surface, optimizer, lr, compare, compare_lr, beta, steps):
        first, why = self._trajectory(surface, optimizer, lr, steps, beta)
        second, why2 = (self._trajectory(surface, compare, compare_lr, steps, beta) if compare != "none"
                        else (None, ""))
        runs = [first, second]
        for artists, run in zip(self.runs, runs):
            update_run(artists, run)
        update_loss_xlim(self.ax_loss, steps)
        shown = [(run, color) for run, color in zip(runs, _COLORS) if run is not None]
        # (the step and the lr are in the readout: a plot text that is new on every move costs ~15 ms to
        # lay out, one per optimizer is laid out once)
        notes = [w for w in (why, why2) if w] + [
            tr("{optimizer} diverged: |w| > 1e6\nthis lr is too large here", optimizer=run.optimizer)
            for run, _ in shown if run.diverged]
        show_message(None, "\n".join(notes), artist=self.message)
        self._shown = (surface, optimizer, compare, beta, shown, why, why2)

    def readout_html(self) -> str:
        surface, optimizer, compare, beta, shown, why, why2 = self._shown
        s = SURFACES[surface]
        rows = [self._row(s, run, color, beta) for run, color in shown]
        rows += [f"<b>{C.escape(w.splitlines()[0])}</b>" for w in (why, why2) if w]
        unused = sorted({o for o in (optimizer, compare) if o in OPTIMIZERS and o not in BETA_ARGUMENT})
        code = {"grad": C.code("w.grad = ∇L(w)"), "step": C.code("optimizer.step()")}
        return "<br>".join(rows) + "<br>" + (
            tr("each step: {grad}; {step} (plain SGD: w ← w − lr·∇L(w)); each run has its own lr; "
               "β is not used by {names}", names=", ".join(unused), **code) if unused else
            tr("each step: {grad}; {step} (plain SGD: w ← w − lr·∇L(w)); each run has its own lr", **code))

    @staticmethod
    def _row(s, run, color: str, beta: float) -> str:
        """One readout line: the torch call and where the run ended (on the bowl: its zig-zag along y)."""
        if run.diverged:
            status = tr("<b style='color:#d62728'>diverged at step {step}</b>", step=run.diverged_at)
        else:
            x, y = run.points[-1]
            outside = not (s.xlim[0] <= x <= s.xlim[1] and s.ylim[0] <= y <= s.ylim[1])
            status = tr("final loss {loss:.3g} at ({x:.3g}, {y:.3g})", loss=run.losses[-1], x=x, y=y) + (
                tr(" — <b>left the plot</b>") if outside else "")
            if s.name == "bowl":
                flips, travel = zigzag(run, axis=1)
                status += tr("; along y (the steep axis) it flips sign {flips}× and travels {travel:.3g}",
                             flips=flips, travel=travel)
        call = optimizer_call(run.optimizer, run.lr, **beta_params(run.optimizer, beta))
        return f"<b style='color:{text_color(color)}'>{run.optimizer}</b>: {C.code(call)}: {status}"
