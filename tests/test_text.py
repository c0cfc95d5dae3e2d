"""The character-level language-model task: chunks, splits, encoding, baseline, loss and refusals."""

from __future__ import annotations

import math
from collections import Counter

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samplelab.core.errors import ConfigError
from samplelab.tasks import TASKS, build_task
from samplelab.tasks.corpus import encode, load_corpus

T, MAX_CHARS = 8, 4000  # 444 chunks of 9 characters of Python's help texts
SIZE = MAX_CHARS // (T + 1)


def _task(**fields):
    return build_task(TASKS.validate({"name": "text", "context": T, "max_chars": MAX_CHARS, **fields}))


def _order(task, seed):
    return np.asarray(task.init_run_state(jax.random.key(seed))["order"])


def test_the_default_corpus_is_pythons_help_texts_in_sorted_topic_order():
    from pydoc_data.topics import topics

    text = load_corpus(None, None)
    assert text == "\n\n".join(topics[k] for k in sorted(topics)) and load_corpus(None, 100) == text[:100]
    codes, vocabulary = encode(text[:MAX_CHARS])
    assert vocabulary == "".join(sorted(set(text[:MAX_CHARS]))) and codes.dtype == np.int32
    assert "".join(vocabulary[i] for i in codes) == text[:MAX_CHARS]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), position=st.integers(0, SIZE - 1))
def test_an_example_is_the_chunk_at_that_position_of_the_runs_ordering(seed, position):
    task, corpus = _task(), load_corpus(None, MAX_CHARS)
    v = len(task.vocabulary)
    assert task.size == SIZE and task.input_shape == (T, v + T) and task.output_dim == v
    state = task.init_run_state(jax.random.key(seed))
    chunk = int(np.asarray(state["order"])[position])
    inputs, targets = (np.asarray(a) for a in task.example(state, position))
    assert inputs.shape == (T, v + T) and inputs.dtype == np.float32 and targets.dtype == np.int32
    characters, positions = inputs[:, :v], inputs[:, v:]
    assert set(np.unique(characters)) <= {0.0, 1.0} and np.all(characters.sum(axis=1) == 1)
    start = chunk * (T + 1)
    assert task.decode(characters.argmax(axis=1)) == corpus[start : start + T]
    assert task.decode(targets) == corpus[start + 1 : start + T + 1]  # the next character at each position
    np.testing.assert_array_equal(targets[:-1], characters.argmax(axis=1)[1:])
    np.testing.assert_array_equal(positions, np.eye(T))
    assert [name for name, _ in task.input_blocks()] == ["char", "position"]
    assert sum(width for _, width in task.input_blocks()) == v + T


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_train=st.integers(1, SIZE - 1), test_chunks=st.integers(1, 600))
def test_train_and_test_chunks_never_share_a_character(seed, n_train, test_chunks):
    task = _task(test_chunks=test_chunks)
    order = _order(task, seed)
    assert sorted(order) == list(range(SIZE))  # a permutation: every chunk once
    test = order[n_train:][: task.test_limit]

    def offsets(chunks):
        return {int(c) * (T + 1) + i for c in chunks for i in range(T + 1)}

    assert not offsets(order[:n_train]) & offsets(test)
    assert len(test) == min(test_chunks, SIZE - n_train)


def test_orderings_differ_between_seeds_and_are_a_pure_function_of_the_key():
    task = _task()
    np.testing.assert_array_equal(_order(task, 3), _order(task, 3))
    assert not np.array_equal(_order(task, 3), _order(task, 4))


@pytest.mark.parametrize("max_chars", [MAX_CHARS, None])
def test_the_baseline_is_the_unigram_entropy_of_the_corpus(max_chars):
    task = build_task(TASKS.validate({"name": "text", "context": T, "max_chars": max_chars}))
    counts = Counter(load_corpus(None, max_chars))
    total = sum(counts.values())
    assert task.baseline == pytest.approx(-sum(n / total * math.log(n / total) for n in counts.values()), rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 20.0))
def test_loss_and_metric_are_the_mean_cross_entropy_in_nats_per_character(seed, scale):
    task = _task()
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((T, task.output_dim))).astype(np.float32)
    targets = rng.integers(0, task.output_dim, T).astype(np.int32)
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(T), targets].mean()
    assert float(task.loss(jnp.asarray(logits), jnp.asarray(targets))) == pytest.approx(expected, rel=1e-5)
    assert float(task.metric(jnp.asarray(logits), jnp.asarray(targets))) == pytest.approx(expected, rel=1e-5)


def test_the_examples_compile_with_the_chunks_passed_in():
    task = _task()
    state = task.init_run_state(jax.random.key(0))
    inputs, targets = eqx.filter_jit(lambda t, s, p: jax.vmap(lambda j: t.example(s, j))(p))(task, state, jnp.arange(5))
    assert inputs.shape == (5, T, task.output_dim + T) and targets.shape == (5, T)
    config = TASKS.get("text").config_class
    assert config.finite_dataset and config.causal_model_required and not config.metric_is_error


def test_a_user_text_file(tmp_path):
    text = "Les élèves lisent: «ça va?» — oui!\n" * 3
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))
    task = build_task(TASKS.validate({"name": "text", "path": str(path), "context": 4, "test_chunks": None}))
    assert task.vocabulary == "".join(sorted(set(text))) and task.size == len(text) // 5
    assert task.test_limit is None
    state = task.init_run_state(jax.random.key(1))
    for position in range(task.size):
        chunk = int(np.asarray(state["order"])[position])
        inputs, targets = task.example(state, position)
        assert task.decode(np.asarray(inputs)[:, : task.output_dim].argmax(axis=1)) == text[chunk * 5 : chunk * 5 + 4]
        assert task.decode(targets) == text[chunk * 5 + 1 : chunk * 5 + 5]


def _bad_inputs(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café au lait\n".encode("latin-1") * 20)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "short.txt").write_text("abcdefgh")  # 8 characters: one chunk of 5, not two
    return {
        "missing": ({"path": str(tmp_path / "nope.txt")}, r"^task\.path: no such file"),
        "directory": ({"path": str(tmp_path)}, r"^task\.path: .* is a directory"),
        "not utf-8": ({"path": str(tmp_path / "latin1.txt")}, r"^task\.path: .* is not UTF-8 .*byte 0xe9"),
        "empty": ({"path": str(tmp_path / "empty.txt")}, r"^task\.path: .* is empty"),
        "short file": ({"path": str(tmp_path / "short.txt"), "context": 4}, r"^task\.context: .*longer text"),
        "short cut": ({"max_chars": 10, "context": 8}, r"^task\.context: .*use context ≤ 4 or raise task\.max_chars"),
        "context": ({"context": 1}, r"^task\.context: .* fix: use a value at least 2"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "not utf-8", "empty", "short file", "short cut", "context"])
def test_bad_input_is_a_one_line_config_error_with_the_fix(tmp_path, case):
    fields, pattern = _bad_inputs(tmp_path)[case]
    with pytest.raises(ConfigError, match=pattern) as raised:
        build_task(TASKS.validate({"name": "text", **fields}))
    message = str(raised.value)
    assert "\n" not in message and "fix:" in message
