"""The seed-001 models: shapes, what they compute, and the study grid that compares them."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from samplelab.core.errors import ConfigError
from samplelab.models import MODELS, build_model
from samplelab.spec.study import load_study

X = jax.random.normal(jax.random.key(0), (6, 5))  # [T, W]


def _model(table: dict, output_dim: int = 1):
    return build_model(MODELS.validate(table), jax.random.key(1), input_shape=X.shape, output_dim=output_dim)


@pytest.mark.parametrize(
    "table",
    [
        {"name": "attention_mlp", "heads": 3},
        {"name": "ffn"},
        {"name": "ffn", "widths": [7]},
        {"name": "rnn", "cell": "gru", "hidden": 4},
        {"name": "rnn", "cell": "lstm", "hidden": 4, "bidirectional": False},
    ],
)
def test_models_map_tokens_to_outputs(table):
    out = _model(table, output_dim=2)(X)
    assert out.shape == (6, 2) and np.isfinite(np.asarray(out)).all()


def test_attention_mlp_is_softmax_retrieval_then_mlp():
    model = _model({"name": "attention_mlp", "heads": 2, "head_dim": 3, "mlp_width": 8})
    assert model.query.shape == (2, 5, 3)
    weights = model.weights(X)
    for h in range(2):
        scores = (X @ model.query[h]) @ (X @ model.key[h]).T / math.sqrt(3)
        np.testing.assert_allclose(weights[h], jax.nn.softmax(scores, axis=-1), rtol=1e-5, atol=1e-6)
    retrieved = jnp.concatenate([weights[h] @ (X @ model.value[h]) for h in range(2)], axis=1)
    hidden = jax.nn.relu(jax.vmap(model.mlp_in)(jnp.concatenate([X, retrieved], axis=1)))
    np.testing.assert_allclose(model(X), jax.vmap(model.mlp_out)(hidden), rtol=1e-5, atol=1e-6)
    expected_map = np.abs(np.asarray(model.query[1]) @ np.asarray(model.key[1]).T)
    np.testing.assert_allclose(model.attention_map()[1], expected_map, rtol=1e-5)


def test_ffn_sees_the_whole_sequence_and_has_the_authors_widths():
    model = _model({"name": "ffn"})
    assert [layer.weight.shape for layer in model.layers] == [(60, 30), (1000, 60), (6, 1000)]
    changed = X.at[5, 0].add(1.0)  # a change at the last token moves the first output
    assert not np.isclose(model(X)[0, 0], model(changed)[0, 0])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_rnn_directions(cell):
    forward_only = _model({"name": "rnn", "cell": cell, "hidden": 4, "bidirectional": False})
    changed = X.at[5].add(1.0)
    np.testing.assert_allclose(forward_only(X)[:5], forward_only(changed)[:5], rtol=1e-6)  # causal
    both = _model({"name": "rnn", "cell": cell, "hidden": 4})
    assert not np.allclose(both(X)[0], both(changed)[0])  # the backward pass carries it to position 0
    # The forward half equals a manual loop over Equinox's cell.
    state = (jnp.zeros(4), jnp.zeros(4)) if cell == "lstm" else jnp.zeros(4)
    hiddens = []
    for token in X:
        state = both.cells[0](token, state)
        hiddens.append(state[0] if cell == "lstm" else state)
    backward = []
    state = (jnp.zeros(4), jnp.zeros(4)) if cell == "lstm" else jnp.zeros(4)
    for token in X[::-1]:
        state = both.cells[1](token, state)
        backward.append(state[0] if cell == "lstm" else state)
    features = jnp.concatenate([jnp.stack(hiddens), jnp.stack(backward[::-1])], axis=1)
    np.testing.assert_allclose(both(X), jax.vmap(both.readout)(features), rtol=1e-5, atol=1e-6)


def test_models_are_pytrees_of_arrays_only():
    for table in ({"name": "attention_mlp"}, {"name": "ffn"}, {"name": "rnn", "hidden": 3}):
        params, _ = eqx.partition(_model(table), eqx.is_inexact_array)
        assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(params))


COMPARISON = """
name = "compare"
seeds = 2
[task]
name = "qstr"
[model]
name = "attention_mlp"
[training]
steps = 20
eval_every = 10
[grid]
"task.seq_len" = [2, 4]
"model,training.steps" = [
    [{ label = "transformer", name = "attention_mlp", heads = 2 }, 20],
    [{ name = "ffn" }, 40],
    [{ name = "rnn", hidden = 8 }, 40],
    [{ name = "rnn", hidden = 16 }, 40],
]
[[analysis.fits]]
x = "task.seq_len"
y = "km_median"
where = { model = "ffn" }
"""


def test_a_grid_can_replace_whole_sections(write_study):
    study = load_study(write_study(COMPARISON))
    assert study.grid["model"] == ["transformer", "ffn", "rnn hidden=8", "rnn hidden=16"]
    assert len(study.runs) == 2 * 4 * 2
    by_label = {spec.point["model"]: spec.config for spec in study.runs}
    assert by_label["transformer"].model.heads == 2 and by_label["transformer"].training.steps == 20
    assert by_label["ffn"].model.name == "ffn" and by_label["ffn"].training.steps == 40
    assert by_label["rnn hidden=16"].model.hidden == 16


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('[{ name = "ffn" }, 40]', "[3, 40]", 'grid."model,training.steps": a bare section takes tables'),
        ('"task.seq_len" = [2, 4]', '"task.seq_len" = [{ name = "x" }]', "task.seq_len takes numbers"),
        ('where = { model = "ffn" }', 'where = { model = "mlp" }', "analysis.fits[0].where.model: 'mlp' is not in"),
        ('{ name = "rnn", hidden = 8 }', '{ name = "rnn", hidden = 0 }', "model.hidden"),
    ],
)
def test_section_grid_errors(write_study, old, new, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_study(write_study(COMPARISON.replace(old, new)))


def test_comparison_study_end_to_end_with_attention_map(write_study, tmp_path, capsys):
    from samplelab.cli import main

    # One sequence length and three models: three compiles keep the test short.
    text = COMPARISON.replace('[{ name = "rnn", hidden = 16 }, 40],\n', "").replace(
        '"task.seq_len" = [2, 4]', '"task.seq_len" = [2]'
    )
    path = write_study(text)
    store = str(tmp_path / "s.sqlite")
    # One run per program: the attention map's retraining (one run) reuses the transformer's.
    assert main(["run", str(path), "--store", store, "--max-ensemble", "1"]) == 0
    capsys.readouterr()
    assert main(["analyze", str(path), "--store", store]) == 0
    output = capsys.readouterr().out
    assert "model=ffn" in output and "transformer" in output
    out = tmp_path / "report"

    # A report only reads: it leaves out the attention map (which retrains) and says how to make it.
    def refuse(*args, **kwargs):
        raise AssertionError("samplelab report trained a model")

    from samplelab.training import retrain, trainer  # imported first, so that each binds the real function

    with pytest.MonkeyPatch.context() as patch:
        for module in (trainer, retrain):
            patch.setattr(module, "train_ensemble", refuse)
        assert main(["report", str(path), "--store", store, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert not (out / "attention_map.png").exists()
    assert "not drawn" in printed and "samplelab attention-map" in printed
    assert main(["attention-map", str(path), "--store", store, "--out", str(out)]) == 0
    assert (out / "attention_map.png").stat().st_size > 10_000
    assert main(["report", str(path), "--store", store, "--out", str(out)]) == 0
    assert "not drawn" not in capsys.readouterr().out
    assert "attention_map" in (out / "report.html").read_text()
    # A map drawn from another run (another study's, or before the runs changed) is not embedded.
    (out / "attention_map.run").write_text("another-run\n")
    assert main(["report", str(path), "--store", store, "--out", str(out)]) == 0
    assert "not drawn" in capsys.readouterr().out
    assert "attention_map" not in (out / "report.html").read_text()


def test_early_stop_ends_the_ensemble_without_changing_samples_to_threshold():
    from samplelab.spec.run_config import resolve_run_config
    from samplelab.stats.thresholds import samples_to_threshold
    from samplelab.training.trainer import train_ensemble

    base = {
        "task": {"name": "qstr", "seq_len": 2},
        "model": {"name": "attention_mlp", "mlp_width": 32},
        "optimizer": {"lr": 3e-3},
        "training": {"regime": "online", "steps": 600, "batch_size": 32, "eval_every": 20, "test_size": 64},
    }
    full = train_ensemble(resolve_run_config(base), seeds=[0, 1])
    stopping = resolve_run_config({**base, "training": {**base["training"], "stop_below_relative": 0.5}})
    stopped = train_ensemble(stopping, seeds=[0, 1])
    assert len(stopped.eval_steps) < len(full.eval_steps)  # both crossed 0.5 well before step 600
    assert np.all(stopped.test_metric[:, -1] <= 0.5)
    evals = len(stopped.eval_steps)
    np.testing.assert_allclose(stopped.test_metric, full.test_metric[:, :evals], rtol=1e-4, atol=1e-6)
    assert stopped.train_loss.shape == (2, evals - 1)
    for member in range(2):
        seen = stopped.eval_steps * 32
        assert samples_to_threshold(seen, stopped.test_metric[member], 0.5) == samples_to_threshold(
            full.eval_steps * 32, full.test_metric[member], 0.5
        )
    with pytest.raises(ConfigError, match="stop_below_relative"):
        resolve_run_config({**base, "training": {**base["training"], "regime": "fixed", "n_train": 8,
                                                 "stop_below_relative": 0.5}})  # fmt: skip
