"""What every model provides, and the optional hooks a model may add.

A model is an Equinox module mapping one example ``x [tokens, width]`` to ``[tokens, out]``,
built by its registered factory (``@MODELS.register``). Everything else is optional and
declared here, once: a model class that defines a hook's methods has it, and the trainer,
the probes and the CLI ask :func:`has_hook` rather than probing for attribute names.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import equinox as eqx
import jax

from samplelab.core.registry import Registry, StrictConfig

MODELS = Registry("model")


class ModelConfig(StrictConfig):
    """Base of model configs; ``name`` selects the registered model."""

    name: str


@runtime_checkable
class AttentionWeights(Protocol):
    """``attention_weights(x [T, W]) → [layers] of [H, T, S]`` softmax weights; the trainer records their entropy."""

    def attention_weights(self, x: jax.Array) -> list[jax.Array]: ...


@runtime_checkable
class Embeddings(Protocol):
    """``embeddings(x [T, W]) → [T, d]`` final-layer token embeddings; runs record their intrinsic dimension."""

    def embeddings(self, x: jax.Array) -> jax.Array: ...


@runtime_checkable
class StatefulTraining(Protocol):
    """Its own training step with a key and a per-member state (e.g. ``mlp``'s neuron allocation):
    ``init_train_state() → state`` and ``train_batch(inputs [B, T, W], key, state) → (outputs, state)``."""

    def init_train_state(self) -> Any: ...

    def train_batch(self, inputs: jax.Array, key: jax.Array, state: Any) -> tuple[jax.Array, Any]: ...


@runtime_checkable
class AttentionMap(Protocol):
    """``attention_map() → [H, W, W]`` ``|W_Q W_Kᵀ|`` per head; drawn by ``samplelab attention-map``."""

    def attention_map(self) -> jax.Array: ...


MODEL_HOOKS = (AttentionWeights, Embeddings, StatefulTraining, AttentionMap)


def has_hook(model: str | type, hook: type) -> bool:
    """Whether a model (its registered name, or its class) provides ``hook`` (one of :data:`MODEL_HOOKS`).
    Hooks are methods of the registered class; a model registered as a plain factory function has none."""
    model_class = MODELS.get(model).factory if isinstance(model, str) else model
    return isinstance(model_class, type) and issubclass(model_class, hook)


def build_model(config: ModelConfig, key: jax.Array, *, input_shape: tuple[int, int], output_dim: int) -> eqx.Module:
    """Instantiate the registered model for ``config`` with weights drawn from ``key``.

    The module is called on one example: ``model(x)`` with ``x`` of shape ``input_shape``
    returns ``[input_shape[0], output_dim]``.
    """
    return MODELS.get(config.name).factory(config, key, input_shape=input_shape, output_dim=output_dim)
