"""The course's widget pattern: one persistent figure, redrawn into an ``ipywidgets.Image``.

Measured in JupyterLab (the README's benchmark section): updating the artists of one figure and
sending its PNG into an ``Image`` answers a slider in ~45 ms in the browser, against ~80-100 ms for
a new inline figure per move. The figure is a plain ``matplotlib.figure.Figure`` (no pyplot state,
no leak per move), laid out once.

An explorer subclasses :class:`PlotWidget` and follows a one-way contract:

* its ``__init__`` builds the figure with the topic module's ``plot_*(ax, ...)`` functions and its
  controls with :mod:`course_utils.explorers.controls`, passes both (and the artists that change,
  ``dynamic=[...]``) to ``super().__init__``, and ends with ``self.refresh()`` -- the first render
  is explicit;
* ``update(**values)`` receives the current control values and only calls compute functions and
  ``update_*(artists, ...)`` functions of the topic module, then sets ``self.readout.value``; or, for a
  readout that takes a while to write, keeps what it needs and leaves the text to ``readout_html()``,
  which runs after the new plot has gone to the page.
  Buttons act through their own ``on_click``, never by watching a value change inside ``update``.

``widget.controls`` maps names to the ipywidgets controls, so tests and the benchmark can move
every control from Python (``widget.controls["gamma"].value = 0``) and time ``widget.refresh``.
"""

from __future__ import annotations

import base64
import contextlib
import time
import traceback
from html import escape as html_escape

import ipywidgets as W
from matplotlib.collections import Collection

from course_utils.checks import check_choice
from course_utils.explorers.png import IndexedEncoder, rgba_png
from course_utils.i18n import get_language, tr
from course_utils.plotting import new_figure, show_message

__all__ = ["PlotWidget", "new_figure", "rgba_png", "control_test_values", "sweep_controls",
           "PNG_DATA_URL_PREFIX"]

#: What the image widget's value starts with: the plot goes to the page as a base64 ``data:`` URL.
PNG_DATA_URL_PREFIX = b"data:image/png;base64,"


