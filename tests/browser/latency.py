"""Slider -> new plot on the page, in JupyterLab in headless Chromium: the browser part of the benchmark.

    python -m tests.browser.latency                    # every notebook, 10 moves per slider
    python -m tests.browser.latency notebooks/00_start_here.ipynb --moves 20

The clock is the page's: a key press on a slider handle (``ArrowRight``, ``ArrowLeft`` at the end of the
range) starts it (the ``keydown`` event's ``timeStamp``), and a ``MutationObserver`` on the widget's plot
images stops it at the first new ``src``. The yardstick is the **floor**: a bare slider whose callback only
sets an ``ipywidgets.Label``, added as a last cell to the server's temporary copy of each notebook and
timed the same way (key press to the label's new text). Absolute times differ from machine to machine;
the ratio to the floor in the same page does not, and the course's bar is a ratio: every slider at most
2x the floor (median over its moves), the median over all sliders at most 1.6x.

``measure_latency(notebooks, moves=10)`` returns one dict per slider:
``{"notebook", "widget", "control", "median_ms", "n", "watched", "floor_ms", "ratio"}`` (``widget``: the
cell's last line, e.g. ``CrossEntropyExplorer()``; ``n``: the moves that changed the plot within 3 s;
``watched``: ``"plot"``, or ``"readout"`` when the first two moves left the plot as it was (a slider that
only sets what a button will do); ``floor_ms``: the bare slider's median, timed with its box moved to
just above the widget, in a block of moves right before that slider's moves and another right after:
load drifts over a run, the blocks around a slider share it). With ``drag=True`` each plot slider is
also dragged across its range at a hand's pace: ``drag_frames`` (new images shown while dragging) against
``drag_values`` (values the handle passed, as its readout showed them), and ``drag_tail_ms`` (mouse
released -> last new image). ``per_widget(rows)`` folds rows into one row per widget.

The page runs against a server with ``course_utils.server_extension`` enabled (installed with the
package): without it the kernel websocket waits for delayed ACKs (Nagle's algorithm) on about half the
moves, and a median of 10 moves jumps between 9-23 ms and 45-53 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python tests/browser/latency.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from course_utils.server_extension import LOADED_MESSAGE  # noqa: E402
from tests.browser.harness import browser_unavailable_reason, lab_session, notebooks  # noqa: E402

BAR_RATIO = 2.0          # every slider: median <= 2x the floor
BAR_MEDIAN_RATIO = 1.6   # the median over all sliders
DRAG_TAIL_BAR_MS = 100.0  # last frame after the mouse is released
FLOOR_CLASS = "course-latency-floor"
FLOOR_CELL = f"""# added by the latency benchmark: the floor, a slider whose callback only sets a Label
import ipywidgets as _W

