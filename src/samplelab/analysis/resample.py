"""Whole seeds resampled together: the bootstrap unit of every fit and claim.

A seed's runs share its data pool (nested across training-set sizes) and its test set,
across every x of a series and every series of a study. So one bootstrap replicate draws
m of the study's m seeds with replacement, once, and every cell, series and claim reads
that same draw: a fit's points move together, and a compare claim's two series are
resampled jointly. A cell that lacks a drawn seed leaves that draw out.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from samplelab.analysis.cells import Cell
from samplelab.stats.interval_censored import first_success, median_bracket
from samplelab.stats.nstar import n_star_resampled
from samplelab.stats.survival import km_quantile_batch


class SeedResampler:
    """``replicates`` draws of the study's seeds, shared by everything that resamples."""

    def __init__(self, seeds: Iterable[int], replicates: int, rng: np.random.Generator):
        self.seeds = np.array(sorted(set(seeds)), dtype=np.int64)  # [S]
        self.picks = rng.integers(0, max(len(self.seeds), 1), (replicates, len(self.seeds)))  # [B, S]
        # Keyed by id(cell), with the cell kept alive beside its values so no id is reused.
        self._cell_cache: dict[tuple, tuple[Cell, np.ndarray]] = {}

    @property
    def replicates(self) -> int:
        return len(self.picks)

    def positions(self, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """For a group with these ``seeds``: ``[B, S]`` positions of each draw in it, and
        whether the group has that seed at all."""
        index = {seed: i for i, seed in enumerate(seeds)}
        mapping = np.array([index.get(int(seed), -1) for seed in self.seeds], dtype=np.int64)
        drawn = mapping[self.picks] if mapping.size else np.zeros(self.picks.shape, np.int64)
        return np.maximum(drawn, 0), drawn >= 0

    def cell_statistic(self, cell: Cell, y: str, delta: float = 0.1, method: str = "isotonic") -> np.ndarray:
        """``[B]`` replicates of a cell's ``km_median`` or ``n_star`` (NaN: not reached), or
        ``[B, 2]`` of its interval-censored ``median_bracket`` (fixed regime)."""
        key = (id(cell), y, delta, method)
        if key not in self._cell_cache:
            position, present = self.positions(cell.seeds)
            if y == "median_bracket":
                values = median_bracket(np.asarray(cell.sizes), first_success(cell.success)[position], present)
            elif y == "km_median":
                times = np.where(present, cell.needed[position], 0.0)  # censored at 0: out of every risk set
                values = km_quantile_batch(times, present & cell.reached[position], 0.5)
            else:
                values = n_star_resampled(cell.sizes, cell.success, position, present, delta, method=method)
                values = np.where(np.isfinite(values), values, np.nan)
            self._cell_cache[key] = (cell, values)
        return self._cell_cache[key][1]

    def panel(self, values: np.ndarray) -> np.ndarray:
        """Per-seed values ``[S, P]`` (rows in :attr:`seeds` order, NaN: missing) → the
        ``[B, P·S]`` replicates, x-major: each row the drawn seeds' values at each point in turn."""
        return values[self.picks].transpose(0, 2, 1).reshape(self.replicates, -1)
