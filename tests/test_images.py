"""Seed 000's MNIST-100 pieces: the image task's splits, the MLP's initialisations and
neuron allocation, Adagrad, and the trainer's whole-training-set evaluation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samplelab.core.errors import ConfigError
from samplelab.models import build_model
from samplelab.models.mlp import ACTIVATIONS, MLPConfig, allocation_bump
from samplelab.spec.run_config import OptimizerConfig, resolve_run_config
from samplelab.tasks import TASKS, build_task
from samplelab.tasks.datasets import load_images
from samplelab.training.optimizers import make_optimizer
from samplelab.training.trainer import ensemble_member, train_ensemble


def _task(**fields):
    return build_task(TASKS.validate({"name": "images", **fields}))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), position=st.integers(0, 1796), balanced=st.booleans())
def test_an_example_is_the_image_and_label_at_that_position_of_the_runs_ordering(seed, position, balanced):
    task = _task(dataset="digits", selection="balanced" if balanced else "random")
    data = load_images("digits")
    state = task.init_run_state(jax.random.key(seed))
    order = np.asarray(state["order"])
    assert sorted(order) == list(range(data.images.shape[0]))  # a permutation: every image once
    inputs, label = task.example(state, position)
    np.testing.assert_array_equal(np.asarray(inputs)[0], data.images[order[position]])
    assert int(label) == data.labels[order[position]]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_train=st.integers(1, 1700), validation=st.integers(0, 50))
def test_train_validation_and_test_images_never_overlap(seed, n_train, validation):
    """The trainer's splits are position ranges of one permutation: disjoint by index, and no
    training image reappears (pixel for pixel) among the test images."""
    task = _task(dataset="digits")
    data = load_images("digits")
    order = np.asarray(task.init_run_state(jax.random.key(seed))["order"])
    train, held = order[:n_train], order[n_train : n_train + validation]
    test = order[n_train + validation :]
    assert not set(train) & set(test) and not set(train) & set(held) and not set(held) & set(test)
    assert len(train) + len(held) + len(test) == len(order)
    train_pixels = {data.images[i].tobytes() for i in train}
    duplicates_in_data = len({img.tobytes() for img in data.images}) < len(data.images)
    overlap = sum(data.images[i].tobytes() in train_pixels for i in test)
    assert overlap == 0 or duplicates_in_data  # only an image the dataset itself repeats could match


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_balanced_selection_keeps_every_prefix_balanced(seed):
    task = _task(dataset="mnist_5k", selection="balanced")
    labels = np.asarray(task.labels)[np.asarray(task.init_run_state(jax.random.key(seed))["order"])]
    counts = np.cumsum(labels[:, None] == np.arange(10), axis=0)[:4999]  # every class has 500 images
    assert np.all(counts.max(axis=1) - counts.min(axis=1) <= 1)


def test_task_shapes_baseline_loss_and_metric():
    task = _task()
    assert task.size == 5000 and task.input_shape == (1, 784) and task.output_dim == 10
    assert task.baseline == pytest.approx(0.9)  # 500 images of each class
    logits = jnp.array([[0.0, 3.0, 0.0, 0, 0, 0, 0, 0, 0, 0]])
    assert float(task.metric(logits, jnp.array(1))) == 0.0 and float(task.metric(logits, jnp.array(2))) == 1.0
    expected = -math.log(math.exp(3) / (math.exp(3) + 9))
    assert float(task.loss(logits, jnp.array(1))) == pytest.approx(expected, rel=1e-6)


def test_finite_dataset_errors_are_one_line():
    base = {"task": {"name": "images", "dataset": "digits"}, "model": {"name": "mlp", "widths": [8]}}
    with pytest.raises(ConfigError, match=r'^training.regime: .* fix: set regime = "fixed"'):
        resolve_run_config({**base, "training": {"steps": 10, "eval_every": 5}})
    config = resolve_run_config({**base, "training": {"regime": "fixed", "n_train": 1797, "steps": 2, "eval_every": 1}})
    with pytest.raises(ConfigError, match=r"^training.n_train: .* fix: use n_train < 1797"):
        train_ensemble(config, seeds=[0])


def _mlp(init, **fields):
    config = MLPConfig(init=init, widths=(32, 16), **fields)
    return build_model(config, jax.random.key(3), input_shape=(1, 64), output_dim=10)


def test_initialisations():
    default = _mlp("default")
    for weight, bias in zip(default.weights, default.biases, strict=True):
        limit = 1 / math.sqrt(weight.shape[1])
        assert float(jnp.abs(weight).max()) <= limit and float(jnp.abs(weight).max()) > 0.9 * limit
        assert float(jnp.abs(bias).max()) <= limit
    xavier = _mlp("xavier")
    for weight, bias in zip(xavier.weights, xavier.biases, strict=True):
        assert float(jnp.abs(weight).max()) <= math.sqrt(6 / sum(weight.shape)) and not bias.any()
    zero = _mlp("zero")
    assert not any(w.any() for w in zero.weights) and not any(b.any() for b in zero.biases) and zero.allocates
    sparse = _mlp("sparse", sparsity=0.75)
    zero_fraction = np.mean(np.concatenate([np.asarray(w == 0).ravel() for w in sparse.weights]))
    assert zero_fraction == pytest.approx(0.75, abs=0.03)
    assert all(m.dtype == jnp.bool_ for m in sparse.masks)
    x = jnp.linspace(-3, 3, 7)
    np.testing.assert_allclose(ACTIVATIONS["quick_gelu"](x), x / (1 + np.exp(-1.702 * np.asarray(x))), rtol=1e-6)


def test_the_mlp_computes_its_layers():
    model = _mlp("default")
    x = jax.random.uniform(jax.random.key(0), (1, 64))
    h = np.asarray(x)[0]
    for i, (weight, bias) in enumerate(zip(model.weights, model.biases, strict=True)):
        h = np.asarray(weight) @ h + np.asarray(bias)
        if i < 2:
            h = h / (1 + np.exp(-1.702 * h))
    np.testing.assert_allclose(np.asarray(model(x))[0], h, rtol=1e-5, atol=1e-6)


def test_allocation_picks_units_with_probability_falling_exponentially_in_their_activity():
    running_mean = jnp.array([0.0, 0.2, 0.5, 1.0])
    bumps = np.asarray(allocation_bump(jax.random.key(1), running_mean, 200_000, 5.0, 1e-3))
    assert np.allclose(bumps.sum(axis=1), 1e-3) and len(np.unique(bumps)) == 2
    expected = np.exp(-5 * np.asarray(running_mean))
    np.testing.assert_allclose((bumps > 0).mean(axis=0), expected / expected.sum(), atol=0.005)


def test_allocation_bumps_one_unit_per_example_in_the_network_or_in_each_layer():
    """Seed 000's words: "adds +0.001 to one hidden unit per sample" — one unit of all 48
    hidden units per example (network, the default), drawn ∝ exp(−5·m) over all of them;
    the other reading bumps one unit of each layer."""
    from samplelab.models.mlp import MLP

    def bumps(scope):
        config = MLPConfig(widths=(32, 16), init="zero", allocation_scope=scope)
        model = MLP(config, jax.random.key(0), input_shape=(1, 8), output_dim=2)
        state = (jnp.zeros(32), jnp.full(16, 0.3))  # the second layer's units more active: chosen less
        return [np.asarray(b) for b in model.allocation_bumps(jax.random.key(1), state, 20_000)]

    network = bumps(None)
    assert [b.shape for b in network] == [(20_000, 32), (20_000, 16)]
    per_example = sum((b > 0).sum(axis=1) for b in network)
    assert np.all(per_example == 1) and np.allclose(sum(b.sum(axis=1) for b in network), 1e-3)
    weights = np.concatenate([np.ones(32), np.full(16, np.exp(-5 * 0.3))])
    assert (network[1] > 0).sum(axis=1).mean() == pytest.approx(weights[32:].sum() / weights.sum(), abs=0.01)
    layer = bumps("layer")
    assert all(np.all((b > 0).sum(axis=1) == 1) for b in layer)
    assert MLPConfig(init="zero").allocation_scope == "network" and MLPConfig().allocation_scope is None
    with pytest.raises(ValueError, match="allocation_scope is used with neuron allocation only"):
        MLPConfig(allocation_scope="layer")


def _digits_config(model, steps=300, **optimizer):
    return resolve_run_config(
        {
            "task": {"name": "images", "dataset": "digits"},
            "model": {"name": "mlp", "widths": [32, 16], **model},
            "optimizer": {"name": "adagrad", **optimizer},
            "training": {"regime": "fixed", "n_train": 60, "steps": steps, "batch_size": 16, "eval_every": steps // 2},
        }
    )


def test_zero_init_learns_only_through_allocation():
    without = train_ensemble(_digits_config({"init": "zero", "allocation": False}), seeds=[0])
    hidden = [np.asarray(w) for w in without.params.weights[:-1]] + [np.asarray(without.params.weights[-1])]
    assert all(not w.any() for w in hidden)  # no gradient ever reaches a weight
    assert without.test_metric[0, -1] > 0.8  # the output bias alone: about chance
    allocated = train_ensemble(_digits_config({"init": "zero"}), seeds=[0])
    assert all(np.asarray(w).any() for w in allocated.params.weights)
    assert allocated.test_metric[0, -1] < 0.8 and allocated.train_metric[0, -1] < 0.6  # learning, gradually


def test_sparse_weights_stay_zero_and_the_mask_is_not_trained():
    result = train_ensemble(_digits_config({"init": "sparse", "sparsity": 0.9}), seeds=[0, 1])
    masks = result.params.masks
    for weight, mask in zip(result.params.weights, masks, strict=True):
        assert not np.asarray(weight)[~np.asarray(mask)].any()
    assert np.all(result.weight_sparsity >= 0.85)


def test_train_and_test_metrics_are_over_exactly_the_runs_splits():
    """The trainer's masked whole-dataset evaluation equals a direct computation."""
    config = _digits_config({}, steps=100)
    result = train_ensemble(config, seeds=[5, 6], n_trains=[40, 90])
    task, data = build_task(config.task), load_images("digits")
    for member, (seed, n_train) in enumerate([(5, 40), (6, 90)]):
        model = ensemble_member(config, result.params, member)
        order = np.asarray(task.init_run_state(jax.random.fold_in(jax.random.key(seed), 1))["order"])
        logits = np.asarray(jax.vmap(model)(jnp.asarray(data.images[order])[:, None, :]))[:, 0]
        wrong = logits.argmax(axis=1) != data.labels[order]
        losses = np.asarray(optax.softmax_cross_entropy_with_integer_labels(logits, data.labels[order]))
        assert result.train_metric[member, -1] == pytest.approx(wrong[:n_train].mean(), abs=1e-6)
        assert result.test_metric[member, -1] == pytest.approx(wrong[n_train:].mean(), abs=1e-6)
        assert result.train_set_loss[member, -1] == pytest.approx(losses[:n_train].mean(), rel=1e-4)
        assert result.test_loss[member, -1] == pytest.approx(losses[n_train:].mean(), rel=1e-4)


