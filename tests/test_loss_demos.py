"""course_utils.loss_demos against independent references: NumPy / SciPy closed forms, torch itself, and a
hand-written gradient descent."""

import dataclasses
import math
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from scipy.special import huber, log_softmax, rel_entr, xlogy

from course_utils import loss_demos
from course_utils.loss_demos import (
    TOUR,
    ce_after_softmax_floor,
    error_of,
    format_tour,
    logistic_logits_per_epoch,
    loss_shape_curves,
    plot_confidence_vs_accuracy,
    plot_loss_shapes,
    tour_rows,
    warnings_of,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = [spec.name for spec in TOUR]


# ---------------------------------------------------------------------------------------------
# the tour: each written-out formula against NumPy / SciPy, each row against torch
# ---------------------------------------------------------------------------------------------
def _numpy_reference(name, x, y, options):
    """Per-element loss from NumPy / SciPy, independent of torch and of the module's formulas."""
    x, y = x.double().numpy(), y.numpy()
    if name == "CrossEntropyLoss":
        return -log_softmax(x, axis=1)[np.arange(len(y)), y]
    if name == "NLLLoss":
        return -x[np.arange(len(y)), y]
    if name == "BCEWithLogitsLoss":
        p = 1 / (1 + np.exp(-x))
        return -(xlogy(y, p) + xlogy(1 - y, 1 - p))
    if name == "BCELoss":
        return -(xlogy(y, x) + xlogy(1 - y, 1 - x))
    if name == "MSELoss":
        return (x - y) ** 2
    if name == "L1Loss":
        return np.abs(x - y)
    if name == "HuberLoss":
        return huber(options["delta"], x - y)
    if name == "SmoothL1Loss":
        return huber(options["beta"], x - y) / options["beta"]
    if name == "KLDivLoss":
        return rel_entr(y, np.exp(x))
    raise AssertionError(name)


@pytest.mark.parametrize("spec", TOUR, ids=NAMES)
@pytest.mark.parametrize("n, c", [(1, 2), (4, 3), (9, 7)])
def test_each_formula_matches_numpy_and_scipy(spec, n, c):
    for seed in range(4):
        x, y = spec.example(n, c, torch.Generator().manual_seed(seed))
        want = _numpy_reference(spec.name, x, y, spec.options)
        np.testing.assert_allclose(spec.formula(x, y).double().numpy(), want, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("n, c, seed", [(4, 3, 0), (6, 5, 3), (1, 2, 7)])
def test_tour_rows_against_torch(n, c, seed):
    rows = tour_rows(n=n, num_classes=c, seed=seed)
    assert [r["loss"].split("(")[0] for r in rows] == NAMES
    for spec, row in zip(TOUR, rows):
        assert row["matches"], row
        x, y = spec.example(n, c, torch.Generator().manual_seed(seed * 1000 + NAMES.index(spec.name)))
        per_element = _numpy_reference(spec.name, x, y, spec.options)
        want = per_element.sum() / n if spec.options.get("reduction") == "batchmean" else per_element.mean()
        assert row["value"] == pytest.approx(want, rel=2e-5, abs=1e-6)
        assert row["formula"] == pytest.approx(want, rel=2e-5, abs=1e-6)
        assert row["none_shape"] == ((n, c) if spec.name == "KLDivLoss" else (n,))
        assert row["default"] == getattr(torch.nn, spec.name)().reduction == "mean"
        assert row["target_dtype"] == y.dtype
        assert ("int64" in row["target"]) == (y.dtype == torch.int64)


def test_with_other_dtype_is_what_torch_does():
    rows = {r["loss"].split("(")[0]: r for r in tour_rows()}
    x, y = torch.randn(3, 4), torch.tensor([0, 3, 1])
    with pytest.raises(RuntimeError) as ce_error:
        torch.nn.CrossEntropyLoss()(x, y.float())
    first_line = str(ce_error.value).splitlines()[0]
    assert rows["CrossEntropyLoss"]["with_other_dtype"] == f"RuntimeError: {first_line}"
    for name in ("NLLLoss", "BCEWithLogitsLoss", "BCELoss"):
        assert rows[name]["with_other_dtype"].startswith("RuntimeError: ")
    for name in ("MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss"):
        assert rows[name]["with_other_dtype"] == "accepted"
        assert rows[name]["other_dtype"] == torch.int64
    assert rows["KLDivLoss"]["with_other_dtype"] is None


def test_a_wrong_formula_is_flagged(monkeypatch):
    wrong = dataclasses.replace(TOUR[0], formula=lambda x, y: -x[torch.arange(len(y)), y])  # NLL, not CE
    monkeypatch.setattr(loss_demos, "TOUR", (wrong, *TOUR[1:]))
    rows = loss_demos.tour_rows()
    assert not rows[0]["matches"] and all(r["matches"] for r in rows[1:])
    assert "✗" in loss_demos.format_tour(rows).splitlines()[2]


def test_format_tour_one_line_per_loss():
    text = format_tour(tour_rows())
    lines = text.splitlines()
    assert len(lines) == len(TOUR) + 3
    for spec, line in zip(TOUR, lines[2:]):
        assert line.startswith(spec.name) and "✓" in line
    assert "float32: RuntimeError" in lines[2] and "int64: accepted" in text
    assert lines[-1] == "default reduction of every class: 'mean'"


# ---------------------------------------------------------------------------------------------
# error_of, warnings_of, the softmax floor, the curves
# ---------------------------------------------------------------------------------------------
def test_error_of_and_warnings_of():
    assert error_of(lambda: 1 + 1) is None
    assert error_of(lambda: 1 / 0) == "ZeroDivisionError: division by zero"
    assert error_of(lambda: (_ for _ in ()).throw(ValueError("first\nsecond"))) == "ValueError: first"
    long = error_of(lambda: (_ for _ in ()).throw(ValueError("x" * 500)))
    assert len(long) < 200 and long.endswith("…")
    result, caught = warnings_of(lambda: (warnings.warn("careful\nmore", UserWarning, stacklevel=1), 7)[1])
    assert result == 7 and caught == ["UserWarning: careful"]
    assert warnings_of(lambda: 3) == (3, [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an outer filter must not hide the warning from warnings_of
        caught = warnings_of(lambda: warnings.warn("hidden?", RuntimeWarning, stacklevel=1))[1]
        assert caught == ["RuntimeWarning: hidden?"]


@pytest.mark.parametrize("c", [2, 3, 10, 18])
def test_softmax_floor_against_torch(c):
    floor = ce_after_softmax_floor(c)
    assert floor == pytest.approx(math.log(1 + (c - 1) / math.e), rel=1e-15)
    # the best case: a one-hot probability vector as the "logits"
    best = torch.nn.functional.cross_entropy(torch.eye(c, dtype=torch.float64)[:1], torch.tensor([0]))
    assert floor == pytest.approx(best.item(), rel=1e-12)
    g = torch.Generator().manual_seed(c)
    probs = torch.softmax(torch.randn(500, c, generator=g, dtype=torch.float64) * 10, dim=1)
    y = torch.randint(0, c, (500,), generator=g)
    assert torch.nn.functional.cross_entropy(probs, y, reduction="none").min().item() >= floor - 1e-12


def test_loss_shape_curves_against_closed_forms():
    m, r = np.linspace(-5, 9, 57), np.linspace(-3, 3, 41)
    for c in (2, 3, 18):
        curves = loss_shape_curves(m, r, num_classes=c)
        np.testing.assert_allclose(curves["ce"], np.log1p((c - 1) * np.exp(-m)), rtol=1e-12)
        np.testing.assert_allclose(curves["bce"], np.log1p(np.exp(-m)), rtol=1e-12)
        np.testing.assert_allclose(curves["mse"], r ** 2)
        np.testing.assert_allclose(curves["l1"], np.abs(r))
        np.testing.assert_allclose(curves["huber"], huber(1.0, r), rtol=1e-12)


def test_plot_loss_shapes_draws_the_curves():
    fig, (a, b) = plt.subplots(1, 2)
    m, r = np.linspace(-2, 4, 11), np.linspace(-2, 2, 9)
    lines = plot_loss_shapes(a, b, m, r)
    assert set(lines) == {"ce", "bce", "mse", "l1", "huber"}
    assert lines["ce"].axes is a and lines["huber"].axes is b
    np.testing.assert_allclose(lines["l1"].get_ydata(), np.abs(r))
    assert b.get_ylim()[1] == pytest.approx(2 * 1.6)
    plt.close(fig)


def test_plot_confidence_vs_accuracy_places_the_points():
    fig, ax = plt.subplots()
    art = plot_confidence_vs_accuracy(ax, {"a": ([0.8, 0.9], [0.7, 0.95]), "b": ((0.6,), (0.65,))},
                                      colors={"a": "red"})
    np.testing.assert_allclose(art["a"].get_offsets(), [[0.8, 0.7], [0.9, 0.95]])
    np.testing.assert_allclose(art["b"].get_offsets(), [[0.6, 0.65]])
    assert ax.get_xlim() == pytest.approx((0.55, 1.0)) and ax.get_ylim() == pytest.approx((0.55, 1.0))
    assert ax.get_xlabel().startswith("mean confidence") and ax.get_ylabel() == "accuracy"
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# the logistic regression of section 2
# ---------------------------------------------------------------------------------------------
def test_logistic_logits_per_epoch_matches_manual_gradient_descent():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    y = (rng.random(50) < 0.2).astype(float)
    z = logistic_logits_per_epoch(X, y, epochs=3, lr=0.5).double().numpy()
    w, b = np.zeros(2), 0.0
    for e in range(4):
        logits = X @ w + b
        np.testing.assert_allclose(z[e], logits, rtol=1e-5, atol=1e-6)
        g = 1 / (1 + np.exp(-logits)) - y  # d(mean BCE)/dlogit * N
        w, b = w - 0.5 * X.T @ g / 50, b - 0.5 * g.mean()


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
BAD = [
    (lambda: tour_rows(n=0), ValueError, "n=0"),
    (lambda: tour_rows(num_classes=1), ValueError, "num_classes=1"),
    (lambda: tour_rows(seed=-1), ValueError, "seed=-1"),
    (lambda: tour_rows(n=2.5), TypeError, "n=2.5"),
    (lambda: error_of(3), TypeError, "call=3"),
    (lambda: warnings_of("f"), TypeError, "call='f'"),
    (lambda: ce_after_softmax_floor(1), ValueError, "num_classes=1"),
    (lambda: loss_shape_curves([[0.0]], [0.0]), ValueError, "margins has shape"),
    (lambda: loss_shape_curves([0.0], [0.0], num_classes=1), ValueError, "num_classes=1"),
    (lambda: logistic_logits_per_epoch(np.zeros((3, 2)), np.zeros(3), epochs=0), ValueError, "epochs=0"),
    (lambda: logistic_logits_per_epoch(np.zeros((3, 2)), np.zeros(3), lr=float("inf")), ValueError, "lr=inf"),
    (lambda: logistic_logits_per_epoch(np.zeros((3, 2)), np.zeros(4)), ValueError, "X has shape"),
    (lambda: plot_confidence_vs_accuracy(None, {}), ValueError, "groups="),
    (lambda: plot_confidence_vs_accuracy(None, {"a": ([0.5], [0.5, 0.6])}), ValueError, r"groups\['a'\]"),
    (lambda: plot_confidence_vs_accuracy(None, {"a": ([1.5], [0.5])}), ValueError, "outside"),
]


@pytest.mark.parametrize("call, exc, match", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
