"""Shared pieces of the command line: the Typer app, console, options and table printing."""

from __future__ import annotations

import csv
import json
import os
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from samplelab.core.errors import ConfigError

DEFAULT_STORE = Path("runs/samplelab.sqlite")

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    help="Measure how many examples a neural architecture needs to learn a task.",
)
console = Console(highlight=False, soft_wrap=True)

StudyArg = typer.Argument(..., help="study file (.toml)", show_default=False)
ProfileOpt = typer.Option(None, "--profile", "-p", help="profile in the study file, e.g. quick")
StoreOpt = typer.Option(DEFAULT_STORE, "--store", help="SQLite results store")
MaxEnsembleOpt = typer.Option(32, "--max-ensemble", min=1, max=4096, help="most models trained in one program")
ThresholdOpt = typer.Option(
    None,
    "--threshold-relative",
    min=1e-9,
    max=1.0,
    help="override the study's threshold: a fraction of the task's constant-predictor baseline",
)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def open_store(path: Path, must_exist: bool = False):
    from samplelab.ledger.store import ResultStore

    if must_exist and not path.exists():
        raise ConfigError(f"--store {path}: no such store — fix: run `samplelab run STUDY --store {path}` first")
    return ResultStore(path)


INTERRUPTED = "interrupted: finished runs are stored; run the same command again to resume"


def exit_on_interrupt(signum: int, frame: object) -> None:
    """Ctrl-C: end the process now, like ``kill -9`` but with a message.

    The store is transactional, so an ensemble being written is either kept whole or
    rolled back; an XLA computation in flight is simply abandoned. Exiting here, rather
    than unwinding, cannot wait on locks held by the progress bar or the XLA callback thread.
    """
    if console.is_terminal:
        console.file.write("\x1b[?25h\n")  # the progress bar hides the cursor
    console.file.flush()
    print(INTERRUPTED, file=sys.stderr, flush=True)
    os._exit(130)


def check_bisected_threshold(study, threshold_relative: float | None) -> None:
    """A study trained with bisected sizes is read only at the thresholds it was bisected at."""
    if threshold_relative is None or not study.analysis.bisected:
        return
    followed = [f for f in study.analysis.threshold_fractions if f is not None]
    if threshold_relative not in followed:
        raise ConfigError(
            f"--threshold-relative {threshold_relative:g}: {study.name} bisects its sizes at the thresholds its "
            f"analysis reads (its own and {', '.join(f'{f:g}' for f in followed) or 'no other'}); at another the "
            'untrained sizes are not implied — fix: use one of those, or train its whole grid (sizes = "grid")'
        )


def load_runs(
    study_file: Path, profile: str | None, store: Path, threshold_relative: float | None, *, required: bool = False
):
    """The study's stored runs (a :class:`samplelab.analysis.runs.StudyRuns`).

    With ``required``, no stored runs is an error that names the profiles that do have runs.
    """
    from samplelab.analysis.runs import load_study_runs
    from samplelab.spec.study import load_study

    study = load_study(study_file, profile)
    check_bisected_threshold(study, threshold_relative)
    with open_store(store, must_exist=True) as results:
        runs = load_study_runs(study, results, threshold_relative)
        stored = [p for name, p, _ in results.studies() if name == study.name and p != study.profile]
    if required and not runs.records:
        fix = f"add --profile {stored[0]}" if stored and profile is None else f"run `samplelab run {study_file}` first"
        others = f" (stored profiles: {', '.join(stored)})" if stored else ""
        raise ConfigError(f"{study_file}: no stored runs for profile {study.profile!r}{others} — fix: {fix}")
    return runs


def measure_of(cell_rows: list[dict]) -> str:
    """Title words for per-cell rows, e.g. "train size to threshold per seed"."""
    return f"{cell_rows[0]['measure'].replace('_', ' ')} per seed"


def print_rows(rows: list[dict], fmt: Format, title: str, hide: tuple[str, ...] = ()) -> None:
    if fmt is Format.json:
        print(json.dumps(rows, indent=1, default=str))
        return
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title=escape(title))
    columns = [c for c in columns if c not in hide]
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(cell_text(row.get(c))) for c in columns))
    console.print(table)


def cell_text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return " ".join("—" if v is None else str(v) for v in value.values())
    return str(value)
