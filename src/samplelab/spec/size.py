"""Sizes of a run known from its config alone: trained parameters, tokens per example, and a
rough estimate of its training memory, to refuse absurd sizes at load time.

``run_bytes`` counts, for one model (an ensemble of E needs about E times as much):

* 16 bytes per trained parameter: float32 value, gradient and two Adam moments;
* 32 bytes per input value of a batch (``batch × tokens × (width + output + tokens)``
  floats: inputs, outputs and a token-mixing map like attention, about 8 live copies each
  in the backward pass).

It is an order-of-magnitude guard, not a prediction: it is meant to catch a study that asks
for a model or batch many times larger than the machine (a typo in a width, a sequence of
a million tokens), with the estimate in the error, before anything is compiled.
"""

from __future__ import annotations

import functools
import json
import os

import equinox as eqx
import jax
import jax.numpy as jnp

from samplelab.core.errors import ConfigError
from samplelab.models import MODELS, build_model
from samplelab.spec.run_config import RunConfig
from samplelab.tasks import TASKS, build_task


@functools.lru_cache(maxsize=256)
def _parameter_count(task_json: str, model_json: str) -> int:
    task = build_task(TASKS.validate(json.loads(task_json)))
    model = eqx.filter_eval_shape(
        build_model,
        MODELS.validate(json.loads(model_json)),
        jax.random.key(0),
        input_shape=task.input_shape,
        output_dim=task.output_dim,
    )
    return sum(leaf.size for leaf in jax.tree.leaves(model) if jnp.issubdtype(leaf.dtype, jnp.inexact))


def parameter_count(config: dict) -> int:
    """Trained parameters (entries of float arrays, so a sparse model's mask is not counted) of
    the model of a run config (``RunRecord.config``); computed from shapes, nothing is initialised."""
    return _parameter_count(json.dumps(config["task"], sort_keys=True), json.dumps(config["model"], sort_keys=True))


def tokens_per_example(config: dict) -> int:
    """Input tokens of one example of a run config's task (``input_shape[0]``)."""
    return build_task(TASKS.validate(config["task"])).input_shape[0]


def physical_memory_bytes() -> int | None:
    """This machine's RAM in bytes; ``None`` where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def run_bytes(config: RunConfig) -> tuple[int, int]:
    """``(estimated bytes, trained parameters)`` of training one model of ``config``."""
    dumped = config.model_dump(mode="json")
    parameters = parameter_count({"task": dumped["task"], "model": dumped["model"]})
    task = build_task(config.task)
    tokens, width = task.input_shape
    batch_values = config.training.batch_size * tokens * (width + task.output_dim + tokens)
    return 16 * parameters + 32 * batch_values, parameters


def check_fits_in_memory(config: RunConfig, memory: int | None = None) -> None:
    """Raise a one-line ConfigError if one run of ``config`` would need more than this
    machine's RAM (``memory`` bytes, default the physical memory)."""
    memory = physical_memory_bytes() if memory is None else memory
    if memory is None:
        return
    needed, parameters = run_bytes(config)
    if needed > memory:
        raise ConfigError(
            f"model: one run needs ≈ {needed / 2**30:,.1f} GiB ({parameters:,} parameters, batch of "
            f"{config.training.batch_size}) but this machine has {memory / 2**30:,.1f} GiB — fix: use a smaller "
            "model, batch or sequence"
        )
