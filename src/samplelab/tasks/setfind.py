"""setfind — signed distance (seed 000's blog text; its author's 2024 code), design.md §2.

One example is ``T = N + 1 + markers`` tokens of width ``W`` (``width``), in random order:

* ``N`` **set tokens**, one per digit ``0..N-1``: dims ``0..B-1`` hold the digit's binary
  code (``B = ⌈log₂ N⌉`` bits, LSB first, bits ×10); dim ``S`` the set flag (+10);
* one **cursor token**: dim ``S+1`` the cursor flag (+10), dim ``S+2`` the cursor value
  ``c ~ U{0..N-1}`` (drawn per example);
* ``markers`` **marker tokens**: dim ``S+3`` the marker flag (+10);
* every token carries its position ``p`` in the permuted sequence — ``linear``: one dim
  ``B`` holding ``p``; ``sinusoidal``: 8 dims ``B..B+7``, pairs ``[−cos, sin](2πp/period)``
  ×10 with periods ``4·2^i`` (so ``S = B+1`` or ``B+8``);
* ``distract`` **distractor dims** ``S+4..S+3+k``: on set tokens, dim ``j`` holds
  ``π_j(digit)`` for an independent random permutation ``π_j`` of ``0..N-1`` per dim and
  example — values with the same range as the digits and no relation to the target;
* remaining dims up to ``W`` are 0 (the author's fixed width).

Target (one scalar, read from output dim 0 of the cursor token, whose row travels with
the target as ``targets[1]``): ``operation =
"subtract"``: the signed distance ``c − p(digit 0)``; ``"absolute"``: ``|c − p(digit 0)|``;
``"none"`` (the seed's appendix): ``p(digit 0)`` itself. Loss and metric: squared error.

Since ``p(digit 0)`` is uniform on ``0..T-1`` and ``c`` on ``0..N-1``, the constant
predictor's MSE is computed exactly by enumeration: 22.25 for N = 10 with 2 markers
(T = 13), matching design.md's "≈ 22.1 at N = 10" (a sampled estimate). The number of
markers is our reading of "a few marker tokens (flags) may follow".
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, model_validator

from samplelab.tasks.base import TASKS, TaskConfig
from samplelab.tasks.setfind2 import position_code

SCALE = 10.0
SINUSOID_PAIRS = 4


class SetfindConfig(TaskConfig):
    """Set size, positions, distractors, width and the target's operation."""

    name: str = "setfind"
    set_size: int = Field(10, ge=2, le=256, description="N, digits 0..N-1 in the set")
    markers: int = Field(2, ge=0, le=64, description="marker tokens after the set and cursor")
    positions: Literal["linear", "sinusoidal"] = "linear"
    distract: int = Field(5, ge=0, le=1024, description="distractor dims")
    width: int | None = Field(16, ge=1, le=8192, description="token width; null: the minimum")
    operation: Literal["subtract", "absolute", "none"] = "subtract"

    @property
    def bits(self) -> int:
        return max(1, math.ceil(math.log2(self.set_size)))

    @property
    def minimum_width(self) -> int:
        position_dims = 1 if self.positions == "linear" else 2 * SINUSOID_PAIRS
        return self.bits + position_dims + 4 + self.distract

    @model_validator(mode="after")
    def _fits_in_width(self) -> SetfindConfig:
        if self.width is not None and self.width < self.minimum_width:
            raise ValueError(
                f"width={self.width} is less than the {self.minimum_width} dims this layout needs "
                f"({self.bits} bits, positions, 4 flag/value dims, {self.distract} distractors) — fix: "
                f"set width ≥ {self.minimum_width} or width = null"
            )
        return self


def exact_baseline(set_size: int, tokens: int, operation: str) -> float:
    """MSE of the best constant predictor: the target's variance over c ~ U{0..N-1}, p ~ U{0..T-1}."""
    cursor, position = np.meshgrid(np.arange(set_size), np.arange(tokens), indexing="ij")
    target = {"subtract": cursor - position, "absolute": np.abs(cursor - position), "none": position}[operation]
    return float(np.var(target.astype(np.float64)))


class Setfind:
    """The setfind task for one config; see the module docstring for the definition."""

    def __init__(self, config: SetfindConfig) -> None:
        self.config = config
        n = config.set_size
        self.tokens = n + 1 + config.markers
        self.width = config.width or config.minimum_width
        self.input_shape = (self.tokens, self.width)
        self.output_dim = 1
        self.baseline = exact_baseline(n, self.tokens, config.operation)
        position_dims = 1 if config.positions == "linear" else 2 * SINUSOID_PAIRS
        self.bits = config.bits
        self.set_flag = self.bits + position_dims
        self.distract_start = self.set_flag + 4
        codes = (np.arange(n)[:, None] >> np.arange(self.bits)[None, :]) & 1
        # Unpermuted token features (position dims filled after the permutation).
        base = np.zeros((self.tokens, self.width), np.float32)
        base[:n, : self.bits] = SCALE * codes
        base[:n, self.set_flag] = SCALE
        base[n, self.set_flag + 1] = SCALE
        base[n + 1 :, self.set_flag + 3] = SCALE
        self._base = base
        self._position_code = self._positions(np.arange(self.tokens))

    def _positions(self, positions: np.ndarray) -> np.ndarray:
        """``[T]`` integer positions → ``[T, position_dims]``."""
        if self.config.positions == "linear":
            return positions[:, None].astype(np.float32)
        return position_code(positions, SINUSOID_PAIRS)

    def init_run_state(self, key: jax.Array) -> jax.Array:
        """setfind has no per-run state (the cursor is drawn per example)."""
        return jnp.zeros((), jnp.int32)

    def sample(self, key: jax.Array, run_state: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One example: inputs ``[T, W]`` and targets ``[2]`` = (target value, cursor token's row)."""
        n, config = self.config.set_size, self.config
        k_cursor, k_order, k_distract = jax.random.split(key, 3)
        cursor = jax.random.randint(k_cursor, (), 0, n)
        tokens = jnp.asarray(self._base).at[n, self.set_flag + 2].set(cursor.astype(jnp.float32))
        if config.distract:
            perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(k_distract, config.distract))
            tokens = tokens.at[:n, self.distract_start : self.distract_start + config.distract].set(
                perms.T.astype(jnp.float32)
            )
        # order[i] = which unpermuted token sits at position i.
        order = jax.random.permutation(k_order, self.tokens)
        tokens = tokens[order]
        position_dims = self._position_code.shape[1]
        tokens = tokens.at[:, self.bits : self.bits + position_dims].set(jnp.asarray(self._position_code))
        position_of_zero = jnp.argmax(order == 0).astype(jnp.float32)
        target = {
            "subtract": cursor - position_of_zero,
            "absolute": jnp.abs(cursor - position_of_zero),
            "none": position_of_zero,
        }[config.operation]
        cursor_row = jnp.argmax(order == n).astype(jnp.float32)
        return tokens, jnp.stack([target.astype(jnp.float32), cursor_row])

    def loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """Squared error of output dim 0 at the cursor token; ``targets = [value, cursor row]``."""
        prediction = outputs[targets[1].astype(jnp.int32), 0]
        return (prediction - targets[0]) ** 2

    metric = loss


@TASKS.register(
    "setfind",
    SetfindConfig,
    "signed distance c − p(digit 0) over a permuted set of N digits (seed 000, 2024; appendix: operation=none)",
)
def build(config: SetfindConfig) -> Setfind:
    return Setfind(config)
