"""The sequential design: a decided claim stops its cells early, an undecidable one runs to its
last look or its budget and says which, kill -9 then resume gives the uninterrupted store, and
the stopping rule errs no more often than its nominal level on simulated studies."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from samplelab.analysis.document import analyze_study
from samplelab.analysis.reach import rate_reach, unreachable_agreements
from samplelab.analysis.runs import load_study_runs
from samplelab.analysis.sequential import Look, look_decision
from samplelab.cli import main
from samplelab.core.errors import ConfigError
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import load_study, load_study_text
from samplelab.stats.bootstrap import student_interval
from samplelab.stats.sequential import decision_probability, rate_decision_probability, spending
from samplelab.stats.verdict import Region, clopper_pearson, rate_difference_interval, verdict
from samplelab.sweep.sequential import run_until_decided

# 2 set sizes × 2 training-set sizes × 5 seeds = 20 runs (two cells: one per set size); looks
# after 3 seeds and after all 5.
STUDY = """
name = "sequential"
seeds = 5
[task]
name = "setfind2"
[model]
name = "transformer"
d_model = 8
heads = 2
mlp_width = 16
[training]
regime = "fixed"
steps = 100
batch_size = 8
eval_every = 50
test_size = 32
[grid]
"task.set_size" = [4, 6]
"training.n_train" = [8, 16]

