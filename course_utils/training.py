"""Notebook 05: one real training run on imbalanced digits: model, loss, optimizer, scheduler, metric.

Three layers, as in every topic module:

* data and compute: :func:`load_imbalanced_digits`, the factories :func:`make_model`,
  :func:`make_criterion`, :func:`make_optimizer`, :func:`make_scheduler`, the loop :func:`train`
  (returns the history as a dict of per-epoch lists), :func:`run_experiment` / :func:`compare_losses`
  (config in, :class:`RunResult` out) and the result table :func:`results_table`;
* drawing on a given ``Axes``: :func:`plot_history`, :func:`plot_recall`, :func:`plot_confusion`;
* the widget :class:`TrainingDashboard`: loss / optimizer / scheduler / lr / epochs / seed and a Train
  button; the figure is redrawn once per epoch (never per batch).

Metrics come from scikit-learn directly (``f1_score(average="macro")``, ``recall_score``,
``confusion_matrix``), so every number shown is scikit-learn's.
"""

from __future__ import annotations

import functools
import html
import math
import time
from dataclasses import asdict, dataclass, field, replace

import ipywidgets as W
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score
from sklearn.model_selection import train_test_split
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from course_utils.checks import check_choice, check_number, check_type
from course_utils.explorers.base import PlotWidget, new_figure
from course_utils.plotting import COLORS, show_message
from course_utils.reproducibility import get_device, set_seed, torch_threads

LOSSES = {"ce": "cross-entropy", "weighted_ce": "weighted CE", "focal": "focal (γ=2)",
          "label_smoothing": "label smoothing (ε=0.1)"}
OPTIMIZERS = {"sgd": "SGD + momentum 0.9", "adam": "Adam", "adamw": "AdamW (wd 0.01)"}
SCHEDULERS = {"constant": "constant", "step": "StepLR (÷10 at 1/3, 2/3)", "cosine": "CosineAnnealingLR",
              "onecycle": "OneCycleLR", "plateau": "ReduceLROnPlateau (×0.5, patience 3)"}
MODELS = ("mlp", "cnn")
#: A learning rate that works for each optimizer on this data (the dashboard's lr follows the optimizer).
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-2, "adamw": 1e-2}
LOSS_COLORS = {"ce": COLORS["ce"], "weighted_ce": "#9467bd", "focal": COLORS["focal"],
               "label_smoothing": COLORS["smooth"]}
HISTORY_KEYS = ("epoch", "lr", "train_loss", "val_loss", "val_accuracy", "val_macro_f1", "val_recall")


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def long_tail_counts(n_classes: int = 10, n_max: int = 170, imbalance_ratio: float = 10.0) -> np.ndarray:
    """Samples per class falling geometrically from ``n_max`` (class 0) to ``n_max / imbalance_ratio``."""
    check_number("n_classes", n_classes, low=2, integer=True)
    check_number("n_max", n_max, low=1, integer=True)
    check_number("imbalance_ratio", imbalance_ratio, low=1.0)
    counts = np.round(n_max * imbalance_ratio ** (-np.arange(n_classes) / (n_classes - 1))).astype(int)
    return np.maximum(counts, 1)


