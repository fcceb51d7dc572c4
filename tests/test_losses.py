"""course_utils.losses against independent references: torch, the torchvision formula, closed forms,
Lin et al. 2017 (Fig. 1 and Sec. 3.2), scipy, torchmetrics and autograd."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import entropy
from torchmetrics.functional.classification import multiclass_calibration_error

from course_utils.explorers import EXPLORERS
from course_utils.losses import (
    PAPER_GAMMAS,
    FocalLoss,
    LabelSmoothingLoss,
    ce_over_focal,
    equivalent_eps,
    focal_curve,
    focal_logit_grad,
    focal_loss,
    focal_summary,
    label_smoothing_loss,
    sigmoid_focal_loss,
    smooth_targets,
    smoothed_loss_curve,
    smoothing_summary,
    soft_target_values,
)
from course_utils.metrics import calibration_bins, expected_calibration_error

SEEDS = range(8)
SHAPES = [(1, 2), (7, 3), (32, 10), (64, 18), (5, 1)]
REDUCTIONS = ["none", "mean", "sum"]


def random_batch(seed, n, c, scale=3.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(dtype)
    target = torch.randint(0, c, (n,), generator=g)
    return logits, target


def assert_close_fast(actual, expected, rtol, atol, msg=""):
    """Like torch.testing.assert_close (same dtype and shape, |a - e| <= atol + rtol |e|), but quicker."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, (msg, actual, expected)
    assert torch.allclose(actual, expected, rtol=rtol, atol=atol), (msg, actual, expected)


def two_class_logits(p, dtype=torch.float64):
    """Logits of one sample whose softmax probability of class 0 is exactly ``p``."""
    return torch.tensor([[math.log(p), math.log1p(-p)]], dtype=dtype)


# ---------------------------------------------------------------------------------------------
# focal_loss
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_focal_gamma0_is_exactly_cross_entropy(shape, reduction, dtype):
    for seed in SEEDS:
        x, y = random_batch(seed, *shape, dtype=dtype)
        ours = focal_loss(x, y, gamma=0.0, reduction=reduction)
        ref = F.cross_entropy(x, y, reduction=reduction)
        assert torch.equal(ours, ref), (seed, ours, ref)


def focal_reference(x, y, gamma, alpha=None):
    """-alpha[y] (1 - p_y)^gamma ln p_y from plain softmax probabilities, in float64."""
    p = torch.softmax(x.double(), dim=1)[torch.arange(len(y)), y]
    w = torch.ones_like(p) if alpha is None else torch.as_tensor(alpha, dtype=torch.float64)[y]
    return -w * (1 - p) ** gamma * torch.log(p)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gamma", [0.5, 1.0, 1.7, 2.0, 5.0])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_focal_matches_formula(shape, gamma, with_alpha):
    for seed in SEEDS:
        x, y = random_batch(seed, *shape)
        alpha = torch.rand(shape[1], generator=torch.Generator().manual_seed(100 + seed)).tolist() \
            if with_alpha else None
        ref = focal_reference(x, y, gamma, alpha)
        assert_close_fast(focal_loss(x, y, gamma, alpha, "none").double(), ref, 2e-5, 1e-6, seed)
        assert_close_fast(focal_loss(x, y, gamma, alpha, "sum").double(), ref.sum(), 2e-5, 1e-5, seed)
        assert_close_fast(focal_loss(x, y, gamma, alpha).double(), ref.mean(), 2e-5, 1e-6, seed)


def test_focal_alpha_mean_is_plain_mean_not_weighted_cross_entropy_mean():
    for seed in SEEDS:
        x, y = random_batch(seed, 16, 4, dtype=torch.float64)
        w = torch.tensor([0.25, 1.0, 2.0, 0.5], dtype=torch.float64)
        # per sample and summed: alpha acts exactly like cross_entropy's weight=
        for reduction in ("none", "sum"):
            torch.testing.assert_close(focal_loss(x, y, 0.0, w, reduction),
                                       F.cross_entropy(x, y, w, reduction=reduction))
        # the means differ: torch divides by sum(w[y]), focal_loss by N
        ce_sum = F.cross_entropy(x, y, w, reduction="sum")
        torch.testing.assert_close(focal_loss(x, y, 0.0, w, "mean"), ce_sum / len(y))
        torch.testing.assert_close(F.cross_entropy(x, y, w), ce_sum / w[y].sum())


