"""``python -m course_utils.site build OUT_DIR``: the course as a static site, explorers playable.

Steps (two worker processes share the work; nothing is downloaded):

1. every notebook of ``notebooks/`` runs top to bottom in a fresh kernel (nbclient), in its own
   folder, as a student runs it; the homework pages are the student versions of
   ``homework/release/`` (never ``homework/source/``, which holds the solutions), shown unexecuted;
2. every explorer of :data:`course_utils.explorers.EXPLORERS` is built from the catalogue and its
   frames rendered (:mod:`course_utils.site.frames`) into ``OUT_DIR/_frames/<name>/``; the cell of
   its notebook that builds it gets the static player instead of the widget (matched by the
   catalogue's ``class_name`` and ``notebook``), and the player's first frame is compared with the
   kernel's own picture of that cell. An explorer marked ``arguments = "notebook"`` in frames.toml
   (built from numbers its notebook computes first) is rendered with the constructor arguments that
   the notebook's kernel passed (:attr:`PlotWidget.made_with`, read from the kernel after the last cell);
3. Sphinx with myst-nb and the book theme (configuration in ``docs/site/``) turns the executed
   notebooks and the home page into HTML, with MathJax copied into the site (a pip package ships it)
   so that pages load nothing from outside their folder.

The report (``BuildReport``) gives the page and frame counts, sizes and times.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import copy
import dataclasses
import inspect
import io
import json
import multiprocessing
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from course_utils.i18n import get_language, set_language

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_STATIC = Path(__file__).resolve().parent / "static"
CONFIG_DIR = "docs/site"
FRAMES_DIR = "_frames"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: A site folder that holds this file was made by this command, and may be built over.
MARKER = ".course-site"
MATHJAX_DIST = "sphinx-mathjax-offline"
#: (language, folder of its pages in the site, its notebooks, its student homework, its README): the English
#: edition at the site's root, the Korean one under ``ko/`` (when the Korean notebooks exist).
EDITIONS = (("en", "", "notebooks", "homework/release", "README.md"),
            ("ko", "ko/", "notebooks/ko", "homework/release/ko", "README.ko.md"))
MATHJAX_FILES = ("tex-svg.js", "input/tex/extensions")


@dataclass
class BuildReport:
    out_dir: Path
    seconds: float = 0.0
    pages: list = field(default_factory=list)
    explorers: dict = field(default_factory=dict)  # name -> {frames, images, bytes, seconds, kernel}
    notebook_seconds: dict = field(default_factory=dict)
    sphinx_seconds: float = 0.0
    site_bytes: int = 0
    frame_budget: str = "full"

    def summary(self) -> str:
        frames = sum(e["frames"] for e in self.explorers.values())
        images = sum(e["images"] for e in self.explorers.values())
        frame_bytes = sum(e["bytes"] for e in self.explorers.values())
        lines = [f"site: {self.out_dir} ({len(self.pages)} pages, {self.site_bytes / 1e6:.1f} MB; "
                 f"frame budget {self.frame_budget})",
                 f"explorers: {len(self.explorers)}, {frames} settings, {images} frame files, "
                 f"{frame_bytes / 1e6:.1f} MB"]
        for name, e in self.explorers.items():
            lines.append(f"  {name}: {e['frames']} settings, {e['images']} files, {e['bytes'] / 1e3:.0f} KB, "
                         f"{e['seconds']:.1f} s; kernel's picture and readout: {e['kernel']}")
        lines.append("notebooks: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.notebook_seconds.items()))
        lines.append(f"sphinx: {self.sphinx_seconds:.1f} s; total {self.seconds:.1f} s")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {"seconds": self.seconds, "pages": self.pages, "explorers": self.explorers,
                "notebook_seconds": self.notebook_seconds, "sphinx_seconds": self.sphinx_seconds,
                "site_bytes": self.site_bytes, "frame_budget": self.frame_budget}


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

def site_config(root: Path = ROOT) -> dict:
    """``docs/site/frames.toml``: the plan defaults and each explorer's overrides."""
    path = Path(root) / CONFIG_DIR / "frames.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def explorer_options(config: dict, name: str, budget: str = "full") -> dict:
    """The frame plan of explorer ``name``: the defaults, its own overrides, then the caps of a
    smaller ``budget`` (``[budgets.<budget>]``; "full" has none)."""
    opts = {**config.get("defaults", {}), **config.get("explorers", {}).get(name, {})}
    if budget != "full":
        caps = config.get("budgets", {}).get(budget)
        if caps is None:
            raise ValueError(f"frame budget {budget!r}: not in frames.toml (budgets: "
                             f"{', '.join(['full', *config.get('budgets', {})])})")
        from course_utils.site.frames import PLAN_DEFAULTS

        for key, cap in caps.items():
            opts[key] = min(opts.get(key, PLAN_DEFAULTS[key]), cap)
    return opts


