"""The results store: an SQLite (WAL) ledger of finished runs.

Schema (queryable directly with ``sqlite3``, DuckDB or pandas):

``runs`` — one row per finished run, keyed by ``run_key`` (see :func:`samplelab.spec.run_config.run_key`):
    ``run_key`` TEXT PK, ``status`` TEXT ('done' | 'diverged'), ``task`` TEXT, ``model`` TEXT,
    ``seed`` INT, ``n_train`` INT (NULL online), ``lr`` REAL, ``baseline`` REAL (task units),
    ``samples_per_step`` INT, ``final_metric`` REAL, ``best_metric`` REAL,
    ``eval_steps`` / ``test_metric`` / ``train_loss`` BLOB (zlib-compressed little-endian
    float32 arrays: the whole learning curve in one row), ``config_json`` TEXT (the full
    resolved run config), ``wall_seconds`` REAL (the ensemble's wall time ÷ its size),
    ``created_at`` TEXT (UTC ISO), ``samplelab_version`` TEXT, ``attention_entropy`` BLOB
    (float32 ``[K+1, layers, heads]`` mean attention entropy in nats at each eval; NULL for
    models without attention or runs stored before the probe existed) with its shape in
    ``attention_shape`` TEXT (``"K+1,layers,heads"``), ``validation_loss`` BLOB (float32
    ``[K+1]`` training loss on the validation split at each eval; NULL for runs without one),
    ``test_loss`` BLOB (float32 ``[K+1]`` training loss on the test set), ``train_metric`` /
    ``train_set_loss`` BLOB (float32 ``[K+1]`` metric and loss over the whole training set;
    finite dataset tasks only), ``weight_sparsity`` REAL (fraction of weight-matrix entries
    with |w| ≤ 1e-5 after training), ``embedding_dimension`` REAL (intrinsic dimension of the
    final-layer embeddings of 1,024 test examples after training: Levina–Bickel MLE, k = 20,
    cosine; models with ``embeddings`` only), ``embedding_dimension_twonn`` REAL (the same
    embeddings' TwoNN estimate, euclidean: a second estimator, whose spread from the first a
    theory can carry). These are NULL for runs stored before they existed.

``study_runs`` — which runs belong to which study and profile, with their grid point:
    ``study`` TEXT, ``profile`` TEXT, ``run_key`` TEXT, ``point_json`` TEXT; PK (study, profile, run_key).

``study_files`` — the study file each study/profile was last run from, so that reports
    need only the store: ``study`` TEXT, ``profile`` TEXT, ``source`` TEXT (the path it was
    read from), ``text`` TEXT (the whole TOML file), ``registered_at`` TEXT; PK (study, profile).

``claims`` — ensembles being trained now (leases, see :mod:`samplelab.ledger.leases`): ``ensemble_key`` TEXT PK, the
    owner's ``host`` TEXT, ``pid`` INTEGER and process start time ``started`` TEXT, and
    ``claimed_at`` TEXT (UTC ISO). Rows of dead owners are stale and taken over.

``failed_runs`` — runs whose ensemble failed every attempt: ``run_key`` TEXT PK, ``error``
    TEXT (one line), ``attempts`` INTEGER, ``failed_at`` TEXT. Storing the run later removes it.

``PRAGMA user_version`` is the schema version (:data:`samplelab.ledger.check.SCHEMA_VERSION`),
``PRAGMA application_id`` marks a samplelab store (:data:`~samplelab.ledger.check.APPLICATION_ID`);
a path that is not a store this code can open is refused before anything is written
(:mod:`samplelab.ledger.check`).

Rows of one ensemble are written in one transaction, so a killed process leaves either
all of them or none; ``ON CONFLICT (run_key) DO NOTHING`` means a run is never stored twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samplelab.core.run_fields import CURVE_COLUMNS, SCALAR_COLUMNS
from samplelab.core.version import __version__
from samplelab.ledger.check import APPLICATION_ID, SCHEMA_VERSION, check_store_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('done', 'diverged')),
    task TEXT NOT NULL,
    model TEXT NOT NULL,
    seed INTEGER NOT NULL,
    n_train INTEGER,
    lr REAL NOT NULL,
    baseline REAL NOT NULL,
    samples_per_step INTEGER NOT NULL,
    final_metric REAL,
    best_metric REAL,
    eval_steps BLOB NOT NULL,
    test_metric BLOB NOT NULL,
    train_loss BLOB NOT NULL,
    config_json TEXT NOT NULL,
    wall_seconds REAL,
    created_at TEXT NOT NULL,
    samplelab_version TEXT NOT NULL,
    attention_entropy BLOB,
    attention_shape TEXT,
    validation_loss BLOB,
    test_loss BLOB,
    train_metric BLOB,
    train_set_loss BLOB,
    weight_sparsity REAL,
    embedding_dimension REAL,
    embedding_dimension_twonn REAL
);
CREATE TABLE IF NOT EXISTS study_files (
    study TEXT NOT NULL,
    profile TEXT NOT NULL,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    PRIMARY KEY (study, profile)
);
CREATE TABLE IF NOT EXISTS claims (
    ensemble_key TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TEXT NOT NULL,
    claimed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failed_runs (
    run_key TEXT PRIMARY KEY,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS study_runs (
    study TEXT NOT NULL,
    profile TEXT NOT NULL,
    run_key TEXT NOT NULL,
    point_json TEXT NOT NULL,
    PRIMARY KEY (study, profile, run_key)
);
"""


