"""A standard pre-LayerNorm softmax transformer (no added positions; optionally causal).

``x [T, W] → Linear(W, d_model) → layers × (x + Attn(LN(x)); x + MLP(LN(x))) → LN →
Linear(d_model, out) → [T, out]``. Attention has ``heads`` heads of width
``d_model / heads`` with separate biased q, k, v and output projections; the MLP is
``Linear(d_model, mlp_width) → GELU (tanh) → Linear(mlp_width, d_model)``. Linear layers
use Equinox's default init, the same distribution as PyTorch's ``nn.Linear``. With
``causal = true`` a token attends only to itself and earlier tokens (a language model).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from pydantic import Field, model_validator

from samplelab.models.base import MODELS, ModelConfig


class TransformerConfig(ModelConfig):
    """Depth, heads and widths of the transformer."""

    name: str = "transformer"
    layers: int = Field(1, ge=1, le=64)
    heads: int = Field(2, ge=1, le=256)
    d_model: int = Field(64, ge=1, le=8192)
    mlp_width: int | None = Field(None, ge=1, le=65536, description="default 4·d_model")
    causal: bool = Field(False, description="mask attention to later tokens (needed by next-token tasks)")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerConfig:
        if self.d_model % self.heads:
            divisors = [h for h in range(1, min(self.d_model, 64) + 1) if self.d_model % h == 0]
            raise ValueError(
                f"heads={self.heads} does not divide d_model={self.d_model} — fix: use heads in "
                f"{divisors} or a d_model that is a multiple of {self.heads}"
            )
        return self


def _per_token(layer: eqx.Module, x: jax.Array) -> jax.Array:
    return jax.vmap(layer)(x)


class SoftmaxAttention(eqx.Module):
    """Multi-head softmax self-attention over all tokens (or, if ``causal``, over each token
    and the ones before it); ``[T, d] → [T, d]``."""

    query: eqx.nn.Linear
    key: eqx.nn.Linear
    value: eqx.nn.Linear
    output: eqx.nn.Linear
    heads: int = eqx.field(static=True)
    causal: bool = eqx.field(static=True)

    def __init__(self, d_model: int, heads: int, key: jax.Array, causal: bool = False) -> None:
        kq, kk, kv, ko = jax.random.split(key, 4)
        self.query = eqx.nn.Linear(d_model, d_model, key=kq)
        self.key = eqx.nn.Linear(d_model, d_model, key=kk)
        self.value = eqx.nn.Linear(d_model, d_model, key=kv)
        self.output = eqx.nn.Linear(d_model, d_model, key=ko)
        self.heads = heads
        self.causal = causal

    def weights(self, x: jax.Array) -> jax.Array:
        """Attention probabilities ``[heads, T_dst, T_src]``."""
        tokens, width = x.shape
        head_dim = width // self.heads
        q = _per_token(self.query, x).reshape(tokens, self.heads, head_dim)
        k = _per_token(self.key, x).reshape(tokens, self.heads, head_dim)
        scores = jnp.einsum("thd,shd->hts", q, k) / math.sqrt(head_dim)
        if self.causal:
            scores = jnp.where(jnp.tri(tokens, dtype=bool), scores, -jnp.inf)
        return jax.nn.softmax(scores, axis=-1)

    def __call__(self, x: jax.Array) -> jax.Array:
        tokens, width = x.shape
        v = _per_token(self.value, x).reshape(tokens, self.heads, width // self.heads)
        mixed = jnp.einsum("hts,shd->thd", self.weights(x), v).reshape(tokens, width)
        return _per_token(self.output, mixed)


class Block(eqx.Module):
    """One pre-LN residual block: attention then MLP."""

    attention_norm: eqx.nn.LayerNorm
    attention: SoftmaxAttention
    mlp_norm: eqx.nn.LayerNorm
    mlp_in: eqx.nn.Linear
    mlp_out: eqx.nn.Linear

    def __init__(self, d_model: int, heads: int, mlp_width: int, key: jax.Array, causal: bool = False) -> None:
        ka, ki, ko = jax.random.split(key, 3)
        self.attention_norm = eqx.nn.LayerNorm(d_model)
        self.attention = SoftmaxAttention(d_model, heads, ka, causal)
        self.mlp_norm = eqx.nn.LayerNorm(d_model)
        self.mlp_in = eqx.nn.Linear(d_model, mlp_width, key=ki)
        self.mlp_out = eqx.nn.Linear(mlp_width, d_model, key=ko)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.attention(_per_token(self.attention_norm, x))
        hidden = jax.nn.gelu(_per_token(self.mlp_in, _per_token(self.mlp_norm, x)), approximate=True)
        return x + _per_token(self.mlp_out, hidden)


class Transformer(eqx.Module):
    """Input projection, ``layers`` blocks, final LayerNorm, output projection."""

    embed: eqx.nn.Linear
    blocks: tuple[Block, ...]
    final_norm: eqx.nn.LayerNorm
    unembed: eqx.nn.Linear

    def __init__(self, config: TransformerConfig, key: jax.Array, *, input_shape, output_dim) -> None:
        mlp_width = config.mlp_width or 4 * config.d_model
        k_embed, k_out, *k_blocks = jax.random.split(key, config.layers + 2)
        self.embed = eqx.nn.Linear(input_shape[1], config.d_model, key=k_embed)
        self.blocks = tuple(Block(config.d_model, config.heads, mlp_width, k, config.causal) for k in k_blocks)
        self.final_norm = eqx.nn.LayerNorm(config.d_model)
        self.unembed = eqx.nn.Linear(config.d_model, output_dim, key=k_out)

    def attention_weights(self, x: jax.Array) -> list[jax.Array]:
        """Per layer, ``[heads, T, T]`` attention probabilities on input ``x``."""
        h = _per_token(self.embed, x)
        weights = []
        for block in self.blocks:
            weights.append(block.attention.weights(_per_token(block.attention_norm, h)))
            h = block(h)
        return weights

    def embeddings(self, x: jax.Array) -> jax.Array:
        """Final-layer token embeddings ``[T, d_model]`` (after the final LayerNorm): what the
        output projection reads, and what seed 002 estimates the intrinsic dimension of."""
        h = _per_token(self.embed, x)
        for block in self.blocks:
            h = block(h)
        return _per_token(self.final_norm, h)

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [T, W] → [T, output_dim]``."""
        return _per_token(self.unembed, self.embeddings(x))


MODELS.register("transformer", TransformerConfig, "pre-LN softmax transformer: layers, heads, d_model, mlp_width")(
    Transformer
)