@pytest.mark.parametrize("gamma", PAPER_GAMMAS)
@pytest.mark.parametrize("p", [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.968, 0.99])
def test_fig1_points(gamma, p):
    """Lin et al. 2017, Fig. 1: FL(p_t) = -(1 - p_t)^gamma ln p_t, natural log (gamma = 0 is CE)."""
    want = -((1 - p) ** gamma) * math.log(p)
    got = focal_loss(two_class_logits(p), torch.tensor([0]), gamma=gamma)
    assert got.item() == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert focal_curve(p, gamma) == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_fig1_ratios_from_the_paper():
    """Sec. 3.2: with gamma = 2, p_t = 0.9 gives 100x lower loss than CE, p_t ~ 0.968 about 1000x."""
    y = torch.tensor([0])
    ce = F.cross_entropy(two_class_logits(0.9), y).item()
    assert ce == pytest.approx(0.1053605156578263, rel=1e-12)  # -ln 0.9; base 10 would give 0.0457
    fl = focal_loss(two_class_logits(0.9), y, gamma=2.0).item()
    assert ce / fl == pytest.approx(100.0, rel=1e-9)
    assert ce_over_focal(0.9, 2.0) == pytest.approx(100.0, rel=1e-12)
    ratio_968 = F.cross_entropy(two_class_logits(0.968), y).item() / focal_loss(
        two_class_logits(0.968), y, gamma=2.0).item()
    assert 900 < ratio_968 < 1100
    assert ce_over_focal(0.9, 0.0) == 1.0


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.5, 1.0, 2.0])
def test_focal_stable_for_huge_logits(gamma):
    x = torch.tensor([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 5e3]], requires_grad=True)
    y = torch.tensor([0, 0, 2])
    loss = focal_loss(x, y, gamma=gamma, reduction="none")
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(x.grad).all()
    assert loss[0].item() == 0.0 and loss[2].item() == 0.0  # p_y rounds to 1
    assert loss[1].item() == pytest.approx(2e4)  # (1 - 0)^gamma * CE of a wrong answer
    assert torch.equal(x.grad[0], torch.zeros(3)) or gamma == 0


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.3])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_focal_gradcheck(gamma, with_alpha):
    x, y = random_batch(3, 6, 4, dtype=torch.float64)
    x.requires_grad_(True)
    alpha = torch.tensor([0.1, 0.4, 1.0, 2.0], dtype=torch.float64) if with_alpha else None
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(lambda z, r=reduction: focal_loss(z, y, gamma, alpha, r), (x,))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
def test_focal_logit_grad_equals_autograd(gamma):
    """|dFL/dz_t| from the closed form against autograd through focal_loss (2 classes, p_t = sigmoid(z))."""
    for z in np.linspace(-6, 6, 25):
        x = torch.tensor([[z, 0.0]], dtype=torch.float64, requires_grad=True)
        focal_loss(x, torch.tensor([0]), gamma=gamma).backward()
        p = 1 / (1 + math.exp(-z))
        assert x.grad[0, 0].item() == pytest.approx(-float(focal_logit_grad(p, gamma)), rel=1e-9, abs=1e-15)
    assert focal_logit_grad(0.3, 0.0) == pytest.approx(0.7)  # cross-entropy: 1 - p


def test_focal_module_and_alpha_buffer():
    x, y = random_batch(0, 10, 3)
    crit = FocalLoss(gamma=1.5, alpha=[0.2, 0.3, 0.5], reduction="sum")
    torch.testing.assert_close(crit(x, y), focal_loss(x, y, 1.5, [0.2, 0.3, 0.5], "sum"))
    assert "alpha" in crit.state_dict()
    crit64 = crit.to(torch.float64)
    assert crit64.alpha.dtype == torch.float64
    torch.testing.assert_close(crit64(x.double(), y), focal_reference(x, y, 1.5, [0.2, 0.3, 0.5]).sum())
    assert torch.equal(FocalLoss(gamma=0.0)(x, y), F.cross_entropy(x, y))


