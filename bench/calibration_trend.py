"""Calibration of trend claims (bench/calibration.py runs them): the slope of ln(data needed)
over a study's ordered cells, and the slope of fitted learning-curve exponents over its
ordered series, each on its quick profile's own design and with the analysis' statistics.

Data needed (``setfind2_modelsize``, ``setfind2_distractors``): a seed's need in the cell of
rank k is ``scale · exp(slope · k) · exp(seed_sd·z_seed + cell_sd·z_cell)`` (the seed effect
shared across cells), read as the study reads it (fixed regime: the median bracket's upper
end on the cell's training-set sizes). Truths: a slope of ln 2 every two steps (coverage),
0 (on the edge of "above 0": false disagrees) and −ln 2 / 2 (false agrees).

Exponents (``manifold_data_scaling``): α of a·x^(−α) + c per series as
bench/calibration_curves.py simulates it, the series' seeds independent (each d is its own
task) but drawn jointly by the resampler, as the analysis does. Truths: the theory's α per
series (coverage of their slope), equal α (on the edge of "below 0": false disagrees), and
the theory's α reversed (false agrees).
"""

from __future__ import annotations

import numpy as np

from calibration import Design, _cells, _medians
from calibration_curves import true_curve
from calibration_tally import CONFIDENCE, STUDIES, Tally, applied_factor, needed_factor, widened
from samplelab.analysis.claim_cells import trend_slope
from samplelab.analysis.resample import SeedResampler
from samplelab.spec.claims import ClaimConfig, trend_fields
from samplelab.spec.study import Study, load_study
from samplelab.stats.bootstrap import expanded_percentile_interval
from samplelab.stats.powerlaw import fit_with_replicates
from samplelab.stats.verdict import Region, verdict


def _slope(y: np.ndarray) -> np.ndarray:
    """The analysis' own trend slope (analysis/claim_cells.py) of ``y`` ``[..., K]`` against the centred rank."""
    return trend_slope(np.arange(y.shape[-1]) - (y.shape[-1] - 1) / 2, y)


def _ordered(study: Study, claim: ClaimConfig) -> list[tuple]:
    """The values of the claim's ``along`` fields, in the order the claim reads them."""
    fields = trend_fields(claim)
    return sorted({tuple(spec.point[f] for f in fields) for spec in study.runs})


def _cell_trend(study: Study, claim: ClaimConfig, studies: int, replicates: int, seed_sd: float, cell_sd: float,
                rng, entries: list[dict]) -> list[list[str]]:  # fmt: skip
    cells = len(_ordered(study, claim))
    sizes = np.array(sorted({spec.config.training.n_train for spec in study.runs}), dtype=np.float64)
    seeds = len({spec.seed for spec in study.runs})
    name = f"{study.name} [quick] ({cells} cells, {seeds} seeds)"
    design = Design(name, np.arange(1.0, cells + 1), seeds, "fixed", sizes)  # x: the cells' ranks
    region = Region.of(above=claim.above, below=claim.below, margin=claim.margin or 0.0)
    rows, factor = [], 1.0
    for truth, role in [(np.log(2) / 2, "coverage"), (0.0, "edge"), (-np.log(2) / 2, "beyond")]:
        rank = np.arange(cells) - (cells - 1) / 2
        scale = np.sqrt(sizes[0] * sizes[-1]) * np.exp(truth * rank)  # the middle cell mid-grid
        tally, intervals = Tally(), []
        for _ in range(studies):
            noise = seed_sd * rng.standard_normal((seeds, 1)) + cell_sd * rng.standard_normal((seeds, cells))
            need = scale[None, :] * np.exp(noise)
            resampler = SeedResampler(range(seeds), replicates, rng)
            medians, reps = _medians(design, _cells(design, need), resampler)
            with np.errstate(divide="ignore", invalid="ignore"):
                estimate, slopes = float(_slope(np.log(medians))), _slope(np.log(reps))
            if not np.isfinite(estimate):
                tally.add(None)
                intervals.append((estimate, (np.nan, np.nan)))
                continue
            ci = expanded_percentile_interval(estimate, slopes, CONFIDENCE, seeds)
            tally.add(ci[0] <= truth <= ci[1], verdict(ci, region), needed_factor(estimate, ci, truth))
            intervals.append((estimate, ci))
        factor = _row(rows, entries, name, "trend", study.name, role, truth, region, tally, intervals, factor, studies)
    return rows


