"""Figures of a study, drawn only from stored runs (PNG, matplotlib's Agg backend).

* ``metric_vs_train_size.png`` (fixed regime): final test metric vs training-set size,
  one line per cell (median over seeds, band = min–max), threshold dashed.
* ``learning_curves.png`` (online regime): test metric vs samples seen, one line per cell.
* ``data_to_threshold.png``: data needed to reach the threshold vs the cell's grid value,
  one dot per seed (censored seeds as open triangles above the data); the Kaplan–Meier
  median and n* with CIs and the fitted n* law when an analysis is given (else the plain
  median); for a ``task.set_size`` axis, reference lines at 4·N and 8·N (seed 000's claim).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter, ScalarFormatter

from samplelab.analysis import StudyRuns, cell_of, cell_rows, cell_sort_key


def _label(keys: list[str], cell: tuple) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, cell, strict=True)) or "all runs"


def _cells(runs: StudyRuns) -> dict[tuple, list]:
    cells: dict[tuple, list] = {}
    for record in runs.records:
        cells.setdefault(cell_of(record, runs.cell_keys), []).append(record)
    return cells


def plot_metric_vs_train_size(runs: StudyRuns, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for cell, records in sorted(_cells(runs).items(), key=lambda kv: cell_sort_key(kv[0])):
        sizes = sorted({r.n_train for r in records})
        finals = [[r.final_metric for r in records if r.n_train == n] for n in sizes]
        median = [np.nanmedian(f) for f in finals]
        line = ax.plot(sizes, median, marker="o", label=_label(runs.cell_keys, cell))[0]
        ax.fill_between(
            sizes, [np.nanmin(f) for f in finals], [np.nanmax(f) for f in finals], alpha=0.15, color=line.get_color()
        )
    threshold = next(iter(runs.thresholds.values()))
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3g}")
    ax.set(yscale="log", xlabel="training-set size n (examples)", ylabel="final test metric")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_title(f"{runs.study.name}: test metric vs data (median, band = min–max over seeds)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_learning_curves(runs: StudyRuns, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for cell, records in sorted(_cells(runs).items(), key=lambda kv: cell_sort_key(kv[0])):
        curves = np.stack([r.test_metric for r in records])
        ax.plot(records[0].samples_seen[1:], np.nanmedian(curves, axis=0)[1:], label=_label(runs.cell_keys, cell))
    threshold = next(iter(runs.thresholds.values()))
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3g}")
    ax.set(xscale="log", yscale="log", xlabel="samples seen", ylabel="test metric (median over seeds)")
    ax.set_title(f"{runs.study.name}: learning curves")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _error_bars(entries: list[dict], ceiling: float) -> tuple[list, list, list]:
    """Values and asymmetric error bars from analysis entries; an unbounded limit reaches the plot edge."""
    values = [e["value"] for e in entries]
    lows = [v - (e["ci"][0] if e["ci"][0] is not None else v) for v, e in zip(values, entries, strict=True)]
    highs = [(e["ci"][1] if e["ci"][1] is not None else ceiling) - v for v, e in zip(values, entries, strict=True)]
    return values, lows, highs


def _draw_statistics(ax, document: dict, x_key: str, ceiling: float) -> None:
    """KM medians and n* with their CIs, and the fitted n* law, from an analysis document."""
    level = f"{document['settings']['confidence']:.0%}"
    for key, label, color, shift in (("km", "Kaplan–Meier median", "C0", 0.97), ("n_star", "n*(ε, δ)", "C1", 1.03)):
        cells = [c for c in document["cells"] if (c["km"]["0.5"] if key == "km" else c["n_star"] or {}).get("value")]
        if not cells:
            continue
        entries = [c["km"]["0.5"] if key == "km" else c["n_star"] for c in cells]
        values, lows, highs = _error_bars(entries, ceiling)
        xs = [c["point"][x_key] * shift for c in cells]
        ax.errorbar(xs, values, yerr=[lows, highs], color=color, marker="o", capsize=3, label=f"{label} ({level} CI)")
    for fit in document["fits"]:
        if fit["x"] != x_key or fit["y"] != "n_star" or fit["status"] != "ok" or fit["law"] != "power":
            continue
        gamma = fit["parameters"]["gamma"]
        xs = np.geomspace(min(p["x"] for p in fit["points"]), max(p["x"] for p in fit["points"]), 50)
        low, high = gamma["ci"]
        ax.plot(
            xs,
            fit["parameters"]["a"]["value"] * xs ** gamma["value"],
            color="C1",
            lw=1,
            alpha=0.7,
            label=f"n* fit: γ = {gamma['value']:.2f} [{low:.2f}, {high:.2f}]",
        )


def plot_data_to_threshold(runs: StudyRuns, path: Path, document: dict | None = None) -> Path | None:
    """Needs exactly one numeric cell key to use as the x axis; otherwise draws nothing.

    With an analysis ``document`` (:func:`samplelab.analyze.analyze_study`) it draws KM
    medians and n* with CIs and the fitted n* law; without, the plain median over seeds.
    """
    keys = runs.cell_keys
    rows = cell_rows(runs)
    if len(keys) != 1 or not all(isinstance(row[keys[0]], int | float) for row in rows):
        return None
    x_key = keys[0]
    rows.sort(key=lambda row: row[x_key])
    reached = [v for row in rows for v in row["per_seed"].values() if v is not None]
    ceiling = (max(reached) if reached else 1) * 2
    fig, ax = plt.subplots(figsize=(7, 4.5))
    any_missed = False
    for row in rows:
        values = list(row["per_seed"].values())
        # Seeds spread slightly sideways (×1.00–1.06) so that equal values stay visible.
        spread = row[x_key] * (1 + 0.06 * np.linspace(-0.5, 0.5, len(values)))
        hit = [(x, v) for x, v in zip(spread, values, strict=True) if v is not None]
        ax.scatter([x for x, _ in hit], [v for _, v in hit], color="C0", alpha=0.6, s=18)
        missed = [x for x, v in zip(spread, values, strict=True) if v is None]
        if missed:
            any_missed = True
            ax.scatter(missed, [ceiling] * len(missed), marker="^", facecolors="none", edgecolors="C3", s=30)
    if document is None:
        with_median = [row for row in rows if row["median"] is not None]
        ax.plot(
            [row[x_key] for row in with_median],
            [row["median"] for row in with_median],
            color="C0",
            marker="o",
            label="median over seeds",
        )
    else:
        _draw_statistics(ax, document, x_key, ceiling)
    if x_key == "task.set_size" and runs.regime == "fixed":
        xs = np.array([row[x_key] for row in rows], dtype=float)
        ax.plot(xs, 4 * xs, "k:", lw=1, label="4·N (seed 000)")
        ax.plot(xs, 8 * xs, "k--", lw=1, label="8·N (seed 000)")
    if any_missed:
        ax.scatter(
            [], [], marker="^", facecolors="none", edgecolors="C3", label="not reached (censored, drawn at 2× max)"
        )
    measure = "training-set size to threshold" if runs.regime == "fixed" else "samples to threshold"
    ax.set(xscale="log", yscale="log", xlabel=x_key, ylabel=measure)
    ax.set_xticks([row[x_key] for row in rows])
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    ax.set_title(f"{runs.study.name}: {measure}")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_figures(runs: StudyRuns, out_dir: Path, document: dict | None = None) -> list[Path]:
    """Every figure that applies to the study; returns the paths written.

    ``document`` is the study's analysis (adds CIs and fitted laws where a figure has them).
    """
    out_dir = Path(out_dir)
    paths = []
    if runs.regime == "fixed":
        paths.append(plot_metric_vs_train_size(runs, out_dir / "metric_vs_train_size.png"))
    else:
        paths.append(plot_learning_curves(runs, out_dir / "learning_curves.png"))
    data_plot = plot_data_to_threshold(runs, out_dir / "data_to_threshold.png", document)
    if data_plot is not None:
        paths.append(data_plot)
    return paths
