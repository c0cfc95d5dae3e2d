"""What every model provides: an Equinox module mapping ``[tokens, width] → [tokens, out]``."""

from __future__ import annotations

import equinox as eqx
import jax

from samplelab.registry import Registry, StrictConfig

MODELS = Registry("model")


class ModelConfig(StrictConfig):
    """Base of model configs; ``name`` selects the registered model."""

    name: str


def build_model(config: ModelConfig, key: jax.Array, *, input_shape: tuple[int, int], output_dim: int) -> eqx.Module:
    """Instantiate the registered model for ``config`` with weights drawn from ``key``.

    The module is called on one example: ``model(x)`` with ``x`` of shape ``input_shape``
    returns ``[input_shape[0], output_dim]``.
    """
    return MODELS.get(config.name).factory(config, key, input_shape=input_shape, output_dim=output_dim)
