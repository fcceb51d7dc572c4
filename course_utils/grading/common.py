"""What every part of the grader shares: the formats' constants, the two error types, small text helpers."""

from __future__ import annotations

import hashlib
import re

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
KEY_FORMAT = "course-homework-key/1"
REPORT_COLUMNS = ("student", "exercise", "points", "max_points", "status", "reason")
STATUSES = ("passed", "failed", "error", "timeout")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
MAX_NOTEBOOK_BYTES = 50 * 2**20

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class SubmissionError(Exception):
    """A submission that cannot be graded at all (the report gets one row with exercise ``*``)."""


class GradingKeyError(ValueError):
    """A grading key that is missing, malformed or was edited after release."""


def cell_source(cell) -> str:
    """A cell's source as one string (notebook files may store it as a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (ANSI codes removed, whitespace runs collapsed), cut to ``limit`` characters."""
    text = re.sub(r"\s+", " ", ANSI.sub("", str(text))).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fmt_points(points) -> str:
    """Points as the report writes them: ``2``, ``1.5``."""
    if isinstance(points, float) and points.is_integer():
        points = int(points)
    return f"{points:g}" if isinstance(points, float) else str(points)
