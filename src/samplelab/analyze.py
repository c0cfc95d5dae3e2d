"""A study's stored runs → the numbers a paper prints: per cell KM quantiles and n*, per
study the fitted laws with bootstrap CIs beside the theory.

:func:`analyze_study` returns a JSON-ready dict (``samplelab analyze --json`` prints it);
its schema, ``samplelab.analysis/1``, is documented in ``docs/analysis.md`` and only
grows: fields are added, never renamed or removed, without a schema bump.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samplelab import __version__
from samplelab.analysis import StudyRuns, cell_of, cell_sort_key, json_interval
from samplelab.analysis_config import N_TRAIN, AnalysisConfig, FitConfig
from samplelab.claim_table import check_claims
from samplelab.measure import samples_to_threshold, train_size_to_threshold
from samplelab.model_probes import parameter_count, tokens_per_example
from samplelab.outcomes import cell_outcomes
from samplelab.selection import model_selection
from samplelab.stats.bootstrap import expanded_percentile_interval, resample_within_groups
from samplelab.stats.nstar import NStar, n_star
from samplelab.stats.powerlaw import EXPONENT, MIN_DISTINCT_X, fit_law, fit_law_batch, predict
from samplelab.stats.survival import KaplanMeier, kaplan_meier
from samplelab.stats.theory import agrees, evaluate_expression
from samplelab.store import SCALAR_COLUMNS, RunRecord

SCHEMA = "samplelab.analysis/1"


@dataclass
class Cell:
    """One grid point (``training.n_train`` removed), its runs and per-seed measurements."""

    point: dict
    records: list[RunRecord]  # the cell's runs, by seed
    threshold: float  # ε in the task's units
    seeds: list[int]
    needed: np.ndarray  # [S] data needed, or the budget it was censored at
    reached: np.ndarray  # [S] bool
    km: KaplanMeier  # quantiles of ``needed`` (censored where not ``reached``)
    n_star: NStar | None = None

    @property
    def config(self) -> dict:
        """Resolved run config of its first run (binds theory variables)."""
        return self.records[0].config

    @property
    def diverged_runs(self) -> int:
        return sum(r.status == "diverged" for r in self.records)


def _seed_measure(records: list[RunRecord], threshold: float, regime: str) -> tuple[float, bool]:
    """(data needed or censoring budget, reached?) for one seed's runs in a cell."""
    if regime == "fixed":
        needed = train_size_to_threshold([r.n_train for r in records], [r.final_metric for r in records], threshold)
        return (float(needed), True) if needed is not None else (float(max(r.n_train for r in records)), False)
    record = records[0]
    needed = samples_to_threshold(record.samples_seen, record.test_metric, threshold)
    return (float(needed), True) if needed is not None else (float(record.samples_seen[-1]), False)


def _success_matrix(by_seed: dict[int, list[RunRecord]], thresholds: dict[str, float]) -> tuple[list[int], np.ndarray]:
    """Sizes every seed was run at, and ``[S, M]`` whether each run ended at or below ε."""
    sizes = sorted(set.intersection(*({r.n_train for r in rs} for rs in by_seed.values())))
    success = np.zeros((len(by_seed), len(sizes)), dtype=bool)
    for row, records in enumerate(by_seed.values()):
        for record in records:
            if record.n_train in sizes:
                threshold = thresholds[record.run_key]
                success[row, sizes.index(record.n_train)] = bool(record.final_metric <= threshold)
    return sizes, success


def collect_cells(runs: StudyRuns, analysis: AnalysisConfig, seed: int = 0) -> list[Cell]:
    """Group a study's runs by cell and measure each seed (and n* in the fixed regime)."""
    keys = runs.cell_keys
    grouped: dict[tuple, dict[int, list[RunRecord]]] = {}
    for record in runs.records:
        grouped.setdefault(cell_of(record, keys), {}).setdefault(record.seed, []).append(record)
    cells = []
    for index, (cell, by_seed) in enumerate(sorted(grouped.items(), key=lambda item: cell_sort_key(item[0]))):
        by_seed = dict(sorted(by_seed.items()))
        measured = [_seed_measure(rs, runs.thresholds[rs[0].run_key], runs.regime) for rs in by_seed.values()]
        records = [r for rs in by_seed.values() for r in rs]
        needed = np.array([m[0] for m in measured])
        reached = np.array([m[1] for m in measured])
        entry = Cell(
            point=dict(zip(keys, cell, strict=True)),
            records=records,
            threshold=runs.thresholds[records[0].run_key],
            seeds=list(by_seed),
            needed=needed,
            reached=reached,
            km=kaplan_meier(needed, reached, analysis.quantiles, analysis.confidence),
        )
        if runs.regime == "fixed":
            sizes, success = _success_matrix(by_seed, runs.thresholds)
            if sizes:
                entry.n_star = n_star(
                    sizes, success, analysis.delta, method=analysis.n_star_method,
                    confidence=analysis.confidence, bootstrap=analysis.bootstrap, rng=[seed, index],
                )  # fmt: skip
        cells.append(entry)
    return cells


