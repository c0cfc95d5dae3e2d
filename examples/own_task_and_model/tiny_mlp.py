"""A model of one's own, registered from a study file's ``plugins`` (docs/extending.md).

``tiny_mlp``: the flattened sequence through one hidden layer of ``width`` tanh units to
``tokens × output_dim`` outputs. An Equinox module called on one example.
"""

from __future__ import annotations

import equinox as eqx
import jax
from pydantic import Field

from samplelab.models import MODELS, ModelConfig


class TinyMLPConfig(ModelConfig):
    """One hidden layer of ``width`` units."""

    name: str = "tiny_mlp"
    width: int = Field(64, ge=1, le=65536, description="hidden units")


class TinyMLP(eqx.Module):
    """``x [T, W] → flatten → Linear → tanh → Linear → [T, output_dim]``."""

    hidden: eqx.nn.Linear
    out: eqx.nn.Linear
    tokens: int = eqx.field(static=True)

    def __init__(self, config: TinyMLPConfig, key: jax.Array, *, input_shape, output_dim) -> None:
        tokens, width = input_shape
        first, second = jax.random.split(key)
        self.hidden = eqx.nn.Linear(tokens * width, config.width, key=first)
        self.out = eqx.nn.Linear(config.width, tokens * output_dim, key=second)
        self.tokens = tokens

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jax.nn.tanh(self.hidden(x.reshape(-1)))).reshape(self.tokens, -1)


MODELS.register("tiny_mlp", TinyMLPConfig, "one hidden tanh layer on the flattened sequence (an example plugin)")(TinyMLP)
