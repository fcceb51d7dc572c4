"""Pre-rendered explorers: every frame and readout of a catalogue explorer, made at build time.

An explorer of :data:`course_utils.explorers.EXPLORERS` is built in this process, exactly as the
notebook builds it, and its controls are moved from Python the way the browser moves them in a
live kernel. After each move the explorer's own PNG (:meth:`PlotWidget.png`) and its own readout
HTML are kept: the numbers on the static page are the kernel's numbers.

Which settings are rendered (:func:`plan_states`):

* every control swept alone, the others at their defaults -- every position of a slider when it has
  few (one-control explorers: up to ``single_positions``), an evenly spaced grid that keeps the
  default otherwise;
* a control that the explorer shows only in some settings (a scheduler's own sliders) swept in each
  setting that shows it;
* the full grid of the controls named in the site config's ``grid`` (focal γ × α), or of all
  controls when that grid has at most ``auto_grid`` frames.

Frames are indexed-colour PNGs (Pillow's fast octree quantizer: ~3x smaller than the live RGB
PNG), identical frames are written once, and :func:`player_html` writes the page's player: plain
HTML controls (range, select, radio, check box) with labels, the first frame, its readout, and a
JSON manifest that ``static/player.js`` reads to swap frames.
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser

import ipywidgets as W
from PIL import Image

from course_utils.i18n import tr

#: Defaults of the frame plan; docs/site/frames.toml overrides them per explorer.
PLAN_DEFAULTS = {
    "single_positions": 121,  # a one-control explorer: every slider position up to this many
    "positions": 41,          # a slider of an explorer with several controls
    "auto_grid": 320,         # render the full grid of all controls when it has at most this many frames
    "grid": [],               # controls whose full grid is rendered anyway
    "max_frames": 700,        # the plan is thinned (fewer slider positions) until it fits
    "press": "",              # a button pressed before each frame is taken (a fresh explorer each time)
    "colors": 256,            # palette size of the indexed PNG
    "arguments": "catalogue",  # or "notebook": built with the arguments the notebook's kernel passed
}


# ---------------------------------------------------------------------------------------------
# Controls as the page shows them
# ---------------------------------------------------------------------------------------------

@dataclass
class SiteControl:
    """One control of an explorer as the static page shows it.

    ``kind``: ``"range"`` (a slider over ``values``), ``"select"`` (a drop-down), ``"radio"`` (a
    group of toggle buttons), ``"checkbox"`` or ``"button"`` (an action: not pre-rendered);
    ``values``: the Python values that are rendered, in order; ``labels``: how each is shown.
    """

    name: str
    kind: str
    label: str
    values: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    default: object = None

    def index(self, value) -> int:
        for i, v in enumerate(self.values):
            if _same(v, value):
                return i
        raise KeyError(f"{self.name}: value {value!r} is not among the rendered values")

    def label_of(self, value) -> str:
        return self.labels[self.index(value)]

    def manifest(self) -> dict:
        values = [list(v) if isinstance(v, tuple) else v for v in self.values]
        return {"name": self.name, "kind": self.kind, "label": self.label, "labels": self.labels,
                "values": values, "default": self.index(self.default) if self.kind != "button" else None}


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return a == b


def _fmt(control, value) -> str:
    """A value as the live widget's readout writes it."""
    spec = getattr(control, "readout_format", None) or ("d" if isinstance(value, int) else ".2f")
    try:
        if isinstance(value, tuple):
            return " – ".join(format(v, spec) for v in value)
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def _grid(lo: float, hi: float, step: float) -> list[float]:
    n = int(round((hi - lo) / step)) + 1
    return [lo + i * step for i in range(n)]


def _thin(values: list, default, cap: int) -> list:
    """At most about ``cap`` of ``values``, evenly spaced, keeping both ends and ``default``."""
    n = len(values)
    if n <= cap:
        return list(values)
    try:
        d = next(i for i, v in enumerate(values) if _same(v, default))
    except StopIteration:
        d = None
    k0 = math.ceil((n - 1) / max(cap - 1, 1))
    stride = next((k for k in range(k0, 2 * k0 + 1) if d is None or d % k == 0), k0)
    keep = set(range(0, n, stride)) | {n - 1} | ({d} if d is not None else set())
    return [values[i] for i in sorted(keep)]


