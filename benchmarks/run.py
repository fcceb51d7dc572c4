"""Benchmark the course: notebook run time and memory, widget update latency.

    python benchmarks/run.py                  # everything below, 3 runs per notebook
    python benchmarks/run.py --repeat 5       # more runs per notebook
    python benchmarks/run.py --only 02        # notebooks / widgets whose name contains "02"
    python benchmarks/run.py --no-notebooks   # widget rows only
    python benchmarks/run.py --browser        # add slider -> plot latency in JupyterLab + Chromium
    python benchmarks/run.py --browser --drag # ... and drag every plot slider at a hand's pace
    python benchmarks/run.py --browser --moves 20   # more timed moves per slider (default 10)
    python benchmarks/run.py --memory         # add a class-sized figure: every notebook open in one server

Notebook rows: each notebook executed top to bottom in a fresh kernel (nbclient), ``--repeat`` times;
"cold" is kernel start + all cells, "cells" is the cells alone; peak RSS is the kernel's own
``ru_maxrss`` read at the end. Widget rows: every explorer of the catalogue
(``course_utils.explorers.EXPLORERS``), each control moved through its extremes and a spread of
values on its step grid, from Python (the path a slider move takes in the kernel); the median and 90th
percentile of the time from the new value to the new PNG and readout, and the median time to the PNG alone
(an explorer may write its readout after the plot has been sent). Medians throughout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEAK_RSS_CELL = "import resource as _r; print('PEAK_RSS_KB', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss)"


def run_notebook(path: Path, timeout: int = 600) -> dict:
    """Execute one notebook in a fresh kernel; return cold and cells-only seconds and peak RSS (MB)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_RSS_CELL))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        ready = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        end = time.perf_counter()
    rss_kb = next(int(line.split()[1]) for out in nb.cells[-1].outputs if out.get("name") == "stdout"
                  for line in out["text"].splitlines() if line.startswith("PEAK_RSS_KB"))
    return {"cold_s": end - start, "cells_s": end - ready, "peak_rss_mb": rss_kb / 1024}


def notebook_rows(paths: list[Path], repeat: int) -> list[dict]:
    rows = []
    for path in paths:
        runs = [run_notebook(path) for _ in range(repeat)]
        rows.append({"notebook": path.name, "runs": repeat,
                     **{key: statistics.median(r[key] for r in runs) for key in runs[0]}})
        print(f"  {path.name}: {rows[-1]['cold_s']:.2f} s cold", file=sys.stderr, flush=True)
    return rows


def benchmark_widgets() -> dict:
    """"NN name" -> factory for every explorer of the catalogue (NN: the notebook that shows it)."""
    from course_utils.explorers import EXPLORERS

    return {f"{entry.notebook[:2]} {name}": entry for name, entry in EXPLORERS.items()}


def on_step_grid(control, value):
    """``value`` as the slider on the page would set it: on the step grid from ``min`` (for a log
    slider, a grid of exponents), within ``min``..``max``. A slider on the page only takes these
    values; a value between two notches would time a path that no move of the slider takes."""
    import math

    import ipywidgets as W

    step = getattr(control, "step", None)
    if not step or isinstance(value, (bool, tuple)):
        return value
    if isinstance(control, W.FloatLogSlider):
        exponent = math.log(value, control.base)
        k = round((exponent - control.min) / step)
        return control.base ** min(control.max, max(control.min, round(control.min + k * step, 10)))
    k = round((value - control.min) / step)
    return type(control.value)(min(control.max, max(control.min, round(control.min + k * step, 10))))


def control_moves(control, spread: int = 10) -> list:
    """The values a benchmark moves a control through: extremes, options, a spread of slider values
    (each on the slider's step grid: :func:`on_step_grid`)."""
    import ipywidgets as W
    import numpy as np

    from course_utils.explorers.base import control_test_values

    values = control_test_values(control)
    numeric = not isinstance(control.value, (bool, tuple)) and not hasattr(control, "options")
    if hasattr(control, "min") and numeric:
        lo, hi = control.min, control.max
        grid = np.linspace(lo, hi, spread)
        if isinstance(control, W.FloatLogSlider):
            grid = control.base ** grid
        values += [type(control.value)(v) for v in grid]
        values = [on_step_grid(control, v) for v in values]
    return values


