"""Running one planned notebook: pytest + nbval in a fresh kernel, in a sandbox, under limits.

``run_plan`` runs the notebook, and reruns it (at most ``MAX_PASSES`` times in all) with a cell replaced by a
neutral one when that cell killed the kernel, hung it or flooded it with output, so that the later exercises
are still graded. Each run gets a fresh temporary folder (the notebook, its own ``pytest.ini``, the recorder
``recorder.py`` as ``conftest.py``), a fresh key for the guard's verdicts (``guard.py``), and runs in a
bubblewrap sandbox (``sandbox.py``) unless ``Options.sandbox`` is off. Inside, a small launcher sets the
process limits (address space, CPU time, file size, open files, no core dumps) and becomes pytest. The
recorder's lines come back through a pipe; ``classify`` turns each into a ``CellResult``, and a check cell's
result carries the guard's verdict when its signature is valid.
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
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading import guard, sandbox
from course_utils.grading.common import ANSI
from course_utils.grading.submission import Plan, notebook_json

MAX_PASSES = 4  # one run plus up to three reruns that skip a cell which killed the kernel
RECORDER = Path(__file__).with_name("recorder.py")
NEUTRAL_CELL = "# (skipped by the grader: in an earlier run this cell stopped the kernel)\n"


LOG_KEEP = 64 * 1024  # the end of pytest's output kept for the instructor (never shown to a student)
RESULTS_LIMIT = 4 * 2**20
BUSY = "check runner is still busy"

# A tiny launcher: set the limits (a JSON object {name: value}), then become pytest; the kernel inherits them.
_LAUNCHER = ("import json, os, resource, sys\n"
             "for name, value in json.loads(sys.argv[1]).items():\n"
             "    try:\n"
             "        resource.setrlimit(getattr(resource, name), (value, value))\n"
             "    except (ValueError, OSError):\n"
             "        pass\n"
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
    sandbox: bool = True  # False: the students' code runs with your permissions (--no-sandbox)
    output_limit_kb: int = 1024  # what one cell may print
    max_processes: int = 64  # processes of one submission (a fork bomb is stopped)
    disk_mb: int = 64  # the sandbox's writable folders, each
    file_size_mb: int = 64  # one file a submission writes

    def check(self) -> Options:
        """Raise ValueError naming the option, its value and what is allowed."""
        for name, low in (("cell_timeout", 0), ("setup_timeout", 0), ("notebook_timeout", 0),
                          ("mem_limit_mb", -1), ("threads", 0), ("output_limit_kb", 0), ("max_processes", 1),
                          ("disk_mb", 0), ("file_size_mb", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
                raise ValueError(f"Options.{name}={value!r}; allowed: a number > {low}")
        return self


@dataclass
class CellResult:
    kind: str  # ok / error / timeout / died / dead / setup / not_run / flood / killed
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0
    verdict: dict | None = None  # a check cell's signed verdict (guard.py), when there is a valid one
    detail: str = ""  # for "killed": why the grader stopped the run


@dataclass
class Run:
    """What one pass of a notebook gave: cell records, whether it timed out, why the grader killed it."""
    records: list[dict] = field(default_factory=list)
    timed_out: bool = False
    killed: str = ""
    log: str = ""
    key: bytes = b""


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
    if exception == "OutputFlood" or ename == "OutputFlood":  # stopped by the grader, or in the kernel
        return CellResult("flood", ename, evalue)
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



class _Reader(threading.Thread):
    """Drain a pipe into memory, keeping at most ``limit`` bytes (the first, or the last with ``tail``)."""

    def __init__(self, fd: int, limit: int, tail: bool = False):
        super().__init__(daemon=True)
        self.fd, self.limit, self.tail, self.data, self.total = fd, limit, tail, bytearray(), 0

    def run(self):
        with open(self.fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                self.total += len(chunk)
                if self.tail:
                    self.data += chunk
                    del self.data[:-self.limit]
                elif len(self.data) < self.limit:
                    self.data += chunk[: self.limit - len(self.data)]


def _limits(opts: Options) -> dict[str, int]:
    limits = {"RLIMIT_CORE": 0, "RLIMIT_NOFILE": 4096,
              "RLIMIT_FSIZE": opts.file_size_mb * 2**20,
              "RLIMIT_CPU": int(opts.notebook_timeout + opts.setup_timeout + 60)}
    if opts.mem_limit_mb:
        limits["RLIMIT_AS"] = opts.mem_limit_mb * 2**20
    if os.getuid() != 0:  # the kernel does not apply RLIMIT_NPROC to root; it counts the user's processes
        import psutil

        mine = sum(1 for p in psutil.process_iter(["uids"])
                   if p.info["uids"] and p.info["uids"].real == os.getuid())
        limits["RLIMIT_NPROC"] = mine + 4 * opts.max_processes
    return limits


def _count_processes(pid: int) -> int:
    import psutil

    try:
        return len(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return 0


def _run_once(sources: list[str], workdir: Path, opts: Options, deadline: float, cancel: threading.Event,
              own_cells: tuple[int, ...], config: dict) -> Run:
    """Run nbval once on ``sources`` (in a sandbox unless ``opts.sandbox`` is off)."""
    run = Run(key=guard.new_key())
    for old in ("submission.ipynb", "guard.json"):
        (workdir / old).unlink(missing_ok=True)
    (workdir / "submission.ipynb").write_text(notebook_json(sources), encoding="utf-8")
    (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    shutil.copyfile(RECORDER, workdir / "conftest.py")
    guard_path = workdir / "guard.json"
    fd = os.open(guard_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(guard.guard_config(run.key, *config), fh)
    results_r, results_w = os.pipe()
    log_r, log_w = os.pipe()
    tag = uuid.uuid4().hex
    threads = str(opts.threads)
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "COURSE_GRADING_RESULTS": f"fd:{results_w}",
           "COURSE_GRADING_TAG": tag, "COURSE_GRADING_OUTPUT_LIMIT": str(opts.output_limit_kb * 1024),
           "COURSE_GRADING_TIMEOUTS": json.dumps({i: max(opts.cell_timeout, opts.setup_timeout)
                                                  for i in own_cells}),
           "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
           "JUPYTER_PLATFORM_DIRS": "1", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1",
           "PYDEVD_DISABLE_FILE_VALIDATION": "1", "PYTHONHASHSEED": "0"}
    folder = sandbox.WORK if opts.sandbox else str(workdir)
    pytest_cmd = [sys.executable, "-m", "pytest", "-c", f"{folder}/pytest.ini", "--rootdir", folder,
                  "-p", "no:cacheprovider", "-p", "nbval.plugin", "-q", "--color=no", "-W", "ignore",
                  "--nbval-lax", "--nbval-current-env", f"--nbval-cell-timeout={opts.cell_timeout:g}",
                  "--nbval-kernel-startup-timeout=60", "submission.ipynb"]
    cmd = [sys.executable, "-c", _LAUNCHER, json.dumps(_limits(opts)), *pytest_cmd]
    guard_fd = None
    if opts.sandbox:
        scratch = sandbox.TMP
        env.update(HOME=sandbox.WORK, TMPDIR=scratch, LANG="C.UTF-8", PATH="/usr/local/bin:/usr/bin:/bin",
                   PYTHONPATH=sandbox.pythonpath(),
                   COURSE_GRADING_GUARD=sandbox.GUARD_FILE)
        guard_fd = os.open(guard_path, os.O_RDONLY)
        guard_path.unlink()  # the only copy left is the one the sandbox gets through the descriptor
        files = {name: workdir / name for name in ("submission.ipynb", "pytest.ini", "conftest.py")}
        cmd = sandbox.command(cmd, files=files, guard_fd=guard_fd, env={
            **env, "IPYTHONDIR": f"{scratch}/ipython", "JUPYTER_RUNTIME_DIR": f"{scratch}/runtime",
            "MPLCONFIGDIR": f"{scratch}/mpl", "XDG_CACHE_HOME": f"{scratch}/cache"},
            work_mb=opts.disk_mb, tmp_mb=opts.disk_mb)
        env = None
    else:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, **env,
               "COURSE_GRADING_GUARD": str(guard_path), "IPYTHONDIR": str(workdir / ".ipython"),
               "JUPYTER_RUNTIME_DIR": str(workdir / ".runtime")}
    readers = [_Reader(results_r, RESULTS_LIMIT), _Reader(log_r, LOG_KEEP, tail=True)]
    try:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log_w, stderr=log_w,
                                stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                                pass_fds=(results_w,) + ((guard_fd,) if guard_fd is not None else ()))
    finally:
        os.close(results_w)
        os.close(log_w)
        if guard_fd is not None:
            os.close(guard_fd)
    for reader in readers:
        reader.start()
    try:
        checked = time.monotonic()
        while proc.poll() is None:
            if cancel.is_set():
                raise Cancelled
            now = time.monotonic()
            if now > deadline:
                run.timed_out = True
                break
            if now - checked > 0.5:
                checked = now
                if _count_processes(proc.pid) > opts.max_processes + 8:
                    run.killed = f"it started more than {opts.max_processes} processes"
                    break
                if readers[1].total > 64 * 2**20:
                    run.killed = "it wrote more than 64 MB to the terminal"
                    break
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.poll() is None:
            _kill_tree(proc.pid, tag)
        elif not opts.sandbox:
            _sweep(tag)
        for reader in readers:
            reader.join(timeout=10)
    for line in bytes(readers[0].data).decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if isinstance(record, dict) and isinstance(record.get("cell"), int):
            run.records.append(record)
    run.log = bytes(readers[1].data).decode("utf-8", "replace")
    if opts.keep_workdirs:
        (workdir / "pytest.log").write_text(run.log, encoding="utf-8")
    return run


def _results(run: Run, plan_cells, n_cells: int) -> dict[int, CellResult]:
    """Cell results of one pass; a check cell's result carries its verdict when the signature is valid."""
    results: dict[int, CellResult] = {}
    last_seq = 0
    for record in sorted(run.records, key=lambda r: r["cell"]):
        index = record["cell"]
        if not 0 <= index < n_cells:
            continue
        result = classify(record)
        cell = plan_cells[index]
        if cell.kind == "check":
            verdicts = [v for v in (guard.parse_verdict(line, run.key) for line in record.get("verdicts", []))
                        if v is not None and v.get("check") == cell.grade_id]
            seq = verdicts[0].get("seq") if len(verdicts) == 1 else None
            if isinstance(seq, int) and seq > last_seq:
                result.verdict = verdicts[0]
                last_seq = verdicts[0]["seq"]
                if verdicts[0]["status"] in ("failed", "error"):
                    result.ename, result.evalue = verdicts[0].get("ename", ""), verdicts[0].get("message", "")
        results[index] = result
    if run.killed:
        first = next((i for i in range(n_cells) if i not in results), None)
        if first is not None:
            results[first] = CellResult("killed", detail=run.killed)
    return results


