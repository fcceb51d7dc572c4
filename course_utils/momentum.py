"""Momentum seen whole: the convergence rate of SGD with momentum over the (lr, β) plane.

The problem is the quadratic ``f(w) = ½ (w₁² / κ + w₂²)``: curvatures ``μ = 1/κ`` and ``L = 1``, so
the condition number is ``κ`` and the lr axis is the same for every κ (``lr · L = lr``). On each
eigen-direction with curvature ``λ``, ``torch.optim.SGD(lr=α, momentum=β)`` (``v ← βv + g``,
``w ← w − αv``) is the heavy-ball iteration ``w_{t+1} = w_t − αλ w_t + β (w_t − w_{t−1})``, i.e.

    (w_{t+1}, w_t) = [[1 + β − αλ, −β], [1, 0]] (w_t, w_{t−1}),

and the error shrinks like ``ρ^t``, ``ρ`` the largest spectral radius of that 2×2 matrix over
``λ ∈ {μ, L}`` (Goh, *Why Momentum Really Works*, Distill 2017; Polyak 1964). The optimum is
``α* = 4 / (√L + √μ)²``, ``β* = ((√κ − 1) / (√κ + 1))²`` with rate ``(√κ − 1) / (√κ + 1)``, against
``(κ − 1) / (κ + 1)`` for the best plain gradient descent: about √κ times fewer steps.

Three layers: compute (:func:`iteration_matrix`, :func:`closed_form_rate`, :func:`measured_rates` --
real ``torch.optim.SGD`` runs --, :func:`optimum`, :func:`gd_optimum`, :func:`speedup`,
:func:`sgd_error_norms`), drawing on a given ``Axes`` (:func:`plot_phase_diagram`,
:func:`update_phase_diagram`, :func:`plot_rate_slice`, :func:`update_rate_slice`), and the explorer in
``course_utils.explorers.playbook``.
"""

from __future__ import annotations

import numpy as np
import torch

from course_utils.checks import check_number
from course_utils.i18n import tr
from course_utils.plotting import COLORS

__all__ = ["BANDS", "LR_MAX", "closed_form_rate", "curvatures", "gd_optimum", "iteration_matrix",
           "measured_rates", "optimum", "phase_image", "plot_phase_diagram", "plot_rate_slice",
           "sgd_error_norms", "speedup", "steps_per_digit", "update_phase_diagram", "update_rate_slice"]

#: The lr axis of the phase diagram: (0, LR_MAX] (with L = 1 nothing converges beyond lr = 4).
LR_MAX = 4.0


def _kappa(kappa) -> float:
    check_number("kappa", kappa, low=1.0)
    return float(kappa)


def curvatures(kappa: float) -> np.ndarray:
    """The two curvatures ``(μ, L) = (1/κ, 1)`` of the course's quadratic."""
    return np.array([1.0 / _kappa(kappa), 1.0])


def iteration_matrix(lr: float, beta: float, curvature: float) -> np.ndarray:
    """The 2×2 heavy-ball matrix acting on ``(w_t, w_{t−1})`` along one eigen-direction."""
    return np.array([[1.0 + beta - lr * curvature, -beta], [1.0, 0.0]])


def _radius(lr, beta, curvature):
    """Spectral radius of :func:`iteration_matrix`, vectorised: the larger root of z² − a z + β."""
    a = 1.0 + beta - lr * curvature
    disc = a * a - 4.0 * beta
    root = np.sqrt(np.abs(disc))
    real = np.maximum(np.abs(a + root), np.abs(a - root)) / 2.0
    return np.where(disc < 0, np.sqrt(np.maximum(beta, 0.0)), real)


