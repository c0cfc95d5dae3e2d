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
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from samplelab.config import OptimizerConfig, RunConfig, TrainingConfig
from samplelab.models import MODELS, ModelConfig, build_model
from samplelab.tasks import TaskConfig, build_task

# Offsets folded into a member's seed key for its independent streams.
_MODEL, _TASK, _POOL, _TEST, _STEPS = range(5)
_EVAL_BATCH = 128
_PROBE_EXAMPLES = 64


def attention_entropy(weights: jax.Array) -> jax.Array:
    """Mean row entropy (nats) per head of attention ``weights`` ``[H, T, S]`` → ``[H]``.

    Rows that sum to less than 1 (attention with a dropped "no-op" slot) count the missing
    mass as one more outcome, so the entropy is that of the full softmax.
    """
    rest = jnp.clip(1.0 - jnp.sum(weights, axis=-1), 0.0, 1.0)
    entropy = -jnp.sum(jax.scipy.special.xlogy(weights, weights), axis=-1) - jax.scipy.special.xlogy(rest, rest)
    return jnp.mean(entropy, axis=-1)


# Called with the index of each finished evaluation chunk (from inside the compiled loop).
_progress_hook: Callable[[int], None] | None = None


@dataclass(frozen=True)
class EnsembleResult:
    """Learning curves of E members.

    Attributes:
        eval_steps: ``[K+1]`` optimizer steps at which the test metric was taken (0, k, 2k…).
        samples_per_step: training examples drawn per step (the batch size).
        test_metric: ``[E, K+1]`` mean test metric (task units) at each eval step.
        train_loss: ``[E, K]`` mean training loss over the ``k`` steps before each eval.
        diverged: ``[E]`` true where any loss or metric was NaN/inf.
        attention_entropy: ``[E, K+1, layers, heads]`` mean entropy (nats) of each head's
            attention rows at each eval, over the first 64 test examples and all destination
            tokens; ``None`` for models without ``attention_weights``.
        validation_loss: ``[E, K+1]`` mean training loss on the validation split at each
            eval step; ``None`` when ``training.validation_size`` is 0.
        params: the trained parameters, arrays with a leading ensemble axis E.
    """

    eval_steps: np.ndarray
    samples_per_step: int
    test_metric: np.ndarray
    train_loss: np.ndarray
    diverged: np.ndarray
    params: object
    attention_entropy: np.ndarray | None = None  # [E, K+1, layers, heads] nats; None: model has no attention probe
    validation_loss: np.ndarray | None = None  # [E, K+1]; None: no validation split


def make_optimizer(config: OptimizerConfig, steps: int) -> optax.GradientTransformation:
    """Optimizer whose updates are scaled by the schedule only: multiply by ``lr`` after.

    The schedule is a multiplier in [0, 1]: linear warm-up over ``warmup_steps``, then
    constant or cosine decay to 0 at ``steps``. Weight decay is decoupled for AdamW and an
    L2 term added to the gradient for Adam and SGD.
    """
    warmup = max(config.warmup_steps, 0)
    if config.schedule == "cosine":
        decay = optax.cosine_decay_schedule(1.0, max(steps - warmup, 1))
    else:
        decay = optax.constant_schedule(1.0)
    schedule = optax.join_schedules([optax.linear_schedule(0.0, 1.0, warmup), decay], [warmup]) if warmup else decay
    parts: list[optax.GradientTransformation] = []
    if config.grad_clip is not None:
        parts.append(optax.clip_by_global_norm(config.grad_clip))
    if config.name == "adamw":
        parts.append(optax.adamw(schedule, config.b1, config.b2, weight_decay=config.weight_decay))
    else:
        if config.weight_decay:
            parts.append(optax.add_decayed_weights(config.weight_decay))
        if config.name == "adam":
            parts.append(optax.adam(schedule, config.b1, config.b2))
        else:
            parts.append(optax.sgd(schedule, momentum=config.momentum or None))
    return optax.chain(*parts)


def _report_progress(chunk_index: jax.Array) -> None:
    if _progress_hook is not None:
        _progress_hook(int(chunk_index))