# ---------------------------------------------------------------------------------------------
# sigmoid_focal_loss: the torchvision formula, written out here
# ---------------------------------------------------------------------------------------------
def torchvision_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss (Lin et al. 2017, Eq. 5), re-derived from its documentation."""
    p = torch.sigmoid(inputs)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


@pytest.mark.parametrize("alpha", [0.25, 0.0, 1.0, -1.0])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_sigmoid_focal_matches_torchvision_formula(alpha, gamma):
    for shape in [(1,), (17,), (8, 5), (2, 3, 4)]:
        for seed in SEEDS:
            g = torch.Generator().manual_seed(seed)
            x = torch.randn(shape, generator=g, dtype=torch.float64) * 3
            t = torch.rand(shape, generator=g, dtype=torch.float64)
            for targets in (t, (t > 0.7).double()):  # soft labels and 0/1 labels
                ref = torchvision_sigmoid_focal_loss(x, targets, alpha, gamma, "none")
                ours32 = sigmoid_focal_loss(x.float(), targets.float(), alpha, gamma)
                assert_close_fast(ours32.double(), ref, 2e-5, 1e-6, (shape, seed))
                for reduction in REDUCTIONS:
                    ref = torchvision_sigmoid_focal_loss(x, targets, alpha, gamma, reduction)
                    ours64 = sigmoid_focal_loss(x, targets, alpha, gamma, reduction)
                    assert_close_fast(ours64, ref, 1e-10, 1e-12, (shape, seed, reduction))


def test_sigmoid_focal_alpha_weights_positives_by_alpha():
    """The paper's alpha multiplies the label-1 class: alpha = 0.25 weights positives *less*."""
    x = torch.tensor([0.3, 0.3])
    t = torch.tensor([1.0, 0.0])
    plain = sigmoid_focal_loss(x, t, alpha=-1)
    weighted = sigmoid_focal_loss(x, t, alpha=0.25)
    torch.testing.assert_close(weighted, plain * torch.tensor([0.25, 0.75]))
    assert sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0).shape == (2,)  # default reduction "none"


def test_sigmoid_focal_gradcheck_and_large_logits():
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(4, 3, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    t = (torch.rand(4, 3, generator=g, dtype=torch.float64) > 0.5).double()
    for gamma in (0.0, 0.5, 2.0):
        assert torch.autograd.gradcheck(lambda z, gm=gamma: sigmoid_focal_loss(z, t, 0.25, gm, "sum"), (x,))
    big = torch.tensor([200.0, -200.0, 200.0], requires_grad=True)
    loss = sigmoid_focal_loss(big, torch.tensor([1.0, 0.0, 0.0]), gamma=0.5, reduction="sum")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all()
    assert loss.item() == pytest.approx(0.75 * 200.0)  # only the wrong one counts: (1-0.25) * 1^0.5 * 200


# ---------------------------------------------------------------------------------------------
# label smoothing
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.1, 0.3, 0.9, 0.999])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_uniform_equals_torch_label_smoothing(shape, eps, reduction):
    for seed in SEEDS:
        x, y = random_batch(seed, *shape)
        ref = F.cross_entropy(x, y, label_smoothing=eps, reduction=reduction)
        assert_close_fast(label_smoothing_loss(x, y, eps, "uniform", reduction), ref, 2e-6, 2e-6, seed)
        x64 = x.double()
        assert_close_fast(label_smoothing_loss(x64, y, eps, reduction=reduction),
                          F.cross_entropy(x64, y, label_smoothing=eps, reduction=reduction), 1e-7, 1e-7, seed)


