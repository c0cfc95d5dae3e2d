"""A multi-layer perceptron with seed 000's initialisations and neuron allocation.

``x [T, W] → flatten [T·W] → (Linear → activation) per hidden width → Linear → [1, out]``
(one output token: the MNIST-100 net is 784 → 512 → 128 → 10 with QuickGELU,
``x·σ(1.702x)``). Initialisations (``init``):

* ``default``: PyTorch's ``nn.Linear``: weights and biases ``U(±1/√fan_in)``;
* ``xavier``: weights ``U(±√(6/(fan_in+fan_out)))`` (Glorot), biases 0;
* ``sparse``: ``default``, then a fraction ``sparsity`` of each weight matrix set to 0 and
  kept there by a fixed mask (a frozen array the trainer never updates);
* ``zero``: every weight and bias 0, with *neuron allocation* switched on (below).

Neuron allocation (seed 000's "neurons turn on"; on by default only for ``zero``): during
training, every example adds ``allocation_bump`` (0.001) to one hidden unit after its
activation, unit ``j`` chosen with probability ∝ ``exp(−allocation_temperature · m_j)``
(temperature 5), where ``m_j`` is a running mean of unit ``j``'s mean |activation|
(``m ← μ·m + (1−μ)·mean_batch |a_j|``, μ = ``allocation_momentum``). ``allocation_scope``
says among which units: ``network`` (the default), one unit of all the hidden layers' units
per example — the seed author's words, "a straight-through layer adds +0.001 to one hidden
unit per sample"; ``layer``, one unit in each hidden layer per example (before session 9
the only reading). The bump is a constant, so gradients pass straight through. Without it a
zero-initialised net has zero gradients everywhere but the output bias. Evaluation does not
add the bump.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from pydantic import Field, ValidationInfo, field_validator, model_validator

from samplelab.models.base import MODELS, ModelConfig

ACTIVATIONS = {
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "gelu": jax.nn.gelu,
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
}


class MLPConfig(ModelConfig):
    """Hidden widths, activation, initialisation and (for zero init) neuron allocation."""

    name: str = "mlp"
    widths: tuple[int, ...] = Field((512, 128), min_length=1, max_length=16, description="hidden layer widths")
    activation: Literal["quick_gelu", "gelu", "relu", "tanh"] = "quick_gelu"
    init: Literal["default", "xavier", "sparse", "zero"] = "default"
    sparsity: float = Field(0.0, ge=0, lt=1, description='init = "sparse": fraction of weights fixed at 0')
    allocation: bool | None = Field(None, description='neuron allocation; default: on for init = "zero" only')
    allocation_bump: float = Field(1e-3, gt=0, le=1)
    allocation_temperature: float = Field(5.0, ge=0, le=1000)
    allocation_momentum: float = Field(0.99, ge=0, lt=1)
    allocation_scope: Literal["network", "layer"] | None = Field(
        None, validate_default=True, description="one bumped unit per example in the network or in each layer"
    )

    @field_validator("allocation_scope")
    @classmethod
    def _scope_only_when_allocating(cls, scope: str | None, info: ValidationInfo) -> str | None:
        """``network`` by default when the net allocates; nothing when it does not (so the run
        keys of nets without allocation stay as they were)."""
        allocation = info.data.get("allocation")
        allocates = info.data.get("init") == "zero" if allocation is None else allocation
        if not allocates and scope is not None:
            raise ValueError(
                "allocation_scope is used with neuron allocation only — fix: remove it or set allocation = true"
            )
        return (scope or "network") if allocates else None

    @model_validator(mode="after")
    def _sparsity_needs_sparse(self) -> MLPConfig:
        if self.sparsity and self.init != "sparse":
            raise ValueError('sparsity is used by init = "sparse" only — fix: set init = "sparse" or remove sparsity')
        return self


def allocation_bump(key: jax.Array, running_mean: jax.Array, batch: int, temperature: float, size: float) -> jax.Array:
    """``[batch, width]``: ``size`` at one unit per row, unit ``j`` drawn with probability
    ∝ ``exp(−temperature · running_mean[j])`` (``running_mean [width]``), 0 elsewhere."""
    units = jax.random.categorical(key, -temperature * running_mean, shape=(batch,))
    return size * jax.nn.one_hot(units, running_mean.shape[0])


def _layer(key: jax.Array, fan_in: int, fan_out: int, init: str) -> tuple[jax.Array, jax.Array]:
    """Weight ``[fan_out, fan_in]`` and bias ``[fan_out]`` of one layer."""
    k_weight, k_bias = jax.random.split(key)
    if init == "zero":
        return jnp.zeros((fan_out, fan_in)), jnp.zeros(fan_out)
    if init == "xavier":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(k_weight, (fan_out, fan_in), minval=-limit, maxval=limit), jnp.zeros(fan_out)
    limit = 1.0 / math.sqrt(fan_in)
    weight = jax.random.uniform(k_weight, (fan_out, fan_in), minval=-limit, maxval=limit)
    return weight, jax.random.uniform(k_bias, (fan_out,), minval=-limit, maxval=limit)


class MLP(eqx.Module):
    """See the module docstring."""

    weights: tuple[jax.Array, ...]  # [fan_out, fan_in] each
    biases: tuple[jax.Array, ...]
    masks: tuple[jax.Array, ...] | None  # bool, fixed: init = "sparse" only
    config: MLPConfig = eqx.field(static=True)

    def __init__(self, config: MLPConfig, key: jax.Array, *, input_shape, output_dim) -> None:
        sizes = [input_shape[0] * input_shape[1], *config.widths, output_dim]
        layer_keys = jax.random.split(key, len(sizes))
        layers = [_layer(k, a, b, config.init) for k, a, b in zip(layer_keys[:-1], sizes[:-1], sizes[1:], strict=True)]
        weights = [w for w, _ in layers]
        self.masks = None
        if config.init == "sparse":
            mask_keys = jax.random.split(layer_keys[-1], len(weights))
            self.masks = tuple(
                jax.random.uniform(k, w.shape) >= config.sparsity for k, w in zip(mask_keys, weights, strict=True)
            )
            weights = [w * m for w, m in zip(weights, self.masks, strict=True)]
        self.weights, self.biases = tuple(weights), tuple(b for _, b in layers)
        self.config = config

    @property
    def allocates(self) -> bool:
        return self.config.init == "zero" if self.config.allocation is None else self.config.allocation

    def _weight(self, i: int) -> jax.Array:
        return self.weights[i] if self.masks is None else self.weights[i] * self.masks[i]

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [T, W] → [1, output_dim]`` (no allocation: evaluation)."""
        return self.forward(x.reshape(1, -1))[0]

    def forward(self, h: jax.Array, bump=None) -> tuple[jax.Array, list[jax.Array]]:
        """``h [B, D] → logits [B, out]`` and each hidden layer's activations ``[B, width]``;
        ``bump(layer, activations)`` returns what to add to them (allocation)."""
        activate = ACTIVATIONS[self.config.activation]
        hidden = []
        for i in range(len(self.weights) - 1):
            h = activate(h @ self._weight(i).T + self.biases[i])
            hidden.append(h)
            if bump is not None:
                h = h + bump(i, h)
        return h @ self._weight(-1).T + self.biases[-1], hidden

    def init_train_state(self) -> tuple[jax.Array, ...]:
        """Running mean |activation| per hidden unit, one ``[width]`` array per hidden layer."""
        return tuple(jnp.zeros(width) for width in self.config.widths)

    def allocation_bumps(self, key: jax.Array, state: tuple[jax.Array, ...], batch: int) -> list[jax.Array]:
        """What allocation adds to each hidden layer's activations, ``[batch, width]`` per layer:
        per example one unit of the whole network (``network``) or of each layer (``layer``)."""
        config = self.config
        bump_of = functools.partial(allocation_bump, temperature=config.allocation_temperature,
                                    size=config.allocation_bump)  # fmt: skip
        if config.allocation_scope == "network":
            bumps = bump_of(key, jnp.concatenate(state), batch)
            return jnp.split(bumps, list(itertools.accumulate(config.widths[:-1])), axis=1)
        return [bump_of(k, m, batch) for k, m in zip(jax.random.split(key, len(state)), state, strict=True)]

    def train_batch(self, inputs: jax.Array, key: jax.Array, state: tuple[jax.Array, ...]):
        """Training forward pass of a batch ``inputs [B, T, W] → outputs [B, 1, out]`` with
        neuron allocation when on; returns the updated running means too."""
        h = inputs.reshape(inputs.shape[0], -1)
        if not self.allocates:
            return self.forward(h)[0][:, None, :], state
        config = self.config
        bumps_by_layer = self.allocation_bumps(key, state, h.shape[0])

        def bump(layer, activations):
            return bumps_by_layer[layer].astype(activations.dtype)

        logits, hidden = self.forward(h, bump)
        momentum = config.allocation_momentum
        state = tuple(
            momentum * m + (1 - momentum) * jnp.mean(jnp.abs(jax.lax.stop_gradient(a)), axis=0)
            for m, a in zip(state, hidden, strict=True)
        )
        return logits[:, None, :], state


MODELS.register("mlp", MLPConfig, "MLP on the flattened input: widths, activation, default/xavier/sparse/zero init")(
    MLP
)
