"""One factory per kind of control, one style, one set of widths; the readout's HTML helpers.

Every explorer builds its controls here, so a slider looks and reads the same in every notebook:
the description is never cut (``description_width: initial``), the slider moves continuously,
and widths come from :data:`WIDTHS` (a name, not a pixel count, in the explorers).
"""

from __future__ import annotations

import html as _html

import ipywidgets as W

from course_utils.checks import check_choice

#: Control widths by name: a one-word dropdown, a check box or a short dropdown, a slider, a slider with a
#: long label.
WIDTHS = {"tiny": "90px", "narrow": "160px", "medium": "240px", "normal": "300px", "wide": "480px",
          "auto": "auto"}
STYLE = {"description_width": "initial"}
#: Font size of readouts (px): readable on a projector, one size in every notebook.
READOUT_FONT_PX = 15


def _layout(width: str, **extra) -> W.Layout:
    check_choice("width", width, WIDTHS)
    return W.Layout(width=WIDTHS[width], **extra)


def slider(description: str, value, low, high, step, *, fmt: str | None = None, width: str = "normal"):
    """A continuous ``IntSlider`` (when value and step are ints) or ``FloatSlider``."""
    integer = all(isinstance(v, int) and not isinstance(v, bool) for v in (value, low, high, step))
    kind = W.IntSlider if integer else W.FloatSlider
    kw = {"readout_format": fmt} if fmt else {}
    return kind(value=value, min=low, max=high, step=step, description=description, continuous_update=True,
                style=STYLE, layout=_layout(width), **kw)


def range_slider(description: str, value, low: int, high: int, step: int = 1, *,
                 width: str = "normal") -> W.IntRangeSlider:
    """An ``IntRangeSlider`` (two ends, e.g. milestones)."""
    return W.IntRangeSlider(value=value, min=low, max=high, step=step, description=description,
                            continuous_update=True, style=STYLE, layout=_layout(width))


def log_slider(description: str, value: float, low_exp: float, high_exp: float, *, step: float = 0.1,
               fmt: str = ".3g", width: str = "normal") -> W.FloatLogSlider:
    """A base-10 ``FloatLogSlider`` from ``10**low_exp`` to ``10**high_exp``."""
    return W.FloatLogSlider(value=value, base=10, min=low_exp, max=high_exp, step=step,
                            description=description, readout_format=fmt, continuous_update=True,
                            style=STYLE, layout=_layout(width))


def selection_slider(description: str, options, value=None, *, width: str = "normal") -> W.SelectionSlider:
    """A ``SelectionSlider`` over ``options`` (values or ``(label, value)`` pairs)."""
    kw = {} if value is None else {"value": value}
    return W.SelectionSlider(options=options, description=description, continuous_update=True, style=STYLE,
                             layout=_layout(width), **kw)


def dropdown(description: str, options, value=None, *, width: str = "medium") -> W.Dropdown:
    """A ``Dropdown`` over ``options`` (values or ``(label, value)`` pairs)."""
    kw = {} if value is None else {"value": value}
    return W.Dropdown(options=options, description=description, style=STYLE, layout=_layout(width), **kw)


def choice_buttons(description: str, options, value=None, *, button_width: str = "70px") -> W.ToggleButtons:
    """``ToggleButtons``: a few options side by side, one of them on."""
    kw = {} if value is None else {"value": value}
    return W.ToggleButtons(options=options, description=description,
                           style={**STYLE, "button_width": button_width}, **kw)


def checkbox(description: str, value: bool = False, *, width: str = "auto") -> W.Checkbox:
    """A ``Checkbox`` whose label is never cut."""
    return W.Checkbox(value=value, description=description, indent=False, layout=_layout(width))


def toggle(description: str, value: bool = False, *, tooltip: str = "",
           width: str = "medium") -> W.ToggleButton:
    """An on/off ``ToggleButton``."""
    return W.ToggleButton(value=value, description=description, tooltip=tooltip, layout=_layout(width))


def button(description: str, *, icon: str = "", style: str = "primary") -> W.Button:
    """A ``Button`` (an action, not a value: wire it with ``on_click``)."""
    return W.Button(description=description, icon=icon, button_style=style)


def escape(text) -> str:
    """``text`` escaped for the readout's HTML."""
    return _html.escape(str(text), quote=False)


def code(text: str) -> str:
    """``text`` as inline code at the surrounding font size (readable on a projector)."""
    return f"<code style='font-size:inherit'>{escape(text)}</code>"


def readout_html(body: str, *, size: int = READOUT_FONT_PX, max_width: int | None = None) -> str:
    """A readout paragraph: ``body`` (HTML) at the course's readout size."""
    width = f";max-width:{max_width}px" if max_width else ""
    return f"<div style='font-size:{size}px;line-height:1.45{width}'>{body}</div>"


def html_table(header, rows, *, note: str = "", align="right", row_styles=None,
               size: int = READOUT_FONT_PX) -> str:
    """A projector-readable HTML table.

    ``header``: column titles; ``rows``: lists of cell HTML; ``align``: ``"left"``, ``"right"`` or
    one of those per column; ``row_styles``: an optional CSS string per row (a grey frozen row, say);
    ``note``: small text under the table.
    """
    header = list(header)
    aligns = [align] * len(header) if isinstance(align, str) else list(align)
    if len(aligns) != len(header):
        raise ValueError(f"align has {len(aligns)} entries; allowed: one string or one per column "
                         f"({len(header)})")
    cell = "padding:2px 10px;white-space:nowrap;text-align:{}"
    head = "".join(f"<th style='{cell.format(a)}'>{h}</th>" for h, a in zip(header, aligns))
    styles = list(row_styles) if row_styles is not None else [""] * len(rows)
    body = "".join(f"<tr style='{style}'>" + "".join(f"<td style='{cell.format(a)}'>{c}</td>"
                                                    for c, a in zip(row, aligns)) + "</tr>"
                   for row, style in zip(rows, styles))
    foot = f"<div style='font-size:{size - 2}px;max-width:1100px'>{note}</div>" if note else ""
    return (f"<div style='font-size:{size}px'><table style='border-collapse:collapse'><tr>{head}</tr>{body}"
            f"</table>{foot}</div>")
