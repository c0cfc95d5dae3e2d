"""A feed-forward net on the flattened sequence (seed 001's FFN baseline).

``x [T, W] → flatten [T·W] → Linear → ReLU → … → Linear(·, T·out) → [T, out]``. Hidden
widths default to the authors' ``(T·10, 1000)``: ``N·d`` then 1000 for qSTR with d = 10.
"""

from __future__ import annotations

import equinox as eqx
import jax
from pydantic import Field

from samplelab.models.base import MODELS, ModelConfig


class FFNConfig(ModelConfig):
    """Hidden widths (``None``: ``(tokens·10, 1000)``)."""

    name: str = "ffn"
    widths: tuple[int, ...] | None = Field(None, min_length=1, max_length=16, description="hidden layer widths")


class FFN(eqx.Module):
    """See the module docstring."""

    layers: tuple[eqx.nn.Linear, ...]
    tokens: int = eqx.field(static=True)

    def __init__(self, config: FFNConfig, key: jax.Array, *, input_shape, output_dim) -> None:
        tokens, width = input_shape
        widths = config.widths or (tokens * 10, 1000)
        sizes = [tokens * width, *widths, tokens * output_dim]
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(eqx.nn.Linear(a, b, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True))
        self.tokens = tokens

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [T, W] → [T, output_dim]``."""
        h = x.reshape(-1)
        for layer in self.layers[:-1]:
            h = jax.nn.relu(layer(h))
        return self.layers[-1](h).reshape(self.tokens, -1)


MODELS.register("ffn", FFNConfig, "feed-forward net on the flattened sequence: widths (default T·10, 1000)")(FFN)
