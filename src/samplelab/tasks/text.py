"""Character-level language modelling on a finite text corpus.

The corpus (``corpus.load_corpus``: Python's own help texts from ``pydoc_data.topics`` by
default, or the UTF-8 file ``path``, cut to its first ``max_chars`` characters) is encoded
over its V sorted distinct characters and cut into non-overlapping *chunks* of T+1
characters (T = ``context``): chunk c is characters ``c·(T+1) … c·(T+1)+T``, and the dataset
has ``size = ⌊characters / (T+1)⌋`` chunks (a trailing remainder is unused). The chunks are
the finite dataset's examples, exactly as images are in ``tasks/images.py``: each run draws
one permutation of the chunks from its seed, its training set is the first ``n_train`` of
them, the validation split (if any) the next ``validation_size``, and its test set the rest
(at most ``test_chunks`` of them). Chunks never overlap, so the training and test sets never
share a character position of the corpus.

One example: inputs ``[T, V+T]`` float32, token t the one-hot of the chunk's character t
followed by the one-hot of the position t (so a linear embedding of a token is a character
embedding plus a learned position embedding); targets ``[T]`` int32, the chunk's characters
1..T (the next character after each input position). The model must be causal (token t must
not see later tokens), since the targets are the later inputs.

Loss: softmax cross-entropy of the model's ``[T, V]`` logits, averaged over the T positions
(nats per character). Metric: the same held-out loss (lower is better; not an error rate).
Baseline: the unigram entropy of the corpus in nats per character, the cross-entropy of the
best constant predictor (the corpus's character frequencies).
"""

from __future__ import annotations

import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import Field, model_validator

from samplelab.core.errors import ConfigError
from samplelab.tasks.base import TASKS, TaskConfig
from samplelab.tasks.corpus import corpus_fingerprint, encode, load_corpus


class TextConfig(TaskConfig):
    """Corpus, context length, the test-set cap and an optional corpus cut."""

    name: str = "text"
    path: str | None = Field(None, description="UTF-8 text file; default Python's help texts (pydoc_data.topics)")
    context: int = Field(64, ge=2, le=1024, description="T: characters of context per example")
    test_chunks: int | None = Field(1024, ge=1, description="test on at most this many of the rest; None: all")
    max_chars: int | None = Field(None, ge=1, description="use only the corpus's first max_chars characters")
    corpus_sha256: str | None = Field(
        None, description="first 16 hex digits of the corpus text's SHA-256; filled in at load (see below)"
    )

    finite_dataset: ClassVar[bool] = True  # no online stream; examples are positions of a run's ordering
    causal_model_required: ClassVar[bool] = True  # targets are later inputs: the model must not look ahead
    metric_is_error: ClassVar[bool] = False  # the metric is a loss (nats per character), not an error rate

    @model_validator(mode="after")
    def _fingerprint(self) -> TextConfig:
        """Put the corpus's hash into the config, and so into every run key: a changed file, or
        Python's help texts of another Python version, makes new runs instead of reusing old ones."""
        try:
            digest = corpus_fingerprint(self.path, self.max_chars)
        except ConfigError:
            return self  # an unreadable corpus: building the task reports it, with its fix
        if self.corpus_sha256 is None:
            return self.model_copy(update={"corpus_sha256": digest})
        if self.corpus_sha256 != digest:
            raise ValueError(
                f"corpus_sha256 = {self.corpus_sha256!r}, but the corpus now hashes to {digest} — fix: restore the file the runs were "
                "trained on, or remove corpus_sha256 to train on the text as it is"
            )
        return self


@functools.lru_cache(maxsize=4)
def _encoded(path: str | None, max_chars: int | None) -> tuple[np.ndarray, str]:
    """The corpus's codes int32 ``[characters]`` (read-only) and its vocabulary."""
    codes, vocabulary = encode(load_corpus(path, max_chars))
    codes.flags.writeable = False
    return codes, vocabulary


