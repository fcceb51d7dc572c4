"""Seeding and device choice, shared by every notebook."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from course_utils.checks import check_number


def set_seed(seed: int = 0, *, deterministic: bool = True) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA); return the seed.

    With ``deterministic`` and a CUDA device, also ask torch for deterministic GPU algorithms. On the
    CPU the course's operations are deterministic already, and that switch would import torch's
    compiler (about 70 MB and seconds of a notebook's first cell), so it is left alone there.
    """
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic and torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return seed


def get_device(prefer: str = "auto") -> torch.device:
    """The device to train on: CUDA when present (``prefer="auto"``), else the CPU."""
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"prefer={prefer!r} is not known; allowed: 'auto', 'cpu', 'cuda'")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise ValueError("prefer='cuda' but no CUDA device is available; allowed here: 'auto', 'cpu'")
    if prefer == "cpu":
        return torch.device("cpu")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (None: leave as is); restore the old number after.

    The course's tensors are tiny: one thread avoids OpenMP wake-up stalls (tens of ms on a busy
    2-core machine) and is the fastest for them.
    """
    if n is not None:
        check_number("n", n, low=1, integer=True)
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def versions() -> str:
    """One line with the versions the course runs on and the device it will train on.

    The versions come from the installed packages' metadata: printing them does not import
    scikit-learn or ipywidgets (some 70 MB of a kernel that may not need them).
    """
    import platform
    from importlib.metadata import version

    from course_utils import __version__
    from course_utils.i18n import tr

    return tr("course_utils {course_utils} | python {python} | torch {torch} | numpy {numpy} | scikit-learn "
              "{sklearn} | matplotlib {matplotlib} | ipywidgets {ipywidgets} | device {device}",
              course_utils=__version__, python=platform.python_version(), torch=torch.__version__,
              numpy=np.__version__, sklearn=version("scikit-learn"), matplotlib=version("matplotlib"),
              ipywidgets=version("ipywidgets"), device=get_device())