@dataclass(frozen=True, eq=False)
class DigitsSplit:
    """An imbalanced subset of scikit-learn's 8x8 digits, split into train and validation.

    ``X_*`` are float32 pixel values scaled to [0, 1] (the raw data is 0..16), shape (n, 64);
    ``*_index`` are the rows of ``load_digits()`` they come from; ``class_counts`` the subset's size
    per class.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    class_counts: np.ndarray
    imbalance_ratio: float
    seed: int

    @property
    def n_classes(self) -> int:
        """Number of classes (10 digits)."""
        return len(self.class_counts)

    @property
    def train_counts(self) -> np.ndarray:
        """Training samples per class."""
        return np.bincount(self.y_train, minlength=self.n_classes)

    @property
    def val_counts(self) -> np.ndarray:
        """Validation samples per class."""
        return np.bincount(self.y_val, minlength=self.n_classes)

    def describe(self) -> str:
        """One line: sizes and the class distribution."""
        return (f"{len(self.y_train)} train / {len(self.y_val)} validation images, {self.n_classes} classes; "
                f"train samples per class {self.train_counts.tolist()} "
                f"(imbalance {self.train_counts.max() / self.train_counts.min():.1f}:1)")


def load_imbalanced_digits(imbalance_ratio: float = 10.0, n_max: int = 170, val_size: float = 0.3,
                           seed: int = 0) -> DigitsSplit:
    """``load_digits`` made long-tailed (digit 0 most frequent, 9 rarest), then a stratified split.

    Class ``c`` keeps ``long_tail_counts(...)[c]`` of its images, drawn at random with ``seed``; the
    split is ``train_test_split(stratify=y, random_state=seed)``, so each class keeps its share in
    both parts.
    """
    check_number("val_size", val_size, low=0.0, high=1.0, low_open=True, high_open=True)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    digits = load_digits()
    counts = long_tail_counts(10, n_max, imbalance_ratio)
    available = np.bincount(digits.target, minlength=10)
    if np.any(counts > available):
        raise ValueError(f"n_max={n_max!r} asks for more images than a digit has; allowed: n_max <= "
                         f"{available.min()}")
    rng = np.random.default_rng(seed)
    index = np.concatenate([np.sort(rng.choice(np.flatnonzero(digits.target == c), n, replace=False))
                            for c, n in enumerate(counts)])
    y = digits.target[index]
    train_index, val_index = train_test_split(index, test_size=val_size, stratify=y, random_state=seed)
    X = (digits.data / 16.0).astype(np.float32)
    target = digits.target.astype(np.int64)
    return DigitsSplit(X[train_index], target[train_index], X[val_index], target[val_index],
                       train_index, val_index, counts, float(imbalance_ratio), seed)


def class_weights(y, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights ``N / (K * n_c)`` (scikit-learn's ``class_weight="balanced"``)."""
    counts = np.bincount(np.asarray(y), minlength=n_classes)
    if np.any(counts == 0):
        raise ValueError(f"y has no sample of class(es) {np.flatnonzero(counts == 0).tolist()}; "
                         "allowed: every class present")
    return torch.tensor(len(y) / (n_classes * counts), dtype=torch.float32)


def majority_baseline(data: DigitsSplit) -> dict:
    """Accuracy and macro-F1 on validation of always predicting the most frequent training class."""
    pred = np.full_like(data.y_val, np.bincount(data.y_train).argmax())
    return {"accuracy": accuracy_score(data.y_val, pred),
            "macro_f1": f1_score(data.y_val, pred, average="macro", labels=np.arange(data.n_classes),
                                 zero_division=0)}


