"""Plot defaults readable on a projector, and the on-plot message for degenerate states."""

from __future__ import annotations

import functools
import logging

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.text import Text

from course_utils.checks import check_choice

#: Okabe & Ito's colour-blind-safe palette (Color Universal Design), as matplotlib ships it.
OKABE_ITO = dict(zip(("black", "orange", "sky_blue", "green", "yellow", "blue", "vermillion", "purple"),
                     (to_hex(c) for c in mpl.color_sequences["okabe_ito"])))

#: Colours used across the course: one per concept, the same in every notebook. Okabe-Ito colours,
#: which readers with any common colour-vision deficiency can tell apart (give lines a style too).
COLORS = {
    "ce": OKABE_ITO["blue"],          # plain cross-entropy / the model
    "focal": OKABE_ITO["vermillion"],  # focal loss
    "smooth": OKABE_ITO["green"],     # label smoothing
    "baseline": "#767676",            # always-majority baseline, references (grey, 4.5:1 on white)
    "accent": OKABE_ITO["orange"],    # the current point of a slider
}

#: The default line cycle: each colour comes with its own line style, so lines differ without colour
#: too (in print, in greyscale, for a reader who cannot tell two hues apart). Yellow is left out: too
#: light on white.
CYCLE_COLORS = [OKABE_ITO[k]
                for k in ("blue", "vermillion", "green", "orange", "purple", "sky_blue", "black")]
CYCLE_LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1.5)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3))]

_SCALES = {"screen": 1.0, "projector": 1.3}

#: Fonts with Hangul, first found first: NanumGothic (Debian/Ubuntu ``fonts-nanum``, installed by
#: ``binder/apt.txt`` and ``.ci/run``), Noto Sans CJK (``fonts-noto-cjk``), then the ones Windows and macOS
#: ship. Matplotlib draws each glyph with the first family in the list that has it, so Latin text keeps
#: DejaVu Sans and Hangul comes from one of these.
HANGUL_FONTS = ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", "AppleGothic",
                "Apple SD Gothic Neo")


@functools.lru_cache(maxsize=1)
def hangul_font() -> str | None:
    """The first of :data:`HANGUL_FONTS` installed on this machine, or ``None``."""
    from matplotlib import font_manager

    def first():
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in HANGUL_FONTS if name in names), None)

    found = first()
    if found is None:  # matplotlib's font list predates the font's installation: add the files
        for path in font_manager.findSystemFonts():
            if any(key in path for key in ("Nanum", "NotoSansCJK", "malgun", "AppleGothic", "AppleSDGothic")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError):
                    continue
        found = first()
    if found:
        logging.getLogger("matplotlib.font_manager").addFilter(_SemiboldIsBold(found))
    return found


class _SemiboldIsBold(logging.Filter):
    """NanumGothic's bold file says weight 600, so matplotlib logs "Failed to find font weight bold for
    NanumGothic, now using 600" (into a notebook's output) each time bold Hangul is drawn: it is the bold
    face, and the line says nothing a reader can act on."""

    def __init__(self, family: str):
        super().__init__()
        self.family = family

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not ("Failed to find font weight" in message and self.family in message)


def font_families() -> list[str]:
    """The course's font list: DejaVu Sans for Latin letters, the installed Hangul font for Korean."""
    korean = hangul_font()
    return ["DejaVu Sans", korean] if korean else ["DejaVu Sans"]


def linestyle_for(color) -> object:
    """The line style that goes with ``color`` in the course's cycle (:data:`CYCLE_COLORS` with
    :data:`CYCLE_LINESTYLES`; ``"C3"`` reads the cycle in use), solid for any other colour: lines told
    apart by colour also differ by style."""
    if isinstance(color, str) and len(color) == 2 and color[0] == "C" and color[1].isdigit():
        cycle = mpl.rcParams["axes.prop_cycle"].by_key()
        styles = cycle.get("linestyle")
        return styles[int(color[1]) % len(styles)] if styles else "-"
    try:
        return CYCLE_LINESTYLES[[c.lower() for c in CYCLE_COLORS].index(to_hex(color).lower())]
    except ValueError:
        return "-"


