"""The ``[analysis]`` section of a study file: statistics settings, fits and theory.

Example (``studies/setfind2_setsize.toml``)::

    [analysis]
    delta = 0.1                  # n*(ε, δ): P(test error ≤ ε) ≥ 1 − δ; ε is the study's threshold
    [[analysis.fits]]
    x = "task.set_size"          # a grid key
    x_measure = "grid"           # grid | parameters (model size at that point) | tokens (n_train × tokens)
    y = "n_star"                 # n_star | km_median | final_metric
    law = "power"                # power (a·x^γ) | power_offset (a·x^−α + c) | broken_power
    theory = { exponent = "1", margin = 0.33, label = "seed 000: 4N–8N examples" }

Nothing here changes what is trained, so editing it never invalidates stored runs.
"""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, field_validator, model_validator

from samplelab.core.errors import ConfigError
from samplelab.core.registry import StrictConfig
from samplelab.core.run_fields import SCALAR_COLUMNS
from samplelab.spec.claims import OUTCOME_NAMES, ClaimConfig
from samplelab.spec.run_config import N_TRAIN
from samplelab.stats.theory import expression_names


class TheoryConfig(StrictConfig):
    """A predicted value of the fitted exponent (γ, α or γ₂), as an expression: a bound
    (``above`` / ``below``) or an equivalence (``equal``) claim on it, with its margin."""

    exponent: str = Field(description='arithmetic expression, e.g. "1" or "2*beta/(2*beta+d)"')
    relation: Literal["equal", "above", "below"] = "equal"
    margin: float | None = Field(
        None,
        ge=0,
        description="tolerance: equal allows [value − margin, value + margin] (required), above ≥ value − margin, "
        "below ≤ value + margin (default 0) (docs/analysis.md, Claims)",
    )
    variables: dict[str, str | list[str]] = Field(
        {},
        description='name -> "section.field" of the series config, or "measured.<column>": the median of that '
        "stored end-of-training number (e.g. embedding_dimension) over the series' runs at its largest x; a list "
        "of measured columns: estimators of one quantity, the first giving its value and all of them its interval",
    )
    label: str = ""

    @field_validator("exponent", mode="before")
    @classmethod
    def _number_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _names_bound(self) -> TheoryConfig:
        try:
            names = expression_names(self.exponent)
        except ValueError as err:
            raise ValueError(f"{err} — fix: write it with numbers, names, + - * / ** and parentheses") from None
        unbound = sorted(names - set(self.variables))
        if unbound:
            raise ValueError(
                f"exponent uses {', '.join(unbound)} but variables does not bind it — fix: add "
                f'variables = {{{unbound[0]} = "task.<field>"}}'
            )
        for name, paths in self.variables.items():
            if isinstance(paths, list) and (not paths or not all(p.startswith("measured.") for p in paths)):
                raise ValueError(
                    f"variables.{name}: a list names estimators of one measured number — fix: give "
                    '"measured.<column>" entries, e.g. ["measured.embedding_dimension", '
                    '"measured.embedding_dimension_twonn"]'
                )
        if self.relation == "equal" and self.margin is None:
            raise ValueError(
                "an equality holds only within a tolerance — fix: add margin = … (how far from the prediction the "
                'seed\'s words allow), or use relation = "above" / "below"'
            )
        return self


def variable_paths(value: str | list[str]) -> list[str]:
    """The dotted paths a theory variable names: one, or several estimators of one measured number."""
    return value if isinstance(value, list) else [value]


class FitConfig(StrictConfig):
    """One law fitted to y against a grid key x, separately per setting of the other keys."""

    x: str = Field(description="a grid key, e.g. task.set_size or training.n_train")
    x_measure: Literal["grid", "parameters", "tokens"] = Field(
        "grid",
        description="what x is fitted as: the grid value; the model's trained parameter count at that point "
        "(x a model.* key); or training tokens, n_train × tokens per example (x = training.n_train)",
    )
    y: Literal["n_star", "km_median", "final_metric", "early_stopped_metric"] = Field(
        "n_star",
        description="n_star | km_median | final_metric (test metric at the end) | early_stopped_metric (test "
        "metric at the eval with the least validation loss; needs training.validation_size)",
    )
    law: Literal["power", "power_offset", "broken_power"] = "power"
    bounds: tuple[float, float] | None = Field(None, description="search range of the exponent")
    where: dict[str, int | float | str | bool] = Field(
        {}, description='fit only the series with these grid values, e.g. {model = "ffn"}'
    )
    threshold_relative: float | None = Field(
        None, gt=0, le=1, description="read n_star / km_median at this fraction of the baseline instead of the study's"
    )

    theory: TheoryConfig | None = None

    @field_validator("bounds")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"bounds {list(value)} are not increasing — fix: give [low, high] with low < high")
        return value


