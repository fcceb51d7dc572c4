"""course_utils.schedules against closed forms and hand-worked sequences.

References: the formulas in the torch docs / the papers (SGDR, CLR, 1cycle), derived here in the test,
and sequences worked by hand from the documented ReduceLROnPlateau rules.
"""

import math
import warnings
from bisect import bisect_right

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from course_utils.explorers import EXPLORERS, LRScheduleExplorer
from course_utils.explorers.base import sweep_controls
from course_utils.plateau import PLATEAU, plateau_curve, plateau_trace, synthetic_val_losses
from course_utils.schedules import SCHEDULER_NAMES, SCHEDULERS, lr_curve, scheduler_call

RTOL = 1e-9  # torch steps most schedules recursively: the closed form holds up to rounding


# --- lr_curve: exact points --------------------------------------------------------------------
def test_steplr_hand_worked():
    assert_allclose(lr_curve("StepLR", 10, lr=1.0, step_size=3, gamma=0.1),
                    [1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001], rtol=1e-12)


def test_cosine_hand_worked_values():
    # 1/2·(1 + cos(π e/5)) = 1, .9045, .6545, .3455, .0955, 0
    assert_allclose(lr_curve("CosineAnnealingLR", 6, lr=1.0, T_max=5),
                    [1, 0.9045085, 0.6545085, 0.3454915, 0.0954915, 0], atol=1e-7)


@pytest.mark.parametrize("t_max, eta_min, lr", [(5, 0.0, 1.0), (7, 0.01, 0.1), (1, 0.0, 0.5)])
def test_cosine_closed_form_and_climb_back_after_t_max(t_max, eta_min, lr):
    n = 3 * t_max + 2
    e = np.arange(n)
    expected = eta_min + (lr - eta_min) * (1 + np.cos(np.pi * e / t_max)) / 2
    got = lr_curve("CosineAnnealingLR", n, lr=lr, T_max=t_max, eta_min=eta_min)
    assert_allclose(got, expected, rtol=RTOL, atol=1e-12)
    if t_max > 1:
        assert got[t_max + 1] > got[t_max]  # it climbs back up after T_max


def test_multistep_and_exponential_closed_forms():
    ms = [3, 7, 7, 12]  # a repeated milestone multiplies by gamma twice (torch counts it twice)
    e = np.arange(15)
    expected = 0.5 * 0.3 ** np.array([bisect_right(ms, k) for k in e])
    assert_allclose(lr_curve("MultiStepLR", 15, lr=0.5, milestones=ms, gamma=0.3), expected, rtol=RTOL)
    assert_allclose(lr_curve("ExponentialLR", 30, lr=0.2, gamma=0.9), 0.2 * 0.9 ** np.arange(30), rtol=RTOL)


