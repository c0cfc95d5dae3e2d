"""Calibration of the claim intervals and verdicts, by simulating the shipped studies' designs.

    python bench/calibration.py                      # 1,000 studies per row, 1,000 bootstrap replicates
    python bench/calibration.py --studies 200        # quicker, noisier
    python bench/calibration.py --seed-sd 0.5 --cell-sd 0.5
    python bench/calibration.py --only curves        # one family: data-needed, curves or paired
    python bench/calibration.py --write              # store the factors in analysis/calibration.json

Each design is read from a study file at its quick profile: its x values, seeds, regime,
and either its evaluation grid and step budget (online: samples-to-threshold is the first
evaluation at or past a seed's need, censored at the budget) or its training-set sizes
(fixed: the need is known only between grid sizes, censored above the largest). A seed's
need at x is ``y(x) · exp(seed_sd·z_seed + cell_sd·z_cell)``: a seed effect shared across
x and series (its data pool), and each cell's own noise. ``y(x)`` is the true median.

The statistics are the analysis' own: :class:`samplelab.analysis.resample.SeedResampler`
draws whole seeds, a cell's median is the Kaplan–Meier median (online) or the
interval-censored median bracket (fixed), exponents come from
:func:`samplelab.stats.powerlaw.fit_law_batch`, intervals from
:func:`samplelab.stats.bootstrap.expanded_percentile_interval`, verdicts from
:func:`samplelab.stats.verdict.verdict`. Printed: per design and claim kind, the coverage of
the 95% interval (the truth inside it) and the rate of each wrong verdict — a false
*disagrees* when the truth sits exactly on the claim's edge, a false *agrees* when it lies
outside by the margin — as Markdown rows for docs/analysis.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from calibration_curves import curve_design, simulate_curve, simulate_paired
from calibration_tally import CONFIDENCE, STUDIES, Tally, applied_factor, needed_factor, widened
from samplelab.analysis.cells import Cell
from samplelab.analysis.claim_cells import bracket_interval
from samplelab.analysis.resample import SeedResampler
from samplelab.spec.study import load_study
from samplelab.stats.bootstrap import expanded_percentile_interval
from samplelab.stats.powerlaw import fit_law_batch, fit_log_law_batch, fit_with_replicates
from samplelab.stats.survival import KaplanMeier, Quantile, kaplan_meier, km_quantile_batch
from samplelab.stats.verdict import Region, growth_verdict, verdict

CALIBRATION: list[dict] = []  # what --write stores: per design and claim kind, coverage and widening


def _record(design: Design, kind: str, tally: Tally, truth: str | None = None) -> None:
    study, series = design.name.split(" [")[0], design.name.split("] ")[1] if "] " in design.name else None
    CALIBRATION.append(tally.entry(study, kind, series, **({"truth": truth} if truth else {})))


def _estimate(design: Design, cell: Cell) -> float:
    if design.regime == "fixed":
        return cell.median_bracket[1]
    return np.nan if cell.km.median.value is None else cell.km.median.value


@dataclass
class Design:
    """What a study measures at: x values, seeds, and the grid data needed is read on."""

    name: str
    x: np.ndarray  # [P]
    seeds: int
    regime: str
    grid: np.ndarray  # online: [K] samples at each evaluation; fixed: [M] training-set sizes, or [P, M] per x

    def sizes_at(self, j: int) -> np.ndarray:
        """The grid the cell at x index ``j`` is read on."""
        return self.grid[j] if self.grid.ndim == 2 else self.grid

    def observe(self, need: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
        """True needs ``[..., S]`` at x index ``j`` → (measured need or censoring point, reached) as a study sees them."""
        grid = self.sizes_at(j)
        index = np.searchsorted(grid, need)  # first grid point ≥ need
        reached = index < grid.size
        return np.where(reached, grid[np.minimum(index, grid.size - 1)], grid[-1]), reached


def design_of(study_file: str, x_key: str, series: str | None = None) -> Design:
    study = load_study(STUDIES / study_file, "quick")
    runs = [r for r in study.runs if series is None or r.point.get("model") == series]
    training = runs[0].config.training
    if training.regime == "online":
        samples = training.eval_every * training.batch_size
        budget = max(r.config.training.steps for r in runs) * training.batch_size
        grid = np.arange(samples, budget + 1, samples, dtype=np.float64)
    x = np.array(sorted(study.grid[x_key]), dtype=np.float64)
    if training.regime == "fixed":  # each x's own sizes (a zipped grid, e.g. 2N … 32N); one row if all share them
        rows = [sorted({r.config.training.n_train for r in runs if r.point[x_key] == value}) for value in x]
        grid = np.array(rows[0] if all(row == rows[0] for row in rows) else rows, dtype=np.float64)
    name = f"{study.name} [quick]" + (f" {series}" if series else "")
    return Design(name, x, len({r.seed for r in runs}), training.regime, grid)


def _cells(design: Design, need: np.ndarray) -> list[Cell]:
    """Cells of one simulated series: ``need`` ``[S, P]`` → one Cell per x (no records)."""
    cells = []
    for j in range(design.x.size):
        measured, reached = design.observe(need[:, j], j)
        median = km_quantile_batch(measured[None], reached[None])[0]
        km = KaplanMeier({0.5: Quantile(0.5, None if np.isnan(median) else float(median), (None, None))}, 0, 0)
        cell = Cell({"x": design.x[j]}, [], 0.0, list(range(design.seeds)), measured, reached, km)
        if design.regime == "fixed":
            cell.sizes = design.sizes_at(j).astype(int).tolist()
            cell.success = need[:, j, None] <= design.sizes_at(j)[None, :]
        cells.append(cell)
    return cells


def _medians(design: Design, cells: list[Cell], resampler: SeedResampler) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's median (``[P]``) and ``[B, P]`` replicates (NaN: not reached): the KM median
    online, the median bracket's upper end in the fixed regime."""
    if design.regime == "fixed":
        point = np.array([c.median_bracket[1] for c in cells])
        replicates = np.stack([resampler.cell_statistic(c, "median_bracket")[:, 1] for c in cells], axis=1)
        return point, replicates
    point = np.array([np.nan if c.km.median.value is None else c.km.median.value for c in cells])
    return point, np.stack([resampler.cell_statistic(c, "km_median") for c in cells], axis=1)


