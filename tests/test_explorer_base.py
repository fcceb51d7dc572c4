"""The PlotWidget pattern on a toy: blitted frames equal full redraws; errors land on the plot; sweeps."""

import base64
import io
import json

import ipywidgets as W
import numpy as np
import pytest
from PIL import Image

from course_utils.explorers.base import PlotWidget, control_test_values, new_figure, sweep_controls


class PowerCurve(PlotWidget):
    """y = x**p on fixed axes; p = 0 is refused; 'tall' changes the y-limits."""

    def __init__(self):
        fig, self.ax = new_figure((4, 3))
        self.x = np.linspace(0, 1, 50)
        (self.line,) = self.ax.plot(self.x, self.x)
        super().__init__(fig, {"p": W.FloatSlider(value=1.0, min=0.0, max=4.0),
                               "tall": W.Checkbox(value=False),
                               "kind": W.Dropdown(options=[("square", 2), ("cube", 3)], value=2),
                               "lr": W.FloatLogSlider(value=0.1, min=-4, max=0)},
                         dynamic=[self.line])
        self.refresh()

    def update(self, p, tall, kind, lr):
        if p == 0:
            raise ValueError("p must be > 0")
        self.line.set_ydata(self.x ** p * (3 if tall else 1))
        self.ax.set_ylim(0, 3 if tall else 1)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def full_redraw(widget) -> np.ndarray:
    """Reference: matplotlib's own complete render of the same figure state."""
    for artist in widget._dynamic:
        artist.set_animated(False)
    try:
        widget.fig.canvas.draw()
        return np.asarray(widget.fig.canvas.buffer_rgba())[..., :3].copy()
    finally:
        for artist in widget._dynamic:
            artist.set_animated(True)


def differing(a, b, tolerance: int = 48) -> int:
    """Pixels whose colours differ by more than ``tolerance`` in some channel (the indexed-colour frames
    move anti-aliased edge pixels by a few levels, never a line's worth)."""
    return int((np.abs(a.astype(int) - b.astype(int)) > tolerance).any(-1).sum())


def test_blitted_frames_equal_full_redraws():
    # Blitting draws the dynamic line last, so it lies over the spines where they cross (a few dozen
    # pixels); a stale or missing line differs in thousands.
    w = PowerCurve()
    previous = None
    for p, tall in [(2.0, False), (0.5, False), (3.0, True), (1.0, False)]:
        w.controls["tall"].value = tall
        w.controls["p"].value = p
        frame, reference = pixels(w.png()), full_redraw(w)
        assert differing(frame, reference) < 200
        if previous is not None:
            assert differing(previous, reference) > 1000
        previous = frame


def test_frames_change_with_the_control():
    w = PowerCurve()
    first = w.png()
    w.controls["p"].value = 3.0
    assert w.png() != first


def test_error_in_update_is_drawn_not_raised():
    w = PowerCurve()
    w.controls["p"].value = 0.0
    assert "p must be > 0" in w.last_error
    assert w._error_text.get_visible() and "p must be > 0" in w._error_text.get_text()
    w.controls["p"].value = 1.0
    assert w.last_error is None and not w._error_text.get_visible()


def test_sweep_reports_the_failing_setting_and_restores_values():
    w = PowerCurve()
    failures = sweep_controls(w)
    assert [(name, value) for name, value, _ in failures] == [("p", 0.0)]
    assert w.values() == {"p": 1.0, "tall": False, "kind": 2, "lr": pytest.approx(0.1)}


def test_control_test_values_cover_extremes_and_options():
    assert control_test_values(W.IntSlider(value=3, min=1, max=9))[:2] == [1, 9]
    assert control_test_values(W.Dropdown(options=[("a", 1), ("b", 2)], value=1)) == [1, 2]
    assert control_test_values(W.Checkbox(value=True)) == [False, True]
    log_values = control_test_values(W.FloatLogSlider(value=0.1, min=-4, max=0))
    assert log_values[:2] == [pytest.approx(1e-4), pytest.approx(1.0)]


def test_the_page_gets_the_png_as_a_data_url_that_pil_reads():
    widget = PowerCurve()
    assert widget.image.format == "url"
    head, _, data = bytes(widget.image.value).partition(b",")
    assert head == b"data:image/png;base64"
    assert base64.b64decode(data, validate=True) == widget.png()
    with Image.open(io.BytesIO(base64.b64decode(data))) as picture:  # a PNG that a decoder reads
        assert picture.format == "PNG"
        assert picture.size == (round(widget.fig.get_figwidth() * widget.fig.dpi),
                                round(widget.fig.get_figheight() * widget.fig.dpi))
    widget.controls["p"].value = 2.0
    assert base64.b64decode(bytes(widget.image.value).partition(b",")[2]) == widget.png()


