"""Wall time of the quick ``qstr_hierarchy`` study: samplelab vs a PyTorch eager loop.

Both measure the same quantities in one run on this machine: samples-to-threshold (test
MSE < 0.5) of every (architecture, N, seed) of the study's quick profile.

* ``samplelab`` — ``run_study`` into a fresh store with an empty compilation cache, so
  every compile is counted;
* ``torch``     — ``bench/qstr_torch.py`` in its own interpreter (``make bench`` builds
  it): one model at a time, a Python loop over steps, and each run *stops* at its first
  evaluation below the threshold (samplelab ends each ensemble once all its members are
  below it, ``stop_below_relative``).

Prints the two wall times, their ratio and the median samples-to-threshold per
(architecture, N) from each, so the two can be checked to measure the same thing; then
the arithmetic floor of the PyTorch runs (``bench/arithmetic_floor.py``): the least time
any float32 implementation of the same runs could take on this machine, and so the largest
speed-up over the baseline this machine allows.

    python bench/qstr_hierarchy.py --torch-python .venv-torch/bin/python [--models transformer,ffn]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from arithmetic_floor import peak_flops_per_second, print_floor

HERE = Path(__file__).resolve().parent
STUDY = HERE.parent / "studies" / "qstr_hierarchy.toml"


def _median(values: list) -> str:
    reached = [v for v in values if v is not None]
    if len(reached) * 2 <= len(values):
        return "not reached"
    padded = sorted(v if v is not None else float("inf") for v in values)
    return f"{np.median(padded):.0f}"


def job_of(spec) -> dict:
    """A run of the study as the PyTorch side (and the arithmetic floor) reads it."""
    config = spec.config
    model = config.model.model_dump()
    return {
        "model": spec.point["model"],
        "seq_len": config.task.seq_len,
        "seed": spec.seed,
        "steps": config.training.steps,
        "batch_size": config.training.batch_size,
        "eval_every": config.training.eval_every,
        "test_size": config.training.test_size,
        "threshold": 0.5,
        **{k: model[k] for k in ("heads", "mlp_width", "hidden") if k in model},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", required=True, help="interpreter with torch (make bench builds it)")
    parser.add_argument("--models", default=None, help="comma-separated labels to keep, e.g. transformer,ffn")
    parser.add_argument("--no-torch", action="store_true", help="time samplelab only (cold, then warm cache)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="samplelab-bench-"))
    os.environ["SAMPLELAB_JAX_CACHE"] = str(work / "jax-cache")  # cold: compiles are counted

    from samplelab.analysis.runs import load_study_runs
    from samplelab.ledger.store import ResultStore
    from samplelab.spec.study import load_study
    from samplelab.stats.thresholds import samples_to_threshold
    from samplelab.sweep.runner import run_study
    from samplelab.training.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    study = load_study(STUDY, "quick")
    if args.models:
        keep = set(args.models.split(","))
        study = dataclasses.replace(study, runs=[s for s in study.runs if s.point["model"] in keep])
    seconds_by_model: dict[str, float] = {}
    with ResultStore(work / "bench.sqlite") as store:
        start = time.perf_counter()
        run_study(study, store)
        samplelab_seconds = time.perf_counter() - start
        runs = load_study_runs(study, store)
        specs = {spec.key: spec for spec in study.runs}
        trained = [  # each run trained as long as its ensemble: until the slowest member crossed
            {**job_of(specs[r.run_key]), "steps_run": int(r.eval_steps[-1]), "seconds": r.wall_seconds or 0.0}
            for r in runs.records
        ]
        ours: dict[tuple, list] = {}
        for record in runs.records:
            needed = samples_to_threshold(record.samples_seen, record.test_metric, runs.thresholds[record.run_key])
            ours.setdefault((record.point["model"], record.point["task.seq_len"]), []).append(needed)
            model = record.point["model"]
            seconds_by_model[model] = seconds_by_model.get(model, 0.0) + (record.wall_seconds or 0.0)
    with ResultStore(work / "warm.sqlite") as store:  # the same study again: every compile is cached
        start = time.perf_counter()
        run_study(study, store)
        warm_seconds = time.perf_counter() - start
    samplelab_result = {"cold_seconds": samplelab_seconds, "warm_seconds": warm_seconds, "runs": trained}
    (work / "samplelab.json").write_text(json.dumps(samplelab_result))
    print(f"runs: {len(study.runs)} (quick qstr_hierarchy{', ' + args.models if args.models else ''})")
    print(f"samplelab (ensembles), cold compile cache: {samplelab_seconds:.1f} s; warm cache: {warm_seconds:.1f} s")
    print("  cold, per architecture: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(seconds_by_model.items())))
    if args.no_torch:
        return

    jobs = [job_of(spec) for spec in study.runs]
    (work / "jobs.json").write_text(json.dumps(jobs))
    start = time.perf_counter()
    completed = subprocess.run(
        [args.torch_python, str(HERE / "qstr_torch.py"), "--jobs", str(work / "jobs.json")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    torch_total = time.perf_counter() - start
    torch_result = json.loads(completed.stdout.strip().splitlines()[-1])
    (work / "torch.json").write_text(json.dumps(torch_result))
    theirs: dict[tuple, list] = {}
    for run in torch_result["runs"]:
        theirs.setdefault((run["model"], run["seq_len"]), []).append(run["samples_to_threshold"])

    torch_by_model: dict[str, float] = {}
    for run in torch_result["runs"]:
        torch_by_model[run["model"]] = torch_by_model.get(run["model"], 0.0) + run["seconds"]
    print(
        f"torch eager, one model at a time, early stop: {torch_result['seconds']:.1f} s ({torch_total:.1f} s with start-up)"
    )
    print("  per architecture: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(torch_by_model.items())))
    print(
        f"ratio torch / samplelab: {torch_result['seconds'] / samplelab_seconds:.2f}x cold, "
        f"{torch_result['seconds'] / warm_seconds:.2f}x warm"
    )
    print("median samples-to-threshold (architecture, N): samplelab | torch")
    for key in sorted(ours):
        print(f"  {key[0]:>12} N={key[1]:<3} {_median(ours[key]):>12} | {_median(theirs.get(key, [])):>12}")
    print_floor(torch_result["runs"], peak_flops_per_second(), samplelab_result)
    print(f"both sides' runs saved in {work} (python bench/arithmetic_floor.py {work})")


if __name__ == "__main__":
    main()