def test_adagrad_is_pytorchs():
    """One step: w ← w − lr·g/(√Σg² + 1e-10) with g = ∇ + wd·w (PyTorch's Adagrad defaults)."""
    config = OptimizerConfig(name="adagrad")
    assert (config.lr, config.weight_decay) == (0.015, 0.01)
    assert OptimizerConfig(name="adagrad", lr=0.1).weight_decay == 0.01
    assert OptimizerConfig().weight_decay == 0.0  # AdamW's default is unchanged
    optimizer = make_optimizer(config, steps=10)
    w, grad = jnp.array([1.0, -2.0, 0.0]), jnp.array([0.5, 0.0, 0.0])
    state = optimizer.init(w)
    updates, state = optimizer.update(grad, state, w)
    g = np.asarray(grad) + 0.01 * np.asarray(w)
    expected = -g / (np.sqrt(g**2) + 1e-10)
    np.testing.assert_allclose(np.asarray(updates), expected, rtol=1e-5)


TINY_IMAGES_STUDY = """
name = "tiny_images"
seeds = 2

[task]
name = "images"
dataset = "digits"

[model]
name = "mlp"
widths = [16]

[optimizer]
name = "adagrad"

[training]
regime = "fixed"
n_train = 50
steps = 40
batch_size = 16
eval_every = 20

[measurement]
threshold = 0.5

[analysis]
outcomes = true
bootstrap = 200

[grid]
model = [{ label = "default", name = "mlp", widths = [16] }, { label = "sparse", name = "mlp", widths = [16], init = "sparse", sparsity = 0.5 }]
"training.n_train" = [30, 60]
"""


