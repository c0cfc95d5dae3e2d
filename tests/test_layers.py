"""The package's layering is a checked contract: import-linter's contracts in pyproject.toml
hold, every module fits in 400 lines, and the top level holds only the public face and the layers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "samplelab"
LAYERS = {"core", "stats", "ledger", "tasks", "models", "spec", "training", "analysis", "sweep", "report", "cli"}


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
