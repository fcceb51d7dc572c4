"""The static course site: ``python -m course_utils.site build OUT_DIR`` (course_utils/site).

One build per session (the ``built_site`` fixture of ``tests/conftest.py``, shared with
``tests/browser/test_site_in_browser.py``): the README's command in a subprocess with the small frame
budget (``COURSE_SITE_BUDGET=full`` for the published one; ``COURSE_SITE_DIR=<folder>`` reads a site
built already), without network (``unshare -n`` where this machine allows it, the suite's network
guard in any case). Then, against references computed here:

* every notebook page shows its notebook's code and outputs, every explorer as a player in the cell
  that builds it, and nothing of a live widget; the homework pages show no line of a solution;
* sampled frames: the readout on the page is, character for character, the readout of the same
  explorer built in this process and moved to that setting, and the picture is the same picture (up
  to the palette's rounding);
* the sizes (the build time is printed, not asserted), the Pages workflow, the README, and the
  colour-blind-safe style.
"""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
HOMEWORK = sorted((ROOT / "homework" / "release").glob("*.ipynb"))
SITE_MB = 60
FIRST_LOAD_MB = 5


# ---------------------------------------------------------------------------------------------
# Reading the pages
# ---------------------------------------------------------------------------------------------

class _Page(HTMLParser):
    """Text, players (with their manifests), images and the cells of a built page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.players: list[dict] = []
        self.imgs: list[dict] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._json = False
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure" and "cu-player" in (a.get("class") or ""):
            self.players.append({"name": a.get("data-player")})
        if tag == "script":
            if a.get("src"):
                self.scripts.append(a["src"])
            self._json = "cu-manifest" in (a.get("class") or "")
            self._skip += 1
        if tag == "style":
            self._skip += 1
        if tag == "link" and a.get("rel") in ("stylesheet", "preload"):
            self.styles.append(a.get("href"))
        if tag == "img":
            self.imgs.append(a)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
            self._json = False

    def handle_data(self, data):
        if self._json:
            self.players[-1]["manifest"] = json.loads(data)
        elif not self._skip:
            self.text.append(data)

    @property
    def plain(self) -> str:
        return " ".join("".join(self.text).split())


def read_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _squash(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------

def test_build_makes_every_page_offline_within_size(built_site):
    site, info, seconds, offline = built_site
    expected = {"index.html", *(f"notebooks/{p.stem}.html" for p in NOTEBOOKS),
                *(f"homework/{p.stem}.html" for p in HOMEWORK)}
    assert expected <= set(info["pages"]), f"missing pages: {expected - set(info['pages'])}"
    assert (site / "index.html").is_file()
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    how = {True: "no network: unshare -n", False: "network guard only", None: "built before the session"}
    print(f"\nsite build: {seconds:.0f} s ({how[offline]}), "
          f"{size / 1e6:.1f} MB, {len(info['pages'])} pages\n{info['stdout']}")
    assert size <= SITE_MB * 1e6, f"the site is {size / 1e6:.1f} MB; allowed: {SITE_MB} MB"


def test_build_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = subprocess.run([sys.executable, "-m", "course_utils.site", "build", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "not empty" in result.stderr + result.stdout
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_pages_load_nothing_from_elsewhere(built_site):
    site = built_site[0]
    for path in site.rglob("*.html"):
        page = read_page(path)
        for ref in page.scripts + page.styles + [i.get("src", "") for i in page.imgs]:
            assert ref and "//" not in ref, f"{path.relative_to(site)} loads {ref}"
        text = path.read_text(encoding="utf-8")
        assert "thebe" not in text.lower(), f"{path.relative_to(site)} mentions thebe"
        assert "cdn" not in re.sub(r"[^a-z]", " ", text.lower()).split(), f"{path.relative_to(site)}: a CDN"


# ---------------------------------------------------------------------------------------------
# Notebook pages
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_page_shows_code_outputs_and_players(built_site, notebook):
    from course_utils.explorers import EXPLORERS

    site = built_site[0]
    html = (site / "notebooks" / f"{notebook.stem}.html").read_text(encoding="utf-8")
    page = read_page(site / "notebooks" / f"{notebook.stem}.html")
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    plain = _squash(page.plain)
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for cell in code_cells:  # every line of code is on the page
        for line in "".join(cell["source"]).splitlines():
            if line.strip():
                assert _squash(line) in plain, f"code line missing: {line!r}"
    source_text = _squash(" ".join("".join(c["source"]) for c in nb["cells"]))
    for error in ("Traceback", "Error displaying widget"):  # (unless the notebook's own text says it)
        assert plain.count(error) <= source_text.count(error), f"{error!r} on the page"
    assert "widget-view+json" not in html and "widget-state+json" not in html
    # the cells' outputs: one output block after each code cell that prints
    blocks = re.split(r'<div class="cell(?: tag_[\w-]+)* docutils container">', html)[1:]  # tags: exercises
    assert len(blocks) == len(code_cells)
    for cell, block in zip(code_cells, blocks):
        src = "".join(cell["source"])
        if re.search(r"^\s*print\(", src, re.M):
            assert "cell_output" in block, f"no output after a cell that prints: {src[:80]!r}"
        if re.search(r"plt\.show\(\)|display\(fig", src):
            assert "<img" in block, f"no figure after a cell that draws one: {src[:80]!r}"
    # each catalogue explorer of this notebook: one player, in the cell that builds it
    mine = [e for e in EXPLORERS.values() if e.notebook == notebook.stem]
    assert sorted(p["name"] for p in page.players) == sorted(e.name for e in mine)
    for entry in mine:
        block = next(b for c, b in zip(code_cells, blocks)
                     if re.search(rf"\b{entry.class_name}\s*\(", "".join(c["source"])))
        assert f'data-player="{entry.name}"' in block, f"{entry.name} is not in the cell that builds it"
        assert "needs a" in block and "mybinder.org/v2/gh/" in block


@pytest.mark.parametrize("homework", HOMEWORK, ids=lambda p: p.stem)
def test_homework_page_has_no_solution(built_site, homework):
    page = read_page(built_site[0] / "homework" / f"{homework.stem}.html")
    plain = _squash(page.plain)
    release = json.loads(homework.read_text(encoding="utf-8"))
    source = json.loads((ROOT / "homework" / "source" / homework.name).read_text(encoding="utf-8"))
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
        assert marker not in plain
    released = {_squash(line) for c in release["cells"] for line in "".join(c["source"]).splitlines()}
    solution_lines = []
    for cell in source["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 12 and _squash(line) not in released:
                solution_lines.append(_squash(line))
    assert solution_lines, "the instructor's notebook has no solution lines to look for"
    shown = [line for line in solution_lines if line in plain]
    assert not shown, f"solution lines on the homework page: {shown[:3]}"
    for cell in release["cells"]:  # and the student's version is all there
        first = next((ln for ln in "".join(cell["source"]).splitlines() if len(ln.strip()) > 12), None)
        if cell["cell_type"] == "code" and first:
            assert _squash(first) in plain, f"release line missing: {first!r}"


def test_home_page_has_the_course_map_and_the_notebook_table(built_site):
    site = built_site[0]
    page = read_page(site / "index.html")
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "loss.backward()" in page.plain and "optimizer.step()" in page.plain  # the map
    for nb in NOTEBOOKS:
        assert f'href="notebooks/{nb.stem}.html"' in html, f"the home page does not link {nb.stem}"
    for hw in HOMEWORK:
        assert f'href="homework/{hw.stem}.html"' in html


def test_korean_pages_exist_with_a_language_switch_on_every_page(built_site):
    """The Korean edition (notebooks/ko, homework/release/ko) under ko/, each page linking its twin."""
    site = built_site[0]
    korean = ["ko/index.html", *(f"ko/notebooks/{p.stem}.html" for p in NOTEBOOKS),
              *(f"ko/homework/{p.stem}.html" for p in HOMEWORK)]
    for rel in korean:
        path = site / rel
        assert path.is_file(), f"no Korean page {rel}"
        html = path.read_text(encoding="utf-8")
        twin = rel[3:]
        assert re.search(r'<nav class="cu-lang"[^>]*><a href="[^"]*' + re.escape(twin.rsplit("/", 1)[-1])
                         + r'"[^>]*hreflang="en"', html), f"{rel}: no switch to {twin}"
        assert re.search(r'<html[^>]*lang="ko"', html), f"{rel} is not marked lang=ko"
        english = (site / twin).read_text(encoding="utf-8")
        assert re.search(r'<nav class="cu-lang"[^>]*><a href="[^"]*ko/' + re.escape(twin)
                         + r'"[^>]*hreflang="ko"', english), f"{twin}: no switch to {rel}"
    plain = read_page(site / "ko/notebooks/02_special_losses.html").plain
    hangul = len(re.findall("[\uac00-\ud7a3]", plain))
    assert hangul > len(re.findall("[A-Za-z]", plain)) / 3, "the Korean page is mostly English"
    for path in sorted((site / "ko/notebooks").glob("*.html")):
        for player in read_page(path).players:
            m = player["manifest"]
            assert m["base"].startswith("../../_frames/ko/"), (path.name, m["base"])
            assert (site / "ko/notebooks" / m["base"]).resolve().is_dir()
            labels = " ".join(c.get("label", "") for c in m["controls"]) + " ".join(m["readouts"][:3])
            assert re.search("[\uac00-\ud7a3]", labels), f"{path.name} {m['name']}: no Korean control"


# ---------------------------------------------------------------------------------------------
# The players: the explorers' own frames and numbers
# ---------------------------------------------------------------------------------------------

def _players(site: Path, folder: str = "notebooks") -> list[tuple[Path, dict]]:
    out = []
    for path in sorted((site / folder).glob("*.html")):
        out += [(path, p) for p in read_page(path).players]
    return out


def _value(v):
    return tuple(v) if isinstance(v, list) else v


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


def test_every_explorer_has_a_player_with_every_control(built_site):
    from course_utils.explorers import EXPLORERS

    site = built_site[0]
    players = {p["name"]: (path, p) for path, p in _players(site)}
    assert set(players) == set(EXPLORERS), f"players {sorted(players)}; catalogue {sorted(EXPLORERS)}"
    for name, (path, player) in players.items():
        m = player["manifest"]
        widget_controls = EXPLORERS[name].load  # the class; the controls are checked on a live one below
        assert widget_controls and m["frames"], name
        keys = list(m["frames"])
        playable = [c for c in m["controls"] if c["kind"] != "button"]
        default = ".".join(str(c["default"]) for c in playable)
        assert default in m["frames"], f"{name}: no frame for the default setting"
        for i, c in enumerate(playable):  # every position of every control has a frame
            reached = {int(k.split(".")[i]) for k in keys}
            assert reached == set(range(len(c["values"]))), f"{name}.{c['name']}: positions without a frame"
            assert len(c["labels"]) == len(c["values"]) >= 2
        for image, *_ in m["frames"].values():
            assert (path.parent / m["base"] / image).is_file()


def test_sampled_frames_are_the_explorers_own(built_site, monkeypatch):
    """The readout of a frame equals, exactly, the readout of the explorer built here and moved to that
    setting; the picture is the explorer's picture (up to the palette's rounding)."""
    from course_utils import i18n, use_course_style
    from course_utils.explorers import EXPLORERS
    from course_utils.site.build import explorer_options, notebook_entry, site_config

    monkeypatch.setattr(i18n, "_language", "en")  # restored after the test, whatever happens
    site, info = built_site[0], built_site[1]
    config = site_config()
    rng = random.Random(16)
    checked = 0
    players = [("en", p) for p in _players(site)] + [("ko", p) for p in _players(site, "ko/notebooks")]
    for lang, (path, player) in players:
        m = player["manifest"]
        key_name = m["name"] if lang == "en" else f"{lang}/{m['name']}"
        # built as its notebook builds it (the arguments the kernel passed, where frames.toml asks for them)
        entry = notebook_entry(EXPLORERS[m["name"]], info["explorers"][key_name].get("arguments"))
        press = explorer_options(config, m["name"]).get("press")
        playable = [c for c in m["controls"] if c["kind"] != "button"]
        default = ".".join(str(c["default"]) for c in playable)
        keys = sorted(m["frames"])
        sample = [default] + rng.sample(keys, min(len(keys), 1 if press or lang != "en" else 4))
        i18n.set_language(lang)
        with mpl.rc_context():
            use_course_style(config.get("style", "projector"))
            widget = entry()
            for key in sample:
                if press:
                    widget = entry()
                for c, i in zip(playable, key.split(".")):
                    widget.controls[c["name"]].value = _value(c["values"][int(i)])
                if press:
                    widget.controls[press].click()
                live = {n: c.value for n, c in widget.controls.items() if hasattr(c, "value")}
                image, readout, alt = m["frames"][key][:3]
                assert widget.readout.value == m["readouts"][readout], f"{m['name']} {live}: readouts differ"
                frame = _pixels((path.parent / m["base"] / image).read_bytes())
                own = _pixels(widget.png())
                assert frame.shape == own.shape, f"{m['name']} {live}: sizes differ"
                off = (np.abs(frame - own).max(axis=2) > 60).mean()
                assert off < 1e-4, f"{m['name']} {live}: {off:.2%} of the pixels differ"
                numbers = re.findall(r"\d+\.\d+", re.sub(r"<[^>]+>", " ", widget.readout.value))
                assert all(n in alt for n in numbers), f"{m['name']}: alt text lacks the readout's numbers"
                checked += 1
    assert checked >= 2 * len(EXPLORERS)


def test_notebook_arguments_rebuild_the_notebooks_own_explorer():
    """An explorer keeps the arguments it was built with; the site rebuilds it from them (as the build
    does with those the notebook's kernel passed), positional ones included."""
    import base64
    import pickle

    from course_utils.explorers import EXPLORERS
    from course_utils.site.build import notebook_entry

    entry = EXPLORERS["leaderboard_shakeup"]
    mine = entry.load()(0.8, simulated={(1000, 0.01): 0.2}, gap=0.01)
    assert mine.made_with == ((0.8,), {"simulated": {(1000, 0.01): 0.2}, "gap": 0.01})
    again = notebook_entry(entry, base64.b64encode(pickle.dumps(mine.made_with)).decode())
    assert again.kwargs == {"sd": 0.8, "simulated": {(1000, 0.01): 0.2}, "gap": 0.01}
    assert again().readout.value == mine.readout.value != entry().readout.value
    assert notebook_entry(entry, None) is entry


def test_build_compared_each_player_with_the_kernels_picture(built_site):
    """The build ran each notebook: the player's first frame is the picture and readout the kernel showed."""
    info = built_site[1]
    from course_utils.site.build import explorer_options, site_config

    config = site_config()
    for name, e in info["explorers"].items():  # "ko/<name>": the Korean page's player, Korean kernel
        opts = explorer_options(config, name.rsplit("/", 1)[-1])
        if opts.get("press") or opts.get("kernel_check") is False:
            continue  # its frames are runs after Train, or the notebook's explorer holds earlier runs
        assert e["kernel"] == "same", f"{name}: {e['kernel']}"


# ---------------------------------------------------------------------------------------------
# Published: the workflow and the README
# ---------------------------------------------------------------------------------------------

def test_pages_workflow_builds_with_the_same_command_and_deploys():
    import yaml

    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "main" in on["push"]["branches"]
    assert flow["permissions"]["pages"] == "write" and flow["permissions"]["id-token"] == "write"
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    runs = "\n".join(s.get("run", "") for s in steps)
    m = re.search(r"python -m course_utils\.site build (\S+)", runs)
    assert m, "the workflow does not run the build command"
    assert "pip install -r requirements.txt" in runs
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"].rstrip("/") == m.group(1).rstrip("/")
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in steps)


