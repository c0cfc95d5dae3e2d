"""The README's Python examples run, and every shipped study file validates."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from samplelab.study import load_study, read_toml

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "studies").glob("*.toml"))


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_shipped_studies_validate_in_every_profile(path):
    profiles = [None, *read_toml(path).get("profiles", {})]
    for profile in profiles:
        study = load_study(path, profile)
        assert study.runs and len({r.key for r in study.runs}) == len(study.runs)


def test_setsize_quick_profile_shape():
    study = load_study(ROOT / "studies" / "setfind2_setsize.toml", "quick")
    assert sorted({r.config.task.set_size for r in study.runs}) == [8, 16, 32, 64]
    assert len({r.seed for r in study.runs}) >= 3
    sizes = sorted({r.config.training.n_train for r in study.runs})
    assert all(a * 2 == b for a, b in itertools.pairwise(sizes))
