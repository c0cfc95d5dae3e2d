"""Sweeps that survive: kill -9 at random moments, concurrent runners on one store, worker
processes and a local Ray cluster that die, and export of the store."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from samplelab.cli import main
from samplelab.ledger.store import ResultStore, decode_array
from samplelab.spec.study import load_study
from samplelab.sweep.ensembles import planned_ensembles
from samplelab.sweep.runner import run_study

# 2 shapes × 3 sizes × 3 seeds = 18 runs; with --max-ensemble 3: 6 ensembles of ~1 s each.
SWEEP = """
name = "sweep"
seeds = 3
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
"training.n_train" = [8, 16, 32]
"""
MAX_ENSEMBLE = 3
# Everything a run stores except when and how fast it was written.
CONTENT = (
    "run_key, status, task, model, seed, n_train, lr, baseline, samples_per_step, final_metric, best_metric, "
    "eval_steps, test_metric, train_loss, config_json, attention_entropy, attention_shape, validation_loss, "
    "test_loss, train_metric, train_set_loss, weight_sparsity, embedding_dimension"
)


def _content(path) -> dict:
    with sqlite3.connect(path) as db:
        runs = {row[0]: row for row in db.execute(f"SELECT {CONTENT} FROM runs")}
        members = sorted(db.execute("SELECT study, profile, run_key, point_json FROM study_runs"))
        leftovers = db.execute("SELECT (SELECT COUNT(*) FROM claims) + (SELECT COUNT(*) FROM failed_runs)").fetchone()
    return {"runs": runs, "study_runs": members, "claims and failures": leftovers[0]}


def _stored(path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The study file and an uninterrupted in-process sweep of it: the reference content.
    Its programs go into the persistent compilation cache, so the subprocesses below load
    them instead of compiling, and spend their time (and their deaths) training and writing."""
    from samplelab.training.compile_cache import enable_compilation_cache

    enable_compilation_cache()  # the session's cache folder (conftest), inherited by subprocesses
    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "sweep.toml"
    path.write_text(SWEEP)
    study = load_study(path)
    with ResultStore(folder / "reference.sqlite") as store:
        assert run_study(study, store, max_ensemble=MAX_ENSEMBLE) == 18
        assert len(planned_ensembles(study.runs, store, MAX_ENSEMBLE)) == 0
    return path, _content(folder / "reference.sqlite"), folder / "reference.sqlite"


def _command(study, store, *extra) -> list[str]:
    return [sys.executable, "-m", "samplelab.cli", "run", str(study), "--store", str(store),
            "--max-ensemble", str(MAX_ENSEMBLE), *extra]  # fmt: skip


