"""Helpers for the lecture "Training & Inference: Loss, Optimizer, Metric".

Each lecture section has a topic module (``losses``, ``schedules``, ``metrics``, ...);
this top level holds what every notebook needs: seeding, device choice and plot style.
They are imported on first use, so that importing one light module (the Jupyter server's
``course_utils.server_extension``) does not import torch and matplotlib.
"""

import importlib

_LAZY = {"get_device": "course_utils.reproducibility", "set_seed": "course_utils.reproducibility",
         "show_message": "course_utils.plotting", "use_course_style": "course_utils.plotting"}

__all__ = ["get_device", "set_seed", "show_message", "use_course_style"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
