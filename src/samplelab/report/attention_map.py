"""Seed 001's attention-map figure: ``|W_Q W_Kᵀ|`` per head of a trained one-layer model.

The store keeps learning curves, not weights, so the maps come from a retrained run, made by
the command that retrains (``samplelab attention-map``, or ``samplelab reproduce``); this
module only draws them. Axes are the input dims of the destination (rows) and source
(columns) tokens, split into the task's named blocks where it has them (qSTR: ``X``,
``E_i``, ``E_t``): a transformer that has learnt the retrieval matches ``E_t`` of the
destination with ``E_i`` of the source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samplelab.report.plotting import plt, save_figure
from samplelab.tasks.base import InputBlocks, Task

ATTENTION_MAP = "attention_map.png"  # its file name in a study's figure folder
ATTENTION_MAP_RUN = "attention_map.run"  # beside it: the key of the run it was drawn from


def input_blocks(task: Task) -> list[tuple[str, int]]:
    """The task's named column blocks (``[(name, width)]``), or one block for the whole input."""
    return task.input_blocks() if isinstance(task, InputBlocks) else [("input", task.input_shape[1])]


def drawn_attention_map(figure_dir: Path, run_key: str) -> Path | None:
    """The attention map in ``figure_dir`` if it was drawn from the run ``run_key``, else ``None``
    (none drawn, or one of another run: another study's, or this study's before its runs changed)."""
    path, drawn_from = Path(figure_dir) / ATTENTION_MAP, Path(figure_dir) / ATTENTION_MAP_RUN
    if path.exists() and drawn_from.exists() and drawn_from.read_text().strip() == run_key:
        return path
    return None


def draw_attention_map(
    maps: np.ndarray, blocks: list[tuple[str, int]], title: str, figure_dir: Path, run_key: str
) -> Path:
    """Draw each head's map (``maps [H, W, W]``) with the block edges and names into
    ``figure_dir``, and record the run it was drawn from; returns the figure's path."""
    edges = np.cumsum([0] + [width for _, width in blocks])
    heads = maps.shape[0]
    fig, axes = plt.subplots(1, heads, figsize=(4.2 * heads + 0.8, 4.2), squeeze=False)
    for head, ax in enumerate(axes[0]):
        image = ax.imshow(maps[head], cmap="viridis", interpolation="nearest")
        for edge in edges[1:-1]:
            ax.axhline(edge - 0.5, color="w", linewidth=0.8)
            ax.axvline(edge - 0.5, color="w", linewidth=0.8)
        centres = (edges[:-1] + edges[1:]) / 2 - 0.5
        names = [name for name, _ in blocks]
        ax.set_xticks(centres, names)
        ax.set_yticks(centres, names)
        ax.set(xlabel="source token dims (key)", ylabel="destination token dims (query)", title=f"head {head + 1}")
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(title, fontsize=9)
    path = save_figure(fig, Path(figure_dir) / ATTENTION_MAP)
    (Path(figure_dir) / ATTENTION_MAP_RUN).write_text(run_key + "\n")
    return path
