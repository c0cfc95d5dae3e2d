"""How `samplelab analyze` scales with the store: synthetic stores of 1k, 10k, 100k runs.

    python bench/analysis.py                     # 1k, 10k and 100k runs, 1,000 bootstrap replicates
    python bench/analysis.py --runs 1000 10000   # a subset
    python bench/analysis.py --profile           # also the ten costliest functions (cProfile) at each size
    python bench/analysis.py --baseline-up-to 0  # skip the per-replicate baseline

Each store holds one fixed-regime study: a grid of 4 set sizes × L learning rates × 8
training-set sizes × 8 seeds (L sets the size), with per-cell fits of the Kaplan–Meier median and n*
against the set size, like studies/setfind2_setsize.toml. Each run's learning curve is
synthetic (5 evaluations; the final metric falls with n_train, with noise drawn per run),
written straight into the store: nothing is trained. The timed call is what
`samplelab analyze STUDY --json` does after parsing its arguments: load the study file
(expand and validate every run), read its runs from the store, and build the analysis
document. Times are wall seconds on this machine; docs/performance.md records them.

The baseline, in the same run for stores up to ``--baseline-up-to`` runs, is the same
analysis as samplelab computed it before it was vectorised: one statsmodels Kaplan–Meier
per bootstrap replicate for the KM median, one SciPy isotonic regression (PAVA) per
replicate for n*, one median bracket per replicate, on the same whole-seed draws. Both
documents must be equal, to the last bit.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np

from samplelab.analysis import resample
from samplelab.analysis.document import analyze_study
from samplelab.analysis.runs import load_study_runs
from samplelab.ledger.store import ResultStore, RunRecord
from samplelab.spec.run_config import canonical_json
from samplelab.spec.study import load_study
from samplelab.stats import nstar
from samplelab.stats.interval_censored import first_success, median_bracket
from samplelab.stats.survival import kaplan_meier

SET_SIZES = [2, 4, 8, 16]
N_TRAINS = [16, 32, 64, 128, 256, 512, 1024, 2048]
SEEDS = 8
STUDY = """
name = "bench_analysis"
seeds = {seeds}

[task]
name = "setfind2"
set_size = 2
distract = 0

[model]
name = "transformer"
d_model = 16
heads = 2

[optimizer]
lr = 1e-3

[training]
regime = "fixed"
n_train = 16
steps = 500
batch_size = 16
eval_every = 100
test_size = 64

[measurement]
threshold_relative = 0.3

[grid]
"task.set_size" = {set_sizes}
"optimizer.lr" = {lrs}
"training.n_train" = {n_trains}

[analysis]
bootstrap = {bootstrap}

[[analysis.fits]]
x = "task.set_size"
y = "n_star"

