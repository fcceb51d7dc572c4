"""The course's interactive explorers and :data:`EXPLORERS`, the one catalogue of them.

A notebook imports the explorer it shows from here (``from course_utils.explorers import
FocalLossExplorer``); the tests, the benchmark, the browser test and the static site read
:data:`EXPLORERS` to find every explorer, the notebook that shows it and how to build it.

Topic modules are imported only when one of their explorers is asked for, so importing this
package costs ipywidgets and matplotlib, not torch or scikit-learn.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from course_utils.i18n import N_


@dataclass(frozen=True)
class Explorer:
    """One catalogue entry: calling it builds a ready, rendered explorer.

    ``name``: the catalogue key; ``target``: ``"module:Class"`` under ``course_utils.explorers``;
    ``notebook``: the stem of the notebook that shows it; ``title``: one line for people;
    ``kwargs``: the constructor arguments the notebook uses (the defaults when empty).
    """

    name: str
    target: str
    notebook: str
    title: str
    kwargs: Mapping = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return self.target.partition(":")[2]

    def load(self) -> type:
        """The explorer class (imports its topic module)."""
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), cls)

    def __call__(self, **overrides):
        return self.load()(**{**self.kwargs, **overrides})


_ENTRIES = (
    Explorer("cross_entropy", "cross_entropy:CrossEntropyExplorer", "00_start_here",
             N_("softmax and cross-entropy as the true class's logit moves")),
    Explorer("freeze_layers", "autograd:FreezeLayersExplorer", "01_autograd_chain",
             N_("freeze layers: the autograd graph and the gradient norms")),
    Explorer("focal_loss", "losses:FocalLossExplorer", "02_special_losses",
             N_("focal loss: γ and α over Lin et al.'s Fig. 1 and the gradient")),
    Explorer("label_smoothing", "losses:LabelSmoothingExplorer", "02_special_losses",
             N_("label smoothing: ε and the number of classes, both conventions")),
    Explorer("optimizer_trajectory", "optimizers:OptimizerExplorer", "03_optimizers_and_lr_schedules",
             N_("optimizers on loss surfaces, each with its own lr, and momentum β")),
    Explorer("lr_schedule", "schedules:LRScheduleExplorer", "03_optimizers_and_lr_schedules",
             N_("torch.optim.lr_scheduler: the lr of every step")),
    Explorer("plateau", "schedules:PlateauExplorer", "03_optimizers_and_lr_schedules",
             N_("ReduceLROnPlateau on a replayed validation loss")),
    Explorer("class_ratio", "metrics:ClassRatioExplorer", "04_metric_pitfalls",
             N_("accuracy vs F1 as the positive class gets rare")),
    Explorer("threshold", "metrics:ThresholdExplorer", "04_metric_pitfalls",
             N_("the decision threshold: confusion matrix, precision, recall, ROC and PR")),
    Explorer("roc_pr", "metrics:RocPrExplorer", "04_metric_pitfalls",
             N_("more negatives: ROC-AUC stays, average precision falls")),
    Explorer("outlier", "metrics:OutlierExplorer", "04_metric_pitfalls",
             N_("one outlier: MAE vs MSE and RMSE")),
    Explorer("ranking", "metrics:RankingExplorer", "04_metric_pitfalls",
             N_("a ranked list: MRR, MAP@k, NDCG@k")),
    Explorer("training_dashboard", "training:TrainingDashboard", "05_training_loop",
             N_("the training loop: loss, optimizer, scheduler and metric together")),
    Explorer("lr_finder", "playbook:LRFinderExplorer", "06_competition_playbook",
             N_("the LR range test: smoothing, the suggestion rule and the OneCycleLR it gives")),
    Explorer("momentum_phase", "playbook:MomentumExplorer", "06_competition_playbook",
             N_("momentum's phase diagram: the rate over (lr, β), closed form and torch SGD")),
    Explorer("leaderboard_shakeup", "playbook:LeaderboardExplorer", "06_competition_playbook",
             N_("public vs private board: test-set size and true gap -> P(shake-up)")),
)

#: name -> :class:`Explorer` (a factory of a ready explorer), in the order of the notebooks.
EXPLORERS: Mapping[str, Explorer] = MappingProxyType({e.name: e for e in _ENTRIES})
_BY_CLASS = {e.class_name: e for e in _ENTRIES}

__all__ = ["EXPLORERS", "Explorer", *_BY_CLASS]


def __getattr__(name: str):
    """``from course_utils.explorers import FocalLossExplorer``: the class, imported on first use."""
    if name in _BY_CLASS:
        return _BY_CLASS[name].load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_BY_CLASS))
