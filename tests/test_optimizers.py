"""course_utils.optimizers against closed forms and the update rules written out by hand.

References: w_t = w_0·(1 − 2·lr)^t for SGD on w², the momentum / Nesterov recurrences of the torch
docs, Adam as in Kingma & Ba (2015, Algorithm 1), autograd for the surfaces' gradients.
"""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from course_utils.explorers import EXPLORERS, OptimizerExplorer
from course_utils.optimizers import (
    BETA_ARGUMENT,
    BETA_NOTCHES,
    DIVERGENCE_BOUND,
    OPTIMIZERS,
    SURFACES,
    beta_params,
    optimizer_call,
    optimizer_trajectories,
    optimizer_trajectory,
    surface_loss,
    zigzag,
)


@pytest.mark.parametrize("lr", [0.1, 0.3, 0.75, 1.0])
def test_sgd_on_parabola_is_the_closed_form(lr):
    tr = optimizer_trajectory("parabola", "SGD", lr=lr, steps=12, start=2.0)
    assert_allclose(tr.points[:, 0], 2.0 * (1 - 2 * lr) ** np.arange(13), rtol=1e-12, atol=1e-15)
    assert_allclose(tr.losses, tr.points[:, 0] ** 2, rtol=1e-12)
    assert not tr.diverged


def test_sgd_lr_half_jumps_to_the_minimum_and_lr_above_one_diverges():
    assert optimizer_trajectory("parabola", "SGD", lr=0.5, steps=3).points[1, 0] == 0.0
    tr = optimizer_trajectory("parabola", "SGD", lr=1.5, steps=100, start=2.0)
    # |w_t| = 2·2^t passes 1e6 first at t = 19
    first = next(t for t in range(100) if 2 * 2**t > DIVERGENCE_BOUND)
    assert tr.diverged_at == first == 19
    assert len(tr.points) == first + 1 and np.all(np.isfinite(tr.points))


def test_overflow_to_inf_keeps_only_finite_points():
    tr = optimizer_trajectory("parabola", "SGD", lr=1e308, steps=5, start=2.0)
    assert tr.diverged_at == 1 and tr.points.shape == (1, 1) and np.all(np.isfinite(tr.losses))


def test_momentum_and_nesterov_recurrences_on_the_bowl():
    g = lambda w: w * np.array([1.0, 10.0])  # noqa: E731 - gradient of x²/2 + 5y²
    lr, mu = 0.02, 0.9
    for nesterov in (False, True):
        w, v, pts = np.array([-4.5, 1.5]), np.zeros(2), [np.array([-4.5, 1.5])]
        for t in range(30):
            grad = g(w)
            v = grad if t == 0 else mu * v + grad  # torch: the first buffer is the gradient itself
            w = w - lr * (grad + mu * v if nesterov else v)
            pts.append(w)
        name = "Nesterov" if nesterov else "SGD+momentum"
        assert_allclose(optimizer_trajectory("bowl", name, lr=lr, steps=30).points, pts, rtol=1e-12)


def test_adam_is_kingma_and_ba():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    s = SURFACES["rosenbrock"]
    w, m, v, pts = np.array(s.start), np.zeros(2), np.zeros(2), [np.array(s.start)]
    for t in range(1, 41):
        x, y = w
        grad = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        pts.append(w)
    assert_allclose(optimizer_trajectory("rosenbrock", "Adam", lr=lr, steps=40).points, pts, rtol=1e-9)


def test_optimizer_params_override_the_defaults():
    a = optimizer_trajectory("bowl", "SGD+momentum", lr=0.02, steps=10, momentum=0.0)
    b = optimizer_trajectory("bowl", "SGD", lr=0.02, steps=10)
    assert_allclose(a.points, b.points, rtol=1e-12)


@pytest.mark.parametrize("name", list(SURFACES))
def test_closed_form_gradients_match_autograd(name):
    s = SURFACES[name]
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = torch.tensor(rng.uniform(-2, 2, s.dim), dtype=torch.float64, requires_grad=True)
        s.loss(w).backward()
        torch.testing.assert_close(s.grad(w.detach()), w.grad, rtol=1e-12, atol=1e-12)


