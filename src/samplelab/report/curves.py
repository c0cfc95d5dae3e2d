"""Figures of curves drawn as small multiples: one panel per setting of the keys that are not
varied along the colour, one colour per value of the varied quantity (the numeric key with the
most values), its legend outside the axes.

* ``metric_vs_train_size.png`` (fixed regime): final test metric vs training-set size, one
  line per cell (median over seeds, band = min–max), threshold dashed.
* ``learning_curves.png``: median test metric (solid) and training loss (dotted) vs
  optimizer steps, per cell (and training-set size in the fixed regime).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps

from samplelab.analysis.cells import cell_sort_key, group_cells
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import point_text
from samplelab.report.plotting import padded_curves, plain_log_ticks, plt, save_figure

MAX_PANELS = 6
MAX_CURVES_PER_PANEL = 12  # more lines than this in one panel are unreadable


class SmallMultiples:
    """Groups (tuples of values of ``keys``) laid out as panels × colours."""

    def __init__(self, keys: list[str], groups: list[tuple]):
        counts = {i: len({g[i] for g in groups}) for i in range(len(keys))}
        varied = [i for i in range(len(keys)) if counts[i] > 1]
        numeric = [i for i in varied if all(isinstance(g[i], int | float) for g in groups)]
        self.colour_index = max(numeric or varied, key=lambda i: counts[i], default=None)
        self.colour_key = None if self.colour_index is None else keys[self.colour_index]
        rest = [i for i in range(len(keys)) if i != self.colour_index]
        self.panels = sorted({tuple(g[i] for i in rest) for g in groups}, key=cell_sort_key)
        self.panel_titles = [point_text({keys[i]: v for i, v in zip(rest, p, strict=True)}, "") for p in self.panels]
        self._rest = rest
        values = sorted({g[self.colour_index] for g in groups} if self.colour_index is not None else {0}, key=str)
        values = sorted(values, key=lambda v: cell_sort_key((v,)))
        if self.colour_index in numeric:  # an ordered quantity: a sequential map; else distinct hues
            cmap = colormaps["viridis"]
            self.colours = {v: cmap(0.9 * i / max(len(values) - 1, 1)) for i, v in enumerate(values)}
        else:
            self.colours = {v: f"C{i % 10}" for i, v in enumerate(values)}
        self.curves_per_panel = max((sum(self.panel_of(g) == p for g in groups) for p in range(len(self.panels))),
                                    default=0)  # fmt: skip

    @property
    def readable(self) -> bool:
        return len(self.panels) <= MAX_PANELS and self.curves_per_panel <= MAX_CURVES_PER_PANEL

    def panel_of(self, group: tuple) -> int:
        return self.panels.index(tuple(group[i] for i in self._rest))

    def colour_of(self, group: tuple):
        return self.colours[group[self.colour_index] if self.colour_index is not None else 0]

    def figure(self, width: float = 4.6, height: float = 3.8):
        columns = min(len(self.panels), 3)
        rows = -(-len(self.panels) // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(width * columns + 1.6, height * rows), squeeze=False)
        for ax in axes.ravel()[len(self.panels) :]:
            ax.set_axis_off()
        return fig, axes.ravel()

    def legend(self, fig, extra: list | None = None) -> None:
        """One legend for all panels, outside the axes on the right: a line per colour, then ``extra`` handles."""
        handles = [plt.Line2D([], [], color=c, lw=2, label=f"{v:g}" if isinstance(v, float) else str(v))
                   for v, c in self.colours.items()] if self.colour_key else []  # fmt: skip
        handles += extra or []
        title = (self.colour_key or "").split(".")[-1]
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, title=title)


def _cells(runs: StudyRuns) -> dict[tuple, list]:
    """Each cell's runs (all seeds), in cell order."""
    return {cell: [r for records in by_seed.values() for r in records] for cell, by_seed in group_cells(runs)}


def plot_metric_vs_train_size(runs: StudyRuns, path: Path) -> Path:
    cells = _cells(runs)
    layout = SmallMultiples(runs.cell_keys, list(cells))
    fig, axes = layout.figure()
    threshold = next(iter(runs.thresholds.values()))
    every_size = sorted({r.n_train for r in runs.records})
    for cell, records in cells.items():
        ax, colour = axes[layout.panel_of(cell)], layout.colour_of(cell)
        sizes = sorted({r.n_train for r in records})
        finals = [[r.final_metric for r in records if r.n_train == n] for n in sizes]
        ax.plot(sizes, [np.nanmedian(f) for f in finals], marker="o", color=colour, ms=4)
        ax.fill_between(sizes, [np.nanmin(f) for f in finals], [np.nanmax(f) for f in finals], alpha=0.12,
                        color=colour)  # fmt: skip
    for ax, title in zip(axes, layout.panel_titles, strict=False):
        ax.axhline(threshold, color="k", ls="--", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="training-set size n (examples)", ylabel="final test metric")
        plain_log_ticks(ax, every_size)
        ax.set_title(title, fontsize=9)
    layout.legend(fig, [plt.Line2D([], [], color="k", ls="--", lw=1, label=f"threshold {threshold:.3g}")])
    fig.suptitle(f"{runs.study.name}: test metric vs data (median, band = min–max over seeds)", fontsize=10)
    return save_figure(fig, path)


def curve_groups(runs: StudyRuns) -> dict[tuple, list]:
    """Runs grouped by cell, and by training-set size in the fixed regime."""
    groups: dict[tuple, list] = {}
    for cell, records in _cells(runs).items():
        for record in records:
            size = (record.n_train,) if runs.regime == "fixed" else ()
            groups.setdefault((*cell, *size), []).append(record)
    return groups


def curve_layout(runs: StudyRuns) -> SmallMultiples:
    keys = runs.cell_keys + (["training.n_train"] if runs.regime == "fixed" else [])
    return SmallMultiples(keys, list(curve_groups(runs)))


def plot_learning_curves(runs: StudyRuns, path: Path) -> Path:
    """Median test metric (solid) and training loss (dotted) vs optimizer steps, a panel per setting."""
    layout = curve_layout(runs)
    fig, axes = layout.figure()
    threshold = next(iter(runs.thresholds.values()))
    for group, records in sorted(curve_groups(runs).items(), key=lambda kv: cell_sort_key(kv[0])):
        ax, colour = axes[layout.panel_of(group)], layout.colour_of(group)
        steps = max((r.eval_steps for r in records), key=len)  # curves stopped early are shorter
        test = np.nanmedian(padded_curves([r.test_metric for r in records]), axis=0)
        ax.plot(steps[1:], test[1:], color=colour, lw=1.3)
        train = np.nanmedian(padded_curves([r.train_loss for r in records]), axis=0)
        ax.plot(steps[1:], train, ls=":", color=colour, lw=1)
    for ax, title in zip(axes, layout.panel_titles, strict=False):
        ax.axhline(threshold, color="k", ls="--", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="optimizer steps", ylabel="median over seeds")
        plain_log_ticks(ax, [])
        ax.set_title(title, fontsize=9)
    layout.legend(fig, [
        plt.Line2D([], [], color="0.3", lw=1.3, label="test metric"),
        plt.Line2D([], [], color="0.3", ls=":", label="training loss"),
        plt.Line2D([], [], color="k", ls="--", lw=1, label=f"threshold {threshold:.3g}"),
    ])  # fmt: skip
    fig.suptitle(f"{runs.study.name}: learning curves", fontsize=10)
    return save_figure(fig, path)
