"""bench/compile_profile.py counts the XLA compiles of each test of a pytest run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_the_profile_counts_each_tests_compiles(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from compile_profile import summary

    (tmp_path / "test_two.py").write_text(
        textwrap.dedent(
            """
            import jax, jax.numpy as jnp

            def test_compiles_twice():
                jax.jit(lambda x: x + 1)(jnp.ones(3)).block_until_ready()
                jax.jit(lambda x: x * 2)(jnp.ones(4)).block_until_ready()

            def test_compiles_nothing():
                assert 1 + 1 == 2
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(BENCH), "COMPILE_PROFILE_DIR": str(tmp_path / "profile")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "compile_profile", "-p", "no:cacheprovider", "test_two.py"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    text = summary(tmp_path / "profile")
    assert text.startswith("2 tests: ")
    (row,) = [line for line in text.splitlines() if line.endswith("test_two.py::test_compiles_twice")]
    assert int(row.split()[2]) >= 2  # the two jits (and any helper programs JAX compiles)
    (row,) = [line for line in text.splitlines() if line.endswith("test_two.py::test_compiles_nothing")]
    assert int(row.split()[2]) == 0
