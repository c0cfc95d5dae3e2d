"""The CLI end to end on a tiny study: run, results in three formats, report figures."""

from __future__ import annotations

import csv
import io
import json
import signal

from samplelab.cli import main
from samplelab.cli.common import exit_on_interrupt
from samplelab.core.errors import ConfigError


def test_lists_registries(capsys):
    assert main(["tasks"]) == 0
    assert "setfind2" in capsys.readouterr().out
    assert main(["models"]) == 0
    assert "transformer" in capsys.readouterr().out


def test_run_results_report(tiny_study, tmp_path, capsys):
    store = str(tmp_path / "runs.sqlite")
    assert main(["run", str(tiny_study), "--store", store, "--dry-run"]) == 0
    assert "8 to train in 2 ensembles" in capsys.readouterr().out
    assert main(["run", str(tiny_study), "--store", store]) == 0
    assert "8/8 of tiny [default] stored" in capsys.readouterr().out

    assert main(["results", str(tiny_study), "--store", store, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 8
    assert {row["task.set_size"] for row in rows} == {4, 6}
    assert all(row["threshold"] == 3.75 and row["baseline"] == 375.0 for row in rows)

    assert main(["results", str(tiny_study), "--store", store, "--format", "csv"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 8

    assert main(["results", str(tiny_study), "--store", store, "--cells", "--format", "json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert len(cells) == 2 and all(cell["seeds"] == 2 for cell in cells)

    out = tmp_path / "figures"
    assert main(["report", str(tiny_study), "--store", store, "--out", str(out)]) == 0
    for name in ("metric_vs_train_size.png", "data_to_threshold.png"):
        assert (out / name).stat().st_size > 10_000


def test_report_without_runs_is_a_clear_error(tiny_study, tmp_path, capsys):
    assert main(["report", str(tiny_study), "--store", str(tmp_path / "none.sqlite")]) == 2
    assert "no such store" in capsys.readouterr().err


def test_ctrl_c_ends_the_command_while_it_runs_and_the_callers_handler_is_back_after(tmp_path, monkeypatch, capsys):
    """From the command's first step (reading the study), not only once training starts."""
    seen = []

    def read_study_text(path):
        seen.append(signal.getsignal(signal.SIGINT))
        raise ConfigError(f"{path}: read")

    monkeypatch.setattr("samplelab.spec.study.read_study_text", read_study_text)
    before = signal.getsignal(signal.SIGINT)
    assert main(["run", str(tmp_path / "s.toml"), "--dry-run"]) == 2
    assert seen == [exit_on_interrupt] and signal.getsignal(signal.SIGINT) is before
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # started ignoring Ctrl-C (a background job): left so
    try:
        assert main(["run", str(tmp_path / "s.toml"), "--dry-run"]) == 2
        assert seen[-1] is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
