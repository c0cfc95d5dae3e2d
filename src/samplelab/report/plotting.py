"""What every figure shares: matplotlib on its file-only backend, saving, error bars, ragged curves."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (folders made), close it, return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # "tight": legends placed outside the axes
    plt.close(fig)
    return path


def error_bars(entries: list[dict], ceiling: float) -> tuple[list, list, list]:
    """Values and asymmetric error bars from analysis entries; an unbounded limit reaches the plot edge."""
    values = [e["value"] for e in entries]
    lows = [v - (e["ci"][0] if e["ci"][0] is not None else v) for v, e in zip(values, entries, strict=True)]
    highs = [(e["ci"][1] if e["ci"][1] is not None else ceiling) - v for v, e in zip(values, entries, strict=True)]
    return values, lows, highs


def padded_curves(curves: list[np.ndarray]) -> np.ndarray:
    """``[runs, longest]``: curves that ended early (``stop_below_relative``) padded with NaN."""
    longest = max(len(c) for c in curves)
    return np.stack([np.pad(c, (0, longest - len(c)), constant_values=np.nan) for c in curves])


_TWO_AND_FIVE = FuncFormatter(
    lambda value, _: f"{value:g}" if value > 0 and round(value / 10 ** math.floor(math.log10(value))) in (2, 5) else ""
)


def plain_log_ticks(ax, x) -> None:
    """Log axes labelled in plain numbers: x at the data's distinct values ``x`` (if at most 8,
    else at decades), y at decades, and at 2× and 5× too when it spans under two decades."""
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    xs = sorted({float(v) for v in np.asarray(x, dtype=float).ravel() if v > 0})
    if ax.get_xscale() == "log":
        if 0 < len(xs) <= 8:
            ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
    if ax.get_yscale() == "log":
        bottom, top = ax.get_ylim()
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(_TWO_AND_FIVE if top / bottom < 100 else NullFormatter())