# Decided at any look: a rate of seeds is at least 0 (exact intervals need no widening).
[[analysis.claims]]
kind = "reached"
label = "set size 4: reached by at least none"
where = { "task.set_size" = 4 }
above = 0.0
"""
# Never decided: an exact interval from 3 (99%) or 5 seeds (96%) always straddles one half.
UNDECIDABLE = """
[[analysis.claims]]
kind = "reached"
label = "set size 6: reached by half"
where = { "task.set_size" = 6 }
above = 0.5
"""
LOOKS = """
[analysis.sequential]
looks = [3]
futility = false
"""


@pytest.fixture
def study_file(tmp_path):
    def write(*parts: str):
        path = tmp_path / "sequential.toml"
        path.write_text("".join(parts))
        return path

    return write


def _claims(study, store) -> dict[str, dict]:
    document = analyze_study(load_study_runs(study, store))
    return {claim["label"]: claim for claim in document["claims"]}


def test_a_decided_claim_stops_the_study_after_its_first_look(study_file, tmp_path):
    study = load_study(study_file(STUDY, LOOKS))
    with ResultStore(tmp_path / "runs.sqlite") as store:
        outcome = run_until_decided(study, store, max_ensemble=1)
        assert outcome.stopped == "decided"
        assert [len(look) for look in outcome.rounds] == [12]  # 4 grid points × the first 3 seeds; no more
        assert outcome.stored_runs == 12 and outcome.stored_model_steps == 12 * 100
        (claim,) = _claims(study, store).values()
    assert claim["verdict"] == "agrees"
    expected = {"look": 1, "looks": 2, "seeds": 3, "alpha": 0.01, "confidence": 0.99, "interval": "exact"}
    assert claim["sequential"] == {**expected, "stopped": "decided"}


def test_an_undecided_claim_gets_more_seeds_only_in_its_own_cells_then_ends_at_the_last_look(study_file, tmp_path):
    study = load_study(study_file(STUDY, UNDECIDABLE, LOOKS))
    with ResultStore(tmp_path / "runs.sqlite") as store:
        outcome = run_until_decided(study, store, max_ensemble=1)
        claims = _claims(study, store)
        stored = {(r.point["task.set_size"], r.seed) for r in store.study_runs(study.name, study.profile)}
    assert outcome.stopped == "last look"
    assert [len(look) for look in outcome.rounds] == [12, 4]  # then seeds 3 and 4 at both sizes of set size 6
    assert {seed for size, seed in stored if size == 4} == {0, 1, 2}
    assert {seed for size, seed in stored if size == 6} == {0, 1, 2, 3, 4}
    decided, undecided = claims["set size 4: reached by at least none"], claims["set size 6: reached by half"]
    assert (decided["verdict"], decided["sequential"]["look"], decided["sequential"]["stopped"]) == (
        "agrees",
        1,
        "decided",
    )
    assert undecided["verdict"] == "inconclusive"
    assert undecided["sequential"]["stopped"] == "last look" and undecided["sequential"]["seeds"] == 5
    assert undecided["sequential"]["confidence"] == pytest.approx(0.96)
    assert undecided["values"][0]["seeds"] == 5  # the last look read all five seeds of its cell


def test_a_budget_stops_before_a_look_and_the_claim_says_so(study_file, tmp_path):
    study = load_study(study_file(STUDY, UNDECIDABLE, LOOKS))
    with ResultStore(tmp_path / "runs.sqlite") as store:
        outcome = run_until_decided(study, store, max_runs=14, max_ensemble=1)  # the second look would make 16
        claims = _claims(study, store)
    assert outcome.stopped == "budget" and outcome.stored_runs == 12
    undecided = claims["set size 6: reached by half"]
    assert undecided["verdict"] == "inconclusive"
    assert undecided["sequential"]["stopped"] == "budget" and undecided["sequential"]["look"] == 1


def test_a_claim_whose_next_look_failed_says_failed_not_budget(study_file, tmp_path):
    from samplelab.ledger.leases import record_failure
    from samplelab.sweep.sequential import look_runs

    study = load_study(study_file(STUDY, UNDECIDABLE, LOOKS))
    with ResultStore(tmp_path / "runs.sqlite") as store:
        run_until_decided(study, store, max_runs=14, max_ensemble=1)  # look 1 only
        failing = [s.key for s in look_runs(study, (3, 4), None) if s.point["task.set_size"] == 6]
        record_failure(store, failing[:1], RuntimeError("out of memory"), attempts=3)
        assert _claims(study, store)["set size 6: reached by half"]["sequential"]["stopped"] == "budget"  # 3 untried
        record_failure(store, failing, RuntimeError("out of memory"), attempts=3)
        undecided = _claims(study, store)["set size 6: reached by half"]
    assert undecided["verdict"] == "inconclusive"
    assert undecided["sequential"]["stopped"] == "failed" and undecided["sequential"]["look"] == 1
    assert undecided["reason"] == "4 of look 2's runs failed every attempt (the store's failed_runs table)"


def test_the_whole_design_and_the_sequential_one_give_the_same_verdicts(study_file, tmp_path):
    """A look reads only its own seeds, so a store holding every run judges as the sequential run's does."""
    study = load_study(study_file(STUDY, UNDECIDABLE, LOOKS))
    with ResultStore(tmp_path / "whole.sqlite") as whole, ResultStore(tmp_path / "sequential.sqlite") as sequential:
        from samplelab.sweep.runner import run_study

        run_study(study, whole, max_ensemble=1)
        run_until_decided(study, sequential, max_ensemble=1)
        judged = [
            {k: (c["verdict"], c["sequential"]) for k, c in _claims(study, s).items()} for s in (whole, sequential)
        ]
    assert judged[0] == judged[1]


