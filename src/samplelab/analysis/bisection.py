"""Bisected training-set sizes (``[analysis.sequential] sizes = "bisect"``; docs/analysis.md,
"Bisected sizes").

In the fixed regime a seed's data needed in a cell is the least training-set size whose run
ends at or below the threshold. Where reaching it is monotone in the size (a seed that
reaches it at n reaches it at every larger size of its cell), bisection over the cell's M
sorted sizes finds that least size, or that none reaches it, by training at most
⌈log₂(M + 1)⌉ of them per threshold, and implies the outcome at every other size. A seed is
bisected for each threshold the analysis reads; the runs are the union of the probes.

The next probes are a function of the stored runs alone, so a planner that trains them,
round after round, plans the same rounds when it is resumed; and a judgement finds a look
complete exactly when no probe is left.
"""

from __future__ import annotations

import math

from samplelab.analysis.runs import StudyRuns
from samplelab.ledger.store import RunRecord
from samplelab.spec.study import RunSpec, cell_point


def next_probes(specs: list[RunSpec], runs: StudyRuns, fractions: list[float | None]) -> list[RunSpec]:
    """The runs of ``specs`` that bisection trains next: per (cell, seed) and threshold, the
    middle size of the bracket the stored runs leave open ([] when every seed's least
    reaching size, or that none reaches, is known). The thresholds are the study's own,
    whatever ``runs`` was loaded with. A probe that failed every attempt is returned again:
    the caller stops on it."""
    by_key = {record.run_key: record for record in runs.records}
    groups: dict[tuple, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault((cell_point(spec.point), spec.seed), []).append(spec)
    probes: set[str] = set()
    for group in groups.values():
        group.sort(key=lambda spec: spec.config.training.n_train)
        for fraction in fractions:
            low, high = 0, len(group)  # the least reaching index lies in [low, high]; high = len: none reaches
            while low < high:
                middle = (low + high) // 2
                record = by_key.get(group[middle].key)
                if record is None:
                    probes.add(group[middle].key)
                    break
                if reached(group[middle], record, fraction):
                    high = middle
                else:
                    low = middle + 1
    return [spec for spec in specs if spec.key in probes]


def implied_outcome(known: dict[int, bool], size: int) -> bool | None:
    """A seed's outcome at ``size`` from its ``known`` outcomes by size: stored, or implied by
    monotonicity — reached at a smaller size, or not reached at a larger one, but not both
    (``None``: undetermined)."""
    if size in known:
        return known[size]
    reached_below = any(ok for n, ok in known.items() if n < size)
    missed_above = any(not ok for n, ok in known.items() if n > size)
    return reached_below if reached_below != missed_above else None


def implied(spec: RunSpec, records: list[RunRecord], fractions: list[float | None]) -> bool:
    """Whether ``records``, the stored runs of ``spec``'s (cell, seed), determine its outcome
    at every threshold the analysis reads (:func:`implied_outcome`; ``samplelab refine``
    trains only the seeds where they do not)."""
    size = spec.config.training.n_train
    return all(
        implied_outcome({record.n_train: reached(spec, record, fraction) for record in records}, size) is not None
        for fraction in fractions
    )


def reached(spec: RunSpec, record: RunRecord, fraction: float | None) -> bool:
    """Whether the run ended at or below the study's threshold (``None``) or ``fraction`` of its
    baseline (whatever thresholds a :class:`StudyRuns` was loaded with); a diverged run did not."""
    threshold = (
        spec.config.measurement.threshold_for(record.baseline) if fraction is None else fraction * record.baseline
    )
    return math.isfinite(record.final_metric) and record.final_metric <= threshold