def test_surface_values():
    assert surface_loss("rosenbrock", [0.0, 0.0]) == 1.0
    assert surface_loss("rosenbrock", [1.0, 1.0]) == 0.0
    assert surface_loss("himmelblau", [0.0, 0.0]) == 170.0
    for name, s in SURFACES.items():
        assert_allclose(surface_loss(name, np.array(s.minima)), 0.0, atol=1e-9)
    assert surface_loss("parabola", 3.0) == 9.0
    grid = surface_loss("bowl", np.zeros((4, 5, 2)))
    assert grid.shape == (4, 5)


def test_every_optimizer_lowers_the_bowl_loss():
    for name in OPTIMIZERS:
        tr = optimizer_trajectory("bowl", name, lr=0.05, steps=100)
        assert tr.losses[-1] < tr.losses[0] and not tr.diverged


def test_bad_input():
    with pytest.raises(ValueError, match=r"surface='saddle' is not known; allowed: 'parabola'"):
        optimizer_trajectory("saddle")
    with pytest.raises(ValueError, match=r"optimizer='LBFGS' is not known; allowed: 'SGD'"):
        optimizer_trajectory("bowl", "LBFGS")
    with pytest.raises(ValueError, match=r"lr=0 is out of range"):
        optimizer_trajectory("bowl", "SGD", lr=0)
    with pytest.raises(ValueError, match=r"steps=0"):
        optimizer_trajectory("bowl", "SGD", steps=0)
    with pytest.raises(ValueError, match=r"start=\(1.0,\) is not allowed; allowed: 2 finite"):
        optimizer_trajectory("bowl", "SGD", start=(1.0,))
    with pytest.raises(ValueError, match=r"start=\[nan, 0.0\]"):
        optimizer_trajectory("bowl", "SGD", start=[math.nan, 0.0])
    with pytest.raises(TypeError, match=r"unknown argument\(s\) momentun; allowed: momentum"):
        optimizer_trajectory("bowl", "SGD", momentun=0.9)
    with pytest.raises(ValueError, match=r"momentum=-1.*Invalid momentum value"):
        optimizer_trajectory("bowl", "SGD", momentum=-1)
    with pytest.raises(ValueError, match=r"points has shape \(3,\)"):
        surface_loss("bowl", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="surface='parabola' is 1-D"):
        OptimizerExplorer(surface="parabola")


def test_optimizers_vocabulary():
    # the package's one optimizer vocabulary: these labels, each a torch.optim class and its arguments
    assert list(OPTIMIZERS) == ["SGD", "SGD+momentum", "Nesterov", "Adagrad", "RMSprop", "Adam", "AdamW"]
    for cls, kwargs in OPTIMIZERS.values():
        assert issubclass(cls, torch.optim.Optimizer) and isinstance(kwargs, dict)


def test_widget_shows_divergence_as_a_message():
    w = EXPLORERS["optimizer_trajectory"]()
    assert w.last_error is None
    w.controls["lr"].value = 10.0
    assert w.last_error is None
    assert w.message.get_visible() and "SGD diverged" in w.message.get_text()
    assert "diverged at step" in w.readout.value and "lr=10" in w.readout.value
    assert np.all(np.isfinite(w.ax.get_xlim() + w.ax.get_ylim() + w.ax_loss.get_ylim()))
    assert np.all(np.isfinite(w.runs[0][0].get_xydata()))
    w.controls["lr"].value = 0.01
    assert not w.message.get_visible()