def binder_url(root: Path = ROOT, notebook: str | None = None, folder: str = "notebooks") -> str:
    """The README's Binder launch link, pointed at ``<folder>/<notebook>.ipynb``."""
    readme = (Path(root) / "README.md").read_text(encoding="utf-8")
    m = re.search(r"\((https://mybinder\.org/v2/gh/[^)\s]+)\)", readme)
    if not m:
        raise RuntimeError("README.md has no Binder link (https://mybinder.org/v2/gh/...)")
    url = m.group(1)
    if notebook:
        url = re.sub(r"urlpath=[^&]*", f"urlpath=lab/tree/{folder}/{notebook}.ipynb", url)
    return url


def explorer_cells(nb: dict, stem: str, entries) -> dict[int, object]:
    """Code cell index -> catalogue entry, for the cells of notebook ``stem`` that build an explorer."""
    found = {}
    for entry in entries:
        if entry.notebook != stem:
            continue
        pattern = re.compile(rf"\b{re.escape(entry.class_name)}\s*\(")
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code" and pattern.search("".join(cell["source"])):
                found[i] = entry
                break
    return found


# ---------------------------------------------------------------------------------------------
# Work done in the worker processes
# ---------------------------------------------------------------------------------------------

def _worker_init() -> None:
    # the kernels draw with the inline backend, as for a student (an inherited Agg would hide figures)
    os.environ.pop("MPLBACKEND", None)


#: Run in the kernel after the notebook's last cell: the constructor arguments of the explorers that the
#: cells ``{execution count: (catalogue name, class name)}`` built, pickled into a file.
_ARGUMENTS_CELL = """\
def _course_site_arguments(cells, path):
    import pickle
    found = {{}}
    for count, (name, cls) in cells.items():
        made = [Out.get(count)] + list(reversed(list(globals().values())))  # its output, else a variable
        obj = next(o for o in made if type(o).__name__ == cls and hasattr(o, "made_with"))
        found[name] = obj.made_with
    with open(path, "wb") as f:
        pickle.dump(found, f)
_course_site_arguments({cells!r}, {path!r})
del _course_site_arguments
"""


