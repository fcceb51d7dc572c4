"""Plot defaults readable on a projector, and the on-plot message for degenerate states."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from course_utils.checks import check_choice

#: Colours used across the course: one per concept, the same in every notebook.
COLORS = {
    "ce": "#1f77b4",        # plain cross-entropy / the model
    "focal": "#d62728",     # focal loss
    "smooth": "#2ca02c",    # label smoothing
    "baseline": "#7f7f7f",  # always-majority baseline, references
    "accent": "#ff7f0e",    # the current point of a slider
}

_SCALES = {"screen": 1.0, "projector": 1.3}


def use_course_style(scale: str = "projector") -> None:
    """Set matplotlib defaults: large fonts and thick lines for a projector, or ``"screen"``."""
    check_choice("scale", scale, _SCALES)
    s = _SCALES[scale]
    mpl.rcParams.update({
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
