"""Probes of a model: attention entropy during training, weight sparsity after it."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


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
