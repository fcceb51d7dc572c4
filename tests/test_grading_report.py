"""The report's reason policy (course_utils.grading.report), driven by synthetic cell results: no kernel.

Each test builds what a run would have recorded for one exercise (the nbval outcome of the check cell and the
guard's verdict, when there is one) and checks the status and the words of the reason against what the README
promises a student; together they reach every rule of the table.
"""

import json

import pytest

from course_utils import grading
from course_utils.grading import guard, runner
from course_utils.grading.report import RULES, Case, assertion_reason, clean, decide, excerpt, hidden_lines

OPTS = grading.Options(cell_timeout=8, notebook_timeout=150, mem_limit_mb=3072)
KEY = {"assignment": "hw9", "total_points": 3,
       "cells": [{"role": "check", "grade_id": "hw9_ex1", "points": 2},
                 {"role": "check", "grade_id": "hw9_ex2", "points": 1}]}
HIT: set[str] = set()


def R(kind="error", ename="", evalue="", detail=""):  # noqa: N802 (reads like a constructor)
    """A cell's result as nbval saw it, without a verdict."""
    return grading.CellResult(kind, ename, evalue, detail=detail)


def V(status, ename="", evalue="", restored=(), tampered=()):  # noqa: N802
    """A check cell's result with the guard's verdict (``status``: passed / failed / error / tampered)."""
    verdict = {"seq": 1, "check": "hw9_ex1", "status": status, "ename": ename, "message": evalue,
               "restored": list(restored), "tampered": list(tampered)}
    return grading.CellResult("ok" if status == "passed" else "error", ename, evalue, verdict=verdict)


def decided(case):
    status, reason, rule = decide(case)
    HIT.add(rule)
    assert "\n" not in reason and reason
    return status, reason


ANSWER = grading.Planned("def f(): ...", "answer", "hw9_ex1", "hw9_ex1_answer")
EXTRA = grading.Planned("x = 1", "extra", "hw9_ex1")

CASES = [
    # (case, expected status, words the reason must contain)
    (Case(V("passed"), OPTS), "passed", "all checks passed"),
    (Case(V("passed"), OPTS, flags=["uses builtins / sys.modules"]), "passed",
     "(flagged for review: your code uses builtins / sys.modules)"),
    (Case(R("not_run"), OPTS, notebook_timed_out=True), "timeout",
     "the whole notebook ran longer than 150 s"),
    (Case(R("not_run"), OPTS), "error", "this check did not run"),
    (Case(V("error", "NameError", "name 'f' is not defined"), OPTS, cause_cell=ANSWER, cause=R("timeout")),
     "timeout", "your answer cell for this exercise ran longer than 8 s"),
    (Case(V("error", "NameError", "x"), OPTS, cause_cell=EXTRA, cause=R("timeout")), "timeout",
     "your own cell for this exercise ran longer than 8 s"),
    (Case(R("dead"), OPTS, cause_cell=ANSWER, cause=R("died")), "error",
     "kernel died while running your cell for this exercise (memory above 3072 MB"),
    (Case(R("timeout"), OPTS), "timeout", "the check ran longer than 8 s calling your code"),
    (Case(R("died"), OPTS), "error", "kernel died while the check called your code"),
    (Case(R("dead", "RuntimeError", "Kernel dead"), OPTS), "error",
     "the kernel had died earlier in the notebook; fix the cell that kills it (RuntimeError: Kernel dead)"),
    (Case(R("setup", "RuntimeError", "no kernel"), OPTS), "error", "the kernel had died earlier"),
    (Case(V("failed", "AssertionError", "Exercise 1: wrong\nMismatched elements: 3 / 4 (75.0%)\nnoise"),
          OPTS),
     "failed", "Exercise 1: wrong | Mismatched elements: 3 / 4 (75.0%)"),
    (Case(V("error", "NotImplementedError", "exercise hw9_ex1: replace this line"), OPTS), "error",
     "not answered yet"),
    (Case(V("error", "SystemExit", "1"), OPTS), "error", "your code calls sys.exit() or exit()"),
    (Case(V("error", "NameError", "f"), OPTS, cause_cell=ANSWER, cause=R("error", "SystemExit", "1")),
     "error", "sys.exit()"),
    (Case(V("error", "MemoryError", ""), OPTS), "error", "ran out of memory (limit 3072 MB)"),
    (Case(V("error", "NameError", "f"), OPTS, cause_cell=ANSWER,
          cause=R("error", "RuntimeError", "[enforce fail] DefaultCPUAllocator: can't allocate memory")),
     "error", "ran out of memory"),
    (Case(V("error", "NameError", "name 'torch' is not defined"), OPTS, setup_failure=(1, R("timeout"))),
     "error", "the notebook's own cell 1 failed (it timed out), so name 'torch' is not defined"),
    (Case(V("error", "NameError", "name 'f' is not defined"), OPTS, missing=["hw9_ex1_answer"]), "error",
     "the answer cell hw9_ex1_answer is missing from your notebook"),
    (Case(V("error", "TypeError", "bad"), OPTS, cause_cell=ANSWER, cause=R("error", "ValueError", "v\nmore")),
     "error", "your cell for this exercise raised ValueError: v; so the check raised TypeError: bad"),
    (Case(V("error", "NameError", "name 'f' is not defined"), OPTS), "error",
     "NameError: name 'f' is not defined: define it in the answer cell"),
    (Case(V("error", "ZeroDivisionError", "division by zero"), OPTS), "error",
     "the check raised ZeroDivisionError: division by zero (calling your code)"),
    # the guard's verdicts, and what a run without one means
    (Case(V("passed", restored=["torch.testing.assert_close"]), OPTS), "passed",
     "all checks passed (flagged for review: the grader undid your code's change to "
     "torch.testing.assert_close before the check)"),
    # several, in alphabetical order whatever order the kernel imported their modules in
    (Case(V("passed", restored=["torch.testing.assert_close", "numpy.testing.assert_allclose"]), OPTS),
     "passed",
     "all checks passed (flagged for review: the grader undid your code's change to "
     "numpy.testing.assert_allclose, torch.testing.assert_close before the check)"),
    (Case(V("failed", "AssertionError", "Exercise 1: off", restored=["builtins.isinstance"]), OPTS), "failed",
     "Exercise 1: off (flagged for review: the grader undid your code's change to builtins.isinstance"),
    (Case(V("tampered", tampered=["while f() ran, it changed: torch.testing.assert_close"]), OPTS), "failed",
     "tampered: while f() ran, it changed: torch.testing.assert_close; this exercise earns 0"),
    (Case(R("ok"), OPTS), "failed", "tampered: the check did not run under the grader's control"),
    (Case(R("error", "AssertionError", "Exercise 1: forged"), OPTS), "failed",
     "tampered: the check did not run under the grader's control"),
    (Case(R("error", "RuntimeError", "course-grading: the check runner is still busy with an earlier check"),
          OPTS), "error", "the check before it was still running your code"),
    (Case(V("error", "NameError", "f"), OPTS, cause_cell=ANSWER, cause=R("flood")), "error",
     "your cell for this exercise printed more than 1024 KB"),
    (Case(V("error", "NameError", "f"), OPTS, cause_cell=ANSWER,
          cause=R("killed", detail="it started more than 64 processes")), "error",
     "the grader stopped your cell for this exercise: it started more than 64 processes"),
    (Case(R("killed", detail="it wrote more than 64 MB to the terminal"), OPTS), "error",
     "the grader stopped the check calling your code: it wrote more than 64 MB"),
]