# ---------------------------------------------------------------------------------------------
# factories by name
# ---------------------------------------------------------------------------------------------
def make_model(name: str = "mlp", n_features: int = 64, n_classes: int = 10, hidden: int = 64) -> nn.Module:
    """A small classifier for flat 8x8 images: ``"mlp"`` (one hidden layer) or ``"cnn"`` (two conv layers)."""
    check_choice("name", name, MODELS)
    check_number("hidden", hidden, low=1, integer=True)
    if name == "mlp":
        return nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    side = math.isqrt(n_features)
    if side * side != n_features or side % 4:
        raise ValueError(f"n_features={n_features!r} is not a square image with a side divisible by 4; "
                         "allowed for 'cnn': 64 (8x8), 256, ...")
    return nn.Sequential(nn.Unflatten(1, (1, side, side)),
                         nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * (side // 4) ** 2, n_classes))


def make_criterion(name: str, train_labels=None, n_classes: int = 10, *, gamma: float = 2.0,
                   eps: float = 0.1) -> nn.Module:
    """The loss by name: ``"ce"``, ``"weighted_ce"`` (needs ``train_labels``), ``"focal"``,
    ``"label_smoothing"``.

    Weighted CE uses :func:`class_weights`; focal is ``course_utils.losses.FocalLoss(gamma)`` (no alpha);
    label smoothing is torch's ``nn.CrossEntropyLoss(label_smoothing=eps)``.
    """
    check_choice("name", name, LOSSES)
    if name == "ce":
        return nn.CrossEntropyLoss()
    if name == "weighted_ce":
        if train_labels is None:
            raise ValueError("train_labels=None; allowed: the training labels, needed for 'weighted_ce'")
        return nn.CrossEntropyLoss(weight=class_weights(train_labels, n_classes))
    if name == "focal":
        from course_utils.losses import FocalLoss  # lazy: notebook 02's module

        return FocalLoss(gamma=gamma)
    check_number("eps", eps, low=0.0, high=1.0, high_open=True)
    return nn.CrossEntropyLoss(label_smoothing=eps)


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """``"sgd"`` (momentum 0.9), ``"adam"`` or ``"adamw"`` (weight decay 0.01) over ``params``."""
    check_choice("name", name, OPTIMIZERS)
    check_number("lr", lr, low=0.0, low_open=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


def make_scheduler(name: str, optimizer, epochs: int):
    """A real torch scheduler stepped once per epoch (``None`` for ``"constant"``).

    ``"step"``: StepLR(step_size=max(1, epochs // 3), gamma=0.1);
    ``"cosine"``: CosineAnnealingLR(T_max=epochs);
    ``"onecycle"``: OneCycleLR(max_lr=the optimizer's lr, total_steps=epochs); ``"plateau"``:
    ReduceLROnPlateau(factor=0.5, patience=3) on the validation loss.
    """
    check_choice("name", name, SCHEDULERS)
    check_number("epochs", epochs, low=1, integer=True)
    sched = torch.optim.lr_scheduler
    if name == "constant":
        return None
    if name == "step":
        return sched.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "onecycle":
        return sched.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"], total_steps=epochs)
    return sched.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=3)


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model, criterion, X, y) -> tuple[float, torch.Tensor]:
    """Loss and predicted classes of ``model`` on ``(X, y)``, in eval mode, without gradients."""
    model.eval()
    out = model(X)
    return criterion(out, y).item(), out.argmax(dim=1)


def epoch_metrics(y_true, y_pred, n_classes: int) -> dict:
    """Validation accuracy, macro-F1 and per-class recall, straight from scikit-learn."""
    labels = np.arange(n_classes)
    return {"val_accuracy": accuracy_score(y_true, y_pred),
            "val_macro_f1": f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0),
            "val_recall": recall_score(y_true, y_pred, average=None, labels=labels, zero_division=0).tolist()}


def train(model, criterion, optimizer, train_loader, X_val, y_val, *, epochs, scheduler=None,
          device=None, on_epoch_end=None, progress=True) -> dict:
    """Train ``model`` for ``epochs`` epochs; return the history, a dict of per-epoch lists (HISTORY_KEYS).

    ``train_loss`` is the mean of the batch losses weighted by batch size; ``val_*`` are measured after the
    epoch; ``lr`` is the learning rate used during the epoch. ``on_epoch_end(history, model)`` runs after
    every epoch (the dashboard redraws there). Raises FloatingPointError when the loss becomes inf/nan.
    """
    device = device or get_device()
    model.to(device)
    criterion.to(device)
    X_val, y_val = X_val.to(device), y_val.to(device)
    n_classes = None
    history = {key: [] for key in HISTORY_KEYS}
    for epoch in tqdm(range(1, epochs + 1), desc="epochs", disable=not progress):
        lr = optimizer.param_groups[0]["lr"]           # the lr used during this epoch
        model.train()
        loss_sum, seen = 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            out = model(x)                             # 1. forward: logits
            loss = criterion(out, y)                   # 2. loss
            optimizer.zero_grad()                      # 3. forget the last batch's gradients
            loss.backward()                            # 4. backprop: fill every .grad
            optimizer.step()                           # 5. update the weights
            loss_sum += loss.item() * len(y)
            seen += len(y)
            n_classes = out.shape[1]
        train_loss = loss_sum / seen
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"the training loss became {train_loss} in epoch {epoch} "
                                     f"(lr={lr:.3g}): lower the learning rate")
        val_loss, pred = evaluate(model, criterion, X_val, y_val)
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(val_loss)                   # 6. plateau: watch the validation loss
        elif scheduler is not None:
            scheduler.step()                           # 6. schedule: once per epoch
        record = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "val_loss": val_loss,
                  **epoch_metrics(y_val.cpu().numpy(), pred.cpu().numpy(), n_classes)}
        for key, value in record.items():
            history[key].append(value)
        if on_epoch_end is not None:
            on_epoch_end(history, model)
    return history


