"""The claim table: one row per claim of an analysis document — what it measures, what was
measured (each series or point with its interval), the region it allows, and its verdict."""

from __future__ import annotations

from samplelab.analysis.text import EXPONENT_SYMBOL, interval_text, point_text, prediction_text, threshold_text
from samplelab.stats.verdict import Region

VERDICT_COUNTS = ("agrees", "disagrees", "inconclusive")


def claim_symbol(claim: dict) -> str:
    """What a claim measures, as a symbol (``γ``, ``km_median ÷ set_size``, ``Δ test accuracy`` …)."""
    measures = claim["measures"]
    exponent = EXPONENT_SYMBOL.get(claim.get("exponent") or "", "γ")
    return {
        "exponent": f"{exponent}(where) − {exponent}(than)" if claim["kind"] == "compare" else exponent,
        "ratio": f"{claim.get('y')}(where) / {claim.get('y')}(than)",
        "growth": "γ",
        "trend": f"Δ {exponent if claim.get('x') else 'ln ' + str(claim.get('y'))} per step in {claim.get('along')}",
        "per_x": f"{claim.get('y')} ÷ {(claim.get('x') or 'x').split('.')[-1]}",
        "rate": "success rate" if claim["kind"] == "reached" else "rate(control) − rate",
    }.get(measures, ("Δ " if claim["kind"] == "paired" else "") + measures.replace("_", " "))


def _number(value: float | None, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def _value_text(claim: dict, value: dict, many: bool) -> str:
    if claim["kind"] in ("reached", "not_reached") and "reached" in value:
        text = f"{value['reached']} of {value['seeds']} seeds reached it"
        if "control" in value:
            text += f", control {value['control']['reached']} of {value['control']['seeds']}"
        return f"{text}: {_number(value['estimate'])} {interval_text(value['interval'], '.3g')}"
    where = ""
    if many or claim["kind"] in ("compare", "paired"):
        parts = [point_text(value.get("series") or value.get("point") or {}, "")]
        if "than" in value:
            parts.append(f"{'−' if claim['kind'] == 'paired' else 'vs'} {point_text(value['than'] or {}, 'all')}")
        if "x" in value:
            parts.append(f"x={value['x']:g}")
        where = " ".join(p for p in parts if p) + ": "
    if value.get("censored"):
        return f"{where}not reached"
    text = f"{where}{_number(value['estimate'])} {interval_text(value['interval'], '.3g')}"
    if "predicted" in value and value["predicted"] is not None and (many or value.get("predicted_range")):
        text += f" (predicted {prediction_text(value)})"
    return text


def _allows_text(claim: dict, symbol: str) -> str:
    margin = claim["margin"]
    if claim["kind"] == "growth":
        return f"almost independent of x: a log law fits better than a power law, or |γ| ≤ {margin:g}"
    region = claim["region"]
    if region is None:  # a theory whose prediction differs by series
        values = ", ".join(
            _number(v["predicted"])
            + (f" {interval_text(v['predicted_range'], '.3g')}" if v.get("predicted_range") else "")
            for v in claim["values"]
        )
        relation = {"equal": "=", "above": "≥", "below": "≤"}[claim["relation"]]
        values = f" ({values})" if values else ""
        return f"{symbol} {relation} {claim['expression']}{values}, margin {margin:g}"
    text = Region.from_limits(region).text(symbol)
    if claim["kind"] == "not_reached":
        text += ", once the control reaches it in ≥ 1 − δ of its runs"
    return text + (f" (margin {margin:g})" if margin else "")


def _coverage_text(claim: dict) -> str:
    """The interval's coverage measured on the study's design (bench/calibration.py), if it
    was; and for a sequential design the look that judged it."""
    text = _simulated_text(claim)
    look = claim.get("sequential")
    if look:
        kind = {"student": ", Student's", "exact": ""}.get(look.get("interval"), "")
        text += (
            f"; look {look['look']} of {look['looks']} ({look['seeds']} seeds, {look['confidence']:.3g}{kind}): "
            f"{look['stopped']}"
        )
    return text


def _simulated_text(claim: dict) -> str:
    coverage = claim.get("coverage")
    if claim["kind"] in ("reached", "not_reached"):
        return "exact (Clopper–Pearson)"
    if not coverage:
        return "not simulated"

    def text(entry: dict) -> str:
        widened = f", widened ×{entry['widened_by']:.2f}" if entry["widened_by"] > 1 else ""
        return f"{entry['simulated']:.0%} simulated{widened}"

    if claim["kind"] == "growth":  # two intervals: D's (log against power law) and γ's
        return f"D {text(coverage)}; γ " + (text(coverage["gamma"]) if coverage.get("gamma") else "not simulated")
    return text(coverage)


def claim_rows(document: dict) -> list[dict[str, str]]:
    """Rows of the claim table for one study: study, claim, kind, measured, allows, coverage, verdict."""
    study = f"{document['study']} [{document['profile']}]"
    rows = []
    for claim in document.get("claims", []):
        symbol = claim_symbol(claim)
        many = len(claim["values"]) > 1
        measured = "; ".join(_value_text(claim, v, many) for v in claim["values"]) or "nothing measured"
        if claim["measures"] not in ("rate",) and claim["kind"] != "compare":
            measured = f"{symbol} = {measured}" if not many else f"{symbol}: {measured}"
        measured += threshold_text(claim)
        if claim["reason"]:
            measured += f" — {claim['reason']}"
        rows.append(
            {
                "study": study,
                "claim": claim["label"],
                "kind": claim["kind"],
                "measured": measured,
                "allows": _allows_text(claim, symbol),
                "coverage": _coverage_text(claim),
                "verdict": claim["verdict"],
            }
        )
    return rows


def verdict_counts(rows: list[dict[str, str]]) -> dict[str, int]:
    """How many rows of each verdict."""
    return {v: sum(r["verdict"] == v for r in rows) for v in VERDICT_COUNTS}
