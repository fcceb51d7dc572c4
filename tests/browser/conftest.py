"""Fixtures of the browser test: one JupyterLab server and one headless Chromium per session."""

from __future__ import annotations

import time

import pytest

from tests.browser.harness import REQUIRE_ENV, browser_required, browser_unavailable_reason, lab_session

BUDGET_S = 480  # the whole browser test, all notebooks of both editions (English, Korean) together
_TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def browser_timings() -> dict[str, float]:
    """Seconds per step of the browser session (filled by the tests, reported at the end)."""
    return _TIMINGS


@pytest.fixture(scope="module")
def lab():
    """``(server, browser)``: JupyterLab on a temporary copy of the repository and headless Chromium.

    Module scope: the browser tests live in one module, so the server stops (and the timing ends)
    right after the last of them, not at the end of the whole pytest session.

    Skipped when Chromium or playwright is missing -- a failure instead with COURSE_REQUIRE_BROWSER=1.
    Both are stopped at the end of the session, also after a failure.
    """
    reason = browser_unavailable_reason()
    if reason:
        if browser_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but the browser test cannot run: {reason}", pytrace=False)
        pytest.skip(f"browser test skipped: {reason}")
    start = time.monotonic()
    _TIMINGS["session"] = 0.0
    try:
        with lab_session() as (server, browser):
            _TIMINGS["start"] = time.monotonic() - start
            yield server, browser
    finally:
        _TIMINGS["session"] = time.monotonic() - start


def pytest_terminal_summary(terminalreporter):
    if not _TIMINGS.get("session"):
        return
    total = _TIMINGS["session"]
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in _TIMINGS.items() if k != "session")
    over = total > BUDGET_S
    terminalreporter.write_line(f"browser test: {total:.0f} s in all ({parts}); "
                                f"{'OVER its' if over else 'within its'} budget of {BUDGET_S} s",
                                yellow=over, bold=over)
