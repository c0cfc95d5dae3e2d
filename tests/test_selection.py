"""Discrete model selection: the validation split, its run-key rule, and the analysis."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.selection import model_selection
from samplelab.cli import main
from samplelab.ledger.store import RunRecord
from samplelab.spec.run_config import resolve_run_config, run_key, training_identity
from samplelab.spec.study import load_study
from samplelab.tasks import build_task
from samplelab.training.trainer import ensemble_member, train_ensemble

SELECTION_STUDY = """
name = "selection"
seeds = 4

[task]
name = "setfind2"
set_size = 4

[model]
name = "transformer"
d_model = 8
mlp_width = 16

[training]
regime = "fixed"
n_train = 8
steps = 4
batch_size = 4
eval_every = 2
test_size = 8
validation_size = 8

[grid]
"model.layers,model.heads" = [[1, 1], [2, 2]]
"training.n_train" = [64, 128, 256, 512]

[analysis]
delta = 0.25
bootstrap = 200

[analysis.model_selection]
candidates = "model.layers,model.heads"
"""

RUN = {
    "task": {"name": "setfind2", "set_size": 4},
    "model": {"name": "transformer", "d_model": 8, "heads": 2, "mlp_width": 16},
    "training": {"regime": "fixed", "n_train": 8, "steps": 6, "batch_size": 4, "eval_every": 3, "test_size": 8},
}


def test_validation_size_enters_the_run_key_only_when_used():
    plain = resolve_run_config(RUN)
    assert "validation_size" not in training_identity(plain)["training"]  # keys stored before the field exist unchanged
    with_split = resolve_run_config({**RUN, "training": {**RUN["training"], "validation_size": 16}})
    assert training_identity(with_split)["training"]["validation_size"] == 16
    assert run_key(plain, 0) != run_key(with_split, 0)


def test_validation_loss_is_the_loss_on_the_pool_examples_after_the_training_set():
    config = resolve_run_config({**RUN, "training": {**RUN["training"], "validation_size": 16}})
    result = train_ensemble(config, seeds=[3, 5], n_trains=[8, 12])
    assert result.validation_loss.shape == (2, 3) and np.isfinite(result.validation_loss).all()
    task = build_task(config.task)
    for member, (seed, n_train) in enumerate([(3, 8), (5, 12)]):
        seed_key = jax.random.key(seed)
        model = ensemble_member(config, result.params, member)
        run_state = task.init_run_state(jax.random.fold_in(seed_key, 1))
        pool_key = jax.random.fold_in(seed_key, 2)
        # Pool examples n_train … n_train + 15: never in the training set (vmapped: one dispatch, not 16).
        keys = jax.vmap(jax.random.fold_in, (None, 0))(pool_key, n_train + jnp.arange(16))
        inputs, targets = jax.vmap(task.sample, (0, None))(keys, run_state)
        losses = jax.vmap(lambda x, y, m=model: task.loss(m(x), y))(inputs, targets)
        np.testing.assert_allclose(result.validation_loss[member, -1], jnp.mean(losses), rtol=2e-5)
    assert resolve_run_config(RUN).training.validation_size == 0
    assert train_ensemble(resolve_run_config(RUN), seeds=[0]).validation_loss is None


def _fabricated_runs(study, passes, validation) -> StudyRuns:
    """Records of every run of ``study`` with final metric 0 (pass) or 1 (fail) and a final validation loss."""
    records = []
    for spec in study.runs:
        candidate = (spec.point["model.layers"], spec.point["model.heads"])
        n = spec.point["training.n_train"]
        records.append(
            RunRecord(
                run_key=spec.key, status="done", task="setfind2", model="transformer", seed=spec.seed, n_train=n,
                lr=1e-3, baseline=1.0, samples_per_step=4, eval_steps=np.array([0, 2]),
                test_metric=np.array([1.0, 0.0 if passes(candidate, n, spec.seed) else 1.0]), train_loss=np.ones(1),
                config_json=spec.config.model_dump_json(), point=spec.point,
                validation_loss=np.array([1.0, validation(candidate, n, spec.seed)]),
            )
        )  # fmt: skip
    return StudyRuns(study, records, {r.run_key: 0.5 for r in records})


def test_selection_picks_least_validation_loss_and_scores_on_test(write_study):
    study = load_study(write_study(SELECTION_STUDY))
    # The small model learns from 128 examples, the large one from 512; validation loss tracks
    # success, so selection needs 128 and "always the largest" needs 512. n* interpolates
    # success 0 → 1 in log n to the level 1 − δ = 0.75, so 64·2^0.75 and 256·2^0.75.
    passes = {(1, 1): 128, (2, 2): 512}
    runs = _fabricated_runs(
        study,
        lambda c, n, s: n >= passes[c],
        lambda c, n, s: (0.1 if n >= passes[c] else 2.0) + 0.01 * c[0],
    )
    (entry,) = model_selection(runs, study.analysis, seed=0)
    assert entry["status"] == "ok" and entry["seeds"] == 4 and entry["sizes"] == [64, 128, 256, 512]
    small, large = 64 * 2**0.75, 256 * 2**0.75
    assert entry["n_star"]["selected"]["value"] == pytest.approx(small)
    assert entry["n_star"]["largest"]["value"] == pytest.approx(large)
    assert entry["n_star"]["oracle"]["value"] == pytest.approx(small)
    assert entry["n_star"]["only 1,1"]["value"] == pytest.approx(small)
    assert entry["n_star_with_validation"]["value"] == pytest.approx(small + 8)
    assert entry["ratio_largest_to_selected"]["value"] == pytest.approx(4)
    assert entry["ratio_largest_to_selected"]["ci"] == [pytest.approx(4), pytest.approx(4)]  # no seed variation
    assert entry["chosen_fraction"]["1,1"] == [1.0, 1.0, 1.0, 1.0]  # small wins ties on validation: 0.11 < 0.12


def test_selection_is_fooled_when_validation_disagrees_with_test(write_study):
    study = load_study(write_study(SELECTION_STUDY))
    # Validation always prefers the large model, which fails below 512: selection = largest.
    runs = _fabricated_runs(study, lambda c, n, s: n >= (128 if c == (1, 1) else 512), lambda c, n, s: 1.0 / c[0])
    (entry,) = model_selection(runs, study.analysis, seed=0)
    assert entry["n_star"]["selected"]["value"] == entry["n_star"]["largest"]["value"] == pytest.approx(256 * 2**0.75)
    assert entry["n_star"]["oracle"]["value"] == pytest.approx(64 * 2**0.75)
    assert entry["ratio_largest_to_selected"]["value"] == pytest.approx(1.0)
    assert entry["chosen_fraction"]["2,2"] == [1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("validation_size = 8\n", "analysis.model_selection: candidates are chosen by validation loss but"),
        ('candidates = "model.layers,model.heads"', 'analysis.model_selection.candidates: "model.width" is not'),
    ],
)
def test_model_selection_config_errors_are_one_line(write_study, edit, message, capsys):
    replacement = "" if edit.startswith("validation") else 'candidates = "model.width"'
    path = write_study(SELECTION_STUDY.replace(edit, replacement))
    assert main(["analyze", str(path), "--store", str(path.parent / "s.sqlite")]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_model_selection_end_to_end(write_study, tmp_path, capsys):
    path = write_study(SELECTION_STUDY.replace("seeds = 4", "seeds = 2").replace("64, 128, 256, 512", "8, 16"))
    store = str(tmp_path / "s.sqlite")
    assert main(["run", str(path), "--store", store]) == 0
    capsys.readouterr()
    assert main(["analyze", str(path), "--store", store]) == 0
    output = capsys.readouterr().out
    assert "model selection by validation loss" in output and "n*(largest) / n*(selected)" in output
    assert main(["report", str(path), "--store", store, "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "model_selection.png").stat().st_size > 5000