def execute_notebook(path: str, timeout: int = 300, capture: dict | None = None) -> tuple[dict, float, dict]:
    """Run a notebook top to bottom in a fresh python3 kernel in its own folder; (notebook, seconds,
    arguments). ``capture``: ``{code cell index: catalogue entry name}`` of the explorers whose
    constructor arguments are wanted (base64 pickles of ``(args, kwargs)`` by entry name, in
    ``arguments``)."""
    import nbclient
    import nbformat
    from jupyter_client.manager import KernelManager

    from course_utils.explorers import EXPLORERS

    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    # the kernel talks over local sockets (ipc), not TCP: the build needs no network, not even loopback
    ipc = tempfile.mkdtemp(prefix="course-kernel-")
    pickled = os.path.join(ipc, "arguments.pickle")
    if capture:  # one more cell, run after the notebook's own and taken out again
        counts = [sum(c.cell_type == "code" for c in nb.cells[:i + 1]) for i in range(len(nb.cells))]
        cells = {counts[i]: (name, EXPLORERS[name].class_name) for i, name in capture.items()}  # Out[n]
        nb.cells.append(nbformat.v4.new_code_cell(_ARGUMENTS_CELL.format(cells=cells, path=pickled)))
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(ipc, "k"))
    client = nbclient.NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", allow_errors=False,
                                     store_widget_state=True,
                                     resources={"metadata": {"path": str(Path(path).parent)}})
    arguments = {}
    try:
        client.execute()
        if capture:
            nb.cells.pop()
            with open(pickled, "rb") as f:
                arguments = {k: base64.b64encode(pickle.dumps(v)).decode("ascii")
                             for k, v in pickle.load(f).items()}
    finally:
        shutil.rmtree(ipc, ignore_errors=True)
    return json.loads(nbformat.writes(nb)), time.perf_counter() - start, arguments


def notebook_entry(entry, arguments: str | None):
    """The catalogue ``entry`` built with the arguments its notebook's kernel used (a base64 pickle of
    ``(args, kwargs)`` from :func:`execute_notebook`), or ``entry`` itself when there are none."""
    if not arguments:
        return entry
    args, kwargs = pickle.loads(base64.b64decode(arguments))
    bound = inspect.signature(entry.load()).bind(*args, **kwargs).arguments
    return dataclasses.replace(entry, kwargs={**entry.kwargs, **bound})


def render_frames(name: str, out_dir: str, frames_url: str, binder: str, options: dict,
                  style: str, arguments: str | None = None, lang: str = "en") -> dict:
    """Render explorer ``name``'s frames into ``out_dir``, in language ``lang``; its player HTML and
    statistics. ``arguments``: the notebook's constructor arguments (see :func:`notebook_entry`)."""
    set_language(lang)
    from course_utils import use_course_style
    from course_utils.explorers import EXPLORERS
    from course_utils.site.frames import player_html, render_explorer

    use_course_style(style)
    entry = notebook_entry(EXPLORERS[name], arguments)
    press_note = options.pop("press_note", "")
    press_note = options.pop("press_note_ko", press_note) if get_language() == "ko" else press_note
    options.pop("press_note_ko", None)
    options.pop("arguments", None)
    rendered = render_explorer(entry, options)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for file, data in rendered.files.items():
        (folder / file).write_bytes(data)
    default = rendered.default_frame()
    return {"html": player_html(rendered, frames_url, binder, press_note),
            "frames": len(rendered.frames), "images": len(rendered.files),
            "bytes": sum(len(b) for b in rendered.files.values()), "seconds": rendered.seconds,
            "default_png": base64.b64encode(rendered.default_png).decode("ascii"),
            "default_readout": default.readout, "press": bool(options.get("press"))}


# ---------------------------------------------------------------------------------------------
# Notebook surgery
# ---------------------------------------------------------------------------------------------

def _widget_output(outputs) -> int | None:
    return next((j for j, o in enumerate(outputs) if WIDGET_VIEW in o.get("data", {})), None)


def kernel_view(nb: dict, cell: int) -> tuple[bytes | None, set]:
    """The kernel's PNG of the explorer shown by ``cell`` and every HTML value in the widget state."""
    outputs = nb["cells"][cell].get("outputs", [])
    j = _widget_output(outputs)
    png = None
    if j is not None and "image/png" in outputs[j]["data"]:
        png = base64.b64decode(outputs[j]["data"]["image/png"])
    state = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    html_values = {m["state"].get("value") for m in state.get("state", {}).values()
                   if m.get("model_name") == "HTMLModel"}
    return png, html_values


def same_picture(a: bytes, b: bytes) -> bool:
    """True when two PNGs have the same size and the same RGB pixels."""
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"))
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))
    return x.shape == y.shape and bool((x == y).all())