def test_mimebundle_has_a_static_png_fallback():
    widget = PowerCurve()
    bundle = widget._repr_mimebundle_()
    json.dumps(bundle)  # a display message is JSON
    assert base64.b64decode(bundle["image/png"]) == widget.png()
    assert widget.png()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_layouts_place_the_readout_and_reject_unknown_names():
    class Side(PowerCurve):
        def __init__(self, layout):
            fig, self.ax = new_figure((4, 3))
            self.x = np.linspace(0, 1, 5)
            (self.line,) = self.ax.plot(self.x, self.x)
            PlotWidget.__init__(self, fig, {"p": W.FloatSlider(value=1.0, min=0.5, max=2.0)}, layout=layout,
                                dynamic=[self.line], header=[W.Label("header")])
            self.refresh()

        def update(self, p):
            self.line.set_ydata(self.x ** p)

    side = Side("side")
    assert side.box.children[1].value == "header"
    assert side.box.children[2].children == (side.image, side.readout)
    bottom = Side("bottom")
    assert [type(c).__name__ for c in bottom.box.children] == ["Label", "Image", "HBox", "HTML"]
    assert bottom.box.children[1] is bottom.image and bottom.box.children[-1] is bottom.readout
    with pytest.raises(ValueError, match="layout='left'.*'side'"):
        Side("left")


def test_plot_state_skips_redraws_that_would_show_the_same_plot():
    class ReadoutOnly(PowerCurve):
        def plot_state(self):
            return round(self.controls["p"].value)  # only whole steps of p change the plot

    w = ReadoutOnly()
    sent = []
    w.image.observe(lambda change: sent.append(change["new"]), names="value")
    w.controls["p"].value = 1.2   # same state as p = 1.0: nothing redrawn, nothing sent
    assert sent == []
    w.controls["p"].value = 2.0
    assert len(sent) == 1
    w.controls["p"].value = 0.0   # an error is always drawn
    assert len(sent) == 2 and w.last_error


def test_nothing_is_drawn_before_the_explicit_first_refresh():
    class Lazy(PowerCurve):
        def refresh(self):  # count renders instead of drawing
            self.renders = getattr(self, "renders", 0) + 1

    w = Lazy()
    assert w.renders == 1  # PowerCurve.__init__ calls refresh once; PlotWidget.__init__ did not
    plain = PlotWidget(new_figure((2, 2))[0], {})
    assert plain.png() == b""


class CachedPowerCurve(PowerCurve):
    """PowerCurve keeping two backgrounds (tall or not) and the PNG of each (p, tall)."""

    def __init__(self):
        super().__init__()
        self._keep_backgrounds, self._keep_pngs = 2, 8

    def plot_state(self):
        return self.controls["p"].value, self.controls["tall"].value


def test_cached_backgrounds_and_pngs_are_drawn_once_and_equal_fresh_frames(monkeypatch):
    widget, fresh = CachedPowerCurve(), PowerCurve()
    draws = []
    original = widget.fig.canvas.draw
    monkeypatch.setattr(widget.fig.canvas, "draw", lambda: draws.append(1) or original())
    for tall, p in [(True, 2.0), (False, 2.0), (True, 3.0), (False, 3.0), (True, 2.0)]:
        for w in (widget, fresh):
            w.controls["tall"].value, w.controls["p"].value = tall, p
        assert differing(pixels(widget.png()), pixels(fresh.png())) == 0
    assert len(draws) == 2  # one background for tall, one more for the first move back to short
    widget.invalidate()
    assert not widget._backgrounds and not widget._pngs


class LateReadout(PowerCurve):
    """PowerCurve whose readout is written by readout_html, after the plot; p = 3 breaks the readout."""

    def update(self, p, tall, kind, lr):
        super().update(p, tall, kind, lr)
        self._shown = p

    def readout_html(self):
        if self._shown == 3:
            raise KeyError("no text for p = 3")
        return f"<b>p = {self._shown:g}</b>"


def test_readout_html_is_written_after_the_plot_is_sent():
    widget = LateReadout()
    sent = []
    widget.image.observe(lambda change: sent.append("plot"), names="value")
    widget.readout.observe(lambda change: sent.append(("readout", change["new"])), names="value")
    widget.controls["p"].value = 2.0
    assert sent == ["plot", ("readout", "<b>p = 2</b>")]
    assert widget.last_error is None


def test_an_error_in_readout_html_goes_into_the_readout_not_a_traceback():
    widget = LateReadout()
    before = widget.png()
    widget.controls["p"].value = 3.0
    assert "KeyError" in widget.last_error and "no text for p = 3" in widget.last_error
    assert "Cannot write the readout" in widget.readout.value and "KeyError" in widget.readout.value
    assert widget.png() != before  # the plot still moved
    readout = widget.readout.value
    widget.controls["p"].value = 0.0  # update fails: the plot says so and the readout is left as it was
    assert widget.readout.value == readout and "ValueError" in widget.last_error
    widget.controls["p"].value = 1.0
    assert widget.readout.value == "<b>p = 1</b>" and widget.last_error is None
