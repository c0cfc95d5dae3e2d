"""Seed 002's checks on trained models: causal attention, final-layer embeddings and their
intrinsic dimension, fits against parameter count and training tokens, early stopping, and a
tiny text study end to end."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from samplelab.core.errors import ConfigError
from samplelab.ledger.store import RunRecord
from samplelab.models import build_model
from samplelab.spec.run_config import resolve_run_config
from samplelab.spec.size import parameter_count, tokens_per_example
from samplelab.stats.intrinsic_dimension import neighbour_distances
from samplelab.tasks import build_task
from samplelab.training.probes import embedding_dimension, embedding_dimension_twonn
from samplelab.training.trainer import _compiled_trainer, _eval_extent, train_ensemble

TEXT = {"name": "text", "context": 8, "max_chars": 6000, "test_chunks": 64}
CAUSAL = {"name": "transformer", "causal": True, "layers": 1, "heads": 2, "d_model": 16}
FIXED = {"regime": "fixed", "n_train": 16}


def test_a_causal_transformer_never_reads_later_tokens():
    config = resolve_run_config({"task": TEXT, "model": CAUSAL, "training": FIXED})
    task = build_task(config.task)
    model = build_model(config.model, jax.random.key(0), input_shape=task.input_shape, output_dim=task.output_dim)
    x = jax.random.normal(jax.random.key(1), task.input_shape)
    changed = x.at[5:].set(jax.random.normal(jax.random.key(2), x[5:].shape))
    before, after = model(x), model(changed)
    np.testing.assert_allclose(before[:5], after[:5], atol=1e-6)  # positions 0–4 see only tokens 0–4
    assert not np.allclose(before[5:], after[5:])
    weights = model.attention_weights(x)[0]  # [H, T, T]
    assert np.all(np.asarray(weights)[:, np.triu_indices(task.input_shape[0], 1)[0], np.triu_indices(8, 1)[1]] == 0)


def test_a_next_token_task_refuses_a_model_that_can_look_ahead():
    for model in ({**CAUSAL, "causal": False}, {"name": "ffn"}):
        with pytest.raises(ConfigError, match=r"^model\.causal: .* — fix: .*causal = true"):
            resolve_run_config({"task": TEXT, "model": model, "training": FIXED})


def test_parameter_count_counts_the_trained_floats_and_tokens_the_inputs():
    config = {"task": TEXT, "model": CAUSAL}
    resolved = resolve_run_config({**config, "training": FIXED})
    task = build_task(resolved.task)
    model = build_model(resolved.model, jax.random.key(0), input_shape=task.input_shape, output_dim=task.output_dim)
    expected = sum(leaf.size for leaf in jax.tree.leaves(model) if jnp.issubdtype(leaf.dtype, jnp.inexact))
    assert parameter_count(config) == expected
    d, vocabulary, context = 16, task.output_dim, 8
    block = 2 * 2 * d + 4 * (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)  # 2 LayerNorms, q k v o, MLP
    assert expected == (vocabulary + context) * d + d + block + 2 * d + d * vocabulary + vocabulary
    assert tokens_per_example(config) == 8
    sparse = {"task": {"name": "images", "dataset": "digits"}, "model": {"name": "mlp", "init": "sparse"}}
    dense = {"task": sparse["task"], "model": {"name": "mlp"}}
    assert parameter_count(sparse) == parameter_count(dense)  # the bool mask is not a parameter


def test_embedding_dimension_recovers_a_known_dimension_and_refuses_degenerate_points():
    rng = np.random.default_rng(0)
    # Directions on a 3-sphere inside R^10 (cosine distance sees directions): dimension 3.
    sphere = rng.normal(size=(1500, 4))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    points = sphere @ np.linalg.qr(rng.normal(size=(10, 10)))[0][:4]
    assert embedding_dimension(points) == pytest.approx(3, rel=0.1)
    # 1 − cos as the distance would read half of it: log(T_k/T_j) doubles when T ∝ r².
    one_minus_cos = neighbour_distances(points, 20, "cosine") ** 2 / 2
    raw = 19 / np.sum(np.log(one_minus_cos[:, -1:] / one_minus_cos[:, :-1]), axis=1)
    assert np.mean(raw) == pytest.approx(1.5, rel=0.1)
    assert np.isnan(embedding_dimension(np.ones((100, 4))))  # one distinct point
    assert np.isnan(embedding_dimension(np.vstack([points[:50], np.zeros((1, 10))])))
    assert np.isnan(embedding_dimension(np.full((30, 4), np.nan)))
    # TwoNN (euclidean) on the same points: a 3-sphere, whatever the repeats.
    assert embedding_dimension_twonn(np.vstack([points, points[:100]])) == pytest.approx(3, rel=0.15)
    assert np.isnan(embedding_dimension_twonn(np.ones((100, 4))))


def test_embeddings_are_test_examples_and_their_dimension_is_recorded():
    config = resolve_run_config(
        {
            "task": TEXT,
            "model": CAUSAL,
            "training": {"regime": "fixed", "n_train": 200, "steps": 20, "batch_size": 4, "eval_every": 10},
        }
    )
    result = train_ensemble(config, seeds=[0, 1], n_trains=[200, 100])
    assert result.embeddings.shape == (2, 64, 16) and result.embedding_valid.all()
    assert np.isfinite(result.embedding_dimension).all() and (result.embedding_dimension > 0).all()
    assert np.isfinite(result.embedding_dimension_twonn).all() and (result.embedding_dimension_twonn > 0).all()
    from samplelab.training.trainer import ensemble_member

    task = build_task(config.task)
    member = ensemble_member(config, result.params, 1)
    first_test = task.example(_run_state(config, 1), 100)[0]  # n_train = 100: position 100 is the first test chunk
    np.testing.assert_allclose(result.embeddings[1, 0], member.embeddings(first_test)[-1], atol=1e-5)


def _run_state(config, seed):
    from samplelab.training.trainer import _TASK

    return build_task(config.task).init_run_state(jax.random.fold_in(jax.random.key(seed), _TASK))


def test_the_eval_extent_leaves_every_number_unchanged():
    """A finite task with a test cap evaluates only the positions its members need: the same
    numbers as a pass over the whole dataset (8×8 digits and a tiny MLP: cheap to compile)."""
    config = resolve_run_config(
        {
            "task": {"name": "images", "dataset": "digits", "test_images": 100},
            "model": {"name": "mlp", "widths": [8]},
            "training": {"regime": "fixed", "n_train": 100, "steps": 10, "batch_size": 4, "eval_every": 5},
        }
    )
    extent = _eval_extent(config, 300)
    assert extent == 1024 < build_task(config.task).size
    args = (config.task, config.model, config.optimizer.model_copy(update={"lr": 1.0}))
    training = config.training.model_copy(update={"n_train": None})
    keys = jax.vmap(jax.random.key)(jnp.arange(2, dtype=jnp.uint32))
    outputs = []
    for eval_extent in (None, extent):
        trainer, arrays = _compiled_trainer(*args, training, eval_extent)
        _, curves, _, _ = trainer(keys, jnp.full(2, 1e-3), jnp.array([100, 300], jnp.int32), arrays)
        outputs.append(curves)
    for name in ("metric", "test_loss", "train_metric", "train_set_loss"):
        np.testing.assert_allclose(outputs[0][name], outputs[1][name], rtol=1e-5, err_msg=name)


def test_early_stopped_metric_is_the_test_metric_at_the_least_validation_loss():
    record = RunRecord(
        "k", "done", "text", "transformer", 0, 10, 1e-3, 3.0, 4,
        np.arange(4.0), np.array([3.0, 2.0, 1.5, 1.8]), np.ones(3), "{}",
        validation_loss=np.array([3.1, 2.1, 2.4, 1.9]),
    )  # fmt: skip
    assert record.early_stopped_metric == 1.8
    record.validation_loss = np.array([3.1, 2.0, 2.4, 2.5])
    assert record.early_stopped_metric == 2.0
    record.validation_loss = None
    assert np.isnan(record.early_stopped_metric)


TINY_TEXT_STUDY = """
name = "tiny_text"
seeds = 2
[task]
name = "text"
context = 8
max_chars = 20000
test_chunks = 128
[model]
name = "transformer"
causal = true
layers = 1
heads = 2
d_model = 16
[training]
regime = "fixed"
steps = 40
batch_size = 8
eval_every = 20
validation_size = 64
[analysis]
[[analysis.fits]]
x = "training.n_train"
x_measure = "tokens"
y = "early_stopped_metric"
law = "power_offset"
theory = { exponent = "2/(2 + d)", margin = 0.1, variables = { d = "measured.embedding_dimension" } }
[grid]
"training.n_train" = [64, 256, 1024, 1800]
"""


def test_a_text_study_end_to_end_fits_loss_against_tokens_with_a_measured_theory(tmp_path, train_study):
    from samplelab.analysis.document import analyze_study
    from samplelab.report.figures import write_figures

    path, store, runs = train_study(TINY_TEXT_STUDY, "tiny_text.toml")
    assert len(runs.records) == 8
    assert all(r.embedding_dimension is not None and r.embedding_dimension > 0 for r in runs.records)
    assert all(r.embedding_dimension_twonn is not None and r.embedding_dimension_twonn > 0 for r in runs.records)
    document = analyze_study(runs, bootstrap=200, seed=1)
    (fit,) = document["fits"]
    assert fit["x_measure"] == "tokens"
    assert sorted({p["x"] for p in fit["points"]}) == [64 * 8, 256 * 8, 1024 * 8, 1800 * 8]
    largest = [r.embedding_dimension for r in runs.records if r.n_train == 1800]
    assert fit["theory"]["variables"]["d"] == pytest.approx(np.median(largest))
    assert fit["theory"]["predicted"] == pytest.approx(2 / (2 + np.median(largest)))
    values = sorted(p["y"] for p in fit["points"])
    assert values == sorted(r.early_stopped_metric for r in runs.records)
    written = {p.name for p in write_figures(runs, tmp_path / "figures", document)}
    assert "laws.png" in written

    # A trained model's embeddings, as a file `samplelab id` reads: the largest-n run, retrained.
    from samplelab.cli import main

    out = tmp_path / "embeddings.npz"
    assert main(["embeddings", str(path), "--store", str(store), "--out", str(out)]) == 0
    points = np.load(out)["embeddings"]
    assert points.shape == (128, 16)
    stored = next(r for r in runs.records if r.n_train == 1800 and r.seed == 0).embedding_dimension
    assert embedding_dimension(points) == pytest.approx(stored, rel=1e-3)
    assert main(["id", str(out), "--metric", "cosine"]) == 0
    assert main(["embeddings", str(path), "--store", str(store), "--out", str(out), "--run", "x"]) == 2


@pytest.mark.parametrize(
    "fit, message",
    [
        (
            'x = "training.n_train"\nx_measure = "parameters"\ny = "final_metric"',
            r"x_measure: .* fix: fit against a model",
        ),
        ('x = "task.intrinsic_dim"\nx_measure = "tokens"\ny = "final_metric"', r"x_measure: .* fix: use x = "),
        ('x = "training.n_train"\ny = "early_stopped_metric"', r"y: early_stopped_metric .* fix: set training"),
        (
            'x = "training.n_train"\ny = "final_metric"\ntheory = { exponent = "d", margin = 0.1, variables = { d = "measured.x" } }',
            r"theory.variables.d: .* fix: use one of",
        ),
    ],
)
def test_fit_settings_that_cannot_apply_are_refused_at_load(tmp_path, fit, message):
    from samplelab.spec.study import load_study

    study = f"""
