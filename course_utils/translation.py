"""The Korean edition: English notebooks + gettext catalogs -> Korean notebooks, never out of date.

The English notebooks are the source. Each has one catalog, ``<folder>/locale/ko/<name>.po``, whose entries
are its *segments*: every markdown block (a paragraph, a list, a table, a fenced block), every comment a
student reads in a code cell, and every display string in a code cell (a string literal with words in it).
An entry's ``msgctxt`` is the cell's id, its ``msgid`` the English text, its ``msgstr`` the Korean.
The course's own strings (``tr("...")`` in ``course_utils``) have one catalog per module in
``course_utils/locale/ko/``.

Commands (run from the repository root)::

    python -m course_utils.translation update   # catalogs <- English (new text: empty or fuzzy entry)
    python -m course_utils.translation build    # Korean notebooks <- English + catalogs
    python -m course_utils.translation check    # what is missing or stale, cell by cell

``update`` works like gettext's ``msgmerge``: an entry whose English changed keeps its old Korean, marked
``fuzzy`` with the previous English (``#| msgid``) so that a translator (Poedit, Lokalize, a text editor)
sees what changed. ``build`` refuses missing and fuzzy entries; ``check`` lists them by notebook and cell.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils import glossary

ROOT = Path(__file__).resolve().parent.parent
LANG = "ko"
#: (English folder, Korean folder, catalog folder) of every translated set of notebooks.
EDITIONS = (
    ("notebooks", "notebooks/ko", "notebooks/locale/ko"),
    ("homework/source", "homework/source/ko", "homework/locale/ko"),
)
COURSE_CATALOGS = "course_utils/locale/ko"

#: The cell the build puts before a Korean notebook's first code cell.
LANGUAGE_CELL_ID = "course-language"
LANGUAGE_CELL = ('from course_utils.i18n import set_language\n\n'
                 'set_language("ko")  # 그림, 위젯, 확인 메시지를 한국어로 보여 줍니다')

#: String literals in notebook code that are values, not text for a reader (legend positions...).
CODE_STRINGS = {"lower left", "lower right", "upper left", "upper right", "upper center", "lower center",
                "center left", "center right", "best", "center"}
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Segment:
    """One translatable piece of a notebook: ``kind`` is markdown, comment or string."""

    cell: str
    kind: str
    text: str


# ---------------------------------------------------------------- segments of a notebook

def markdown_blocks(source: str) -> list[tuple[str, bool]]:
    """``source`` cut into (text, translatable) pieces: blocks separated by blank lines (a fenced code
    block or a ``$$`` block is one block); separators are the untranslatable pieces between them."""
    lines = source.split("\n")
    pieces: list[tuple[str, bool]] = []
    block: list[str] = []
    fence = None
    for line in lines:
        stripped = line.strip()
        if fence is None and stripped == "" and not _open_math(block):
            if block:
                pieces.append(("\n".join(block), True))
                block = []
            pieces.append(("", False))
            continue
        if fence is None and (stripped.startswith("```") or stripped.startswith("~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        block.append(line)
    if block:
        pieces.append(("\n".join(block), True))
    return pieces


def _open_math(block: list[str]) -> bool:
    return sum(line.count("$$") for line in block) % 2 == 1


def _masked(source: str) -> str:
    """Code with IPython's ``%magic`` / ``!shell`` lines blanked, so that ``tokenize`` reads it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def code_tokens(source: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(_masked(source)).readline))


def comment_text(token: str) -> str:
    return token[1:].strip()


_MARKER = re.compile(r"^#(#|\s*(noqa|type:|pragma|NBVAL_|YOUR CODE HERE))")


def is_reader_comment(token: str) -> bool:
    """A comment a student reads: words, not a marker (``### BEGIN SOLUTION``, ``# noqa``, ``# NBVAL_``)."""
    return bool(_LATIN.search(token)) and not _MARKER.match(token)


#: Calls whose string arguments a reader sees, even a single word (an axis label "epoch"), and the
#: keyword arguments that hold text for a reader (``ax.set(xlabel="step")``, ``label="loss"``).
DISPLAY_CALLS = {"print", "set_xlabel", "set_ylabel", "set_title", "suptitle", "text", "annotate", "xlabel",
                 "ylabel", "title", "check", "Markdown", "HTML", "set_xticklabels", "set_yticklabels",
                 "legend", "Wrong"}
