"""Tests for course_utils.autograd_graph: the walked graph against autograd itself, the hand-written
chain rule against torch.autograd.grad, and the freeze-layers widget headless."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.autograd_graph import (
    FreezeDemo,
    freeze_demo_batch,
    freeze_demo_model,
    freeze_layers,
    grad_norm_table,
    graph_presence,
    layer_outputs,
    layered_layout,
    match_graphs,
    plot_autograd_graph,
    trainable_layers,
    two_layer_backprop,
    walk_graph,
)
from course_utils.explorers import EXPLORERS
from course_utils.explorers.autograd import FreezeLayersExplorer, grad_table_html
from course_utils.plotting import new_figure

LAYERS = ["fc1", "bn1", "fc2", "head"]
COMBOS = [frozen for k in range(len(LAYERS) + 1) for frozen in itertools.combinations(LAYERS, k)]


def reachable(root):
    """Independent walk (depth-first, recursive): autograd nodes and (src, dst, slot) edges under root."""
    seen, edges = [], []

    def visit(fn):
        if any(fn is s for s in seen):
            return
        seen.append(fn)
        for slot, (nxt, _) in enumerate(fn.next_functions):
            if nxt is not None:
                edges.append((fn, nxt, slot))
                visit(nxt)

    if root is not None:
        visit(root)
    return seen, edges


def demo_loss(frozen=(), seed=0):
    model = freeze_layers(freeze_demo_model(seed), frozen)
    x, y = freeze_demo_batch(seed)
    output, outs = layer_outputs(model, x)
    loss = F.cross_entropy(output, y)
    return model, loss, output, outs


# -- walk_graph ----------------------------------------------------------------------------------
def test_walk_small_expression_by_hand():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    d = (a * b).sum()
    g = walk_graph(d, {"a": a, "b": b})
    ops = [n["op"] for n in g["nodes"]]
    assert ops == ["SumBackward0", "MulBackward0", "AccumulateGrad", "AccumulateGrad"]
    assert g["edges"] == [(0, 1, 0), (1, 2, 0), (1, 3, 1)]
    assert [n["param"] for n in g["nodes"]] == [None, None, "a", "b"]
    assert g["nodes"][2]["shape"] == (2,) and g["nodes"][2]["leaf"] and not g["nodes"][1]["leaf"]


def test_walk_skips_inputs_without_grad_but_keeps_slots():
    w = torch.ones(3, requires_grad=True)
    x = torch.ones(3)  # needs no gradient: a None slot in next_functions, no node
    g = walk_graph((x * w).sum(), {"w": w})
    assert [n["op"] for n in g["nodes"]] == ["SumBackward0", "MulBackward0", "AccumulateGrad"]
    assert g["edges"] == [(0, 1, 0), (1, 2, 1)]  # w is the second input of the mul


@pytest.mark.parametrize("frozen", COMBOS, ids=lambda f: "+".join(f) or "none")
def test_walk_matches_autograd(frozen):
    model, loss, _, _ = demo_loss(frozen)
    g = walk_graph(loss, model.named_parameters())
    fns, edges = reachable(loss.grad_fn)
    assert len(g["nodes"]) == len(fns)
    assert len(g["edges"]) == len(edges)
    assert sorted(n["op"] for n in g["nodes"]) == sorted(
        "AccumulateGrad" if hasattr(f, "variable") else type(f).__name__ for f in fns)
    if fns:
        assert g["nodes"][0]["op"] == type(loss.grad_fn).__name__
    # the AccumulateGrad leaves are exactly the parameters that require grad
    leaves = {n["param"] for n in g["nodes"] if n["leaf"]}
    assert leaves == {name for name, p in model.named_parameters() if p.requires_grad}
    assert leaves == {name for name, p in model.named_parameters()
                      if any(getattr(f, "variable", None) is p for f in fns)}
    for n in g["nodes"]:
        if n["leaf"]:
            assert n["shape"] == tuple(model.get_parameter(n["param"]).shape)
    # ... and exactly the parameters that backward() fills
    if loss.requires_grad:
        loss.backward()
    assert leaves == {name for name, p in model.named_parameters() if p.grad is not None}


def test_walk_tags_nodes_with_their_module():
    model, loss, output, outs = demo_loss()
    outs["criterion"] = loss
    g = walk_graph(loss, model.named_parameters(), outputs=outs)
    criterion_ops = sorted(n["op"] for n in g["nodes"] if n["module"] == "criterion")
    assert criterion_ops == ["LogSoftmaxBackward0", "NllLossBackward0"]  # cross_entropy = nll(log_softmax)
    by_param = {n["param"]: n["module"] for n in g["nodes"] if n["leaf"]}
    assert by_param == {name: name.split(".")[0] for name, _ in model.named_parameters()}
    bn_ops = [n["op"] for n in g["nodes"] if n["module"] == "bn1" and not n["leaf"]]
    assert bn_ops == [type(outs["bn1"].grad_fn).__name__]
    # breadth-first from the loss, the first model node is output.grad_fn
    first_model = next(n for n in g["nodes"] if n["module"] != "criterion")
    assert first_model["op"] == type(output.grad_fn).__name__ and first_model["module"] == "head"


def test_walk_without_grad_fn_is_empty():
    assert walk_graph(torch.ones(3)) == {"nodes": [], "edges": []}
    _, loss, _, _ = demo_loss(LAYERS)
    assert loss.grad_fn is None
    assert walk_graph(loss) == {"nodes": [], "edges": []}


def test_walk_bad_input():
    with pytest.raises(TypeError, match="tensor="):
        walk_graph([1.0, 2.0])
    t = (torch.ones(2, requires_grad=True) * 2).sum()
    with pytest.raises(TypeError, match="params=5"):
        walk_graph(t, params=5)
    with pytest.raises(TypeError, match="not a \\(name, tensor\\) pair"):
        walk_graph(t, params=[torch.ones(2)])
    with pytest.raises(TypeError, match=r"params\['w'\]"):
        walk_graph(t, params={"w": 3.0})
    with pytest.raises(TypeError, match="outputs="):
        walk_graph(t, outputs=[t])


# -- layout and matching -------------------------------------------------------------------------
def test_layout_rows_and_spacing():
    _, loss, _, _ = demo_loss()
    g = walk_graph(loss)
    pos = layered_layout(g)
    assert set(pos) == {n["id"] for n in g["nodes"]}
    assert pos[0][1] == 0.0
    for src, dst, _ in g["edges"]:
        assert pos[dst][1] <= pos[src][1] - 1  # children are at least one row below
    rows = {}
    for x, y in pos.values():
        rows.setdefault(y, []).append(x)
    for xs in rows.values():
        assert np.all(np.diff(sorted(xs)) >= 1 - 1e-9)  # no overlapping boxes
    # longest path: the deepest row is the weight of the first layer (under its transpose)
    deepest = min(pos, key=lambda i: pos[i][1])
    assert g["nodes"][deepest]["op"] == "AccumulateGrad"


def test_layout_of_a_chain_is_vertical():
    w = torch.ones(2, requires_grad=True)
    g = walk_graph(w.exp().sin().sum())
    pos = layered_layout(g)
    assert [pos[i] for i in range(4)] == [(0.0, 0.0), (0.0, -1.0), (0.0, -2.0), (0.0, -3.0)]
    assert layered_layout({"nodes": [], "edges": []}) == {}


def test_layout_bad_input():
    with pytest.raises(TypeError, match="graph="):
        layered_layout({"nodes": []})
    cyclic = {"nodes": [{"id": 0}, {"id": 1}], "edges": [(0, 1, 0), (1, 0, 0)]}
    with pytest.raises(ValueError, match="cycle"):
        layered_layout(cyclic)
    with pytest.raises(ValueError, match="spacing=0"):
        layered_layout({"nodes": [], "edges": []}, spacing=0)


@pytest.mark.parametrize("frozen", COMBOS, ids=lambda f: "+".join(f) or "none")
def test_match_frozen_graph_into_full(frozen):
    model, loss, _, _ = demo_loss()
    full = walk_graph(loss, model.named_parameters())
    model_f, loss_f, _, _ = demo_loss(frozen)
    sub = walk_graph(loss_f, model_f.named_parameters())
    mapping = match_graphs(sub, full)
    assert set(mapping) == {n["id"] for n in sub["nodes"]}
    assert len(set(mapping.values())) == len(mapping)  # one-to-one
    for s_node in sub["nodes"]:
        f_node = full["nodes"][mapping[s_node["id"]]]
        assert (f_node["op"], f_node["param"]) == (s_node["op"], s_node["param"])
    full_edges = set(full["edges"])
    assert all((mapping[s], mapping[d], slot) in full_edges for s, d, slot in sub["edges"])


def test_match_other_computation_raises():
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="not the root"):
        match_graphs(walk_graph(w.exp().sum()), walk_graph(w.exp().mean()))
    with pytest.raises(ValueError, match="no counterpart"):
        match_graphs(walk_graph(w.exp().sum()), walk_graph(w.sin().sum()))


# -- freezing, gradient table, BatchNorm -----------------------------------------------------------
def test_freeze_layers_sets_requires_grad():
    model = freeze_layers(freeze_demo_model(), ["bn1", "head"])
    assert trainable_layers(model) == LAYERS
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == {
        "bn1.weight", "bn1.bias", "head.weight", "head.bias"}
    freeze_layers(model, [])
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="'relu1', not a layer with parameters"):
        freeze_layers(model, ["relu1"])
    with pytest.raises(TypeError, match="frozen='fc1'"):
        freeze_layers(model, "fc1")
    with pytest.raises(TypeError, match="frozen=5"):
        freeze_layers(model, 5)
    with pytest.raises(TypeError, match="model="):
        freeze_layers("fc1", ["fc1"])


def test_grad_norm_table_against_torch():
    model, loss, _, _ = demo_loss(["fc2"])
    loss.backward()
    rows = grad_norm_table(model)
    assert [r["name"] for r in rows] == [n for n, _ in model.named_parameters()]
    for r, (_, p) in zip(rows, model.named_parameters()):
        assert r["shape"] == tuple(p.shape) and r["requires_grad"] == p.requires_grad
        if r["name"].startswith("fc2"):
            assert r["grad_norm"] is None
        else:
            assert r["grad_norm"] == pytest.approx(torch.linalg.vector_norm(p.grad).item(), rel=1e-6)
    html = grad_table_html(rows)
    assert html.count("None (frozen)") == 2 and html.count("<tr") == len(rows) + 1
    with pytest.raises(TypeError, match="params="):
        grad_norm_table(42)


def test_grad_norm_hand_value():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    (3 * w[0] + 4 * w[1]).backward()  # grad = (3, 4), norm 5
    (row,) = grad_norm_table({"w": w})
    assert row["grad_norm"] == pytest.approx(5.0)


def test_frozen_batchnorm_still_updates_running_stats():
    model = freeze_layers(freeze_demo_model(), ["bn1"])
    x, _ = freeze_demo_batch()
    bn = model.bn1
    before = bn.running_mean.clone()
    with torch.no_grad():
        batch_mean = model.fc1(x).mean(0)
    model.train()
    model(x)
    # torch's rule: running = (1 - momentum) * running + momentum * batch mean
    torch.testing.assert_close(bn.running_mean, (1 - bn.momentum) * before + bn.momentum * batch_mean)
    assert bn.num_batches_tracked.item() == 1
    model.eval()
    after_train = bn.running_mean.clone()
    model(x)
    torch.testing.assert_close(bn.running_mean, after_train, rtol=0, atol=0)


# -- the chain rule by hand ----------------------------------------------------------------------
def test_two_layer_backprop_hand_worked_point():
    # z1 = (1, -1), h = (1, 0), logits = (1, 0, 0), p0 = e / (e + 2), target 0
    x = torch.tensor([1.0, -1.0], dtype=torch.float64)
    w1 = torch.eye(2, dtype=torch.float64)
    w2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    b1, b2 = torch.zeros(2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    r = two_layer_backprop(x, torch.tensor(0), w1, b1, w2, b2)
    e = math.e
    p = [e / (e + 2), 1 / (e + 2), 1 / (e + 2)]
    assert r["loss"].item() == pytest.approx(math.log((e + 2) / e))
    np.testing.assert_allclose(r["dlogits"][0], [p[0] - 1, p[1], p[2]], rtol=1e-12)
    np.testing.assert_allclose(r["dw2"], [[p[0] - 1, 0], [p[1], 0], [p[2], 0]], rtol=1e-12)
    np.testing.assert_allclose(r["dw1"], [[p[0] - 1, 1 - p[0]], [0, 0]], rtol=1e-12)
    np.testing.assert_allclose(r["db1"], [p[0] - 1, 0], rtol=1e-12)


@pytest.mark.parametrize("seed,n", [(0, 1), (1, 5), (2, 32)])
def test_two_layer_backprop_matches_autograd(seed, n):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=g)
    params = [torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)
              for s in [(5, 4), (5,), (3, 5), (3,)]]
    w1, b1, w2, b2 = params
    loss = F.cross_entropy(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2), y)
    grads = torch.autograd.grad(loss, params)
    r = two_layer_backprop(x, y, *params)
    torch.testing.assert_close(r["loss"], loss.detach())
    for name, ref in zip(["dw1", "db1", "dw2", "db2"], grads):
        torch.testing.assert_close(r[name], ref, rtol=1e-10, atol=1e-12)


def test_two_layer_backprop_bad_input():
    w1, b1, w2, b2 = torch.ones(5, 4), torch.ones(5), torch.ones(3, 5), torch.ones(3)
    with pytest.raises(ValueError, match="x has shape \\(2, 4\\) and y \\(3,\\)"):
        two_layer_backprop(torch.ones(2, 4), torch.zeros(3, dtype=torch.long), w1, b1, w2, b2)
    with pytest.raises(TypeError, match="w1="):
        two_layer_backprop(torch.ones(4), torch.tensor(0), [[1.0]], b1, w2, b2)
    with pytest.raises(ValueError, match="y=.*allowed: int64 values in \\[0, 2\\]"):
        two_layer_backprop(torch.ones(4), torch.tensor(3), w1, b1, w2, b2)
    with pytest.raises(ValueError, match="y=.*class indices"):
        two_layer_backprop(torch.ones(4), torch.tensor(1.0), w1, b1, w2, b2)


# -- drawing -------------------------------------------------------------------------------------
def test_plot_autograd_graph_draws_every_node_and_edge():
    model, loss, _, _ = demo_loss(["fc1"])
    g = walk_graph(loss, model.named_parameters())
    fig, ax = new_figure((6, 6))
    art = plot_autograd_graph(ax, g, tags={0: "loss"})
    assert len(art["boxes"]) == len(g["nodes"]) and len(art["arrows"]) == len(g["edges"])
    labels = [t.get_text() for t in art["texts"].values()]
    assert "AccumulateGrad\nhead.weight (3, 8)" in labels
    assert not any("fc1" in label for label in labels)  # frozen and below nothing trainable: gone
    fig.canvas.draw()
    with pytest.raises(ValueError, match="node ids \\[99\\] have no position"):
        plot_autograd_graph(ax, g, tags={99: "loss"})
    empty_fig, empty_ax = new_figure()
    assert plot_autograd_graph(empty_ax, {"nodes": [], "edges": []})["boxes"] == {}


# -- the widget ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def widget():
    return FreezeLayersExplorer()


def test_widget_controls(widget):
    assert isinstance(widget, FreezeLayersExplorer)
    assert list(widget.controls) == LAYERS


def _set(widget, frozen):
    for name in LAYERS:
        widget.controls[name].value = name in frozen
    widget.refresh()


# nodes that disappear, derived by hand: a frozen layer loses its AccumulateGrad leaves (and the
# TBackward0 of a Linear weight); a layer below which nothing needs grad loses its op as well
HAND_FADED = {(): 0, ("fc1",): 4, ("bn1",): 2, ("fc2",): 3, ("head",): 3, ("fc1", "bn1"): 8,
              ("fc1", "bn1", "fc2"): 13, ("fc1", "bn1", "fc2", "head"): 19}


@pytest.mark.parametrize("frozen", COMBOS, ids=lambda f: "+".join(f) or "none")
def test_widget_every_combination(widget, frozen):
    _set(widget, frozen)
    assert widget.last_error is None
    faded = int(np.sum(widget.fog["nodes"].get_facecolor()[:, 3] > 0))
    _, loss, _, _ = demo_loss(frozen)
    fns, edges = reachable(loss.grad_fn)
    assert faded == len(widget.demo.full["nodes"]) - len(fns)
    faded_edges = int(np.sum(widget.fog["edges"].get_color()[:, 3] > 0))
    assert faded_edges == len(widget.demo.full["edges"]) - len(edges)
    if frozen in HAND_FADED:
        assert faded == HAND_FADED[frozen]
    assert widget.message.get_visible() == (len(frozen) == len(LAYERS))
    assert widget.readout.value.count("None (frozen)") == 2 * len(frozen)


def test_widget_readout_and_batchnorm_note(widget):
    _set(widget, ())
    png_before, html_before = widget.png(), widget.readout.value
    _set(widget, ("bn1",))
    assert widget.png() != png_before and widget.readout.value != html_before
    assert "does not stop BatchNorm" in widget.readout.value
    # the note's number is the running-mean shift of one train-mode forward pass
    model = freeze_layers(freeze_demo_model(), ["bn1"])
    before = model.bn1.running_mean.clone()
    model(freeze_demo_batch()[0])
    shift = torch.linalg.vector_norm(model.bn1.running_mean - before).item()
    assert shift > 0.1
    assert f"= <b>{shift:.4f}</b>" in widget.readout.value


def test_widget_leaves_global_state_alone():
    threads = torch.get_num_threads()
    rng = torch.get_rng_state()
    w = EXPLORERS["freeze_layers"]()
    assert isinstance(w, FreezeLayersExplorer)
    w.controls["fc2"].value = True
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)


def test_freeze_demo_matches_a_fresh_model_and_checks_names():
    demo = FreezeDemo()
    for frozen in (["fc2"], ["bn1", "head"], []):
        result = demo.run(frozen)
        model, loss, _, _ = demo_loss(frozen)
        loss.backward()
        assert result["loss"] == pytest.approx(loss.item(), rel=1e-6)
        for row, p in zip(result["rows"], model.parameters(), strict=True):
            if p.grad is None:
                assert row["grad_norm"] is None
            else:
                ref = torch.linalg.vector_norm(p.grad).item()
                assert row["grad_norm"] == pytest.approx(ref, rel=1e-5, abs=1e-6)
    with pytest.raises(ValueError, match="'relu1', not a layer with parameters"):
        demo.run(["relu1"])
    with pytest.raises(TypeError, match="frozen='fc1'"):
        demo.run("fc1")


def test_graph_presence_flags_against_an_independent_walk():
    full_model, full_loss, _, _ = demo_loss(())
    full = walk_graph(full_loss, full_model.named_parameters())
    _, loss, _, _ = demo_loss(["fc1", "bn1"])
    nodes, edges = graph_presence(walk_graph(loss), full)
    fns, sub_edges = reachable(loss.grad_fn)
    assert sum(nodes) == len(fns) and sum(edges) == len(sub_edges)
    assert nodes[0] and len(nodes) == len(full["nodes"]) and len(edges) == len(full["edges"])


def test_demo_data_bad_input():
    with pytest.raises(ValueError, match="seed=-1"):
        freeze_demo_model(-1)
    with pytest.raises(ValueError, match="n=1"):
        freeze_demo_batch(n=1)


def test_demo_model_is_deterministic():
    a, b = freeze_demo_model(3), freeze_demo_model(3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert isinstance(a.bn1, nn.BatchNorm1d)
