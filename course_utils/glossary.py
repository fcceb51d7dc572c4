"""The course's glossary (``glossary.toml``): one Korean term per concept, and notebook 00's table of it.

``python -m course_utils.glossary`` prints the table; notebook 00's glossary cell holds exactly the English
table and the Korean edition the Korean one (tests check both), so the terms live in one place.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

GLOSSARY = Path(__file__).with_name("glossary.toml")
_HEADERS = {
    "en": ("| 한국어 | English | where | other books say |", "|---|---|---|---|"),
    "ko": ("| 용어 | English | 노트북 | 다른 책의 번역 |", "|---|---|---|---|"),
}


@dataclass(frozen=True)
class Term:
    """One glossary row."""

    ko: str
    en: str
    where: str
    avoid: tuple[str, ...] = field(default=())
    note: str = ""


@lru_cache(maxsize=1)
def terms() -> tuple[Term, ...]:
    """Every term of ``glossary.toml``, in its order."""
    rows = tomllib.loads(GLOSSARY.read_text(encoding="utf-8"))["term"]
    return tuple(Term(r["ko"], r["en"], r["where"], tuple(r.get("avoid", ())), r.get("note", ""))
                 for r in rows)


def table(lang: str = "en") -> str:
    """The glossary as a Markdown table, headed in ``lang`` ("en" or "ko")."""
    if lang not in _HEADERS:
        raise ValueError(f"lang must be one of {sorted(_HEADERS)}; got {lang!r}")
    lines = list(_HEADERS[lang])
    for t in terms():
        lines.append(f"| {t.ko} | {t.en} | {t.where} | {', '.join(t.avoid)} |")
    return "\n".join(lines)


def sync_notebook(path: Path) -> bool:
    """Replace the glossary table in notebook ``path`` (the block that starts with the English header)
    by :func:`table`; True when the notebook changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    header = _HEADERS["en"][0]
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and header in cell.source:
            start = cell.source.index(header)
            end = cell.source.find("\n\n", start)
            end = len(cell.source) if end < 0 else end
            new = cell.source[:start] + table("en") + cell.source[end:]
            changed, cell.source = new != cell.source, new
    if changed:
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return changed


if __name__ == "__main__":
    print(table())