# Columns added after the first release, with their types: opened stores gain them.
ADDED_COLUMNS = (
    ("attention_entropy", "BLOB"),
    ("attention_shape", "TEXT"),
    ("validation_loss", "BLOB"),
    ("test_loss", "BLOB"),
    ("train_metric", "BLOB"),
    ("train_set_loss", "BLOB"),
    ("weight_sparsity", "REAL"),
    ("embedding_dimension", "REAL"),
    ("embedding_dimension_twonn", "REAL"),
)
# The optional curves (BLOB) and end-of-training numbers (REAL) are stored under their
# RunRecord attribute names: CURVE_COLUMNS and SCALAR_COLUMNS (core/run_fields.py).


def encode_array(values: np.ndarray) -> bytes:
    """float32, little-endian, zlib-compressed."""
    return zlib.compress(np.asarray(values, dtype="<f4").tobytes())


def decode_array(blob: bytes) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype="<f4").astype(np.float64)


@dataclass
class RunRecord:
    """One finished run as stored; ``point`` is its grid coordinates within a study."""

    run_key: str
    status: str
    task: str
    model: str
    seed: int
    n_train: int | None
    lr: float
    baseline: float
    samples_per_step: int
    eval_steps: np.ndarray
    test_metric: np.ndarray
    train_loss: np.ndarray
    config_json: str
    wall_seconds: float | None = None
    point: dict = field(default_factory=dict)
    attention_entropy: np.ndarray | None = None  # [K+1, layers, heads] nats
    validation_loss: np.ndarray | None = None  # [K+1] loss on the validation split
    test_loss: np.ndarray | None = None  # [K+1] loss on the test set
    train_metric: np.ndarray | None = None  # [K+1] metric on the whole training set (finite tasks)
    train_set_loss: np.ndarray | None = None  # [K+1] loss on the whole training set (finite tasks)
    weight_sparsity: float | None = None  # fraction of weight-matrix entries with |w| ≤ 1e-5 at the end
    embedding_dimension: float | None = None  # MLE intrinsic dimension of final-layer test embeddings
    embedding_dimension_twonn: float | None = None  # TwoNN (euclidean) intrinsic dimension of the same embeddings

    @property
    def final_validation_loss(self) -> float:
        """Validation loss at the last eval; NaN without a validation split."""
        return float("nan") if self.validation_loss is None else float(self.validation_loss[-1])

    @property
    def samples_seen(self) -> np.ndarray:
        """``[K+1]`` training examples drawn by each evaluation."""
        return self.eval_steps * self.samples_per_step

    @property
    def final_metric(self) -> float:
        return float(self.test_metric[-1])

    @property
    def early_stopped_metric(self) -> float:
        """Test metric at the eval with the least validation loss (early stopping on the
        validation split; the test set plays no part in the choice); NaN without one."""
        if self.validation_loss is None or not np.isfinite(self.validation_loss).any():
            return float("nan")
        return float(self.test_metric[int(np.nanargmin(self.validation_loss))])

    @property
    def best_metric(self) -> float:
        finite = self.test_metric[np.isfinite(self.test_metric)]
        return float(finite.min()) if finite.size else float("nan")

    @property
    def config(self) -> dict:
        return json.loads(self.config_json)


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


