"""The course's one dataset: scikit-learn's 8x8 digits made long-tailed (digit 0 most frequent, 9 rarest).

:func:`load_imbalanced_digits` serves both notebooks that train on it:

* ``test_split="stratified"`` (notebook 05, the default): the long tail is cut from all 1,797 images
  (digit 0 keeps ``n_max`` = 170, the ratio 10 : 1), then split stratified, so every class keeps its
  share in both parts;
* ``test_split="balanced"`` (notebook 02): the images are split stratified first; only the training
  part is made long-tailed (digit 0 keeps all it has there, the ratio 20 : 1), so every class is
  measured on as many held-out images as the others.

scikit-learn is imported only when the data is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from course_utils.checks import check_choice, check_number
from course_utils.i18n import tr

__all__ = ["DigitsSplit", "TEST_SPLITS", "load_imbalanced_digits", "long_tail_counts"]

#: How the held-out part is chosen: with the training part's class shares, or balanced.
TEST_SPLITS = ("stratified", "balanced")
N_CLASSES = 10


def long_tail_counts(n_classes: int = 10, n_max: int = 170, imbalance_ratio: float = 10.0) -> np.ndarray:
    """Samples per class falling geometrically from ``n_max`` (class 0) to ``n_max / imbalance_ratio``."""
    check_number("n_classes", n_classes, low=2, integer=True)
    check_number("n_max", n_max, low=1, integer=True)
    check_number("imbalance_ratio", imbalance_ratio, low=1.0)
    if math.isinf(imbalance_ratio):
        raise ValueError(f"imbalance_ratio={imbalance_ratio!r} is infinite; allowed: a finite number >= 1")
    counts = np.round(n_max * imbalance_ratio ** (-np.arange(n_classes) / (n_classes - 1))).astype(int)
    return np.maximum(counts, 1)


@dataclass(frozen=True, eq=False)
class DigitsSplit:
    """An imbalanced subset of scikit-learn's 8x8 digits, split into train and validation.

    ``X_*`` are float32 features, shape (n, 64): pixel values scaled to [0, 1] (the raw data is
    0..16), or standardised with the training part's ``mean`` and ``std`` (``standardize=True``);
    ``y_*`` int64 labels; ``*_index`` the rows of ``load_digits()`` they come from.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    imbalance_ratio: float
    test_split: str
    seed: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes (10 digits)."""
        return N_CLASSES

    @property
    def train_counts(self) -> np.ndarray:
        """Training samples per class."""
        return np.bincount(self.y_train, minlength=self.n_classes)

    @property
    def val_counts(self) -> np.ndarray:
        """Validation samples per class."""
        return np.bincount(self.y_val, minlength=self.n_classes)

    def describe(self) -> str:
        """One line: sizes and the class distribution."""
        return tr("{train} train / {val} validation images, {classes} classes; train samples per class "
                  "{counts} (imbalance {ratio:.1f}:1)", train=len(self.y_train), val=len(self.y_val),
                  classes=self.n_classes, counts=self.train_counts.tolist(),
                  ratio=self.train_counts.max() / self.train_counts.min())


def _long_tail(index, labels, n_max, imbalance_ratio, rng) -> np.ndarray:
    """Rows of ``index`` kept so that class c has ``long_tail_counts(...)[c]`` of them, drawn with ``rng``."""
    counts = long_tail_counts(N_CLASSES, n_max, imbalance_ratio)
    return np.concatenate([np.sort(rng.choice(index[labels == c], n, replace=False))
                           for c, n in enumerate(counts)])


def load_imbalanced_digits(imbalance_ratio: float = 10.0, *, test_split: str = "stratified",
                           val_size: float = 0.3, n_max: int | None = 170, standardize: bool = False,
                           seed: int = 0) -> DigitsSplit:
    """``load_digits`` made long-tailed (digit 0 most frequent, 9 rarest) and split, seeded.

    ``imbalance_ratio``: training images of digit 0 over those of digit 9 (class c keeps
    ``long_tail_counts(10, n_max, imbalance_ratio)[c]`` images, drawn at random).
    ``test_split="stratified"``: cut the tail from all images, then
    ``train_test_split(stratify=y, test_size=val_size, random_state=seed)``; ``"balanced"``: split
    all images that way first, then cut the tail from the training part only. ``n_max``: images of
    digit 0 in the long-tailed part; ``None``: all the part has of its rarest digit.
    ``standardize``: features standardised with the training part's mean and std (+1e-6) instead
    of scaled to [0, 1].
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    check_number("imbalance_ratio", imbalance_ratio, low=1.0)
    check_choice("test_split", test_split, TEST_SPLITS)
    check_number("val_size", val_size, low=0.0, high=1.0, low_open=True, high_open=True)
    if n_max is not None:
        check_number("n_max", n_max, low=1, integer=True)
    check_number("seed", seed, low=0, high=2**32 - 1, integer=True)
    digits = load_digits()
    target = digits.target.astype(np.int64)
    rows = np.arange(len(target))
    rng = np.random.default_rng(seed)
    if test_split == "balanced":
        rows, val_index = train_test_split(rows, test_size=val_size, stratify=target, random_state=seed)
    available = np.bincount(target[rows], minlength=N_CLASSES)
    if n_max is not None and n_max > available.min():
        part = "all images" if test_split == "stratified" else "the training part"
        raise ValueError(f"n_max={n_max!r} asks for more images than a digit has in {part}; allowed: "
                         f"n_max <= {available.min()} (or None)")
    index = _long_tail(rows, target[rows], n_max or int(available.min()), imbalance_ratio, rng)
    if test_split == "stratified":
        train_index, val_index = train_test_split(index, test_size=val_size, stratify=target[index],
                                                  random_state=seed)
    else:
        train_index = index
    X = digits.data[train_index], digits.data[val_index]
    mean = std = None
    if standardize:
        mean, std = X[0].mean(axis=0), X[0].std(axis=0) + 1e-6
        X = tuple((x - mean) / std for x in X)
    else:
        X = tuple(x / 16.0 for x in X)
    X_train, X_val = (x.astype(np.float32) for x in X)
    return DigitsSplit(X_train, target[train_index], X_val, target[val_index], train_index, val_index,
                       float(imbalance_ratio), test_split, int(seed), mean, std)