def _culprit(plan: Plan, results: dict[int, CellResult], skipped) -> int | None:
    """The cell to replace by a neutral one in the next pass: the first that killed or hung the kernel (or
    the check runner) while later cells could not run; never one of the key's own cells."""
    n = len(plan.cells)
    kinds = [results.get(i, CellResult("not_run")).kind for i in range(n)]
    busy = [BUSY in results[i].evalue if i in results else False for i in range(n)]
    for i, kind in enumerate(kinds):
        if i in skipped or kind not in ("died", "timeout", "flood", "killed"):
            continue
        if any(k in ("dead", "not_run") or b for k, b in zip(kinds[i + 1:], busy[i + 1:], strict=True)):
            return None if plan.cells[i].kind in ("locked", "free") else i
    return None


def run_plan(plan: Plan, opts: Options, cancel: threading.Event | None = None):
    """Run the planned notebook, rerunning (with the culprit skipped) when a cell killed or hung the kernel.
    Returns (results by cell index, notebook timed out, the log of the last pass for the instructor)."""
    cancel = cancel or threading.Event()
    opts.check()
    if opts.sandbox:
        sandbox.require()
    deadline = time.monotonic() + opts.notebook_timeout
    workdir = Path(tempfile.mkdtemp(prefix="course-grading-"))
    checks = {c.grade_id: c.source for c in plan.cells if c.kind == "check"}
    config = (checks, guard.own_cells_of(plan.cells))
    skipped: dict[int, CellResult] = {}
    own = tuple(i for i, c in enumerate(plan.cells) if c.kind in ("locked", "free"))
    earlier: dict[int, CellResult] = {}  # what the last pass found before its culprit
    try:
        for _ in range(MAX_PASSES):
            sources = [NEUTRAL_CELL if i in skipped else
                       guard.check_cell(c.grade_id, c.source) if c.kind == "check" else c.source
                       for i, c in enumerate(plan.cells)]
            run = _run_once(sources, workdir, opts, deadline, cancel, own, config)
            # a pass cut by the notebook timeout keeps what the pass before found up to its culprit
            results = {**earlier, **_results(run, plan.cells, len(plan.cells)), **skipped}
            if run.timed_out:
                break
            culprit = _culprit(plan, results, skipped)
            if culprit is None:
                break
            skipped[culprit] = results[culprit]
            earlier = {i: r for i, r in results.items() if i < culprit}
        return results, run.timed_out, run.log
    finally:
        if not opts.keep_workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"  (work folder kept: {workdir})", file=sys.stderr)