def test_an_images_study_end_to_end_outcomes_and_figures(tmp_path, train_study):
    from samplelab.analysis.document import analyze_study
    from samplelab.report.figures import write_figures

    _, _, runs = train_study(TINY_IMAGES_STUDY, "tiny_images.toml")
    assert len(runs.records) == 8
    assert all(r.train_metric.shape == (3,) and r.test_loss.shape == (3,) for r in runs.records)
    document = analyze_study(runs, seed=1)
    outcomes = document["outcomes"]
    assert len(outcomes) == 4 and {tuple(o["point"]) for o in outcomes} == {("model", "training.n_train")}
    for entry in outcomes:
        records = [r for r in runs.records if r.point == entry["point"]]
        accuracy = sorted(1 - r.final_metric for r in records)
        assert entry["test_accuracy"]["value"] == pytest.approx(np.median(accuracy))
        low, high = entry["test_accuracy"]["ci"]
        assert low <= entry["test_accuracy"]["value"] <= high
        rises = [r.test_loss[-1] / r.test_loss.min() for r in records]
        assert entry["test_loss_rise"]["value"] == pytest.approx(np.median(rises))
    sparse = [o for o in outcomes if o["point"]["model"] == "sparse"]
    assert all(o["weight_sparsity"]["value"] >= 0.45 for o in sparse)
    written = {p.name: p for p in write_figures(runs, tmp_path / "figures", document)}
    for name in ("metric_vs_sparsity.png", "train_test_curves.png"):
        assert written[name].stat().st_size > 10_000


