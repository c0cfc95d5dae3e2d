"""What every task provides to the trainer.

A task is built from its config and exposes pure, jittable functions on *one* example;
the trainer vmaps them. Per-run fixed quantities (e.g. setfind2's cursor) live in a
``run_state`` pytree drawn once per run from the run's key, so that an ensemble of runs
with different seeds is one vmapped program.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax

from samplelab.registry import Registry, StrictConfig

TASKS = Registry("task")

PyTree = Any


class TaskConfig(StrictConfig):
    """Base of task configs; ``name`` selects the registered task."""

    name: str


class Task(Protocol):
    """The interface the ensemble trainer relies on.

    Attributes:
        input_shape: ``(tokens, width)`` of one example's inputs.
        output_dim: features the model must emit per token.
        baseline: test metric of the best constant predictor (same units as ``metric``).
    """

    input_shape: tuple[int, int]
    output_dim: int
    baseline: float

    def init_run_state(self, key: jax.Array) -> PyTree:
        """Quantities fixed for a whole run (train and test), drawn from ``key``."""

    def sample(self, key: jax.Array, run_state: PyTree) -> tuple[jax.Array, jax.Array]:
        """One example ``(inputs [tokens, width], targets)``, a pure function of ``key``."""

    def loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """Training loss of one example; ``outputs`` is the model's ``[tokens, output_dim]``."""

    def metric(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """Test metric of one example (lower is better), in the units of ``baseline``."""

    # Optional: ``input_blocks() -> [(name, width)]`` names the column blocks of an input
    # token (figures label their axes with it; see ``tasks/qstr.py``).
    #
    # A *finite dataset* task (``tasks/images.py``) has instead of ``sample``: ``size`` (the
    # number of examples), ``example(run_state, position) -> (inputs, target)`` (the example
    # at that position of the run's ordering) and ``test_limit`` (int | None); its config
    # class sets ``finite_dataset = True``. It may be an ``eqx.Module``: its arrays are then
    # passed into the compiled trainer rather than baked in as constants.


def build_task(config: TaskConfig) -> Task:
    """Instantiate the registered task for ``config``."""
    return TASKS.get(config.name).factory(config)
