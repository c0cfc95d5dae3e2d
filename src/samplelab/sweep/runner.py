"""Run a study: plan its ensembles, train those with unstored runs, store them.

Runs that compile to the same program are trained together, in ensembles planned by
:mod:`samplelab.sweep.ensembles`, so each distinct shape compiles once. The plan is made from *all* of a study's runs, stored or not, so it is the same on every
invocation: an ensemble's members, order and size, and so its numbers (XLA's rounding
depends on the ensemble's size), do not depend on what an earlier, interrupted invocation
finished. An ensemble with any run not yet stored is trained whole; its stored members'
duplicate results are discarded (``ON CONFLICT DO NOTHING``). This is what makes a sweep
killed at any moment and re-run end with exactly the rows of an uninterrupted one.

Training goes through an executor (:mod:`samplelab.sweep.executors`: this process, worker
processes or Ray); this process alone writes the store, leasing each ensemble first
(:mod:`samplelab.ledger.leases`) so that several runners on one store never train the same
ensemble at once. A failed ensemble
is retried ``max_retries`` times, then its runs are recorded in ``failed_runs``.

A ``deadline`` (a :func:`time.monotonic` instant) is a budget: no ensemble starts after it,
and those not started stay unstored, as after an interrupt, for a later call to train.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from samplelab.ledger import leases
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import RunSpec, Study
from samplelab.sweep.ensembles import DEFAULT_MAX_ENSEMBLE, Ensemble, ensemble_key, planned_ensembles
from samplelab.sweep.executors import Executor, InProcess

DEFAULT_MAX_RETRIES = 2


@dataclass
class RunProgress:
    """Callbacks the runner reports to (all optional)."""

    on_plan: Callable[[int, int, int], None] | None = None  # (pending runs, ensembles, model-steps)
    on_eval: Callable[[int], None] | None = None  # model-steps just finished
    on_ensemble: Callable[[int], None] | None = None  # runs just stored
    on_failure: Callable[[int, str], None] | None = None  # (runs failed, the error) after the last retry


def run_study(
    study: Study,
    store: ResultStore,
    *,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
    executor: Executor | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    deadline: float | None = None,
) -> int:
    """Train every unstored run of ``study`` into ``store`` (none started after ``deadline``);
    returns the number this call stored."""
    register_runs(study, study.runs, store)
    return train_runs(
        study.runs,
        store,
        max_ensemble=max_ensemble,
        progress=progress,
        executor=executor,
        max_retries=max_retries,
        deadline=deadline,
    )


def register_runs(study: Study, runs: list[RunSpec], store: ResultStore) -> None:
    """Record in ``store`` that ``runs`` belong to ``study`` (its name, profile and source),
    whether or not they are trained yet, or were stored by another study with the same keys."""
    store.register_study(study.name, study.profile, [(s.key, s.point) for s in runs], study.source, study.text)


def train_runs(
    runs: list[RunSpec],
    store: ResultStore,
    *,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
    executor: Executor | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    poll_seconds: float = 1.0,
    deadline: float | None = None,
) -> int:
    """Train the planned ensembles of ``runs`` that have unstored runs, none started after
    ``deadline`` (:func:`time.monotonic`); returns the number of runs this call stored.
    Ensembles another live process has claimed are left to it, but waited for: if it dies,
    this call takes them over."""
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
            if deadline is not None and time.monotonic() >= deadline:
                queue.clear()  # the budget is spent: what has not started stays unstored
            index = 0
            while len(in_flight) < executor.slots and index < len(queue):
                ensemble = queue[index]
                state = leases.acquire(store, ensemble_key(ensemble), [s.key for s in ensemble.members])
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
                    if deadline is None or time.monotonic() < deadline:
                        in_flight[executor.submit(ensemble)] = (ensemble, attempt + 1)
                    else:  # a retry is an ensemble starting: past the budget, a later call tries it afresh
                        leases.release(store, key)
                    continue
                if isinstance(outcome, BaseException):
                    stored_now = store.finished_keys(s.key for s in ensemble.members)
                    unstored = [s.key for s in ensemble.members if s.key not in stored_now]
                    line = leases.record_failure(store, unstored, outcome, attempt)
                    if progress.on_failure:
                        progress.on_failure(len(unstored), line)
                else:
                    new = len(outcome) - len(store.finished_keys(r.run_key for r in outcome))
                    store.write_runs(outcome)
                    stored += new
                    if progress.on_ensemble:
                        progress.on_ensemble(new)
                leases.release(store, key)
                total = len(ensemble.members) * ensemble.members[0].config.training.steps
                if progress.on_eval and total > reported.get(key, 0):
                    progress.on_eval(total - reported.pop(key, 0))  # evals not run (stopped early) or not reported
    finally:
        executor.close()
    return stored
