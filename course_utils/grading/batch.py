"""Grading a class: every submission of a folder (or a shard of it), in parallel, into a CSV report.

``grade`` writes ``REPORT.csv`` row by row as each student finishes (an interrupted run keeps what it graded),
rewrites it sorted by student at the end (so that the shards of a class merge into the same report), writes
one feedback file per student if asked, and returns a ``GradeResult``: the rows, with the summary table and
the run's duration as attributes.
"""

from __future__ import annotations

import concurrent.futures
import csv
import os
import threading
import time
from pathlib import Path

from course_utils.grading import feedback, sandbox, shard
from course_utils.grading.common import REPORT_COLUMNS, STATUSES, SubmissionError, fmt_points
from course_utils.grading.release import load_key
from course_utils.grading.report import clean, exercise_rows
from course_utils.grading.runner import Cancelled, Options, run_plan
from course_utils.grading.submission import assemble, find_submissions, load_submission

NO_SANDBOX_WARNING = ("graded with --no-sandbox: the students' code ran with the grader's permissions (it "
                      "could read the grader's files and use the network)")


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
                     cancel: threading.Event | None = None, log=None) -> list[tuple]:
    """Report rows for one student (an ungradable submission gets one ``*`` row). ``log`` receives what is
    for the instructor only (the end of pytest's output when nothing ran)."""
    total = fmt_points(key["total_points"])
    try:
        if problem:
            raise SubmissionError(problem)
        cells, meta = load_submission(path)
        plan = assemble(cells, meta, key)
        results, nb_timed_out, tail = run_plan(plan, opts, cancel)
        if results and all(r.kind == "setup" for r in results.values()):
            first = next(iter(results.values()))
            raise SubmissionError(f"grader problem: the kernel could not start ({first.ename}: "
                                  f"{first.evalue}); grade again")
        if not results and not nb_timed_out:
            if log:
                log(f"{student}: nbval did not run; the end of its output:\n{tail[-3000:]}")
            raise SubmissionError("grader problem: the notebook did not run (the grader's terminal shows "
                                  "why); grade this student again")
        return exercise_rows(student, key, plan, results, nb_timed_out, opts)
    except SubmissionError as err:
        return [(student, "*", "0", total, "error", clean(str(err)))]
    except Cancelled:
        raise
    except Exception as err:  # a grader bug must not stop the other students
        if log:
            log(f"{student}: grader problem: {type(err).__name__}: {err}")
        return [(student, "*", "0", total, "error",
                 clean(f"grader problem ({type(err).__name__}); grade this student again"))]


def summary_text(rows: list[tuple], key: dict, seconds: float, opts: Options, jobs: int) -> str:
    """A human-readable table of each student's total."""
    students: dict[str, list[tuple]] = {}
    for row in rows:
        students.setdefault(row[0], []).append(row)
    total = key["total_points"]
    width = max([7, *(len(s) for s in students)])
    lines = [f"WARNING: {NO_SANDBOX_WARNING}"] if not opts.sandbox else []
    lines += [f"Homework {key['assignment']}: {len(students)} submission(s) graded in {seconds:.1f} s "
              f"(-j {jobs}, cell timeout {opts.cell_timeout:g} s, notebook timeout "
              f"{opts.notebook_timeout:g} s, memory cap {opts.mem_limit_mb or 'none'} MB, "
              f"{'sandboxed' if opts.sandbox else 'NOT sandboxed'})",
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
        lines.append(f"{student:<{width}}  {fmt_points(points):>4} / {fmt_points(total):<3}  "
                     f"{counts[0]:>6} {counts[1]:>6} {counts[2]:>5} {counts[3]:>7}")
    lines.append("-" * (width + 43))
    if graded:
        lines.append(f"mean {sum(graded) / len(graded):.2f} / {fmt_points(total)} over {len(graded)} graded; "
                     f"{len(students) - len(graded)} not gradable")
    return "\n".join(lines)


def grade(submissions_dir: str | os.PathLike, key_path: str | os.PathLike, out_csv: str | os.PathLike, *,
          jobs: int = 1, opts: Options | None = None, summary_path: str | os.PathLike | None = None,
          progress=None, feedback_dir: str | os.PathLike | None = None,
          shard_spec: tuple[int, int] | str | None = None) -> GradeResult:
    """Grade every submission in ``submissions_dir`` (or the share ``shard_spec = (I, N)`` of them), writing
    ``out_csv`` row by row; return all rows (a ``GradeResult``, whose ``summary`` is the table to print).
    ``feedback_dir``: also write one Markdown file per student there. On KeyboardInterrupt the students not
    yet graded get an ``*`` row and ``GradingInterrupted`` (a KeyboardInterrupt carrying the result) is
    raised. Refuses (``sandbox.SandboxUnavailable``) when ``opts.sandbox`` is on and no sandbox can be
    made."""
    opts = (opts or Options()).check()
    folder = Path(submissions_dir)
    if not folder.is_dir():
        raise ValueError(f"SUBMISSIONS_DIR={str(folder)!r} is not a folder")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"-j {jobs!r}; allowed: an integer >= 1")
    if isinstance(shard_spec, str):
        shard_spec = shard.parse_shard(shard_spec)
    elif shard_spec is not None:
        if not (isinstance(shard_spec, tuple) and len(shard_spec) == 2):
            raise TypeError(f"shard_spec={shard_spec!r}; allowed: None, 'I/N' or a tuple (I, N)")
        shard_spec = shard.parse_shard(f"{shard_spec[0]}/{shard_spec[1]}")
    key = load_key(key_path)
    if opts.sandbox:
        sandbox.require()
    out_csv = Path(out_csv)
    submissions = find_submissions(folder, key["assignment"], exclude=[out_csv, summary_path or out_csv])
    if shard_spec is not None:
        submissions = [s for s in submissions if shard.shard_of(s[0], shard_spec[1]) == shard_spec[0]]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    warnings = [] if opts.sandbox else [f"{shard.WARNING_PREFIX} {NO_SANDBOX_WARNING}"]
    cancel = threading.Event()
    rows = GradeResult()
    start = time.monotonic()
    done: set[str] = set()
    log = progress or (lambda line: None)
    with open(out_csv, "w", newline="", encoding="utf-8") as fh:
        for line in warnings:
            fh.write(line + "\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(REPORT_COLUMNS)
        fh.flush()

        def emit(student_rows):
            writer.writerows(student_rows)
            fh.flush()
            rows.extend(student_rows)
            done.add(student_rows[0][0])
            earned = fmt_points(sum(float(r[2]) for r in student_rows))
            problem = f" ({student_rows[0][5]})" if student_rows[0][1] == "*" else ""
            log(f"[{len(done)}/{len(submissions)}] {student_rows[0][0]}: {earned} / "
                f"{fmt_points(key['total_points'])}{problem}")

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        try:
            futures = [pool.submit(grade_submission, s, p, prob, key, opts, cancel, log)
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
    rows[:] = shard.sorted_rows(rows)
    shard.write_report(out_csv, rows, warnings)
    if feedback_dir is not None:
        feedback.write_all(feedback_dir, rows, key, sandboxed=opts.sandbox)
    return rows
