"""Release and grade the homework notebooks with nbval.

``python -m course_utils.grading release SRC_DIR OUT_DIR --keys KEYS_DIR``
    turns every instructor notebook ``SRC_DIR/<name>.ipynb`` into the student version
    ``OUT_DIR/<name>.ipynb`` (solutions replaced by a ``# YOUR CODE HERE`` stub, hidden tests removed,
    outputs cleared, check cells locked) and writes the grading key ``KEYS_DIR/<name>.json`` (every check
    cell in full, hidden tests included, with hashes). Keep the keys private.

``python -m course_utils.grading grade SUBMISSIONS_DIR --key KEYS_DIR/<name>.json --out REPORT.csv [-j N]``
    grades every ``.ipynb`` in the folder (one student per file or per sub-folder): restores the check
    cells from the key, strips nbval markers, runs nbval in a fresh kernel under a per-cell timeout, a
    per-notebook timeout and a memory cap, and writes one CSV row per student and exercise
    (``student,exercise,points,max_points,status,reason``) as soon as that student is graded.

Grading runs the students' code with your permissions: it is **not a sandbox**. Use a container or a
throw-away account for anything with high stakes.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
KEY_FORMAT = "course-homework-key/1"
REPORT_COLUMNS = ("student", "exercise", "points", "max_points", "status", "reason")
STATUSES = ("passed", "failed", "error", "timeout")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
MAX_NOTEBOOK_BYTES = 50 * 2**20
MAX_PASSES = 4  # one run plus up to three reruns that skip a cell which killed the kernel

# A tiny launcher: cap the address space, then become pytest; the kernel nbval starts inherits the cap.
_LAUNCHER = ("import os, resource, sys\n"
             "n = int(sys.argv[1])\n"
             "if n > 0:\n"
             "    resource.setrlimit(resource.RLIMIT_AS, (n, n))\n"
             "os.execv(sys.argv[2], sys.argv[2:])\n")

# Written into each grading folder as conftest.py: records every cell's outcome, one JSON line as it finishes.
_RECORDER = '''"""Written by course_utils.grading: records each notebook cell's outcome as one JSON line."""
import json
import os
import time
from queue import Empty

import pytest

_OUT = open(os.environ["COURSE_GRADING_RESULTS"], "a", encoding="utf-8")
# cells that run the key's own code (imports, data) get a longer timeout than the students' cells
_TIMEOUTS = {int(k): float(v) for k, v in json.loads(os.environ.get("COURSE_GRADING_TIMEOUTS", "{}")).items()}
_CURRENT = {"cell": None}


class KernelDied(RuntimeError):
    """The kernel process exited while a cell was running."""


def _patch_nbval():
    from nbval import kernel as nbval_kernel
    from nbval import plugin as nbval_plugin

    runtest = nbval_plugin.IPyNbCell.runtest

    def runtest_recording_cell(self):
        _CURRENT["cell"] = self.cell_num
        try:
            return runtest(self)
        finally:
            _CURRENT["cell"] = None

    def await_reply(self, msg_id, timeout=None):
        # nbval's loop, polling so that a dead kernel is noticed within half a second (not after the timeout)
        if _CURRENT["cell"] in _TIMEOUTS:
            timeout = _TIMEOUTS[_CURRENT["cell"]]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise Empty
            try:
                msg = self.get_message(stream="shell", timeout=0.5 if left is None else min(0.5, left))
            except Empty:
                if not self.is_alive():
                    raise KernelDied("the kernel process died") from None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                if msg["content"]["status"] == "aborted":
                    raise RuntimeError("Kernel aborted execution request")
                return

    nbval_kernel.RunningKernel.await_reply = await_reply
    nbval_plugin.IPyNbCell.runtest = runtest_recording_cell


_patch_nbval()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    yield
    cell = getattr(item, "cell_num", None)
    if cell is None or not (call.when == "call" or call.excinfo is not None):
        return
    record = {"cell": cell, "when": call.when, "ok": call.excinfo is None, "seconds": round(call.duration, 3)}
    if call.excinfo is not None:
        record["exception"] = type(call.excinfo.value).__name__
        record["message"] = str(call.excinfo.value)[:4000]
    for out in getattr(item, "test_outputs", None) or []:
        if out.get("output_type") == "error":
            record["ename"] = str(out.get("ename", ""))[:200]
            record["evalue"] = str(out.get("evalue", ""))[:4000]
            break
    _OUT.write(json.dumps(record) + "\\n")
    _OUT.flush()