@functools.lru_cache(maxsize=64)
def _compiled_trainer(
    task_config: TaskConfig, model_config: ModelConfig, optimizer_config: OptimizerConfig, training: TrainingConfig
) -> Callable:
    """The jitted ensemble trainer for one shape; jit re-specialises per ensemble size E."""
    task = build_task(task_config)
    optimizer = make_optimizer(optimizer_config, training.steps)
    batch, every, online = training.batch_size, training.eval_every, training.regime == "online"
    probe = hasattr(MODELS.get(model_config.name).factory, "attention_weights")
    validation_size = training.validation_size
    stop_below = None if training.stop_below_relative is None else training.stop_below_relative * task.baseline

    def init_member(seed_key):
        model = build_model(
            model_config, jax.random.fold_in(seed_key, _MODEL), input_shape=task.input_shape, output_dim=task.output_dim
        )
        run_state = task.init_run_state(jax.random.fold_in(seed_key, _TASK))
        streams = tuple(jax.random.fold_in(seed_key, offset) for offset in (_POOL, _TEST, _STEPS))
        return model, run_state, *streams

    def batch_of(key, n_train, pool_key, run_state):
        if online:
            example_keys = jax.random.split(key, batch)
        else:
            indices = jax.random.randint(key, (batch,), 0, n_train)
            example_keys = jax.vmap(jax.random.fold_in, (None, 0))(pool_key, indices)
        return jax.vmap(task.sample, (0, None))(example_keys, run_state)

    def train(seed_keys, lrs, n_trains):
        models, run_states, pool_keys, test_keys, step_keys = eqx.filter_vmap(init_member)(seed_keys)
        params, static = eqx.partition(models, eqx.is_inexact_array)
        opt_states = jax.vmap(optimizer.init)(params)

        def member_loss(member_params, inputs, targets):
            model = eqx.combine(member_params, static)
            return jnp.mean(jax.vmap(task.loss)(jax.vmap(model)(inputs), targets))

        def member_step(member_params, opt_state, lr, n_train, run_state, pool_key, step_key, step):
            inputs, targets = batch_of(jax.random.fold_in(step_key, step), n_train, pool_key, run_state)
            loss, grads = jax.value_and_grad(member_loss)(member_params, inputs, targets)
            updates, opt_state = optimizer.update(grads, opt_state, member_params)
            updates = jax.tree.map(lambda u: lr * u, updates)
            return optax.apply_updates(member_params, updates), opt_state, loss

        def member_eval(member_params, run_state, test_key, pool_key, n_train):
            model = eqx.combine(member_params, static)

            def one(j):
                inputs, target = task.sample(jax.random.fold_in(test_key, j), run_state)
                return task.metric(model(inputs), target)

            def entropy_of(j):
                inputs, _ = task.sample(jax.random.fold_in(test_key, j), run_state)
                return jnp.stack([attention_entropy(w) for w in model.attention_weights(inputs)])  # [L, H]

            def validation_loss_of(j):
                inputs, target = task.sample(
                    jax.random.fold_in(pool_key, (n_train if not online else 0) + j), run_state
                )
                return task.loss(model(inputs), target)

            metric = jnp.mean(jax.lax.map(one, jnp.arange(training.test_size), batch_size=_EVAL_BATCH))
            validation = (
                jnp.mean(jax.lax.map(validation_loss_of, jnp.arange(validation_size), batch_size=_EVAL_BATCH))
                if validation_size
                else jnp.zeros(())
            )
            if not probe:
                return metric, validation, jnp.zeros((0, 0))
            examples = jnp.arange(min(_PROBE_EXAMPLES, training.test_size))
            return metric, validation, jnp.mean(jax.lax.map(entropy_of, examples), axis=0)

        step_all = jax.vmap(member_step, in_axes=(0, 0, 0, 0, 0, 0, 0, None))
        eval_all = jax.vmap(member_eval)

        def one_step(carry, step):
            params, opt_states = carry
            params, opt_states, losses = step_all(
                params, opt_states, lrs, n_trains, run_states, pool_keys, step_keys, step
            )
            return (params, opt_states), losses

        def one_chunk(carry, chunk_index):
            carry, losses = jax.lax.scan(one_step, carry, chunk_index * every + jnp.arange(every))
            metrics, validations, entropies = eval_all(carry[0], run_states, test_keys, pool_keys, n_trains)
            jax.debug.callback(_report_progress, chunk_index)
            return carry, (metrics, validations, entropies, jnp.mean(losses, axis=0))

        initial, initial_validation, initial_entropy = eval_all(params, run_states, test_keys, pool_keys, n_trains)
        if stop_below is None:
            (params, _), (metrics, validations, entropies, losses) = jax.lax.scan(
                one_chunk, (params, opt_states), jnp.arange(training.n_evals)
            )
            chunks_run = jnp.asarray(training.n_evals)
        else:
            (params, _), (metrics, validations, entropies, losses), chunks_run = _chunks_until(
                one_chunk,
                (params, opt_states),
                training.n_evals,
                initial,
                initial_validation,
                initial_entropy,
                stop_below,
            )
        entropy = jnp.concatenate([initial_entropy[:, None], jnp.moveaxis(entropies, 0, 1)], axis=1)
        metric_curve = jnp.concatenate([initial[:, None], metrics.T], axis=1)
        validation_curve = jnp.concatenate([initial_validation[:, None], validations.T], axis=1)
        return params, metric_curve, losses.T, entropy, validation_curve, chunks_run

    return jax.jit(train)


