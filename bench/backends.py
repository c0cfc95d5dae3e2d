"""Backends against each other on one study: in-process, spawned workers, a local Ray cluster.

    python bench/backends.py [STUDY] [--profile quick] [--workers 2]

Each backend runs ``samplelab run`` on the study into a fresh store, all with one warm
JAX compilation cache (untimed in-process and worker runs fill it first: workers run XLA
single-threaded, which compiles to other programs), so the times compare training and
shipping, not compiling. Prints wall times, their ratio to the
in-process baseline, and whether every backend stored the same rows bit for bit.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONTENT = "run_key, status, final_metric, eval_steps, test_metric, train_loss, config_json"


def run(study: str, profile: str, store: Path, *extra: str) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "samplelab.cli", "run", study, "--profile", profile, "--store", str(store), *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def content(store: Path) -> dict:
    with sqlite3.connect(store) as db:
        return {row[0]: row for row in db.execute(f"SELECT {CONTENT} FROM runs")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", default="studies/qstr_simple.toml")
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        os.environ["SAMPLELAB_JAX_CACHE"] = str(folder / "jax-cache")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        # Fill the cache for both XLA configurations: in-process (multi-threaded) and workers
        # (single-threaded, shared by worker processes and Ray); compiled programs differ.
        run(args.study, args.profile, folder / "warm.sqlite")
        run(args.study, args.profile, folder / "warm-workers.sqlite", "--workers", str(args.workers))
        backends = {
            "in-process (default)": (),
            f"--workers {args.workers}": ("--workers", str(args.workers)),
            "--backend ray (local cluster)": ("--backend", "ray"),
        }
        times, stores = {}, {}
        for name, extra in backends.items():
            stores[name] = folder / f"{len(stores)}.sqlite"
            times[name] = run(args.study, args.profile, stores[name], *extra)
        reference = content(stores["in-process (default)"])
        print(f"{args.study} [{args.profile}]: {len(reference)} runs, {os.cpu_count()} cores, warm compile cache")
        print(f"{'backend':32} {'wall s':>8} {'÷ in-process':>13}  same rows")
        for name, seconds in times.items():
            same = content(stores[name]) == reference
            print(f"{name:32} {seconds:8.1f} {seconds / times['in-process (default)']:13.2f}  {same}")


if __name__ == "__main__":
    main()
