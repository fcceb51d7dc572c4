"""The Korean edition: complete, in step with the English, the same code, the glossary's terms, Hangul
that renders (course_utils.translation, course_utils.i18n, course_utils.glossary)."""

import os
import re
import tokenize
import warnings

import nbformat
import pytest

from course_utils import glossary, i18n, translation
from course_utils.translation import EDITIONS, ROOT

PAIRS = [(src, ROOT / dst / src.name) for s, dst, _ in EDITIONS for src in sorted((ROOT / s).glob("*.ipynb"))]
RELEASES = sorted((ROOT / "homework/release").glob("*.ipynb"))


def korean(path):
    return nbformat.read(path, as_version=4)


# ------------------------------------------------------------------ complete and never stale

def test_every_catalog_is_complete_and_in_step_with_the_english():
    found = translation.problems()
    assert not found, (f"{len(found)} catalog entries need a translator (docs/translation/README.md); "
                       "the first:\n" + "\n".join(map(str, found[:15])))


def test_a_changed_english_sentence_fails_naming_the_cell_until_the_catalog_is_updated():
    src = ROOT / "notebooks/02_special_losses.ipynb"
    nb = nbformat.read(src, as_version=4)
    cell, block = next((c, t) for c in nb.cells if c.cell_type == "markdown"
                       for t, is_block in translation.markdown_blocks(c.source)
                       if is_block and ". " in t and len(t) > 150)
    old_sentence = block.split(". ")[0]
    cell.source = cell.source.replace(old_sentence, old_sentence + ", as the lecture says", 1)
    wanted = [(s.cell, s.text, s.kind, s.cell) for s in translation.segments(nb)]
    po = translation.load_catalog(ROOT / "notebooks/locale/ko/02_special_losses.po")

    found = translation.catalog_problems("02", wanted, po)
    assert [p.cell for p in found if "no entry" in p.what] == [cell.id]
    assert [p.cell for p in found if "stale" in p.what] == [cell.id]
    with pytest.raises(ValueError, match=f"cell {cell.id}"):
        translation.translate_notebook(nb, po)

    merged = translation.merge("02", wanted, po)  # what `update` writes: the old Korean, marked fuzzy
    fuzzy = [e for e in merged if e.fuzzy]
    assert len(fuzzy) == 1 and fuzzy[0].msgctxt == cell.id and old_sentence in fuzzy[0].previous_msgid
    assert [p.what for p in translation.catalog_problems("02", wanted, merged)] == [
        "fuzzy: the English changed, review the Korean"]
    fuzzy[0].flags.remove("fuzzy")  # the translator reviewed it
    assert translation.catalog_problems("02", wanted, merged) == []


def test_regenerating_the_korean_notebooks_and_releases_changes_nothing(tmp_path):
    written = translation.build(out_root=tmp_path)
    assert len(written) == len(PAIRS) + len(RELEASES)
    for path in written:
        committed = ROOT / path.relative_to(tmp_path)
        assert committed.exists(), f"{committed.relative_to(ROOT)} is missing: run the build command"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed.relative_to(ROOT)} differs from what `python -m course_utils.translation build` "
            "writes: never edit a Korean notebook by hand, edit the catalog and build")


def test_every_english_notebook_and_release_has_a_korean_twin():
    for src, ko in PAIRS:
        assert ko.exists(), f"no Korean twin of {src.relative_to(ROOT)}"
    for rel in RELEASES:
        assert (rel.parent / "ko" / rel.name).exists(), f"no Korean release of {rel.name}"


# ------------------------------------------------------------------ the same code

def _code_tokens(source):
    """The code's tokens, comments dropped and each run of adjacent string literals one placeholder."""
    out = []
    for tok in translation.code_tokens(source):
        if tok.type in (tokenize.COMMENT, tokenize.NL):
            continue
        if tok.type == tokenize.STRING:
            if out and out[-1] == "<str>":
                continue
            out.append("<str>")
        else:
            out.append(tok.string)
    return out


def _string_texts(source):
    masked = translation._masked(source)
    groups = translation.string_groups(translation.code_tokens(source))
    return [translation._group_text(masked, g) for g, _ in groups]