'''

# Student code that reaches into the checking machinery; grading is not a sandbox, so such code is flagged
# in the report for a human to look at (passing rows say "flagged for review").
_SUSPICIOUS = {
    "reassigns an assert function": r"\bassert_(?:close|allclose)\s*=(?!=)|\bAssertionError\s*=(?!=)",
    "patches torch / numpy": r"\b(?:torch|np|numpy)\.testing\s*=(?!=)|setattr\(\s*(?:torch|np|numpy)\b",
    "uses get_ipython / IPython hooks": r"\bget_ipython\s*\(|input_transformers|\bevents\.register\b",
    "uses builtins / sys.modules": r"\bbuiltins\b|\bsys\.modules\b|__builtins__",
}
_NEUTRAL_CELL = "# (skipped by the grader: in an earlier run this cell stopped the kernel)\n"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NBVAL_MARKER = re.compile(r"^\s*#+\s*(NBVAL_|PYTEST_VALIDATE_)", re.IGNORECASE)


class SubmissionError(Exception):
    """A submission that cannot be graded at all (the report gets one row with exercise ``*``)."""


class GradingKeyError(ValueError):
    """A grading key that is missing, malformed or was edited after release."""


# ------------------------------------------------------------------------------------ release

def _source(cell) -> str:
    """A cell's source as one string (notebook files may store it as a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def replace_regions(source: str, begin: str, end: str, replacement: list[str] | None, *, where: str) -> str:
    """Replace every ``begin``...``end`` region (marker lines included) by ``replacement`` lines,
    indented like the ``begin`` marker; ``None`` deletes the region. ValueError on unbalanced markers."""
    out, inside, indent = [], False, ""
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == begin:
            if inside:
                raise ValueError(f"{where}: '{begin}' inside another '{begin}' region; close it with '{end}'")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.extend(indent + r for r in replacement or [])
        elif stripped == end:
            if not inside:
                raise ValueError(f"{where}: '{end}' without a matching '{begin}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{begin}' is never closed; add a '{end}' line")
    return "\n".join(out)


def _has_marker(source: str, *markers: str) -> bool:
    return any(line.strip() in markers for line in source.split("\n"))


def _role(cell, where: str) -> str:
    """answer / check / locked / free / markdown for a source cell, from its nbgrader metadata."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if cell.get("cell_type") != "code":
        return "answer-md" if meta.get("solution") else "markdown"
    if meta.get("grade") and meta.get("solution"):
        raise ValueError(f"{where}: a cell with both grade and solution (nbgrader 'autograded answer') is "
                         "not supported; split it into an answer cell and a check cell")
    if meta.get("grade"):
        return "check"
    if meta.get("solution"):
        return "answer"
    return "locked" if meta.get("locked") else "free"


def _signature(source: str) -> str | None:
    """The first ``def name`` / ``class name`` of an answer cell: finds it when its metadata is lost."""
    for line in source.split("\n"):
        match = re.match(r"\s*(def|class)\s+([A-Za-z_]\w*)", line)
        if match:
            return f"{match.group(1)} {match.group(2)}"
    return None


def release_notebook(path: str | os.PathLike) -> tuple[str, dict]:
    """The student notebook (file text) and the grading key (dict) for one instructor notebook."""
    import nbformat

    path = Path(path)
    name = path.stem
    nb = nbformat.read(str(path), as_version=4)
    declared = nb.metadata.get("course_homework", {}).get("assignment")
    if declared not in (None, name):
        raise ValueError(f"{path}: metadata.course_homework.assignment is {declared!r} but the file is "
                         f"{name!r}; rename one of them")
    roles = [_role(cell, f"{path.name} cell {i}") for i, cell in enumerate(nb.cells)]
    grade_ids: dict[str, int] = {}
    for i, (cell, role) in enumerate(zip(nb.cells, roles, strict=True)):
        where, src = f"{path.name} cell {i}", _source(cell)
        meta = cell.metadata.get("nbgrader", {})
        if role in ("answer", "check", "locked") or meta.get("grade_id"):
            gid = meta.get("grade_id")
            if not isinstance(gid, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", gid):
                raise ValueError(f"{where}: nbgrader grade_id={gid!r}; allowed: letters, digits, '_' and '-'")
            if gid in grade_ids:
                raise ValueError(f"{where}: grade_id={gid!r} is used twice (cells {grade_ids[gid]} and {i})")
            grade_ids[gid] = i
        if role == "check":
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
                raise ValueError(f"{where}: check cell {meta.get('grade_id')!r} has points={points!r}; "
                                 "allowed: a number > 0")
        if _has_marker(src, SOLUTION_BEGIN, SOLUTION_END) and role not in ("answer", "answer-md"):
            raise ValueError(f"{where}: '{SOLUTION_BEGIN}' in a cell without nbgrader solution=true would be "
                             "published; mark the cell as an answer cell")
        if _has_marker(src, HIDDEN_BEGIN, HIDDEN_END) and role != "check":
            raise ValueError(f"{where}: '{HIDDEN_BEGIN}' is only allowed in check cells (grade=true)")
    if "check" not in roles:
        raise ValueError(f"{path}: no check cell (nbgrader grade=true); nothing to grade")

    # the exercise an answer belongs to: the next check cell
    next_check: list[str | None] = [None] * len(nb.cells)
    upcoming = None
    for i in reversed(range(len(nb.cells))):
        if roles[i] == "check":
            upcoming = nb.cells[i].metadata["nbgrader"]["grade_id"]
        next_check[i] = upcoming

    student_cells, key_cells = [], []
    for i, (cell, role) in enumerate(zip(nb.cells, roles, strict=True)):
        where, src = f"{path.name} cell {i}", _source(cell)
        meta = cell.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if role == "answer":
            label = next_check[i] or gid
            stub = ["# YOUR CODE HERE",
                    f'raise NotImplementedError("exercise {label}: replace this line with your code")']
            released = replace_regions(src, SOLUTION_BEGIN, SOLUTION_END, stub, where=where)
        elif role == "answer-md":
            released = replace_regions(src, SOLUTION_BEGIN, SOLUTION_END, ["YOUR ANSWER HERE"], where=where)
        elif role == "check":
            released = replace_regions(src, HIDDEN_BEGIN, HIDDEN_END, None, where=where).rstrip("\n")
            replace_regions(src, SOLUTION_BEGIN, SOLUTION_END, None, where=where)  # validates markers
        else:
            released = src
        new_meta = {"nbgrader": dict(meta)} if meta else {}
        if role in ("check", "locked"):
            new_meta.update(editable=False, deletable=False)
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(released, metadata=new_meta)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(released, metadata=new_meta)
        else:
            new = nbformat.v4.new_raw_cell(released, metadata=new_meta)
        new["id"] = cell.get("id") or f"cell-{i}"
        student_cells.append(new)
        if cell.cell_type != "code":
            continue
        entry = {"role": role, "grade_id": gid, "cell_id": new["id"],
                 "source": src if role == "check" else released, "release_sha256": _sha256(released)}
        entry["sha256"] = _sha256(entry["source"])
        if role == "check":
            entry["points"] = meta["points"]
        if role == "answer":
            entry["signature"] = _signature(released)
        key_cells.append(entry)

    student = nbformat.v4.new_notebook(cells=student_cells, metadata={
        "kernelspec": dict(nb.metadata.get("kernelspec", KERNELSPEC)),
        "language_info": {"name": "python"},
        "course_homework": {"assignment": name},
    })
    student.nbformat, student.nbformat_minor = 4, 5
    text = nbformat.writes(student)
    text = text if text.endswith("\n") else text + "\n"
    key = {
        "format": KEY_FORMAT,
        "assignment": name,
        "release_sha256": _sha256(text),
        "total_points": sum(c["points"] for c in key_cells if c["role"] == "check"),
        "cells": key_cells,
    }
    key["key_sha256"] = _key_hash(key)
    return text, key


def _key_hash(key: dict) -> str:
    return _sha256(json.dumps([key["assignment"], key["cells"]], sort_keys=True, ensure_ascii=False))


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def release(src_dir: str | os.PathLike, out_dir: str | os.PathLike, keys_dir: str | os.PathLike) -> list[str]:
    """Release every ``SRC_DIR/*.ipynb``: student notebooks into ``out_dir``, keys into ``keys_dir``."""
    src_dir, out_dir, keys_dir = Path(src_dir), Path(out_dir), Path(keys_dir)
    if not src_dir.is_dir():
        raise ValueError(f"SRC_DIR={str(src_dir)!r} is not a folder; allowed: a folder of notebooks")
    if _inside(keys_dir, out_dir):
        raise ValueError(f"--keys {str(keys_dir)!r} lies inside OUT_DIR {str(out_dir)!r}, which students "
                         "get; allowed: a private folder outside it")
    sources = sorted(p for p in src_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not sources:
        raise ValueError(f"SRC_DIR={str(src_dir)!r} holds no .ipynb notebook")
    released = [(p.stem, *release_notebook(p)) for p in sources]  # all checked before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.mkdir(parents=True, exist_ok=True)
    for name, text, key in released:
        (out_dir / f"{name}.ipynb").write_text(text, encoding="utf-8")
        key_text = json.dumps(key, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        (keys_dir / f"{name}.json").write_text(key_text, encoding="utf-8")
    return [name for name, _, _ in released]


# ------------------------------------------------------------------------------------ key & submission

def load_key(path: str | os.PathLike) -> dict:
    """Read a grading key and check that it is complete and unedited since release."""
    path = Path(path)
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GradingKeyError(f"--key {str(path)!r} cannot be read as a grading key: {err}") from None
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT:
        raise GradingKeyError(f"--key {str(path)!r} is not a grading key (format {KEY_FORMAT!r}); "
                        "make one with 'python -m course_utils.grading release'")
    cells = key.get("cells")
    if not isinstance(cells, list) or not any(isinstance(c, dict) and c.get("role") == "check"
                                              for c in cells):
        raise GradingKeyError(f"--key {str(path)!r} lists no check cell")
    for c in cells:
        if _sha256(c.get("source", "")) != c.get("sha256"):
            raise GradingKeyError(f"--key {str(path)!r}: cell {c.get('grade_id')!r} was edited after release "
                            "(hash mismatch); release again instead of editing the key")
    if _key_hash(key) != key.get("key_sha256"):
        raise GradingKeyError(f"--key {str(path)!r} was edited after release (hash mismatch); release again")
    return key


def load_submission(path: Path) -> tuple[list[dict], dict]:
    """The code and markdown cells and the metadata of a submitted notebook; SubmissionError if unreadable."""
    size = path.stat().st_size
    if size == 0:
        raise SubmissionError(f"{path.name} is empty (0 bytes); save the notebook in JupyterLab and "
                              "submit again")
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"{path.name} is {size / 2**20:.0f} MB (limit {MAX_NOTEBOOK_BYTES // 2**20} "
                              "MB); clear the outputs (Edit > Clear Outputs of All Cells) and submit again")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise SubmissionError(f"{path.name} is not a text notebook (not UTF-8); submit the .ipynb file "
                              "itself") from None
    except json.JSONDecodeError as err:
        raise SubmissionError(f"{path.name} is not a valid notebook: JSON error at line {err.lineno}, "
                              f"column {err.colno} ({err.msg}); the file is truncated or damaged: open it in "
                              "JupyterLab, save it and submit again") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise SubmissionError(f"{path.name} is JSON but not a Jupyter notebook (no 'cells' list)")
    if data.get("nbformat", 4) != 4:
        raise SubmissionError(f"{path.name} is an nbformat {data.get('nbformat')} notebook; open it in "
                              "JupyterLab, save it (nbformat 4) and submit again")
    cells = []
    for cell in data["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise SubmissionError(f"{path.name} has a malformed cell; open it in JupyterLab, save it and "
                                  "submit again")
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbg = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
        cells.append({"cell_type": cell["cell_type"], "source": _source(cell), "id": str(cell.get("id", "")),
                      "grade_id": nbg.get("grade_id") if isinstance(nbg.get("grade_id"), str) else None})
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return cells, meta


def strip_nbval_markers(source: str) -> str:
    """Remove comment lines nbval reads as markers (``# NBVAL_SKIP``, ``# NBVAL_RAISES_EXCEPTION``...)."""
    return "\n".join(line for line in source.split("\n") if not _NBVAL_MARKER.match(line))


@dataclass
class Planned:
    """One cell of the notebook the grader runs: its source and where it came from."""
    source: str
    kind: str  # answer / check / locked / free / extra (a cell the student added)
    exercise: str | None  # the check cell's grade_id this cell belongs to (None after the last check)
    grade_id: str | None = None


@dataclass
class Plan:
    cells: list[Planned]
    missing_answers: dict[str, list[str]] = field(default_factory=dict)  # exercise -> missing answers

    def flags(self) -> list[str]:
        """What the student's own code does that deserves a human look (see ``_SUSPICIOUS``)."""
        text = "\n".join(c.source for c in self.cells if c.kind in ("answer", "extra"))
        return [what for what, pattern in _SUSPICIOUS.items() if re.search(pattern, text)]


def assemble(cells: list[dict], nb_meta: dict, key: dict) -> Plan:
    """The notebook to run: the key's locked and check cells in the key's order, the student's answer cells in
    their slots, and the student's own cells after the cell they followed. SubmissionError if none match."""
    assignment = key["assignment"]
    declared = nb_meta.get("course_homework", {}) if isinstance(nb_meta.get("course_homework"), dict) else {}
    other = declared.get("assignment")
    if isinstance(other, str) and other != assignment:
        raise SubmissionError(f"this notebook is the assignment {other!r}, not {assignment!r}: "
                              f"submit your {assignment}.ipynb")
    kcells = key["cells"]
    by_gid = {c["grade_id"]: i for i, c in enumerate(kcells) if c.get("grade_id")}
    by_id = {c["cell_id"]: i for i, c in enumerate(kcells) if c.get("cell_id")}
    by_hash = {}
    for i, c in enumerate(kcells):
        if c["role"] != "answer":
            by_hash.setdefault(c["release_sha256"], i)
            by_hash.setdefault(c["sha256"], i)
    by_sig = {c["signature"]: i for i, c in enumerate(kcells) if c["role"] == "answer" and c.get("signature")}

    def match(cell) -> int | None:
        if cell["grade_id"] in by_gid:
            return by_gid[cell["grade_id"]]
        if cell["id"] in by_id:
            return by_id[cell["id"]]
        if _sha256(cell["source"]) in by_hash:
            return by_hash[_sha256(cell["source"])]
        for line in cell["source"].split("\n"):
            found = re.match(r"\s*(def|class)\s+([A-Za-z_]\w*)", line)
            if found and f"{found.group(1)} {found.group(2)}" in by_sig:
                return by_sig[f"{found.group(1)} {found.group(2)}"]
        return None

    answers: dict[int, list[str]] = {}
    extras: dict[int, list[str]] = {}
    anchor, recognised = -1, 0
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        k = match(cell)
        if k is None:
            extras.setdefault(anchor, []).append(strip_nbval_markers(cell["source"]))
            continue
        recognised += 1
        anchor = k
        if kcells[k]["role"] == "answer":
            answers.setdefault(k, []).append(strip_nbval_markers(cell["source"]))
    if not recognised:
        raise SubmissionError(f"none of the cells of {assignment!r} were found in this notebook: submit "
                              f"{assignment}.ipynb as released (keep its answer cells; do not copy code into "
                              "a new notebook)")

    exercise_at: list[str | None] = [None] * len(kcells)  # the exercise a cell at/after key cell i belongs to
    after: list[str | None] = [None] * len(kcells)  # ... and the exercise of cells the student put after it
    upcoming = None
    for i in reversed(range(len(kcells))):
        after[i] = upcoming
        if kcells[i]["role"] == "check":
            upcoming = kcells[i]["grade_id"]
        exercise_at[i] = upcoming
    first_exercise = upcoming

    plan = Plan(cells=[Planned(src, "extra", first_exercise) for src in extras.get(-1, [])])
    for i, kc in enumerate(kcells):
        if kc["role"] == "answer":
            if i not in answers:
                plan.missing_answers.setdefault(exercise_at[i], []).append(kc["grade_id"])
            plan.cells += [Planned(src, "answer", exercise_at[i], kc["grade_id"])
                           for src in answers.get(i, [])]
        else:
            plan.cells.append(Planned(kc["source"], kc["role"], exercise_at[i], kc.get("grade_id")))
        plan.cells += [Planned(src, "extra", after[i]) for src in extras.get(i, [])]
    return plan


def _notebook_json(sources: list[str]) -> str:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": src} for i, src in enumerate(sources)]
    metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    return json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}, indent=1)


# ------------------------------------------------------------------------------------ running nbval

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


def _classify(record: dict) -> CellResult:
    if record.get("ok"):
        return CellResult("ok", seconds=record.get("seconds", 0.0))
    message = _ANSI.sub("", record.get("message", ""))
    exception = record.get("exception", "")
    ename, evalue = record.get("ename", ""), _ANSI.sub("", record.get("evalue", ""))
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


class _Cancelled(Exception):
    """The whole grading run was interrupted."""


def _run_once(sources: list[str], workdir: Path, opts: Options, deadline: float,
              cancel: threading.Event, own_cells: tuple[int, ...] = ()):
    """Run nbval once on ``sources``; (results by cell, whether the notebook timed out, pytest log tail)."""
    for old in ("submission.ipynb", "results.jsonl"):
        (workdir / old).unlink(missing_ok=True)
    (workdir / "submission.ipynb").write_text(_notebook_json(sources), encoding="utf-8")
    (workdir / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (workdir / "conftest.py").write_text(_RECORDER, encoding="utf-8")
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
                    raise _Cancelled
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
        results[int(record["cell"])] = _classify(record)
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
            sources = [_NEUTRAL_CELL if i in skipped else c.source for i, c in enumerate(plan.cells)]
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


# ------------------------------------------------------------------------------------ rows

def _one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", _ANSI.sub("", str(text))).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


_DETAIL_PREFIXES = ("Expected", "Mismatched elements", "Greatest absolute difference",
                    "Greatest relative difference", "Max absolute difference", "Max relative difference",
                    "The failure occurred", "ACTUAL:", "DESIRED:", "The values for attribute",
                    "Tensor-likes are not", "Scalars are not")


def _assertion_reason(evalue: str) -> str:
    lines = [ln.strip() for ln in evalue.splitlines() if ln.strip()]
    if not lines:
        return "a check failed (an assert without a message): compare your result with the check cell"
    head = next((ln for ln in lines if ln.lower().startswith("exercise")), lines[0])
    details = [ln for ln in lines if ln != head and ln.startswith(_DETAIL_PREFIXES) and len(ln) < 120][:3]
    return _one_line(" | ".join([head, *details]))


def _describe(result: CellResult) -> str:
    if result.kind in ("timeout", "died", "dead"):
        return {"timeout": "it timed out", "died": "the kernel died",
                "dead": "the kernel was dead"}[result.kind]
    return f"{result.ename}: {result.evalue}"


def _out_of_memory(result: CellResult) -> bool:
    return result.ename == "MemoryError" or "can't allocate memory" in result.evalue


def _fmt(points) -> str:
    return f"{points:g}" if isinstance(points, float) else str(points)


def _cause_in_slot(plan: Plan, results, exercise: str, check_index: int):
    """The first of the student's cells for this exercise that timed out, died or raised."""
    for i in range(check_index):
        cell = plan.cells[i]
        if cell.exercise == exercise and cell.kind in ("answer", "extra"):
            r = results.get(i)
            if r is not None and r.kind in ("timeout", "died", "error"):
                return cell, r
    return None, None


def exercise_rows(student: str, key: dict, plan: Plan, results, notebook_timed_out: bool,
                  opts: Options) -> list[tuple]:
    """One report row per exercise, from the cell results of a run."""
    rows = []
    mem = f"{opts.mem_limit_mb} MB" if opts.mem_limit_mb else "the machine's memory"
    flags = plan.flags()
    for index, cell in enumerate(plan.cells):
        if cell.kind != "check":
            continue
        exercise = cell.grade_id
        points = next(c["points"] for c in key["cells"] if c.get("grade_id") == exercise)
        r = results.get(index, CellResult("not_run"))
        cause_cell, cause = _cause_in_slot(plan, results, exercise, index)
        missing = plan.missing_answers.get(exercise)
        setup_failure = next(((i, results[i]) for i in range(index)
                              if plan.cells[i].kind in ("locked", "free")
                              and i in results and results[i].kind != "ok"), None)
        status, reason = "error", ""
        if r.kind == "ok":
            status, reason = "passed", "all checks passed"
            if flags:
                reason += f" (flagged for review: your code {'; '.join(flags)})"
        elif r.kind == "not_run":
            status = "timeout" if notebook_timed_out else "error"
            reason = (f"grading stopped: the whole notebook ran longer than {opts.notebook_timeout:g} s "
                      "before this check; remove slow or endless code" if notebook_timed_out
                      else "this check did not run: grading stopped early (a crash or a flood of output "
                           "from your code?); ask your instructor")
        elif cause is not None and cause.kind == "timeout":
            status = "timeout"
            which = "answer" if cause_cell.kind == "answer" else "own"
            reason = (f"your {which} cell for this exercise ran longer than {opts.cell_timeout:g} s and was "
                      "stopped (an endless loop?): make it finish quickly")
        elif cause is not None and cause.kind == "died":
            reason = (f"the Python kernel died while running your cell for this exercise (memory above "
                      f"{mem}, a crash, exit() or os._exit()): fix that cell")
        elif r.kind == "timeout":
            status = "timeout"
            reason = (f"the check ran longer than {opts.cell_timeout:g} s calling your code (an endless "
                      "loop or a very slow function?): make it finish quickly")
        elif r.kind == "died":
            reason = (f"the Python kernel died while the check called your code (memory above {mem}, a "
                      "crash, exit() or os._exit()): fix your function")
        elif r.kind in ("dead", "setup"):
            reason = _one_line(f"the kernel had died earlier in the notebook; fix the cell that kills it "
                               f"({r.ename}: {r.evalue})")
        elif r.ename == "AssertionError":
            status, reason = "failed", _assertion_reason(r.evalue)
        elif r.ename == "NotImplementedError":
            reason = ("not answered yet: replace the '# YOUR CODE HERE' and 'raise NotImplementedError' "
                      "lines with your code")
        elif r.ename == "SystemExit" or (cause is not None and cause.ename == "SystemExit"):
            reason = "your code calls sys.exit() or exit(): remove it"
        elif _out_of_memory(r) or (cause is not None and _out_of_memory(cause)):
            reason = f"your code ran out of memory (limit {mem}): use smaller tensors or fewer copies"
        elif setup_failure is not None and r.ename == "NameError":
            reason = _one_line(f"the notebook's own cell {setup_failure[0]} failed "
                               f"({_describe(setup_failure[1])}), so {r.evalue}; run the notebook from the "
                               "top")
        elif missing and r.ename == "NameError":
            reason = _one_line(f"the answer cell {', '.join(missing)} is missing from your notebook "
                               f"(deleted?), so {r.evalue}: put your code back into the released answer cell")
        elif cause is not None:
            reason = _one_line(f"your cell for this exercise raised {cause.ename}: "
                               f"{cause.evalue.splitlines()[0] if cause.evalue else ''}; so the check raised "
                               f"{r.ename}: {r.evalue}")
        elif r.ename == "NameError":
            reason = _one_line(f"NameError: {r.evalue}: define it in the answer cell (keep the function's "
                               "name)")
        else:
            reason = _one_line(f"the check raised {r.ename}: {r.evalue} (calling your code)")
        earned = points if status == "passed" else 0
        rows.append((student, exercise, _fmt(earned), _fmt(points), status, reason))
    return rows


def grade_submission(student: str, path: Path | None, problem: str | None, key: dict, opts: Options,
                     cancel: threading.Event | None = None) -> list[tuple]:
    """Report rows for one student (an ungradable submission gets one ``*`` row)."""
    total = _fmt(key["total_points"])
    try:
        if problem:
            raise SubmissionError(problem)
        cells, meta = load_submission(path)
        plan = assemble(cells, meta, key)
        results, nb_timed_out, tail = run_plan(plan, opts, cancel)
        if results and all(r.kind == "setup" for r in results.values()):
            first = next(iter(results.values()))
            raise SubmissionError(_one_line(f"grader problem: the kernel could not start ({first.ename}: "
                                            f"{first.evalue}); grade again"))
        if not results and not nb_timed_out:
            raise SubmissionError(_one_line(f"grader problem: nbval did not run (log: {tail[-300:]}); "
                                            "grade again"))
        return exercise_rows(student, key, plan, results, nb_timed_out, opts)
    except SubmissionError as err:
        return [(student, "*", "0", total, "error", _one_line(str(err)))]
    except _Cancelled:
        raise
    except Exception as err:  # a grader bug must not stop the other students
        return [(student, "*", "0", total, "error",
                 _one_line(f"grader problem ({type(err).__name__}: {err}); grade this student again"))]


def find_submissions(folder: Path, assignment: str, exclude=()) -> list[tuple]:
    """(student, notebook, problem) for each file and each sub-folder of ``folder`` (hidden ones and the
    paths in ``exclude`` skipped); a file that is not a notebook gets a problem: nothing goes unreported."""
    found, names = [], set()
    exclude = {Path(p).resolve() for p in exclude}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name == "__MACOSX" or entry.resolve() in exclude:
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            student, nb, problem = entry.stem, entry, None
        elif entry.is_file():
            student, nb = entry.stem, None
            problem = f"{entry.name} is not a notebook: submit {assignment}.ipynb (the .ipynb file itself)"
        elif entry.is_dir():
            student, nb, problem = entry.name, None, None
            notebooks = sorted(p for p in entry.rglob("*.ipynb")
                               if not any(part.startswith(".") for part in p.relative_to(entry).parts))
            named = [p for p in notebooks if p.name == f"{assignment}.ipynb"]
            if len(notebooks) == 1:
                nb = notebooks[0]
            elif len(named) == 1:
                nb = named[0]
            elif not notebooks:
                problem = f"the folder {entry.name}/ holds no .ipynb notebook; submit {assignment}.ipynb"
            else:
                problem = (f"the folder {entry.name}/ holds {len(notebooks)} notebooks "
                           f"({', '.join(p.name for p in notebooks[:4])}); keep only {assignment}.ipynb")
        else:
            continue
        while student in names:
            student += "~"
        names.add(student)
        found.append((student, nb, problem))
    return found


# ------------------------------------------------------------------------------------ grade (all)

def summary_text(rows: list[tuple], key: dict, seconds: float, opts: Options, jobs: int) -> str:
    """A human-readable table of each student's total."""
    students: dict[str, list[tuple]] = {}
    for row in rows:
        students.setdefault(row[0], []).append(row)
    total = key["total_points"]
    width = max([7, *(len(s) for s in students)])
    lines = [f"Homework {key['assignment']}: {len(students)} submission(s) graded in {seconds:.1f} s "
             f"(-j {jobs}, cell timeout {opts.cell_timeout:g} s, notebook timeout "
             f"{opts.notebook_timeout:g} s, memory cap {opts.mem_limit_mb or 'none'} MB)",
             f"{'student':<{width}}  {'points':>10}  passed failed error timeout",
             "-" * (width + 43)]
    graded = []
    for student in sorted(students):
        srows = students[student]
        if srows[0][1] == "*":
            lines.append(f"{student:<{width}}  {'-':>4} / {_fmt(total):<3}  not graded: {srows[0][5]}")
            continue
        points = sum(float(r[2]) for r in srows)
        graded.append(points)
        counts = [sum(r[4] == s for r in srows) for s in STATUSES]
        shown = _fmt(points if points % 1 else int(points))
        lines.append(f"{student:<{width}}  {shown:>4} / {_fmt(total):<3}  "
                     f"{counts[0]:>6} {counts[1]:>6} {counts[2]:>5} {counts[3]:>7}")
    lines.append("-" * (width + 43))
    if graded:
        lines.append(f"mean {sum(graded) / len(graded):.2f} / {_fmt(total)} over {len(graded)} graded; "
                     f"{len(students) - len(graded)} not gradable")
    return "\n".join(lines)


def grade(submissions_dir: str | os.PathLike, key_path: str | os.PathLike, out_csv: str | os.PathLike, *,
          jobs: int = 1, opts: Options | None = None, summary_path: str | os.PathLike | None = None,
          progress=None) -> list[tuple]:
    """Grade every submission in ``submissions_dir``, writing ``out_csv`` row by row; return all rows.
    On KeyboardInterrupt the students not yet graded get an ``*`` row and the interrupt is re-raised."""
    opts = opts or Options()
    folder = Path(submissions_dir)
    if not folder.is_dir():
        raise ValueError(f"SUBMISSIONS_DIR={str(folder)!r} is not a folder")
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"-j {jobs!r}; allowed: an integer >= 1")
    key = load_key(key_path)
    out_csv = Path(out_csv)
    submissions = find_submissions(folder, key["assignment"], exclude=[out_csv, summary_path or out_csv])
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    cancel = threading.Event()
    rows: list[tuple] = []
    start = time.monotonic()
    done: set[str] = set()
    with open(out_csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        fh.flush()

        def emit(student_rows):
            writer.writerows(student_rows)
            fh.flush()
            rows.extend(student_rows)
            done.add(student_rows[0][0])
            if progress:
                earned = sum(float(r[2]) for r in student_rows)
                progress(f"[{len(done)}/{len(submissions)}] {student_rows[0][0]}: "
                         f"{_fmt(earned if earned % 1 else int(earned))} / {_fmt(key['total_points'])}"
                         + (f" ({student_rows[0][5]})" if student_rows[0][1] == "*" else ""))

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        try:
            futures = [pool.submit(grade_submission, s, p, prob, key, opts, cancel)
                       for s, p, prob in submissions]
            for future in concurrent.futures.as_completed(futures):
                emit(future.result())
        except (KeyboardInterrupt, _Cancelled):
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for student, _, _ in submissions:
                if student not in done:
                    emit([(student, "*", "0", _fmt(key["total_points"]), "error",
                           "not graded: the grading run was interrupted; grade again")])
            raise KeyboardInterrupt from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            text = summary_text(rows, key, time.monotonic() - start, opts, jobs)
            if summary_path:
                Path(summary_path).write_text(text + "\n", encoding="utf-8")
            grade.last_summary = text
    return rows


grade.last_summary = ""


# ------------------------------------------------------------------------------------ command line

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write student notebooks and grading keys")
    rel.add_argument("src_dir", metavar="SRC_DIR", help="folder of instructor notebooks")
    rel.add_argument("out_dir", metavar="OUT_DIR", help="folder for the student notebooks (published)")
    rel.add_argument("--keys", required=True, metavar="KEYS_DIR",
                     help="folder for the grading keys (keep it private)")
    gr = sub.add_parser("grade", help="grade a folder of submissions into a CSV report")
    gr.add_argument("submissions", metavar="SUBMISSIONS_DIR",
                    help="one <student>.ipynb per student, or one sub-folder per student")
    gr.add_argument("--key", required=True, metavar="KEY_JSON", help="the key written by 'release'")
    gr.add_argument("--out", required=True, metavar="REPORT_CSV", help="the report (overwritten)")
    gr.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                    help="students graded in parallel (default 1)")
    gr.add_argument("--cell-timeout", type=float, default=Options.cell_timeout,
                    help="seconds one cell may run (default %(default)g)")
    gr.add_argument("--notebook-timeout", type=float, default=Options.notebook_timeout,
                    help="seconds one submission may take in all (default %(default)g)")
    gr.add_argument("--mem-limit-mb", type=int, default=Options.mem_limit_mb,
                    help="address-space cap per kernel in MB, 0 = none (default %(default)d)")
    gr.add_argument("--threads", type=int, default=Options.threads,
                    help="torch/BLAS threads per kernel (default %(default)d)")
    gr.add_argument("--summary", metavar="FILE", help="also write the summary table to FILE")
    gr.add_argument("--keep-workdirs", action="store_true", help="keep each run's folder (debugging)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "release":
            names = release(args.src_dir, args.out_dir, args.keys)
            for name in names:
                key = json.loads((Path(args.keys) / f"{name}.json").read_text(encoding="utf-8"))
                n_ex = sum(c["role"] == "check" for c in key["cells"])
                print(f"released {name}: {n_ex} exercises, {_fmt(key['total_points'])} points -> "
                      f"{Path(args.out_dir) / (name + '.ipynb')} (key: {Path(args.keys) / (name + '.json')})")
            return 0
        for flag, value, low in (("--cell-timeout", args.cell_timeout, 0), ("--notebook-timeout",
                                 args.notebook_timeout, 0), ("--mem-limit-mb", args.mem_limit_mb, -1),
                                 ("--threads", args.threads, 0)):
            if not value > low:
                raise ValueError(f"{flag} {value!r}; allowed: a number > {low}")
        opts = Options(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                       mem_limit_mb=args.mem_limit_mb, threads=args.threads, keep_workdirs=args.keep_workdirs)
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed job still reports
        try:
            rows = grade(args.submissions, args.key, args.out, jobs=args.jobs, opts=opts,
                         summary_path=args.summary,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
        except KeyboardInterrupt:
            print(grade.last_summary)
            print(f"\nInterrupted: the rows graded so far are in {args.out}; the others are marked "
                  "'not graded'.", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous)
        print(grade.last_summary)
        print(f"Report: {args.out}")
        if not rows:
            print(f"No submission found in {args.submissions} (expected <student>.ipynb files or one "
                  "folder per student).", file=sys.stderr)
            return 1
        return 0
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