class PlotWidget:
    """Controls above a persistent figure shown as an ``ipywidgets.Image``, plus an HTML readout.

    Subclasses implement ``update(**values)``. To stay under 20 ms a move, the widget blits: the
    static part of the figure (axes, ticks, labels, fixed curves) is drawn once and kept as a
    bitmap; on each move only the ``dynamic`` artists (given to the constructor, or added later
    with :meth:`dynamic`) are drawn over it. A change of any axes' limits is detected and triggers
    a full redraw by itself; after changing anything else that is static (a title, tick labels, a
    non-dynamic artist) call :meth:`invalidate`.

    Errors raised in ``update`` are caught and written on the figure (never a traceback in the
    lecture); ``last_error`` keeps the traceback for tests.
    """

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        # how this explorer was built: the static site rebuilds a notebook's explorer the same way
        self.made_with = (args, kwargs)
        return self

    def __init__(self, fig, controls: dict, *, dynamic=(), layout: str = "top", width: int | None = None,
                 readout: bool = True, header=(), backgrounds: int = 0, pngs: int = 0):
        """``fig``: the figure, built once; ``controls``: name -> ipywidgets control (or button);
        ``dynamic``: the artists that ``update`` changes; ``layout``: controls above the plot
        (``"top"``), below it (``"bottom"``), or above it with the readout beside the plot (``"side"``,
        for a table next to a figure); ``width``: the image's width in px (default: the figure's);
        ``header``: widgets shown between the controls and the plot (a progress bar, say);
        ``backgrounds``: how many static backgrounds to keep, by :meth:`static_state` (0: only the last
        one) -- for a widget whose axes limits take a few values back and forth, each full redraw
        (tens of ms: tick labels are text) is then done once per value; ``pngs``: how many PNGs to keep
        by :meth:`plot_state` (for a widget with a few plots in all: each is drawn and encoded once).
        Nothing is drawn until the subclass calls :meth:`refresh`.
        """
        check_choice("layout", layout, ("top", "bottom", "side"))
        self.fig = fig
        self.controls = dict(controls)
        px = width or int(fig.get_figwidth() * fig.dpi)
        # The PNG travels as a data: URL (format "url"). With format "png" the page wraps each frame in
        # a Blob and registers a blob: URL with the browser process before the <img> can fetch it;
        # measured in JupyterLab + Chromium (2026-12-01, same page, same 30-60 KB frames): a data: URL
        # is on the <img> ~5 ms sooner and loaded ~15-20 ms sooner, for a third more bytes sent.
        self.image = W.Image(format="url", width=f"{px}px", layout=W.Layout(width=f"{px}px"))
        self._png = b""  # the PNG bytes the image shows
        self.readout = W.HTML("") if readout else None
        self.last_error: str | None = None
        self.last_update_s: float | None = None  # the last refresh, readout included
        self.last_plot_s: float | None = None  # the same refresh until its plot was sent (or kept)
        self._error_text = None
        self._dynamic: list = []
        self._background = None
        self._background_state = None
        self._backgrounds: dict = {}  # static_state() -> background, the most recently used last
        self._keep_backgrounds = int(backgrounds)
        self._pngs: dict = {}  # plot_state() -> PNG bytes, the most recently used last
        self._keep_pngs = int(pngs)
        self._drawn_state = None
        self._encoder: IndexedEncoder | None = None  # fitted to the first frame
        for artist in dynamic:
            self.dynamic(artist)
        for control in self.controls.values():
            if hasattr(control, "value"):
                control.observe(self._on_change, names="value")
        control_box = W.HBox(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap"))
        if layout == "side" and self.readout is not None:  # readout beside the plot (below when narrow)
            self.readout.layout = W.Layout(margin="0 0 0 16px", width="430px")
            body = [W.HBox([self.image, self.readout],
                           layout=W.Layout(flex_flow="row wrap", align_items="flex-start"))]
        else:
            body = [self.image] + ([self.readout] if self.readout is not None else [])
        parts = [control_box, *header, *body] if layout != "bottom" else [*header, *body[:1], control_box,
                                                                          *body[1:]]
        self.box = W.VBox(parts)

    # -- to be provided by subclasses -------------------------------------------------------
    def update(self, **values) -> None:  # pragma: no cover - abstract
        """Change the figure's artists (and ``self.readout.value``) for the control values."""
        raise NotImplementedError

    def readout_html(self) -> str | None:
        """The readout for what the last ``update`` drew, or None (the default: ``update`` set it).

        Called after the new plot has been sent, so that the text a move changes never delays its plot:
        a widget whose readout takes a while to write (tables, translated sentences) keeps in ``update``
        what the text needs and writes it here.
        """
        return None

    # -- for subclasses ----------------------------------------------------------------------
    def dynamic(self, artist):
        """Mark ``artist`` as redrawn on every move (it is left out of the cached background)."""
        artist.set_animated(True)
        self._dynamic.append(artist)
        self._background = None
        return artist

    def invalidate(self) -> None:
        """Ask for a full redraw on the next refresh (something static has changed)."""
        self._background = None
        self._backgrounds.clear()
        self._pngs.clear()

    def static_state(self):
        """What the cached background shows: by default each axes' limits, scales, labels and title.

        The background drawn for an equal state is reused (the last one, or up to ``backgrounds`` of
        them), and a different state is drawn afresh. Override it (adding to
        ``super().static_state()``) when something else static changes with the controls (a note), instead
        of calling :meth:`invalidate`.
        """
        return tuple((ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(),
                      ax.get_ylabel(), *(t.get_text() for t in (ax.title, ax._left_title, ax._right_title)
                                         if not t.get_animated()))  # (a dynamic title is not static)
                     for ax in self.fig.axes)

    # -- machinery ---------------------------------------------------------------------------
    def values(self) -> dict:
        """The current value of every control, by name."""
        return {name: c.value for name, c in self.controls.items() if hasattr(c, "value")}

    def refresh(self) -> None:
        """Recompute and redraw for the current control values; push the PNG to the page."""
        start = time.perf_counter()
        # The readout's message is held back until the new image has been sent: the plot is what the
        # eye follows, and the page then lays out once for both.
        held = self.readout.hold_sync() if self.readout is not None else contextlib.nullcontext()
        with held:
            self._update_and_draw()
            self.last_plot_s = time.perf_counter() - start
            if self.readout is not None and not self.last_error:
                self._write_readout()
        self.last_update_s = time.perf_counter() - start

    def _write_readout(self) -> None:
        """Set the readout from :meth:`readout_html` (after the plot: see there); an error goes into the
        readout as text and into ``last_error``."""
        try:
            html = self.readout_html()
        except Exception as exc:
            self.last_error = traceback.format_exc()
            html = html_escape(tr("Cannot write the readout:\n{error}: {message}", error=type(exc).__name__,
                                  message=exc))
        if html is not None:
            self.readout.value = html

    def _update_and_draw(self) -> None:
        try:
            self.update(**self.values())
            self.last_error = None
            if self._error_text is not None and self._error_text.get_visible():
                show_message(self.fig.axes[0], "", artist=self._error_text)
        except Exception as exc:  # shown on the plot, kept for tests
            self.last_error = traceback.format_exc()
            if self.fig.axes:
                new = self._error_text is None
                self._error_text = show_message(
                    self.fig.axes[0], tr("Cannot draw this setting:\n{error}: {message}",
                                         error=type(exc).__name__, message=exc),
                    artist=self._error_text)
                if new:
                    self.dynamic(self._error_text)
        state = None if self.last_error else self.plot_state()
        if state is not None:  # a PNG shows text in one language: never reuse it in another
            state = (get_language(), state)
        if state is not None and state == self._drawn_state and self._background is not None:
            return  # the plot shows the same thing: keep the image, send nothing
        self._drawn_state = state
        png = self._pngs.pop(state, None) if state is not None else None
        if png is None:
            png = self._render()
        if state is not None and self._keep_pngs:
            _remember(self._pngs, state, png, self._keep_pngs)
        self._show(png)

    def _show(self, png: bytes) -> None:
        """Send ``png`` to the page (as a data: URL: see ``__init__``)."""
        self._png = png
        self.image.value = PNG_DATA_URL_PREFIX + base64.b64encode(png)

    def plot_state(self):
        """A hashable summary of what the plot shows, or None (the default: redraw on every move).

        Override it in a widget whose controls often change only the readout: when it returns the
        same value as at the last redraw, the figure is neither redrawn nor sent again.
        """
        return None

    def _render(self) -> bytes:
        canvas = self.fig.canvas
        shown = self.static_state()
        if shown != self._background_state:  # another background: a kept one, or None (draw it)
            self._background = self._backgrounds.get(shown)
        if self._background is None:
            canvas.draw()  # draws everything but the dynamic (animated) artists
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        self._background_state = shown
        if self._keep_backgrounds:
            _remember(self._backgrounds, shown, self._background, self._keep_backgrounds)
        renderer = canvas.get_renderer()  # (what draw_artist asks for each artist, once)
        for artist in self._dynamic:
            if artist.get_visible() and not _draws_nothing(artist):
                artist.draw(renderer)
        frame = canvas.buffer_rgba()
        if self._encoder is None:
            self._encoder = IndexedEncoder(frame)
        return self._encoder.encode(frame) if self._encoder.usable else rgba_png(frame)

    def _on_change(self, change) -> None:
        self.refresh()

    def png(self) -> bytes:
        """The current plot as PNG bytes (empty before the first :meth:`refresh`)."""
        return bytes(self._png)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.box._repr_mimebundle_(include=include, exclude=exclude)
        # Mime bundles travel as JSON: binary data is base64 text (raw bytes would become a list of ints).
        bundle["image/png"] = base64.b64encode(self.png()).decode("ascii")
        return bundle


def control_test_values(control) -> list:
    """Values a test or benchmark moves ``control`` through: its extremes and a middle value."""
    if hasattr(control, "options") and control.options is not None and len(control.options) > 0:
        opts = control.options
        labels = getattr(control, "_options_values", None) or [
            o[1] if isinstance(o, tuple) else o for o in opts]
        return list(labels)
    if isinstance(control.value, bool):
        return [not control.value, control.value]
    if hasattr(control, "min") and hasattr(control, "max"):
        lo, hi = control.min, control.max
        if isinstance(control, W.FloatLogSlider):  # min/max are exponents
            lo, hi = control.base ** lo, control.base ** hi
            return [lo, hi, control.base ** ((control.min + control.max) / 2), control.value]
        mid = type(control.value)((lo + hi) / 2) if not isinstance(control.value, tuple) else control.value
        if isinstance(control.value, tuple):  # range sliders
            return [(lo, lo), (lo, hi), (hi, hi), control.value]
        return [lo, hi, mid, control.value]
    return []


def sweep_controls(widget: PlotWidget) -> list[tuple[str, object, str]]:
    """Move every control of ``widget`` through :func:`control_test_values`, one at a time.

    Returns ``(control name, value, traceback)`` for each setting whose redraw failed (empty when
    all drew). Each control is put back to where it was before the next one is moved.
    """
    failures = []
    for name, control in widget.controls.items():
        if not hasattr(control, "value") or getattr(control, "disabled", False):
            continue
        original = control.value
        for value in control_test_values(control):
            control.value = value
            widget.refresh()
            if widget.last_error:
                failures.append((name, value, widget.last_error))
        control.value = original
    return failures


def _draws_nothing(artist) -> bool:
    """True for a collection without paths or offsets: nothing to draw, but matplotlib's bookkeeping
    still costs about 0.25 ms (an empty line returns early by itself)."""
    return isinstance(artist, Collection) and (len(artist.get_paths()) == 0 or len(artist.get_offsets()) == 0)


def _remember(cache: dict, key, value, keep: int) -> None:
    """Put ``value`` at ``key`` as the most recently used entry; drop the oldest beyond ``keep``."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > keep:
        cache.pop(next(iter(cache)))