def test_warm_restarts_closed_form():
    t0, mult, eta_min, lr = 3, 2, 0.001, 0.1
    expected, t_cur, t_i = [], 0, t0
    for _ in range(25):  # cycles of 3, 6, 12, ... epochs
        expected.append(eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur == t_i:
            t_cur, t_i = 0, t_i * mult
    got = lr_curve("CosineAnnealingWarmRestarts", 25, lr=lr, T_0=t0, T_mult=mult, eta_min=eta_min)
    assert_allclose(got, expected, rtol=RTOL)
    assert got[3] == pytest.approx(lr) and got[9] == pytest.approx(lr)  # restarts at 3 and 3+6


def test_linear_constant_polynomial_closed_forms():
    e = np.arange(20)
    sf, ef, total = 0.25, 0.75, 8
    assert_allclose(lr_curve("LinearLR", 20, lr=0.4, start_factor=sf, end_factor=ef, total_iters=total),
                    0.4 * (sf + (ef - sf) * np.minimum(e, total) / total), rtol=RTOL)
    assert_allclose(lr_curve("ConstantLR", 20, lr=0.4, factor=0.5, total_iters=6),
                    np.where(e < 6, 0.2, 0.4), rtol=RTOL)
    assert_allclose(lr_curve("PolynomialLR", 20, lr=0.4, total_iters=10, power=2.0),
                    0.4 * (1 - np.minimum(e, 10) / 10) ** 2, rtol=RTOL, atol=1e-15)


def _one_cycle(total, max_lr, pct, div, final_div, anneal):
    """The 1cycle policy as documented for torch (two phases, end steps pct·T−1 and T−1)."""
    start, low = max_lr / div, max_lr / div / final_div
    f = ((lambda a, b, p: b + (a - b) / 2 * (math.cos(math.pi * p) + 1)) if anneal == "cos"
         else (lambda a, b, p: a + (b - a) * p))
    end1, end2 = pct * total - 1, total - 1
    return [f(start, max_lr, s / end1) if s <= end1 else f(max_lr, low, (s - end1) / (end2 - end1))
            for s in range(total)]


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_closed_form_and_ignores_lr(anneal):
    kw = {"max_lr": 1.0, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4,
          "anneal_strategy": anneal}
    got = lr_curve("OneCycleLR", 10, lr=0.1, **kw)
    assert_allclose(got, _one_cycle(10, 1.0, 0.3, 25.0, 1e4, anneal), rtol=1e-12)
    assert got[0] == pytest.approx(0.04) and got[2] == pytest.approx(1.0) and got[-1] == pytest.approx(4e-6)
    assert lr_curve("OneCycleLR", 10, lr=123.0, **kw) == got  # the optimizer's lr does not matter


def test_one_cycle_total_steps_defaults_to_steps_and_too_many_steps_is_clear():
    assert lr_curve("OneCycleLR", 40, max_lr=0.5) == lr_curve("OneCycleLR", 40, max_lr=0.5, total_steps=40)
    with pytest.raises(ValueError, match=r"total_steps=10 is smaller than steps=11"):
        lr_curve("OneCycleLR", 11, max_lr=1.0, total_steps=10)
    # what lr_curve guards against: the real scheduler raises one step past total_steps
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step"):
        sched.step()


def _clr(e, base, top, s, mode, gamma=1.0):
    """Smith (2017), cyclical learning rates, as a closed form of the epoch."""
    cycle = math.floor(1 + e / (2 * s))
    x = abs(e / s - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**e}[mode]
    return base + (top - base) * max(0.0, 1 - x) * scale


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_closed_form(mode):
    got = lr_curve("CyclicLR", 30, lr=0.5, base_lr=0.1, max_lr=1.0, step_size_up=4, mode=mode, gamma=0.97)
    assert_allclose(got, [_clr(e, 0.1, 1.0, 4, mode, 0.97) for e in range(30)], rtol=RTOL)
    if mode == "triangular":
        assert_allclose(got[:9], [0.1, 0.325, 0.55, 0.775, 1.0, 0.775, 0.55, 0.325, 0.1], rtol=1e-12)


def test_warmup_cosine_closed_form():
    warm, sf, n, eta_min, lr = 5, 0.1, 25, 0.001, 0.2
    t_max = n - warm
    expected = [lr * (sf + (1 - sf) * e / warm) if e < warm else
                eta_min + (lr - eta_min) * (1 + math.cos(math.pi * (e - warm) / t_max)) / 2 for e in range(n)]
    got = lr_curve("WarmupCosine", n, lr=lr, warmup_steps=warm, start_factor=sf, eta_min=eta_min)
    assert_allclose(got, expected, rtol=RTOL)
    assert got[warm] == pytest.approx(lr)


def test_recorded_lr_is_what_get_last_lr_reports_and_no_warning():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    expected = []
    for _ in range(7):
        expected.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the loop steps in torch's order: no step-order warning
        got = lr_curve("StepLR", 7, lr=1.0, step_size=2, gamma=0.5)
    assert got == expected == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_wrong_step_order_skips_the_first_value():
    # the pitfall the notebook shows: scheduler.step() first warns and shifts the schedule by one
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.1)
    wrong = []
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        for _ in range(6):
            sched.step()
            wrong.append(opt.param_groups[0]["lr"])
            opt.step()
    assert_allclose(wrong, lr_curve("StepLR", 7, lr=1.0, step_size=3, gamma=0.1)[1:], rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_cases_against_closed_forms(seed):
    rng = np.random.default_rng(seed)
    lr = float(rng.uniform(0.01, 1.0))
    step, gamma = int(rng.integers(1, 10)), float(rng.uniform(0.05, 0.95))
    n = int(rng.integers(5, 60))
    e = np.arange(n)
    assert_allclose(lr_curve("StepLR", n, lr=lr, step_size=step, gamma=gamma), lr * gamma ** (e // step),
                    rtol=RTOL)
    t_max, eta = int(rng.integers(1, 30)), float(rng.uniform(0, lr / 2))
    assert_allclose(lr_curve("CosineAnnealingLR", n, lr=lr, T_max=t_max, eta_min=eta),
                    eta + (lr - eta) * (1 + np.cos(np.pi * e / t_max)) / 2, rtol=1e-8, atol=1e-12)


def test_every_name_runs_and_the_result_is_a_fresh_list():
    needs = {"StepLR": {"step_size": 2}, "MultiStepLR": {"milestones": [2]}, "ExponentialLR": {"gamma": 0.9},
             "CosineAnnealingLR": {"T_max": 4}, "CosineAnnealingWarmRestarts": {"T_0": 2},
             "OneCycleLR": {"max_lr": 0.1}, "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1},
             "WarmupCosine": {"warmup_steps": 2}}
    for name in SCHEDULER_NAMES:
        out = lr_curve(name, 6, **needs.get(name, {}))
        assert len(out) == 6 and all(isinstance(v, float) for v in out)
        out.append(1.0)
        assert len(lr_curve(name, 6, **needs.get(name, {}))) == 6  # cache does not leak mutations


def test_scheduler_call_text():
    assert scheduler_call("StepLR", step_size=30, gamma=0.1) == "StepLR(optimizer, step_size=30, gamma=0.1)"
    assert "SequentialLR" in scheduler_call("WarmupCosine", warmup_steps=5, T_max=20)


# --- lr_curve: bad input -----------------------------------------------------------------------
def test_bad_names_and_steps():
    with pytest.raises(ValueError, match=r"name='Cosine' is not a known scheduler.*allowed: StepLR, Multi"):
        lr_curve("Cosine", 10, T_max=5)
    with pytest.raises(ValueError, match="did you mean 'StepLR'"):
        lr_curve("StepLr", 10, step_size=3)
    with pytest.raises(ValueError, match="plateau_curve"):
        lr_curve("ReduceLROnPlateau", 10)
    with pytest.raises(TypeError, match="name=3"):
        lr_curve(3, 10)
    with pytest.raises(ValueError, match=r"steps=0 is out of range"):
        lr_curve("StepLR", 0, step_size=3)
    with pytest.raises(TypeError, match=r"steps=2.5"):
        lr_curve("StepLR", 2.5, step_size=3)
    with pytest.raises(ValueError, match=r"lr=-0.1"):
        lr_curve("StepLR", 5, lr=-0.1, step_size=3)


@pytest.mark.parametrize("name, params, exc, pattern", [
    ("StepLR", {}, TypeError, r"StepLR needs parameter\(s\) step_size"),
    ("StepLR", {"step_size": 3, "gama": 0.1}, TypeError, r"parameter\(s\) gama; allowed: step_size, gamma"),
    ("StepLR", {"step_size": 0}, ValueError, r"StepLR: step_size=0 is out of range"),
    ("StepLR", {"step_size": 2.5}, TypeError, r"step_size=2.5"),
    ("StepLR", {"step_size": 3, "gamma": -1}, ValueError, r"gamma=-1"),
    ("MultiStepLR", {"milestones": []}, ValueError, r"milestones=\[\] is empty"),
    ("MultiStepLR", {"milestones": [3, 0]}, ValueError, r"milestones entry=0"),
    ("CosineAnnealingLR", {"T_max": 0}, ValueError, r"T_max=0"),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 0}, ValueError, r"T_mult=0"),
    ("LinearLR", {"start_factor": 0.0}, ValueError, r"start_factor=0.0"),
    ("LinearLR", {"total_iters": 0}, ValueError, r"total_iters=0"),
    ("ConstantLR", {"factor": 1.5}, ValueError, r"factor=1.5"),
    ("OneCycleLR", {"max_lr": 0.0}, ValueError, r"max_lr=0.0"),
    ("OneCycleLR", {"max_lr": 1.0, "pct_start": 1.0}, ValueError, r"pct_start=1.0"),
    ("OneCycleLR", {"max_lr": 1.0, "anneal_strategy": "cosine"}, ValueError, r"anneal_strategy='cosine'"),
    ("OneCycleLR", {"max_lr": 1.0, "three_phase": True, "pct_start": 0.6}, ValueError, r"pct_start=0.6"),
    ("CyclicLR", {"base_lr": 0.5, "max_lr": 0.1}, ValueError, r"max_lr=0.1 is below base_lr=0.5"),
    ("CyclicLR", {"base_lr": 0.1, "max_lr": 0.5, "mode": "sine"}, ValueError, r"mode='sine'"),
    ("WarmupCosine", {"warmup_steps": 0}, ValueError, r"warmup_steps=0"),
])
def test_bad_params_are_named(name, params, exc, pattern):
    with pytest.raises(exc, match=pattern):
        lr_curve(name, 20, **params)


