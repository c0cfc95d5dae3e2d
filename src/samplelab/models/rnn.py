"""A (bidirectional) GRU or LSTM over the sequence with a per-position linear read-out.

``x [T, W] → forward cell over t = 0…T−1 (and a backward cell over T−1…0) → concat
hidden states [T, hidden·directions] → Linear → [T, out]``; the recurrences are
``lax.scan`` over tokens (Equinox's ``GRUCell`` / ``LSTMCell``, zero initial state).
Seed 001's baseline is a bidirectional GRU with hidden size 500.
"""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from pydantic import Field

from samplelab.models.base import MODELS, ModelConfig


class RNNConfig(ModelConfig):
    """Cell kind, hidden size and direction."""

    name: str = "rnn"
    cell: Literal["gru", "lstm"] = "gru"
    hidden: int = Field(500, ge=1, le=16384)
    bidirectional: bool = True


def _run(cell: eqx.Module, kind: str, x: jax.Array, hidden: int) -> jax.Array:
    """Hidden state after each token of ``x [T, W]`` → ``[T, hidden]``."""
    zero = jnp.zeros(hidden, x.dtype)
    initial = (zero, zero) if kind == "lstm" else zero

    def step(state, token):
        state = cell(token, state)
        return state, state[0] if kind == "lstm" else state

    return jax.lax.scan(step, initial, x)[1]


class RNN(eqx.Module):
    """See the module docstring."""

    cells: tuple[eqx.Module, ...]
    readout: eqx.nn.Linear
    kind: str = eqx.field(static=True)
    hidden: int = eqx.field(static=True)

    def __init__(self, config: RNNConfig, key: jax.Array, *, input_shape, output_dim) -> None:
        directions = 2 if config.bidirectional else 1
        *cell_keys, k_out = jax.random.split(key, directions + 1)
        make = eqx.nn.GRUCell if config.cell == "gru" else eqx.nn.LSTMCell
        self.cells = tuple(make(input_shape[1], config.hidden, key=k) for k in cell_keys)
        self.readout = eqx.nn.Linear(directions * config.hidden, output_dim, key=k_out)
        self.kind, self.hidden = config.cell, config.hidden

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [T, W] → [T, output_dim]``."""
        states = [_run(self.cells[0], self.kind, x, self.hidden)]
        if len(self.cells) == 2:
            states.append(_run(self.cells[1], self.kind, x[::-1], self.hidden)[::-1])
        return jax.vmap(self.readout)(jnp.concatenate(states, axis=1))


MODELS.register("rnn", RNNConfig, "GRU or LSTM over the tokens, bidirectional by default, hidden 500")(RNN)
