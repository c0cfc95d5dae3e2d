"""The README's Python examples run, and every shipped study file validates and trains at a tiny size."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from samplelab.spec.study import load_study, read_toml
from samplelab.training.trainer import train_ensemble

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "studies" / "reproduce.toml"  # what `samplelab reproduce` runs, not a study
STUDIES = sorted(path for path in (ROOT / "studies").glob("*.toml") if path != PLAN)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    """Each ```python block of the README, run from a folder holding the repository's
    examples/ and studies/ (what it writes, e.g. runs/, stays there)."""
    from samplelab.spec.plugins import forget_plugins

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks
    for folder in ("examples", "studies"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})
    finally:
        forget_plugins()


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_shipped_studies_validate_in_every_profile(path):
    profiles = [None, *read_toml(path).get("profiles", {})]
    for profile in profiles:
        study = load_study(path, profile)
        assert study.runs and len({r.key for r in study.runs}) == len(study.runs)


def test_reproduce_plan_covers_every_study_and_make_run_trains_its_quick_plan_cheapest_first_on_a_budget():
    from samplelab.spec.plan import load_plan

    every = {path.stem for path in STUDIES}
    for profile in ("quick-all", "full"):
        assert {entry.study.name for entry in load_plan(PLAN, profile)} == every, profile
    minutes = [entry.minutes for entry in load_plan(PLAN, "quick")]
    assert all(minutes) and minutes == sorted(minutes)  # as much judged as the budget allows
    budget = re.search(r"^MINUTES \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert budget and float(budget.group(1)) <= 20 - 3  # install (1.9 min measured), the report, the last ensemble


def test_setsize_quick_profile_shape():
    study = load_study(ROOT / "studies" / "setfind2_setsize.toml", "quick")
    assert sorted({r.config.task.set_size for r in study.runs}) == [8, 16, 32, 64]
    assert len({r.seed for r in study.runs}) >= 3
    sizes = sorted({r.config.training.n_train for r in study.runs})
    assert all(a * 2 == b for a, b in itertools.pairwise(sizes))
    for n in (8, 16, 32, 64):  # each N's sizes bracket 4N and 8N: 2N … 32N
        assert sorted({r.config.training.n_train for r in study.runs if r.config.task.set_size == n}) == [
            k * n for k in (2, 4, 8, 16, 32)
        ]


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_quick_profile_trains_at_a_tiny_size(path):
    """One run of each (task, model) pair of the quick profile, shrunk to 4 steps on 8
    examples, trains to finite numbers (one compile per pair keeps the suite short)."""
    study = load_study(path, "quick")
    firsts = {}
    for spec in study.runs:
        firsts.setdefault((spec.config.task.name, spec.config.model.name), spec)
    for spec in firsts.values():
        training = spec.config.training.model_copy(
            update={"steps": 4, "eval_every": 2, "test_size": 8, "batch_size": 4, "stop_below_relative": None}
        )
        config = spec.config.model_copy(update={"training": training})
        result = train_ensemble(config, seeds=[spec.seed], n_trains=np.array([8]))
        assert np.isfinite(result.test_metric).all() and result.test_metric.shape == (1, 3)
        if spec.config.training.validation_size:
            assert np.isfinite(result.validation_loss).all() and result.validation_loss.shape == (1, 3)
