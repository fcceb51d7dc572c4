"""Slider -> new plot on the page, in JupyterLab in headless Chromium: the browser part of the benchmark.

    python -m tests.browser.latency                    # every notebook, 10 moves per slider
    python -m tests.browser.latency notebooks/00_start_here.ipynb --moves 20

For every slider of every widget that shows a plot: focus its handle, press ArrowRight (ArrowLeft at the
end of the range), and time from the keyboard event (``event.timeStamp``) to the first animation frame
where the widget's ``img.widget-image`` has a new ``src`` and has decoded it
(``page.wait_for_function(..., polling="raf")``). Both stamps come from the page's clock. The bar for the
course: a median of at most 50 ms per widget.

``measure_latency(notebooks, moves=10)`` returns one dict per slider:
``{"notebook", "widget", "control", "median_ms", "n", "watched"}`` (``widget``: the cell's last line,
e.g. ``CrossEntropyExplorer()``; ``n``: the moves that changed the plot within 3 s; ``watched``:
``"plot"``, or ``"readout"`` when the first two moves left the plot as it was (a slider that only
sets what a button will do): the time to the readout is given instead). ``per_widget(rows)``
folds them into one row per widget.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python tests/browser/latency.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.browser.harness import browser_unavailable_reason, lab_session, notebooks  # noqa: E402

BAR_MS = 50.0

_INSTALL_JS = r"""
() => {
  if (window.__btKeyListener) return;
  window.__btKeyListener = true;
  document.addEventListener('keydown', (e) => { window.__btKeyT = e.timeStamp; }, true);
}
"""
# What a move should change: the plots (img.widget-image) or, for a slider that only sets what a
# button will do, the readouts (.widget-html) of the widget box.
_STATE_JS = r"""
(box, what) => JSON.stringify(what === 'plot'
  ? Array.from(box.querySelectorAll('img.widget-image')).map((i) => i.src)
  : Array.from(box.querySelectorAll('.widget-html-content')).map((h) => h.innerHTML))
