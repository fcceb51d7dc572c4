"""Plot defaults readable on a projector, and the on-plot message for degenerate states."""

from __future__ import annotations

import matplotlib as mpl
from cycler import cycler
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

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


def use_course_style(scale: str = "projector") -> None:
    """Set matplotlib defaults: large fonts and thick lines for a projector, or ``"screen"``; the
    colour-blind-safe line cycle (:data:`CYCLE_COLORS` paired with :data:`CYCLE_LINESTYLES`)."""
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
        "axes.prop_cycle": cycler(color=CYCLE_COLORS) + cycler(linestyle=CYCLE_LINESTYLES),
    })


def show_message(ax, text: str, *, artist=None):
    """Write ``text`` in the middle of ``ax`` (for degenerate slider values); return the Text artist.

    Pass the artist returned by an earlier call to update it in place instead of adding another.
    An empty ``text`` hides the message.
    """
    if artist is None:
        artist = ax.text(0.5, 0.5, "", transform=ax.transAxes, ha="center", va="center",
                         fontsize=mpl.rcParams["font.size"], wrap=True, zorder=10,
                         bbox={"boxstyle": "round", "fc": "#fff7e0", "ec": "#c8a000"})
    artist.set_text(text)
    artist.set_visible(bool(text))
    return artist


def new_figure(figsize=(8.0, 4.0), *, nrows=1, ncols=1, dpi=100, **subplot_kw):
    """A pyplot-free figure with an Agg canvas and its axes (``Figure.subplots`` arguments)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, **subplot_kw)
    return fig, axes