# --- ReduceLROnPlateau, worked by hand -----------------------------------------------------------
def test_plateau_cut_needs_patience_plus_one_bad_epochs():
    # e0 sets best; e1, e2, e3 are bad (3 > patience=2) -> cut at the end of e3; again at e6
    assert plateau_curve([1.0] * 7, lr=1.0, patience=2, factor=0.5) == [1, 1, 1, 1, 0.5, 0.5, 0.5]
    assert_allclose(plateau_curve([1.0] * 8, lr=1.0, patience=2, factor=0.5), [1] * 4 + [0.5] * 3 + [0.25])


def test_plateau_patience_zero():
    assert_allclose(plateau_curve([3, 2, 2.5, 1, 1.5, 1.5], lr=1.0, patience=0, factor=0.1),
                    [1, 1, 1, 0.1, 0.1, 0.01], rtol=1e-12)


def test_plateau_threshold_relative_and_absolute():
    vals = [1.0, 0.99995, 0.99991, 0.9]
    # default rel threshold 1e-4: must beat best·(1 − 1e-4) = 0.9999, and 0.99995, 0.99991 do not
    kw = {"lr": 1.0, "patience": 1, "factor": 0.5}
    assert plateau_curve(vals, **kw) == [1, 1, 1, 0.5]
    assert plateau_curve(vals, **kw, threshold=0.0) == [1, 1, 1, 1]
    assert plateau_curve(vals, **kw, threshold_mode="abs", threshold=0.05) == [1, 1, 1, 0.5]
    assert plateau_curve(vals, **kw, threshold_mode="abs", threshold=1e-5) == [1, 1, 1, 1]


