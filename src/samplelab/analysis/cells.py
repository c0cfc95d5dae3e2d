"""Runs → cells: the one grouping of a study's runs by cell and seed, and what each seed needed.

A *cell* is a grid point with the training-set size removed (``training.n_train`` is the
axis along which data needed is measured). Per cell and seed, the data needed is, in the
fixed regime, the least ``n_train`` whose run ends at or below the threshold (training-set
size to threshold); online, the samples seen at the first evaluation at or below it
(samples-to-threshold). A seed that never gets there is censored at its budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samplelab.analysis.bisection import implied_outcome
from samplelab.analysis.runs import StudyRuns
from samplelab.ledger.store import RunRecord
from samplelab.spec.analysis import AnalysisConfig
from samplelab.stats.interval_censored import first_success, median_bracket
from samplelab.stats.nstar import NStar, n_star
from samplelab.stats.survival import KaplanMeier, kaplan_meier
from samplelab.stats.thresholds import median_with_censoring, samples_to_threshold, train_size_to_threshold


def measure_name(regime: str) -> str:
    """What data needed is in a regime: ``train_size_to_threshold`` (fixed) or ``samples_to_threshold``."""
    return "train_size_to_threshold" if regime == "fixed" else "samples_to_threshold"


def cell_of(record: RunRecord, cell_keys: list[str]) -> tuple:
    return tuple(record.point.get(key) for key in cell_keys)


def cell_sort_key(cell: tuple) -> tuple:
    """Numbers in numeric order, then other values as text."""
    return tuple((0, value, "") if isinstance(value, int | float) else (1, 0, str(value)) for value in cell)


def group_cells(runs: StudyRuns) -> list[tuple[tuple, dict[int, list[RunRecord]]]]:
    """The study's runs by cell (values of ``runs.cell_keys``, in :func:`cell_sort_key` order),
    then by seed (ascending); each seed's runs in store order."""
    grouped: dict[tuple, dict[int, list[RunRecord]]] = {}
    for record in runs.records:
        grouped.setdefault(cell_of(record, runs.cell_keys), {}).setdefault(record.seed, []).append(record)
    ordered = sorted(grouped.items(), key=lambda item: cell_sort_key(item[0]))
    return [(cell, dict(sorted(by_seed.items()))) for cell, by_seed in ordered]


@dataclass
class Cell:
    """One grid point (``training.n_train`` removed), its runs and per-seed measurements."""

    point: dict
    records: list[RunRecord]  # the cell's runs, by seed
    threshold: float  # ε in the task's units
    seeds: list[int]
    needed: np.ndarray  # [S] data needed, or the budget it was censored at
    reached: np.ndarray  # [S] bool
    km: KaplanMeier  # quantiles of ``needed`` (censored where not ``reached``)
    n_star: NStar | None = None
    sizes: list[int] = field(default_factory=list)  # fixed regime: [M] sizes every seed was run at
    success: np.ndarray | None = None  # fixed regime: [S, M] whether each run ended at or below ε

    @property
    def config(self) -> dict:
        """Resolved run config of its first run (binds theory variables)."""
        return self.records[0].config

    @property
    def median_bracket(self) -> tuple[float, float]:
        """Fixed regime: (low, high] holding the interval-censored median of the data needed
        (:mod:`samplelab.stats.interval_censored`); high NaN: not reached on the grid."""
        low, high = median_bracket(np.asarray(self.sizes), first_success(self.success)[None])[0]
        return float(low), float(high)

    @property
    def diverged_runs(self) -> int:
        return sum(r.status == "diverged" for r in self.records)


def _seed_measure(records: list[RunRecord], threshold: float, regime: str) -> tuple[float, bool]:
    """(data needed or censoring budget, reached?) for one seed's runs in a cell."""
    if regime == "fixed":
        needed = train_size_to_threshold([r.n_train for r in records], [r.final_metric for r in records], threshold)
        return (float(needed), True) if needed is not None else (float(max(r.n_train for r in records)), False)
    record = records[0]
    needed = samples_to_threshold(record.samples_seen, record.test_metric, threshold)
    return (float(needed), True) if needed is not None else (float(record.samples_seen[-1]), False)


