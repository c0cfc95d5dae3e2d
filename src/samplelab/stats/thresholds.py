"""Measurements on learning curves: samples-to-threshold and training-set size to threshold.

A curve is the test metric at evaluation points, with ``samples_seen = eval_step ×
batch_size``. A run that never crosses the threshold within its budget is *censored*
(``None``), never dropped; a run whose curve holds NaN/inf is *diverged*.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def samples_to_threshold(samples_seen: np.ndarray, test_metric: np.ndarray, threshold: float) -> int | None:
    """First ``samples_seen`` at which ``test_metric <= threshold``; ``None`` if never (censored).

    Args:
        samples_seen: ``[K]`` examples drawn up to each evaluation (non-decreasing).
        test_metric: ``[K]`` test metric at those evaluations; non-finite values never cross.
        threshold: the level to reach, in the metric's units.
    """
    crossed = np.flatnonzero(np.isfinite(test_metric) & (test_metric <= threshold))
    return int(samples_seen[crossed[0]]) if crossed.size else None


def train_size_to_threshold(n_trains: Sequence[int], final_metrics: Sequence[float], threshold: float) -> int | None:
    """Least training-set size whose run ends at or below ``threshold``; ``None`` if none does.

    ``n_trains`` and ``final_metrics`` pair each run of one (cell, seed) across a grid of
    training-set sizes; they need not be sorted.
    """
    reached = [
        n for n, metric in zip(n_trains, final_metrics, strict=True) if np.isfinite(metric) and metric <= threshold
    ]
    return min(reached) if reached else None


def median_with_censoring(values: Iterable[int | None]) -> tuple[float | None, int, int]:
    """Median of values where ``None`` means "larger than anything measured".

    Returns ``(median or None if the median itself is censored, reached, total)``. This is
    the simple order-statistic median; Kaplan–Meier estimates belong to the statistics module.
    """
    values = list(values)
    reached = sorted(v for v in values if v is not None)
    total = len(values)
    if not total:
        return None, 0, 0
    ordered = reached + [np.inf] * (total - len(reached))
    median = float(np.median(ordered))
    return (median if np.isfinite(median) else None), len(reached), total