def widget_rows(factories: dict) -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    from course_utils import use_course_style

    use_course_style()
    rows = []
    for label, factory in factories.items():
        start = time.perf_counter()
        widget = factory()
        build = time.perf_counter() - start
        times, plot_times, errors = [], [], 0
        for control in widget.controls.values():
            if not hasattr(control, "value") or getattr(control, "disabled", False):
                continue
            original = control.value
            for value in control_moves(control):
                before = widget.last_update_s
                control.value = value
                if widget.last_update_s is not before:  # a callback ran (same value fires nothing)
                    times.append(widget.last_update_s)
                    plot_times.append(widget.last_plot_s)
                    errors += widget.last_error is not None
            control.value = original
        times.sort()
        rows.append({"widget": label, "moves": len(times), "build_ms": build * 1000,
                     "median_ms": statistics.median(times) * 1000 if times else float("nan"),
                     "plot_median_ms": statistics.median(plot_times) * 1000 if times else float("nan"),
                     "p90_ms": times[int(0.9 * (len(times) - 1))] * 1000 if times else float("nan"),
                     "errors": errors})
    return rows


def print_table(title: str, rows: list[dict], columns: list[tuple[str, str, str]]) -> None:
    """Markdown table: (key, header, format)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(h for _, h, _ in columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(format(row[k], f) for k, _, f in columns) + " |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per notebook (median reported)")
    parser.add_argument("--only", default="", help="only notebooks/widgets whose name contains this")
    parser.add_argument("--no-notebooks", action="store_true", help="skip the notebook runs")
    parser.add_argument("--no-widgets", action="store_true", help="skip the widget rows")
    parser.add_argument("--browser", action="store_true", help="add in-browser latency (needs chromium)")
    parser.add_argument("--drag", action="store_true", help="with --browser: also drag every plot slider")
    parser.add_argument("--moves", type=int, default=10,
                        help="with --browser: timed moves per slider (default 10); the bare slider is timed "
                             "in a block of half as many before them and another after")
    parser.add_argument("--memory", action="store_true",
                        help="add the memory of every notebook open at once in JupyterLab (needs chromium)")
    parser.add_argument("--lang", choices=("en", "ko"), default="en",
                        help="the edition: en (notebooks/) or ko (notebooks/ko, widgets built in Korean)")
    parser.add_argument("--json", type=Path, help="also write all rows to this JSON file")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat={args.repeat}; allowed: an integer >= 1")
    if args.moves < 3:
        parser.error(f"--moves={args.moves}; allowed: an integer >= 3")

    results = {}
    folder = ROOT / "notebooks" / ("ko" if args.lang == "ko" else "")
    notebooks = [p for p in sorted(folder.glob("*.ipynb")) if args.only in p.name]
    if args.lang != "en":
        from course_utils.i18n import set_language

        set_language(args.lang)
    if not args.no_notebooks:
        rows = notebook_rows(notebooks, args.repeat)
        total = {"notebook": "total", "runs": args.repeat,
                 **{k: sum(r[k] for r in rows) for k in ("cold_s", "cells_s")},
                 "peak_rss_mb": max((r["peak_rss_mb"] for r in rows), default=0.0)}
        results["notebooks"] = rows + [total]
        print_table(f"Notebooks: fresh kernel, median of {args.repeat} runs (total: sum of times, max RSS)",
                    results["notebooks"],
                    [("notebook", "notebook", ""), ("cold_s", "cold (s)", ".2f"),
                     ("cells_s", "cells only (s)", ".2f"), ("peak_rss_mb", "kernel peak RSS (MB)", ".0f")])
    if not args.no_widgets:
        factories = {k: f for k, f in benchmark_widgets().items() if args.only in k}
        results["widgets"] = widget_rows(factories)
        print_table("Widgets: Python-side update, new control value -> new PNG sent (then the readout)",
                    results["widgets"],
                    [("widget", "widget", ""), ("moves", "moves", "d"), ("median_ms", "median (ms)", ".1f"),
                     ("plot_median_ms", "to the PNG (ms)", ".1f"),
                     ("p90_ms", "p90 (ms)", ".1f"), ("build_ms", "build (ms)", ".0f"),
                     ("errors", "errors", "d")])
    if args.browser:
        sys.path.insert(0, str(ROOT))
        from tests.browser.latency import markdown_table, measure_latency, per_widget, summary

        rows = measure_latency(notebooks, moves=args.moves, drag=args.drag)
        results["browser"] = rows
        print("\n### Browser: key press on a slider -> new plot on the page, against a bare slider's round "
              "trip (the floor) in the same page (JupyterLab, headless Chromium)\n")
        print(markdown_table(per_widget(rows)))
        print("\nPer slider:\n")
        print(markdown_table(rows))
        print(f"\n{summary(rows)}")
    if args.memory:
        sys.path.insert(0, str(ROOT))
        from tests.browser.memory import class_memory
        from tests.browser.memory import markdown_table as memory_table

        results["memory"] = class_memory(notebooks)
        print("\n### Memory: every notebook opened in turn and left open in one JupyterLab, then closed\n")
        print(memory_table(results["memory"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
