"""Small timing probes behind the analysis in docs/performance.md.

python bench/probes.py step D_MODEL E BATCH   # warm ms per model-step of train_ensemble
python bench/probes.py datagen [qstr]          # ms per model-step spent drawing setfind2 (or qSTR) batches
python bench/probes.py matmul                  # float32 GFLOP/s of one 2048² matmul (numpy, jax.jit)
python bench/probes.py gru                     # qSTR GRU-64 ensemble step: as built vs fused directions (rolled, unrolled)
python bench/probes.py ensemble-wait STORE     # model-steps the qstr_hierarchy ensembles ran vs each run's crossing
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from samplelab.spec.run_config import resolve_run_config
from samplelab.tasks import build_task
from samplelab.tasks.qstr import QstrConfig
from samplelab.tasks.setfind2 import Setfind2Config
from samplelab.training.trainer import train_ensemble

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


def datagen(task_name: str = "setfind2") -> None:
    """setfind2 (N = 16): E = 16, batch 32; qstr (N = 12, the quick qstr_hierarchy's
    largest): E = 5, batch 64."""
    if task_name == "qstr":
        task, members, batch = build_task(QstrConfig(seq_len=12)), 5, 64
        state = task.init_run_state(jax.random.key(0))
    else:
        task, members, batch, state = build_task(Setfind2Config(set_size=16)), 16, 32, 3

    @jax.jit
    def run(keys):
        def body(total, step_index):
            def one(key):
                example_keys = jax.random.split(jax.random.fold_in(key, step_index), batch)
                inputs, targets = jax.vmap(task.sample, (0, None))(example_keys, state)
                return inputs.sum() + targets.sum()

            return total + jax.vmap(one)(keys), None

        return jax.lax.scan(body, jnp.zeros(members), jnp.arange(STEPS))[0]

    keys = jax.vmap(jax.random.key)(jnp.arange(members, dtype=jnp.uint32))
    run(keys).block_until_ready()
    start = time.perf_counter()
    run(keys).block_until_ready()
    seconds = time.perf_counter() - start
    print(f"{task_name} data generation: {seconds / (members * STEPS) * 1e3:.3f} ms per model-step (batch {batch})")


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


def gru(members: int = 5, batch: int = 64, seq_len: int = 12, width: int = 34, hidden: int = 64) -> None:
    """Warm ms per 5-member step of the bidirectional GRU as built (two ``lax.scan`` of
    ``GRUCell`` per example) against one scan over both directions with the input
    projections taken out of the recurrence (the same arithmetic, reassociated), rolled and
    fully unrolled."""
    import equinox as eqx
    import jax.nn as jnn

    from samplelab.models.rnn import RNN, RNNConfig

    keys = jax.random.split(jax.random.key(0), members)
    config = RNNConfig(hidden=hidden)
    models = eqx.filter_vmap(lambda k: RNN(config, k, input_shape=(seq_len, width), output_dim=1))(keys)

    def fused(model, x, unroll=1):  # x [B, T, W]
        forward, backward = model.cells
        w_ih, b_ih = jnp.stack([forward.weight_ih, backward.weight_ih]), jnp.stack([forward.bias, backward.bias])
        w_hh, b_n = jnp.stack([forward.weight_hh, backward.weight_hh]), jnp.stack([forward.bias_n, backward.bias_n])
        gates_in = jnp.einsum("dbtw,dgw->tdbg", jnp.stack([x, x[:, ::-1]]), w_ih) + b_ih[None, :, None]

        def cell(h, g_in):  # h [2, B, H]
            r_i, z_i, n_i = jnp.split(g_in, 3, -1)
            r_h, z_h, n_h = jnp.split(jnp.einsum("dbh,dgh->dbg", h, w_hh), 3, -1)
            new = jnn.tanh(n_i + jnn.sigmoid(r_i + r_h) * (n_h + b_n[:, None]))
            h = new + jnn.sigmoid(z_i + z_h) * (h - new)
            return h, h

        states = jax.lax.scan(cell, jnp.zeros((2, x.shape[0], hidden)), gates_in, unroll=unroll)[1]
        states = jnp.concatenate([states[:, 0], states[::-1, 1]], axis=-1).transpose(1, 0, 2)
        return states @ model.readout.weight.T + model.readout.bias

    def as_built(model, x):
        return jax.vmap(model)(x)

    x = jax.random.normal(jax.random.key(1), (members, batch, seq_len, width))
    y = jax.random.normal(jax.random.key(2), (members, batch, seq_len, 1))

    def fused_unrolled(model, x):
        return fused(model, x, unroll=seq_len)

    for name, apply in [("as built", as_built), ("fused", fused), ("fused, unrolled", fused_unrolled)]:

        @eqx.filter_jit
        def train(ensemble, apply=apply):
            def body(ensemble, _):
                loss = eqx.filter_vmap(eqx.filter_value_and_grad(lambda m, a, b: jnp.mean((apply(m, a) - b) ** 2)))
                value, grads = loss(ensemble, x, y)
                return jax.tree.map(lambda p, g: p - 1e-3 * g, ensemble, grads), value

            return jax.lax.scan(body, ensemble, None, length=100)

        jax.block_until_ready(train(models))
        start = time.perf_counter()
        final_loss = jax.block_until_ready(train(models))[1][-1]
        print(f"{name}: {(time.perf_counter() - start) * 10:.2f} ms per step, final loss {np.asarray(final_loss)}")


def ensemble_wait(store: str) -> None:
    """Model-steps trained by the qstr_hierarchy ensembles (each stops when its slowest
    member crosses 0.5) against the sum of each run's first crossing (what one-at-a-time
    training with a stop per run does)."""
    import json
    import sqlite3
    from collections import defaultdict

    from samplelab.ledger.store import decode_array

    cells = defaultdict(list)
    query = "select config_json, eval_steps, test_metric from runs where task = 'qstr'"
    for config_json, eval_steps, test_metric in sqlite3.connect(store).execute(query):
        config = json.loads(config_json)
        if (
            config["task"].get("simple")
            or config["task"].get("q", 1) != 1
            or not config["training"].get("stop_below_relative")
        ):
            continue
        steps, metric = decode_array(eval_steps), decode_array(test_metric)
        below = np.nonzero(metric < 0.5)[0]
        key = (config["model"]["name"], config["task"]["seq_len"], config["training"]["steps"])
        cells[key].append((steps[below[0]] if len(below) else steps[-1], steps[-1]))
    own = sum(crossing for runs in cells.values() for crossing, _ in runs)
    ensemble = sum(len(runs) * max(last for _, last in runs) for runs in cells.values())
    print(f"{len(cells)} ensembles: {ensemble:.0f} model-steps trained, {own:.0f} to each run's own crossing")
    print(f"ratio {ensemble / own:.3f}")


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["help"]
    if command == "step":
        step(*map(int, rest))
    elif command == "datagen":
        datagen(*rest)
    elif command == "matmul":
        matmul()
    elif command == "gru":
        gru()
    elif command == "ensemble-wait":
        ensemble_wait(*rest)
    else:
        print(__doc__)
