"""The momentum phase diagram against numpy's eigenvalues, plain torch.optim.SGD runs with autograd, and the
closed-form optimum (Polyak 1964; Goh 2017)."""

import math

import numpy as np
import pytest
import torch

from course_utils.momentum import (
    closed_form_rate,
    gd_optimum,
    iteration_matrix,
    measured_rates,
    optimum,
    sgd_error_norms,
    speedup,
    steps_per_digit,
)
from course_utils.reproducibility import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with torch_threads(1):
        yield


@pytest.mark.parametrize("kappa", [1.0, 10.0, 300.0])
def test_closed_form_rate_is_the_spectral_radius_from_numpy(kappa):
    rng = np.random.default_rng(0)
    for lr, beta in zip(rng.uniform(0, 4, 200), rng.uniform(0, 0.999, 200)):
        radii = [np.abs(np.linalg.eigvals(iteration_matrix(lr, beta, h))).max() for h in (1 / kappa, 1.0)]
        assert math.isclose(closed_form_rate(lr, beta, kappa), max(radii), rel_tol=1e-9, abs_tol=1e-12)


def test_the_heavy_ball_matrix_is_what_torch_sgd_does():
    # two steps of torch SGD(momentum) on f = h w^2 / 2 equal the matrix applied to (w_t, w_{t-1})
    lr, beta, h = 0.3, 0.7, 2.0
    w = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr, momentum=beta)
    states = [np.array([1.5, 1.5])]
    for _ in range(6):
        opt.zero_grad()
        (0.5 * h * w * w).sum().backward()
        opt.step()
        states.append(np.array([w.item(), states[-1][0]]))
    m = iteration_matrix(lr, beta, h)
    for before, after in zip(states[:-1], states[1:]):
        np.testing.assert_allclose(m @ before, after, rtol=1e-12)


def test_measured_rates_use_sgd_exactly_as_one_plain_run_per_point():
    lrs, betas, kappa = np.array([0.2, 1.1, 2.5]), np.array([0.0, 0.5, 0.9]), 20.0
    from course_utils.momentum import _sgd_norms

    norms = _sgd_norms(lrs, betas, kappa, 30)
    for j, beta in enumerate(betas):
        for i, lr in enumerate(lrs):
            w = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
            h = torch.tensor([1 / kappa, 1.0], dtype=torch.float64)
            opt = torch.optim.SGD([w], lr=float(lr), momentum=float(beta))
            prev = w.detach().clone()
            for t in range(1, 31):
                opt.zero_grad()
                (0.5 * (h * w * w).sum()).backward()
                opt.step()
                state = torch.cat([w.detach(), prev]).norm().item()
                prev = w.detach().clone()
                assert math.isclose(norms[t, j, i], state, rel_tol=1e-9, abs_tol=1e-300), (lr, beta, t)


@pytest.mark.parametrize("kappa", [10.0, 100.0])
def test_measured_rates_match_the_closed_form(kappa):
    lrs = np.linspace(0.1, 4.0, 14)
    betas = np.array([0.0, 0.3, 0.6, 0.9])
    measured = measured_rates(lrs, betas, kappa, steps=200)
    closed = closed_form_rate(lrs[None, :], betas[:, None], kappa)
    keep = (closed > 0.2) & (closed < 1.2)
    assert keep.sum() > 20
    np.testing.assert_allclose(measured[keep], closed[keep], atol=0.02)


@pytest.mark.parametrize("kappa", [4.0, 25.0, 400.0])
def test_optimum_is_the_grid_minimum_and_gives_the_sqrt_kappa_speedup(kappa):
    best = optimum(kappa)
    lr = np.linspace(1e-3, 4, 801)[None, :]
    beta = np.linspace(0, 0.999, 1000)[:, None]
    grid = closed_form_rate(lr, beta, kappa)
    assert grid.min() >= best["rate"] - 1e-9          # nothing on the grid beats the formula
    # a double root there: rounding in the discriminant costs about sqrt(machine epsilon)
    assert math.isclose(closed_form_rate(best["lr"], best["beta"], kappa), best["rate"], rel_tol=1e-6)
    gd = gd_optimum(kappa)
    lr_line = np.linspace(1e-3, 2.2, 20001)
    assert closed_form_rate(lr_line, 0.0, kappa).min() >= gd["rate"] - 1e-9
    assert math.isclose(closed_form_rate(gd["lr"], 0.0, kappa), gd["rate"], rel_tol=1e-9)
    # iterations for the same error: ln rate_gd / ln rate_momentum, the √κ of the heavy ball
    ratio = speedup(kappa)
    assert math.isclose(ratio, math.log(best["rate"]) / math.log(gd["rate"]), rel_tol=1e-12)
    assert 1.0 <= ratio / math.sqrt(kappa) <= 1.1


def test_real_runs_at_the_optima_decay_at_their_rates():
    kappa = 100.0
    for params in (optimum(kappa), gd_optimum(kappa)):
        norms = sgd_error_norms(params["lr"], params["beta"], kappa, steps=300)
        rate = (norms[300] / norms[150]) ** (1 / 150)
        assert abs(rate - params["rate"]) < 0.01


def test_steps_per_digit():
    expected = [1.0, 1 / math.log10(2), -1 / math.log10(0.9)]
    np.testing.assert_allclose(steps_per_digit([0.1, 0.5, 0.9]), expected)
    assert steps_per_digit(1.0) == np.inf and steps_per_digit(0.0) == 1.0


@pytest.mark.parametrize("call, words", [
    (lambda: closed_form_rate(0.1, 1.0, 10), "beta"),
    (lambda: closed_form_rate(-0.1, 0.5, 10), "lr"),
    (lambda: closed_form_rate(0.1, 0.5, 0.5), "kappa"),
    (lambda: measured_rates([0.0], [0.5], 10), "lrs"),
])
def test_bad_arguments_name_themselves(call, words):
    with pytest.raises(ValueError, match=words):
        call()
