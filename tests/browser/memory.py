"""A class-sized memory figure: every notebook open at once in one JupyterLab, then every tab closed.

    python -m tests.browser.memory            # all notebooks
    python benchmarks/run.py --memory         # the same, as part of the benchmark

JupyterLab runs with the Binder image's settings (``binder/postBuild``: a kernel shuts down when its
tab closes). The notebooks are opened in turn in one page, each run to the end and left open; then the
server's memory (its own process and every kernel, RSS from ``psutil``) is read, the tabs are closed
one by one, and it is read again once the kernels have gone. That is what one student's session costs
on Binder or a hub: the figure behind the README's ``memory.limit`` / ``guarantee``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.browser.harness import lab_session, notebooks  # noqa: E402


def server_memory_mb(server) -> dict:
    """RSS (MB) of the Jupyter server process and of its kernels (every descendant process)."""
    import psutil

    root = psutil.Process(server.proc.pid)
    kernels = 0.0
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            kernels += child.memory_info().rss
    return {"server_mb": root.memory_info().rss / 2**20, "kernels_mb": kernels / 2**20,
            "kernels": len(server.api("GET", "kernels") or [])}


def _wait_kernels(server, at_most: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(server.api("GET", "kernels") or []) > at_most and time.monotonic() < deadline:
        time.sleep(0.3)


def class_memory(paths: list[Path] | None = None) -> list[dict]:
    """Rows ``{"step", "kernels", "server_mb", "kernels_mb", "total_mb"}``: idle server, after each
    notebook is opened and run (all left open), and after every tab is closed."""
    paths = list(paths or notebooks())
    rows = []

    def record(step: str) -> None:
        row = {"step": step, **server_memory_mb(server)}
        row["total_mb"] = row["server_mb"] + row["kernels_mb"]
        rows.append(row)
        print(f"  {step}: {row['kernels']} kernels, {row['total_mb']:.0f} MB", file=sys.stderr, flush=True)

    with lab_session() as (server, browser):
        record("server, no notebook open")
        with contextlib.ExitStack() as open_tabs:
            for path in paths:
                nb = open_tabs.enter_context(browser.open_notebook(path))
                nb.run_all()
                record(f"+ {path.stem} (run, left open)")
        browser.join_background()
        _wait_kernels(server, 0)
        record("every tab closed")
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| step | kernels | server + kernels (MB) |", "|---|---:|---:|"]
    lines += [f"| {r['step']} | {r['kernels']} | {r['total_mb']:.0f} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table(class_memory()))
