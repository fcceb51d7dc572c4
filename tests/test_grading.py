"""Grading with real kernels in real sandboxes (course_utils.grading): a class of hw1 submissions from honest
to hostile, the other homeworks, timeouts, interruption, and the student's own self-check.

Every fixture is generated from the real homework in ``homework/source`` into temporary folders; the keys are
regenerated there too (they are never committed). Runs that start kernels use ``-j 2`` and short timeouts.
Without a working bubblewrap the graded runs are skipped with the reason (``COURSE_REQUIRE_SANDBOX=1``, as in
CI, makes that a failure).
"""

import copy
import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

# the helpers of the release tests (pytest puts tests/ on sys.path)
from test_grading_release import cell, drop, load, release_into, save, source

from course_utils import grading

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "homework" / "source"
NAMES = sorted(p.stem for p in SOURCE.glob("*.ipynb"))
CELL_TIMEOUT = 8.0
# the class fixture starts some twenty sandboxed kernels: allow for a busy machine (default: 600 s)
pytestmark = pytest.mark.timeout(1800)
OPTS = grading.Options(cell_timeout=CELL_TIMEOUT, notebook_timeout=300, mem_limit_mb=3072)


# ----------------------------------------------------------------------------------------- helpers

def read_report(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(grading.REPORT_COLUMNS)
    return rows[1:]


def by_student(rows):
    out = {}
    for row in rows:
        out.setdefault(row[0], {})[row[1]] = row
    return out


def total(student_rows):
    return sum(float(r[2]) for r in student_rows.values())


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return release_into(tmp_path_factory.mktemp("released"))


@pytest.fixture(scope="module")
def sandboxed():
    """Skip (or in CI fail) when no sandbox can be made here."""
    problem = grading.sandbox._probe()
    if problem:
        if os.environ.get("COURSE_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"COURSE_REQUIRE_SANDBOX=1 but {problem}")
        pytest.skip(problem)


# ----------------------------------------------------------------------------------------- grading runs

SOLVED_WRONG_DW1 = '''
def mlp_backward(x, y, W1, b1, W2, b2):
    h_pre = x @ W1.T + b1
    h = h_pre.clamp(min=0)
    out = h @ W2.T + b2
    d_out = 2 * (out - y) / out.numel()
    d_pre = (d_out @ W2) * (h_pre > 0).to(x.dtype)
    return 2 * d_pre.T @ x, d_pre.sum(dim=0), d_out.T @ h, d_out.sum(dim=0)
'''
FLOAT32_ONLY = '''
def sigmoid_grad(x):
    s = torch.sigmoid(x.float())
    return s * (1 - s)
'''


WRONG = {
    "hw1_ex1_answer": "def sigmoid_grad(x):\n    return x * 0 + 0.25\n",
    "hw1_ex2_answer": "def softmax_ce_grad(logits, target):\n    return torch.softmax(logits, 1)\n",
    "hw1_ex3_answer": "def mlp_backward(x, y, W1, b1, W2, b2):\n    return W1 * 0, b1 * 0, W2 * 0, b2 * 0\n",
    "hw1_ex4_answer": "def numerical_grad(f, x, eps=1e-6):\n    return x * 0\n",
}
EXFILTRATE = """import glob, os
found = []
for pattern in ("/tmp/**/keys/*.json", "/**/planted*", "/root/*", "/home/*/*", "{planted}*",
                "/proc/1/environ"):
    found += glob.glob(pattern, recursive="**" in pattern and not pattern.startswith("/**"))
home = os.path.expanduser("~")
listing = os.listdir(home) if os.path.isdir(home) else []
text = ""
for path in ["{planted}", "{planted}/SECRET.txt", *found][:6]:
    try:
        text += open(path).read()[:200]
    except Exception as err:
        text += type(err).__name__ + " "
raise RuntimeError(f"FOUND {{found}} HOME {{home}} {{listing}} {{text}}")
"""
ESCAPES = {
    "hw1_ex1_answer": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)",
    "hw1_ex2_answer": "import os\nwhile True:\n    os.fork()",
    "hw1_ex3_answer": ("with open('fill.bin', 'wb') as fh:\n    for _ in range(4096):\n"
                       "        fh.write(b'x' * 2**20)"),
    "hw1_ex4_answer": "while True:\n    print('x' * 100_000)",
}


def submissions_hw1(release_dir, base):
    """A class of hw1 submissions, from honest to hostile. Returns the folder."""
    sol, blank = load(SOURCE / "hw1_autograd.ipynb"), load(release_dir / "hw1_autograd.ipynb")
    subs = base / "subs"

    # one student per folder, with a checkpoint copy that must be ignored
    save(sol, subs / "solution" / "hw1_autograd.ipynb")
    save(blank, subs / "solution" / ".ipynb_checkpoints" / "hw1_autograd-checkpoint.ipynb")
    save(blank, subs / "blank.ipynb")

    # tampering on a blank notebook: nothing to earn
    nb = copy.deepcopy(blank)
    cell(nb, "hw1_ex1")["source"] = "pass"
    drop(nb, "hw1_ex2")
    answer, check = cell(nb, "hw1_ex3_answer"), cell(nb, "hw1_ex3")
    answer["source"] = "# NBVAL_SKIP\n" + source(answer)
    check["source"] = "# NBVAL_RAISES_EXCEPTION\n" + source(check)
    check["metadata"]["tags"] = ["raises-exception"]
    cell(nb, "hw1_ex4_answer")["metadata"]["tags"] = ["nbval-skip"]
    cell(nb, "hw1_ex4")["metadata"]["tags"] = ["nbval-skip", "raises-exception"]
    save(nb, subs / "tampered.ipynb")

    # mixed: a visible-tests-only answer, a deleted answer, a wrong answer behind a check edited to pass,
    # and a right answer marked NBVAL_SKIP whose check was deleted (earned: 2 points)
    nb = copy.deepcopy(blank)
    cell(nb, "hw1_ex1_answer")["source"] = FLOAT32_ONLY
    drop(nb, "hw1_ex2_answer")
    cell(nb, "hw1_ex3_answer")["source"] = SOLVED_WRONG_DW1
    cell(nb, "hw1_ex3")["source"] = "pass"
    cell(nb, "hw1_ex4_answer")["source"] = "# NBVAL_SKIP\n" + source(cell(sol, "hw1_ex4_answer"))
    drop(nb, "hw1_ex4")
    save(nb, subs / "mixed.ipynb")

    # solved, check cells reversed at the top, one deleted, an answer without metadata and a new cell id
    nb = copy.deepcopy(sol)
    checks = [cell(nb, f"hw1_ex{i}") for i in range(1, 5)]
    for c in checks:
        nb["cells"].remove(c)
    nb["cells"][:0] = checks[::-1][:3]
    ans = cell(nb, "hw1_ex2_answer")
    ans["metadata"], ans["id"] = {}, "student-made-id"
    nb["cells"].append({"cell_type": "code", "source": "import builtins  # harmless here, but worth a look",
                        "metadata": {}, "outputs": [], "execution_count": None})
    save(nb, subs / "reordered.ipynb")

    # sys.exit() before a definition, an endless loop inside a function the check calls (interruptible), a
    # memory hog beyond the cap; exercise 4 is right
    nb = copy.deepcopy(sol)
    ans = cell(nb, "hw1_ex1_answer")
    ans["source"] = "import sys\nsys.exit(1)\n" + source(ans)
    cell(nb, "hw1_ex2_answer")["source"] = "def softmax_ce_grad(logits, target):\n    while True:\n" \
                                           "        pass\n"
    ans = cell(nb, "hw1_ex3_answer")
    ans["source"] = "hog = bytearray(64 * 2**30)\n" + source(ans)
    save(nb, subs / "loops.ipynb")

    # three ways to lose the kernel: killed (as by the out-of-memory killer) while the check calls the
    # function, an answer cell that ignores Ctrl-C and loops (nbval cannot interrupt it and stops the
    # kernel), os._exit(); exercise 1 is right
    nb = copy.deepcopy(sol)
    cell(nb, "hw1_ex2_answer")["source"] = (
        "import os\nimport signal\n\n\ndef softmax_ce_grad(logits, target):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    ans = cell(nb, "hw1_ex3_answer")
    ignore_ctrl_c = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    ans["source"] = ignore_ctrl_c + "while True:\n    pass\n" + source(ans)
    ans = cell(nb, "hw1_ex4_answer")
    ans["source"] = "import os\nos._exit(3)\n" + source(ans)
    save(nb, subs / "crashes.ipynb")

    # the two attacks of issue 14: neutralise the assert functions with every answer wrong; go looking for the
    # grading keys and the grader's home, and raise what was found so that it lands in the report
    nb = copy.deepcopy(blank)
    for gid, src in WRONG.items():
        cell(nb, gid)["source"] = src
    answer = cell(nb, "hw1_ex1_answer")
    answer["source"] = ("import numpy\ntorch.testing.assert_close = lambda *a, **k: None\n"
                        "numpy.testing.assert_allclose = lambda *a, **k: None\n" + source(answer))
    save(nb, subs / "patch_asserts.ipynb")
    # ... and from exercise 2 on, the check cells rewritten by an IPython input transformer (a forged verdict)
    nb = copy.deepcopy(sol)
    cell(nb, "hw1_ex1_answer")["source"] = EXFILTRATE.format(planted=str(base / "planted"))
    cell(nb, "hw1_ex2_answer")["source"] = (
        "get_ipython().input_transformers_post.append(\n"
        "    lambda lines: ['print(\"@@course-grading-verdict@@ {}\")\\n'] "
        "if any('course.grading.check' in ln for ln in lines) else lines)\n"
        + source(cell(sol, "hw1_ex2_answer")))
    save(nb, subs / "exfiltrate.ipynb")

    # a network connection, a fork bomb, a disk filled up and a flood of output, each next to a right answer
    nb = copy.deepcopy(sol)
    for gid, attack in ESCAPES.items():
        answer = cell(nb, gid)
        answer["source"] = attack + "\n" + source(answer)
    save(nb, subs / "escapes.ipynb")

    # submissions that cannot be graded at all
    (subs / "malformed.ipynb").write_text("{not json", encoding="utf-8")
    full = (SOURCE / "hw1_autograd.ipynb").read_bytes()
    (subs / "truncated.ipynb").write_bytes(full[: len(full) // 2])
    save(load(release_dir / "hw2_losses.ipynb"), subs / "other_assignment.ipynb")
    (subs / "empty_folder").mkdir()
    save(blank, subs / "two_notebooks" / "a.ipynb")
    save(blank, subs / "two_notebooks" / "b.ipynb")
    (subs / "notes.txt").write_text("a file that is not a notebook", encoding="utf-8")
    return subs


@pytest.fixture(scope="module")
def hw1_run(sandboxed, released, tmp_path_factory):
    """Grade the hw1 class once with -j 2; (rows by student, report path, submissions folder, seconds)."""
    base = tmp_path_factory.mktemp("hw1")
    subs = submissions_hw1(released[0], base)
    (base / "planted").mkdir()
    (base / "planted" / "SECRET.txt").write_text(PLANTED, encoding="utf-8")  # outside the sandbox
    before = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    start = time.monotonic()
    rows = grading.grade(subs, released[1] / "hw1_autograd.json", base / "report.csv", jobs=2, opts=OPTS,
                         summary_path=base / "summary.txt", feedback_dir=base / "feedback")
    seconds = time.monotonic() - start
    assert {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()} == before, "a submission was modified"
    assert sorted(read_report(base / "report.csv")) == sorted(list(r) for r in rows)
    return by_student(rows), base, seconds


EXERCISES = ["hw1_ex1", "hw1_ex2", "hw1_ex3", "hw1_ex4"]
PLANTED = "planted-secret-4c1e9b"


def test_every_student_gets_a_row_per_exercise_with_allowed_values(hw1_run):
    students, _, _ = hw1_run
    assert set(students) == {"solution", "blank", "tampered", "mixed", "reordered", "loops", "crashes",
                             "patch_asserts", "exfiltrate", "escapes", "malformed", "truncated",
                             "other_assignment", "empty_folder", "two_notebooks", "notes"}
    for name, rows in students.items():
        assert list(rows) in (EXERCISES, ["*"]), name
        for row in rows.values():
            assert row[4] in grading.STATUSES and row[5] and "\n" not in row[5]
            assert float(row[2]) == (float(row[3]) if row[4] == "passed" else 0)


def test_solution_gets_full_marks_and_blank_gets_zero(hw1_run):
    students, _, _ = hw1_run
    assert total(students["solution"]) == 8 and all(r[4] == "passed" for r in students["solution"].values())
    assert total(students["blank"]) == 0
    for row in students["blank"].values():
        assert row[4] == "error" and "not answered yet" in row[5]


def test_tampering_earns_nothing(hw1_run):
    students, _, _ = hw1_run
    assert total(students["tampered"]) == 0
    assert all(r[4] == "error" and "not answered" in r[5] for r in students["tampered"].values())


def test_only_earned_points_count(hw1_run):
    rows = hw1_run[0]["mixed"]
    assert total(rows) == 2
    assert rows["hw1_ex1"][4] == "failed" and "Exercise 1 (hidden test)" in rows["hw1_ex1"][5]
    assert rows["hw1_ex2"][4] == "error" and "hw1_ex2_answer is missing" in rows["hw1_ex2"][5]
    assert rows["hw1_ex3"][4] == "failed" and "dW1 differs from autograd" in rows["hw1_ex3"][5]
    assert rows["hw1_ex4"][4] == "passed"


def test_reordered_and_deleted_checks_are_restored(hw1_run):
    rows = hw1_run[0]["reordered"]
    assert total(rows) == 8
    assert all("flagged for review: your code uses builtins" in r[5] for r in rows.values())
    assert not any("flagged" in r[5] for r in hw1_run[0]["solution"].values())


def test_endless_loops_exit_and_memory_hog_cost_only_their_exercise(hw1_run):
    students = hw1_run[0]
    loops = students["loops"]
    assert loops["hw1_ex1"][4] == "error" and "sys.exit()" in loops["hw1_ex1"][5]
    assert loops["hw1_ex2"][4] == "timeout" and "ran longer than 8 s" in loops["hw1_ex2"][5]
    assert loops["hw1_ex3"][4] == "error" and "out of memory (limit 3072 MB)" in loops["hw1_ex3"][5]
    assert loops["hw1_ex4"][4] == "passed"
    assert not any("whole notebook" in r[5] for r in loops.values()), "the loops held up the run"


def test_a_lost_kernel_costs_only_its_exercise(hw1_run):
    crashes = hw1_run[0]["crashes"]
    assert crashes["hw1_ex1"][4] == "passed"
    assert crashes["hw1_ex2"][4] == "error" and "kernel died while the check called" in crashes["hw1_ex2"][5]
    assert crashes["hw1_ex3"][4] == "timeout" and "your answer cell" in crashes["hw1_ex3"][5]
    assert crashes["hw1_ex4"][4] == "error" and "kernel died while running your cell" in crashes["hw1_ex4"][5]


def test_the_issues_attacks_score_nothing(hw1_run):
    """Issue 14: the assert functions neutralised (every answer wrong) earned 4 of 8 before."""
    rows = hw1_run[0]["patch_asserts"]
    assert total(rows) == 0 and all(r[4] == "failed" for r in rows.values())
    assert "Exercise 1: sigmoid_grad(x) differs from autograd" in rows["hw1_ex1"][5]
    assert ("the grader undid your code's change to numpy.testing.assert_allclose, "
            "torch.testing.assert_close before the check") in rows["hw1_ex1"][5]
    assert "Exercise 4: numerical_grad(f, x) is far from autograd" in rows["hw1_ex4"][5]
    assert total(hw1_run[0]["exfiltrate"]) == 0


def test_nothing_outside_the_students_notebook_reaches_the_report_or_the_feedback(hw1_run, released):
    """The submission looked for the keys, the grader's home and a planted file, and raised what it found."""
    students, base, _ = hw1_run
    reason = students["exfiltrate"]["hw1_ex1"][5]
    assert reason.startswith("your cell for this exercise raised RuntimeError: FOUND [")  # /proc/1/environ,
    assert "HOME /grading ['conftest.py', 'pytest.ini', 'submission.ipynb']" in reason  # which it cannot read
    outputs = [(base / "report.csv").read_text(encoding="utf-8"), (base / "summary.txt").read_text("utf-8"),
               *(p.read_text(encoding="utf-8") for p in (base / "feedback").glob("*.md"))]
    key = load(released[1] / "hw1_autograd.json")
    hidden = [ln.strip() for c in key["cells"] for ln in c["source"].split(grading.HIDDEN_BEGIN)[-1].split(
        grading.HIDDEN_END)[0].splitlines() if grading.HIDDEN_BEGIN in c["source"] and len(ln.strip()) > 20]
    assert hidden, "the key has hidden tests to look for"
    for text in outputs:
        assert PLANTED not in text
        assert str(base) not in text and str(released[1]) not in text and str(Path.home()) + "/" not in text
        assert not any(line in text for line in hidden)
        assert max(len(line) for line in text.splitlines()) < 2000


def test_a_rewritten_check_cell_or_a_forged_verdict_earns_nothing(hw1_run):
    rows = hw1_run[0]["exfiltrate"]  # right answers for exercises 2-4, whose check cells it rewrote
    for exercise in EXERCISES[1:]:
        assert rows[exercise][4] == "failed"
        assert rows[exercise][5].startswith("tampered: the check did not run under the grader's")


def test_network_fork_bomb_full_disk_and_output_flood_are_stopped_and_reported(hw1_run):
    rows = hw1_run[0]["escapes"]
    assert rows["hw1_ex1"][4] == "error" and "PermissionError: the grader does not allow the network" in \
        rows["hw1_ex1"][5]
    assert rows["hw1_ex2"][4] == "error"
    assert "the grader does not allow starting processes" in rows["hw1_ex2"][5]
    assert rows["hw1_ex3"][4] == "error" and ("No space left on device" in rows["hw1_ex3"][5]
                                              or "File too large" in rows["hw1_ex3"][5])
    assert rows["hw1_ex4"][4] == "error" and "printed more than 1024 KB" in rows["hw1_ex4"][5]
    assert total(hw1_run[0]["solution"]) == 8  # graded normally in the same run


def _grade_solution_with(released, tmp_path, gid: str, code: str) -> dict:
    """Grade the instructor's solution with ``code`` before the answer of ``gid``: its rows by exercise."""
    nb = load(SOURCE / "hw1_autograd.ipynb")
    answer = cell(nb, gid)
    answer["source"] = code + source(answer)
    save(nb, tmp_path / "subs" / "student.ipynb")
    return by_student(grading.grade(tmp_path / "subs", released[1] / "hw1_autograd.json",
                                    tmp_path / "report.csv", jobs=1, opts=OPTS))["student"]


def test_a_right_answer_that_prints_a_lot_but_within_the_limit_gets_full_marks(sandboxed, released, tmp_path):
    """Output over 64 KB in one message made pyzmq start a thread in the kernel, which the guard took for one
    the submission had started: every later check was called tampered. 900 KB stays under the 1024 KB cap."""
    rows = _grade_solution_with(released, tmp_path, "hw1_ex1_answer",
                                "print('x' * 70_000)\nprint('y' * 830_000)\n")
    assert total(rows) == 8, rows
    assert all(r[4] == "passed" for r in rows.values())


def test_an_output_flood_is_stopped_in_the_cell_and_the_rest_is_graded(sandboxed, released, tmp_path):
    """The kernel stops the cell at the cap (before, the report said one of three things, by chance: the cell
    printed too much, ran out of memory, or the function was not defined), and the next exercise is graded."""
    rows = _grade_solution_with(released, tmp_path, "hw1_ex3_answer",
                                "while True:\n    print('x' * 100_000)\n")
    assert rows["hw1_ex3"][4] == "error" and "printed more than 1024 KB and was stopped" in rows["hw1_ex3"][5]
    assert [rows[g][4] for g in ("hw1_ex1", "hw1_ex2", "hw1_ex4")] == ["passed"] * 3, rows


def test_feedback_file_per_student(hw1_run):
    students, base, _ = hw1_run
    files = {p.stem for p in (base / "feedback").glob("*.md")}
    assert files == set(students)
    text = (base / "feedback" / "mixed.md").read_text(encoding="utf-8")
    assert "**Total: 2 / 8 points**" in text and "## hw1_ex3: 0 / 3 points, failed" in text
    assert "d_out = 2 * (y_hat - y) / y_hat.numel()" in text  # the hint for a wrong dW1


@pytest.mark.parametrize("student, reason", [
    ("malformed", "JSON error at line 1"),
    ("truncated", "the file is truncated or damaged"),
    ("other_assignment", "'hw2_losses', not 'hw1_autograd'"),
    ("empty_folder", "holds no .ipynb notebook"),
    ("two_notebooks", "holds 2 notebooks"),
    ("notes", "notes.txt is not a notebook"),
])
def test_ungradable_submissions_get_one_star_row(hw1_run, student, reason):
    row = hw1_run[0][student]["*"]
    assert list(row[2:5]) == ["0", "8", "error"] and reason in row[5]


def test_summary_lists_each_students_total(hw1_run):
    text = (hw1_run[1] / "summary.txt").read_text(encoding="utf-8")
    lines = {line.split()[0]: line for line in text.splitlines()[3:] if line and not line.startswith("-")}
    assert lines["solution"].split()[1:4] == ["8", "/", "8"]
    assert lines["mixed"].split()[1:4] == ["2", "/", "8"]
    assert "not graded" in lines["malformed"]


@pytest.fixture(scope="module")
def other_runs(sandboxed, released, tmp_path_factory):
    """Grade the instructor solution and the blank release of every other homework."""
    out = {}
    for name in NAMES[1:]:
        subs = tmp_path_factory.mktemp(name)
        save(load(SOURCE / f"{name}.ipynb"), subs / "solution.ipynb")
        save(load(released[0] / f"{name}.ipynb"), subs / "blank.ipynb")
        out[name] = by_student(grading.grade(subs, released[1] / f"{name}.json", subs / "r.csv", jobs=2,
                                             opts=OPTS))
    return out


@pytest.mark.parametrize("name", NAMES[1:])
def test_solution_full_and_blank_zero_in_every_homework(released, other_runs, name):
    key = load(released[1] / f"{name}.json")
    students = other_runs[name]
    assert total(students["solution"]) == key["total_points"]
    assert total(students["blank"]) == 0
    assert all(r[4] == "error" and "not answered" in r[5] for r in students["blank"].values())


def test_notebook_timeout_stops_a_submission(sandboxed, released, tmp_path):
    key = grading.load_key(released[1] / "hw1_autograd.json")
    cells, meta = grading.load_submission(SOURCE / "hw1_autograd.ipynb")
    plan = grading.assemble(cells, meta, key)
    opts = grading.Options(cell_timeout=CELL_TIMEOUT, notebook_timeout=1.5)
    start = time.monotonic()
    results, timed_out, _ = grading.run_plan(plan, opts)
    assert timed_out and time.monotonic() - start < 15
    rows = grading.exercise_rows("slow", key, plan, results, timed_out, opts)
    assert [r[4] for r in rows] == ["timeout"] * 4
    assert "whole notebook ran longer than 1.5 s" in rows[0][5]


def test_student_self_check_names_the_exercise_while_plain_nbval_is_fooled(released, tmp_path):
    """What a student runs (pytest --nbval-lax): a wrong answer is named; a tampered notebook passes
    plain nbval (which is why grading restores the check cells)."""
    wrong = load(SOURCE / "hw1_autograd.ipynb")
    cell(wrong, "hw1_ex3_answer")["source"] = SOLVED_WRONG_DW1
    save(wrong, tmp_path / "wrong.ipynb")
    tampered = load(released[0] / "hw1_autograd.ipynb")
    for i in range(1, 5):
        cell(tampered, f"hw1_ex{i}")["source"] = "pass"
        answer = cell(tampered, f"hw1_ex{i}_answer")
        answer["source"] = "# NBVAL_SKIP\n" + source(answer)
    save(tampered, tmp_path / "tampered.ipynb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                             "--color=no", "wrong.ipynb", "tampered.ipynb"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    failed = re.findall(r"^FAILED (\S+::Cell \d+)", out, flags=re.MULTILINE)
    assert failed == ["wrong.ipynb::Cell 6"], out[-3000:]
    assert "Check exercise 3: mlp_backward" in out
    assert "AssertionError: Exercise 3: dW1 differs from autograd" in out


def test_interrupted_run_keeps_the_rows_and_kills_the_kernels(sandboxed, released, tmp_path):
    subs = tmp_path / "subs"
    save({"cells": "broken"}, subs / "a_broken.ipynb")
    nb = load(SOURCE / "hw1_autograd.ipynb")
    cell(nb, "hw1_ex1_answer")["source"] = "while True:\n    pass"
    save(nb, subs / "b_loops.ipynb")
    save(nb, subs / "c_never_started.ipynb")
    report = tmp_path / "report.csv"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.Popen([sys.executable, "-m", "course_utils.grading", "grade", str(subs), "--key",
                             str(released[1] / "hw1_autograd.json"), "--out", str(report),
                             "--cell-timeout", "60"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        grader = psutil.Process(proc.pid)
        deadline = time.monotonic() + 120
        kernel = None
        while kernel is None and time.monotonic() < deadline:  # wait until b_loops' kernel runs
            kernel = next((p for p in grader.children(recursive=True)
                           if "course_utils.grading.kernel" in " ".join(p.cmdline())), None)
            time.sleep(0.3)
        assert kernel is not None, "no kernel was started"
        assert [r[0] for r in read_report(report)] == ["a_broken"], "rows go to disk as they are produced"
        descendants = grader.children(recursive=True)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    rows = by_student(read_report(report))
    assert set(rows) == {"a_broken", "b_loops", "c_never_started"}
    assert "interrupted" in rows["b_loops"]["*"][5] and "interrupted" in rows["c_never_started"]["*"][5]
    gone, alive = psutil.wait_procs(descendants, timeout=10)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    assert "Interrupted" in err


def test_grade_command_line(released, tmp_path, capsys):
    subs = tmp_path / "empty"
    subs.mkdir()
    key = str(released[1] / "hw1_autograd.json")
    assert grading.main(["grade", str(subs), "--key", key, "--out", str(tmp_path / "r.csv")]) == 1
    assert "No submission found" in capsys.readouterr().err
    assert read_report(tmp_path / "r.csv") == []
    for bad in (["--key", str(tmp_path / "missing.json")], ["--key", key, "-j", "0"],
                ["--key", key, "--cell-timeout", "0"]):
        assert grading.main(["grade", str(subs), *bad, "--out", str(tmp_path / "r.csv")]) == 2
        assert "error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        grading.main(["grade", str(subs)])  # --key and --out are required
