"""Suite-wide set-up, for every path pytest collects (tests/, notebooks/, homework/).

* The network guard: outgoing connections except to loopback fail at once, here and in every child
  process (nbval kernels, the Jupyter server), which import ``tests/netguard/sitecustomize.py``.
* A headless matplotlib backend.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NETGUARD_DIR = ROOT / "tests" / "netguard"

os.environ["COURSE_NETGUARD"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(NETGUARD_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ["MPLBACKEND"] = "Agg"
sys.path.insert(0, str(NETGUARD_DIR))

import netguard  # noqa: E402

netguard.install()