def finish_notebook(nb: dict, players: dict[int, str]) -> dict:
    """The executed notebook as the site shows it: players in place of the explorers' widgets, other
    widget views dropped (their static fallbacks kept), no widget state."""
    nb = copy.deepcopy(nb)
    nb.get("metadata", {}).pop("widgets", None)
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                if i in players:
                    out = {"output_type": "display_data", "metadata": {},
                           "data": {"text/html": players.pop(i)}}
                else:
                    data = {k: v for k, v in data.items() if k not in (WIDGET_VIEW, "text/plain")}
                    if not data:
                        continue
                    out = {**out, "data": data}
            outputs.append(out)
        cell["outputs"] = outputs
    for i, html in players.items():  # a cell whose widget was not displayed: the player goes below it
        nb["cells"][i]["outputs"].append({"output_type": "display_data", "metadata": {},
                                          "data": {"text/html": html}})
    return nb


# ---------------------------------------------------------------------------------------------
# Home page, static files
# ---------------------------------------------------------------------------------------------

def home_page(root: Path, template: str, edition=EDITIONS[0]) -> str:
    """The home page of an edition: ``template`` with the course map of its notebook 00 and its README's
    notebook table (links to the notebooks made relative to the site's pages)."""
    english = json.loads((root / "notebooks" / "00_start_here.ipynb").read_text(encoding="utf-8"))
    map_id = next(c["id"] for c in english["cells"]
                  if c["cell_type"] == "markdown" and "".join(c["source"]).startswith("## The map"))
    nb = json.loads((root / edition[2] / "00_start_here.ipynb").read_text(encoding="utf-8"))
    course_map = next("".join(c["source"]) for c in nb["cells"] if c["id"] == map_id)
    course_map = course_map.split("\n", 1)[1].strip()  # the template has its own heading
    readme = (root / edition[4]).read_text(encoding="utf-8")
    heading = "## The notebooks" if edition[0] == "en" else "## 노트북"
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    table = table.replace(f"]({edition[2]}/", "](notebooks/")
    return template.replace("{{ course_map }}", course_map).replace("{{ notebook_table }}", table)


def copy_mathjax(static: Path) -> None:
    """MathJax 3 (TeX to SVG: no web fonts, so it works from file://) into ``static/mathjax``."""
    dist = metadata.distribution(MATHJAX_DIST)
    base = Path(dist.locate_file(f"{MATHJAX_DIST}/static/mathjax"))
    for rel in MATHJAX_FILES:
        src, dst = base / rel, static / "mathjax" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)


#: The theme's Font Awesome script (1.6 MB on every page): it only serves icons added by hand, as SVG;
#: the theme's own icons come from its stylesheet and web font, which stay.
ICON_SCRIPT = "_static/scripts/fontawesome.js"
_ICON_SCRIPT_TAG = re.compile(r'[ \t]*<script defer src="[^"]*' + re.escape(ICON_SCRIPT)
                              + r'[^"]*"></script>\n?')