DISPLAY_KEYWORDS = {"label", "title", "xlabel", "ylabel", "description"}


def _literal_text(token: str) -> str:
    """A string literal's text, with an f-string's {fields} removed."""
    prefix = re.match(r"^[A-Za-z]*", token).group(0)
    body = token[len(prefix):].strip("'\"")
    return re.sub(r"\{[^{}]*\}", " ", body) if "f" in prefix.lower() else body


def is_display_string(token: str, shown_by_call: bool = False) -> bool:
    """A string literal a reader sees: words with a space between them, or a word passed to a display
    call (``set_xlabel("epoch")``, ``label="loss"``); never bytes or a code value."""
    if re.match(r"^[rR]?[bB]", token):
        return False
    text = _literal_text(token)
    if text.strip() in CODE_STRINGS:
        return False
    words = re.findall(r"[A-Za-z]{2,}", text)
    if len(words) >= 2 and re.search(r"\S\s+\S", text.strip()):
        return True
    return shown_by_call and bool(words)


def string_groups(tokens) -> list[tuple[list, bool]]:
    """The code's string literals, adjacent ones (implicit concatenation) as one group: (tokens, is
    display). A group is display text when any literal in it is (:func:`is_display_string`), each judged
    with what it is passed to: the innermost open call, or the keyword before it."""
    stack: list[str | None] = []
    groups: list[tuple[list, bool]] = []
    prev: list[str] = []
    current: list = []
    current_shown = False
    for tok in tokens:
        if tok.type in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            continue
        if tok.type == tokenize.STRING:
            keyword = prev[-2] if len(prev) >= 2 and prev[-1] == "=" else None
            top = stack[-1] if stack else None
            outer = stack[-2] if len(stack) >= 2 else None
            call = top if top not in ("[", "{", None) else (outer if top == "[" else None)
            by_call = keyword in DISPLAY_KEYWORDS if keyword is not None else call in DISPLAY_CALLS
            current.append(tok)
            current_shown = current_shown or (top != "sub" and is_display_string(tok.string, by_call))
            prev.append(tok.string)
            continue
        if current:
            groups.append((current, current_shown))
            current, current_shown = [], False
        if tok.type == tokenize.OP and tok.string in "([{":
            after_value = bool(prev) and (prev[-1].isidentifier() or prev[-1] in (")", "]"))
            if tok.string == "(":
                stack.append(prev[-1] if after_value and prev[-1].isidentifier() else None)
            else:  # a subscript x["key"] is never display text; a list or dict literal may be
                stack.append("sub" if tok.string == "[" and after_value else tok.string)
        elif tok.type == tokenize.OP and tok.string in ")]}" and stack:
            stack.pop()
        prev.append(tok.string)
    if current:
        groups.append((current, current_shown))
    return groups


def _group_text(source: str, group) -> str:
    """The source text of a group of string literals, from the first's start to the last's end."""
    lines = source.split("\n")
    (r0, c0), (r1, c1) = group[0].start, group[-1].end
    if r0 == r1:
        return lines[r0 - 1][c0:c1]
    return "\n".join([lines[r0 - 1][c0:], *lines[r0:r1 - 1], lines[r1 - 1][:c1]])


def segments(nb) -> list[Segment]:
    """Every translatable segment of a notebook, in order (duplicates within a cell once)."""
    out: list[Segment] = []
    for cell in nb.cells:
        seen = set()

        def add(kind, text, cell=cell, seen=seen):
            if text and (kind, text) not in seen:
                seen.add((kind, text))
                out.append(Segment(cell.id, kind, text))

        if cell.cell_type == "markdown":
            for text, is_block in markdown_blocks(cell.source):
                if is_block and text != glossary.table("en"):  # generated in each language
                    add("markdown", text)
        elif cell.cell_type == "code":
            tokens = code_tokens(cell.source)
            for tok in tokens:
                if tok.type == tokenize.COMMENT and is_reader_comment(tok.string):
                    add("comment", comment_text(tok.string))
            for group, shown in string_groups(tokens):
                if shown:
                    add("string", _group_text(_masked(cell.source), group))
    return out


# ---------------------------------------------------------------- catalogs

