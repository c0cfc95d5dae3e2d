"""Commands that read the store: ``results``, ``report`` and ``analyze``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer
from rich.markup import escape

from samplelab.analysis.claim_table import claim_rows, verdict_counts
from samplelab.analysis.text import (
    RELATION_SYMBOL,
    exponent_text,
    fit_x_label,
    prediction_text,
    threshold_text,
    value_ci,
)
from samplelab.cli.common import (
    Format,
    ProfileOpt,
    StoreOpt,
    StudyArg,
    ThresholdOpt,
    app,
    console,
    load_runs,
    measure_of,
    open_store,
    print_rows,
)
from samplelab.core.errors import ConfigError
from samplelab.core.run_fields import SCALAR_COLUMNS


@app.command()
def results(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, csv, json or parquet (needs --out)"),
    cells: bool = typer.Option(False, "--cells", help="one row per cell (data needed per seed) instead of per run"),
    threshold_relative: float | None = ThresholdOpt,
    out: Path | None = typer.Option(None, "--out", help="write csv / json / parquet to this file instead of stdout"),
) -> None:
    """Show or export the stored runs of a study (``—`` in samples_to_threshold: not reached).

    csv, json and parquet carry every column (end-of-training numbers, run key, config);
    parquet adds each run's learning curves as lists.
    """
    from samplelab.analysis.cells import cell_rows
    from samplelab.analysis.export import run_table, write_parquet

    if fmt is Format.parquet and out is None:
        raise ConfigError("--format parquet: Parquet is binary — fix: add --out FILE.parquet")
    if fmt is Format.table and out is not None:
        raise ConfigError("--out: a table is for the terminal — fix: add --format csv, json or parquet")
    runs = load_runs(study_file, profile, store, threshold_relative)
    rows = cell_rows(runs) if cells else run_table(runs, curves=fmt is Format.parquet)
    if fmt is Format.parquet:
        console.print(f"wrote {len(rows)} rows to {write_parquet(rows, out)}", markup=False)
        return
    title = f"{study_file} [{profile or 'default'}]"
    if cells and rows:
        title += f": {measure_of(rows)}"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as file, contextlib.redirect_stdout(file):
            print_rows(rows, fmt, title)
        console.print(f"wrote {len(rows)} rows to {out}", markup=False)
        return
    print_rows(rows, fmt, title, hide=("measure", "run_key", "baseline", "config_json", *SCALAR_COLUMNS))


@app.command()
def report(
    study_file: Path | None = typer.Argument(
        None, help="study file (.toml); omitted: every study in the store", show_default=False
    ),
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    out: Path = typer.Option(Path("reports"), "--out", help="folder for report.html, summary.md and the figures"),
    threshold_relative: float | None = ThresholdOpt,
) -> None:
    """Write a self-contained report.html, a summary.md and the figures (PNG).

    With a study file: that study, and its per-cell table is printed. Without: every study
    the store holds (from the study files it keeps), opening with the claim table, which is
    printed; --profile then keeps only studies run with that profile.
    """
    if study_file is None:
        _report_store(store, out, profile, threshold_relative)
        return
    from samplelab.analysis.cells import cell_rows
    from samplelab.analysis.document import analyze_study
    from samplelab.report.figures import figures_left_out, write_figures
    from samplelab.report.html import write_study_report

    runs = load_runs(study_file, profile, store, threshold_relative, required=True)
    study = runs.study
    rows = cell_rows(runs)
    print_rows(rows, Format.table, f"{study.name} [{study.profile}]: {measure_of(rows)}", hide=("measure",))
    document = analyze_study(runs)
    figures = write_figures(runs, out, document)
    for path in [*figures, *write_study_report(runs, document, figures, out)]:
        console.print(f"wrote {path}", markup=False)
    for line in figures_left_out(runs, out, store):
        console.print(f"not drawn: {line}", markup=False)


def _report_store(store: Path, out: Path, profile: str | None, threshold_relative: float | None) -> None:
    from samplelab.analysis.runs import stored_studies
    from samplelab.report.store_report import write_store_report

    if threshold_relative is not None:
        raise ConfigError("--threshold-relative: applies to one study — fix: give its study file, or drop the option")
    with open_store(store, must_exist=True) as results:
        studies, skipped = stored_studies(results)
        kept = [s for s in studies if profile is None or s.profile == profile]
        if not kept:
            held = ", ".join(f"{s.name} [{s.profile}]" for s in studies) or "none with a stored study file"
            raise ConfigError(f"--store {store}: no studies to report (the store holds: {held}) — fix: run one first")
        result = write_store_report(results, out, kept)
    for line in skipped + result.skipped:
        console.print(f"left out {line}", markup=False)
    for line in result.figures_left_out:
        console.print(f"not drawn: {line}", markup=False)
    print_claim_table(result.claims)
    console.print(f"wrote {result.html} and {result.markdown} ({len(result.studies)} studies)", markup=False)


WIDE_ENOUGH_FOR_A_TABLE = 120  # columns; narrower (a default terminal, a log): one block per claim


def print_claim_table(rows: list[dict[str, str]]) -> None:
    """The claim table in the terminal, verdicts coloured: a table on a wide terminal, else
    one block per claim whose lines wrap between words (a default 80-column terminal or a
    log, where table cells would wrap mid-word)."""
    from rich.table import Table

    if not rows:
        console.print("no claims: none of these studies states a theory or a claim", markup=False)
        return
    colour = {"agrees": "green", "disagrees": "red", "inconclusive": "yellow"}
    if console.width < WIDE_ENOUGH_FOR_A_TABLE:
        import textwrap

        from rich.text import Text

        def wrapped(text: str, indent: str = "", style: tuple[int, str] | None = None) -> None:
            """``text`` wrapped between words at the console's width, continuation lines indented."""
            filled = textwrap.fill(text, console.width - 1, initial_indent=indent, subsequent_indent=indent + "  ",
                                   break_long_words=False, break_on_hyphens=False)  # fmt: skip
            line = Text(filled)
            if style:
                line.stylize(style[1], 0, style[0])
            console.print(line)

        wrapped("claims: the seeds' statements beside what was measured (docs/analysis.md, Claims)")
        for row in rows:
            verdict = row["verdict"]
            console.print()
            wrapped(f"{verdict}: {row['claim']}", style=(len(verdict), colour[verdict]))
            wrapped(f"{row['study']} · {row['kind']} · coverage: {row['coverage']}", "  ")
            wrapped(f"measured: {row['measured']}", "  ")
            wrapped(f"allows: {row['allows']}", "  ")
        console.print()
        wrapped(", ".join(f"{n} {v}" for v, n in verdict_counts(rows).items()))
        return
    table = Table(title="claims: the seeds' statements beside what was measured (docs/analysis.md, Claims)")
    columns = ("study", "claim", "kind", "measured", "allows", "coverage")
    for column in (*columns, "verdict"):
        table.add_column(column, overflow="fold")
    for row in rows:
        verdict = row["verdict"]
        table.add_row(*(escape(row[c]) for c in columns), f"[{colour[verdict]}]{verdict}[/]")
    console.print(table)
    console.print(", ".join(f"{n} {v}" for v, n in verdict_counts(rows).items()), markup=False)


