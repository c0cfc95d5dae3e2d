"""``[[analysis.claims]]``: a seed's statement, in the logical form it has, with its margin.

Each claim measures one thing and allows a region of it (docs/analysis.md, "Claims"):

==============  ==========================================  =================================
kind            measures                                    allows
==============  ==========================================  =================================
bound           ``of``: a fitted exponent or an outcome      ≥ ``above`` − margin, or ≤ ``below`` + margin
equivalence     the same                                    ``within`` [low, high]
compare         exponent(where) − exponent(than), or the     as bound (against 0, or 1 for a ratio)
                ratio y(where) / y(than) at matched x
growth          y against x: log law vs power law            "almost independent of x"
band            y ÷ x at every x                            ``within`` [low, high]
trend           Δ ln y per step along the cells ordered by  as bound (against 0)
                ``along`` (comma-joined fields: as tuples);
                with ``of = "exponent"``: Δ exponent per
                step along the series fitted against ``x``
paired          outcome(where) − outcome(than), per seed     as bound
reached         the success rate of the ``where`` runs      ≥ ``above`` (default 1 − δ)
not_reached     rate(control) − rate(where)                 ≥ ``above`` (default 1 − 2δ), once the
                                                            control learns (rate ≥ 1 − δ)
==============  ==========================================  =================================

Nothing here changes what is trained, so editing a claim never invalidates stored runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from samplelab.core.errors import ConfigError
from samplelab.core.registry import StrictConfig
from samplelab.spec.run_config import N_TRAIN

OUTCOME_NAMES = (
    "test_accuracy",
    "train_accuracy",
    "test_metric",
    "train_metric",
    "weight_sparsity",
    "train_set_loss",
    "test_loss_min",
    "test_loss_final",
    "test_loss_rise",
)
CLAIM_KINDS = ("bound", "equivalence", "compare", "growth", "band", "trend", "paired", "reached", "not_reached")
Selection = dict[str, int | float | str | bool | list[int | float | str | bool]]

_NEEDS = {  # kind → (fields it requires, fields it refuses)
    "bound": ({"of", "margin"}, {"than", "control", "within"}),
    "equivalence": ({"of", "within"}, {"than", "control", "above", "below"}),
    "compare": ({"x", "than", "margin"}, {"control", "within"}),
    "growth": ({"x", "margin"}, {"than", "control", "within", "above", "below", "law"}),
    "band": ({"x", "within"}, {"than", "control", "above", "below", "law"}),
    "trend": ({"along"}, {"than", "control", "within"}),
    "paired": ({"of", "than", "margin"}, {"control", "within", "x", "law"}),
    "reached": (set(), {"of", "than", "control", "within", "below", "x", "law"}),
    "not_reached": ({"control"}, {"of", "than", "within", "below", "x", "law"}),
}


class ClaimConfig(StrictConfig):
    """One claim (see the module docstring for what each kind measures and allows)."""

    kind: Literal[CLAIM_KINDS]  # type: ignore[valid-type]
    label: str = Field(min_length=1, description='the claim in words, e.g. "seed 001: H ≥ q heads learn qSTR"')
    where: Selection = Field(
        {}, description='grid values the claim is about; a list means any of them, e.g. {"model.heads" = [2, 3]}'
    )
    than: Selection | None = Field(None, description="compare / paired: the series or points compared against")
    control: Selection | None = Field(None, description="not_reached: the cells that must learn in the same budget")
    of: Literal[("exponent", "ratio", *OUTCOME_NAMES)] | None = Field(  # type: ignore[valid-type]
        None, description="what is measured: a fitted exponent, a ratio of data needed (compare), or an outcome"
    )
    x: str | None = Field(None, description="exponent, ratio, growth, band: the grid key y is read against")
    x_measure: Literal["grid", "parameters", "tokens"] = Field(
        "grid", description="exponent: fit against x's value, its model's parameter count, or its training tokens"
    )
    along: str | None = Field(
        None,
        description="trend: the key (or comma-joined fields of a zipped axis) whose values, compared as tuples, "
        "order the cells (or, of = exponent, the fitted series)",
    )
    y: Literal["n_star", "km_median", "final_metric", "early_stopped_metric"] = Field(
        "km_median",
        description='exponent, ratio, growth, band, trend: what is read at each x or cell ("on average": km_median)',
    )
    law: Literal["power", "power_offset", "broken_power"] = "power"
    above: float | None = None
    below: float | None = None
    within: tuple[float, float] | None = None
    margin: float | None = Field(None, ge=0, description="the tolerance: how far past its value the claim allows")
    threshold_relative: float | None = Field(
        None, gt=0, le=1, description="judge reaching at this fraction of the baseline instead of the study's threshold"
    )

    @model_validator(mode="before")
    @classmethod
    def _trend_x_was_along(cls, data: object) -> object:
        """A trend on data needed named its ordering key ``x`` before ``along`` existed (study
        files kept in stores still do): read it as ``along``."""
        old = isinstance(data, dict) and data.get("kind") == "trend" and data.get("of") is None
        if old and "x" in data and "along" not in data:
            data = {**{k: v for k, v in data.items() if k != "x"}, "along": data["x"]}
        return data

    @model_validator(mode="after")
    def _fields_of_kind(self) -> ClaimConfig:
        needs, refuses = _NEEDS[self.kind]
        given = {name for name in self.model_fields_set if getattr(self, name) is not None}
        missing = sorted(needs - given)
        if missing:
            raise ValueError(f"a {self.kind} claim needs {', '.join(missing)} — fix: add {missing[0]} = …")
        extra = sorted(refuses & given)
        if extra:
            raise ValueError(f"a {self.kind} claim takes no {', '.join(extra)} — fix: remove {extra[0]}")
        if self.kind in ("bound", "compare", "paired", "trend") and (self.above is None) == (self.below is None):
            raise ValueError(f"a {self.kind} claim is one-sided — fix: give exactly one of above = … or below = …")
        if self.within is not None and not self.within[0] < self.within[1]:
            raise ValueError(f"within {list(self.within)} is not increasing — fix: give [low, high] with low < high")
        if self.kind in ("bound", "equivalence") and self.of == "ratio":
            raise ValueError('of = "ratio" compares two series — fix: use kind = "compare"')
        if self.kind == "compare" and self.of not in (None, "exponent", "ratio"):
            raise ValueError('a compare claim reads exponents or ratios — fix: of = "exponent" or "ratio"')
        if self.kind == "paired" and self.of in ("exponent", "ratio"):
            raise ValueError(
                "a paired claim compares an outcome per seed — fix: of = one of " + ", ".join(OUTCOME_NAMES)
            )
        if self.of == "ratio" and self.y in ("final_metric", "early_stopped_metric"):
            raise ValueError('a ratio compares data needed at matched x — fix: y = "km_median" or "n_star"')
        if self.kind == "trend" and self.of not in (None, "exponent"):
            raise ValueError('a trend reads data needed or, of = "exponent", fitted exponents — fix: remove of')
        if self.kind == "trend" and self.of is None and self.x is not None:
            raise ValueError("a trend on data needed orders cells by along, not x — fix: remove x (or set "
                             'of = "exponent" to order the exponents of y fitted against x)')  # fmt: skip
        if self.kind == "trend" and self.of is None and self.law != "power":
            raise ValueError('a trend on data needed fits no law — fix: remove law (or set of = "exponent")')
        if self.x_measure != "grid" and self.of != "exponent":
            raise ValueError('x_measure applies to a fitted exponent — fix: remove it, or set of = "exponent"')
        if self.x_measure == "parameters" and not (self.x or "").startswith("model."):
            raise ValueError('x_measure = "parameters" counts a model\'s parameters — fix: x = "model.<field>"')
        if self.x_measure == "tokens" and self.x != N_TRAIN:
            raise ValueError(f'x_measure = "tokens" is n_train × tokens per example — fix: x = "{N_TRAIN}"')
        if self.of == "exponent" and self.x is None:
            raise ValueError('of = "exponent" fits y against x — fix: add x = "<grid key>"')
        return self

    @property
    def measures(self) -> str:
        """What the claim reads: ``exponent``, ``ratio``, an outcome name, or the kind's own quantity."""
        if self.kind == "compare":
            return self.of or "exponent"
        if self.kind == "trend":
            return "trend"
        kinds = {"growth": "growth", "band": "per_x", "reached": "rate", "not_reached": "rate"}
        return self.of or kinds[self.kind]