def _implied_success_matrix(
    by_seed: dict[int, list[RunRecord]], thresholds: dict[str, float], grid: set[int]
) -> tuple[list[int], np.ndarray]:
    """Bisected sizes (:mod:`samplelab.analysis.bisection`): the sizes of the cell's ``grid``
    and its runs where every seed's outcome is stored or implied by monotonicity (reached at
    a smaller size, or not reached at a larger one, but not both), and ``[S, M]`` those outcomes."""
    sizes = sorted(grid.union(*({r.n_train for r in rs} for rs in by_seed.values())))
    success = np.zeros((len(by_seed), len(sizes)), dtype=bool)
    determined = np.ones(len(sizes), dtype=bool)
    for row, records in enumerate(by_seed.values()):
        known = {r.n_train: bool(r.final_metric <= thresholds[r.run_key]) for r in records}
        for column, size in enumerate(sizes):
            outcome = implied_outcome(known, size)
            determined[column] &= outcome is not None
            success[row, column] = bool(outcome)
    return [n for n, keep in zip(sizes, determined, strict=True) if keep], success[:, determined]


def _success_matrix(by_seed: dict[int, list[RunRecord]], thresholds: dict[str, float]) -> tuple[list[int], np.ndarray]:
    """Sizes every seed was run at, and ``[S, M]`` whether each run ended at or below ε."""
    sizes = sorted(set.intersection(*({r.n_train for r in rs} for rs in by_seed.values())))
    success = np.zeros((len(by_seed), len(sizes)), dtype=bool)
    for row, records in enumerate(by_seed.values()):
        for record in records:
            if record.n_train in sizes:
                threshold = thresholds[record.run_key]
                success[row, sizes.index(record.n_train)] = bool(record.final_metric <= threshold)
    return sizes, success


def collect_cells(runs: StudyRuns, analysis: AnalysisConfig, seed: int = 0) -> list[Cell]:
    """Measure each seed of each cell (and n* in the fixed regime), with the study's statistics settings."""
    cells = []
    grid_sizes: dict[tuple, set[int]] = {}  # bisected: each cell's training-set sizes, trained or not
    for spec in runs.study.runs if analysis.bisected else ():
        grid_sizes.setdefault(tuple(spec.point.get(k) for k in runs.cell_keys), set()).add(spec.config.training.n_train)
    for index, (cell, by_seed) in enumerate(group_cells(runs)):
        measured = [_seed_measure(rs, runs.thresholds[rs[0].run_key], runs.regime) for rs in by_seed.values()]
        records = [r for rs in by_seed.values() for r in rs]
        needed = np.array([m[0] for m in measured])
        reached = np.array([m[1] for m in measured])
        entry = Cell(
            point=dict(zip(runs.cell_keys, cell, strict=True)),
            records=records,
            threshold=runs.thresholds[records[0].run_key],
            seeds=list(by_seed),
            needed=needed,
            reached=reached,
            km=kaplan_meier(needed, reached, analysis.quantiles, analysis.confidence),
        )
        if runs.regime == "fixed":
            if analysis.bisected:
                sizes, success = _implied_success_matrix(by_seed, runs.thresholds, grid_sizes.get(cell, set()))
            else:
                sizes, success = _success_matrix(by_seed, runs.thresholds)
            entry.sizes, entry.success = sizes, success
            if sizes:
                entry.n_star = n_star(
                    sizes, success, analysis.delta, method=analysis.n_star_method,
                    confidence=analysis.confidence, bootstrap=analysis.bootstrap, rng=[seed, index],
                )  # fmt: skip
        cells.append(entry)
    return cells


def cell_rows(runs: StudyRuns) -> list[dict]:
    """One dict per cell: per-seed data needed (``None``: not reached) and its median
    (censoring-aware), without the statistics of :func:`collect_cells` (for tables)."""
    rows = []
    for cell, by_seed in group_cells(runs):
        needed = {}
        for seed, records in by_seed.items():
            value, reached = _seed_measure(records, runs.thresholds[records[0].run_key], runs.regime)
            needed[seed] = int(value) if reached else None
        median, reached, total = median_with_censoring(needed.values())
        rows.append(
            {
                **dict(zip(runs.cell_keys, cell, strict=True)),
                "measure": measure_name(runs.regime),
                "per_seed": needed,
                "median": median,
                "reached": reached,
                "seeds": total,
                "diverged_runs": sum(r.status == "diverged" for rs in by_seed.values() for r in rs),
            }
        )
    return rows
