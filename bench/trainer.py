"""Models trained per second: ensemble trainer vs one-by-one vs a PyTorch eager loop.

All three train the same models (setfind2, online, pre-LN softmax transformer, AdamW) for
the same number of steps on this machine, in one run:

* ``ensemble``   — ``train_ensemble`` with all E seeds in one compiled program;
* ``one-by-one`` — the same function called once per seed (E=1), compiled once, reused;
* ``torch``      — ``bench/torch_baseline.py``: a plain PyTorch eager loop, one model at a
  time, run in a separate interpreter that has torch (``make bench`` builds it).

Timings exclude compilation (reported separately) and interpreter start-up.

    python bench/trainer.py --torch-python .venv-torch/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from samplelab.spec.run_config import resolve_run_config
from samplelab.training.trainer import train_ensemble

HERE = Path(__file__).resolve().parent


def _config(args: argparse.Namespace, d_model: int):
    return resolve_run_config(
        {
            "task": {"name": "setfind2", "set_size": args.set_size},
            "model": {"name": "transformer", "layers": 1, "heads": 2, "d_model": d_model, "mlp_width": 4 * d_model},
            "optimizer": {"name": "adamw", "lr": 1e-3},
            "training": {"steps": args.steps, "batch_size": args.batch_size, "eval_every": args.steps, "test_size": 64},
        }
    )


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_jax(args: argparse.Namespace, d_model: int) -> dict:
    config = _config(args, d_model)
    seeds = np.arange(args.models)
    cold, _ = _timed(lambda: train_ensemble(config, seeds))
    warm, result = _timed(lambda: train_ensemble(config, seeds))
    alone_cold, _ = _timed(lambda: train_ensemble(config, seeds[:1]))
    alone, _ = _timed(lambda: [train_ensemble(config, seeds[i : i + 1]) for i in range(args.models)])
    return {
        "ensemble_seconds": warm,
        "ensemble_compile_seconds": cold - warm,
        "one_by_one_seconds": alone,
        "one_by_one_compile_seconds": alone_cold - alone / args.models,
        "ensemble_final_metric_median": float(np.median(result.test_metric[:, -1])),
    }


def bench_torch(args: argparse.Namespace, d_model: int) -> dict | None:
    if not args.torch_python:
        return None
    command = [
        args.torch_python, str(HERE / "torch_baseline.py"), "--set-size", str(args.set_size), "--d-model", str(d_model),
        "--mlp-width", str(4 * d_model), "--heads", "2", "--layers", "1", "--batch-size", str(args.batch_size),
        "--steps", str(args.steps), "--models", str(args.models), "--threads", str(args.threads),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=16, help="E, models per comparison")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--set-size", type=int, default=16)
    parser.add_argument("--d-model", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--torch-python", default=None, help="interpreter with torch for the eager baseline")
    args = parser.parse_args()

    rows = []
    for d_model in args.d_model:
        row = {"d_model": d_model, "batch_size": args.batch_size, "models": args.models, "steps": args.steps}
        row.update(bench_jax(args, d_model))
        torch = bench_torch(args, d_model)
        if torch is not None:
            row["torch_seconds"] = torch["seconds"]
            row["torch_final_loss_median"] = float(np.median(torch["final_loss"]))
        per_second = {
            key.removesuffix("_seconds"): args.models / row[key]
            for key in ("ensemble_seconds", "one_by_one_seconds", "torch_seconds")
            if key in row
        }
        row["models_per_second"] = per_second
        row["ensemble_vs_one_by_one"] = row["one_by_one_seconds"] / row["ensemble_seconds"]
        if torch is not None:
            row["ensemble_vs_torch"] = row["torch_seconds"] / row["ensemble_seconds"]
        rows.append(row)
        print(
            f"d_model={d_model:>3}  batch={args.batch_size} E={args.models} steps={args.steps}  models/s: "
            + "  ".join(f"{k}={v:.3f}" for k, v in per_second.items())
            + f"  | ensemble ×{row['ensemble_vs_one_by_one']:.1f} vs one-by-one"
            + (f", ×{row['ensemble_vs_torch']:.1f} vs torch eager" if torch is not None else ""),
            flush=True,
        )
    json.dump(rows, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