_floor_slider = _W.IntSlider(value=0, min=0, max=100, description="floor (bare slider)")
_floor_label = _W.Label("0")
_floor_label.add_class("{FLOOR_CLASS}-label")
_floor_slider.observe(lambda change: setattr(_floor_label, "value", str(change["new"])), names="value")
_floor_box = _W.VBox([_floor_slider, _floor_label])
_floor_box.add_class("{FLOOR_CLASS}")
_floor_box
"""

# The page-side clock: keydown (capture phase) stamps t0; a MutationObserver on the watched elements
# stamps the first change after it. Armed before each key press.
_ARM_JS = r"""
([box, what]) => {
  const L = window.__btLat || (window.__btLat = {});
  if (!L.listening) {
    L.listening = true;
    document.addEventListener('keydown', (e) => { if (L.armed && L.t0 === null) L.t0 = e.timeStamp; }, true);
  }
  if (L.obs) L.obs.disconnect();
  L.armed = true; L.t0 = null; L.ms = null;
  L.obs = new MutationObserver(() => {
    if (L.t0 !== null && L.ms === null) { L.ms = performance.now() - L.t0; L.armed = false; }
  });
  const targets = what === 'plot' ? box.querySelectorAll('img.widget-image')
    : what === 'floor' ? box.querySelectorAll('.FLOOR-label')
    : box.querySelectorAll('.widget-html-content');
  const opts = what === 'plot' ? {attributes: true, attributeFilter: ['src']}
    : {childList: true, characterData: true, subtree: true};
  targets.forEach((t) => L.obs.observe(t, opts));
  return targets.length;
}
""".replace("FLOOR", FLOOR_CLASS)
_RESULT_JS = "() => window.__btLat && window.__btLat.ms"
# Move the bare slider's box to just above a widget box (the floor is then timed where the widget is).
_PLACE_FLOOR_JS = """(box) => {
  const floor = document.querySelector('.FLOOR');
  floor.dataset.btId = 'FLOOR-box';  // (timed as its own box wherever it is)
  if (floor.nextElementSibling !== box) box.parentElement.insertBefore(floor, box);
  floor.scrollIntoView({block: 'nearest'});
}""".replace("FLOOR", FLOOR_CLASS)
# Dragging: count the new images while the mouse moves, and stamp the last one after the release.
_DRAG_ARM_JS = r"""
(box) => {
  const D = window.__btDrag = {frames: 0, last: null, up: null};
  if (D.obs) D.obs.disconnect();
  D.obs = new MutationObserver(() => { D.frames += 1; D.last = performance.now(); });
  box.querySelectorAll('img.widget-image').forEach((i) =>
    D.obs.observe(i, {attributes: true, attributeFilter: ['src']}));
  document.addEventListener('mouseup', () => { D.up = performance.now(); D.framesAtUp = D.frames; },
                            {capture: true, once: true});
}
"""
_DRAG_RESULT_JS = "() => { const D = window.__btDrag; D.obs.disconnect(); return D; }"


def _widget_names(nb_path: Path) -> dict[int, str]:
    """Cell index -> the last line of the cell's source (the expression that shows the widget)."""
    cells = json.loads(Path(nb_path).read_text(encoding="utf-8"))["cells"]
    names = {}
    for i, cell in enumerate(cells):
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = [ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        names[i] = (lines[-1] if lines else f"cell {i}")[:60]
    return names


def _time_moves(nb, handle, box, what: str, moves: int, state, timeout_ms: float,
                direction: dict | None = None) -> list[float]:
    """Press arrow keys on ``handle`` ``moves`` times; page-side ms from each key press to the first
    change of ``what`` in ``box`` (moves that changed nothing within ``timeout_ms`` are left out).
    ``direction``: a dict that keeps the key between calls, so that one slider's moves split over
    several calls walk on in the same direction."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    direction = {} if direction is None else direction
    times = []
    for _ in range(moves):
        key = direction.get("key", "ArrowRight")
        now = state()
        if key == "ArrowRight" and now["now"] >= now["max"]:
            key = "ArrowLeft"
        elif key == "ArrowLeft" and now["now"] <= now["min"]:
            key = "ArrowRight"
        direction["key"] = key
        nb.page.evaluate(_ARM_JS, [box.element_handle(), what])
        handle.press(key)
        try:
            nb.page.wait_for_function(_RESULT_JS, polling="raf", timeout=timeout_ms)
            times.append(nb.page.evaluate(_RESULT_JS))
        except PlaywrightTimeout:
            pass
        nb.settle(box.get_attribute("data-bt-id"), quiet_ms=50)
    return times


def find_floor(nb):
    """The bare slider's control (the notebook's last cell), or None."""
    return next((c for c in nb.controls() if c.kind == "slider" and c.description.startswith("floor")), None)


def _floor_probe(nb, beside: str | None = None):
    """``(handle, box, state)`` of the bare slider, its box first moved to just above the widget box
    ``beside`` (a data-bt-id); None when the page has no bare slider."""
    control = find_floor(nb)
    if control is None:
        return None
    box = nb.element(control.box)
    if beside is not None:
        nb.element(beside).evaluate(_PLACE_FLOOR_JS)
        box = nb.element(f"{FLOOR_CLASS}-box")
    handle = nb.element(control.id).locator(".noUi-handle").first
    return handle, box, lambda c=control: nb.slider_state(c, 0)


def measure_floor(nb, moves: int = 10, timeout_ms: float = 3000, beside: str | None = None) -> float | None:
    """Median ms from a key press on the bare slider to its label's new text.

    ``beside``: the data-bt-id of a widget box; the bare slider's box is first moved on the page to
    just above it, so that the floor is timed where that widget is (the page's state and the
    machine's load drift over a run: a floor timed once per notebook drifted from 25 to 41 ms between
    two runs of the same notebook). :func:`measure_page` times a block before and a block after each
    slider's moves.
    """
    times = _time_floor_block(nb, beside, moves, timeout_ms)
    return round(statistics.median(times), 1) if times else None


def _time_floor_block(nb, beside: str | None, moves: int, timeout_ms: float) -> list[float]:
    """``moves`` timed moves of the bare slider (after two that are not: see :func:`measure_floor`)."""
    probe = _floor_probe(nb, beside)
    if probe is None:
        return []
    handle, box, state = probe
    return _time_moves(nb, handle, box, "floor", moves + 2, state, timeout_ms)[2:]  # 2 warm the path up


def measure_drag(nb, control, box, seconds: float = 1.5, steps: int = 60) -> dict:
    """Drag the slider's handle from end to end at a hand's pace; frames seen, values passed, tail ms."""
    handle = nb.element(control.id).locator(".noUi-handle").first
    track = nb.element(control.id).locator(".noUi-base, .noUi-target").first.bounding_box()
    hbox = handle.bounding_box()
    if not track or not hbox:
        return {}
    y = hbox["y"] + hbox["height"] / 2
    start_x, end_x = hbox["x"] + hbox["width"] / 2, track["x"] + track["width"] - 1
    if end_x - start_x < track["width"] / 3:  # near the right end already: drag leftwards
        end_x = track["x"] + 1
    values = set()
    nb.page.evaluate(_DRAG_ARM_JS, box.element_handle())
    nb.page.mouse.move(start_x, y)
    nb.page.mouse.down()
    for i in range(1, steps + 1):
        nb.page.mouse.move(start_x + (end_x - start_x) * i / steps, y)
        state = nb.slider_state(control, 0)
        # the readout's text and aria-valuenow together: noUiSlider rounds aria-valuenow (ε's 0.13 and 0.16
        # are both 0.2 there), the readout is what the student reads (absent when a slider hides it)
        values.add((state["text"], state["now"]))
        nb.page.wait_for_timeout(seconds * 1000 / steps)
    nb.page.mouse.up()
    nb.settle(control.box, quiet_ms=300)
    result = nb.page.evaluate(_DRAG_RESULT_JS)
    tail = None if result["last"] is None or result["up"] is None else max(0.0, result["last"] - result["up"])
    return {"drag_values": len(values), "drag_frames": result["frames"],
            "drag_tail_ms": None if tail is None else round(tail, 1)}


def measure_page(nb, nb_path: Path, moves: int = 10, timeout_ms: float = 3000,
                 drag: bool = False) -> list[dict]:
    """Latency rows for every slider of an open, run notebook page (``harness.NotebookPage``)."""
    described = nb.describe()
    names = _widget_names(nb_path)
    cell_of = {w["id"]: w["cell"] for w in described["widgets"]}
    box_number: dict[str, tuple[int, int]] = {}  # box id -> (cell, number of the box within the cell)
    rows = []
    for control in nb.controls():
        if (control.kind != "slider" or control.disabled or not control.visible
                or control.description.startswith("floor")):
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
        state = lambda c=control: nb.slider_state(c, 0)  # noqa: E731
        watched, walk_slider = "plot", {}
        got = _time_moves(nb, handle, box, "plot", 2, state, timeout_ms, walk_slider)
        if not got:  # the plot does not follow this slider (a button applies it): time the readout
            watched = "readout"
        # The floor for this slider: its box moved to just above the widget, into the widget's cell
        # (two bare sliders in two cells, moved in turn, took 45-53 ms a move against 26-28 in a block),
        # timed in a block of moves right before the slider's moves and in another right after, so
        # that a drift of the load during the slider's moves weighs on both. Each block starts with
        # moves that are not counted: the first move after the key goes to another handle is slower.
        # (Alternating floor and slider moves one by one was tried and rejected: a floor move right
        # after a plot's move was ~5 ms slower than in a block, which flattered every ratio.)
        floor_times = _time_floor_block(nb, control.box, max(3, moves // 2), timeout_ms)
        got = _time_moves(nb, handle, box, watched, moves + 1, state, timeout_ms, walk_slider)[1:]
        floor_times += _time_floor_block(nb, control.box, max(3, moves // 2), timeout_ms)
        floor = round(statistics.median(floor_times), 1) if floor_times else None
        row = {"notebook": Path(nb_path).name, "widget": widget, "control": control.description,
               "median_ms": round(statistics.median(got), 1) if got else None, "n": len(got),
               "watched": watched, "floor_ms": floor}
        row["ratio"] = round(row["median_ms"] / floor, 2) if row["median_ms"] and floor else None
        if drag and watched == "plot":
            row.update(measure_drag(nb, control, box))
        nb.put_slider_back(control, 0, original["text"], original["now"])
        nb.settle(control.box)
        rows.append(row)
    return rows


def add_floor_cell(notebook: Path) -> None:
    """Append the bare-slider cell to ``notebook`` (the server's temporary copy, never the repository's)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "latency-floor", "metadata": {},
                        "outputs": [], "source": FLOOR_CELL})
    notebook.write_text(json.dumps(nb), encoding="utf-8")


