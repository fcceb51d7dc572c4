"""The autograd chain from input to loss: walk it, draw it, and freeze layers to watch it shrink.

* compute: :func:`walk_graph` follows ``loss.grad_fn`` -> ``next_functions`` down to the
  ``AccumulateGrad`` leaves and returns nodes and edges as plain data; :func:`layered_layout`
  places them in rows (the loss on top); :func:`grad_norm_table` lists each parameter's gradient
  norm; :func:`two_layer_backprop` is the chain rule written out by hand for a two-layer net;
  :class:`FreezeDemo` runs the freeze-layers demo (freeze, one forward and backward, the graph).
* drawing: :func:`plot_autograd_graph` (no Graphviz needed) and :func:`plot_graph_fog` /
  :func:`update_graph_fog`, which fade the part of a graph that a smaller graph lacks.

The explorer is :class:`course_utils.explorers.autograd.FreezeLayersExplorer`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.patches import FancyBboxPatch
from torch import nn

from course_utils.checks import check_number, check_type
from course_utils.i18n import tr
from course_utils.plotting import COLORS
from course_utils.reproducibility import torch_threads

__all__ = [
    "walk_graph", "layered_layout", "match_graphs", "graph_presence", "layer_outputs", "freeze_layers",
    "trainable_layers", "grad_norm_table", "grad_text", "two_layer_backprop", "freeze_demo_model",
    "freeze_demo_batch", "FreezeDemo", "plot_autograd_graph", "plot_graph_fog", "update_graph_fog",
]

#: Node colours: an op made by a model layer, an op made by the criterion, a parameter leaf.
NODE_COLORS = {"model": "#dbe9f6", "criterion": "#fde3c8", "leaf": "#d9f0d3"}
NODE_EDGE_COLORS = {"model": COLORS["ce"], "criterion": COLORS["accent"], "leaf": COLORS["smooth"]}
FROZEN_TEXT = "None (frozen)"  # (English; grad_text writes it in the current language)


# -- pure functions ------------------------------------------------------------------------------
def walk_graph(tensor, params: Mapping | Iterable | None = None, outputs: Mapping | None = None) -> dict:
    """The autograd graph below ``tensor`` as plain data: ``{"nodes": [...], "edges": [...]}``.

    Starts at ``tensor.grad_fn`` and follows ``next_functions`` breadth-first, each node once.
    A node is a dict ``id`` (0 = the root, in visiting order), ``op`` (the class name, e.g.
    ``"AddmmBackward0"``, ``"AccumulateGrad"``), ``leaf`` (True for ``AccumulateGrad``), ``param``
    (the parameter's name from ``params`` for a leaf, else None), ``shape`` (the leaf's tensor
    shape) and ``module`` (see ``outputs``). An edge ``(src, dst, slot)`` says
    ``src.next_functions[slot]`` is ``dst``: the gradient flows from ``src`` to ``dst``.
    ``params``: names of leaf tensors (``model.named_parameters()`` or a dict). ``outputs``: named
    intermediate tensors in forward order (see :func:`layer_outputs`); each node is tagged with the
    first name whose own graph contains it. A tensor without ``grad_fn`` gives an empty graph.
    """
    check_type("tensor", tensor, torch.Tensor, "a torch.Tensor (e.g. the loss)")
    names = {id(p): name for name, p in _named_tensors("params", params)}
    root = tensor.grad_fn
    if root is None:
        return {"nodes": [], "edges": []}
    fns, edges = _walk_fns(root)
    owner = {}
    if outputs is not None:
        check_type("outputs", outputs, Mapping, "a dict {name: tensor} in forward order")
        for name, out in outputs.items():
            check_type(f"outputs[{name!r}]", out, torch.Tensor, "a torch.Tensor")
            if out.grad_fn is None:
                continue
            for fn in _walk_fns(out.grad_fn)[0]:
                owner.setdefault(id(fn), name)
    nodes = []
    for i, fn in enumerate(fns):
        var = getattr(fn, "variable", None)
        leaf = var is not None
        nodes.append({"id": i, "op": "AccumulateGrad" if leaf else type(fn).__name__, "leaf": leaf,
                      "param": names.get(id(var)) if leaf else None,
                      "shape": tuple(var.shape) if leaf else None,
                      "module": owner.get(id(fn))})
    return {"nodes": nodes, "edges": edges}


def _walk_fns(root):
    """Breadth-first list of the autograd nodes under ``root`` and the ``(src, dst, slot)`` edges."""
    index = {id(root): 0}
    fns = [root]
    edges = []
    for src_id, fn in enumerate(fns):  # fns grows while we iterate: breadth-first
        for slot, (nxt, _) in enumerate(fn.next_functions):
            if nxt is None:
                continue
            if id(nxt) not in index:
                index[id(nxt)] = len(fns)
                fns.append(nxt)
            edges.append((src_id, index[id(nxt)], slot))
    return fns, edges


def _named_tensors(name: str, params) -> list[tuple[str, torch.Tensor]]:
    """``params`` (an nn.Module, ``named_parameters()``, a dict or None) as a list of (name, tensor)."""
    allowed = "an nn.Module, model.named_parameters(), a dict {name: tensor} or None"
    if params is None:
        return []
    if isinstance(params, nn.Module):
        params = params.named_parameters()
    items = params.items() if isinstance(params, Mapping) else params
    if isinstance(items, (str, bytes, torch.Tensor)) or not isinstance(items, Iterable):
        raise TypeError(f"{name}={params!r:.80} has type {type(params).__name__}; allowed: {allowed}")
    out = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"{name} has an item {item!r:.60}, not a (name, tensor) pair; allowed: {allowed}")
        check_type(f"{name}[{item[0]!r}]", item[1], torch.Tensor, "a torch.Tensor")
        out.append((str(item[0]), item[1]))
    return out


def layered_layout(graph: dict, *, spacing: float = 1.0) -> dict:
    """Positions ``{id: (x, y)}``: row ``y = -depth`` (longest path from the root), parents above.

    Within a row a node sits under the mean x of its parents; siblings keep a gap of ``spacing``,
    op nodes in the middle and leaves alternately left and right, each row centred on its parents.
    """
    _check_graph(graph)
    check_number("spacing", spacing, low=0, low_open=True)
    nodes, edges = graph["nodes"], graph["edges"]
    if not nodes:
        return {}
    ids = [n["id"] for n in nodes]
    children = {i: [] for i in ids}
    parents = {i: [] for i in ids}
    for src, dst, _slot in sorted(edges, key=lambda e: (e[0], e[2])):
        children[src].append(dst)
        parents[dst].append(src)
    # longest-path depth in topological order (Kahn)
    indegree = {i: len(parents[i]) for i in ids}
    order = [i for i in ids if indegree[i] == 0]
    depth = dict.fromkeys(order, 0)
    for u in order:
        for v in children[u]:
            depth[v] = max(depth.get(v, 0), depth[u] + 1)
            indegree[v] -= 1
            if indegree[v] == 0:
                order.append(v)
    if len(order) != len(ids):
        raise ValueError("graph has a cycle; allowed: an autograd graph (a DAG) from walk_graph")
    # sibling rank: ops in the middle, leaves alternately left / right (slot order)
    rank = {}
    for u in ids:
        kids = [v for v in children[u] if v not in rank]
        ops = [v for v in kids if children[v]]
        leaves = [v for v in kids if not children[v]]
        left, right = leaves[0::2], leaves[1::2]
        for r, v in enumerate(left[::-1] + ops + right):
            rank[v] = r
    x = {}
    for d in range(max(depth.values()) + 1):
        row = [i for i in order if depth[i] == d]
        want = {i: float(np.mean([x[p] for p in parents[i]])) if parents[i] else 0.0 for i in row}
        row.sort(key=lambda i: (round(want[i], 6), rank.get(i, 0)))
        pos = []
        for i in row:
            pos.append(want[i] if not pos else max(want[i], pos[-1] + spacing))
        shift = float(np.mean([want[i] - p for i, p in zip(row, pos)]))
        for i, p in zip(row, pos):
            x[i] = p + shift
    return {i: (x[i], -float(depth[i])) for i in ids}


def match_graphs(sub: dict, full: dict) -> dict:
    """Map each node id of ``sub`` to the node of ``full`` it is (same path of ``next_functions`` slots).

    ``sub`` is the graph of the same computation with fewer tensors requiring grad: autograd keeps
    a ``None`` in the slot of an input that needs no gradient, so slots line up. Raises ValueError
    when ``sub`` is not part of ``full``.
    """
    _check_graph(sub, "sub")
    _check_graph(full, "full")
    if not sub["nodes"]:
        return {}
    full_ops = {n["id"]: n["op"] for n in full["nodes"]}
    sub_ops = {n["id"]: n["op"] for n in sub["nodes"]}
    full_next = {(s, slot): d for s, d, slot in full["edges"]}
    if not full["nodes"] or full_ops[0] != sub_ops[0]:
        raise ValueError(f"sub root {sub_ops[0]!r} is not the root of full; allowed: two graphs of one "
                         "computation")
    mapping = {0: 0}
    for src, dst, slot in sorted(sub["edges"]):  # BFS ids: a src is mapped before its edges
        target = full_next.get((mapping.get(src), slot))
        if target is None or full_ops[target] != sub_ops[dst] or mapping.get(dst, target) != target:
            raise ValueError(f"sub node {dst} ({sub_ops[dst]}) has no counterpart in full; allowed: "
                             "a graph of the same computation with fewer tensors requiring grad")
        mapping[dst] = target
    return mapping


def graph_presence(sub: dict, full: dict) -> tuple[list[bool], list[bool]]:
    """Flags: which nodes and which edges of ``full`` are in ``sub`` (see :func:`match_graphs`)."""
    mapping = match_graphs(sub, full)
    nodes = set(mapping.values())
    edges = {(mapping[s], mapping[d], slot) for s, d, slot in sub["edges"]}
    return [n["id"] in nodes for n in full["nodes"]], [tuple(e) in edges for e in full["edges"]]


def layer_outputs(model: nn.Module, x: torch.Tensor):
    """Run ``model(x)``; return the output and ``{child name: its output}`` in forward order."""
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_type("x", x, torch.Tensor, "a torch.Tensor")
    outs = OrderedDict()
    hooks = [child.register_forward_hook(lambda mod, inp, out, name=name: outs.__setitem__(name, out))
             for name, child in model.named_children()]
    try:
        output = model(x)
    finally:
        for h in hooks:
            h.remove()
    return output, outs


def trainable_layers(model: nn.Module) -> list[str]:
    """Names of the direct children of ``model`` that own parameters (the layers one can freeze)."""
    check_type("model", model, nn.Module, "a torch.nn.Module")
    return [name for name, child in model.named_children() if any(True for _ in child.parameters())]


def freeze_layers(model: nn.Module, frozen: Iterable[str]) -> nn.Module:
    """Set ``requires_grad_(False)`` on the layers named in ``frozen``, ``True`` on the others."""
    layers = trainable_layers(model)
    _set_frozen(model, layers, _check_frozen(frozen, layers))
    return model


def _check_frozen(frozen, layers: list[str]) -> set[str]:
    """``frozen`` as a set of names, each one of ``layers``."""
    if isinstance(frozen, str) or not isinstance(frozen, Iterable):
        raise TypeError(f"frozen={frozen!r} is not a list of names; allowed: a list of names from {layers}")
    frozen = list(frozen)
    for name in frozen:
        if name not in layers:
            raise ValueError(f"frozen contains {name!r}, not a layer with parameters; allowed: {layers}")
    return set(frozen)


def _set_frozen(model: nn.Module, layers: list[str], frozen) -> None:
    """``requires_grad_`` on each of ``layers``: False when it is in ``frozen``."""
    for name in layers:
        getattr(model, name).requires_grad_(name not in frozen)


def grad_norm_table(params) -> list[dict]:
    """One row per parameter: ``name``, ``shape``, ``requires_grad``, ``grad_norm`` (L2; None: no grad)."""
    return [{"name": name, "shape": tuple(p.shape), "requires_grad": bool(p.requires_grad),
             "grad_norm": None if p.grad is None else float(p.grad.detach().norm())}
            for name, p in _named_tensors("params", params)]


def grad_text(row: dict) -> str:
    """The gradient cell of a :func:`grad_norm_table` row: the norm, ``"None (frozen)"`` or ``"None"``."""
    if row["grad_norm"] is not None:
        return f"{row['grad_norm']:.4f}"
    return tr("None (frozen)") if not row["requires_grad"] else "None"


def two_layer_backprop(x, y, w1, b1, w2, b2) -> dict:
    """The chain rule by hand for ``cross_entropy(W2 relu(W1 x + b1) + b2, y)`` (mean over the batch).

    Weights are shaped like ``nn.Linear.weight`` (out, in); ``x`` is (N, in) or one example (in,),
    ``y`` the class indices. Returns the forward values (``z1``, ``h``, ``logits``, ``p``, ``loss``)
    and the gradients ``dlogits``, ``dw2``, ``db2``, ``dh``, ``dz1``, ``dw1``, ``db1``.
    """
    for name, t in (("x", x), ("y", y), ("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
        check_type(name, t, torch.Tensor, "a torch.Tensor")
    x = x.detach()
    if x.ndim == 1:
        x, y = x[None, :], y.reshape(1)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x has shape {tuple(x.shape)} and y {tuple(y.shape)}; allowed: x (N, in) or (in,), "
                         "y (N,) class indices")
    if y.dtype != torch.long or (y.numel() > 0 and not (0 <= int(y.min()) and int(y.max()) < w2.shape[0])):
        raise ValueError(f"y={y!r} is not a tensor of class indices; allowed: int64 values in "
                         f"[0, {w2.shape[0] - 1}] (w2 has {w2.shape[0]} rows, one per class)")
    w1, b1, w2, b2 = (t.detach() for t in (w1, b1, w2, b2))
    n = x.shape[0]
    z1 = x @ w1.T + b1                     # (N, hidden)
    h = z1.clamp(min=0)                    # ReLU
    logits = h @ w2.T + b2                 # (N, classes)
    p = torch.softmax(logits, dim=1)
    onehot = F.one_hot(y, logits.shape[1]).to(p.dtype)
    loss = -(onehot * torch.log_softmax(logits, dim=1)).sum() / n
    dlogits = (p - onehot) / n             # d loss / d logits for mean cross-entropy
    dw2 = dlogits.T @ h
    db2 = dlogits.sum(0)
    dh = dlogits @ w2
    dz1 = dh * (z1 > 0).to(dh.dtype)       # ReLU'(z) = 1[z > 0]
    dw1 = dz1.T @ x
    db1 = dz1.sum(0)
    return {"z1": z1, "h": h, "logits": logits, "p": p, "loss": loss, "dlogits": dlogits, "dw2": dw2,
            "db2": db2, "dh": dh, "dz1": dz1, "dw1": dw1, "db1": db1}


def freeze_demo_model(seed: int = 0) -> nn.Sequential:
    """The widget's small model: fc1 -> bn1 -> ReLU -> fc2 -> ReLU -> head (4 features, 3 classes)."""
    check_number("seed", seed, low=0, integer=True)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(OrderedDict(
            fc1=nn.Linear(4, 8), bn1=nn.BatchNorm1d(8), relu1=nn.ReLU(),
            fc2=nn.Linear(8, 8), relu2=nn.ReLU(), head=nn.Linear(8, 3)))


