"""``samplelab sample``: a task's examples on their own, for use outside samplelab."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path

import typer

from samplelab.cli.common import app, console
from samplelab.core.errors import ConfigError


class Split(StrEnum):
    pool = "pool"
    test = "test"


def _field(text: str) -> tuple[str, object]:
    """``key=value``: the value read as TOML (``8``, ``true``, ``[1, 2]``, ``"x"``), else as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: not key=value — fix: e.g. --set set_size=8")
    try:
        return key.strip(), tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), value


@app.command("sample")
def sample(
    task: str = typer.Argument(..., help="a registered task (`samplelab tasks`; a plugin's: --plugin)"),
    sets: list[str] = typer.Option([], "--set", help="a task field as key=value (a TOML value); repeat for more"),
    n: int = typer.Option(16, "--n", min=1, max=1_000_000, help="how many examples"),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="the run seed whose examples to draw"),
    split: Split = typer.Option(Split.pool, "--split", help="pool: the training examples of that seed's runs; test"),
    out: Path = typer.Option(..., "--out", help="the .npz file to write"),
    plugins: list[str] = typer.Option([], "--plugin", help="a plugin registering the task: a .py path or a module"),
) -> None:
    """Write a task's examples (inputs, targets, the run state) to a .npz, as a run of --seed draws them."""
    import numpy as np

    from samplelab.spec.plugins import load_plugins
    from samplelab.tasks import TASKS
    from samplelab.training.examples import task_examples

    if out.suffix != ".npz" or out.is_dir():
        raise ConfigError(f"--out {out}: not a .npz file path — fix: e.g. --out examples.npz")
    load_plugins(plugins, Path.cwd())
    config = TASKS.validate({"name": task, **dict(_field(text) for text in sets)})
    try:
        arrays = task_examples(config, seed, n, split.value)
    except ValueError as err:
        raise ConfigError(f"--split {split.value}: {err}") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    shapes = ", ".join(f"{name} {list(value.shape)}" for name, value in arrays.items())
    console.print(f"{out}: {n} {split.value} examples of {task} (seed {seed}): {shapes}", markup=False)
