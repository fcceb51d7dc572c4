"""The report's reason policy: from the cell results of a run to one row per exercise.

Each check cell's outcome, together with what happened in the student's cells for that exercise, is matched
against ``RULES`` (a table, first match wins); the rule gives the status and the reason shown to the student.
``exercise_rows`` applies it to every check cell of a plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from course_utils.grading.common import fmt_points, one_line
from course_utils.grading.runner import CellResult, Options
from course_utils.grading.submission import Plan, Planned

_DETAIL_PREFIXES = ("Expected", "Mismatched elements", "Greatest absolute difference",
                    "Greatest relative difference", "Max absolute difference", "Max relative difference",
                    "The failure occurred", "ACTUAL:", "DESIRED:", "The values for attribute",
                    "Tensor-likes are not", "Scalars are not")


def assertion_reason(evalue: str) -> str:
    """A failed check's message on one line: its ``Exercise N: ...`` line and up to three detail lines."""
    lines = [ln.strip() for ln in evalue.splitlines() if ln.strip()]
    if not lines:
        return "a check failed (an assert without a message): compare your result with the check cell"
    head = next((ln for ln in lines if ln.lower().startswith("exercise")), lines[0])
    details = [ln for ln in lines if ln != head and ln.startswith(_DETAIL_PREFIXES) and len(ln) < 120][:3]
    return one_line(" | ".join([head, *details]))


def describe(result: CellResult) -> str:
    """What happened in a cell, in a few words."""
    if result.kind in ("timeout", "died", "dead"):
        return {"timeout": "it timed out", "died": "the kernel died",
                "dead": "the kernel was dead"}[result.kind]
    return f"{result.ename}: {result.evalue}"


def out_of_memory(result: CellResult | None) -> bool:
    return result is not None and (result.ename == "MemoryError" or "can't allocate memory" in result.evalue)


@dataclass
class Case:
    """Everything the policy looks at for one exercise."""
    result: CellResult  # the check cell's
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
    def cause_kind(self) -> str | None:
        return None if self.cause is None else self.cause.kind

    def ename_is(self, name: str, *, or_cause: bool = False) -> bool:
        return self.result.ename == name or (or_cause and self.cause is not None and self.cause.ename == name)

    @property
    def mem(self) -> str:
        return f"{self.opts.mem_limit_mb} MB" if self.opts.mem_limit_mb else "the machine's memory"


@dataclass(frozen=True)
class Rule:
    name: str
    status: str  # passed / failed / error / timeout; "timeout?" = timeout if the whole notebook timed out
    applies: Callable[[Case], bool]
    reason: Callable[[Case], str]


def _passed(c: Case) -> str:
    note = f" (flagged for review: your code {'; '.join(c.flags)})" if c.flags else ""
    return "all checks passed" + note


def _not_run(c: Case) -> str:
    if c.notebook_timed_out:
        return (f"grading stopped: the whole notebook ran longer than {c.opts.notebook_timeout:g} s before "
                "this check; remove slow or endless code")
    return ("this check did not run: grading stopped early (a crash or a flood of output from your code?); "
            "ask your instructor")


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


