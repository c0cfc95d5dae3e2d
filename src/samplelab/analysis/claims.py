"""Claims → verdicts: each ``[[analysis.claims]]`` entry and each fitted law's ``theory``,
measured on whole-seed resamples and judged three ways against the region it allows.

One entry per claim, whatever the number of series or points it covers: its ``values``
list one estimate and interval per series / point / x, and its verdict combines theirs
(:func:`samplelab.stats.verdict.combine`). Rules per kind: docs/analysis.md, "Claims".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samplelab.analysis.cells import Cell
from samplelab.analysis.fits import FitSeries, fit_series, sample_maximum_reason
from samplelab.analysis.outcomes import run_outcome
from samplelab.analysis.resample import SeedResampler
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import json_interval
from samplelab.spec.analysis import AnalysisConfig, FitConfig
from samplelab.spec.claims import ClaimConfig, point_matches
from samplelab.stats.bootstrap import expanded_percentile_interval
from samplelab.stats.powerlaw import EXPONENT, MIN_DISTINCT_X, fit_law_batch, fit_log_law_batch, fit_with_replicates
from samplelab.stats.verdict import (
    Region,
    clopper_pearson,
    combine,
    growth_verdict,
    rate_difference_interval,
    verdict,
)


@dataclass
class ClaimData:
    """What the claims read: the study's runs, cells, outcome entries and seed resampler."""

    runs: StudyRuns
    cells: list[Cell]
    cell_documents: list[dict]
    outcomes: list[dict]
    analysis: AnalysisConfig
    resampler: SeedResampler
    fitted_series: dict[tuple, list[FitSeries]] = field(default_factory=dict)  # by (x, y, law): built once


def _interval(
    estimate: float, replicates: np.ndarray, units: int, analysis: AnalysisConfig, nan_is_above: bool = False
) -> list:
    interval = expanded_percentile_interval(estimate, replicates, analysis.confidence, units, nan_is_above=nan_is_above)
    return json_interval(interval)


def _value(where: dict, estimate: float | None, interval: list | None, region: Region, **extra) -> dict:
    known = estimate is not None and interval is not None and np.isfinite(estimate)
    return {
        **where,
        "estimate": estimate if known else None,
        "interval": interval if known else [None, None],
        "verdict": verdict(interval, region) if known else "inconclusive",
        **extra,
    }


def _series(data: ClaimData, claim: ClaimConfig, where: dict) -> list[FitSeries]:
    key = (claim.x, claim.y, claim.law)
    if key not in data.fitted_series:
        fit = FitConfig(x=claim.x, y=claim.y, law=claim.law)
        data.fitted_series[key] = fit_series(fit, data.runs, data.cells, data.analysis, data.resampler)
    return [s for s in data.fitted_series[key] if point_matches(s.point, where)]


def _exponent(claim: ClaimConfig, series: FitSeries) -> tuple[float | None, np.ndarray]:
    """The fitted exponent of a series and its ``[B]`` replicates (``None``: too few points)."""
    valid = np.isfinite(series.y) & (series.y > 0)
    if np.unique(series.x[valid]).size < MIN_DISTINCT_X[claim.law]:
        return None, np.full(len(series.replicates), np.nan)
    estimate, replicates = fit_with_replicates(claim.law, series.x, series.y, series.replicates)
    return estimate[EXPONENT[claim.law]], replicates[EXPONENT[claim.law]]


def _blocked(data: ClaimData, claim: ClaimConfig, series: list[FitSeries]) -> str | None:
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


def _bound_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    if claim.of == "exponent":
        chosen = _series(data, claim, claim.where)
        values = []
        for s in chosen:
            estimate, replicates = _exponent(claim, s)
            interval = None if estimate is None else _interval(estimate, replicates, s.units_per_x, data.analysis)
            values.append(_value({"series": s.point}, estimate, interval, region))
        return values, _blocked(data, claim, chosen)
    values = []
    for entry in data.outcomes:
        if point_matches(entry["point"], claim.where):
            measured = entry.get(claim.of) or {}
            values.append(_value({"point": entry["point"]}, measured.get("value"), measured.get("ci"), region))
    return values, None if values else "no grid point matches where"


