"""The command line: ``python -m course_utils.grading release …`` and ``… grade …``.

``python -m course_utils.grading release SRC_DIR OUT_DIR --keys KEYS_DIR``
    turns every instructor notebook ``SRC_DIR/<name>.ipynb`` into the student version ``OUT_DIR/<name>.ipynb``
    and writes the grading key ``KEYS_DIR/<name>.json`` (keep the keys private).

``python -m course_utils.grading grade SUBMISSIONS_DIR --key KEYS_DIR/<name>.json --out REPORT.csv [-j N]``
    grades every ``.ipynb`` in the folder (one student per file or per sub-folder), each in a sandbox, and
    writes one CSV row per student and exercise (``student,exercise,points,max_points,status,reason``) as soon
    as that student is graded. ``--feedback DIR``: one Markdown file per student; ``--shard I/N``: only
    share I of N of the students (for several machines); ``--no-sandbox``: without bubblewrap (unsafe).

``python -m course_utils.grading merge REPORT_1.csv REPORT_2.csv … --out REPORT.csv``
    joins the reports of the shards into the report one machine would have written.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from course_utils.grading import shard
from course_utils.grading.batch import GradingInterrupted, grade
from course_utils.grading.common import fmt_points
from course_utils.grading.release import release
from course_utils.grading.runner import Options
from course_utils.grading.sandbox import SandboxUnavailable
from course_utils.i18n import LANGUAGES, set_language


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grading",
                                     description="Release and grade the homework notebooks with nbval.")
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
    gr.add_argument("--feedback", metavar="DIR", help="also write one Markdown feedback file per student")
    gr.add_argument("--lang", choices=LANGUAGES, default=None,
                    help="language of the feedback files (default: $COURSE_LANG, else en); grade the Korean "
                         "homework (homework/release/ko) with --lang ko and its key from homework/keys/ko")
    gr.add_argument("--shard", metavar="I/N",
                    help="grade only share I of N of the students (several machines)")
    gr.add_argument("--no-sandbox", action="store_true",
                    help="run the students' code without bubblewrap, with your permissions (unsafe)")
    mg = sub.add_parser("merge", help="join the reports of the shards of one class")
    mg.add_argument("parts", metavar="REPORT_CSV", nargs="+", help="the shards' reports")
    mg.add_argument("--out", required=True, metavar="REPORT_CSV", help="the merged report (overwritten)")
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
                print(f"released {name}: {n_ex} exercises, {fmt_points(key['total_points'])} points -> "
                      f"{Path(args.out_dir) / (name + '.ipynb')} (key: {Path(args.keys) / (name + '.json')})")
            return 0
        if args.command == "merge":
            rows = shard.merge(args.parts, args.out)
            students = len({r[0] for r in rows})
            print(f"merged {len(args.parts)} report(s): {students} students, {len(rows)} rows -> {args.out}")
            return 0
        for flag, value, low in (("--cell-timeout", args.cell_timeout, 0), ("--notebook-timeout",
                                 args.notebook_timeout, 0), ("--mem-limit-mb", args.mem_limit_mb, -1),
                                 ("--threads", args.threads, 0)):
            if not value > low:
                raise ValueError(f"{flag} {value!r}; allowed: a number > {low}")
        if args.lang:
            set_language(args.lang)
        opts = Options(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                       mem_limit_mb=args.mem_limit_mb, threads=args.threads, keep_workdirs=args.keep_workdirs,
                       sandbox=not args.no_sandbox)
        shard_spec = shard.parse_shard(args.shard) if args.shard else None
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # a killed job still reports
        try:
            rows = grade(args.submissions, args.key, args.out, jobs=args.jobs, opts=opts,
                         summary_path=args.summary, feedback_dir=args.feedback, shard_spec=shard_spec,
                         progress=lambda line: print(line, file=sys.stderr, flush=True))
        except GradingInterrupted as interrupted:
            print(interrupted.result.summary)
            print(f"\nInterrupted: the rows graded so far are in {args.out}; the others are marked "
                  "'not graded'.", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous)
        print(rows.summary)
        print(f"Report: {args.out}")
        if not rows:
            print(f"No submission found in {args.submissions} (expected <student>.ipynb files or one "
                  "folder per student).", file=sys.stderr)
            return 1
        return 0
    except SandboxUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
