"""Notebook 05's training dashboard: pick loss, optimizer, scheduler, lr, epochs and seed; press Train."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
from matplotlib.lines import Line2D

from course_utils import training as T
from course_utils.checks import check_number
from course_utils.data import DigitsSplit, load_imbalanced_digits
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.i18n import tr
from course_utils.plotting import COLORS, new_figure, show_message
from course_utils.training_report import results_html


class TrainingDashboard(PlotWidget):
    """Pick loss, optimizer, scheduler, lr, epochs and seed; press Train; watch the curves grow per epoch.

    Every finished run is appended to ``runs`` (pass earlier runs to start the table with them) and
    shown in the table below the plot. Moving a control only notes the pending setting; training
    happens on the button (``dashboard.train()`` does the same from Python). The figure is redrawn
    once per epoch (never per batch).
    """

    def __init__(self, data: DigitsSplit | None = None, runs=None, *, epochs: int = 30, device=None):
        check_number("epochs", epochs, low=1, high=100, integer=True)
        self.data = data or load_imbalanced_digits()
        self.runs = list(runs or [])
        self.device = device
        self.baseline = T.majority_baseline(self.data)
        # what the plot shows: (history, config) of the run in progress or the last one; a note on the plot
        self.shown = (self.runs[-1].history, self.runs[-1].config) if self.runs else None
        self.note = tr("press Train to start a run") if self.shown is None else ""
        self.running = False
        fig, axes = new_figure((10.5, 6.6), nrows=2, ncols=2)
        ax_loss, ax_lr, ax_f1, ax_rec = axes.ravel()
        self.lines = T.plot_history((ax_loss, ax_lr, ax_f1), {key: [] for key in T.HISTORY_KEYS},
                                    baseline_f1=self.baseline["macro_f1"], accuracy=True)
        ax_f1.set(ylabel=tr("score"), title=tr("validation macro-F1 and accuracy"))
        ax_loss.set_title("loss")
        dark = "0.25"  # legends name the line styles; the colour is the run's loss (LOSS_COLORS)
        # one legend above the panels, outside the data (blitted lines would cover a legend inside)
        fig.legend([Line2D([], [], color=dark), Line2D([], [], color=dark, ls="--"),
                    Line2D([], [], color=COLORS["baseline"], lw=1.5, ls="-."),
                    Line2D([], [], color=COLORS["baseline"], ls=":")],
                   [tr("train loss (mean over the epoch)"), tr("validation loss"), tr("validation accuracy"),
                    tr("always-majority macro-F1")],
                   loc="upper center", ncols=4, fontsize="small", frameon=False)
        (self.bars,) = T.plot_recall(ax_rec, [("ce", np.zeros(self.data.n_classes))], self.data.train_counts)
        ax_rec.set_title(tr("recall per class"))
        self.message = show_message(ax_loss, "")
        shown_config = self.shown[1] if self.shown else T.TrainConfig(epochs=epochs)
        T.set_history_limits(self.lines, shown_config.epochs, shown_config.lr)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        controls = {
            "loss": C.dropdown("loss", [(v, k) for k, v in T.LOSSES.items()], "ce", width="normal"),
            "optimizer": C.dropdown(tr("optimizer"), list(T.TRAINING_OPTIMIZERS), "Adam", width="normal"),
            "scheduler": C.dropdown(tr("scheduler"), list(T.TRAINING_SCHEDULERS), "CosineAnnealingLR",
                                    width="normal"),
            "lr": C.log_slider("lr", T.DEFAULT_LR["Adam"], -4, 0, fmt=".1e"),
            "epochs": C.slider(tr("epochs"), epochs, 1, 100, 1),
            "seed": C.slider(tr("seed"), 0, 0, 99, 1, width="medium"),
            "train": C.button(tr("Train"), icon="play"),
        }
        controls["optimizer"].observe(self._on_optimizer, names="value")
        controls["train"].on_click(self._on_train)
        self.progress = W.Output()  # the tqdm bar, shown under the controls
        dynamic = [*self.lines.values(), *self.bars, ax_rec.title, ax_loss.title, self.message]
        super().__init__(fig, controls, header=[self.progress], dynamic=dynamic)
        self.refresh()

    def config(self) -> T.TrainConfig:
        """The TrainConfig the controls describe now."""
        v = self.values()
        return T.TrainConfig(loss=v["loss"], optimizer=v["optimizer"], scheduler=v["scheduler"],
                             lr=float(v["lr"]), epochs=int(v["epochs"]), seed=int(v["seed"]))

    def _on_optimizer(self, change) -> None:
        self.controls["lr"].value = T.DEFAULT_LR[change["new"]]

    def update(self, **values) -> None:
        if self.shown is not None:
            history, config = self.shown
            T.update_history(self.lines, history, loss=config.loss)
            e = history["epoch"]
            recall = history["val_recall"][-1] if e else np.zeros(len(self.bars))
            T.update_recall(self.bars, recall, config.loss, epoch=e[-1] if e else 0)
        show_message(None, self.note, artist=self.message)
        status = (tr("<b>training:</b> {run}", run=C.escape(self.shown[1].label())) if self.running else
                  tr("<b>next run (press Train):</b> {run}", run=C.escape(self.config().label())))
        self.readout.value = f"<p>{status}{self._momentum_note()}</p>" + results_html(self.runs)

    def _momentum_note(self) -> str:
        """What the shown run's momentum (SGD) or β₁ (Adam) was, epoch by epoch, when something changed it."""
        if self.shown is None:
            return ""
        history, config = self.shown
        used = [m for m in history.get("momentum", []) if m is not None]
        if not used or min(used) == max(used):
            return ""
        name = tr("momentum") if config.optimizer.startswith("SGD") else "β₁"
        own = T.optimizer_momentum(config.optimizer)
        return "<br>" + tr("{name} used in epochs 1…{epochs}: {first:.3f} → min {low:.3f} → {last:.3f}, set "
                           "by {scheduler} (the optimizer's own {own} is not used)", name=name,
                           epochs=len(used), first=used[0], low=min(used), last=used[-1],
                           scheduler=config.scheduler, own=own)

    def train(self) -> T.RunResult | None:
        """Run the controls' config, redrawing after every epoch; append the result to ``runs``."""
        config = self.config()
        button = self.controls["train"]
        button.disabled = True
        self.running, self.note = True, ""
        self.shown = ({key: [] for key in T.HISTORY_KEYS}, config)
        T.set_history_limits(self.lines, config.epochs, config.lr)
        self.progress.clear_output()
        result = None
        try:
            with self.progress:
                result = T.run_experiment(config, self.data, device=self.device, on_epoch_end=self._on_epoch)
            self.runs.append(result)
            self.shown = (result.history, config)
            if result.macro_f1 <= 2 * self.baseline["macro_f1"]:
                self.note = tr("macro-F1 {f1:.3f}: close to always answering the\nmajority class "
                               "({baseline:.3f}).\nCheck the learning rate and the number of epochs.",
                               f1=result.macro_f1, baseline=self.baseline["macro_f1"])
        except Exception as exc:  # a diverged run (FloatingPointError) or a broken setting: on the plot
            self.note = tr("stopped: {error}", error=exc) if isinstance(exc, FloatingPointError) else \
                tr("cannot train this setting: {error}: {message}", error=type(exc).__name__, message=exc)
        finally:
            self.running = False
            button.disabled = False
        self.refresh()
        return result

    def plot_state(self):
        """What the plot shows: the run and how many epochs of it, and the note (a control move alone
        changes only the readout, so the figure is not redrawn)."""
        return (id(self.shown[0]) if self.shown else None, len(self.shown[0]["epoch"]) if self.shown else 0,
                self.shown[1] if self.shown else None, self.note)

    def _on_epoch(self, history, model) -> None:
        self.shown = (history, self.shown[1])
        self.refresh()

    def _on_train(self, button) -> None:
        self.train()
