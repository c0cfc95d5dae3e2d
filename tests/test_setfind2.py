"""setfind2's generator equals its definition on random draws."""

from __future__ import annotations

import jax
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from samplelab.spec.run_config import resolve_run_config
from samplelab.tasks import build_task
from samplelab.tasks.setfind2 import Setfind2Config
from samplelab.training.trainer import _POOL, _TEST

CASES = st.tuples(st.integers(2, 40), st.integers(0, 12), st.integers(0, 2**31 - 1))


def _definition_position_code(p: int) -> np.ndarray:
    code = []
    for i in range(8):
        period = 4 * 2**i
        code += [-np.cos(2 * np.pi * p / period) * 10, np.sin(2 * np.pi * p / period) * 10]
    return np.array(code)


@settings(max_examples=40, deadline=None)
@given(CASES)
def test_example_matches_definition(case):
    set_size, distract, seed = case
    task = build_task(Setfind2Config(set_size=set_size, distract=distract))
    key = jax.random.key(seed)
    cursor = int(task.init_run_state(jax.random.fold_in(key, 0)))
    inputs, target = (np.asarray(a) for a in task.sample(jax.random.fold_in(key, 1), cursor))
    width = 32 + distract
    assert 0 <= cursor < set_size
    assert inputs.shape == (set_size + 1, width) and target.shape == (width,)
    for p in range(set_size):
        np.testing.assert_allclose(inputs[p, :16], _definition_position_code(p), atol=1e-4)
        assert inputs[p, 16] == 10.0
    query = inputs[-1]
    assert query[16] == -10.0 and not query[:16].any() and not query[17:].any()
    expected = np.zeros(width)
    expected[17:32] = inputs[cursor, 17:32]
    np.testing.assert_array_equal(target, expected)
    # The loss is the SSE of the query token's output only.
    outputs = np.zeros((set_size + 1, width))
    outputs[:-1] = 123.0
    assert np.isclose(float(task.loss(outputs, target)), float(np.sum(target**2)), rtol=1e-5)


def test_content_statistics_and_baseline():
    task = build_task(Setfind2Config(set_size=8, distract=4))
    keys = jax.random.split(jax.random.key(0), 4000)
    inputs, targets = jax.vmap(task.sample, (0, None))(keys, 3)
    content = np.asarray(inputs)[:, :-1, 17:]
    assert abs(content.mean()) < 0.05 and abs(content.std() - 5.0) < 0.05
    zero_predictor = np.mean(np.sum(np.asarray(targets) ** 2, axis=1))
    assert task.baseline == 375.0
    assert abs(zero_predictor - 375.0) < 0.03 * 375.0


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_train_pool_and_test_set_are_disjoint(seed):
    """The trainer's pool stream and test stream never produce the same example."""
    config = resolve_run_config({"task": {"name": "setfind2", "set_size": 4}, "model": {"name": "transformer"}})
    task = build_task(config.task)
    seed_key = jax.random.key(seed)
    pool_key, test_key = jax.random.fold_in(seed_key, _POOL), jax.random.fold_in(seed_key, _TEST)
    pool = jax.vmap(lambda i: task.sample(jax.random.fold_in(pool_key, i), 0)[0])(np.arange(256))
    test = jax.vmap(lambda j: task.sample(jax.random.fold_in(test_key, j), 0)[0])(np.arange(256))
    pool_rows = {np.asarray(x).tobytes() for x in pool}
    test_rows = {np.asarray(x).tobytes() for x in test}
    assert len(pool_rows) == 256 and len(test_rows) == 256
    assert not pool_rows & test_rows
