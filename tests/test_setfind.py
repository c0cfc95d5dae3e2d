"""setfind's generator equals its definition on random draws; the L1 transformer's attention."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samplelab.models import MODELS, build_model
from samplelab.tasks import build_task
from samplelab.tasks.setfind import SetfindConfig, exact_baseline

CASES = st.tuples(
    st.integers(2, 20),  # N
    st.integers(0, 3),  # markers
    st.sampled_from(["linear", "sinusoidal"]),
    st.integers(0, 6),  # distract
    st.sampled_from(["subtract", "absolute", "none"]),
    st.integers(0, 2**31 - 1),
)


def _decode(task, config, token: np.ndarray) -> dict:
    """Read one token back by the layout the module docstring defines."""
    bits = max(1, math.ceil(math.log2(config.set_size)))
    position_dims = 1 if config.positions == "linear" else 8
    flag = bits + position_dims
    if config.positions == "linear":
        position = token[bits]
    else:
        angles = [math.atan2(token[bits + 2 * i + 1], -token[bits + 2 * i]) for i in range(4)]
        position = round((angles[3] % (2 * math.pi)) / (2 * math.pi) * 32) % 32  # period 32 covers T ≤ 32
    return {
        "digit": int(sum((token[b] / 10) * 2**b for b in range(bits))),
        "position": position,
        "set": token[flag] == 10,
        "cursor": token[flag + 1] == 10,
        "cursor_value": token[flag + 2],
        "marker": token[flag + 3] == 10,
        "distract": token[flag + 4 : flag + 4 + config.distract],
        "rest": token[flag + 4 + config.distract :],
    }


@settings(max_examples=60, deadline=None)
@given(CASES)
def test_example_matches_definition(case):
    set_size, markers, positions, distract, operation, seed = case
    config = SetfindConfig(
        set_size=set_size, markers=markers, positions=positions, distract=distract, width=None, operation=operation
    )
    task = build_task(config)
    inputs, targets = (np.asarray(a) for a in task.sample(jax.random.key(seed), task.init_run_state(None)))
    tokens = set_size + 1 + markers
    assert inputs.shape == (tokens, config.minimum_width) and targets.shape == (2,)
    decoded = [_decode(task, config, row) for row in inputs]
    assert [d["position"] for d in decoded] == list(range(tokens))  # each token carries its position
    set_rows = [i for i, d in enumerate(decoded) if d["set"]]
    cursor_rows = [i for i, d in enumerate(decoded) if d["cursor"]]
    assert len(set_rows) == set_size and len(cursor_rows) == 1
    assert sum(d["marker"] for d in decoded) == markers
    assert sorted(decoded[i]["digit"] for i in set_rows) == list(range(set_size))  # a permutation of the digits
    for j in range(distract):  # each distractor dim is a permutation of 0..N-1 over the set
        assert sorted(decoded[i]["distract"][j] for i in set_rows) == list(range(set_size))
    for d in decoded:
        assert not d["rest"].any()
        if not d["set"]:
            assert d["digit"] == 0 and not d["distract"].any()
    cursor = decoded[cursor_rows[0]]["cursor_value"]
    assert cursor in range(set_size)
    zero_position = next(i for i in set_rows if decoded[i]["digit"] == 0)
    expected = {"subtract": cursor - zero_position, "absolute": abs(cursor - zero_position), "none": zero_position}
    assert targets[0] == expected[operation] and targets[1] == cursor_rows[0]


def test_baseline_is_the_target_variance_and_matches_design():
    assert exact_baseline(10, 13, "subtract") == pytest.approx(8.25 + 14.0)  # design.md: ≈ 22.1 at N = 10
    task = build_task(SetfindConfig())
    keys = jax.vmap(jax.random.key)(jnp.arange(4000))  # the keys key(0) … key(3999), one program
    draws = np.asarray(jax.vmap(task.sample, (0, None))(keys, 0)[1][:, 0])
    assert draws.var() == pytest.approx(task.baseline, rel=0.08)
    assert exact_baseline(10, 13, "none") == pytest.approx(14.0)


def test_loss_reads_the_cursor_token():
    task = build_task(SetfindConfig())
    outputs = jnp.zeros((13, 1)).at[4, 0].set(3.0)
    assert float(task.loss(outputs, jnp.array([3.0, 4.0]))) == 0.0
    assert float(task.loss(outputs, jnp.array([3.0, 5.0]))) == 9.0


def test_width_too_small_is_rejected():
    with pytest.raises(ValueError, match="width=8 is less than"):
        SetfindConfig(width=8)


def test_l1_attention_matches_its_definition():
    config = MODELS.validate({"name": "l1_transformer", "layers": 1, "heads": 2})
    model = build_model(config, jax.random.key(0), input_shape=(5, 4), output_dim=1)
    layer = model.layers[0]
    x = jax.random.normal(jax.random.key(1), (5, 4))
    weights = np.asarray(layer.weights(x))
    q = np.einsum("hij,tj->hti", np.asarray(layer.query), np.asarray(x))
    k = np.asarray(layer.gate)[:, None, :] * np.asarray(x)[None]
    for h in range(2):
        for t in range(5):
            logits = np.append([-np.abs(q[h, t] - k[h, s]).sum() / 2 for s in range(5)], 0.0)  # √d = 2; no-op slot
            np.testing.assert_allclose(weights[h, t], (np.exp(logits) / np.exp(logits).sum())[:5], rtol=1e-5)
    assert np.allclose(np.asarray(layer.gate), 0.005)
    assert model(x).shape == (5, 1) and model.attention_weights(x)[0].shape == (2, 5, 5)