def closed_form_rate(lr, beta, kappa: float) -> np.ndarray:
    """Convergence rate ρ of SGD with momentum on the κ-quadratic (broadcast over ``lr`` and ``beta``).

    ``ρ < 1`` converges (the error shrinks like ρ^t), ``ρ ≥ 1`` does not.
    """
    lr = np.asarray(lr, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    if np.any(lr < 0):
        raise ValueError("lr has negative values; allowed: lr >= 0")
    if np.any((beta < 0) | (beta >= 1)):
        raise ValueError("beta has values outside [0, 1); allowed: 0 <= beta < 1")
    mu, big = curvatures(kappa)
    return np.maximum(_radius(lr, beta, mu), _radius(lr, beta, big))


def steps_per_digit(rate) -> np.ndarray:
    """Steps that shrink the error 10× at rate ρ: ``−1 / log10 ρ`` (inf for ρ ≥ 1, at least 1)."""
    rate = np.asarray(rate, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.where(rate >= 1, np.inf, -1.0 / np.log10(np.clip(rate, 1e-300, None)))
    return np.maximum(steps, 1.0)


def optimum(kappa: float) -> dict:
    """The best (lr, β) for momentum and its rate: ``α* = 4/(1 + 1/√κ)²``, ``β* = ((√κ−1)/(√κ+1))²``."""
    k = _kappa(kappa)
    r = (np.sqrt(k) - 1) / (np.sqrt(k) + 1)
    return {"lr": 4.0 / (1.0 + 1.0 / np.sqrt(k)) ** 2, "beta": r * r, "rate": r}


def gd_optimum(kappa: float) -> dict:
    """The best plain gradient descent (β = 0): ``α = 2 / (L + μ)``, rate ``(κ − 1) / (κ + 1)``."""
    k = _kappa(kappa)
    return {"lr": 2.0 / (1.0 + 1.0 / k), "beta": 0.0, "rate": (k - 1) / (k + 1)}


def speedup(kappa: float) -> float:
    """How many times fewer steps the best momentum needs than the best plain GD (→ √κ for large κ)."""
    gd, mom = gd_optimum(kappa)["rate"], optimum(kappa)["rate"]
    if gd == 0.0:
        return 1.0  # κ = 1: both reach the minimum in one step
    return float(np.log(mom) / np.log(gd))


def _sgd_norms(lrs, betas, kappa, steps, start=(1.0, 1.0)) -> np.ndarray:
    """Error norms ‖(w_t, w_{t-1})‖ of real torch SGD runs: shape (steps + 1, len(betas), len(lrs)).

    One parameter group per β (torch keeps one momentum per group); inside a group, one row of
    parameters per lr. Each row's gradient is scaled by its lr and the group runs at ``lr=1``: with
    ``v ← βv + αg``, ``w ← w − v``, that is exactly SGD(lr=α, momentum=β) on ``f`` (its ``v`` is α times
    torch's buffer). The gradient ``∇f(w) = (μ w₁, L w₂)`` is written in closed form (as in
    ``course_utils.optimizers``); the update is ``torch.optim.SGD.step()``. ``tests/test_momentum.py``
    checks it against one plain ``SGD(lr=α, momentum=β)`` with autograd per point.
    """
    lrs = torch.as_tensor(np.asarray(lrs, dtype=np.float64))
    scale = lrs[:, None] * torch.as_tensor(curvatures(kappa))  # α·h, one row per lr
    params = [torch.tensor(start, dtype=torch.float64).repeat(len(lrs), 1).requires_grad_() for _ in betas]
    opt = torch.optim.SGD([{"params": [p], "momentum": float(b)} for p, b in zip(params, betas)], lr=1.0)
    path = np.empty((steps + 1, len(betas), len(lrs), 2))
    with torch.no_grad():
        path[0] = torch.stack(params).numpy()
        for t in range(1, steps + 1):
            for p in params:
                p.grad = scale * p
            opt.step()
            path[t] = torch.stack(params).numpy()
    previous = np.concatenate([path[:1], path[:-1]])
    return np.sqrt((path ** 2).sum(-1) + (previous ** 2).sum(-1))


def _rate_from_norms(norms: np.ndarray) -> np.ndarray:
    """ρ read off error norms (axis 0 = time): the growth of the envelope (window maxima) between the
    second and the last quarter of the usable steps (norms inside 1e-200 … 1e200). NaN when fewer
    than 8 usable steps."""
    ok = np.isfinite(norms) & (norms > 1e-200) & (norms < 1e200)
    usable = np.where(ok.all(axis=0), len(norms), np.argmin(ok, axis=0))  # first unusable step
    out = np.full(norms.shape[1:], np.nan)
    for idx in np.ndindex(*norms.shape[1:]):
        t = int(usable[idx])
        if t < 8:
            continue
        col = norms[(slice(None), *idx)]
        q = t // 4
        first, last = col[q:2 * q].max(), col[t - q:t].max()
        out[idx] = (last / first) ** (1.0 / (t - 2 * q))
    return out


def measured_rates(lrs, betas, kappa: float, steps: int = 200) -> np.ndarray:
    """ρ measured from real ``torch.optim.SGD(lr, momentum=β)`` runs, shape (len(betas), len(lrs))."""
    check_number("steps", steps, low=8, integer=True)
    _kappa(kappa)
    lrs, betas = np.atleast_1d(lrs), np.atleast_1d(betas)
    if np.any(lrs <= 0) or np.any((betas < 0) | (betas >= 1)):
        raise ValueError("lrs must be > 0 and betas in [0, 1); allowed: positive lrs, 0 <= beta < 1")
    return _rate_from_norms(_sgd_norms(lrs, betas, kappa, steps))


def sgd_error_norms(lr: float, beta: float, kappa: float, steps: int = 100) -> np.ndarray:
    """‖w_t‖ of one ``torch.optim.SGD(lr, momentum=beta)`` run from (1, 1), t = 0 … steps."""
    check_number("lr", lr, low=0.0, low_open=True)
    check_number("beta", beta, low=0.0, high=1.0, high_open=True)
    check_number("steps", steps, low=1, integer=True)
    w = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    h = torch.as_tensor(curvatures(kappa))
    opt = torch.optim.SGD([w], lr=lr, momentum=beta)
    out = [float(w.detach().norm())]
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (h * w * w).sum()).backward()
        opt.step()
        out.append(float(w.detach().norm()))
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# drawing on a given Axes
# ---------------------------------------------------------------------------------------------
#: Colour bands: steps per 10× less error, a quarter decade each from 1 to 10^4 (a few flat colours: the
#: widget's indexed-colour frames keep them exact, and the eye reads bands better than a smooth ramp).
BANDS = 10.0 ** np.arange(0.0, 4.01, 0.25)


def phase_image(rates) -> np.ma.MaskedArray:
    """What the phase diagram shows: steps per 10× less error, masked where the run diverges (ρ ≥ 1)."""
    steps = steps_per_digit(rates)
    return np.ma.masked_invalid(np.where(np.isfinite(steps), steps, np.nan))


def _cmap_norm():
    import matplotlib
    from matplotlib.colors import BoundaryNorm

    cmap = matplotlib.colormaps["viridis_r"].resampled(len(BANDS) - 1).with_extremes(bad="0.82")
    return cmap, BoundaryNorm(BANDS, cmap.N)


def plot_phase_diagram(ax, image, lrs, betas, *, colorbar=True) -> dict:
    """The (lr, β) plane coloured by steps per 10× less error (log bands; ``image`` from
    :func:`phase_image`); diverging points grey."""
    cmap, norm = _cmap_norm()
    art = ax.imshow(image, origin="lower", aspect="auto", cmap=cmap, norm=norm,
                    extent=(lrs[0], lrs[-1], betas[0], betas[-1]), interpolation="nearest")
    if colorbar:
        bar = ax.figure.colorbar(art, ax=ax, pad=0.02, ticks=BANDS[::4], format="%g")  # even bands: log
        bar.set_label(tr("steps per 10× less error (log)"))
    (star,) = ax.plot([], [], "*", color="white", mec="k", ms=16, label=tr("optimal momentum"))
    (gd,) = ax.plot([], [], "o", color="white", mec="k", ms=9, label=tr("optimal plain GD (β = 0)"))
    beta_line = ax.axhline(0.0, color="k", ls="--", lw=1.2)
    ax.set(xlabel=tr("learning rate α (× 1/L)"), ylabel=tr("momentum β"), xlim=(0, lrs[-1]),
           ylim=(0, betas[-1]))
    ax.grid(False)
    return {"image": art, "star": star, "gd": gd, "beta_line": beta_line}


def update_phase_diagram(art: dict, image, kappa: float, beta: float) -> None:
    """New κ (its :func:`phase_image`) and the current β's line; the optima marked."""
    art["image"].set_data(image)
    best, gd = optimum(kappa), gd_optimum(kappa)
    art["star"].set_data([best["lr"]], [best["beta"]])
    art["gd"].set_data([gd["lr"]], [0.0])
    art["beta_line"].set_ydata([beta, beta])


def plot_rate_slice(ax, lrs) -> dict:
    """Rate against lr at one β: the closed form (line) and real torch SGD runs (dots)."""
    (closed,) = ax.plot(lrs, np.full(len(lrs), np.nan), color=COLORS["ce"],
                        label=tr("closed form ρ (2×2 matrix)"))
    (measured,) = ax.plot([], [], "o", color=COLORS["accent"], mec="k", ms=6,
                          label=tr("torch.optim.SGD runs"))
    best = ax.axhline(np.nan, color=COLORS["focal"], ls=":", label=tr("best momentum ρ*"))
    gd = ax.axhline(np.nan, color=COLORS["baseline"], ls="--", label=tr("best plain GD"))
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(xlabel=tr("learning rate α (× 1/L)"), ylabel=tr("rate ρ (error × ρ per step)"), xlim=(0, lrs[-1]),
           ylim=(0, 1.25))
    return {"closed": closed, "measured": measured, "best": best, "gd": gd}


def update_rate_slice(art: dict, lrs, closed, measured_lrs, measured, kappa: float) -> None:
    art["closed"].set_data(lrs, np.minimum(closed, 1.24))
    keep = np.isfinite(measured)
    art["measured"].set_data(np.asarray(measured_lrs)[keep], np.minimum(measured[keep], 1.24))
    art["best"].set_ydata([optimum(kappa)["rate"]] * 2)
    art["gd"].set_ydata([gd_optimum(kappa)["rate"]] * 2)
