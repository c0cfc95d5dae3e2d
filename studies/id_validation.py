"""Seed 002's estimator check: intrinsic-dimension estimates on manifolds of known d.

For each manifold (d-sphere, flat d-torus, smooth torus embedding; D = 128 ambient dims),
d ∈ {2, 4, 8, 16} and ambient noise σ ∈ {0, 0.001, 0.01} per coordinate: the Levina–Bickel MLE (k = 20, mean
and harmonic mean of point-wise estimates) and TwoNN, each the mean ± sd over 3 seeds of
n points. Prints a Markdown table (docs/reproduction.md keeps the measured one).

    python studies/id_validation.py [--points 5000] [--seeds 3]     # 2 CPU cores: 1 min 37 s
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from samplelab.stats.intrinsic_dimension import mle, two_nn
from samplelab.tasks import TASKS, build_task

SHAPES = ("sphere", "torus", "embedding")
DIMS = (2, 4, 8, 16)
NOISES = (0.0, 0.001, 0.01)
AMBIENT = 128


def points_of(shape: str, d: int, noise: float, count: int, seed: int) -> np.ndarray:
    """``[count, 128]`` points of the manifold task's generator (one token: the ambient vector)."""
    task = build_task(TASKS.validate({"name": "manifold", "shape": shape, "intrinsic_dim": d, "ambient_dim": AMBIENT,
                                      "noise": noise}))  # fmt: skip
    state = task.init_run_state(jax.random.key(seed))
    inputs, _ = jax.vmap(task.sample, (0, None))(jax.random.split(jax.random.key(seed + 1000), count), state)
    return np.asarray(inputs, np.float64)[:, 0, :AMBIENT]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"n = {args.points} points, D = {AMBIENT}, mean ± sd over {args.seeds} seeds\n")
    print("| manifold | d | σ | MLE (mean) | MLE (harmonic) | TwoNN |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for shape in SHAPES:
        for d in DIMS:
            for noise in NOISES:
                estimates = {"mle": [], "harmonic": [], "twonn": []}
                for seed in range(args.seeds):
                    points = points_of(shape, d, noise, args.points, seed)
                    estimates["mle"].append(mle(points))
                    estimates["harmonic"].append(mle(points, average="harmonic"))
                    estimates["twonn"].append(two_nn(points))
                cells = [f"{np.mean(v):.2f} ± {np.std(v):.2f}" for v in estimates.values()]
                print(f"| {shape} | {d} | {noise:g} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
