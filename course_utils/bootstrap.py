"""Is the gain real? Paired bootstrap intervals and the public/private leaderboard shake-up.

* :func:`paired_bootstrap`: resample the test images with replacement (the *same* images for both
  models -- that is what *paired* means), recompute macro-F1 and per-class recall of both models on
  each resample; percentile intervals for each model and for the difference B − A.
* :func:`simulate_leaderboard`: a competition's test set split at random into a public and a private
  part; how often does the model that wins on the public board lose on the private one?
* :func:`shakeup_probability`: the same question in closed form, with the two boards' gaps taken as
  independent normals around the true gap ``g`` with standard deviation ``sd / √n_board`` (``sd``:
  the per-image spread of the macro-F1 difference, read off the paired bootstrap:
  :func:`per_image_sd`). The widget uses it; the notebook checks it against the simulation.

Three layers: compute (above), drawing (:func:`plot_intervals`, :func:`plot_shakeup`,
:func:`update_shakeup`), and the explorer in ``course_utils.explorers.playbook``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from course_utils.checks import check_number
from course_utils.decision_rules import macro_f1_batch, recall_batch
from course_utils.i18n import tr
from course_utils.plotting import COLORS

__all__ = ["PairedBootstrap", "bootstrap_indices", "paired_bootstrap", "paired_verdict", "per_image_sd",
           "percentile_interval", "plot_intervals", "plot_shakeup", "shakeup_probability",
           "simulate_leaderboard", "update_shakeup"]


def bootstrap_indices(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``(n_boot, n)`` indices drawn with replacement: ``np.random.default_rng(seed).integers(0, n, …)``."""
    check_number("n", n, low=1, integer=True)
    check_number("n_boot", n_boot, low=1, integer=True)
    check_number("seed", seed, low=0, integer=True)
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def percentile_interval(samples, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval: the (1 − level)/2 and (1 + level)/2 quantiles of ``samples``."""
    check_number("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    lo, hi = np.quantile(np.asarray(samples, dtype=np.float64), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


@dataclass
class PairedBootstrap:
    """Bootstrap samples of two models' scores on the same resampled test sets.

    ``f1_a``, ``f1_b``: macro-F1 per resample; ``recall_a``, ``recall_b``: (n_boot, K) recall per class;
    ``point``: the scores on the full test set; ``n``: the test-set size.
    """

    f1_a: np.ndarray
    f1_b: np.ndarray
    recall_a: np.ndarray
    recall_b: np.ndarray
    point: dict
    n: int
    level: float = 0.95

    @property
    def diff(self) -> np.ndarray:
        """Macro-F1 of B minus A on each resample."""
        return self.f1_b - self.f1_a

    def interval(self, which: str = "diff") -> tuple[float, float]:
        """Percentile interval of ``"a"``, ``"b"`` or ``"diff"`` (macro-F1)."""
        samples = {"a": self.f1_a, "b": self.f1_b, "diff": self.diff}[which]
        return percentile_interval(samples, self.level)

    def recall_intervals(self, which: str = "a") -> np.ndarray:
        """(K, 2) percentile intervals of each class's recall for model ``"a"`` or ``"b"``."""
        rec = self.recall_a if which == "a" else self.recall_b
        q = [(1 - self.level) / 2, (1 + self.level) / 2]
        return np.quantile(rec, q, axis=0).T

    @property
    def share_b_better(self) -> float:
        """Share of resamples where B's macro-F1 is higher than A's."""
        return float(np.mean(self.diff > 0))

    def verdict(self) -> str:
        """Whether the interval of the difference contains 0 (then the gain is within the noise)."""
        lo, hi = self.interval()
        gap = self.point["f1_b"] - self.point["f1_a"]
        numbers = {"gap": gap, "level": self.level, "lo": lo, "hi": hi}
        if lo <= 0 <= hi:
            return tr("gap {gap:+.4f}, {level:.0%} interval [{lo:+.4f}, {hi:+.4f}]: contains 0 — not "
                      "distinguishable from noise on this test set", **numbers)
        return tr("gap {gap:+.4f}, {level:.0%} interval [{lo:+.4f}, {hi:+.4f}]: excludes 0 — B is better on "
                  "images like these", **numbers)


_SIMS_PER_CHUNK = 100  # resamples / simulated boards scored at once (bounded memory)


def _blocks(n: int):
    """Slices of ``range(n)``, ``_SIMS_PER_CHUNK`` long (the last one shorter)."""
    for start in range(0, n, _SIMS_PER_CHUNK):
        yield slice(start, min(start + _SIMS_PER_CHUNK, n))


def paired_bootstrap(y_true, pred_a, pred_b, *, n_classes: int | None = None, n_boot: int = 2000,
                     seed: int = 0, level: float = 0.95) -> PairedBootstrap:
    """Paired bootstrap of macro-F1 and per-class recall for predictions ``pred_a`` and ``pred_b``.

    Resample ``b`` uses the test images ``bootstrap_indices(n, n_boot, seed)[b]`` for *both* models.
    """
    y = np.asarray(y_true)
    a, b = np.asarray(pred_a), np.asarray(pred_b)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1:
        raise ValueError(f"y_true, pred_a, pred_b have shapes {y.shape}, {a.shape}, {b.shape}; allowed: "
                         "three 1-D arrays of equal length (the same test images)")
    k = int(max(y.max(), a.max(), b.max())) + 1 if n_classes is None else n_classes
    idx = bootstrap_indices(len(y), n_boot, seed)
    point = {"f1_a": float(macro_f1_batch(y, a, k)), "f1_b": float(macro_f1_batch(y, b, k)),
             "recall_a": recall_batch(y, a, k), "recall_b": recall_batch(y, b, k)}
    f1_a, f1_b = np.empty(len(idx)), np.empty(len(idx))
    recall_a, recall_b = np.empty((len(idx), k)), np.empty((len(idx), k))
    for part in _blocks(len(idx)):  # a few resamples at a time: bounded memory
        yt, pa, pb = y[idx[part]], a[idx[part]], b[idx[part]]
        f1_a[part], f1_b[part] = macro_f1_batch(yt, pa, k), macro_f1_batch(yt, pb, k)
        recall_a[part], recall_b[part] = recall_batch(yt, pa, k), recall_batch(yt, pb, k)
    return PairedBootstrap(f1_a, f1_b, recall_a, recall_b, point, len(y), level)


def per_image_sd(boot: PairedBootstrap) -> float:
    """The spread of the macro-F1 difference for one image: ``std(diff) × √n`` (the standard error
    on n images is then ``sd / √n``)."""
    return float(np.std(boot.diff, ddof=1) * math.sqrt(boot.n))


def paired_verdict(diffs, alpha: float = 0.05) -> dict:
    """Is a paired difference (one value per seed, say) beyond the noise? A paired t-test.

    ``mean``, ``sd`` (ddof=1), ``t = mean / (sd / √n)``, the two-sided p-value (Student's t, n − 1 degrees
    of freedom) and ``verdict``: ``"beyond the noise"`` when p < ``alpha``, else ``"within the noise"``.
    """
    from scipy.stats import t as student_t

    check_number("alpha", alpha, low=0.0, high=1.0, low_open=True, high_open=True)
    d = np.asarray(diffs, dtype=np.float64).ravel()
    if d.size < 2:
        raise ValueError(f"diffs has {d.size} value(s); allowed: at least 2 (one per seed)")
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        t, p = (0.0, 1.0) if np.all(d == 0) else (math.copysign(math.inf, d.mean()), 0.0)
    else:
        t = float(d.mean() / (sd / math.sqrt(d.size)))
        p = float(2 * student_t.sf(abs(t), d.size - 1))
    return {"diffs": d, "mean": float(d.mean()), "sd": sd, "t": t, "p": p,
            "verdict": "beyond the noise" if p < alpha else "within the noise"}


def _phi(x):
    return ndtr(np.asarray(x, dtype=np.float64))  # the standard normal CDF


def shakeup_probability(gap, sd: float, n_test, public_share: float = 0.3) -> np.ndarray:
    """P(the public-board winner is not the private-board winner), normal approximation.

    The public gap is N(g, sd²/n_pub), the private gap N(g, sd²/n_priv), independent (disjoint
    images); a shake-up is opposite signs: ``Φ(a)Φ(−b) + Φ(−a)Φ(b)`` with ``a = g/σ_pub``,
    ``b = g/σ_priv``. At g = 0 it is 1/2: a coin flip.
    """
    check_number("sd", sd, low=0.0, low_open=True)
    check_number("public_share", public_share, low=0.0, high=1.0, low_open=True, high_open=True)
    n = np.asarray(n_test, dtype=np.float64)
    if np.any(n < 2):
        raise ValueError("n_test has values below 2; allowed: test sets of at least 2 images")
    g = np.asarray(gap, dtype=np.float64)
    a = g / (sd / np.sqrt(public_share * n))
    b = g / (sd / np.sqrt((1 - public_share) * n))
    return _phi(a) * _phi(-b) + _phi(-a) * _phi(b)


def simulate_leaderboard(y_true, pred_a, pred_b, *, n_test: int | None = None, public_share: float = 0.3,
                         n_sims: int = 2000, seed: int = 0, n_classes: int | None = None) -> dict:
    """Leaderboards drawn from a pool of test images scored by two models.

    Each simulation draws ``n_test`` images (default: the pool's size) from the pool with
    replacement, puts a random ``public_share`` of them on the public
    board and the rest on the private one, and scores both models on each board (macro-F1). Returns
    the share of simulations where the public winner loses on the private board (``shakeup``; a tie on
    either board counts as half a shake-up: a coin flip names the winner), the share with a tie
    (``ties``), the boards' gaps, and the pool's own gap.
    """
    check_number("public_share", public_share, low=0.0, high=1.0, low_open=True, high_open=True)
    check_number("n_sims", n_sims, low=1, integer=True)
    y, a, b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1:
        raise ValueError("y_true, pred_a, pred_b must be three 1-D arrays of equal length")
    n = len(y) if n_test is None else n_test
    check_number("n_test", n, low=2, integer=True)
    k = int(max(y.max(), a.max(), b.max())) + 1 if n_classes is None else n_classes
    rng = np.random.default_rng(seed)
    # (int32: the same draw as int64 for a pool under 2**31 images, in half the memory)
    idx = rng.integers(0, len(y), size=(n_sims, n), dtype=np.int32 if len(y) < 2**31 else np.int64)
    n_pub = max(1, min(n - 1, round(public_share * n)))
    gap_pub, gap_priv = np.empty(n_sims), np.empty(n_sims)
    for part in _blocks(n_sims):  # boards of a few simulations at a time: bounded memory
        pub, priv = idx[part, :n_pub], idx[part, n_pub:]  # the draw is already in random order
        gap_pub[part] = macro_f1_batch(y[pub], b[pub], k) - macro_f1_batch(y[pub], a[pub], k)
        gap_priv[part] = macro_f1_batch(y[priv], b[priv], k) - macro_f1_batch(y[priv], a[priv], k)
    sign_pub, sign_priv = np.sign(gap_pub), np.sign(gap_priv)
    # a tie on a board names no winner: the winner is then a coin flip (half a shake-up), as in the formula,
    # where a tie has probability 0
    shake = np.where((sign_pub == 0) | (sign_priv == 0), 0.5, (sign_pub * sign_priv < 0).astype(float))
    ties = float(np.mean((sign_pub == 0) | (sign_priv == 0)))
    return {"shakeup": float(shake.mean()), "ties": ties, "gap_public": gap_pub, "gap_private": gap_priv,
            "pool_gap": float(macro_f1_batch(y, b, k) - macro_f1_batch(y, a, k)), "n_test": n,
            "n_public": n_pub}


# ---------------------------------------------------------------------------------------------
# drawing on a given Axes
# ---------------------------------------------------------------------------------------------
def plot_intervals(ax, labels, points, intervals, *, color=COLORS["ce"], zero_line=True) -> None:
    """Horizontal interval plot: one row per label, the point and its interval."""
    y = np.arange(len(labels))[::-1]
    pts = np.asarray(points, dtype=float)
    iv = np.asarray(intervals, dtype=float)
    ax.errorbar(pts, y, xerr=[pts - iv[:, 0], iv[:, 1] - pts], fmt="o", color=color, capsize=4, lw=2)
    if zero_line:
        ax.axvline(0.0, color="k", lw=1)
    ax.set_yticks(y, labels)


def plot_shakeup(ax_curve, ax_dist, gaps) -> dict:
    """Left: P(shake-up) against the true gap; right: the public and private gap distributions."""
    (curve,) = ax_curve.plot(gaps, np.full(len(gaps), np.nan), color=COLORS["ce"],
                             label=tr("normal approximation"))
    (point,) = ax_curve.plot([], [], "o", color=COLORS["accent"], mec="k", ms=10, label=tr("this setting"))
    (sims,) = ax_curve.plot([], [], "s", color=COLORS["focal"], ms=7,
                            label=tr("simulated (real predictions)"))
    ax_curve.axhline(0.5, color=COLORS["baseline"], ls=":", lw=1)
    ax_curve.set(xlabel=tr("true macro-F1 gap between the models"),
                 ylabel=tr("P(public winner loses on private)"), xlim=(gaps[0], gaps[-1]), ylim=(0, 0.55),
                 title=tr("leaderboard shake-up"))
    ax_curve.legend(loc="upper right", fontsize="small")
    x = np.linspace(-0.15, 0.15, 301)
    (pub,) = ax_dist.plot(x, np.zeros_like(x), color=COLORS["accent"], label=tr("public board gap"))
    (priv,) = ax_dist.plot(x, np.zeros_like(x), color=COLORS["ce"], label=tr("private board gap"))
    true = ax_dist.axvline(0.0, color="k", ls="--", lw=1.2, label=tr("true gap"))
    ax_dist.axvline(0.0, color="k", lw=0.6)
    ax_dist.set(xlabel=tr("measured gap (B − A)"), ylabel=tr("density"), xlim=(x[0], x[-1]),
                title=tr("what the two boards measure"))
    ax_dist.legend(loc="upper left", fontsize="small")
    return {"curve": curve, "point": point, "sims": sims, "pub": pub, "priv": priv, "true": true, "x": x}


def _normal_pdf(x, mean, sd):
    return np.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def update_shakeup(art: dict, gaps, gap: float, sd: float, n_test: int, public_share: float) -> float:
    """Redraw for one setting; return P(shake-up) there."""
    curve = shakeup_probability(gaps, sd, n_test, public_share)
    art["curve"].set_ydata(curve)
    p = float(shakeup_probability(gap, sd, n_test, public_share))
    art["point"].set_data([gap], [p])
    x = art["x"]
    s_pub, s_priv = sd / math.sqrt(public_share * n_test), sd / math.sqrt((1 - public_share) * n_test)
    art["pub"].set_ydata(_normal_pdf(x, gap, s_pub))
    art["priv"].set_ydata(_normal_pdf(x, gap, s_priv))
    art["true"].set_xdata([gap, gap])
    return p