def measure_latency(notebook_paths=None, moves: int = 10, drag: bool = False) -> list[dict]:
    """Open each notebook in JupyterLab (one server, one headless Chromium), Run All, time every slider
    against the floor added to the notebook's temporary copy.

    Raises ``harness.BrowserUnavailable`` when Chromium or playwright is missing.
    """
    paths = [Path(p).resolve() for p in notebook_paths] if notebook_paths else notebooks()
    rows = []
    with lab_session() as (server, browser):
        if LOADED_MESSAGE not in server.log_tail(1_000_000):
            raise RuntimeError("JupyterLab runs without course_utils.server_extension (pip install -r "
                               "requirements.txt enables it): without it about half the moves wait for a "
                               "delayed ACK, and no median or ratio here would mean anything")
        for nb_path in paths:
            add_floor_cell(server.root / nb_path.relative_to(server.source_root))
            with browser.open_notebook(nb_path) as nb:
                nb.run_all()
                rows.extend(measure_page(nb, nb_path, moves, drag=drag))
    return rows


def per_widget(rows: list[dict]) -> list[dict]:
    """One row per widget (plot sliders only): the median of its sliders' medians, the slowest slider."""
    out: dict[tuple, dict] = {}
    for r in rows:
        if r["median_ms"] is None or r.get("watched", "plot") != "plot":
            continue
        w = out.setdefault((r["notebook"], r["widget"]), {"notebook": r["notebook"], "widget": r["widget"],
                                                          "rows": [], "n": 0})
        w["rows"].append(r)
        w["n"] += r["n"]
    folded = []
    for w in out.values():
        ratios = [r["ratio"] for r in w["rows"] if r.get("ratio")]
        folded.append({"notebook": w["notebook"], "widget": w["widget"], "control": "(all sliders)",
                       "n": w["n"],
                       "median_ms": round(statistics.median(r["median_ms"] for r in w["rows"]), 1),
                       "floor_ms": _median_or_none(r.get("floor_ms") for r in w["rows"]),
                       "ratio": round(statistics.median(ratios), 2) if ratios else None,
                       "watched": "plot"})
    return folded


