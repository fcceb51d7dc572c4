"""The report's reason policy: from the cell results of a run to one row per exercise.

Each check cell's outcome, together with what happened in the student's cells for that exercise, is matched
against ``RULES`` (a table, first match wins); the rule gives the status and the reason shown to the student.
A check counts as passed only on the guard's signed verdict (``guard.py``); a check cell that completed
without one was rewritten, skipped or answered by the submission and is ``failed`` with a reason that starts
``tampered:``. Every reason is built here from the grader's own words; what comes from the submission (an
exception's message, the check's message about its values) is cut to ``EXCERPT`` characters, put on one line
with control characters escaped, and stripped of absolute paths and of any line of the hidden tests
(``clean``). ``exercise_rows`` applies the policy to every check cell of a plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from course_utils.grading.common import HIDDEN_BEGIN, HIDDEN_END, fmt_points, one_line
from course_utils.grading.runner import BUSY, CellResult, Options
from course_utils.grading.submission import Plan, Planned

EXCERPT = 200  # characters of a submission's own text in a reason
LIMIT = 600  # characters of a whole reason
_DETAIL_PREFIXES = ("Expected", "Mismatched elements", "Greatest absolute difference",
                    "Greatest relative difference", "Max absolute difference", "Max relative difference",
                    "The failure occurred", "ACTUAL:", "DESIRED:", "The values for attribute",
                    "Tensor-likes are not", "Scalars are not")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_PATH = re.compile(r"(?<![\w.])(?:/(?!grading/)[\w.@+-]+){2,}/?|[A-Za-z]:\\[^\s'\"]+")


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """A submission's own text, escaped and on one line, at most ``limit`` characters."""
    text = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))
    return one_line(text, limit)


def hidden_lines(key: dict) -> tuple[str, ...]:
    """The lines of the key's hidden tests worth looking for in a text (long enough to be specific)."""
    lines = []
    for cell in key.get("cells", []):
        inside = False
        for line in cell.get("source", "").split("\n"):
            if line.strip() in (HIDDEN_BEGIN, HIDDEN_END):
                inside = line.strip() == HIDDEN_BEGIN
            elif inside and len(line.strip()) >= 16:
                lines.append(line.strip())
    return tuple(sorted(set(lines), key=len, reverse=True))


def clean(reason: str, secrets: tuple[str, ...] = ()) -> str:
    """What may go into the report: no absolute path (the sandbox's ``/grading/`` aside), no hidden-test line,
    no control character, one line, at most ``LIMIT`` characters, nothing a spreadsheet would run."""
    reason = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(reason))
    for line in secrets:
        reason = reason.replace(line, "<hidden test>")
    reason = _PATH.sub("<path>", reason)
    reason = one_line(reason, LIMIT)
    return "'" + reason if reason[:1] in ("=", "+", "-", "@") else reason


def assertion_reason(evalue: str) -> str:
    """A failed check's message on one line: its ``Exercise N: ...`` line and up to three detail lines."""
    lines = [ln.strip() for ln in evalue.splitlines() if ln.strip()]
    if not lines:
        return "a check failed (an assert without a message): compare your result with the check cell"
    head = next((ln for ln in lines if ln.lower().startswith("exercise")), lines[0])
    details = [ln for ln in lines if ln != head and ln.startswith(_DETAIL_PREFIXES) and len(ln) < 120][:3]
    return one_line(" | ".join([excerpt(head, 300), *details]), LIMIT)


def describe(result: CellResult) -> str:
    """What happened in a cell, in a few words."""
    words = {"timeout": "it timed out", "died": "the kernel died", "dead": "the kernel was dead",
             "flood": "it printed too much", "killed": f"the grader stopped it ({result.detail})"}
    return words.get(result.kind) or f"{result.ename}: {excerpt(result.evalue)}"


def out_of_memory(result: CellResult | None) -> bool:
    return result is not None and (result.ename == "MemoryError" or "can't allocate memory" in result.evalue)