class ModelSelectionConfig(StrictConfig):
    """Discrete model selection: K candidate models trained on the same data at each size.

    At each (seed, n_train) the candidate with the least final validation loss is chosen,
    and the data it needs (n*) is compared with always using the largest candidate.
    """

    candidates: str = Field(
        description='grid key(s) naming the candidates, comma-joined for a zipped axis, e.g. "model.layers,model.heads"'
    )

    @property
    def fields(self) -> list[str]:
        return [part.strip() for part in self.candidates.split(",")]


class SequentialConfig(StrictConfig):
    """Decide with the least compute (``samplelab run --until-decided``; docs/analysis.md,
    "Sequential design"): the claims are judged at interim looks — after the first
    ``looks[0]`` seeds, the first ``looks[1]`` … — and at the last look, all of the study's
    seeds. Look k spends ``alpha[k]`` of the error rate 1 − confidence (Bonferroni over the
    looks, so a claim is wrong at any look with probability at most their sum). A claim
    stops at the first look its verdict is decided, or when even its interval at the last
    look, projected from this one, could not decide it (``futility``).
    """

    looks: list[int] = Field(description="seed counts of the interim looks, increasing ([]: only the last look)")
    alpha: list[float] | None = Field(
        None, description="the error rate each look spends, interim looks then the last; sum = 1 − confidence"
    )
    futility: bool = Field(True, description="stop a claim whose projected last-look interval decides nothing")
    sizes: Literal["grid", "bisect"] = Field(
        "grid",
        description="fixed regime: train every training-set size of a seed's cell (grid), or bisect the sizes "
        "for each seed's first that reaches each threshold the analysis reads",
    )

    @field_validator("looks")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if (value and value[0] < 2) or any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"looks {value} must be increasing seed counts of at least 2 — fix: e.g. [3]")
        return value

    @field_validator("alpha")
    @classmethod
    def _positive(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and any(not 0 < a < 1 for a in value):
            raise ValueError(f"alpha {value} must lie in (0, 1) — fix: e.g. [0.01, 0.04]")
        return value


class AnalysisConfig(StrictConfig):
    """Statistics settings of a study (all optional)."""

    delta: float = Field(0.1, gt=0, lt=1, description="n*(ε, δ): allowed failure probability")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="two-sided level of every CI")
    bootstrap: int = Field(1000, ge=100, le=100_000, description="bootstrap replicates")
    interval: Literal["percentile", "student"] = Field(
        "percentile",
        description="seed intervals: the expanded percentile, or Student's t with the bootstrap's standard error",
    )
    n_star_method: Literal["isotonic", "logistic"] = "isotonic"
    quantiles: list[float] = Field([0.25, 0.5, 0.75], description="Kaplan–Meier quantiles reported per cell")
    fits: list[FitConfig] = []
    model_selection: ModelSelectionConfig | None = None
    claims: list[ClaimConfig] = []
    sequential: SequentialConfig | None = None
    outcomes: bool = Field(
        False,
        description="report final outcomes per grid point (accuracy, sparsity, test-loss rise): analysis/outcomes.py",
    )

    @property
    def threshold_fractions(self) -> list[float | None]:
        """The thresholds the analysis reads: the study's own (``None``), then each distinct
        ``threshold_relative`` of its fits and claims."""
        return list(dict.fromkeys([None, *(entry.threshold_relative for entry in [*self.fits, *self.claims])]))

    @property
    def bisected(self) -> bool:
        """Whether its sequential design bisects the training-set sizes (docs/analysis.md, "Bisected sizes")."""
        return self.sequential is not None and self.sequential.sizes == "bisect"

    @field_validator("quantiles")
    @classmethod
    def _probabilities(cls, value: list[float]) -> list[float]:
        if any(not 0 < p < 1 for p in value):
            raise ValueError(f"quantiles {value} must lie in (0, 1) — fix: e.g. [0.25, 0.5, 0.75]")
        return value


