"""The exercises of every notebook, proved from outside the notebooks.

For each notebook under ``notebooks/`` (English edition):

* **form**: every exercise is an ``answer`` cell (a placeholder and the words *your answer*), a ``check`` cell
  and a ``solution`` cell (a collapsed ``<details>`` markdown cell with one fenced ``python`` block), sharing
  ``metadata.exercise``; each content notebook (01 and later) has at least three;
* **blank**: run as shipped, every check prints ``not answered yet`` and nothing fails;
* **solved**: with every solution put into its answer cell, every check prints a line starting ``✓``;
* **wrong**: with each plausible mistake listed in ``tests/exercise_mistakes/<notebook>.json`` put in (the
  other answers solved), its check prints a ``✗`` line that contains the expected hint; every exercise has
  at least one such mistake;
* **strict**: under ``COURSE_STRICT_CHECKS=1`` the blank notebook stops at its first check with an
  ``AssertionError`` naming the exercise.

Each variant is one run of the whole notebook in a fresh kernel (nbclient).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils.exercises import NOT_ANSWERED, STRICT_ENV

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CONTENT = [p for p in NOTEBOOKS if not p.name.startswith("00")]
MISTAKES_DIR = Path(__file__).resolve().parent / "exercise_mistakes"
PLACEHOLDER = re.compile(r"(=\s*\.\.\.|=\s*None\b|raise NotImplementedError|^\s*\.\.\.\s*$)", re.M)
SOLUTION_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
CELL_TIMEOUT = 120


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def exercises(nb) -> dict[str, dict[str, int]]:
    """exercise id -> {"answer": i, "check": j, "solution": k} (cell indices)."""
    found: dict[str, dict[str, int]] = {}
    for i, cell in enumerate(nb["cells"]):
        tags = set(cell.get("metadata", {}).get("tags", []))
        role = tags & {"answer", "check", "solution"}
        if role:
            ident = cell["metadata"].get("exercise")
            assert ident, f"cell {i} is tagged {sorted(role)} but has no metadata.exercise"
            found.setdefault(ident, {})[role.pop()] = i
    return found


def solution_code(cell) -> str:
    blocks = SOLUTION_BLOCK.findall(_source(cell))
    assert len(blocks) == 1, f"a solution cell holds {len(blocks)} python blocks; allowed: exactly one"
    return blocks[0]


def mistakes(path: Path) -> dict[str, list[dict]]:
    file = MISTAKES_DIR / f"{path.stem}.json"
    return json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}


def run(path: Path, replace: dict[int, str] | None = None, *, env: dict | None = None,
        allow_errors: bool = True):
    """Run the notebook (with cell sources replaced) in a fresh kernel; return the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    for index, source in (replace or {}).items():
        nb.cells[index].source = source
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=allow_errors,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def errors_of(nb) -> list[str]:
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue', '')[:300]}" for i, c in enumerate(nb.cells)
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def check_lines(nb, index: int) -> list[str]:
    return [ln for ln in text_of(nb.cells[index]).splitlines() if ln.strip()]


