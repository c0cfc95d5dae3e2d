"""The ``samplelab`` command line (Typer).

Every user error prints one line ``error: <field>: <problem> — fix: <hint>`` to stderr and
exits with code 2; Ctrl-C exits with code 130 and says how to resume.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from samplelab import __version__
from samplelab.errors import ConfigError

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


def _open_store(path: Path, must_exist: bool = False):
    from samplelab.store import ResultStore

    if must_exist and not path.exists():
        raise ConfigError(f"--store {path}: no such store — fix: run `samplelab run STUDY --store {path}` first")
    return ResultStore(path)


@app.command()
def tasks() -> None:
    """List the registered tasks."""
    from samplelab.tasks import TASKS

    for entry in TASKS.entries():
        console.print(f"[bold]{entry.name}[/bold]  {escape(entry.description)}")


@app.command()
def models() -> None:
    """List the registered models."""
    from samplelab.models import MODELS

    for entry in MODELS.entries():
        console.print(f"[bold]{entry.name}[/bold]  {escape(entry.description)}")


INTERRUPTED = "interrupted: finished runs are stored; run the same command again to resume"


def _exit_on_interrupt(signum: int, frame: object) -> None:
    """Ctrl-C during a sweep: end the process now, like ``kill -9`` but with a message.

    The store is transactional, so an ensemble being written is either kept whole or
    rolled back; an XLA computation in flight is simply abandoned. Exiting here, rather
    than unwinding, cannot wait on locks held by the progress bar or the XLA callback thread.
    """
    if console.is_terminal:
        console.file.write("\x1b[?25h\n")  # the progress bar hides the cursor
    console.file.flush()
    print(INTERRUPTED, file=sys.stderr, flush=True)
    os._exit(130)


@app.command()
def run(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    max_ensemble: int = typer.Option(32, min=1, max=4096, help="most models trained in one program"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and show the plan; train nothing"),
) -> None:
    """Train every run of a study that is not yet in the store (re-running resumes)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from samplelab.runner import RunProgress, enable_compilation_cache, pending_runs, plan_ensembles, run_study
    from samplelab.study import load_study

    study = load_study(study_file, profile)
    with _open_store(store) as results:
        if dry_run:
            pending = pending_runs(study, results)
            plan = plan_ensembles(pending, max_ensemble)
            console.print(
                f"{study.name} [{study.profile}]: {len(study.runs)} runs, {len(study.runs) - len(pending)} "
                f"already stored, {len(pending)} to train in {len(plan)} ensembles",
                markup=False,
            )
            return
        enable_compilation_cache()
        previous_handler = signal.signal(signal.SIGINT, _exit_on_interrupt)
        try:
            columns = (
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[runs]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=console, transient=False) as bar:
                state = {"done": 0, "total": 0, "task": None}

                def on_plan(pending: int, ensembles: int, model_steps: int) -> None:
                    state["total"] = pending
                    state["task"] = bar.add_task(study.name, total=max(model_steps, 1), runs=f"0/{pending} runs")

                def on_eval(model_steps: int) -> None:
                    bar.advance(state["task"], model_steps)

                def on_ensemble(runs: int) -> None:
                    state["done"] += runs
                    bar.update(state["task"], runs=f"{state['done']}/{state['total']} runs")

                trained = run_study(
                    study, results, max_ensemble=max_ensemble, progress=RunProgress(on_plan, on_eval, on_ensemble)
                )
        finally:
            signal.signal(signal.SIGINT, previous_handler)
        stored = len(results.finished_keys(s.key for s in study.runs))
    console.print(
        f"trained {trained} runs; {stored}/{len(study.runs)} of {study.name} [{study.profile}] stored in {store}",
        markup=False,
    )


def _load_runs(study_file: Path, profile: str | None, store: Path, threshold_relative: float | None):
    """The study's stored runs (a :class:`samplelab.analysis.StudyRuns`)."""
    from samplelab.analysis import load_study_runs
    from samplelab.study import load_study

    study = load_study(study_file, profile)
    with _open_store(store, must_exist=True) as results:
        return load_study_runs(study, results, threshold_relative)


def _measure_of(cell_rows: list[dict]) -> str:
    """Title words for per-cell rows, e.g. "train size to threshold per seed"."""
    return f"{cell_rows[0]['measure'].replace('_', ' ')} per seed"


def _print_rows(rows: list[dict], fmt: Format, title: str, hide: tuple[str, ...] = ()) -> None:
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
        table.add_row(*(escape(_cell_text(row.get(c))) for c in columns))
    console.print(table)


def _cell_text(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return " ".join("—" if v is None else str(v) for v in value.values())
    return str(value)


@app.command()
def results(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, csv or json"),
    cells: bool = typer.Option(False, "--cells", help="one row per cell (data needed per seed) instead of per run"),
    threshold_relative: float | None = ThresholdOpt,
) -> None:
    """Show the stored runs of a study (``—`` in samples_to_threshold: not reached)."""
    from samplelab.analysis import cell_rows, run_rows

    runs = _load_runs(study_file, profile, store, threshold_relative)
    rows = cell_rows(runs) if cells else run_rows(runs)
    title = f"{study_file} [{profile or 'default'}]"
    if cells and rows:
        title += f": {_measure_of(rows)}"
    _print_rows(rows, fmt, title, hide=("measure", "run_key", "baseline"))


@app.command()
def report(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    out: Path = typer.Option(Path("reports"), "--out", help="folder for the figures"),
    threshold_relative: float | None = ThresholdOpt,
) -> None:
    """Write the study's figures (PNG) and print its per-cell table."""
    from samplelab.analysis import cell_rows
    from samplelab.report import write_figures

    runs = _load_runs(study_file, profile, store, threshold_relative)
    study = runs.study
    if not runs.records:
        raise ConfigError(
            f"{study_file}: no stored runs for profile {study.profile!r} — fix: run `samplelab run` first"
        )
    rows = cell_rows(runs)
    _print_rows(rows, Format.table, f"{study.name} [{study.profile}]: {_measure_of(rows)}", hide=("measure",))
    for path in write_figures(runs, out):
        console.print(f"wrote {path}", markup=False)


def _version(value: bool) -> None:
    if value:
        print(f"samplelab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """samplelab: sample efficiency of neural architectures."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``samplelab`` script; returns the exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="samplelab", standalone_mode=False)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except typer.TyperException as err:  # usage errors (exit code 2) and other Click-style errors
        ctx = getattr(err, "ctx", None)
        where = (
            f"samplelab {ctx.info_name} --help" if ctx is not None and ctx.parent is not None else "samplelab --help"
        )
        message = " ".join(err.format_message().split())
        print(f"error: {message} — fix: see `{where}`", file=sys.stderr)
        return err.exit_code
    except (KeyboardInterrupt, typer.Abort):
        result = 130
    if result == 130:
        print(INTERRUPTED, file=sys.stderr)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