RULES: tuple[Rule, ...] = (
    Rule("passed", "passed", lambda c: c.kind == "ok", _passed),
    Rule("not run", "timeout?", lambda c: c.kind == "not_run", _not_run),
    Rule("answer cell timed out", "timeout", lambda c: c.cause_kind == "timeout", lambda c: (
        f"your {'answer' if c.cause_cell.kind == 'answer' else 'own'} cell for this exercise ran longer than "
        f"{c.opts.cell_timeout:g} s and was stopped (an endless loop?): make it finish quickly")),
    Rule("answer cell killed the kernel", "error", lambda c: c.cause_kind == "died", lambda c: (
        f"the Python kernel died while running your cell for this exercise (memory above {c.mem}, a crash, "
        "exit() or os._exit()): fix that cell")),
    Rule("check timed out", "timeout", lambda c: c.kind == "timeout", lambda c: (
        f"the check ran longer than {c.opts.cell_timeout:g} s calling your code (an endless loop or a very "
        "slow function?): make it finish quickly")),
    Rule("check killed the kernel", "error", lambda c: c.kind == "died", lambda c: (
        f"the Python kernel died while the check called your code (memory above {c.mem}, a crash, exit() or "
        "os._exit()): fix your function")),
    Rule("kernel already dead", "error", lambda c: c.kind in ("dead", "setup"), lambda c: one_line(
        f"the kernel had died earlier in the notebook; fix the cell that kills it "
        f"({c.result.ename}: {c.result.evalue})")),
    Rule("assertion failed", "failed", lambda c: c.ename_is("AssertionError"),
         lambda c: assertion_reason(c.result.evalue)),
    Rule("not answered", "error", lambda c: c.ename_is("NotImplementedError"), lambda c: (
        "not answered yet: replace the '# YOUR CODE HERE' and 'raise NotImplementedError' lines with your "
        "code")),
    Rule("exit called", "error", lambda c: c.ename_is("SystemExit", or_cause=True),
         lambda c: "your code calls sys.exit() or exit(): remove it"),
    Rule("out of memory", "error", lambda c: out_of_memory(c.result) or out_of_memory(c.cause), lambda c: (
        f"your code ran out of memory (limit {c.mem}): use smaller tensors or fewer copies")),
    Rule("setup cell failed", "error", lambda c: c.setup_failure is not None and c.ename_is("NameError"),
         lambda c: one_line(f"the notebook's own cell {c.setup_failure[0]} failed "
                            f"({describe(c.setup_failure[1])}), so {c.result.evalue}; run the notebook from "
                            "the top")),
    Rule("answer cell missing", "error", lambda c: bool(c.missing) and c.ename_is("NameError"),
         lambda c: one_line(f"the answer cell {', '.join(c.missing)} is missing from your notebook "
                            f"(deleted?), so {c.result.evalue}: put your code back into the released answer "
                            "cell")),
    Rule("answer cell raised", "error", lambda c: c.cause is not None,
         lambda c: one_line(f"your cell for this exercise raised {c.cause.ename}: "
                            f"{_first_line(c.cause.evalue)}; so the check raised {c.result.ename}: "
                            f"{c.result.evalue}")),
    Rule("name not defined", "error", lambda c: c.ename_is("NameError"), lambda c: one_line(
        f"NameError: {c.result.evalue}: define it in the answer cell (keep the function's name)")),
    Rule("check raised", "error", lambda c: True,
         lambda c: one_line(f"the check raised {c.result.ename}: {c.result.evalue} (calling your code)")),
)


def decide(case: Case) -> tuple[str, str, str]:
    """(status, reason, the rule's name) for one exercise."""
    rule = next(rule for rule in RULES if rule.applies(case))
    status = rule.status
    if status == "timeout?":
        status = "timeout" if case.notebook_timed_out else "error"
    return status, rule.reason(case), rule.name


def cause_in_slot(plan: Plan, results, exercise: str, check_index: int):
    """The first of the student's cells for this exercise that timed out, died or raised, and its result."""
    for i in range(check_index):
        cell = plan.cells[i]
        if cell.exercise == exercise and cell.kind in ("answer", "extra"):
            r = results.get(i)
            if r is not None and r.kind in ("timeout", "died", "error"):
                return cell, r
    return None, None


def exercise_rows(student: str, key: dict, plan: Plan, results, notebook_timed_out: bool,
                  opts: Options) -> list[tuple]:
    """One report row ``(student, exercise, points, max_points, status, reason)`` per check cell."""
    rows = []
    flags = plan.flags()
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
        rows.append((student, cell.grade_id, fmt_points(earned), fmt_points(points), status, reason))
    return rows
