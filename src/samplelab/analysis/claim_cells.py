"""Claims judged cell by cell: a band on data needed ÷ x, a paired difference of outcomes
per seed, success rates (one, or against a control), and a trend over ordered cells (or
over the exponents of ordered series)."""

from __future__ import annotations

import numpy as np

from samplelab.analysis.claim_data import (
    ClaimData,
    blocked_reason,
    claim_interval,
    claim_value,
    matching_series,
    series_exponent,
)
from samplelab.analysis.fits import cell_median, sample_maximum_reason
from samplelab.analysis.outcomes import run_outcome
from samplelab.analysis.text import json_interval
from samplelab.spec.claims import ClaimConfig, point_matches, trend_fields
from samplelab.stats.bootstrap import student_interval
from samplelab.stats.verdict import Region, clopper_pearson, rate_difference_interval, verdict


def bracket_interval(
    bracket: tuple[float, float], replicates: np.ndarray, seeds: int, confidence: float, method: str = "percentile"
) -> tuple:
    """Interval of an interval-censored median: from the low ends' lower percentile to the
    high ends' upper one (a high end not reached: ∞), each expanded by √(m/(m−1)) as
    :func:`~samplelab.stats.bootstrap.expanded_percentile_interval`; with ``method`` "student",
    from the low end's to the high end's Student interval. ``replicates`` ``[B, 2]``."""
    low, high = bracket
    if method == "student":
        below = student_interval(low, replicates[:, 0], confidence, seeds)[0]
        above = student_interval(high, replicates[:, 1], confidence, seeds, nan_is_above=True)[1]
        return below, above if np.isfinite(high) else np.inf
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


def band_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
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
                                                                             analysis.confidence, analysis.interval)))  # fmt: skip
            values.append(claim_value(where, high / x, interval, region, bracket=json_interval((low / x, high / x))))
            continue
        value = (cell.n_star.value if cell.n_star else None) if claim.y == "n_star" else cell.km.median.value
        if value is None:
            budget = cell.sizes[-1] if claim.y == "n_star" and cell.sizes else float(np.max(cell.needed))
            values.append(_censored(where, budget / x, region))
            continue
        replicates = data.resampler.cell_statistic(cell, claim.y, analysis.delta, analysis.n_star_method) / x
        # A resample whose median is not reached needs more than the budget: above, not left out.
        low, high = claim_interval(value / x, replicates, len(cell.seeds), analysis, nan_is_above=True)
        if claim.y == "n_star":  # the grid places n* no more finely than its bracket
            bracket = [None if v is None else v / x for v in cell.n_star.bracket]
            low = None if low is None or bracket[0] is None else min(low, bracket[0])
            high = None if high is None or bracket[1] is None else max(high, bracket[1])
        values.append(claim_value(where, value / x, [low, high], region))
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


def paired_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    difference, pairs, dropped = _paired_differences(data, claim)
    seeds = int(np.isfinite(difference).sum())
    if seeds < 2:
        return [], f"{seeds} seed(s) have both outcomes: a paired difference needs two"
    with np.errstate(invalid="ignore"):
        replicates = np.nanmean(data.resampler.panel(difference[:, None]), axis=1)
    estimate = float(np.nanmean(difference))
    interval = claim_interval(estimate, replicates, seeds, data.analysis)
    where = {"point": claim.where, "than": claim.than, "seeds": seeds, "pairs": pairs, "pairs_left_out": dropped}
    return [claim_value(where, estimate, interval, region)], None


def _counts(data: ClaimData, where: dict) -> tuple[int, int, int]:
    chosen = [cell for cell in data.cell_documents if point_matches(cell["point"], where)]
    return sum(cell["converged"] for cell in chosen), sum(cell["seeds"] for cell in chosen), len(chosen)


def rate_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    reached, runs, cells = _counts(data, claim.where)
    rate = {"reached": reached, "seeds": runs, "cells": cells}
    if claim.kind == "reached":
        interval = list(clopper_pearson(reached, runs, data.analysis.confidence))
        return [claim_value(rate, reached / runs if runs else None, interval, region)], None if runs else "no runs"
    control_reached, control_runs, control_cells = _counts(data, claim.control or {})
    control = {"reached": control_reached, "seeds": control_runs, "cells": control_cells}
    if not runs or not control_runs:
        return [], "no runs" if not runs else "no control runs"
    trials = (control_runs, runs)
    interval = list(rate_difference_interval((control_reached, reached), trials, data.analysis.confidence))
    value = claim_value({**rate, "control": control}, control_reached / control_runs - reached / runs, interval, region)
    if control_reached / control_runs < 1 - data.analysis.delta:
        return [value], (
            f"the control reached the threshold in {control_reached} of {control_runs} seeds (< 1 − δ = "
            f"{1 - data.analysis.delta:g}): within this budget a failure shows nothing"
        )
    return [value], None