def _chunks_until(one_chunk, carry, n_chunks, initial, initial_validation, initial_entropy, stop_below):
    """``lax.scan(one_chunk, carry, arange(n_chunks))`` that ends after the first chunk whose
    test metrics are all ≤ ``stop_below``; unrun chunks' outputs stay NaN. Also returns
    the number of chunks run."""
    members = initial.shape[0]
    buffers = (
        jnp.full((n_chunks, members), jnp.nan, initial.dtype),
        jnp.full((n_chunks, *initial_validation.shape), jnp.nan, initial_validation.dtype),
        jnp.full((n_chunks, *initial_entropy.shape), jnp.nan, initial_entropy.dtype),
        jnp.full((n_chunks, members), jnp.nan, initial.dtype),
    )

    def keep_going(state):
        index, _, _, done = state
        return (index < n_chunks) & ~done

    def body(state):
        index, carry, buffers, _ = state
        carry, outputs = one_chunk(carry, index)
        buffers = tuple(buffer.at[index].set(output) for buffer, output in zip(buffers, outputs, strict=True))
        return index + 1, carry, buffers, jnp.all(outputs[0] <= stop_below)

    start = (jnp.asarray(0), carry, buffers, jnp.all(initial <= stop_below))
    chunks_run, carry, buffers, _ = jax.lax.while_loop(keep_going, body, start)
    return carry, buffers, chunks_run


def _run_interruptibly(function: Callable, *args: object) -> object:
    """Run ``function(*args)`` to completion in a worker thread; Ctrl-C stays responsive.

    While XLA runs, the main thread would sit in C++ where Python cannot deliver
    KeyboardInterrupt until the whole ensemble has finished; here it waits in short joins.
    An interrupted computation is abandoned (the thread is a daemon), never stored.
    """
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = jax.block_until_ready(function(*args))
        except BaseException as error:  # handed to the main thread below
            outcome["error"] = error

    worker = threading.Thread(target=target, name="samplelab-ensemble", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


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
    trainer = _compiled_trainer(
        config.task,
        config.model,
        config.optimizer.model_copy(update={"lr": 1.0}),
        training.model_copy(update={"n_train": None}),
    )
    seed_keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, dtype=jnp.uint32))
    _progress_hook = progress
    try:
        params, metrics, losses, entropy, validation, chunks_run = _run_interruptibly(
            trainer, seed_keys, jnp.asarray(lrs, jnp.float32), jnp.asarray(n_trains, jnp.int32)
        )
        evals = int(chunks_run) + 1  # < K+1 when training stopped early (stop_below_relative)
        metrics, losses = np.asarray(metrics, np.float64)[:, :evals], np.asarray(losses, np.float64)[:, : evals - 1]
        entropy, validation = entropy[:, :evals], validation[:, :evals]
        jax.effects_barrier()
    finally:
        _progress_hook = None
    diverged = ~(np.isfinite(metrics).all(axis=1) & np.isfinite(losses).all(axis=1))
    return EnsembleResult(
        eval_steps=np.arange(evals) * training.eval_every,
        samples_per_step=training.batch_size,
        test_metric=metrics,
        train_loss=losses,
        diverged=diverged,
        params=params,
        attention_entropy=np.asarray(entropy, np.float64) if entropy.shape[-1] else None,
        validation_loss=np.asarray(validation, np.float64) if training.validation_size else None,
    )


def ensemble_member(config: RunConfig, params: object, index: int) -> eqx.Module:
    """Member ``index`` of a trained ensemble's ``params`` as a callable model."""
    task = build_task(config.task)
    template = build_model(config.model, jax.random.key(0), input_shape=task.input_shape, output_dim=task.output_dim)
    _, static = eqx.partition(template, eqx.is_inexact_array)
    return eqx.combine(jax.tree.map(lambda leaf: leaf[index], params), static)