# ---------------------------------------------------------------------------------------------
# one run from a config, and a table of runs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one run (the data split is passed separately)."""

    loss: str = "ce"
    optimizer: str = "adam"
    scheduler: str = "cosine"
    lr: float = DEFAULT_LR["adam"]
    epochs: int = 30
    seed: int = 0
    batch_size: int = 64
    model: str = "mlp"
    hidden: int = 64

    def __post_init__(self):
        check_choice("loss", self.loss, LOSSES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("scheduler", self.scheduler, SCHEDULERS)
        check_choice("model", self.model, MODELS)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_number("epochs", self.epochs, low=1, integer=True)
        check_number("seed", self.seed, low=0, high=2**32 - 1, integer=True)
        check_number("batch_size", self.batch_size, low=1, integer=True)
        check_number("hidden", self.hidden, low=1, integer=True)

    def label(self) -> str:
        """Short description for tables and titles."""
        return (f"{LOSSES[self.loss]} · {self.optimizer} lr={self.lr:.3g} · {self.scheduler} · "
                f"{self.epochs} ep · seed {self.seed}")


@dataclass(eq=False)
class RunResult:
    """One finished run: its config, history, final validation predictions and the trained model."""

    config: TrainConfig
    history: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    train_counts: np.ndarray
    model: nn.Module = field(repr=False)
    seconds: float = 0.0

    @functools.cached_property
    def accuracy(self) -> float:
        """Validation accuracy of the final model."""
        return accuracy_score(self.y_true, self.y_pred)

    @functools.cached_property
    def macro_f1(self) -> float:
        """Validation macro-F1 of the final model."""
        return f1_score(self.y_true, self.y_pred, average="macro", labels=np.arange(len(self.train_counts)),
                        zero_division=0)

    @functools.cached_property
    def recall(self) -> np.ndarray:
        """Validation recall per class of the final model."""
        return recall_score(self.y_true, self.y_pred, average=None, labels=np.arange(len(self.train_counts)),
                            zero_division=0)

    @functools.cached_property
    def confusion(self) -> np.ndarray:
        """Confusion matrix (rows: true class, columns: predicted) of the final model."""
        return confusion_matrix(self.y_true, self.y_pred, labels=np.arange(len(self.train_counts)))

    def rare_classes(self, k: int = 3) -> np.ndarray:
        """The ``k`` classes with the fewest training samples."""
        return np.sort(np.argsort(self.train_counts, kind="stable")[:k])

    def rare_recall(self, k: int = 3) -> float:
        """Mean validation recall of the ``k`` rarest classes."""
        return float(self.recall[self.rare_classes(k)].mean())


def run_experiment(config: TrainConfig | None = None, data: DigitsSplit | None = None, *, device=None,
                   on_epoch_end=None, progress=True, threads: int | None = 1) -> RunResult:
    """Seed; build model, loss, optimizer, scheduler and loader from ``config``; :func:`train`; collect.

    ``threads=1``: the batches are tiny, so one CPU thread is faster than several fighting over 2 cores.
    """
    config = config or TrainConfig()
    check_type("config", config, TrainConfig, "a TrainConfig")
    data = data or load_imbalanced_digits()
    check_type("data", data, DigitsSplit, "a DigitsSplit from load_imbalanced_digits()")
    device = device or get_device()
    start = time.perf_counter()
    with torch_threads(threads if device.type == "cpu" else None):
        set_seed(config.seed)
        X_train, y_train = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
        X_val, y_val = torch.from_numpy(data.X_val), torch.from_numpy(data.y_val)
        loader = DataLoader(TensorDataset(X_train, y_train), batch_size=config.batch_size, shuffle=True,
                            generator=torch.Generator().manual_seed(config.seed))
        model = make_model(config.model, X_train.shape[1], data.n_classes, config.hidden)
        criterion = make_criterion(config.loss, data.y_train, data.n_classes)
        optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr)
        scheduler = make_scheduler(config.scheduler, optimizer, config.epochs)
        history = train(model, criterion, optimizer, loader, X_val, y_val, epochs=config.epochs,
                        scheduler=scheduler, device=device, on_epoch_end=on_epoch_end, progress=progress)
        _, pred = evaluate(model, criterion, X_val.to(device), y_val.to(device))
    return RunResult(config, history, data.y_val.copy(), pred.cpu().numpy(), data.train_counts, model.cpu(),
                     time.perf_counter() - start)


