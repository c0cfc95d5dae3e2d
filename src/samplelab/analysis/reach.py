"""Which verdicts a study's design can reach on its success-rate claims, before training.

A ``reached`` or ``not_reached`` claim is judged by an exact interval on the runs of its
cells (docs/analysis.md, "Claims"), so the verdicts the whole design can give follow from
its run counts alone: every count of reached runs the design could store is judged with the
interval of the design's last judgement. A claim that no count lets agree (too few runs for
its interval to clear the region's edge) can at best disagree, whatever the models do — a
researcher should know that before spending the compute (``samplelab run --dry-run``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from samplelab.analysis.claims import claim_region
from samplelab.analysis.sequential import study_looks
from samplelab.spec.claims import ClaimConfig, point_matches
from samplelab.spec.study import Study, cell_point
from samplelab.stats.sequential import final_rate_verdict
from samplelab.stats.verdict import Region, clopper_pearson, rate_difference_interval

_LARGEST = 10_000  # runs: the most `runs_to_agree` looks for


@dataclass(frozen=True)
class RateReach:
    """A rate claim's possible verdicts at its design's run counts."""

    label: str
    runs: int  # of the claim's cells (a not_reached claim: its own, not its control's)
    control_runs: int | None
    confidence: float
    verdicts: frozenset[str]  # of agrees / disagrees / inconclusive that some count gives
    best: tuple[float, float]  # the interval of the count most in the claim's favour
    runs_to_agree: int | None  # a reached claim: the least all-reached count that agrees

    def line(self) -> str:
        """One line for a claim that cannot agree ('' otherwise)."""
        if "agrees" in self.verdicts:
            return ""
        level = f"{self.confidence:.0%}"
        if self.control_runs is None:
            best = f"even {self.runs} of {self.runs} reached is [{self.best[0]:.2f}, {self.best[1]:.2f}] at {level}"
        else:
            best = (
                f"even a control at {self.control_runs} of {self.control_runs} against 0 of {self.runs} is "
                f"[{self.best[0]:.2f}, {self.best[1]:.2f}] at {level}"
            )
        needs = f"; agreeing needs {self.runs_to_agree} of {self.runs_to_agree}" if self.runs_to_agree else ""
        can = "it can disagree but not agree" if "disagrees" in self.verdicts else "it can only be inconclusive"
        return f"'{self.label}' cannot agree at this design: {best}, so {can}{needs}"


def _runs(study: Study, where: dict) -> int:
    """Runs of a claim's cells: distinct (cell, seed) pairs whose grid point matches."""
    return len({(cell_point(s.point), s.seed) for s in study.runs if point_matches(s.point, where)})


def rate_reach(study: Study, claim: ClaimConfig, confidence: float, delta: float) -> RateReach:
    """The verdicts a ``reached`` / ``not_reached`` claim can get from the study's runs."""
    region = claim_region(claim, delta)
    runs = _runs(study, claim.where)
    if claim.kind == "reached":
        verdicts = {final_rate_verdict([k], [runs], region, confidence) for k in range(runs + 1)} if runs else set()
        best = clopper_pearson(runs, runs, confidence) if runs else (0.0, 1.0)
        return RateReach(claim.label, runs, None, confidence, frozenset(verdicts or {"inconclusive"}), best,
                         _runs_to_agree(region, confidence))  # fmt: skip
    control = _runs(study, claim.control or {})
    verdicts = {
        final_rate_verdict([c, r], [control, runs], region, confidence, 1 - delta)
        for c, r in itertools.product(range(control + 1), range(runs + 1))
    } if control and runs else set()  # fmt: skip
    best = rate_difference_interval((control, 0), (control, runs), confidence) if control and runs else (-1.0, 1.0)
    return RateReach(claim.label, runs, control, confidence, frozenset(verdicts or {"inconclusive"}), best, None)


def _runs_to_agree(region: Region, confidence: float) -> int | None:
    """The least n whose n of n reached has an interval inside ``region`` (None past _LARGEST)."""
    if region.low <= 0:
        return 1
    low, high = 1, _LARGEST
    if clopper_pearson(high, high, confidence)[0] < region.low:
        return None
    while low < high:  # the lower limit of n of n grows with n
        middle = (low + high) // 2
        if clopper_pearson(middle, middle, confidence)[0] >= region.low:
            high = middle
        else:
            low = middle + 1
    return low


def unreachable_agreements(study: Study) -> list[str]:
    """One line per rate claim of the study that its design cannot let agree, judged at the
    level of its last judgement (a sequential design's last look)."""
    analysis = study.analysis
    confidence = 1 - study_looks(study)[-1].alpha if analysis.sequential else analysis.confidence
    lines = [
        rate_reach(study, claim, confidence, analysis.delta).line()
        for claim in analysis.claims
        if claim.kind in ("reached", "not_reached")
    ]
    return [line for line in lines if line]
