"""Grading a class on several machines: a deterministic share of the students per machine, and the merge.

``grade … --shard I/N`` grades the students whose name hashes to share ``I`` of ``N`` (SHA-256 of the name,
so the split does not depend on the order of the folder's listing, or on which machine lists it).
``python -m course_utils.grading merge REPORT_1.csv … --out REPORT.csv`` joins the parts: a finished report
lists its students in sorted order with their rows in the key's order, so the merge of the parts equals the
report one machine would have written, row for row.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path

from course_utils.grading.common import REPORT_COLUMNS, STATUSES

WARNING_PREFIX = "# WARNING:"


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/5"`` -> ``(2, 5)``; ValueError for anything else."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ValueError(f"--shard {text!r}; allowed: I/N with 1 <= I <= N, e.g. 1/4")
    return int(match.group(1)), int(match.group(2))


def shard_of(student: str, count: int) -> int:
    """The share (1..count) a student belongs to."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"count={count!r}; allowed: an integer >= 1")
    return int(hashlib.sha256(student.encode("utf-8")).hexdigest()[:12], 16) % count + 1


def sorted_rows(rows) -> list[tuple]:
    """A report's rows in the order of a finished report: by student, each student's rows as they came."""
    order = {}
    for row in rows:
        order.setdefault(row[0], []).append(tuple(row))
    return [row for student in sorted(order) for row in order[student]]


def read_report(path: str | os.PathLike) -> tuple[list[str], list[tuple]]:
    """(warning lines, rows) of a REPORT.csv; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{str(path)!r} cannot be read as a report: {err}") from None
    lines = text.splitlines(keepends=True)
    warnings = [ln.rstrip("\n") for ln in lines if ln.startswith("#")]
    rows = list(csv.reader([ln for ln in lines if not ln.startswith("#")]))
    if not rows or tuple(rows[0]) != REPORT_COLUMNS:
        raise ValueError(f"{str(path)!r} is not a grading report: its header is not "
                         f"{','.join(REPORT_COLUMNS)}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(REPORT_COLUMNS) or row[4] not in STATUSES:
            raise ValueError(f"{str(path)!r} row {number} is malformed: {row!r}")
    return warnings, [tuple(r) for r in rows[1:]]


def write_report(path: str | os.PathLike, rows, warnings=()) -> None:
    """Write a finished report (atomically: a reader never sees half of it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        for line in warnings:
            fh.write(line + "\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(rows)
    os.replace(tmp, path)


def merge(parts, out: str | os.PathLike) -> list[tuple]:
    """Join the reports of the shards into ``out``; ValueError if a student appears in two parts."""
    parts = [Path(p) for p in parts]
    if not parts:
        raise ValueError("merge needs at least one REPORT.csv")
    rows, warnings, owner = [], [], {}
    for part in parts:
        part_warnings, part_rows = read_report(part)
        warnings += [w for w in part_warnings if w not in warnings]
        for row in part_rows:
            if owner.setdefault(row[0], part) != part:
                raise ValueError(f"student {row[0]!r} is in both {str(owner[row[0]])!r} and {str(part)!r}: "
                                 "merge the reports of one grading run's shards")
        rows += part_rows
    rows = sorted_rows(rows)
    write_report(out, rows, warnings)
    return rows
