"""Claims' intervals as calibrated on their study's own design (``bench/calibration.py``).

``calibration.json`` holds, per shipped study, profile and interval kind, the coverage of
the nominal 95% interval measured on simulated studies of that design, and the least factor
by which widening the intervals about their estimates makes them cover in 95% of the
simulated studies. A claim whose study, profile and kind have an entry is widened by that
factor (never narrowed) and judged again — but only where the measured coverage falls
short of 95% by more than two Monte Carlo standard errors (1.4 points at 1,000 studies),
so that simulation noise is not chased, and only where a finite factor exists (an interval
of zero width, as a grid can give, cannot be widened into covering). Its ``coverage`` says
what was measured. Other
claims — another study, profile or confidence level, or a kind not simulated (growth, rates,
exponents of learning curves) — keep their interval and ``coverage`` null.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

from samplelab.stats.verdict import Region, combine, verdict

CALIBRATED_CONFIDENCE = 0.95


@cache
def _entries() -> tuple[str, dict[tuple[str, str, str], tuple[float, float]]]:
    """The calibration's settings, and per (study, profile, kind) the least coverage over its
    simulated series and the widening to apply (1: none)."""
    path = Path(__file__).with_name("calibration.json")
    if not path.exists():
        return "", {}
    document = json.loads(path.read_text())
    shortfall = 2 * math.sqrt(CALIBRATED_CONFIDENCE * (1 - CALIBRATED_CONFIDENCE) / document["studies"])
    table: dict[tuple[str, str, str], tuple[float, float]] = {}
    for entry in document["entries"]:
        key = (entry["study"], entry["profile"], entry["kind"])
        coverage, widen = table.get(key, (1.0, 1.0))
        short = entry["coverage"] < CALIBRATED_CONFIDENCE - shortfall and math.isfinite(entry["widen_by"])
        table[key] = (min(coverage, entry["coverage"]), max(widen, entry["widen_by"] if short else 1.0))
    return f"{document['command']} ({document['settings']}, {document['date']})", table


def interval_kind(claim: dict) -> str | None:
    """Which simulated interval a claim's interval is: exponent, compare, band, paired, or none."""
    data_needed = claim.get("y") in ("km_median", "n_star")
    if claim["kind"] in ("bound", "equivalence") and claim["measures"] == "exponent" and data_needed:
        return "exponent"
    if claim["kind"] == "compare" and claim["measures"] == "exponent":
        return "compare"
    if claim["kind"] == "band":
        return "band"
    if claim["kind"] == "paired":
        return "paired"
    return None


def _widen(interval: list, estimate: float, factor: float) -> list:
    low, high = interval
    return [
        None if low is None else estimate - factor * (estimate - low),
        None if high is None else estimate + factor * (high - estimate),
    ]


def calibrate(claims: list[dict], study: str, profile: str, confidence: float) -> list[dict]:
    """The claims with their intervals widened as their design's calibration says (see the module docstring)."""
    settings, table = _entries()
    for claim in claims:
        kind = interval_kind(claim)
        entry = table.get((study, profile, kind)) if kind and confidence == CALIBRATED_CONFIDENCE else None
        if entry is None:
            continue
        coverage, factor = entry
        region = Region.from_limits(claim["region"])
        for value in claim["values"]:
            if value.get("estimate") is None or factor <= 1.0:
                continue
            value["interval"] = _widen(value["interval"], value["estimate"], factor)
            value_region = Region.from_limits(value.get("region")) or region
            if value_region is not None and value.get("reason") is None:
                value["verdict"] = verdict(value["interval"], value_region)
        if not claim["reason"]:
            claim["verdict"] = combine([v["verdict"] for v in claim["values"]])
        claim["coverage"] = {
            "nominal": confidence,
            "simulated": coverage,
            "widened_by": factor,
            "calibration": settings,
        }
    return claims
