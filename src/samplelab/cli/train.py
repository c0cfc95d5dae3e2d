"""Commands that train: ``run`` and ``refine`` (and the registry listings)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape

from samplelab.analysis.text import interval_text, point_text
from samplelab.cli.common import (
    MaxEnsembleOpt,
    ProfileOpt,
    StoreOpt,
    StudyArg,
    app,
    console,
    open_store,
)
from samplelab.core.errors import ConfigError


class Backend(StrEnum):
    local = "local"
    ray = "ray"


StudyPluginsOpt = typer.Option(None, "--study", help="also the tasks and models of this study file's plugins")


def _list_entries(registry, study: Path | None) -> None:
    """One line per registered entry (a plugin's: with the plugin it came from)."""
    from samplelab.spec.plugins import load_installed_plugins
    from samplelab.spec.study import load_study

    load_installed_plugins()
    if study is not None:
        load_study(study)  # loads its plugins (and refuses a broken study file in one line)
    for entry in registry.entries():
        origin = f"  [dim](plugin {escape(entry.origin)})[/dim]" if entry.origin else ""
        console.print(f"[bold]{entry.name}[/bold]  {escape(entry.description)}{origin}")


@app.command()
def tasks(study: Path | None = StudyPluginsOpt) -> None:
    """List the registered tasks (built in, installed plugins, and with --study that study's plugins)."""
    from samplelab.tasks import TASKS

    _list_entries(TASKS, study)


@app.command()
def models(study: Path | None = StudyPluginsOpt) -> None:
    """List the registered models (built in, installed plugins, and with --study that study's plugins)."""
    from samplelab.models import MODELS

    _list_entries(MODELS, study)


@contextmanager
def training_progress(description: str):
    """A Rich progress bar fed by the runner's callbacks (Ctrl-C is :func:`samplelab.cli.main`'s).

    Yields a :class:`~samplelab.sweep.runner.RunProgress`; each plan (a sweep, or a refinement
    round) adds one bar.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from samplelab.sweep.runner import RunProgress
    from samplelab.training.compile_cache import enable_compilation_cache

    enable_compilation_cache()
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
            state.update(done=0, total=pending)
            state["task"] = bar.add_task(escape(description), total=max(model_steps, 1), runs=f"0/{pending} runs")

        def on_eval(model_steps: int) -> None:
            bar.advance(state["task"], model_steps)

        def on_ensemble(runs: int) -> None:
            state["done"] += runs
            bar.update(state["task"], runs=f"{state['done']}/{state['total']} runs")

        def on_failure(runs: int, error: str) -> None:
            bar.console.print(f"{runs} runs failed: {error}", markup=False)

        yield RunProgress(on_plan, on_eval, on_ensemble, on_failure)


@app.command()
def run(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    max_ensemble: int = MaxEnsembleOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and show the plan; train nothing"),
    backend: Backend = typer.Option(Backend.local, "--backend", help="local (this machine) or ray (a Ray cluster)"),
    workers: int = typer.Option(1, "--workers", min=1, max=1024, help="local: worker processes (≤ cores)"),
    address: str | None = typer.Option(None, "--address", help="ray: HOST:PORT of the cluster; default a local one"),
    max_retries: int = typer.Option(2, "--max-retries", min=0, max=100, help="retries of a failed ensemble"),
    until_decided: bool = typer.Option(
        False, "--until-decided", help="train look by look ([analysis.sequential]) until every claim is decided"
    ),
    max_runs: int | None = typer.Option(
        None, "--max-runs", min=1, help="--until-decided: at most this many stored runs"
    ),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", min=0.0, help="start no ensemble after this many minutes (re-running continues)"
    ),
) -> None:
    """Train every run of a study that is not yet in the store (re-running resumes).

    Several runs of this command on one store share the work; each ensemble is trained once.
    With --until-decided, train the study's sequential design instead: the first seeds of
    every cell, then more seeds only where a claim is still undecided (docs/analysis.md,
    "Sequential design").
    """
    from samplelab.analysis.reach import unreachable_agreements
    from samplelab.ledger.leases import failed_runs, untrained_keys
    from samplelab.spec.study import load_study
    from samplelab.sweep.ensembles import pending_runs, planned_ensembles
    from samplelab.sweep.executors import make_executor
    from samplelab.sweep.runner import run_study
    from samplelab.sweep.sequential import next_round, run_until_decided

    study = load_study(study_file, profile)
    if until_decided and study.analysis.sequential is None:
        raise ConfigError(
            f"{study_file}: --until-decided needs the study's looks — fix: add [analysis.sequential] looks = [3] "
            "(seed counts at which the claims are judged before all seeds; docs/analysis.md)"
        )
    if max_runs is not None and not until_decided:
        raise ConfigError("--max-runs: a budget of the sequential design — fix: add --until-decided")
    with open_store(store) as results:
        if dry_run and until_decided:
            upcoming = next_round(study, results)
            stored = len(results.finished_keys(s.key for s in upcoming or []))
            what = "round" if study.analysis.bisected else "look"
            console.print(
                f"{study.name} [{study.profile}]: until decided, "
                + (f"the next {what} trains {len(upcoming) - stored} of its {len(upcoming)} runs "
                   f"({stored} already stored); " if upcoming else "every look is trained; ")
                + ("later rounds bisect each seed's sizes, " if study.analysis.bisected else "")
                + f"later looks add seeds where claims stay open, up to {len(study.runs)} runs",
                markup=False,
            )  # fmt: skip
        elif dry_run:
            pending = pending_runs(study, results)
            plan = planned_ensembles(study.runs, results, max_ensemble)
            console.print(
                f"{study.name} [{study.profile}]: {len(study.runs)} runs, {len(study.runs) - len(pending)} "
                f"already stored, {len(pending)} to train in {len(plan)} ensembles",
                markup=False,
            )
        if dry_run:
            for line in unreachable_agreements(study):
                console.print(line, markup=False)
            return
        # None: run_study's in-process default, which reports every evaluation to the bar.
        default = backend == Backend.local and workers == 1 and address is None
        executor = None if default else make_executor(backend.value, workers, address)
        with training_progress(study.name) as progress:
            ensembles = []  # runs stored by each ensemble this process trained

            def on_ensemble(runs: int, forward=progress.on_ensemble) -> None:
                ensembles.append(runs)
                forward(runs)

            progress.on_ensemble = on_ensemble
            options = {"max_ensemble": max_ensemble, "progress": progress, "executor": executor}
            deadline = None if max_minutes is None else time.monotonic() + 60 * max_minutes
            if until_decided:
                outcome = run_until_decided(
                    study, results, max_runs=max_runs, max_minutes=max_minutes, max_retries=max_retries, **options
                )
                trained = outcome.trained
            else:
                trained = run_study(study, results, max_retries=max_retries, deadline=deadline, **options)
        stored = len(results.finished_keys(s.key for s in study.runs))
        failed = failed_runs(results, (s.key for s in study.runs))
        untrained = untrained_keys(results, (s.key for s in study.runs))
    console.print(
        f"trained {trained} runs in {len(ensembles)} ensembles; {stored}/{len(study.runs)} of {study.name} "
        f"[{study.profile}] stored in {store}",
        markup=False,
    )
    if until_decided:
        print_sequential_outcome(study, outcome)
    elif deadline is not None and untrained:
        console.print(f"--max-minutes {max_minutes:g} spent: run the same command again to continue", markup=False)
    if failed:
        console.print(
            f"{len(failed)} runs failed after {failed[0][2]} attempts ({failed[0][1]}); they are in the store's "
            "failed_runs table, and the next `samplelab run` tries them again",
            markup=False,
        )
        raise typer.Exit(1)


def print_sequential_outcome(study, outcome, out=console) -> None:
    """One line: the looks a sequential run trained and why it stopped."""
    steps = sum(s.config.training.steps for s in study.runs)
    rounds = ", ".join(str(len(r)) for r in outcome.rounds)
    looks = f"rounds of {rounds} runs" if rounds else "no look trained"
    why = {
        "decided": "no claim left open (each decided or futile)",
        "last look": "the last look judged",
        "budget": "budget spent",
    }
    out.print(
        f"until decided: {looks}; {why[outcome.stopped]}; {outcome.stored_runs}/{len(study.runs)} "
        f"runs and {outcome.stored_model_steps:,}/{steps:,} model-steps of the whole design stored",
        markup=False,
    )


@app.command()
def refine(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    ratio: float = typer.Option(1.25, "--ratio", min=1.0001, help="stop when a cell's n* CI upper ÷ lower ≤ this"),
    max_rounds: int = typer.Option(4, "--max-rounds", min=1, max=50, help="most bisection rounds"),
    max_ensemble: int = MaxEnsembleOpt,
) -> None:
    """Narrow n*(ε, δ) by adding training-set sizes between the bracketing grid points.

    Needs the study's grid runs stored (`samplelab run`) and a fixed-regime grid over
    training.n_train. Each round trains one ensemble per cell shape; re-running resumes.
    """
    from samplelab.spec.run_config import N_TRAIN
    from samplelab.spec.study import load_study
    from samplelab.sweep.refine import refine_n_star

    study = load_study(study_file, profile)
    if not study.refinable:
        raise ConfigError(f'{study_file}: refine needs the fixed regime and a grid over "{N_TRAIN}" — fix: add one')
    with open_store(store, must_exist=True) as results, training_progress(f"{study.name} refinement") as progress:
        history = refine_n_star(
            study, results, ratio=ratio, max_rounds=max_rounds, max_ensemble=max_ensemble, progress=progress
        )
    for number, statuses in enumerate(history[:-1], start=1):
        added = [s for s in statuses if s.added is not None]
        if added:
            sizes = ", ".join(f"{point_text(s.point, empty='all')}: n={s.added}" for s in added)
            console.print(f"round {number}: added {sizes}", markup=False)
    for status in history[-1]:
        value = "not reached" if status.n_star is None else f"{status.n_star:.4g}"
        console.print(
            f"{point_text(status.point, empty='all')}: n* = {value} {interval_text(status.ci)} — "
            f"{status.reason or f'open (a further round would add n={status.added})'}",
            markup=False,
        )
