"""Fixtures shared by several test modules.

``built_site``: the course site, built once per test session by the README's command and shared by
``tests/test_site.py`` and ``tests/browser/test_site_in_browser.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: The frame budget of the session's build: "small" (default: every page and control, a few positions
#: each) or "full" (the published site, several minutes more).
SITE_BUDGET_ENV = "COURSE_SITE_BUDGET"
#: A folder already built by ``python -m course_utils.site build``: the tests read it instead of building.
SITE_DIR_ENV = "COURSE_SITE_DIR"


def _offline_prefix() -> list[str]:
    """``["unshare", "-n"]`` where a process may drop its network here, else nothing."""
    if shutil.which("unshare") is None:
        return []
    ok = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    return ["unshare", "-n"] if ok else []


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """``(folder, report, seconds, offline)``: the whole site, built once per session by the README's
    command in a subprocess (under ``unshare -n`` where this machine allows it); ``report`` is the
    build's own record (``.course-site``) with its printed summary under ``stdout``."""
    given = os.environ.get(SITE_DIR_ENV)
    if given:
        out = Path(given).resolve()
        info = json.loads((out / ".course-site").read_text(encoding="utf-8"))
        info.setdefault("stdout", "")
        return out, info, info["seconds"], None
    out = tmp_path_factory.mktemp("course-site") / "site"
    prefix = _offline_prefix()
    budget = os.environ.get(SITE_BUDGET_ENV, "small")
    start = time.monotonic()
    result = subprocess.run([*prefix, sys.executable, "-m", "course_utils.site", "build", str(out),
                             "--frame-budget", budget],
                            cwd=tmp_path_factory.getbasetemp(), capture_output=True, text=True, timeout=1200)
    seconds = time.monotonic() - start
    assert result.returncode == 0, f"the build failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    info = json.loads((out / ".course-site").read_text(encoding="utf-8"))
    info["stdout"] = result.stdout
    return out, info, seconds, bool(prefix)
