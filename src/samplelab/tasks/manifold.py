"""Regression on a manifold of known intrinsic dimension d in D ambient dims (seed 002).

Per run (fixed for its train and test data), from its seed: a random orthonormal
``Q [D, m]`` placing the manifold's base coordinates in ``R^D``, the target's directions
and offsets, and for ``embedding`` the random smooth map. Per example, a uniform point:

* ``sphere``: ``z`` uniform on the unit d-sphere ``S^d ⊂ R^{d+1}``; ``x = Q z`` (m = d+1);
* ``torus``: angles ``θ ~ U[0, 2π)^d``, ``z = (cos θ_1, sin θ_1, …, cos θ_d, sin θ_d)``, the
  flat d-torus in ``R^{2d}``; ``x = Q z`` (m = 2d);
* ``embedding``: the torus's ``z``, then ``x = Q [z, sin(G z + c)]`` with ``G [r, 2d]``
  Gaussian (entries ``N(0, 1/2d)``, ``r = embed_extra``) and ``c`` uniform phases: the graph of a smooth map, so a
  smooth embedding of the d-torus, curved in ``r`` more dims (m = 2d + r).

``noise = σ`` adds ``N(0, σ² I_D)`` to ``x`` (the target stays that of the clean point).

Target: a β-Hölder function of the base point ``z``, ``β = smoothness``, centred and scaled
by per-run constants to unit variance over the manifold (estimated on 4,096 draws), so the
constant predictor 0 scores about 1. Two forms (``target_form``):

* ``fourier`` (default; any β > 0, the config takes β ≤ 8): a random Fourier series
  ``Σ_{i<M} g_i r_i^{−β} cos(⟨ω_i, z⟩ + φ_i)``, ``M = 512`` plane waves with directions
  uniform on the sphere, radii ``r_i = |ω_i|`` log-uniform on [1, 1024], ``g_i ~ N(0, 1)``,
  ``φ_i ~ U[0, 2π)``.
  Log-uniform radii with amplitudes ``r^{−β}`` give the spectrum of a field whose
  increments of order ⌊β⌋ + 1 over a step h have mean square ∝ h^{2β} between the scales
  1/1024 and 1: a typical member of the β-Hölder class, whose minimax rate seed 002's theory
  states. Restricted to the manifold (a smooth submanifold of the base coordinates) it is
  β-Hölder in the intrinsic distance too. ``tests/test_manifold.py`` measures β from the
  increments.
* ``ridge`` (β ≤ 1): ``Σ_{i<16} a_i |⟨w_i, z⟩ − b_i|^β`` with unit directions ``w_i``, signs
  ``a_i = ±1`` and offsets ``b_i ~ U[−½, ½]`` — the target before session 9: β-Hölder only
  at 16 hyperplanes and smooth elsewhere, in effect a small ReLU network, far easier than the
  class the theory's rate is for.

Input: the D coordinates cut into ``tokens`` chunks of ``D / tokens``, each token followed
by a one-hot of its index: ``[tokens, D/tokens + tokens]`` (``tokens = 1``: one vector).
Loss and metric: squared error of the model's outputs averaged over tokens (mean pooling).
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from pydantic import Field, model_validator

from samplelab.tasks.base import TASKS, TaskConfig

TARGET_TERMS = 16  # ridge
FOURIER_TERMS = 512
FOURIER_MAX_RADIUS = 1024.0
_SCALE_DRAWS = 4096


class ManifoldConfig(TaskConfig):
    """Manifold, its dimensions, the target's smoothness, noise and token form."""

    name: str = "manifold"
    shape: Literal["sphere", "torus", "embedding"] = "torus"
    intrinsic_dim: int = Field(4, ge=1, le=256, description="d")
    ambient_dim: int = Field(64, ge=2, le=16384, description="D")
    smoothness: float = Field(1.0, gt=0, le=8, description="β: the target is β-Hölder")
    target_form: Literal["fourier", "ridge"] = Field("fourier", description="random Fourier series or ridge kinks")
    noise: float = Field(0.0, ge=0, le=100, description="σ of ambient Gaussian noise on the inputs")
    tokens: int = Field(1, ge=1, le=4096, description="input tokens (D must be a multiple)")
    embed_extra: int = Field(8, ge=1, le=4096, description='"embedding": curved dims r')

    @property
    def base_dim(self) -> int:
        """m: the dims of the base coordinates placed in R^D."""
        d = self.intrinsic_dim
        return {"sphere": d + 1, "torus": 2 * d, "embedding": 2 * d + self.embed_extra}[self.shape]

    @model_validator(mode="after")
    def _fits(self) -> ManifoldConfig:
        if self.target_form == "ridge" and self.smoothness > 1:
            raise ValueError(
                f"smoothness {self.smoothness:g}: the ridge target is β-Hölder for β ≤ 1 only — fix: set "
                'smoothness ≤ 1 or target_form = "fourier"'
            )
        if self.base_dim > self.ambient_dim:
            raise ValueError(
                f"a {self.intrinsic_dim}-dim {self.shape} needs {self.base_dim} ambient dims — fix: set "
                f"ambient_dim ≥ {self.base_dim}"
            )
        if self.ambient_dim % self.tokens:
            raise ValueError(
                f"ambient_dim {self.ambient_dim} is not a multiple of tokens {self.tokens} — fix: change one"
            )
        return self