_LAW_TEXT = {"power": "a·x^γ", "power_offset": "a·x^−α + c", "broken_power": "broken power"}


def _print_analysis(document: dict) -> None:
    from rich.table import Table

    level = f"{document['settings']['confidence']:.0%}"
    cells = Table(title=escape(f"{document['study']} [{document['profile']}]: {document['measure'].replace('_', ' ')}"))
    keys = list(document["cells"][0]["point"]) if document["cells"] else []
    fixed = document["regime"] == "fixed"  # n* exists only there
    columns = [*keys, "seeds", "converged", f"KM median [{level} CI]"]
    for column in columns + ([f"n* (δ={document['settings']['delta']:g}) [{level} CI]"] if fixed else []):
        cells.add_column(column)
    for cell in document["cells"]:
        row = [*(str(cell["point"][k]) for k in keys), str(cell["seeds"]), f"{cell['converged']}/{cell['seeds']}"]
        row.append(value_ci(cell["km"]["0.5"], ".3g"))
        if fixed:
            row.append("—" if cell["n_star"] is None else value_ci(cell["n_star"]))
        cells.add_row(*row)
    console.print(cells)
    warnings = sorted({c["n_star"]["warning"] for c in document["cells"] if c["n_star"] and c["n_star"].get("warning")})
    for warning in warnings:
        console.print(f"n*: {warning}", markup=False)
    probe = document.get("attention_entropy")
    if probe:
        console.print(
            f"attention entropy: {probe['decreased']} of {probe['curves']} (layer, head, run) curves end lower "
            f"than they start ({probe['decreased_fraction']:.0%}); median change {probe['median_change_nats']:+.3f} nats",
            markup=False,
        )
    for entry in document.get("model_selection", []):
        _print_model_selection(entry, level, document["settings"]["delta"])
    if document.get("outcomes"):
        _print_outcomes(document, level)
    if not document["fits"]:
        return
    console.print(f"fitted laws ({level} CIs: cluster bootstrap over seeds)", markup=False)
    for number, fit in enumerate(document["fits"], start=1):
        series = ", ".join(f"{k}={v}" for k, v in fit["series"].items()) or "all cells"
        result = exponent_text(fit, ".3f")
        y = fit["y"] + threshold_text(fit)
        lines = [f"{number}. {y} = {_LAW_TEXT[fit['law']]}, x = {fit_x_label(fit)} ({series}): {result}"]
        theory = fit["theory"]
        if theory:
            label = theory["label"] or theory["expression"]
            if theory["predicted"] is None:
                lines.append(f"   theory: ({label}) → no prediction: a measured variable was not recorded")
            else:
                verdict = theory["verdict"] + (f" ({theory['reason']})" if theory["reason"] else "")
                relation = RELATION_SYMBOL[theory["relation"]]
                predicted = prediction_text(theory)
                margin = f", margin {theory['margin']:g}" if theory["margin"] else ""
                lines.append(f"   theory: {relation} {predicted}{margin} ({label}) → {verdict}")
        extrapolation = fit["extrapolation"]
        if extrapolation:
            lines.append(
                f"   held out x = {extrapolation['held_out_x']:g}: predicted {extrapolation['predicted']:.4g}, "
                f"observed {extrapolation['observed']:.4g} ({extrapolation['relative_error']:+.1%})"
            )
        for line in lines:
            console.print(line, markup=False)


