"""Configs of one run: task, model, optimizer, training budget and measurement.

Task and model configs come from their registries (:mod:`samplelab.tasks`,
:mod:`samplelab.models`); the rest are defined here. All are frozen pydantic models that
reject unknown keys; :func:`resolve_run_config` validates a plain dict into a
:class:`RunConfig`, raising a one-line :class:`~samplelab.core.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, SerializeAsAny, ValidationError, model_validator

from samplelab.core.errors import ConfigError, config_error_from_validation
from samplelab.core.registry import StrictConfig
from samplelab.models import MODELS, ModelConfig
from samplelab.tasks import TASKS, TaskConfig, build_task

N_TRAIN = "training.n_train"  # the grid key along which data needed is measured

# Bumped when the meaning of a stored run changes, so old rows are not reused silently.
# 2: the trainer's compile options (trainer.COMPILER_OPTIONS): LLVM -O2, which rounds the
# manifold task's sin/cos differently, and single-threaded matrix products, whose sums no
# longer depend on the thread count; rows of schema 1 were computed at -O3, multi-threaded.
RUN_KEY_SCHEMA = 2


class AnyOf(tuple):
    """Several values of one field that each reproduce the behaviour before it existed."""


# Fields added to a config after RUN_KEY_SCHEMA 1, with the value (or AnyOf values) that
# reproduces the behaviour before they existed. At that value they are left out of the
# training identity, so stored runs keep their keys; any other value, a new default
# included, enters the identity and so makes a new run. (A change of behaviour with no
# config field to carry it needs a schema bump instead.)
IDENTITY_DEFAULTS: dict[str, dict[str, Any]] = {
    "training": {"validation_size": 0, "stop_below_relative": None},
    # allocation_scope: None for a net without neuron allocation, "layer" the reading before
    # it existed; "network" (the default for zero init since session 9) changes the numbers.
    "model": {"causal": False, "allocation_scope": AnyOf((None, "layer"))},
    # qSTR's distinct position rows and the manifold's Fourier target (the defaults since
    # session 9) change the numbers.
    "task": {"distinct_positions": False, "target_form": "ridge"},
}


# lr and weight decay of each optimizer when a config gives none. Adagrad's are seed 000's
# author's settings (lr 0.015, weight decay 0.01); AdamW keeps weight decay 0 so that configs
# written before this table resolve as before (the seed 000 studies set 0.01 themselves).
OPTIMIZER_DEFAULTS: dict[str, dict[str, float]] = {
    "adamw": {"lr": 1e-3, "weight_decay": 0.0},
    "adam": {"lr": 1e-3, "weight_decay": 0.0},
    "sgd": {"lr": 1e-3, "weight_decay": 0.0},
    "adagrad": {"lr": 0.015, "weight_decay": 0.01},
}


class OptimizerConfig(StrictConfig):
    """Optimizer and learning-rate schedule (``lr`` may differ across one ensemble).

    ``lr`` and ``weight_decay`` default per optimizer (``OPTIMIZER_DEFAULTS``).
    """

    name: Literal["adamw", "adam", "sgd", "adagrad"] = "adamw"
    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0, le=10)
    b1: float = Field(0.9, ge=0, lt=1, description="Adam β1")
    b2: float = Field(0.999, ge=0, lt=1, description="Adam β2")
    momentum: float = Field(0.0, ge=0, lt=1, description="SGD momentum")
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float | None = Field(None, gt=0, description="global-norm clip; none if unset")

    @model_validator(mode="before")
    @classmethod
    def _optimizer_defaults(cls, data: Any) -> Any:
        name = data.get("name", "adamw") if isinstance(data, dict) else None
        if isinstance(name, str) and name in OPTIMIZER_DEFAULTS:  # else the field's validation says why
            data = {**OPTIMIZER_DEFAULTS[name], **data}
        return data


class TrainingConfig(StrictConfig):
    """Budget and data regime.

    ``regime = "online"`` draws fresh examples every step; ``"fixed"`` draws every batch
    (uniformly, with replacement) from the run's first ``n_train`` examples of a fixed pool.
    The test set (``test_size`` examples, disjoint from any training pool) is evaluated at
    step 0 and every ``eval_every`` steps. With ``validation_size = v > 0`` the training
    loss on a validation split is taken at the same steps: pool examples ``n_train …
    n_train + v − 1`` in the fixed regime (so never trained on, and not test examples),
    pool examples ``0 … v − 1`` online (the pool is otherwise unused there). It is what
    model selection may look at; the test set is not.

    ``stop_below_relative = r`` (online only) ends an ensemble at the first evaluation at
    which every member's test metric is at or below ``r × baseline``. Each member's data and
    updates do not depend on when training ends, so samples-to-threshold at any threshold
    ≥ that value is exactly what the full budget would give; the stored curve just ends
    there (and ``final_metric`` is its last point). A member that never gets there keeps
    the ensemble running to ``steps``, so censored runs always have their whole budget.
    """

    regime: Literal["online", "fixed"] = "online"
    steps: int = Field(1000, ge=1, le=10_000_000)
    batch_size: int = Field(32, ge=1, le=1_000_000)
    n_train: int | None = Field(None, ge=1, le=1_000_000_000, description="fixed regime only")
    eval_every: int = Field(50, ge=1)
    test_size: int = Field(256, ge=1, le=1_000_000)
    validation_size: int = Field(0, ge=0, le=1_000_000, description="held-out examples for validation loss; 0: none")
    stop_below_relative: float | None = Field(
        None, gt=0, le=1, description="online: end the ensemble once every member's test metric ≤ this × baseline"
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainingConfig:
        if self.regime == "fixed" and self.n_train is None:
            raise ValueError('regime "fixed" needs n_train — fix: set training.n_train, e.g. 256')
        if self.regime == "online" and self.n_train is not None:
            raise ValueError('n_train is only used by regime "fixed" — fix: remove it or set regime = "fixed"')
        if self.stop_below_relative is not None and self.regime != "online":
            raise ValueError(
                "stop_below_relative ends training early, which would change a fixed-regime run's final metric — "
                'fix: remove it or set regime = "online"'
            )
        if self.steps % self.eval_every:
            raise ValueError(
                f"steps={self.steps} is not a multiple of eval_every={self.eval_every} — fix: "
                f"use steps = {self.steps - self.steps % self.eval_every or self.eval_every}"
            )
        return self

    @property
    def n_evals(self) -> int:
        """Evaluations after step 0."""
        return self.steps // self.eval_every


class MeasurementConfig(StrictConfig):
    """Threshold for samples-to-threshold: absolute, or relative to the task's baseline."""

    threshold_relative: float = Field(0.01, gt=0, le=1, description="fraction of the baseline")
    threshold: float | None = Field(None, gt=0, description="absolute; overrides threshold_relative")

    def threshold_for(self, baseline: float) -> float:
        return self.threshold if self.threshold is not None else self.threshold_relative * baseline


