"""Commands that look inside: ``samplelab id`` (intrinsic dimension of points in a .npy / .npz
file), and the two that retrain a stored run to probe it, ``samplelab embeddings`` (such a
file from a model's final-layer embeddings) and ``samplelab attention-map`` (seed 001's figure)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from samplelab.analysis.text import point_text
from samplelab.cli.common import ProfileOpt, StoreOpt, StudyArg, app, console, load_runs
from samplelab.core.errors import ConfigError


class Estimator(StrEnum):
    mle = "mle"
    twonn = "twonn"
    all = "all"


class DistanceMetric(StrEnum):
    euclidean = "euclidean"
    cosine = "cosine"


class Average(StrEnum):
    mean = "mean"
    harmonic = "harmonic"


def _integers(text: str | None, option: str) -> list[int]:
    if not text:
        return []
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a comma-separated list of integers — fix: e.g. 5,10,20") from None
    if not values or min(values) < 2:
        raise ConfigError(f"{option}: {text!r} needs integers ≥ 2 — fix: e.g. 5,10,20")
    return values


@app.command("id")
def intrinsic_dimension(
    file: Path = typer.Argument(..., help="points: a .npy file, or a .npz (see --key); rows are points"),
    key: str | None = typer.Option(None, "--key", help="array name inside a .npz holding several"),
    estimator: Estimator = typer.Option(Estimator.all, "--estimator", help="mle (Levina–Bickel), twonn, or all"),
    k: int = typer.Option(20, "--k", min=2, max=10_000, help="MLE neighbours"),
    metric: DistanceMetric = typer.Option(DistanceMetric.euclidean, "--metric", help="MLE distance"),
    average: Average = typer.Option(Average.mean, "--average", help="MLE global estimate from point-wise ones"),
    ks: str | None = typer.Option(None, "--ks", help="multi-scale: the MLE at each k, e.g. 5,10,20,40"),
    sizes: str | None = typer.Option(
        None, "--sizes", help="multi-scale: estimates on random subsamples, e.g. 500,1000"
    ),
) -> None:
    """Estimate the intrinsic dimension of a point cloud (e.g. a model's embeddings)."""
    from samplelab.stats import intrinsic_dimension as id_

    scale_ks, subsample_sizes = _integers(ks, "--ks"), _integers(sizes, "--sizes")
    points = id_.load_points(file, key)
    console.print(f"{file}: {points.shape[0]} points in {points.shape[1]} dims", markup=False)
    if estimator in (Estimator.mle, Estimator.all):
        value = id_.mle(points, k, metric.value, average.value)
        console.print(f"mle (k={k}, {metric.value}, {average.value}): {value:.3f}", markup=False)
    if estimator in (Estimator.twonn, Estimator.all):
        console.print(f"twonn: {id_.two_nn(points):.3f}", markup=False)
    for scale_k, value in id_.mle_vs_k(points, scale_ks, metric.value, average.value):
        console.print(f"mle at k={scale_k}: {value:.3f}", markup=False)
    for size, mean, std in id_.vs_subsample(
        points, subsample_sizes, lambda p: id_.mle(p, k, metric.value, average.value)
    ):
        console.print(f"mle on {size} points: {mean:.3f} ± {std:.3f} (5 subsamples)", markup=False)


@app.command("embeddings")
def embeddings(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    run: str | None = typer.Option(
        None, "--run", help="run key (see `samplelab results`); default: first seed at the largest n_train"
    ),
    out: Path = typer.Option(..., "--out", help="write the embeddings here (.npz, array 'embeddings')"),
) -> None:
    """Retrain a stored run and write its final-layer embeddings of test examples to a .npz
    (then `samplelab id FILE`); prints their intrinsic dimension by seed 002's estimator."""
    import numpy as np

    from samplelab.analysis.runs import embedded_run
    from samplelab.training.probes import embedding_dimension
    from samplelab.training.retrain import stored_run_embeddings

    if out.suffix != ".npz":
        raise ConfigError(f"--out {out}: embeddings are written as .npz — fix: e.g. --out embeddings.npz")
    runs = load_runs(study_file, profile, store, None, required=True)
    spec, record = embedded_run(runs, run)
    console.print(
        f"retraining run {spec.key} ({point_text(spec.point, empty='no grid')}, seed {spec.seed})…", markup=False
    )
    points, result = stored_run_embeddings(spec, record)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, embeddings=points.astype(np.float32))
    retrained, stored = embedding_dimension(points), record.embedding_dimension
    console.print(
        f"{out}: {points.shape[0]} test examples × {points.shape[1]} dims (final test metric retrained "
        f"{result.test_metric[0, -1]:.4g}, stored {record.final_metric:.4g})",
        markup=False,
    )
    stored_text = "not stored" if stored is None else f"{stored:.3f}"
    console.print(f"mle (k=20, cosine, mean): {retrained:.3f} (stored with the run: {stored_text})", markup=False)


@app.command("attention-map")
def attention_map(
    study_file: Path = StudyArg,
    profile: str | None = ProfileOpt,
    store: Path = StoreOpt,
    out: Path = typer.Option(
        Path("reports"), "--out", help="the study's figure folder (as for `samplelab report`); writes attention_map.png"
    ),
) -> None:
    """Retrain one stored run of a model with an attention map and draw |W_Q W_Kᵀ| per head
    (seed 001's figure); `samplelab report` then embeds it."""
    runs = load_runs(study_file, profile, store, None, required=True)
    path = write_attention_map(runs, out)
    if path is None:
        raise ConfigError(
            f"{study_file}: no finished run of a model with an attention map (attention_mlp) — fix: run the "
            "study first, or use a study of such a model"
        )
    console.print(f"wrote {path}", markup=False)


def write_attention_map(runs, figure_dir: Path) -> Path | None:
    """Retrain the study's mapped run (:func:`~samplelab.analysis.runs.mapped_run`) and draw its
    attention map into ``figure_dir``; ``None`` when no stored run's model has one."""
    from samplelab.analysis.runs import mapped_run
    from samplelab.report.attention_map import draw_attention_map, input_blocks
    from samplelab.tasks import build_task
    from samplelab.training.retrain import stored_run_attention_map

    chosen = mapped_run(runs)
    if chosen is None:
        return None
    spec, record = chosen
    maps, retrained = stored_run_attention_map(spec, record)
    title = (
        f"|W_Q W_Kᵀ| of {point_text(spec.point)}, seed {spec.seed}\n"
        f"retrained: final test metric {retrained:.4g} (stored: {record.final_metric:.4g})"
    )
    return draw_attention_map(maps, input_blocks(build_task(spec.config.task)), title, Path(figure_dir), spec.key)
