"""Kaplan–Meier quantiles of a right-censored sample (e.g. samples-to-threshold over seeds).

A run that never reached the threshold is *censored* at its budget (the most samples, or
the largest training-set size, it was given): we know only that it needs more. Quantiles
and their confidence intervals come from :class:`statsmodels.duration.survfunc.SurvfuncRight`:

* the p-quantile is the smallest observed time t with Ŝ(t) < 1 − p (SAS's convention,
  which statsmodels follows: a tie at exactly Ŝ = 1 − p moves to the next event time);
* its CI inverts pointwise tests on the complementary log-log scale (Brookmeyer–Crowley
  as in SAS PROC LIFETEST); its limits are observed event times, and an upper limit that
  the data cannot bound is reported as ``None`` (∞).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Quantile:
    """A KM quantile with its CI; ``None`` means unbounded above (not reached)."""

    p: float
    value: float | None
    ci: tuple[float | None, float | None]


@dataclass(frozen=True)
class KaplanMeier:
    """Quantiles of a censored sample plus its counts."""

    quantiles: dict[float, Quantile]
    events: int  # runs that reached the threshold
    total: int

    @property
    def median(self) -> Quantile:
        return self.quantiles[0.5]

    @property
    def converged_fraction(self) -> float:
        return self.events / self.total if self.total else float("nan")


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def kaplan_meier(
    times: Sequence[float],
    reached: Sequence[bool],
    quantiles: Sequence[float] = (0.25, 0.5, 0.75),
    confidence: float = 0.95,
) -> KaplanMeier:
    """Kaplan–Meier quantiles of right-censored ``times``.

    Args:
        times: ``[R]`` time of each unit — its samples-to-threshold if it reached the
            threshold, otherwise its budget (the time it was censored at).
        reached: ``[R]`` whether each unit reached the threshold (an event) or is censored.
        quantiles: probabilities p; the median is always included.
        confidence: two-sided level of the CIs.
    """
    from statsmodels.duration.survfunc import SurvfuncRight  # heavy import, needed only here

    times = np.asarray(times, dtype=np.float64)
    reached = np.asarray(reached, dtype=bool)
    probabilities = sorted({0.5, *map(float, quantiles)})
    result: dict[float, Quantile] = {}
    if times.size == 0 or not reached.any():
        result = {p: Quantile(p, None, (None, None)) for p in probabilities}
        return KaplanMeier(result, int(reached.sum()), int(times.size))
    survival = SurvfuncRight(times, reached.astype(np.float64))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # cloglog of Ŝ = 0 or 1 warns; those points simply do not bound the CI.
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in probabilities:
            low, high = survival.quantile_ci(p, alpha=1 - confidence)
            result[p] = Quantile(p, _finite(survival.quantile(p)), (_finite(low), _finite(high)))
    return KaplanMeier(result, int(reached.sum()), int(times.size))


def km_quantile_batch(times: np.ndarray, reached: np.ndarray, p: float = 0.5) -> np.ndarray:
    """The Kaplan–Meier p-quantile of each row of ``times`` ``[B, R]`` (censored where
    ``reached`` ``[B, R]`` is false) → ``[B]``, NaN where a row never gets there.

    The same numbers as :func:`kaplan_meier` (statsmodels' estimator and conventions, to the
    last bit: Ŝ as the exponential of a running sum of ``log(1 − d/n)`` over event times, and
    the smallest event time with Ŝ < 1 − p), for every row at once: the bootstrap asks for
    thousands of replicates per cell. A loop over the R sorted positions, vectorised over rows.
    """
    times = np.asarray(times, dtype=np.float64)
    reached = np.asarray(reached, dtype=bool)
    rows, units = times.shape
    order = np.argsort(times, axis=1, kind="stable")
    times = np.take_along_axis(times, order, axis=1)
    events = np.take_along_axis(reached, order, axis=1).astype(np.float64)
    result = np.full(rows, np.nan)
    log_survival = np.zeros(rows)
    group_start = np.zeros(rows, dtype=np.int64)
    deaths = np.zeros(rows)
    for j in range(units):
        new_group = np.ones(rows, bool) if j == 0 else times[:, j] != times[:, j - 1]
        group_start = np.where(new_group, j, group_start)
        deaths = np.where(new_group, 0.0, deaths) + events[:, j]
        last = np.ones(rows, bool) if j == units - 1 else times[:, j + 1] != times[:, j]
        step = last & (deaths > 0)
        factor = 1 - deaths / (units - group_start).astype(np.float64)
        empty = factor < 1e-16  # everyone at risk had the event: Ŝ = 0 from here
        with np.errstate(divide="ignore"):
            log_survival = np.where(step, log_survival + np.log(np.where(empty, 1e-16, factor)), log_survival)
        survival = np.where(empty, 0.0, np.exp(log_survival))
        crossed = step & (survival < 1 - p) & np.isnan(result)
        result = np.where(crossed, times[:, j], result)
    return result
