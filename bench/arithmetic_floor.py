"""The least wall time any float32 implementation of the qSTR protocol can take on this machine.

A run of the protocol trains one model on fresh batches until its first evaluation below
the threshold, evaluating the test set every ``eval_every`` steps. Whatever the framework,
that is a fixed amount of arithmetic: the matrix products of every training step (forward,
weight gradients, input gradients) and of every evaluation's forward pass. Dividing it by
the fastest float32 rate this machine reaches on a large matrix product (measured here, in
the same process) gives a floor on the wall time; dividing the PyTorch baseline's time by
that floor gives the largest speed-up over the baseline that any implementation could
show on this machine.

The count is deliberately low, so the floor is a true lower bound:

* only matrix products are counted (no activations, softmax, loss, optimizer update, data
  generation);
* products that read the raw input are not counted at all, since part of the input is the
  same for every example (``E_i``) or a row of a fixed table (``E_{t_i}``) and could be
  folded away: the FFN's first layer, the GRU's input projections, the transformer's
  query/key/value projections and the part of its MLP that reads ``x_i``;
* every other product is counted 3× in a training step (forward, gradient of the weight,
  gradient of the input) and 1× per evaluated example.

    python bench/arithmetic_floor.py DIR   # the folder where bench/qstr_hierarchy.py saved both sides' runs
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np


def token_width(seq_len: int, token_dim: int = 10) -> int:
    """Input width of a q = 1 qSTR token: ``d + 2·⌊5 ln N⌋``."""
    return token_dim + 2 * max(1, math.floor(5 * math.log(seq_len)))


def forward_matmul_flops(job: dict) -> int:
    """FLOPs (2 per multiply-add) of the counted products of one example's forward pass.

    ``job``: ``{"model": "transformer" | "ffn" | "gru", "seq_len": N, "heads", "mlp_width",
    "hidden"}`` as bench/qstr_hierarchy.py writes it.
    """
    n, width = job["seq_len"], token_width(job["seq_len"])
    if job["model"] == "ffn":  # N·W → N·10 → 1000 → N; the first layer reads the raw input
        return 2 * (n * 10 * 1000 + 1000 * n)
    if job["model"] == "gru":  # per token and direction: h·W_hhᵀ (3 gates); read-out of [h_fwd, h_bwd]
        hidden = job.get("hidden", 64)
        return 2 * n * (2 * hidden * 3 * hidden + 2 * hidden)
    if job["model"] == "transformer":  # scores q·kᵀ, weights·v per head; the MLP's retrieved inputs
        heads, mlp_width = job.get("heads", 1), job.get("mlp_width", 100)
        attention = 2 * heads * (n * n * width + n * n * width)
        mlp = 2 * n * (width * heads * mlp_width + mlp_width)
        return attention + mlp
    raise ValueError(f"unknown model {job['model']!r}")


def run_flops(job: dict, steps_run: int) -> int:
    """Counted FLOPs of one run that trained ``steps_run`` steps and evaluated every ``eval_every``."""
    per_example = forward_matmul_flops(job)
    evaluations = steps_run // job["eval_every"]
    return per_example * (3 * job["batch_size"] * steps_run + job["test_size"] * evaluations)


def peak_flops_per_second(size: int = 2048, repeats: int = 5) -> float:
    """The best float32 rate of a ``size``² matrix product here: numpy's BLAS or ``jax.jit``."""
    import jax
    import jax.numpy as jnp

    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    square = jax.jit(lambda m: m @ m)
    x = jnp.asarray(a)
    best = math.inf
    for multiply in (lambda: a @ a, lambda: square(x).block_until_ready()):
        multiply()
        for _ in range(repeats):
            start = time.perf_counter()
            multiply()
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def floor_table(runs: list[dict], peak: float) -> dict[str, dict[str, float]]:
    """Per model and in all (key ``"all"``): baseline seconds, counted FLOPs, floor seconds."""
    table: dict[str, dict[str, float]] = {}
    for run in runs:
        for key in (run["model"], "all"):
            row = table.setdefault(key, {"seconds": 0.0, "flops": 0.0})
            row["seconds"] += run["seconds"]
            row["flops"] += run_flops(run, run["steps_run"])
    for row in table.values():
        row["floor_seconds"] = row["flops"] / peak
        row["largest_ratio"] = row["seconds"] / row["floor_seconds"]
    return table


def print_floor(runs: list[dict], peak: float, samplelab: dict | None = None, target: float = 10.0) -> dict:
    """Print the floor of the baseline's ``runs`` per model and in all, and, given samplelab's
    saved result (``{"warm_seconds", "runs"}``), the rate at which it did its own counted
    arithmetic; return :func:`floor_table`."""
    table = floor_table(runs, peak)
    print(f"arithmetic floor at this machine's peak, {peak / 1e9:.0f} GFLOP/s (best 2048² float32 matmul):")
    print(
        f"  {'model':>12} {'baseline s':>11} {'counted TFLOP':>14} {'baseline GFLOP/s':>17} {'floor s':>8}"
        f" {'largest speed-up':>17}"
    )
    for model, row in sorted(table.items(), key=lambda item: item[0] == "all"):
        print(
            f"  {model:>12} {row['seconds']:>11.1f} {row['flops'] / 1e12:>14.2f}"
            f" {row['flops'] / row['seconds'] / 1e9:>17.1f} {row['floor_seconds']:>8.1f} {row['largest_ratio']:>16.1f}×"
        )
    everything = table["all"]
    needed = everything["flops"] / (everything["seconds"] / target)
    print(
        f"  {target:.0f}× the baseline needs the counted arithmetic alone at ≥ {needed / 1e9:.0f} GFLOP/s,"
        f" {needed / peak:.0%} of the peak"
    )
    if samplelab is not None:
        flops = sum(run_flops(run, run["steps_run"]) for run in samplelab["runs"])
        rate = flops / samplelab["warm_seconds"]
        print(
            f"  samplelab (warm cache): {flops / 1e12:.2f} counted TFLOP (ensembles run until their slowest member"
            f" crosses) in {samplelab['warm_seconds']:.1f} s = {rate / 1e9:.1f} GFLOP/s, {rate / peak:.0%} of the peak"
        )
    return table


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    folder = Path(sys.argv[1])
    print_floor(
        json.loads((folder / "torch.json").read_text())["runs"],
        peak_flops_per_second(),
        json.loads((folder / "samplelab.json").read_text()),
    )
