"""setfind2 — one-of-N retrieval (seed 000, the task behind its Figures 2 and 3).

One example is ``N + 1`` tokens of width ``W = 32 + distract``:

* tokens ``0..N-1`` are the set, token ``p`` at position ``p``; token ``N`` is the query;
* dims ``0..15``: sinusoidal position code ×10 — for ``i = 0..7`` and period
  ``4·2^i``: dim ``2i = −cos(2πp/period)``, dim ``2i+1 = sin(2πp/period)`` (query: 0);
* dim ``16``: the flag, +10 on set tokens and −10 on the query token;
* dims ``17..W-1``: content, i.i.d. N(0, 5²) on set tokens (query: 0). The first 15 content
  dims are retrievable; the remaining ``distract`` dims are distractors.

A cursor ``c ~ U{0..N-1}`` is drawn once per run and fixed for its train and test data.
Target: the query token's output must equal the cursor token's first 15 content dims, in
the same dims (17..31); every other output dim must be 0. Loss and metric: the sum of
squared errors over the query token's output. Predicting zeros — the best constant
predictor — scores ``15·5² = 375`` in expectation.

The layout (one flag dim with ±10) is how we read "set flag 10, the query token has its
own flag" with ``W = 32 + distract``; a transformer without causal mask is
permutation-equivariant, so keeping the set in position order loses no generality.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from samplelab.tasks.base import TASKS, TaskConfig

POSITION_PAIRS = 8
POSITION_DIMS = 2 * POSITION_PAIRS
FLAG_DIM = POSITION_DIMS
CONTENT_START = FLAG_DIM + 1
TARGET_DIMS = 15
SCALE = 10.0
CONTENT_STD = 5.0
BASE_WIDTH = CONTENT_START + TARGET_DIMS  # 32


class Setfind2Config(TaskConfig):
    """``set_size`` N (tokens in the set) and ``distract`` (extra content dims)."""

    name: str = "setfind2"
    set_size: int = Field(16, ge=2, le=512, description="N, the number of set tokens")
    distract: int = Field(0, ge=0, le=4096, description="distractor content dims")


def position_code(positions: np.ndarray, pairs: int = POSITION_PAIRS) -> np.ndarray:
    """Sinusoidal code ×10 of integer ``positions`` [P] → [P, 2·pairs] float32 (periods 4·2^i)."""
    periods = 4.0 * 2.0 ** np.arange(pairs)
    angles = 2.0 * np.pi * np.asarray(positions, dtype=np.float64)[:, None] / periods
    code = np.stack([-np.cos(angles), np.sin(angles)], axis=-1).reshape(len(positions), -1)
    return (SCALE * code).astype(np.float32)


class Setfind2:
    """The setfind2 task for one config; see the module docstring for the definition."""

    def __init__(self, config: Setfind2Config) -> None:
        self.config = config
        self.set_size = config.set_size
        self.width = BASE_WIDTH + config.distract
        self.input_shape = (config.set_size + 1, self.width)
        self.output_dim = self.width
        self.baseline = TARGET_DIMS * CONTENT_STD**2
        prefix = np.zeros((config.set_size + 1, CONTENT_START), np.float32)
        prefix[:-1, :POSITION_DIMS] = position_code(np.arange(config.set_size))
        prefix[:-1, FLAG_DIM] = SCALE
        prefix[-1, FLAG_DIM] = -SCALE
        self._prefix = prefix

    def init_run_state(self, key: jax.Array) -> jax.Array:
        """The cursor index, a scalar int32 in ``[0, N)``."""
        return jax.random.randint(key, (), 0, self.set_size)

    def sample(self, key: jax.Array, cursor: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One example: inputs ``[N+1, W]`` and target ``[W]``."""
        content_width = self.width - CONTENT_START
        content = CONTENT_STD * jax.random.normal(key, (self.set_size, content_width))
        content = jnp.concatenate([content, jnp.zeros((1, content_width))], axis=0)
        inputs = jnp.concatenate([jnp.asarray(self._prefix), content], axis=1)
        retrieved = content[cursor, :TARGET_DIMS]
        target = jnp.zeros(self.width).at[CONTENT_START : CONTENT_START + TARGET_DIMS].set(retrieved)
        return inputs, target

    def loss(self, outputs: jax.Array, target: jax.Array) -> jax.Array:
        """Sum of squared errors of the query token's output ``outputs[-1]`` [W]."""
        return jnp.sum((outputs[-1] - target) ** 2)

    metric = loss


@TASKS.register(
    "setfind2",
    Setfind2Config,
    "one-of-N retrieval: copy the content of a fixed cursor token to the query (seed 000, Fig. 2-3)",
)
def build(config: Setfind2Config) -> Setfind2:
    return Setfind2(config)
