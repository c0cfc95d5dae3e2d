"""Run a study: plan its ensembles, train those with unstored runs, store them.

Runs that compile to the same program (same :func:`~samplelab.config.shape_key`) are
trained together, in ensembles of one size per shape (the last one padded by repeating a
member whose duplicate result is discarded), so each distinct shape compiles once.

The plan is made from *all* of a study's runs, stored or not, so it is the same on every
invocation: an ensemble's members, order and size, and so its numbers (XLA's rounding
depends on the ensemble's size), do not depend on what an earlier, interrupted invocation
finished. An ensemble with any run not yet stored is trained whole; its stored members'
duplicate results are discarded (``ON CONFLICT DO NOTHING``). This is what makes a sweep
killed at any moment and re-run end with exactly the rows of an uninterrupted one.

Training goes through an executor (``executors.py``: this process, worker processes or
Ray); this process alone writes the store, claiming each ensemble first (``claims.py``) so
that several runners on one store never train the same ensemble at once. A failed ensemble
is retried ``max_retries`` times, then its runs are recorded in ``failed_runs``.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samplelab import claims
from samplelab.config import canonical_json, shape_key
from samplelab.executors import Executor, InProcess
from samplelab.store import ResultStore, RunRecord
from samplelab.study import RunSpec, Study
from samplelab.tasks import build_task
from samplelab.trainer import EnsembleResult, train_ensemble

DEFAULT_MAX_ENSEMBLE = 32
DEFAULT_MAX_RETRIES = 2


def enable_compilation_cache(path: str | Path | None = None) -> Path:
    """Turn on JAX's persistent compilation cache (``$SAMPLELAB_JAX_CACHE`` or ~/.cache)."""
    import jax

    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "samplelab" / "jax"
    cache = Path(path or os.environ.get("SAMPLELAB_JAX_CACHE") or default)
    cache.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return cache


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
                validation_loss=None if result.validation_loss is None else result.validation_loss[index],
                test_loss=None if result.test_loss is None else result.test_loss[index],
                train_metric=None if result.train_metric is None else result.train_metric[index],
                train_set_loss=None if result.train_set_loss is None else result.train_set_loss[index],
                weight_sparsity=None if result.weight_sparsity is None else float(result.weight_sparsity[index]),
                embedding_dimension=(
                    None if result.embedding_dimension is None else float(result.embedding_dimension[index])
                ),
            )
        )
    return records


@dataclass
class RunProgress:
    """Callbacks the runner reports to (all optional)."""

    on_plan: Callable[[int, int, int], None] | None = None  # (pending runs, ensembles, model-steps)
    on_eval: Callable[[int], None] | None = None  # model-steps just finished
    on_ensemble: Callable[[int], None] | None = None  # runs just stored
    on_failure: Callable[[int, str], None] | None = None  # (runs failed, the error) after the last retry


def pending_runs(study: Study, store: ResultStore) -> list[RunSpec]:
    """The study's runs not yet in the store, each key once."""
    finished = store.finished_keys(spec.key for spec in study.runs)
    return [spec for spec in unique_runs(study.runs) if spec.key not in finished]


def planned_ensembles(runs: list[RunSpec], store: ResultStore, max_ensemble: int = DEFAULT_MAX_ENSEMBLE) -> list:
    """The ensembles of ``runs`` (planned from all of them) that have a run not yet stored."""
    finished = store.finished_keys(spec.key for spec in runs)
    plan = plan_ensembles(unique_runs(runs), max_ensemble)
    return [e for e in plan if any(spec.key not in finished for spec in e.members)]


def run_study(
    study: Study,
    store: ResultStore,
    *,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
    executor: Executor | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> int:
    """Train every unstored run of ``study`` into ``store``; returns the number this call stored."""
    store.register_study(
        study.name, study.profile, [(spec.key, spec.point) for spec in study.runs], study.source, study.text
    )
    return train_runs(
        study.runs, store, max_ensemble=max_ensemble, progress=progress, executor=executor, max_retries=max_retries
    )


def train_runs(
    runs: list[RunSpec],
    store: ResultStore,
    *,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
    executor: Executor | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    poll_seconds: float = 1.0,
) -> int:
    """Train the planned ensembles of ``runs`` that have unstored runs; returns the number of
    runs this call stored. Ensembles another live process has claimed are left to it, but
    waited for: if it dies, this call takes them over."""
    progress = progress or RunProgress()
    plan = planned_ensembles(runs, store, max_ensemble)
    finished = store.finished_keys(spec.key for spec in runs)
    reported: dict[str, int] = {}

    def on_eval(ensemble: Ensemble, _chunk: int) -> None:
        steps = len(ensemble.members) * ensemble.members[0].config.training.eval_every
        key = ensemble_key(ensemble)
        reported[key] = reported.get(key, 0) + steps
        if progress.on_eval:
            progress.on_eval(steps)

    if progress.on_plan:
        pending = sum(spec.key not in finished for e in plan for spec in e.members)
        progress.on_plan(pending, len(plan), sum(len(e.members) * e.members[0].config.training.steps for e in plan))
    executor = executor or InProcess(on_eval)
    queue, in_flight, stored = list(plan), {}, 0
    try:
        while queue or in_flight:
            index = 0
            while len(in_flight) < executor.slots and index < len(queue):
                ensemble = queue[index]
                state = claims.claim(store, ensemble_key(ensemble), [s.key for s in ensemble.members])
                if state == "busy":
                    index += 1
                    continue
                queue.pop(index)
                if state == "claimed":
                    in_flight[executor.submit(ensemble)] = (ensemble, 1)
            if not in_flight:
                if queue:  # the rest is claimed by live runners: wait, and take over what they drop
                    time.sleep(poll_seconds)
                continue
            for handle, outcome in executor.wait(list(in_flight)):
                ensemble, attempt = in_flight.pop(handle)
                key = ensemble_key(ensemble)
                if isinstance(outcome, BaseException) and attempt <= max_retries:
                    in_flight[executor.submit(ensemble)] = (ensemble, attempt + 1)
                    continue
                if isinstance(outcome, BaseException):
                    stored_now = store.finished_keys(s.key for s in ensemble.members)
                    unstored = [s.key for s in ensemble.members if s.key not in stored_now]
                    line = claims.record_failure(store, unstored, outcome, attempt)
                    if progress.on_failure:
                        progress.on_failure(len(unstored), line)
                else:
                    new = len(outcome) - len(store.finished_keys(r.run_key for r in outcome))
                    store.write_runs(outcome)
                    stored += new
                    if progress.on_ensemble:
                        progress.on_ensemble(new)
                claims.release(store, key)
                total = len(ensemble.members) * ensemble.members[0].config.training.steps
                if progress.on_eval and total > reported.get(key, 0):
                    progress.on_eval(total - reported.pop(key, 0))  # evals not run (stopped early) or not reported
    finally:
        executor.close()
    return stored
