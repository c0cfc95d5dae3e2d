"""The one training loop: an ensemble of E models trained as one compiled program.

Members share everything that fixes array shapes (task, model, optimizer kind, batch
size, steps) and differ in ``seed``, learning rate ``lr`` and training-set size
``n_train``. Each member's seed gives it its own model init, run state (e.g. a cursor),
data pool and test set. Inside one ``jit``: init of all members (``eqx.filter_vmap``),
then ``lax.scan`` over evaluation chunks, each a ``lax.scan`` over ``eval_every`` vmapped
steps followed by a test-set evaluation (a ``lax.while_loop`` over chunks instead when
``training.stop_below_relative`` may end the ensemble early). Nothing returns to Python
until the end.

Data: example ``i`` of a member's pool is ``task.sample(fold_in(pool_key, i))``; the test
set is ``task.sample(fold_in(test_key, j))`` for ``j < test_size``. Pool and test keys are
distinct streams, so train and test draws never coincide, and a member with a larger
``n_train`` sees a superset of the data of one with a smaller (nested pools). The
validation split, when asked for, is the ``validation_size`` pool examples after the first
``n_train``. Members with the same seed share pool, test set and validation split whatever
their model, so models compared at one seed saw the same data.

A *finite dataset* task (one with ``size`` and ``example(run_state, position)``, e.g.
``images``) has no generator: pool example ``i`` is the image at position ``i`` of the run's
ordering, and each evaluation is one pass over the whole dataset, split by position into
training set (``< n_train``), validation split and test set (the rest). Its arrays are an
argument of the compiled program, not constants baked into it.

Model hooks: float arrays are trained; other arrays (e.g. a sparse model's bool mask) are
carried per member unchanged. A model with the :class:`~samplelab.models.base.StatefulTraining` hook (``train_batch(inputs, key, state)`` and
``init_train_state()``) gets a key and a per-member state in training (e.g. ``mlp``'s neuron
allocation); evaluation always calls the plain ``model(x)``. After training, a model with
``embeddings(x)`` gives its final-layer embeddings of up to 1,024 test examples (pooled by
the task's ``pool_embedding``, else the last token's), whose intrinsic dimension is recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from samplelab.models import MODELS, ModelConfig, build_model
from samplelab.models.base import AttentionWeights, Embeddings, StatefulTraining, has_hook
from samplelab.spec.run_config import OptimizerConfig, RunConfig, TrainingConfig, check_dataset_fits
from samplelab.tasks import TaskConfig, build_task
from samplelab.tasks.base import FiniteDataset, PooledEmbedding
from samplelab.training.interrupt import run_interruptibly
from samplelab.training.optimizers import make_optimizer
from samplelab.training.probes import attention_entropy, embedding_outcome, weight_sparsity
from samplelab.training.result import EnsembleResult

# Offsets folded into a member's seed key for its independent streams.
_MODEL, _TASK, _POOL, _TEST, _STEPS = range(5)
_EVAL_BATCH = 128
_PROBE_EXAMPLES = 64
_EMBEDDING_EXAMPLES = 1024
# XLA:CPU only. LLVM at -O2 instead of the default -O3: compiles take about half the time;
# short runs of small ensembles run as fast, but a long run of a large one (setfind2_setsize,
# 20 members) is about 1.2x slower, an open trade-off. Matrix products on one thread (Eigen's
# multi-threaded contraction may split a sum between threads): the in-process backend then
# computes the same sums as the single-threaded worker and Ray backends, so all store the
# same rows bit for bit. Measured in docs/performance.md, "Compile options".
COMPILER_OPTIONS = {"xla_backend_optimization_level": 2, "xla_cpu_multi_thread_eigen": False}


# Called with the index of each finished evaluation chunk (from inside the compiled loop).
_progress_hook: Callable[[int], None] | None = None


def _report_progress(chunk_index: jax.Array) -> None:
    if _progress_hook is not None:
        _progress_hook(int(chunk_index))


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` where ``mask``; NaN where the mask is empty. NaNs inside it propagate."""
    return jnp.sum(jnp.where(mask, values, 0.0)) / jnp.where(jnp.any(mask), jnp.sum(mask), jnp.nan)


