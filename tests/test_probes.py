"""The attention-entropy probe: its definition, the trainer output, storage and the analysis."""

from __future__ import annotations

import math
import sqlite3

import jax.numpy as jnp
import numpy as np
import pytest

from samplelab.analysis.document import entropy_probe
from samplelab.ledger.store import ResultStore
from samplelab.spec.run_config import resolve_run_config
from samplelab.training.probes import attention_entropy
from samplelab.training.trainer import train_ensemble


def test_entropy_definition():
    uniform = jnp.full((2, 3, 4), 0.25)
    np.testing.assert_allclose(attention_entropy(uniform), [math.log(4)] * 2, rtol=1e-6)
    one_hot = jnp.zeros((1, 3, 4)).at[:, :, 1].set(1.0)
    np.testing.assert_allclose(attention_entropy(one_hot), [0.0], atol=1e-7)
    # Half the mass on the dropped no-op slot: two outcomes of 0.5 → log 2.
    half = jnp.zeros((1, 1, 4)).at[:, :, 0].set(0.5)
    np.testing.assert_allclose(attention_entropy(half), [math.log(2)], rtol=1e-6)


@pytest.mark.parametrize(("model", "task"), [("transformer", "setfind2"), ("l1_transformer", "setfind")])
def test_trainer_logs_entropy_per_layer_and_head(model, task):
    config = resolve_run_config(
        {
            "task": {"name": task, "set_size": 4},
            "model": {"name": model, "layers": 2, "heads": 2, "d_model": 16},
            "training": {"regime": "online", "steps": 20, "batch_size": 8, "eval_every": 10, "test_size": 16},
        }
    )
    result = train_ensemble(config, seeds=[0, 1])
    tokens = 5 if task == "setfind2" else 7
    assert result.attention_entropy.shape == (2, 3, 2, 2)
    extra = 1 if model == "l1_transformer" else 0  # the no-op slot is one more outcome
    assert (result.attention_entropy >= 0).all() and (result.attention_entropy <= math.log(tokens + extra) + 1e-5).all()


def test_store_keeps_entropy_and_migrates_old_stores(tiny_study, tmp_path):
    from samplelab.analysis.runs import load_study_runs
    from samplelab.spec.study import load_study
    from samplelab.sweep.runner import run_study

    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as db:  # a store from before the probe: no entropy columns
        db.execute("CREATE TABLE runs (run_key TEXT PRIMARY KEY, status TEXT NOT NULL, task TEXT NOT NULL, "
                   "model TEXT NOT NULL, seed INTEGER NOT NULL, n_train INTEGER, lr REAL NOT NULL, baseline REAL NOT NULL, "
                   "samples_per_step INTEGER NOT NULL, final_metric REAL, best_metric REAL, eval_steps BLOB NOT NULL, "
                   "test_metric BLOB NOT NULL, train_loss BLOB NOT NULL, config_json TEXT NOT NULL, wall_seconds REAL, "
                   "created_at TEXT NOT NULL, samplelab_version TEXT NOT NULL)")  # fmt: skip
    study = load_study(tiny_study)
    with ResultStore(old) as store:
        run_study(study, store)
        records = load_study_runs(study, store).records
    assert len(records) == 8
    assert all(r.attention_entropy.shape == (3, 1, 2) for r in records)  # K+1 evals, 1 layer, 2 heads
    assert all(r.test_loss.shape == (3,) and 0 <= r.weight_sparsity <= 1 for r in records)  # columns added later
    assert all(r.train_metric is None and r.train_set_loss is None for r in records)  # generator task: no pool eval
    probe = entropy_probe(records)
    assert probe["curves"] == 16 and 0 <= probe["decreased"] <= 16


def test_entropy_probe_counts_curves_that_end_lower():
    class Record:
        status = "done"

        def __init__(self, curve):
            self.attention_entropy = np.array(curve, dtype=float)[:, :, None]

    records = [Record([[1.0, 1.0], [0.5, 1.2]]), Record([[1.0, 1.0], [1.1, 0.9]])]
    probe = entropy_probe(records)
    assert probe.pop("median_change_nats") == pytest.approx(0.0)
    assert probe == {"runs": 2, "curves": 4, "decreased": 2, "decreased_fraction": 0.5}