@dataclass
class Case:
    """Everything the policy looks at for one exercise."""
    result: CellResult  # the check cell's (with the guard's verdict when it has a valid one)
    opts: Options
    notebook_timed_out: bool = False
    cause_cell: Planned | None = None  # the student's cell for this exercise that timed out, died or raised
    cause: CellResult | None = None
    missing: list[str] = field(default_factory=list)  # answer cells of this exercise not in the notebook
    setup_failure: tuple[int, CellResult] | None = None  # a failed cell of the key's own, before the check
    flags: list[str] = field(default_factory=list)  # what the student's code does that deserves a look

    @property
    def kind(self) -> str:
        return self.result.kind

    @property
    def verdict(self) -> str | None:
        return (self.result.verdict or {}).get("status")

    @property
    def cause_kind(self) -> str | None:
        return None if self.cause is None else self.cause.kind

    def ename_is(self, name: str, *, or_cause: bool = False) -> bool:
        return self.result.ename == name or (or_cause and self.cause is not None and self.cause.ename == name)

    @property
    def mem(self) -> str:
        return f"{self.opts.mem_limit_mb} MB" if self.opts.mem_limit_mb else "the machine's memory"

    def notes(self, flags: bool = True) -> str:
        """The review note a reason ends with: what the grader undid before the check, the static flags."""
        # in alphabetical order: the verdict lists them in the order the kernel happened to import modules
        undone = sorted(map(str, (self.result.verdict or {}).get("restored", [])))
        restored = [excerpt(r, 80) for r in undone[:4]]
        parts = [f"the grader undid your code's change to {', '.join(restored)} before the check"
                 for _ in restored[:1]]
        if self.flags and flags:
            parts.append(f"your code {'; '.join(self.flags)}")
        return f" (flagged for review: {'; '.join(parts)})" if parts else ""


@dataclass(frozen=True)
class Rule:
    name: str
    status: str  # passed / failed / error / timeout; "timeout?" = timeout if the whole notebook timed out
    applies: Callable[[Case], bool]
    reason: Callable[[Case], str] | None = None  # None: the template _TEXTS[name], formatted with c=the case


def _not_run(c: Case) -> str:
    if c.notebook_timed_out:
        return (f"grading stopped: the whole notebook ran longer than {c.opts.notebook_timeout:g} s before "
                "this check; remove slow or endless code")
    return ("this check did not run: grading stopped early (a crash or a flood of output from your code?); "
            "ask your instructor")


def _tampered(c: Case) -> str:
    what = "; ".join(excerpt(t, 300) for t in (c.result.verdict or {}).get("tampered", [])[:3])
    return f"tampered: {what or 'the check did not run with the genuine functions'}; this exercise earns 0"


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


# The reasons of the rules that need no code, by rule name ({c} is the Case).
_TEXTS = dict(line.split(": ", 1) for line in """
answer cell killed the kernel: the Python kernel died while running your cell for this exercise (memory \
above {c.mem}, a crash, exit() or os._exit()): fix that cell
answer cell printed too much: your cell for this exercise printed more than {c.opts.output_limit_kb} KB and \
was stopped: print less (no printing in loops)
answer cell stopped by the grader: the grader stopped your cell for this exercise: {c.cause.detail}
check timed out: the check ran longer than {c.opts.cell_timeout:g} s calling your code (an endless loop or \
a very slow function?): make it finish quickly
check killed the kernel: the Python kernel died while the check called your code (memory above {c.mem}, a \
crash, exit() or os._exit()): fix your function
check runner busy: this check did not run: the check before it was still running your code (an endless loop \
that ignores interruption?); fix that exercise first
check bypassed: tampered: the check did not run under the grader's control (your code changed, skipped or \
answered the check cell); this exercise earns 0
not answered: not answered yet: replace the '# YOUR CODE HERE' and 'raise NotImplementedError' lines with \
your code
exit called: your code calls sys.exit() or exit(): remove it
out of memory: your code ran out of memory (limit {c.mem}): use smaller tensors or fewer copies
""".strip().splitlines())


def _is(attr: str, *values):
    return lambda c: getattr(c, attr) in values


