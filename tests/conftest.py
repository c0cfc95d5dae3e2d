"""Shared fixtures: tiny study files, an isolated JAX compilation cache, and synthetic run records."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

TINY_STUDY = """
name = "tiny"
description = "a tiny setfind2 study for tests"
seeds = 2

[task]
name = "setfind2"
set_size = 4

[model]
name = "transformer"
d_model = 8
heads = 2
mlp_width = 16

[optimizer]
lr = 0.003

[training]
regime = "fixed"
n_train = 8
steps = 20
batch_size = 8
eval_every = 10
test_size = 16

[grid]
"task.set_size" = [4, 6]
"training.n_train" = [8, 16]

[profiles.quick.training]
steps = 10
"""


def synthetic_record(spec, eval_steps, test_metric, *, samples_per_step: int, baseline: float = 375.0):
    """A finished setfind2 run of a study's ``spec`` whose learning curve is ``test_metric`` at
    ``eval_steps``: written straight into a store, nothing trained."""
    import numpy as np

    from samplelab.ledger.store import RunRecord
    from samplelab.spec.run_config import canonical_json

    return RunRecord(
        run_key=spec.key,
        status="done",
        task="setfind2",
        model="transformer",
        seed=spec.seed,
        n_train=spec.config.training.n_train or 0,
        lr=spec.config.optimizer.lr,
        baseline=baseline,
        samples_per_step=samples_per_step,
        eval_steps=np.asarray(eval_steps, dtype=np.float64),
        test_metric=np.asarray(test_metric),
        train_loss=np.array([300.0, 50.0]),
        config_json=canonical_json(spec.config.model_dump(mode="json")),
        point=spec.point,
    )


@pytest.fixture(scope="session", autouse=True)
def _jax_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A compilation cache of this test session's own: shared by its xdist workers (a program
    one compiles, the other reads), empty at the start of every session."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    cache = root / "jax-cache"
    cache.mkdir(exist_ok=True)
    os.environ["SAMPLELAB_JAX_CACHE"] = str(cache)


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """Free every test module's compiled programs: each holds many memory mappings, and one
    process may hold only vm.max_map_count (65,530) of them."""
    yield
    from samplelab.training.trainer import release_compiled_programs

    release_compiled_programs()


@pytest.fixture
def tiny_study(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(textwrap.dedent(TINY_STUDY))
    return path


@pytest.fixture
def write_study(tmp_path: Path):
    """Write study text (dedented) to a file and return its path."""

    def write(text: str, name: str = "study.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def train_study(write_study, tmp_path: Path):
    """Write study text, train all of it into a fresh store ``tmp_path/s.sqlite``; returns
    ``(study path, store path, StudyRuns)``."""

    def train(text: str, name: str = "study.toml"):
        from samplelab.analysis.runs import load_study_runs
        from samplelab.ledger.store import ResultStore
        from samplelab.spec.study import load_study
        from samplelab.sweep.runner import run_study

        path = write_study(text, name)
        study = load_study(path)
        store_path = tmp_path / "s.sqlite"
        with ResultStore(store_path) as store:
            run_study(study, store)
            runs = load_study_runs(study, store)
        return path, store_path, runs

    return train
