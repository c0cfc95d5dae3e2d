"""A ``--store`` that is not a samplelab store this code can open — a folder, a file that is
not SQLite, random bytes, a truncated store, another program's SQLite database, a store of a
newer samplelab, a read-only store — is refused by every command in one line with exit 2,
and its bytes are left as they were."""

from __future__ import annotations

import os
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import synthetic_record
from samplelab.cli import main
from samplelab.ledger.check import APPLICATION_ID, SCHEMA_VERSION
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import load_study


def _commands(study: str, store: str) -> list[list[str]]:
    return [
        ["run", study, "--store", store],
        ["results", study, "--store", store],
        ["analyze", study, "--store", store],
        ["report", study, "--store", store, "--out", store + "-report"],
    ]


def _refused(study, store, capsys, message: str) -> None:
    """Every command exits 2 with one ``error:`` line naming ``message``, and the store is unchanged."""
    before = store.read_bytes() if store.is_file() else None
    for argv in _commands(str(study), str(store)):
        code = main(argv)
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (argv, code, err)
        assert message in lines[0] and "Traceback" not in out + err, (argv, lines[0])
        assert (store.read_bytes() if store.is_file() else None) == before, argv
        assert not store.with_name(store.name + "-wal").exists()


@pytest.fixture
def real_store(tiny_study, tmp_path):
    """A samplelab store holding the tiny study's runs (written straight, nothing trained)."""
    study = load_study(tiny_study)
    path = tmp_path / "real.sqlite"
    with ResultStore(path) as store:
        store.register_study(study.name, study.profile, [(s.key, s.point) for s in study.runs])
        store.write_runs([synthetic_record(s, [0, 80], [375.0, 1.0], samples_per_step=8) for s in study.runs])
    _sqlite(path)  # the last connection to close folds the WAL into the file and removes it
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _sqlite(path, *statements: str):
    """Run ``statements`` on the SQLite database at ``path`` (made if missing) and close it, so
    that no WAL is left beside it; returns ``path``."""
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.close()
    return path


def test_a_folder_is_refused(tiny_study, tmp_path, capsys):
    _refused(tiny_study, tmp_path, capsys, "is a folder")


def test_a_file_that_is_not_sqlite_is_refused(tiny_study, tmp_path, capsys):
    store = tmp_path / "notes.txt"
    store.write_text("these are my notes\n")
    _refused(tiny_study, store, capsys, "is not an SQLite database")


def test_another_programs_sqlite_database_is_refused(tiny_study, tmp_path, capsys):
    store = _sqlite(tmp_path / "other.sqlite", "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)")
    _refused(tiny_study, store, capsys, "is an SQLite database of another program (tables photos)")


def test_another_programs_database_with_a_runs_table_is_refused(tiny_study, tmp_path, capsys):
    """MLflow's SQLite store has a ``runs`` table too: a store is told by its columns and application id."""
    store = _sqlite(tmp_path / "mlflow.db", "CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, name TEXT, status TEXT)")
    _refused(tiny_study, store, capsys, "is an SQLite database of another program (tables runs)")
    marked = _sqlite(tmp_path / "marked.sqlite", "PRAGMA application_id = 1234", "CREATE TABLE t (x)")
    _refused(tiny_study, marked, capsys, "is an SQLite database of another program")


def test_a_truncated_store_is_refused(tiny_study, real_store, capsys):
    data = real_store.read_bytes()
    real_store.write_bytes(data[: len(data) // 2])
    _refused(tiny_study, real_store, capsys, f"store {real_store}: ")


def test_a_store_of_a_newer_samplelab_is_refused(tiny_study, real_store, capsys):
    _sqlite(real_store, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    _refused(tiny_study, real_store, capsys, "was written by a newer samplelab")
    assert main(["results", str(tiny_study), "--store", str(real_store)]) == 2


def test_a_read_only_store_is_refused(tiny_study, real_store, capsys, monkeypatch):
    """Checked by permission bits, which root ignores: ``os.access`` stands in for a read-only mount."""
    writable = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: writable(p, mode) and not (mode & os.W_OK))
    _refused(tiny_study, real_store, capsys, "is read-only")


def test_a_samplelab_store_still_opens_and_records_its_schema_version(tiny_study, real_store, capsys):
    assert main(["results", str(tiny_study), "--store", str(real_store)]) == 0
    db = sqlite3.connect(real_store)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=4096), keep_header=st.booleans())
def test_random_bytes_as_a_store_are_refused(data, keep_header, tiny_study, tmp_path, capsys):
    store = tmp_path / "fuzz.sqlite"
    store.write_bytes((b"SQLite format 3\x00" if keep_header else b"") + data)
    before = store.read_bytes()
    code = main(["results", str(tiny_study), "--store", str(store)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: store "), err
    assert store.read_bytes() == before