def test_smooth_targets_hand_values():
    y = torch.tensor([1])
    # the lecture's slide: [0.025, 0.9, 0.025, 0.025, 0.025] is the bootcamp's eps = 0.1 with 5 classes ...
    slide = torch.tensor([[0.025, 0.9, 0.025, 0.025, 0.025]])
    torch.testing.assert_close(smooth_targets(y, 5, 0.1, "others"), slide)
    # ... and torch's label_smoothing = 0.125
    torch.testing.assert_close(smooth_targets(y, 5, 0.125, "uniform"), slide)
    torch.testing.assert_close(smooth_targets(y, 4, 0.2), torch.tensor([[0.05, 0.85, 0.05, 0.05]]))
    assert torch.equal(smooth_targets(torch.tensor([0, 2]), 3, 0.0), torch.eye(3)[[0, 2]])
    assert soft_target_values(18, 0.1, "others") == pytest.approx((0.9, 0.1 / 17))


@pytest.mark.parametrize("convention", ["uniform", "others"])
@pytest.mark.parametrize("c", [2, 3, 10, 18])
def test_smooth_targets_rows_and_torch_soft_target_path(convention, c):
    for seed in SEEDS:
        x, y = random_batch(seed, 9, c, dtype=torch.float64)
        eps = [0.0, 0.1, 0.25, 0.45][seed % 4]
        q = smooth_targets(y, c, eps, convention).double()
        torch.testing.assert_close(q.sum(1), torch.ones(9, dtype=torch.float64))
        assert torch.all(q.argmax(1) == y) or eps == 0
        # torch's cross-entropy with probability targets is the reference for the loss itself
        torch.testing.assert_close(label_smoothing_loss(x, y, eps, convention, "none"),
                                   F.cross_entropy(x, q, reduction="none"))


@pytest.mark.parametrize("c", [2, 5, 18])
def test_others_convention_matches_hand_formula(c):
    for seed in SEEDS:
        x, y = random_batch(seed, 11, c, dtype=torch.float64)
        eps = 0.1 + 0.02 * seed
        logp = np.log(np.exp(x.numpy()) / np.exp(x.numpy()).sum(1, keepdims=True))
        on = logp[np.arange(11), y.numpy()]
        rest = logp.sum(1) - on
        want = -((1 - eps) * on + eps / (c - 1) * rest)
        got = label_smoothing_loss(x, y, eps, "others", "none").numpy()
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_bootcamp_eps_conversion():
    assert equivalent_eps(0.1, 18) == pytest.approx(0.1 * 18 / 17, rel=1e-15)
    assert equivalent_eps(0.1, 18) == pytest.approx(0.10588235294117647, rel=1e-12)
    assert equivalent_eps(0.1, 5) == pytest.approx(0.125)
    assert equivalent_eps(0.125, 5, "uniform", "others") == pytest.approx(0.1)
    assert equivalent_eps(0.3, 7, "uniform", "uniform") == 0.3
    for seed in SEEDS:
        x, y = random_batch(seed, 20, 18)
        # bootcamp eps = 0.1 with 18 classes gives the same loss as torch label_smoothing = 0.10588...
        torch.testing.assert_close(label_smoothing_loss(x, y, 0.1, "others"),
                                   F.cross_entropy(x, y, label_smoothing=equivalent_eps(0.1, 18)),
                                   rtol=2e-6, atol=2e-6)
        # ... and not the same as torch label_smoothing = 0.1 (visible once the model is confident)
        confident = x + 8 * F.one_hot(y, 18)
        assert not math.isclose(label_smoothing_loss(confident, y, 0.1, "others").item(),
                                F.cross_entropy(confident, y, label_smoothing=0.1).item(), rel_tol=1e-3)


@pytest.mark.parametrize("convention", ["uniform", "others"])
def test_label_smoothing_gradcheck_and_module(convention):
    x, y = random_batch(5, 6, 5, dtype=torch.float64)
    x.requires_grad_(True)
    for reduction in REDUCTIONS:
        assert torch.autograd.gradcheck(
            lambda z, r=reduction: label_smoothing_loss(z, y, 0.2, convention, r), (x,))
    crit = LabelSmoothingLoss(5, eps=0.2, convention=convention)
    torch.testing.assert_close(crit(x, y), label_smoothing_loss(x, y, 0.2, convention))


