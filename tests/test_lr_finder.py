"""The LR range test against its closed form, a re-derivation of torch-lr-finder's loop, and (when it is
installed) torch-lr-finder itself."""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.lr_finder import (
    divergence_index,
    lr_range_test,
    lr_schedule,
    onecycle_curve,
    smooth_losses,
    suggest_lrs,
)
from course_utils.reproducibility import torch_threads


@pytest.fixture(autouse=True)
def _one_torch_thread():
    with torch_threads(1):  # tiny tensors: several threads only fight over the cores
        yield


def _problem(seed=0, n=256, d=16, k=4):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, k, generator=g)
    y = (x @ w).argmax(dim=1)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, k))
    return model, x, y


def _loader(x, y, seed=0):
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def test_lr_sequence_is_the_closed_form():
    lrs = lr_schedule(1e-5, 10.0, 300)
    i = np.arange(300)
    np.testing.assert_allclose(lrs, 1e-5 * (10.0 / 1e-5) ** (i / 299), rtol=1e-12)
    np.testing.assert_allclose(lrs, np.geomspace(1e-5, 10.0, 300), rtol=1e-12)
    assert lrs[0] == 1e-5 and math.isclose(lrs[-1], 10.0, rel_tol=1e-12)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], (1e6) ** (1 / 299), rtol=1e-12)  # one ratio: geometric


def test_each_step_runs_at_its_lr():
    model, x, y = _problem()
    seen = []

    def factory(params, lr):
        opt = torch.optim.SGD(params, lr=lr)
        opt.register_step_pre_hook(lambda o, *_: seen.append(o.param_groups[0]["lr"]))
        return opt

    res = lr_range_test(model, _loader(x, y), nn.CrossEntropyLoss(), factory, 1e-4, 1e-1, 50)
    assert len(res.lrs) == 50 and not res.diverged
    np.testing.assert_allclose(seen, np.geomspace(1e-4, 1e-1, 50), rtol=1e-12)
    np.testing.assert_allclose(res.lrs, seen, rtol=0)


def test_weights_mode_and_given_optimizer_state_are_restored():
    model, x, y = _problem()
    model.eval()
    before = copy.deepcopy(model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):  # give Adam some state (moments, step counts)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    before = copy.deepcopy(model.state_dict())
    opt_before = copy.deepcopy(opt.state_dict())
    res = lr_range_test(model, (x, y), nn.CrossEntropyLoss(), opt, 1e-5, 10.0, 100)
    assert res.losses.size > 10
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not model.training
    after = opt.state_dict()
    assert after["param_groups"] == opt_before["param_groups"]
    for pid, state in opt_before["state"].items():
        for key, value in state.items():
            assert torch.equal(after["state"][pid][key], value), (pid, key)
    assert all(p.grad is None for p in model.parameters())


def test_a_class_or_a_course_optimizer_name_leaves_the_weights_as_they_were():
    for spec, kw in ((torch.optim.SGD, {"momentum": 0.9}), ("SGD+momentum", {}), ("Adam", {})):
        model, x, y = _problem(1)
        before = copy.deepcopy(model.state_dict())
        lr_range_test(model, _loader(x, y), nn.CrossEntropyLoss(), spec, 1e-4, 1.0, 40, **kw)
        for key, value in model.state_dict().items():
            assert torch.equal(value, before[key]), (spec, key)
        assert model.training


def _torch_lr_finder_rederived(model, loader, criterion, optimizer, start_lr, end_lr, num_iter, smooth_f,
                               diverge_th):
    """torch-lr-finder 0.2.2's range_test (exp mode, no validation loader), written again from its source:
    a scheduler multiplies the lr by (end/start)^(i/(num_iter-1)); history holds the smoothed loss; the
    test stops after recording a loss above diverge_th * best_loss."""
    for g in optimizer.param_groups:
        g["lr"] = start_lr
    ratio = end_lr / start_lr
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: ratio ** (i / (num_iter - 1)))
    it = iter(loader)
    history = {"lr": [], "loss": []}
    best = None
    for iteration in range(num_iter):
        try:
            xb, yb = next(it)
        except StopIteration:
            it = iter(loader)
            xb, yb = next(it)
        model.train()
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        loss = loss.item()
        history["lr"].append(sched.get_last_lr()[0])
        sched.step()
        if iteration == 0:
            best = loss
        else:
            if smooth_f > 0:
                loss = smooth_f * loss + (1 - smooth_f) * history["loss"][-1]
            best = min(best, loss)
        history["loss"].append(loss)
        if loss > diverge_th * best:
            break
    return history


@pytest.mark.parametrize("smooth", [0.0, 0.05, 0.3])
def test_behaviour_equals_torch_lr_finders_algorithm(smooth):
    model, x, y = _problem(2)
    ref_model = copy.deepcopy(model)
    ours = lr_range_test(model, _loader(x, y), nn.CrossEntropyLoss(), torch.optim.SGD, 1e-4, 100.0, 150,
                         smooth=smooth, diverge_factor=4.0, momentum=0.9)
    ref = _torch_lr_finder_rederived(ref_model, _loader(x, y), nn.CrossEntropyLoss(),
                                     torch.optim.SGD(ref_model.parameters(), lr=1e-4, momentum=0.9),
                                     1e-4, 100.0, 150, smooth, 4.0)
    assert ours.diverged and len(ours.lrs) < 150, "this setting must diverge before the end"
    np.testing.assert_allclose(ours.lrs, ref["lr"], rtol=1e-12)
    np.testing.assert_allclose(ours.smoothed, ref["loss"], rtol=1e-5)
    # torch-lr-finder's plot(suggest_lr=True): steepest slope per index of the loss, 10 / 5 points skipped
    lrs, losses = np.array(ref["lr"])[10:-5], np.array(ref["loss"])[10:-5]
    assert math.isclose(ours.suggestions["steepest"], lrs[np.gradient(losses).argmin()], rel_tol=1e-12)