def prune(out: Path) -> None:
    """Drop what no page needs: Sphinx's build records, the theme's translation catalogues, source maps
    and icon script (:data:`ICON_SCRIPT`: the pages stop loading it), the empty source folder."""
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if ICON_SCRIPT in text:
            page.write_text(_ICON_SCRIPT_TAG.sub("", text), encoding="utf-8")
    unused = (".buildinfo", ".buildinfo.bak", "objects.inv", ICON_SCRIPT, ICON_SCRIPT + ".LICENSE.txt")
    for leftover in unused:
        (out / leftover).unlink(missing_ok=True)
    shutil.rmtree(out / "_static" / "locales", ignore_errors=True)
    for path in (out / "_static").rglob("*.map"):
        path.unlink()
    sources = out / "_sources"
    if sources.is_dir() and not any(sources.rglob("*")):
        sources.rmdir()


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise SystemExit(f"{out} is not empty and was not made by this command: choose an empty folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by python -m course_utils.site build\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------

def build(out_dir, *, root: Path = ROOT, jobs: int = 2, explorers=None, notebooks=None,
          frame_budget: str = "full", log=print) -> BuildReport:
    """Build the site into ``out_dir``.

    ``explorers``: pre-render only these catalogue names; ``notebooks``: only these notebook stems
    (default: all of both; the subsets are for quick checks while a notebook is being written);
    ``frame_budget``: "full" (``docs/site/frames.toml`` as it is) or a smaller one of its ``[budgets]``.
    """
    from course_utils.explorers import EXPLORERS

    start = time.perf_counter()
    root = Path(root).resolve()
    out = Path(out_dir).resolve()
    _prepare_out(out)
    report = BuildReport(out, frame_budget=frame_budget)
    config = site_config(root)
    style = config.get("style", "projector")
    only = notebooks
    editions = [e for e in EDITIONS if (root / e[2]).is_dir() and any((root / e[2]).glob("*.ipynb"))]
    books = {lang: [p for p in sorted((root / folder).glob("*.ipynb")) if only is None or p.stem in only]
             for lang, _, folder, _, _ in editions}
    names = [n for n, e in EXPLORERS.items() if (explorers is None or n in explorers)
             and any(nb.stem == e.notebook for nb in books["en"])]
    with tempfile.TemporaryDirectory(prefix="course-site-") as tmp:
        # one Sphinx project per edition: the English at the site's root, the Korean in ko/ (its own
        # navigation, html lang="ko"); the explorers' frames are shared under _frames/
        srcs = {}
        for edition in editions:
            lang, prefix, _, hw_folder, _ = edition
            src = srcs[lang] = Path(tmp) / "src" / lang
            shutil.copytree(root / CONFIG_DIR, src,
                            ignore=shutil.ignore_patterns("__pycache__", "*.toml", "ko"))
            template = (root / CONFIG_DIR / prefix / "index.md").read_text(encoding="utf-8")
            (src / "index.md").write_text(home_page(root, template, edition), encoding="utf-8")
            static = src / "_static"
            static.mkdir(exist_ok=True)
            for f in PACKAGE_STATIC.iterdir():
                shutil.copy2(f, static / f.name)
            copy_mathjax(static)
            (src / "notebooks").mkdir()
            (src / "homework").mkdir()
            for hw in sorted((root / hw_folder).glob("*.ipynb")):
                shutil.copy2(hw, src / "homework" / hw.name)

        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=ctx,
                                    initializer=_worker_init) as pool:
            # the longest jobs first (the notebooks, then the explorers with the most frames), the
            # short ones fill the gaps at the end; an explorer built with the notebook's own arguments
            # (`arguments = "notebook"` in frames.toml) waits for its notebook's kernel to give them
            opts = {n: explorer_options(config, n, frame_budget) for n in names}
            late = {n for n in names if opts[n].get("arguments") == "notebook"}
            nb_jobs, sources = {}, {}
            for lang, _, _, _, _ in editions:
                for p in sorted(books[lang], key=lambda p: -p.stat().st_size):
                    sources[lang, p.stem] = json.loads(p.read_text(encoding="utf-8"))
                    capture = {i: e.name for i, e in explorer_cells(sources[lang, p.stem], p.stem,
                                                                    [EXPLORERS[n] for n in late]).items()}
                    nb_jobs[lang, p.stem] = pool.submit(execute_notebook, str(p), capture=capture)
            first = config.get("first", [])
            heavy_first = sorted(names, key=lambda n: first.index(n) if n in first else len(first))

            def frames_job(edition, name, arguments=None):
                lang, prefix, folder = edition[:3]
                up = "../" * (prefix.count("/") + 1)
                return pool.submit(render_frames, name, str(out / FRAMES_DIR / prefix / name),
                                   f"{up}{FRAMES_DIR}/{prefix}{name}/",
                                   binder_url(root, EXPLORERS[name].notebook, folder),
                                   dict(opts[name]), style, arguments, lang)

            frame_jobs = {(e[0], name): frames_job(e, name) for e in editions for name in heavy_first
                          if name not in late}
            executed, arguments = {}, {}
            for (lang, stem), job in nb_jobs.items():
                executed[lang, stem] = job.result()
                for name, args in executed[lang, stem][2].items():
                    arguments[lang, name] = args
                    edition = next(e for e in editions if e[0] == lang)
                    frame_jobs[lang, name] = frames_job(edition, name, args)
            missing_args = {(e[0], n) for e in editions for n in late} - set(arguments)
            if missing_args:
                raise RuntimeError(f"no notebook cell gave the arguments of {sorted(missing_args)}")
            results = {}
            for lang, prefix, _, _, _ in editions:
                for name in names:
                    key = name if lang == "en" else f"{lang}/{name}"
                    results[lang, name] = report.explorers[key] = frame_jobs[lang, name].result()
                    if (lang, name) in arguments:
                        report.explorers[key]["arguments"] = arguments[lang, name]
                    log(f"frames {key}: {report.explorers[key]['frames']} settings, "
                        f"{report.explorers[key]['seconds']:.1f} s")
                for p in books[lang]:
                    stem = p.stem
                    nb, seconds, _ = executed[lang, stem]
                    report.notebook_seconds[stem if lang == "en" else f"{lang}/{stem}"] = seconds
                    log(f"executed {prefix}{stem}: {seconds:.1f} s")
                    players = {}
                    for cell, entry in explorer_cells(nb, stem, [EXPLORERS[n] for n in names]).items():
                        result = results[lang, entry.name]
                        png, html_values = kernel_view(nb, cell)
                        same = png is not None and same_picture(png, base64.b64decode(result["default_png"]))
                        readout = result["default_readout"] in html_values
                        result["kernel"] = ("not compared (kernel_check = false)"
                                            if opts[entry.name].get("kernel_check") is False else
                                            "same" if same and readout else
                                            f"differs (picture {'same' if same else 'differs'}, readout "
                                            f"{'same' if readout else 'differs'})")
                        players[cell] = result["html"]
                    missing = [n for n in names if EXPLORERS[n].notebook == stem and n not in
                               [e.name for e in explorer_cells(nb, stem, [EXPLORERS[n]]).values()]]
                    if missing:
                        raise RuntimeError(f"{prefix}{stem}: no code cell builds {missing} "
                                           "(catalogue class_name)")
                    finished = finish_notebook(nb, players)
                    (srcs[lang] / "notebooks" / f"{stem}.ipynb").write_text(
                        json.dumps(finished, ensure_ascii=False), encoding="utf-8")
        for e in report.explorers.values():
            e.pop("html", None)
            e.pop("default_png", None)
            e.setdefault("kernel", "not shown by a notebook")

        t0 = time.perf_counter()
        # every warning is an error, except in a partial build (the home page links every notebook)
        strict = ["-W", "--keep-going"] if only is None else []
        for lang, prefix, folder, _, _ in editions:
            cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", *strict, "-j", "1",
                   "-d", str(Path(tmp) / "doctrees" / lang), str(srcs[lang]), str(out / prefix)]
            env = dict(os.environ, COURSE_SITE_BINDER=binder_url(root, "00_start_here", folder),
                       COURSE_SITE_LANG=lang)
            result = subprocess.run(cmd, cwd=srcs[lang], env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"sphinx ({lang}) failed ({result.returncode}):\n{result.stdout[-4000:]}"
                                   f"\n{result.stderr[-6000:]}")
        report.sphinx_seconds = time.perf_counter() - t0
    for _lang, prefix, _, _, _ in editions:
        prune(out / prefix)
    report.pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    report.site_bytes = folder_bytes(out)
    report.seconds = time.perf_counter() - start
    (out / MARKER).write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")
    return report