def test_plateau_cooldown_swallows_bad_epochs():
    # cut at e2; e3, e4 are cooldown (their bad epochs do not count); e5, e6 bad -> cut at e6
    assert_allclose(plateau_curve([1.0] * 9, lr=1.0, patience=1, factor=0.5, cooldown=2),
                    [1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25])
    assert_allclose(plateau_curve([1.0] * 9, lr=1.0, patience=1, factor=0.5),
                    [1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125])
    tr = plateau_trace([1.0] * 9, lr=1.0, patience=1, factor=0.5, cooldown=2)
    assert tr.event == ["improved", "bad", "cut", "cooldown", "cooldown", "bad", "cut", "cooldown",
                        "cooldown"]
    assert tr.cuts == [2, 6]
    assert list(tr.cooldown) == [False, False, False, True, True, False, False, True, True]


def test_plateau_min_lr_and_eps():
    tr = plateau_trace([1.0] * 5, lr=1.0, patience=0, factor=0.1, min_lr=0.05)
    assert_allclose(tr.lr, [1, 1, 0.1, 0.05, 0.05], rtol=1e-12)
    assert tr.event[3] == "blocked" and "min_lr=0.05 reached" in tr.why[3]
    # eps=1e-8: 1.25e-8 -> 6.25e-9 would change the lr by 6.25e-9 < eps, so it is not applied
    got = plateau_curve([1.0] * 7, lr=1e-7, patience=0, factor=0.5, eps=1e-8)
    assert_allclose(got, [1e-7, 1e-7, 5e-8, 2.5e-8, 1.25e-8, 1.25e-8, 1.25e-8], rtol=1e-12)
    assert plateau_curve([1.0] * 6, lr=1e-7, patience=0, factor=0.5, eps=0.0)[-1] == pytest.approx(6.25e-9)
    assert "eps" in plateau_trace([1.0] * 6, lr=1e-7, patience=0, factor=0.5).why[4]


