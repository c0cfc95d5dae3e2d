"""Three-valued verdicts, exact binomial intervals and the log law (stats/verdict.py, stats/powerlaw.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from samplelab.stats.powerlaw import fit_law_batch, fit_log_law_batch
from samplelab.stats.verdict import Region, clopper_pearson, combine, rate_difference_interval, verdict


def test_an_interval_inside_the_region_agrees_outside_disagrees_across_an_edge_is_inconclusive():
    bound = Region.of(above=1.0, margin=0.2)  # γ ≥ 1 within 0.2: γ ≥ 0.8
    assert (bound.low, bound.high) == (pytest.approx(0.8), math.inf)
    assert verdict((0.85, 1.4), bound) == "agrees"
    assert verdict((0.3, 0.7), bound) == "disagrees"
    assert verdict((0.7, 1.2), bound) == "inconclusive"
    band = Region.of(within=(4.0, 8.0))
    assert [verdict(ci, band) for ci in [(4.5, 7), (9, 12), (3, 5)]] == ["agrees", "disagrees", "inconclusive"]
    assert verdict((None, None), band) == "inconclusive" and verdict((float("nan"), 5), band) == "inconclusive"
    # An interval unbounded above (not reached in some resamples) can disagree, never agree.
    assert verdict((9, None), band) == "disagrees" and verdict((5, None), band) == "inconclusive"
    assert Region.of(below=0.0, margin=0.1).text("γ") == "γ ≤ 0.1"


def test_a_claim_over_several_series_combines_their_verdicts():
    assert combine(["agrees", "agrees"]) == "agrees"
    assert combine(["agrees", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "disagrees", "agrees"]) == "disagrees"
    assert combine([]) == "inconclusive"


def test_clopper_pearson_bounds_equal_their_closed_forms():
    """0 of n: upper = 1 − (α/2)^(1/n); n of n: lower = (α/2)^(1/n) (the issue's 0/5 → 0.52)."""
    low, high = clopper_pearson(0, 5)
    assert (
        low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 5), rel=1e-9) and high == pytest.approx(0.5218, abs=1e-4)
    )
    low, high = clopper_pearson(5, 5)
    assert low == pytest.approx(0.025 ** (1 / 5), rel=1e-9) and high == 1
    # 3 of 10 (tabulated: 0.0667, 0.6525).
    assert clopper_pearson(3, 10) == pytest.approx((0.06673951, 0.65245285), abs=1e-7)
    assert clopper_pearson(0, 0) == (0.0, 1.0)


def test_rate_difference_interval_combines_the_exact_limits():
    low, high = rate_difference_interval((5, 0), (5, 5))  # control 5/5, test 0/5
    u = 1 - 0.025 ** (1 / 5)
    assert low == pytest.approx(1 - math.sqrt(2) * u) and high == 1.0
    low, high = rate_difference_interval((3, 3), (6, 6))
    assert low < 0 < high and low == pytest.approx(-high)


def test_the_log_law_fits_log_growth_exactly_and_cannot_fit_linear_growth():
    x = np.array([2.0, 4, 8, 12])
    y = np.stack([9300 * np.log(x), 1000 * x])
    log_fit, power_fit = fit_log_law_batch(x, y), fit_law_batch("power", x, y)
    assert log_fit["b"][0] == pytest.approx(9300) and log_fit["loss"][0] < 1e-20
    assert power_fit["loss"][1] < 1e-12 < log_fit["loss"][1]
    assert power_fit["loss"][0] > 0.02  # ln N read as a power law misfits by several %


