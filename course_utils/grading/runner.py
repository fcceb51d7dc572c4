"""Running one planned notebook: pytest + nbval in a fresh kernel, under timeouts and a memory cap.

``run_plan`` runs the notebook, and reruns it (at most ``MAX_PASSES`` times in all) with a cell replaced by a
neutral one when that cell killed the kernel or hung it, so that the later exercises are still graded.
Each run happens in a fresh temporary folder with its own ``pytest.ini`` and the recorder (``recorder.py``) as
``conftest.py``; the recorder writes one JSON line per finished cell, which ``classify`` turns into a
``CellResult``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from course_utils.grading.common import ANSI
from course_utils.grading.submission import Plan, notebook_json

MAX_PASSES = 4  # one run plus up to three reruns that skip a cell which killed the kernel
RECORDER = Path(__file__).with_name("recorder.py")
NEUTRAL_CELL = "# (skipped by the grader: in an earlier run this cell stopped the kernel)\n"


# A tiny launcher: cap the address space, then become pytest; the kernel nbval starts inherits the cap.
_LAUNCHER = ("import os, resource, sys\n"
             "n = int(sys.argv[1])\n"
             "if n > 0:\n"
             "    resource.setrlimit(resource.RLIMIT_AS, (n, n))\n"
             "os.execv(sys.argv[2], sys.argv[2:])\n")


@dataclass
class Options:
    """Limits for one grading run."""
    cell_timeout: float = 30.0
    setup_timeout: float = 120.0  # for the key's own cells (imports can be slow on a busy machine)
    notebook_timeout: float = 300.0
    mem_limit_mb: int = 4096
    threads: int = 1
    keep_workdirs: bool = False


@dataclass
class CellResult:
    kind: str  # ok / error / timeout / died / dead / setup / not_run
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0


def classify(record: dict) -> CellResult:
    if record.get("ok"):
        return CellResult("ok", seconds=record.get("seconds", 0.0))
    message = ANSI.sub("", record.get("message", ""))
    exception = record.get("exception", "")
    ename, evalue = record.get("ename", ""), ANSI.sub("", record.get("evalue", ""))
    if record.get("when") == "setup":
        return CellResult("setup", exception, message)
    if exception == "KernelDied":
        return CellResult("died", ename, evalue)
    if "Kernel dead on test start" in message:
        return CellResult("dead", ename, evalue)
    if message.startswith("Timeout of") or "Timeout of" in message.split("\n", 1)[0]:
        return CellResult("timeout", ename, evalue)
    return CellResult("error", ename or exception, evalue or message, record.get("seconds", 0.0))


def _kill_tree(pid: int, tag: str) -> None:
    """Kill a process, its descendants and any stray process that carries this run's tag."""
    import psutil

    procs = []
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.Error:
        pass
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    _sweep(tag)


def _sweep(tag: str) -> None:
    """Kill leftover processes started by one grading run (found by the tag in their environment)."""
    import psutil

    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.environ().get("COURSE_GRADING_TAG") == tag:
                proc.kill()
        except psutil.Error:
            continue


class Cancelled(Exception):
    """The whole grading run was interrupted."""


def _run_once(sources: list[str], workdir: Path, opts: Options, deadline: float,
              cancel: threading.Event, own_cells: tuple[int, ...] = ()):
    """Run nbval once on ``sources``; (results by cell, whether the notebook timed out, pytest log tail)."""
    for old in ("submission.ipynb", "results.jsonl"):
        (workdir / old).unlink(missing_ok=True)
    (workdir / "submission.ipynb").write_text(notebook_json(sources), encoding="utf-8")
    (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    shutil.copyfile(RECORDER, workdir / "conftest.py")
    results_path = workdir / "results.jsonl"
    results_path.touch()
    tag = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    threads = str(opts.threads)
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", COURSE_GRADING_RESULTS=str(results_path),
               COURSE_GRADING_TAG=tag, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
               OPENBLAS_NUM_THREADS=threads, IPYTHONDIR=str(workdir / ".ipython"),
               JUPYTER_RUNTIME_DIR=str(workdir / ".runtime"), JUPYTER_PLATFORM_DIRS="1", MPLBACKEND="Agg",
               PYTHONDONTWRITEBYTECODE="1", PYDEVD_DISABLE_FILE_VALIDATION="1",
               COURSE_GRADING_TIMEOUTS=json.dumps({i: max(opts.cell_timeout, opts.setup_timeout)
                                                   for i in own_cells}))
    pytest_cmd = [sys.executable, "-m", "pytest", "-c", str(workdir / "pytest.ini"),
                  "--rootdir", str(workdir), "-p", "no:cacheprovider", "-p", "nbval.plugin", "-q",
                  "--color=no", "-W", "ignore",
                  "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={opts.cell_timeout:g}",
                  "--nbval-kernel-startup-timeout=60", "submission.ipynb"]
    limit = opts.mem_limit_mb * 2**20 if opts.mem_limit_mb and os.name == "posix" else 0
    cmd = [sys.executable, "-c", _LAUNCHER, str(limit), *pytest_cmd] if os.name == "posix" else pytest_cmd
    timed_out = False
    with open(workdir / "pytest.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            while proc.poll() is None:
                if cancel.is_set():
                    raise Cancelled
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                try:
                    proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if proc.poll() is None:
                _kill_tree(proc.pid, tag)
            else:
                _sweep(tag)
    results: dict[int, CellResult] = {}
    for line in results_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        results[int(record["cell"])] = classify(record)
    tail = (workdir / "pytest.log").read_text(encoding="utf-8", errors="replace")[-2000:]
    return results, timed_out, tail


def run_plan(plan: Plan, opts: Options, cancel: threading.Event | None = None):
    """Run the planned notebook, rerunning (with the culprit skipped) when a cell killed the kernel.
    Returns (results by cell index, notebook timed out, pytest log tail)."""
    cancel = cancel or threading.Event()
    deadline = time.monotonic() + opts.notebook_timeout
    workdir = Path(tempfile.mkdtemp(prefix="course-grading-"))
    skipped: dict[int, CellResult] = {}
    try:
        for _ in range(MAX_PASSES):
            sources = [NEUTRAL_CELL if i in skipped else c.source for i, c in enumerate(plan.cells)]
            own = tuple(i for i, c in enumerate(plan.cells) if c.kind in ("locked", "free"))
            results, timed_out, tail = _run_once(sources, workdir, opts, deadline, cancel, own)
            results.update(skipped)
            if timed_out:
                break
            kinds = [results.get(i, CellResult("not_run")).kind for i in range(len(plan.cells))]
            culprit = next((i for i, kind in enumerate(kinds)
                            if i not in skipped and kind in ("died", "timeout")
                            and any(k in ("dead", "not_run") for k in kinds[i + 1:])), None)
            if culprit is None or plan.cells[culprit].kind in ("locked", "free"):
                break  # nothing to skip (a cell of the key's own is never skipped)
            skipped[culprit] = results[culprit]
        return results, timed_out, tail
    finally:
        if not opts.keep_workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"  (work folder kept: {workdir})", file=sys.stderr)