def test_against_the_real_torch_lr_finder_when_installed():
    tlf = pytest.importorskip("torch_lr_finder", reason="torch-lr-finder is not installed (optional)")
    model, x, y = _problem(3)
    ref_model = copy.deepcopy(model)
    ours = lr_range_test(model, _loader(x, y), nn.CrossEntropyLoss(), torch.optim.SGD, 1e-4, 100.0, 120,
                         smooth=0.05, diverge_factor=5.0)
    finder = tlf.LRFinder(ref_model, torch.optim.SGD(ref_model.parameters(), lr=1e-4), nn.CrossEntropyLoss())
    finder.range_test(_loader(x, y), start_lr=1e-4, end_lr=100.0, num_iter=120, smooth_f=0.05, diverge_th=5)
    np.testing.assert_allclose(ours.lrs, finder.history["lr"], rtol=1e-12)
    np.testing.assert_allclose(ours.smoothed, finder.history["loss"], rtol=1e-5)


def test_stopping_online_equals_reading_a_full_run():
    model, x, y = _problem(4)
    stopped = lr_range_test(model, _loader(x, y), nn.CrossEntropyLoss(), torch.optim.SGD, 1e-4, 100.0, 150)
    full = lr_range_test(model, _loader(x, y), nn.CrossEntropyLoss(), torch.optim.SGD, 1e-4, 100.0, 150,
                         stop_on_divergence=False)
    again = full.reanalysed()
    assert stopped.diverged_at == again.diverged_at
    np.testing.assert_allclose(stopped.losses, again.losses, rtol=1e-6)
    s = stopped.smoothed
    assert s[-1] > 5 * s[:-1].min() and all(s[i] <= 5 * s[:i + 1].min() for i in range(len(s) - 1))


def test_smoothing_is_the_exponential_average_in_closed_form():
    rng = np.random.default_rng(0)
    x = rng.random(40)
    a = 0.2
    i = np.arange(40)
    expected = [(1 - a) ** k * x[0] + sum(a * (1 - a) ** (k - j) * x[j] for j in range(1, k + 1)) for k in i]
    np.testing.assert_allclose(smooth_losses(x, a), expected, rtol=1e-12)
    np.testing.assert_array_equal(smooth_losses(x, 0.0), x)


def test_divergence_index_rule():
    s = np.array([2.0, 1.0, 0.5, 2.4, 2.6, 9.0])
    assert divergence_index(s, 5.0) == 4  # 2.6 > 5 * 0.5
    assert divergence_index(s, 100.0) is None
    assert divergence_index([1.0, np.nan], 5.0) == 1


def test_suggestions_on_known_curves():
    lrs = np.geomspace(1e-6, 1.0, 301)
    u = np.log10(lrs)
    steepest_at = -3.0
    loss = 2.0 - np.tanh(u - steepest_at)  # falls fastest at log10 lr = -3
    got = suggest_lrs(lrs, loss)
    assert abs(np.log10(got["steepest"]) - steepest_at) <= 6 / 300 + 1e-9
    bowl = (u + 1.0) ** 2  # minimum at lr = 0.1
    got = suggest_lrs(lrs, bowl)
    assert math.isclose(got["minimum"], 0.1, rel_tol=0.05)
    assert math.isclose(got["minimum/10"], 0.01, rel_tol=0.05)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "end_lr"),
    ({"smooth": 1.0}, ValueError, "smooth"),
    ({"num_iter": 1}, ValueError, "num_iter"),
    ({"diverge_factor": 1.0}, ValueError, "diverge_factor"),
])
def test_bad_arguments_name_themselves(kwargs, error, words):
    model, x, y = _problem()
    args = {"start_lr": 1e-4, "end_lr": 1.0, "num_iter": 10} | kwargs
    with pytest.raises(error, match=words):
        lr_range_test(model, (x, y), nn.CrossEntropyLoss(), torch.optim.SGD, **args)


def test_bad_optimizer_and_data_name_themselves():
    model, x, y = _problem()
    with pytest.raises(ValueError, match="optimizer_cls"):
        lr_range_test(model, (x, y), nn.CrossEntropyLoss(), "Sgd", 1e-4, 1.0, 10)
    with pytest.raises(TypeError, match="loader_or_data"):
        lr_range_test(model, 3, nn.CrossEntropyLoss(), torch.optim.SGD, 1e-4, 1.0, 10)


@pytest.mark.parametrize("max_lr", [3e-4, 0.05, 2.0])
def test_onecycle_curve_is_torchs_onecyclelr(max_lr):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=120)
    ref = []
    for _ in range(120):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(onecycle_curve(max_lr, 120), ref, rtol=1e-12)


@pytest.mark.parametrize("module", ["lr_finder", "momentum", "imbalance", "decision_rules", "bootstrap"])
def test_the_playbooks_compute_modules_do_not_import_ipywidgets(module):
    import subprocess
    import sys
    from pathlib import Path

    code = (f"import sys, course_utils.{module}; "
            "print(sorted(m for m in ('ipywidgets', 'IPython') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    assert out.stdout.strip() == "[]", f"course_utils.{module} imports {out.stdout.strip()}"
