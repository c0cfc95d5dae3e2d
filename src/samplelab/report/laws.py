"""Figure of the learning laws fitted to final outcomes (``y = final_metric`` or
``early_stopped_metric``, law ``power_offset``): ``laws.png``.

One panel per ``[[analysis.fits]]`` entry. Per series (one colour): each run's value as a
faint dot, the median over seeds at each x as a marker, and the fitted ``a·x^(−α) + c``
as a line, labelled with α, its CI and the theory's prediction and verdict. x is what the
fit used: the grid value, the parameter count or the training tokens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samplelab.analysis.text import fit_x_label, point_text
from samplelab.report.plotting import plt, save_figure

_X_LABEL = {"parameters": "trained parameters P", "tokens": "training tokens"}
_Y_LABEL = {"final_metric": "final test metric", "early_stopped_metric": "test metric, early-stopped on validation"}


def _series_label(fit: dict) -> str:
    label = point_text(fit["series"])
    if fit["status"] != "ok":
        return f"{label}: {fit['status']}"
    alpha = fit["parameters"]["alpha"]
    low, high = (float("nan") if v is None else v for v in alpha["ci"])
    label += f": α = {alpha['value']:.2f} [{low:.2f}, {high:.2f}]"
    theory = fit["theory"]
    if theory and theory["predicted"] is not None:
        predicted = f"{theory['predicted']:.2f}"
        if theory.get("predicted_range"):
            predicted += " [{:.2f}, {:.2f}]".format(*theory["predicted_range"])
        label += f"; theory {predicted} ({theory['verdict']})"
    elif theory:
        label += "; theory: no measured value"
    return label


def plot_metric_laws(document: dict, path: Path) -> Path | None:
    """``laws.png`` for the document's ``power_offset`` fits of final outcomes; ``None`` if none."""
    fits = [f for f in document["fits"] if f["law"] == "power_offset" and f["y"] in _Y_LABEL]
    panels = sorted({f["fit_index"] for f in fits})
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.6), squeeze=False)
    for ax, index in zip(axes[0], panels, strict=True):
        group = [f for f in fits if f["fit_index"] == index]
        for number, fit in enumerate(group):
            color = f"C{number % 10}"
            x = np.array([p["x"] for p in fit["points"]])
            y = np.array([p["y"] for p in fit["points"]])
            if not x.size:
                continue
            ax.scatter(x, y, s=8, alpha=0.25, color=color)
            xs = np.unique(x)
            ax.plot(xs, [np.median(y[x == v]) for v in xs], "o", color=color, label=_series_label(fit))
            if fit["status"] == "ok":
                grid = np.geomspace(xs.min(), xs.max(), 60)
                a, alpha, c = (fit["parameters"][name]["value"] for name in ("a", "alpha", "c"))
                ax.plot(grid, a * grid ** (-alpha) + c, color=color, lw=1.2)
        first = group[0]
        x_label = _X_LABEL.get(first["x_measure"], fit_x_label(first))
        theory = first["theory"]
        title = f"fit {index + 1}: {first['y']} vs {x_label}"
        if theory:
            title += f"\n{theory['label'] or theory['expression']}"
        ax.set(xscale="log", yscale="log", xlabel=x_label, ylabel=_Y_LABEL[first["y"]], title=title)
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    fig.suptitle(f"{document['study']}: fitted a·x^(−α) + c, medians over seeds (dots: runs)", fontsize=10)
    return save_figure(fig, path)