def freeze_demo_batch(seed: int = 0, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed synthetic batch for :func:`freeze_demo_model`: x (n, 4) with mean 2, y in {0, 1, 2}."""
    check_number("seed", seed, low=0, integer=True)
    check_number("n", n, low=2, integer=True)  # BatchNorm in train mode needs 2 or more
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g) + 2.0, torch.randint(0, 3, (n,), generator=g)


class FreezeDemo:
    """The freeze-layers demo: :func:`freeze_demo_model` on :func:`freeze_demo_batch`, one step per setting.

    :meth:`run` resets the model to its initial state, freezes the named layers, runs one forward
    pass in train mode and ``loss.backward()``, and walks the real graph. ``full`` is the graph with
    nothing frozen. Results are cached by the set of frozen layers (the same setting gives the same
    numbers); torch's thread count and random state are left as they were.
    """

    def __init__(self, seed: int = 0):
        self.model = freeze_demo_model(seed)
        self.x, self.y = freeze_demo_batch(seed)
        self.criterion = nn.CrossEntropyLoss()
        self.layers = trainable_layers(self.model)
        self.bn_names = [n for n, m in self.model.named_children() if isinstance(m, nn.BatchNorm1d)]
        self._initial = {k: v.clone() for k, v in self.model.state_dict().items()}
        self._cache: dict[tuple, dict] = {}
        self.full = self.run(())["graph"]

    def run(self, frozen: Iterable[str]) -> dict:
        """One step with the layers in ``frozen`` frozen.

        Returns ``graph``, ``loss``, ``rows`` (:func:`grad_norm_table`), ``bn_moved`` (the running-mean
        shift of each BatchNorm layer) and ``output_node`` (the id of ``output.grad_fn``).
        """
        frozen = _check_frozen(frozen, self.layers)
        key = tuple(name for name in self.layers if name in frozen)
        if key not in self._cache:
            self._cache[key] = self._run(key)
        return self._cache[key]

    def _run(self, frozen: tuple) -> dict:
        with torch_threads(1):  # tiny ops: no OpenMP wake-up stalls
            self.model.load_state_dict(self._initial)
            self.model.zero_grad(set_to_none=True)
            _set_frozen(self.model, self.layers, frozen)
            self.model.train()
            output, outs = layer_outputs(self.model, self.x)
            loss = self.criterion(output, self.y)
            outs["criterion"] = loss
            graph = walk_graph(loss, self.model.named_parameters(), outputs=outs)
            if loss.requires_grad:
                loss.backward()
            moved = {name: float((getattr(self.model, name).running_mean
                                  - self._initial[f"{name}.running_mean"]).norm())
                     for name in self.bn_names}
            rows = grad_norm_table(self.model)
        # breadth-first from the loss, the first node the model made is output.grad_fn
        out_node = next((n["id"] for n in graph["nodes"] if n["module"] != "criterion"), None)
        return {"graph": graph, "loss": float(loss.detach()), "rows": rows, "bn_moved": moved,
                "output_node": out_node}


def _check_graph(graph, name: str = "graph"):
    if not (isinstance(graph, Mapping) and "nodes" in graph and "edges" in graph):
        raise TypeError(f"{name}={graph!r:.80} is not a graph; allowed: the dict walk_graph returns")


# -- drawing -------------------------------------------------------------------------------------
BOX_W, BOX_H = 0.95, 0.62


def _node_kind(node) -> str:
    if node["leaf"]:
        return "leaf"
    return "criterion" if node["module"] == "criterion" else "model"


def _node_label(node) -> str:
    if node["leaf"]:
        name = node["param"] or tr("(unnamed tensor)")
        return f"AccumulateGrad\n{name} {tuple(node['shape'])}"
    return f"{node['op']}\n[{node['module']}]" if node["module"] else node["op"]


def plot_autograd_graph(ax, graph: dict, positions: dict | None = None, *, tags: Mapping | None = None,
                        fontsize: float = 10.5) -> dict:
    """Draw ``graph`` (from :func:`walk_graph`) on ``ax``: boxes for nodes, arrows root -> leaves.

    Op boxes are blue (a model layer made them) or orange (the criterion); ``AccumulateGrad``
    leaves are green and name their parameter and shape. ``tags`` ``{node id: text}`` writes a short
    note beside a node (right of it when that side of its row is free, else left), e.g. ``"loss"``.
    Returns ``{"positions", "boxes", "texts", "arrows"}``.
    """
    _check_graph(graph)
    positions = layered_layout(graph) if positions is None else positions
    missing = [k for k in [n["id"] for n in graph["nodes"]] + list(tags or {}) if k not in positions]
    if missing:
        raise ValueError(f"node ids {missing} have no position; allowed: ids of graph's nodes "
                         f"({len(graph['nodes'])} nodes)")
    ax.set_axis_off()
    if not graph["nodes"]:
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        return {"positions": positions, "boxes": {}, "texts": {}, "arrows": []}
    boxes, texts, arrows = {}, {}, []
    for src, dst, _ in graph["edges"]:
        (x0, y0), (x1, y1) = positions[src], positions[dst]
        arrows.append(ax.annotate("", xy=(x1, y1 + BOX_H / 2), xytext=(x0, y0 - BOX_H / 2),
                                  arrowprops={"arrowstyle": "-|>", "color": "#444444", "lw": 1.3,
                                              "shrinkA": 0, "shrinkB": 1}))
    for node in graph["nodes"]:
        x, y = positions[node["id"]]
        kind = _node_kind(node)
        box = FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                             boxstyle="round,pad=0,rounding_size=0.08",
                             fc=NODE_COLORS[kind], ec=NODE_EDGE_COLORS[kind], lw=1.5, zorder=2)
        ax.add_patch(box)
        boxes[node["id"]] = box
        texts[node["id"]] = ax.text(x, y, _node_label(node), ha="center", va="center", fontsize=fontsize,
                                    zorder=3, linespacing=1.15)
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    lo, hi = min(xs) - BOX_W / 2 - 0.05, max(xs) + BOX_W / 2 + 0.05
    for node_id, text in (tags or {}).items():
        x, y = positions[node_id]
        right_free = not any(abs(py - y) < 1e-9 and 0 < px - x < 1.9 for px, py in positions.values())
        side = 1 if right_free else -1
        ax.annotate(text, xy=(x + side * BOX_W / 2, y), xytext=(side * 6, 0), textcoords="offset points",
                    va="center", ha="left" if right_free else "right", fontsize=fontsize, color="#333333")
        if right_free and x + 1.5 > hi:
            hi = x + 1.5
        if not right_free and x - 1.5 < lo:
            lo = x - 1.5
    ax.set_xlim(lo, hi)
    ax.set_ylim(min(ys) - BOX_H / 2 - 0.05, max(ys) + BOX_H / 2 + 0.05)
    return {"positions": positions, "boxes": boxes, "texts": texts, "arrows": arrows}


FOG = (1.0, 1.0, 1.0, 0.82)  # the veil over what is not in the graph


def plot_graph_fog(ax, graph: dict, positions: dict, present=None) -> dict:
    """Veils over the nodes and edges of ``graph`` as drawn by :func:`plot_autograd_graph`.

    ``present``: ``(node flags, edge flags)`` from :func:`graph_presence`, False = veiled (None:
    nothing veiled). Returns ``{"nodes", "edges"}``, the two collections for :func:`update_graph_fog`.
    """
    segments = [((positions[s][0], positions[s][1] - BOX_H / 2),
                 (positions[d][0], positions[d][1] + BOX_H / 2)) for s, d, _ in graph["edges"]]
    edges = LineCollection(segments, linewidths=8, colors="none", zorder=4, capstyle="butt")
    m = 0.03
    rects = [[(x - BOX_W / 2 - m, y - BOX_H / 2 - m), (x + BOX_W / 2 + m, y - BOX_H / 2 - m),
              (x + BOX_W / 2 + m, y + BOX_H / 2 + 0.1), (x - BOX_W / 2 - m, y + BOX_H / 2 + 0.1)]
             for x, y in (positions[n["id"]] for n in graph["nodes"])]
    nodes = PolyCollection(rects, facecolors="none", edgecolors="none", zorder=5)
    ax.add_collection(edges, autolim=False)
    ax.add_collection(nodes, autolim=False)
    fog = {"nodes": nodes, "edges": edges}
    if present is not None:
        update_graph_fog(fog, *present)
    return fog


def update_graph_fog(fog: dict, nodes_present, edges_present) -> None:
    """Veil the nodes and edges whose flag is False, clear the others (see :func:`plot_graph_fog`)."""
    clear = (0.0, 0.0, 0.0, 0.0)
    fog["nodes"].set_facecolor([clear if p else FOG for p in nodes_present])
    fog["edges"].set_color([clear if p else FOG for p in edges_present])