def test_sequential_settings_are_checked_in_one_line(study_file, capsys, tmp_path):
    with pytest.raises(ConfigError, match="must stay below the study's 5 seeds"):
        load_study(study_file(STUDY, "[analysis.sequential]\nlooks = [5]\n"))
    with pytest.raises(ConfigError, match=r"sums to 0\.03"):
        load_study(study_file(STUDY, "[analysis.sequential]\nlooks = [3]\nalpha = [0.01, 0.02]\n"))
    with pytest.raises(ConfigError, match="increasing seed counts"):
        load_study(study_file(STUDY, "[analysis.sequential]\nlooks = [3, 2]\n"))
    plain = study_file(STUDY)
    assert main(["run", str(plain), "--store", str(tmp_path / "s.sqlite"), "--until-decided"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--until-decided needs the study's looks" in err and len(err.splitlines()) == 1
    assert main(["run", str(plain), "--store", str(tmp_path / "s.sqlite"), "--max-runs", "3"]) == 2
    assert not (tmp_path / "s.sqlite").exists()


def test_default_spending_keeps_most_of_the_error_rate_for_the_last_look():
    assert spending(1, 0.05) == pytest.approx([0.01, 0.04])
    assert spending(2, 0.05) == pytest.approx([0.01, 0.01, 0.03])
    assert spending(4, 0.05) == pytest.approx([0.00625] * 4 + [0.025])


def test_student_interval_and_the_futility_prediction():
    replicates = np.array([0.0, 1.0, 2.0, 1.0])  # sd 0.8165
    low, high = student_interval(1.0, replicates, 0.99, 3)
    assert high - 1.0 == pytest.approx(9.925 * 0.8165 * np.sqrt(1.5), rel=1e-3)
    assert 1.0 - low == pytest.approx(high - 1.0)
    assert np.isnan(student_interval(1.0, np.array([1.0, np.nan, np.nan]), 0.95, 3, nan_is_above=True)).all()
    assert student_interval(1.0, np.array([0.5, 1.5, np.nan]), 0.95, 3, nan_is_above=True)[1] == np.inf
    # an estimate far inside its region from a narrow interval: the last look decides it
    assert decision_probability(5.0, (4.0, 6.0), (1.0, np.inf), (3, 5), 9.925, 0.04) > 0.99
    # SE 0.01 today (half-width 0.0993 at t 9.925): the last look's half-width 2.054 × 0.01 × √(3/5)
    half = 2.054 * 0.01 * np.sqrt(0.6)
    on_edge = decision_probability(1.0, (0.9007, 1.0993), (1.0, np.inf), (3, 5), 9.925, 0.04)
    assert on_edge < 0.1  # today's estimate on the edge: the last look's interval straddles it
    assert decision_probability(1.0 + half, (0.9, 1.1), (1.0, np.inf), (3, 5), 9.925, 0.04) == pytest.approx(
        0.5, abs=0.02
    )


def _simulated_chance(rates, region, alpha, floor=None, draws=20000, seed=0) -> float:
    """Monte Carlo of the rate prediction: each rate from its Jeffreys posterior, then the
    last look's remaining runs from it, judged with the last look's exact interval."""
    rng = np.random.default_rng(seed)
    finals = [k + rng.binomial(last - now, rng.beta(k + 0.5, now - k + 0.5, draws)) for k, now, last in rates]
    runs = [last for _, _, last in rates]
    decided = 0
    for final in zip(*finals, strict=True):
        if len(runs) == 1:
            interval = clopper_pearson(int(final[0]), runs[0], 1 - alpha)
        elif floor is not None and final[0] / runs[0] < floor:
            continue
        else:
            interval = rate_difference_interval((int(final[0]), int(final[1])), tuple(runs), 1 - alpha)
        decided += verdict(interval, region) != "inconclusive"
    return decided / draws


@pytest.mark.parametrize(
    ("rates", "region", "floor"),
    [
        ([(6, 6, 10)], Region(low=0.9), None),  # 10 of 10 is [0.68, 1]: it can disagree, not agree
        ([(5, 6, 10)], Region(low=0.9), None),
        ([(30, 30, 50)], Region(low=0.9), None),  # 50 of 50 is [0.925, 1]: agrees
        ([(6, 6, 10), (0, 6, 10)], Region(low=0.8), 0.9),  # not reached vs a control
        ([(29, 30, 60), (1, 30, 60)], Region(low=0.8), 0.9),
        ([(30, 30, 90), (3, 30, 90)], Region(low=0.8), 0.9),
    ],
)
def test_the_rate_futility_prediction_is_exact(rates, region, floor):
    chance = rate_decision_probability(rates, region, 0.04, floor)
    assert chance == pytest.approx(_simulated_chance(rates, region, 0.04, floor), abs=0.015)


def _reached(runs: int, cells: int) -> dict:
    interval = list(clopper_pearson(runs, runs, 0.99))
    judged = verdict(interval, Region(low=0.9))
    value = {"reached": runs, "seeds": runs, "cells": cells, "estimate": 1.0, "interval": interval, "verdict": judged}
    return {"kind": "reached", "source": "claim", "reason": None, "region": [0.9, None], "margin": 0.0,
            "verdict": judged, "values": [value]}  # fmt: skip


def test_a_rate_claim_the_last_look_cannot_decide_is_futile():
    """Every run reached at the first look (the normal prediction saw room above a rate of 1
    and kept such claims open): 6 of 6 in 2 cells can end at most 10 of 10, [0.68, 1] at 96%,
    which never agrees; 30 of 30 in 10 cells can end 50 of 50, [0.925, 1], which agrees."""
    first, last = Look(1, (0, 1, 2), 0.01), Look(2, (0, 1, 2, 3, 4), 0.04)
    assert look_decision(_reached(6, 2), first, last) == "futile"
    assert look_decision(_reached(30, 10), first, last) == "open"
    assert look_decision(_reached(6, 2), first, last, futility=False) == "open"


def test_a_dry_run_says_which_rate_claims_the_design_cannot_let_agree(tmp_path, capsys):
    """qstr_heads' quick design: 2 cells × 5 seeds; 10 of 10 is [0.68, 1] at the last look's
    96%, so no claim can agree. With 40 seeds the reached claims can (80 of 80: [0.95, 1])."""
    path = Path(__file__).resolve().parents[1] / "studies" / "qstr_heads.toml"
    lines = unreachable_agreements(load_study(path, "quick"))
    assert len(lines) == 4 and all("cannot agree" in line and "it can disagree but not agree" in line for line in lines)
    assert "even 10 of 10 reached is [0.68, 1.00] at 96%" in lines[0] and "agreeing needs 38 of 38" in lines[0]
    many = load_study_text(path.read_text().replace("[profiles.quick]\nseeds = 5", "[profiles.quick]\nseeds = 40"),
                           str(path), "quick")  # fmt: skip
    assert not any("is learnt" in line for line in unreachable_agreements(many))
    reach = rate_reach(many, many.analysis.claims[0], 0.95, 0.1)
    assert reach.runs == 80 and reach.verdicts == {"agrees", "disagrees", "inconclusive"}
    assert reach.runs_to_agree == 36  # 35 of 35 is [0.89997, 1] at 95%, 36 of 36 [0.9026, 1]
    assert main(["run", str(path), "--profile", "quick", "--dry-run", "--store", str(tmp_path / "s.sqlite")]) == 0
    assert capsys.readouterr().out.count("cannot agree at this design") == 4


def _rows(path) -> dict:
    with sqlite3.connect(path) as db:
        runs = {row[0]: row for row in db.execute("SELECT run_key, status, seed, final_metric, test_metric FROM runs")}
        members = sorted(db.execute("SELECT run_key, point_json FROM study_runs"))
    return {"runs": runs, "study_runs": members}


def _stored(path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_during_a_sequential_run_then_resume_gives_the_uninterrupted_store(study_file, tmp_path):
    from samplelab.training.compile_cache import enable_compilation_cache

    enable_compilation_cache()  # the subprocesses load these programs instead of compiling them
    path = study_file(STUDY, UNDECIDABLE, LOOKS)
    with ResultStore(tmp_path / "reference.sqlite") as store:
        run_until_decided(load_study(path), store, max_ensemble=3)
    command = [sys.executable, "-m", "samplelab.cli", "run", str(path), "--store", str(tmp_path / "killed.sqlite"),
               "--max-ensemble", "3", "--until-decided"]  # fmt: skip
    rng = np.random.default_rng(1)
    for attempt in range(4):
        before = _stored(tmp_path / "killed.sqlite")
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while attempt % 2 and _stored(tmp_path / "killed.sqlite") == before and process.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.2, 2.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert _rows(tmp_path / "killed.sqlite") == _rows(tmp_path / "reference.sqlite")


def test_the_stopping_rule_errs_no_more_than_its_nominal_rate_on_simulated_studies():
    """5 seeds, a look after 3: the mean of normal seed values, truth 0 on the edge of "≥ 0",
    so a *disagrees* is wrong. With intervals that cover at their level (Student's, from the
    whole-seed bootstrap's standard error: exact for a normal mean), the rule (α spent per
    look, look_decision with its futility stop) must err at most at its nominal level, and no
    more often than the fixed design with the same intervals at 95%. (The analysis' own
    percentile intervals undercover with 5 seeds, in both designs alike: calibration's
    business, bench/calibration.py.)"""
    rng = np.random.default_rng(0)
    looks = [Look(1, (0, 1, 2), 0.01), Look(2, (0, 1, 2, 3, 4), 0.04)]
    region, studies = Region(low=0.0), 4000
    wrong = {"sequential": 0, "fixed": 0}
    seeds_used = 0
    for _ in range(studies):
        values = rng.standard_normal(5)
        for look in looks:
            sample = values[: len(look.seeds)]
            picks = rng.integers(0, sample.size, (200, sample.size))
            estimate = float(sample.mean())
            interval = list(student_interval(estimate, sample[picks].mean(axis=1), 1 - look.alpha, sample.size))
            judged = verdict(interval, region)
            claim = {"kind": "bound", "reason": None, "region": [0.0, None], "margin": 0.0, "verdict": judged,
                     "values": [{"estimate": estimate, "interval": interval, "verdict": judged}]}  # fmt: skip
            stopped = look_decision(claim, look, looks[-1])
            if stopped != "open":
                wrong["sequential"] += stopped == "decided" and judged == "disagrees"
                seeds_used += sample.size
                break
        picks = rng.integers(0, 5, (200, 5))
        interval = student_interval(float(values.mean()), values[picks].mean(axis=1), 0.95, 5)
        wrong["fixed"] += verdict(interval, region) == "disagrees"
    nominal = 0.05 / 2  # one side of the 5% error rate: the truth on the edge can only be wrongly refused
    assert wrong["sequential"] / studies <= nominal + 3 * np.sqrt(nominal * (1 - nominal) / studies)
    assert wrong["sequential"] <= wrong["fixed"] + 2 * np.sqrt(wrong["fixed"])
    assert seeds_used < 4.5 * studies  # futility stopped many at the first look


def test_a_study_file_with_looks_loads_through_its_text():
    study = load_study_text(STUDY + LOOKS, "inline.toml")
    assert study.analysis.sequential.looks == [3]


def _bound(estimate, interval, **extra) -> dict:
    judged = verdict(interval, Region(low=1.0))
    value = {"estimate": estimate, "interval": list(interval), "verdict": judged}
    return {"kind": "bound", "source": "claim", "reason": None, "region": [1.0, None], "margin": 0.0,
            "verdict": judged, "values": [value], **extra}  # fmt: skip


def test_an_interim_look_decides_only_on_two_sided_intervals_without_a_reason():
    first, last = Look(1, (0, 1, 2), 0.01), Look(2, (0, 1, 2, 3, 4), 0.04)
    assert look_decision(_bound(2.0, (1.5, 3.0)), first, last) == "decided"
    assert look_decision(_bound(2.0, (2.0, 3.0)), first, last) != "decided"  # ends at its estimate
    assert look_decision(_bound(2.0, (2.0, 3.0)), last, last) == "decided"  # the last look is the fixed design's
    assert look_decision(_bound(None, (1.5, None)), first, last) != "decided"  # a median not reached: open end
    blocked = _bound(2.0, (1.5, 3.0), reason="one series has too few points")
    assert look_decision(blocked, first, last) != "decided"


def test_futility_never_stops_a_claim_whose_interval_has_an_open_end():
    first, last = Look(1, (0, 1, 2), 0.01), Look(2, (0, 1, 2, 3, 4), 0.04)
    assert look_decision(_bound(1.0, (0.5, 1.5)), first, last) == "futile"  # on the edge: never decided
    assert look_decision(_bound(1.0, (0.5, None)), first, last) == "open"
