"""Retrain a stored run to look inside it (the store keeps learning curves, not weights).

Same config and seed give the same numbers on the same machine, so a stored run can be
trained again for as many steps as it was and probed: its attention map
(:mod:`samplelab.attention_map`) or its final-layer embeddings (``samplelab embeddings``,
then ``samplelab id``).
"""

from __future__ import annotations

import numpy as np

from samplelab.analysis import StudyRuns
from samplelab.config import RunConfig
from samplelab.errors import ConfigError
from samplelab.models import MODELS
from samplelab.store import RunRecord
from samplelab.study import RunSpec
from samplelab.trainer import EnsembleResult, train_ensemble


def retrain_stored_run(spec: RunSpec, record: RunRecord) -> tuple[RunConfig, EnsembleResult]:
    """Train ``spec`` again, one member, exactly as long as ``record`` trained; returns the
    config used and the result (its ``test_metric[0, -1]`` should match ``record.final_metric``)."""
    # With stop_below_relative the stored run's ensemble may have ended before ``steps``, at a
    # point set by its ensemble-mates, not by this run alone.
    training = spec.config.training.model_copy(
        update={"steps": int(record.eval_steps[-1]), "stop_below_relative": None}
    )
    config = spec.config.model_copy(update={"training": training})
    return config, train_ensemble(config, seeds=[spec.seed], n_trains=[config.training.n_train or 1])


def stored_runs_of_models_with(runs: StudyRuns, method: str) -> list[RunSpec]:
    """The study's finished (not diverged) stored runs whose model class has ``method``."""
    done = {r.run_key for r in runs.records if r.status == "done"}
    return [
        spec
        for spec in runs.study.runs
        if spec.key in done and hasattr(MODELS.get(spec.config.model.name).factory, method)
    ]


def embedded_run(runs: StudyRuns, run_key: str | None = None) -> tuple[RunSpec, RunRecord]:
    """The stored run to take embeddings of: ``run_key``, or by default the first seed at the
    largest training-set size among runs of a model with ``embeddings``."""
    records = {r.run_key: r for r in runs.records}
    candidates = stored_runs_of_models_with(runs, "embeddings")
    if run_key is not None:
        chosen = [spec for spec in candidates if spec.key == run_key]
        if not chosen:
            keys = ", ".join(spec.key for spec in candidates[:3]) or "none stored"
            raise ConfigError(
                f"--run {run_key}: not a finished run of this study with a model that has embeddings — fix: use a "
                f"key from `samplelab results`, e.g. {keys}"
            )
        return chosen[0], records[run_key]
    if not candidates:
        raise ConfigError(
            f"{runs.study.name}: no finished run of a model with final-layer embeddings (transformer) — fix: run "
            "the study first, or use a study of a transformer"
        )
    spec = max(candidates, key=lambda s: (s.config.training.n_train or 0, -s.seed))
    return spec, records[spec.key]


def stored_run_embeddings(spec: RunSpec, record: RunRecord) -> tuple[np.ndarray, EnsembleResult]:
    """Retrain the run and return its final-layer embeddings ``[P, d]`` of its test examples
    (only the real ones), with the retrained result."""
    _, result = retrain_stored_run(spec, record)
    return result.embeddings[0][result.embedding_valid[0]], result