def trend_slope(rank: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``y`` ``[..., K]`` against the centred ``rank`` ``[K]``, rounded to
    1e-12: medians are grid values, so equal ones must give exactly 0, not ±1e-17."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round(y @ rank / (rank @ rank), 12)


def _trend_value(data: ClaimData, where: dict, measured: np.ndarray, replicates: np.ndarray, units: int,
                 region: Region) -> dict:  # fmt: skip
    """The trend of ``measured`` ``[K]`` (its ``[B, K]`` replicates) over the ranks of its cells, judged."""
    rank = np.arange(measured.size) - (measured.size - 1) / 2
    estimate = float(trend_slope(rank, measured))
    interval = claim_interval(estimate, trend_slope(rank, replicates), units, data.analysis)
    return claim_value(where, estimate, interval, region)


def _exponent_trend(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    """Δ exponent per step along the series fitted against ``x``, ordered by ``along``; one
    trend per setting of the other keys, every series fitted on the same whole-seed draws."""
    fields = trend_fields(claim)
    groups: dict[tuple, list] = {}
    for series in matching_series(data, claim, claim.where):
        rest = tuple((k, v) for k, v in series.point.items() if k not in fields)
        groups.setdefault(rest, []).append(series)
    values, reasons = [], []
    for rest, chosen in groups.items():
        chosen.sort(key=lambda s: tuple(s.point[f] for f in fields))
        fitted = [series_exponent(claim, s) for s in chosen]
        order = [",".join(str(s.point[f]) for f in fields) for s in chosen]
        where = {"series": dict(rest), "order": order, "y": [e for e, _ in fitted]}
        if len(chosen) < 2 or any(e is None for e, _ in fitted):
            values.append(claim_value(where, None, None, region))
            missing = ", ".join(o for o, (e, _) in zip(order, fitted, strict=True) if e is None)
            reasons.append(f"too few points to fit at {missing}" if missing else "a trend needs two series")
            continue
        measured, replicates = np.array([e for e, _ in fitted]), np.stack([r for _, r in fitted], axis=1)
        values.append(_trend_value(data, where, measured, replicates, min(s.units_per_x for s in chosen), region))
        reasons.append(blocked_reason(data, claim, chosen))
    reason = "; ".join(r for r in reasons if r) or (None if values else "no series matches where")
    return values, reason


def trend_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    """Δ ln y per step along the cells ordered by ``along`` (the values of its comma-joined
    fields, compared as tuples): the least-squares slope of ln y against the cells' rank, one
    per series (the values of the other keys), on the same whole-seed resamples for every
    cell. With ``of = "exponent"``: Δ exponent per step along the fitted series instead."""
    if claim.of == "exponent":
        return _exponent_trend(data, claim, region)
    fields = trend_fields(claim)
    groups: dict[tuple, list] = {}
    for cell in data.cells:
        if point_matches(cell.point, claim.where):
            rest = tuple((k, v) for k, v in cell.point.items() if k not in fields)
            groups.setdefault(rest, []).append(cell)
    values, reasons = [], []
    tail = (1 - data.analysis.confidence) / 2
    for rest, cells in groups.items():
        cells.sort(key=lambda c: tuple(c.point[f] for f in fields))
        measured = [cell_median(c, claim.y, data.runs.regime) for c in cells]
        rows = [data.resampler.cell_statistic(c, s, data.analysis.delta, data.analysis.n_star_method) for c, (_, s) in
                zip(cells, measured, strict=True)]  # fmt: skip
        replicates = np.stack([r[:, 1] if r.ndim == 2 else r for r in rows], axis=1)  # [B, K]
        order = [",".join(str(c.point[f]) for f in fields) for c in cells]
        where = {"series": dict(rest), "order": order, "y": [m[0] for m in measured]}
        if len(cells) < 2 or any(value is None for value, _ in measured):
            values.append(claim_value(where, None, None, region))
            missing = ", ".join(o for o, (v, _) in zip(order, measured, strict=True) if v is None)
            reasons.append(f"{claim.y} not reached at {missing}" if missing else "a trend needs two cells")
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(replicates)
        units = min(len(c.seeds) for c in cells)
        values.append(_trend_value(data, where, np.log([v for v, _ in measured]), logs, units, region))
        unreached = float(np.isnan(logs).any(axis=1).mean())
        if unreached > tail:
            reasons.append(f"the median is not reached within the budget in {unreached:.0%} of seed resamples")
        if claim.y == "n_star" and data.analysis.delta < 1 / units:
            reasons.append(sample_maximum_reason(data.analysis.delta, units))
    reason = "; ".join(reasons) or (None if values else "no cell matches where")
    return values, reason
