"""From stored runs of a study to tables: one row per run, one row per cell.

A *cell* is a grid point with the training-set size removed (``training.n_train`` is the
axis along which data needed is measured); per cell and seed, the training-set size to
threshold is the least ``n_train`` whose run ends at or below the threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from samplelab.analysis_config import N_TRAIN
from samplelab.measure import median_with_censoring, samples_to_threshold, train_size_to_threshold
from samplelab.store import ResultStore, RunRecord
from samplelab.study import RunSpec, Study, with_n_train

REFINEMENT_KEY = "refinement_round"  # in a stored grid point: added by n* refinement in that round


@dataclass(frozen=True)
class StudyRuns:
    """A study's stored runs paired with the threshold each is measured against."""

    study: Study
    records: list[RunRecord]
    thresholds: dict[str, float]  # run_key -> threshold (task units)

    @property
    def cell_keys(self) -> list[str]:
        """Grid keys that define a cell (all but ``training.n_train``)."""
        return [key for key in self.study.grid if key != N_TRAIN]

    @property
    def regime(self) -> str:
        return self.study.runs[0].config.training.regime


def load_study_runs(study: Study, store: ResultStore, threshold_relative: float | None = None) -> StudyRuns:
    """Read the study's finished runs.

    Thresholds come from the study's measurement config, unless ``threshold_relative``
    (a fraction of each run's baseline) overrides it — no retraining is ever needed.
    """
    stored = store.study_runs(study.name, study.profile)
    specs = {spec.key: spec for spec in study.runs} | refinement_specs(study, stored)
    records = [r for r in stored if r.run_key in specs]
    measurement = {key: spec.config.measurement for key, spec in specs.items()}
    if threshold_relative is not None:
        measurement = {
            key: m.model_copy(update={"threshold": None, "threshold_relative": threshold_relative})
            for key, m in measurement.items()
        }
    thresholds = {r.run_key: measurement[r.run_key].threshold_for(r.baseline) for r in records}
    return StudyRuns(study, records, thresholds)


def refinement_specs(study: Study, stored: list[RunRecord]) -> dict[str, RunSpec]:
    """Stored runs that n* refinement added between grid sizes, if they still match the study.

    Such a run is its grid run with another ``n_train``; it is accepted only if re-deriving
    its key from the study's current config gives the stored key (so editing the study
    file drops stale refinements exactly as it drops stale grid runs).
    """
    if N_TRAIN not in study.grid:
        return {}
    grid_keys = {spec.key for spec in study.runs}
    by_cell_seed = grid_run_by_cell_and_seed(study)
    accepted = {}
    for record in stored:
        base = by_cell_seed.get((cell_point(record.point), record.seed))
        refined = REFINEMENT_KEY in record.point
        if not refined or record.run_key in grid_keys or base is None or record.n_train is None:
            continue
        candidate = with_n_train(base, record.n_train)
        if candidate.key == record.run_key:
            accepted[candidate.key] = candidate
    return accepted


def grid_run_by_cell_and_seed(study: Study) -> dict[tuple, RunSpec]:
    """A grid run of each (cell, seed): the template a run at another ``n_train`` is derived from."""
    return {(cell_point(spec.point), spec.seed): spec for spec in study.runs}


def cell_point(point: dict) -> tuple:
    """Hashable grid point without the training-set size (and refinement tag)."""
    return tuple(sorted((k, v) for k, v in point.items() if k not in (N_TRAIN, REFINEMENT_KEY)))


def run_rows(runs: StudyRuns) -> list[dict]:
    """One dict per run: grid point, seed, status, metrics and samples-to-threshold."""
    rows = []
    for record in runs.records:
        threshold = runs.thresholds[record.run_key]
        rows.append(
            {
                **record.point,
                "seed": record.seed,
                "status": record.status,
                "n_train": record.n_train,
                "final_metric": record.final_metric,
                "best_metric": record.best_metric,
                "baseline": record.baseline,
                "threshold": threshold,
                "samples_to_threshold": samples_to_threshold(record.samples_seen, record.test_metric, threshold),
                "reached_at_end": bool(record.final_metric <= threshold),
                "run_key": record.run_key,
            }
        )
    return rows


def json_interval(ci: tuple[float | None, float | None]) -> list[float | None]:
    """A CI as JSON: ``[low, high]`` floats, ``None`` for a limit that is missing or not finite."""
    return [None if v is None or not math.isfinite(v) else float(v) for v in ci]


def cell_of(record: RunRecord, cell_keys: list[str]) -> tuple:
    return tuple(record.point.get(key) for key in cell_keys)


def cell_sort_key(cell: tuple) -> tuple:
    """Numbers in numeric order, then other values as text."""
    return tuple((0, value, "") if isinstance(value, int | float) else (1, 0, str(value)) for value in cell)


def cell_rows(runs: StudyRuns) -> list[dict]:
    """One dict per cell: per-seed data needed and its median (censored-aware).

    In the fixed regime the measure is the training-set size to threshold (final metric);
    online it is samples-to-threshold (first crossing). ``None`` means not reached.
    """
    keys = runs.cell_keys
    by_cell: dict[tuple, dict[int, list[RunRecord]]] = {}
    for record in runs.records:
        by_cell.setdefault(cell_of(record, keys), {}).setdefault(record.seed, []).append(record)
    rows = []
    for cell, seeds in sorted(by_cell.items(), key=lambda item: cell_sort_key(item[0])):
        needed: dict[int, int | None] = {}
        for seed, records in sorted(seeds.items()):
            threshold = runs.thresholds[records[0].run_key]
            if runs.regime == "fixed":
                needed[seed] = train_size_to_threshold(
                    [r.n_train for r in records], [r.final_metric for r in records], threshold
                )
            else:
                needed[seed] = samples_to_threshold(records[0].samples_seen, records[0].test_metric, threshold)
        median, reached, total = median_with_censoring(needed.values())
        diverged = sum(r.status == "diverged" for rs in seeds.values() for r in rs)
        rows.append(
            {
                **dict(zip(keys, cell, strict=True)),
                "measure": "train_size_to_threshold" if runs.regime == "fixed" else "samples_to_threshold",
                "per_seed": needed,
                "median": median,
                "reached": reached,
                "seeds": total,
                "diverged_runs": diverged,
            }
        )
    return rows