def test_smoothed_loss_curve_against_torch_and_its_minimum():
    c, eps = 6, 0.15
    p = np.linspace(0.02, 0.99, 40)
    probs = np.column_stack([(1 - p) / (c - 1)] * c)
    probs[:, 1] = p
    x = torch.tensor(np.log(probs))
    y = torch.ones(len(p), dtype=torch.long)
    torch.testing.assert_close(torch.from_numpy(smoothed_loss_curve(p, c, eps, "uniform")),
                               F.cross_entropy(x, y, label_smoothing=eps, reduction="none"))
    for conv in ("uniform", "others"):
        on, off = soft_target_values(c, eps, conv)
        grid = np.linspace(0.5, 0.999, 5000)
        curve = smoothed_loss_curve(grid, c, eps, conv)
        assert grid[curve.argmin()] == pytest.approx(on, abs=2e-4)  # best prediction = the target itself
        assert float(smoothed_loss_curve(on, c, eps, conv)) == pytest.approx(entropy([on] + [off] * (c - 1)))
    np.testing.assert_allclose(smoothed_loss_curve(p, c, 0.0), -np.log(p))


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
X5, Y5 = random_batch(0, 4, 5)

BAD = [
    (lambda: focal_loss(X5.long(), Y5), TypeError, "logits has dtype"),
    (lambda: focal_loss(X5.tolist(), Y5), TypeError, "logits="),
    (lambda: focal_loss(X5[0], Y5), ValueError, r"logits has shape \(5,\)"),
    (lambda: focal_loss(X5[:0], Y5[:0]), ValueError, "logits has shape"),
    (lambda: focal_loss(X5, Y5.int()), TypeError, "target has dtype torch.int32"),
    (lambda: focal_loss(X5, Y5.float()), TypeError, "target has dtype"),
    (lambda: focal_loss(X5, Y5[:-1]), ValueError, r"target has shape \(3,\)"),
    (lambda: focal_loss(X5, torch.tensor([0, 1, 5, 2])), ValueError, "class index 5"),
    (lambda: focal_loss(X5, torch.tensor([0, -1, 2, 2])), ValueError, "class index -1"),
    (lambda: focal_loss(X5, Y5, gamma=-1.0), ValueError, "gamma=-1.0"),
    (lambda: focal_loss(X5, Y5, gamma=float("nan")), ValueError, "gamma=nan"),
    (lambda: focal_loss(X5, Y5, gamma=float("inf")), ValueError, "gamma=inf"),
    (lambda: focal_loss(X5, Y5, gamma="2"), TypeError, "gamma='2'"),
    (lambda: focal_loss(X5, Y5, alpha=[1.0, 2.0]), ValueError, "alpha has shape"),
    (lambda: focal_loss(X5, Y5, alpha=[1.0, -2.0, 1, 1, 1]), ValueError, "negative"),
    (lambda: focal_loss(X5, Y5, alpha=0.25), TypeError, "alpha=0.25"),
    (lambda: focal_loss(X5, Y5, reduction="avg"), ValueError, "reduction='avg'"),
    (lambda: FocalLoss(gamma=-0.5), ValueError, "gamma=-0.5"),
    (lambda: FocalLoss(reduction="batchmean"), ValueError, "reduction='batchmean'"),
    (lambda: sigmoid_focal_loss(X5, Y5), TypeError, "targets has dtype"),
    (lambda: sigmoid_focal_loss(X5, torch.zeros(4)), ValueError, "targets has shape"),
    (lambda: sigmoid_focal_loss(X5, torch.full((4, 5), 2.0)), ValueError, r"labels in \[0, 1\]"),
    (lambda: sigmoid_focal_loss(X5, torch.zeros(4, 5), alpha=1.5), ValueError, "alpha=1.5"),
    (lambda: sigmoid_focal_loss(X5, torch.zeros(4, 5), gamma=-2.0), ValueError, "gamma=-2.0"),
    (lambda: sigmoid_focal_loss(X5, torch.zeros(4, 5), reduction="max"), ValueError, "reduction='max'"),
    (lambda: smooth_targets(Y5, 5, 1.0), ValueError, "eps=1.0"),
    (lambda: smooth_targets(Y5, 5, -0.1), ValueError, "eps=-0.1"),
    (lambda: smooth_targets(Y5, 0, 0.1), ValueError, "num_classes=0"),
    (lambda: smooth_targets(Y5, 3, 0.1), ValueError, "class index"),
    (lambda: smooth_targets(torch.zeros(3, dtype=torch.long), 1, 0.1, "others"), ValueError,
     "num_classes=1 with convention='others'"),
    (lambda: smooth_targets(Y5, 5, 0.1, "szegedy"), ValueError, "convention='szegedy'"),
    (lambda: label_smoothing_loss(X5, Y5, eps=1.0), ValueError, "eps=1.0"),
    (lambda: label_smoothing_loss(X5, Y5, convention="torch"), ValueError, "convention='torch'"),
    (lambda: label_smoothing_loss(X5[:, :1], torch.zeros(4, dtype=torch.long), convention="others"),
     ValueError, "num_classes=1"),
    (lambda: label_smoothing_loss(X5, Y5, reduction="mean_per_class"), ValueError, "reduction="),
    (lambda: LabelSmoothingLoss(5, eps=1.2), ValueError, "eps=1.2"),
    (lambda: LabelSmoothingLoss(1, convention="others"), ValueError, "num_classes=1"),
    (lambda: LabelSmoothingLoss(6)(X5, Y5), ValueError, r"allowed: \(N, 6\)"),
    (lambda: equivalent_eps(0.6, 2), ValueError, "eps < 0.5"),
    (lambda: equivalent_eps(0.1, 1), ValueError, "num_classes=1"),
    (lambda: equivalent_eps(0.1, 18, "bootcamp"), ValueError, "from_convention='bootcamp'"),
    (lambda: focal_curve([0.0, 0.5], 2.0), ValueError, "p_t has values"),
    (lambda: calibration_bins(np.ones((3, 2)), np.zeros(4)), ValueError, "probs has shape"),
]


