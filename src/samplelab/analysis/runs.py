"""A study's stored runs: which of the store's rows belong to it (grid runs and the refinement
runs that still match it), each with its threshold; one row per run; and the stored run a
probe retrains (embeddings, attention map). Grouping them into cells: :mod:`samplelab.analysis.cells`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from samplelab.core.errors import ConfigError
from samplelab.ledger.leases import failed_runs
from samplelab.ledger.store import ResultStore, RunRecord
from samplelab.models.base import AttentionMap, Embeddings, has_hook
from samplelab.spec.run_config import N_TRAIN
from samplelab.spec.study import REFINEMENT_KEY, RunSpec, Study, cell_point, load_study_text, parse_toml, with_n_train
from samplelab.stats.thresholds import samples_to_threshold
from samplelab.tasks import build_task


@dataclass(frozen=True)
class StudyRuns:
    """A study's stored runs paired with the threshold each is measured against."""

    study: Study
    records: list[RunRecord]
    thresholds: dict[str, float]  # run_key -> threshold (task units)
    failed: frozenset[str] = frozenset()  # keys of the study's runs whose ensemble failed every attempt

    @property
    def cell_keys(self) -> list[str]:
        """Grid keys that define a cell (all but ``training.n_train``)."""
        return [key for key in self.study.grid if key != N_TRAIN]

    @property
    def regime(self) -> str:
        return self.study.runs[0].config.training.regime

    def at_threshold_relative(self, fraction: float) -> StudyRuns:
        """The same runs measured against ``fraction`` × each run's baseline."""
        return dataclasses.replace(self, thresholds={r.run_key: fraction * r.baseline for r in self.records})


def load_study_runs(study: Study, store: ResultStore, threshold_relative: float | None = None) -> StudyRuns:
    """Read the study's finished runs.

    Thresholds come from the study's measurement config, unless ``threshold_relative``
    (a fraction of each run's baseline) overrides it — no retraining is ever needed.
    """
    stored = store.study_runs(study.name, study.profile)
    specs = {spec.key: spec for spec in study.runs} | refinement_specs(study, stored)
    records = [r for r in stored if r.run_key in specs]
    thresholds = {r.run_key: specs[r.run_key].config.measurement.threshold_for(r.baseline) for r in records}
    failed = frozenset(key for key, _, _ in failed_runs(store, specs))
    runs = StudyRuns(study, records, thresholds, failed)
    return runs if threshold_relative is None else runs.at_threshold_relative(threshold_relative)


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


def stored_runs_of_models_with(runs: StudyRuns, hook: type) -> list[RunSpec]:
    """The study's finished (not diverged) stored runs whose model has ``hook`` (``models/base.py``)."""
    done = {r.run_key for r in runs.records if r.status == "done"}
    return [spec for spec in runs.study.runs if spec.key in done and has_hook(spec.config.model.name, hook)]


def embedded_run(runs: StudyRuns, run_key: str | None = None) -> tuple[RunSpec, RunRecord]:
    """The stored run to take embeddings of: ``run_key``, or by default the first seed at the
    largest training-set size among runs of a model with ``embeddings``."""
    records = {r.run_key: r for r in runs.records}
    candidates = stored_runs_of_models_with(runs, Embeddings)
    if run_key is not None:
        chosen = [spec for spec in candidates if spec.key == run_key]
        if not chosen:
            keys = ", ".join(spec.key for spec in candidates[:3]) or "none stored"
            raise ConfigError(
                f"--run {run_key}: not a finished run of this study with a model that has embeddings — fix: use a "
                f"key from `samplelab results`, e.g. {keys}"
            )
        return chosen[0], records[run_key]
    if not candidates:
        raise ConfigError(
            f"{runs.study.name}: no finished run of a model with final-layer embeddings (transformer) — fix: run "
            "the study first, or use a study of a transformer"
        )
    spec = max(candidates, key=lambda s: (s.config.training.n_train or 0, -s.seed))
    return spec, records[spec.key]


def mapped_run(runs: StudyRuns) -> tuple[RunSpec, RunRecord] | None:
    """The stored run whose attention map is drawn: of a model with ``attention_map``, the
    longest input, the first seed; ``None`` if the study has none."""
    candidates = stored_runs_of_models_with(runs, AttentionMap)
    if not candidates:
        return None
    spec = max(candidates, key=lambda s: (build_task(s.config.task).input_shape[0], -s.seed))
    return spec, next(r for r in runs.records if r.run_key == spec.key)


def stored_studies(store: ResultStore) -> tuple[list[Study], list[str]]:
    """The studies whose files the store keeps, re-expanded; and ``"name [profile]: why"``
    for each that no longer loads (e.g. a task this version does not have)."""
    studies, skipped = [], []
    for name, profile, source, text in store.study_files():
        declared = parse_toml(text, source).get("profiles", {}) if profile == "default" else {}
        chosen = profile if profile != "default" or "default" in declared else None
        try:
            studies.append(load_study_text(text, source, chosen))
        except ConfigError as err:
            skipped.append(f"{name} [{profile}]: {err}")
    return studies, skipped
