"""Optimizer trajectories on small 1-D and 2-D loss surfaces, stepped by the real ``torch.optim`` classes.

Each surface has its loss as a torch function (autograd works on it) and its gradient in closed form
(checked against autograd in the tests; it keeps a 200-step trajectory to a few milliseconds). The
update itself is always the torch optimizer's ``step()``. :data:`OPTIMIZERS` is the package's one
optimizer vocabulary (label -> torch class and its arguments); :func:`beta_params` says which argument
the "momentum β" of the explorer sets in each.

:func:`optimizer_trajectories` runs many learning rates at once with ONE torch optimizer: every
optimizer here moves a weight by ``lr`` times a direction computed from the gradients alone
(``w ← w − lr·u``; AdamW also ``w ← w·(1 − lr·wd)``), so ``step()`` at ``lr=1`` on a zero weight gives
``−u`` for every row, and each row is then moved with its own lr. The tests check it against one
torch run per lr.

Compute (:func:`surface_loss`, :func:`optimizer_trajectory`, :func:`optimizer_trajectories`,
:func:`zigzag`) and drawing on given ``Axes``
(``plot_x(ax, ...)`` -> artists, ``update_x(artists, ...)``); the explorer is in
:mod:`course_utils.explorers.optimizers`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from course_utils.checks import check_choice, check_number, check_type
from course_utils.i18n import N_, tr
from course_utils.plotting import COLORS, linestyle_for

__all__ = [
    "BETA_ARGUMENT", "DIVERGENCE_BOUND", "OPTIMIZERS", "SURFACES", "Surface", "Trajectory", "beta_params",
    "optimizer_call", "optimizer_trajectories", "optimizer_trajectory", "plot_loss_history", "plot_run",
    "plot_surface", "plot_trajectory", "surface_loss", "update_loss_xlim", "update_run", "update_surface",
    "zigzag",
]

#: A trajectory counts as diverged once a coordinate's size passes this (or turns inf/NaN).
DIVERGENCE_BOUND = 1e6


@dataclass(frozen=True)
class Surface:
    """A loss surface: torch loss ``f(w)`` on ``w`` of shape (..., dim), its gradient, a plot box."""

    name: str
    dim: int
    loss: Callable[[torch.Tensor], torch.Tensor]
    grad: Callable[[torch.Tensor], torch.Tensor]
    formula: str  # the plot's title (English; words marked with N_, shown through tr)
    start: tuple[float, ...]
    minima: tuple[tuple[float, ...], ...]
    xlim: tuple[float, float]
    ylim: tuple[float, float] = (0.0, 1.0)
    levels: tuple[float, float] = (1e-2, 1e2)  # contour levels, log-spaced between these


def _parabola(w):
    return (w**2).sum(-1)


def _double_well(w):
    return ((w**2 - 1) ** 2).sum(-1)


def _bowl(w):
    x, y = w[..., 0], w[..., 1]
    return 0.5 * x**2 + 5.0 * y**2


def _rosenbrock(w):
    x, y = w[..., 0], w[..., 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _himmelblau(w):
    x, y = w[..., 0], w[..., 1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


_BOWL_CURVATURE = torch.tensor([1.0, 10.0], dtype=torch.float64)


def _grad_rosenbrock(w):
    x, y = w[..., 0], w[..., 1]
    return torch.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], -1)


def _grad_himmelblau(w):
    x, y = w[..., 0], w[..., 1]
    a, b = x**2 + y - 11, x + y**2 - 7
    return torch.stack([4 * x * a + 2 * b, 2 * a + 4 * y * b], -1)


SURFACES: dict[str, Surface] = {
    "parabola": Surface("parabola", 1, _parabola, lambda w: 2 * w, "L(w) = w²", (2.0,), ((0.0,),),
                        (-3.0, 3.0)),
    "double_well": Surface("double_well", 1, _double_well, lambda w: 4 * w * (w**2 - 1), "L(w) = (w² − 1)²",
                           (2.0,), ((-1.0,), (1.0,)), (-2.2, 2.2)),
    "bowl": Surface("bowl", 2, _bowl, lambda w: w * _BOWL_CURVATURE.to(w.dtype),
                    N_("L(x, y) = x²/2 + 5·y²  (10× steeper in y)"), (-4.5, 1.5), ((0.0, 0.0),),
                    (-5.0, 5.0), (-2.5, 2.5), (0.05, 60.0)),
    "rosenbrock": Surface("rosenbrock", 2, _rosenbrock, _grad_rosenbrock,
                          "L(x, y) = (1 − x)² + 100·(y − x²)²", (-1.5, 2.0), ((1.0, 1.0),), (-2.0, 2.0),
                          (-1.0, 3.0), (0.05, 2000.0)),
    "himmelblau": Surface("himmelblau", 2, _himmelblau, _grad_himmelblau,
                          N_("L(x, y) = (x² + y − 11)² + (x + y² − 7)²  (four minima)"), (-0.5, -0.5),
                          ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
                          (-5.0, 5.0), (-5.0, 5.0), (0.3, 800.0)),
}

#: Optimizer labels -> (torch class, its arguments besides lr).
OPTIMIZERS: dict[str, tuple[type, dict]] = {
    "SGD": (torch.optim.SGD, {}),
    "SGD+momentum": (torch.optim.SGD, {"momentum": 0.9}),
    "Nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "Adagrad": (torch.optim.Adagrad, {}),
    "RMSprop": (torch.optim.RMSprop, {}),
    "Adam": (torch.optim.Adam, {}),
    "AdamW": (torch.optim.AdamW, {"weight_decay": 0.01}),
}


#: What "momentum β" means for each optimizer that has one: SGD's ``momentum`` or Adam's ``β1``
#: (``betas=(β, 0.999)``, the running mean of the gradients). The others have none.
BETA_ARGUMENT: dict[str, str] = {"SGD+momentum": "momentum", "Nesterov": "momentum", "Adam": "betas[0]",
                                 "AdamW": "betas[0]"}


def beta_params(optimizer: str, beta: float) -> dict:
    """The torch arguments that set ``optimizer``'s momentum β (``{}`` for one without).

    ``"SGD+momentum"``/``"Nesterov"``: ``{"momentum": beta}``; ``"Adam"``/``"AdamW"``:
    ``{"betas": (beta, 0.999)}`` (torch's β2).
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_number("beta", beta, low=0.0, high=1.0, high_open=True)
    arg = BETA_ARGUMENT.get(optimizer)
    if arg is None:
        return {}
    return {"momentum": float(beta)} if arg == "momentum" else {"betas": (float(beta), 0.999)}


def optimizer_call(optimizer: str, lr: float, **params) -> str:
    """The torch code of an optimizer of :data:`OPTIMIZERS` on ``[w]`` (its defaults, then ``params``)."""
    cls, defaults = OPTIMIZERS[check_choice("optimizer", optimizer, OPTIMIZERS)]
    args = "".join(f", {k}={_fmt(v)}" for k, v in (defaults | params).items())
    return f"torch.optim.{cls.__name__}([w], lr={lr:.3g}{args})"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return repr(value)


def _surface(surface) -> Surface:
    if isinstance(surface, Surface):
        return surface
    check_type("surface", surface, str, f"a Surface or one of {', '.join(map(repr, SURFACES))}")
    return SURFACES[check_choice("surface", surface, SURFACES)]


def surface_loss(surface, points) -> np.ndarray:
    """The loss of ``surface`` at ``points`` (array of shape (..., dim)), as float64 NumPy."""
    s = _surface(surface)
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 0 and s.dim == 1:
        arr = arr[None]
    if arr.shape[-1:] != (s.dim,):
        raise ValueError(f"points has shape {arr.shape}; allowed: (..., {s.dim}) for surface {s.name!r}")
    with torch.no_grad():
        return s.loss(torch.from_numpy(arr)).numpy()


@dataclass
class Trajectory:
    """The points an optimizer visited (``points[t]`` after ``t`` steps) and the loss at each."""

    points: np.ndarray
    losses: np.ndarray
    diverged_at: int | None
    optimizer: str
    lr: float

    @property
    def diverged(self) -> bool:
        """Whether the run blew up (a coordinate above DIVERGENCE_BOUND, or inf/NaN)."""
        return self.diverged_at is not None


def _make_optimizer(optimizer: str, w, lr: float, params: dict):
    cls, defaults = OPTIMIZERS[optimizer]
    kwargs = defaults | params
    try:
        # foreach=False: torch's one-tensor code path, the same arithmetic as the multi-tensor one that
        # is the CPU default, with a third less overhead per step() on one small weight
        return cls([w], lr=lr, **({"foreach": False} | kwargs))
    except (TypeError, ValueError) as exc:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ValueError(f"torch.optim.{cls.__name__}(lr={lr!r}, {args}) was rejected: {exc}") from None


def _check_optimizer_params(optimizer: str, params: dict) -> None:
    """Raise TypeError for arguments the optimizer's torch class does not take."""
    cls, defaults = OPTIMIZERS[optimizer]
    allowed = [p for p in inspect.signature(cls).parameters if p not in ("params", "lr")]
    unknown = [k for k in defaults | params if k not in allowed]
    if unknown:
        raise TypeError(f"optimizer {optimizer!r} ({cls.__name__}) got unknown argument(s) "
                        f"{', '.join(unknown)}; allowed: {', '.join(allowed)}")


def optimizer_trajectory(surface, optimizer: str = "SGD", lr: float = 0.1, steps: int = 50,
                         start=None, **params) -> Trajectory:
    """Run ``steps`` steps of the real torch optimizer on ``surface`` from ``start``.

    Each step: ``w.grad = ∇L(w)``, then ``optimizer.step()``. ``params`` go to the optimizer (they
    replace the defaults in :data:`OPTIMIZERS`, e.g. ``momentum=0.5``). The run stops early, with
    ``diverged_at`` set, when a coordinate passes :data:`DIVERGENCE_BOUND` or turns inf/NaN; the
    points kept are all finite.
    """
    check_number("lr", lr, low=0.0, low_open=True)
    s, start_arr = _check_run(surface, optimizer, steps, start, params)
    return _run(s, optimizer, float(lr), int(steps), start_arr, params)


def _check_run(surface, optimizer, steps, start, params) -> tuple[Surface, np.ndarray]:
    """The checks :func:`optimizer_trajectory` and :func:`optimizer_trajectories` share: (surface, start)."""
    s = _surface(surface)
    check_type("optimizer", optimizer, str, f"one of {', '.join(map(repr, OPTIMIZERS))}")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_number("steps", steps, low=1, high=100_000, integer=True)
    start = s.start if start is None else start
    start_arr = np.atleast_1d(np.asarray(start, dtype=float))
    if start_arr.shape != (s.dim,) or not np.all(np.isfinite(start_arr)):
        raise ValueError(f"start={start!r} is not allowed; allowed: {s.dim} finite number(s) "
                         f"for surface {s.name!r}")
    _check_optimizer_params(optimizer, params)
    return s, start_arr


def _run(s: Surface, optimizer: str, lr: float, steps: int, start: np.ndarray, params: dict) -> Trajectory:
    """:func:`optimizer_trajectory` for arguments already checked."""
    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = _make_optimizer(optimizer, w, lr, params)
    points = np.empty((steps + 1, s.dim))
    points[0] = start
    diverged_at = None
    n = steps
    with torch.no_grad():
        for t in range(1, steps + 1):
            w.grad = s.grad(w)
            opt.step()
            size = float(w.abs().max())
            if not size <= DIVERGENCE_BOUND:  # also catches NaN
                diverged_at = t
                if np.isfinite(size):
                    points[t] = w.numpy()
                    n = t
                else:
                    n = t - 1
                break
            points[t] = w.numpy()
        points = points[: n + 1]
        losses = s.loss(torch.from_numpy(points)).numpy()
    return Trajectory(points, losses, diverged_at, optimizer, lr)


def optimizer_trajectories(surface, optimizer: str = "SGD", lrs=(0.1,), steps: int = 50, start=None,
                           **params) -> list[Trajectory]:
    """:func:`optimizer_trajectory` for every lr of ``lrs``, computed together by one torch optimizer.

    The torch optimizer (``lr=1``, weight decay taken out) steps a zero weight with one row per lr:
    what it writes there is ``−u``, the step direction torch computed from that row's gradients;
    each row then moves by its own ``lr·(−u)`` (AdamW: after ``w ← w·(1 − lr·wd)``; an L2
    ``weight_decay`` is added to the gradient first, as torch does). Equal to one torch run per lr
    up to rounding (about one ulp per step).
    """
    lr_arr = np.atleast_1d(np.asarray(lrs, dtype=float))
    if lr_arr.ndim != 1 or lr_arr.size == 0 or not np.all(np.isfinite(lr_arr) & (lr_arr > 0)):
        raise ValueError(f"lrs={lrs!r} is not allowed; allowed: one or more finite learning rates > 0")
    s, start_arr = _check_run(surface, optimizer, steps, start, params)
    points, diverged_at = _run_many(s, optimizer, lr_arr, int(steps), start_arr, params)
    return [_row(s, points, diverged_at, k, optimizer, float(lr)) for k, lr in enumerate(lr_arr)]


def _run_many(s: Surface, optimizer: str, lrs: np.ndarray, steps: int, start: np.ndarray,
              params: dict) -> tuple[np.ndarray, np.ndarray]:
    """Points (steps + 1, K, dim), NaN after a row diverged, and each row's divergence step (0: never)."""
    points, diverged_at = _run_groups(s, optimizer, lrs, steps, start, [params])
    return points[:, 0], diverged_at[0]


def _run_groups(s: Surface, optimizer: str, lrs: np.ndarray, steps: int, start: np.ndarray,
                groups: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_run_many` for several argument sets at once, one torch param group each (the explorer's
    β notches): points (steps + 1, G, K, dim) and divergence steps (G, K). torch checks the first set;
    the others must be sets torch accepts (``add_param_group`` does not check them:
    :func:`_beta_family` keeps only those)."""
    g, k = len(groups), len(lrs)
    w = torch.tensor(np.tile(start, (g * k, 1)), dtype=torch.float64)
    directions = [torch.zeros((k, s.dim), dtype=torch.float64, requires_grad=True) for _ in groups]
    opt = _make_optimizer(optimizer, directions[0], 1.0, groups[0])
    for direction, params in zip(directions[1:], groups[1:], strict=True):
        opt.add_param_group({"params": [direction], **(OPTIMIZERS[optimizer][1] | params)})
    first = opt.param_groups[0]
    decay, decoupled = first.get("weight_decay", 0.0), first.get("decoupled_weight_decay", False)
    if any(group.get("weight_decay", 0.0) != decay for group in opt.param_groups):
        raise ValueError("groups must share one weight_decay")
    for group in opt.param_groups:
        group["weight_decay"] = 0.0  # applied here, to w (the optimizer only ever sees the zero weight)
    lr_col = torch.tensor(np.tile(lrs, g), dtype=torch.float64)[:, None]
    points = np.full((steps + 1, g * k, s.dim), np.nan)
    points[0] = start
    diverged_at = np.zeros(g * k, dtype=int)
    with torch.no_grad():
        for t in range(1, steps + 1):
            grad = s.grad(w)
            grad = grad + decay * w if decay and not decoupled else grad
            for i, direction in enumerate(directions):
                direction.grad = grad[i * k:(i + 1) * k]
                direction.zero_()
            opt.step()  # each direction = −u
            if decay and decoupled:
                w.mul_(1 - lr_col * decay)
            w.add_(lr_col * (directions[0] if g == 1 else torch.cat(directions)))
            size = w.abs().amax(dim=1).numpy()
            fresh = ~(size <= DIVERGENCE_BOUND) & (diverged_at == 0)  # (NaN fails <=)
            diverged_at[fresh] = t
            keep = (diverged_at == 0) | (fresh & np.isfinite(size))
            points[t, keep] = w.numpy()[keep]
            if diverged_at.all():
                break
    return points.reshape(steps + 1, g, k, s.dim), diverged_at.reshape(g, k)


def _row(s: Surface, points: np.ndarray, diverged_at: np.ndarray, k: int, optimizer: str, lr: float,
         steps: int | None = None) -> Trajectory:
    """Row ``k`` of :func:`_run_many`'s result as a Trajectory of ``steps`` steps (default: all)."""
    steps = len(points) - 1 if steps is None else steps
    at = int(diverged_at[k])
    if at and at <= steps:
        n = at if np.isfinite(points[at, k]).all() else at - 1
        at_or_none = at
    else:
        n, at_or_none = steps, None
    pts = points[: n + 1, k]
    with torch.no_grad():
        losses = s.loss(torch.from_numpy(pts)).numpy()
    return Trajectory(pts, losses, at_or_none, optimizer, lr)


#: The explorer's lr grid: 10^-4 … 10^1 in steps of 0.05 on the exponent (its log slider's notches).
LR_GRID_EXPONENTS = (-4.0, 1.0, 0.05)
#: Steps computed at once for the explorer's lr grid (the shortest that covers the steps asked for).
_HORIZONS = (60, 200)


def _grid() -> np.ndarray:
    low, high, step = LR_GRID_EXPONENTS
    return 10 ** np.round(np.arange(low, high + step / 2, step), 10)


#: The explorer's β notches: its momentum-β slider's values, 0 … 0.95 in steps of 0.05.
BETA_NOTCHES = tuple(round(0.05 * i, 2) for i in range(20))


def _cached_grid(surface: str, optimizer: str, params: tuple, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_run_many` over the lr grid, ``horizon`` steps from the surface's start (read-only).

    For an optimizer with a β, every β notch is run at once (:func:`_beta_family`, one param group
    each): moving the β slider then computes nothing. (A β within 1e-10 of a notch, as a slider's
    float steps give, reads that notch's run.)
    """
    if optimizer in BETA_ARGUMENT and params:
        beta = dict(params).get("momentum", dict(params).get("betas", (None,))[0])
        if beta is not None and tuple(beta_params(optimizer, beta).items()) == params:  # (β and nothing else)
            notch = tuple(beta_params(optimizer, round(beta, 10)).items())
            hit = _beta_family(surface, optimizer, horizon).get(notch)
            if hit is not None:
                return hit
    return _grid_run(surface, optimizer, params, horizon)


@functools.lru_cache(maxsize=64)
def _grid_run(surface: str, optimizer: str, params: tuple, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    s = SURFACES[surface]
    return _run_many(s, optimizer, _grid(), horizon, np.array(s.start, dtype=float), dict(params))


@functools.lru_cache(maxsize=16)
def _beta_family(surface: str, optimizer: str, horizon: int) -> dict:
    """β-arguments -> :func:`_grid_run`'s result, for every β notch torch accepts, from one run."""
    s = SURFACES[surface]
    groups = []
    for beta in BETA_NOTCHES:
        params = beta_params(optimizer, beta)
        try:
            _make_optimizer(optimizer, torch.zeros(1, requires_grad=True), 1.0, params)
        except ValueError:  # refused by torch (Nesterov with β = 0): the explorer says so
            continue
        groups.append(params)
    points, diverged_at = _run_groups(s, optimizer, _grid(), horizon, np.array(s.start, dtype=float), groups)
    return {tuple(params.items()): (points[:, i], diverged_at[i]) for i, params in enumerate(groups)}


@functools.lru_cache(maxsize=256)
def _cached_trajectory(surface: str, optimizer: str, lr: float, steps: int, params: tuple = ()) -> Trajectory:
    """The run from the surface's start for arguments already checked (the explorer's), cached: read-only.

    An lr on the explorer's grid (within 1e-9 of a notch) and ``steps <= 200`` is read off one batched
    run over the whole grid (:func:`_run_many`), so that moving the lr or the steps computes nothing;
    any other lr gets its own torch run.
    """
    s = SURFACES[surface]
    exponent = np.log10(lr)
    low, _, step = LR_GRID_EXPONENTS
    k = int(round((exponent - low) / step))
    grid = _grid()
    horizon = next((h for h in _HORIZONS if h >= steps), None)
    if horizon and 0 <= k < len(grid) and abs(np.log10(grid[k]) - exponent) < 1e-9:
        points, diverged_at = _cached_grid(surface, optimizer, params, horizon)
        return _row(s, points, diverged_at, k, optimizer, lr, steps)
    return _run(s, optimizer, lr, steps, np.array(s.start, dtype=float), dict(params))


def zigzag(trajectory: Trajectory, axis: int = -1) -> tuple[int, float]:
    """How much a run zig-zags along coordinate ``axis``: (steps that flip its sign, distance travelled).

    A run that goes straight to the minimum flips the sign at most once and travels about ``|start|``
    along that coordinate; each overshoot adds a flip and twice its size.
    """
    check_type("trajectory", trajectory, Trajectory, "a Trajectory")
    check_number("axis", axis, low=-trajectory.points.shape[1], high=trajectory.points.shape[1] - 1,
                 integer=True)
    c = trajectory.points[:, axis]
    flips = int(np.sum(np.sign(c[1:]) * np.sign(c[:-1]) < 0))
    return flips, float(np.abs(np.diff(c)).sum())


# ---------------------------------------------------------------------------------------------
# Drawing on a given Axes: plot_x(ax, ...) -> artists, update_x(artists, ...)
# ---------------------------------------------------------------------------------------------
_LOSS_FLOOR = 1e-12  # the log loss axis shows the loss clipped here (every minimum here is 0)


def plot_surface(ax, surface, *, n: int = 160, cmap: str = "viridis"):
    """Draw ``surface`` on ``ax`` (contours for 2-D, the curve for 1-D), its minima (stars) and the start
    of every run (a black square); return the artists."""
    s = _surface(surface)
    if s.dim == 1:
        x = np.linspace(*s.xlim, 400)
        (curve,) = ax.plot(x, surface_loss(s, x[:, None]), color=COLORS["baseline"])
        mins = np.array(s.minima)
        (stars,) = ax.plot(mins[:, 0], surface_loss(s, mins), "*", color="k", ms=14, zorder=3)
        (start,) = ax.plot([s.start[0]], surface_loss(s, [s.start]), "s", color="k", ms=8, zorder=5)
        ax.set_xlim(*s.xlim)
        ax.set_xlabel("w")
        ax.set_ylabel("L(w)")
        return [curve, stars, start]
    x = np.linspace(*s.xlim, n)
    y = np.linspace(*s.ylim, n)
    xx, yy = np.meshgrid(x, y)
    zz = surface_loss(s, np.stack([xx, yy], -1))
    levels = np.geomspace(*s.levels, 12)
    cs = ax.contour(xx, yy, zz, levels=levels, cmap=cmap, linewidths=1.2, alpha=0.8)
    mins = np.array(s.minima)
    (stars,) = ax.plot(mins[:, 0], mins[:, 1], "*", color="k", ms=16, zorder=3)
    (start,) = ax.plot(*s.start, "s", color="k", ms=8, zorder=5)
    ax.set_xlim(*s.xlim)
    ax.set_ylim(*s.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return [cs, stars, start]


def update_surface(drawn: dict, ax, surface: str) -> None:
    """Show ``surface`` (its contours, minima and formula) on ``ax`` and hide the others in ``drawn``.

    ``drawn``: surface name -> its artists, filled on first use (contours are drawn once per surface).
    """
    for name, artists in drawn.items():
        for artist in artists:
            artist.set_visible(name == surface)
    if surface not in drawn:
        drawn[surface] = plot_surface(ax, surface)
    s = SURFACES[surface]
    ax.set_xlim(*s.xlim)
    ax.set_ylim(*s.ylim)
    ax.set_title(tr(s.formula), loc="left", fontsize="medium", y=1.03, pad=0, va="bottom")


def _xy(trajectory: Trajectory) -> tuple[np.ndarray, np.ndarray]:
    """Plot coordinates of the visited points (1-D: the point and its loss)."""
    pts = trajectory.points
    return (pts[:, 0], trajectory.losses) if pts.shape[1] == 1 else (pts[:, 0], pts[:, 1])


def plot_trajectory(ax, trajectory: Trajectory, *, color=None, label=None, ls=None):
    """Draw the visited points joined by a line (1-D: on the loss curve); return the Line2D.
    ``ls``: the line style (default: the one that goes with ``color``, :func:`linestyle_for`)."""
    color = color or COLORS["focal"]
    ls = linestyle_for(color) if ls is None else ls
    (line,) = ax.plot(*_xy(trajectory), marker="o", ls=ls, color=color, ms=3.5, lw=1.5,
                      label=label or trajectory.optimizer, zorder=4)
    return line


def plot_loss_history(ax, trajectory: Trajectory, *, color=None, ls=None):
    """The loss after each step on a log axis (clipped at 1e-12); return the Line2D."""
    color = color or COLORS["focal"]
    (line,) = ax.plot(np.arange(len(trajectory.losses)), np.maximum(trajectory.losses, _LOSS_FLOOR),
                      color=color, ls=linestyle_for(color) if ls is None else ls, lw=2)
    ax.set_yscale("log")
    ax.set_xlabel(tr("step"))
    ax.set_ylabel(tr("loss (log)"))
    ax.set_ylim(_LOSS_FLOOR * 10, 1e4)
    return line


def update_loss_xlim(ax, steps: int) -> None:
    """A round end of the step axis, so that dragging ``steps`` rarely changes the axes (a full redraw)."""
    xmax = next((m for m in (10, 20, 30, 50, 60, 80, 100, 150, 200) if m >= steps), steps)
    if ax.get_xlim() != (0, xmax):
        ax.set_xlim(0, xmax)


def plot_run(ax, ax_loss, trajectory: Trajectory, *, color=None) -> tuple:
    """One run: its path and end point on ``ax``, its loss on ``ax_loss``; return the three artists.

    (The start, the same for every run, is drawn by :func:`plot_surface`.)
    """
    x, y = _xy(trajectory)
    path = plot_trajectory(ax, trajectory, color=color)
    end = ax.plot(x[-1:], y[-1:], "o", color=color, ms=9, mec="k", zorder=5)[0]
    return path, end, plot_loss_history(ax_loss, trajectory, color=color)


def update_run(artists: tuple, trajectory: Trajectory | None) -> None:
    """Point the artists made by :func:`plot_run` at ``trajectory``; ``None`` hides them."""
    for artist in artists:
        artist.set_visible(trajectory is not None)
    if trajectory is not None:
        path, end, loss = artists
        x, y = _xy(trajectory)
        path.set_data(x, y)
        end.set_data(x[-1:], y[-1:])
        loss.set_data(np.arange(len(trajectory.losses)), np.maximum(trajectory.losses, _LOSS_FLOOR))
