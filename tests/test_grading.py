"""The homework loop: release, student self-check and tamper-resistant grading (course_utils.grading).

Every fixture is generated from the real homework in ``homework/source`` into temporary folders; the keys are
regenerated there too (they are never committed). Runs that start kernels use ``-j 2`` and short timeouts.
"""

import copy
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from course_utils import grading

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "homework" / "source"
RELEASE = ROOT / "homework" / "release"
NAMES = sorted(p.stem for p in SOURCE.glob("*.ipynb"))
CELL_TIMEOUT = 8.0
OPTS = grading.Options(cell_timeout=CELL_TIMEOUT, notebook_timeout=150, mem_limit_mb=3072)


# ----------------------------------------------------------------------------------------- helpers

def load(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save(nb, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def cell(nb, grade_id):
    """The cell of ``nb`` with this nbgrader grade_id."""
    return next(c for c in nb["cells"]
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def source(c):
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def drop(nb, grade_id):
    nb["cells"].remove(cell(nb, grade_id))


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
    """Release every instructor notebook into a temporary folder; (student notebooks dir, keys dir)."""
    base = tmp_path_factory.mktemp("released")
    grading.release(SOURCE, base / "release", base / "keys")
    return base / "release", base / "keys"


# ----------------------------------------------------------------------------------------- release

def test_there_are_four_homeworks_with_three_to_five_exercises():
    assert len(NAMES) >= 4
    for name in NAMES:
        nb = load(SOURCE / f"{name}.ipynb")
        checks = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
        assert 3 <= len(checks) <= 5, name
        for c in checks:
            meta = c["metadata"]["nbgrader"]
            assert meta["locked"] is True and meta["grade"] is True
            assert meta["points"] > 0 and meta["grade_id"]
            assert grading.HIDDEN_BEGIN in source(c), f"{name}: check {meta['grade_id']} has no hidden tests"
        answers = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
        assert len(answers) == len(checks)
        assert all(grading.SOLUTION_BEGIN in source(c) for c in answers)


def test_committed_release_is_what_release_writes(released):
    release_dir, _ = released
    fresh = sorted(p.name for p in release_dir.glob("*.ipynb"))
    committed = sorted(p.name for p in RELEASE.glob("*.ipynb"))
    assert committed == fresh, "homework/release is out of date: run the release command (homework/README.md)"
    for name in fresh:
        assert (RELEASE / name).read_bytes() == (release_dir / name).read_bytes(), (
            f"homework/release/{name} differs from a fresh release of homework/source: release again")


def test_release_hides_solutions_and_hidden_tests_and_keeps_them_in_the_key(released):
    release_dir, keys_dir = released
    for name in NAMES:
        src, rel, key = load(SOURCE / f"{name}.ipynb"), load(release_dir / f"{name}.ipynb"), load(
            keys_dir / f"{name}.json")
        text = json.dumps(rel)
        for marker in (grading.SOLUTION_BEGIN, grading.HIDDEN_BEGIN, "(hidden test)"):
            assert marker not in text, f"{name}: {marker!r} leaked into the release"
        assert rel["metadata"]["course_homework"] == {"assignment": name}
        for c_src, c_rel in zip(src["cells"], rel["cells"], strict=True):
            assert c_rel.get("id") == c_src.get("id")
            meta = c_src.get("metadata", {}).get("nbgrader", {})
            if c_rel["cell_type"] == "code":
                assert c_rel["outputs"] == [] and c_rel["execution_count"] is None
            if meta.get("solution"):
                solution = source(c_src).split(grading.SOLUTION_BEGIN)[1].split(grading.SOLUTION_END)[0]
                body = [ln.strip() for ln in solution.splitlines() if ln.strip()]
                assert "# YOUR CODE HERE" in source(c_rel) and "raise NotImplementedError" in source(c_rel)
                assert not any(ln in source(c_rel) for ln in body if len(ln) > 12), "solution line leaked"
            if meta.get("grade"):
                assert c_rel["metadata"]["editable"] is False and c_rel["metadata"]["deletable"] is False
                assert c_rel["metadata"]["nbgrader"] == meta
                kc = next(k for k in key["cells"] if k["grade_id"] == meta["grade_id"])
                assert kc["source"] == source(c_src) and kc["points"] == meta["points"]
                assert source(c_rel) in kc["source"] and len(kc["source"]) > len(source(c_rel))
        assert key["total_points"] == sum(c["metadata"]["nbgrader"].get("points", 0) for c in src["cells"]
                                          if c.get("metadata", {}).get("nbgrader", {}).get("grade"))
        grading.load_key(keys_dir / f"{name}.json")  # hashes verify


def test_release_is_deterministic_and_refuses_keys_inside_the_release(tmp_path):
    grading.release(SOURCE, tmp_path / "a", tmp_path / "ka")
    grading.release(SOURCE, tmp_path / "b", tmp_path / "kb")
    for name in NAMES:
        for folder_a, folder_b, ext in (("a", "b", "ipynb"), ("ka", "kb", "json")):
            assert (tmp_path / folder_a / f"{name}.{ext}").read_bytes() == (
                tmp_path / folder_b / f"{name}.{ext}").read_bytes()
    with pytest.raises(ValueError, match="inside OUT_DIR"):
        grading.release(SOURCE, tmp_path / "pub", tmp_path / "pub" / "keys")


def test_replace_regions_keeps_indentation_and_rejects_unbalanced_markers():
    src = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assert grading.replace_regions(src, grading.SOLUTION_BEGIN, grading.SOLUTION_END, ["raise X"],
                                   where="t") == "def f():\n    raise X\n"
    hidden = "a\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS\nc"
    stripped = grading.replace_regions(hidden, grading.HIDDEN_BEGIN, grading.HIDDEN_END, None, where="t")
    assert stripped == "a\nc"
    with pytest.raises(ValueError, match="never closed"):
        grading.replace_regions("### BEGIN SOLUTION\nx", grading.SOLUTION_BEGIN, grading.SOLUTION_END, [],
                                where="t")
    with pytest.raises(ValueError, match="without a matching"):
        grading.replace_regions("x\n### END SOLUTION", grading.SOLUTION_BEGIN, grading.SOLUTION_END, [],
                                where="t")


def test_release_refuses_a_solution_outside_an_answer_cell(tmp_path):
    nb = load(SOURCE / "hw1_autograd.ipynb")
    cell(nb, "hw1_setup")["source"] = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    save(nb, tmp_path / "src" / "hw1_autograd.ipynb")
    with pytest.raises(ValueError, match="would be published"):
        grading.release(tmp_path / "src", tmp_path / "out", tmp_path / "keys")
    assert not (tmp_path / "out").exists(), "nothing may be written when a notebook is refused"


def test_load_key_detects_an_edited_key(released, tmp_path):
    key = load(released[1] / "hw1_autograd.json")
    key["cells"][2]["source"] = "pass"
    save(key, tmp_path / "k.json")
    with pytest.raises(grading.GradingKeyError, match="edited after release"):
        grading.load_key(tmp_path / "k.json")
    with pytest.raises(grading.GradingKeyError, match="not a grading key"):
        grading.load_key(save({"cells": []}, tmp_path / "other.json"))


# ----------------------------------------------------------------------------------------- assembling

def test_assemble_restores_edited_deleted_and_reordered_check_cells(released):
    release_dir, keys_dir = released
    key = grading.load_key(keys_dir / "hw1_autograd.json")
    nb = load(release_dir / "hw1_autograd.ipynb")
    cell(nb, "hw1_ex1")["source"] = "pass  # edited check"
    drop(nb, "hw1_ex2")
    ex4 = cell(nb, "hw1_ex4")
    nb["cells"].remove(ex4)
    nb["cells"].insert(0, ex4)  # moved to the top
    answer = cell(nb, "hw1_ex3_answer")
    answer["source"] = "# NBVAL_SKIP\n#NBVAL_RAISES_EXCEPTION\n" + source(answer)
    answer["metadata"] = {"tags": ["nbval-skip", "raises-exception"]}  # grade_id lost: found by its def line
    answer["id"] = "renamed"
    scratch = {"cell_type": "code", "source": "helper = 42  # NBVAL_SKIP stays: not a marker line",
               "metadata": {"tags": ["nbval-skip"]}, "outputs": [], "execution_count": None}
    nb["cells"].insert(nb["cells"].index(answer) + 1, scratch)
    cells, meta = grading.load_submission(save(nb, released[0].parent / "assemble.ipynb"))
    plan = grading.assemble(cells, meta, key)

    kinds = [(c.kind, c.grade_id) for c in plan.cells]
    key_order = [(k["role"], k["grade_id"]) for k in key["cells"]]
    assert [k for k in kinds if k[0] != "extra"] == key_order, "key cells in the key's order, each once"
    for planned in plan.cells:
        if planned.kind in ("check", "locked"):
            kc = next(k for k in key["cells"] if k["grade_id"] == planned.grade_id)
            assert planned.source == kc["source"], "locked cells come from the key, hidden tests included"
    ex3 = [c for c in plan.cells if c.grade_id == "hw1_ex3_answer"]
    assert len(ex3) == 1 and "NBVAL" not in ex3[0].source and "def mlp_backward" in ex3[0].source
    extra = [c for c in plan.cells if c.kind == "extra"]
    assert [c.source for c in extra] == [scratch["source"]] and extra[0].exercise == "hw1_ex3"
    assert plan.cells.index(extra[0]) == plan.cells.index(ex3[0]) + 1
    assert "pass  # edited check" not in [c.source for c in plan.cells]
    assert not plan.missing_answers


def test_strip_nbval_markers():
    src = ("# NBVAL_SKIP\nx = 1\n  ##   nbval_raises_exception\n# PYTEST_VALIDATE_IGNORE_OUTPUT\n"
           "y = '# NBVAL_SKIP'")
    assert grading.strip_nbval_markers(src) == "x = 1\ny = '# NBVAL_SKIP'"


@pytest.mark.parametrize("content, match", [
    (b"", "is empty"),
    (b"{not json", "not a valid notebook: JSON error"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b'{"metadata": {}}', "not a Jupyter notebook"),
    (b'{"cells": [], "nbformat": 3}', "nbformat 3"),
])
def test_load_submission_rejects_unreadable_files(tmp_path, content, match):
    path = tmp_path / "s.ipynb"
    path.write_bytes(content)
    with pytest.raises(grading.SubmissionError, match=match):
        grading.load_submission(path)


def test_assemble_rejects_another_assignment(released):
    key = grading.load_key(released[1] / "hw1_autograd.json")
    cells, meta = grading.load_submission(released[0] / "hw2_losses.ipynb")
    with pytest.raises(grading.SubmissionError, match="'hw2_losses', not 'hw1_autograd'"):
        grading.assemble(cells, meta, key)
    with pytest.raises(grading.SubmissionError, match="none of the cells"):
        grading.assemble(cells, {}, key)  # metadata stripped: no cell matches either


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
def hw1_run(released, tmp_path_factory):
    """Grade the hw1 class once with -j 2; (rows by student, report path, submissions folder, seconds)."""
    base = tmp_path_factory.mktemp("hw1")
    subs = submissions_hw1(released[0], base)
    before = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    start = time.monotonic()
    rows = grading.grade(subs, released[1] / "hw1_autograd.json", base / "report.csv", jobs=2, opts=OPTS,
                         summary_path=base / "summary.txt")
    seconds = time.monotonic() - start
    assert {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()} == before, "a submission was modified"
    assert sorted(read_report(base / "report.csv")) == sorted(list(r) for r in rows)
    return by_student(rows), base, seconds


EXERCISES = ["hw1_ex1", "hw1_ex2", "hw1_ex3", "hw1_ex4"]


def test_every_student_gets_a_row_per_exercise_with_allowed_values(hw1_run):
    students, _, _ = hw1_run
    assert set(students) == {"solution", "blank", "tampered", "mixed", "reordered", "loops", "crashes",
                             "malformed", "truncated", "other_assignment", "empty_folder", "two_notebooks",
                             "notes"}
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
    students, _, seconds = hw1_run
    loops = students["loops"]
    assert loops["hw1_ex1"][4] == "error" and "sys.exit()" in loops["hw1_ex1"][5]
    assert loops["hw1_ex2"][4] == "timeout" and "ran longer than 8 s" in loops["hw1_ex2"][5]
    assert loops["hw1_ex3"][4] == "error" and "out of memory (limit 3072 MB)" in loops["hw1_ex3"][5]
    assert loops["hw1_ex4"][4] == "passed"
    assert seconds < OPTS.notebook_timeout * 2, "the loops held up the run"


def test_a_lost_kernel_costs_only_its_exercise(hw1_run):
    crashes = hw1_run[0]["crashes"]
    assert crashes["hw1_ex1"][4] == "passed"
    assert crashes["hw1_ex2"][4] == "error" and "kernel died while the check called" in crashes["hw1_ex2"][5]
    assert crashes["hw1_ex3"][4] == "timeout" and "your answer cell" in crashes["hw1_ex3"][5]
    assert crashes["hw1_ex4"][4] == "error" and "kernel died while running your cell" in crashes["hw1_ex4"][5]


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
def other_runs(released, tmp_path_factory):
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


def test_notebook_timeout_stops_a_submission(released, tmp_path):
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


def test_interrupted_run_keeps_the_rows_and_kills_the_kernels(released, tmp_path):
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
                           if "ipykernel" in " ".join(p.cmdline())), None)
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
