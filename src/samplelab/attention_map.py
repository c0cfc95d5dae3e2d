"""Seed 001's attention-map figure: ``|W_Q W_Kᵀ|`` per head of a trained one-layer model.

The store keeps learning curves, not weights, so the figure retrains one stored run (same
config and seed give the same numbers) for as many steps as it was trained, and prints
its final test metric beside the stored one. Axes are the input dims of the destination (rows) and source
(columns) tokens, split into the task's named blocks where it has them (qSTR: ``X``,
``E_i``, ``E_t``): a transformer that has learnt the retrieval matches ``E_t`` of the
destination with ``E_i`` of the source.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from samplelab.analysis import StudyRuns
from samplelab.document_text import point_text
from samplelab.retrain import retrain_stored_run, stored_runs_of_models_with
from samplelab.study import RunSpec
from samplelab.tasks import build_task
from samplelab.trainer import ensemble_member


def mapped_run(runs: StudyRuns) -> RunSpec | None:
    """The run to draw: of a model with ``attention_map``, the longest input, the first seed."""
    candidates = stored_runs_of_models_with(runs, "attention_map")
    if not candidates:
        return None
    return max(candidates, key=lambda s: (build_task(s.config.task).input_shape[0], -s.seed))


def input_blocks(task) -> list[tuple[str, int]]:
    """The task's named column blocks (``[(name, width)]``), or one block for the whole input."""
    return task.input_blocks() if hasattr(task, "input_blocks") else [("input", task.input_shape[1])]


def plot_attention_map(runs: StudyRuns, path: Path) -> Path | None:
    """Retrain :func:`mapped_run` and draw its heads' ``|W_Q W_Kᵀ|``; ``None`` if no such run."""
    spec = mapped_run(runs)
    if spec is None:
        return None
    record = next(r for r in runs.records if r.run_key == spec.key)
    config, result = retrain_stored_run(spec, record)
    model = ensemble_member(config, result.params, 0)
    stored = record.final_metric
    retrained = float(result.test_metric[0, -1])
    maps = np.asarray(model.attention_map())  # [H, W, W]
    task = build_task(config.task)
    blocks = input_blocks(task)
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
    point = point_text(spec.point)
    fig.suptitle(
        f"|W_Q W_Kᵀ| of {point}, seed {spec.seed}\nretrained: final test metric {retrained:.4g} (stored: {stored:.4g})",
        fontsize=9,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
