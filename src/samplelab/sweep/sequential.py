"""Run a study until its claims are decided (``samplelab run --until-decided``).

Look by look (the study's ``[analysis.sequential]``; :mod:`samplelab.analysis.sequential`):
the first look trains the first seeds of every cell; each later look trains its new seeds
only for the cells of the claims the looks before left open. A round is one call to
:func:`~samplelab.sweep.runner.train_runs`, so one compiled ensemble per shape, and its
ensembles are planned from the round's own runs, which the looks before decide from the
runs they read: a run killed at any moment and resumed plans the same rounds and ends with
the rows of an uninterrupted one.

A budget (``max_runs`` stored runs of the study, or ``max_minutes`` of this call) is
checked before each look: a look that would exceed it is not trained, and its claims stop
at the look before, marked ``budget``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from samplelab.analysis.runs import load_study_runs
from samplelab.analysis.sequential import judge_looks, study_looks
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import RunSpec, Study, cell_point
from samplelab.sweep.ensembles import DEFAULT_MAX_ENSEMBLE
from samplelab.sweep.executors import Executor
from samplelab.sweep.runner import DEFAULT_MAX_RETRIES, RunProgress, train_runs


@dataclass
class SequentialOutcome:
    """What a sequential run did: per look trained, its runs (``[]``: nothing left open);
    why it stopped; and the runs and model-steps the whole study has stored."""

    rounds: list[list[RunSpec]] = field(default_factory=list)
    stopped: str = "decided"  # decided (or futile) | last look | budget
    trained: int = 0  # runs this call stored
    stored_runs: int = 0
    stored_model_steps: int = 0


def look_runs(study: Study, seeds: tuple[int, ...], cells: set[tuple] | None) -> list[RunSpec]:
    """The study's runs of ``seeds`` in ``cells`` (``None``: every cell), in study order."""
    chosen = set(seeds)
    return [s for s in study.runs if s.seed in chosen and (cells is None or cell_point(s.point) in cells)]


def run_until_decided(
    study: Study,
    store: ResultStore,
    *,
    max_runs: int | None = None,
    max_minutes: float | None = None,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
    executor: Executor | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> SequentialOutcome:
    """Train the study look by look until no claim is open (module docstring)."""
    store.register_study(
        study.name, study.profile, [(spec.key, spec.point) for spec in study.runs], study.source, study.text
    )
    began = time.perf_counter()
    outcome = SequentialOutcome()
    looks = study_looks(study)
    cells: set[tuple] | None = None
    previous: tuple[int, ...] = ()
    for look in looks:
        if look.number > 1:
            state = judge_looks(load_study_runs(study, store), study.analysis, through=look.number - 1)
            if not state.open_cells:
                break
            cells = state.open_cells
        specs = look_runs(study, look.seeds[len(previous) :], cells)  # only the look's new seeds
        previous = look.seeds
        finished = store.finished_keys(s.key for s in study.runs)
        new = sum(s.key not in finished for s in specs)
        over_runs = max_runs is not None and len(finished) + new > max_runs
        over_minutes = max_minutes is not None and (time.perf_counter() - began) / 60 > max_minutes
        if new and (over_runs or over_minutes):
            outcome.stopped = "budget"
            break
        outcome.rounds.append(specs)
        outcome.trained += train_runs(
            specs, store, max_ensemble=max_ensemble, progress=progress, executor=executor, max_retries=max_retries
        )
    else:
        outcome.stopped = "last look"
    finished = store.finished_keys(s.key for s in study.runs)
    outcome.stored_runs = len(finished)
    outcome.stored_model_steps = sum(s.config.training.steps for s in study.runs if s.key in finished)
    return outcome
