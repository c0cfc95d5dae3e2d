"""Calibration of learning-curve exponents and paired differences (bench/calibration.py runs them).

Learning curves: α of y = a·x^(−α) + c as analysis/fits.py fits it (``power_offset`` on the
per-run panel, whole seeds resampled), on the x values and seeds of each shipped study's
quick profile. Paired differences: the mean over seeds of outcome(where) − outcome(than).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration_tally import CONFIDENCE, STUDIES, Tally, applied_factor, needed_factor, widened
from samplelab.analysis.resample import SeedResampler
from samplelab.spec.size import parameter_count
from samplelab.spec.study import load_study
from samplelab.stats.bootstrap import expanded_percentile_interval
from samplelab.stats.powerlaw import fit_with_replicates
from samplelab.stats.verdict import Region, verdict


@dataclass
class CurveDesign:
    """A learning-curve fit's design: its x values, seeds, and the theory's relation and margin."""

    name: str
    study: str
    x: np.ndarray  # [P] in the fit's units (training examples, parameters)
    seeds: int
    relation: str  # above | below | equal
    margin: float
    alphas: list[float]  # the exponents to simulate as truths


def curve_design(study_file: str, alphas: list[float]) -> CurveDesign:
    """The first learning-curve fit of a study's quick profile: x in the fit's units."""
    study = load_study(STUDIES / study_file, "quick")
    fit = next(f for f in study.analysis.fits if f.y in ("final_metric", "early_stopped_metric"))
    xs = {}
    for spec in study.runs:
        grid_value = spec.point[fit.x]
        config = spec.config.model_dump(mode="json")
        xs[grid_value] = float(parameter_count(config)) if fit.x_measure == "parameters" else float(grid_value)
    seeds = len({r.seed for r in study.runs})
    measure = fit.x if fit.x_measure == "grid" else fit.x_measure
    name = f"{study.name} [quick] ({fit.y} vs {measure}, {len(xs)} x, {seeds} seeds)"
    return CurveDesign(name, study.name, np.array(sorted(xs.values())), seeds, fit.theory.relation,
                       fit.theory.margin or 0.0, alphas)  # fmt: skip


def true_curve(x: np.ndarray, alpha: float) -> np.ndarray:
    """a·x^(−α) + c with y(x_min) ≈ 1 and the floor c a tenth of the decaying part at the largest x."""
    a = x[0] ** alpha
    return a * x ** (-alpha) + 0.1 * a * x[-1] ** (-alpha)


def simulate_curve(
    design: CurveDesign, studies: int, replicates: int, seed_sd: float, cell_sd: float, rng, entries: list[dict]
) -> list[list[str]]:
    """α of y = a·x^(−α) + c fitted per study (``power_offset``, whole-seed bootstrap of the
    per-run panel, as analysis/fits.py): coverage at each truth, then the theory's bound or
    equivalence at its edge (false disagrees) and beyond it by the margin (false agrees),
    with the intervals as measured and widened as analysis/calibration.py would widen this
    study's (the largest factor over its truths). y(x_min) ≈ 1, the floor c is a tenth of the
    decaying part at x_max, and each run's y is multiplied by exp(seed_sd·z_seed + cell_sd·z_run)."""
    rows, s, x = [], design.seeds, design.x
    x_runs = np.repeat(x, s)  # x-major, as the resampler's panel
    sign = -1.0 if design.relation == "above" else 1.0  # the direction the truth leaves the region
    relation = {"above": "≥", "below": "≤", "equal": "="}[design.relation]
    judged: list[tuple[str, Region, str, list]] = []  # (label, region, wrong verdict, [(estimate, ci)])
    factors = []
    for alpha in design.alphas:
        if design.relation == "equal":
            region = Region.of(within=(alpha, alpha), margin=design.margin)
        else:
            region = Region.of(**{design.relation: alpha}, margin=design.margin)
        for truth, role in [(alpha, "coverage"), (alpha + sign * design.margin, "edge"),
                            (alpha + 2 * sign * design.margin, "beyond")]:  # fmt: skip
            if truth <= 0:
                continue
            curve = true_curve(x, truth)
            tally, intervals = Tally(), []
            for _ in range(studies):
                panel = curve[None, :] * np.exp(
                    seed_sd * rng.standard_normal((s, 1)) + cell_sd * rng.standard_normal((s, x.size))
                )
                resampler = SeedResampler(range(s), replicates, rng)
                point, fitted = fit_with_replicates("power_offset", x_runs, panel.T.ravel(), resampler.panel(panel))
                estimate, reps = point["alpha"], fitted["alpha"]
                ci = expanded_percentile_interval(estimate, reps, CONFIDENCE, s)
                tally.add(ci[0] <= truth <= ci[1], None, needed_factor(estimate, ci, truth))
                intervals.append((estimate, ci))
            if role == "coverage":
                entries.append(tally.entry(design.study, "curve_exponent", f"α = {alpha:.3g}"))
                factors.append(applied_factor(tally, studies))
                rows.append([design.name, "learning-curve exponent", f"α = {truth:.3g}: CI covers α",
                             tally.rate(tally.covered)])  # fmt: skip
            else:
                wrong = "disagrees" if role == "edge" else "agrees"
                label = f"α {relation} {alpha:.3g} (margin {design.margin:g}), truth {truth:.3g}: false {wrong}"
                judged.append((label, region, wrong, intervals))
    factor = max(factors, default=1.0)
    for label, region, wrong, intervals in judged:
        rates = [
            np.mean([verdict(widened(ci, estimate, f), region) == wrong for estimate, ci in intervals])
            for f in (1.0, factor)
        ]
        rows.append([design.name, "learning-curve exponent", f"{label} (as measured → calibrated ×{factor:.2f})",
                     " → ".join(f"{r:.1%}" for r in rates)])  # fmt: skip
    return rows


def simulate_paired(study_file: str, studies: int, replicates: int, rng, entries: list[dict]) -> list[list[str]]:
    """A paired difference of an outcome over a study's seeds: each seed's two outcomes share
    its data (sd 0.03 across seeds), their difference has its own noise (sd 0.02); truth 0.02
    (coverage) and 0 against "> 0" (false agrees)."""
    study = load_study(STUDIES / study_file, "quick")
    seeds, name, rows = len({r.seed for r in study.runs}), f"{study.name} [quick]", []
    for truth, role in [(0.02, "coverage"), (0.0, "edge")]:
        tally = Tally()
        for _ in range(studies):
            shared = 0.7 + 0.03 * rng.standard_normal(seeds)
            difference = (shared + truth + 0.02 * rng.standard_normal(seeds)) - shared
            resampler = SeedResampler(range(seeds), replicates, rng)
            reps = resampler.panel(difference[:, None]).mean(axis=1)
            estimate = float(difference.mean())
            ci = expanded_percentile_interval(estimate, reps, CONFIDENCE, seeds)
            tally.add(ci[0] <= truth <= ci[1], verdict(ci, Region.of(above=0.0)), needed_factor(estimate, ci, truth))
        if role == "coverage":
            entries.append(tally.entry(study.name, "paired", None))
            rows.append([name, "paired", "difference 0.02: CI covers it", tally.rate(tally.covered)])
        else:
            rows.append([name, "paired", "difference 0, claim > 0: false agrees", tally.rate(tally.agrees)])
    return rows
