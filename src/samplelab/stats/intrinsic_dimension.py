"""Intrinsic-dimension estimators (seed 002 uses the first on final-layer embeddings).

* :func:`mle` — Levina & Bickel (2004), "Maximum likelihood estimation of intrinsic
  dimension". The point-wise estimate from the distances ``T_1(x) ≤ … ≤ T_k(x)`` to the
  ``k`` nearest neighbours of ``x`` is ``m̂_k(x) = [ (1/(k−1)) Σ_{j<k} log(T_k(x)/T_j(x)) ]⁻¹``.
  The global estimate is their arithmetic mean (``average = "mean"``, Levina–Bickel and
  seed 002's authors) or their harmonic mean (``"harmonic"``: the inverse of the mean of
  inverses, MacKay & Ghahramani's correction). Distances are euclidean or cosine (the
  authors' choice for embeddings): neighbours by cosine similarity, at the chord distance
  ``√(2(1 − cos))`` between the unit vectors. Not ``1 − cos`` itself: it grows as ``r²/2``
  at small angles, so every log-ratio doubles and the MLE reads half the dimension
  (measured: 1.58 on a 3-sphere; ``tests/test_scaling_laws.py``).
* :func:`two_nn` — Facco et al. (2017), TwoNN, as scikit-dimension computes it
  (``skdim.id.TwoNN``, the linear fit). scikit-dimension is the tests' reference, not a
  run-time dependency: it imports numba, a second LLVM-based JIT we keep out of the
  processes that run XLA; the tests call it in a subprocess and check the two agree.
* :func:`mle_vs_k` and :func:`vs_subsample` — the multi-scale views: the estimate against
  the neighbourhood size, and against the number of points.

Points are ``[n, D]`` arrays; duplicate points (zero distances) are dropped first, since
``log(T_k/T_j)`` is undefined for them. Neighbours are found by exact brute force in numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from samplelab.core.errors import ConfigError

Metric = Literal["euclidean", "cosine"]


def _unique(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) < 3:
        raise ConfigError(f"points: need a 2-d array of at least 3 points, got shape {points.shape} — fix: pass [n, D]")
    first = np.unique(points, axis=0, return_index=True)[1]
    return points[np.sort(first)]  # distinct points, in their original order


def neighbour_distances(points: np.ndarray, k: int, metric: Metric = "euclidean", chunk: int = 1024) -> np.ndarray:
    """``[n, k]`` sorted distances from each point to its ``k`` nearest other points.

    Exact brute force in numpy, ``chunk`` rows at a time (``n·chunk`` floats of memory):
    euclidean, or cosine: the chord ``√(2(1 − cos))`` between unit vectors (same neighbours
    as ``1 − cos``, but a distance that scales like r, as the estimators assume).
    """
    points = _unique(points)
    count = len(points)
    if not 2 <= k < count:
        raise ConfigError(f"k: {k} neighbours of {count} distinct points — fix: use 2 ≤ k < {count}")
    if metric == "cosine":
        norms = np.linalg.norm(points, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ConfigError("points: the cosine metric needs non-zero points — fix: use metric euclidean")
        points = points / norms
    squared = np.sum(points**2, axis=1)
    rows = []
    for start in range(0, count, chunk):
        block = points[start : start + chunk]
        inner = block @ points.T  # [chunk, n]
        if metric == "cosine":
            distance = np.sqrt(np.maximum(2.0 - 2.0 * inner, 0.0))
        else:
            distance = np.sqrt(np.maximum(squared[start : start + chunk, None] + squared[None, :] - 2 * inner, 0.0))
        distance[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf  # not its own neighbour
        nearest = np.partition(distance, k - 1, axis=1)[:, :k]
        rows.append(np.sort(nearest, axis=1))
    return np.maximum(np.concatenate(rows), np.finfo(np.float64).tiny)


def mle_pointwise(points: np.ndarray, k: int = 20, metric: Metric = "euclidean") -> np.ndarray:
    """``[n]`` Levina–Bickel estimates ``m̂_k(x)`` at every (distinct) point."""
    distances = neighbour_distances(points, k, metric)
    log_ratios = np.log(distances[:, -1:] / distances[:, :-1])  # log(T_k / T_j), j = 1 … k−1
    return (k - 1) / np.sum(log_ratios, axis=1)


def mle(
    points: np.ndarray,
    k: int = 20,
    metric: Metric = "euclidean",
    average: Literal["mean", "harmonic"] = "mean",
) -> float:
    """Global Levina–Bickel estimate: mean (or harmonic mean) of the point-wise ones."""
    pointwise = mle_pointwise(points, k, metric)
    pointwise = pointwise[np.isfinite(pointwise)]
    return float(np.mean(pointwise) if average == "mean" else 1.0 / np.mean(1.0 / pointwise))


def two_nn(points: np.ndarray, discard_fraction: float = 0.1) -> float:
    """TwoNN (Facco et al. 2017): with ``μ = r₂/r₁`` per point and the empirical CDF ``F``,
    the slope through the origin of ``−log(1 − F(μ))`` against ``log μ``, after dropping the
    largest ``discard_fraction`` of the ratios (euclidean; scikit-dimension's linear method)."""
    distances = neighbour_distances(points, 2)
    ratios = distances[:, 1] / distances[:, 0]
    count = len(ratios)
    keep = int(count * (1 - discard_fraction))
    log_mu = np.log(np.sort(ratios)[:keep])
    log_survival = -np.log(1 - np.arange(1, keep + 1) / count)
    return float(np.sum(log_mu * log_survival) / np.sum(log_mu**2))


ESTIMATORS: dict[str, Callable[..., float]] = {"mle": mle, "twonn": two_nn}


def mle_vs_k(
    points: np.ndarray, ks: Sequence[int], metric: Metric = "euclidean", average: Literal["mean", "harmonic"] = "mean"
) -> list[tuple[int, float]]:
    """``[(k, estimate)]``: the MLE against the neighbourhood size (small k: local scale)."""
    return [(int(k), mle(points, int(k), metric, average)) for k in ks]


def vs_subsample(
    points: np.ndarray,
    sizes: Sequence[int],
    estimate: Callable[[np.ndarray], float],
    repeats: int = 5,
    seed: int = 0,
) -> list[tuple[int, float, float]]:
    """``[(size, mean, std)]`` of ``estimate`` on ``repeats`` random subsamples of each size."""
    rng = np.random.default_rng(seed)
    points = np.asarray(points)
    rows = []
    for size in sizes:
        if size > len(points):
            raise ConfigError(f"sizes: {size} is more than the {len(points)} points — fix: use sizes ≤ {len(points)}")
        values = [estimate(points[rng.choice(len(points), size, replace=False)]) for _ in range(repeats)]
        rows.append((int(size), float(np.mean(values)), float(np.std(values))))
    return rows


def load_points(path: str | Path, key: str | None = None) -> np.ndarray:
    """``[n, D]`` points from a ``.npy`` file or one array of a ``.npz`` (``key``; the only
    array when there is one). Higher-rank arrays are flattened to ``[n, −1]``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"FILE: {path} does not exist — fix: give a .npy or .npz file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ConfigError(f"FILE: cannot read {path} as numpy data ({err}) — fix: save it with numpy.save") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        names = list(loaded.files)
        if key is None and len(names) != 1:
            raise ConfigError(f"--key: {path} holds {', '.join(names)} — fix: pass --key NAME")
        if key is not None and key not in names:
            raise ConfigError(f"--key: {key!r} is not in {path} — fix: use one of {', '.join(names)}")
        loaded = loaded[key or names[0]]
    array = np.asarray(loaded, dtype=np.float64)
    if array.ndim < 2 or not np.isfinite(array).all():
        raise ConfigError(
            f"FILE: {path} holds shape {array.shape} or non-finite values — fix: save finite [n, D] points"
        )
    return array.reshape(len(array), -1)
