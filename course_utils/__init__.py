"""Helpers for the lecture "Training & Inference: Loss, Optimizer, Metric".

Each lecture section has a topic module (``losses``, ``schedules``, ``metrics``, ...);
this top level holds what every notebook needs: seeding, device choice and plot style.
"""

from course_utils.plotting import show_message, use_course_style
from course_utils.reproducibility import get_device, set_seed

__all__ = ["get_device", "set_seed", "show_message", "use_course_style"]
__version__ = "0.1.0"