@pytest.mark.parametrize("call, exc, match", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------------------------------------
# the comparison helpers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_ece_matches_torchmetrics(n_bins):
    for seed in SEEDS:
        g = torch.Generator().manual_seed(seed)
        probs = torch.softmax(torch.randn(300, 6, generator=g) * 2, dim=1)
        labels = torch.randint(0, 6, (300,), generator=g)
        ref = multiclass_calibration_error(probs, labels, num_classes=6, n_bins=n_bins, norm="l1").item()
        ours = expected_calibration_error(probs.numpy(), labels.numpy(), n_bins)
        assert ours == pytest.approx(ref, abs=1e-6)
        _, _, count = calibration_bins(probs.numpy(), labels.numpy(), n_bins)
        assert count.sum() == 300


def test_ece_hand_example():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins (10): 0.9 -> bin 9: conf 0.9, acc 0.5; 0.6 -> bin 6: conf 0.6 acc 1; 0.7 -> bin 7: conf 0.7 acc 1
    want = (2 * 0.4 + 1 * 0.4 + 1 * 0.3) / 4
    assert expected_calibration_error(probs, labels) == pytest.approx(want)


# ---------------------------------------------------------------------------------------------
# the explorers' compute functions and explorers (headless)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p, gamma, alpha", [(0.9, 2.0, -1.0), (0.9, 0.0, 0.25), (0.6, 3.3, 0.75),
                                             (0.3, 1.0, 0.0)])
