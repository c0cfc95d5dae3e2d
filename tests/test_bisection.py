"""Bisected training-set sizes (``[analysis.sequential] sizes = "bisect"``): a seed trains only
the sizes that bracket its data needed, at each threshold the analysis reads; the outcome at
every other size is implied, so the cells equal the whole grid's where reaching is monotone;
a run stopped between rounds and resumed ends with the uninterrupted store."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from samplelab.analysis.bisection import next_probes
from samplelab.analysis.cells import _implied_success_matrix, collect_cells
from samplelab.analysis.runs import grid_run_by_cell_and_seed, load_study_runs
from samplelab.core.errors import ConfigError
from samplelab.ledger.store import ResultStore, RunRecord
from samplelab.spec.study import REFINEMENT_KEY, cell_point, load_study, with_n_train
from samplelab.sweep.refine import plan_round
from samplelab.sweep.runner import register_runs, run_study, train_runs
from samplelab.sweep.sequential import next_round, run_until_decided

# 2 set sizes × 5 training-set sizes × 4 seeds = 40 runs; the claims read data needed at the
# study's threshold and at 40% of the baseline.
STUDY = """
name = "bisection"
seeds = 4
[task]
name = "setfind2"
[model]
name = "transformer"
d_model = 8
heads = 2
mlp_width = 16
[training]
regime = "fixed"
steps = 120
batch_size = 8
eval_every = 60
test_size = 32
[measurement]
threshold_relative = 0.9
[grid]
"task.set_size" = [4, 6]
"training.n_train" = [2, 4, 8, 16, 64]

[[analysis.fits]]
x = "task.set_size"
y = "km_median"
law = "power"

[[analysis.claims]]
kind = "band"
label = "data needed within 1–8 per set element, at 40% of the baseline"
x = "task.set_size"
within = [1, 8]
threshold_relative = 0.4
"""
BISECT = """
[analysis.sequential]
looks = []
sizes = "bisect"
"""
SIZES = 5  # per cell and seed; bisection trains at most ⌈log₂(5 + 1)⌉ = 3 of them per threshold


@pytest.fixture
def study_file(tmp_path):
    def write(*parts: str):
        path = tmp_path / "bisection.toml"
        path.write_text("".join(parts))
        return path

    return write


def _success(runs):
    """(cell, seed) → success per sorted size, at the runs' thresholds."""
    rows = {}
    for record in sorted(runs.records, key=lambda r: r.n_train):
        rows.setdefault((cell_point(record.point), record.seed), []).append(
            math.isfinite(record.final_metric) and record.final_metric <= runs.thresholds[record.run_key]
        )
    return rows


def test_bisected_sizes_imply_the_whole_grids_cells(study_file, tmp_path):
    """Train the whole grid, then copy into a second store only the runs bisection asks for,
    round by round: each (cell, seed) has at most 3 runs per threshold, and wherever reaching
    is monotone in the size the bisected cells (sizes implied) equal the whole grid's."""
    whole_study = load_study(study_file(STUDY))
    bisected = load_study(study_file(STUDY, BISECT))
    fractions = bisected.analysis.threshold_fractions
    assert fractions == [None, 0.4]
    with ResultStore(tmp_path / "whole.sqlite") as whole, ResultStore(tmp_path / "bisected.sqlite") as part:
        run_study(whole_study, whole, max_ensemble=1)
        by_key = {r.run_key: r for r in whole.study_runs(whole_study.name, whole_study.profile)}
        register_runs(bisected, bisected.runs, part)
        rounds = 0
        while probes := next_probes(bisected.runs, load_study_runs(bisected, part), fractions):
            part.write_runs([by_key[s.key] for s in probes])
            rounds += 1
        full, kept = load_study_runs(whole_study, whole), load_study_runs(bisected, part)
        per_group = {}
        for record in kept.records:
            key = (cell_point(record.point), record.seed)
            per_group[key] = per_group.get(key, 0) + 1
        assert 1 <= rounds <= 3  # ⌈log₂(5 + 1)⌉: both thresholds bisect side by side
        assert len(kept.records) < len(full.records) == 40
        for fraction in fractions:  # each threshold's own path: at most 3 of the 5 sizes per (cell, seed)
            path = {}
            while probes := next_probes(bisected.runs, replace(kept, records=[by_key[k] for k in path]), [fraction]):
                path.update({s.key: (cell_point(s.point), s.seed) for s in probes})
            assert max(list(path.values()).count(group) for group in set(path.values())) <= 3
        compared = seeds_compared = 0
        settings = {"bootstrap": 100}
        for fraction in fractions:
            at_full = full if fraction is None else full.at_threshold_relative(fraction)
            at_kept = kept if fraction is None else kept.at_threshold_relative(fraction)
            monotone = {key for key, row in _success(at_full).items() if row == sorted(row)}
            cells_full = collect_cells(at_full, whole_study.analysis.model_copy(update=settings))
            cells_kept = collect_cells(at_kept, bisected.analysis.model_copy(update=settings))
            for a, b in zip(cells_full, cells_kept, strict=True):
                assert a.point == b.point and a.seeds == b.seeds
                point = cell_point(a.records[0].point)
                rows = [i for i, seed in enumerate(a.seeds) if (point, seed) in monotone]
                assert np.array_equal(a.needed[rows], b.needed[rows]) and np.array_equal(
                    a.reached[rows], b.reached[rows]
                )
                seeds_compared += len(rows)
                if len(rows) == len(a.seeds):  # every seed monotone: the whole success matrix is implied
                    assert a.sizes == b.sizes and np.array_equal(a.success, b.success)
                    assert a.n_star.value == b.n_star.value
                    compared += 1
        assert seeds_compared >= 8  # of 16 (cell, seed) rows per threshold, most are monotone


