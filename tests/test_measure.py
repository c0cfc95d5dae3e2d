"""Samples-to-threshold and friends on hand-made curves."""

from __future__ import annotations

import numpy as np

from samplelab.stats.thresholds import median_with_censoring, samples_to_threshold, train_size_to_threshold


def test_first_crossing():
    samples = np.array([0, 100, 200, 300])
    assert samples_to_threshold(samples, np.array([10.0, 5.0, 0.5, 0.1]), 1.0) == 200
    assert samples_to_threshold(samples, np.array([10.0, 1.0, 5.0, 5.0]), 1.0) == 100  # first, even if it rises
    assert samples_to_threshold(samples, np.array([10.0, 5.0, 2.0, 1.5]), 1.0) is None  # censored
    assert samples_to_threshold(samples, np.array([10.0, np.nan, np.inf, 0.5]), 1.0) == 300


def test_train_size_to_threshold():
    assert train_size_to_threshold([64, 32, 128], [0.5, 2.0, 0.1], 1.0) == 64
    assert train_size_to_threshold([32, 64], [2.0, np.nan], 1.0) is None


def test_median_with_censoring():
    assert median_with_censoring([1, 3, 2]) == (2.0, 3, 3)
    assert median_with_censoring([1, None, 3]) == (3.0, 2, 3)
    assert median_with_censoring([1, None, None]) == (None, 1, 3)
    assert median_with_censoring([]) == (None, 0, 0)
