"""Adaptive n*(ε, δ): add training-set sizes between the bracketing grid points (bisection).

Each round reads the stored runs, and for every cell whose n* CI is wider than ``ratio``
(upper ÷ lower) adds one size — the geometric midpoint of the two measured sizes that
bracket n* — for every seed of the cell (with bisected sizes, only for the seeds whose
outcome there their other runs do not imply). All the round's new runs are trained together:
runs of one compiled shape form one ensemble (``n_train`` is a per-model input, not a
shape), so a round costs one compile per distinct cell shape at most.

Refinement runs are stored like grid runs and tagged in the study ledger with their
round (``refinement_round`` in the grid point); the analysis picks them up only while
they still match the study file (see :func:`samplelab.analysis.runs.refinement_specs`).

A cell stops when its CI is narrow enough, when its bracket cannot be split further (two
adjacent integers), or when its bracket is already narrower than ``ratio`` but the CI is
not — then the CI is set by the spread over seeds and only more seeds narrow it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

from samplelab.analysis.bisection import implied
from samplelab.analysis.cells import collect_cells
from samplelab.analysis.runs import grid_run_by_cell_and_seed, load_study_runs
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import REFINEMENT_KEY, RunSpec, Study, cell_point, with_n_train
from samplelab.sweep.ensembles import DEFAULT_MAX_ENSEMBLE
from samplelab.sweep.runner import RunProgress, register_runs, train_runs


@dataclass(frozen=True)
class CellStatus:
    """Where one cell's n* stands after a round."""

    point: dict
    n_star: float | None
    ci: tuple[float | None, float | None]
    added: int | None  # size added this round, if any
    reason: str  # why no size was added ("" when one was)


def _ci_ratio(ci: tuple[float | None, float | None]) -> float:
    low, high = ci
    return math.inf if low is None or high is None else high / low


def plan_round(
    study: Study, store: ResultStore, ratio: float, round_number: int
) -> tuple[list[RunSpec], list[CellStatus]]:
    """The runs one refinement round adds, and each cell's status before it."""
    runs = load_study_runs(study, store)
    cells = collect_cells(runs, study.analysis)
    base = grid_run_by_cell_and_seed(study)
    fractions = study.analysis.threshold_fractions if study.analysis.bisected else None
    specs: list[RunSpec] = []
    statuses = []
    for cell in cells:
        estimate = cell.n_star
        if estimate is None or estimate.value is None:
            statuses.append(CellStatus(cell.point, None, (None, None), None, "n* not reached on the grid: extend it"))
            continue
        low, high = estimate.bracket
        reason = ""
        if _ci_ratio(estimate.ci) <= ratio:
            reason = f"CI ratio {_ci_ratio(estimate.ci):.3g} ≤ {ratio:g}"
        elif low is None:
            reason = "n* at or below the smallest size: extend the grid downwards"
        elif high / low <= ratio:
            reason = "bracket already narrow: the CI is set by the seeds (add seeds)"
        elif round(math.sqrt(low * high)) in (low, high):
            reason = "bracket cannot be split further"
        if reason:
            statuses.append(CellStatus(cell.point, estimate.value, estimate.ci, None, reason))
            continue
        size = round(math.sqrt(low * high))
        added = [with_n_train(base[(cell_point(cell.point), seed)], size) for seed in cell.seeds]
        if fractions:  # bisected sizes: train only the seeds whose outcome there is not implied
            needed = [s for s in added if not implied(s, [r for r in cell.records if r.seed == s.seed], fractions)]
            added = needed or added  # all implied: a size no run stores is no size of the cell, so train it
        specs += [dataclasses.replace(s, point={**s.point, REFINEMENT_KEY: round_number}) for s in added]
        statuses.append(CellStatus(cell.point, estimate.value, estimate.ci, size, ""))
    return specs, statuses


def refine_n_star(
    study: Study,
    store: ResultStore,
    *,
    ratio: float = 1.25,
    max_rounds: int = 4,
    max_ensemble: int = DEFAULT_MAX_ENSEMBLE,
    progress: RunProgress | None = None,
    deadline: float | None = None,
) -> list[list[CellStatus]]:
    """Run refinement rounds until every cell stops or ``max_rounds``; returns each round's statuses.

    The study's grid runs must be stored already (``samplelab run``). Every entry but the
    last is a round that was trained; the last is the state after them (its ``added`` is
    what a further round would add). No ensemble starts after ``deadline``
    (:func:`time.monotonic`), and no round after a round it cut.
    """
    history = []
    for round_number in range(1, max_rounds + 1):
        specs, statuses = plan_round(study, store, ratio, round_number)
        history.append(statuses)
        if not specs or (deadline is not None and time.monotonic() >= deadline):
            return history
        # Register every added run, even one another study already trained (same key).
        register_runs(study, specs, store)
        train_runs(specs, store, max_ensemble=max_ensemble, progress=progress, deadline=deadline)  # the unstored
    history.append(plan_round(study, store, ratio, max_rounds + 1)[1])
    return history
