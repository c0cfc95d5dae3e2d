"""Probes of a model: attention entropy during training; weight sparsity and the intrinsic
dimension of its final-layer embeddings after it (its size: :mod:`samplelab.spec.size`)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from samplelab.stats.intrinsic_dimension import mle, two_nn

# Seed 002's estimator for embeddings: Levina–Bickel, 20 neighbours, cosine distance, the
# arithmetic mean of the point-wise estimates (design.md §2).
EMBEDDING_ID_NEIGHBOURS = 20


def attention_entropy(weights: jax.Array) -> jax.Array:
    """Mean row entropy (nats) per head of attention ``weights`` ``[H, T, S]`` → ``[H]``.

    Rows that sum to less than 1 (attention with a dropped "no-op" slot) count the missing
    mass as one more outcome, so the entropy is that of the full softmax.
    """
    rest = jnp.clip(1.0 - jnp.sum(weights, axis=-1), 0.0, 1.0)
    entropy = -jnp.sum(jax.scipy.special.xlogy(weights, weights), axis=-1) - jax.scipy.special.xlogy(rest, rest)
    return jnp.mean(entropy, axis=-1)


def weight_sparsity(params: object, tolerance: float = 1e-5) -> np.ndarray:
    """``[E]`` fraction of the entries of an ensemble's weight matrices (float leaves of rank
    ≥ 2 per member, so rank ≥ 3 with the ensemble axis) with ``|w| ≤ tolerance``."""
    matrices = [np.asarray(leaf) for leaf in jax.tree.leaves(params) if eqx.is_inexact_array(leaf) and leaf.ndim >= 3]
    if not matrices:
        return np.full(jax.tree.leaves(params)[0].shape[0], np.nan)
    small = sum((np.abs(m) <= tolerance).reshape(len(m), -1).sum(axis=1) for m in matrices)
    return small / sum(m[0].size for m in matrices)


def embedding_dimension(points: np.ndarray) -> float:
    """Intrinsic dimension of embeddings ``[P, d]`` by seed 002's estimator (Levina–Bickel
    MLE, k = 20, cosine, mean); NaN when it is undefined (fewer than k + 1 distinct points,
    non-finite values, or a zero vector, which has no cosine distance)."""
    points = np.asarray(points, np.float64)
    if not np.isfinite(points).all() or (np.linalg.norm(points, axis=1) == 0).any():
        return float("nan")
    if len(np.unique(points, axis=0)) <= EMBEDDING_ID_NEIGHBOURS:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return mle(points, k=EMBEDDING_ID_NEIGHBOURS, metric="cosine", average="mean")


def embedding_dimension_twonn(points: np.ndarray) -> float:
    """Intrinsic dimension of embeddings ``[P, d]`` by TwoNN (Facco et al. 2017, euclidean) on
    their distinct rows (a repeated row has no nearest-neighbour ratio); NaN when undefined, as
    :func:`embedding_dimension`."""
    points = np.asarray(points, np.float64)
    if not np.isfinite(points).all():
        return float("nan")
    distinct = np.unique(points, axis=0)
    if len(distinct) <= EMBEDDING_ID_NEIGHBOURS:
        return float("nan")
    return two_nn(distinct)


def embedding_outcome(embeddings: tuple | None, diverged: np.ndarray) -> dict:
    """The trainer's ``(points [E, P, d], valid [E, P])`` as EnsembleResult fields, with each
    member's :func:`embedding_dimension` and :func:`embedding_dimension_twonn` (NaN for diverged
    members); ``{}`` without embeddings."""
    if embeddings is None:
        return {}
    points, valid = (np.asarray(a) for a in embeddings)
    members = list(zip(points, valid, diverged, strict=True))
    return {
        "embeddings": points,
        "embedding_valid": valid,
        "embedding_dimension": np.array([np.nan if bad else embedding_dimension(p[v]) for p, v, bad in members]),
        "embedding_dimension_twonn": np.array(
            [np.nan if bad else embedding_dimension_twonn(p[v]) for p, v, bad in members]
        ),
    }