def check_claims(
    claims: list[ClaimConfig], grid: dict[str, list], regime: str, outcomes: bool, validation_size: int = 0
) -> None:
    """Check each claim against the study's grid; raise a one-line ConfigError."""
    for index, claim in enumerate(claims):
        where = f"analysis.claims[{index}]"
        if claim.measures not in ("exponent", "ratio", "growth", "per_x", "trend", "rate") and not outcomes:
            raise ConfigError(f"{where}: {claim.measures} is a final outcome — fix: set [analysis] outcomes = true")
        if claim.kind == "trend":
            _check_trend(claim, grid, regime, where, validation_size)
            continue
        over_x = claim.x is not None
        if over_x:
            _check_x(claim, grid, regime, where, validation_size)
        if over_x and claim.y in ("final_metric", "early_stopped_metric") and claim.kind in ("band", "growth"):
            raise ConfigError(f"{where}.y: a {claim.kind} claim reads data needed — fix: y = km_median or n_star")
        by_run = not over_x and claim.kind != "reached" and claim.kind != "not_reached"
        keys = [k for k in grid if (by_run or k != N_TRAIN or regime != "fixed") and k != claim.x]
        _check_selections(claim, grid, keys, where)


def _check_x(claim: ClaimConfig, grid: dict[str, list], regime: str, where: str, validation_size: int) -> None:
    """y read against ``x``: a grid key of positive numbers, and a y that can be read along it."""
    if claim.x not in grid:
        raise ConfigError(f'{where}.x: "{claim.x}" is not a grid key — fix: use one of {", ".join(grid) or "none"}')
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in grid[claim.x]):
        raise ConfigError(f'{where}.x: grid "{claim.x}" = {grid[claim.x]} is not all positive numbers — fix: read '
                          "the claim against a numeric grid key")  # fmt: skip
    if claim.y == "early_stopped_metric" and not validation_size:
        raise ConfigError(f"{where}.y: early_stopped_metric needs training.validation_size — fix: set it, e.g. 256")
    if claim.y in ("n_star", "km_median") and (claim.x == N_TRAIN and regime == "fixed"):
        raise ConfigError(f"{where}.x: {N_TRAIN} is what {claim.y} measures — fix: read it against another key")
    if claim.y == "n_star" and (regime != "fixed" or N_TRAIN not in grid):
        raise ConfigError(f'{where}.y: n_star needs the fixed regime and a "{N_TRAIN}" grid — fix: use km_median')


