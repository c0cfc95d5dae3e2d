"""Group-sequential decisions: the error rate each look spends, and the futility prediction.

A claim judged at K looks (the first s₁ seeds, the first s₂, …, all S) is wrong only if,
at the look it stops, its interval misses the truth: a verdict that *agrees* when the truth
lies outside the allowed region (or *disagrees* when it lies inside) needs an interval that
excludes the truth. If look k's interval misses with probability at most αₖ, the union
bound gives P(wrong at any look) ≤ Σ αₖ, however the looks depend on each other and
whatever rule stops — Bonferroni α-spending over a fixed maximum number of looks. The
default spends little early (Haybittle–Peto's idea): each interim look 1% (at most half
the error rate shared among them), the last look the rest, so a study that runs to its
last look is judged nearly as the fixed design is (96% for a 95% design with one interim
look, 97% with two).

An interim look's intervals come from few seeds, and a percentile interval from 3 seeds
undercovers: it uses Student's interval (:func:`samplelab.stats.bootstrap.student_interval`).

Futility: with the estimate and standard error an interim interval implies, the last
look's estimate is predicted as normal about today's with variance SE² (S − s)/S, and its
interval's half-width as SE × √(s/S) × z(1 − α_last/2). A claim whose
predicted probability of being decided at the last look is below ``FUTILITY`` (10%) stops
*inconclusive*. A success rate's interval is exact and bounded, so the normal prediction
misjudges it (an estimate of 1 has no room above it): a rate claim's prediction is exact
instead (:func:`rate_decision_probability`): every count the last look's remaining runs
could add, weighted by its beta-binomial predictive probability under the rate's Jeffreys
posterior, judged with the last look's own exact interval. Stopping for futility never makes a verdict decided, so it cannot raise the
error rate (it is non-binding).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.stats import betabinom, norm

from samplelab.stats.verdict import Region, clopper_pearson, rate_difference_interval, verdict

INTERIM_ALPHA = 0.01
FUTILITY = 0.1  # stop a claim the last look decides with a predicted probability below this


def spending(interim_looks: int, alpha: float, given: list[float] | None = None) -> list[float]:
    """The error rate each of the ``interim_looks`` + 1 looks spends (they sum to ``alpha``):
    ``given``, or the default (module docstring)."""
    if given is not None:
        return list(given)
    each = min(INTERIM_ALPHA, alpha / (2 * interim_looks)) if interim_looks else 0.0
    return [each] * interim_looks + [alpha - each * interim_looks]


def decision_probability(
    estimate: float,
    interval: tuple[float, float] | list,
    region: tuple[float, float],
    seeds: tuple[int, int],
    quantile_now: float,
    alpha_last: float,
) -> float:
    """Predicted probability that the last look's interval lies inside ``region`` ``(low, high)``
    or outside it (module docstring). ``interval``: this look's, of level ``quantile_now``
    (its normal or Student quantile); ``seeds``: (this look's, the last look's)."""
    low, high = interval
    now, last = seeds
    error = (high - low) / (2 * quantile_now)
    if not error > 0:
        return 1.0  # no width to predict from: not futile
    half = norm.ppf(1 - alpha_last / 2) * error * math.sqrt(now / last)
    spread = error * math.sqrt((last - now) / last)
    below = lambda edge: norm.cdf((edge - estimate) / spread)  # noqa: E731  P(final estimate < edge)
    region_low, region_high = region
    inside = (
        max(0.0, below(region_high - half) - below(region_low + half))
        if region_low + half < region_high - half
        else 0.0
    )
    outside = below(region_low - half) + (1 - below(region_high + half))
    return float(inside + outside)


def _predictive(successes: int, trials: int, more: int) -> np.ndarray:
    """P(j successes in ``more`` further runs), j = 0 … more: the beta-binomial predictive
    of the rate's Jeffreys posterior Beta(successes + ½, failures + ½)."""
    return betabinom.pmf(np.arange(more + 1), more, successes + 0.5, trials - successes + 0.5)


def final_rate_verdict(
    final: list[int], runs: list[int], region: Region, confidence: float, control_floor: float | None = None
) -> str:
    """The verdict of a rate claim's counts ``final`` of ``runs``: one rate (a ``reached``
    claim: its Clopper–Pearson interval) or a control and a rate (``not_reached``: the
    interval of control − rate, inconclusive while the control's rate is below
    ``control_floor``), as :func:`samplelab.analysis.claim_cells.rate_claim` judges them."""
    if len(final) == 1:
        return verdict(clopper_pearson(final[0], runs[0], confidence), region)
    if control_floor is not None and final[0] / runs[0] < control_floor:
        return "inconclusive"
    return verdict(rate_difference_interval((final[0], final[1]), (runs[0], runs[1]), confidence), region)


def rate_decision_probability(
    rates: list[tuple[int, int, int]], region: Region, alpha_last: float, control_floor: float | None = None
) -> float:
    """Predicted probability that the last look decides a rate claim (module docstring).

    ``rates``: (successes, runs now, runs at the last look) of one rate or of a control and
    a rate (:func:`final_rate_verdict`)."""
    runs = [last for _, _, last in rates]
    outcomes = [range(last - now + 1) for _, now, last in rates]
    weights = [_predictive(k, now, last - now) for k, now, last in rates]
    total = 0.0
    for added in itertools.product(*outcomes):
        final = [k + j for (k, _, _), j in zip(rates, added, strict=True)]
        if final_rate_verdict(final, runs, region, 1 - alpha_last, control_floor) != "inconclusive":
            total += float(np.prod([w[j] for w, j in zip(weights, added, strict=True)]))
    return total
