"""Retrain a stored run to look inside it (the store keeps learning curves, not weights).

Same config and seed give the same numbers on the same machine, so a stored run can be
trained again for as many steps as it was and probed: its attention map
(``samplelab attention-map``) or its final-layer embeddings (``samplelab embeddings``,
then ``samplelab id``). Which stored run to retrain is chosen in
:mod:`samplelab.analysis.runs` (:func:`~samplelab.analysis.runs.embedded_run`,
:func:`~samplelab.analysis.runs.mapped_run`).
"""

from __future__ import annotations

import numpy as np

from samplelab.ledger.store import RunRecord
from samplelab.spec.run_config import RunConfig
from samplelab.spec.study import RunSpec
from samplelab.training.trainer import EnsembleResult, ensemble_member, train_ensemble


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


def stored_run_embeddings(spec: RunSpec, record: RunRecord) -> tuple[np.ndarray, EnsembleResult]:
    """Retrain the run and return its final-layer embeddings ``[P, d]`` of its test examples
    (only the real ones), with the retrained result."""
    _, result = retrain_stored_run(spec, record)
    return result.embeddings[0][result.embedding_valid[0]], result


def stored_run_attention_map(spec: RunSpec, record: RunRecord) -> tuple[np.ndarray, float]:
    """Retrain the run (its model has the ``AttentionMap`` hook) and return ``|W_Q W_Kᵀ|`` per
    head ``[H, W, W]`` with the retrained final test metric (to print beside the stored one)."""
    config, result = retrain_stored_run(spec, record)
    model = ensemble_member(config, result.params, 0)
    return np.asarray(model.attention_map()), float(result.test_metric[0, -1])