def test_the_interval_censored_median_bracket_by_hand():
    """Grid 64…1024; first successes at 64, 128, 128, 256, 512, 512, 1024 and never (8 seeds):
    Ŝ(64) = 7/8, Ŝ(128) = 5/8, Ŝ(256) = 4/8 ≤ ½ → the median lies in (128, 256]."""
    from samplelab.stats.interval_censored import first_success, median_bracket, survival_at_sizes

    sizes = np.array([64, 128, 256, 512, 1024])
    firsts = [0, 1, 1, 2, 3, 3, 4, 5]
    success = np.array([[k >= f for k in range(5)] for f in firsts])
    first = first_success(success)
    assert first.tolist() == firsts
    assert median_bracket(sizes, first[None]).tolist() == [[128.0, 256.0]]
    assert survival_at_sizes(first, 5).tolist() == [7 / 8, 5 / 8, 4 / 8, 2 / 8, 1 / 8]
    assert median_bracket(sizes, np.array([[0, 0, 5]])).tolist() == [[0.0, 64.0]]  # at the first size
    low, high = median_bracket(sizes, np.array([[5, 5, 0]]))[0]  # most never succeed: above the grid
    assert low == 1024 and np.isnan(high)
    # A resample that lacks a seed leaves it out (present = False).
    assert median_bracket(sizes, np.array([[0, 5, 5]]), np.array([[True, False, False]])).tolist() == [[0.0, 64.0]]


@pytest.mark.filterwarnings("ignore")  # lifelines' EM warns when it hits its iteration cap
def test_the_median_bracket_is_read_from_lifelines_turnbull_npmle():
    """On random grids, Ŝ at each size is lifelines' NPMLE there (data (L, R] given as closed
    [L⁺, R]), and the bracket is the grid interval where that NPMLE first falls to ½ or below.
    (lifelines' own ``median_survival_time_`` reads the NPMLE's upper envelope, which can
    place a median past the next observation: it is not compared.)"""
    lifelines = pytest.importorskip("lifelines")
    from samplelab.stats.interval_censored import median_bracket, survival_at_sizes

    rng = np.random.default_rng(0)
    sizes = np.array([32.0, 64, 128, 256, 512, 1024])
    edges = np.concatenate([[0.0], sizes])
    for _ in range(20):
        first = rng.integers(0, sizes.size + 1, int(rng.integers(3, 12)))
        upper = np.concatenate([sizes, [np.inf]])[first]
        fitted = lifelines.KaplanMeierFitter().fit_interval_censoring(np.nextafter(edges[first], np.inf), upper)
        npmle = fitted.survival_function_["NPMLE_estimate_lower"]
        reference = np.array(
            [npmle[npmle.index <= size].iloc[-1] if (npmle.index <= size).any() else 1.0 for size in sizes]
        )
        assert survival_at_sizes(first, sizes.size) == pytest.approx(reference, abs=1e-6)
        low, high = median_bracket(sizes, first[None])[0]
        below = np.flatnonzero(reference <= 0.5 + 1e-6)
        if below.size:
            assert (low, high) == (edges[below[0]], sizes[below[0]])
        else:
            assert low == sizes[-1] and np.isnan(high)


def test_calibration_widens_a_claims_intervals_about_their_estimates_and_judges_again(monkeypatch):
    from samplelab.analysis import calibration

    table = {("s", "quick", "band"): (0.88, 1.5, "1000 studies")}
    monkeypatch.setattr(calibration, "_entries", lambda: table)
    claim = {
        "kind": "band", "measures": "per_x", "y": "km_median", "region": [4, 8], "reason": None, "verdict": "agrees",
        "values": [{"estimate": 6.0, "interval": [5.0, 7.5], "verdict": "agrees"},
                   {"estimate": None, "interval": [9.0, None], "verdict": "disagrees"}],
    }  # fmt: skip
    (widened,) = calibration.calibrate([claim], "s", "quick", 0.95)
    assert widened["values"][0]["interval"] == [4.5, 8.25] and widened["values"][0]["verdict"] == "inconclusive"
    assert widened["values"][1]["interval"] == [9.0, None]  # no estimate: a censored cell keeps its bound
    assert widened["verdict"] == "disagrees"
    assert widened["coverage"] == {"nominal": 0.95, "simulated": 0.88, "widened_by": 1.5, "calibration": "1000 studies"}
    other = {**claim, "coverage": None}
    assert calibration.calibrate([other], "s", "quick", 0.9)[0]["coverage"] is None  # another level: not calibrated
    assert calibration.calibrate([other], "t", "quick", 0.95)[0]["coverage"] is None  # another study


