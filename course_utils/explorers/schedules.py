"""The schedule explorers: a torch scheduler's lr in every epoch; ReduceLROnPlateau on a replayed val loss.

Their sliders come from the scheduler specs of :mod:`course_utils.schedules` and
:mod:`course_utils.plateau` (one :class:`~course_utils.schedules.SchedulerSpec` per scheduler): a new
scheduler there is a new entry in the dropdown here, with its own sliders, without a line changed in
this module.
"""

from __future__ import annotations

import numpy as np

from course_utils.checks import check_choice, check_number
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.i18n import get_language, tr
from course_utils.plateau import PLATEAU, _synthetic_trace, plot_plateau, update_plateau
from course_utils.plotting import COLORS, new_figure, show_message
from course_utils.schedules import (
    SCHEDULER_NAMES,
    SCHEDULERS,
    _schedule_unchecked,
    plot_lr_curve,
    scheduler_call,
    update_lr_axes,
    update_lr_curve,
    update_marker,
    update_text,
)

__all__ = ["LRScheduleExplorer", "PlateauExplorer"]


def _control(name: str, param):
    """The control for argument ``name`` from its :class:`~course_utils.schedules.Slider`."""
    s = param.slider
    label = s.label or name
    if s.kind == "log":
        return C.log_slider(label, s.value, s.low, s.high, step=s.step, fmt=s.fmt)
    if s.kind == "choice":
        return C.dropdown(label, list(param.choices), s.value)
    if s.kind == "range":
        return C.range_slider(label, s.value, s.low, s.high, s.step)
    if s.kind == "select":
        return C.selection_slider(label, [(f"{v:g}", v) for v in s.options], s.value)
    return C.slider(label, s.value, s.low, s.high, s.step, fmt=s.fmt)


def _spec_controls(specs) -> tuple[dict, dict]:
    """The controls of the sliders of ``specs`` (by key) and, per spec, its ``{key: argument}``."""
    controls, sliders, args = {}, {}, {}
    for spec in specs:
        args[spec.name] = {}
        for name, param in spec.params.items():
            if param.slider is None:
                continue
            key = param.slider.key or name
            if sliders.setdefault(key, param.slider) != param.slider:
                raise ValueError(f"{spec.name} argument {name}: slider {param.slider} differs from the other "
                                 f"one keyed {key!r}; allowed: the same slider, or another Slider.key")
            if key not in controls:
                controls[key] = _control(name, param)
            args[spec.name][key] = name
    return controls, args


def _note(spec, lrs, marked: bool) -> str:
    """The teaching note written above the plot."""
    if not np.any(lrs > 0):
        return tr("lr is 0 in every epoch: nothing would train")
    if spec.ignores_lr:
        return tr("{name} ignores the optimizer's lr", name=spec.name)
    return tr(spec.marker[1]) if marked else ""  # (a note marked with N_ in course_utils.schedules)


