"""Training on imbalanced digits (notebooks 05 and 02): model, loss, optimizer, scheduler, metric.

* factories by name: :func:`make_model`, :func:`make_criterion` (:data:`LOSSES`), :func:`make_optimizer`
  (keys of ``course_utils.optimizers.OPTIMIZERS``), :func:`make_scheduler` (torch class names);
* the loop :func:`train` (the history as a dict of per-epoch lists), one run :func:`run_experiment`
  (:class:`TrainConfig` in, :class:`RunResult` out), the loss comparison :func:`compare_losses` (one
  seed) or :func:`compare_over_seeds`; what they show (``results_html``, ``describe_comparison``) is in
  :mod:`course_utils.training_report` and reachable from here (``T.results_html``);
* drawing on given axes: :func:`plot_history` / :func:`update_history`, :func:`plot_recall` /
  :func:`update_recall`, :func:`plot_confusion`.

Data: :mod:`course_utils.data`; the dashboard: ``course_utils.explorers.training``. A run's metrics are
scikit-learn's (``f1_score(average="macro")``, ``recall_score``, ``confusion_matrix``), the per-epoch
ones its formulas in NumPy (:func:`epoch_metrics`).
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from course_utils.checks import check_choice, check_number, check_type
from course_utils.data import DigitsSplit, load_imbalanced_digits
from course_utils.i18n import tr
from course_utils.optimizers import OPTIMIZERS
from course_utils.plotting import COLORS, OKABE_ITO
from course_utils.reproducibility import get_device, set_seed, torch_threads


class _Shown(Mapping):
    """A read-only ``{key: text shown to people}`` whose texts are in the current language.

    The keys are fixed; ``texts()`` (a function of ``tr("...")`` calls, so that the catalog tool finds
    the English) gives the values at each look-up, so a change of language shows at once.
    """

    def __init__(self, keys: tuple, texts: Callable[[], dict]):
        self._keys, self._texts = tuple(keys), texts

    def __getitem__(self, key):
        if key not in self._keys:
            raise KeyError(key)
        return self._texts()[key]

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._keys

    def __repr__(self) -> str:
        return repr(dict(self._texts()))


def _loss_names() -> dict:
    return {"ce": tr("cross-entropy"), "weighted_ce": tr("weighted CE"), "focal": tr("focal (γ=2)"),
            "label_smoothing": tr("label smoothing (ε=0.1)")}


#: The losses by key and their names (in the current language).
LOSSES = _Shown(("ce", "weighted_ce", "focal", "label_smoothing"), _loss_names)


def _optimizer_call(name: str) -> str:
    """``torch.optim.SGD(momentum=0.9)``: what ``make_optimizer(name, ...)`` builds, besides params and lr."""
    cls, defaults = OPTIMIZERS[name]
    return f"torch.optim.{cls.__name__}({', '.join(f'{k}={v}' for k, v in defaults.items())})"


#: The optimizers the dashboard offers (keys of ``course_utils.optimizers.OPTIMIZERS``) and what they build.
TRAINING_OPTIMIZERS = {name: _optimizer_call(name) for name in ("SGD+momentum", "Adam", "AdamW")}
_ONE_CYCLE_ARGS = inspect.signature(OneCycleLR).parameters
#: The momentum (SGD) or β₁ (Adam) range OneCycleLR cycles through by default (not the optimizer's own).
ONE_CYCLE_MOMENTUM = (_ONE_CYCLE_ARGS["base_momentum"].default, _ONE_CYCLE_ARGS["max_momentum"].default)


def _scheduler_settings() -> dict:
    low, high = ONE_CYCLE_MOMENTUM
    return {
        "constant": tr("no scheduler"), "StepLR": tr("step_size=epochs // 3, gamma=0.1 (÷10 at 1/3, 2/3)"),
        "CosineAnnealingLR": "T_max=epochs",
        "OneCycleLR": tr("max_lr=lr, total_steps=epochs (stepped per epoch here, usually per batch); it "
                         "also cycles the momentum (SGD) or β₁ (Adam) {high}→{low}→{high} in place of the "
                         "optimizer's own", low=low, high=high),
        "ReduceLROnPlateau": tr("factor=0.5, patience=3, on the validation loss")}


#: Schedulers by torch class name (stepped once per epoch here) and their settings (in the current language).
TRAINING_SCHEDULERS = _Shown(("constant", "StepLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau"),
                             _scheduler_settings)
MODELS = ("mlp", "cnn")
#: An lr that works for each offered optimizer on this data (the dashboard's lr follows the optimizer).
DEFAULT_LR = {"SGD+momentum": 0.1, "Adam": 1e-2, "AdamW": 1e-2}
#: One Okabe-Ito colour per loss; each has its own line style in the course cycle (plotting.linestyle_for).
LOSS_COLORS = {"ce": COLORS["ce"], "weighted_ce": OKABE_ITO["purple"], "focal": COLORS["focal"],
               "label_smoothing": COLORS["smooth"]}
HISTORY_KEYS = ("epoch", "lr", "momentum", "train_loss", "val_loss", "val_accuracy", "val_macro_f1",
                "val_recall")


def _compared_metrics() -> dict:
    return {"rare_recall": (tr("rare-class recall"), "higher"), "macro_f1": ("macro-F1", "higher"),
            "accuracy": (tr("accuracy"), "higher"), "ece": ("ECE", "lower")}


#: Metrics the comparison sentences can compare: RunResult attribute -> (name in the current language,
#: which way is better: ``"higher"`` or ``"lower"``).
COMPARED_METRICS = _Shown(("rare_recall", "macro_f1", "accuracy", "ece"), _compared_metrics)


def _sklearn_metrics():
    """``sklearn.metrics``, imported on first use (it is slow to import and only runs need it)."""
    import sklearn.metrics

    return sklearn.metrics


# ---------------------------------------------------------------------------------------------
# data helpers
# ---------------------------------------------------------------------------------------------
def class_weights(y, n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights ``N / (K * n_c)`` (scikit-learn's ``class_weight="balanced"``)."""
    counts = np.bincount(np.asarray(y), minlength=n_classes)
    if np.any(counts == 0):
        raise ValueError(f"y has no sample of class(es) {np.flatnonzero(counts == 0).tolist()}; "
                         "allowed: every class present")
    return torch.tensor(len(y) / (n_classes * counts), dtype=torch.float32)


