"""The seeds' claims beside what was measured: one row per claim, with a verdict.

Two sources feed the table, both from a study's analysis document (``analyze_study``):

- every fitted law with a ``theory`` (the fitted exponent's CI against the predicted one);
- every ``[[analysis.claims]]`` entry (see :class:`~samplelab.spec.analysis.ClaimConfig`),
  checked here by :func:`check_claims`: whether runs reach the threshold, or where a final
  outcome lies against a reference value.
"""

from __future__ import annotations

from samplelab.analysis.text import EXPONENT_SYMBOL, RELATION_SYMBOL, VERDICT, exponent_text, point_text, value_ci
from samplelab.spec.analysis import AnalysisConfig, ClaimConfig, point_matches
from samplelab.stats.theory import agrees


def _reached_claim(claim: ClaimConfig, cells: list[dict], delta: float) -> dict:
    chosen = [cell for cell in cells if point_matches(cell["point"], claim.where)]
    reached = sum(cell["converged"] for cell in chosen)
    total = sum(cell["seeds"] for cell in chosen)
    fraction = reached / total if total else None
    if claim.kind == "reached":
        expected, verdict = (
            f"≥ {1 - delta:.0%} of runs reach the threshold",
            fraction is not None and fraction >= 1 - delta,
        )
    else:
        expected, verdict = f"≤ {delta:.0%} of runs reach the threshold", fraction is not None and fraction <= delta
    return {
        "measured": {"reached": reached, "runs": total, "cells": len(chosen)},
        "measured_text": f"{reached} of {total} runs reached it ({len(chosen)} cell{'s' * (len(chosen) != 1)})"
        if total
        else "no runs",
        "expected_text": expected,
        "agrees": verdict if total else None,
    }


def _outcome_claim(claim: ClaimConfig, outcomes: list[dict]) -> dict:
    chosen = [entry for entry in outcomes if point_matches(entry["point"], claim.where)]
    values = [entry.get(claim.metric) for entry in chosen]
    verdicts = [
        agrees(claim.relation, claim.reference, tuple(float("nan") if v is None else v for v in value["ci"]))
        if value and value["n"]
        else None
        for value in values
    ]
    texts = [
        value_ci(value, ".3g") + (f" at {point_text(entry['point'])}" if len(chosen) > 1 else "")
        for entry, value in zip(chosen, values, strict=True)
    ]
    return {
        "measured": [
            {"point": entry["point"], claim.metric: value} for entry, value in zip(chosen, values, strict=True)
        ],
        "measured_text": f"{claim.metric.replace('_', ' ')} {'; '.join(texts)}" if chosen else "no runs",
        "expected_text": f"{claim.metric.replace('_', ' ')} {RELATION_SYMBOL[claim.relation]} {claim.reference:g}",
        "agrees": None if not chosen or None in verdicts else all(verdicts),
    }


def check_claims(analysis: AnalysisConfig, cells: list[dict], outcomes: list[dict]) -> list[dict]:
    """Each claim of ``analysis.claims`` checked against the document's cells or outcomes."""
    results = []
    for claim in analysis.claims:
        check = (
            _outcome_claim(claim, outcomes) if claim.kind == "outcome" else _reached_claim(claim, cells, analysis.delta)
        )
        results.append({"label": claim.label, "kind": claim.kind, "where": claim.where, **check})
    return results


def claim_rows(document: dict) -> list[dict[str, str]]:
    """Rows of the claim table for one study: its fitted laws with a theory, then its claims."""
    study = f"{document['study']} [{document['profile']}]"
    rows = []
    for fit in document["fits"]:
        theory = fit["theory"]
        if not theory:
            continue
        series = ", ".join(f"{k}={v}" for k, v in fit["series"].items())
        symbol = EXPONENT_SYMBOL[fit["exponent"]]
        predicted = "no value" if theory["predicted"] is None else f"{theory['predicted']:.3g}"
        rows.append(
            {
                "study": study,
                "claim": theory["label"] or theory["expression"],
                "measured": f"{fit['y']}: {exponent_text(fit)}" + (f" ({series})" if series else ""),
                "expected": f"{symbol} {RELATION_SYMBOL[theory['relation']]} {predicted}",
                "verdict": VERDICT[theory["agrees"]],
            }
        )
    for claim in document.get("claims", []):
        rows.append(
            {
                "study": study,
                "claim": claim["label"],
                "measured": claim["measured_text"],
                "expected": claim["expected_text"],
                "verdict": VERDICT[claim["agrees"]],
            }
        )
    return rows
