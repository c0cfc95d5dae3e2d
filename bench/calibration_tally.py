"""What bench/calibration.py and bench/calibration_curves.py share: the tally of one simulated
row, the widening factor it implies, and where the study files are."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samplelab.analysis.calibration import applied_widening

STUDIES = Path(__file__).resolve().parent.parent / "studies"
CONFIDENCE = 0.95


def needed_factor(estimate: float, interval, truth: float) -> float:
    """How far an interval must be widened about its estimate to cover ``truth`` (≤ 1: it does)."""
    low, high = interval
    if not np.isfinite(estimate) or np.isnan(low) or np.isnan(high):
        return np.inf
    if truth == estimate:
        return 0.0
    side = estimate - low if truth < estimate else high - estimate
    return abs(truth - estimate) / side if side > 0 else np.inf


@dataclass
class Tally:
    covered: int = 0
    agrees: int = 0
    disagrees: int = 0
    total: int = 0
    factors: list = field(default_factory=list)

    def add(self, covered: bool | None, judged: str | None = None, factor: float | None = None) -> None:
        self.total += 1
        self.covered += bool(covered)
        self.agrees += judged == "agrees"
        self.disagrees += judged == "disagrees"
        if factor is not None:
            self.factors.append(factor)

    def widening(self) -> float:
        """The least factor ≥ 1 that makes the intervals cover in ``CONFIDENCE`` of the studies."""
        return max(1.0, float(np.quantile(self.factors, CONFIDENCE, method="inverted_cdf")))

    def entry(self, study: str, kind: str, series: str | None, **extra) -> dict:
        """This tally as an entry of analysis/calibration.json (its quick profile)."""
        coverage = self.covered / self.total
        return {"study": study, "profile": "quick", "kind": kind, "series": series, "coverage": coverage,
                "widen_by": self.widening(), **extra}  # fmt: skip

    def rate(self, count: int) -> str:
        return f"{count / self.total:.1%}" if self.total else "—"


def applied_factor(tally: Tally, studies: int) -> float:
    """The widening analysis/calibration.py applies from this tally (its own rule)."""
    return applied_widening(tally.covered / tally.total, tally.widening(), studies)


def widened(interval, estimate: float, factor: float) -> tuple[float, float]:
    low, high = interval
    return estimate - factor * (estimate - low), estimate + factor * (high - estimate)
