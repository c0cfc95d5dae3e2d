"""qSTR's generator equals its definition on random draws."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samplelab.core.errors import ConfigError
from samplelab.tasks import TASKS, build_task
from samplelab.tasks.qstr import QstrConfig, default_embed_dim

CASES = st.tuples(
    st.sampled_from([2, 3, 4, 5, 8, 12, 17, 30]),  # N: few shapes, each compiled once
    st.integers(1, 3),  # q
    st.sampled_from(["product", "sum"]),
    st.booleans(),  # simple
    st.integers(0, 2**31 - 1),
)


def _decode_index(block: np.ndarray, embeddings: np.ndarray) -> int:
    """The row of E equal to ``block`` (rows are distinct: one match)."""
    matches = np.flatnonzero(np.all(np.isclose(embeddings, block), axis=1))
    assert matches.size == 1
    return int(matches[0])


@settings(max_examples=40, deadline=None)
@given(CASES)
def test_example_matches_definition(case):
    seq_len, q, target_form, simple, seed = case
    task = build_task(QstrConfig(seq_len=seq_len, q=q, target=target_form, simple=simple))
    d, d_e = 10, max(1, math.floor(5 * math.log(seq_len)))
    key = jax.random.key(seed)
    state = task.init_run_state(jax.random.fold_in(key, 0))
    embeddings, directions = np.asarray(state["E"]), np.asarray(state["u"])
    inputs, target = (np.asarray(a, dtype=np.float64) for a in task.sample(jax.random.fold_in(key, 1), state))

    assert task.input_shape == (seq_len, d + (1 + q) * d_e) and inputs.shape == task.input_shape
    assert target.shape == (seq_len,) and task.output_dim == 1 and task.baseline == 1.0
    np.testing.assert_allclose(np.abs(embeddings), 1 / math.sqrt(d_e), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, rtol=1e-5)
    tokens = inputs[:, :d]
    np.testing.assert_allclose(inputs[:, d : d + d_e], embeddings, rtol=1e-6)  # E_i at position i
    indices = np.array(
        [
            [_decode_index(inputs[i, d + (1 + k) * d_e : d + (2 + k) * d_e], embeddings) for k in range(q)]
            for i in range(seq_len)
        ]
    )
    if simple:
        assert (indices == indices[0]).all()  # one set of indices for every position
    for i in range(seq_len):
        readouts = [tokens[indices[i, k]] @ directions[k] for k in range(q)]
        if q == 1:
            expected = readouts[0]
        elif target_form == "product":
            expected = np.prod(readouts)
        else:
            expected = np.sum(readouts) / math.sqrt(q)
        # Decoding picks the first matching row: if two rows of E coincide (tiny d_e), both
        # tokens must give the same target for the check to be meaningful, so skip those.
        duplicated = any((np.isclose(embeddings, embeddings[indices[i, k]]).all(axis=1)).sum() > 1 for k in range(q))
        if not duplicated:
            assert target[i] == pytest.approx(expected, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize(("q", "form"), [(1, "product"), (2, "product"), (3, "product"), (2, "sum")])
def test_targets_have_unit_variance_and_zero_predictor_scores_the_baseline(q, form):
    task = build_task(QstrConfig(seq_len=6, q=q, target=form))
    state = task.init_run_state(jax.random.key(1))
    keys = jax.random.split(jax.random.key(2), 4000)
    _, targets = jax.vmap(task.sample, (0, None))(keys, state)
    targets = np.asarray(targets)
    assert abs(targets.mean()) < 0.05 and abs(targets.var() - 1.0) < 0.1
    zero = np.zeros((6, 1))
    losses = jax.vmap(task.loss, (None, 0))(zero, targets)
    assert abs(float(np.mean(losses)) - task.baseline) < 0.1


def test_indices_are_uniform_and_independent_per_position():
    task = build_task(QstrConfig(seq_len=4, q=1))
    state = task.init_run_state(jax.random.key(0))
    keys = jax.random.split(jax.random.key(3), 2000)
    inputs, _ = jax.vmap(task.sample, (0, None))(keys, state)
    d_e = default_embed_dim(4)
    blocks = np.asarray(inputs)[:, :, 10 + d_e :]  # [B, N, d_e]: E_{t_i}
    embeddings = np.asarray(state["E"])
    counts = np.zeros(4)
    same = 0
    for example in blocks[:500]:
        idx = [int(np.flatnonzero(np.isclose(embeddings, row).all(axis=1))[0]) for row in example]
        counts[idx[0]] += 1
        same += idx[0] == idx[1]
    assert counts.min() > 500 / 4 * 0.7  # each index about a quarter of the time
    assert 0.15 < same / 500 < 0.35  # independent positions agree a quarter of the time


def test_default_embed_dim_and_validation():
    assert [default_embed_dim(n) for n in (2, 4, 8, 12, 64)] == [3, 6, 10, 12, 20]
    with pytest.raises(ConfigError, match=r"task\.q"):
        TASKS.validate({"name": "qstr", "q": 0})


def test_position_embeddings_have_distinct_rows_uniform_over_distinct_matrices():
    """At N = 2 (d_e = 3) independent ±1 rows coincide 1 time in 8; distinct_positions draws
    them again: over 4,000 runs every pair of rows differs, and each of the 8 × 7 ordered
    pairs of distinct sign patterns appears about equally often. At N = 12 (d_e = 12) the
    rows are distinct too; with distinct_positions = false they repeat as often as chance says."""
    task = build_task(TASKS.validate({"name": "qstr", "seq_len": 2}))
    states = jax.vmap(task.init_run_state)(jax.random.split(jax.random.key(0), 4000))
    signs = np.asarray(states["E"]) * math.sqrt(3) > 0  # [runs, 2, 3]
    codes = signs @ np.array([1, 2, 4])  # [runs, 2] each row's pattern 0…7
    assert np.all(codes[:, 0] != codes[:, 1])
    pairs = np.bincount(codes[:, 0] * 8 + codes[:, 1], minlength=64)
    expected = 4000 / 56
    observed = pairs[[a * 8 + b for a in range(8) for b in range(8) if a != b]]
    assert observed.sum() == 4000 and np.abs(observed - expected).max() < 5 * math.sqrt(expected)
    large = build_task(TASKS.validate({"name": "qstr", "seq_len": 12}))
    for seed in range(20):
        rows = np.asarray(large.init_run_state(jax.random.key(seed))["E"])
        assert len(np.unique(rows, axis=0)) == 12
    independent = build_task(TASKS.validate({"name": "qstr", "seq_len": 2, "distinct_positions": False}))
    states = jax.vmap(independent.init_run_state)(jax.random.split(jax.random.key(1), 4000))
    same = np.all(np.asarray(states["E"])[:, 0] == np.asarray(states["E"])[:, 1], axis=1).mean()
    assert same == pytest.approx(1 / 8, abs=0.02)


def test_too_few_sign_patterns_for_distinct_positions_is_a_config_error():
    with pytest.raises(ConfigError, match=r"embed_dim 2: 4 sign patterns cannot give 8 distinct positions"):
        TASKS.validate({"name": "qstr", "seq_len": 8, "embed_dim": 2})
    TASKS.validate({"name": "qstr", "seq_len": 8, "embed_dim": 2, "distinct_positions": False})


def test_redrawn_rows_that_collide_again_are_drawn_again_until_all_are_distinct():
    """N = 3 rows of 2 signs (4 patterns): a redrawn row can hit another row, so redraws
    chain; every ordered triple of distinct patterns (24) still comes out equally often."""
    task = build_task(TASKS.validate({"name": "qstr", "seq_len": 3, "embed_dim": 2}))
    states = jax.vmap(task.init_run_state)(jax.random.split(jax.random.key(2), 4800))
    codes = (np.asarray(states["E"]) > 0) @ np.array([1, 2])  # [runs, 3] each row's pattern 0…3
    assert np.all((codes[:, 0] != codes[:, 1]) & (codes[:, 0] != codes[:, 2]) & (codes[:, 1] != codes[:, 2]))
    triples = np.bincount(codes @ np.array([16, 4, 1]), minlength=64)
    observed = triples[triples > 0]
    assert observed.size == 24 and np.abs(observed - 200).max() < 5 * math.sqrt(200)
