"""Claims' intervals as calibrated on their study's own design (``bench/calibration.py``).

``calibration.json`` holds, per shipped study, profile and interval kind, the coverage of
the nominal 95% interval measured on simulated studies of that design, and the least factor
by which widening the intervals about their estimates makes them cover in 95% of the
simulated studies. A claim whose study, profile and kind have an entry is widened by that
factor (never narrowed) and judged again — but only where the measured coverage falls
short of 95% by more than two Monte Carlo standard errors (1.4 points at 1,000 studies),
so that simulation noise is not chased, and only where a finite factor exists (an interval
of zero width, as a grid can give, cannot be widened into covering). Its ``coverage`` says
what was measured. A growth claim has two intervals: γ's takes its design's exponent
factor, and D's (log-law against power-law fit) its own, and the growth rule is applied
again. Other claims — another study, profile or confidence level, or a kind not simulated
(rates, whose exact intervals need none) — keep their interval and ``coverage`` null.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

from samplelab.stats.verdict import Region, combine, growth_verdict, verdict

CALIBRATED_CONFIDENCE = 0.95


@cache
def _entries() -> dict[tuple[str, str, str], tuple[float, float, str]]:
    """Per (study, profile, kind): the least coverage over its simulated series, the widening
    to apply (1: none), and the bench run that measured it (each entry's ``calibration``:
    command, settings and date; a partial run, ``bench/calibration.py --only …``, replaces
    only its own entries)."""
    path = Path(__file__).with_name("calibration.json")
    if not path.exists():
        return {}
    table: dict[tuple[str, str, str], tuple[float, float, str]] = {}
    for entry in json.loads(path.read_text())["entries"]:
        key = (entry["study"], entry["profile"], entry["kind"])
        coverage, widen, _ = table.get(key, (1.0, 1.0, ""))
        widen = max(widen, applied_widening(entry["coverage"], entry["widen_by"], entry["studies"]))
        table[key] = (min(coverage, entry["coverage"]), widen, entry["calibration"])
    return table


def applied_widening(coverage: float, widen_by: float, studies: int) -> float:
    """The factor a simulated interval kind is widened by: ``widen_by`` where its ``coverage``
    (over ``studies`` simulated studies) falls short of 95% by more than two Monte Carlo
    SEs and the factor is finite; else 1 (see the module docstring)."""
    shortfall = 2 * math.sqrt(CALIBRATED_CONFIDENCE * (1 - CALIBRATED_CONFIDENCE) / studies)
    return widen_by if coverage < CALIBRATED_CONFIDENCE - shortfall and math.isfinite(widen_by) else 1.0


CURVE_METRICS = ("final_metric", "early_stopped_metric")


def interval_kind(claim: dict) -> str | None:
    """Which simulated interval a claim's interval is: ``exponent`` (of data needed),
    ``curve_exponent`` (of a learning curve), ``compare``, ``band``, ``paired``, ``growth``,
    ``trend`` (of data needed), ``exponent_trend`` (of fitted exponents), or none."""
    if claim["kind"] in ("bound", "equivalence") and claim["measures"] == "exponent":
        if claim.get("y") in ("km_median", "n_star"):
            return "exponent"
        return "curve_exponent" if claim.get("y") in CURVE_METRICS else None
    if claim["kind"] == "compare" and claim["measures"] == "exponent":
        return "compare"
    if claim["kind"] in ("band", "paired", "growth"):
        return claim["kind"]
    if claim["kind"] == "trend":
        return "exponent_trend" if claim.get("x") else "trend"
    return None


def _widen(interval: list, estimate: float, factor: float) -> list:
    low, high = interval
    return [
        None if low is None else estimate - factor * (estimate - low),
        None if high is None else estimate + factor * (high - estimate),
    ]


def _coverage(confidence: float, entry: tuple[float, float, str]) -> dict:
    coverage, factor, source = entry
    return {"nominal": confidence, "simulated": coverage, "widened_by": factor, "calibration": source}


def widen_claim(claim: dict, factor: float, gap_factor: float | None = None) -> None:
    """Widen every value's interval of ``claim`` about its estimate by ``factor`` (a growth
    claim's D interval by ``gap_factor``, default ``factor``) and judge it again; a factor
    ≤ 1 leaves that interval as it is."""
    gap_factor = factor if gap_factor is None else gap_factor
    if factor <= 1.0 and gap_factor <= 1.0:
        return
    region = Region.from_limits(claim["region"])
    for value in claim["values"]:
        if value.get("estimate") is None:
            continue
        if factor > 1.0:
            value["interval"] = _widen(value["interval"], value["estimate"], factor)
        fitted = value.get("log_minus_power_fit")
        if fitted is not None:
            if gap_factor > 1.0 and fitted.get("estimate") is not None:
                fitted["interval"] = _widen(fitted["interval"], fitted["estimate"], gap_factor)
                fitted["verdict"] = verdict(fitted["interval"], Region(low=0.0))
            value["verdict"] = growth_verdict(fitted["interval"], value["interval"], claim["margin"])
            continue
        value_region = Region.from_limits(value.get("region")) or region
        if value_region is not None and value.get("reason") is None:
            value["verdict"] = verdict(value["interval"], value_region)
    if (
        not claim["reason"] or claim.get("source") == "fit"
    ):  # a theory's claim combines its series whatever their reasons
        claim["verdict"] = combine([v["verdict"] for v in claim["values"]])


def calibrate(
    claims: list[dict], study: str, profile: str, confidence: float, *, any_level: bool = False
) -> list[dict]:
    """The claims with their intervals widened as their design's calibration says (see the
    module docstring); with ``any_level``, also at a confidence other than 95% (a sequential
    look's: the factor its design's 95% interval needed, never narrowing)."""
    table = _entries()
    if confidence != CALIBRATED_CONFIDENCE and not any_level:
        return claims
    for claim in claims:
        kind = interval_kind(claim)
        entry = table.get((study, profile, kind)) if kind else None
        if entry is None:
            continue
        if kind == "growth":  # γ as its design's exponents, D as its own simulated coverage says
            gamma = table.get((study, profile, "exponent"))
            widen_claim(claim, gamma[1] if gamma else 1.0, entry[1])
            claim["coverage"] = {**_coverage(confidence, entry), "gamma": gamma and _coverage(confidence, gamma)}
        else:
            widen_claim(claim, entry[1])
            claim["coverage"] = _coverage(confidence, entry)
    return claims
