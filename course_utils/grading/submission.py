"""Submissions: finding them, reading them, and assembling the notebook the grader runs.

``assemble`` builds a ``Plan``: the key's locked and check cells in the key's order (edited, deleted or moved
check cells restored, hidden tests included), the student's answer cells in their slots (found by nbgrader
``grade_id``, else cell id, else the ``def`` line) and the student's own cells after the cell they followed,
with nbval marker lines removed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading.common import (
    KERNELSPEC,
    MAX_NOTEBOOK_BYTES,
    SubmissionError,
    cell_source,
    sha256,
)
from course_utils.grading.release import signatures

# Student code that reaches into the checking machinery: passing rows say "flagged for review" (the grader
# also checks at run time that the checks ran with the genuine functions; see guard.py).
SUSPICIOUS = {
    "reassigns an assert function": r"\bassert_(?:close|allclose)\s*=(?!=)|\bAssertionError\s*=(?!=)",
    "patches torch / numpy": r"\b(?:torch|np|numpy)\.testing\s*=(?!=)|setattr\(\s*(?:torch|np|numpy)\b",
    "uses get_ipython / IPython hooks": r"\bget_ipython\s*\(|input_transformers|\bevents\.register\b",
    "uses builtins / sys.modules": r"\bbuiltins\b|\bsys\.modules\b|__builtins__",
}
_NBVAL_MARKER = re.compile(r"^\s*#+\s*(NBVAL_|PYTEST_VALIDATE_)", re.IGNORECASE)


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
        grade_id = nbg.get("grade_id") if isinstance(nbg.get("grade_id"), str) else None
        cells.append({"cell_type": cell["cell_type"], "source": cell_source(cell),
                      "id": str(cell.get("id", "")), "grade_id": grade_id})
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
        """What the student's own code does that deserves a human look (see ``SUSPICIOUS``)."""
        text = "\n".join(c.source for c in self.cells if c.kind in ("answer", "extra"))
        return [what for what, pattern in SUSPICIOUS.items() if re.search(pattern, text)]


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
        if sha256(cell["source"]) in by_hash:
            return by_hash[sha256(cell["source"])]
        return next((by_sig[sig] for sig in signatures(cell["source"]) if sig in by_sig), None)

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


def notebook_json(sources: list[str]) -> str:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
              "source": src} for i, src in enumerate(sources)]
    metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    return json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}, indent=1)



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