def test_refine_on_bisected_sizes_trains_only_the_seeds_whose_outcome_is_not_implied(study_file, tmp_path):
    """A refinement size inside a cell's n* bracket is trained only for the seeds whose other
    runs do not imply its outcome at every threshold. Trained for every seed in a second
    store, the others give the outcomes that were implied wherever reaching is monotone."""
    # n* at half the seeds and 99% of the baseline: reached inside this tiny grid
    loose = STUDY.replace("threshold_relative = 0.9", "threshold_relative = 0.99")
    study = load_study(study_file(loose, BISECT, "\n[analysis]\ndelta = 0.5\n"))
    settings = study.analysis.model_copy(update={"bootstrap": 50})
    with ResultStore(tmp_path / "some.sqlite") as some, ResultStore(tmp_path / "every.sqlite") as every:
        # One run per program: one compile per set size (the test is about which runs train).
        run_until_decided(study, some, max_ensemble=1)
        register_runs(study, study.runs, every)
        every.write_runs(some.study_runs(study.name, study.profile))
        specs, statuses = plan_round(study, some, ratio=1.0, round_number=1)
        base = grid_run_by_cell_and_seed(study)
        all_specs = [
            replace(refined, point={**refined.point, REFINEMENT_KEY: 1})
            for status in statuses
            if status.added
            for seed in sorted({s.seed for s in study.runs})
            for refined in [with_n_train(base[(cell_point(status.point), seed)], status.added)]
        ]
        assert {s.key for s in specs} < {s.key for s in all_specs}  # some seeds' outcomes were implied
        for store, chosen in ((some, specs), (every, all_specs)):
            register_runs(study, chosen, store)
            train_runs(chosen, store, max_ensemble=1)
        for fraction in study.analysis.threshold_fractions:
            implied, trained = (load_study_runs(study, store) for store in (some, every))
            if fraction is not None:
                implied, trained = implied.at_threshold_relative(fraction), trained.at_threshold_relative(fraction)
            monotone = {key for key, row in _success(trained).items() if row == sorted(row)}
            for a, b in zip(collect_cells(implied, settings), collect_cells(trained, settings), strict=True):
                point = cell_point(a.records[0].point)
                rows = [i for i, seed in enumerate(a.seeds) if (point, seed) in monotone]
                assert np.array_equal(a.needed[rows], b.needed[rows]) and np.array_equal(
                    a.reached[rows], b.reached[rows]
                )
                if len(rows) == len(a.seeds):
                    assert a.sizes == b.sizes and np.array_equal(a.success, b.success)


def _rows(store: ResultStore, study) -> dict:
    return {r.run_key: (r.status, r.seed, r.test_metric.tolist()) for r in store.study_runs(study.name, study.profile)}


