"""The store resumes, never duplicates, and never keeps half an ensemble."""

from __future__ import annotations

import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from samplelab.ledger.store import ResultStore, RunRecord, decode_array, encode_array
from samplelab.spec.study import load_study
from samplelab.sweep.ensembles import pending_runs, plan_ensembles
from samplelab.sweep.runner import run_study


def _record(key: str, status: str = "done") -> RunRecord:
    return RunRecord(
        run_key=key, status=status, task="setfind2", model="transformer", seed=0, n_train=8, lr=1e-3,
        baseline=375.0, samples_per_step=8, eval_steps=np.array([0.0, 10.0]), test_metric=np.array([300.0, 2.0]),
        train_loss=np.array([5.0]), config_json="{}",
    )  # fmt: skip


def test_array_round_trip():
    values = np.array([1.5, np.nan, np.inf, 3.0])
    np.testing.assert_array_equal(decode_array(encode_array(values)), values)


def test_failed_write_leaves_no_partial_rows(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.write_runs([_record("a"), _record("b", status="half-written")])
        assert store.count_runs() == 0
        store.write_runs([_record("a"), _record("a")])
        store.write_runs([_record("a")])
        assert store.count_runs() == 1


def test_rerun_skips_finished_runs(tiny_study, tmp_path):
    study = load_study(tiny_study)
    with ResultStore(tmp_path / "s.sqlite") as store:
        assert run_study(study, store) == 8
        assert run_study(study, store) == 0
        assert store.count_runs() == 8
        records = store.study_runs("tiny", "default")
        assert len(records) == 8 and {r.status for r in records} == {"done"}
        assert all(len(r.test_metric) == 3 and len(r.train_loss) == 2 for r in records)
        # A profile with other training settings is other runs; a shared run would be reused.
        quick = load_study(tiny_study, "quick")
        assert len(pending_runs(quick, store)) == 8


def test_one_compile_shape_per_group(tiny_study):
    study = load_study(tiny_study)
    plan = plan_ensembles(study.runs, max_ensemble=3)
    # Two set sizes → two shapes, each of 4 runs (2 seeds × 2 n_train) split into 2 + 2.
    assert [(len(e.members), e.size) for e in plan] == [(2, 2), (2, 2), (2, 2), (2, 2)]
    assert all(len({r.config.task.set_size for r in e.members}) == 1 for e in plan)
    uneven = plan_ensembles(study.runs[:3], max_ensemble=2)  # one shape, 3 runs → 2 + 1 padded to 2
    assert [(len(e.members), e.size, len(e.padded())) for e in uneven] == [(2, 2, 2), (1, 2, 2)]


_IN_A_GC_CALLBACK = """
import gc, sys, time
from samplelab.cli import main

fired = []

def slow_first_collection(phase, info):  # the first once JAX (and its own gc callback) is loaded
    if phase == "start" and not fired and "jax" in sys.modules:
        fired.append(True)
        print("collecting", flush=True)
        time.sleep(60)  # SIGINT arrives while this sleeps, however late

gc.callbacks.append(slow_first_collection)
sys.exit(main(sys.argv[1:]))
"""


def _start_a_long_run(tiny_study, tmp_path, *python: str) -> tuple[subprocess.Popen, Path]:
    slow = tmp_path / "slow.toml"
    slow.write_text(tiny_study.read_text().replace("steps = 20", "steps = 200000"))
    store_path = tmp_path / "interrupted.sqlite"
    command = [sys.executable, *python, "run", str(slow), "--store", str(store_path)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), store_path


def _interrupt_and_check(process: subprocess.Popen, store_path: Path) -> None:
    """SIGINT now: exit 130 at once, a resume hint, only whole ensembles stored."""
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    assert time.monotonic() - sent < 10
    assert "run the same command again to resume" in err and "Traceback" not in err
    if store_path.exists():
        with ResultStore(store_path) as store:
            assert store.count_runs() % 4 == 0  # ensembles of 4 runs, whole or nothing


def test_ctrl_c_stops_promptly_and_says_how_to_resume(tiny_study, tmp_path):
    """SIGINT while XLA is busy (on an idle machine; on a loaded one, before training)."""
    process, store_path = _start_a_long_run(tiny_study, tmp_path, "-m", "samplelab.cli")
    time.sleep(8)  # start-up, compile, then deep inside the first ensemble
    _interrupt_and_check(process, store_path)


def test_ctrl_c_during_a_garbage_collection_callback_is_not_lost(tiny_study, tmp_path):
    """Python prints and drops a KeyboardInterrupt raised in a gc callback (JAX installs
    one): CI's stop 35 went on training for 60 s. Here SIGINT lands in such a callback, after
    JAX is loaded and before training starts."""
    process, store_path = _start_a_long_run(tiny_study, tmp_path, "-c", _IN_A_GC_CALLBACK)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready and process.stdout.readline() == "collecting\n"
        _interrupt_and_check(process, store_path)
    finally:
        process.kill()
        process.wait()