def compare_losses(data: DigitsSplit | None = None, losses=tuple(LOSSES), progress=False,
                   **config) -> list[RunResult]:
    """One run per loss, everything else equal (``config`` overrides :class:`TrainConfig` fields)."""
    data = data or load_imbalanced_digits()
    for name in losses:
        check_choice("losses", name, LOSSES)
    base = TrainConfig(**config)
    return [run_experiment(replace(base, loss=name), data, progress=progress) for name in losses]


def results_table(runs) -> list[dict]:
    """One row per run: its config, accuracy, macro-F1, rare-class recall and recall per class."""
    rows = []
    for i, run in enumerate(runs, 1):
        row = {"run": i, **asdict(run.config), "accuracy": run.accuracy, "macro_f1": run.macro_f1,
               "rare_recall": run.rare_recall(), "seconds": run.seconds}
        row.update({f"recall_{c}": r for c, r in enumerate(run.recall)})
        rows.append(row)
    return rows


def results_html(runs) -> str:
    """The result table as HTML (accuracy next to macro-F1, recall per class, rare classes marked)."""
    if not runs:
        return "<i>No runs yet: press Train.</i>"
    rare = set(runs[0].rare_classes().tolist())
    n = len(runs[0].train_counts)
    head = ["#", "loss", "optimizer", "scheduler", "lr", "epochs", "seed", "accuracy", "<b>macro-F1</b>",
            "rare recall"] + [f"{'<u>' if c in rare else ''}rec {c}{'</u>' if c in rare else ''}"
                              for c in range(n)]
    cell = "style='padding:1px 6px;text-align:right;white-space:nowrap'"
    lines = ["<div style='overflow-x:auto'><table style='border-collapse:collapse;font-size:90%'>",
             "<tr>" + "".join(f"<th {cell}>{h}</th>" for h in head) + "</tr>"]
    for row in results_table(runs):
        values = [row["run"], html.escape(LOSSES[row["loss"]]), row["optimizer"], row["scheduler"],
                  f"{row['lr']:.3g}", row["epochs"], row["seed"], f"{row['accuracy']:.3f}",
                  f"<b>{row['macro_f1']:.3f}</b>", f"{row['rare_recall']:.2f}"]
        values += [f"{row[f'recall_{c}']:.2f}" for c in range(n)]
        lines.append("<tr>" + "".join(f"<td {cell}>{v}</td>" for v in values) + "</tr>")
    lines.append("</table></div>")
    lines.append(f"<small>rare recall = mean recall of the 3 rarest classes "
                 f"({', '.join(map(str, sorted(rare)))}, underlined). "
                 "Metrics on the validation split, from scikit-learn.</small>")
    return "\n".join(lines)