@pytest.mark.parametrize("case, status, words", CASES, ids=range(len(CASES)))
def test_each_outcome_gets_its_status_and_reason(case, status, words):
    got_status, reason = decided(case)
    assert got_status == status, reason
    assert words in reason, reason


@pytest.mark.parametrize("text, expected", [
    ("FileNotFoundError: '/home/teacher/keys/hw1.json' and /root/.ssh/id_rsa",
     "FileNotFoundError: '<path>' and <path>"),
    ("see /grading/submission.ipynb", "see /grading/submission.ipynb"),
    ("C:\\Users\\teacher\\keys.json", "<path>"),
    ("a\x1b[31mred\x07bell\u202etxt", "a\\u001b[31mred\\u0007bell\\u202etxt"),
    ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
    ("x" * 1000, "x" * 597 + "..."),
])
def test_clean_keeps_paths_control_characters_and_formulas_out(text, expected):
    assert clean(text) == expected


def test_clean_removes_hidden_test_lines_and_excerpt_bounds_student_text():
    key = {"cells": [{"source": "visible = 1\n### BEGIN HIDDEN TESTS\nsecret_input = torch.arange(7) * 3\n"
                                "ok\n### END HIDDEN TESTS\n"}]}
    assert hidden_lines(key) == ("secret_input = torch.arange(7) * 3",)
    leaked = "ValueError: secret_input = torch.arange(7) * 3 was read"
    assert clean(leaked, hidden_lines(key)) == "ValueError: <hidden test> was read"
    assert excerpt("line one\nline two " + "y" * 500) == ("line one line two " + "y" * 500)[:197] + "..."


def test_memory_limit_zero_reads_as_the_machines_memory():
    opts = grading.Options(mem_limit_mb=0)
    assert "memory above the machine's memory" in decided(Case(R("died"), opts))[1]


def test_first_matching_rule_wins_a_timeout_before_an_assertion():
    """A timed-out answer cell explains a check that then failed: the student must fix the loop first."""
    case = Case(V("failed", "AssertionError", "Exercise 1: x"), OPTS, cause_cell=ANSWER, cause=R("timeout"))
    assert decided(case)[0] == "timeout"


