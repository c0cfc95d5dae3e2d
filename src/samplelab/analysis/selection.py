"""Discrete model selection (seed 000): choose among K candidates by validation loss.

Seed 000 proposes "making the search discrete: training multiple models and comparing
test losses" so that a larger-capacity model is used only where the data favour it. Here,
at every (seed, training-set size) the K candidate models of a study were trained on the
same examples (same seed → same pool, test set and validation split); the candidate with
the least final validation loss is *selected*, and its test metric decides success. The
data needed by that strategy, n*(ε, δ), is compared with always using the *largest*
candidate (the last in grid order), with each candidate alone, and with the *oracle* that
peeks at the test metric (an unreachable bound, not a strategy).

All strategies are scored on the same seeds and sizes, and their bootstrap replicates
resample the same seeds, so the ratio n*(largest) / n*(selected) has a paired CI. Selection
also spends ``validation_size`` examples; ``n_star_with_validation`` charges them.
"""

from __future__ import annotations

import numpy as np

from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import json_interval
from samplelab.ledger.store import RunRecord
from samplelab.spec.analysis import AnalysisConfig
from samplelab.spec.run_config import N_TRAIN
from samplelab.spec.study import REFINEMENT_KEY, point_without
from samplelab.stats.nstar import NStar, n_star


def candidate_label(values: tuple) -> str:
    """``(2, 4)`` → ``"2,4"``."""
    return ",".join(str(v) for v in values)


def _n_star_json(estimate: NStar, extra: float = 0.0) -> dict:
    return {
        "value": None if estimate.value is None else estimate.value + extra,
        "ci": [None if v is None else v + extra for v in estimate.ci],
        "success_rate": estimate.success_rate,
    }


def _ratio(numerator: NStar, denominator: NStar, confidence: float) -> dict:
    """n*(numerator) / n*(denominator) with a paired percentile CI (inf: beyond the grid)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = numerator.replicates / denominator.replicates
    replicates = replicates[~np.isnan(replicates)]  # both beyond the grid: no ratio
    value = None
    if numerator.value is not None and denominator.value is not None:
        value = numerator.value / denominator.value
    if replicates.size == 0:
        return {"value": value, "ci": [None, None], "replicates": 0}
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail], method="inverted_cdf")
    return {"value": value, "ci": json_interval((low, high)), "replicates": int(replicates.size)}


def _column_medians(values: np.ndarray) -> list[float | None]:
    """Median over seeds at each size ``[S, M]`` → ``[M]``, diverged runs (NaN) left out."""
    return [float(np.median(column[np.isfinite(column)])) if np.isfinite(column).any() else None for column in values.T]


def model_selection(runs: StudyRuns, analysis: AnalysisConfig, seed: int = 0) -> list[dict]:
    """Per series (the grid keys other than the candidates and ``training.n_train``): n* of
    each strategy with CIs, the paired ratio largest / selected, and how often each
    candidate was chosen at each size. ``[]`` when the study has no model selection."""
    config = analysis.model_selection
    if config is None:
        return []
    fields = config.fields
    order = list(dict.fromkeys(tuple(spec.point[f] for f in fields) for spec in runs.study.runs))
    table: dict[tuple, dict[tuple[int, int], dict[tuple, RunRecord]]] = {}
    for record in runs.records:
        candidate = tuple(record.point.get(f) for f in fields)
        if candidate not in order:
            continue
        series = table.setdefault(point_without(record.point, (*fields, N_TRAIN, REFINEMENT_KEY)), {})
        series.setdefault((record.seed, record.n_train), {})[candidate] = record
    return [
        _series_json(dict(key), cells, order, runs, analysis, seed, index)
        for index, (key, cells) in enumerate(sorted(table.items(), key=lambda item: str(item[0])))
    ]


def _series_json(
    point: dict,
    cells: dict[tuple[int, int], dict[tuple, RunRecord]],
    order: list[tuple],
    runs: StudyRuns,
    analysis: AnalysisConfig,
    seed: int,
    index: int,
) -> dict:
    complete = {key for key, by_candidate in cells.items() if len(by_candidate) == len(order)}
    seeds = sorted({s for s, _ in complete})
    sizes = sorted({n for _, n in complete})
    # Keep the sizes every seed has with every candidate.
    sizes = [n for n in sizes if all((s, n) in complete for s in seeds)]
    result = {"series": point, "candidates": [candidate_label(c) for c in order], "seeds": len(seeds), "sizes": sizes}
    if not seeds or not sizes:
        return result | {"status": "no (seed, size) with every candidate trained"}
    passed = np.zeros((len(seeds), len(sizes), len(order)), dtype=bool)  # final test metric ≤ ε
    validation = np.full(passed.shape, np.nan)
    test_metric = np.full(passed.shape, np.nan)
    for i, s in enumerate(seeds):
        for j, n in enumerate(sizes):
            for k, candidate in enumerate(order):
                record = cells[(s, n)][candidate]
                if record.status == "done":
                    test_metric[i, j, k] = record.final_metric
                    passed[i, j, k] = record.final_metric <= runs.thresholds[record.run_key]
                    validation[i, j, k] = record.final_validation_loss
    usable = np.isfinite(validation).any(axis=-1)
    chosen = np.where(usable, np.argmax(np.where(np.isfinite(validation), -validation, -np.inf), axis=-1), -1)
    selected = np.take_along_axis(passed, np.maximum(chosen, 0)[..., None], axis=-1)[..., 0] & usable
    selected_metric = np.where(
        usable, np.take_along_axis(test_metric, np.maximum(chosen, 0)[..., None], axis=-1)[..., 0], np.nan
    )
    strategies = {"selected": selected, "largest": passed[..., -1], "oracle": passed.any(axis=-1)}
    strategies |= {f"only {candidate_label(c)}": passed[..., k] for k, c in enumerate(order)}

    def estimate(success: np.ndarray) -> NStar:
        return n_star(
            sizes, success, analysis.delta, method=analysis.n_star_method,
            confidence=analysis.confidence, bootstrap=analysis.bootstrap, rng=[seed, 11, index],
        )  # fmt: skip

    estimates = {name: estimate(success) for name, success in strategies.items()}
    validation_size = min(r.config["training"].get("validation_size", 0) for c in cells.values() for r in c.values())
    largest_metric = test_metric[..., -1]
    return result | {
        "status": "ok",
        "validation_size": validation_size,
        "n_star": {name: _n_star_json(e) for name, e in estimates.items()},
        "n_star_with_validation": _n_star_json(estimates["selected"], validation_size),
        "ratio_largest_to_selected": _ratio(estimates["largest"], estimates["selected"], analysis.confidence),
        "chosen_fraction": {
            candidate_label(c): [float(np.mean(chosen[:, j] == k)) for j in range(len(sizes))]
            for k, c in enumerate(order)
        },
        "median_test_metric": {
            "selected": _column_medians(selected_metric),
            "largest": _column_medians(largest_metric),
        },
        "unusable": int((~usable).sum()),
    }