class Manifold:
    """The task for one config; see the module docstring."""

    def __init__(self, config: ManifoldConfig) -> None:
        self.config = config
        self.tokens = config.tokens
        self.input_shape = (config.tokens, config.ambient_dim // config.tokens + config.tokens)
        self.output_dim = 1
        self.baseline = 1.0

    def base_point(self, key: jax.Array, state: dict) -> jax.Array:
        """``z``: a uniform point in the manifold's base coordinates (``[d+1]`` or ``[2d]``)."""
        d = self.config.intrinsic_dim
        if self.config.shape == "sphere":
            z = jax.random.normal(key, (d + 1,))
            return z / jnp.linalg.norm(z)
        return self.torus_point(jax.random.uniform(key, (d,), maxval=2 * math.pi))

    @staticmethod
    def torus_point(angles: jax.Array) -> jax.Array:
        """Angles ``[..., d]`` → base coordinates ``[..., 2d]``: (cos θ₁, sin θ₁, cos θ₂, …)."""
        return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1).reshape(*angles.shape[:-1], -1)

    def place(self, z: jax.Array, state: dict) -> jax.Array:
        """``x [D]``: the clean ambient point of base point ``z``."""
        if self.config.shape == "embedding":
            z = jnp.concatenate([z, jnp.sin(state["G"] @ z + state["c"])])
        return state["Q"] @ z

    def raw_target(self, z: jax.Array, state: dict) -> jax.Array:
        if self.config.target_form == "fourier":
            return jnp.cos(state["W"] @ z + state["b"]) @ state["a"]
        terms = jnp.abs(state["W"] @ z - state["b"]) ** self.config.smoothness
        return jnp.sum(state["a"] * terms)

    def _target_terms(self, keys: tuple[jax.Array, ...], n_z: int) -> dict[str, jax.Array]:
        """``W [M, n_z]`` (directions × radii), amplitudes ``a [M]``, offsets / phases ``b [M]``
        from the keys ``(k_w, k_a, k_b)``, and ``k_r`` for the Fourier radii."""
        k_w, k_a, k_b = keys[:3]
        if self.config.target_form == "ridge":
            w = jax.random.normal(k_w, (TARGET_TERMS, n_z))
            return {
                "W": w / jnp.linalg.norm(w, axis=1, keepdims=True),
                "a": jax.random.rademacher(k_a, (TARGET_TERMS,), dtype=jnp.float32),
                "b": jax.random.uniform(k_b, (TARGET_TERMS,), minval=-0.5, maxval=0.5),
            }
        w = jax.random.normal(k_w, (FOURIER_TERMS, n_z))
        radii = jnp.exp(jax.random.uniform(keys[3], (FOURIER_TERMS,), maxval=math.log(FOURIER_MAX_RADIUS)))
        return {
            "W": w / jnp.linalg.norm(w, axis=1, keepdims=True) * radii[:, None],
            "a": jax.random.normal(k_a, (FOURIER_TERMS,)) * radii ** (-self.config.smoothness),
            "b": jax.random.uniform(k_b, (FOURIER_TERMS,), maxval=2 * math.pi),
        }

    def init_run_state(self, key: jax.Array) -> dict[str, jax.Array]:
        """``Q [D, m]``, the target's terms ``W``, ``a``, ``b``, its centre and scale; ``G``, ``c`` (embedding)."""
        config = self.config
        # The ridge target draws its numbers as before target_form existed (the same runs, the
        # same run keys); the Fourier target takes one more key, for its radii.
        count = 7 if config.target_form == "ridge" else 8
        k_q, k_w, k_a, k_b, k_g, k_c, k_scale, *k_radii = jax.random.split(key, count)
        n_z = config.intrinsic_dim + 1 if config.shape == "sphere" else 2 * config.intrinsic_dim
        q = jnp.linalg.qr(jax.random.normal(k_q, (config.ambient_dim, config.base_dim)))[0]
        state = {
            "Q": q,
            **self._target_terms((k_w, k_a, k_b, *k_radii), n_z),
            "G": jax.random.normal(k_g, (config.embed_extra, n_z)) / math.sqrt(n_z),
            "c": jax.random.uniform(k_c, (config.embed_extra,), maxval=2 * math.pi),
            "s": jnp.ones(()),
        }
        draws = jax.vmap(lambda k: self.raw_target(self.base_point(k, state), state))(
            jax.random.split(k_scale, _SCALE_DRAWS)
        )
        state["s"] = 1.0 / jnp.std(draws)
        state["mean"] = jnp.mean(draws)
        return state

    def target(self, z: jax.Array, state: dict) -> jax.Array:
        """``f(z)``: the raw target centred and scaled to unit variance (per-run constants)."""
        return state["s"] * (self.raw_target(z, state) - state["mean"])

    def tokenize(self, x: jax.Array) -> jax.Array:
        """``x [D] → [tokens, D/tokens + tokens]``: chunks, each with its index one-hot."""
        chunks = x.reshape(self.tokens, -1)
        return jnp.concatenate([chunks, jnp.eye(self.tokens, dtype=x.dtype)], axis=1)

    def sample(self, key: jax.Array, state: dict) -> tuple[jax.Array, jax.Array]:
        """One example: tokens ``[T, D/T + T]`` and the scalar target."""
        k_point, k_noise = jax.random.split(key)
        z = self.base_point(k_point, state)
        x = self.place(z, state)
        if self.config.noise:
            x = x + self.config.noise * jax.random.normal(k_noise, x.shape)
        return self.tokenize(x), self.target(z, state)

    def loss(self, outputs: jax.Array, target: jax.Array) -> jax.Array:
        """Squared error of the token-averaged output."""
        return (jnp.mean(outputs[:, 0]) - target) ** 2

    metric = loss

    def pool_embedding(self, embeddings: jax.Array) -> jax.Array:
        """One vector per example from final-layer embeddings ``[T, d]``: their mean, which is
        what the token-averaged prediction reads (the output layer is linear)."""
        return jnp.mean(embeddings, axis=0)


@TASKS.register(
    "manifold",
    ManifoldConfig,
    "regression of a β-Hölder target on a d-sphere / d-torus / smooth torus embedding in D dims (seed 002)",
)
def build(config: ManifoldConfig) -> Manifold:
    return Manifold(config)