@pytest.mark.parametrize("evalue, expected", [
    ("", "a check failed (an assert without a message): compare your result with the check cell"),
    ("Exercise 2: off by one", "Exercise 2: off by one"),
    ("Tensor-likes are not close!\n\nExercise 3: dW1 differs\nGreatest absolute difference: 0.5 at (0, 1)",
     "Exercise 3: dW1 differs | Tensor-likes are not close! | Greatest absolute difference: 0.5 at (0, 1)"),
])
def test_assertion_reason(evalue, expected):
    assert assertion_reason(evalue) == expected


def test_exercise_rows_award_points_only_for_passed_checks():
    plan = grading.Plan(cells=[
        grading.Planned("import torch", "locked", "hw9_ex1", "hw9_setup"),
        ANSWER,
        grading.Planned("check 1", "check", "hw9_ex1", "hw9_ex1"),
        grading.Planned("def g(): ...", "answer", "hw9_ex2", "hw9_ex2_answer"),
        grading.Planned("check 2", "check", "hw9_ex2", "hw9_ex2"),
    ])
    results = {0: R("ok"), 1: R("ok"), 2: V("passed"), 3: R("ok"),
               4: V("failed", "AssertionError", "Exercise 2: no")}
    rows = grading.exercise_rows("ann", KEY, plan, results, False, OPTS)
    assert rows == [("ann", "hw9_ex1", "2", "2", "passed", "all checks passed"),
                    ("ann", "hw9_ex2", "0", "1", "failed", "Exercise 2: no")]


def test_every_rule_is_reached():
    """Runs last in this file: the cases above reach each row of the policy table."""
    assert {rule.name for rule in RULES} <= HIT, {rule.name for rule in RULES} - HIT


# ----------------------------------------------------------------------------------------- reruns

def signed(key, gid, status, seq):
    body = json.dumps({"seq": seq, "check": gid, "status": status, "ename": "", "message": "",
                       "restored": [], "tampered": []})
    return f"{guard.MARKER} {body} {guard.sign(key, body)}"


@pytest.mark.parametrize("second_pass_finishes", [True, False])
def test_a_rerun_skips_the_cell_that_killed_the_kernel(monkeypatch, second_pass_finishes):
    """Pass 1: exercise 1's answer kills the kernel, the rest is dead. Pass 2 (that answer replaced by a
    neutral cell) grades exercise 2, or is cut by the notebook timeout, which then explains exercise 2's
    row."""
    plan = grading.Plan(cells=[
        grading.Planned("import torch", "locked", "hw9_ex1", "hw9_setup"), ANSWER,
        grading.Planned("check 1", "check", "hw9_ex1", "hw9_ex1"),
        grading.Planned("def g(): ...", "answer", "hw9_ex2", "hw9_ex2_answer"),
        grading.Planned("check 2", "check", "hw9_ex2", "hw9_ex2")])
    dead = {"ok": False, "when": "call", "message": "Kernel dead on test start"}
    passes = [runner.Run(key=b"1" * 32, records=[
        {"cell": 0, "ok": True, "when": "call"},
        {"cell": 1, "ok": False, "when": "call", "exception": "KernelDied"},
        {"cell": 2, **dead}, {"cell": 3, **dead}, {"cell": 4, **dead}])]
    if second_pass_finishes:
        passes.append(runner.Run(key=b"2" * 32, records=[
            {"cell": 0, "ok": True, "when": "call"}, {"cell": 1, "ok": True, "when": "call"},
            {"cell": 2, "ok": False, "when": "call", "ename": "NameError",
             "evalue": "name 'f' is not defined", "verdicts": [signed(b"2" * 32, "hw9_ex1", "error", 1)]},
            {"cell": 3, "ok": True, "when": "call"},
            {"cell": 4, "ok": True, "when": "call",
             "verdicts": [signed(b"2" * 32, "hw9_ex2", "passed", 2)]}]))
    else:
        passes.append(runner.Run(key=b"2" * 32, timed_out=True,
                                 records=[{"cell": 0, "ok": True, "when": "call"}]))
    sources = []

    def fake_run_once(srcs, *args):
        sources.append(srcs)
        return passes[len(sources) - 1]

    monkeypatch.setattr(runner, "_run_once", fake_run_once)
    results, timed_out, _ = grading.run_plan(plan, grading.Options(sandbox=False))
    assert sources[1][1] == runner.NEUTRAL_CELL and sources[0][1] == ANSWER.source
    rows = grading.exercise_rows("ann", KEY, plan, results, timed_out, OPTS)
    assert rows[0][4] == "error" and "kernel died while running your cell for this exercise" in rows[0][5]
    if second_pass_finishes:
        assert rows[1][2:5] == ("1", "1", "passed")
    else:
        assert rows[1][4] == "timeout" and "the whole notebook ran longer than 150 s" in rows[1][5]
