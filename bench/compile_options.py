"""Compile time, speed and numbers of the trainer under XLA:CPU's defaults and samplelab's options.

Three option sets: XLA:CPU's defaults (LLVM -O3, multi-threaded matrix products), -O2
alone, and samplelab's (``trainer.COMPILER_OPTIONS``: -O2 and single-threaded products).
For each distinct task and model kind of the shipped studies' quick profiles, one ensemble
of 2 seeds is trained for 100 steps (evaluated every 20) at the study's own shapes, once
with each option set, in this process with no persistent compilation cache. Prints, per
config, the compile time (first call − second call) and the warm run time under each, and
for each set against the defaults whether the trained parameters and the test-metric
curve are bit-identical and the largest relative difference of any other returned array
(training-loss curve, probes).

    python bench/compile_options.py [--limit K]    # K: at most K configs (default: all)

With ``--ensemble STUDY``, it times one whole ensemble of that study's quick profile
instead (the plan's last, as `samplelab run` forms it: e.g. setfind2_setsize's 20
members at N = 64), for ``--steps`` steps: the short runs above say little about the
speed of long runs of large ensembles.

    python bench/compile_options.py --ensemble studies/setfind2_setsize.toml --steps 300
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from samplelab.spec.study import load_study
from samplelab.sweep.ensembles import plan_ensembles
from samplelab.training import trainer

STUDIES = sorted(p for p in (Path(__file__).resolve().parents[1] / "studies").glob("*.toml") if p.stem != "reproduce")
OPTION_SETS = {
    "XLA defaults": None,
    "-O2": {"xla_backend_optimization_level": 2},
    "samplelab": trainer.COMPILER_OPTIONS,
}


def distinct_configs():
    """(label, shrunk config, seeds, n_train) for the first config of each distinct task and
    model kind (model name, RNN cell, MLP init, causal mask, attention kind)."""
    seen = set()
    for path in STUDIES:
        for spec in load_study(path, "quick").runs:
            model = spec.config.model.model_dump()
            key = (spec.config.task.name, *(str(model.get(k)) for k in ("name", "cell", "init", "causal", "attention")))
            if key in seen:
                continue
            seen.add(key)
            training = spec.config.training.model_copy(
                update={"steps": 100, "eval_every": 20, "test_size": min(spec.config.training.test_size, 256)}
                | {"stop_below_relative": None}
            )
            n_train = spec.config.training.n_train or 1
            kind = " ".join(str(model[k]) for k in ("init", "cell") if k in model)
            label = f"{path.stem}: {spec.config.task.name} / {spec.config.model.name} {kind}".rstrip()
            yield (
                label,
                spec.config.model_copy(update={"training": training}),
                [spec.seed, spec.seed + 1],
                [n_train] * 2,
            )


def last_ensemble(path: Path, steps: int):
    """(label, config, seeds, n_trains) of the last ensemble `samplelab run` forms for the
    quick profile of the study at ``path``, trained for ``steps`` steps."""
    members = plan_ensembles(load_study(path, "quick").runs)[-1].members
    config = members[0].config
    training = config.training.model_copy(update={"steps": steps, "n_train": None})
    shape = {k: v for k, v in members[0].point.items() if k != "training.n_train"}
    label = f"{path.stem}: {len(members)} members, {shape}"
    seeds, n_trains = [m.seed for m in members], [m.config.training.n_train for m in members]
    return label, config.model_copy(update={"training": training}), seeds, n_trains


def arrays_of(result) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """(trained parameters and the test-metric curve, every other returned array by name)."""
    measured = [np.asarray(x) for x in jax.tree.leaves(result.params)] + [result.test_metric]
    others = {
        f.name: np.asarray(getattr(result, f.name))
        for f in dataclasses.fields(result)
        if f.name not in ("params", "test_metric") and isinstance(getattr(result, f.name), np.ndarray)
    }
    return measured, others


def largest_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    if a.dtype == bool or not a.size:
        return float(not np.array_equal(a, b))
    a, b = a.astype(np.float64), b.astype(np.float64)
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(scale > 0, np.abs(a - b) / scale, 0.0)
    return float(np.nanmax(relative))


def timed(config, seeds, n_trains, options):
    trainer.COMPILER_OPTIONS = options
    trainer._compiled_trainer.cache_clear()
    start = time.perf_counter()
    trainer.train_ensemble(config, seeds, n_trains=n_trains)
    first = time.perf_counter() - start
    start = time.perf_counter()
    result = trainer.train_ensemble(config, seeds, n_trains=n_trains)
    warm = time.perf_counter() - start
    return first - warm, warm, arrays_of(result)


def same_numbers(reference, other) -> tuple[bool, float]:
    """(parameters and test metric bit-identical, largest relative difference of the rest)."""
    (measured_a, others_a), (measured_b, others_b) = reference, other
    identical = len(measured_a) == len(measured_b) and all(
        np.array_equal(a, b, equal_nan=True) for a, b in zip(measured_a, measured_b, strict=True)
    )
    return identical, max((largest_relative_difference(others_a[k], others_b[k]) for k in others_a), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--ensemble", type=Path, default=None, help="a study: time its plan's last ensemble")
    parser.add_argument("--steps", type=int, default=300, help="with --ensemble: training steps")
    args = parser.parse_args()
    if args.ensemble:
        configs_to_run = [last_ensemble(args.ensemble, args.steps)]
    else:
        configs_to_run = list(distinct_configs())[: args.limit]
    names = list(OPTION_SETS)
    totals = {name: [0.0, 0.0] for name in names}
    identical_counts = dict.fromkeys(names[1:], 0)
    configs = 0
    timing = " ".join(f"{n + ' compile / run s':>26}" for n in names)
    same = " ".join(f"{n + ' = defaults':>24}" for n in names[1:])
    print(f"{'config':<52} {timing}  {same}")
    for label, config, seeds, n_trains in configs_to_run:
        outcomes = {name: timed(config, seeds, n_trains, options) for name, options in OPTION_SETS.items()}
        configs += 1
        cells = []
        for name in names[1:]:
            identical, other = same_numbers(outcomes[names[0]][2], outcomes[name][2])
            identical_counts[name] += identical
            cells.append(f"{'yes' if identical else 'NO':>14} ({other:.0e})")
        for name, (compile_s, warm_s, _) in outcomes.items():
            totals[name][0] += compile_s
            totals[name][1] += warm_s
        timings = " ".join(f"{outcomes[n][0]:>15.1f} / {outcomes[n][1]:>8.2f}" for n in names)
        print(f"{label[:52]:<52} {timings}  {' '.join(cells)}", flush=True)
    timings = " ".join(f"{totals[n][0]:>15.1f} / {totals[n][1]:>8.2f}" for n in names)
    counts = " ".join(f"{f'{identical_counts[n]}/{configs}':>24}" for n in names[1:])
    print(f"{'all ' + str(configs) + ' configs':<52} {timings}  {counts}")
    for name in names[1:]:
        print(
            f"{name} ÷ defaults: compile {totals[name][0] / totals[names[0]][0]:.2f},"
            f" warm run {totals[name][1] / totals[names[0]][1]:.2f}"
        )


if __name__ == "__main__":
    main()
