"""Who is training what: leases on ensembles, and runs that failed, in the store itself.

(A *lease* is a process's hold on an ensemble; the store keeps them in its ``claims`` table,
a name older than this module. Scientific claims are :mod:`samplelab.analysis.claims`.)

Several ``samplelab run`` processes may share one store (on one machine's disk: SQLite's
locking is not safe over network file systems). Before training an ensemble a process
*leases* it in the ``claims`` table, in one ``BEGIN IMMEDIATE`` transaction that also checks
that no member is stored yet and that no live process holds the lease. A lease is live while
its process runs: same host, same pid, same process start time (so a reused pid does not
count); a lease from another host counts as live for ``FOREIGN_LEASE_HOURS``. A process
killed with ``kill -9`` leaves its leases behind, dead, and the next run takes them over.

``failed_runs`` holds the runs whose ensemble failed ``max_retries + 1`` times, with the
error; a later successful write of the run removes it there, and every ``samplelab run``
tries them again.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterable
from typing import Literal

from samplelab.ledger.store import ResultStore

FOREIGN_LEASE_HOURS = 24.0

LeaseState = Literal["claimed", "done", "busy"]


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, Linux ``/proc``); ``None`` when it
    is not running or the platform has no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str) -> bool:
    if os.path.isdir("/proc"):
        return _start_time(pid) == started
    try:  # no /proc: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner() -> tuple[str, int, str]:
    """This process as a lease holder: ``(host, pid, start time)``."""
    pid = os.getpid()
    return socket.gethostname(), pid, _start_time(pid) or ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _live(host: str, pid: int, started: str, claimed_at: str) -> bool:
    me = owner()
    if (host, pid, started) == me:
        return False  # our own lease: ours to re-take
    if host == me[0]:
        return _alive(pid, started)
    age = _now() - dt.datetime.fromisoformat(claimed_at)
    return age < dt.timedelta(hours=FOREIGN_LEASE_HOURS)


def acquire(store: ResultStore, ensemble_key: str, member_keys: Iterable[str]) -> LeaseState:
    """Lease an ensemble for this process: ``"claimed"``; ``"done"`` if every member is
    stored; ``"busy"`` if a live process holds it. Atomic across processes."""
    keys = list(member_keys)
    with store.transaction(immediate=True) as db:
        marks = ",".join("?" * len(keys))
        stored = db.execute(f"SELECT COUNT(*) FROM runs WHERE run_key IN ({marks})", keys).fetchone()[0]
        if stored == len(set(keys)):
            state: LeaseState = "done"
        else:
            held = db.execute(
                "SELECT host, pid, started, claimed_at FROM claims WHERE ensemble_key = ?", (ensemble_key,)
            ).fetchone()
            state = "busy" if held and _live(*held) else "claimed"
            if state == "claimed":
                db.execute(
                    "INSERT OR REPLACE INTO claims (ensemble_key, host, pid, started, claimed_at) VALUES (?, ?, ?, ?, ?)",
                    (ensemble_key, *owner(), _now().isoformat(timespec="seconds")),
                )
    return state


def release(store: ResultStore, ensemble_key: str) -> None:
    """Drop this process's lease on an ensemble (after its runs are written or failed)."""
    host, pid, _ = owner()
    with store.transaction() as db:
        db.execute("DELETE FROM claims WHERE ensemble_key = ? AND host = ? AND pid = ?", (ensemble_key, host, pid))


def record_failure(store: ResultStore, run_keys: Iterable[str], error: BaseException, attempts: int) -> str:
    """Mark runs failed with ``error`` (one line) after ``attempts`` tries; returns that line."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    now = _now().isoformat(timespec="seconds")
    with store.transaction() as db:
        db.executemany(
            "INSERT OR REPLACE INTO failed_runs (run_key, error, attempts, failed_at) VALUES (?, ?, ?, ?)",
            [(key, line, attempts, now) for key in run_keys],
        )
    return line


def untrained_keys(store: ResultStore, run_keys: Iterable[str]) -> set[str]:
    """Those of ``run_keys`` neither stored nor failed every attempt: what a later call trains
    (left by a budget or an interrupt)."""
    keys = set(run_keys)
    return keys - store.finished_keys(keys) - {row[0] for row in failed_runs(store, keys)}


def failed_runs(store: ResultStore, run_keys: Iterable[str] | None = None) -> list[tuple[str, str, int]]:
    """``(run_key, error, attempts)`` of failed runs (of ``run_keys`` only, if given)."""
    with store.transaction() as db:
        rows = db.execute("SELECT run_key, error, attempts FROM failed_runs ORDER BY run_key").fetchall()
    if run_keys is None:
        return rows
    wanted = set(run_keys)
    return [row for row in rows if row[0] in wanted]
