"""qSTR — q-sparse token retrieval (seed 001; its authors' public code for q = 1).

One example is a sequence of ``N`` tokens. Per run, drawn once and fixed for its train and
test data: position embeddings ``E ∈ {±1/√d_e}^{N × d_e}`` with ``d_e = ⌊5 ln N⌋`` (at
least 1), uniform among those whose N rows are distinct (``distinct_positions``, the
default: rows drawn independently, then any row equal to an earlier one drawn again until
none is; with independent rows, at N = 2 and d_e = 3 the two rows coincide with
probability 1/8, and the task cannot then be learnt below MSE 0.5, its threshold), and
read-out directions ``u_1 … u_q``, independent and uniform on the unit sphere of ``R^d``.
Per example:

* tokens ``X_j ~ N(0, I_d)``, ``j = 0 … N−1`` (``d = token_dim``, 10 by default);
* retrieval indices ``t_{i,k} ~ U{0 … N−1}``, independent for every position ``i`` and
  ``k = 1 … q`` (the ``simple`` variant draws one ``t_k`` shared by all positions);
* input at position ``i``: ``[X_i, E_i, E_{t_{i,1}}, …, E_{t_{i,q}}]``, width
  ``d + (1 + q)·d_e``;
* target at every position: ``y_i = g(X_{t_{i,1}}, …, X_{t_{i,q}})`` with
  ``s_k = ⟨u_k, X_{t_{i,k}}⟩ ~ N(0, 1)``:

  - ``q = 1``: ``y_i = s_1`` (the authors' linear read-out);
  - ``target = "product"`` (default for q > 1): ``y_i = s_1 · s_2 ⋯ s_q``;
  - ``target = "sum"``: ``y_i = (s_1 + … + s_q) / √q``.

  Every form has mean 0 and variance 1. The product is the default because it needs every
  one of the q tokens: with fewer than q of them the best prediction is 0 (error 1), and
  one softmax head that mixes two tokens sees only a linear mixture of them, from which
  (for orthogonal u) at best a quarter of the variance is explained (error ≥ 0.75, above
  the 0.5 threshold). With the sum, one token explains 1/q of it, so at q = 2 a model
  with one head could sit exactly at the 0.5 threshold.

Loss and metric: mean squared error over the ``N`` positions. The best constant predictor
(0) scores ``Var(y) = 1``; the seed's threshold 0.5 is ``threshold_relative = 0.5``.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from pydantic import Field, model_validator

from samplelab.tasks.base import TASKS, TaskConfig


class QstrConfig(TaskConfig):
    """Sequence length N, token dim d, sparsity q, target form and the ``simple`` variant."""

    name: str = "qstr"
    seq_len: int = Field(8, ge=2, le=4096, description="N, tokens per sequence")
    token_dim: int = Field(10, ge=1, le=1024, description="d, dims of each token X_j")
    q: int = Field(1, ge=1, le=16, description="retrieval indices per position")
    target: Literal["product", "sum"] = Field("product", description="g for q > 1 (q = 1: the read-out)")
    simple: bool = Field(False, description="one set of indices shared by all positions")
    embed_dim: int | None = Field(None, ge=1, le=4096, description="d_e; default ⌊5 ln N⌋")
    distinct_positions: bool = Field(True, description="position embeddings with N distinct rows")

    @model_validator(mode="after")
    def _room_for_distinct_rows(self) -> QstrConfig:
        d_e = self.embed_dim or default_embed_dim(self.seq_len)
        if self.distinct_positions and d_e < math.log2(self.seq_len):
            raise ValueError(
                f"embed_dim {d_e}: {2**d_e} sign patterns cannot give {self.seq_len} distinct positions — fix: set "
                f"embed_dim ≥ {math.ceil(math.log2(self.seq_len))} or distinct_positions = false"
            )
        return self


def default_embed_dim(seq_len: int) -> int:
    """``⌊5 ln N⌋``, at least 1 (the authors' choice)."""
    return max(1, math.floor(5 * math.log(seq_len)))


class Qstr:
    """The qSTR task for one config; see the module docstring for the definition."""

    def __init__(self, config: QstrConfig) -> None:
        self.config = config
        self.seq_len, self.token_dim, self.q = config.seq_len, config.token_dim, config.q
        self.embed_dim = config.embed_dim or default_embed_dim(config.seq_len)
        self.input_shape = (self.seq_len, self.token_dim + (1 + self.q) * self.embed_dim)
        self.output_dim = 1
        self.baseline = 1.0

    def input_blocks(self) -> list[tuple[str, int]]:
        """Named column blocks of an input token: ``X``, ``E_i``, then ``E_t`` (``E_t1 … E_tq``)."""
        targets = ["E_t"] if self.q == 1 else [f"E_t{k + 1}" for k in range(self.q)]
        return [("X", self.token_dim), ("E_i", self.embed_dim)] + [(name, self.embed_dim) for name in targets]

    def init_run_state(self, key: jax.Array) -> dict[str, jax.Array]:
        """``{"E": [N, d_e] ±1/√d_e, "u": [q, d] unit rows}``."""
        k_embed, k_read = jax.random.split(key)
        signs = jax.random.rademacher(k_embed, (self.seq_len, self.embed_dim), dtype=jnp.float32)
        if self.config.distinct_positions:
            signs = _redraw_repeated_rows(jax.random.fold_in(k_embed, 1), signs)
        directions = jax.random.normal(k_read, (self.q, self.token_dim))
        return {
            "E": signs / math.sqrt(self.embed_dim),
            "u": directions / jnp.linalg.norm(directions, axis=1, keepdims=True),
        }

    def sample(self, key: jax.Array, state: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        """One example: inputs ``[N, d + (1+q)·d_e]`` and targets ``[N]``."""
        k_tokens, k_index = jax.random.split(key)
        tokens = jax.random.normal(k_tokens, (self.seq_len, self.token_dim))
        rows = 1 if self.config.simple else self.seq_len
        indices = jax.random.randint(k_index, (rows, self.q), 0, self.seq_len)
        indices = jnp.broadcast_to(indices, (self.seq_len, self.q))  # [N, q]
        embeddings = state["E"]
        retrieved_embeddings = embeddings[indices].reshape(self.seq_len, self.q * self.embed_dim)
        inputs = jnp.concatenate([tokens, embeddings, retrieved_embeddings], axis=1)
        readouts = jnp.einsum("nkd,kd->nk", tokens[indices], state["u"])  # s_{i,k}: [N, q]
        if self.q == 1:
            target = readouts[:, 0]
        elif self.config.target == "product":
            target = jnp.prod(readouts, axis=1)
        else:
            target = jnp.sum(readouts, axis=1) / math.sqrt(self.q)
        return inputs, target

    def loss(self, outputs: jax.Array, target: jax.Array) -> jax.Array:
        """Mean squared error over positions; ``outputs`` is ``[N, 1]``."""
        return jnp.mean((outputs[:, 0] - target) ** 2)

    metric = loss


def _repeated_rows(signs: jax.Array) -> jax.Array:
    """``[N]``: whether each ±1 row equals an earlier one (equal rows: inner product d_e)."""
    equal = signs @ signs.T == signs.shape[1]
    return jnp.any(jnp.tril(equal, k=-1), axis=1)


@jax.jit  # compiled once per shape: an eager while_loop would compile at every call
def _redraw_repeated_rows(key: jax.Array, signs: jax.Array) -> jax.Array:
    """``signs`` ``[N, d_e]`` with every row that repeats an earlier one drawn again, until the
    rows are distinct: by symmetry, uniform over the matrices with distinct rows."""

    def redraw(carry):
        key, signs, repeated = carry
        key, k_new = jax.random.split(key)
        fresh = jax.random.rademacher(k_new, signs.shape, dtype=signs.dtype)
        signs = jnp.where(repeated[:, None], fresh, signs)
        return key, signs, _repeated_rows(signs)

    carry = (key, signs, _repeated_rows(signs))
    return jax.lax.while_loop(lambda carry: jnp.any(carry[2]), redraw, carry)[1]


@TASKS.register(
    "qstr",
    QstrConfig,
    "q-sparse token retrieval: each position's target reads q tokens its input points to (seed 001)",
)
def build(config: QstrConfig) -> Qstr:
    return Qstr(config)