[[analysis.fits]]
x = "task.set_size"
y = "km_median"
"""


def write_store(folder: Path, runs: int, bootstrap: int) -> tuple[Path, Path]:
    """A study file and a store holding every run of it (≈ ``runs``), with synthetic curves."""
    rates = max(1, round(runs / (len(SET_SIZES) * len(N_TRAINS) * SEEDS)))
    lrs = [round(1e-3 * (1 + 0.01 * i), 8) for i in range(rates)]
    study_path = folder / f"bench_{runs}.toml"
    study_path.write_text(
        STUDY.format(seeds=SEEDS, set_sizes=SET_SIZES, lrs=lrs, n_trains=N_TRAINS, bootstrap=bootstrap)
    )
    study = load_study(study_path)
    store_path = folder / f"bench_{runs}.sqlite"
    rng = np.random.default_rng(0)
    with ResultStore(store_path) as store:
        store.register_study(
            study.name, study.profile, [(s.key, s.point) for s in study.runs], study.source, study.text
        )
        records = []
        for spec in study.runs:
            n, size = spec.config.training.n_train, spec.config.task.set_size
            final = float(np.exp(-n / (40.0 * size) + rng.normal(0, 0.5)))  # baseline 1: threshold 0.3
            curve = np.linspace(1.0, final, 5).astype(np.float32)
            records.append(
                RunRecord(
                    run_key=spec.key,
                    status="done",
                    task="setfind2",
                    model="transformer",
                    seed=spec.seed,
                    n_train=n,
                    lr=spec.config.optimizer.lr,
                    baseline=1.0,
                    samples_per_step=16,
                    eval_steps=np.arange(5) * 100,
                    test_metric=curve,
                    train_loss=curve[1:],
                    config_json=canonical_json(spec.config.model_dump(mode="json")),
                    point=spec.point,
                )
            )
            if len(records) == 5000:
                store.write_runs(records)
                records = []
        store.write_runs(records)
    return study_path, store_path


def analyze(study_path: Path, store_path: Path) -> tuple[dict, dict[str, float]]:
    """What `samplelab analyze --json` does, with the time of each stage."""
    times = {}
    start = time.perf_counter()
    study = load_study(study_path)
    times["load study"] = time.perf_counter() - start
    with ResultStore(store_path) as store:
        runs = load_study_runs(study, store)
    times["read runs"] = time.perf_counter() - start - sum(times.values())
    document = analyze_study(runs)
    times["analyze"] = time.perf_counter() - start - sum(times.values())
    times["total"] = time.perf_counter() - start
    return document, times


def _pava_n_star(log_sizes: np.ndarray, success: np.ndarray, level: float) -> float:
    from scipy.optimize import isotonic_regression

    seeds = success.shape[0]
    fitted = isotonic_regression(success.mean(axis=0), weights=np.full(len(log_sizes), seeds), increasing=True).x
    above = np.flatnonzero(fitted >= level - 1e-12)
    if not above.size:
        return np.inf
    j = above[0]
    t = 0.0 if j == 0 else (level - fitted[j - 1]) / (fitted[j] - fitted[j - 1])
    return float(np.exp(log_sizes[0] if j == 0 else log_sizes[j - 1] + t * (log_sizes[j] - log_sizes[j - 1])))


def _n_star_bootstrap_per_replicate(sizes, success, delta=0.1, *, method="isotonic", replicates=1000, rng=0):
    sizes = np.asarray(sizes, dtype=np.float64)
    order = np.argsort(sizes)
    log_sizes, success = np.log(sizes[order]), np.asarray(success, dtype=bool)[:, order]
    generator = np.random.default_rng(rng)
    seeds = success.shape[0]
    return np.array([_pava_n_star(log_sizes, success[generator.integers(0, seeds, seeds)], 1.0 - delta)
                     for _ in range(replicates)])  # fmt: skip


def _cell_statistic_per_replicate(self, cell, y, delta=0.1, method="isotonic"):
    """:meth:`SeedResampler.cell_statistic` one replicate at a time: statsmodels' KM, SciPy's
    PAVA, the median bracket of one resample per call (the same draws)."""
    position, present = self.positions(cell.seeds)
    rows = [pick[kept] for pick, kept in zip(position, present, strict=True)]
    if y == "median_bracket":
        return np.concatenate(
            [median_bracket(np.asarray(cell.sizes), first_success(cell.success[r])[None]) for r in rows]
        )
    if y == "km_median":
        medians = [kaplan_meier(cell.needed[r], cell.reached[r], (0.5,), 0.95).median.value for r in rows]
        return np.array([np.nan if m is None else m for m in medians])
    log_sizes = np.log(np.asarray(cell.sizes, dtype=np.float64))
    values = np.array([_pava_n_star(log_sizes, cell.success[r], 1.0 - delta) for r in rows])
    return np.where(np.isfinite(values), values, np.nan)


def baseline(study_path: Path, store_path: Path) -> tuple[dict, dict[str, float]]:
    """:func:`analyze` with the per-replicate estimators."""
    saved = resample.SeedResampler.cell_statistic, nstar.n_star_bootstrap
    resample.SeedResampler.cell_statistic = _cell_statistic_per_replicate
    nstar.n_star_bootstrap = _n_star_bootstrap_per_replicate
    try:
        return analyze(study_path, store_path)
    finally:
        resample.SeedResampler.cell_statistic, nstar.n_star_bootstrap = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="print the ten costliest functions at each size")
    parser.add_argument("--baseline-up-to", type=int, default=10_000, help="time the baseline up to this many runs")
    args = parser.parse_args()
    print(
        f"{'runs':>8} {'cells':>6} {'load study':>11} {'read runs':>10} {'analyze':>9} {'total':>8} "
        f"{'baseline analyze':>17} {'ratio':>6}  (seconds)"
    )
    with tempfile.TemporaryDirectory() as folder:
        for runs in args.runs:
            study_path, store_path = write_store(Path(folder), runs, args.bootstrap)
            profiler = cProfile.Profile() if args.profile else None
            if profiler:
                profiler.enable()
            document, times = analyze(study_path, store_path)
            if profiler:
                profiler.disable()
            compared = ""
            if runs <= args.baseline_up_to:
                reference, reference_times = baseline(study_path, store_path)
                assert json.dumps(reference, sort_keys=True) == json.dumps(document, sort_keys=True), "documents differ"
                compared = f"{reference_times['analyze']:>17.2f} {reference_times['analyze'] / times['analyze']:>5.1f}x"
            print(
                f"{document['runs']:>8} {len(document['cells']):>6} {times['load study']:>11.2f} "
                f"{times['read runs']:>10.2f} {times['analyze']:>9.2f} {times['total']:>8.2f} {compared}",
                flush=True,
            )
            if profiler:
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(12)


if __name__ == "__main__":
    main()
