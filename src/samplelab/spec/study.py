"""Study files: a base run config, a grid over any of its fields, seeds and profiles.

A study is a TOML file::

    name = "setfind2_setsize"
    seeds = 3                       # or an explicit list, e.g. [0, 1, 2]
    [task]      name = "setfind2" ...
    [model]     name = "transformer" ...
    [optimizer] / [training] / [measurement]   (optional)
    [grid]      "task.set_size" = [8, 16, 32]  # cartesian product over every key
                "model" = [{name = "transformer", heads = 1}, {name = "ffn"}]  # whole sections
    plugins = ["my_tasks.py"]       # optional: modules registering tasks / models (spec/plugins.py)
    [profiles.quick.training]  steps = 500     # partial overrides, deep-merged
    [analysis]  fits, theory, δ …              # see samplelab.spec.analysis

:func:`expand_study` turns it into one :class:`RunSpec` per grid point and seed.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from samplelab.core.errors import ConfigError, config_error_from_validation
from samplelab.core.registry import StrictConfig
from samplelab.spec.analysis import (
    AnalysisConfig,
    check_fits,
    check_model_selection,
    check_sequential,
    check_thresholds,
)
from samplelab.spec.claims import check_claims
from samplelab.spec.plugins import load_plugins
from samplelab.spec.run_config import (
    N_TRAIN,
    RUN_SECTIONS,
    RunConfig,
    check_dataset_fits,
    resolve_run_config,
    run_key,
    run_keys,
    shape_key,
)
from samplelab.spec.size import check_fits_in_memory

GridValue = int | float | str | bool
RawGridValue = GridValue | dict[str, Any]
# A study is planned in memory, run by run: past this many runs, split it into several studies.
MAX_RUNS = 1_000_000


@dataclass(frozen=True)
class SectionTable:
    """A grid value that replaces a whole config section (e.g. one model of a comparison).

    ``label`` names it in grid points, tables and figures: the table's own ``label`` key if
    given, else its ``name`` (with its other fields when two tables share a name).
    """

    label: str
    table: dict[str, Any]


class StudyFile(StrictConfig):
    """The top level of a study file, after a profile has been merged in."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    description: str = ""
    seeds: int | list[int] = Field(3, description="a count (seeds 0..k-1) or a list")
    plugins: list[str] = Field([], description="modules registering tasks and models: .py paths or module names")
    task: dict[str, Any]
    model: dict[str, Any]
    optimizer: dict[str, Any] = {}
    training: dict[str, Any] = {}
    measurement: dict[str, Any] = {}
    grid: dict[str, list[RawGridValue | list[RawGridValue]]] = {}
    analysis: AnalysisConfig = AnalysisConfig()
    profiles: dict[str, dict[str, Any]] = {}

    @field_validator("seeds")
    @classmethod
    def _few_enough_seeds(cls, value: int | list[int]) -> int | list[int]:
        count = value if isinstance(value, int) else len(value)
        if count > MAX_RUNS:
            raise ValueError(f"{count:,} seeds is more than a study may have ({MAX_RUNS:,} runs) — fix: use fewer")
        return value

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


@dataclass(frozen=True)
class RunSpec:
    """One run of a study: its resolved config, seed, key and grid coordinates."""

    config: RunConfig
    seed: int
    key: str
    point: dict[str, GridValue]


@dataclass(frozen=True)
class Study:
    """A study with its profile applied and its runs expanded."""

    name: str
    profile: str
    description: str
    grid: dict[str, list[GridValue]]  # field → distinct values (zipped keys split into fields)
    runs: list[RunSpec]
    source: str
    analysis: AnalysisConfig = dataclasses.field(default_factory=AnalysisConfig)
    text: str = ""  # the study file's TOML, kept in the store so reports need no file

    @property
    def refinable(self) -> bool:
        """Whether n* refinement applies: the fixed regime and a grid over ``training.n_train``."""
        return self.runs[0].config.training.regime == "fixed" and N_TRAIN in self.grid


REFINEMENT_KEY = "refinement_round"  # in a stored grid point: added by n* refinement in that round


def point_without(point: dict, keys: tuple[str, ...] | list[str]) -> tuple:
    """A grid point without ``keys``, hashable (its ``(key, value)`` pairs, sorted): a cell is a
    point without the training-set size, a fit's series a point without the fit's x."""
    return tuple(sorted((k, v) for k, v in point.items() if k not in keys))


def cell_point(point: dict) -> tuple:
    """Hashable grid point without the training-set size (and refinement tag)."""
    return point_without(point, (N_TRAIN, REFINEMENT_KEY))


