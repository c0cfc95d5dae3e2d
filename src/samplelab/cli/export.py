"""``samplelab export``: a study's stored runs to a tracker (MLflow)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from samplelab.cli.common import ProfileOpt, StoreOpt, StudyArg, app, console, load_runs


class Tracker(StrEnum):
    mlflow = "mlflow"


@app.command()
def export(
    study_file: Path = StudyArg,
    to: Tracker = typer.Option(..., "--to", help="the tracker: mlflow"),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="where (default: an embedded store, sqlite:///runs/mlflow.db)"
    ),
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
) -> None:
    """Log each stored run of a study as an MLflow run (params, curves by step, tags); again: adds nothing."""
    from samplelab.tracker.mlflow import DEFAULT_TRACKING_URI, export_to_mlflow

    runs = load_runs(study_file, profile, store, None, required=True)
    uri = tracking_uri or DEFAULT_TRACKING_URI
    done = export_to_mlflow(runs, uri)
    console.print(
        f"{done.experiment}: {done.logged} runs logged to MLflow at {uri}, {done.already} already there",
        markup=False,
    )
