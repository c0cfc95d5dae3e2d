"""What every task provides to the trainer, and the optional flags and hooks a task may add.

A task is built from its config and exposes pure, jittable functions on *one* example;
the trainer vmaps them. Per-run fixed quantities (e.g. setfind2's cursor) live in a
``run_state`` pytree drawn once per run from the run's key, so that an ensemble of runs
with different seeds is one vmapped program.

Everything optional is declared here, once: the flags on :class:`TaskConfig` (class
variables, default off) and the hooks as runtime-checkable protocols (``isinstance(task,
Hook)``; :class:`FiniteDataset` has data members, so ``issubclass`` does not apply) that a
task object has when it defines their members.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import jax

from samplelab.core.registry import Registry, StrictConfig

TASKS = Registry("task")

PyTree = Any


class TaskConfig(StrictConfig):
    """Base of task configs; ``name`` selects the registered task. The class variables are the
    task's flags (not config fields: they never enter a run key)."""

    name: str

    finite_dataset: ClassVar[bool] = False
    """Examples are positions of a run's ordering of a fixed dataset (the task is a :class:`FiniteDataset`);
    only the fixed regime applies, and the whole training set is evaluated."""
    causal_model_required: ClassVar[bool] = False
    """Targets are later inputs, so the model must be causal (``model.causal = true``)."""
    metric_is_error: ClassVar[bool] = False
    """The metric is an error rate, so analyses also report accuracy = 1 − metric."""


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


@runtime_checkable
class FiniteDataset(Protocol):
    """A fixed dataset instead of ``sample`` (``tasks/images.py``; its config sets ``finite_dataset``):
    ``size`` examples, ``example(run_state, position) → (inputs, target)`` in the run's ordering, and
    ``test_limit`` (int | None) test examples at most. As an ``eqx.Module`` its arrays are passed
    into the compiled trainer rather than baked in as constants."""

    size: int
    test_limit: int | None

    def example(self, run_state: PyTree, position: jax.Array) -> tuple[jax.Array, jax.Array]: ...


@runtime_checkable
class InputBlocks(Protocol):
    """``input_blocks() → [(name, width)]``: the named column blocks of an input token (figures label axes with it)."""

    def input_blocks(self) -> list[tuple[str, int]]: ...


@runtime_checkable
class PooledEmbedding(Protocol):
    """``pool_embedding(h [T, d]) → [d]``: one embedding per example (default: the last token's)."""

    def pool_embedding(self, embeddings: jax.Array) -> jax.Array: ...


def build_task(config: TaskConfig) -> Task:
    """Instantiate the registered task for ``config``."""
    return TASKS.get(config.name).factory(config)