def _exponent(design: Design, point: np.ndarray, replicates: np.ndarray, units: int) -> tuple[float, list]:
    valid = np.isfinite(point)
    if valid.sum() < 2:
        return float("nan"), [float("nan"), float("nan")]
    estimate, fitted = fit_with_replicates("power", design.x, point, replicates)
    return estimate["gamma"], list(expanded_percentile_interval(estimate["gamma"], fitted["gamma"], CONFIDENCE, units))


def _truth_scale(design: Design, law) -> float:
    """Scale the truth so its median sits inside the grid: at the geometric middle of it at the middle x."""
    if design.grid.ndim == 2:  # per-x grids: the geometric mean over x of each grid's middle ÷ the law there
        middles = np.sqrt(design.grid[:, 0] * design.grid[:, -1])
        return float(np.exp(np.mean(np.log(middles / law(design.x)))))
    middle = np.sqrt(design.grid[0] * design.grid[-1]) if design.regime == "fixed" else 0.3 * design.grid[-1]
    return middle / law(np.sqrt(design.x[0] * design.x[-1]))


def simulate(design: Design, studies: int, replicates: int, seed_sd: float, cell_sd: float, rng) -> list[list[str]]:
    """The rows of one design (see the module docstring)."""
    rows = []
    s, p = design.seeds, design.x.size

    def draw(law, scale, seed_effect) -> np.ndarray:
        return scale * law(design.x)[None, :] * np.exp(seed_effect[:, None] + cell_sd * rng.standard_normal((s, p)))

    # 1. The exponent of a power law, γ = 1 and 0.5: coverage; a bound γ ≥ 1 − 0.25 at its edge
    #    (truth 0.75: false disagrees) and beyond it by the margin (truth 0.5: false agrees).
    for gamma, role in [(1.0, "coverage"), (0.75, "edge"), (0.5, "beyond")]:
        law = lambda x, g=gamma: x**g  # noqa: E731
        scale, tally = _truth_scale(design, law), Tally()
        for _ in range(studies):
            need = draw(law, scale, seed_sd * rng.standard_normal(s))
            resampler = SeedResampler(range(s), replicates, rng)
            point, reps = _medians(design, _cells(design, need), resampler)
            estimate, ci = _exponent(design, point, reps, s)
            factor = needed_factor(estimate, ci, gamma)
            tally.add(ci[0] <= gamma <= ci[1], verdict(ci, Region.of(above=1.0, margin=0.25)), factor)
        label = {"coverage": "γ = 1: CI covers γ", "edge": "bound γ ≥ 1 (margin 0.25), truth 0.75: false disagrees",
                 "beyond": "bound γ ≥ 1 (margin 0.25), truth 0.5: false agrees"}[role]  # fmt: skip
        shown = {"coverage": tally.rate(tally.covered), "edge": tally.rate(tally.disagrees),
                 "beyond": tally.rate(tally.agrees)}[role]  # fmt: skip
        rows.append([design.name, "exponent (bound, equivalence)", label, shown])
        if role == "coverage":
            _record(design, "exponent", tally)
            exponent_factor = applied_factor(tally, studies)

    # 2. compare: γ(a) − γ(b) with the seeds shared, truths 1 and 0.5 (coverage), then equal
    #    truths against "> 0" (false agrees).
    for gammas, role in [((1.0, 0.5), "coverage"), ((0.5, 0.5), "equal")]:
        tally = Tally()
        laws = [lambda x, g=g: x**g for g in gammas]
        scales = [_truth_scale(design, law) for law in laws]
        for _ in range(studies):
            seed_effect = seed_sd * rng.standard_normal(s)
            resampler = SeedResampler(range(s), replicates, rng)
            fitted = []
            for law, scale in zip(laws, scales, strict=True):
                point, reps = _medians(design, _cells(design, draw(law, scale, seed_effect)), resampler)
                estimate, replicates_fitted = fit_with_replicates("power", design.x, point, reps)
                fitted.append((estimate["gamma"], replicates_fitted["gamma"]))
            difference = fitted[0][0] - fitted[1][0]
            ci = expanded_percentile_interval(difference, fitted[0][1] - fitted[1][1], CONFIDENCE, s)
            truth = gammas[0] - gammas[1]
            tally.add(ci[0] <= truth <= ci[1], verdict(ci, Region.of(above=0.0)), needed_factor(difference, ci, truth))
        if role == "coverage":
            _record(design, "compare", tally)
        label = "γ 1 vs 0.5: CI covers 0.5" if role == "coverage" else "equal γ, claim > 0: false agrees"
        rows.append([design.name, "compare", label, tally.rate(tally.covered if role == "coverage" else tally.agrees)])

    # 3. band: the median ÷ x per x, truth y ∝ x: coverage of the true median at every x, by
    #    the whole-seed bootstrap and (online) by the KM median's own Brookmeyer–Crowley CI.
    tally, km_tally = Tally(), Tally()
    law = lambda x: x  # noqa: E731
    scale = _truth_scale(design, law)
    for _ in range(studies):
        need = draw(law, scale, seed_sd * rng.standard_normal(s))
        resampler = SeedResampler(range(s), replicates, rng)
        cells = _cells(design, need)
        for j, cell in enumerate(cells):
            if design.regime == "fixed":
                reps = resampler.cell_statistic(cell, "median_bracket")
                ci = bracket_interval(cell.median_bracket, reps, s, CONFIDENCE)
            else:
                value = cell.km.median.value
                reps = resampler.cell_statistic(cell, "km_median")
                ci = (
                    expanded_percentile_interval(value, reps, CONFIDENCE, s, nan_is_above=True)
                    if value is not None
                    else (design.grid[-1], np.inf)
                )
            truth, estimate = scale * design.x[j], _estimate(design, cell)
            tally.add(ci[0] <= truth <= ci[1], None, needed_factor(estimate, ci, truth))
            if design.regime == "online":
                low, high = kaplan_meier(cell.needed, cell.reached, (0.5,), CONFIDENCE).median.ci
                km_ci = (0.0 if low is None else low, np.inf if high is None else high)
                km_tally.add(km_ci[0] <= truth <= km_ci[1], None, needed_factor(estimate, km_ci, truth))
    _record(design, "band", tally)
    rows.append([design.name, "band", "median ÷ x: bootstrap CI covers the true median", tally.rate(tally.covered)])
    if design.regime == "online":
        _record(design, "band_km", km_tally)
        rows.append(
            [design.name, "band", "median ÷ x: KM (Brookmeyer–Crowley) CI covers it", km_tally.rate(km_tally.covered)]
        )

    # 4. growth, margin 0.1: D = (power − log loss) ÷ points, covering its value on the true
    #    medians (truths ln x and x); verdict rates with the intervals as measured and as
    #    calibrated (γ widened by this design's exponent factor, D by its own).
    kept: dict[str, list] = {}
    tallies = []
    for law, role in [(np.log, "log"), (lambda x: x, "linear")]:
        scale, tally, kept[role] = _truth_scale(design, law), Tally(), []
        true_gap = _gap(design.x, scale * law(design.x)[None])[0]
        for _ in range(studies):
            need = draw(law, scale, seed_sd * rng.standard_normal(s))
            resampler = SeedResampler(range(s), replicates, rng)
            point, reps = _medians(design, _cells(design, need), resampler)
            valid = np.isfinite(point)
            if valid.sum() < 2:
                tally.add(None)
                continue
            gamma, gamma_ci = _exponent(design, point, reps, s)
            gap = _gap(design.x[valid], np.vstack([point[valid][None], reps[:, valid]]))
            gap_ci = expanded_percentile_interval(gap[0], gap[1:], CONFIDENCE, s)
            tally.add(gap_ci[0] <= true_gap <= gap_ci[1], None, needed_factor(gap[0], gap_ci, true_gap))
            kept[role].append((gap[0], gap_ci, gamma, gamma_ci))
        tallies.append(tally)
        _record(design, "growth", tally, truth="ln x" if role == "log" else "x")
        truth = "ln x" if role == "log" else "x"
        rows.append([design.name, "growth", f"truth {truth}: CI of D covers its true value ({true_gap:+.3g})",
                     tally.rate(tally.covered)])  # fmt: skip
    gap_factor = max(applied_factor(t, studies) for t in tallies)
    for role, (wrong, right) in {"log": ("disagrees", "agrees"), "linear": ("agrees", "disagrees")}.items():
        judged = [
            [growth_verdict(widened(gap_ci, g, f_gap), widened(gamma_ci, c, f_gamma), 0.1)
             for g, gap_ci, c, gamma_ci in kept[role]]
            for f_gap, f_gamma in ((1.0, 1.0), (gap_factor, exponent_factor))
        ]  # fmt: skip
        truth = "ln x" if role == "log" else "x"
        for name in (wrong, right):
            counts = [f"{sum(v == name for v in js) / max(len(js), 1):.1%}" for js in judged]
            label = f"truth {truth}: {'false ' if name == wrong else ''}{name} (as measured → calibrated)"
            rows.append([design.name, "growth", label, " → ".join(counts)])
    return rows


