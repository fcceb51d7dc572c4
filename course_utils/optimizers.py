"""Optimizer trajectories on small 1-D and 2-D loss surfaces, stepped by the real ``torch.optim`` classes.

Each surface has its loss as a torch function (autograd works on it) and its gradient in closed form
(checked against autograd in the tests; it keeps a 200-step trajectory to a few milliseconds). The
update itself is always the torch optimizer's ``step()``.

Three layers: compute (:func:`surface_loss`, :func:`optimizer_trajectory`), drawing on a given
``Axes`` (:func:`plot_surface`, :func:`plot_trajectory`) and the widget :class:`OptimizerExplorer`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import torch

from course_utils.checks import check_choice, check_number, check_type
from course_utils.plotting import COLORS, show_message
from course_utils.explorers.base import PlotWidget, new_figure

__all__ = [
    "DIVERGENCE_BOUND", "OPTIMIZERS", "SURFACES", "OptimizerExplorer", "Surface", "Trajectory",
    "optimizer_trajectory", "plot_surface", "plot_trajectory", "surface_loss",
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
    formula: str
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
                    "L(x, y) = x²/2 + 5·y²  (10× steeper in y)", (-4.5, 1.5), ((0.0, 0.0),),
                    (-5.0, 5.0), (-2.5, 2.5), (0.05, 60.0)),
    "rosenbrock": Surface("rosenbrock", 2, _rosenbrock, _grad_rosenbrock,
                          "L(x, y) = (1 − x)² + 100·(y − x²)²", (-1.5, 2.0), ((1.0, 1.0),), (-2.0, 2.0),
                          (-1.0, 3.0), (0.05, 2000.0)),
    "himmelblau": Surface("himmelblau", 2, _himmelblau, _grad_himmelblau,
                          "L(x, y) = (x² + y − 11)² + (x + y² − 7)²  (four minima)", (-0.5, -0.5),
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
    allowed = [p for p in inspect.signature(cls).parameters if p not in ("params", "lr")]
    unknown = [k for k in kwargs if k not in allowed]
    if unknown:
        raise TypeError(f"optimizer {optimizer!r} ({cls.__name__}) got unknown argument(s) "
                        f"{', '.join(unknown)}; allowed: {', '.join(allowed)}")
    try:
        return cls([w], lr=lr, **kwargs)
    except (TypeError, ValueError) as exc:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ValueError(f"torch.optim.{cls.__name__}(lr={lr!r}, {args}) was rejected: {exc}") from None


def optimizer_trajectory(surface, optimizer: str = "SGD", lr: float = 0.1, steps: int = 50,
                         start=None, **params) -> Trajectory:
    """Run ``steps`` steps of the real torch optimizer on ``surface`` from ``start``.

    Each step: ``w.grad = ∇L(w)``, then ``optimizer.step()``. ``params`` go to the optimizer (they
    replace the defaults in :data:`OPTIMIZERS`, e.g. ``momentum=0.5``). The run stops early, with
    ``diverged_at`` set, when a coordinate passes :data:`DIVERGENCE_BOUND` or turns inf/NaN; the
    points kept are all finite.
    """
    s = _surface(surface)
    check_type("optimizer", optimizer, str, f"one of {', '.join(map(repr, OPTIMIZERS))}")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_number("lr", lr, low=0.0, low_open=True)
    check_number("steps", steps, low=1, high=100_000, integer=True)
    start = s.start if start is None else start
    start_arr = np.atleast_1d(np.asarray(start, dtype=float))
    if start_arr.shape != (s.dim,) or not np.all(np.isfinite(start_arr)):
        raise ValueError(f"start={start!r} is not allowed; allowed: {s.dim} finite number(s) "
                         f"for surface {s.name!r}")
    w = torch.tensor(start_arr, dtype=torch.float64, requires_grad=True)
    opt = _make_optimizer(optimizer, w, float(lr), params)
    points = np.empty((steps + 1, s.dim))
    points[0] = start_arr
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
    return Trajectory(points, losses, diverged_at, optimizer, float(lr))


# ---------------------------------------------------------------------------------------------
# Drawing on a given Axes
# ---------------------------------------------------------------------------------------------
def plot_surface(ax, surface, *, n: int = 160, cmap: str = "viridis"):
    """Draw ``surface`` on ``ax`` (contours for 2-D, the curve for 1-D) and its minima; return artists."""
    s = _surface(surface)
    if s.dim == 1:
        x = np.linspace(*s.xlim, 400)
        (curve,) = ax.plot(x, surface_loss(s, x[:, None]), color=COLORS["baseline"])
        mins = np.array(s.minima)
        (stars,) = ax.plot(mins[:, 0], surface_loss(s, mins), "*", color="k", ms=14, zorder=3)
        ax.set_xlim(*s.xlim)
        ax.set_xlabel("w")
        ax.set_ylabel("L(w)")
        return [curve, stars]
    x = np.linspace(*s.xlim, n)
    y = np.linspace(*s.ylim, n)
    xx, yy = np.meshgrid(x, y)
    zz = surface_loss(s, np.stack([xx, yy], -1))
    levels = np.geomspace(*s.levels, 12)
    cs = ax.contour(xx, yy, zz, levels=levels, cmap=cmap, linewidths=1.2, alpha=0.8)
    mins = np.array(s.minima)
    (stars,) = ax.plot(mins[:, 0], mins[:, 1], "*", color="k", ms=16, zorder=3)
    ax.set_xlim(*s.xlim)
    ax.set_ylim(*s.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return [cs, stars]


def plot_trajectory(ax, trajectory: Trajectory, *, color=None, label=None):
    """Draw the visited points joined by a line (1-D: on the loss curve); return the Line2D."""
    color = color or COLORS["focal"]
    pts = trajectory.points
    if pts.shape[1] == 1:
        x, y = pts[:, 0], trajectory.losses
    else:
        x, y = pts[:, 0], pts[:, 1]
    (line,) = ax.plot(x, y, "-o", color=color, ms=3.5, lw=1.5, label=label or trajectory.optimizer, zorder=4)
    return line


# ---------------------------------------------------------------------------------------------
# Widget
# ---------------------------------------------------------------------------------------------
_STYLE = {"description_width": "initial"}
_LOSS_FLOOR = 1e-12  # the log loss axis shows loss - 0 clipped here (every minimum here is 0)


class OptimizerExplorer(PlotWidget):
    """An optimizer and a (log) learning rate -> its path on a 2-D loss surface, and the loss per step."""

    def __init__(self, surface: str = "bowl", optimizer: str = "SGD", lr: float = 0.05, steps: int = 60,
                 compare: str = "none"):
        s = _surface(surface)
        if s.dim != 2:
            raise ValueError(f"surface={surface!r} is 1-D; allowed: one of "
                             f"{', '.join(repr(k) for k, v in SURFACES.items() if v.dim == 2)}")
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("compare", compare, ["none", *OPTIMIZERS])
        check_number("lr", lr, low=1e-4, high=10.0)
        check_number("steps", steps, low=1, high=200, integer=True)
        names2d = [k for k, v in SURFACES.items() if v.dim == 2]
        c = {
            "surface": W.Dropdown(options=names2d, value=s.name, description="surface", style=_STYLE,
                                  layout=W.Layout(width="210px")),
            "optimizer": W.Dropdown(options=list(OPTIMIZERS), value=optimizer, description="optimizer",
                                    style=_STYLE, layout=W.Layout(width="230px")),
            "compare": W.Dropdown(options=["none", *OPTIMIZERS], value=compare, description="compare with",
                                  style=_STYLE, layout=W.Layout(width="250px")),
            "lr": W.FloatLogSlider(value=lr, base=10, min=-4, max=1, step=0.05, description="lr",
                                   readout_format=".3g", style=_STYLE, layout=W.Layout(width="330px")),
            "steps": W.IntSlider(value=steps, min=1, max=200, description="steps", style=_STYLE,
                                 layout=W.Layout(width="300px")),
        }
        fig, (ax, ax_loss) = new_figure((10.0, 4.6), ncols=2, gridspec_kw={"width_ratios": [1.35, 1]})
        fig.subplots_adjust(left=0.07, right=0.98, top=0.86, bottom=0.13, wspace=0.25)
        self.ax, self.ax_loss = ax, ax_loss
        self._surface_artists: dict[str, list] = {}
        self._shown_surface = None
        colors = (COLORS["focal"], COLORS["ce"])
        empty = Trajectory(np.zeros((1, 2)), np.ones(1), None, "", 0.0)
        self.paths = [self.dynamic(plot_trajectory(ax, empty, color=col)) for col in colors]
        self.ends = [self.dynamic(ax.plot([], [], "o", color=col, ms=9, mec="k", zorder=5)[0])
                     for col in colors]
        (start,) = ax.plot([], [], "s", color="k", ms=8, zorder=5)
        self.start_marker = self.dynamic(start)
        self.loss_lines = [self.dynamic(ax_loss.plot([], [], color=col, lw=2)[0]) for col in colors]
        ax_loss.set_yscale("log")
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("loss (log)")
        ax_loss.set_ylim(_LOSS_FLOOR * 10, 1e4)
        # Texts are static (drawing one costs ~4 ms, a blit of lines < 1 ms): the names of the two
        # runs are in the readout; the plot labels say which colour is which control.
        self.title = ax.text(0.0, 1.03, "", transform=ax.transAxes, ha="left", va="bottom")
        for i, (col, text) in enumerate(zip(colors, ("── optimizer", "── compare with"), strict=True)):
            ax_loss.text(float(i), 1.03, text, transform=ax_loss.transAxes, ha=("left", "right")[i],
                         va="bottom", color=col, fontweight="bold")
        self.message = self.dynamic(show_message(ax, ""))
        super().__init__(fig, c)

    def _show_surface(self, name: str) -> None:
        for key, artists in self._surface_artists.items():
            for a in artists:
                a.set_visible(key == name)
        if name not in self._surface_artists:
            self._surface_artists[name] = plot_surface(self.ax, name)
        s = SURFACES[name]
        self.ax.set_xlim(*s.xlim)
        self.ax.set_ylim(*s.ylim)
        self.start_marker.set_data([s.start[0]], [s.start[1]])
        self._shown_surface = name
        self.invalidate()

    def update(self, surface, optimizer, compare, lr, steps):
        if surface != self._shown_surface:
            self._show_surface(surface)
        s = SURFACES[surface]
        runs = [_trajectory(surface, optimizer, lr, steps)]
        if compare != "none":
            runs.append(_trajectory(surface, compare, lr, steps))
        messages, rows = [], []
        for i in range(2):
            on = i < len(runs)
            for artist in (self.paths[i], self.ends[i], self.loss_lines[i]):
                artist.set_visible(on)
            if not on:
                continue
            tr = runs[i]
            self.paths[i].set_data(tr.points[:, 0], tr.points[:, 1])
            self.ends[i].set_data(tr.points[-1:, 0], tr.points[-1:, 1])
            self.loss_lines[i].set_data(np.arange(len(tr.losses)), np.maximum(tr.losses, _LOSS_FLOOR))
            if tr.diverged:
                messages.append(f"{tr.optimizer} diverged at step {tr.diverged_at}: |w| > 1e6\n"
                                f"lr={lr:.3g} is too large here")
                status = f"<b style='color:#d62728'>diverged at step {tr.diverged_at}</b>"
            else:
                x, y = tr.points[-1]
                outside = not (s.xlim[0] <= x <= s.xlim[1] and s.ylim[0] <= y <= s.ylim[1])
                status = f"final loss {tr.losses[-1]:.3g} at ({x:.3g}, {y:.3g})" + (
                    " — <b>left the plot</b>" if outside else "")
            cls, kw = OPTIMIZERS[tr.optimizer]
            args = "".join(f", {k}={v}" for k, v in kw.items())
            rows.append(f"<b style='color:{('#d62728', '#1f77b4')[i]}'>{tr.optimizer}</b>: "
                        f"<code>torch.optim.{cls.__name__}([w], lr={lr:.3g}{args})</code>: {status}")
        show_message(self.ax, "\n".join(messages), artist=self.message)
        self.title.set_text(s.formula)  # (a new surface has already invalidated the background)
        # a round end, so that dragging "steps" rarely changes the axes (a full redraw)
        xmax = next(m for m in (10, 20, 30, 50, 60, 80, 100, 150, 200) if m >= steps)
        if self.ax_loss.get_xlim() != (0, xmax):
            self.ax_loss.set_xlim(0, xmax)
        self.readout.value = "<br>".join(rows) + (
            "<br>each step: <code>w.grad = ∇L(w)</code>; <code>optimizer.step()</code>"
            " (plain SGD: w ← w − lr·∇L(w))")


@functools.lru_cache(maxsize=256)
def _trajectory(surface: str, optimizer: str, lr: float, steps: int) -> Trajectory:
    """optimizer_trajectory, cached for the widget (read-only results)."""
    return optimizer_trajectory(surface, optimizer, lr, steps)


def _benchmark_optimizer():
    return OptimizerExplorer(compare="Adam")


#: For the lead's benchmark: label -> factory of a ready widget.
BENCHMARK_WIDGETS = {"optimizer trajectory": _benchmark_optimizer}
