"""Every notebook in JupyterLab, in headless Chromium, the way a student meets it.

For each notebook in ``notebooks/``: open it, Run All from the Run menu, wait for an ``[n]`` prompt on
every code cell, check there is no error output (traceback, "Error displaying widget", "model not
found"), that every widget drew a picture, then move every slider, dropdown, check box, toggle button
and radio button of every widget as a person would and check that the plot or a readout in the
widget's box changed each time, with no error appearing.

One JupyterLab server and one Chromium for the whole session (the ``lab`` fixture in
``conftest.py``); each notebook's kernel is shut down after it. Skipped with the reason when
Chromium or playwright is missing, unless ``COURSE_REQUIRE_BROWSER=1`` (``.ci/run``), where that is
a failure. With ``COURSE_SCREENSHOT_DIR=<folder>`` the run also saves each notebook's main widget
there; with ``COURSE_BROWSER_ARTIFACTS=<folder>`` a failing notebook's page is saved there.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path

import pytest

from course_utils.explorers import EXPLORERS
from tests.browser.harness import notebooks
from tests.browser.screenshots import save_main_widget

NOTEBOOKS = notebooks()

# (notebook file name, control description) -> why moving it changes nothing visible, by design.
# Keep this empty unless a control really has no visible effect; each entry is a question for the
# notebook's author.
NO_VISIBLE_CHANGE: dict[tuple[str, str], str] = {}


def _artifact(nb, problems: list[str]) -> None:
    """Save a full-page screenshot of a failing notebook and name it in the problems."""
    folder = Path(os.environ.get("COURSE_BROWSER_ARTIFACTS") or tempfile.mkdtemp(prefix="browser-test-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{Path(nb.name).stem}-failure.png"
    try:
        nb.page.screenshot(path=str(path), full_page=True)
        problems.append(f"screenshot of the page: {path}")
    except Exception as exc:  # the page may be gone
        problems.append(f"(no screenshot: {exc})")


def _cell(i: int) -> str:
    return f"cell {i}" if i >= 0 else "outside a cell"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_in_browser(lab, browser_timings, notebook):
    _server, browser = lab
    start = time.monotonic()
    problems: list[str] = []
    with browser.open_notebook(notebook) as nb:
        try:
            _check_notebook(nb, problems)
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
        if problems:
            if nb.dialogs():
                problems.append(f"dialogs open on the page: {nb.dialogs()}")
            if nb.console:
                problems.append("browser console errors: " + " | ".join(nb.console[:10]))
            _artifact(nb, problems)
    browser_timings[notebook.name] = time.monotonic() - start
    assert not problems, f"{notebook.name} in JupyterLab:\n  " + "\n  ".join(problems)


def _check_notebook(nb, problems: list[str]) -> None:
    nb.run_all()
    prompts = nb.prompts()
    n_code = nb.code_cell_count()
    not_run = [i for i, p in enumerate(prompts) if not p.strip(":").strip("[]").isdigit()]
    if len(prompts) != n_code:
        problems.append(f"{len(prompts)} code cells on the page, {n_code} in the file")
    if not_run:
        problems.append(f"code cells without an [n] prompt after Run All (0-based, code cells only): "
                        f"{not_run}")
    for i in nb.empty_outputs():
        problems.append(f"an output of {_cell(i)} shows nothing or 'Loading widget...' after Run All")
    found = nb.errors()
    for err in found["errors"]:
        problems.append(f"error output in {_cell(err['cell'])}:\n{err['text'][-1500:]}")
    for warn in found["warnings"]:
        warnings.warn(f"{nb.name}: stderr output in {_cell(warn['cell'])}: {warn['text'][:300]}",
                      stacklevel=1)
    if problems:
        return  # a notebook that does not run is not worth moving sliders in

    described = nb.describe()
    widgets = described["widgets"]
    expected = [e.class_name for e in EXPLORERS.values() if e.notebook == Path(nb.name).stem]
    with_plots = sum(bool(w["images"]) for w in widgets)
    if with_plots < len(expected):
        problems.append(f"{with_plots} widgets with a plot on the page; the catalogue lists "
                        f"{len(expected)} explorers for this notebook: {expected}")
    for w in widgets:
        if w["height"] <= 0:
            problems.append(f"the widget in {_cell(w['cell'])} renders nothing (height 0)")
    blank = [i for i, im in enumerate(nb.images()) if not (im["complete"] and im["width"] > 0)]
    if blank:
        problems.append(f"plot images without a picture: numbers {blank} (0-based, page order)")
    if os.environ.get("COURSE_SCREENSHOT_DIR"):
        save_main_widget(nb, Path(os.environ["COURSE_SCREENSHOT_DIR"]) / f"{Path(nb.name).stem}.png")

    cell_of = {w["id"]: w["cell"] for w in widgets}
    for report in nb.exercise_all():
        control = report.control
        where = f"{control.label} ({_cell(cell_of.get(control.widget, -1))})"
        if report.revealed_by:
            where += f", shown after {report.revealed_by}"
        if report.skipped:
            warnings.warn(f"{nb.name}: {where} not moved: {report.skipped}", stacklevel=1)
            continue
        if not report.moves:
            problems.append(f"{where}: nothing to move (a single option?)")
        exempt = NO_VISIBLE_CHANGE.get((nb.name, control.description))
        for move in report.moves:
            if not move.changed and not exempt:
                problems.append(f"{where}: '{move.action}' changed neither the plot nor a readout in 5 s")
        for err in report.errors:
            problems.append(f"{where}: error output appeared in {_cell(err['cell'])}:\n{err['text'][-1500:]}")


def test_closing_a_tab_shuts_its_kernel_down(lab):
    """With the Binder image's settings (binder/postBuild), JupyterLab frees a notebook's kernel when its
    tab closes: after the walk through every notebook, no kernel outlived its tab and none is left."""
    server, browser = lab
    browser.join_background()
    assert browser.kernels_left, "no notebook was opened and closed before this test"
    assert not any(browser.kernels_left.values()), f"kernels left running: {browser.kernels_left}"
    assert server.api("GET", "kernels") == []
