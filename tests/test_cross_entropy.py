"""The start-here widget: softmax + cross-entropy against closed forms and torch."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.cross_entropy import loss_curve, softmax_cross_entropy
from course_utils.explorers import CrossEntropyExplorer
from course_utils.explorers.base import sweep_controls


@pytest.mark.parametrize("z, y", [([0.0, 0.0, 0.0], 1), ([2.0, 1.0, 0.5], 0), ([-3.0, 10.0], 1),
                                  ([1000.0, 0.0, -1000.0], 2)])
def test_softmax_cross_entropy_matches_closed_form(z, y):
    probs, loss = softmax_cross_entropy(z, y)
    m = max(z)
    log_norm = m + math.log(sum(math.exp(v - m) for v in z))
    assert loss == pytest.approx(log_norm - z[y], rel=1e-12)
    np.testing.assert_allclose(probs, [math.exp(v - log_norm) for v in z], rtol=1e-12, atol=1e-300)


def test_uniform_logits_give_ln_k():
    assert softmax_cross_entropy([0.0] * 18, 5)[1] == pytest.approx(math.log(18))


def test_loss_curve_equals_cross_entropy_pointwise():
    grid = np.linspace(-4, 6, 11)
    curve = loss_curve([1.0, 0.5], 0, grid)
    for g, value in zip(grid, curve):
        ref = F.cross_entropy(torch.tensor([[g, 1.0, 0.5]], dtype=torch.float64), torch.tensor([0]))
        assert value == pytest.approx(ref.item(), rel=1e-12)


@pytest.mark.parametrize("z, y, error, match", [
    ([[1.0, 2.0]], 0, ValueError, "logits has shape"),
    ([1.0], 0, ValueError, "logits has shape"),
    ([1.0, 2.0], 2, ValueError, "target=2"),
    ([1.0, 2.0], 0.0, TypeError, "target=0.0"),
])
def test_bad_input_is_named(z, y, error, match):
    with pytest.raises(error, match=match):
        softmax_cross_entropy(z, y)


def test_widget_readout_follows_the_slider_and_every_setting_draws():
    w = CrossEntropyExplorer()
    assert sweep_controls(w) == []
    w.controls["logit"].value = 2.0
    _, loss = softmax_cross_entropy([2.0, 1.0, 0.5], 0)
    assert f"{loss:.4f}" in w.readout.value
    before = w.png()
    w.controls["logit"].value = -3.0
    assert w.png() != before and w.last_error is None
    assert "image/png" in w._repr_mimebundle_()
