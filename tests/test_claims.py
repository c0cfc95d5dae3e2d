"""Claim kinds on synthetic truths, through `samplelab analyze --json`.

Each store holds an online study whose per-seed samples-to-threshold follow a known law in
x = task.set_size, one series per model.heads: every run's test curve falls below the
threshold at exactly the chosen sample. A seed's draw is shared across x (its data pool)
and each cell adds its own noise, as in real studies.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import synthetic_record
from samplelab.cli import main
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import load_study

STUDY = """
name = "truths"
seeds = 8
[task]
name = "setfind2"
set_size = 2
[model]
name = "transformer"
d_model = 8
heads = 1
mlp_width = 16
[training]
regime = "online"
steps = 4000
batch_size = 1
eval_every = 1
test_size = 16
[grid]
"task.set_size" = [2, 4, 8, 16]
"model.heads" = [1, 2]
[analysis]
bootstrap = 400
"""
BUDGET = 4000


def _record(spec, needed: int, final: float = 1.0, retrieved: int | None = None):
    """375 (the baseline) until ``retrieved`` (if given: 30, under 10% of it), ``final`` from ``needed``."""
    steps = np.arange(BUDGET + 1, dtype=np.float64)
    curve = np.where(steps >= needed, final, 375.0).astype(np.float32)  # threshold 1% of 375
    if retrieved is not None:
        curve[(steps >= retrieved) & (steps < needed)] = 30.0
    return synthetic_record(spec, steps, curve, samples_per_step=1)


def _analyze(
    tmp_path,
    capsys,
    truth,
    claims: str,
    noise: float = 0.05,
    seed_noise: float | None = None,
    final=None,
    retrieval=None,
) -> dict:
    """``truth(heads, set_size)`` → median samples needed; returns the analysis document."""
    tmp_path = tmp_path / f"store{len(list(tmp_path.iterdir()))}"
    tmp_path.mkdir()
    path = tmp_path / "truths.toml"
    path.write_text(STUDY + claims)
    study = load_study(path)
    rng = np.random.default_rng(0)
    seed_effect = {s: rng.normal(0, noise if seed_noise is None else seed_noise) for s in range(8)}
    records = []
    for spec in study.runs:
        heads, size = spec.point["model.heads"], spec.point["task.set_size"]
        factor = np.exp(seed_effect[spec.seed] + rng.normal(0, noise))
        end = 1.0 if final is None else final(heads, spec.seed)
        retrieved = None if retrieval is None else round(retrieval(heads, size) * factor)
        records.append(_record(spec, round(truth(heads, size) * factor), end, retrieved))
    store = tmp_path / "truths.sqlite"
    with ResultStore(store) as db:
        db.register_study(study.name, study.profile, [(s.key, s.point) for s in study.runs])
        db.write_runs(records)
    assert main(["analyze", str(path), "--store", str(store), "--json"]) == 0
    return {c["label"]: c for c in json.loads(capsys.readouterr().out)["claims"]}


GROWTH = """
[[analysis.claims]]
kind = "growth"
label = "heads 1 almost independent"
x = "task.set_size"
where = { "model.heads" = 1 }
margin = 0.1
[[analysis.claims]]
kind = "growth"
label = "heads 2 almost independent"
x = "task.set_size"
where = { "model.heads" = 2 }
margin = 0.1
"""


def test_growth_shape_tells_log_growth_from_power_growth(tmp_path, capsys):
    """ln x (whose power-law fit reads γ ≈ 0.6) agrees; linear growth disagrees."""
    claims = _analyze(tmp_path, capsys, lambda h, x: 300 * np.log(x) if h == 1 else 60 * x, GROWTH)
    log, linear = claims["heads 1 almost independent"], claims["heads 2 almost independent"]
    assert log["verdict"] == "agrees" and 0.4 < log["values"][0]["estimate"] < 0.8
    assert log["values"][0]["log_minus_power_fit"]["verdict"] == "agrees"
    assert linear["verdict"] == "disagrees" and linear["values"][0]["estimate"] == pytest.approx(1, abs=0.1)


THRESHOLDS = """
[[analysis.claims]]
kind = "band"
label = "precise: 4–8 per x"
x = "task.set_size"
where = { "model.heads" = 1 }
within = [4, 8]
[[analysis.claims]]
kind = "band"
label = "retrieved: 4–8 per x"
x = "task.set_size"
where = { "model.heads" = 1 }
within = [4, 8]
threshold_relative = 0.1
[[analysis.fits]]
x = "task.set_size"
y = "km_median"
threshold_relative = 0.1
where = { "model.heads" = 1 }
theory = { exponent = "1", margin = 0.2, label = "retrieved: linear" }
"""


def test_a_claim_or_fit_reads_its_own_threshold(tmp_path, capsys):
    """Curves reach 10% of the baseline at 6x and 1% at 40x: each claim reads its threshold."""
    claims = _analyze(tmp_path, capsys, lambda h, x: 40 * x, THRESHOLDS, retrieval=lambda h, x: 6 * x)
    precise, retrieved = claims["precise: 4–8 per x"], claims["retrieved: 4–8 per x"]
    assert precise["verdict"] == "disagrees" and precise["threshold_relative"] is None
    assert retrieved["verdict"] == "agrees" and retrieved["threshold_relative"] == 0.1
    assert claims["retrieved: linear"]["verdict"] == "agrees"
    assert claims["retrieved: linear"]["threshold_relative"] == 0.1


COMPARE = """
[[analysis.claims]]
kind = "compare"
label = "heads 1 grows faster than heads 2"
x = "task.set_size"
where = { "model.heads" = 1 }
than = { "model.heads" = 2 }
above = 0
margin = 0
[[analysis.claims]]
kind = "bound"
label = "heads 1 γ above its own estimate"
of = "exponent"
x = "task.set_size"
where = { "model.heads" = 1 }
above = 1.0
margin = 0
[[analysis.claims]]
kind = "band"
label = "heads 2 needs 30–90 per x"
x = "task.set_size"
where = { "model.heads" = 2 }
within = [30, 90]
"""


def test_compare_resamples_seeds_jointly_and_straddling_is_inconclusive(tmp_path, capsys):
    claims = _analyze(tmp_path, capsys, lambda h, x: 50 * x if h == 1 else 200 * x**0.2, COMPARE)
    compare = claims["heads 1 grows faster than heads 2"]
    assert compare["verdict"] == "agrees" and compare["values"][0]["estimate"] == pytest.approx(0.8, abs=0.1)
    low, high = compare["values"][0]["interval"]
    assert low > 0.5 and high < 1.1
    # γ ≈ 1 against a bound at 1: the interval straddles the edge.
    assert claims["heads 1 γ above its own estimate"]["verdict"] == "inconclusive"
    band = claims["heads 2 needs 30–90 per x"]  # 200·x^0.2 / x: 115, 66, 38, 22: above it at x = 2
    assert band["verdict"] == "disagrees" and len(band["values"]) == 4

    equal = _analyze(tmp_path, capsys, lambda h, x: 50 * x, COMPARE)
    assert equal["heads 1 grows faster than heads 2"]["verdict"] != "agrees"
    low, high = equal["heads 1 grows faster than heads 2"]["values"][0]["interval"]
    assert low < 0 < high
    assert equal["heads 2 needs 30–90 per x"]["verdict"] == "agrees"  # 50 per x


def test_whole_seeds_are_resampled_across_x_and_series(tmp_path, capsys):
    """Seeds that differ by a factor shared across x (their data pool) shift a series'
    level, not its slope: resampling whole seeds keeps that out of γ and of γ(a) − γ(b).
    Resampling within each x independently would turn it into noise at every x: with a
    seed spread of ±50% that interval would span about ±0.3."""
    truth = lambda h, x: 50 * x if h == 1 else 50 * x**0.5  # noqa: E731
    claims = _analyze(tmp_path, capsys, truth, COMPARE, noise=0.01, seed_noise=0.5)
    low, high = claims["heads 1 grows faster than heads 2"]["values"][0]["interval"]
    assert 0.45 < low < 0.5 < high < 0.55
    low, high = claims["heads 1 γ above its own estimate"]["values"][0]["interval"]
    assert 0.95 < low < 1 < high < 1.05


PAIRED = """
outcomes = true
[[analysis.claims]]
kind = "paired"
label = "heads 1 ends higher than heads 2, seed by seed"
of = "test_metric"
where = { "model.heads" = 1, "task.set_size" = 2 }
than = { "model.heads" = 2, "task.set_size" = 2 }
above = 0.2
margin = 0
[[analysis.claims]]
kind = "bound"
label = "heads 1's median final metric above heads 2's highest"
of = "test_metric"
where = { "model.heads" = 1, "task.set_size" = 2 }
above = 3.0
margin = 0
"""


def test_a_paired_difference_compares_the_same_seeds(tmp_path, capsys):
    """Seeds differ a lot (final metric 1…3), the two points by 0.5 at every seed: the paired
    difference is decided, though the seeds' spread swamps each point's own median."""
    base = {s: 1.0 + 2.0 * s / 7 for s in range(8)}
    claims = _analyze(tmp_path, capsys, lambda h, x: 100, PAIRED, final=lambda h, s: base[s] + (0.5 if h == 1 else 0))
    paired = claims["heads 1 ends higher than heads 2, seed by seed"]
    (value,) = paired["values"]
    assert paired["verdict"] == "agrees" and value["seeds"] == value["pairs"] == 8 and value["pairs_left_out"] == 0
    assert value["estimate"] == pytest.approx(0.5, abs=1e-6) and value["interval"] == pytest.approx(
        [0.5, 0.5], abs=1e-6
    )
    assert claims["heads 1's median final metric above heads 2's highest"]["verdict"] != "agrees"


CENSORED = """
[[analysis.claims]]
kind = "band"
label = "heads 1 needs 30–90 per x"
x = "task.set_size"
where = { "model.heads" = 1 }
within = [30, 90]
[[analysis.claims]]
kind = "growth"
label = "heads 2 almost independent"
x = "task.set_size"
where = { "model.heads" = 2 }
margin = 0.1
"""


def test_a_median_beyond_the_budget_can_still_disagree_and_falling_needs_are_not_flat(tmp_path, capsys):
    """700·x passes the 4,000-sample budget at x ≥ 8: those medians are only known to exceed
    4000/x (250 and 500 per x), which is enough to lie outside [30, 90]. 1000/x falls as x grows:
    not "almost independent of x"."""
    claims = _analyze(tmp_path, capsys, lambda h, x: 700 * x if h == 1 else 1000 / x, CENSORED)
    band = claims["heads 1 needs 30–90 per x"]
    assert band["verdict"] == "disagrees"
    censored = [v for v in band["values"] if v.get("censored")]
    assert [v["x"] for v in censored] == [8, 16] and all(v["verdict"] == "disagrees" for v in censored)
    assert censored[0]["interval"][0] == pytest.approx(4000 / 8, rel=0.02) and censored[0]["interval"][1] is None
    assert claims["heads 2 almost independent"]["verdict"] == "disagrees"


HEADS = """
[[analysis.claims]]
kind = "not_reached"
label = "one head does not learn"
where = { "model.heads" = 1 }
control = { "model.heads" = 2 }
[[analysis.claims]]
kind = "reached"
label = "two heads learn"
where = { "model.heads" = 2 }
above = 0.5
margin = 0
"""


def test_cannot_learn_is_inconclusive_when_the_control_does_not_learn_in_the_same_budget(tmp_path, capsys):
    """Both need ~8,000 samples and the budget is 4,000: nothing reaches the threshold, so
    "one head does not learn" shows nothing; with a learning control it is decided."""
    claims = _analyze(tmp_path, capsys, lambda h, x: 8000, HEADS)
    (value,) = claims["one head does not learn"]["values"]
    assert claims["one head does not learn"]["verdict"] == "inconclusive"
    assert "control reached the threshold in 0 of 32 seeds" in claims["one head does not learn"]["reason"]
    assert claims["two heads learn"]["verdict"] == "disagrees" and value["control"]["reached"] == 0
    learnt = _analyze(tmp_path, capsys, lambda h, x: 8000 if h == 1 else 100, HEADS)
    (value,) = learnt["one head does not learn"]["values"]
    assert learnt["one head does not learn"]["verdict"] == "agrees"  # 0/32 vs 32/32: [0.82, 1] ≥ 0.8
    assert value["estimate"] == 1 and value["interval"][0] > 0.8
    assert learnt["two heads learn"]["verdict"] == "agrees"


TREND = """
[[analysis.claims]]
kind = "trend"
label = "more data with more heads"
along = "model.heads"
above = 0
[[analysis.claims]]
kind = "trend"
label = "less data at larger N"
along = "task.set_size"
where = { "model.heads" = 2 }
below = 0
"""


def test_a_trend_orders_cells_and_reads_the_slope_of_ln_y_per_step(tmp_path, capsys):
    """heads 1 needs 50·x, heads 2 needs 100·x: ln 2 more per step of heads, at every N; N doubles per step."""
    claims = _analyze(tmp_path, capsys, lambda h, x: 50 * h * x, TREND)
    heads, size = claims["more data with more heads"], claims["less data at larger N"]
    assert heads["verdict"] == "agrees" and len(heads["values"]) == 4  # one trend per N
    assert all(v["estimate"] == pytest.approx(np.log(2), abs=0.1) and v["order"] == ["1", "2"] for v in heads["values"])
    assert size["verdict"] == "disagrees" and size["values"][0]["estimate"] == pytest.approx(np.log(2), abs=0.1)


def test_a_trend_written_with_x_before_along_existed_still_loads():
    """Study files kept in stores name a trend's ordering key ``x``: it is read as ``along``."""
    from samplelab.spec.claims import ClaimConfig

    claim = ClaimConfig(kind="trend", label="old", x="model.heads", above=0)
    assert claim.along == "model.heads" and claim.x is None


def test_a_flat_trend_on_grid_values_is_not_read_as_falling(tmp_path, capsys):
    """Equal medians in every cell (a floor the grid cannot resolve): slope exactly 0, never ±1e-17."""
    claims = _analyze(tmp_path, capsys, lambda h, x: 500, TREND, noise=0.0)
    heads = claims["more data with more heads"]
    assert all(v["estimate"] == 0.0 for v in heads["values"]) and heads["verdict"] != "disagrees"