def _exponent_trend(study: Study, claim: ClaimConfig, alphas: list[float], studies: int, replicates: int,
                    seed_sd: float, cell_sd: float, rng, entries: list[dict]) -> list[list[str]]:  # fmt: skip
    x = np.array(sorted({float(spec.point[claim.x]) for spec in study.runs}))
    seeds = len({spec.seed for spec in study.runs})
    name = f"{study.name} [quick] ({len(alphas)} series, {x.size} x, {seeds} seeds)"
    x_runs = np.repeat(x, seeds)
    region = Region.of(above=claim.above, below=claim.below, margin=claim.margin or 0.0)
    rows, factor = [], 1.0
    middle = float(np.mean(alphas))
    for truths, role in [(alphas, "coverage"), ([middle] * len(alphas), "edge"), (alphas[::-1], "beyond")]:
        truth = float(_slope(np.array(truths)))
        curves = [true_curve(x, a) for a in truths]
        tally, intervals = Tally(), []
        for _ in range(studies):
            resampler = SeedResampler(range(seeds), replicates, rng)
            fitted = []
            for curve in curves:
                noise = seed_sd * rng.standard_normal((seeds, 1)) + cell_sd * rng.standard_normal((seeds, x.size))
                panel = curve[None, :] * np.exp(noise)
                point, reps = fit_with_replicates("power_offset", x_runs, panel.T.ravel(), resampler.panel(panel))
                fitted.append((point["alpha"], reps["alpha"]))
            estimate = float(_slope(np.array([e for e, _ in fitted])))
            ci = expanded_percentile_interval(estimate, _slope(np.stack([r for _, r in fitted], axis=1)), CONFIDENCE,
                                              seeds)  # fmt: skip
            tally.add(ci[0] <= truth <= ci[1], verdict(ci, region), needed_factor(estimate, ci, truth))
            intervals.append((estimate, ci))
        factor = _row(rows, entries, name, "exponent_trend", study.name, role, truth, region, tally, intervals, factor,
                      studies)  # fmt: skip
    return rows


def _row(rows: list, entries: list, name: str, kind: str, study: str, role: str, truth: float, region: Region,
         tally: Tally, intervals: list, factor: float, studies: int) -> float:  # fmt: skip
    """Append one role's row (coverage: also its calibration entry); returns the widening that
    analysis/calibration.py applies from the coverage row, with which the wrong-verdict rows
    are judged again (as measured → calibrated)."""
    what = "Δα" if kind == "exponent_trend" else "Δ ln y"
    shown = "trend of α" if kind == "exponent_trend" else "trend"
    if role == "coverage":
        entries.append(tally.entry(study, kind, None))
        rows.append([name, shown, f"{what} per step {truth:.3g}: CI covers it", tally.rate(tally.covered)])
        return applied_factor(tally, studies)
    wrong = "disagrees" if role == "edge" else "agrees"
    rates = [np.mean([verdict(widened(ci, e, f), region) == wrong for e, ci in intervals if np.isfinite(e)])
             for f in (1.0, factor)]  # fmt: skip
    rows.append([name, shown, f"{region.text('slope')}, truth {truth:.3g}: false {wrong} (as measured → calibrated "
                 f"×{factor:.2f})", " → ".join(f"{r:.1%}" for r in rates)])  # fmt: skip
    return factor


def simulate_trend(study_file: str, alphas: list[float] | None, studies: int, replicates: int, noise: dict, rng,
                   entries: list[dict]) -> list[list[str]]:  # fmt: skip
    """The rows of the first trend claim of a study's quick profile (see the module docstring);
    ``noise``: ``seed_sd``, ``cell_sd`` (data needed) and ``curve_seed_sd``, ``curve_cell_sd``."""
    study = load_study(STUDIES / study_file, "quick")
    claim = next(c for c in study.analysis.claims if c.kind == "trend")
    if claim.of == "exponent":
        return _exponent_trend(study, claim, alphas or [], studies, replicates, noise["curve_seed_sd"],
                               noise["curve_cell_sd"], rng, entries)  # fmt: skip
    return _cell_trend(study, claim, studies, replicates, noise["seed_sd"], noise["cell_sd"], rng, entries)