def with_n_train(spec: RunSpec, n_train: int) -> RunSpec:
    """The same run at another training-set size (n* refinement adds these between grid points)."""
    training = spec.config.training.model_copy(update={"n_train": int(n_train)})
    config = spec.config.model_copy(update={"training": training})
    return RunSpec(config, spec.seed, run_key(config, spec.seed), {**spec.point, N_TRAIN: int(n_train)})


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _without_replaced_grid_keys(raw: dict[str, Any], override: Any) -> dict[str, Any]:
    """``raw`` without the grid keys a profile's grid re-varies under another key.

    A profile may vary fields together that the base varies apart (``"task.set_size,
    training.n_train"`` replacing ``"task.set_size"`` and ``"training.n_train"``): the base
    keys naming any of its fields are dropped before the merge.
    """
    grid, new = raw.get("grid"), override.get("grid") if isinstance(override, dict) else None
    if not isinstance(grid, dict) or not isinstance(new, dict):
        return raw
    fields = {part.strip() for key in new for part in key.split(",")}
    # Only a base key all of whose fields the profile varies; a partial overlap stays, and is
    # refused as a field varied by two keys.
    kept = {k: v for k, v in grid.items() if k in new or not {part.strip() for part in k.split(",")} <= fields}
    return {**raw, "grid": kept}


def read_study_text(path: Path) -> str:
    """A study file's text, a missing or unreadable file as a one-line ConfigError."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror}) — fix: give the path of a study .toml file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}) — fix: give a study "
            ".toml file, saved as UTF-8"
        ) from None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text, turning syntax errors into one-line ConfigErrors naming ``source``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err} — fix: correct the syntax at that line") from None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into one-line ConfigErrors."""
    return parse_toml(read_study_text(path), str(path))


def _check_field(dotted: str, key: str) -> None:
    section, _, field = dotted.partition(".")
    if section not in RUN_SECTIONS or "." in field or (not field and dotted.endswith(".")):
        raise ConfigError(
            f'grid."{key}": "{dotted}" is not a field path — fix: use "<section>.<field>" with section one of '
            f'{", ".join(RUN_SECTIONS)}, e.g. "task.set_size", or a bare section ("model") whose values are tables'
        )


def _section_tables(key: str, values: list[Any]) -> list[SectionTable]:
    """Tables of a bare-section grid field, labelled (see :class:`SectionTable`)."""
    if any(not isinstance(v, dict) for v in values):
        raise ConfigError(
            f'grid."{key}": a bare section takes tables — fix: e.g. [{{name = "transformer"}}, {{name = "ffn"}}]'
        )
    names = [str(v.get("label", v.get("name", "?"))) for v in values]
    tables = []
    for value, name in zip(values, names, strict=True):
        table = {k: v for k, v in value.items() if k != "label"}
        label = name
        if "label" not in value and names.count(name) > 1:
            label = " ".join([name, *(f"{k}={v}" for k, v in sorted(table.items()) if k != "name")])
        tables.append(SectionTable(label, table))
    return tables


def grid_axes(grid: dict[str, list]) -> list[tuple[tuple[str, ...], list[tuple]]]:
    """Validate a raw ``[grid]`` into axes: ``(fields, value tuples)``, one axis per key.

    A key naming several comma-separated fields varies them together (zipped), e.g.
    ``"model.layers,model.heads" = [[1, 1], [2, 2], [4, 4]]``; the cartesian product is
    taken over keys.
    """
    axes = []
    for key, values in grid.items():
        fields = tuple(part.strip() for part in key.split(","))
        for dotted in fields:
            _check_field(dotted, key)
        if len(set(fields)) != len(fields):
            raise ConfigError(f'grid."{key}": a field appears twice — fix: name each field once')
        if not values:
            raise ConfigError(f'grid."{key}": empty list — fix: give at least one value or remove the key')
        if len(fields) == 1:
            if any(isinstance(v, list) for v in values):
                raise ConfigError(f'grid."{key}": values must be numbers, strings or booleans — fix: e.g. [1, 2, 3]')
            rows = [(v,) for v in values]
        else:
            if any(not isinstance(v, list) or len(v) != len(fields) for v in values):
                raise ConfigError(
                    f'grid."{key}": each value must be a list of {len(fields)} (one per field) — fix: e.g. '
                    f"[[1, 1], [2, 2]]"
                )
            rows = [tuple(v) for v in values]
        for index, dotted in enumerate(fields):
            if "." not in dotted:
                tables = _section_tables(key, [row[index] for row in rows])
                rows = [(*row[:index], table, *row[index + 1 :]) for row, table in zip(rows, tables, strict=True)]
            elif any(isinstance(row[index], dict) for row in rows):
                raise ConfigError(
                    f'grid."{key}": {dotted} takes numbers, strings or booleans — fix: to vary a whole section, '
                    f'name it bare, e.g. "{dotted.partition(".")[0]}"'
                )
        if len({repr([getattr(v, "label", v) for v in row]) for row in rows}) != len(rows):
            raise ConfigError(f'grid."{key}": repeated values {values} — fix: list each value once')
        axes.append((fields, rows))
    fields = [f for axis_fields, _ in axes for f in axis_fields]
    repeated = sorted({f for f in fields if fields.count(f) > 1})
    if repeated:
        raise ConfigError(f"grid: {repeated[0]} is varied by two keys — fix: vary each field in one key only")
    return axes


