"""Grading a class: every submission of a folder, in parallel, into a CSV report and a summary.

``grade`` writes ``REPORT.csv`` row by row as each student finishes (an interrupted run keeps what it graded)
and returns a ``GradeResult``: the rows, with the summary table and the run's duration as attributes.
"""

from __future__ import annotations

import concurrent.futures
import csv
import os
import threading
import time
from pathlib import Path

from course_utils.grading.common import REPORT_COLUMNS, STATUSES, SubmissionError, fmt_points, one_line
from course_utils.grading.release import load_key
from course_utils.grading.report import exercise_rows
from course_utils.grading.runner import Cancelled, Options, run_plan
from course_utils.grading.submission import assemble, find_submissions, load_submission


class GradeResult(list):
    """The report's rows (tuples), plus ``summary`` (the printed table) and ``seconds``."""

    def __init__(self, rows=(), summary: str = "", seconds: float = 0.0):
        super().__init__(rows)
        self.summary = summary
        self.seconds = seconds


class GradingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during ``grade``: ``result`` holds the rows written, the others marked not graded."""

    def __init__(self, result: GradeResult):
        super().__init__("grading interrupted")
        self.result = result


def grade_submission(student: str, path: Path | None, problem: str | None, key: dict, opts: Options,
                     cancel: threading.Event | None = None) -> list[tuple]:
    """Report rows for one student (an ungradable submission gets one ``*`` row)."""
    total = fmt_points(key["total_points"])
    try:
        if problem:
            raise SubmissionError(problem)
        cells, meta = load_submission(path)
        plan = assemble(cells, meta, key)
        results, nb_timed_out, tail = run_plan(plan, opts, cancel)
        if results and all(r.kind == "setup" for r in results.values()):
            first = next(iter(results.values()))
            raise SubmissionError(one_line(f"grader problem: the kernel could not start ({first.ename}: "
                                            f"{first.evalue}); grade again"))
        if not results and not nb_timed_out:
            raise SubmissionError(one_line(f"grader problem: nbval did not run (log: {tail[-300:]}); "
                                            "grade again"))
        return exercise_rows(student, key, plan, results, nb_timed_out, opts)
    except SubmissionError as err:
        return [(student, "*", "0", total, "error", one_line(str(err)))]
    except Cancelled:
        raise
    except Exception as err:  # a grader bug must not stop the other students
        return [(student, "*", "0", total, "error",
                 one_line(f"grader problem ({type(err).__name__}: {err}); grade this student again"))]



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
            lines.append(f"{student:<{width}}  {'-':>4} / {fmt_points(total):<3}  not graded: {srows[0][5]}")
            continue
        points = sum(float(r[2]) for r in srows)
        graded.append(points)
        counts = [sum(r[4] == s for r in srows) for s in STATUSES]
        shown = fmt_points(points if points % 1 else int(points))
        lines.append(f"{student:<{width}}  {shown:>4} / {fmt_points(total):<3}  "
                     f"{counts[0]:>6} {counts[1]:>6} {counts[2]:>5} {counts[3]:>7}")
    lines.append("-" * (width + 43))
    if graded:
        lines.append(f"mean {sum(graded) / len(graded):.2f} / {fmt_points(total)} over {len(graded)} graded; "
                     f"{len(students) - len(graded)} not gradable")
    return "\n".join(lines)


def grade(submissions_dir: str | os.PathLike, key_path: str | os.PathLike, out_csv: str | os.PathLike, *,
          jobs: int = 1, opts: Options | None = None, summary_path: str | os.PathLike | None = None,
          progress=None) -> GradeResult:
    """Grade every submission in ``submissions_dir``, writing ``out_csv`` row by row; return all rows
    (a ``GradeResult``, whose ``summary`` is the table to print). On KeyboardInterrupt the students not yet
    graded get an ``*`` row and ``GradingInterrupted`` (a KeyboardInterrupt carrying the result) is raised."""
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
    rows = GradeResult()
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
                earned = fmt_points(sum(float(r[2]) for r in student_rows))
                progress(f"[{len(done)}/{len(submissions)}] {student_rows[0][0]}: "
                         f"{earned} / {fmt_points(key['total_points'])}"
                         + (f" ({student_rows[0][5]})" if student_rows[0][1] == "*" else ""))

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        try:
            futures = [pool.submit(grade_submission, s, p, prob, key, opts, cancel)
                       for s, p, prob in submissions]
            for future in concurrent.futures.as_completed(futures):
                emit(future.result())
        except (KeyboardInterrupt, Cancelled):
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for student, _, _ in submissions:
                if student not in done:
                    emit([(student, "*", "0", fmt_points(key["total_points"]), "error",
                           "not graded: the grading run was interrupted; grade again")])
            raise GradingInterrupted(rows) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            rows.seconds = time.monotonic() - start
            rows.summary = summary_text(rows, key, rows.seconds, opts, jobs)
            if summary_path:
                Path(summary_path).write_text(rows.summary + "\n", encoding="utf-8")
    return rows