class LRScheduleExplorer(PlotWidget):
    """Pick a torch scheduler, move its own sliders, see the lr of every epoch; hold a curve to compare."""

    def __init__(self, scheduler: str = "StepLR", epochs: int = 100, lr: float = 0.1):
        check_choice("scheduler", scheduler, SCHEDULER_NAMES)
        check_number("epochs", epochs, low=10, high=200, integer=True)
        check_number("lr", lr, low=1e-4, high=1.0)
        sliders, self._args = _spec_controls(SCHEDULERS.values())
        hold = C.button(tr("hold as reference"), icon="thumb-tack", style="")
        hold.tooltip = tr("keep the current curve (dashed) to compare with the next one")
        # (the sliders of the schedulers' arguments are named after the arguments: they stay as they are)
        controls = {"scheduler": C.dropdown(tr("scheduler"), list(SCHEDULER_NAMES), scheduler,
                                            width="normal"),
                    "epochs": C.slider(tr("epochs"), epochs, 10, 200, 1),
                    "lr": C.log_slider(tr("optimizer lr"), float(lr), -4, 0),
                    "log_y": C.checkbox(tr("log y")), "hold": hold, **sliders}
        self._held: tuple | None = None  # (lrs, label) of the held curve
        self._current: tuple | None = None  # (lrs, label) of the curve shown
        fig, ax = new_figure((9.0, 4.2))
        fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.14)
        self.ax = ax
        values = {k: c.value for k, c in sliders.items()}
        first, _ = _schedule_unchecked(scheduler, int(epochs), float(lr), self._params(scheduler, values))
        self.ref_line = plot_lr_curve(ax, first, color=COLORS["baseline"], ls="--", lw=2, label=tr("held"))
        self.line = plot_lr_curve(ax, first, color=COLORS["ce"], lw=2.5, label=tr("selected"))
        # the legend is made before the lines turn dynamic (its handles copy them) and never changes
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, frameon=False)
        self.marker = ax.axvline(0, color=COLORS["accent"], ls=":", lw=2)
        # The note is static (drawing a text costs ~4 ms, a blit of lines < 1 ms): it changes only with
        # the dropdown or when T_max crosses epochs, and then everything is redrawn.
        self.note = ax.text(0.0, 1.02, "", transform=ax.transAxes, ha="left", va="bottom",
                            color=COLORS["accent"])
        self.message = show_message(ax, "")
        # (observers registered before the base class's: they act before the redraw)
        controls["scheduler"].observe(self._on_scheduler, names="value")
        hold.on_click(self._on_hold)
        # epochs and lr move the axes among a few round limits: each background is drawn once
        super().__init__(fig, controls, dynamic=[self.ref_line, self.line, self.marker, self.message],
                         backgrounds=8)
        self._show_controls(scheduler)
        self.refresh()

    def static_state(self):
        return super().static_state(), self.note.get_text()

    def _params(self, scheduler: str, values: dict) -> dict:
        """Scheduler arguments from the control values (a range slider's pair becomes a list)."""
        return {arg: list(values[key]) if isinstance(values[key], tuple) else values[key]
                for key, arg in self._args[scheduler].items()}

    def _on_scheduler(self, change) -> None:
        self._show_controls(change["new"])

    def _show_controls(self, scheduler: str) -> None:
        """Show (and enable) only the sliders of ``scheduler``."""
        for key in (k for args in self._args.values() for k in args):
            on = key in self._args[scheduler]
            self.controls[key].layout.display = None if on else "none"
            self.controls[key].disabled = not on

    def _on_hold(self, button) -> None:
        """Hold the curve shown as the dashed reference, or clear the one held."""
        self._held = self._current if self._held is None else None
        button.description = tr("clear") if self._held is not None else tr("hold as reference")
        self.refresh()

    def update(self, scheduler, epochs, lr, log_y, **values):
        spec = SCHEDULERS[scheduler]
        params = self._params(scheduler, values)
        try:
            lrs, params = _schedule_unchecked(scheduler, epochs, lr, params)
        except (TypeError, ValueError) as exc:
            self._current = None
            self._show_error(scheduler, params, exc)
            return
        self._current = (lrs, f"{scheduler}, lr={lr:.3g}")
        held = self._held[0] if self._held is not None else None
        show_message(None, "", artist=self.message)
        update_lr_curve(self.line, lrs)
        update_lr_curve(self.ref_line, held)
        update_lr_axes(self.ax, [lrs] if held is None else [lrs, held], log_y)
        at = params.get(spec.marker[0]) if spec.marker else None
        marked = at is not None and at < epochs
        update_marker(self.marker, at if marked else None)
        update_text(self.note, _note(spec, lrs, marked))  # part of static_state(): a change redraws
        self.readout.value = self._readout(spec, params, epochs, lr, lrs)

    def _show_error(self, scheduler: str, params: dict, exc: Exception) -> None:
        """A setting torch (or a check between arguments) refuses: say why on the plot and in the readout."""
        text = str(exc) if str(exc).startswith(scheduler) else f"{scheduler}: {exc}"
        show_message(None, text.replace("; allowed", ";\nallowed"), artist=self.message)
        update_lr_curve(self.line, None)
        update_marker(self.marker, None)
        update_text(self.note, "")
        self.readout.value = tr("{call} cannot run: {error}",
                                call=C.code(scheduler_call(scheduler, **params)), error=C.escape(exc))

    def _readout(self, spec, params: dict, epochs: int, lr: float, lrs) -> str:
        ignores = (tr("<b>{name} ignores the optimizer's lr={lr:.3g}</b>: it starts at {start:.4g} = {what}",
                      name=spec.name, lr=lr, start=lrs[0], what=spec.ignores_lr) + "<br>"
                   if spec.ignores_lr else "")
        held = "<br>" + tr("dashed grey: held {label}", label=self._held[1]) if self._held is not None else ""
        unit = (tr("one point per <code>scheduler.step()</code> call: an epoch here; {name} is usually "
                   "stepped per batch, its lengths counted in batches", name=spec.name) + "<br>"
                if spec.per_batch else "")
        return ignores + unit + tr(
            "{optimizer}<br>{scheduler}<br>closed form: {formula}<br>epoch 0: <b>{first:.4g}</b> · "
            "epoch {last_epoch}: <b>{last:.4g}</b> · max {high:.4g} · min {low:.4g}",
            optimizer=C.code(f"optimizer = torch.optim.SGD(params, lr={lr:.3g})"),
            scheduler=C.code(f"scheduler = {scheduler_call(spec.name, **params)}"),
            formula=tr(spec.formula),  # (its words are marked with N_ in course_utils.schedules)
            first=lrs[0], last_epoch=epochs - 1, last=lrs[-1], high=lrs.max(), low=lrs.min()) + held


