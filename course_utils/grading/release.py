"""Release: instructor notebooks -> student notebooks and grading keys; reading a key back.

``release(SRC_DIR, OUT_DIR, KEYS_DIR)`` writes ``OUT_DIR/<name>.ipynb`` (solutions replaced by a stub,
hidden tests removed, outputs cleared, check cells locked) and ``KEYS_DIR/<name>.json`` (every check cell
in full, hidden tests included, with hashes). ``load_key`` reads a key and refuses one edited after release.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from course_utils.grading.common import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    KERNELSPEC,
    KEY_FORMAT,
    SOLUTION_BEGIN,
    SOLUTION_END,
    GradingKeyError,
    cell_source,
    sha256,
)


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


def signatures(source: str):
    """Each ``def name`` / ``class name`` line of a cell, in order (finds an answer cell without metadata)."""
    for line in source.split("\n"):
        match = re.match(r"\s*(def|class)\s+([A-Za-z_]\w*)", line)
        if match:
            yield f"{match.group(1)} {match.group(2)}"


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
        where, src = f"{path.name} cell {i}", cell_source(cell)
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
        where, src = f"{path.name} cell {i}", cell_source(cell)
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
                 "source": src if role == "check" else released, "release_sha256": sha256(released)}
        entry["sha256"] = sha256(entry["source"])
        if role == "check":
            entry["points"] = meta["points"]
        if role == "answer":
            entry["signature"] = next(signatures(released), None)
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
        "release_sha256": sha256(text),
        "total_points": sum(c["points"] for c in key_cells if c["role"] == "check"),
        "cells": key_cells,
    }
    key["key_sha256"] = _key_hash(key)
    return text, key


def _key_hash(key: dict) -> str:
    return sha256(json.dumps([key["assignment"], key["cells"]], sort_keys=True, ensure_ascii=False))


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
        if sha256(c.get("source", "")) != c.get("sha256"):
            raise GradingKeyError(f"--key {str(path)!r}: cell {c.get('grade_id')!r} was edited after release "
                            "(hash mismatch); release again instead of editing the key")
    if _key_hash(key) != key.get("key_sha256"):
        raise GradingKeyError(f"--key {str(path)!r} was edited after release (hash mismatch); release again")
    return key
