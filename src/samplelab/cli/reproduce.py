"""``samplelab reproduce``: run every seed study of a plan, then report and print the claims."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from samplelab.cli.common import MaxEnsembleOpt, StoreOpt, app, console, open_store
from samplelab.cli.tables import print_claim_table
from samplelab.cli.train import print_sequential_outcome

DEFAULT_PLAN = Path("studies/reproduce.toml")


def _minutes_text(minutes: float | None) -> str:
    if minutes is None:
        return ""
    seconds = round(minutes * 60)
    return f"expected {seconds // 60}:{seconds % 60:02d}"


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


class _PlanBars:
    """One bar for the whole plan and one per study, fed by the runner's callbacks.

    The plan's bar counts expected seconds: each study's share is its measured minutes (or
    the mean of the others'), filled in proportion to the model-steps it has trained, so its
    ETA weighs a slow study as slow. A study's bar counts its model-steps; before it starts
    it shows the minutes the plan expects.
    """

    def __init__(self, bar, planned: list, profile: str) -> None:
        self.bar = bar
        known = [p.minutes for p in planned if p.minutes is not None]
        self.weights = [60 * (p.minutes or (sum(known) / len(known) if known else 1.0)) for p in planned]
        self.shares = [0.0] * len(planned)
        self.overall = bar.add_task(
            f"[bold]reproduce {profile}[/bold]", total=sum(self.weights), runs=f"{len(planned)} studies", note=""
        )
        self.tasks = [
            bar.add_task(
                escape(f"{p.study.name} [{p.study.profile}]"),
                total=1,
                start=False,
                runs="",
                note=_minutes_text(p.minutes),
            )
            for p in planned
        ]

    def _share(self, index: int, fraction: float) -> None:
        self.shares[index] = self.weights[index] * min(fraction, 1.0)
        self.bar.update(self.overall, completed=sum(self.shares))

    def start(self, index: int) -> tuple:
        """The callbacks (a ``RunProgress``) for study ``index``, and its counts (model-steps
        done / planned, runs stored / pending)."""
        from samplelab.sweep.runner import RunProgress

        bar, task = self.bar, self.tasks[index]
        state = {"done": 0, "total": 0, "runs": 0, "pending": 0}
        bar.start_task(task)
        bar.update(task, note="")

        def on_plan(pending: int, ensembles: int, model_steps: int) -> None:  # once per sweep or refinement round
            state["total"] += model_steps
            state["pending"] += pending
            bar.update(task, total=max(state["total"], 1), runs=f"{state['runs']}/{state['pending']} runs")

        def on_eval(model_steps: int) -> None:
            state["done"] += model_steps
            bar.update(task, completed=state["done"])
            self._share(index, state["done"] / max(state["total"], 1))

        def on_ensemble(runs: int) -> None:
            state["runs"] += runs
            bar.update(task, runs=f"{state['runs']}/{state['pending']} runs")

        def on_failure(runs: int, error: str) -> None:
            bar.console.print(f"{runs} runs failed: {error}", markup=False)

        return RunProgress(on_plan, on_eval, on_ensemble, on_failure), state

    def finish(self, index: int, state: dict[str, int]) -> None:
        task = self.tasks[index]
        self.bar.update(task, total=max(state["total"], 1), completed=max(state["total"], 1))
        self.bar.stop_task(task)
        self._share(index, 1.0)

    def note(self, text: str) -> None:
        self.bar.update(self.overall, note=text)


def print_study_claims(study, results) -> None:
    """One study's claims, judged on what the store now holds (the report judges them again
    at the end, beside every other study's)."""
    from samplelab.analysis.claim_table import claim_rows
    from samplelab.analysis.document import analyze_study
    from samplelab.analysis.runs import load_study_runs

    try:
        runs = load_study_runs(study, results)
        rows = claim_rows(analyze_study(runs)) if runs.records else []
    except Exception as err:  # a claim that cannot be judged now must not stop the training
        console.print(f"{study.name}: claims not judged yet ({type(err).__name__}: {err})", markup=False)
        return
    if rows:
        print_claim_table(rows)


@app.command()
def reproduce(
    profile: str = typer.Option(
        "quick",
        "--profile",
        "-p",
        help="a profile of the plan: quick (2 CPU cores, about 31 min of training), quick-all (every seed study, quick), full",
    ),
    plan: Path = typer.Option(DEFAULT_PLAN, "--plan", help="the plan file: which studies each profile runs"),
    store: Path = StoreOpt,
    out: Path = typer.Option(Path("reports"), "--out", help="folder for report.html, summary.md and the figures"),
    max_ensemble: int = MaxEnsembleOpt,
    max_minutes: float | None = typer.Option(
        None,
        "--max-minutes",
        min=0.0,
        help="start no ensemble after this many minutes; the claims left short say so, and re-running continues",
    ),
) -> None:
    """Run every seed study of the plan through the store (re-running resumes), then write
    the report of those studies and print the claim table.

    Shows one bar for the whole plan and one per study, each with its ETA (before a study
    starts: the time it took on 2 CPU cores, from the plan). With --max-minutes, training
    stops at the first ensemble that would start after the budget (`make run`'s, so that it
    ends in under 20 minutes): a claim whose runs are not all stored is inconclusive and
    says so, and the next `samplelab reproduce` on the same store continues.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from samplelab.cli.probe import write_attention_map
    from samplelab.ledger.leases import failed_runs, untrained_keys
    from samplelab.report.store_report import write_store_report
    from samplelab.spec.plan import load_plan
    from samplelab.sweep.refine import refine_n_star
    from samplelab.sweep.runner import run_study
    from samplelab.sweep.sequential import run_until_decided
    from samplelab.training.compile_cache import enable_compilation_cache

    planned = load_plan(plan, profile)
    enable_compilation_cache()
    began = time.perf_counter()
    deadline = None if max_minutes is None else time.monotonic() + 60 * max_minutes
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[runs]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}"),
    )
    trained, cut = 0, []  # cut: the studies the budget stopped short
    with open_store(store) as results, Progress(*columns, console=console) as bar:
        bars = _PlanBars(bar, planned, profile)
        if max_minutes is not None:
            bars.note(f"budget: no ensemble starts after {max_minutes:g} min")
        for index, entry in enumerate(planned):
            progress, state = bars.start(index)
            study_began = time.perf_counter()
            options = {"max_ensemble": max_ensemble, "progress": progress, "deadline": deadline}
            if entry.until_decided:
                outcome = run_until_decided(entry.study, results, **options)
            else:
                run_study(entry.study, results, **options)
            unstored = len(untrained_keys(results, (spec.key for spec in entry.study.runs)))
            if entry.refine_rounds and not unstored:  # refinement plans from the whole grid
                refine_n_star(entry.study, results, max_rounds=entry.refine_rounds, **options)
            spent = deadline is not None and time.monotonic() >= deadline
            bars.finish(index, state)
            trained += state["runs"]  # stored by the sweep and the refinement
            bar.console.print(
                f"{entry.study.name} [{entry.study.profile}]: {state['runs']} runs trained "
                f"({len(entry.study.runs)} in the study), {_duration(time.perf_counter() - study_began)}",
                markup=False,
            )
            if entry.until_decided:
                print_sequential_outcome(entry.study, outcome, bar.console)
            short = outcome.stopped == "budget" if entry.until_decided else unstored or entry.refine_rounds
            if spent and short:  # a refinement the budget ended may have had rounds left
                cut.append(f"{entry.study.name} [{entry.study.profile}]")
                if unstored and not entry.until_decided:
                    bar.console.print(f"--max-minutes spent: {unstored} of its runs not trained", markup=False)
            print_study_claims(entry.study, results)  # as soon as the study ends, not only at the end
        studies = [entry.study for entry in planned]
        failed = failed_runs(results, (spec.key for study in studies for spec in study.runs))
        bars.note("writing the report")
        report = write_store_report(
            results,
            out,
            studies,
            on_study=lambda s: bars.note(f"report: {s.name}"),
            on_runs=write_attention_map,  # the figure that retrains a run: a report only reads
        )
        bars.note("")
    for line in report.skipped:
        console.print(f"left out {line}", markup=False)
    for line in report.figures_left_out:
        console.print(f"not drawn: {line}", markup=False)
    print_claim_table(report.claims)
    if cut:
        console.print(
            f"--max-minutes {max_minutes:g} spent before {len(cut)} of {len(planned)} studies ended ({', '.join(cut)}): "
            "a claim that reads runs not trained is inconclusive and says so (a refinement cut short leaves n* as "
            "measured so far); the same command continues where this one stopped",
            markup=False,
        )
    console.print(
        f"reproduce {profile}: {len(planned)} studies, {trained} runs trained, {_duration(time.perf_counter() - began)}; "
        f"wrote {report.html} and {report.markdown}",
        markup=False,
    )
    if failed:
        console.print(
            f"{len(failed)} runs failed ({failed[0][1]}); they are in the store's failed_runs table, and the next "
            "`samplelab reproduce` tries them again",
            markup=False,
        )
        raise typer.Exit(1)