def describe_comparison(runs, reference: str = "ce") -> list[str]:
    """Sentences that state what the runs' own numbers show (nothing is assumed)."""
    if not runs:
        return []
    name = {id(r): LOSSES[r.config.loss] for r in runs}

    def highest(metric):  # every run that ties for the top at the printed precision
        top = max(round(getattr(r, metric), 3) for r in runs)
        return f"{' and '.join(name[id(r)] for r in runs if round(getattr(r, metric), 3) == top)} ({top:.3f})"

    rare = runs[0].rare_classes()
    lines = [f"Highest macro-F1: {highest('macro_f1')}; highest accuracy: {highest('accuracy')}.",
             f"Mean recall of the rarest classes {rare.tolist()}: "
             + ", ".join(f"{name[id(r)]} {r.rare_recall():.2f}" for r in runs) + "."]
    ref = next((r for r in runs if r.config.loss == reference), None)
    if ref is not None:
        for r in runs:
            if r is ref:
                continue
            lines.append(f"{name[id(r)]} vs {name[id(ref)]}: "
                         f"rare-class recall {_change(ref.rare_recall(), r.rare_recall())}, "
                         f"macro-F1 {_change(ref.macro_f1, r.macro_f1, 3)}, "
                         f"accuracy {_change(ref.accuracy, r.accuracy, 3)}.")
    gaps = [r.accuracy - r.macro_f1 for r in runs]
    lines.append("Accuracy − macro-F1: "
                 + ", ".join(f"{name[id(r)]} {g:+.3f}" for r, g in zip(runs, gaps)) + ".")
    return lines


def _change(before: float, after: float, digits: int = 2) -> str:
    """'rises 0.52 → 0.74' / 'falls ...' / 'stays at ...' (compared at the printed precision)."""
    a, b = round(before, digits), round(after, digits)
    if a == b:
        return f"stays at {a:.{digits}f}"
    return f"{'rises' if b > a else 'falls'} {a:.{digits}f} → {b:.{digits}f}"


# ---------------------------------------------------------------------------------------------
# drawing on given axes
# ---------------------------------------------------------------------------------------------
def plot_history(axes, history, *, color=COLORS["ce"], label=None, baseline_f1=None) -> dict:
    """Draw loss (train solid, val dashed), lr, and val macro-F1 per epoch on three axes; return the lines."""
    ax_loss, ax_lr, ax_f1 = axes
    e = history["epoch"]
    tag = f"{label} " if label else ""
    marker = "o" if len(e) == 1 else "None"  # a single epoch is a point, not a line
    lines = {"train_loss": ax_loss.plot(e, history["train_loss"], "-", color=color, label=f"{tag}train")[0],
             "val_loss": ax_loss.plot(e, history["val_loss"], "--", color=color, label=f"{tag}val")[0],
             "lr": ax_lr.plot(e, history["lr"], "-", color=color, label=label)[0],
             "val_macro_f1": ax_f1.plot(e, history["val_macro_f1"], "-", color=color, label=label)[0]}
    for line in lines.values():
        line.set_marker(marker)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss (its own scale per criterion)")
    ax_lr.set(xlabel="epoch", ylabel="learning rate", title="lr used in the epoch")
    ax_f1.set(xlabel="epoch", ylabel="macro-F1", title="validation macro-F1", ylim=(0, 1.02))
    if baseline_f1 is not None:
        ax_f1.axhline(baseline_f1, color=COLORS["baseline"], ls=":", label="always-majority")
    return lines


def plot_recall(ax, runs, train_counts) -> list:
    """Grouped bars: validation recall per class for each run; x labels give the class's training count."""
    n = len(train_counts)
    width = 0.8 / max(len(runs), 1)
    containers = []
    for i, run in enumerate(runs):
        x = np.arange(n) + (i - (len(runs) - 1) / 2) * width
        containers.append(ax.bar(x, run.recall, width, color=LOSS_COLORS[run.config.loss],
                                 label=LOSSES[run.config.loss]))
    ax.set_xticks(np.arange(n), [f"{c}\n({k})" for c, k in enumerate(train_counts)])
    ax.set(xlabel="digit (training images)", ylabel="validation recall", ylim=(0, 1.05),
           title="recall per class: rare classes on the right")
    return containers


def plot_confusion(ax, cm, title="") -> None:
    """Confusion matrix as an image (colour = row-normalised recall), counts written in each cell."""
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize="small",
                    color="white" if norm[i, j] > 0.6 else "black")
    n = len(cm)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set(xlabel="predicted", ylabel="true", title=title)
    ax.grid(False)