def _cell_json(cell: Cell) -> dict:
    km = cell.km
    result = {
        "point": cell.point,
        "threshold": cell.threshold,
        "runs": len(cell.records),
        "seeds": len(cell.seeds),
        "converged": km.events,
        "censored": km.total - km.events,
        "converged_fraction": km.converged_fraction,
        "diverged_runs": cell.diverged_runs,
        "per_seed": {
            str(s): (float(n) if r else None) for s, n, r in zip(cell.seeds, cell.needed, cell.reached, strict=True)
        },
        "km": {
            f"{q.p:g}": {"value": q.value, "ci": json_interval(q.ci)}
            for q in sorted(km.quantiles.values(), key=lambda q: q.p)
        },
        "n_star": None,
    }
    if cell.n_star is not None:
        ns = cell.n_star
        result["n_star"] = {
            "value": ns.value,
            "ci": json_interval(ns.ci),
            "bracket": json_interval(ns.bracket),
            "sizes": ns.sizes,
            "success_rate": ns.success_rate,
        }
    result["attention_entropy"] = entropy_probe(cell.records)
    return result


def _km_median_replicates(cell: Cell, replicates: int, rng: np.random.Generator) -> np.ndarray:
    values = np.empty(replicates)
    size = len(cell.seeds)
    for b in range(replicates):
        pick = rng.integers(0, size, size)
        median = kaplan_meier(cell.needed[pick], cell.reached[pick], (0.5,), 0.95).median.value
        values[b] = np.nan if median is None else median
    return values


def _variable_value(series: FitSeries, dotted: str) -> float:
    """A theory variable: a config field of the series, or ``measured.<column>``, the median
    of that end-of-training number (e.g. ``embedding_dimension``) over the series' runs at its largest x."""
    section, _, field = dotted.partition(".")
    if section == "measured":
        return series.measured.get(field, float("nan"))
    return float(series.config[section][field])


def _fit_x(fit: FitConfig, grid_value: float, config: dict) -> float:
    """The x a point is fitted at: its grid value, its model's parameter count, or its training tokens."""
    if fit.x_measure == "parameters":
        return float(parameter_count(config))
    if fit.x_measure == "tokens":
        return float(grid_value) * tokens_per_example(config)
    return float(grid_value)


def _measured(records: list[RunRecord]) -> dict[str, float]:
    """Median of each stored end-of-training number over ``records`` (NaN-free values only)."""
    medians = {}
    for name in SCALAR_COLUMNS:
        values = [getattr(r, name) for r in records if getattr(r, name) is not None and np.isfinite(getattr(r, name))]
        if values:
            medians[name] = float(np.median(values))
    return medians


def _series_of(point: dict, x_key: str) -> tuple:
    return tuple(sorted((k, v) for k, v in point.items() if k != x_key))


@dataclass
class FitSeries:
    """The observations one law is fitted to: one setting of the grid keys other than x."""

    point: dict  # the other grid keys' values
    config: dict  # a run config of the series (binds theory variables)
    x: np.ndarray  # [P]
    y: np.ndarray  # [P]; NaN: no value (e.g. a diverged run)
    replicates: np.ndarray  # [B, P] bootstrap resamples of y
    units_per_x: int  # fewest seeds at any x
    censored_x: list  # x whose cell statistic was not reached (left out)
    measured: dict  # median end-of-training numbers (store.SCALAR_COLUMNS) of the runs at the largest x


