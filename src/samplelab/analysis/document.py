"""A study's stored runs → the numbers a paper prints: per cell KM quantiles and n*, per
study the fitted laws with bootstrap CIs beside the theory.

:func:`analyze_study` returns a JSON-ready dict (``samplelab analyze --json`` prints it);
its schema, ``samplelab.analysis/2``, is documented in ``docs/analysis.md`` and only
grows: fields are added, never renamed or removed, without a schema bump.
"""

from __future__ import annotations

import numpy as np

from samplelab.analysis.calibration import calibrate
from samplelab.analysis.cells import Cell, collect_cells, measure_name
from samplelab.analysis.claim_data import ClaimData
from samplelab.analysis.claims import evaluate_claim, theory_claims
from samplelab.analysis.fits import fit_json, fit_series, sample_maximum_reason
from samplelab.analysis.outcomes import cell_outcomes
from samplelab.analysis.resample import SeedResampler
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.selection import model_selection
from samplelab.analysis.text import json_interval, threshold_key
from samplelab.core.version import __version__
from samplelab.ledger.store import RunRecord
from samplelab.stats.interval_censored import first_success, survival_at_sizes

SCHEMA = "samplelab.analysis/2"


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


def _theory_verdicts_as_judged(fits: list[dict], claims: list[dict]) -> None:
    """Each fit's ``theory.verdict`` as its claim judged it, calibration included."""
    for claim in claims:
        if claim["source"] != "fit":
            continue
        for value in claim["values"]:
            for fit in fits:
                if fit["fit_index"] == value["fit_index"] and fit["series"] == value["series"]:
                    fit["theory"]["verdict"] = value["verdict"]


def analyze_study(runs: StudyRuns, *, bootstrap: int | None = None, seed: int = 0) -> dict:
    """The analysis document of a study's stored runs (schema ``samplelab.analysis/2``).

    ``bootstrap`` overrides the study's replicate count; ``seed`` makes the bootstrap
    reproducible (same store + seed → same document).
    """
    analysis = runs.study.analysis
    if bootstrap is not None:
        analysis = analysis.model_copy(update={"bootstrap": bootstrap})
    resampler = SeedResampler((r.seed for r in runs.records), analysis.bootstrap, np.random.default_rng([seed, 7]))
    outcomes = cell_outcomes(runs, analysis, seed) if analysis.outcomes else []
    at_threshold: dict[float | None, ClaimData] = {}  # the study's threshold (None) and each fit's / claim's own
    for fraction in [None, *(entry.threshold_relative for entry in [*analysis.fits, *analysis.claims])]:
        if fraction not in at_threshold:
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
    claims = theory_claims(fits) + [evaluate_claim(at_threshold[c.threshold_relative], c) for c in analysis.claims]
    claims = calibrate(claims, runs.study.name, runs.study.profile, analysis.confidence)
    _theory_verdicts_as_judged(fits, claims)
    return {
        "schema": SCHEMA,
        "samplelab_version": __version__,
        "study": runs.study.name,
        "profile": runs.study.profile,
        "source": runs.study.source,
        "regime": runs.regime,
        "measure": measure_name(runs.regime),
        "settings": {
            "confidence": analysis.confidence,
            "delta": analysis.delta,
            "bootstrap": analysis.bootstrap,
            "n_star_method": analysis.n_star_method,
            "seed": seed,
        },
        "runs": len(runs.records),
        "cells": at_threshold[None].cell_documents,
        "cells_at_threshold": {
            threshold_key(fraction): data.cell_documents
            for fraction, data in at_threshold.items()
            if fraction is not None
        },
        "fits": fits,
        "claims": claims,
        "attention_entropy": entropy_probe(runs.records),
        "model_selection": model_selection(runs, analysis, seed),
        "outcomes": outcomes,
    }
