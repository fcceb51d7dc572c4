"""Release and grade the homework notebooks with nbval (``python -m course_utils.grading release|grade``).

Modules: ``release`` (student notebooks and grading keys), ``submission`` (reading and assembling a
submission), ``runner`` (pytest + nbval in a fresh kernel, in a sandbox, with reruns), ``sandbox``
(bubblewrap), ``recorder`` (the pytest plugin copied into each grading folder), ``kernel``, ``guard``,
``checkthread`` and ``snapshot`` (trusted checks inside the kernel), ``report`` (the reason policy),
``feedback`` (a Markdown file per student), ``batch`` (a whole class into REPORT.csv), ``shard`` (several
machines, ``merge``), ``cli`` (the command line). How they keep submissions honest: docs/grading/README.md.
"""

from course_utils.grading.batch import GradeResult, GradingInterrupted, grade, grade_submission, summary_text
from course_utils.grading.cli import main
from course_utils.grading.common import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    KEY_FORMAT,
    REPORT_COLUMNS,
    SOLUTION_BEGIN,
    SOLUTION_END,
    STATUSES,
    GradingKeyError,
    SubmissionError,
)
from course_utils.grading.release import load_key, release, release_notebook, replace_regions
from course_utils.grading.report import RULES, Case, decide, exercise_rows
from course_utils.grading.runner import MAX_PASSES, CellResult, Options, run_plan
from course_utils.grading.sandbox import SandboxUnavailable
from course_utils.grading.shard import merge, parse_shard, read_report
from course_utils.grading.submission import (
    Plan,
    Planned,
    assemble,
    find_submissions,
    load_submission,
    strip_nbval_markers,
)

__all__ = [
    "HIDDEN_BEGIN", "HIDDEN_END", "KEY_FORMAT", "MAX_PASSES", "REPORT_COLUMNS", "RULES", "SOLUTION_BEGIN",
    "SOLUTION_END", "STATUSES", "Case", "CellResult", "GradeResult", "GradingInterrupted", "GradingKeyError",
    "Options", "Plan", "Planned", "SandboxUnavailable", "SubmissionError", "assemble", "decide",
    "exercise_rows", "find_submissions", "grade", "grade_submission", "load_key", "load_submission", "main",
    "merge", "parse_shard", "read_report", "release", "release_notebook", "replace_regions", "run_plan",
    "strip_nbval_markers", "summary_text",
]