# Few: each compiled trainer holds ~1,000 memory mappings of JIT code on XLA:CPU, and a
# process is allowed 65,530 (vm.max_map_count); past that, XLA aborts (measured: the test
# suite died in executable.serialize() at ~62,000 maps with maxsize 64). Evicted programs
# are freed; studies train one shape at a time, and the persistent cache makes a re-compile cheap.
@functools.lru_cache(maxsize=4)
def _compiled_trainer(
    task_config: TaskConfig,
    model_config: ModelConfig,
    optimizer_config: OptimizerConfig,
    training: TrainingConfig,
    eval_extent: int | None = None,
) -> tuple[Callable, object]:
    """The jitted ensemble trainer for one shape (jit re-specialises per ensemble size E),
    and the task's arrays it takes as an argument (a dataset task's images: passed, not
    baked into the program as constants). ``eval_extent``: a finite task's evaluations cover
    only its first ``eval_extent`` positions (enough when every member's test set ends before)."""
    task_arrays, task_static = eqx.partition(build_task(task_config), eqx.is_array)
    optimizer = make_optimizer(optimizer_config, training.steps)
    batch, every, online = training.batch_size, training.eval_every, training.regime == "online"
    model_class = MODELS.get(model_config.name).factory
    probe = has_hook(model_class, AttentionWeights)
    stateful = has_hook(model_class, StatefulTraining)
    embeds = has_hook(model_class, Embeddings)
    validation_size = training.validation_size

    def train(seed_keys, lrs, n_trains, task_arrays):
        task = eqx.combine(task_arrays, task_static)
        finite = task.size if isinstance(task, FiniteDataset) else None  # None: a generator
        extent = eval_extent or finite
        stop_below = None if training.stop_below_relative is None else training.stop_below_relative * task.baseline
        test_limit = task.test_limit if isinstance(task, FiniteDataset) else None
        embedding_count = min(_EMBEDDING_EXAMPLES, test_limit or _EMBEDDING_EXAMPLES, finite or training.test_size)

        def init_member(seed_key):
            model = build_model(
                model_config,
                jax.random.fold_in(seed_key, _MODEL),
                input_shape=task.input_shape,
                output_dim=task.output_dim,
            )
            run_state = task.init_run_state(jax.random.fold_in(seed_key, _TASK))
            streams = tuple(jax.random.fold_in(seed_key, offset) for offset in (_POOL, _TEST, _STEPS))
            return model, run_state, *streams

        def pool_example(pool_key, run_state, index):
            if finite:
                return task.example(run_state, index)
            return task.sample(jax.random.fold_in(pool_key, index), run_state)

        def batch_of(key, n_train, pool_key, run_state):
            if online:
                return jax.vmap(task.sample, (0, None))(jax.random.split(key, batch), run_state)
            indices = jax.random.randint(key, (batch,), 0, n_train)
            return jax.vmap(pool_example, (None, None, 0))(pool_key, run_state, indices)

        models, run_states, pool_keys, test_keys, step_keys = eqx.filter_vmap(init_member)(seed_keys)
        arrays, static = eqx.partition(models, eqx.is_array)
        # Trained: floating-point arrays. Frozen (carried per member, never updated): the
        # others, e.g. a sparse model's fixed mask.
        params, frozen = eqx.partition(arrays, eqx.is_inexact_array)
        opt_states = jax.vmap(optimizer.init)(params)
        train_states = eqx.filter_vmap(lambda m: m.init_train_state() if stateful else jnp.zeros(()))(models)

        def member_loss(member_params, member_frozen, train_state, inputs, targets, key):
            model = eqx.combine(member_params, member_frozen, static)
            if stateful:  # e.g. zero-init's neuron allocation: random, with running statistics
                outputs, train_state = model.train_batch(inputs, key, train_state)
            else:
                outputs = jax.vmap(model)(inputs)
            return jnp.mean(jax.vmap(task.loss)(outputs, targets)), train_state

        def member_step(
            member_params, member_frozen, opt_state, train_state, lr, n_train, run_state, pool_key, step_key, step
        ):
            key = jax.random.fold_in(step_key, step)
            inputs, targets = batch_of(key, n_train, pool_key, run_state)
            (loss, train_state), grads = jax.value_and_grad(member_loss, has_aux=True)(
                member_params, member_frozen, train_state, inputs, targets, jax.random.fold_in(key, 1)
            )
            updates, opt_state = optimizer.update(grads, opt_state, member_params)
            updates = jax.tree.map(lambda u: lr * u, updates)
            return optax.apply_updates(member_params, updates), opt_state, train_state, loss

        def member_eval(member_params, member_frozen, run_state, test_key, pool_key, n_train):
            """Test metric and loss, validation loss, whole-training-set metric and loss (finite
            tasks; NaN otherwise) and attention entropy, each a mean over examples."""
            model = eqx.combine(member_params, member_frozen, static)

            def scored(example):
                outputs = model(example[0])
                return task.metric(outputs, example[1]), task.loss(outputs, example[1])

            def mean_over(indices, example_of):
                metrics, losses = jax.lax.map(lambda j: scored(example_of(j)), indices, batch_size=_EVAL_BATCH)
                return jnp.mean(metrics), jnp.mean(losses)

            nan = jnp.full((), jnp.nan)
            if finite:  # one pass over the whole dataset; positions say which split each is in
                metrics, losses = jax.lax.map(
                    lambda j: scored(task.example(run_state, j)), jnp.arange(extent), batch_size=_EVAL_BATCH
                )
                positions, held = jnp.arange(extent), n_train + validation_size
                test = positions >= held
                if test_limit is not None:
                    test &= positions < held + test_limit
                in_train = positions < n_train
                outcome = {
                    "metric": _masked_mean(metrics, test),
                    "test_loss": _masked_mean(losses, test),
                    "validation_loss": (
                        _masked_mean(losses, ~in_train & (positions < held)) if validation_size else jnp.zeros(())
                    ),
                    "train_metric": _masked_mean(metrics, in_train),
                    "train_set_loss": _masked_mean(losses, in_train),
                }
            else:
                metric, test_loss = mean_over(
                    jnp.arange(training.test_size), lambda j: task.sample(jax.random.fold_in(test_key, j), run_state)
                )
                validation_start = 0 if online else n_train
                outcome = {"metric": metric, "test_loss": test_loss, "train_metric": nan, "train_set_loss": nan}
                outcome["validation_loss"] = (
                    mean_over(
                        jnp.arange(validation_size), lambda j: pool_example(pool_key, run_state, validation_start + j)
                    )[1]
                    if validation_size
                    else jnp.zeros(())
                )

            def entropy_of(j):  # test examples: a finite task's last positions
                example = (
                    task.example(run_state, finite - 1 - j)
                    if finite
                    else task.sample(jax.random.fold_in(test_key, j), run_state)
                )
                inputs = example[0]
                return jnp.stack([attention_entropy(w) for w in model.attention_weights(inputs)])  # [L, H]

            if probe:
                examples = jnp.arange(min(_PROBE_EXAMPLES, training.test_size))
                outcome["entropy"] = jnp.mean(jax.lax.map(entropy_of, examples), axis=0)
            else:
                outcome["entropy"] = jnp.zeros((0, 0))
            return outcome

        def member_embeddings(member_params, member_frozen, run_state, test_key, n_train):
            """Pooled final-layer embeddings ``[P, d]`` of P test examples, and which are real."""
            model = eqx.combine(member_params, member_frozen, static)
            pool = task.pool_embedding if isinstance(task, PooledEmbedding) else (lambda h: h[-1])
            if finite:  # a finite task's test positions, past the end of the dataset marked invalid
                positions = n_train + validation_size + jnp.arange(embedding_count)
                valid = (positions < finite) & (positions < n_train + validation_size + (test_limit or finite))
                example = lambda j: task.example(run_state, jnp.minimum(j, finite - 1))  # noqa: E731
            else:
                positions, valid = jnp.arange(embedding_count), jnp.ones(embedding_count, bool)
                example = lambda j: task.sample(jax.random.fold_in(test_key, j), run_state)  # noqa: E731
            pooled = jax.lax.map(lambda j: pool(model.embeddings(example(j)[0])), positions, batch_size=_EVAL_BATCH)
            return pooled, valid

        step_all = jax.vmap(member_step, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, 0, None))
        eval_all = jax.vmap(member_eval)

        def one_step(carry, step):
            params, opt_states, train_states = carry
            params, opt_states, train_states, losses = step_all(
                params, frozen, opt_states, train_states, lrs, n_trains, run_states, pool_keys, step_keys, step
            )
            return (params, opt_states, train_states), losses

        def one_chunk(carry, chunk_index):
            carry, losses = jax.lax.scan(one_step, carry, chunk_index * every + jnp.arange(every))
            outcome = eval_all(carry[0], frozen, run_states, test_keys, pool_keys, n_trains)
            jax.debug.callback(_report_progress, chunk_index)
            return carry, {**outcome, "train_loss": jnp.mean(losses, axis=0)}

        initial = eval_all(params, frozen, run_states, test_keys, pool_keys, n_trains)
        carry = (params, opt_states, train_states)
        if stop_below is None:
            carry, chunks = jax.lax.scan(one_chunk, carry, jnp.arange(training.n_evals))
            chunks_run = jnp.asarray(training.n_evals)
        else:
            carry, chunks, chunks_run = _chunks_until(one_chunk, carry, training.n_evals, initial, stop_below)
        curves = {
            name: jnp.concatenate([initial[name][:, None], jnp.moveaxis(chunks[name], 0, 1)], axis=1)
            for name in initial
        }
        curves["train_loss"] = chunks["train_loss"].T
        embeddings = jax.vmap(member_embeddings)(carry[0], frozen, run_states, test_keys, n_trains) if embeds else None
        return eqx.combine(carry[0], frozen), curves, chunks_run, embeddings

    on_cpu = jax.default_backend() == "cpu"
    return jax.jit(train, compiler_options=COMPILER_OPTIONS if on_cpu else None), task_arrays