class ResultStore:
    """An open SQLite ledger at ``path`` (created with its parent folder if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_store_path(self.path)  # before anything is written: a wrong path is left as it was
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        for column, kind in ADDED_COLUMNS:
            if column not in columns:  # a store written before the column existed
                try:
                    with self._db:
                        self._db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as err:  # another process added it first
                    if "duplicate column" not in str(err):
                        raise
        if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            with self._db:
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    @contextlib.contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """The store's connection inside one transaction: committed at the end, rolled back on
        an error. ``immediate`` takes the write lock at once, so that what is read inside is
        still true when it is written (ensemble leases, across processes)."""
        if not immediate:
            with self._db:
                yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register_study(
        self, study: str, profile: str, runs: Iterable[tuple[str, dict]], source: str = "", text: str = ""
    ) -> None:
        """Record that runs ``(run_key, grid point)`` belong to ``study``/``profile``, and, if
        ``text`` is given, the study file's TOML (read from ``source``, kept as an absolute path:
        a report from another folder then finds the files the study names, e.g. its plugins)."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        source = str(Path(source).resolve()) if source and Path(source).is_file() else source
        with self._db:
            if text:
                self._db.execute(
                    "INSERT INTO study_files (study, profile, source, text, registered_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (study, profile) DO UPDATE SET source = excluded.source, text = excluded.text, "
                    "registered_at = excluded.registered_at",
                    (study, profile, source, text, now),
                )
            self._db.executemany(
                "INSERT INTO study_runs (study, profile, run_key, point_json) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [(study, profile, key, json.dumps(point, sort_keys=True)) for key, point in runs],
            )

    def finished_keys(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` already stored."""
        keys = list(keys)
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0] for row in self._db.execute(f"SELECT run_key FROM runs WHERE run_key IN ({marks})", chunk)
            )
        return found

    def write_runs(self, records: Iterable[RunRecord]) -> None:
        """Store finished runs in one transaction (all or none); existing keys are kept."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        columns = (
            "run_key, status, task, model, seed, n_train, lr, baseline, samples_per_step, final_metric, best_metric, "
            "eval_steps, test_metric, train_loss, config_json, wall_seconds, created_at, samplelab_version, "
            f"attention_entropy, attention_shape, {', '.join(SCALAR_COLUMNS + CURVE_COLUMNS)}"
        )
        rows = [
            (
                r.run_key, r.status, r.task, r.model, r.seed, r.n_train, r.lr, r.baseline, r.samples_per_step,
                _finite_or_none(r.final_metric), _finite_or_none(r.best_metric),
                encode_array(r.eval_steps), encode_array(r.test_metric), encode_array(r.train_loss),
                r.config_json, r.wall_seconds, now, __version__,
                None if r.attention_entropy is None else encode_array(r.attention_entropy),
                None if r.attention_entropy is None else ",".join(map(str, r.attention_entropy.shape)),
                *(None if getattr(r, name) is None else _finite_or_none(float(getattr(r, name)))
                  for name in SCALAR_COLUMNS),
                *(None if getattr(r, name) is None else encode_array(getattr(r, name)) for name in CURVE_COLUMNS),
            )
            for r in records
        ]  # fmt: skip
        marks = ",".join("?" * len(columns.split(",")))
        with self._db:
            self._db.executemany(
                f"INSERT INTO runs ({columns}) VALUES ({marks}) ON CONFLICT (run_key) DO NOTHING",
                rows,
            )
            self._db.executemany("DELETE FROM failed_runs WHERE run_key = ?", [(row[0],) for row in rows])

    def count_runs(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def studies(self) -> list[tuple[str, str, int]]:
        """``(study, profile, runs registered)`` for every study in the store."""
        return self._db.execute(
            "SELECT study, profile, COUNT(*) FROM study_runs GROUP BY study, profile ORDER BY study, profile"
        ).fetchall()

    def study_files(self) -> list[tuple[str, str, str, str]]:
        """``(study, profile, source, TOML text)`` of every study run with a stored file."""
        return self._db.execute(
            "SELECT study, profile, source, text FROM study_files ORDER BY study, profile"
        ).fetchall()

    def study_runs(self, study: str, profile: str) -> list[RunRecord]:
        """Finished runs of a study/profile, ordered by grid point then seed."""
        extras = ", ".join(f"r.{name}" for name in SCALAR_COLUMNS + CURVE_COLUMNS)
        cursor = self._db.execute(
            "SELECT r.run_key, r.status, r.task, r.model, r.seed, r.n_train, r.lr, r.baseline, r.samples_per_step, "
            "r.eval_steps, r.test_metric, r.train_loss, r.config_json, r.wall_seconds, s.point_json, "
            f"r.attention_entropy, r.attention_shape, {extras} "
            "FROM study_runs s JOIN runs r ON r.run_key = s.run_key WHERE s.study = ? AND s.profile = ? "
            "ORDER BY s.point_json, r.seed",
            (study, profile),
        )
        records = []
        for row in cursor:
            extra = len(SCALAR_COLUMNS) + len(CURVE_COLUMNS)
            *head, eval_steps, test_metric, train_loss, config_json, wall, point_json, entropy, shape = row[:-extra]
            scalars = dict(zip(SCALAR_COLUMNS, row[-extra : -len(CURVE_COLUMNS)], strict=True))
            if entropy is not None:
                entropy = decode_array(entropy).reshape(tuple(int(n) for n in shape.split(",")))
            curves = {
                name: None if blob is None else decode_array(blob)
                for name, blob in zip(CURVE_COLUMNS, row[-len(CURVE_COLUMNS) :], strict=True)
            }
            records.append(
                RunRecord(
                    *head, decode_array(eval_steps), decode_array(test_metric), decode_array(train_loss),
                    config_json, wall, json.loads(point_json), entropy, **scalars, **curves,
                )
            )  # fmt: skip
        return records