def test_readme_documents_the_site_beside_the_binder_badge():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python -m course_utils.site build" in readme
    badge = next(line for line in readme.splitlines() if "mybinder.org/badge" in line)
    after = readme.split(badge, 1)[1].split("\n\n", 1)[0]
    assert "github.io" in badge + after, "no link to the site next to the Binder badge"


def test_player_script_is_small():
    script = (ROOT / "course_utils" / "site" / "static" / "player.js").read_text(encoding="utf-8")
    code = [ln for ln in script.splitlines() if ln.strip() and not ln.strip().startswith(("*", "/*", "//"))]
    assert len(code) <= 150, f"player.js has {len(code)} lines of code"


# ---------------------------------------------------------------------------------------------
# Colour-blind-safe plots
# ---------------------------------------------------------------------------------------------

# Okabe & Ito (2008), "Color Universal Design", as published (not read from matplotlib).
_OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
# Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB.
_CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}


def _lab(rgb) -> np.ndarray:
    c = np.clip(np.asarray(rgb, dtype=float), 0, 1)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _linear(hex_color: str) -> np.ndarray:
    s = np.array([int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4)


def _closest_pair(colors: list[str]) -> float:
    """The smallest CIE76 distance between two of ``colors`` for any of the three dichromacies."""
    worst = np.inf
    for matrix in _CVD.values():
        seen = [_lab(np.clip(np.array(matrix) @ _linear(c), 0, 1)) for c in colors]
        for i in range(len(seen)):
            for j in range(i + 1, len(seen)):
                worst = min(worst, float(np.linalg.norm(seen[i] - seen[j])))
    return worst


def test_course_colours_stay_apart_for_colour_blind_readers():
    from course_utils.plotting import COLORS

    concepts = [COLORS[k] for k in ("ce", "focal", "smooth", "accent")]
    assert {c.lower() for c in concepts} <= _OKABE_ITO
    assert _closest_pair(concepts + [COLORS["baseline"]]) >= 10
    # the check can fail: matplotlib's old default blue/red/green/orange run together for some readers
    assert _closest_pair(["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"]) < 10


def test_course_style_pairs_every_colour_with_its_own_line_style():
    from course_utils.plotting import new_figure, use_course_style

    with mpl.rc_context():
        use_course_style()
        fig, ax = new_figure()
        lines = [ax.plot([0, 1], [i, i])[0] for i in range(len(mpl.rcParams["axes.prop_cycle"]))]
        colors = [mpl.colors.to_hex(line.get_color()) for line in lines]
        dashes = [tuple(line._unscaled_dash_pattern[1] or ()) for line in lines]  # () for a solid line
    assert len(set(colors)) == len(colors) and set(colors) <= _OKABE_ITO
    assert len(set(dashes)) == len(dashes), f"two lines share a line style: {dashes}"
    assert _closest_pair(colors[:4]) >= 10
