"""One softmax attention layer on the raw input tokens, then a per-position ReLU MLP.

The one-layer transformer of seed 001's code: ``H`` heads attend directly over the input
tokens (no embedding, no LayerNorm, no positions added: position information is what the
task puts in the tokens), and an MLP reads each position's own token beside what its
heads retrieved:

``x [T, W] → a_h = softmax(x W_Q^h (x W_K^h)ᵀ / √k) x W_V^h  (h = 1…H, each [T, head_dim])
→ MLP([x_t, a_1,t, …, a_H,t]) = Linear(W + H·head_dim, mlp_width) → ReLU → Linear(·, out)``.

Because W_Q and W_K act on input coordinates, ``|W_Q^h W_K^hᵀ|`` ([W, W]) is the attention
map seed 001 plots: which input dims of the destination match which of the source.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from pydantic import Field

from samplelab.models.base import MODELS, ModelConfig


class AttentionMLPConfig(ModelConfig):
    """Heads, per-head width (``None``: the input width) and the MLP width."""

    name: str = "attention_mlp"
    heads: int = Field(1, ge=1, le=64)
    head_dim: int | None = Field(None, ge=1, le=4096, description="q/k/v width per head; default the input width")
    mlp_width: int = Field(100, ge=1, le=65536)


class AttentionMLP(eqx.Module):
    """See the module docstring. Weights ``query``/``key``/``value``: ``[H, W, head_dim]``."""

    query: jax.Array
    key: jax.Array
    value: jax.Array
    mlp_in: eqx.nn.Linear
    mlp_out: eqx.nn.Linear

    def __init__(self, config: AttentionMLPConfig, key: jax.Array, *, input_shape, output_dim) -> None:
        width = input_shape[1]
        head_dim = config.head_dim or width
        kq, kk, kv, ki, ko = jax.random.split(key, 5)
        scale = 1 / math.sqrt(width)  # PyTorch nn.Linear's bound, without bias

        def uniform(k: jax.Array) -> jax.Array:
            return jax.random.uniform(k, (config.heads, width, head_dim), minval=-scale, maxval=scale)

        self.query, self.key, self.value = uniform(kq), uniform(kk), uniform(kv)
        self.mlp_in = eqx.nn.Linear(width + config.heads * head_dim, config.mlp_width, key=ki)
        self.mlp_out = eqx.nn.Linear(config.mlp_width, output_dim, key=ko)

    def weights(self, x: jax.Array) -> jax.Array:
        """Attention probabilities ``[H, T_dst, T_src]``."""
        q = jnp.einsum("tw,hwk->htk", x, self.query)
        k = jnp.einsum("sw,hwk->hsk", x, self.key)
        return jax.nn.softmax(jnp.einsum("htk,hsk->hts", q, k) / math.sqrt(q.shape[-1]), axis=-1)

    def attention_weights(self, x: jax.Array) -> list[jax.Array]:
        """One layer: ``[[H, T, T]]``."""
        return [self.weights(x)]

    def attention_map(self) -> jax.Array:
        """``|W_Q^h W_K^hᵀ|`` per head, ``[H, W, W]`` (destination dim × source dim)."""
        return jnp.abs(jnp.einsum("hwk,hvk->hwv", self.query, self.key))

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [T, W] → [T, output_dim]``."""
        v = jnp.einsum("sw,hwk->hsk", x, self.value)
        retrieved = jnp.einsum("hts,hsk->thk", self.weights(x), v).reshape(x.shape[0], -1)
        hidden = jax.nn.relu(jax.vmap(self.mlp_in)(jnp.concatenate([x, retrieved], axis=1)))
        return jax.vmap(self.mlp_out)(hidden)


MODELS.register(
    "attention_mlp", AttentionMLPConfig, "one softmax attention layer on raw tokens + per-position ReLU MLP (seed 001)"
)(AttentionMLP)