def _new_catalog(name: str):
    import polib

    po = polib.POFile(wrapwidth=0)
    po.metadata = {
        "Project-Id-Version": f"course {name}",
        "Language": LANG,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    return po


def load_catalog(path: Path):
    import polib

    return polib.pofile(str(path), wrapwidth=0) if path.exists() else None


def merge(name: str, wanted: list[tuple[str, str, str, str]], old) -> object:
    """A catalog holding ``wanted`` (context, English, comment, reference) entries, translations taken
    from ``old``: same context and English -> kept; English changed -> the most similar unused old entry
    of the same context, marked fuzzy with its previous English; nothing similar -> empty."""
    import polib

    po = _new_catalog(name)
    old_entries = [e for e in (old or []) if not e.obsolete]
    exact = {(e.msgctxt, e.msgid): e for e in old_entries}
    used = {key for key in ((c, m) for c, m, _, _ in wanted) if key in exact}
    for ctxt, msgid, comment, ref in wanted:
        entry = polib.POEntry(msgctxt=ctxt, msgid=msgid, msgstr="", comment=comment,
                              occurrences=[(ref, "")])
        prev = exact.get((ctxt, msgid))
        if prev is not None:
            entry.msgstr, entry.flags = prev.msgstr, list(prev.flags)
            entry.previous_msgid = prev.previous_msgid if prev.fuzzy else None
        else:
            candidates = [e for e in old_entries if e.msgctxt == ctxt and (e.msgctxt, e.msgid) not in used
                          and e.msgstr]
            best = max(candidates, key=lambda e: difflib.SequenceMatcher(None, e.msgid, msgid).ratio(),
                       default=None)
            if best is not None and difflib.SequenceMatcher(None, best.msgid, msgid).ratio() >= 0.5:
                used.add((best.msgctxt, best.msgid))
                entry.msgstr, entry.flags = best.msgstr, ["fuzzy"]
                entry.previous_msgid = best.msgid
        po.append(entry)
    return po


def notebook_wanted(path: Path) -> list[tuple[str, str, str, str]]:
    nb = nbformat.read(path, as_version=4)
    return [(s.cell, s.text, s.kind, f"{path.name}:{s.cell}") for s in segments(nb)]


def course_strings(module: Path) -> list[str]:
    """The literal first arguments of every ``tr(...)`` and ``N_(...)`` call in a module, in order, once
    each."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tr", "N_")
                and node.args and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value not in out):
            out.append(node.args[0].value)
    return out


def course_modules() -> dict[str, Path]:
    """Catalog name (``explorers.losses``) -> module, for every course module that calls ``tr``."""
    pkg = ROOT / "course_utils"
    out = {}
    for path in sorted(pkg.rglob("*.py")):
        if course_strings(path):
            out[".".join(path.relative_to(pkg).with_suffix("").parts)] = path
    return out


def course_wanted(name: str, module: Path) -> list[tuple[str, str, str, str]]:
    rel = module.relative_to(ROOT).as_posix()
    return [(None, text, "", rel) for text in course_strings(module)]


def all_catalogs(only: str | None = None) -> list[tuple[str, Path, list[tuple[str, str, str, str]]]]:
    """(name, catalog path, wanted entries) of every catalog the course has (or just ``only``)."""
    out = []
    for src, _, cat in EDITIONS:
        for path in sorted((ROOT / src).glob("*.ipynb")):
            if only in (None, path.stem):
                out.append((path.stem, ROOT / cat / f"{path.stem}.po", notebook_wanted(path)))
    if only is None or not out:
        for name, module in course_modules().items():
            if only in (None, name):
                out.append((name, ROOT / COURSE_CATALOGS / f"{name}.po", course_wanted(name, module)))
    if only is not None and not out:
        raise ValueError(f"no catalog is called {only!r}: give a notebook's name (02_special_losses) "
                         f"or a course module's (explorers.losses)")
    return out


def update(only: str | None = None) -> list[Path]:
    """Bring every catalog (or just ``only``) in step with the English, after notebook 00's glossary table
    with ``glossary.toml``; return the files that changed."""
    changed = []
    start_here = ROOT / "notebooks/00_start_here.ipynb"
    if only in (None, start_here.stem) and glossary.sync_notebook(start_here):
        changed.append(start_here)
    for name, path, wanted in all_catalogs(only):
        po = merge(name, wanted, load_catalog(path))
        text = str(po) + "\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


@dataclass(frozen=True)
class Problem:
    catalog: str
    cell: str | None
    what: str
    english: str

    def __str__(self) -> str:
        first = self.english.strip().split("\n")[0][:90]
        where = f"{self.catalog}, cell {self.cell}" if self.cell else self.catalog
        return f"{where}: {self.what}: {first!r}"


def problems(only: str | None = None) -> list[Problem]:
    """Every entry the English needs that is missing, untranslated or fuzzy, every stale entry, and
    every Korean markdown cell where Hangul is not the majority of the letters."""
    out = []
    for name, path, wanted in all_catalogs(only):
        rel = path.relative_to(ROOT).as_posix()
        po = load_catalog(path)
        out += catalog_problems(rel, wanted, po)
        source = next((ROOT / src / f"{name}.ipynb" for src, _, cat in EDITIONS
                       if path.parent == ROOT / cat), None)
        if source is not None and po is not None:
            ko = translate_notebook(nbformat.read(source, as_version=4), po, allow_missing=True)
            for cell in ko.cells:
                share = hangul_share(cell.source.replace(glossary.table(LANG), ""))
                if cell.cell_type == "markdown" and share <= 0.5:
                    out.append(Problem(rel, cell.id, f"Hangul is {share:.0%} of this cell's letters outside "
                                       "code and math (must be > 50 %)", cell.source))
    return out


def catalog_problems(name: str, wanted, po) -> list[Problem]:
    """What one catalog ``po`` lacks for the ``wanted`` (context, English, kind, reference) entries."""
    out = []
    have = {(e.msgctxt, e.msgid): e for e in (po or []) if not e.obsolete}
    for ctxt, msgid, _, _ in wanted:
        e = have.get((ctxt, msgid))
        if e is None:
            out.append(Problem(name, ctxt, "no entry for this English (run `update`)", msgid))
        elif e.fuzzy:
            out.append(Problem(name, ctxt, "fuzzy: the English changed, review the Korean", msgid))
        elif not e.msgstr.strip():
            out.append(Problem(name, ctxt, "not translated", msgid))
        else:
            bad = placeholder_problem(msgid, e.msgstr, kind=e.comment)
            if bad:
                out.append(Problem(name, ctxt, bad, msgid))
    wanted_keys = {(c, m) for c, m, _, _ in wanted}
    for key, e in have.items():
        if key not in wanted_keys:
            out.append(Problem(name, e.msgctxt, "stale: the English no longer has this text", e.msgid))
    return out


_CODE_SPAN = re.compile(r"`[^`\n]+(?:\n[^`\n]+)?`")  # (a code span may wrap onto a second line)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FIELD = re.compile(r"(?<!\{)\{[^{}]*\}(?!\})")


def placeholder_problem(english: str, korean: str, *, kind: str = "") -> str | None:
    """What the Korean lost of the English's code: code spans, math, link targets, format fields."""
    if kind == "string":
        try:
            compile(f"({korean}\n)", "<msgstr>", "eval")
        except SyntaxError as e:
            return f"the Korean is not a Python string literal ({e.msg})"
        if sorted(_FIELD.findall(english)) != sorted(_FIELD.findall(korean)) and english.lstrip(
                "rRbB").startswith(("f", "F")):
            return "the f-string's {fields} differ from the English"
        return None
    if kind == "comment":
        return None
    for name, pattern in (("math", _MATH), ("link targets", _LINK)):
        if sorted(pattern.findall(english)) != sorted(pattern.findall(korean)):
            return f"the {name} differ from the English"
    if not kind:  # a course string: its format fields must all be there
        if sorted(set(_FIELD.findall(english))) != sorted(set(_FIELD.findall(korean))):
            return "the {fields} differ from the English"
        return None
    english, korean = _FENCE.sub(" ", english), _FENCE.sub(" ", korean)  # a fenced block is checked by eye
    missing = set(_CODE_SPAN.findall(english)) - set(_CODE_SPAN.findall(korean))
    if missing:
        return f"code spans missing: {sorted(missing)}"
    return None


# ---------------------------------------------------------------- building the Korean notebooks

def translate_notebook(nb, po, *, allow_missing: bool = False):
    """The Korean notebook: ``nb`` with each segment replaced from ``po`` and the language cell added."""
    table = {(e.msgctxt, e.msgid): e.msgstr for e in (po or [])
             if not e.obsolete and e.msgstr and not e.fuzzy}
    missing = []

    def get(cell_id, text):
        korean = table.get((cell_id, text))
        if korean is None:
            missing.append((cell_id, text))
            return text
        return korean

    out = nbformat.from_dict(nbformat.v4.new_notebook())
    out.metadata = nbformat.from_dict(dict(nb.metadata))
    out.nbformat, out.nbformat_minor = nb.nbformat, nb.nbformat_minor
    language_added = False
    for cell in nb.cells:
        new = nbformat.from_dict(dict(cell))
        if cell.cell_type == "markdown":
            pieces = markdown_blocks(cell.source)
            new.source = "\n".join(
                (glossary.table(LANG) if t == glossary.table("en") else get(cell.id, t)) if is_block else t
                for t, is_block in pieces)
        elif cell.cell_type == "code":
            if not language_added:
                out.cells.append(nbformat.v4.new_code_cell(LANGUAGE_CELL, id=LANGUAGE_CELL_ID))
                language_added = True
            new.source = _translate_code(cell.source, lambda kind, text, cid=cell.id: get(cid, text))
        out.cells.append(new)
    if missing and not allow_missing:
        first = "; ".join(f"cell {c}: {t.splitlines()[0][:60]!r}" for c, t in missing[:5])
        raise ValueError(f"{len(missing)} segment(s) without a reviewed translation ({first}); "
                         f"run `python -m course_utils.translation check`")
    return out


def _translate_code(source: str, get) -> str:
    lines = source.split("\n")
    edits = []
    tokens = code_tokens(source)
    for tok in tokens:
        if tok.type == tokenize.COMMENT and is_reader_comment(tok.string):
            korean = get("comment", comment_text(tok.string))
            edits.append((tok.start, tok.end, "# " + korean))
    for group, shown in string_groups(tokens):
        if shown:
            text = _group_text(_masked(source), group)
            edits.append((group[0].start, group[-1].end, get("string", text)))
    for (r0, c0), (r1, c1), text in sorted(edits, reverse=True):
        head, tail = lines[r0 - 1][:c0], lines[r1 - 1][c1:]
        lines[r0 - 1:r1] = (head + text + tail).split("\n")
    return "\n".join(lines)


def build(*, allow_missing: bool = False, out_root: Path | None = None) -> list[Path]:
    """Write every Korean notebook (and the Korean homework releases); return the paths written."""
    out_root = out_root or ROOT
    written = []
    for src, dst, cat in EDITIONS:
        for path in sorted((ROOT / src).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            po = load_catalog(ROOT / cat / f"{path.stem}.po")
            ko = translate_notebook(nb, po, allow_missing=allow_missing)
            target = out_root / dst / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(nbformat.writes(ko) + "\n", encoding="utf-8")
            written.append(target)
    from course_utils.grading.release import release  # the Korean students' homework and its keys

    names = release(out_root / "homework/source/ko", out_root / "homework/release/ko",
                    out_root / "homework/keys/ko")
    written += [out_root / "homework/release/ko" / f"{name}.ipynb" for name in names]
    return written


def hangul_share(text: str) -> float:
    """Hangul syllables / (Hangul + Latin letters) in ``text`` outside code spans, fences, math and
    link targets (0 when it has no letters)."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = _CODE_SPAN.sub(" ", text)
    text = _MATH.sub(" ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<[^>]+>", " ", text)
    hangul, latin = len(_HANGUL.findall(text)), len(_LATIN.findall(text))
    return hangul / (hangul + latin) if hangul + latin else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.translation",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    u = sub.add_parser("update", help="bring catalogs in step with the English (new entries empty or fuzzy)")
    u.add_argument("catalog", nargs="?", help="one catalog's name, e.g. 02_special_losses")
    b = sub.add_parser("build", help="write the Korean notebooks from the English and the catalogs")
    b.add_argument("--allow-missing", action="store_true", help="keep English where a translation is missing")
    c = sub.add_parser("check", help="list missing, fuzzy and stale entries by notebook and cell")
    c.add_argument("catalog", nargs="?", help="one catalog's name, e.g. 02_special_losses")
    args = parser.parse_args(argv)
    if args.command == "update":
        for path in update(args.catalog):
            print("updated", path.relative_to(ROOT))
        return 0
    if args.command == "build":
        for path in build(allow_missing=args.allow_missing):
            print("wrote", path.relative_to(ROOT))
        return 0
    found = problems(args.catalog)
    for p in found:
        print(p)
    print(f"{len(found)} problem(s)" if found else "every catalog is complete and in step with the English")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