class PlateauExplorer(PlotWidget):
    """ReduceLROnPlateau on a synthetic val-loss curve: where the lr is cut, and why."""

    def __init__(self, epochs: int = 60, lr: float = 0.1):
        check_number("epochs", epochs, low=10, high=300, integer=True)
        check_number("lr", lr, low=1e-4, high=10.0)
        self.lr0 = float(lr)
        self.epochs = int(epochs)
        sliders, _ = _spec_controls([PLATEAU])
        controls = {**sliders, "seed": C.slider(tr("noise seed"), 0, 0, 20, 1)}
        fig, (ax_loss, ax_lr) = new_figure((9.0, 5.2), nrows=2, sharex=True)
        fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.1, hspace=0.12)
        self.ax_loss, self.ax_lr = ax_loss, ax_lr
        trace = _synthetic_trace(self.epochs, 0, self.lr0, tuple((k, c.value) for k, c in sliders.items()),
                                 get_language())
        # the lr axis is fixed: slider moves only blit (the legends' handles, made here, stay static)
        self.art = plot_plateau(ax_loss, ax_lr, trace, lr_limits=(self.lr0 * 1e-3, self.lr0 * 2))
        ax_loss.set_xlim(0, self.epochs)
        ax_loss.set_title(tr("ReduceLROnPlateau on a replayed validation-loss curve"), loc="left")
        super().__init__(fig, controls, dynamic=list(self.art.values()))
        self.refresh()

    def update(self, seed, **params):
        trace = _synthetic_trace(self.epochs, seed, self.lr0, tuple(params.items()), get_language())
        update_plateau(self.art, trace)
        self._shown = (seed, params, trace)

    def readout_html(self) -> str:
        seed, params, trace = self._shown
        return self._readout(trace, params) + self._min_lr_note(seed, params, trace)

    def _min_lr_note(self, seed, params: dict, trace) -> str:
        """Whether ``min_lr`` changes anything: compared with the same run at ``min_lr=0`` (cached too)."""
        min_lr = params["min_lr"]
        if min_lr == 0:
            return tr("min_lr = 0: no floor (the dotted line shows one when min_lr &gt; 0).")
        free = _synthetic_trace(self.epochs, seed, self.lr0, tuple({**params, "min_lr": 0.0}.items()),
                                get_language())
        if np.array_equal(free.lr_after, trace.lr_after):
            return tr("<b>min_lr = {min_lr:g} changes nothing here</b>: every lr this run reaches "
                      "(lowest {lowest:.3g}) is above it.", min_lr=min_lr, lowest=free.lr_after.min())
        held_from = int(np.argmax(trace.lr_after <= min_lr))
        return tr("min_lr = {min_lr:g} holds the lr at {min_lr:g} from the end of epoch {epoch} "
                  "(without it: down to {lowest:.3g}).", min_lr=min_lr, epoch=held_from,
                  lowest=free.lr_after.min())

    @staticmethod
    def _readout(trace, params: dict) -> str:
        cuts = trace.cuts
        first = tr("first cut after epoch {epoch}", epoch=cuts[0]) if cuts else tr("no cut")
        items = list(trace.why.items())
        end = tr("end of epoch {epoch}: {why}")  # (one lookup for every row)
        rows = "".join(f"<li>{end.format(epoch=e, why=why)}</li>" for e, why in items[:8])
        if len(items) > 8:
            rows += "<li>" + tr("… and {n} more", n=len(items) - 8) + "</li>"
        cooldown = params["cooldown"]
        rows = rows or "<li>" + tr("no cut: every run of bad epochs was shorter") + "</li>"
        needs = {"needed": params["patience"] + 1, "formula": tr(PLATEAU.formula), "cooldown": cooldown}
        return ("<b>" + tr("{n} cut(s), {first}; final lr {lr:.3g}", n=len(cuts), first=first,
                           lr=trace.lr_after[-1]) + "</b><br>"
                + tr("{call}; {step} at the end of each epoch.",
                     call=C.code("scheduler = " + scheduler_call(PLATEAU.name, **params)),
                     step=C.code("scheduler.step(val_loss)")) + "<br>"
                + (tr("A cut needs patience+1 = {needed} bad epochs in a row; cooldown {cooldown} swallows "
                      "the epochs after a cut; {formula}.", **needs) if cooldown else
                   tr("A cut needs patience+1 = {needed} bad epochs in a row; {formula}.", **needs))
                + f"<ul style='margin:2px 0'>{rows}</ul>")
