"""A researcher's own task and model as plugins (examples/own_task_and_model): trained,
analysed and reported end to end; a changed plugin trains anew (new run keys) while an
unchanged one resumes; worker processes load the same plugins; a broken plugin is refused
in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from samplelab.cli import main
from samplelab.spec.plugins import forget_plugins
from samplelab.spec.study import load_study

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_task_and_model"


@pytest.fixture
def example(tmp_path) -> Path:
    """A copy of the example, so that a test may edit its plugins (each test's copy registers
    the same names: forgotten after it)."""
    shutil.copytree(EXAMPLE, tmp_path / "example")
    yield tmp_path / "example" / "study.toml"
    forget_plugins()


def _to_train(study: Path, store: Path, capsys) -> str:
    assert main(["run", str(study), "--store", str(store), "--dry-run"]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_the_example_trains_its_own_task_and_model_end_to_end_and_resumes(example, tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(["run", str(example), "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(example), "--store", str(store), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [cell["point"]["task.seq_len"] for cell in document["cells"]] == [4, 8, 16]
    assert all(cell["converged"] == 3 for cell in document["cells"])  # the parity is learnt within 1,024 examples
    assert document["fits"][0]["parameters"]["gamma"]["value"] > 0  # and needs more data at larger N
    assert main(["report", str(example), "--store", str(store), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.html").is_file()
    capsys.readouterr()
    assert _to_train(example, store, capsys).endswith("36 already stored, 0 to train in 0 ensembles")
    plugin = example.parent / "tiny_mlp.py"
    plugin.write_text(plugin.read_text() + "\n# edited: the model's code may have changed\n")
    assert _to_train(example, store, capsys).endswith("0 already stored, 36 to train in 3 ensembles")


def test_the_registry_listings_show_a_studys_plugins(example, capsys):
    assert main(["tasks", "--study", str(example)]) == 0
    assert f"sparse_parity  the parity of the first q of seq_len ±1 tokens (an example plugin)  (plugin {example.parent / 'sparse_parity.py'})" in capsys.readouterr().out  # fmt: skip
    assert main(["models", "--study", str(example)]) == 0
    assert "tiny_mlp  one hidden tanh layer" in capsys.readouterr().out


def test_worker_processes_load_the_same_plugins(example, tmp_path, capsys):
    text = (
        example.read_text()
        .replace("seeds = 3", "seeds = 2")
        .replace('"task.seq_len" = [4, 8, 16]', '"task.seq_len" = [4]')
    )
    example.write_text(text.replace('"training.n_train" = [16, 64, 256, 1024]', '"training.n_train" = [16, 64]'))
    store = tmp_path / "s.sqlite"
    assert main(["run", str(example), "--store", str(store), "--workers", "2", "--max-ensemble", "2"]) == 0
    capsys.readouterr()
    assert _to_train(example, store, capsys).endswith("4 already stored, 0 to train in 0 ensembles")


@pytest.mark.parametrize(
    "plugin, source, message",
    [
        ("missing.py", None, "plugins: {path}: cannot read (No such file or directory)"),
        ("broken.py", 'raise RuntimeError("the config is wrong\\nsee line 3")', "failed to load: RuntimeError: see line 3"),
        ("clash.py", "from samplelab.models import MODELS\nMODELS.register('transformer', object, 'x')(object)",
         "{path}: registers model 'transformer', which samplelab already registers — fix: give it another name"),
        ("no_such_module_here", None, "plugins: no module named 'no_such_module_here'"),
    ],
)  # fmt: skip
def test_a_broken_plugin_is_refused_in_one_line(example, tmp_path, capsys, plugin, source, message):
    if source is not None:
        (example.parent / plugin).write_text(source + "\n")
    example.write_text(
        example.read_text().replace('plugins = ["sparse_parity.py", "tiny_mlp.py"]', f'plugins = ["{plugin}"]')
    )
    assert main(["run", str(example), "--store", str(tmp_path / "s.sqlite"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {example}: ")
    assert message.format(path=example.parent / plugin) in err, err


def test_a_plugins_runs_have_its_source_in_their_key_and_built_in_runs_do_not(example):
    from samplelab.spec.run_config import code_digests

    study = load_study(example)
    (digests,) = {tuple(sorted(code_digests(spec.config).items())) for spec in study.runs}
    assert [kind for kind, _ in digests] == ["model", "task"] and all(len(d) == 64 for _, d in digests)
    builtin = load_study(Path(__file__).resolve().parents[1] / "studies" / "qstr_simple.toml", "quick")
    assert all(code_digests(spec.config) == {} for spec in builtin.runs)


def test_an_installed_package_registers_through_the_entry_point_group(tmp_path, monkeypatch, capsys):
    """A package installed with ``[project.entry-points."samplelab.plugins"]`` (here: its
    dist-info on sys.path) is loaded with every study and listing."""
    site = tmp_path / "site"
    (site / "fake_models_pkg").mkdir(parents=True)
    (site / "fake_models_pkg" / "__init__.py").write_text(
        (EXAMPLE / "tiny_mlp.py").read_text().replace('"tiny_mlp"', '"installed_mlp"')
    )
    info = site / "fake_models_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-models-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[samplelab.plugins]\nmodels = fake_models_pkg\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        assert main(["models"]) == 0
        assert "installed_mlp  one hidden tanh layer on the flattened sequence (an example plugin)  (plugin fake_models_pkg)" in capsys.readouterr().out  # fmt: skip
    finally:
        forget_plugins()


def test_a_stores_runs_load_as_a_dataframe_and_its_analysis_from_python(example, tmp_path):
    import numpy as np

    import samplelab

    store = tmp_path / "s.sqlite"
    assert main(["run", str(example), "--store", str(store)]) == 0
    runs = samplelab.load_runs(store)
    assert len(runs) == 36 and set(runs["study"]) == {"sparse_parity_scaling"} and set(runs["profile"]) == {"default"}
    assert {"task.seq_len", "training.n_train", "model.width", "optimizer.lr", "samples_to_threshold"} <= set(runs)
    first = runs.iloc[0]
    assert isinstance(first["test_metric"], np.ndarray) and first["test_metric"].shape == first["eval_steps"].shape
    assert first["validation_loss"] is None  # no validation split in this study
    medians = runs[runs["status"] == "done"].groupby("task.seq_len")["final_metric"].median()
    assert list(medians.index) == [4, 8, 16]
    document = samplelab.load_analysis(store, "sparse_parity_scaling", bootstrap=100)
    assert [cell["point"]["task.seq_len"] for cell in document["cells"]] == [4, 8, 16]
    with pytest.raises(samplelab.ConfigError, match=r"^nope \[any profile\]: not in store .* sparse_parity_scaling"):
        samplelab.load_runs(store, study="nope")


def test_a_plugin_repaired_after_a_failed_load_registers_again(example, tmp_path, capsys):
    plugin = example.parent / "tiny_mlp.py"
    good = plugin.read_text()
    assert main(["run", str(example), "--store", str(tmp_path / "s.sqlite"), "--dry-run"]) == 0
    plugin.write_text(good + "\nraise RuntimeError('half-edited')\n")
    assert main(["run", str(example), "--store", str(tmp_path / "s.sqlite"), "--dry-run"]) == 2
    assert "failed to load: RuntimeError: half-edited" in capsys.readouterr().err
    plugin.write_text(good)
    assert main(["run", str(example), "--store", str(tmp_path / "s.sqlite"), "--dry-run"]) == 0
    assert "36 to train" in capsys.readouterr().out


def test_a_package_plugin_and_an_outside_module_carry_their_source_digest(tmp_path, monkeypatch):
    """A package whose __init__ imports its models module registers inside the plugin (origin
    and digest its own); a module that registers without being a plugin still gets a digest."""
    from samplelab.models import MODELS
    from samplelab.spec.plugins import load_plugin

    site = tmp_path / "site"
    (site / "pkg_with_models").mkdir(parents=True)
    (site / "pkg_with_models" / "__init__.py").write_text("from . import models\n")
    source = (EXAMPLE / "tiny_mlp.py").read_text()
    (site / "pkg_with_models" / "models.py").write_text(source.replace('"tiny_mlp"', '"pkg_mlp"'))
    (site / "outside_models.py").write_text(source.replace('"tiny_mlp"', '"outside_mlp"'))
    monkeypatch.syspath_prepend(str(site))
    try:
        load_plugin("pkg_with_models.models")
        entry = MODELS.get("pkg_mlp")
        assert entry.origin == "pkg_with_models.models" and len(entry.code_digest) == 64
        import outside_models  # noqa: F401  (registers as it is imported, no plugin involved)

        outside = MODELS.get("outside_mlp")
        assert outside.origin == "outside_models" and len(outside.code_digest) == 64
    finally:
        forget_plugins()
        MODELS.forget("outside_models")