def _check_selections(claim: ClaimConfig, grid: dict[str, list], keys: list[str], where: str) -> None:
    """``where``, ``than`` and ``control`` name only ``keys``, with values in the grid."""
    for name in ("where", "than", "control"):
        for key, value in (getattr(claim, name) or {}).items():
            if key not in keys:
                choices = ", ".join(keys) or "none"
                raise ConfigError(f'{where}.{name}: "{key}" is not a grid key here — fix: use one of {choices}')
            for one in value if isinstance(value, list) else [value]:
                if one not in grid[key]:
                    raise ConfigError(f"{where}.{name}.{key}: {one!r} is not in the grid — fix: use one of {grid[key]}")


def trend_fields(claim: ClaimConfig) -> list[str]:
    """The grid keys a trend orders by: ``along``'s comma-joined fields."""
    return [part.strip() for part in (claim.along or "").split(",")]


def _check_trend(claim: ClaimConfig, grid: dict[str, list], regime: str, where: str, validation_size: int) -> None:
    """A trend orders cells (or fitted series) by the values of ``along``'s fields: each a
    numeric grid key, never n_train nor the fit's x."""
    # Data needed folds n_train into each cell: neither a trend on it nor one on its exponents orders by n_train.
    fixed = (claim.x,) if claim.y in ("final_metric", "early_stopped_metric") else (claim.x, N_TRAIN)
    for field in trend_fields(claim):
        if field not in grid or field in fixed:
            keys = ", ".join(k for k in grid if k not in fixed) or "none"
            raise ConfigError(f'{where}.along: "{field}" is not a grid key to order by — fix: use one of {keys}')
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in grid[field]):
            raise ConfigError(f'{where}.along: grid "{field}" = {grid[field]} is not numbers — fix: order by a '
                              "numeric key")  # fmt: skip
    if claim.of == "exponent":
        _check_x(claim, grid, regime, where, validation_size)
    elif claim.y not in ("n_star", "km_median"):
        raise ConfigError(f"{where}.y: a trend on cells reads data needed — fix: y = km_median or n_star")
    elif claim.y == "n_star" and (regime != "fixed" or N_TRAIN not in grid):
        raise ConfigError(f'{where}.y: n_star needs the fixed regime and a "{N_TRAIN}" grid — fix: use km_median')
    _check_selections(claim, grid, [k for k in grid if k not in fixed], where)


def point_matches(point: dict, where: dict) -> bool:
    """Whether a grid point has every value of ``where`` (a list there: any of its values)."""
    return all(point.get(key) in (value if isinstance(value, list) else [value]) for key, value in where.items())
