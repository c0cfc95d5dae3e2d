"""A task's examples on their own, as a run of a given seed draws them (``samplelab sample``).

The streams are the trainer's (:mod:`samplelab.training.trainer`): from ``key(seed)``, the
run state from ``fold_in(·, _TASK)``, pool example ``i`` from ``fold_in(pool_key, i)`` and
test example ``j`` from ``fold_in(test_key, j)`` — so the pool here is that of every run of
that seed, whatever its model: a fixed-regime run trains on its first ``n_train`` examples
and validates on the next ``validation_size`` (online runs draw fresh examples from another
stream). A finite-dataset task gives the examples at those positions of the run's ordering.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from samplelab.tasks import TaskConfig, build_task
from samplelab.tasks.base import FiniteDataset
from samplelab.training.trainer import _POOL, _TASK, _TEST


def task_examples(config: TaskConfig, seed: int, count: int, split: str = "pool", start: int = 0) -> dict:
    """``count`` examples from position ``start`` of the ``split`` (``pool``: training
    examples; ``test``) of a run of ``seed``: ``inputs [count, T, W]``, ``targets [count, …]``,
    and the run state's arrays as ``run_state/<path>``."""
    task = build_task(config)
    seed_key = jax.random.key(np.uint32(seed))
    run_state = task.init_run_state(jax.random.fold_in(seed_key, _TASK))
    positions = jnp.arange(start, start + count)
    if isinstance(task, FiniteDataset):
        if split == "test":
            raise ValueError("a finite dataset's test split depends on n_train — use split = 'pool' positions")
        inputs, targets = jax.vmap(lambda i: task.example(run_state, i))(positions)
    else:
        stream = jax.random.fold_in(seed_key, _POOL if split == "pool" else _TEST)
        inputs, targets = jax.vmap(lambda i: task.sample(jax.random.fold_in(stream, i), run_state))(positions)
    state = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(run_state):
        name = "/".join(str(getattr(part, "key", getattr(part, "idx", part))) for part in path)
        state["run_state" + (f"/{name}" if name else "")] = np.asarray(leaf)
    return {"inputs": np.asarray(inputs), "targets": np.asarray(targets), **state}