RULES: tuple[Rule, ...] = (
    Rule("passed", "passed", _is("verdict", "passed"), lambda c: "all checks passed" + c.notes()),
    Rule("tampered", "failed", _is("verdict", "tampered"), _tampered),
    Rule("answer cell timed out", "timeout", _is("cause_kind", "timeout"), lambda c: (
        f"your {'answer' if c.cause_cell.kind == 'answer' else 'own'} cell for this exercise ran longer than "
        f"{c.opts.cell_timeout:g} s and was stopped (an endless loop?): make it finish quickly")),
    Rule("answer cell killed the kernel", "error", _is("cause_kind", "died")),
    Rule("answer cell printed too much", "error", _is("cause_kind", "flood")),
    Rule("answer cell stopped by the grader", "error", _is("cause_kind", "killed")),
    Rule("not run", "timeout?", _is("kind", "not_run"), _not_run),
    Rule("check timed out", "timeout", _is("kind", "timeout")),
    Rule("check killed the kernel", "error", _is("kind", "died")),
    Rule("check stopped by the grader", "error", _is("kind", "flood", "killed"),
         lambda c: "the grader stopped the check calling your code: "
         + (c.result.detail or "it printed too much")),
    Rule("kernel already dead", "error", _is("kind", "dead", "setup"), lambda c: (
        f"the kernel had died earlier in the notebook; fix the cell that kills it "
        f"({c.result.ename}: {excerpt(c.result.evalue)})")),
    Rule("check runner busy", "error", lambda c: c.verdict is None and BUSY in c.result.evalue),
    Rule("check bypassed", "failed", _is("verdict", None)),
    Rule("assertion failed", "failed", lambda c: c.ename_is("AssertionError"),
         lambda c: assertion_reason(c.result.evalue)),
    Rule("not answered", "error", lambda c: c.ename_is("NotImplementedError")),
    Rule("exit called", "error", lambda c: c.ename_is("SystemExit", or_cause=True)),
    Rule("out of memory", "error", lambda c: out_of_memory(c.result) or out_of_memory(c.cause)),
    Rule("setup cell failed", "error", lambda c: c.setup_failure is not None and c.ename_is("NameError"),
         lambda c: (f"the notebook's own cell {c.setup_failure[0]} failed ({describe(c.setup_failure[1])}), "
                    f"so {excerpt(c.result.evalue)}; run the notebook from the top")),
    Rule("answer cell missing", "error", lambda c: bool(c.missing) and c.ename_is("NameError"),
         lambda c: (f"the answer cell {', '.join(c.missing)} is missing from your notebook (deleted?), so "
                    f"{excerpt(c.result.evalue)}: put your code back into the released answer cell")),
    Rule("answer cell raised", "error", lambda c: c.cause is not None,
         lambda c: (f"your cell for this exercise raised {excerpt(c.cause.ename, 60)}: "
                    f"{excerpt(_first_line(c.cause.evalue))}; so the check raised "
                    f"{excerpt(c.result.ename, 60)}: {excerpt(c.result.evalue)}")),
    Rule("name not defined", "error", lambda c: c.ename_is("NameError"), lambda c: (
        f"NameError: {excerpt(c.result.evalue)}: define it in the answer cell (keep the function's name)")),
    Rule("check raised", "error", lambda c: True, lambda c: (
        f"the check raised {excerpt(c.result.ename, 60)}: {excerpt(c.result.evalue)} (calling your code)")),
)


def decide(case: Case) -> tuple[str, str, str]:
    """(status, reason, the rule's name) for one exercise."""
    rule = next(rule for rule in RULES if rule.applies(case))
    status = rule.status
    if status == "timeout?":
        status = "timeout" if case.notebook_timed_out else "error"
    reason = _TEXTS[rule.name].format(c=case) if rule.reason is None else rule.reason(case)
    if rule.name not in ("passed", "tampered"):
        reason += case.notes(flags=False)
    return status, reason, rule.name


def cause_in_slot(plan: Plan, results, exercise: str, check_index: int):
    """The first of the student's cells for this exercise that timed out, died or raised, and its result."""
    for i in range(check_index):
        cell = plan.cells[i]
        if cell.exercise == exercise and cell.kind in ("answer", "extra"):
            r = results.get(i)
            if r is not None and r.kind in ("timeout", "died", "error", "flood", "killed"):
                return cell, r
    return None, None


def exercise_rows(student: str, key: dict, plan: Plan, results, notebook_timed_out: bool,
                  opts: Options) -> list[tuple]:
    """One report row ``(student, exercise, points, max_points, status, reason)`` per check cell."""
    rows = []
    flags = plan.flags()
    secrets = hidden_lines(key)
    for index, cell in enumerate(plan.cells):
        if cell.kind != "check":
            continue
        points = next(c["points"] for c in key["cells"] if c.get("grade_id") == cell.grade_id)
        cause_cell, cause = cause_in_slot(plan, results, cell.grade_id, index)
        setup_failure = next(((i, results[i]) for i in range(index)
                              if plan.cells[i].kind in ("locked", "free")
                              and i in results and results[i].kind != "ok"), None)
        case = Case(result=results.get(index, CellResult("not_run")), opts=opts,
                    notebook_timed_out=notebook_timed_out, cause_cell=cause_cell, cause=cause,
                    missing=plan.missing_answers.get(cell.grade_id, []), setup_failure=setup_failure,
                    flags=flags)
        status, reason, _ = decide(case)
        earned = points if status == "passed" else 0
        rows.append((student, cell.grade_id, fmt_points(earned), fmt_points(points), status,
                     clean(reason, secrets)))
    return rows
