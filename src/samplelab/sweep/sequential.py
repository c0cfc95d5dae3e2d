"""Run a study until its claims are decided (``samplelab run --until-decided``).

Look by look (the study's ``[analysis.sequential]``; :mod:`samplelab.analysis.sequential`):
the first look trains the first seeds of every cell; each later look trains its new seeds
only for the cells of the claims the looks before left open. A round is one call to
:func:`~samplelab.sweep.runner.train_runs`, so one compiled ensemble per shape, and its
ensembles are planned from the round's own runs, which the looks before decide from the
runs they read: a run killed at any moment and resumed plans the same rounds and ends with
the rows of an uninterrupted one.

With ``sizes = "bisect"`` a look is trained in rounds: each bisects the training-set sizes
of the look's seeds (:mod:`samplelab.analysis.bisection`), and round k is planned from the
runs of rounds before it alone, so a resumed run retrains the round it was killed in whole.

A budget stops it: ``max_runs`` stored runs of the study (a round that would exceed it is
not trained), or ``max_minutes`` of this call or a ``deadline`` (no ensemble starts after
it: a round it cuts is finished by a later call). The claims of a look not trained whole
stop at the look before, marked ``budget``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from samplelab.analysis.bisection import next_probes
from samplelab.analysis.runs import load_study_runs
from samplelab.analysis.sequential import judge_looks, study_looks
from samplelab.ledger.leases import untrained_keys
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import RunSpec, Study, cell_point
from samplelab.sweep.ensembles import DEFAULT_MAX_ENSEMBLE
from samplelab.sweep.executors import Executor
from samplelab.sweep.runner import DEFAULT_MAX_RETRIES, RunProgress, register_runs, train_runs


@dataclass
class SequentialOutcome:
    """What a sequential run did: per round trained (a look, or a look's bisection round), its
    runs;
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


def look_rounds(study: Study, store: ResultStore, specs: list[RunSpec], bisect: bool) -> Iterator[list[RunSpec]]:
    """A look's rounds: its runs at once; with bisected sizes, each round's probes
    (:func:`~samplelab.analysis.bisection.next_probes`) until none is left. Round k's
    probes are planned from the runs of rounds 1 … k − 1 alone, so a resumed look replays
    the rounds its stored runs finished and retrains the round it was killed in whole (the
    same ensembles). A probe that failed every attempt is not asked for again in this call
    (a later call retries it, as ``samplelab run`` retries failed runs)."""
    if not bisect:
        yield specs
        return
    fractions = study.analysis.threshold_fractions
    planned: set[str] = set()
    while True:
        runs = load_study_runs(study, store)
        earlier = replace(runs, records=[r for r in runs.records if r.run_key in planned])
        probes = [s for s in next_probes(specs, earlier, fractions) if s.key not in planned]
        if not probes:
            return
        yield probes
        planned |= {s.key for s in probes}


def planned_rounds(study: Study, store: ResultStore, state: SequentialOutcome) -> Iterator[list[RunSpec]]:
    """The design's rounds in order, each planned from the store as it is when asked for (the
    caller trains a round before it asks for the next). Sets ``state.stopped`` to ``last
    look`` once the last look is reached; a design whose claims are all decided or futile
    before it ends with ``decided``."""
    looks = study_looks(study)
    cells: set[tuple] | None = None
    previous: tuple[int, ...] = ()
    for look in looks:
        if look.number > 1:
            judged = judge_looks(load_study_runs(study, store), study.analysis, through=look.number - 1)
            if not judged.open_cells:
                return
            cells = judged.open_cells
        if look.number == len(looks):
            state.stopped = "last look"
        specs = look_runs(study, look.seeds[len(previous) :], cells)  # only the look's new seeds
        previous = look.seeds
        yield from look_rounds(study, store, specs, study.analysis.bisected)


def next_round(study: Study, store: ResultStore) -> list[RunSpec] | None:
    """The next round ``run_until_decided`` would train on this store (its first round with
    a run not stored), or ``None`` where the design is complete."""
    for chosen in planned_rounds(study, store, SequentialOutcome()):
        if len(store.finished_keys(s.key for s in chosen)) < len(chosen):
            return chosen
    return None


def run_until_decided(
    study: Study,
    store: ResultStore,
    *,
    max_runs: int | None = None,
    max_minutes: float | None = None,
    deadline: float | None = None,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
    executor: Executor | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> SequentialOutcome:
    """Train the study look by look until no claim is open (module docstring). ``deadline``:
    a :func:`time.monotonic` instant, as ``max_minutes`` from this call's start is."""
    register_runs(study, study.runs, store)
    if max_minutes is not None:
        ends = time.monotonic() + 60 * max_minutes
        deadline = ends if deadline is None else min(deadline, ends)
    outcome = SequentialOutcome()
    for chosen in planned_rounds(study, store, outcome):
        finished = store.finished_keys(s.key for s in study.runs)
        new = sum(s.key not in finished for s in chosen)
        over_runs = max_runs is not None and len(finished) + new > max_runs
        over_time = deadline is not None and time.monotonic() >= deadline
        if new and (over_runs or over_time):
            outcome.stopped = "budget"
            break
        outcome.rounds.append(chosen)
        outcome.trained += train_runs(
            chosen,
            store,
            max_ensemble=max_ensemble,
            progress=progress,
            executor=executor,
            max_retries=max_retries,
            deadline=deadline,
        )
        left = untrained_keys(store, (spec.key for spec in chosen))
        if left and deadline is not None and time.monotonic() >= deadline:
            outcome.stopped = "budget"  # the deadline cut this round: a later call trains the rest of it
            break
    finished = store.finished_keys(s.key for s in study.runs)
    outcome.stored_runs = len(finished)
    outcome.stored_model_steps = sum(s.config.training.steps for s in study.runs if s.key in finished)
    return outcome
