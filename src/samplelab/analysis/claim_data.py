"""What every claim reads: the study's runs and cells at one threshold, the seed resampler,
and the helpers the claim kinds share (an interval, a judged value, the series a claim
selects with their fitted exponents, and why a claim decides nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samplelab.analysis.cells import Cell
from samplelab.analysis.fits import FitSeries, fit_series, sample_maximum_reason
from samplelab.analysis.resample import SeedResampler
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import json_interval
from samplelab.spec.analysis import AnalysisConfig, FitConfig
from samplelab.spec.claims import ClaimConfig, point_matches
from samplelab.stats.bootstrap import seed_interval
from samplelab.stats.powerlaw import EXPONENT, MIN_DISTINCT_X, fit_with_replicates
from samplelab.stats.verdict import Region, verdict


@dataclass
class ClaimData:
    """What the claims read: the study's runs, cells, outcome entries and seed resampler."""

    runs: StudyRuns
    cells: list[Cell]
    cell_documents: list[dict]
    outcomes: list[dict]
    analysis: AnalysisConfig
    resampler: SeedResampler
    fitted_series: dict[tuple, list[FitSeries]] = field(default_factory=dict)  # by (x, x_measure, y, law): built once


def claim_interval(
    estimate: float, replicates: np.ndarray, units: int, analysis: AnalysisConfig, nan_is_above: bool = False
) -> list:
    interval = seed_interval(
        estimate, replicates, analysis.confidence, units, analysis.interval, nan_is_above=nan_is_above
    )
    return json_interval(interval)


def claim_value(where: dict, estimate: float | None, interval: list | None, region: Region, **extra) -> dict:
    known = estimate is not None and interval is not None and np.isfinite(estimate)
    return {
        **where,
        "estimate": estimate if known else None,
        "interval": interval if known else [None, None],
        "verdict": verdict(interval, region) if known else "inconclusive",
        **extra,
    }


def matching_series(data: ClaimData, claim: ClaimConfig, where: dict) -> list[FitSeries]:
    key = (claim.x, claim.x_measure, claim.y, claim.law)
    if key not in data.fitted_series:
        fit = FitConfig(x=claim.x, x_measure=claim.x_measure, y=claim.y, law=claim.law)
        data.fitted_series[key] = fit_series(fit, data.runs, data.cells, data.analysis, data.resampler)
    return [s for s in data.fitted_series[key] if point_matches(s.point, where)]


def series_exponent(claim: ClaimConfig, series: FitSeries) -> tuple[float | None, np.ndarray]:
    """The fitted exponent of a series and its ``[B]`` replicates (``None``: too few points)."""
    valid = np.isfinite(series.y) & (series.y > 0)
    if np.unique(series.x[valid]).size < MIN_DISTINCT_X[claim.law]:
        return None, np.full(len(series.replicates), np.nan)
    estimate, replicates = fit_with_replicates(claim.law, series.x, series.y, series.replicates)
    return estimate[EXPONENT[claim.law]], replicates[EXPONENT[claim.law]]


def blocked_reason(data: ClaimData, claim: ClaimConfig, series: list[FitSeries]) -> str | None:
    """Why a claim on ``series`` decides nothing, whatever it measures; ``None`` if it can.

    A resample whose cell median is not reached has no point there, and fitting without it
    would cut the upper tail of the interval: beyond (1 − confidence)/2 of resamples, that
    tail is unknown, and the claim says so."""
    if not series:
        return "no series matches where"
    units = min(s.units_per_x for s in series)
    if claim.y == "n_star" and data.analysis.delta < 1 / units:
        return sample_maximum_reason(data.analysis.delta, units)
    if claim.y in ("n_star", "km_median"):
        unreached = max(float(np.isnan(s.replicates).any(axis=1).mean()) if s.replicates.size else 0.0 for s in series)
        if unreached > (1 - data.analysis.confidence) / 2:
            return f"the median is not reached within the budget in {unreached:.0%} of seed resamples"
    return None
