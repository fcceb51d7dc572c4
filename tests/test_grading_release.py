"""Release and assembling (course_utils.grading.release, submission): no kernel is started here.

Every fixture is generated from the real homework in ``homework/source`` into temporary folders; the keys are
regenerated there too (they are never committed).
"""

import json
from pathlib import Path

import pytest

from course_utils import grading

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "homework" / "source"
RELEASE = ROOT / "homework" / "release"
NAMES = sorted(p.stem for p in SOURCE.glob("*.ipynb"))


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


def release_into(base):
    """Release every instructor notebook under ``base``; (student notebooks dir, keys dir)."""
    grading.release(SOURCE, base / "release", base / "keys")
    return base / "release", base / "keys"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return release_into(tmp_path_factory.mktemp("released"))


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