def test_calibration_of_a_growth_claim_widens_both_intervals_and_applies_the_rule_again(monkeypatch):
    """γ's interval takes the design's exponent factor, D's its growth factor; a D interval
    that lay below 0 (with γ outside ±margin: disagrees) reaches 0 once widened: inconclusive."""
    from samplelab.analysis import calibration

    table = {("s", "quick", "growth"): (0.90, 2.0, "1000 studies"), ("s", "quick", "exponent"): (0.93, 1.25, "")}
    monkeypatch.setattr(calibration, "_entries", lambda: table)
    fit = {"estimate": -0.02, "interval": [-0.03, -0.01], "verdict": "disagrees"}
    claim = {
        "kind": "growth", "measures": "growth", "y": "km_median", "margin": 0.1, "region": [-0.1, 0.1],
        "reason": None, "verdict": "disagrees",
        "values": [{"estimate": 0.6, "interval": [0.4, 0.8], "log_minus_power_fit": fit, "verdict": "disagrees"}],
    }  # fmt: skip
    (judged,) = calibration.calibrate([claim], "s", "quick", 0.95)
    value = judged["values"][0]
    assert value["interval"] == pytest.approx([0.35, 0.85])
    assert value["log_minus_power_fit"]["interval"] == pytest.approx([-0.04, 0.0])
    assert value["log_minus_power_fit"]["verdict"] == "inconclusive" and value["verdict"] == "inconclusive"
    assert judged["verdict"] == "inconclusive"
    assert judged["coverage"]["simulated"] == 0.90 and judged["coverage"]["gamma"]["widened_by"] == 1.25


def test_learning_curve_exponents_have_their_own_calibration_kind():
    from samplelab.analysis.calibration import interval_kind

    theory = {"kind": "bound", "measures": "exponent"}
    assert interval_kind({**theory, "y": "final_metric"}) == "curve_exponent"
    assert interval_kind({**theory, "y": "early_stopped_metric"}) == "curve_exponent"
    assert interval_kind({**theory, "y": "km_median"}) == "exponent"
    assert interval_kind({"kind": "growth", "measures": "growth", "y": "km_median"}) == "growth"
    assert interval_kind({"kind": "trend", "measures": "trend", "y": "km_median", "x": None}) == "trend"
    assert interval_kind({"kind": "trend", "measures": "trend", "y": "final_metric", "x": "n"}) == "exponent_trend"


def test_the_trend_calibration_reads_each_studys_own_design():
    """bench/calibration_trend.py on the shipped trend claims: their cells, seeds and kinds."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from calibration_trend import simulate_trend

    noise = {"seed_sd": 0.3, "cell_sd": 0.3, "curve_seed_sd": 0.15, "curve_cell_sd": 0.3}
    entries: list[dict] = []
    rows = simulate_trend("setfind2_distractors.toml", None, 10, 50, noise, np.random.default_rng(0), entries)
    assert [row[0] for row in rows] == ["setfind2_distractors [quick] (5 cells, 3 seeds)"] * 3
    alphas = [0.5, 1 / 3, 0.2]
    rows += simulate_trend("manifold_data_scaling.toml", alphas, 10, 50, noise, np.random.default_rng(0), entries)
    assert "Δα per step -0.15" in rows[3][2] and "(3 series, 7 x, 5 seeds)" in rows[3][0]
    assert [(e["study"], e["kind"]) for e in entries] == [
        ("setfind2_distractors", "trend"), ("manifold_data_scaling", "exponent_trend")
    ]  # fmt: skip


def test_the_claim_table_reads_at_80_columns_without_words_cut(capsys):
    """A default terminal or a log: one block per claim, lines wrapped between words."""
    from samplelab.cli.tables import print_claim_table

    row = {
        "study": "setfind2_setsize [quick]",
        "claim": "seed 000: on average a model requires 4n–8n examples (median data needed ÷ N)",
        "kind": "band",
        "measured": "(task.intrinsic_dim=2) x=8: 16 [8, 32]; x=16: 12 [8, 16]; x=32: 8 [6, 12]; x=64: 6 [4, 8]",
        "allows": "km_median ÷ set_size ∈ [4, 8]",
        "coverage": "99.9% simulated",
        "verdict": "inconclusive",
    }
    print_claim_table([row, {**row, "verdict": "agrees"}])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "setfind2_setsize [quick]" in out and "(task.intrinsic_dim=2)" in out  # never cut mid-word
    assert "1 agrees, 0 disagrees, 1 inconclusive" in out
