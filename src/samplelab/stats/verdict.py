"""Three-valued verdicts: an interval against the region a claim allows.

A claim allows a region of values of what it measures — ``[low, high]``, either end
possibly infinite — already widened by its margin (its tolerance, stated with the claim).
Against a measured interval ``[l, h]``:

* **agrees**: the interval lies inside the region (``low ≤ l`` and ``h ≤ high``);
* **disagrees**: the interval lies outside it (``h < low`` or ``l > high``);
* **inconclusive**: the interval straddles an edge, or there is no interval.

Also the exact binomial intervals the success-rate claims use: Clopper–Pearson for one
rate (SciPy's ``binomtest``), and for the difference of two rates the MOVER combination of
the two Clopper–Pearson intervals (Newcombe's method with exact rather than Wilson
limits; statsmodels' ``newcomb`` uses Wilson's, which are not exact).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

from scipy.stats import binomtest

Verdict = Literal["agrees", "disagrees", "inconclusive"]
VERDICTS: tuple[Verdict, ...] = ("agrees", "disagrees", "inconclusive")


@dataclass(frozen=True)
class Region:
    """The values a claim allows, ``[low, high]`` (``±inf`` for an open side)."""

    low: float = -math.inf
    high: float = math.inf

    @classmethod
    def of(
        cls,
        *,
        above: float | None = None,
        below: float | None = None,
        within: tuple[float, float] | None = None,
        margin: float = 0.0,
    ) -> Region:
        """The region of a bound (``above`` / ``below`` a value) or an equivalence
        (``within`` ``[low, high]``), each edge moved outwards by ``margin``."""
        low, high = within if within is not None else (-math.inf, math.inf)
        if above is not None:
            low = above
        if below is not None:
            high = below
        return cls(low - margin, high + margin)

    @classmethod
    def from_limits(cls, limits: tuple | list | None) -> Region | None:
        """A region from its JSON form ``[low, high]`` (``None`` limits: open); ``None`` stays ``None``."""
        if limits is None:
            return None
        low, high = limits
        return cls(-math.inf if low is None else low, math.inf if high is None else high)

    def text(self, symbol: str = "x", spec: str = ".3g") -> str:
        """``x ≥ 0.8``, ``x ≤ 0.1`` or ``x ∈ [0.67, 1.33]``."""
        if math.isinf(self.low) and math.isinf(self.high):
            return f"any {symbol}"
        if math.isinf(self.high):
            return f"{symbol} ≥ {format(self.low, spec)}"
        if math.isinf(self.low):
            return f"{symbol} ≤ {format(self.high, spec)}"
        return f"{symbol} ∈ [{format(self.low, spec)}, {format(self.high, spec)}]"


def verdict(interval: tuple[float | None, float | None] | list, region: Region) -> Verdict:
    """The verdict of a measured interval against a region (see the module docstring).

    A missing limit (``None``) or NaN means the data do not bound that side: an interval
    ``[l, —]`` can still disagree with a region that ends below ``l``.
    """
    low, high = (math.nan if v is None else float(v) for v in interval)
    if math.isnan(low) and math.isnan(high):
        return "inconclusive"
    if (not math.isnan(high) and high < region.low) or (not math.isnan(low) and low > region.high):
        return "disagrees"
    if not (math.isnan(low) or math.isnan(high)) and region.low <= low and high <= region.high:
        return "agrees"
    return "inconclusive"


def combine(verdicts: list[Verdict]) -> Verdict:
    """A claim over several series or points: it agrees if each agrees, disagrees if any
    disagrees, and is inconclusive otherwise (and with nothing measured)."""
    if not verdicts:
        return "inconclusive"
    if "disagrees" in verdicts:
        return "disagrees"
    return "agrees" if all(v == "agrees" for v in verdicts) else "inconclusive"


def growth_verdict(gap_interval: tuple | list, gamma_interval: tuple | list, margin: float) -> Verdict:
    """ "Almost independent of x" (docs/analysis.md, "Growth shape"): it agrees if the interval
    of D = (power-law loss − log-law loss) ÷ points lies above 0, or γ's lies within
    [−margin, margin]; it disagrees if D's lies below 0 *and* γ's outside [−margin, margin]."""
    by_gap, by_gamma = verdict(gap_interval, Region(low=0.0)), verdict(gamma_interval, Region(-margin, margin))
    if "agrees" in (by_gap, by_gamma):
        return "agrees"
    return "disagrees" if by_gap == by_gamma == "disagrees" else "inconclusive"


@functools.lru_cache(maxsize=4096)  # the futility prediction asks for each possible final count
def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper–Pearson) two-sided interval of a binomial rate; ``(0, 1)`` with no trials."""
    if trials == 0:
        return 0.0, 1.0
    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def rate_difference_interval(
    successes: tuple[int, int], trials: tuple[int, int], confidence: float = 0.95
) -> tuple[float, float]:
    """Interval of p₁ − p₂ by MOVER from the two Clopper–Pearson intervals (Newcombe 1998's
    construction, exact limits)."""
    (k1, k2), (n1, n2) = successes, trials
    p1, p2 = (k1 / n1 if n1 else 0.5), (k2 / n2 if n2 else 0.5)
    (l1, u1), (l2, u2) = clopper_pearson(k1, n1, confidence), clopper_pearson(k2, n2, confidence)
    difference = p1 - p2
    low = difference - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(low, -1.0), min(high, 1.0)
