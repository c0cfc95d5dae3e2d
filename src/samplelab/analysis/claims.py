"""Claims → verdicts: each ``[[analysis.claims]]`` entry and each fitted law's ``theory``,
measured on whole-seed resamples and judged three ways against the region it allows.

One entry per claim, whatever the number of series or points it covers: its ``values``
list one estimate and interval per series / point / x, and its verdict combines theirs
(:func:`samplelab.stats.verdict.combine`). Rules per kind: docs/analysis.md, "Claims".
"""

from __future__ import annotations

import numpy as np

from samplelab.analysis.claim_cells import band_claim, paired_claim, rate_claim, trend_claim
from samplelab.analysis.claim_data import (
    ClaimData,
    blocked_reason,
    claim_interval,
    claim_value,
    matching_series,
    series_exponent,
)
from samplelab.analysis.fits import theory_region
from samplelab.analysis.text import json_interval
from samplelab.spec.analysis import AnalysisConfig
from samplelab.spec.claims import ClaimConfig, point_matches
from samplelab.stats.powerlaw import EXPONENT, fit_law_batch, fit_log_law_batch
from samplelab.stats.theory import evaluate_expression
from samplelab.stats.verdict import Region, combine, growth_verdict, verdict


def _bound_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    if claim.of == "exponent":
        chosen = matching_series(data, claim, claim.where)
        values = []
        for s in chosen:
            estimate, replicates = series_exponent(claim, s)
            interval = None if estimate is None else claim_interval(estimate, replicates, s.units_per_x, data.analysis)
            values.append(claim_value({"series": s.point}, estimate, interval, region))
        return values, blocked_reason(data, claim, chosen)
    values = []
    for entry in data.outcomes:
        if point_matches(entry["point"], claim.where):
            measured = entry.get(claim.of) or {}
            values.append(claim_value({"point": entry["point"]}, measured.get("value"), measured.get("ci"), region))
    return values, None if values else "no grid point matches where"


def _compare_claim(data: ClaimData, claim: ClaimConfig, region: Region) -> tuple[list[dict], str | None]:
    first, second = matching_series(data, claim, claim.where), matching_series(data, claim, claim.than or {})
    if len(first) != 1 or len(second) != 1:
        return [], f"where selects {len(first)} series and than {len(second)}: each must select one"
    (a,), (b,) = first, second
    units = min(a.units_per_x, b.units_per_x)
    if claim.measures == "exponent":
        (ea, ra), (eb, rb) = series_exponent(claim, a), series_exponent(claim, b)
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
    interval = None if estimate is None else claim_interval(estimate, replicates, units, data.analysis)
    return [claim_value({"series": a.point, "than": b.point}, estimate, interval, region)], blocked_reason(
        data, claim, [a, b]
    )


def _growth_claim(data: ClaimData, claim: ClaimConfig) -> tuple[list[dict], str | None]:
    """Almost independent of x: a log law fits better than a power law, or |γ| ≤ margin (growth_verdict)."""
    chosen = matching_series(data, claim, claim.where)
    values = []
    for s in chosen:
        gamma, gamma_replicates = series_exponent(claim, s)
        if gamma is None:
            values.append(claim_value({"series": s.point}, None, None, Region()))
            continue
        valid = np.isfinite(s.y) & (s.y > 0)
        both = np.vstack([s.y[valid][None], s.replicates[:, valid]])
        points = np.isfinite(both).sum(axis=1)
        gap = (fit_law_batch("power", s.x[valid], both)["loss"] - fit_log_law_batch(s.x[valid], both)["loss"]) / points
        gap_interval = claim_interval(float(gap[0]), gap[1:], s.units_per_x, data.analysis)
        gamma_interval = claim_interval(gamma, gamma_replicates, s.units_per_x, data.analysis)
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
    return values, blocked_reason(data, claim, chosen)


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
        values, reason = band_claim(data, claim, region)
    elif claim.kind == "trend":
        values, reason = trend_claim(data, claim, region)
    elif claim.kind == "paired":
        values, reason = paired_claim(data, claim, region)
    else:
        values, reason = rate_claim(data, claim, region)
    return {
        "label": claim.label,
        "kind": claim.kind,
        "source": "claim",
        "measures": claim.measures,
        "y": claim.y if claim.x or claim.kind == "trend" else None,
        "x": claim.x,
        "x_measure": claim.x_measure,
        "along": claim.along,
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


def theory_label(index: int, fit) -> str:
    """The label of fit ``index``'s theory claim: the theory's own, or its expression and fit."""
    return fit.theory.label or f"{fit.theory.exponent} (fit {index})"


def theory_fits(analysis: AnalysisConfig, claim: dict) -> list[int]:
    """Indices of the fits whose theory is ``claim`` (a fit claim: one label at one threshold)."""
    return [
        i
        for i, fit in enumerate(analysis.fits)
        if fit.theory is not None
        and theory_label(i, fit) == claim["label"]
        and fit.threshold_relative == claim["threshold_relative"]
    ]


def unfitted_theory_claims(analysis: AnalysisConfig, fits: list[dict]) -> list[dict]:
    """A claim for each theory no fit gave a series to (none stored, or the fit's ``where``
    selects none), inconclusive, so that a claim is never missing from the table; one per
    label, as :func:`theory_claims` makes them."""
    keys = {i: (theory_label(i, fit), fit.threshold_relative) for i, fit in enumerate(analysis.fits) if fit.theory}
    fitted = {keys[fit["fit_index"]] for fit in fits if fit["fit_index"] in keys}
    claims = {}
    for index, fit in enumerate(analysis.fits):
        theory = fit.theory
        if theory is None or keys[index] in fitted or keys[index] in claims:
            continue
        label = keys[index][0]
        margin = theory.margin or 0.0
        region = None  # a prediction from the runs' variables has none until they are measured
        if not theory.variables:
            predicted = evaluate_expression(theory.exponent, {})
            region = theory_region(theory.relation, (predicted, predicted), margin)
        claims[keys[index]] = {
            "label": label,
            "kind": "equivalence" if theory.relation == "equal" else "bound",
            "source": "fit",
            "measures": "exponent",
            "y": fit.y,
            "x": fit.x,
            "exponent": EXPONENT[fit.law],
            "where": {},
            "threshold_relative": fit.threshold_relative,
            "relation": theory.relation,
            "expression": theory.exponent,
            "margin": margin,
            "region": None if region is None else json_interval((region.low, region.high)),
            "values": [],
            "verdict": "inconclusive",
            "reason": "no series fitted: its runs are not stored, or its where selects none",
            "coverage": None,
        }
    return list(claims.values())


def theory_claims(fits: list[dict]) -> list[dict]:
    """The fitted laws' theories as claims: one per label (a fit config's series, and fits
    sharing a label such as one theory read with two estimates of d, are one claim)."""
    grouped: dict[str, list[dict]] = {}
    for fit in fits:
        if fit["theory"] is not None:
            label = fit["theory"]["label"] or f"{fit['theory']['expression']} (fit {fit['fit_index']})"
            grouped.setdefault((label, fit.get("threshold_relative")), []).append(fit)
    claims = []
    for (label, _), group in grouped.items():
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
                    "predicted_range": theory.get("predicted_range"),
                    "variables_ci": theory.get("variables_ci") or {},
                    "estimators": theory.get("estimators") or {},
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
