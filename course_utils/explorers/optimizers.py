"""The optimizer explorer: an optimizer and a (log) learning rate -> its path on a 2-D loss surface."""

from __future__ import annotations

from course_utils.checks import check_choice, check_number
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.optimizers import (
    OPTIMIZERS,
    SURFACES,
    _cached_trajectory,
    plot_run,
    update_loss_xlim,
    update_run,
    update_surface,
)
from course_utils.plotting import COLORS, new_figure, show_message

__all__ = ["OptimizerExplorer"]

_COLORS = (COLORS["focal"], COLORS["ce"])  # the "optimizer" run, the "compare with" run


class OptimizerExplorer(PlotWidget):
    """An optimizer and a (log) learning rate -> its path on a 2-D loss surface, and the loss per step."""

    def __init__(self, surface: str = "bowl", optimizer: str = "SGD", lr: float = 0.05, steps: int = 60,
                 compare: str = "none"):
        s = SURFACES[check_choice("surface", surface, SURFACES)]
        names2d = [k for k, v in SURFACES.items() if v.dim == 2]
        if s.dim != 2:
            raise ValueError(f"surface={surface!r} is 1-D; allowed: one of {', '.join(map(repr, names2d))}")
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("compare", compare, ["none", *OPTIMIZERS])
        check_number("lr", lr, low=1e-4, high=10.0)
        check_number("steps", steps, low=1, high=200, integer=True)
        controls = {
            "surface": C.dropdown("surface", names2d, s.name),
            "optimizer": C.dropdown("optimizer", list(OPTIMIZERS), optimizer),
            "compare": C.dropdown("compare with", ["none", *OPTIMIZERS], compare),
            "lr": C.log_slider("lr", float(lr), -4, 1, step=0.05),
            "steps": C.slider("steps", int(steps), 1, 200, 1),
        }
        fig, (ax, ax_loss) = new_figure((10.0, 4.6), ncols=2, gridspec_kw={"width_ratios": [1.35, 1]})
        fig.subplots_adjust(left=0.07, right=0.98, top=0.86, bottom=0.13, wspace=0.25)
        self.ax, self.ax_loss = ax, ax_loss
        self._surfaces: dict[str, list] = {}
        update_surface(self._surfaces, ax, s.name)
        first = _cached_trajectory(s.name, optimizer, float(lr), int(steps))
        self.runs = [plot_run(ax, ax_loss, first, color=color) for color in _COLORS]
        # Texts are static (drawing one costs ~4 ms, a blit of lines < 1 ms): the names of the two
        # runs are in the readout; the plot labels say which colour is which control.
        for i, (color, text) in enumerate(zip(_COLORS, ("── optimizer", "── compare with"), strict=True)):
            ax_loss.text(float(i), 1.03, text, transform=ax_loss.transAxes, ha=("left", "right")[i],
                         va="bottom", color=color, fontweight="bold")
        self.message = show_message(ax, "")
        controls["surface"].observe(self._on_surface, names="value")  # (acts before the base's redraw)
        # drawn in this order: the paths, their ends and starts over them, then the losses
        dynamic = [artist for kind in zip(*self.runs) for artist in kind]
        super().__init__(fig, controls, dynamic=[*dynamic, self.message])
        self.refresh()

    def _on_surface(self, change) -> None:
        update_surface(self._surfaces, self.ax, change["new"])
        self.invalidate()

    def update(self, surface, optimizer, compare, lr, steps):
        runs = [_cached_trajectory(surface, optimizer, lr, steps),
                _cached_trajectory(surface, compare, lr, steps) if compare != "none" else None]
        for artists, run in zip(self.runs, runs):
            update_run(artists, run)
        update_loss_xlim(self.ax_loss, steps)
        shown = [(run, color) for run, color in zip(runs, _COLORS) if run is not None]
        show_message(None, "\n".join(f"{run.optimizer} diverged at step {run.diverged_at}: |w| > 1e6\n"
                                     f"lr={lr:.3g} is too large here" for run, _ in shown if run.diverged),
                     artist=self.message)
        rows = [self._row(SURFACES[surface], run, color) for run, color in shown]
        self.readout.value = "<br>".join(rows) + (
            f"<br>each step: {C.code('w.grad = ∇L(w)')}; {C.code('optimizer.step()')}"
            " (plain SGD: w ← w − lr·∇L(w))")

    @staticmethod
    def _row(s, run, color: str) -> str:
        """One readout line: the torch call and where the run ended."""
        if run.diverged:
            status = f"<b style='color:#d62728'>diverged at step {run.diverged_at}</b>"
        else:
            x, y = run.points[-1]
            outside = not (s.xlim[0] <= x <= s.xlim[1] and s.ylim[0] <= y <= s.ylim[1])
            status = f"final loss {run.losses[-1]:.3g} at ({x:.3g}, {y:.3g})" + (
                " — <b>left the plot</b>" if outside else "")
        cls, kw = OPTIMIZERS[run.optimizer]
        args = "".join(f", {k}={v}" for k, v in kw.items())
        return (f"<b style='color:{color}'>{run.optimizer}</b>: "
                f"{C.code(f'torch.optim.{cls.__name__}([w], lr={run.lr:.3g}{args})')}: {status}")