def _chunks_until(one_chunk, carry, n_chunks, initial, stop_below):
    """``lax.scan(one_chunk, carry, arange(n_chunks))`` that ends after the first chunk whose
    test metrics are all ≤ ``stop_below``; unrun chunks' outputs stay NaN. Also returns
    the number of chunks run."""
    shapes = jax.eval_shape(one_chunk, carry, 0)[1]
    buffers = jax.tree.map(lambda s: jnp.full((n_chunks, *s.shape), jnp.nan, s.dtype), shapes)

    def keep_going(state):
        index, _, _, done = state
        return (index < n_chunks) & ~done

    def body(state):
        index, carry, buffers, _ = state
        carry, outputs = one_chunk(carry, index)
        buffers = jax.tree.map(lambda buffer, output: buffer.at[index].set(output), buffers, outputs)
        return index + 1, carry, buffers, jnp.all(outputs["metric"] <= stop_below)

    start = (jnp.asarray(0), carry, buffers, jnp.all(initial["metric"] <= stop_below))
    chunks_run, carry, buffers, _ = jax.lax.while_loop(keep_going, body, start)
    return carry, buffers, chunks_run


def train_ensemble(
    config: RunConfig,
    seeds: np.ndarray | list[int],
    lrs: np.ndarray | list[float] | None = None,
    n_trains: np.ndarray | list[int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EnsembleResult:
    """Train ``len(seeds)`` models of ``config`` at once.

    Args:
        config: shared config; its ``optimizer.lr`` / ``training.n_train`` are the defaults
            for members whose ``lrs`` / ``n_trains`` are not given.
        seeds: ``[E]`` integer seeds, one per member.
        lrs: ``[E]`` learning rates.
        n_trains: ``[E]`` training-set sizes (fixed regime; ignored online).
        progress: called with the index of each finished evaluation chunk.
    """
    global _progress_hook
    seeds = np.asarray(seeds, dtype=np.int64)
    size = len(seeds)
    lrs = np.full(size, config.optimizer.lr) if lrs is None else np.asarray(lrs, dtype=np.float64)
    default_n = config.training.n_train or 1
    n_trains = np.full(size, default_n) if n_trains is None else np.asarray(n_trains, dtype=np.int64)
    training = config.training
    check_dataset_fits(config, int(n_trains.max()))
    trainer, task_arrays = _compiled_trainer(
        config.task,
        config.model,
        config.optimizer.model_copy(update={"lr": 1.0}),
        training.model_copy(update={"n_train": None}),
        _eval_extent(config, int(n_trains.max())),
    )
    seed_keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, dtype=jnp.uint32))
    _progress_hook = progress
    try:
        params, curves, chunks_run, embeddings = run_interruptibly(
            trainer, seed_keys, jnp.asarray(lrs, jnp.float32), jnp.asarray(n_trains, jnp.int32), task_arrays
        )
        evals = int(chunks_run) + 1  # < K+1 when training stopped early (stop_below_relative)
        curves = {
            name: np.asarray(curve, np.float64)[:, : evals - (name == "train_loss")] for name, curve in curves.items()
        }
        jax.effects_barrier()
    finally:
        _progress_hook = None
    metrics, losses = curves["metric"], curves["train_loss"]
    diverged = ~(np.isfinite(metrics).all(axis=1) & np.isfinite(losses).all(axis=1))
    finite = config.task.finite_dataset
    return EnsembleResult(
        eval_steps=np.arange(evals) * training.eval_every,
        samples_per_step=training.batch_size,
        test_metric=metrics,
        train_loss=losses,
        diverged=diverged,
        params=params,
        attention_entropy=curves["entropy"] if curves["entropy"].shape[-1] else None,
        validation_loss=curves["validation_loss"] if training.validation_size else None,
        test_loss=curves["test_loss"],
        train_metric=curves["train_metric"] if finite else None,
        train_set_loss=curves["train_set_loss"] if finite else None,
        weight_sparsity=weight_sparsity(params),
        **embedding_outcome(embeddings, diverged),
    )


