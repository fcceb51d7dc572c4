"""Feedback files (course_utils.grading.feedback): points, the check's words, a hint for the mistake made."""

from pathlib import Path

import pytest

from course_utils.grading import feedback

KEY = {"assignment": "hw2_losses", "total_points": 5}
ROWS = [
    ("ann", "hw2_ex2", "0", "2", "failed",
     "Exercise 2: alpha multiplies the samples with target 1 (alpha = 0.25 weights positives LESS than "
     "negatives)"),
    ("ann", "hw2_ex3", "0", "2", "failed",
     "Exercise 3: with K=4, eps=0.2 the true class gets 1 - 0.2 + 0.2/4 = 0.85 and the others 0.2/4 = 0.05."),
    ("ann", "hw2_ex5", "1", "1", "passed", "all checks passed"),
]


@pytest.mark.parametrize("exercise, reason, status, words", [
    ("hw1_ex2", "Exercise 2: ... (did you divide by the batch size N = 6?).", "failed", "Sum vs mean"),
    ("hw2_ex2", ROWS[0][5], "failed", "The wrong alpha side"),
    ("hw2_ex3", ROWS[1][5], "failed", "The epsilon convention"),
    ("hw2_ex5", "Exercise 5: must equal F.cross_entropy(weight=w); it divides by the sum of the targets' "
                "weights, not by N.", "failed", "not by N"),
    ("hw3_ex3", "Exercise 3: ... differs from CosineAnnealingLR (after t_max it climbs back up).", "failed",
     "Do not clamp the step at t_max"),
    ("hw1_ex1", "not answered yet: replace the '# YOUR CODE HERE' and 'raise NotImplementedError' lines",
     "error", "delete the raise line"),
    ("hw4_ex1", "tampered: while macro_f1() ran, it changed: numpy.testing.assert_allclose", "failed",
     "must run with the genuine functions"),
    ("hw9_ex9", "the check raised KeyError: 'x' (calling your code)", "error", "Compare your result"),
    ("hw1_ex1", "all checks passed", "passed", ""),
])
def test_hint_for_a_reason(exercise, reason, status, words):
    hint = feedback.hint_for(exercise, reason, status)
    assert (words in hint) if words else hint == ""


def test_a_students_file_lists_points_what_the_check_said_and_hints(tmp_path):
    rows = [*ROWS, ("zoe", "*", "0", "5", "error", "zoe.ipynb is not a valid notebook: JSON error")]
    paths = feedback.write_all(tmp_path / "fb", rows, KEY)
    assert [p.name for p in paths] == ["ann.md", "zoe.md"]
    text = (tmp_path / "fb" / "ann.md").read_text(encoding="utf-8")
    assert "**Total: 1 / 5 points**" in text
    assert "| hw2_ex2 | 0 / 2 | failed |" in text and "| hw2_ex5 | 1 / 1 | passed |" in text
    assert "## hw2_ex3: 0 / 2 points, failed" in text and "0.85 and the others" in text
    assert text.count("**Hint:**") == 2  # none for the passed exercise
    assert "could not be graded" in (tmp_path / "fb" / "zoe.md").read_text(encoding="utf-8")


def test_student_text_cannot_escape_its_block_or_the_folder(tmp_path):
    rows = [("../../etc/x<script>", "hw1_ex1", "0", "1", "error",
             "the check raised ValueError: ```\n# Title\n<img src=x onerror=alert(1)> (calling your code)")]
    (path,) = feedback.write_all(tmp_path, rows, {"assignment": "hw1_autograd", "total_points": 1})
    assert path.parent == tmp_path and path.name == "etc_x_script.md"
    text = path.read_text(encoding="utf-8")
    block = text.split("```text\n", 1)[1].split("\n```", 1)[0]
    assert "```" not in block and "<img" in block  # inside the code block, shown as text
    assert text.startswith("# hw1_autograd: feedback for .._.._etc_x_script_\n")


def test_file_names_do_not_collide(tmp_path):
    rows = [("a b", "*", "0", "1", "error", "x"), ("a_b", "*", "0", "1", "error", "y")]
    names = [p.name for p in feedback.write_all(tmp_path, rows, {"assignment": "hw", "total_points": 1})]
    assert len(set(names)) == 2 and all(Path(tmp_path, n).exists() for n in names)