name = "bad"
[task]
name = "manifold"
[model]
name = "transformer"
[training]
regime = "fixed"
steps = 10
eval_every = 5
[analysis]
[[analysis.fits]]
{fit}
law = "power_offset"
[grid]
"training.n_train" = [8, 16, 32]
"task.intrinsic_dim" = [2, 4]
"""
    path = tmp_path / "bad.toml"
    path.write_text(study)
    with pytest.raises(ConfigError, match=message):
        load_study(path)


def test_a_measured_variables_interval_is_carried_into_the_prediction():
    """α = 2/(2 + d) with d measured: the allowed region spans the predictions over d's interval."""
    from samplelab.analysis.fits import FitSeries, _theory_json
    from samplelab.spec.analysis import AnalysisConfig, FitConfig

    fit = FitConfig(x="training.n_train", y="final_metric", law="power_offset",
                    theory={"exponent": "2/(2 + d)", "margin": 0.1, "variables": {"d": "measured.embedding_dimension"}})  # fmt: skip
    draws = np.random.default_rng(0).uniform(4.0, 6.0, 2000)  # d's median over whole-seed draws
    series = FitSeries(point={}, config={}, x=np.ones(3), y=np.ones(3), replicates=np.ones((2000, 3)), units_per_x=4,
                       censored_x=[], measured={"embedding_dimension": 5.0},
                       measured_replicates={"embedding_dimension": draws})  # fmt: skip
    theory = _theory_json(fit, series, [0.2, 0.22], AnalysisConfig())
    low, high = theory["variables_ci"]["d"]
    assert low == pytest.approx(4.05, abs=0.03) and high == pytest.approx(5.95, abs=0.03)
    assert theory["predicted"] == pytest.approx(2 / 7)
    assert theory["predicted_range"] == pytest.approx([2 / (2 + high), 2 / (2 + low)])
    assert theory["region"] == pytest.approx([2 / (2 + high) - 0.1, 2 / (2 + low) + 0.1])
    assert theory["verdict"] == "agrees"  # inside the union of the regions over d's interval