def test_widget_paths_are_the_trajectories():
    w = OptimizerExplorer()
    for k, v in {"surface": "himmelblau", "optimizer": "SGD+momentum", "compare": "none", "lr": 0.01,
                 "beta": 0.9, "steps": 40}.items():
        w.controls[k].value = v
    tr = optimizer_trajectory("himmelblau", "SGD+momentum", lr=w.controls["lr"].value, steps=40)
    path, end, loss = w.runs[0]
    assert_allclose(path.get_xydata(), tr.points, rtol=1e-12)
    assert_allclose(end.get_xydata(), tr.points[-1:], rtol=1e-12)
    assert_allclose(loss.get_ydata(), np.maximum(tr.losses, 1e-12), rtol=1e-12)
    assert not any(a.get_visible() for a in w.runs[1])
    assert "torch.optim.SGD([w], lr=0.01, momentum=0.9)" in w.readout.value
    assert w.ax.get_xlim() == SURFACES["himmelblau"].xlim and w.ax.get_ylim() == SURFACES["himmelblau"].ylim


def test_widget_each_run_has_its_own_lr_and_beta_sets_momentum_or_beta1():
    w = OptimizerExplorer()
    values = {"surface": "rosenbrock", "optimizer": "Nesterov", "compare": "Adam", "lr": 10 ** -3.5,
              "compare_lr": 10 ** -1.5, "beta": 0.7, "steps": 150}
    for k, v in values.items():
        w.controls[k].value = v
    ref_sgd = optimizer_trajectory("rosenbrock", "Nesterov", lr=10 ** -3.5, steps=150, momentum=0.7)
    ref_adam = optimizer_trajectory("rosenbrock", "Adam", lr=10 ** -1.5, steps=150, betas=(0.7, 0.999))
    assert_allclose(w.runs[0][0].get_xydata(), ref_sgd.points, rtol=1e-12, atol=1e-14)
    assert_allclose(w.runs[1][0].get_xydata(), ref_adam.points, rtol=1e-9, atol=1e-12)
    assert "momentum=0.7, nesterov=True" in w.readout.value and "betas=(0.7, 0.999)" in w.readout.value
    # an lr off the slider's notches gets its own torch run
    w.controls["lr"].value = 0.0123
    ref = optimizer_trajectory("rosenbrock", "Nesterov", lr=0.0123, steps=150, momentum=0.7)
    assert_allclose(w.runs[0][0].get_xydata(), ref.points, rtol=1e-12, atol=1e-14)


def test_widget_says_when_torch_refuses_nesterov_without_momentum():
    w = OptimizerExplorer(optimizer="Nesterov", compare="SGD")
    w.controls["beta"].value = 0.0
    assert w.last_error is None
    assert "Nesterov with β=0.00: torch refuses it" in w.message.get_text()
    assert not any(a.get_visible() for a in w.runs[0]) and all(a.get_visible() for a in w.runs[1])
    assert "β is not used by SGD" in w.readout.value
    w.controls["lr"].value = 0.01
    w.controls["beta"].value = 0.5
    assert not w.message.get_visible() and all(a.get_visible() for a in w.runs[0])


def test_widget_default_shows_sgd_zigzag_damped_by_momentum():
    # the notebook's claim at the explorer's default: plain SGD flips y's sign at every step
    # (1 − 10·lr < 0), momentum β = 0.5 at the same lr travels less along y and ends lower
    w = OptimizerExplorer()
    sgd = optimizer_trajectory("bowl", "SGD", lr=w.controls["lr"].value, steps=60)
    mom = optimizer_trajectory("bowl", "SGD+momentum", lr=w.controls["compare_lr"].value, steps=60,
                               momentum=w.controls["beta"].value)
    assert 1 - 10 * w.controls["lr"].value < 0
    assert zigzag(sgd, 1)[0] == 60 and zigzag(mom, 1)[1] < 0.6 * zigzag(sgd, 1)[1]
    assert mom.losses[-1] < 1e-3 * sgd.losses[-1]
    assert "flips sign 60×" in w.readout.value