# ---------------------------------------------------------------------------------------------
# form
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_the_course_form(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = exercises(nb)
    if path in CONTENT:
        assert len(found) >= 3, f"{path.name} has {len(found)} exercises; every content notebook needs >= 3"
    for ident, roles in found.items():
        assert set(roles) == {"answer", "check", "solution"}, f"{ident}: has {sorted(roles)}"
        assert roles["answer"] < roles["check"] < roles["solution"], f"{ident}: cells out of order"
        answer, check, solution = (nb["cells"][roles[r]] for r in ("answer", "check", "solution"))
        assert answer["cell_type"] == check["cell_type"] == "code"
        assert "your answer" in _source(answer).lower(), f"{ident}: the answer cell must say 'your answer'"
        assert PLACEHOLDER.search(_source(answer)), f"{ident}: the answer cell holds no placeholder"
        assert "check(" in _source(check), f"{ident}: the check cell does not call check(...)"
        assert solution["cell_type"] == "markdown"
        text = _source(solution)
        assert text.lstrip().startswith("<details>") and "<summary>Solution</summary>" in text
        assert text.rstrip().endswith("</details>")
        solution_code(solution)
        prose = SOLUTION_BLOCK.sub("", text).replace("<details>", "").replace("</details>", "")
        assert len(prose.replace("<summary>Solution</summary>", "").split()) >= 6, \
            f"{ident}: the solution needs a sentence of why"


@pytest.mark.parametrize("path", CONTENT, ids=lambda p: p.stem)
def test_every_exercise_has_a_listed_mistake(path):
    found = exercises(json.loads(path.read_text(encoding="utf-8")))
    listed = mistakes(path)
    assert set(listed) <= set(found), f"mistakes for unknown exercises: {set(listed) - set(found)}"
    missing = sorted(set(found) - {k for k, v in listed.items() if v})
    assert not missing, f"no plausible wrong answer for {missing} in exercise_mistakes/{path.stem}.json"


# ---------------------------------------------------------------------------------------------
# behaviour: blank, solved, wrong, strict
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", CONTENT, ids=lambda p: p.stem)
def test_blank_notebook_says_not_answered_for_every_exercise(path):
    nb = run(path)
    assert not errors_of(nb), errors_of(nb)
    for ident, roles in exercises(nb).items():
        lines = check_lines(nb, roles["check"])
        assert any(NOT_ANSWERED in ln for ln in lines), f"{ident}: the blank check printed {lines}"
        assert not any(ln.startswith(("✓", "✗")) for ln in lines), f"{ident}: {lines}"


@pytest.mark.parametrize("path", CONTENT, ids=lambda p: p.stem)
def test_solutions_pass_every_check(path):
    found = exercises(json.loads(path.read_text(encoding="utf-8")))
    source = nbformat.read(path, as_version=4)
    nb = run(path, {r["answer"]: solution_code(source.cells[r["solution"]]) for r in found.values()})
    assert not errors_of(nb), errors_of(nb)
    for ident, roles in found.items():
        lines = check_lines(nb, roles["check"])
        assert any(ln.startswith("✓") for ln in lines), f"{ident}: with its solution, the check said {lines}"


@pytest.mark.parametrize("path", CONTENT, ids=lambda p: p.stem)
def test_plausible_mistakes_get_an_actionable_cross(path):
    found = exercises(json.loads(path.read_text(encoding="utf-8")))
    source = nbformat.read(path, as_version=4)
    solved = {r["answer"]: solution_code(source.cells[r["solution"]]) for r in found.values()}
    listed = mistakes(path)
    for k in range(max((len(v) for v in listed.values()), default=0)):
        variant = {ident: v[k] for ident, v in listed.items() if len(v) > k}
        replace = dict(solved)
        replace.update({found[ident]["answer"]: m["answer"] for ident, m in variant.items()})
        nb = run(path, replace)
        for ident, mistake in variant.items():
            lines = check_lines(nb, found[ident]["check"])
            crosses = [ln for ln in lines if ln.startswith("✗")]
            assert crosses, f"{ident}: the mistake {mistake['answer']!r} was not caught: {lines}"
            assert mistake["expect"] in crosses[0], \
                f"{ident}: expected the hint {mistake['expect']!r} in {crosses[0]!r}"
            assert len(crosses[0]) > len(f"✗ {ident}: ") + 20, f"{ident}: the ✗ line says too little"


@pytest.mark.parametrize("path", CONTENT, ids=lambda p: p.stem)
def test_strict_mode_stops_at_the_first_blank_check(path):
    found = exercises(json.loads(path.read_text(encoding="utf-8")))
    first = min(r["check"] for r in found.values())
    with pytest.raises(CellExecutionError) as failure:
        run(path, env={STRICT_ENV: "1"}, allow_errors=False)
    message = str(failure.value)
    assert "AssertionError" in message and NOT_ANSWERED in message
    first_check = _source(nbformat.read(path, as_version=4).cells[first]).strip()
    assert first_check[:60] in message, "strict mode should stop at the first check cell"
