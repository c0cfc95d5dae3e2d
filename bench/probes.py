"""Small timing probes behind the analysis in docs/performance.md.

python bench/probes.py step D_MODEL E BATCH   # warm ms per model-step of train_ensemble
python bench/probes.py datagen                 # ms per model-step spent drawing setfind2 batches
python bench/probes.py matmul                  # float32 GFLOP/s of one 2048² matmul (numpy, jax.jit)
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from samplelab.config import resolve_run_config
from samplelab.tasks import build_task
from samplelab.tasks.setfind2 import Setfind2Config
from samplelab.trainer import train_ensemble

STEPS = 300


def step(d_model: int, members: int, batch: int) -> None:
    config = resolve_run_config(
        {
            "task": {"name": "setfind2", "set_size": 16},
            "model": {"name": "transformer", "d_model": d_model, "heads": 2},
            "training": {"steps": STEPS, "batch_size": batch, "eval_every": STEPS, "test_size": 64},
        }
    )
    seeds = np.arange(members)
    train_ensemble(config, seeds)  # compile
    start = time.perf_counter()
    train_ensemble(config, seeds)
    seconds = time.perf_counter() - start
    print(f"d_model={d_model} E={members} batch={batch}: {seconds / (members * STEPS) * 1e3:.3f} ms per model-step")


def datagen(members: int = 16, batch: int = 32) -> None:
    task = build_task(Setfind2Config(set_size=16))

    @jax.jit
    def run(keys):
        def body(total, step_index):
            def one(key):
                example_keys = jax.random.split(jax.random.fold_in(key, step_index), batch)
                inputs, targets = jax.vmap(task.sample, (0, None))(example_keys, 3)
                return inputs.sum() + targets.sum()

            return total + jax.vmap(one)(keys), None

        return jax.lax.scan(body, jnp.zeros(members), jnp.arange(STEPS))[0]

    keys = jax.vmap(jax.random.key)(jnp.arange(members, dtype=jnp.uint32))
    run(keys).block_until_ready()
    start = time.perf_counter()
    run(keys).block_until_ready()
    print(f"data generation: {(time.perf_counter() - start) / (members * STEPS) * 1e3:.3f} ms per model-step")


def matmul(size: int = 2048, repeats: int = 5) -> None:
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    flops = 2 * size**3
    a @ a
    start = time.perf_counter()
    for _ in range(repeats):
        a @ a
    print(f"numpy: {flops * repeats / (time.perf_counter() - start) / 1e9:.0f} GFLOP/s")
    x = jnp.asarray(a)
    square = jax.jit(lambda m: m @ m)
    square(x).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        square(x).block_until_ready()
    print(f"jax.jit: {flops * repeats / (time.perf_counter() - start) / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["help"]
    if command == "step":
        step(*map(int, rest))
    elif command == "datagen":
        datagen()
    elif command == "matmul":
        matmul()
    else:
        print(__doc__)