def check_sequential(analysis: AnalysisConfig, seeds: int, grid: dict[str, list] | None = None,
                     regime: str = "fixed") -> None:  # fmt: skip
    """Check the sequential looks against the study's seed count and confidence, and bisected
    sizes against its grid and what it reads; raise a one-line ConfigError."""
    sequential = analysis.sequential
    if sequential is None:
        return
    if analysis.bisected:
        _check_bisect(analysis, grid or {}, regime)
    if sequential.looks and sequential.looks[-1] >= seeds:
        raise ConfigError(
            f"analysis.sequential.looks: {sequential.looks} must stay below the study's {seeds} seeds (the last "
            f"look is all of them) — fix: drop the looks ≥ {seeds}, or raise seeds"
        )
    if sequential.alpha is not None:
        total = 1 - analysis.confidence
        if len(sequential.alpha) != len(sequential.looks) + 1:
            raise ConfigError(
                f"analysis.sequential.alpha: {len(sequential.alpha)} values for {len(sequential.looks) + 1} looks "
                "(the interim looks and the last) — fix: give one per look"
            )
        if abs(sum(sequential.alpha) - total) > 1e-9:
            raise ConfigError(
                f"analysis.sequential.alpha: {sequential.alpha} sums to {sum(sequential.alpha):.4g}, not 1 − "
                f"confidence = {total:.4g} — fix: spend exactly the error rate"
            )


def _check_bisect(analysis: AnalysisConfig, grid: dict[str, list], regime: str) -> None:
    """Bisected sizes leave most sizes of a seed untrained: only data needed (n*, its median) and
    whether a seed reaches the threshold are implied at every size (docs/analysis.md)."""
    where = "analysis.sequential.sizes"
    if regime != "fixed" or not any(N_TRAIN in key.split(",") for key in grid):
        raise ConfigError(
            f'{where}: "bisect" needs the fixed regime and a training.n_train grid axis — fix: use "grid"'
        )
    reading = [(f"analysis.fits[{i}]", f.y) for i, f in enumerate(analysis.fits)]
    for i, fit in enumerate(analysis.fits):
        for value in [] if fit.theory is None else fit.theory.variables.values():
            for path in [value] if isinstance(value, str) else value:
                if path.startswith("measured."):
                    reading.append((f"analysis.fits[{i}].theory", f"{path} (measured on the runs)"))
    for i, claim in enumerate(analysis.claims):
        if claim.kind in ("reached", "not_reached"):
            continue
        read = f"the outcome {claim.of}" if claim.kind == "paired" or claim.of in OUTCOME_NAMES else claim.y
        reading.append((f"analysis.claims[{i}]", read))
    if analysis.model_selection is not None:
        reading.append(("analysis.model_selection", "every candidate at every size"))
    if analysis.outcomes:
        reading.append(("analysis.outcomes", "the outcomes at every grid point"))
    for entry, y in reading:
        if y not in ("n_star", "km_median"):
            raise ConfigError(
                f'{where}: "bisect" trains a seed only at the sizes that bracket its data needed, but {entry} reads '
                f'{y} — fix: use "grid", or read n_star or km_median'
            )