def _compare_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    first, second = _series(data, claim, claim.where), _series(data, claim, claim.than or {})
    if len(first) != 1 or len(second) != 1:
        return [], f"where selects {len(first)} series and than {len(second)}: each must select one"
    (a,), (b,) = first, second
    units = min(a.units_per_x, b.units_per_x)
    if claim.measures == "exponent":
        (ea, ra), (eb, rb) = _exponent(claim, a), _exponent(claim, b)
        estimate = None if ea is None or eb is None else ea - eb
        replicates = ra - rb  # the same seeds drawn for both series
    else:
        matched = sorted(set(a.x) & set(b.x))
        if not matched:
            return [], "the two series share no x with a value"
        ia, ib = ([int(np.flatnonzero(s.x == x)[0]) for x in matched] for s in (a, b))
        estimate = float(np.exp(np.mean(np.log(a.y[ia] / b.y[ib]))))
        with np.errstate(invalid="ignore", divide="ignore"):
            replicates = np.exp(np.mean(np.log(a.replicates[:, ia] / b.replicates[:, ib]), axis=1))
    interval = None if estimate is None else _interval(estimate, replicates, units, data.analysis)
    return [_value({"series": a.point, "than": b.point}, estimate, interval, region)], _blocked(data, claim, [a, b])


def _growth_claim(data: ClaimData, claim: ClaimConfig) -> tuple[list[dict], str | None]:
    """Almost independent of x: a log law fits better than a power law, or |γ| ≤ margin (growth_verdict)."""
    chosen = _series(data, claim, claim.where)
    values = []
    for s in chosen:
        gamma, gamma_replicates = _exponent(claim, s)
        if gamma is None:
            values.append(_value({"series": s.point}, None, None, Region()))
            continue
        valid = np.isfinite(s.y) & (s.y > 0)
        both = np.vstack([s.y[valid][None], s.replicates[:, valid]])
        points = np.isfinite(both).sum(axis=1)
        gap = (fit_law_batch("power", s.x[valid], both)["loss"] - fit_log_law_batch(s.x[valid], both)["loss"]) / points
        gap_interval = _interval(float(gap[0]), gap[1:], s.units_per_x, data.analysis)
        gamma_interval = _interval(gamma, gamma_replicates, s.units_per_x, data.analysis)
        by_gap = verdict(gap_interval, Region(low=0.0))
        values.append(
            {
                "series": s.point,
                "estimate": gamma,
                "interval": gamma_interval,
                "log_minus_power_fit": {"estimate": float(gap[0]), "interval": gap_interval, "verdict": by_gap},
                "verdict": growth_verdict(gap_interval, gamma_interval, claim.margin),
            }
        )
    return values, _blocked(data, claim, chosen)


def bracket_interval(bracket: tuple[float, float], replicates: np.ndarray, seeds: int, confidence: float) -> tuple:
    """Interval of an interval-censored median: from the low ends' lower percentile to the
    high ends' upper one (a high end not reached: ∞), each expanded by √(m/(m−1)) as
    :func:`~samplelab.stats.bootstrap.expanded_percentile_interval`. ``replicates`` ``[B, 2]``."""
    low, high = bracket
    scale = np.sqrt(seeds / (seeds - 1)) if seeds > 1 else 1.0
    tail = (1 - confidence) / 2
    low_q = np.nanquantile(replicates[:, 0], tail, method="inverted_cdf")
    high_q = np.nanquantile(np.where(np.isnan(replicates[:, 1]), np.inf, replicates[:, 1]), 1 - tail,
                            method="inverted_cdf")  # fmt: skip
    return low - scale * (low - low_q), (high + scale * (high_q - high)) if np.isfinite(high) else np.inf


def _censored(where: dict, above: float, region: Region) -> dict:
    """A cell whose median is not reached: known only to exceed ``above``, which can still disagree."""
    interval = json_interval((above, None))
    return {**where, "estimate": None, "interval": interval, "verdict": verdict(interval, region), "censored": True}