def _fit_points(
    fit: FitConfig, runs: StudyRuns, cells: list[Cell], analysis: AnalysisConfig, seed: int
) -> list[FitSeries]:
    """The series a fit applies to, with their observations and bootstrap replicates."""
    rng = np.random.default_rng([seed, 7])
    if fit.y in ("final_metric", "early_stopped_metric"):
        groups: dict[tuple, dict[float, list[float]]] = {}
        configs, records_at = {}, {}
        for record in runs.records:
            point = {k: record.point.get(k) for k in runs.study.grid}
            if N_TRAIN in runs.study.grid:
                point[N_TRAIN] = record.n_train  # refinement runs too
            key = _series_of(point, fit.x)
            configs.setdefault(key, record.config)
            value, x = getattr(record, fit.y), _fit_x(fit, point[fit.x], record.config)
            groups.setdefault(key, {}).setdefault(x, []).append(value if np.isfinite(value) else np.nan)
            records_at.setdefault(key, {}).setdefault(x, []).append(record)
        series = []
        for key, by_x in groups.items():
            xs = sorted(by_x)
            series.append(
                FitSeries(
                    point=dict(key),
                    config=configs[key],
                    x=np.concatenate([[v] * len(by_x[v]) for v in xs]),
                    y=np.concatenate([by_x[v] for v in xs]),
                    replicates=resample_within_groups([by_x[v] for v in xs], analysis.bootstrap, rng),
                    units_per_x=min(len(by_x[v]) for v in xs),
                    censored_x=[],
                    measured=_measured(records_at[key][xs[-1]]),
                )
            )
        return series
    points: dict[tuple, dict] = {}
    for cell in cells:
        key = _series_of(cell.point, fit.x)
        if fit.y == "n_star":
            value = cell.n_star.value if cell.n_star else None
            replicate = cell.n_star.replicates if cell.n_star else np.full(analysis.bootstrap, np.inf)
        else:
            value = cell.km.median.value
            replicate = _km_median_replicates(cell, analysis.bootstrap, rng)
        entry = points.setdefault(
            key, {"config": cell.config, "x": [], "y": [], "reps": [], "units": [], "censored": [], "records": {}}
        )
        x = _fit_x(fit, cell.point[fit.x], cell.config)
        entry["records"][x] = cell.records
        entry["units"].append(len(cell.seeds))
        if value is None:
            entry["censored"].append(x)  # in the fit's units, like the points
            continue
        entry["x"].append(x)
        entry["y"].append(value)
        entry["reps"].append(np.where(np.isfinite(replicate), replicate, np.nan))
    return [
        FitSeries(
            point=dict(key),
            config=entry["config"],
            x=np.array(entry["x"]),
            y=np.array(entry["y"]),
            replicates=np.stack(entry["reps"], axis=1) if entry["reps"] else np.zeros((analysis.bootstrap, 0)),
            units_per_x=min(entry["units"]),
            censored_x=entry["censored"],
            measured=_measured(entry["records"][max(entry["records"])]),
        )
        for key, entry in points.items()
    ]


def _extrapolation(fit: FitConfig, x: np.ndarray, y: np.ndarray) -> dict | None:
    held_out = x.max()
    keep = x < held_out
    if np.unique(x[keep]).size < MIN_DISTINCT_X[fit.law]:
        return None
    params = fit_law(fit.law, x[keep], y[keep], fit.bounds)
    observed = float(np.nanmean(y[~keep]))
    predicted = float(predict(fit.law, params, held_out))
    return {
        "held_out_x": float(held_out),
        "observed": observed,
        "predicted": predicted,
        "relative_error": predicted / observed - 1,
    }


def _fit_json(fit: FitConfig, series: FitSeries, analysis: AnalysisConfig) -> dict:
    x, y, units = series.x, series.y, series.units_per_x
    valid = np.isfinite(y) & (y > 0)
    result = {
        "x": fit.x,
        "x_measure": fit.x_measure,
        "y": fit.y,
        "law": fit.law,
        "series": series.point,
        "points": [{"x": float(a), "y": float(b)} for a, b in zip(x[valid], y[valid], strict=True)],
        "censored_x": series.censored_x,
        "status": "ok",
        "parameters": {},
        "exponent": EXPONENT[fit.law],
        "relative_rmse": None,
        "extrapolation": None,
        "bootstrap": {"replicates": analysis.bootstrap, "fitted": 0, "units_per_x": units},
        "theory": None,
    }
    if np.unique(x[valid]).size < MIN_DISTINCT_X[fit.law]:
        result["status"] = f"too few points: {fit.law} needs {MIN_DISTINCT_X[fit.law]} distinct x with a value"
        result["theory"] = _theory_json(fit, series, None)
        return result
    estimate = fit_law(fit.law, x[valid], y[valid], fit.bounds)
    boot = fit_law_batch(fit.law, x, series.replicates, fit.bounds)
    result["bootstrap"]["fitted"] = int(np.isfinite(boot["loss"]).sum())
    for name, value in estimate.items():
        if name == "loss":
            continue
        low, high = expanded_percentile_interval(value, boot[name], analysis.confidence, units)
        result["parameters"][name] = {"value": value, "ci": json_interval((low, high))}
    result["relative_rmse"] = float(np.sqrt(estimate["loss"] / valid.sum()))
    result["extrapolation"] = _extrapolation(fit, x[valid], y[valid])
    result["theory"] = _theory_json(fit, series, result["parameters"][EXPONENT[fit.law]]["ci"])
    return result


