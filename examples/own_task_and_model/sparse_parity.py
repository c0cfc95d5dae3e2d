"""A task of one's own, registered from a study file's ``plugins`` (docs/extending.md).

``sparse_parity``: ``seq_len`` tokens, each a random ±1; the target is the product of the
first ``q`` of them (their parity, ±1), read from the model's output at the last position.
A constant predictor's best squared error is the target's variance, 1: the baseline.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from pydantic import Field

from samplelab.tasks import TASKS, TaskConfig


class SparseParityConfig(TaskConfig):
    """``seq_len`` tokens, the parity of the first ``q``."""

    name: str = "sparse_parity"
    seq_len: int = Field(8, ge=1, le=512, description="tokens per example")
    q: int = Field(2, ge=1, description="how many leading tokens the parity reads")


class SparseParity:
    """See the module docstring; one example: inputs ``[seq_len, 1]``, target a scalar."""

    def __init__(self, config: SparseParityConfig) -> None:
        self.q = min(config.q, config.seq_len)
        self.input_shape = (config.seq_len, 1)
        self.output_dim = 1
        self.baseline = 1.0

    def init_run_state(self, key: jax.Array) -> tuple:
        return ()  # nothing is fixed for a whole run

    def sample(self, key: jax.Array, run_state: tuple) -> tuple[jax.Array, jax.Array]:
        signs = jax.random.rademacher(key, self.input_shape, dtype=jnp.float32)
        return signs, jnp.prod(signs[: self.q, 0])

    def loss(self, outputs: jax.Array, target: jax.Array) -> jax.Array:
        return (outputs[-1, 0] - target) ** 2

    def metric(self, outputs: jax.Array, target: jax.Array) -> jax.Array:
        return (outputs[-1, 0] - target) ** 2


@TASKS.register("sparse_parity", SparseParityConfig, "the parity of the first q of seq_len ±1 tokens (an example plugin)")
def build(config: SparseParityConfig) -> SparseParity:
    return SparseParity(config)