def _band_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    """y ÷ x in each cell; in the fixed regime the median is interval-censored, so its
    estimate is the bracket's upper end and its interval spans the brackets' resamples; n*'s
    interval contains its grid bracket, as the cell's own CI does."""
    chosen = [cell for cell in data.cells if point_matches(cell.point, claim.where)]
    analysis, values = data.analysis, []
    for cell in chosen:
        x = float(cell.point[claim.x])
        where = {"series": {k: v for k, v in cell.point.items() if k != claim.x}, "x": x}
        if claim.y == "km_median" and data.runs.regime == "fixed" and cell.sizes:
            (low, high), replicates = cell.median_bracket, data.resampler.cell_statistic(cell, "median_bracket")
            if not np.isfinite(high):
                values.append(_censored(where, low / x, region))
                continue
            interval = json_interval(tuple(v / x for v in bracket_interval((low, high), replicates, len(cell.seeds),
                                                                             analysis.confidence)))  # fmt: skip
            values.append(_value(where, high / x, interval, region, bracket=json_interval((low / x, high / x))))
            continue
        value = (cell.n_star.value if cell.n_star else None) if claim.y == "n_star" else cell.km.median.value
        if value is None:
            budget = cell.sizes[-1] if claim.y == "n_star" and cell.sizes else float(np.max(cell.needed))
            values.append(_censored(where, budget / x, region))
            continue
        replicates = data.resampler.cell_statistic(cell, claim.y, analysis.delta, analysis.n_star_method) / x
        # A resample whose median is not reached needs more than the budget: above, not left out.
        low, high = _interval(value / x, replicates, len(cell.seeds), analysis, nan_is_above=True)
        if claim.y == "n_star":  # the grid places n* no more finely than its bracket
            bracket = [None if v is None else v / x for v in cell.n_star.bracket]
            low = None if low is None or bracket[0] is None else min(low, bracket[0])
            high = None if high is None or bracket[1] is None else max(high, bracket[1])
        values.append(_value(where, value / x, [low, high], region))
    reason = None if chosen else "no cell matches where"
    if chosen and claim.y == "n_star" and analysis.delta < 1 / min(len(c.seeds) for c in chosen):
        reason = sample_maximum_reason(analysis.delta, min(len(c.seeds) for c in chosen))
    return values, reason


def _paired_differences(data: ClaimData, claim: ClaimConfig) -> tuple[np.ndarray, int, int]:
    """``[S]`` per seed (resampler order) the mean of outcome(where) − outcome(than) over its
    pairs — runs of that seed that agree on every grid key the two selections do not name —
    NaN where a seed has none; with the number of pairs used and of pairs left out (a run
    without the outcome, e.g. diverged)."""
    named = set(claim.where) | set(claim.than or {})
    sides: tuple[dict, dict] = ({}, {})
    for record in data.runs.records:
        rest = tuple(sorted((k, repr(v)) for k, v in record.point.items() if k not in named))
        for side, selection in zip(sides, (claim.where, claim.than or {}), strict=True):
            if point_matches(record.point, selection):
                side[(record.seed, rest)] = run_outcome(record, claim.of)
    row = {int(seed): i for i, seed in enumerate(data.resampler.seeds)}
    total, count, dropped = np.zeros(len(row)), np.zeros(len(row)), 0
    for key, first in sides[0].items():
        if key not in sides[1]:
            continue
        second = sides[1][key]
        if first is None or second is None or not np.isfinite(first - second):
            dropped += 1
            continue
        total[row[key[0]]] += first - second
        count[row[key[0]]] += 1
    with np.errstate(invalid="ignore"):
        return total / count, int(count.sum()), dropped


def _paired_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    difference, pairs, dropped = _paired_differences(data, claim)
    seeds = int(np.isfinite(difference).sum())
    if seeds < 2:
        return [], f"{seeds} seed(s) have both outcomes: a paired difference needs two"
    with np.errstate(invalid="ignore"):
        replicates = np.nanmean(data.resampler.panel(difference[:, None]), axis=1)
    estimate = float(np.nanmean(difference))
    interval = _interval(estimate, replicates, seeds, data.analysis)
    where = {"point": claim.where, "than": claim.than, "seeds": seeds, "pairs": pairs, "pairs_left_out": dropped}
    return [_value(where, estimate, interval, region)], None


def _counts(data: ClaimData, where: dict) -> tuple[int, int, int]:
    chosen = [cell for cell in data.cell_documents if point_matches(cell["point"], where)]
    return sum(cell["converged"] for cell in chosen), sum(cell["seeds"] for cell in chosen), len(chosen)