class RunConfig(StrictConfig):
    """Everything that defines one run except its seed."""

    task: SerializeAsAny[TaskConfig]
    model: SerializeAsAny[ModelConfig]
    optimizer: OptimizerConfig = OptimizerConfig()
    training: TrainingConfig = TrainingConfig()
    measurement: MeasurementConfig = MeasurementConfig()


SECTIONS = {
    "optimizer": OptimizerConfig,
    "training": TrainingConfig,
    "measurement": MeasurementConfig,
}
RUN_SECTIONS = ("task", "model", *SECTIONS)


def resolve_run_config(data: dict[str, Any]) -> RunConfig:
    """Validate ``{"task": {...}, "model": {...}, "optimizer": {...}, ...}`` into a RunConfig."""
    unknown = sorted(set(data) - set(RUN_SECTIONS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section — fix: use one of {', '.join(RUN_SECTIONS)}")
    for required in ("task", "model"):
        if required not in data:
            raise ConfigError(f"{required}: missing section — fix: add a [{required}] table with name = ...")
    parts: dict[str, Any] = {"task": TASKS.validate(data["task"]), "model": MODELS.validate(data["model"])}
    for section, cls in SECTIONS.items():
        try:
            parts[section] = cls.model_validate(data.get(section, {}))
        except ValidationError as err:
            raise config_error_from_validation(err, prefix=section, model=cls) from None
    if parts["task"].finite_dataset and parts["training"].regime != "fixed":
        raise ConfigError(
            f"training.regime: task {parts['task'].name!r} is a finite dataset, so it has no online stream — "
            'fix: set regime = "fixed" and n_train'
        )
    if parts["task"].causal_model_required and not getattr(parts["model"], "causal", False):
        raise ConfigError(
            f"model.causal: task {parts['task'].name!r} predicts each next token, so the model must not see later "
            'ones — fix: use name = "transformer" with causal = true'
        )
    return RunConfig(**parts)


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no whitespace) used for hashing and storage."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def training_identity(config: RunConfig) -> dict[str, Any]:
    """The parts of a run config that change what is trained (measurement excluded)."""
    dumped = config.model_dump(mode="json")
    dumped.pop("measurement")
    for section, defaults in IDENTITY_DEFAULTS.items():
        for name, value in defaults.items():
            if name in dumped[section]:
                current = dumped[section][name]
                if current in value if isinstance(value, AnyOf) else current == value:
                    del dumped[section][name]
    return dumped


def run_key(config: RunConfig, seed: int) -> str:
    """Stable 16-hex-digit key of a run: hash of its training identity, seed and schema.

    Measurement settings (thresholds) are applied when reading, so changing them never
    retrains a finished run.
    """
    return run_keys(config, [seed])[0]


def code_digests(config: RunConfig) -> dict[str, str]:
    """The source digests of a run's task and model where a plugin registered them (built-ins: none)."""
    entries = {"task": TASKS.get(config.task.name), "model": MODELS.get(config.model.name)}
    return {kind: entry.code_digest for kind, entry in entries.items() if entry.code_digest}


def run_keys(config: RunConfig, seeds: list[int]) -> list[str]:
    """:func:`run_key` of ``config`` at each of ``seeds`` (its identity dumped once)."""
    # canonical_json({"config": …, "seed": seed, "schema": …}) with the config serialised once
    # (sorted keys: code, config, schema, seed); a test checks the bytes are the same. "code":
    # the plugin sources of its task and model, only where a plugin registered them, so that
    # built-in runs keep their keys.
    code = code_digests(config)
    head = f'{{"code":{canonical_json(code)},' if code else "{"
    head += f'"config":{canonical_json(training_identity(config))},"schema":{canonical_json(RUN_KEY_SCHEMA)},"seed":'
    payloads = (f"{head}{int(seed)}}}" for seed in seeds)
    return [hashlib.sha256(payload.encode()).hexdigest()[:16] for payload in payloads]


def shape_key(config: RunConfig) -> str:
    """Key shared by runs that compile to the same program (seed, lr and n_train vary freely)."""
    identity = training_identity(config)
    identity["optimizer"]["lr"] = None
    identity["training"]["n_train"] = None
    code = code_digests(config)
    return canonical_json({**identity, "code": code} if code else identity)


def check_dataset_fits(config: RunConfig, n_train: int) -> None:
    """A finite dataset task must keep test examples after ``n_train`` training and the
    validation examples; raises a one-line ConfigError (this loads the dataset)."""
    if not config.task.finite_dataset:
        return
    size = build_task(config.task).size
    validation = config.training.validation_size
    if n_train + validation >= size:
        raise ConfigError(
            f"training.n_train: {n_train} training + {validation} validation examples leave no test examples of "
            f"the {size} in {config.task.name!r} — fix: use n_train < {size - validation}"
        )