def test_a_study_can_train_on_mnist_idx_files_from_a_directory(tmp_path):
    """The full-MNIST path: standard IDX files in a user's directory (tiny ones here)."""
    from samplelab.tasks.datasets import write_idx

    rng = np.random.default_rng(0)
    for prefix, count in (("train", 30), ("t10k", 10)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 6, 5), dtype=np.uint8))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8))
    config = resolve_run_config(
        {
            "task": {"name": "images", "dataset": "mnist", "path": str(tmp_path), "selection": "balanced"},
            "model": {"name": "mlp", "widths": [8]},
            "training": {"regime": "fixed", "n_train": 20, "steps": 4, "batch_size": 4, "eval_every": 2},
        }
    )
    task = build_task(config.task)
    assert (task.size, task.input_shape) == (40, (1, 30))
    result = train_ensemble(config, seeds=[0, 1])
    assert np.isfinite(result.test_metric).all() and result.train_metric.shape == (2, 3)


def test_a_study_that_leaves_no_test_images_is_refused_at_load(tmp_path):
    from samplelab.spec.study import load_study

    path = tmp_path / "too_big.toml"
    path.write_text(TINY_IMAGES_STUDY.replace('"training.n_train" = [30, 60]', '"training.n_train" = [30, 1797]'))
    with pytest.raises(ConfigError, match=r"training.n_train: 1797 training .* fix: use n_train < 1797$"):
        load_study(path)
