"""``samplelab sample``: a task's examples on their own — the trainer's streams for a seed,
any registered task (a plugin's too), bad fields refused in one line."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from samplelab.cli import main
from samplelab.spec.plugins import forget_plugins
from samplelab.spec.run_config import resolve_run_config
from samplelab.tasks import build_task
from samplelab.training.trainer import _POOL, _TASK

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_task_and_model"


def test_sample_writes_a_seeds_pool_examples_with_its_run_state(tmp_path, capsys):
    out = tmp_path / "s.npz"
    argv = ["sample", "setfind2", "--set", "set_size=4", "--set", "distract=2", "--n", "6", "--seed", "3"]
    assert main([*argv, "--out", str(out)]) == 0
    assert (
        "6 pool examples of setfind2 (seed 3): inputs [6, 5, 34], targets [6, 34], run_state []"
        in capsys.readouterr().out
    )
    data = np.load(out)
    config = resolve_run_config(
        {"task": {"name": "setfind2", "set_size": 4, "distract": 2}, "model": {"name": "transformer"}}
    ).task
    task, seed_key = build_task(config), jax.random.key(3)
    state = task.init_run_state(jax.random.fold_in(seed_key, _TASK))
    inputs, targets = task.sample(jax.random.fold_in(jax.random.fold_in(seed_key, _POOL), 5), state)
    np.testing.assert_array_equal(data["inputs"][5], inputs)  # the trainer's 6th training example of seed 3
    np.testing.assert_array_equal(data["targets"][5], targets)
    assert int(data["run_state"]) == int(state)
    assert main([*argv, "--out", str(tmp_path / "again.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again.npz")["inputs"], data["inputs"])
    assert main([*argv, "--split", "test", "--out", str(tmp_path / "test.npz")]) == 0
    assert not np.array_equal(np.load(tmp_path / "test.npz")["inputs"], data["inputs"])  # another stream


def test_sample_reads_a_plugins_task_and_refuses_bad_fields_in_one_line(tmp_path, capsys):
    out = tmp_path / "p.npz"
    try:
        plugin = str(EXAMPLE / "sparse_parity.py")
        assert (
            main(["sample", "sparse_parity", "--plugin", plugin, "--set", "seq_len=6", "--n", "50", "--out", str(out)])
            == 0
        )
        data = np.load(out)
        assert data["inputs"].shape == (50, 6, 1)
        np.testing.assert_array_equal(data["targets"], data["inputs"][:, 0, 0] * data["inputs"][:, 1, 0])
    finally:
        forget_plugins()
    capsys.readouterr()
    for argv, message in [
        (["setfind2", "--set", "sett_size=4"], "error: task.sett_size: unknown key — fix: remove it"),
        (["setfind2", "--set", "set_size"], "error: --set 'set_size': not key=value"),
        (["nope"], "error: task.name: unknown task 'nope'"),
        (["setfind2", "--out-dir"], "error: "),
    ]:
        code = main(["sample", *argv, "--out", str(tmp_path / "x.npz")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and err.startswith(message), err