def majority_baseline(data: DigitsSplit) -> dict:
    """Accuracy and macro-F1 on validation of always predicting the most frequent training class."""
    skm = _sklearn_metrics()
    pred = np.full_like(data.y_val, np.bincount(data.y_train).argmax())
    return {"accuracy": skm.accuracy_score(data.y_val, pred),
            "macro_f1": skm.f1_score(data.y_val, pred, average="macro", labels=np.arange(data.n_classes),
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
    """``course_utils.optimizers.OPTIMIZERS[name]`` over ``params`` with learning rate ``lr``.

    E.g. ``"SGD+momentum"`` (momentum 0.9), ``"Adam"``, ``"AdamW"`` (weight decay 0.01).
    """
    check_choice("name", name, OPTIMIZERS)
    check_number("lr", lr, low=0.0, low_open=True)
    cls, defaults = OPTIMIZERS[name]
    return cls(params, lr=lr, **defaults)


def make_scheduler(name: str, optimizer, epochs: int):
    """A real torch scheduler stepped once per epoch (``None`` for ``"constant"``).

    ``"StepLR"``: StepLR(step_size=max(1, epochs // 3), gamma=0.1);
    ``"CosineAnnealingLR"``: CosineAnnealingLR(T_max=epochs);
    ``"OneCycleLR"``: OneCycleLR(max_lr=the optimizer's lr, total_steps=epochs);
    ``"ReduceLROnPlateau"``: ReduceLROnPlateau(factor=0.5, patience=3) on the validation loss.
    """
    check_choice("name", name, TRAINING_SCHEDULERS)
    check_number("epochs", epochs, low=1, integer=True)
    sched = torch.optim.lr_scheduler
    if name == "constant":
        return None
    if name == "StepLR":
        return sched.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "CosineAnnealingLR":
        return sched.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "OneCycleLR":
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
    """Validation accuracy, macro-F1 and per-class recall, from the epoch's confusion matrix.

    scikit-learn's formulas (``accuracy_score``, ``f1_score(average="macro")`` = the plain mean of
    F1 = 2·TP / (2·TP + FP + FN), ``recall_score(average=None)``; a class never seen nor predicted
    scores 0), written in NumPy: sklearn's input checks would cost more than the epoch itself. The
    tests compare every epoch with sklearn; the final run's metrics (:class:`RunResult`) are sklearn's.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = np.bincount(n_classes * y_true + y_pred, minlength=n_classes**2).reshape(n_classes, n_classes)
    tp, support, predicted = np.diag(cm).astype(np.float64), cm.sum(axis=1), cm.sum(axis=0)
    recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
    f1 = np.where(support + predicted > 0, 2 * tp / np.maximum(support + predicted, 1), 0.0)
    return {"val_accuracy": float(tp.sum() / cm.sum()), "val_macro_f1": float(np.mean(f1)),
            "val_recall": recall.tolist()}


def train(model, criterion, optimizer, train_loader, X_val, y_val, *, epochs, scheduler=None,
          device=None, on_epoch_end=None, progress=True) -> dict:
    """Train ``model`` for ``epochs`` epochs; return the history, a dict of per-epoch lists (HISTORY_KEYS).

    ``train_loss`` is the mean of the batch losses weighted by batch size; ``val_*`` are measured after the
    epoch; ``lr`` is the learning rate used during the epoch, ``momentum`` SGD's momentum or Adam's β₁ then
    (None for an optimizer without one; OneCycleLR changes it). ``on_epoch_end(history, model)`` runs after
    every epoch (the dashboard redraws there). Raises FloatingPointError when the loss becomes inf/nan.
    """
    device = device or get_device()
    model.to(device)
    criterion.to(device)
    X_val, y_val = X_val.to(device), y_val.to(device)
    n_classes = None
    history = {key: [] for key in HISTORY_KEYS}
    for epoch in tqdm(range(1, epochs + 1), desc=tr("epochs"), disable=not progress):
        lr = optimizer.param_groups[0]["lr"]           # the lr used during this epoch
        momentum = _momentum(optimizer)                # SGD's momentum / Adam's β1 in this epoch
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
            raise FloatingPointError(tr("the training loss became {loss} in epoch {epoch} (lr={lr:.3g}): "
                                        "lower the learning rate", loss=train_loss, epoch=epoch, lr=lr))
        val_loss, pred = evaluate(model, criterion, X_val, y_val)
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(val_loss)                   # 6. plateau: watch the validation loss
        elif scheduler is not None:
            scheduler.step()                           # 6. schedule: once per epoch
        record = {"epoch": epoch, "lr": lr, "momentum": momentum, "train_loss": train_loss,
                  "val_loss": val_loss, **epoch_metrics(y_val.cpu().numpy(), pred.cpu().numpy(), n_classes)}
        for key, value in record.items():
            history[key].append(value)
        if on_epoch_end is not None:
            on_epoch_end(history, model)
    return history


def _momentum(optimizer) -> float | None:
    """SGD's ``momentum`` or Adam's β₁ in the optimizer's first group (None if it has neither)."""
    group = optimizer.param_groups[0]
    if "betas" in group:
        return float(group["betas"][0])
    return float(group["momentum"]) if "momentum" in group else None


def optimizer_momentum(name: str) -> float | None:
    """The momentum (SGD) or β₁ (Adam) that ``make_optimizer(name, ...)`` sets, read off a torch optimizer."""
    return _momentum(make_optimizer(name, [torch.zeros(1, requires_grad=True)], 1.0))


# ---------------------------------------------------------------------------------------------
# one run from a config, and a table of runs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one run (the data split is passed separately)."""

    loss: str = "ce"
    optimizer: str = "Adam"
    scheduler: str = "CosineAnnealingLR"
    lr: float = DEFAULT_LR["Adam"]
    epochs: int = 30
    seed: int = 0
    batch_size: int = 64
    model: str = "mlp"
    hidden: int = 64

    def __post_init__(self):
        check_choice("loss", self.loss, LOSSES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("scheduler", self.scheduler, TRAINING_SCHEDULERS)
        check_choice("model", self.model, MODELS)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_number("epochs", self.epochs, low=1, integer=True)
        check_number("seed", self.seed, low=0, high=2**32 - 1, integer=True)
        check_number("batch_size", self.batch_size, low=1, integer=True)
        check_number("hidden", self.hidden, low=1, integer=True)

    def label(self) -> str:
        """Short description for tables and titles (with OneCycleLR: the momentum it cycles)."""
        return tr("{loss} · {optimizer} lr={lr:.3g} · {scheduler}{cycled} · {epochs} ep · seed {seed}",
                  loss=LOSSES[self.loss], optimizer=self.optimizer, lr=self.lr, scheduler=self.scheduler,
                  cycled=self.cycled_momentum(), epochs=self.epochs, seed=self.seed)

    def cycled_momentum(self) -> str:
        """``" (momentum cycled 0.95→0.85→0.95)"``: what OneCycleLR does to the optimizer ("" otherwise)."""
        if self.scheduler != "OneCycleLR":
            return ""
        name = tr("momentum") if OPTIMIZERS[self.optimizer][0] is torch.optim.SGD else "β₁"
        low, high = ONE_CYCLE_MOMENTUM
        return tr(" ({name} cycled {high}→{low}→{high})", name=name, low=low, high=high)


@dataclass(eq=False)
class RunResult:
    """One finished run: its config, history, final validation predictions and the trained model.

    ``probs``: the final model's softmax probabilities on the validation images (for calibration).
    """

    config: TrainConfig
    history: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    train_counts: np.ndarray
    model: nn.Module = field(repr=False)
    seconds: float = 0.0
    probs: np.ndarray | None = field(default=None, repr=False)

    @property
    def _labels(self) -> np.ndarray:
        return np.arange(len(self.train_counts))

    @functools.cached_property
    def accuracy(self) -> float:
        """Validation accuracy of the final model."""
        return _sklearn_metrics().accuracy_score(self.y_true, self.y_pred)

    @functools.cached_property
    def macro_f1(self) -> float:
        """Validation macro-F1 of the final model."""
        return _sklearn_metrics().f1_score(self.y_true, self.y_pred, average="macro", labels=self._labels,
                                           zero_division=0)

    @functools.cached_property
    def recall(self) -> np.ndarray:
        """Validation recall per class of the final model."""
        return _sklearn_metrics().recall_score(self.y_true, self.y_pred, average=None, labels=self._labels,
                                               zero_division=0)

    @functools.cached_property
    def confusion(self) -> np.ndarray:
        """Confusion matrix (rows: true class, columns: predicted) of the final model."""
        return _sklearn_metrics().confusion_matrix(self.y_true, self.y_pred, labels=self._labels)

    @functools.cached_property
    def ece(self) -> float:
        """Expected calibration error (10 bins) of the final model's validation probabilities."""
        from course_utils.metrics import expected_calibration_error

        return expected_calibration_error(self._probs(), self.y_true)

    @property
    def mean_confidence(self) -> float:
        """Mean top-1 probability of the final model on the validation images."""
        return float(self._probs().max(axis=1).mean())

    def _probs(self) -> np.ndarray:
        if self.probs is None:
            raise ValueError("probs=None: this run kept no probabilities; allowed: a run from run_experiment")
        return self.probs

    def rare_classes(self, k: int = 3) -> np.ndarray:
        """The ``k`` classes with the fewest training samples."""
        return np.sort(np.argsort(self.train_counts, kind="stable")[:k])

    def rare_recall(self, k: int = 3) -> float:
        """Mean validation recall of the ``k`` rarest classes."""
        return float(self.recall[self.rare_classes(k)].mean())

    def metric(self, name: str) -> float:
        """One of :data:`COMPARED_METRICS` by name (``"rare_recall"``: of the 3 rarest classes)."""
        check_choice("name", name, COMPARED_METRICS)
        return self.rare_recall() if name == "rare_recall" else float(getattr(self, name))


def run_experiment(config: TrainConfig | None = None, data: DigitsSplit | None = None, *, device=None,
                   on_epoch_end=None, progress=True, threads: int | None = 1,
                   criterion: nn.Module | None = None, sampler=None) -> RunResult:
    """Seed; build model, loss, optimizer, scheduler and loader from ``config``; :func:`train`; collect.

    ``threads=1``: the batches are tiny, so one CPU thread is faster than several fighting over 2 cores.
    ``criterion``: a loss module used instead of ``config.loss``'s (a remedy the names do not cover, e.g.
    ``course_utils.imbalance.LogitAdjustedLoss``); ``sampler``: a ``torch.utils.data.Sampler`` for the
    training loader instead of shuffling (e.g. a ``WeightedRandomSampler``).
    """
    config = config or TrainConfig()
    check_type("config", config, TrainConfig, "a TrainConfig")
    data = data or load_imbalanced_digits()
    check_type("data", data, DigitsSplit, "a DigitsSplit from course_utils.data.load_imbalanced_digits()")
    device = device or get_device()
    start = time.perf_counter()
    with torch_threads(threads if device.type == "cpu" else None):
        set_seed(config.seed)
        X_train, y_train = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
        X_val, y_val = torch.from_numpy(data.X_val), torch.from_numpy(data.y_val)
        order = {"sampler": sampler} if sampler is not None else {
            "shuffle": True, "generator": torch.Generator().manual_seed(config.seed)}
        loader = DataLoader(TensorDataset(X_train, y_train), batch_size=config.batch_size, **order)
        model = make_model(config.model, X_train.shape[1], data.n_classes, config.hidden)
        if criterion is None:
            criterion = make_criterion(config.loss, data.y_train, data.n_classes)
        else:
            check_type("criterion", criterion, nn.Module, "None or a loss module (torch.nn.Module)")
        optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr)
        scheduler = make_scheduler(config.scheduler, optimizer, config.epochs)
        history = train(model, criterion, optimizer, loader, X_val, y_val, epochs=config.epochs,
                        scheduler=scheduler, device=device, on_epoch_end=on_epoch_end, progress=progress)
        with torch.no_grad():
            logits = model.eval()(X_val.to(device))
    return RunResult(config, history, data.y_val.copy(), logits.argmax(dim=1).cpu().numpy(),
                     data.train_counts, model.cpu(), time.perf_counter() - start,
                     torch.softmax(logits, dim=1).cpu().numpy())


def compare_losses(data: DigitsSplit | None = None, losses=tuple(LOSSES), progress=False,
                   **config) -> list[RunResult]:
    """One run per loss, everything else equal (``config`` overrides :class:`TrainConfig` fields)."""
    data = data or load_imbalanced_digits()
    for name in losses:
        check_choice("losses", name, LOSSES)
    base = TrainConfig(**config)
    return [run_experiment(replace(base, loss=name), data, progress=progress) for name in losses]


def compare_over_seeds(seeds=(0, 1, 2), losses=tuple(LOSSES), *, data_options=None,
                       **config) -> list[RunResult]:
    """:func:`compare_losses` once per seed, each on its own split: a new split and initialisation per seed.

    Seed ``s`` loads ``load_imbalanced_digits(seed=s, **data_options)`` and runs with ``seed=s``;
    ``config`` overrides the other :class:`TrainConfig` fields. Returns the runs, seed by seed.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds=[]; allowed: one or more seeds")
    options = dict(data_options or {})
    if "seed" in options or "seed" in config:
        raise TypeError("seed given in data_options or config; allowed: the seeds in `seeds` only")
    return [run for s in seeds
            for run in compare_losses(load_imbalanced_digits(seed=s, **options), losses, seed=s, **config)]


# ---------------------------------------------------------------------------------------------
# drawing on given axes
# ---------------------------------------------------------------------------------------------
def plot_history(axes, history, *, color=COLORS["ce"], label=None, baseline_f1=None, accuracy=False) -> dict:
    """Draw loss (train solid, val dashed), lr, and val macro-F1 per epoch on three axes; return the lines.

    ``accuracy=True`` adds the validation accuracy (grey, dash-dot) to the macro-F1 panel.
    """
    ax_loss, ax_lr, ax_f1 = axes
    tag = f"{label} " if label else ""
    lines = {"train_loss": ax_loss.plot([], [], "-", color=color, label=tr("{tag}train", tag=tag))[0],
             "val_loss": ax_loss.plot([], [], "--", color=color, label=tr("{tag}val", tag=tag))[0],
             "lr": ax_lr.plot([], [], "-", color=color, label=label)[0],
             "val_macro_f1": ax_f1.plot([], [], "-", color=color, label=label)[0]}
    if accuracy:
        lines["val_accuracy"] = ax_f1.plot([], [], "-.", color=COLORS["baseline"], lw=1.5)[0]
    update_history(lines, history)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    epoch = tr("epoch")
    ax_loss.set(xlabel=epoch, ylabel="loss", title=tr("loss (its own scale per criterion)"))
    ax_lr.set(xlabel=epoch, ylabel=tr("learning rate"), title=tr("lr used in the epoch"))
    ax_f1.set(xlabel=epoch, ylabel="macro-F1", title=tr("validation macro-F1"), ylim=(0, 1.02))
    if baseline_f1 is not None:
        ax_f1.axhline(baseline_f1, color=COLORS["baseline"], ls=":", label=tr("always-majority"))
    return lines


def update_history(lines, history, *, loss: str | None = None) -> None:
    """Show ``history`` in the lines of :func:`plot_history` (a single epoch as points).

    With ``loss`` (a key of :data:`LOSSES`), the run's lines take its colour and the loss panel's
    title names it; the loss axis grows to fit the values.
    """
    e = history["epoch"]
    for key, line in lines.items():
        line.set_data(e, history[key])
        line.set_marker("o" if len(e) == 1 else "None")
        if loss is not None and key != "val_accuracy":
            line.set_color(LOSS_COLORS[loss])
    if loss is not None:
        ax_loss = lines["train_loss"].axes
        ax_loss.title.set_text(tr("loss: {loss}", loss=LOSSES[loss]))
        finite = [v for v in history["train_loss"] + history["val_loss"] if math.isfinite(v)]
        top = max(finite, default=0.0) * 1.1
        if top > ax_loss.get_ylim()[1]:
            ax_loss.set_ylim(0, top)


def set_history_limits(lines, epochs: int, lr: float) -> None:
    """Axis limits known before a run starts: epochs 1..``epochs``, lr up to ``lr``, loss up to 1."""
    axes = {line.axes for line in lines.values()}
    for ax in axes:
        ax.set_xlim(0.5, epochs + 0.5)
    lines["lr"].axes.set_ylim(0, 1.1 * lr)
    lines["train_loss"].axes.set_ylim(0, 1.0)


def _loss_and_recall(run):
    """(loss key, per-class recall) of a RunResult or of a ``(loss, recall)`` pair."""
    return (run.config.loss, run.recall) if isinstance(run, RunResult) else run


def plot_recall(ax, runs, train_counts) -> list:
    """Grouped bars: validation recall per class for each run; x labels give the class's training count.

    ``runs``: RunResults, or ``(loss key, per-class recall)`` pairs; the colour and label of a group
    come from its loss. Returns one BarContainer per run.
    """
    n = len(train_counts)
    width = 0.8 / max(len(runs), 1)
    containers = []
    for i, run in enumerate(runs):
        loss, recall = _loss_and_recall(run)
        x = np.arange(n) + (i - (len(runs) - 1) / 2) * width
        containers.append(ax.bar(x, recall, width, color=LOSS_COLORS[loss], label=LOSSES[loss]))
    ax.set_xticks(np.arange(n), [f"{c}\n({k})" for c, k in enumerate(train_counts)])
    ax.set(xlabel=tr("digit (training images)"), ylabel=tr("validation recall"), ylim=(0, 1.05),
           title=tr("recall per class: rare classes on the right"))
    return containers


def update_recall(bars, recall, loss: str, *, epoch: int | None = None) -> None:
    """Set one group of :func:`plot_recall`'s bars to ``recall`` in ``loss``'s colour; title: ``epoch``."""
    for bar, r in zip(bars, recall):
        bar.set_height(r)
        bar.set_color(LOSS_COLORS[loss])
    if epoch is not None:
        bars[0].axes.title.set_text(tr("recall per class after epoch {epoch}", epoch=epoch))


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
    ax.set(xlabel=tr("predicted"), ylabel=tr("true"), title=title)
    ax.grid(False)


_REPORT = ("results_table", "results_html", "describe_comparison")


def __getattr__(name: str):
    """``T.results_html`` and the other tables and sentences of :mod:`course_utils.training_report`."""
    if name in _REPORT:
        from course_utils import training_report

        return getattr(training_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