def _gap(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """D = (power-law loss − log-law loss) ÷ points of each row of ``y`` ``[B, P]``: ``[B]``."""
    points = np.isfinite(y).sum(axis=1)
    return (fit_law_batch("power", x, y)["loss"] - fit_log_law_batch(x, y)["loss"]) / points


CALIBRATION_FILE = Path(__file__).resolve().parent.parent / "src" / "samplelab" / "analysis" / "calibration.json"


# Each task is one design, simulated in its own process with its own random stream
# (default_rng([0, task index])): the numbers depend on the task list, not on the workers.
# Truths of the learning curves: the exponents the theories predict with the true d of each
# study's quick grid; for text, 2/(2 + d) with d of the embeddings measured at 4.3–6.6: 0.3.
FAMILIES = {  # the interval kinds each family of tasks simulates
    "data-needed": ("exponent", "compare", "band", "band_km", "growth"),
    "paired": ("paired",),
    "curves": ("curve_exponent",),
    "trend": ("trend", "exponent_trend"),
}
TASKS = [  # the longest first, so that two workers finish together
    ("curves", ("manifold_data_scaling.toml", [2 / (2 + d) for d in (2, 4, 8)])),
    ("curves", ("manifold_model_scaling.toml", [2 / d for d in (2, 4, 8)])),
    ("data-needed", ("qstr_hierarchy.toml", "task.seq_len", "transformer")),
    ("data-needed", ("qstr_hierarchy.toml", "task.seq_len", "ffn")),
    ("data-needed", ("setfind2_setsize.toml", "task.set_size", None)),
    ("curves", ("text_scaling.toml", [0.3])),
    ("paired", ("mnist100_init.toml",)),
    ("trend", ("manifold_data_scaling.toml", [2 / (2 + d) for d in (2, 4, 8)])),
    ("trend", ("setfind2_modelsize.toml", None)),
    ("trend", ("setfind2_distractors.toml", None)),
]


def _run_task(task: tuple, args: dict, index: int) -> tuple[list, list, str, float]:
    """One design's rows and calibration entries (run in a worker process)."""
    kind, spec = task
    rng, start = np.random.default_rng([0, index]), time.perf_counter()
    CALIBRATION.clear()
    studies, replicates = args["studies"], args["replicates"]
    if kind == "data-needed":
        design = design_of(*spec)
        name, rows = design.name, simulate(design, studies, replicates, args["seed_sd"], args["cell_sd"], rng)
    elif kind == "paired":
        name, rows = spec[0], simulate_paired(spec[0], studies, replicates, rng, CALIBRATION)
    elif kind == "trend":
        from calibration_trend import simulate_trend  # it builds on this module's designs

        name, rows = spec[0], simulate_trend(*spec, studies, replicates, args, rng, CALIBRATION)
    else:
        design = curve_design(*spec)
        noise = args["curve_seed_sd"], args["curve_cell_sd"]
        name, rows = design.name, simulate_curve(design, studies, replicates, *noise, rng, CALIBRATION)
    return rows, list(CALIBRATION), name, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=1000, help="simulated studies per row")
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap replicates per study")
    parser.add_argument("--seed-sd", type=float, default=0.3, help="sd of a seed's log need, shared across x")
    parser.add_argument("--cell-sd", type=float, default=0.3, help="sd of each cell's own log need")
    parser.add_argument("--curve-seed-sd", type=float, default=0.15, help="learning curves: sd of a seed's log y")
    parser.add_argument("--curve-cell-sd", type=float, default=0.3, help="learning curves: sd of each run's log y")
    parser.add_argument("--only", nargs="+", metavar="FAMILY_OR_STUDY",
                        help="simulate these only: data-needed, curves, paired, trend, or study files' stems "
                        "(text_scaling)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="designs simulated at once (processes)")
    parser.add_argument("--write", action="store_true", help=f"store the widening factors in {CALIBRATION_FILE.name}")
    args = parser.parse_args()
    only = set(args.only or FAMILIES)
    stems = {spec[0].removesuffix(".toml") for _, spec in TASKS}
    if unknown := only - set(FAMILIES) - stems:
        parser.error(
            f"--only {' '.join(sorted(unknown))}: not a family ({', '.join(FAMILIES)}) or study ({', '.join(sorted(stems))})"
        )
    settings = (
        f"{args.studies} studies per row, {args.replicates} replicates, seed sd {args.seed_sd}, cell sd {args.cell_sd}; "
        f"learning curves seed sd {args.curve_seed_sd}, run sd {args.curve_cell_sd}"
    )
    print(settings)
    print("| design | claim kind | what | rate |\n|---|---|---|---|")
    tasks = [task for task in TASKS if task[0] in only or task[1][0].removesuffix(".toml") in only]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        jobs = [pool.submit(_run_task, task, vars(args), TASKS.index(task)) for task in tasks]  # a task's own stream
        for job in jobs:  # in task order, whichever finishes first
            rows, entries, name, seconds = job.result()
            for row in rows:
                print("| " + " | ".join(row) + " |", flush=True)
            print(f"<!-- {name}: {seconds:.0f} s -->", flush=True)
            CALIBRATION.extend(entries)
    # qstr_simple's quick design is qstr_hierarchy's (same N, seeds, budgets, evaluations): same numbers.
    for series in ("transformer", "ffn"):
        twin, measured = (
            design_of("qstr_simple.toml", "task.seq_len", series),
            design_of("qstr_hierarchy.toml", "task.seq_len", series),
        )
        if (
            all(np.array_equal(getattr(twin, f), getattr(measured, f)) for f in ("x", "grid"))
            and twin.seeds == measured.seeds
        ):
            CALIBRATION.extend({**e, "study": "qstr_simple"} for e in list(CALIBRATION)
                               if e["study"] == "qstr_hierarchy" and e["series"] == series)  # fmt: skip
    print("\n| study | claim kind | series | coverage | widen by |\n|---|---|---|---|---|")
    for entry in CALIBRATION:
        series = (entry["series"] or "all") + (f" (truth {entry['truth']})" if "truth" in entry else "")
        print(f"| {entry['study']} [quick] | {entry['kind']} | {series} | {entry['coverage']:.1%} | "
              f"{entry['widen_by']:.2f} |")  # fmt: skip
    if args.write:
        command = "python bench/calibration.py " + " ".join(sys.argv[1:])
        source = f"{command} ({settings}, {time.strftime('%Y-%m-%d')})"
        entries = [{**entry, "studies": args.studies, "calibration": source} for entry in CALIBRATION]
        if args.only and CALIBRATION_FILE.exists():  # a partial run replaces its own entries only
            redone = {(entry["study"], entry["kind"]) for entry in entries}
            previous = json.loads(CALIBRATION_FILE.read_text())["entries"]
            entries = [entry for entry in previous if (entry["study"], entry["kind"]) not in redone] + entries
        CALIBRATION_FILE.write_text(json.dumps({"format": 2, "entries": entries}, indent=1) + "\n")
        print(f"wrote {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
