"""Whether a path is a results store this code may open: checked before anything is written,
so that a wrong path — a folder, a file that is not SQLite, another program's database, a
damaged or read-only store, or one written by a newer samplelab — is refused in one line
(:class:`~samplelab.core.errors.ConfigError`) and left byte for byte as it was."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from samplelab.core.errors import ConfigError

# PRAGMA user_version of the stores this code writes. 0: a store from before versions were
# recorded (opened and brought up to date); above SCHEMA_VERSION: a newer samplelab's, refused.
SCHEMA_VERSION = 1
# PRAGMA application_id of a samplelab store ("SLAB"); 0: a store from before it was set, or
# a new file. Another non-zero id is another program's database.
APPLICATION_ID = 0x534C4142
# Columns every samplelab ``runs`` table has had: how a store from before the application id
# is told from another program's database with a table of that name (MLflow's has one).
RUNS_COLUMNS = {"run_key", "status", "seed", "samples_per_step", "eval_steps", "test_metric", "config_json"}
SQLITE_HEADER = b"SQLite format 3\x00"
FRESH = "give the path of a samplelab store, or a new path for a new one"


def check_store_path(path: Path) -> None:
    """Raise a one-line ConfigError unless ``path`` is a samplelab store this code can open
    and write, or a path where a new one can be created (see the module docstring)."""
    if path.is_dir():
        raise ConfigError(f"store {path}: is a folder — fix: give a file path, e.g. {path / 'samplelab.sqlite'}")
    if not path.exists():
        folder = next((p for p in path.parents if p.exists()), Path("."))
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"store {path}: cannot be created, {folder} is not a writable folder — fix: {FRESH}")
        return
    real = path.resolve()  # a link's WAL lies beside the file it points to
    if not os.access(real, os.R_OK | os.W_OK) or not os.access(real.parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"store {path}: is read-only (the store and its folder must be writable: SQLite's WAL) — fix: copy it "
            "to a writable folder and pass that path"
        )
    if real.stat().st_size == 0:
        return  # an empty file: SQLite makes it a new database
    with real.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise ConfigError(f"store {path}: is not an SQLite database — fix: {FRESH}")
    try:
        # No WAL beside it: nobody has it open, so read the file alone (immutable), creating no
        # -wal / -shm beside a file that may be refused; else read it with the writers' WAL.
        in_use = real.with_name(real.name + "-wal").exists()
        db = sqlite3.connect(f"{real.as_uri()}?mode=ro{'' if in_use else '&immutable=1'}", uri=True)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            version = db.execute("PRAGMA user_version").fetchone()[0]
            application = db.execute("PRAGMA application_id").fetchone()[0]
            problems = [row[0] for row in db.execute("PRAGMA quick_check(1)")] if tables else ["ok"]
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        raise ConfigError(f"store {path}: cannot be read ({err}) — fix: {FRESH}") from None
    if problems != ["ok"]:
        raise ConfigError(f"store {path}: is damaged ({problems[0]}) — fix: restore it from a copy, or {FRESH}")
    if application not in (0, APPLICATION_ID) or (tables and not columns >= RUNS_COLUMNS):
        shown = ", ".join(sorted(tables)[:3]) + (", …" if len(tables) > 3 else "")
        raise ConfigError(f"store {path}: is an SQLite database of another program (tables {shown}) — fix: {FRESH}")
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"store {path}: was written by a newer samplelab (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}) — fix: upgrade samplelab (pip install -U samplelab)"
        )