def _eval_extent(config: RunConfig, largest_n_train: int) -> int | None:
    """For a finite task with a test-set cap, the positions its evaluations need (the largest
    member's training, validation and test sets), rounded up to a multiple of 1,024 so that
    ensembles of nearby sizes share a program; ``None`` (the whole dataset) otherwise."""
    if not config.task.finite_dataset:
        return None
    task = build_task(config.task)
    if task.test_limit is None:
        return None
    needed = largest_n_train + config.training.validation_size + task.test_limit
    return min(task.size, -(-needed // 1024) * 1024)


def release_compiled_programs() -> None:
    """Free the compiled trainers this process holds (each holds many memory mappings; see
    ``_compiled_trainer``) and JAX's own caches; the persistent cache makes a re-compile cheap."""
    _compiled_trainer.cache_clear()
    jax.clear_caches()


def ensemble_member(config: RunConfig, params: object, index: int) -> eqx.Module:
    """Member ``index`` of a trained ensemble's ``params`` (all its arrays, as
    :attr:`EnsembleResult.params` holds them) as a callable model."""
    task = build_task(config.task)
    template = build_model(config.model, jax.random.key(0), input_shape=task.input_shape, output_dim=task.output_dim)
    _, static = eqx.partition(template, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda leaf: leaf[index], params), static)