@pytest.mark.parametrize("src,ko", PAIRS, ids=lambda p: p.name)
def test_code_is_identical_in_both_editions_but_comments_and_display_strings(src, ko):
    catalog = ROOT / next(cat for s, _, cat in EDITIONS if src.parent == ROOT / s) / f"{src.stem}.po"
    display = {(e.msgctxt, e.msgid) for e in translation.load_catalog(catalog) if e.comment == "string"}
    en_cells, ko_nb = nbformat.read(src, as_version=4).cells, korean(ko)
    ko_cells = [c for c in ko_nb.cells if c.id != translation.LANGUAGE_CELL_ID]
    assert [c.id for c in en_cells] == [c.id for c in ko_cells]
    assert [c.metadata for c in en_cells] == [c.metadata for c in ko_cells]
    for e, k in zip(en_cells, ko_cells, strict=True):
        if e.cell_type != "code":
            continue
        assert _code_tokens(e.source) == _code_tokens(k.source), f"{ko.name}, cell {e.id}: the code differs"
        for en_str, ko_str in zip(_string_texts(e.source), _string_texts(k.source), strict=True):
            # a literal differs only where the catalog holds it as a display string of that cell
            assert en_str == ko_str or (e.id, en_str) in display, (ko.name, e.id, en_str)
    first_code = next(c for c in ko_nb.cells if c.cell_type == "code")
    assert first_code.id == translation.LANGUAGE_CELL_ID and 'set_language("ko")' in first_code.source


# ------------------------------------------------------------------ Korean that reads as Korean

@pytest.mark.parametrize("src,ko", PAIRS, ids=lambda p: p.name)
def test_hangul_is_the_majority_of_letters_in_every_korean_markdown_cell(src, ko):
    for cell in korean(ko).cells:
        if cell.cell_type != "markdown":
            continue
        text = cell.source.replace(glossary.table("ko"), "")  # the glossary's English column is the point
        share = translation.hangul_share(text)
        assert share > 0.5, f"{ko.name}, cell {cell.id}: Hangul is {share:.0%} of its letters"


def test_the_korean_notebooks_use_the_glossary_terms_and_none_of_the_avoided_words():
    texts = {ko.name: "\n".join(c.source for c in korean(ko).cells) for _, ko in PAIRS}
    everything = "\n".join(texts.values()).replace(glossary.table("ko"), "")
    for term in glossary.terms():
        assert term.ko in everything, f"the glossary term {term.ko!r} ({term.en}) is never used"
        for where in term.where.split(", "):  # the notebooks the glossary names use the term
            name = next(n for n in texts if n.startswith(where))
            assert term.ko in texts[name].replace(glossary.table("ko"), ""), (
                f"the glossary says {term.ko!r} is taught in {where}, but {name} never writes it")
        for wrong in term.avoid:
            for name, text in texts.items():
                assert wrong not in text.replace(glossary.table("ko"), ""), (
                    f"{name} writes {wrong!r}; the glossary's term for {term.en} is {term.ko!r}")


def test_the_glossary_table_of_notebook_00_is_generated_from_the_glossary():
    en = nbformat.read(ROOT / "notebooks/00_start_here.ipynb", as_version=4)
    assert sum(glossary.table("en") in c.source for c in en.cells) == 1, (
        "notebook 00's glossary table is not the one `python -m course_utils.glossary` prints")
    ko = korean(ROOT / "notebooks/ko/00_start_here.ipynb")
    assert sum(glossary.table("ko") in c.source for c in ko.cells) == 1
    assert len({t.ko for t in glossary.terms()}) == len(glossary.terms()), "one term per concept"
    for t in glossary.terms():
        assert t.ko not in t.avoid and all(a not in {u.ko for u in glossary.terms()} for a in t.avoid)


# ------------------------------------------------------------------ the course's strings

def test_language_setting_argument_environment_and_bad_values(monkeypatch):
    monkeypatch.setattr(i18n, "_language", None)
    monkeypatch.delenv("COURSE_LANG", raising=False)
    assert i18n.get_language() == "en"
    monkeypatch.setenv("COURSE_LANG", "ko")
    assert i18n.get_language() == "ko"
    monkeypatch.setenv("COURSE_LANG", "kr")
    with pytest.raises(ValueError, match="COURSE_LANG.*'kr'"):
        i18n.get_language()
    with pytest.raises(ValueError, match=r"lang must be one of \('en', 'ko'\); got 'fr'"):
        i18n.set_language("fr")
    with pytest.raises(TypeError, match="lang must be a string"):
        i18n.set_language(None)
    i18n.set_language("en")
    assert i18n.tr("{n} of {m}", n=1, m=2) == "1 of 2"


def test_every_course_string_has_a_reviewed_korean_entry_with_the_same_fields():
    modules = translation.course_modules()
    assert len(modules) >= 10, f"only {sorted(modules)} call tr(): widgets and plots are not translated"
    table = i18n.catalog("ko")
    for name, module in modules.items():
        for text in translation.course_strings(module):
            assert text in table, f"course_utils/locale/ko/{name}.po has no reviewed Korean for {text!r}"


