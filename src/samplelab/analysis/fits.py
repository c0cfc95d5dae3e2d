"""Cells → fitted laws: each fit's series (one per setting of the other grid keys), its
observations with bootstrap replicates over seeds, the law fitted with CIs, and its theory's verdict."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

from samplelab.analysis.cells import Cell
from samplelab.analysis.resample import SeedResampler
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import json_interval
from samplelab.core.run_fields import SCALAR_COLUMNS
from samplelab.ledger.store import RunRecord
from samplelab.spec.analysis import AnalysisConfig, FitConfig, variable_paths
from samplelab.spec.run_config import N_TRAIN
from samplelab.spec.size import parameter_count, tokens_per_example
from samplelab.spec.study import point_without
from samplelab.stats.bootstrap import seed_interval
from samplelab.stats.powerlaw import EXPONENT, MIN_DISTINCT_X, fit_rows_with_replicates, predict
from samplelab.stats.theory import evaluate_expression
from samplelab.stats.verdict import Region, verdict


def _variable_value(series: FitSeries, dotted: str | list[str]) -> float:
    """A theory variable: a config field of the series, or ``measured.<column>``, the median
    of that end-of-training number (e.g. ``embedding_dimension``) over the series' runs at its
    largest x; of a list of estimators, the first's."""
    section, _, field = variable_paths(dotted)[0].partition(".")
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


