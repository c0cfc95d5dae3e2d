"""Run a study: skip finished runs, group the rest into ensembles, train, store.

Runs that compile to the same program (same :func:`~samplelab.config.shape_key`) are
trained together, in ensembles of one size per shape (the last one padded by repeating a
member whose duplicate result is discarded), so each distinct shape compiles once.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samplelab.config import canonical_json, shape_key
from samplelab.store import ResultStore, RunRecord
from samplelab.study import RunSpec, Study
from samplelab.tasks import build_task
from samplelab.trainer import EnsembleResult, train_ensemble

DEFAULT_MAX_ENSEMBLE = 32


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


def pending_runs(study: Study, store: ResultStore) -> list[RunSpec]:
    """The study's runs not yet in the store, each key once."""
    finished = store.finished_keys(spec.key for spec in study.runs)
    seen: set[str] = set()
    pending = []
    for spec in study.runs:
        if spec.key not in finished and spec.key not in seen:
            seen.add(spec.key)
            pending.append(spec)
    return pending


def run_study(
    study: Study,
    store: ResultStore,
    *,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
) -> int:
    """Train every pending run of ``study`` into ``store``; returns the number trained."""
    store.register_study(study.name, study.profile, [(spec.key, spec.point) for spec in study.runs])
    return train_runs(pending_runs(study, store), store, max_ensemble=max_ensemble, progress=progress)


def train_runs(
    pending: list[RunSpec],
    store: ResultStore,
    *,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
) -> int:
    """Train ``pending`` runs (none of them stored yet) in ensembles and store each ensemble."""
    progress = progress or RunProgress()
    plan = plan_ensembles(pending, max_ensemble)
    if progress.on_plan:
        progress.on_plan(len(pending), len(plan), sum(s.config.training.steps for s in pending))
    for ensemble in plan:
        members, padded = ensemble.members, ensemble.padded()
        config = members[0].config
        model_steps_per_eval = len(members) * config.training.eval_every

        def on_chunk(_: int, model_steps: int = model_steps_per_eval) -> None:
            if progress.on_eval:
                progress.on_eval(model_steps)

        start = time.perf_counter()
        result = train_ensemble(
            config,
            seeds=np.array([s.seed for s in padded]),
            lrs=np.array([s.config.optimizer.lr for s in padded]),
            n_trains=np.array([s.config.training.n_train or 1 for s in padded]),
            progress=on_chunk,
        )
        store.write_runs(records_from_result(members, result, time.perf_counter() - start))
        skipped = config.training.n_evals + 1 - len(result.eval_steps)  # evals not run: stopped early
        if skipped and progress.on_eval:
            progress.on_eval(skipped * model_steps_per_eval)
        if progress.on_ensemble:
            progress.on_ensemble(len(members))
    return len(pending)
