"""The package's layering is a checked contract: import-linter's contracts in pyproject.toml
hold, every module fits in 400 lines, and the top level holds only the public face and the layers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "samplelab"
LAYERS = {
    "core",
    "stats",
    "ledger",
    "tasks",
    "models",
    "spec",
    "training",
    "analysis",
    "sweep",
    "report",
    "tracker",
    "cli",
}


def test_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_layer_imports_the_public_face():
    """The public face loads its names lazily, out of import-linter's sight: a layer that
    imported it could reach any other layer, so none may."""
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("samplelab")
    assert graph.find_modules_that_directly_import("samplelab") == set()


def test_every_module_fits_in_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, f"modules over 400 lines: {long}"


def test_top_level_holds_only_the_public_face_and_the_layers():
    entries = {p.name for p in PACKAGE.iterdir() if not p.name.startswith((".", "__pycache__"))}
    assert entries == LAYERS | {"__init__.py", "py.typed"}


def test_public_face_loads_lazily_without_jax():
    code = (
        "import sys, samplelab; assert 'jax' not in sys.modules; "
        "missing = [n for n in samplelab.__all__ if getattr(samplelab, n, None) is None]; "
        "assert not missing, missing; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_optional_hooks_are_declared_in_one_place_and_found_through_it():
    from samplelab.models import MODELS
    from samplelab.models.base import (
        MODEL_HOOKS,
        AttentionMap,
        AttentionWeights,
        Embeddings,
        StatefulTraining,
        has_hook,
    )
    from samplelab.tasks import TASKS, build_task
    from samplelab.tasks.base import FiniteDataset, InputBlocks, PooledEmbedding, TaskConfig

    hooks = {name: {hook.__name__ for hook in MODEL_HOOKS if has_hook(name, hook)} for name in MODELS.names()}
    assert hooks["transformer"] == {AttentionWeights.__name__, Embeddings.__name__}
    assert hooks["attention_mlp"] == {AttentionWeights.__name__, AttentionMap.__name__}
    assert hooks["mlp"] == {StatefulTraining.__name__}
    assert hooks["ffn"] == hooks["rnn"] == set()
    # Task flags are class variables declared on TaskConfig (off unless a task turns them on).
    flags = {name: TASKS.get(name).config_class for name in TASKS.names()}
    assert {n for n, c in flags.items() if c.finite_dataset} == {"images", "text"}
    assert {n for n, c in flags.items() if c.causal_model_required} == {"text"}
    assert {n for n, c in flags.items() if c.metric_is_error} == {"images"}
    assert not TaskConfig.finite_dataset and "finite_dataset" not in TaskConfig.model_fields
    qstr = build_task(TASKS.validate({"name": "qstr", "seq_len": 4}))
    assert isinstance(qstr, InputBlocks) and not isinstance(qstr, FiniteDataset | PooledEmbedding)
    manifold = build_task(TASKS.validate({"name": "manifold"}))
    assert isinstance(manifold, PooledEmbedding)
    for name in ("images", "text", "setfind", "setfind2", "manifold"):  # the flag and the protocol agree
        task = build_task(TASKS.validate({"name": name}))
        assert isinstance(task, FiniteDataset) == TASKS.get(name).config_class.finite_dataset, name
    # Nothing probes for a hook or a flag by its name (hasattr / getattr with the name as a string).
    names = ("attention_weights", "embeddings", "train_batch", "init_train_state", "attention_map", "input_blocks",
             "pool_embedding", "finite_dataset", "causal_model_required", "metric_is_error", "size", "test_limit")  # fmt: skip
    probe = re.compile(r"\b(?:has|get)attr\([^,]+,\s*[\"'](" + "|".join(names) + r")[\"']")
    probes = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if probe.search(line)
    ]
    assert not probes, probes
