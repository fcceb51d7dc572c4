"""Exercises in the notebooks: the check a student runs after filling in an answer cell.

A notebook exercise is three cells that share ``metadata.exercise`` (an id):

* an **answer** cell (tag ``answer``): a placeholder (``...``, ``None`` or a stub function that raises
  ``NotImplementedError``) and the words *your answer*;
* a **check** cell (tag ``check``): ``check(title, answer, verify)``;
* a **solution** cell (tag ``solution``): a collapsed ``<details><summary>Solution</summary>`` markdown cell
  with the solution in one fenced ``python`` block and a sentence of why.

:func:`check` prints one line: ``not answered yet`` for a placeholder, ``✓ …`` for a right answer,
``✗ …`` with what to look at for a wrong one. It never raises -- Run All goes through a blank
notebook in a lecture -- unless the environment variable ``COURSE_STRICT_CHECKS=1`` is set; then a blank
or wrong answer raises ``AssertionError`` with the same line, which makes
``COURSE_STRICT_CHECKS=1 python -m pytest --nbval-lax --nbval-current-env notebooks/NN_….ipynb`` a whole
notebook's self-check.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from course_utils.i18n import tr

STRICT_ENV = "COURSE_STRICT_CHECKS"
NOT_ANSWERED = "not answered yet"  # (in English; check() writes its lines in the current language)
RIGHT, WRONG = "✓", "✗"
_MAX_ERROR_CHARS = 200


class Wrong(Exception):  # noqa: N818 - reads as the verdict in a check: raise Wrong("look at …")
    """Raised by a check's ``verify`` function: the answer is wrong; the message says what to look at."""


class NotAnswered(Exception):  # noqa: N818 - a verdict, like Wrong
    """Raised (or let through from a stub's ``NotImplementedError``) when a part is still a placeholder."""


def strict() -> bool:
    """True when checks raise instead of printing (``COURSE_STRICT_CHECKS=1``)."""
    return os.environ.get(STRICT_ENV, "").strip() not in ("", "0", "false", "False", "no")


def is_placeholder(value) -> bool:
    """``...`` or ``None``: an answer cell not filled in yet (a stub function is found when called)."""
    return value is ... or value is None


def _blank_parts(answer) -> list[str]:
    if isinstance(answer, dict):
        return [name for name, value in answer.items() if is_placeholder(value)]
    return ["answer"] if is_placeholder(answer) else []


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check(title: str, answer, verify: Callable, *, strict_mode: bool | None = None) -> str:
    """Check ``answer`` with ``verify(answer)``; print and return one line (see the module's docstring).

    ``answer``: the student's value, function, or a dict of named parts (each may be a placeholder).
    ``verify``: raises :class:`Wrong` with a hint when the answer is wrong; may return a short note
    that follows the ``✓``. A ``NotImplementedError`` from a stub means *not answered yet*; any other
    error raised while checking the student's code is reported as a wrong answer with its type and
    message. ``strict_mode`` overrides ``COURSE_STRICT_CHECKS``.
    """
    if not isinstance(title, str) or not title:
        raise TypeError(f"title={title!r}; allowed: a non-empty str naming the exercise")
    if not callable(verify):
        raise TypeError(f"verify={verify!r} is not callable; allowed: a function of the answer")
    blank = _blank_parts(answer)
    ok = None
    if blank and (not isinstance(answer, dict) or len(blank) == len(answer)):
        line = tr("{title}: not answered yet — fill in the cell marked 'your answer', run it, then run this "
                  "cell.", title=title)
    elif blank:
        line = tr("{title}: not answered yet — still a placeholder: {parts}.", title=title,
                  parts=", ".join(blank))
    else:
        try:
            note = verify(answer)
        except (NotImplementedError, NotAnswered):
            line = tr("{title}: not answered yet — your function still raises NotImplementedError "
                      "(replace the stub).", title=title)
        except Wrong as exc:
            line, ok = f"{WRONG} {title}: {exc}", False
        except Exception as exc:  # the student's code broke while being checked
            line, ok = tr("✗ {title}: your answer raised {error} — run it on a small input and read the "
                          "error.", title=title, error=_short(exc)), False
        else:
            line, ok = tr("✓ {title}: right.", title=title) + (f" {note}" if note else ""), True
    print(line)
    if not ok and (strict() if strict_mode is None else strict_mode):
        raise AssertionError(line)
    return line
