"""The course's language: English (the default) or Korean, for every string the course shows.

``set_language("ko")`` (the Korean notebooks' first code cell) or the environment variable
``COURSE_LANG=ko`` switches widget labels and readouts, plot titles and labels, the exercise checks'
messages and the grader's feedback to Korean. :func:`tr` looks a course string up in the gettext catalogs
under ``course_utils/locale/<language>/`` (one ``.po`` file per module, read with ``polib``); a string
without a reviewed translation stays English.

The catalogs are kept in step with the code by ``python -m course_utils.translation update``; a test
fails while a string in the code has no reviewed Korean entry.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

LANGUAGES = ("en", "ko")
LOCALE_DIR = Path(__file__).parent / "locale"
_language: str | None = None
_env_font = False


def _check_language(lang, where: str) -> str:
    if not isinstance(lang, str):
        raise TypeError(f"{where} must be a string, one of {LANGUAGES}; got {type(lang).__name__} {lang!r}")
    if lang not in LANGUAGES:
        raise ValueError(f"{where} must be one of {LANGUAGES}; got {lang!r}")
    return lang


def set_language(lang: str = "en") -> None:
    """Show the course's strings in ``lang`` (``"en"`` or ``"ko"``) from now on in this kernel; for
    Korean, matplotlib also gets the installed Hangul font as a fallback."""
    global _language
    _language = _check_language(lang, "lang")
    if lang == "ko":
        use_hangul_font()


def use_hangul_font() -> str | None:
    """Add the installed Hangul font (:data:`course_utils.plotting.HANGUL_FONTS`) to matplotlib's
    ``font.family`` after its first family; return its name (``None`` if none is installed)."""
    import matplotlib as mpl

    from course_utils.plotting import hangul_font

    name = hangul_font()
    families = list(mpl.rcParams["font.family"])
    if name and name not in families:
        mpl.rcParams["font.family"] = [*families, name]
    return name


def get_language() -> str:
    """The current language: the last :func:`set_language`, else ``$COURSE_LANG``, else ``"en"``."""
    global _env_font
    if _language is not None:
        return _language
    env = os.environ.get("COURSE_LANG", "").strip()
    lang = _check_language(env, "the environment variable COURSE_LANG") if env else "en"
    if lang == "ko" and not _env_font:  # Korean from the environment: plots need the Hangul font too
        _env_font = True
        use_hangul_font()
    return lang


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every reviewed translation of ``lang``'s course catalogs: English text -> translation."""
    import polib  # only when a translation is asked for

    table: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / lang).glob("*.po")):
        for entry in polib.pofile(str(path)):
            if entry.msgstr and not entry.fuzzy and not entry.obsolete:
                table[entry.msgid] = entry.msgstr
    return table


def N_(text: str, /) -> str:  # noqa: N802 - gettext's name for "mark for translation, translate later"
    """``text`` itself: marks a literal kept in a table for translation; :func:`tr` translates it at use."""
    return text


def tr(text: str, /, **fields) -> str:
    """``text`` in the current language, then ``.format(**fields)`` when fields are given."""
    lang = get_language()
    if lang != "en":
        text = catalog(lang).get(text, text)
    return text.format(**fields) if fields else text
