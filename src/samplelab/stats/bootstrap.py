"""Cluster bootstrap over seeds, and the interval it gives.

Seeds are the independent units of a study: runs of one seed share its data pool (across
training-set sizes) and its initialisation stream, so resampling is over seeds, separately
within each x of a fit (design.md §4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def resample_within_groups(groups: Sequence[np.ndarray], replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Resample each group's values with replacement, independently per group.

    Args:
        groups: per x, the ``[m_x]`` per-seed observations.
        replicates: B.
    Returns:
        ``[B, Σ m_x]``: each row is the groups' resamples concatenated in order.
    """
    rows = []
    for values in groups:
        values = np.asarray(values, dtype=np.float64)
        rows.append(values[rng.integers(0, values.size, (replicates, values.size))])
    return np.concatenate(rows, axis=1)


def expanded_percentile_interval(
    estimate: float, replicates: np.ndarray, confidence: float, units: int, *, nan_is_above: bool = False
) -> tuple[float, float]:
    """Percentile interval of ``replicates``, expanded about ``estimate`` by √(m/(m−1)).

    Resampling m units out of m shrinks the bootstrap variance by (m−1)/m; with the 3–10
    seeds a study has per x, the plain percentile interval undercovers (measured: 91% for a
    nominal 95% with 5 seeds; 93% after expansion — tests/test_stats.py). ``units`` is the
    smallest number of seeds per x. Replicates that could not be fitted (NaN) are ignored,
    unless ``nan_is_above``: then NaN is a value above every finite one (e.g. a median not
    reached within the budget), and an upper limit that falls on one is ∞.
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    if nan_is_above:
        tail = (1 - confidence) / 2
        filled = np.where(np.isnan(replicates), np.inf, replicates)
        if filled.size == 0 or not np.isfinite(estimate):
            return float("nan"), float("nan")
        low, high = np.quantile(filled, [tail, 1 - tail], method="inverted_cdf")
        scale = np.sqrt(units / (units - 1)) if units > 1 else 1.0
        return float(estimate - scale * (estimate - low)), float(estimate + scale * (high - estimate))
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    scale = np.sqrt(units / (units - 1)) if units > 1 else 1.0
    return float(estimate - scale * (estimate - low)), float(estimate + scale * (high - estimate))