def test_plateau_mode_max_for_a_metric_like_f1():
    f1 = [0.1, 0.2, 0.2, 0.2, 0.2]
    assert plateau_curve(f1, lr=1.0, mode="max", patience=1, factor=0.5) == [1, 1, 1, 1, 0.5]


def test_plateau_trace_explains_the_cut():
    tr = plateau_trace([1.0, 0.5, 0.6, 0.7, 0.8, 0.9], lr=0.1, patience=2, factor=0.1)
    assert tr.cuts == [4]
    assert list(tr.bad) == [0, 0, 1, 2, 3, 1]  # the run of bad epochs, 3 = patience + 1 at the cut
    assert_allclose(tr.best, [1.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert_allclose(tr.bar, np.asarray(tr.best) * (1 - 1e-4))
    assert "3 epochs in a row (patience=2)" in tr.why[4] and "0.1 → 0.01" in tr.why[4]


def _reference_plateau(vals, lr, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                       cooldown=0, min_lr=0.0, eps=1e-8):
    """ReduceLROnPlateau written from its documentation, for random comparisons."""
    best = math.inf if mode == "min" else -math.inf
    bad, cool, out = 0, 0, []
    for v in vals:
        out.append(lr)
        if mode == "min":
            better = v < (best * (1 - threshold) if threshold_mode == "rel" else best - threshold)
        else:
            better = v > (best * (1 + threshold) if threshold_mode == "rel" else best + threshold)
        if better:
            best, bad = v, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
            cool, bad = cooldown, 0
    return out


@pytest.mark.parametrize("seed", range(8))
def test_plateau_random_cases_against_documented_rules(seed):
    rng = np.random.default_rng(seed)
    vals = synthetic_val_losses(50, seed=seed, noise=float(rng.uniform(0.0, 0.05)))
    params = {"mode": str(rng.choice(["min", "max"])), "factor": float(rng.uniform(0.05, 0.9)),
              "patience": int(rng.integers(0, 6)), "threshold": float(rng.choice([0.0, 1e-4, 1e-2])),
              "threshold_mode": str(rng.choice(["rel", "abs"])), "cooldown": int(rng.integers(0, 4)),
              "min_lr": float(rng.choice([0.0, 1e-3])), "eps": 1e-8}
    if params["mode"] == "max":
        vals = 1 - vals  # a metric that rises, e.g. F1
    expected = _reference_plateau(vals, 0.1, **params)
    assert_allclose(plateau_curve(vals, lr=0.1, **params), expected, rtol=1e-12)


def test_plateau_bad_input():
    with pytest.raises(ValueError, match="val_losses has shape"):
        plateau_curve([])
    with pytest.raises(ValueError, match="val_losses has shape"):
        plateau_curve([[1.0, 2.0]])
    with pytest.raises(TypeError, match="val_losses"):
        plateau_curve("1,2,3")
    with pytest.raises(TypeError, match="val_losses has dtype"):
        plateau_curve(["a", "b"])
    with pytest.raises(ValueError, match=r"factor=1.0 is out of range"):
        plateau_curve([1.0, 2.0], factor=1.0)
    with pytest.raises(ValueError, match=r"patience=-1"):
        plateau_curve([1.0, 2.0], patience=-1)
    with pytest.raises(ValueError, match=r"mode='minimum'"):
        plateau_curve([1.0, 2.0], mode="minimum")
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) paitence"):
        plateau_curve([1.0, 2.0], paitence=3)
    assert plateau_curve(torch.tensor([1.0, 1.0, 1.0]), lr=1.0, patience=0) == pytest.approx([1, 1, 0.1])


# --- synthetic validation loss --------------------------------------------------------------------
def test_synthetic_val_losses_is_seeded_and_has_a_plateau():
    a, b = synthetic_val_losses(60, seed=3), synthetic_val_losses(60, seed=3)
    assert_allclose(a, b, rtol=0)
    assert not np.allclose(a, synthetic_val_losses(60, seed=4))
    assert a.shape == (60,)
    clean = synthetic_val_losses(60, seed=0, noise=0.0, rise=0.0)
    assert clean[0] == pytest.approx(1.6) and clean[-1] == pytest.approx(0.55 + 1.05 * math.exp(-59 / 6))
    assert np.ptp(a[40:]) < 0.1 < a[0] - a[20]  # fast fall, then a plateau
    with pytest.raises(ValueError, match="epochs=0"):
        synthetic_val_losses(0)
    with pytest.raises(ValueError, match="noise=-1"):
        synthetic_val_losses(noise=-1)


# --- the scheduler specs ---------------------------------------------------------------------------
def _slider_values(slider):
    """The extreme and default values of a spec's slider, as the explorer's control would give them."""
    if slider.kind == "log":
        return [10.0**slider.low, 10.0**slider.high, slider.value]
    if slider.kind == "range":
        lo, hi = slider.low, slider.high
        return [[lo, lo], [lo, hi], [hi, hi], list(slider.value)]
    if slider.kind == "choice":
        return [slider.value]
    return [slider.low, slider.high, slider.value]


@pytest.mark.parametrize("spec", [*SCHEDULERS.values(), PLATEAU], ids=lambda s: s.name)
def test_every_slider_stays_inside_what_its_argument_allows(spec):
    # the explorer skips the per-argument checks: its sliders must not reach a value they would refuse
    for name, param in spec.params.items():
        if param.slider is not None:
            for value in _slider_values(param.slider):
                param.check(name, value)
            if param.kind == "choice":
                assert param.slider.value in param.choices


def test_schedulers_sharing_a_control_share_its_slider():
    by_key = {}
    for spec in SCHEDULERS.values():
        for name, param in spec.params.items():
            if param.slider is not None:
                assert by_key.setdefault(param.slider.key or name, param.slider) == param.slider


# --- explorers ---------------------------------------------------------------------------------------
def sweep_every_scheduler(widget):
    """For each scheduler of the dropdown, :func:`sweep_controls` over its own (visible) controls.

    The generic sweep moves the dropdown but then only the first scheduler's sliders (the others'
    are hidden and disabled); this one selects each scheduler, holds the dropdown still while its
    sliders are swept, and returns the failures as ``(scheduler, control, value, traceback)``.
    """
    chooser = widget.controls["scheduler"]
    start, failures = chooser.value, []
    chooser.disabled = True  # (sweep_controls skips a disabled control)
    try:
        for name in chooser.options:
            chooser.value = name
            failures += [(name, *failure) for failure in sweep_controls(widget)]
    finally:
        chooser.disabled = False
        chooser.value = start
    return failures


def test_every_scheduler_draws_at_every_slider_extreme():
    w = EXPLORERS["lr_schedule"]()
    assert w.last_error is None
    assert sweep_every_scheduler(w) == []
    assert w.controls["scheduler"].options == SCHEDULER_NAMES


def test_schedule_explorer_sliders_follow_the_dropdown():
    w = LRScheduleExplorer()
    assert list(w.controls)[0] == "scheduler"
    w.controls["scheduler"].value = "CosineAnnealingWarmRestarts"
    visible = {k for k, c in w.controls.items() if c.layout.display != "none"}
    assert visible == {"scheduler", "epochs", "lr", "log_y", "hold", "T_0", "T_mult", "eta_min"}
    assert all(c.disabled for k, c in w.controls.items() if k not in visible)
    w.controls["gamma"].value = 0.5  # a hidden control: harmless
    assert w.last_error is None
    w.controls["scheduler"].value = "ExponentialLR"  # its own gamma slider (0.8 .. 1), not StepLR's
    assert w.controls["gamma_exp"].layout.display is None and w.controls["gamma"].layout.display == "none"


def test_schedule_explorer_line_is_the_closed_form():
    w = LRScheduleExplorer()
    for k, v in {"scheduler": "StepLR", "epochs": 50, "lr": 0.1, "step_size": 10, "gamma": 0.5}.items():
        w.controls[k].value = v
    y = w.line.get_ydata()[:-1]
    assert_allclose(y, w.controls["lr"].value * 0.5 ** (np.arange(50) // 10), rtol=1e-9)
    assert "StepLR(optimizer, step_size=10, gamma=0.5)" in w.readout.value
    assert "lr·γ<sup>⌊e / step_size⌋</sup>" in w.readout.value  # the spec's closed form


def test_schedule_explorer_warmup_cosine_spans_the_epochs():
    w = LRScheduleExplorer(scheduler="WarmupCosine", epochs=60, lr=0.2)
    w.controls["warmup_steps"].value = 10
    w.controls["start_factor"].value = 0.5
    w.controls["eta_min"].value = 0.0
    e = np.arange(60)
    expected = np.where(e < 10, 0.2 * (0.5 + 0.5 * e / 10), 0.1 * (1 + np.cos(np.pi * (e - 10) / 50)))
    assert_allclose(w.line.get_ydata()[:-1], expected, rtol=1e-9, atol=1e-12)
    assert "T_max=50" in w.readout.value


def test_schedule_explorer_hold_and_notes():
    w = LRScheduleExplorer(scheduler="CosineAnnealingLR")
    w.controls["T_max"].value = 40
    assert w.marker.get_visible() and list(w.marker.get_xdata()) == [40, 40]
    assert "climbs back" in w.note.get_text()
    hold = w.controls["hold"]
    hold.click()
    assert hold.description == "clear" and w.ref_line.get_visible()
    held = np.array(w.ref_line.get_ydata())
    assert_allclose(held[:-1], 0.05 * (1 + np.cos(np.pi * np.arange(100) / 40)), atol=1e-12)
    w.controls["scheduler"].value = "OneCycleLR"
    assert w.ref_line.get_visible()
    assert_allclose(w.ref_line.get_ydata(), held)
    assert "ignores the optimizer's lr" in w.note.get_text() and not w.marker.get_visible()
    assert "dashed grey: held CosineAnnealingLR" in w.readout.value
    hold.click()
    assert not w.ref_line.get_visible() and hold.description == "hold as reference"


def test_schedule_explorer_invalid_combination_is_a_message():
    w = LRScheduleExplorer(scheduler="CyclicLR")
    w.controls["base_lr"].value = 1.0
    w.controls["max_lr"].value = 0.001
    assert w.last_error is None
    assert w.message.get_visible() and "below base_lr" in w.message.get_text()
    assert not w.line.get_visible() and "cannot run" in w.readout.value
    w.controls["max_lr"].value = 1.0
    assert not w.message.get_visible() and w.line.get_visible()


def test_plateau_explorer():
    w = EXPLORERS["plateau"]()
    assert w.last_error is None
    w.controls["patience"].value = 3
    trace = plateau_trace(synthetic_val_losses(60, seed=0), 0.1, patience=3, factor=0.5)
    assert_allclose(w.art["cut_lr"].get_xdata(), np.array(trace.cuts) + 1)
    assert f"{len(trace.cuts)} cut(s), first cut after epoch {trace.cuts[0]}" in w.readout.value
    w.controls["factor"].value = 0.0
    assert w.art["message"].get_visible() and "reached 0" in w.art["message"].get_text()
    assert np.all(np.isfinite(w.ax_lr.get_ylim()))


def test_plateau_explorer_every_min_lr_notch_moves_the_plot_and_the_readout_says_when_nothing_changes():
    w = EXPLORERS["plateau"]()
    free = plateau_trace(synthetic_val_losses(60, seed=0), 0.1, patience=5, factor=0.5)
    lowest = float(np.min(free.lr_after))
    pngs = [w.png()]
    for label, value in w.controls["min_lr"].options[1:]:
        w.controls["min_lr"].value = value
        assert w.last_error is None
        png = w.png()
        assert png != pngs[-1], f"min_lr {label} left the plot as it was"
        pngs.append(png)
        assert w.art["min_lr"].get_visible() and list(w.art["min_lr"].get_ydata()) == [value, value]
        ref = plateau_trace(synthetic_val_losses(60, seed=0), 0.1, patience=5, factor=0.5, min_lr=value)
        assert_allclose(w.art["lr"].get_ydata()[:-1], ref.lr)
        says_nothing = "changes nothing here" in w.readout.value
        assert says_nothing == (value < lowest) == bool(np.array_equal(ref.lr_after, free.lr_after))
    w.controls["min_lr"].value = 0.0
    assert not w.art["min_lr"].get_visible() and "min_lr = 0: no floor" in w.readout.value


def test_plateau_explorer_makes_each_validation_curve_once(monkeypatch):
    import course_utils.plateau as S

    made = []
    real = S.synthetic_val_losses
    monkeypatch.setattr(S, "synthetic_val_losses", lambda *a, **k: made.append((a, k)) or real(*a, **k))
    S._synthetic_vals.cache_clear()
    S._synthetic_trace.cache_clear()
    w = EXPLORERS["plateau"]()
    for patience in range(8):
        w.controls["patience"].value = patience
    w.controls["seed"].value = 3
    w.controls["factor"].value = 0.3
    assert len(made) == 2  # seed 0 and seed 3, not once per setting


@pytest.mark.parametrize("lr", [1e-4, 1e-3, 1.0])
def test_lr_axis_label_stays_in_the_figure_and_says_log(lr):
    w = LRScheduleExplorer(lr=lr)
    renderer = w.fig.canvas.get_renderer()
    for name in SCHEDULER_NAMES:
        w.controls["scheduler"].value = name
        for log_y in (False, True):
            w.controls["log_y"].value = log_y
            # (the widget may have pasted a background drawn for an equal state: lay this one out)
            w.fig.canvas.draw()
            label = w.ax.yaxis.label
            assert label.get_text() == ("learning rate (log)" if log_y else "learning rate")
            box = label.get_window_extent(renderer)
            low, high = w.ax.get_ylim()
            ticks = [t.get_window_extent(renderer) for t, y in zip(w.ax.get_yticklabels(), w.ax.get_yticks())
                     if t.get_text() and low <= y <= high]
            assert box.x0 >= 0, f"{name}, lr={lr}, log_y={log_y}: the y label starts at x={box.x0:.1f} px"
            assert all(t.x0 > box.x1 for t in ticks), f"{name}, lr={lr}: tick labels cover the y label"
    plateau = EXPLORERS["plateau"]()
    assert plateau.ax_lr.get_yscale() == "log" and plateau.ax_lr.get_ylabel() == "learning rate (log)"


# --- lr_curve against the textbook loop (optimizer.step(), then scheduler.step(), every epoch) ----------
_TEXTBOOK_CASES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [4, 9], "gamma": 0.2}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2}),
    ("LinearLR", {"start_factor": 0.2, "total_iters": 5}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 4}),
    ("PolynomialLR", {"total_iters": 10, "power": 2.0}),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": 20}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.2, "step_size_up": 3}),
]


@pytest.mark.parametrize(("name", "params"), _TEXTBOOK_CASES, ids=[c[0] for c in _TEXTBOOK_CASES])
def test_lr_curve_is_the_loop_that_steps_both_every_epoch(name, params):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = getattr(torch.optim.lr_scheduler, name)(optimizer, **params)
    expected = []
    for _ in range(20):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lr_curve(name, 20, lr=0.1, **params) == expected


def test_warmup_cosine_is_the_sequential_loop_that_steps_both_every_epoch():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.25, end_factor=1.0, total_iters=4)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=16)
    scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, cos], milestones=[4])
    expected = []
    for _ in range(20):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lr_curve("WarmupCosine", 20, lr=0.1, warmup_steps=4, start_factor=0.25, T_max=16) == expected
