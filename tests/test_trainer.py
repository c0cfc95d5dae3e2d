"""The ensemble trainer learns, matches one-by-one training, is deterministic, flags divergence."""

from __future__ import annotations

import numpy as np
import pytest

from samplelab.spec.run_config import resolve_run_config
from samplelab.training.trainer import make_optimizer, train_ensemble


def _config(d_model=16, **training):
    return resolve_run_config(
        {
            "task": {"name": "setfind2", "set_size": 4},
            "model": {"name": "transformer", "d_model": d_model, "heads": 2, "mlp_width": 2 * d_model},
            "optimizer": {"lr": 3e-3},
            "training": {"steps": 60, "batch_size": 16, "eval_every": 20, "test_size": 64, **training},
        }
    )


def test_learns_an_easy_task():
    config = _config(d_model=32, steps=600, eval_every=100, batch_size=32)
    result = train_ensemble(config, seeds=[0, 1])
    baseline = 375.0
    assert result.test_metric.shape == (2, 7) and result.train_loss.shape == (2, 6)
    assert np.all(result.test_metric[:, 0] > 0.5 * baseline)
    assert np.all(result.test_metric[:, -1] < 0.05 * baseline), result.test_metric
    assert not result.diverged.any()
    np.testing.assert_array_equal(result.eval_steps, [0, 100, 200, 300, 400, 500, 600])


@pytest.mark.parametrize("regime", ["online", "fixed"])
def test_ensemble_equals_members_trained_alone(regime):
    extra = {"regime": "fixed", "n_train": 32} if regime == "fixed" else {}
    config = _config(**extra)
    seeds, lrs, sizes = [3, 4, 3], [3e-3, 1e-3, 3e-3], [32, 32, 64]
    together = train_ensemble(config, seeds=seeds, lrs=lrs, n_trains=sizes)
    for i, (seed, lr, size) in enumerate(zip(seeds, lrs, sizes, strict=True)):
        alone = train_ensemble(config, seeds=[seed], lrs=[lr], n_trains=[size])
        np.testing.assert_allclose(together.test_metric[i], alone.test_metric[0], rtol=2e-3, atol=1e-3)
        np.testing.assert_allclose(together.train_loss[i], alone.train_loss[0], rtol=2e-3, atol=1e-3)
    if regime == "fixed":  # same seed, different n: different data, same init
        assert together.test_metric[0, 0] == pytest.approx(together.test_metric[2, 0], rel=1e-5)
        assert not np.allclose(together.test_metric[0, 1:], together.test_metric[2, 1:])


def test_same_seed_same_numbers():
    config = _config()
    first = train_ensemble(config, seeds=[7, 8])
    second = train_ensemble(config, seeds=[7, 8])
    np.testing.assert_array_equal(first.test_metric, second.test_metric)
    different = train_ensemble(config, seeds=[9, 8])
    assert not np.array_equal(first.test_metric[0], different.test_metric[0])


def test_divergence_is_flagged_not_raised():
    config = _config()
    result = train_ensemble(config, seeds=[0, 0], lrs=[1e-3, 1e6])
    assert result.diverged.tolist() == [False, True]
    assert np.isfinite(result.test_metric[0]).all()


@pytest.mark.parametrize("name", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_optimizers_build_and_step(name, schedule):
    import jax.numpy as jnp

    optimizer = make_optimizer(
        resolve_run_config(
            {"task": {"name": "setfind2"}, "model": {"name": "transformer"},
             "optimizer": {"name": name, "schedule": schedule, "warmup_steps": 2, "weight_decay": 0.1, "grad_clip": 1.0}}
        ).optimizer,
        steps=10,
    )  # fmt: skip
    params = {"w": jnp.ones(3)}
    state = optimizer.init(params)
    updates, _ = optimizer.update({"w": jnp.ones(3)}, state, params)
    assert updates["w"].shape == (3,)