def _measured(records: list[RunRecord], resampler: SeedResampler) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Median over seeds of each stored end-of-training number of ``records`` (a seed's value: its
    runs' median; NaN-free values only), and its ``[B]`` replicates over the whole-seed draws."""
    medians, replicates = {}, {}
    row = {int(seed): i for i, seed in enumerate(resampler.seeds)}
    for name in SCALAR_COLUMNS:
        kept = [r for r in records if getattr(r, name) is not None and np.isfinite(getattr(r, name))]
        if not kept:
            continue
        per_seed = np.full(len(row), np.nan)
        for seed in {r.seed for r in kept}:
            per_seed[row[seed]] = np.median([getattr(r, name) for r in kept if r.seed == seed])
        medians[name] = float(np.nanmedian(per_seed))  # the statistic its replicates resample
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a draw of seeds that all lack it: NaN
            replicates[name] = np.nanmedian(per_seed[resampler.picks], axis=1)
    return medians, replicates


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
    measured: dict  # median end-of-training numbers (core.run_fields.SCALAR_COLUMNS) of the runs at the largest x
    measured_replicates: dict  # name -> [B] those medians over the whole-seed draws


def fit_series(
    fit: FitConfig, runs: StudyRuns, cells: list[Cell], analysis: AnalysisConfig, resampler: SeedResampler
) -> list[FitSeries]:
    """The series a fit applies to, with their observations and whole-seed bootstrap replicates."""
    if fit.y in ("final_metric", "early_stopped_metric"):
        return _run_series(fit, runs, resampler)
    points: dict[tuple, dict] = {}
    for cell in cells:
        key = point_without(cell.point, (fit.x,))
        value, statistic = cell_median(cell, fit.y, runs.regime)
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
        replicates = resampler.cell_statistic(cell, statistic, analysis.delta, analysis.n_star_method)
        entry["reps"].append(replicates[:, 1] if statistic == "median_bracket" else replicates)
    series = []
    for key, entry in points.items():
        measured, measured_replicates = _measured(entry["records"][max(entry["records"])], resampler)
        series.append(
            FitSeries(
                point=dict(key),
                config=entry["config"],
                x=np.array(entry["x"]),
                y=np.array(entry["y"]),
                replicates=np.stack(entry["reps"], axis=1) if entry["reps"] else np.zeros((resampler.replicates, 0)),
                units_per_x=min(entry["units"]),
                censored_x=entry["censored"],
                measured=measured,
                measured_replicates=measured_replicates,
            )
        )
    return series


def cell_median(cell: Cell, y: str, regime: str) -> tuple[float | None, str]:
    """A cell's value of ``y`` (``None``: not reached) and the resampled statistic that gives it.

    ``km_median`` in the fixed regime is the interval-censored median's bracket upper end —
    the least grid size by which half the seeds had succeeded (Ŝ ≤ ½) — not the KM median
    of first-success sizes taken as exact times (docs/analysis.md)."""
    if y == "n_star":
        return (cell.n_star.value if cell.n_star else None), "n_star"
    if regime == "fixed" and cell.sizes:
        high = cell.median_bracket[1]
        return (None if np.isnan(high) else high), "median_bracket"
    return cell.km.median.value, "km_median"


def _run_series(fit: FitConfig, runs: StudyRuns, resampler: SeedResampler) -> list[FitSeries]:
    """Series of one value per run (``final_metric``, ``early_stopped_metric``): a seed × x panel each."""
    groups: dict[tuple, dict[float, dict[int, list[float]]]] = {}
    configs, records_at = {}, {}
    for record in runs.records:
        point = {k: record.point.get(k) for k in runs.study.grid}
        if N_TRAIN in runs.study.grid:
            point[N_TRAIN] = record.n_train  # refinement runs too
        key = point_without(point, (fit.x,))
        configs.setdefault(key, record.config)
        value, x = getattr(record, fit.y), _fit_x(fit, point[fit.x], record.config)
        groups.setdefault(key, {}).setdefault(x, {}).setdefault(record.seed, []).append(
            value if np.isfinite(value) else np.nan
        )
        records_at.setdefault(key, {}).setdefault(x, []).append(record)
    row = {int(seed): i for i, seed in enumerate(resampler.seeds)}
    series = []
    for key, by_x in groups.items():
        xs = sorted(by_x)
        measured, measured_replicates = _measured(records_at[key][xs[-1]], resampler)
        panel = np.full((len(row), len(xs)), np.nan)  # [S, P]
        for j, x in enumerate(xs):
            for seed, values in by_x[x].items():
                panel[row[seed], j] = np.mean(values)
        series.append(
            FitSeries(
                point=dict(key),
                config=configs[key],
                x=np.repeat(np.array(xs, dtype=np.float64), len(row)),  # x-major, as the replicates
                y=panel.T.ravel(),
                replicates=resampler.panel(panel),
                units_per_x=min(len(by_x[x]) for x in xs),
                censored_x=[],
                measured=measured,
                measured_replicates=measured_replicates,
            )
        )
    return series


def _extrapolation(fit: FitConfig, x: np.ndarray, y: np.ndarray, held_out_fit: dict[str, float]) -> dict | None:
    """The law fitted without the largest x (``held_out_fit``), against what was observed there."""
    held_out = x.max()
    keep = x < held_out
    if np.unique(x[keep]).size < MIN_DISTINCT_X[fit.law]:
        return None
    observed = float(np.nanmean(y[~keep]))
    predicted = float(predict(fit.law, held_out_fit, held_out))
    return {
        "held_out_x": float(held_out),
        "observed": observed,
        "predicted": predicted,
        "relative_error": predicted / observed - 1,
    }


def fit_json(fit: FitConfig, series: FitSeries, analysis: AnalysisConfig) -> dict:
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
        result["theory"] = _theory_json(fit, series, None, analysis)
        return result
    kept = valid & (x < x[valid].max())  # for the fit without the largest x (extrapolation)
    observed = np.stack([np.where(valid, y, np.nan), np.where(kept, y, np.nan)])
    (estimate, without_last), boot = fit_rows_with_replicates(fit.law, x, observed, series.replicates, fit.bounds)
    result["bootstrap"]["fitted"] = int(np.isfinite(boot["loss"]).sum())
    for name, value in estimate.items():
        if name == "loss":
            continue
        low, high = seed_interval(value, boot[name], analysis.confidence, units, analysis.interval)
        result["parameters"][name] = {"value": value, "ci": json_interval((low, high))}
    result["relative_rmse"] = float(np.sqrt(estimate["loss"] / valid.sum()))
    result["extrapolation"] = _extrapolation(fit, x[valid], y[valid], without_last)
    result["theory"] = _theory_json(fit, series, result["parameters"][EXPONENT[fit.law]]["ci"], analysis)
    return result


def theory_region(relation: str, predicted: tuple[float, float], margin: float) -> Region:
    """The values of the exponent a theory allows: its prediction — a range ``(low, high)`` when a
    measured variable's interval is carried into it — widened by its margin."""
    low, high = predicted
    if relation == "above":
        return Region.of(above=low, margin=margin)
    if relation == "below":
        return Region.of(below=high, margin=margin)
    return Region.of(within=(low, high), margin=margin)


def _variable_intervals(theory, series: FitSeries, confidence: float) -> tuple[dict, dict, list[str]]:
    """Each measured variable's percentile interval over whole-seed draws (a config field: none):
    for a list of estimators, the least interval holding each one's, so that the prediction
    carries their spread. Returns the intervals, each estimator's median, and the estimators
    the runs did not record."""
    tail = (1 - confidence) / 2
    intervals, medians, missing = {}, {}, []
    for name, paths in theory.variables.items():
        ends = []
        for dotted in variable_paths(paths):
            section, _, column = dotted.partition(".")
            replicates = series.measured_replicates.get(column) if section == "measured" else None
            if section == "measured" and (replicates is None or not np.isfinite(replicates).any()):
                missing.append(dotted)
            elif replicates is not None:
                ends += [float(v) for v in np.nanquantile(replicates, [tail, 1 - tail])]
                medians.setdefault(name, {})[column] = series.measured[column]
        if ends:
            intervals[name] = (min(ends), max(ends))
    return intervals, medians, missing


def _predicted_range(theory, variables: dict[str, float], intervals: dict) -> tuple[float, float]:
    """The prediction's least and greatest value over every corner of the measured variables'
    intervals (the theories here are monotone in each variable), with the point prediction."""
    corners = [evaluate_expression(theory.exponent, variables)]
    for ends in itertools.product(*(intervals[name] for name in intervals)):
        corners.append(evaluate_expression(theory.exponent, variables | dict(zip(intervals, ends, strict=True))))
    return min(corners), max(corners)


def _theory_json(fit: FitConfig, series: FitSeries, ci: list | None, analysis: AnalysisConfig) -> dict | None:
    """The fit's theory: its prediction (a range, when a measured variable's interval is carried
    into it), the region it allows and the verdict of the exponent's CI."""
    theory = fit.theory
    if theory is None:
        return None
    variables = {n: _variable_value(series, p) for n, p in theory.variables.items()}
    # A measured variable the runs did not record (e.g. a model without embeddings): no prediction.
    finite = np.isfinite(list(variables.values())).all()
    predicted = evaluate_expression(theory.exponent, variables) if finite else None
    intervals, estimators, missing = (
        _variable_intervals(theory, series, analysis.confidence) if finite else ({}, {}, [])
    )
    predicted_range = _predicted_range(theory, variables, intervals) if finite else None
    margin = theory.margin or 0.0
    region = None if predicted_range is None else theory_region(theory.relation, predicted_range, margin)
    reason = None
    if predicted is None:
        reason = "no prediction: a variable was not measured"
    elif missing:
        reason = (f"{', '.join(missing)} has no value on these runs (stored before samplelab measured it, or "
                  "undefined on their embeddings): its spread is unknown — train the study into a new store")  # fmt: skip
    elif ci is None:
        reason = "no fitted interval"
    elif fit.y == "n_star" and analysis.delta < 1 / series.units_per_x:
        reason = sample_maximum_reason(analysis.delta, series.units_per_x)
    return {
        "label": theory.label,
        "expression": theory.exponent,
        "relation": theory.relation,
        "margin": margin,
        "predicted": predicted,
        "predicted_range": None if predicted_range is None or not intervals else list(predicted_range),
        "variables": {name: value if np.isfinite(value) else None for name, value in variables.items()},
        "variables_ci": {name: list(ends) for name, ends in intervals.items()},
        "estimators": {name: by for name, by in estimators.items() if len(by) > 1},
        "region": None if region is None else json_interval((region.low, region.high)),
        "verdict": "inconclusive" if reason else verdict(ci, region),
        "reason": reason,
    }


def sample_maximum_reason(delta: float, seeds: int) -> str:
    """Why n* decides nothing with ``seeds`` < 1/δ: it is then the largest seed's need, whose
    bootstrap is inconsistent."""
    return f"δ = {delta:g} < 1/m for m = {seeds} seeds: n* is the sample maximum — use km_median or more seeds"