@functools.lru_cache(maxsize=4)
def _device_chunks(path: str | None, max_chars: int | None, context: int) -> jax.Array:
    """The corpus cut into chunks, int32 ``[size, context + 1]``, one copy shared by every task built on it."""
    codes, _ = _encoded(path, max_chars)
    size = len(codes) // (context + 1)
    return jnp.asarray(codes[: size * (context + 1)].reshape(size, context + 1))


def _too_short(config: TextConfig, characters: int) -> ConfigError:
    source = repr(config.path) if config.path is not None else "Python's help texts"
    cut = f" (first task.max_chars = {config.max_chars})" if config.max_chars is not None else ""
    problem = (
        f"the corpus {source}{cut} has {characters} characters, which make fewer than 2 chunks of "
        f"context + 1 = {config.context + 1} characters"
    )
    longest = characters // 2 - 1
    fixes = [f"use context ≤ {longest}"] if longest >= 2 else []
    fixes.append("raise task.max_chars" if config.max_chars is not None else "point task.path at a longer text")
    return ConfigError(f"task.context: {problem} — fix: {' or '.join(fixes)}")


class CharacterLM(eqx.Module):
    """The task for one config; see the module docstring. ``chunks`` is the array the trainer
    passes into its compiled program."""

    chunks: jax.Array  # [size, context + 1] int32 character codes
    config: TextConfig = eqx.field(static=True)
    vocabulary: str = eqx.field(static=True)  # V sorted distinct characters; code i is vocabulary[i]
    size: int = eqx.field(static=True)
    context: int = eqx.field(static=True)
    input_shape: tuple[int, int] = eqx.field(static=True)
    output_dim: int = eqx.field(static=True)
    baseline: float = eqx.field(static=True)
    test_limit: int | None = eqx.field(static=True)

    def __init__(self, config: TextConfig) -> None:
        codes, vocabulary = _encoded(config.path, config.max_chars)
        size = len(codes) // (config.context + 1)
        if size < 2:
            raise _too_short(config, len(codes))
        self.chunks = _device_chunks(config.path, config.max_chars, config.context)
        self.config, self.vocabulary, self.size, self.context = config, vocabulary, size, config.context
        self.input_shape = (config.context, len(vocabulary) + config.context)
        self.output_dim = len(vocabulary)
        frequencies = np.bincount(codes, minlength=len(vocabulary)) / len(codes)
        self.baseline = float(-(frequencies * np.log(frequencies)).sum())  # every character occurs: no 0·log 0
        self.test_limit = config.test_chunks

    def input_blocks(self) -> list[tuple[str, int]]:
        """Named column blocks of an input token: the character one-hot, then the position one-hot."""
        return [("char", self.output_dim), ("position", self.context)]

    def init_run_state(self, key: jax.Array) -> dict[str, jax.Array]:
        """``{"order": [size] int32}``: the run's permutation of the chunks."""
        return {"order": jax.random.permutation(key, self.size).astype(jnp.int32)}

    def example(self, state: dict[str, jax.Array], position: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The chunk at ``position`` of the run's ordering: ``(inputs [T, V+T], targets [T])``."""
        chunk = self.chunks[state["order"][position]]
        characters = jax.nn.one_hot(chunk[:-1], self.output_dim, dtype=jnp.float32)
        positions = jnp.eye(self.context, dtype=jnp.float32)
        return jnp.concatenate([characters, positions], axis=1), chunk[1:]

    def loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """Softmax cross-entropy of ``outputs [T, V]`` against ``targets [T]``, mean over positions (nats/char)."""
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(outputs, targets))

    def metric(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """The held-out loss itself (nats per character; lower is better)."""
        return self.loss(outputs, targets)

    def decode(self, codes: np.ndarray | jax.Array) -> str:
        """The characters of integer ``codes`` (any shape, read in row-major order)."""
        return "".join(self.vocabulary[i] for i in np.asarray(codes).ravel().tolist())


@TASKS.register(
    "text",
    TextConfig,
    "character-level language model on a finite corpus (Python's help texts or a UTF-8 file); held-out nats/char",
)
def build(config: TextConfig) -> CharacterLM:
    return CharacterLM(config)