def _rate_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    reached, runs, cells = _counts(data, claim.where)
    rate = {"reached": reached, "seeds": runs, "cells": cells}
    if claim.kind == "reached":
        interval = list(clopper_pearson(reached, runs, data.analysis.confidence))
        return [_value(rate, reached / runs if runs else None, interval, region)], None if runs else "no runs"
    control_reached, control_runs, control_cells = _counts(data, claim.control or {})
    control = {"reached": control_reached, "seeds": control_runs, "cells": control_cells}
    if not runs or not control_runs:
        return [], "no runs" if not runs else "no control runs"
    trials = (control_runs, runs)
    interval = list(rate_difference_interval((control_reached, reached), trials, data.analysis.confidence))
    value = _value({**rate, "control": control}, control_reached / control_runs - reached / runs, interval, region)
    if control_reached / control_runs < 1 - data.analysis.delta:
        return [value], (
            f"the control reached the threshold in {control_reached} of {control_runs} seeds (< 1 − δ = "
            f"{1 - data.analysis.delta:g}): within this budget a failure shows nothing"
        )
    return [value], None


def claim_region(claim: ClaimConfig, delta: float) -> Region:
    """The values a claim allows (its margin included)."""
    if claim.kind == "reached":
        return Region.of(above=1 - delta if claim.above is None else claim.above, margin=claim.margin or 0.0)
    if claim.kind == "not_reached":
        return Region.of(above=1 - 2 * delta if claim.above is None else claim.above, margin=claim.margin or 0.0)
    if claim.kind == "growth":
        return Region(-claim.margin, claim.margin)  # of γ, the power law's exponent (the log-law rule aside)
    return Region.of(above=claim.above, below=claim.below, within=claim.within, margin=claim.margin or 0.0)


def evaluate_claim(data: ClaimData, claim: ClaimConfig) -> dict:
    """One ``[[analysis.claims]]`` entry judged: its values, region and verdict."""
    region = claim_region(claim, data.analysis.delta)
    if claim.kind in ("bound", "equivalence"):
        values, reason = _bound_claim(data, claim, region)
    elif claim.kind == "compare":
        values, reason = _compare_claim(data, claim, region)
    elif claim.kind == "growth":
        values, reason = _growth_claim(data, claim)
    elif claim.kind == "band":
        values, reason = _band_claim(data, claim, region)
    elif claim.kind == "paired":
        values, reason = _paired_claim(data, claim, region)
    else:
        values, reason = _rate_claim(data, claim, region)
    return {
        "label": claim.label,
        "kind": claim.kind,
        "source": "claim",
        "measures": claim.measures,
        "y": claim.y if claim.x else None,
        "x": claim.x,
        "exponent": EXPONENT[claim.law] if claim.x else None,
        "where": claim.where,
        "threshold_relative": claim.threshold_relative,
        "margin": claim.margin or 0.0,
        "region": json_interval((region.low, region.high)),
        "values": values,
        "verdict": "inconclusive" if reason else combine([v["verdict"] for v in values]),
        "reason": reason,
        "coverage": None,
    }


def theory_claims(fits: list[dict]) -> list[dict]:
    """The fitted laws' theories as claims: one per label (a fit config's series, and fits
    sharing a label such as one theory read with two estimates of d, are one claim)."""
    grouped: dict[str, list[dict]] = {}
    for fit in fits:
        if fit["theory"] is not None:
            key = fit["theory"]["label"] or f"{fit['theory']['expression']} (fit {fit['fit_index']})"
            grouped.setdefault(key, []).append(fit)
    claims = []
    for label, group in grouped.items():
        values = []
        for fit in group:
            theory, exponent = fit["theory"], fit["parameters"].get(fit["exponent"]) or {}
            values.append(
                {
                    "series": fit["series"],
                    "fit_index": fit["fit_index"],
                    "estimate": exponent.get("value"),
                    "interval": exponent.get("ci", [None, None]),
                    "predicted": theory["predicted"],
                    "variables": theory["variables"],
                    "region": theory["region"],
                    "verdict": theory["verdict"],
                    "reason": theory["reason"],
                }
            )
        first = group[0]["theory"]
        kind = "equivalence" if first["relation"] == "equal" else "bound"
        reasons = sorted({v["reason"] for v in values if v["reason"]})
        claims.append(
            {
                "label": label,
                "kind": kind,
                "source": "fit",
                "measures": "exponent",
                "y": group[0]["y"],
                "x": group[0]["x"],
                "exponent": group[0]["exponent"],
                "where": {},
                "threshold_relative": group[0].get("threshold_relative"),
                "relation": first["relation"],
                "expression": first["expression"],
                "margin": first["margin"],
                "region": values[0]["region"] if len({str(v["region"]) for v in values}) == 1 else None,
                "values": values,
                "verdict": combine([v["verdict"] for v in values]),
                "reason": "; ".join(reasons) or None,
                "coverage": None,
            }
        )
    return claims