"""
# The latency (ms) at the first animation frame that shows the new state (a plot: decoded).
_DONE_JS = r"""
([box, what, before]) => {
  const imgs = Array.from(box.querySelectorAll('img.widget-image'));
  const now = JSON.stringify(what === 'plot' ? imgs.map((i) => i.src)
    : Array.from(box.querySelectorAll('.widget-html-content')).map((h) => h.innerHTML));
  if (now === before || (what === 'plot' && !imgs.every((i) => i.complete))) return false;
  return performance.now() - window.__btKeyT;
}
"""


def _widget_names(nb_path: Path) -> dict[int, str]:
    """Cell index -> the last line of the cell's source (the expression that shows the widget)."""
    cells = json.loads(Path(nb_path).read_text(encoding="utf-8"))["cells"]
    names = {}
    for i, cell in enumerate(cells):
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = [ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        names[i] = (lines[-1] if lines else f"cell {i}")[:60]
    return names


def measure_page(nb, nb_path: Path, moves: int = 10, timeout_ms: float = 3000) -> list[dict]:
    """Latency rows for every slider of an open, run notebook page (``harness.NotebookPage``)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    nb.page.evaluate(_INSTALL_JS)
    described = nb.describe()
    names = _widget_names(nb_path)
    cell_of = {w["id"]: w["cell"] for w in described["widgets"]}
    box_number: dict[str, tuple[int, int]] = {}  # box id -> (cell, number of the box within the cell)
    rows = []
    for control in nb.controls():
        if control.kind != "slider" or control.disabled or not control.visible:
            continue
        box = nb.element(control.box)
        if box.locator("img.widget-image").count() == 0:
            continue
        cell = cell_of.get(control.widget, -1)
        if control.box not in box_number:
            box_number[control.box] = (cell, sum(c == cell for c, _ in box_number.values()))
        widget = names.get(cell, f"cell {cell}")
        if box_number[control.box][1]:  # a second plot widget shown by the same cell
            widget += f" #{box_number[control.box][1] + 1}"
        handle = nb.element(control.id).locator(".noUi-handle").first
        original = nb.slider_state(control, 0)
        times: dict[str, list[float]] = {"plot": [], "readout": []}
        what, misses = "plot", 0
        key = "ArrowRight"
        for _ in range(moves):
            state = nb.slider_state(control, 0)
            if key == "ArrowRight" and state["now"] >= state["max"]:
                key = "ArrowLeft"
            elif key == "ArrowLeft" and state["now"] <= state["min"]:
                key = "ArrowRight"
            before = box.evaluate(_STATE_JS, what)
            handle.press(key)
            try:
                done = nb.page.wait_for_function(_DONE_JS, arg=[box.element_handle(), what, before],
                                                 polling="raf", timeout=timeout_ms)
                times[what].append(done.json_value())
            except PlaywrightTimeout:
                misses += 1
                if what == "plot" and not times["plot"] and misses >= 2:
                    what = "readout"  # the plot does not follow this slider (a button applies it)
            nb.settle(control.box, quiet_ms=50)
        nb.put_slider_back(control, 0, original["text"], original["now"])
        nb.settle(control.box)
        watched = "plot" if times["plot"] else "readout"
        got = times[watched]
        rows.append({"notebook": Path(nb_path).name, "widget": widget, "control": control.description,
                     "median_ms": round(statistics.median(got), 1) if got else None, "n": len(got),
                     "watched": watched})
    return rows


def measure_latency(notebook_paths=None, moves: int = 10) -> list[dict]:
    """Open each notebook in JupyterLab (one server, one headless Chromium), Run All, time every slider.

    Returns ``[{"notebook", "widget", "control", "median_ms", "n"}, ...]``; raises
    ``harness.BrowserUnavailable`` when Chromium or playwright is missing.
    """
    paths = [Path(p).resolve() for p in notebook_paths] if notebook_paths else notebooks()
    rows = []
    with lab_session() as (_server, browser):
        for nb_path in paths:
            with browser.open_notebook(nb_path) as nb:
                nb.run_all()
                rows.extend(measure_page(nb, nb_path, moves))
    return rows


def per_widget(rows: list[dict]) -> list[dict]:
    """One row per widget (plot sliders only): the median over all its moves' medians, the slowest slider."""
    out: dict[tuple, dict] = {}
    for r in rows:
        if r["median_ms"] is None or r.get("watched", "plot") != "plot":
            continue
        w = out.setdefault((r["notebook"], r["widget"]), {"notebook": r["notebook"], "widget": r["widget"],
                                                          "medians": [], "n": 0})
        w["medians"].append(r["median_ms"])
        w["n"] += r["n"]
    return [{"notebook": w["notebook"], "widget": w["widget"], "n": w["n"],
             "median_ms": round(statistics.median(w["medians"]), 1), "slowest_slider_ms": max(w["medians"])}
            for w in out.values()]


def verdict(row: dict) -> str:
    """'yes' / '**no**' against the 50 ms bar for a plot row; a note otherwise."""
    if row["median_ms"] is None:
        return "no change seen"
    if row.get("watched", "plot") != "plot":
        return "readout only (the plot did not follow the slider)"
    return "yes" if row["median_ms"] <= BAR_MS else "**no**"


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, with a verdict against the 50 ms bar."""
    lines = ["| notebook | widget | slider | median ms | moves | ≤ 50 ms |", "|---|---|---|---:|---:|---|"]
    for r in rows:
        ms = "–" if r["median_ms"] is None else f"{r['median_ms']:.1f}"
        lines.append(f"| {r['notebook']} | `{r['widget']}` | {r['control']} | {ms} | {r['n']} | "
                     f"{verdict(r)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks (default: all in notebooks/)")
    parser.add_argument("--moves", type=int, default=10, help="moves per slider (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    args = parser.parse_args(argv)
    reason = browser_unavailable_reason()
    if reason:
        print(f"browser latency not measured: {reason}", file=sys.stderr)
        return 2
    rows = measure_latency(args.notebooks or None, args.moves)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(markdown_table(rows))
        print()
        print(markdown_table([dict(r, control="(all sliders)") for r in per_widget(rows)]))
    return 0 if all(verdict(r) != "**no**" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