@pytest.mark.parametrize("surface", ["bowl", "rosenbrock", "parabola"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_many_lrs_at_once_equal_one_torch_run_per_lr(surface, name):
    lrs = [1e-3, 0.02, 0.19, 0.25, 3.0, 1e300]  # converging, zig-zagging, diverging, overflowing at once
    for params in ({}, {"weight_decay": 0.1}):
        many = optimizer_trajectories(surface, name, lrs, 80, **params)
        for lr, run in zip(lrs, many):
            one = optimizer_trajectory(surface, name, lr=lr, steps=80, **params)
            assert run.diverged_at == one.diverged_at and run.lr == lr and run.optimizer == name
            # equal up to rounding (lr·(−u) against torch's fused w − lr·u: one ulp per step)
            assert_allclose(run.points, one.points, rtol=1e-9, atol=1e-12)
            assert_allclose(run.losses, one.losses, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", list(BETA_ARGUMENT))
def test_every_beta_notch_at_once_equals_one_torch_run(name):
    """The explorer runs all β notches of an optimizer together (one param group each): each (β, lr)
    is one plain torch run, and torch's refusal of Nesterov with β = 0 is kept."""
    from course_utils.optimizers import _beta_family, _cached_trajectory, _grid

    family = _beta_family("bowl", name, 60)
    refused = {0.0} if name == "Nesterov" else set()
    betas = [dict(key)["momentum"] if "momentum" in dict(key) else dict(key)["betas"][0] for key in family]
    assert sorted(betas) == [b for b in BETA_NOTCHES if b not in refused]
    for beta in (BETA_NOTCHES[1], 0.5, 0.95):
        params = beta_params(name, beta)
        for lr in _grid()[[0, 40, 65, 75, 90]]:  # 1e-4 … 10^0.5: converging, zig-zagging, diverging
            run = _cached_trajectory("bowl", name, float(lr), 60, tuple(params.items()))
            one = optimizer_trajectory("bowl", name, lr=float(lr), steps=60, **params)
            assert run.diverged_at == one.diverged_at, (beta, lr)
            assert_allclose(run.points, one.points, rtol=1e-9, atol=1e-12)
    if refused:
        with pytest.raises(ValueError, match="rejected"):
            _cached_trajectory("bowl", name, 0.1, 60, tuple(beta_params(name, 0.0).items()))


def test_many_lrs_bad_input():
    with pytest.raises(ValueError, match=r"lrs=\[\] is not allowed"):
        optimizer_trajectories("bowl", "SGD", [])
    with pytest.raises(ValueError, match=r"lrs=\[0.1, -1\] is not allowed"):
        optimizer_trajectories("bowl", "SGD", [0.1, -1])
    with pytest.raises(TypeError, match="unknown argument"):
        optimizer_trajectories("bowl", "SGD", [0.1], momentun=0.9)


def test_beta_params_set_torchs_momentum_and_beta1():
    assert beta_params("SGD", 0.5) == {} and beta_params("RMSprop", 0.5) == {}
    assert beta_params("Nesterov", 0.5) == {"momentum": 0.5}
    assert beta_params("AdamW", 0.8) == {"betas": (0.8, 0.999)}
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], **beta_params("Adam", 0.3))
    assert opt.param_groups[0]["betas"] == (0.3, 0.999)
    with pytest.raises(ValueError, match="beta=1.0 is out of range"):
        beta_params("Adam", 1.0)
    assert optimizer_call("AdamW", 0.01, betas=(0.5, 0.999)) == \
        "torch.optim.AdamW([w], lr=0.01, weight_decay=0.01, betas=(0.5, 0.999))"


def test_zigzag_is_the_closed_form_of_sgd_on_the_bowl():
    # y_t = 1.5·f^t with f = 1 − 10·lr: for f < 0 every step flips the sign, and the distance travelled
    # along y is Σ |y_{t+1} − y_t| = 1.5·|f − 1|·Σ |f|^t
    for lr, flips in [(0.05, 0), (0.15, 40), (0.178, 40)]:
        f = 1 - 10 * lr
        run = optimizer_trajectory("bowl", "SGD", lr=lr, steps=40)
        travel = 1.5 * abs(f - 1) * np.sum(np.abs(f) ** np.arange(40))
        assert zigzag(run, axis=1) == (flips, pytest.approx(travel))
    with pytest.raises(ValueError, match="axis=2 is out of range"):
        zigzag(run, axis=2)
