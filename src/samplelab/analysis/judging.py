"""A study's claims judged on its stored runs: the cells at each threshold a fit or claim
reads, the fitted laws, and every claim's verdict, calibration included.

The analysis document (:mod:`samplelab.analysis.document`) prints one judgement of all the
stored runs; the sequential design (:mod:`samplelab.analysis.sequential`) makes one per look,
each on the seeds that look reads and at the confidence it spends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samplelab.analysis.calibration import calibrate
from samplelab.analysis.cells import Cell, collect_cells
from samplelab.analysis.claim_data import ClaimData
from samplelab.analysis.claims import evaluate_claim, theory_claims, unfitted_theory_claims
from samplelab.analysis.fits import fit_json, fit_series, sample_maximum_reason
from samplelab.analysis.outcomes import cell_outcomes
from samplelab.analysis.resample import SeedResampler
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import json_interval
from samplelab.ledger.store import RunRecord
from samplelab.spec.analysis import AnalysisConfig
from samplelab.stats.interval_censored import first_success, survival_at_sizes


@dataclass(frozen=True)
class Judgement:
    """One judgement of a study's claims: the claim data at each threshold (the study's:
    ``None``), the outcome entries, the fitted laws and the claims, in the document's forms."""

    at_threshold: dict[float | None, ClaimData]
    outcomes: list[dict]
    fits: list[dict]
    claims: list[dict]


def judge_claims(runs: StudyRuns, analysis: AnalysisConfig, seed: int = 0, *, any_level: bool = False) -> Judgement:
    """Every fit and claim of ``analysis`` on ``runs``, at ``analysis.confidence``.

    The seed bootstrap is drawn from ``seed``. Intervals are widened by their design's
    calibration at 95% only, or also at another level when ``any_level`` (a sequential
    look: widening never narrows an interval).
    """
    resampler = SeedResampler((r.seed for r in runs.records), analysis.bootstrap, np.random.default_rng([seed, 7]))
    outcomes = cell_outcomes(runs, analysis, seed) if analysis.outcomes else []
    at_threshold: dict[float | None, ClaimData] = {}
    for fraction in analysis.threshold_fractions:
        measured = runs if fraction is None else runs.at_threshold_relative(fraction)
        cells = collect_cells(measured, analysis, seed)
        documents = [_cell_json(cell, analysis.delta) for cell in cells]
        at_threshold[fraction] = ClaimData(measured, cells, documents, outcomes, analysis, resampler)
    fits = []
    for index, fit in enumerate(analysis.fits):
        data = at_threshold[fit.threshold_relative]
        for series in fit_series(fit, data.runs, data.cells, analysis, resampler):
            if all(series.point.get(key) == value for key, value in fit.where.items()):
                fitted = fit_json(fit, series, analysis)
                fits.append({"fit_index": index, "threshold_relative": fit.threshold_relative, **fitted})
    claims = theory_claims(fits) + unfitted_theory_claims(analysis, fits)
    claims += [evaluate_claim(at_threshold[c.threshold_relative], c) for c in analysis.claims]
    claims = calibrate(claims, runs.study.name, runs.study.profile, analysis.confidence, any_level=any_level)
    theory_verdicts_as_judged(fits, claims)
    return Judgement(at_threshold, outcomes, fits, claims)


def theory_verdicts_as_judged(fits: list[dict], claims: list[dict]) -> None:
    """Each fit's ``theory.verdict`` as its claim judged it, calibration included."""
    for claim in claims:
        if claim["source"] != "fit":
            continue
        for value in claim["values"]:
            for fit in fits:
                if fit["fit_index"] == value["fit_index"] and fit["series"] == value["series"]:
                    fit["theory"]["verdict"] = value["verdict"]


def _cell_json(cell: Cell, delta: float) -> dict:
    km = cell.km
    result = {
        "point": cell.point,
        "threshold": cell.threshold,
        "runs": len(cell.records),
        "seeds": len(cell.seeds),
        "converged": km.events,
        "censored": km.total - km.events,
        "converged_fraction": km.converged_fraction,
        "diverged_runs": cell.diverged_runs,
        "per_seed": {
            str(s): (float(n) if r else None) for s, n, r in zip(cell.seeds, cell.needed, cell.reached, strict=True)
        },
        "km": {
            f"{q.p:g}": {"value": q.value, "ci": json_interval(q.ci)}
            for q in sorted(km.quantiles.values(), key=lambda q: q.p)
        },
        "n_star": None,
    }
    if cell.n_star is not None:
        ns = cell.n_star
        result["n_star"] = {
            "value": ns.value,
            "ci": json_interval(ns.ci),
            "bracket": json_interval(ns.bracket),
            "sizes": ns.sizes,
            "success_rate": ns.success_rate,
            "warning": sample_maximum_reason(delta, len(cell.seeds)) if delta < 1 / len(cell.seeds) else None,
        }
    if cell.success is not None and cell.sizes:
        low, high = cell.median_bracket
        result["interval_censored"] = {
            "median_bracket": json_interval((low, high)),
            "sizes": cell.sizes,
            "survival": survival_at_sizes(first_success(cell.success), len(cell.sizes)).tolist(),
        }
    result["attention_entropy"] = entropy_probe(cell.records)
    return result


def entropy_probe(records: list[RunRecord]) -> dict | None:
    """How often attention entropy ends lower than it starts, over (layer, head, run) curves.

    Tests seed 000's hypothesis that "the entropy of the Softmax on different layers almost
    never decreases during training". ``None`` when no record carries the probe.
    """
    probed = [r for r in records if r.attention_entropy is not None and r.status == "done"]
    if not probed:
        return None
    start = np.concatenate([r.attention_entropy[0].ravel() for r in probed])
    end = np.concatenate([r.attention_entropy[-1].ravel() for r in probed])
    decreased = int(np.sum(end < start))
    return {
        "runs": len(probed),
        "curves": int(start.size),
        "decreased": decreased,
        "decreased_fraction": decreased / start.size,
        "median_change_nats": float(np.median(end - start)),
    }