def contrast_ratio(color, background="#ffffff") -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21; text needs 4.5 or more)."""
    def luminance(c):
        rgb = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in mpl.colors.to_rgb(c)]
        return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]

    hi, lo = sorted((luminance(color), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@functools.lru_cache(maxsize=64)
def text_color(color, background="#ffffff", ratio: float = 4.5) -> str:
    """``color`` darkened (same hue and saturation) until text in it reaches ``ratio`` against
    ``background`` (WCAG AA: 4.5): the colour of a line, fit to name that line in a readout."""
    import colorsys

    h, light, sat = colorsys.rgb_to_hls(*mpl.colors.to_rgb(color))
    while contrast_ratio(colorsys.hls_to_rgb(h, light, sat), background) < ratio and light > 0:
        light = max(0.0, light - 0.01)
    return to_hex(colorsys.hls_to_rgb(h, light, sat))


def use_course_style(scale: str = "projector") -> None:
    """Set matplotlib defaults: large fonts and thick lines for a projector, or ``"screen"``; the
    colour-blind-safe line cycle (:data:`CYCLE_COLORS` paired with :data:`CYCLE_LINESTYLES`)."""
    check_choice("scale", scale, _SCALES)
    s = _SCALES[scale]
    mpl.rcParams.update({
        "font.family": font_families(),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "font.size": 10 * s,
        "axes.titlesize": 11 * s,
        "axes.labelsize": 10 * s,
        "xtick.labelsize": 9 * s,
        "ytick.labelsize": 9 * s,
        "legend.fontsize": 9 * s,
        "lines.linewidth": 2.0,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=CYCLE_COLORS) + cycler(linestyle=CYCLE_LINESTYLES),
    })


def show_message(ax, text: str, *, artist=None):
    """Write ``text`` in the middle of ``ax`` (for degenerate slider values); return the Text artist.

    Pass the artist returned by an earlier call to update it in place instead of adding another.
    An empty ``text`` hides the message.
    """
    if artist is None:
        artist = PastedText(0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center",
                            fontsize=mpl.rcParams["font.size"], wrap=True, zorder=10,
                            bbox={"boxstyle": "round", "fc": "#fff7e0", "ec": "#c8a000"})
        artist.set_clip_path(ax.patch)  # as ax.text does
        ax._add_text(artist)
    artist.set_text(text)
    artist.set_visible(bool(text))
    return artist


class PastedText(Text):
    """A ``Text`` rendered once per wording and place into a bitmap that later draws paste.

    Rendering text draws every glyph (a wrapped two-line message with its box: ~8 ms); a widget that
    redraws a message on each slider move pastes the same pixels in ~0.2 ms instead. Any other renderer
    than Agg (a PDF, an SVG) draws the text as usual.
    """

    #: How many wordings (and places) are kept, the most recently drawn last.
    keep = 16
    _pasted: dict | None = None  # key -> ((x, y), RGBA bitmap) or None (nothing drawn)

    def _paste_key(self, renderer) -> tuple:
        xy = tuple(self.get_transform().transform(self.get_unitless_position()))
        bbox = self.get_bbox_patch()
        return (self.get_text(), xy, renderer.width, renderer.height, renderer.dpi, self.get_fontsize(),
                self.get_color(), self.get_wrap(), self.get_rotation(), self.get_ha(), self.get_va(),
                self.get_fontweight(), self.get_alpha(), self.get_zorder(),
                None if bbox is None else (bbox.get_facecolor(), bbox.get_edgecolor()))

    def draw(self, renderer):
        if not self.get_visible() or not self.get_text() or type(renderer) is not RendererAgg:
            return super().draw(renderer)
        key = self._paste_key(renderer)
        if self._pasted is None:
            self._pasted = {}
        pasted = self._pasted.pop(key, False)
        if pasted is False:
            alone = RendererAgg(renderer.width, renderer.height, renderer.dpi)  # transparent
            super().draw(alone)
            alpha = np.asarray(alone.buffer_rgba())[..., 3]
            rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
            pasted = None if rows.size == 0 else (
                (int(cols[0]), int(renderer.height - rows[-1] - 1)),
                np.array(np.asarray(alone.buffer_rgba())[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1][::-1]))
            while len(self._pasted) >= self.keep:
                self._pasted.pop(next(iter(self._pasted)))
        self._pasted[key] = pasted
        if pasted is not None:
            gc = renderer.new_gc()
            renderer.draw_image(gc, *pasted[0], pasted[1])
            gc.restore()
        self.stale = False


def pasted_text(artist: Text) -> Text:
    """Turn ``artist`` (a title, ``ax.text(...)``) into a :class:`PastedText` in place; return it."""
    artist.__class__ = PastedText
    return artist


def new_figure(figsize=(8.0, 4.0), *, nrows=1, ncols=1, dpi=100, **subplot_kw):
    """A pyplot-free figure with an Agg canvas and its axes (``Figure.subplots`` arguments)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, **subplot_kw)
    return fig, axes
