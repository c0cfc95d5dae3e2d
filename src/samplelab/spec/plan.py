"""The reproduction plan: which seed studies ``samplelab reproduce`` runs, and how.

A plan file (``studies/reproduce.toml``) lists, per reproduce profile (e.g. ``quick``,
``full``; each a TOML array of tables), the studies in the order they run::

    [[quick]]
    study = "setfind2_setsize.toml"   # relative to the plan file
    profile = "quick"                 # the study's profile; omitted: its base
    refine_rounds = 2                 # then `samplelab refine --max-rounds 2`
    until_decided = true              # its sequential design (`samplelab run --until-decided`)
    minutes = 7.5                     # measured on 2 CPU cores: the ETA before it starts

Every study is loaded and checked before anything trains, so a bad entry costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError

from samplelab.core.errors import ConfigError, config_error_from_validation
from samplelab.core.registry import StrictConfig
from samplelab.spec.run_config import N_TRAIN
from samplelab.spec.study import Study, load_study, read_toml


class PlannedStudyConfig(StrictConfig):
    """One entry of a reproduce profile."""

    study: str = Field(min_length=1, description="study file, relative to the plan file")
    profile: str | None = Field(None, description="the study's profile; omitted: its base")
    refine_rounds: int = Field(0, ge=0, le=10, description="n* refinement rounds after the sweep")
    until_decided: bool = Field(False, description="train the study's sequential design, not every run")
    minutes: float | None = Field(None, gt=0, description="wall time measured on 2 CPU cores, for the ETA")


@dataclass(frozen=True)
class PlannedStudy:
    """A plan entry with its study loaded."""

    study: Study
    refine_rounds: int
    minutes: float | None
    until_decided: bool = False


def plan_profiles(path: str | Path) -> dict[str, list[PlannedStudyConfig]]:
    """Every reproduce profile of the plan file at ``path``: name → its entries, in order."""
    path = Path(path)
    raw = read_toml(path)
    profiles = {}
    for name, entries in raw.items():
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f'{path}: {name}: a profile is a list of studies — fix: write [[{name}]] study = "…"')
        for index, entry in enumerate(entries):
            try:
                profiles.setdefault(name, []).append(PlannedStudyConfig.model_validate(entry))
            except ValidationError as err:
                problem = config_error_from_validation(err, model=PlannedStudyConfig)
                raise ConfigError(f"{path}: {name}[{index}].{problem}") from None
    return profiles


def load_plan(path: str | Path, profile: str) -> list[PlannedStudy]:
    """The studies of ``profile`` in the plan file at ``path``, each loaded and checked."""
    path = Path(path)
    profiles = plan_profiles(path)
    if profile not in profiles:
        raise ConfigError(f"--profile {profile!r}: not in {path} — fix: use one of: {', '.join(profiles)}")
    entries = profiles[profile]
    planned = []
    for index, entry in enumerate(entries):
        study = load_study(path.parent / entry.study, entry.profile)
        if entry.refine_rounds and not study.refinable:
            raise ConfigError(
                f"{path}: {profile}[{index}].refine_rounds: {entry.study} has no fixed-regime grid over {N_TRAIN} "
                "to refine — fix: remove refine_rounds"
            )
        if entry.until_decided and entry.refine_rounds:
            raise ConfigError(
                f"{path}: {profile}[{index}]: until_decided and refine_rounds both — fix: keep one (a look adds seeds, "
                "refinement adds sizes for every seed)"
            )
        if entry.until_decided and study.analysis.sequential is None:
            raise ConfigError(
                f"{path}: {profile}[{index}].until_decided: {entry.study} has no [analysis.sequential] looks — fix: "
                "add them to the study, or remove until_decided"
            )
        planned.append(PlannedStudy(study, entry.refine_rounds, entry.minutes, entry.until_decided))
    names = [(p.study.name, p.study.profile) for p in planned]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: {profile} lists a study and profile twice — fix: list each once")
    return planned
