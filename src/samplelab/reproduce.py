"""The reproduction plan: which seed studies ``samplelab reproduce`` runs, and how.

A plan file (``studies/reproduce.toml``) lists, per reproduce profile (``quick``, ``full``),
the studies in the order they run::

    [[quick]]
    study = "setfind2_setsize.toml"   # relative to the plan file
    profile = "quick"                 # the study's profile; omitted: its base
    refine_rounds = 2                 # then `samplelab refine --max-rounds 2`
    minutes = 7.5                     # measured on 2 CPU cores: the ETA before it starts

Every study is loaded and checked before anything trains, so a bad entry costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError

from samplelab.analysis_config import N_TRAIN
from samplelab.errors import ConfigError, config_error_from_validation
from samplelab.registry import StrictConfig
from samplelab.study import Study, load_study, read_toml


class PlannedStudyConfig(StrictConfig):
    """One entry of a reproduce profile."""

    study: str = Field(min_length=1, description="study file, relative to the plan file")
    profile: str | None = Field(None, description="the study's profile; omitted: its base")
    refine_rounds: int = Field(0, ge=0, le=10, description="n* refinement rounds after the sweep")
    minutes: float | None = Field(None, gt=0, description="wall time measured on 2 CPU cores, for the ETA")


class ReproducePlanFile(StrictConfig):
    """A plan file: reproduce profile name → its studies, in order."""

    quick: list[PlannedStudyConfig] = Field(min_length=1)
    full: list[PlannedStudyConfig] = Field(min_length=1)


@dataclass(frozen=True)
class PlannedStudy:
    """A plan entry with its study loaded."""

    study: Study
    refine_rounds: int
    minutes: float | None


def load_plan(path: str | Path, profile: str) -> list[PlannedStudy]:
    """The studies of ``profile`` in the plan file at ``path``, each loaded and checked."""
    path = Path(path)
    try:
        plan = ReproducePlanFile.model_validate(read_toml(path))
    except ValidationError as err:
        raise ConfigError(f"{path}: {config_error_from_validation(err, model=ReproducePlanFile)}") from None
    entries = getattr(plan, profile)
    planned = []
    for index, entry in enumerate(entries):
        study = load_study(path.parent / entry.study, entry.profile)
        fixed_grid = study.runs[0].config.training.regime == "fixed" and N_TRAIN in study.grid
        if entry.refine_rounds and not fixed_grid:
            raise ConfigError(
                f"{path}: {profile}[{index}].refine_rounds: {entry.study} has no fixed-regime grid over {N_TRAIN} "
                "to refine — fix: remove refine_rounds"
            )
        planned.append(PlannedStudy(study, entry.refine_rounds, entry.minutes))
    names = [(p.study.name, p.study.profile) for p in planned]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: {profile} lists a study and profile twice — fix: list each once")
    return planned