def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_store(sweep, tmp_path):
    study, reference, _ = sweep
    store = tmp_path / "killed.sqlite"
    rng = np.random.default_rng(0)
    for attempt in range(10):
        before = _stored(store)
        process = subprocess.Popen(_command(study, store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if attempt % 2:  # mid-sweep for sure: just after an ensemble was written, or in the next one
            deadline = time.monotonic() + 60
            while _stored(store) == before and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.0))
        else:  # anywhere: import, loading programs, training or writing
            time.sleep(rng.uniform(1.0, 5.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert _stored(store) % MAX_ENSEMBLE == 0  # ensembles (all of 3 here) are written whole or not at all
    finished = subprocess.run(_command(study, store), capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert _content(store) == reference


def test_four_concurrent_runners_share_the_work_and_train_each_ensemble_once(sweep, tmp_path):
    study, reference, _ = sweep
    store = tmp_path / "shared.sqlite"
    processes = [subprocess.Popen(_command(study, store), stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    counts = [re.search(r"trained (\d+) runs in (\d+) ensembles", output).groups() for output in outputs]
    assert sum(int(runs) for runs, _ in counts) == 18  # every run stored by exactly one runner
    assert sum(int(ensembles) for _, ensembles in counts) == 6  # and no ensemble trained twice
    assert _content(store) == reference


def test_worker_processes_match_in_process_and_a_dead_worker_is_retried_then_failed(sweep, tmp_path, monkeypatch):
    study, reference, _ = sweep
    store = tmp_path / "workers.sqlite"
    monkeypatch.setenv("SAMPLELAB_KILL_WORKER_ONCE", str(tmp_path / "killed-once"))
    assert main(["run", str(study), "--store", str(store), "--max-ensemble", "3", "--workers", "2"]) == 0
    assert (tmp_path / "killed-once").exists()  # one worker died; its ensemble was trained again
    assert _content(store) == reference

    monkeypatch.delenv("SAMPLELAB_KILL_WORKER_ONCE")
    monkeypatch.setenv("SAMPLELAB_KILL_WORKER_ALWAYS", "1")
    failing = tmp_path / "failing.sqlite"
    assert main(["run", str(study), "--store", str(failing), "--workers", "2", "--max-retries", "0"]) == 1
    with sqlite3.connect(failing) as db:
        failed = db.execute("SELECT COUNT(*), MIN(attempts), MIN(error) FROM failed_runs").fetchone()
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    assert failed[:2] == (18, 1) and failed[2].startswith("BrokenProcessPool")
    monkeypatch.delenv("SAMPLELAB_KILL_WORKER_ALWAYS")
    # Tried again by the next run (in this process, on the programs the fixture compiled), and cleared.
    assert main(["run", str(study), "--store", str(failing), "--max-ensemble", str(MAX_ENSEMBLE)]) == 0
    assert _content(failing)["claims and failures"] == 0


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_a_local_ray_cluster_stores_the_same_rows_and_retries_a_dead_worker(sweep, tmp_path, monkeypatch, ray_cluster):
    from samplelab.sweep.executors import RayCluster

    study, reference, _ = sweep
    monkeypatch.setenv("SAMPLELAB_KILL_WORKER_ONCE", str(tmp_path / "killed-once"))
    with ResultStore(tmp_path / "ray.sqlite") as store:
        assert run_study(load_study(study), store, max_ensemble=MAX_ENSEMBLE, executor=RayCluster()) == 18
    assert (tmp_path / "killed-once").exists()
    assert _content(tmp_path / "ray.sqlite") == reference


def test_export_as_parquet_and_csv(sweep, tmp_path):
    pyarrow_parquet = pytest.importorskip("pyarrow.parquet")
    study, reference, store = sweep
    out = tmp_path / "runs.parquet"
    assert main(["results", str(study), "--store", str(store), "--format", "parquet", "--out", str(out)]) == 0
    table = pyarrow_parquet.read_table(out).to_pylist()
    assert len(table) == 18 and {row["run_key"] for row in table} == set(reference["runs"])
    for row in table:
        np.testing.assert_array_equal(row["test_metric"], decode_array(reference["runs"][row["run_key"]][12]))
    assert (
        main(["results", str(study), "--store", str(store), "--format", "csv", "--out", str(tmp_path / "r.csv")]) == 0
    )
    assert (tmp_path / "r.csv").read_text().count("\n") == 19
    assert main(["results", str(study), "--store", str(store), "--format", "parquet"]) == 2


def test_a_ray_cluster_loads_a_studys_plugins(tmp_path, ray_cluster):
    """Ray tasks load the driver's plugins (the example's own task and model) before they read a job."""
    import shutil

    from samplelab.spec.plugins import forget_plugins
    from samplelab.sweep.executors import RayCluster

    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "own_task_and_model", tmp_path / "example")
    path = tmp_path / "example" / "study.toml"
    text = (
        path.read_text()
        .replace("seeds = 3", "seeds = 2")
        .replace('"task.seq_len" = [4, 8, 16]', '"task.seq_len" = [4]')
    )
    path.write_text(text.replace('"training.n_train" = [16, 64, 256, 1024]', '"training.n_train" = [16, 64]'))
    try:
        with ResultStore(tmp_path / "ray.sqlite") as store:
            assert run_study(load_study(path), store, max_ensemble=2, executor=RayCluster()) == 4
    finally:
        forget_plugins()
