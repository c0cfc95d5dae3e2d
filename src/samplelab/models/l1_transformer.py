"""The L1-attention transformer of seed 000's author (design.md §2, issue 5).

Each layer, on ``x [T, d]`` (``d`` = the token width, or ``d_model`` after a linear
embedding when given), for each head ``h``:

* queries ``q = W_q x`` (``d → d``); keys are the input itself gated per axis by a learned
  per-head vector ``g_h`` (initialised to 0.005): ``k = g_h ⊙ x``;
* scores ``s(src → dst) = −(1/√d)·Σ_k |q_dst,k − k_src,k|`` — an L1 distance, not a dot
  product;
* softmax over the T sources plus one extra zero-logit "no-op" slot, which is then dropped
  (so a head can attend to nothing);
* values ``v = W_v x`` at full width ``d``.

Heads are summed, passed through ReLU and a ``d → d`` linear, and added to the residual
stream. No LayerNorm, no MLP. A final ``d → out`` linear reads the output (the author read
a dim of the residual stream; a readout keeps the model usable for any task's output).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from pydantic import Field

from samplelab.models.base import MODELS, ModelConfig

GATE_INIT = 0.005


class L1TransformerConfig(ModelConfig):
    """Depth, heads and (optionally) an embedding width."""

    name: str = "l1_transformer"
    layers: int = Field(1, ge=1, le=64)
    heads: int = Field(1, ge=1, le=256)
    d_model: int | None = Field(None, ge=1, le=8192, description="null: work at the token width")


class L1Attention(eqx.Module):
    """One L1-attention layer with its residual update; ``[T, d] → [T, d]``."""

    query: jax.Array  # [H, d, d]
    gate: jax.Array  # [H, d]
    value: jax.Array  # [H, d, d]
    output: eqx.nn.Linear

    def __init__(self, width: int, heads: int, key: jax.Array) -> None:
        kq, kv, ko = jax.random.split(key, 3)
        bound = 1 / math.sqrt(width)  # PyTorch nn.Linear's default weight range
        self.query = jax.random.uniform(kq, (heads, width, width), minval=-bound, maxval=bound)
        self.value = jax.random.uniform(kv, (heads, width, width), minval=-bound, maxval=bound)
        self.gate = jnp.full((heads, width), GATE_INIT)
        self.output = eqx.nn.Linear(width, width, key=ko)

    def weights(self, x: jax.Array) -> jax.Array:
        """Attention probabilities ``[heads, T_dst, T_src]`` (the no-op slot dropped; rows sum ≤ 1)."""
        width = x.shape[1]
        q = jnp.einsum("hij,tj->hti", self.query, x)  # [H, T, d]
        k = self.gate[:, None, :] * x[None]  # [H, T, d]
        scores = -jnp.sum(jnp.abs(q[:, :, None, :] - k[:, None, :, :]), axis=-1) / math.sqrt(width)
        no_op = jnp.zeros((*scores.shape[:-1], 1), scores.dtype)
        return jax.nn.softmax(jnp.concatenate([scores, no_op], axis=-1), axis=-1)[..., :-1]

    def __call__(self, x: jax.Array) -> jax.Array:
        v = jnp.einsum("hij,sj->hsi", self.value, x)  # [H, T, d]
        mixed = jnp.einsum("hts,hsi->ti", self.weights(x), v)  # heads summed
        return x + jax.vmap(self.output)(jax.nn.relu(mixed))


class L1Transformer(eqx.Module):
    """Optional embedding, ``layers`` L1-attention layers, linear readout."""

    embed: eqx.nn.Linear | None
    layers: tuple[L1Attention, ...]
    readout: eqx.nn.Linear

    def __init__(self, config: L1TransformerConfig, key: jax.Array, *, input_shape, output_dim) -> None:
        width = config.d_model or input_shape[1]
        k_embed, k_out, *k_layers = jax.random.split(key, config.layers + 2)
        self.embed = eqx.nn.Linear(input_shape[1], width, key=k_embed) if config.d_model else None
        self.layers = tuple(L1Attention(width, config.heads, k) for k in k_layers)
        self.readout = eqx.nn.Linear(width, output_dim, key=k_out)

    def attention_weights(self, x: jax.Array) -> list[jax.Array]:
        """Per layer, ``[heads, T, T]`` attention probabilities on input ``x``."""
        h = x if self.embed is None else jax.vmap(self.embed)(x)
        weights = []
        for layer in self.layers:
            weights.append(layer.weights(h))
            h = layer(h)
        return weights

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [T, W] → [T, output_dim]``."""
        h = x if self.embed is None else jax.vmap(self.embed)(x)
        for layer in self.layers:
            h = layer(h)
        return jax.vmap(self.readout)(h)


MODELS.register(
    "l1_transformer",
    L1TransformerConfig,
    "seed 000's L1-attention transformer: gated keys, no-op slot, summed heads, ReLU, no LN/MLP",
)(L1Transformer)
