"""A study's stored runs → the numbers a paper prints: per cell KM quantiles and n*, per
study the fitted laws with bootstrap CIs beside the theory.

:func:`analyze_study` returns a JSON-ready dict (``samplelab analyze --json`` prints it);
its schema, ``samplelab.analysis/2``, is documented in ``docs/analysis.md`` and only
grows: fields are added, never renamed or removed, without a schema bump.
"""

from __future__ import annotations

from samplelab.analysis.cells import measure_name
from samplelab.analysis.judging import entropy_probe
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.selection import model_selection
from samplelab.analysis.sequential import fixed_judgement, sequential_judgement
from samplelab.analysis.text import threshold_key
from samplelab.core.version import __version__

__all__ = ["SCHEMA", "analyze_study", "entropy_probe"]

SCHEMA = "samplelab.analysis/2"


def analyze_study(runs: StudyRuns, *, bootstrap: int | None = None, seed: int = 0) -> dict:
    """The analysis document of a study's stored runs (schema ``samplelab.analysis/2``).

    ``bootstrap`` overrides the study's replicate count; ``seed`` makes the bootstrap
    reproducible (same store + seed → same document).
    """
    analysis = runs.study.analysis
    if bootstrap is not None:
        analysis = analysis.model_copy(update={"bootstrap": bootstrap})
    if analysis.sequential is not None:
        judged = sequential_judgement(runs, analysis, seed)
    else:
        judged = fixed_judgement(runs, analysis, seed)
    at_threshold, fits, claims = judged.at_threshold, judged.fits, judged.claims
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
            "interval": analysis.interval,
            "seed": seed,
            "sequential": None if analysis.sequential is None else analysis.sequential.model_dump(),
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
        "outcomes": judged.outcomes,
    }