# ---------------------------------------------------------------------------------------------
# the widget
# ---------------------------------------------------------------------------------------------
class TrainingDashboard(PlotWidget):
    """Pick loss, optimizer, scheduler, lr, epochs and seed; press Train; watch the curves grow per epoch.

    Every finished run is appended to ``runs`` (pass earlier runs to start the table with them) and
    shown in the table below the plot. Moving a control only notes the pending setting; training
    happens on the button (``dashboard.train()`` does the same from Python).
    """

    def __init__(self, data: DigitsSplit | None = None, runs=None, *, epochs: int = 30, device=None):
        self.data = data or load_imbalanced_digits()
        self.runs = list(runs or [])
        self.device = device
        self.baseline = majority_baseline(self.data)
        # what the plot shows: (history, config) of the run in progress or the last one; a note on the plot
        self.shown = (self.runs[-1].history, self.runs[-1].config) if self.runs else None
        self.note = "press Train to start a run" if self.shown is None else ""
        self.running = False
        fig, axes = new_figure((10.5, 6.6), nrows=2, ncols=2)
        self.ax_loss, self.ax_lr, self.ax_f1, self.ax_rec = axes.ravel()
        self.lines = plot_history((self.ax_loss, self.ax_lr, self.ax_f1), {key: [] for key in HISTORY_KEYS},
                                  baseline_f1=self.baseline["macro_f1"])
        (self.acc_line,) = self.ax_f1.plot([], [], "-", color=COLORS["baseline"], lw=1.5)
        self.ax_f1.set(ylabel="score", title="validation macro-F1 and accuracy")
        self.loss_title = self.ax_loss.set_title("loss")
        dark = "0.25"  # legends name the line styles; the colour is the run's loss (LOSS_COLORS)
        # one legend above the panels, outside the data (blitted lines would cover a legend inside)
        fig.legend([Line2D([], [], color=dark), Line2D([], [], color=dark, ls="--"),
                    Line2D([], [], color=COLORS["baseline"], lw=1.5),
                    Line2D([], [], color=COLORS["baseline"], ls=":")],
                   ["train loss (mean over the epoch)", "validation loss", "validation accuracy",
                    "always-majority macro-F1"], loc="upper center", ncols=4, fontsize="small", frameon=False)
        n = self.data.n_classes
        self.bars = self.ax_rec.bar(np.arange(n), np.zeros(n), 0.7, color=COLORS["ce"])
        self.ax_rec.set_xticks(np.arange(n), [f"{c}\n({k})" for c, k in enumerate(self.data.train_counts)])
        self.ax_rec.set(xlabel="digit (training images)", ylabel="validation recall", ylim=(0, 1.05))
        self.rec_title = self.ax_rec.set_title("recall per class")
        for artist in [*self.lines.values(), self.acc_line, *self.bars, self.rec_title, self.loss_title]:
            self.dynamic(artist)
        self.message = self.dynamic(show_message(self.ax_loss, ""))
        shown_config = self.shown[1] if self.shown else TrainConfig(epochs=epochs)
        self._set_limits(shown_config)
        fig.tight_layout(rect=(0, 0, 1, 0.95))
        style = {"description_width": "initial"}
        controls = {
            "loss": W.Dropdown(options=[(v, k) for k, v in LOSSES.items()], value="ce", description="loss",
                               style=style, layout=W.Layout(width="250px")),
            "optimizer": W.Dropdown(options=[(v, k) for k, v in OPTIMIZERS.items()], value="adam",
                                    description="optimizer", style=style, layout=W.Layout(width="250px")),
            "scheduler": W.Dropdown(options=[(v, k) for k, v in SCHEDULERS.items()], value="cosine",
                                    description="scheduler", style=style, layout=W.Layout(width="330px")),
            "lr": W.FloatLogSlider(value=DEFAULT_LR["adam"], base=10, min=-4, max=0, step=0.1,
                                   description="lr", readout_format=".1e", style=style),
            "epochs": W.IntSlider(value=epochs, min=1, max=100, description="epochs", style=style),
            "seed": W.BoundedIntText(value=0, min=0, max=9999, description="seed", style=style,
                                     layout=W.Layout(width="130px")),
            "train": W.Button(description="Train", button_style="primary", icon="play"),
        }
        controls["optimizer"].observe(self._on_optimizer, names="value")
        controls["train"].on_click(self._on_train)
        self.progress = W.Output()  # the tqdm bar, shown under the controls
        super().__init__(fig, controls)
        self.box.children = (self.box.children[0], self.progress, *self.box.children[1:])

    def config(self) -> TrainConfig:
        """The TrainConfig the controls describe now."""
        v = self.values()
        return TrainConfig(loss=v["loss"], optimizer=v["optimizer"], scheduler=v["scheduler"],
                           lr=float(v["lr"]), epochs=int(v["epochs"]), seed=int(v["seed"]))

    def _on_optimizer(self, change) -> None:
        self.controls["lr"].value = DEFAULT_LR[change["new"]]

    # -- drawing -----------------------------------------------------------------------------
    def _set_limits(self, config: TrainConfig) -> None:
        """Axis limits known before a run starts (so most epochs only blit)."""
        for ax in (self.ax_loss, self.ax_lr, self.ax_f1):
            ax.set_xlim(0.5, config.epochs + 0.5)
        self.ax_lr.set_ylim(0, 1.1 * config.lr)
        self.ax_loss.set_ylim(0, 1.0)

    def update(self, **values) -> None:
        if self.shown is not None:
            history, config = self.shown
            e = history["epoch"]
            color = LOSS_COLORS[config.loss]
            for key, line in self.lines.items():
                line.set_data(e, history[key])
                line.set_color(color)
            self.acc_line.set_data(e, history["val_accuracy"])
            for line in [*self.lines.values(), self.acc_line]:
                line.set_marker("o" if len(e) == 1 else "None")
            recall = history["val_recall"][-1] if e else np.zeros(len(self.bars))
            for bar, r in zip(self.bars, recall):
                bar.set_height(r)
                bar.set_color(color)
            self.rec_title.set_text(f"recall per class after epoch {e[-1] if e else 0}")
            self.loss_title.set_text(f"loss: {LOSSES[config.loss]}")
            finite = [v for v in history["train_loss"] + history["val_loss"] if math.isfinite(v)]
            top = max(finite, default=0.0) * 1.1
            if top > self.ax_loss.get_ylim()[1]:
                self.ax_loss.set_ylim(0, top)
        show_message(self.ax_loss, self.note, artist=self.message)
        status = (f"<b>training:</b> {html.escape(self.shown[1].label())}" if self.running else
                  f"<b>next run (press Train):</b> {html.escape(self.config().label())}")
        self.readout.value = f"<p>{status}</p>" + results_html(self.runs)

    # -- training ----------------------------------------------------------------------------
    def train(self) -> RunResult | None:
        """Run the controls' config, redrawing after every epoch; append the result to ``runs``."""
        config = self.config()
        button = self.controls["train"]
        button.disabled = True
        self.running, self.note = True, ""
        self.shown = ({key: [] for key in HISTORY_KEYS}, config)
        self._set_limits(config)
        self.progress.clear_output()
        result = None
        try:
            with self.progress:
                result = run_experiment(config, self.data, device=self.device, on_epoch_end=self._on_epoch)
            self.runs.append(result)
            self.shown = (result.history, config)
            if result.macro_f1 <= 2 * self.baseline["macro_f1"]:
                self.note = (f"macro-F1 {result.macro_f1:.3f}: close to always answering the\n"
                             f"majority class ({self.baseline['macro_f1']:.3f}).\n"
                             "Check the learning rate and the number of epochs.")
        except Exception as exc:  # a diverged run (FloatingPointError) or a broken setting: on the plot
            self.note = f"stopped: {exc}" if isinstance(exc, FloatingPointError) else \
                f"cannot train this setting: {type(exc).__name__}: {exc}"
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


BENCHMARK_WIDGETS = {"05 training dashboard": TrainingDashboard}