def test_focal_summary_against_torch(p, gamma, alpha):
    y = torch.tensor([0])
    ce = F.cross_entropy(two_class_logits(p), y).item()
    fl = focal_loss(two_class_logits(p), y, gamma=gamma).item()
    s = focal_summary(p, gamma, alpha)
    assert s["ce"] == pytest.approx(ce, rel=1e-12) and s["fl"] == pytest.approx(fl, rel=1e-12)
    assert s["ratio"] == pytest.approx(ce / fl, rel=1e-9)
    # torchvision's alpha: alpha for label 1, 1 - alpha for label 0 (off: both 1), at the same p_t
    weights = (alpha, 1 - alpha) if alpha >= 0 else (1.0, 1.0)
    z = torch.tensor([math.log(p / (1 - p)), -math.log(p / (1 - p))], dtype=torch.float64)
    ref = torchvision_sigmoid_focal_loss(z, torch.tensor([1.0, 0.0], dtype=torch.float64), alpha, gamma)
    assert [s["pos"], s["neg"]] == pytest.approx(ref.tolist(), rel=1e-9, abs=1e-15)
    assert [s["pos"], s["neg"]] == pytest.approx([w * fl for w in weights], rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("c, eps", [(5, 0.1), (18, 0.1), (2, 0.3), (7, 0.0)])
def test_smoothing_summary_against_torch_and_entropy(c, eps):
    s = smoothing_summary(c, eps, 0.99)
    for conv in ("uniform", "others"):
        on, off = soft_target_values(c, eps, conv)
        q = torch.full((1, c), off, dtype=torch.float64)
        q[0, 1] = on
        probs = torch.full((1, c), 0.01 / (c - 1), dtype=torch.float64)
        probs[0, 1] = 0.99
        assert s[conv]["confident"] == pytest.approx(F.cross_entropy(probs.log(), q).item(), rel=1e-9)
        assert s[conv]["best"] == pytest.approx(entropy(q[0].numpy()), rel=1e-9, abs=1e-12)
        assert (s[conv]["on"], s[conv]["off"]) == (on, off)


def test_focal_widget_readout_and_messages():
    w = EXPLORERS["focal_loss"]()
    w.controls["gamma"].value = 2.0
    assert "100× smaller" in w.readout.value
    assert not w.message.get_visible()
    w.controls["gamma"].value = 0.0
    assert w.message.get_visible() and "γ = 0" in w.message.get_text()
    assert "FL = CE" in w.readout.value
    np.testing.assert_allclose(w.art["loss_pos"].get_ydata(), -np.log(w.p))  # the FL curve is CE
    w.controls["gamma"].value = 5.0
    w.controls["alpha"].value = 0.25
    assert w.art["loss_neg"].get_visible()
    np.testing.assert_allclose(w.art["loss_pos"].get_ydata(), 0.25 * (1 - w.p) ** 5 * -np.log(w.p))
    np.testing.assert_allclose(w.art["loss_neg"].get_ydata(), 0.75 * (1 - w.p) ** 5 * -np.log(w.p))
    legend = [t.get_text() for t in w.art["loss_pos"].axes.get_legend().get_texts()]
    assert legend[-1] == "FL, y = 0: (1−α)·FL"
    w.controls["alpha"].value = 0.0
    assert "class-1 examples get no loss" in w.message.get_text()
    w.controls["alpha"].value = -1.0  # "off"
    assert not w.art["loss_neg"].get_visible() and w.last_error is None
    assert len(w.art["loss_pos"].axes.get_legend().get_texts()) == 2  # the label-0 entry is gone


def test_label_smoothing_widget_readout_and_messages():
    w = EXPLORERS["label_smoothing"]()
    w.controls["num_classes"].value = 18
    w.controls["eps"].value = 0.1
    assert "label_smoothing=0.10588" in w.readout.value
    w.controls["eps"].value = 0.0
    assert w.message.get_visible() and "ε = 0" in w.message.get_text()
    w.controls["num_classes"].value = 2
    w.controls["eps"].value = w.controls["eps"].max
    assert "longer the largest target" in w.message.get_text()
    assert "no torch ε" in w.readout.value and w.last_error is None
    w.controls["num_classes"].value = 5
    w.controls["eps"].value = 0.1
    heights = w.bars_o.get_paths()[1].vertices[:, 1].max()
    assert heights == pytest.approx(0.9)
    assert len(w.bars_u.get_paths()) == 5 and not w.message.get_visible()
