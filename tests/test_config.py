"""Bad study files and arguments are rejected with one line naming the field and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from samplelab.cli import main
from samplelab.core.errors import ConfigError
from samplelab.spec.run_config import (
    RUN_KEY_SCHEMA,
    canonical_json,
    resolve_run_config,
    run_key,
    run_keys,
    shape_key,
    training_identity,
)
from samplelab.spec.study import load_study

BASE = """
name = "bad"
[task]
name = "setfind2"
set_size = 8
[model]
name = "transformer"
d_model = 16
heads = 2
"""

FIT = '[[analysis.fits]]\nx = "task.set_size"\ny = "km_median"\n'

REJECTED = [
    (
        BASE + '[grid]\n"task.set_size" = [2, 4]\n[[analysis.fits]]\nx = "task.set_size"\ny = "final_metric"\n'
        "threshold_relative = 0.1\n",
        "analysis.fits[0].threshold_relative",
        "reads no threshold",
    ),
    (BASE + "[training]\nstepz = 10\n", "training.stepz", "unknown key"),
    (BASE + "[training]\nsteps = 'many'\n", "training.steps", "whole number"),
    (BASE.replace("set_size = 8", "set_size = -3"), "task.set_size", "greater than or equal"),
    (BASE.replace("heads = 2", "heads = 3"), "model", "does not divide"),
    (BASE + "[training]\nregime = 'fixed'\n", "training", "needs n_train"),
    (BASE + "[training]\nregime = 'batch'\n", "training.regime", "'online' or 'fixed'"),
    (BASE + "[training]\nsteps = 105\neval_every = 10\n", "training", "multiple of eval_every"),
    (BASE.replace('name = "setfind2"', 'name = "setfnd2"'), "task.name", "unknown task"),
    (BASE.replace('name = "transformer"', 'name = "mamba"'), "model.name", "unknown model"),
    (BASE + '[grid]\n"modle.heads" = [1, 2]\n', 'grid."modle.heads"', "not a field path"),
    (BASE + '[grid]\n"model.heads" = []\n', 'grid."model.heads"', "empty list"),
    (BASE + '[grid]\n"model.heads" = [1, 3]\n', "model", "at grid point model.heads=3"),
    (BASE + '[grid]\n"model.layerz" = [1, 2]\n', "model.layerz", "unknown key"),
    ("seeds = 0\n" + BASE, "seeds", "no seeds"),
    ("seeds = [1, 1]\n" + BASE, "seeds", "repeated seeds"),
    ("seeds = [-1]\n" + BASE, "seeds", "outside"),
    (BASE + "[surprise]\nx = 1\n", "surprise", "unknown key"),
    (BASE.replace('name = "bad"', 'name = "has space"'), "name", "pattern"),
    ("name = 'x'\n[task\n", "invalid TOML", "fix"),
    (BASE + '[grid]\n"model.layers,model.heads" = [[1, 1], [2]]\n', 'grid."model.layers,model.heads"', "list of 2"),
    (BASE + '[grid]\n"model.layers,model.heads" = [[1, 1], [1, 1]]\n', "model.layers,model.heads", "repeated"),
    (BASE + '[grid]\n"model.heads" = [1]\n"model.layers,model.heads" = [[1, 1]]\n', "model.heads", "two keys"),
    (BASE + '[grid]\n"model.heads" = [[1, 2]]\n', 'grid."model.heads"', "values must be"),
    (BASE + '[grid]\n"task.set_size" = [4, 8]\n' + FIT + 'law = "exponential"\n', "analysis.fits.0.law", "power"),
    (
        BASE + '[grid]\n"task.set_size" = [4, 8]\n' + FIT + "bounds = [2, 1]\n",
        "analysis.fits.0.bounds",
        "not increasing",
    ),
    (
        BASE + '[grid]\n"task.set_size" = [4, 8]\n' + FIT + 'theory = { exponent = "2*b" }\n',
        "analysis.fits.0.theory",
        "variables",
    ),
    (
        BASE + '[grid]\n"task.set_size" = [4, 8]\n' + FIT + 'theory = { exponent = "1" }\n',
        "analysis.fits.0.theory",
        "add margin",
    ),
    (
        BASE + '[grid]\n"task.set_size" = [4, 8]\n' + FIT + 'theory = { exponent = "import os" }\n',
        "analysis.fits.0.theory",
        "arithmetic",
    ),
    (
        BASE + '[grid]\n"task.set_size" = [4, 8]\n' + FIT.replace("task.set_size", "model.heads"),
        "analysis.fits[0].x",
        "not a grid key",
    ),
    (
        BASE + '[grid]\n"task.set_size" = [4, 8]\n' + FIT.replace("km_median", "n_star"),
        "analysis.fits[0].y",
        "fixed regime",
    ),
    (BASE + "[analysis]\ndelta = 1.5\n", "analysis.delta", "less than 1"),
    (
        BASE + '[grid]\n"optimizer.name" = ["adam", "sgd"]\n' + FIT.replace("task.set_size", "optimizer.name"),
        "analysis.fits[0].x",
        "positive numbers",
    ),
    (BASE + "[analysis]\nquantiles = [0.5, 2]\n", "analysis.quantiles", "(0, 1)"),
]


@pytest.mark.parametrize(("text", "field", "problem"), REJECTED)
def test_invalid_study_is_one_clear_line(write_study, text, field, problem):
    path = write_study(text)
    with pytest.raises(ConfigError) as caught:
        load_study(path)
    message = str(caught.value)
    assert "\n" not in message
    assert field in message and problem in message
    assert "fix" in message


def test_unknown_profile(tiny_study):
    with pytest.raises(ConfigError, match=r"--profile 'huge'.*quick"):
        load_study(tiny_study, "huge")


def test_cli_exits_2_with_one_line_and_no_traceback(write_study, capsys):
    path = write_study(BASE.replace("heads = 2", "heads = 5"))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert "heads=5 does not divide d_model=16" in err and "fix:" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "missing.toml"],
        ["run", "x.toml", "--max-ensemble", "0"],
        ["frobnicate"],
        ["results", "x.toml", "--format", "xml"],
    ],
)
def test_bad_cli_arguments_exit_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.toml").write_text(BASE)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "fix" in err


def test_console_script_exit_code(write_study):
    path = write_study("name = 'broken'\n")
    done = subprocess.run([sys.executable, "-m", "samplelab.cli", "run", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "task" in done.stderr and "Traceback" not in done.stderr


def test_run_key_ignores_measurement_but_not_training():
    base = {"task": {"name": "setfind2"}, "model": {"name": "transformer"}}
    a = resolve_run_config(base)
    b = resolve_run_config({**base, "measurement": {"threshold_relative": 0.1}})
    c = resolve_run_config({**base, "training": {"steps": 2000}})
    assert run_key(a, 0) == run_key(b, 0) != run_key(c, 0)
    assert run_key(a, 0) != run_key(a, 1)
    lr = resolve_run_config({**base, "optimizer": {"lr": 0.01}})
    assert shape_key(a) == shape_key(lr) and run_key(a, 0) != run_key(lr, 0)
    assert shape_key(a) != shape_key(c)


def test_run_keys_hash_the_canonical_payload_of_each_seed():
    """run_keys serialises a config once per grid point: its bytes must stay those of the
    canonical payload, or every stored run would train again."""
    import hashlib

    config = resolve_run_config({"task": {"name": "qstr", "seq_len": 4}, "model": {"name": "rnn"}})
    seeds = [0, 1, 7, 2**32 - 1]
    expected = [
        hashlib.sha256(
            canonical_json({"config": training_identity(config), "seed": s, "schema": RUN_KEY_SCHEMA}).encode()
        ).hexdigest()[:16]
        for s in seeds
    ]
    assert run_keys(config, seeds) == expected == [run_key(config, s) for s in seeds]


def test_zipped_grid_keys_vary_fields_together(write_study):
    study = load_study(
        write_study(BASE + '[grid]\n"model.layers,model.heads" = [[1, 1], [2, 4]]\n"task.set_size" = [4, 8]\n')
    )
    points = [spec.point for spec in study.runs[::3]]  # 3 seeds per point
    assert points == [
        {"model.layers": 1, "model.heads": 1, "task.set_size": 4},
        {"model.layers": 1, "model.heads": 1, "task.set_size": 8},
        {"model.layers": 2, "model.heads": 4, "task.set_size": 4},
        {"model.layers": 2, "model.heads": 4, "task.set_size": 8},
    ]
    assert study.runs[6].config.model.heads == 4 and study.runs[6].config.model.layers == 2
    assert study.grid == {"model.layers": [1, 2], "model.heads": [1, 4], "task.set_size": [4, 8]}


def test_fields_added_later_keep_old_run_keys_only_at_values_that_reproduce_old_numbers():
    """qSTR's independent position rows and the per-layer allocation are the behaviour before
    their fields existed: the fields stay out of the run key there (stored runs resume); the
    new defaults enter it (their numbers differ, so they train anew)."""
    qstr = {"name": "qstr", "seq_len": 4}
    old = resolve_run_config({"task": {**qstr, "distinct_positions": False}, "model": {"name": "rnn"}})
    new = resolve_run_config({"task": qstr, "model": {"name": "rnn"}})
    assert "distinct_positions" not in training_identity(old)["task"]
    assert training_identity(new)["task"]["distinct_positions"] is True and run_key(old, 0) != run_key(new, 0)
    task = {"name": "images", "dataset": "digits"}
    layer, network, dense = (
        resolve_run_config(
            {"task": task, "model": {"name": "mlp", **model}, "training": {"regime": "fixed", "n_train": 60}}
        )
        for model in ({"init": "zero", "allocation_scope": "layer"}, {"init": "zero"}, {})
    )
    assert "allocation_scope" not in training_identity(layer)["model"]
    assert "allocation_scope" not in training_identity(dense)["model"]
    assert training_identity(network)["model"]["allocation_scope"] == "network"


def test_a_profile_may_zip_fields_the_base_varies_apart(write_study):
    """A profile's zipped key replaces the base keys naming its fields (data sizes per N)."""
    text = BASE + (
        '[training]\nregime = "fixed"\nn_train = 8\n[grid]\n"task.set_size" = [2, 4]\n"training.n_train" = [8, 16]\n'
        '"model.heads" = [1, 2]\n[profiles.quick.grid]\n"task.set_size,training.n_train" = [[2, 4], [4, 8], [4, 16]]\n'
    )
    path = write_study(text)
    assert len(load_study(path).runs) == 8 * 3  # 3 seeds by default
    quick = load_study(path, "quick")
    pairs = {(r.point["task.set_size"], r.point["training.n_train"], r.point["model.heads"]) for r in quick.runs}
    assert pairs == {(n, size, h) for n, size in [(2, 4), (4, 8), (4, 16)] for h in (1, 2)}
    partial = write_study(BASE + '[grid]\n"task.set_size,model.heads" = [[2, 1], [4, 2]]\n[profiles.p.grid]\n'
                          '"task.set_size" = [8]\n', "partial.toml")  # fmt: skip
    with pytest.raises(ConfigError, match=r"task\.set_size is varied by two keys"):
        load_study(partial, "p")  # re-varying one field of a zipped key would silently freeze the other
