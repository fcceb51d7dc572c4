"""The autograd notebook's explorer: freeze layers and watch the autograd graph and the gradients shrink."""

from __future__ import annotations

from course_utils.autograd_graph import (
    FreezeDemo,
    grad_text,
    graph_presence,
    layered_layout,
    plot_autograd_graph,
    plot_graph_fog,
    update_graph_fog,
)
from course_utils.explorers import controls as C
from course_utils.explorers.base import PlotWidget
from course_utils.i18n import tr
from course_utils.plotting import COLORS, new_figure, show_message

__all__ = ["FreezeLayersExplorer", "grad_table_html"]


def grad_table_html(rows: list[dict]) -> str:
    """The rows of :func:`~course_utils.autograd_graph.grad_norm_table` as HTML (frozen rows in grey).

    Compact: the style sits on the table and on the grey rows, not on every cell (a move of the
    freeze-layers explorer sends this table).
    """
    grey = f" style='color:{COLORS['baseline']}'"
    body = "".join(f"<tr{'' if r['requires_grad'] else grey}><td>{C.escape(r['name'])}</td>"
                   f"<td>{C.escape(tuple(r['shape']))}</td><td>{r['requires_grad']}</td>"
                   f"<td style='text-align:right'>{grad_text(r)}</td></tr>" for r in rows)
    return (f"<table style='border-collapse:separate;border-spacing:10px 0;margin-left:-10px;"
            f"font-size:{C.READOUT_FONT_PX}px'><tr><th align='left'>{tr('parameter')}</th>"
            f"<th align='left'>{tr('shape')}</th>"
            f"<th align='left'>requires_grad</th><th align='right'>‖grad‖₂</th></tr>{body}</table>")


class FreezeLayersExplorer(PlotWidget):
    """Tick a layer to freeze it (``requires_grad_(False)``): the autograd graph and the gradients update.

    Each setting resets the model to its initial state, freezes the ticked layers, runs one forward
    pass in train mode and ``loss.backward()`` (:class:`~course_utils.autograd_graph.FreezeDemo`),
    walks the real graph and fades out the nodes of the full graph that are no longer in it. The
    table beside the plot lists every parameter's gradient norm; the note under it shows that
    BatchNorm's running mean still moves when ``bn1`` is frozen.
    """

    def __init__(self, seed: int = 0):
        self.demo = demo = FreezeDemo(seed)
        first = demo.run(())
        pos = layered_layout(demo.full)
        fig, self.ax = new_figure((5.9, 5.5))  # small in pixels: the PNG encode is most of a move
        fig.subplots_adjust(left=0.0, right=1.0, bottom=0.06, top=0.92)
        tags = {0: tr("← loss"), first["output_node"]: tr("← output")}
        plot_autograd_graph(self.ax, demo.full, pos, tags=tags, fontsize=9.2)
        self.ax.set_title(tr("loss.grad_fn → next_functions → … → AccumulateGrad\n"
                             "(the gradient flows down the arrows)"), fontsize=11)
        fig.text(0.01, 0.012, tr("faded = not in the graph: nothing below it needs a gradient"),
                 fontsize=10, color="#555555")
        self.fog = plot_graph_fog(self.ax, demo.full, pos, graph_presence(demo.full, demo.full))
        self.message = show_message(self.ax, "")
        controls = {name: C.checkbox(tr("freeze {name}", name=name)) for name in demo.layers}
        # the table sits beside the plot; the 2^4 plots (RGB PNGs: too many colours for a palette) are
        # each encoded once
        super().__init__(fig, controls, dynamic=[*self.fog.values(), self.message],
                         layout="side", pngs=2 ** len(controls))
        self.refresh()

    def plot_state(self):
        """The frozen layers: the plot shows nothing else."""
        return tuple(name for name in self.demo.layers if self.controls[name].value)

    def update(self, **values):
        frozen = [name for name in self.demo.layers if values.get(name)]
        result = self.demo.run(frozen)
        graph = result["graph"]
        update_graph_fog(self.fog, *graph_presence(graph, self.demo.full))
        show_message(None, "" if graph["nodes"] else tr("every layer frozen: loss.grad_fn is None,\n"
                                                        "loss.backward() would raise RuntimeError"),
                     artist=self.message)
        self.readout.value = self._readout(frozen, result)

    def _readout(self, frozen, result) -> str:
        graph = result["graph"]
        leaves = sum(n["leaf"] for n in graph["nodes"])
        parts = [tr("<b>loss</b> = {loss:.4f} &nbsp; graph: <b>{nodes}</b> nodes, "
                    "<b>{leaves}</b> AccumulateGrad leaves<br>",
                    loss=result["loss"], nodes=len(graph["nodes"]), leaves=leaves),
                 grad_table_html(result["rows"])]
        for name in self.demo.bn_names:
            fields = {"name": C.code(name), "train": C.code("model.train()"),
                      "mean": C.code(f"{name}.running_mean"), "moved": result["bn_moved"][name]}
            if name in frozen:
                sentence = tr("{name} is <b>frozen</b>; one forward pass in {train} moved {mean} by ‖Δ‖₂ = "
                              "<b>{moved:.4f}</b> — {requires_grad} does not stop BatchNorm's running "
                              "statistics; {eval} does.", **fields,
                              requires_grad=C.code("requires_grad_(False)"), eval=C.code(f"{name}.eval()"))
            else:
                sentence = tr("{name} is trainable; one forward pass in {train} moved {mean} by ‖Δ‖₂ = "
                              "<b>{moved:.4f}</b>", **fields)
            parts.append(f"<p>{sentence}</p>")
        return C.readout_html("".join(parts))
