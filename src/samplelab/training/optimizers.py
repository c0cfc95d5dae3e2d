"""Optax optimizers built from an :class:`~samplelab.spec.run_config.OptimizerConfig`."""

from __future__ import annotations

import optax

from samplelab.spec.run_config import OptimizerConfig

# PyTorch's Adagrad: no initial accumulator, eps 1e-10 (optax's defaults are 0.1 and 1e-7).
_ADAGRAD_INITIAL_ACCUMULATOR = 0.0
_ADAGRAD_EPS = 1e-10


def make_optimizer(config: OptimizerConfig, steps: int) -> optax.GradientTransformation:
    """Optimizer whose updates are scaled by the schedule only: multiply by ``lr`` after.

    The schedule is a multiplier in [0, 1]: linear warm-up over ``warmup_steps``, then
    constant or cosine decay to 0 at ``steps``. Weight decay is decoupled for AdamW and an
    L2 term added to the gradient for Adam, Adagrad and SGD (as PyTorch's
    ``weight_decay`` does for those).
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
        elif config.name == "adagrad":
            parts.append(optax.adagrad(schedule, _ADAGRAD_INITIAL_ACCUMULATOR, _ADAGRAD_EPS))
        else:
            parts.append(optax.sgd(schedule, momentum=config.momentum or None))
    return optax.chain(*parts)