def _theory_json(fit: FitConfig, series: FitSeries, ci: list | None) -> dict | None:
    """The fit's theory with its prediction and verdict (``None`` without a fitted CI)."""
    theory = fit.theory
    if theory is None:
        return None
    variables = {n: _variable_value(series, p) for n, p in theory.variables.items()}
    # A measured variable the runs did not record (e.g. a model without embeddings): no prediction.
    finite = np.isfinite(list(variables.values())).all()
    predicted = evaluate_expression(theory.exponent, variables) if finite else None
    return {
        "label": theory.label,
        "expression": theory.exponent,
        "relation": theory.relation,
        "predicted": predicted,
        "variables": {name: value if np.isfinite(value) else None for name, value in variables.items()},
        "agrees": None
        if predicted is None or ci is None
        else agrees(theory.relation, predicted, tuple(float("nan") if v is None else v for v in ci)),
    }


def entropy_probe(records: list[RunRecord]) -> dict | None:
    """How often attention entropy ends lower than it starts, over (layer, head, run) curves.

    Tests seed 000's hypothesis that "the entropy of the Softmax on different layers almost
    never decreases during training". ``None`` when no record carries the probe.
    """
    probed = [r for r in records if r.attention_entropy is not None and r.status == "done"]
    if not probed:
        return None
    start = np.concatenate([r.attention_entropy[0].ravel() for r in probed])
    end = np.concatenate([r.attention_entropy[-1].ravel() for r in probed])
    decreased = int(np.sum(end < start))
    return {
        "runs": len(probed),
        "curves": int(start.size),
        "decreased": decreased,
        "decreased_fraction": decreased / start.size,
        "median_change_nats": float(np.median(end - start)),
    }


def analyze_study(runs: StudyRuns, *, bootstrap: int | None = None, seed: int = 0) -> dict:
    """The analysis document of a study's stored runs (schema ``samplelab.analysis/1``).

    ``bootstrap`` overrides the study's replicate count; ``seed`` makes the bootstrap
    reproducible (same store + seed → same document).
    """
    analysis = runs.study.analysis
    if bootstrap is not None:
        analysis = analysis.model_copy(update={"bootstrap": bootstrap})
    cells = collect_cells(runs, analysis, seed)
    fits = []
    for index, fit in enumerate(analysis.fits):
        for series in _fit_points(fit, runs, cells, analysis, seed):
            if all(series.point.get(key) == value for key, value in fit.where.items()):
                fits.append({"fit_index": index, **_fit_json(fit, series, analysis)})
    cell_documents = [_cell_json(cell) for cell in cells]
    outcomes = cell_outcomes(runs, analysis, seed) if analysis.outcomes else []
    return {
        "schema": SCHEMA,
        "samplelab_version": __version__,
        "study": runs.study.name,
        "profile": runs.study.profile,
        "source": runs.study.source,
        "regime": runs.regime,
        "measure": "train_size_to_threshold" if runs.regime == "fixed" else "samples_to_threshold",
        "settings": {
            "confidence": analysis.confidence,
            "delta": analysis.delta,
            "bootstrap": analysis.bootstrap,
            "n_star_method": analysis.n_star_method,
            "seed": seed,
        },
        "runs": len(runs.records),
        "cells": cell_documents,
        "fits": fits,
        "claims": check_claims(analysis, cell_documents, outcomes),
        "attention_entropy": entropy_probe(runs.records),
        "model_selection": model_selection(runs, analysis, seed),
        "outcomes": outcomes,
    }
