"""Ensemble planning: which runs train together as one compiled program, and training one.

Runs that compile to the same program (same :func:`~samplelab.spec.run_config.shape_key`) are
trained together, in ensembles of one size per shape (the last one padded by repeating a
member whose duplicate result is discarded), so each distinct shape compiles once. The plan
is made from *all* of a study's runs, stored or not, so it is the same on every invocation
(see :mod:`samplelab.sweep.runner`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from samplelab.core.run_fields import CURVE_COLUMNS, SCALAR_COLUMNS
from samplelab.ledger.store import ResultStore, RunRecord
from samplelab.spec.run_config import canonical_json, shape_key
from samplelab.spec.study import RunSpec, Study
from samplelab.tasks import build_task
from samplelab.training.trainer import EnsembleResult, train_ensemble

DEFAULT_MAX_ENSEMBLE = 32


@dataclass(frozen=True)
class Ensemble:
    """Runs trained as one program; ``size`` ≥ ``len(members)`` is the compiled size."""

    members: list[RunSpec]
    size: int

    def padded(self) -> list[RunSpec]:
        """Members, the last one repeated up to ``size`` (its duplicates are discarded)."""
        return self.members + [self.members[-1]] * (self.size - len(self.members))


def plan_ensembles(runs: list[RunSpec], max_ensemble: int = DEFAULT_MAX_ENSEMBLE) -> list[Ensemble]:
    """Group runs by compiled shape into ensembles of one size per shape (the last padded).

    Groups keep the order in which their first run appears in ``runs``.
    """
    groups: dict[str, list[RunSpec]] = {}
    for spec in runs:
        groups.setdefault(shape_key(spec.config), []).append(spec)
    ensembles = []
    for members in groups.values():
        count = math.ceil(len(members) / max_ensemble)
        size = math.ceil(len(members) / count)
        ensembles.extend(Ensemble(members[i : i + size], size) for i in range(0, len(members), size))
    return ensembles


def ensemble_key(ensemble: Ensemble) -> str:
    """Stable key of a planned ensemble: its members' run keys and its compiled size."""
    payload = ",".join(spec.key for spec in ensemble.members) + f"/{ensemble.size}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def unique_runs(runs: list[RunSpec]) -> list[RunSpec]:
    """``runs`` with each run key once (the first), in order."""
    seen: set[str] = set()
    return [spec for spec in runs if not (spec.key in seen or seen.add(spec.key))]


def train_ensemble_records(ensemble: Ensemble, on_eval: Callable[[Ensemble, int], None] | None = None) -> list:
    """Train one planned ensemble and return its real members' :class:`RunRecord` s (what a
    worker runs). ``on_eval(ensemble, chunk)`` is called after each evaluation chunk."""
    padded = ensemble.padded()
    start = time.perf_counter()
    result = train_ensemble(
        ensemble.members[0].config,
        seeds=np.array([s.seed for s in padded]),
        lrs=np.array([s.config.optimizer.lr for s in padded]),
        n_trains=np.array([s.config.training.n_train or 1 for s in padded]),
        progress=None if on_eval is None else (lambda chunk: on_eval(ensemble, chunk)),
    )
    return records_from_result(ensemble.members, result, time.perf_counter() - start)


def records_from_result(members: list[RunSpec], result: EnsembleResult, wall_seconds: float) -> list[RunRecord]:
    """One :class:`RunRecord` per real (unpadded) member of a trained ensemble."""
    baseline = build_task(members[0].config.task).baseline  # one task per ensemble
    records = []
    for index, spec in enumerate(members):
        config = spec.config
        records.append(
            RunRecord(
                run_key=spec.key,
                status="diverged" if result.diverged[index] else "done",
                task=config.task.name,
                model=config.model.name,
                seed=spec.seed,
                n_train=config.training.n_train,
                lr=config.optimizer.lr,
                baseline=baseline,
                samples_per_step=result.samples_per_step,
                eval_steps=result.eval_steps,
                test_metric=result.test_metric[index],
                train_loss=result.train_loss[index],
                config_json=canonical_json(config.model_dump(mode="json")),
                wall_seconds=wall_seconds / len(result.diverged),
                point=spec.point,
                attention_entropy=None if result.attention_entropy is None else result.attention_entropy[index],
                **{name: _member(getattr(result, name), index) for name in CURVE_COLUMNS},
                **{name: _member(getattr(result, name), index, float) for name in SCALAR_COLUMNS},
            )
        )
    return records


def _member(values: np.ndarray | None, index: int, kind=np.asarray):
    """Member ``index`` of an optional ensemble output ``[E, …]`` (``None`` stays ``None``)."""
    return None if values is None else kind(values[index])


def pending_runs(study: Study, store: ResultStore) -> list[RunSpec]:
    """The study's runs not yet in the store, each key once."""
    finished = store.finished_keys(spec.key for spec in study.runs)
    return [spec for spec in unique_runs(study.runs) if spec.key not in finished]


def planned_ensembles(runs: list[RunSpec], store: ResultStore, max_ensemble: int = DEFAULT_MAX_ENSEMBLE) -> list:
    """The ensembles of ``runs`` (planned from all of them) that have a run not yet stored."""
    finished = store.finished_keys(spec.key for spec in runs)
    plan = plan_ensembles(unique_runs(runs), max_ensemble)
    return [e for e in plan if any(spec.key not in finished for spec in e.members)]
