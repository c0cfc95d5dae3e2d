"""What every figure shares: matplotlib on its file-only backend, saving, error bars, ragged curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (folders made), close it, return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
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
