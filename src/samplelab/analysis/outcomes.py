"""What runs end at, per grid point: final test metric (and accuracy), weight sparsity,
training-set fit, and how the test loss moved — medians over seeds with bootstrap CIs.

This is the analysis of studies that ask "what does training give" rather than "how much
data does it take" (seed 000's MNIST-100 claims). One entry per grid point, ``n_train``
included. Runs flagged diverged are counted and left out of every median. Each CI is the
expanded percentile bootstrap interval of the median over seeds
(:func:`samplelab.stats.bootstrap.expanded_percentile_interval`), or Student's with
``interval = "student"`` (a sequential design's interim look).

Overfitting is described, not judged by one number: per run, the test loss's minimum over
the evaluations, its final value, and their ratio ``rise = final / minimum`` (1 = the test
loss ended at its best; 2 = it doubled from its best), beside the final training-set loss.
"""

from __future__ import annotations

import numpy as np

from samplelab.analysis.cells import cell_sort_key
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import json_interval
from samplelab.ledger.store import RunRecord
from samplelab.spec.analysis import AnalysisConfig
from samplelab.spec.claims import OUTCOME_NAMES
from samplelab.stats.bootstrap import resample_within_groups, seed_interval
from samplelab.tasks import TASKS


def median_with_ci(values: list[float], analysis: AnalysisConfig, rng: np.random.Generator) -> dict:
    """``{"value": median, "ci": [low, high], "n": count}`` over the finite ``values``."""
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return {"value": None, "ci": [None, None], "n": 0}
    median = float(np.median(finite))
    replicates = np.median(resample_within_groups([finite], analysis.bootstrap, rng), axis=1)
    ci = seed_interval(median, replicates, analysis.confidence, finite.size, analysis.interval)
    return {"value": median, "ci": json_interval(ci), "n": int(finite.size)}


def _final(curve: np.ndarray | None) -> float | None:
    return None if curve is None or curve.size == 0 else float(curve[-1])


def _metric_is_error(task_name: str) -> bool:
    return TASKS.get(task_name).config_class.metric_is_error


def run_outcome(record: RunRecord, name: str) -> float | None:
    """One run's outcome ``name`` (one of ``spec.claims.OUTCOME_NAMES``); ``None`` where the run
    has none (a diverged run, a curve it did not record, or accuracy of a task without one)."""
    if record.status != "done":
        return None
    if name in ("test_accuracy", "train_accuracy"):
        if not _metric_is_error(record.task):
            return None
        error = run_outcome(record, name.replace("accuracy", "metric"))
        return None if error is None else 1.0 - error
    if name == "test_metric":
        return record.final_metric
    if name in ("train_metric", "train_set_loss"):
        return _final(getattr(record, name))
    if name == "weight_sparsity":
        return record.weight_sparsity
    if record.test_loss is None or record.test_loss.size == 0:
        return None
    minimum, final = float(np.nanmin(record.test_loss)), float(record.test_loss[-1])
    if name == "test_loss_min":
        return minimum
    if name == "test_loss_final":
        return final
    return final / minimum if minimum > 0 else None  # test_loss_rise


def cell_outcomes(runs: StudyRuns, analysis: AnalysisConfig, seed: int = 0) -> list[dict]:
    """One entry per grid point (see the module docstring)."""
    by_point: dict[tuple, list] = {}
    for record in runs.records:
        point = tuple(record.point.get(key) for key in runs.study.grid)
        by_point.setdefault(point, []).append(record)
    entries = []
    for index, (point, records) in enumerate(sorted(by_point.items(), key=lambda item: cell_sort_key(item[0]))):
        rng = np.random.default_rng([seed, index])
        done = [r for r in records if r.status == "done"]
        with_loss = [r for r in done if r.test_loss is not None and r.test_loss.size]
        entry = {
            "point": dict(zip(runs.study.grid, point, strict=True)),
            "runs": len(records),
            "diverged_runs": len(records) - len(done),
        }
        names = [n for n in OUTCOME_NAMES if "accuracy" not in n or (records and _metric_is_error(records[0].task))]
        for name in sorted(names, key=_ORDER.index):
            entry[name] = median_with_ci([run_outcome(r, name) for r in done], analysis, rng)
        entry["test_loss_min_step"] = median_with_ci(
            [float(r.eval_steps[int(np.nanargmin(r.test_loss))]) for r in with_loss], analysis, rng
        )
        entries.append(entry)
    return entries


# The order the entries' medians are drawn in (each draws from the shared generator).
_ORDER = [
    "test_metric", "weight_sparsity", "train_metric", "train_set_loss", "test_loss_min", "test_loss_final",
    "test_loss_rise", "test_accuracy", "train_accuracy",
]  # fmt: skip