def _print_outcomes(document: dict, level: str) -> None:
    """Final outcomes per grid point (``[analysis] outcomes = true``): medians with CIs."""
    from rich.table import Table

    outcomes = document["outcomes"]
    accuracy = "test_accuracy" in outcomes[0]
    table = Table(title=escape(f"{document['study']} [{document['profile']}]: final outcomes (median [{level} CI])"))
    keys = list(outcomes[0]["point"])
    measured = (
        [("test_accuracy", "test accuracy"), ("train_accuracy", "train accuracy")]
        if accuracy
        else [("test_metric", "test metric"), ("train_metric", "train metric")]
    )
    measured += [
        ("weight_sparsity", "weight sparsity"),
        ("train_set_loss", "train loss"),
        ("test_loss_min", "test loss min"),
        ("test_loss_final", "test loss final"),
        ("test_loss_rise", "rise (final/min)"),
    ]
    for column in [*keys, "runs", *(title for _, title in measured)]:
        table.add_column(column)
    for entry in outcomes:
        cells = [value_ci(entry.get(name), ".3g") if entry.get(name, {}).get("n") else "—" for name, _ in measured]
        runs = f"{entry['runs'] - entry['diverged_runs']}/{entry['runs']}"
        table.add_row(*(str(entry["point"][k]) for k in keys), runs, *cells)
    console.print(table)


def _print_model_selection(entry: dict, level: str, delta: float) -> None:
    from rich.table import Table

    series = ", ".join(f"{k}={v}" for k, v in entry["series"].items())
    if entry["status"] != "ok":
        console.print(f"model selection {series}: {entry['status']}", markup=False)
        return
    table = Table(title=escape(f"model selection by validation loss {series}".strip()))
    table.add_column("strategy")
    table.add_column(f"n* (δ={delta:g}) [{level} CI]")
    for name, estimate in entry["n_star"].items():
        table.add_row(escape(name), value_ci(estimate))
    table.add_row(
        f"selected + {entry['validation_size']} validation examples", value_ci(entry["n_star_with_validation"])
    )
    console.print(table)
    ratio = entry["ratio_largest_to_selected"]
    console.print(
        f"n*(largest) / n*(selected) = {value_ci(ratio, '.3g')} (paired bootstrap over {entry['seeds']} seeds)",
        markup=False,
    )


@app.command()
def analyze(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    as_json: bool = typer.Option(False, "--json", help="print the analysis document (schema samplelab.analysis/2)"),
    bootstrap: int | None = typer.Option(None, "--bootstrap", min=100, max=100_000, help="override the replicates"),
    seed: int = typer.Option(0, "--seed", min=0, help="bootstrap seed (same store + seed → same numbers)"),
    threshold_relative: float | None = ThresholdOpt,
) -> None:
    """Per cell: KM median of the data needed and n*(ε, δ) with CIs; per study: fitted laws vs theory."""
    import json

    from samplelab.analysis.document import analyze_study

    runs = load_runs(study_file, profile, store, threshold_relative, required=True)
    document = analyze_study(runs, bootstrap=bootstrap, seed=seed)
    if as_json:
        print(json.dumps(document, indent=1, ensure_ascii=False))
    else:
        _print_analysis(document)
        print_claim_table(claim_rows(document))
