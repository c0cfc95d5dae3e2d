"""A minutes budget (``--max-minutes``): no ensemble starts after it, a claim whose runs are not
all stored says so instead of being judged on what happens to be stored, and the next call
ends with the store an unbudgeted run makes."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

from samplelab.analysis.document import analyze_study
from samplelab.analysis.runs import load_study_runs
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import load_study
from samplelab.sweep.runner import RunProgress, run_study
from samplelab.sweep.sequential import run_until_decided
from test_sequential import LOOKS, STUDY, UNDECIDABLE, _rows


@pytest.fixture
def clock(monkeypatch):
    """A clock for the runner and the planner that stands still until ``clock.jump()``, which
    puts it an hour later: a budget that runs out exactly after the ensemble that jumps it."""
    now = [0.0]
    fake = SimpleNamespace(monotonic=lambda: now[0], sleep=time.sleep, perf_counter=time.perf_counter)
    monkeypatch.setattr("samplelab.sweep.runner.time", fake)
    monkeypatch.setattr("samplelab.sweep.sequential.time", fake)
    return SimpleNamespace(jump=lambda *_: now.__setitem__(0, 3600.0))


def _write(tmp_path, *parts: str):
    path = tmp_path / "budget.toml"
    path.write_text("".join(parts))
    return load_study(path)


def _claims(study, store) -> dict[str, dict]:
    return {claim["label"]: claim for claim in analyze_study(load_study_runs(study, store))["claims"]}


def test_a_budget_spent_after_one_ensemble_leaves_the_fixed_design_unjudged_and_a_rerun_finishes_it(clock, tmp_path):
    study = _write(tmp_path, STUDY, UNDECIDABLE)
    with ResultStore(tmp_path / "reference.sqlite") as store:
        run_study(study, store, max_ensemble=3)
        judged = _claims(study, store)
    with ResultStore(tmp_path / "cut.sqlite") as store:
        stored = run_study(study, store, max_ensemble=3, deadline=60.0, progress=RunProgress(on_ensemble=clock.jump))
        assert stored == 3  # the first ensemble only: the budget ran out while it trained
        cut = _claims(study, store)
        for label, claim in cut.items():
            assert claim["verdict"] == "inconclusive", label
            assert re.search(r"\d+ of the 10 runs it reads are not stored", claim["reason"]), claim["reason"]
        assert run_study(study, store, max_ensemble=3) == 20 - 3
        assert _claims(study, store) == judged
    assert _rows(tmp_path / "cut.sqlite") == _rows(tmp_path / "reference.sqlite")


def test_a_budget_that_cuts_a_look_stops_the_sequential_run_and_the_next_call_ends_as_an_uncut_one(clock, tmp_path):
    study = _write(tmp_path, STUDY, UNDECIDABLE, LOOKS)
    with ResultStore(tmp_path / "reference.sqlite") as store:
        run_until_decided(study, store, max_ensemble=3)
    with ResultStore(tmp_path / "cut.sqlite") as store:
        progress = RunProgress(on_ensemble=clock.jump)
        outcome = run_until_decided(study, store, max_ensemble=3, deadline=60.0, progress=progress)
        assert (outcome.stopped, outcome.stored_runs) == ("budget", 3)
        for claim in _claims(study, store).values():
            assert (claim["verdict"], claim["sequential"]["stopped"]) == ("inconclusive", "incomplete")
        assert run_until_decided(study, store, max_ensemble=3).stopped == "last look"
    assert _rows(tmp_path / "cut.sqlite") == _rows(tmp_path / "reference.sqlite")


def test_a_study_with_no_stored_runs_lists_each_claim_once_unjudged(tmp_path):
    from pathlib import Path

    from samplelab.sweep.runner import register_runs

    # Its theory is read with two estimates of d (two fits, one label): one claim, as when fitted.
    study = load_study(Path(__file__).parents[1] / "studies" / "manifold_data_scaling.toml", "quick")
    with ResultStore(tmp_path / "empty.sqlite") as store:
        register_runs(study, study.runs, store)
        claims = analyze_study(load_study_runs(study, store))["claims"]
    assert len(study.analysis.fits) == len(claims) == len({claim["label"] for claim in claims}) == 2
    assert {claim["verdict"] for claim in claims} == {"inconclusive"}
    assert all(f"of the {len(study.runs)} runs it reads are not stored" in claim["reason"] for claim in claims)


def test_an_ensemble_that_fails_after_the_budget_is_not_retried_nor_recorded_as_failed(clock, tmp_path):
    from samplelab.ledger.leases import failed_runs
    from samplelab.sweep.runner import train_runs

    class FailsOnce:  # an executor whose ensemble fails while the budget runs out
        slots, submitted = 1, 0

        def submit(self, ensemble):
            self.submitted += 1
            return self.submitted

        def wait(self, handles):
            clock.jump()
            return [(handle, RuntimeError("out of memory")) for handle in handles]

        def close(self):
            pass

    study, executor = _write(tmp_path, STUDY), FailsOnce()
    with ResultStore(tmp_path / "runs.sqlite") as store:
        assert train_runs(study.runs, store, max_ensemble=3, executor=executor, deadline=60.0) == 0
        assert executor.submitted == 1 and failed_runs(store) == []  # a later call tries it afresh