def check_fits(analysis: AnalysisConfig, grid: dict[str, list], regime: str, validation_size: int = 0) -> None:
    """Check each fit against the study's grid and regime; raise a one-line ConfigError."""
    grid_keys = list(grid)
    for index, fit in enumerate(analysis.fits):
        where = f"analysis.fits[{index}]"
        if fit.x not in grid_keys:
            keys = ", ".join(grid_keys) or "none (add a [grid])"
            raise ConfigError(f'{where}.x: "{fit.x}" is not a grid key — fix: use one of {keys}')
        values = grid[fit.x]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values):
            raise ConfigError(
                f'{where}.x: grid "{fit.x}" = {values} is not all positive numbers — fix: fit against a numeric '
                "grid key (power laws need x > 0)"
            )
        if fit.x_measure == "parameters" and not fit.x.startswith("model."):
            raise ConfigError(
                f'{where}.x_measure: "parameters" counts the model\'s parameters but x = "{fit.x}" is not a model '
                'field — fix: fit against a model.* grid key (e.g. "model.d_model") or use x_measure = "grid"'
            )
        if fit.x_measure == "tokens" and fit.x != N_TRAIN:
            raise ConfigError(
                f'{where}.x_measure: "tokens" is n_train × tokens per example but x = "{fit.x}" — fix: use '
                f'x = "{N_TRAIN}" or x_measure = "grid"'
            )
        if fit.y == "early_stopped_metric" and not validation_size:
            raise ConfigError(
                f"{where}.y: early_stopped_metric stops at the least validation loss but training.validation_size "
                'is 0 — fix: set training.validation_size, e.g. 256, or use y = "final_metric"'
            )
        if fit.y == "n_star" and (regime != "fixed" or N_TRAIN not in grid_keys):
            raise ConfigError(
                f'{where}.y: n_star needs the fixed regime and a "{N_TRAIN}" grid — fix: use y = "km_median" '
                f'or set training.regime = "fixed" with a grid over {N_TRAIN}'
            )
        if fit.y in ("n_star", "km_median") and fit.x == N_TRAIN and regime == "fixed":
            raise ConfigError(
                f"{where}.x: {N_TRAIN} is what {fit.y} measures — fix: fit it against another grid key, "
                'or use y = "final_metric" for a learning curve'
            )
        for key, value in fit.where.items():
            if key not in grid_keys or key == fit.x:
                keys = ", ".join(k for k in grid_keys if k != fit.x) or "none"
                raise ConfigError(f'{where}.where: "{key}" is not a grid key other than x — fix: use one of {keys}')
            if value not in grid[key]:
                raise ConfigError(f"{where}.where.{key}: {value!r} is not in the grid — fix: use one of {grid[key]}")
        if fit.theory:
            for name, path in ((n, p) for n, v in fit.theory.variables.items() for p in variable_paths(v)):
                section, _, field = path.partition(".")
                if section == "measured" and field not in SCALAR_COLUMNS:
                    raise ConfigError(
                        f'{where}.theory.variables.{name}: "{path}" is not a measured number — fix: use one of '
                        + ", ".join(f'"measured.{c}"' for c in SCALAR_COLUMNS)
                    )
                if not field or section not in ("task", "model", "optimizer", "training", "measured"):
                    raise ConfigError(
                        f'{where}.theory.variables.{name}: "{path}" is not a config field — fix: use '
                        '"<section>.<field>", e.g. "task.set_size", or "measured.embedding_dimension"'
                    )


def check_model_selection(analysis: AnalysisConfig, grid: dict[str, list], regime: str, validation_size: int) -> None:
    """Check ``[analysis.model_selection]`` against the grid and the training config."""
    selection = analysis.model_selection
    if selection is None:
        return
    where = "analysis.model_selection"
    missing = [f for f in selection.fields if f not in grid]
    if missing:
        keys = ", ".join(grid) or "none (add a [grid])"
        raise ConfigError(f'{where}.candidates: "{missing[0]}" is not a grid key — fix: use one of {keys}')
    if N_TRAIN in selection.fields:
        raise ConfigError(f"{where}.candidates: {N_TRAIN} is the data axis — fix: name the model axis")
    if regime != "fixed" or N_TRAIN not in grid:
        raise ConfigError(
            f'{where}: model selection needs the fixed regime and a "{N_TRAIN}" grid — fix: set '
            f'training.regime = "fixed" with a grid over {N_TRAIN}'
        )
    if validation_size < 1:
        raise ConfigError(
            f"{where}: candidates are chosen by validation loss but training.validation_size is 0 — fix: set "
            "training.validation_size, e.g. 128"
        )


def check_thresholds(analysis: AnalysisConfig, stop_below: float) -> None:
    """A fit's or claim's own ``threshold_relative`` must be read by it (data needed, or
    reaching) and reachable: not below ``stop_below``, where online runs stop (their curves end there)."""
    entries = [(f"analysis.fits[{i}]", f.threshold_relative, f.y in ("n_star", "km_median")) for i, f in
               enumerate(analysis.fits)]  # fmt: skip
    entries += [
        (f"analysis.claims[{i}]", c.threshold_relative,
         c.kind in ("reached", "not_reached") or (c.kind == "trend" and c.of is None)
         or (c.x is not None and c.y in ("n_star", "km_median")))
        for i, c in enumerate(analysis.claims)
    ]  # fmt: skip
    for where, fraction, reads in entries:
        if fraction is None:
            continue
        if not reads:
            raise ConfigError(
                f"{where}.threshold_relative: it reads no threshold (an outcome or a final metric) — fix: remove it"
            )
        if fraction < stop_below:
            raise ConfigError(
                f"{where}.threshold_relative: {fraction:g} is below training.stop_below_relative = {stop_below:g}, "
                "where the runs stop — fix: raise it to at least that, or lower stop_below_relative"
            )