def site_control(name: str, control, cap: int) -> SiteControl | None:
    """The :class:`SiteControl` of an ipywidgets control (None for one the page cannot show)."""
    label = getattr(control, "description", "") or name
    if isinstance(control, W.Button):
        return SiteControl(name, "button", label)
    if not hasattr(control, "value"):
        return None
    value = control.value
    if hasattr(control, "options") and getattr(control, "_options_values", None) is not None:
        values, labels = list(control._options_values), [str(x) for x in control._options_labels]
        kinds = {W.Dropdown: "select", W.Select: "select", W.SelectionSlider: "range"}
        kind = kinds.get(type(control), "radio")
        return SiteControl(name, kind, label, values, labels, value)
    if isinstance(value, bool):
        return SiteControl(name, "checkbox", label, [False, True], ["off", "on"], value)
    if isinstance(control, W.FloatLogSlider):
        exps = _thin(_grid(control.min, control.max, control.step), math.log(value, control.base), cap)
        values = [float(f"{control.base ** e:.12g}") for e in exps]
        if not any(_same(v, value) for v in values):
            values = sorted([*values, value])
        return SiteControl(name, "range", label, values, [_fmt(control, v) for v in values], value)
    if isinstance(value, tuple) and hasattr(control, "min"):  # a range slider: pairs in a drop-down
        lo, hi = value
        grid = _thin(list(range(control.min, control.max + 1, control.step)), lo, cap // 2 or 1)
        pairs = {value} | {(x, hi) for x in grid if x <= hi} | {(lo, x) for x in grid if x >= lo}
        values = sorted(pairs)
        return SiteControl(name, "select", label, values, [_fmt(control, v) for v in values], value)
    if hasattr(control, "min") and hasattr(control, "step"):
        integer = isinstance(value, int)
        raw = _grid(control.min, control.max, control.step)
        values = [int(round(v)) if integer else float(f"{v:.10g}") for v in raw]
        values = _thin(values, value, cap)
        if not any(_same(v, value) for v in values):
            values = sorted([*values, value])
        return SiteControl(name, "range", label, values, [_fmt(control, v) for v in values], value)
    return None


# ---------------------------------------------------------------------------------------------
# The plan and the rendering
# ---------------------------------------------------------------------------------------------

@dataclass
class Frame:
    """One rendered setting: the control values, the PNG's file name, the readout and what was hidden."""

    state: dict
    image: str
    readout: str
    hidden: tuple = ()
    disabled: tuple = ()


@dataclass
class RenderedExplorer:
    name: str
    title: str
    notebook: str
    class_name: str
    controls: list
    frames: list
    width: int
    height: int
    seconds: float = 0.0
    files: dict = field(default_factory=dict)  # image name -> PNG bytes
    default_png: bytes = b""  # the explorer's own first picture (RGB PNG), as a kernel shows it

    def control(self, name: str) -> SiteControl:
        return next(c for c in self.controls if c.name == name)

    def key(self, state: dict) -> str:
        return ".".join(str(c.index(state[c.name])) for c in self.playable())

    def playable(self) -> list[SiteControl]:
        return [c for c in self.controls if c.kind != "button"]

    def default_frame(self) -> Frame:
        default = {c.name: c.default for c in self.playable()}
        key = self.key(default)
        return next(f for f in self.frames if self.key(f.state) == key)


def _settable(widget) -> dict:
    return {n: c for n, c in widget.controls.items() if hasattr(c, "value") and not isinstance(c, W.Button)}


def _off(widget) -> tuple[tuple, tuple]:
    hidden, disabled = [], []
    for name, c in widget.controls.items():
        if getattr(c.layout, "display", None) == "none" or getattr(c.layout, "visibility", None) == "hidden":
            hidden.append(name)
        elif getattr(c, "disabled", False):
            disabled.append(name)
    return tuple(hidden), tuple(disabled)


class _Renderer:
    """Moves an explorer's controls and keeps what it shows, one :class:`Frame` per distinct setting."""

    def __init__(self, entry, options: dict):
        self.entry = entry
        self.options = options
        self.press = options.get("press") or ""
        self.widget = entry()
        self.frames: dict[tuple, Frame] = {}
        self.files: dict[str, bytes] = {}
        self._by_hash: dict[str, str] = {}

    def _set(self, widget, state: dict) -> None:
        controls = _settable(widget)
        for name, value in state.items():
            if name in controls and not _same(controls[name].value, value):
                controls[name].value = value

    def take(self, state: dict) -> Frame:
        """Move to ``state`` (in order, as a person would), take the frame; returns the frame."""
        if self.press:  # an action explorer: every frame is a fresh explorer after pressing the button
            widget = self.entry()
            self._set(widget, state)
            widget.controls[self.press].click()
        else:
            widget = self.widget
            self._set(widget, state)
        actual = {n: c.value for n, c in _settable(widget).items()}
        key = tuple(sorted((n, repr(v)) for n, v in actual.items()))
        if key in self.frames:
            return self.frames[key]
        if widget.last_error:
            raise RuntimeError(f"{self.entry.name}: drawing {actual} failed:\n{widget.last_error}")
        png = quantized_png(widget.png(), self.options["colors"])
        digest = hashlib.sha1(png).hexdigest()
        name = self._by_hash.get(digest)
        if name is None:
            name = f"{len(self._by_hash):04d}.png"
            self._by_hash[digest] = name
            self.files[name] = png
        readout = widget.readout.value if widget.readout is not None else ""
        hidden, disabled = _off(widget)
        frame = Frame(actual, name, readout, hidden, disabled)
        self.frames[key] = frame
        return frame


def plan_states(controls: dict[str, SiteControl], defaults: dict, options: dict, visible) -> list[dict]:
    """The settings to render, in an order where consecutive settings differ in few controls.

    ``visible(state)``: the names of the controls shown in that setting (rendering answers it).
    """
    playable = [c for c in controls.values() if c.kind != "button"]
    states: list[dict] = [dict(defaults)]
    shown_default = visible(defaults)
    contexts = [dict(defaults)]
    for c in playable:
        if c.name not in shown_default:
            continue
        for v in c.values:
            s = {**defaults, c.name: v}
            states.append(s)
            shown = visible(s)
            if shown != shown_default and not any(shown == visible(x) for x in contexts[1:]):
                contexts.append(s)
    for context in contexts[1:]:  # the controls that only this setting shows
        shown = visible(context)
        switch = {n for n in context if not _same(context[n], defaults[n])}
        for c in playable:
            if c.name in shown and c.name not in switch:
                states += [{**context, c.name: v} for v in c.values]
    grid = [n for n in options.get("grid", []) if n in controls]
    if not grid:
        total = math.prod(len(c.values) for c in playable) if playable else 0
        if len(playable) > 1 and total <= options["auto_grid"]:
            grid = [c.name for c in playable]
    if grid:
        for combo in itertools.product(*(controls[n].values for n in grid)):
            states.append({**defaults, **dict(zip(grid, combo))})
    unique, seen = [], set()
    for s in states:
        k = tuple(sorted((n, repr(v)) for n, v in s.items()))
        if k not in seen:
            seen.add(k)
            unique.append(s)
    return unique


def render_explorer(entry, options: dict | None = None) -> RenderedExplorer:
    """Build the catalogue ``entry``, render every planned setting; a :class:`RenderedExplorer`."""
    opts = {**PLAN_DEFAULTS, **(options or {})}
    start = time.perf_counter()
    r = _Renderer(entry, opts)
    widget = r.widget
    first_png = widget.png()
    n_settable = len(_settable(widget))
    cap = opts["single_positions"] if n_settable == 1 else opts["positions"]
    # The plan asks which controls each setting shows: the explorer's own observers answer that (they
    # hide and show controls); nothing is drawn meanwhile.
    initial = {n: c.value for n, c in _settable(widget).items()}
    widget.refresh = lambda: None
    try:
        while True:
            r._set(widget, initial)  # (a thinner plan starts again from the explorer as built)
            controls = {n: sc for n, c in widget.controls.items()
                        if (sc := site_control(n, c, cap)) is not None}
            defaults = {n: c.default for n, c in controls.items() if c.kind != "button"}
            shown_cache: dict = {}

            def visible(state, _cache=shown_cache, _names=frozenset(controls)):
                k = tuple(sorted((n, repr(v)) for n, v in state.items()))
                if k not in _cache:
                    r._set(widget, state)
                    _cache[k] = _names - set(_off(widget)[0])
                return _cache[k]

            states = plan_states(controls, defaults, opts, visible)
            if len(states) <= opts["max_frames"] or cap <= 3:
                break
            cap = max(3, cap // 2 + 1)
        r._set(widget, defaults)
    finally:
        del widget.refresh
    widget.refresh()
    kept = {}
    for s in states:
        f = r.take(s)
        kept[id(f)] = f
    r._set(widget, defaults)
    frames = list(kept.values())
    # a value a control took by itself (an optimizer that resets the lr) becomes one of its positions
    for c in controls.values():
        if c.kind == "button":
            continue
        for f in frames:
            if not any(_same(f.state[c.name], v) for v in c.values):
                c.values.append(f.state[c.name])
                if getattr(widget.controls[c.name], "_options_values", None) is not None:
                    raise RuntimeError(f"{entry.name}: control {c.name} took {f.state[c.name]!r}, "
                                       f"not one of its options")
                c.values.sort()
                c.labels = [_fmt(widget.controls[c.name], v) for v in c.values]
    files = {f.image: r.files[f.image] for f in frames}
    first = Image.open(io.BytesIO(next(iter(files.values()))))
    rendered = RenderedExplorer(entry.name, tr(entry.title), entry.notebook, entry.class_name,
                                list(controls.values()), frames, first.width, first.height, files=files,
                                default_png=first_png)
    rendered.seconds = time.perf_counter() - start
    return rendered


def quantized_png(png: bytes, colors: int = 256) -> bytes:
    """``png`` as an indexed-colour PNG of at most ``colors`` colours (Pillow's fast octree)."""
    rgb = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    rgb.quantize(colors, method=Image.Quantize.FASTOCTREE).save(out, "PNG", compress_level=6)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Text of a frame
# ---------------------------------------------------------------------------------------------

class _Text(HTMLParser):
    BREAKS = {"br", "p", "div", "tr", "li", "table"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BREAKS:
            self.parts.append(". ")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_data(self, data):
        self.parts.append(data)


def html_text(fragment: str) -> str:
    """The text of an HTML fragment on one line (a readout as alt text)."""
    p = _Text()
    p.feed(fragment or "")
    p.close()
    text = " ".join("".join(p.parts).split())
    while ". ." in text:
        text = text.replace(". .", ".")
    return text.strip(" .")


def alt_text(rendered: RenderedExplorer, frame: Frame) -> str:
    """What a frame shows, in words: the explorer, its settings and its readout."""
    settings = ", ".join(f"{c.label} {c.label_of(frame.state[c.name])}" for c in rendered.playable()
                         if c.name not in frame.hidden)
    readout = html_text(frame.readout)
    return tr("Plot: {title} ({settings}).", title=rendered.title, settings=settings) + (
        f" {readout}" if readout else "")


# ---------------------------------------------------------------------------------------------
# The player on the page
# ---------------------------------------------------------------------------------------------

def manifest(rendered: RenderedExplorer, frames_url: str) -> dict:
    """What ``player.js`` needs: controls, frames by key (image, readout index, alt, hidden)."""
    readouts: list[str] = []
    index: dict[str, int] = {}
    frames = {}
    for f in rendered.frames:
        if f.readout not in index:
            index[f.readout] = len(readouts)
            readouts.append(f.readout)
        entry = [f.image, index[f.readout], alt_text(rendered, f)]
        if f.hidden or f.disabled:
            entry += [list(f.hidden), list(f.disabled)]
        frames[rendered.key(f.state)] = entry
    return {"name": rendered.name, "base": frames_url, "controls": [c.manifest() for c in rendered.controls],
            "frames": frames, "readouts": readouts,
            "nearest": tr("Not pre-rendered with the other settings; nearest rendered setting: {changed}. "
                          "The live notebook combines any settings.")}


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def player_html(rendered: RenderedExplorer, frames_url: str, binder_url: str, press_note: str = "") -> str:
    """The static player of one explorer (HTML), its frames under ``frames_url``."""
    pid = f"cu-{rendered.name}"
    default = rendered.default_frame()
    data = manifest(rendered, frames_url)
    parts = [f'<figure class="cu-player" id="{pid}" data-player="{_esc(rendered.name)}">']
    note = tr("Pre-rendered from the course's own explorer: every setting here was computed at build time, "
              "with the numbers the live notebook shows.") + " "
    if press_note:
        note += press_note + " "
    live = tr("The live version, where every combination works, needs a Python kernel: "
              "<a href=\"{url}\">open this notebook on Binder</a>.", url=_esc(binder_url))
    parts.append(f'<p class="cu-note">{_esc(note)}{live}</p>')
    parts.append(f'<div class="cu-controls" role="group" aria-label="{_esc(rendered.title)}: '
                 f'{_esc(tr("controls"))}">')
    for c in rendered.controls:
        cid = f"{pid}-{c.name}"
        hidden = " hidden" if c.name in default.hidden else ""
        off = " disabled" if c.name in default.disabled else ""
        if c.kind == "button":
            parts.append(f'<div class="cu-control cu-button" data-control="{_esc(c.name)}"{hidden}>'
                         f'<button type="button" id="{cid}" disabled '
                         f'title="{_esc(tr("needs a live kernel"))}">'
                         f'{_esc(c.label)}</button></div>')
            continue
        i = c.index(default.state[c.name])
        if c.kind == "range":
            parts.append(
                f'<div class="cu-control cu-range" data-control="{_esc(c.name)}"{hidden}>'
                f'<label for="{cid}">{_esc(c.label)}</label>'
                f'<input type="range" id="{cid}" min="0" max="{len(c.values) - 1}" step="1" value="{i}" '
                f'aria-valuetext="{_esc(c.labels[i])}"{off}>'
                f'<output for="{cid}" aria-hidden="true">{_esc(c.labels[i])}</output></div>')
        elif c.kind == "select":
            opts = "".join(f'<option value="{j}"{" selected" if j == i else ""}>{_esc(label)}</option>'
                           for j, label in enumerate(c.labels))
            parts.append(f'<div class="cu-control cu-select" data-control="{_esc(c.name)}"{hidden}>'
                         f'<label for="{cid}">{_esc(c.label)}</label>'
                         f'<select id="{cid}"{off}>{opts}</select></div>')
        elif c.kind == "radio":
            radios = "".join(
                f'<label class="cu-radio"><input type="radio" name="{cid}" value="{j}"'
                f'{" checked" if j == i else ""}{off}> {_esc(label)}</label>'
                for j, label in enumerate(c.labels))
            parts.append(f'<fieldset class="cu-control cu-radios" data-control="{_esc(c.name)}"{hidden}>'
                         f'<legend>{_esc(c.label)}</legend>{radios}</fieldset>')
        elif c.kind == "checkbox":
            parts.append(f'<div class="cu-control cu-check" data-control="{_esc(c.name)}"{hidden}>'
                         f'<input type="checkbox" id="{cid}"{" checked" if i else ""}{off}>'
                         f'<label for="{cid}">{_esc(c.label)}</label></div>')
    parts.append("</div>")
    alt = alt_text(rendered, default)
    parts.append(f'<div class="cu-frame"><img class="cu-img" src="{_esc(frames_url + default.image)}" '
                 f'width="{rendered.width}" height="{rendered.height}" alt="{_esc(alt)}" loading="lazy" '
                 f'decoding="async"></div>')
    parts.append(f'<div class="cu-readout" aria-live="polite">{default.readout}</div>')
    parts.append('<p class="cu-status" role="status"></p>')
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    parts.append(f'<script type="application/json" class="cu-manifest">{payload}</script>')
    parts.append("</figure>")
    return "".join(parts)
