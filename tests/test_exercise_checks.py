"""course_utils.exercises.check: the three verdicts, strict mode, and what a broken answer prints."""

import pytest

from course_utils.exercises import NOT_ANSWERED, STRICT_ENV, Wrong, check


def _square_verify(f):
    for x in (0, 2, -3):
        if f(x) != x * x:
            raise Wrong(f"f({x}) should be the square of {x}")
    return "x² for every x tried."


def test_placeholders_are_not_answered(capsys):
    for blank in (..., None, {"a": ..., "b": None}):
        line = check("Ex 1", blank, _square_verify, strict_mode=False)
        assert NOT_ANSWERED in line and not line.startswith(("✓", "✗"))
    assert capsys.readouterr().out.count(NOT_ANSWERED) == 3


def test_a_stub_that_raises_not_implemented_is_not_answered():
    def stub(x):
        raise NotImplementedError

    assert NOT_ANSWERED in check("Ex 1", stub, _square_verify, strict_mode=False)


def test_a_partly_filled_answer_names_the_missing_part():
    line = check("Ex 2", {"a": 1, "b": ...}, lambda answer: None, strict_mode=False)
    assert NOT_ANSWERED in line and line.endswith("b.")


def test_right_and_wrong_answers():
    right = check("Ex 1", lambda x: x * x, _square_verify, strict_mode=False)
    assert right == "✓ Ex 1: right. x² for every x tried."
    wrong = check("Ex 1", lambda x: 2 * x, _square_verify, strict_mode=False)
    assert wrong == "✗ Ex 1: f(-3) should be the square of -3"


def test_an_answer_that_crashes_is_wrong_with_its_error_in_one_bounded_line():
    line = check("Ex 1", lambda x: [][x] + "y" * 10_000, _square_verify, strict_mode=False)
    assert line.startswith("✗ Ex 1: your answer raised IndexError: list index out of range")
    long = check("Ex 1", lambda x: (_ for _ in ()).throw(ValueError("z" * 10_000)), _square_verify,
                 strict_mode=False)
    assert len(long) < 400 and "\n" not in long


@pytest.mark.parametrize("value", ["1", "true"])
def test_strict_mode_from_the_environment_raises_the_same_line(monkeypatch, value):
    monkeypatch.setenv(STRICT_ENV, value)
    with pytest.raises(AssertionError, match="^✗ Ex 1: f"):
        check("Ex 1", lambda x: 2 * x, _square_verify)
    with pytest.raises(AssertionError, match=f"Ex 1: {NOT_ANSWERED}"):
        check("Ex 1", ..., _square_verify)
    assert check("Ex 1", lambda x: x * x, _square_verify).startswith("✓")  # right answers never raise


def test_strict_off_by_default_and_for_zero(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    assert check("Ex 1", ..., _square_verify).endswith("run this cell.")
    monkeypatch.setenv(STRICT_ENV, "0")
    assert check("Ex 1", lambda x: 0, _square_verify).startswith("✗")


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="title=''"):
        check("", 1, _square_verify)
    with pytest.raises(TypeError, match="verify=3"):
        check("Ex", 1, 3)