def _apply_point(base: dict[str, Any], point: dict[str, GridValue | SectionTable]) -> dict[str, Any]:
    """The base sections with the point applied: a field set, or a whole section replaced."""
    data = copy.deepcopy(base)
    for dotted, value in sorted(point.items(), key=lambda item: "." in item[0]):  # sections first
        section, _, field = dotted.partition(".")
        if isinstance(value, SectionTable):
            data[section] = copy.deepcopy(value.table)
        else:
            data.setdefault(section, {})[field] = value
    return data


def _plain(value: GridValue | SectionTable) -> GridValue:
    return value.label if isinstance(value, SectionTable) else value


def load_study(path: str | Path, profile: str | None = None) -> Study:
    """Read, validate and expand a study file (with ``profile`` merged in, if given)."""
    return load_study_text(read_study_text(Path(path)), str(path), profile)


def load_study_text(text: str, source: str, profile: str | None = None) -> Study:
    """Validate and expand a study from its TOML ``text``; ``source`` names it in errors."""
    raw = parse_toml(text, source)
    profiles = raw.get("profiles", {})
    if profile is not None:
        if not isinstance(profiles, dict) or profile not in profiles:
            names = ", ".join(sorted(profiles)) if isinstance(profiles, dict) and profiles else "none defined"
            raise ConfigError(f"--profile {profile!r}: not in {source} — fix: use one of: {names}")
        raw = _deep_merge(_without_replaced_grid_keys(raw, profiles[profile]), profiles[profile])
    try:
        study = StudyFile.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: {config_error_from_validation(err, model=StudyFile)}") from None
    try:
        load_plugins(study.plugins, Path(source).parent)
        return dataclasses.replace(expand_study(study, profile or "default", source), text=text)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def expand_study(study: StudyFile, profile: str, source: str) -> Study:
    """One RunSpec per (grid point, seed), grid points in cartesian order of the grid keys."""
    axes = grid_axes(study.grid)
    seeds = study.seed_list()
    if not seeds:
        raise ConfigError("seeds: no seeds — fix: set seeds = 3 or a non-empty list")
    if any(not 0 <= seed < 2**32 for seed in seeds):
        raise ConfigError(f"seeds: {seeds} has a seed outside 0…2³²−1 — fix: use seeds in [0, 4294967295]")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds: repeated seeds {seeds} — fix: list each seed once")
    total = math.prod(len(rows) for _, rows in axes) * len(seeds)
    if total > MAX_RUNS:
        raise ConfigError(
            f"grid: {total:,} runs (grid points × {len(seeds)} seeds) is more than a study may have ({MAX_RUNS:,}) — "
            "fix: split it into several studies or use fewer grid values"
        )
    base = {section: getattr(study, section) for section in RUN_SECTIONS}
    fields = [f for axis_fields, _ in axes for f in axis_fields]
    runs: list[RunSpec] = []
    configs: list[RunConfig] = []  # one per grid point; its seeds' runs share it
    for combination in itertools.product(*(rows for _, rows in axes)):
        raw_point = dict(zip(fields, (v for row in combination for v in row), strict=True))
        point = {k: _plain(v) for k, v in raw_point.items()}
        try:
            config = resolve_run_config(_apply_point(base, raw_point))
        except ConfigError as err:
            where = ", ".join(f"{k}={v!r}" for k, v in point.items())
            raise ConfigError(f"{err} (at grid point {where})" if point else str(err)) from None
        configs.append(config)
        runs.extend(RunSpec(config, seed, key, point) for seed, key in zip(seeds, run_keys(config, seeds), strict=True))
    grid = {  # field → its distinct values (labels for whole sections), in grid order
        field: list(dict.fromkeys(_plain(row[i]) for row in rows))
        for axis_fields, rows in axes
        for i, field in enumerate(axis_fields)
    }
    for config in configs:  # a finite dataset: loadable, with test examples left (loaded once, then cached)
        check_dataset_fits(config, config.training.n_train or 0)
    for config in {shape_key(config): config for config in configs}.values():
        check_fits_in_memory(config)
    validation_size = min(r.config.training.validation_size for r in runs)
    check_fits(study.analysis, grid, runs[0].config.training.regime, validation_size)
    check_model_selection(study.analysis, grid, runs[0].config.training.regime, validation_size)
    check_claims(study.analysis.claims, grid, runs[0].config.training.regime, study.analysis.outcomes, validation_size)
    check_thresholds(study.analysis, max(r.config.training.stop_below_relative or 0.0 for r in runs))
    check_sequential(study.analysis, len(seeds), grid, runs[0].config.training.regime)
    return Study(study.name, profile, study.description, grid, runs, source, study.analysis)
