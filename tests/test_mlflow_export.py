"""``samplelab export STUDY --to mlflow``: one MLflow run per stored run, with its params,
curves by step and tags, read back with the MLflow client from a real local store; exporting
again adds nothing."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import synthetic_record
from samplelab.cli import main
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import load_study

mlflow = pytest.importorskip("mlflow")


def test_export_logs_each_stored_run_once_with_its_curves(tiny_study, tmp_path, capsys):
    study = load_study(tiny_study)
    store = tmp_path / "s.sqlite"
    curve = np.array([375.0, 100.0, 1.0, 0.5])
    with ResultStore(store) as results:
        results.register_study(study.name, study.profile, [(s.key, s.point) for s in study.runs], str(tiny_study),
                               tiny_study.read_text())  # fmt: skip
        results.write_runs([synthetic_record(s, [0, 10, 20, 30], curve, samples_per_step=8) for s in study.runs])
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    argv = ["export", str(tiny_study), "--to", "mlflow", "--tracking-uri", uri, "--store", str(store)]
    assert main(argv) == 0
    assert "tiny [default]: 8 runs logged to MLflow" in capsys.readouterr().out
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "0 runs logged to MLflow at " in again and "8 already there" in again

    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tiny [default]")
    exported = client.search_runs([experiment.experiment_id], max_results=100)
    assert sorted(r.data.tags["samplelab.run_key"] for r in exported) == sorted(s.key for s in study.runs)
    spec = study.runs[0]
    (run,) = [r for r in exported if r.data.tags["samplelab.run_key"] == spec.key]
    assert run.data.tags["samplelab.seed"] == str(spec.seed) and run.data.tags["samplelab.study"] == "tiny"
    assert run.data.tags["samplelab.point.task.set_size"] == str(spec.point["task.set_size"])
    assert run.data.tags["samplelab.samples_to_threshold"] == "160"  # 1.0 ≤ 3.75 first at step 20 × 8
    assert run.data.params["task.set_size"] == str(spec.config.task.set_size)
    assert run.data.params["optimizer.lr"] == str(spec.config.optimizer.lr)
    history = client.get_metric_history(run.info.run_id, "test_metric")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (0, 375.0), (80, 100.0), (160, 1.0), (240, 0.5)
    ]  # fmt: skip
    assert run.info.status == "FINISHED"
    # MLflow's own store has a runs table too: refused as a samplelab store, and left as it was.
    mlflow_db = tmp_path / "mlflow" / "mlflow.db"
    before = mlflow_db.read_bytes()
    assert main(["results", str(tiny_study), "--store", str(mlflow_db)]) == 2
    assert "is an SQLite database of another program" in capsys.readouterr().err
    assert mlflow_db.read_bytes() == before


def test_export_refuses_what_it_cannot_do_in_one_line(tiny_study, tmp_path, capsys):
    assert main(["export", str(tiny_study), "--to", "wandb", "--store", str(tmp_path / "s.sqlite")]) == 2
    assert capsys.readouterr().err.startswith("error: Invalid value for '--to'")
    assert main(["export", str(tiny_study), "--to", "mlflow", "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "no such store" in capsys.readouterr().err
