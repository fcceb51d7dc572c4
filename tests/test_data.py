"""course_utils.data against independent computations: load_digits itself, closed-form counts, numpy stats."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from course_utils.data import load_imbalanced_digits, long_tail_counts

DIGITS = load_digits()
BALANCED = {"imbalance_ratio": 20, "test_split": "balanced", "val_size": 0.5, "n_max": None}


@pytest.fixture(scope="module")
def stratified():
    return load_imbalanced_digits()


@pytest.fixture(scope="module")
def balanced():
    return load_imbalanced_digits(standardize=True, **BALANCED)


def test_long_tail_counts_closed_form():
    counts = long_tail_counts(10, 170, 10.0)
    assert counts.tolist() == [round(170 * 10 ** (-c / 9)) for c in range(10)]
    assert counts[0] == 170 and counts[-1] == 17
    assert long_tail_counts(4, 50, 1.0).tolist() == [50] * 4
    assert long_tail_counts(2, 100, 4.0).tolist() == [100, 25]


@pytest.mark.parametrize("kwargs, match", [({"n_classes": 1}, "n_classes=1"),
                                           ({"imbalance_ratio": 0.5}, "imbalance_ratio=0.5"),
                                           ({"imbalance_ratio": float("inf")}, "imbalance_ratio=inf"),
                                           ({"n_max": 0}, "n_max=0")])
def test_long_tail_counts_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        long_tail_counts(**kwargs)


def _assert_real_rows(data, scale):
    """Every row is the load_digits row its index names, with its label; no image twice."""
    np.testing.assert_array_equal(data.y_train, DIGITS.target[data.train_index])
    np.testing.assert_array_equal(data.y_val, DIGITS.target[data.val_index])
    np.testing.assert_allclose(data.X_train, scale(DIGITS.data[data.train_index]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(data.X_val, scale(DIGITS.data[data.val_index]), rtol=1e-6, atol=1e-6)
    both = np.concatenate([data.train_index, data.val_index])
    assert len(np.unique(both)) == len(both)  # disjoint, none twice
    assert data.X_train.dtype == np.float32 and data.y_train.dtype == np.int64


def test_stratified_split_is_long_tailed_then_stratified(stratified):
    _assert_real_rows(stratified, lambda x: x / 16)
    per_class = stratified.train_counts + stratified.val_counts
    assert per_class.tolist() == [round(170 * 10 ** (-c / 9)) for c in range(10)]
    # stratified: each class keeps its 30 % share in validation, within one image
    assert np.all(np.abs(stratified.val_counts - 0.3 * per_class) <= 1)
    assert stratified.X_train.min() >= 0 and stratified.X_train.max() <= 1
    assert "486 train / 209 validation" in stratified.describe()


def test_balanced_split_has_a_long_tailed_train_half_and_a_balanced_test_half(balanced):
    # the held-out half: half of every digit (stratified), untouched by the tail
    full = np.bincount(DIGITS.target, minlength=10)
    assert np.all(np.abs(balanced.val_counts - full / 2) <= 1)
    # the training half: digit 0 keeps all it has there; class c keeps round(n0 * 20 ** (-c / 9))
    n0 = balanced.train_counts[0]
    assert n0 == min(full[c] - balanced.val_counts[c] for c in range(10))
    assert balanced.train_counts.tolist() == [max(1, round(n0 * 20 ** (-c / 9))) for c in range(10)]
    ratio = balanced.train_counts[0] / balanced.train_counts[-1]
    assert 15 < ratio < 25


def test_standardisation_uses_the_training_part_stats(balanced):
    raw_train = DIGITS.data[balanced.train_index]
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0) + 1e-6
    np.testing.assert_allclose(balanced.mean, mean)
    np.testing.assert_allclose(balanced.std, std)
    _assert_real_rows(balanced, lambda x: (x - mean) / std)
    # the training features: mean 0, std 1 wherever a pixel varies (constant pixels stay 0)
    varies = raw_train.std(axis=0) > 0
    np.testing.assert_allclose(balanced.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(balanced.X_train.std(axis=0)[varies], 1, rtol=1e-4)


def test_seeded(stratified, balanced):
    again = load_imbalanced_digits(seed=0)
    np.testing.assert_array_equal(again.train_index, stratified.train_index)
    np.testing.assert_array_equal(again.X_val, stratified.X_val)
    other = load_imbalanced_digits(seed=1)
    assert not np.array_equal(np.sort(other.val_index), np.sort(stratified.val_index))
    other = load_imbalanced_digits(seed=1, **BALANCED)
    assert not np.array_equal(np.sort(other.val_index), np.sort(balanced.val_index))


BAD = [({"n_max": 500}, "n_max=500"), ({"val_size": 1.0}, "val_size=1.0"), ({"seed": -1}, "seed=-1"),
       ({"test_split": "random"}, "test_split="), ({"imbalance_ratio": 0.5}, "imbalance_ratio=0.5"),
       ({"test_split": "balanced", "val_size": 0.5, "n_max": 100}, "n_max=100")]


@pytest.mark.parametrize("kwargs, match", BAD)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_imbalanced_digits(**kwargs)