def test_every_hangul_glyph_of_the_edition_has_a_font(monkeypatch):
    """Every character of every Korean string draws with an installed font: no 'Glyph missing', no tofu."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from course_utils.plotting import hangul_font

    if hangul_font() is None:
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail("no Hangul font installed: apt-get install fonts-nanum (binder/apt.txt, .ci/run)")
        pytest.skip("no Hangul font installed (apt-get install fonts-nanum)")
    chars = set()
    for folder in ("notebooks/locale/ko", "homework/locale/ko", "course_utils/locale/ko"):
        for path in (ROOT / folder).glob("*.po"):
            for entry in translation.load_catalog(path):
                chars |= set(entry.msgstr)
    chars = sorted(c for c in chars if c.isprintable() and not c.isspace() and c not in "$\\")
    monkeypatch.setattr(i18n, "_language", None)
    i18n.set_language("ko")
    try:
        text = "".join(chars)
        fig = Figure()
        for i in range(0, len(text), 60):
            fig.text(0.01, 1 - (i // 60 + 1) / (len(text) // 60 + 2), text[i:i + 60], usetex=False,
                     parse_math=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig.canvas.draw()
    finally:
        i18n.set_language("en")
    assert len([c for c in chars if re.match("[\uac00-\ud7a3]", c)]) > 300


def test_a_widget_built_in_korean_shows_korean_labels_and_readouts(monkeypatch):
    from course_utils.explorers import EXPLORERS

    monkeypatch.setattr(i18n, "_language", None)
    i18n.set_language("ko")
    try:
        for name in ("cross_entropy", "focal_loss", "lr_schedule", "class_ratio"):
            explorer = EXPLORERS[name]()
            labels = " ".join(getattr(w, "description", "") for w in explorer.controls.values())
            assert re.search("[\uac00-\ud7a3]", labels + explorer.readout.value), (
                f"{name}: no Korean in its labels or readout")
            prose = re.sub("<code>.*?</code>", " ", explorer.readout.value, flags=re.S)
            prose = re.sub("<[^>]+>", " ", prose)
            assert translation.hangul_share(prose) > 0.3, name
            fig_text = " ".join(t.get_text() for ax in explorer.fig.axes
                                for t in (ax.title, ax.xaxis.label, ax.yaxis.label))
            assert re.search("[\uac00-\ud7a3]", fig_text), f"{name}: no Korean title or axis label"
    finally:
        i18n.set_language("en")


def test_a_notebook_cell_translation_keeps_format_fields_and_code_spans():
    assert translation.placeholder_problem("use `lr` here", "여기서 lr을 씁니다", kind="markdown") == (
        "code spans missing: ['`lr`']")
    assert translation.placeholder_problem('f"loss {x:.3f}"', 'f"loss {y:.3f}"', kind="string")
    assert translation.placeholder_problem('"a b"', '"가 나', kind="string").startswith("the Korean is not")
    assert translation.placeholder_problem("{n} of {m}", "{m}개 중 {n}개") is None
    assert translation.placeholder_problem("{n} of {m}", "{m}개 중") is not None
    english = "A long English sentence"
    assert translation.placeholder_problem(english, english, kind="markdown") is None  # (per cell: below)


def test_markdown_blocks_rebuild_the_cell_exactly():
    src = "# Title\n\nText one\nline two\n\n```\ncode\n\nmore\n```\n\n$$\na\n\nb\n$$\n\n\n- a\n- b\n"
    pieces = translation.markdown_blocks(src)
    assert "\n".join(t for t, _ in pieces) == src
    assert [t for t, is_block in pieces if is_block] == [
        "# Title", "Text one\nline two", "```\ncode\n\nmore\n```", "$$\na\n\nb\n$$", "- a\n- b"]
    assert [t for t, _ in translation.markdown_blocks("x")] == ["x"]


def test_the_korean_homework_messages_get_the_same_hints_as_the_english():
    """The grader's feedback picks a hint by words of the check's message; the Korean checks say them in
    Korean, and each must still get the hint its English twin gets."""
    from course_utils.grading.feedback import hint_for

    compared = 0
    for path in sorted((ROOT / "homework/locale/ko").glob("*.po")):
        hw = path.stem.split("_")[0]
        for entry in translation.load_catalog(path):
            m = re.search(r"Exercise (\d+)", entry.msgid)
            if entry.comment != "string" or not m:
                continue
            exercise = f"{hw}_ex{m.group(1)}"
            assert hint_for(exercise, entry.msgstr, "failed") == hint_for(exercise, entry.msgid, "failed"), (
                f"{path.name}: {entry.msgstr[:80]!r} gets another hint than its English")
            compared += 1
    assert compared >= 30