def test_two_estimators_of_one_measured_variable_carry_their_spread_into_the_prediction():
    """d by MLE in [5.5, 6.5] and by TwoNN in [3.5, 4.5]: the prediction spans d in [3.5, 6.5],
    its value is the first estimator's; a TwoNN the runs did not record leaves it undecided."""
    from samplelab.analysis.fits import FitSeries, _theory_json
    from samplelab.analysis.text import prediction_text
    from samplelab.spec.analysis import AnalysisConfig, FitConfig

    both = ["measured.embedding_dimension", "measured.embedding_dimension_twonn"]
    fit = FitConfig(x="training.n_train", y="final_metric", law="power_offset",
                    theory={"exponent": "2/(2 + d)", "margin": 0.05, "variables": {"d": both}})  # fmt: skip
    rng = np.random.default_rng(0)
    mle, twonn = rng.uniform(5.5, 6.5, 4000), rng.uniform(3.5, 4.5, 4000)

    def theory(measured, replicates, ci=(0.3, 0.32)):
        series = FitSeries(point={}, config={}, x=np.ones(3), y=np.ones(3), replicates=np.ones((4000, 3)),
                           units_per_x=4, censored_x=[], measured=measured, measured_replicates=replicates)  # fmt: skip
        return _theory_json(fit, series, list(ci), AnalysisConfig())

    spread = theory({"embedding_dimension": 6.0, "embedding_dimension_twonn": 4.0},
                    {"embedding_dimension": mle, "embedding_dimension_twonn": twonn})  # fmt: skip
    low, high = spread["variables_ci"]["d"]
    assert low == pytest.approx(3.5, abs=0.05) and high == pytest.approx(6.5, abs=0.05)
    assert spread["predicted"] == pytest.approx(2 / 8)  # the first estimator's d = 6
    assert spread["predicted_range"] == pytest.approx([2 / (2 + high), 2 / (2 + low)])
    assert spread["verdict"] == "agrees"  # 0.31: within 0.05 of 2/(2 + d) for d near 4, not for d = 6 alone
    assert "(MLE 6, TwoNN 4)" in prediction_text(spread)
    old = theory({"embedding_dimension": 6.0}, {"embedding_dimension": mle})
    assert old["verdict"] == "inconclusive" and "embedding_dimension_twonn has no value" in old["reason"]
    with pytest.raises(ValueError, match="a list names estimators of one measured number"):
        FitConfig(x="training.n_train", y="final_metric",
                  theory={"exponent": "d", "margin": 0.1, "variables": {"d": ["task.intrinsic_dim"]}})  # fmt: skip
