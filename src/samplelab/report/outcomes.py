"""Figures of a study's final outcomes (studies with ``[analysis] outcomes = true``).

* ``metric_vs_sparsity.png``: final test accuracy (or metric) against the fraction of
  weight-matrix entries with |w| ≤ 1e-5, one dot per run, one colour per grid point, the
  median with its CIs as a cross (seed 000's accuracy-vs-sparsity figure).
* ``train_test_curves.png`` (finite dataset tasks, whose whole training set is evaluated):
  median over seeds of the loss (left) and accuracy or metric (right) on the training set
  (dashed) and the test set (solid) against optimizer steps, one colour per grid point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import point_text
from samplelab.report.plotting import error_bars, padded_curves, plt, save_figure

MAX_LINES = 10


def _records_of(runs: StudyRuns, point: dict) -> list:
    return [r for r in runs.records if r.status == "done" and all(r.point.get(k) == v for k, v in point.items())]


def plot_metric_vs_sparsity(runs: StudyRuns, outcomes: list[dict], path: Path) -> Path | None:
    if not any(r.weight_sparsity is not None for r in runs.records):
        return None
    accuracy = "test_accuracy" in outcomes[0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for entry in outcomes:
        records = [r for r in _records_of(runs, entry["point"]) if r.weight_sparsity is not None]
        if not records:
            continue
        y = [1 - r.final_metric if accuracy else r.final_metric for r in records]
        dots = ax.scatter([r.weight_sparsity for r in records], y, s=14, alpha=0.6, label=point_text(entry["point"]))
        central, spread = entry["weight_sparsity"], entry["test_accuracy" if accuracy else "test_metric"]
        if central["value"] is not None and spread["value"] is not None:  # an unbounded CI limit: no bar
            (x,), x_low, x_high = error_bars([central], ceiling=central["value"])
            (y,), y_low, y_high = error_bars([spread], ceiling=spread["value"])
            ax.errorbar(
                x, y, xerr=[x_low, x_high], yerr=[y_low, y_high],
                color=dots.get_facecolor()[0][:3], marker="X", ms=9, mec="k", capsize=3,
            )  # fmt: skip
    ax.set(xlabel="weight sparsity (fraction of |w| ≤ 1e-5)", ylabel="test accuracy" if accuracy else "test metric")
    ax.set_title(f"{runs.study.name}: final test {'accuracy' if accuracy else 'metric'} vs sparsity (× = median, CI)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def _median_curve(curves: list[np.ndarray]) -> np.ndarray:
    return np.nanmedian(padded_curves(curves), axis=0)


def plot_train_test_curves(runs: StudyRuns, outcomes: list[dict], path: Path) -> Path | None:
    if len(outcomes) > MAX_LINES or not any(r.train_set_loss is not None for r in runs.records):
        return None
    accuracy = "test_accuracy" in outcomes[0]
    fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for entry in outcomes:
        records = [r for r in _records_of(runs, entry["point"]) if r.train_set_loss is not None]
        if not records:
            continue
        steps = max((r.eval_steps for r in records), key=len)
        test_loss = loss_ax.plot(steps, _median_curve([r.test_loss for r in records]), label=point_text(entry["point"]))
        colour = test_loss[0].get_color()
        loss_ax.plot(steps, _median_curve([r.train_set_loss for r in records]), ls="--", color=colour)
        test = _median_curve([r.test_metric for r in records])
        train = _median_curve([r.train_metric for r in records])
        metric_ax.plot(steps, 1 - test if accuracy else test, color=colour)
        metric_ax.plot(steps, 1 - train if accuracy else train, ls="--", color=colour)
    loss_ax.plot([], [], "k-", label="test set")
    loss_ax.plot([], [], "k--", label="training set")
    loss_ax.set(yscale="log", xlabel="optimizer steps", ylabel="loss (median over seeds)")
    metric_ax.set(xlabel="optimizer steps", ylabel=("accuracy" if accuracy else "metric") + " (median over seeds)")
    loss_ax.legend(fontsize=7)
    fig.suptitle(f"{runs.study.name}: training set (dashed) and test set (solid)")
    return save_figure(fig, path)


def write_outcome_figures(runs: StudyRuns, document: dict | None, out_dir: Path) -> list[Path]:
    outcomes = (document or {}).get("outcomes") or []
    if not outcomes:
        return []
    drawn = [
        plot_metric_vs_sparsity(runs, outcomes, out_dir / "metric_vs_sparsity.png"),
        plot_train_test_curves(runs, outcomes, out_dir / "train_test_curves.png"),
    ]
    return [path for path in drawn if path is not None]
