"""The median of interval-censored data needed, on a grid of training-set sizes.

In the fixed regime a seed is run at sizes n₁ < … < n_M; if its first success is at n_k,
the data it needs is only known to lie in (n_{k−1}, n_k] (n₀ = 0), and a seed that never
succeeds needs more than n_M: (n_M, ∞). Such data are interval-censored. Their
nonparametric MLE (Turnbull's) puts mass only on the innermost intervals; when every seed
is run at every size — as :func:`samplelab.analysis.cells.collect_cells` keeps it — those
intervals are the grid's own (n_{k−1}, n_k], none overlapping, and the NPMLE is simply the
fraction of seeds in each. So Ŝ(n_k) = 1 − (seeds first succeeding at or before n_k)/m.

The median is where Ŝ first falls to ½ or below (lifelines' convention); the NPMLE places
it only within an interval, the **median bracket** (n_{k−1}, n_k] holding that fall. This
closed form is lifelines' ``KaplanMeierFitter.fit_interval_censoring`` on these data
(tests/test_verdicts.py checks it on random grids) and vectorises over bootstrap
replicates. Measured on 40 random 6-size grids of 3–11 seeds: lifelines' EM took a median
12.5 ms per fit, and 21 s on one where it hit its iteration cap; this closed form does
1,000 replicates of an 8-seed cell in 0.8 ms.
"""

from __future__ import annotations

import numpy as np


def first_success(success: np.ndarray) -> np.ndarray:
    """``[..., S, M]`` success on the sorted grid → ``[..., S]`` index of each seed's first
    success (M: never)."""
    success = np.asarray(success, dtype=bool)
    return np.where(success.any(axis=-1), np.argmax(success, axis=-1), success.shape[-1])


def median_bracket(sizes: np.ndarray, first: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """``[B, 2]`` median brackets (low, high] of ``B`` samples.

    Args:
        sizes: ``[M]`` the sorted grid.
        first: ``[B, R]`` each seed's first-success index (M: never), as :func:`first_success`.
        present: ``[B, R]`` which entries count (a resample may draw a seed a cell lacks).
    Returns:
        ``low`` is 0 when the median falls at the first size; ``high`` is NaN (and ``low``
        n_M) when fewer than half the seeds ever succeed: the median is above the grid.
    """
    sizes = np.asarray(sizes, dtype=np.float64)
    first = np.atleast_2d(first)
    present = np.ones(first.shape, bool) if present is None else np.atleast_2d(present)
    m = present.sum(axis=1)
    counts = np.stack([((first == k) & present).sum(axis=1) for k in range(sizes.size)], axis=1)  # [B, M]
    with np.errstate(invalid="ignore", divide="ignore"):
        survival = 1.0 - np.cumsum(counts, axis=1) / m[:, None]
    crossed = survival <= 0.5 + 1e-12
    k = np.argmax(crossed, axis=1)
    reached = crossed.any(axis=1) & (m > 0)
    grid = np.concatenate([[0.0], sizes])
    low = np.where(reached, grid[k], sizes[-1])
    high = np.where(reached, sizes[k], np.nan)
    return np.stack([np.where(m > 0, low, np.nan), high], axis=1)


def survival_at_sizes(first: np.ndarray, sizes: int) -> np.ndarray:
    """``[M]`` Ŝ(n_k): the fraction of seeds that have not succeeded by each size."""
    first = np.asarray(first)
    return 1.0 - np.array([(first <= k).mean() for k in range(sizes)])