def _median_or_none(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def verdict(row: dict) -> str:
    """'yes' / '**no**' against the 2x-floor bar for a plot row; a note otherwise."""
    if row["median_ms"] is None:
        return "no change seen"
    if row.get("watched", "plot") != "plot":
        return "readout only (the plot did not follow the slider)"
    if row.get("ratio") is None:
        return "no floor measured"
    return "yes" if row["ratio"] <= BAR_RATIO else "**no**"


def summary(rows: list[dict]) -> str:
    """One line: the median ratio over all plot sliders, and the sliders over 2x the floor."""
    plot = [r for r in rows if r.get("watched") == "plot" and r.get("ratio")]
    if not plot:
        return "no plot slider timed against a floor"
    median = statistics.median(r["ratio"] for r in plot)
    over = [f"{r['notebook'][:2]} {r['widget']} '{r['control']}' ({r['ratio']:.2f}x)"
            for r in plot if r["ratio"] > BAR_RATIO]
    line = (f"{len(plot)} sliders: median {median:.2f}x the floor (bar {BAR_MEDIAN_RATIO}x: "
            f"{'met' if median <= BAR_MEDIAN_RATIO else 'NOT met'}); ")
    line += ("every slider within 2x." if not over else f"over 2x: {', '.join(over)}.")
    tails = [r["drag_tail_ms"] for r in rows if r.get("drag_tail_ms") is not None]
    if tails:
        line += (f" Dragging: last frame {statistics.median(tails):.0f} ms (median; worst "
                 f"{max(tails):.0f} ms) after the release.")
    return line


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, with the floor, the ratio and a verdict against the 2x bar."""
    drag = any("drag_frames" in r for r in rows)
    head = "| notebook | widget | slider | median ms | floor ms | × floor | moves | ≤ 2× |"
    head += " drag frames / values | drag tail ms |" if drag else ""
    lines = [head, "|---|---|---|---:|---:|---:|---:|---|" + ("---:|---:|" if drag else "")]
    for r in rows:
        ms = "–" if r["median_ms"] is None else f"{r['median_ms']:.1f}"
        floor = "–" if not r.get("floor_ms") else f"{r['floor_ms']:.1f}"
        ratio = "–" if not r.get("ratio") else f"{r['ratio']:.2f}"
        line = (f"| {r['notebook']} | `{r['widget']}` | {r['control']} | {ms} | {floor} | {ratio} | "
                f"{r['n']} | {verdict(r)} |")
        if drag:
            frames = f"{r['drag_frames']} / {r['drag_values']}" if "drag_frames" in r else "–"
            line += f" {frames} | {r.get('drag_tail_ms', '–')} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks (default: all in notebooks/)")
    parser.add_argument("--moves", type=int, default=10, help="moves per slider (default 10)")
    parser.add_argument("--drag", action="store_true", help="also drag each slider across its range")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    args = parser.parse_args(argv)
    reason = browser_unavailable_reason()
    if reason:
        print(f"browser latency not measured: {reason}", file=sys.stderr)
        return 2
    rows = measure_latency(args.notebooks or None, args.moves, drag=args.drag)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(markdown_table(rows))
        print()
        print(markdown_table(per_widget(rows)))
        print()
        print(summary(rows))
    return 0 if all(verdict(r) != "**no**" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