def test_until_decided_bisects_in_rounds_and_a_stopped_run_resumes_to_the_same_store(study_file, tmp_path):
    study = load_study(study_file(STUDY, BISECT))
    with ResultStore(tmp_path / "straight.sqlite") as straight, ResultStore(tmp_path / "stopped.sqlite") as stopped:
        outcome = run_until_decided(study, straight, max_ensemble=6)
        assert outcome.stopped == "last look" and 2 <= len(outcome.rounds) <= 6
        assert len(outcome.rounds[0]) == 8  # round 1: the middle size of every (cell, seed)
        assert {s.config.training.n_train for s in outcome.rounds[0]} == {8}
        assert outcome.stored_runs < 40 and outcome.stored_runs == sum(len(r) for r in outcome.rounds)
        assert not next_probes(study.runs, load_study_runs(study, straight), study.analysis.threshold_fractions)

        first = run_until_decided(study, stopped, max_runs=len(outcome.rounds[0]) + 1, max_ensemble=6)
        assert first.stopped == "budget" and first.stored_runs == 8
        resumed = run_until_decided(study, stopped, max_ensemble=6)
        assert resumed.stored_runs == outcome.stored_runs
        assert _rows(stopped, study) == _rows(straight, study)
        keys = lambda rounds: [[s.key for s in r] for r in rounds]  # noqa: E731
        assert keys(resumed.rounds) == keys(outcome.rounds)  # the same rounds, the stored ones replayed

    # Killed inside round 2 (some of its ensembles stored): the resumed run plans round 2
    # again from round 1's runs alone, not a round 3 from the runs round 2 left.
    with ResultStore(tmp_path / "straight.sqlite") as straight, ResultStore(tmp_path / "killed.sqlite") as killed:
        by_key = {r.run_key: r for r in straight.study_runs(study.name, study.profile)}
        run_until_decided(study, killed, max_runs=len(outcome.rounds[0]) + 1, max_ensemble=6)
        killed.write_runs([by_key[s.key] for s in outcome.rounds[1][: len(outcome.rounds[1]) // 2]])
        assert keys([next_round(study, killed)]) == keys(outcome.rounds[1:2])  # what --dry-run shows
        resumed = run_until_decided(study, killed, max_ensemble=6)
        assert next_round(study, killed) is None
        assert keys(resumed.rounds) == keys(outcome.rounds)
        assert _rows(killed, study) == _rows(straight, study)
        from samplelab.analysis.document import analyze_study

        claims = analyze_study(load_study_runs(study, straight))["claims"]
        assert [c["sequential"]["stopped"] for c in claims] in (["decided"], ["last look"])  # no probe missing


def test_bisect_refuses_what_it_cannot_imply(study_file):
    with pytest.raises(ConfigError, match="reads final_metric"):
        load_study(study_file(STUDY, BISECT, '\n[[analysis.fits]]\nx = "task.set_size"\ny = "final_metric"\n'))
    online = STUDY.replace('regime = "fixed"', 'regime = "online"').replace(
        '"training.n_train" = [2, 4, 8, 16, 64]', ""
    )
    with pytest.raises(ConfigError, match="needs the fixed regime"):
        load_study(study_file(online, BISECT))


def _record(seed: int, n_train: int, reached: bool) -> RunRecord:
    metric = np.array([1.0, 0.1 if reached else 0.9])
    return RunRecord(f"{seed}-{n_train}", "ok", "t", "m", seed, n_train, 1e-3, 1.0, 8, np.array([0, 10]), metric,
                     metric, "{}")  # fmt: skip


def test_implied_outcomes_fill_untrained_sizes_and_drop_what_they_cannot_imply():
    grid = {2, 4, 8, 16, 64}
    by_seed = {
        0: [_record(0, 8, True), _record(0, 4, False)],  # bracket (4, 8]: 2 missed, 16 and 64 reached
        1: [_record(1, 8, False), _record(1, 64, True), _record(1, 16, True)],  # (8, 16]
        2: [_record(2, 8, False), _record(2, 64, False)],  # never: everything missed
    }
    thresholds = {r.run_key: 0.5 for rs in by_seed.values() for r in rs}
    sizes, success = _implied_success_matrix(by_seed, thresholds, grid)
    assert sizes == [2, 4, 8, 16, 64]
    assert success.tolist() == [
        [False, False, True, True, True],
        [False, False, False, True, True],
        [False, False, False, False, False],
    ]
    # reached at 4 but missed at 16: 8 is neither stored nor implied for seed 3, so no seed's 8 is read
    by_seed[3] = [_record(3, 4, True), _record(3, 16, False)]
    thresholds.update({r.run_key: 0.5 for r in by_seed[3]})
    sizes, success = _implied_success_matrix(by_seed, thresholds, grid)
    assert sizes == [2, 4, 16, 64] and success[3].tolist() == [False, True, False, True]


def test_bisect_accepts_data_needed_claims_and_refuses_the_rest(study_file):
    from samplelab.spec.analysis import AnalysisConfig, check_sequential

    ratio = {"kind": "compare", "label": "r", "x": "task.set_size", "of": "ratio", "y": "n_star",
             "where": {"model": "a"}, "than": {"model": "b"}, "above": 1, "margin": 0.1}  # fmt: skip
    grid = {"task.set_size": [4, 6], "training.n_train": [2, 4]}
    sequential = {"looks": [], "sizes": "bisect"}
    check_sequential(AnalysisConfig.model_validate({"claims": [ratio], "sequential": sequential}), 4, grid)
    paired = {**ratio, "kind": "paired", "of": "test_accuracy", "x": None}
    with pytest.raises(ConfigError, match="reads the outcome test_accuracy"):
        check_sequential(AnalysisConfig.model_validate({"claims": [paired], "sequential": sequential}), 4, grid)
    outcomes = STUDY.replace("[[analysis.fits]]", "[analysis]\noutcomes = true\n\n[[analysis.fits]]", 1)
    with pytest.raises(ConfigError, match=r"analysis\.outcomes reads the outcomes"):
        load_study(study_file(outcomes, BISECT))


def test_a_threshold_bisection_did_not_follow_is_refused_in_one_line(study_file, tmp_path, capsys):
    from samplelab.cli import main

    path = str(study_file(STUDY, BISECT))
    assert main(["analyze", path, "--store", str(tmp_path / "s.sqlite"), "--threshold-relative", "0.3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "bisects its sizes at the thresholds its analysis reads (its own and 0.4)" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "s.sqlite").exists()
