"""`samplelab analyze` and `samplelab refine` on stored runs.

Grid runs are written as synthetic records with chosen final metrics, so the success
pattern — and hence n* and what refinement must add — is known exactly; refinement then
trains real runs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import synthetic_record
from samplelab.analysis.runs import load_study_runs
from samplelab.cli import main
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import REFINEMENT_KEY, load_study
from samplelab.sweep.refine import plan_round

ANALYSIS = """
[analysis]
bootstrap = 200

[[analysis.fits]]
x = "task.set_size"
y = "n_star"
law = "power"
theory = { exponent = "1", margin = 0.3, label = "linear in N" }
"""


def _synthetic_record(spec, final_metric: float):
    return synthetic_record(spec, [0.0, 10, 20], np.array([375.0, 100.0, final_metric]), samples_per_step=8)


@pytest.fixture
def stored(tiny_study, tmp_path):
    """Tiny study (N ∈ {4, 6}, n ∈ {8, 16}, 2 seeds): every run at n=16 succeeds, at n=8 fails."""
    tiny_study.write_text(tiny_study.read_text() + ANALYSIS)
    study = load_study(tiny_study)
    path = tmp_path / "runs.sqlite"
    with ResultStore(path) as store:
        store.register_study(study.name, study.profile, [(s.key, s.point) for s in study.runs])
        store.write_runs(_synthetic_record(s, 1.0 if s.config.training.n_train == 16 else 200.0) for s in study.runs)
    return tiny_study, path


def test_analyze_json_reports_cells_and_fits(stored, capsys):
    study_file, store = stored
    assert main(["analyze", str(study_file), "--store", str(store), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "samplelab.analysis/2" and document["measure"] == "train_size_to_threshold"
    assert [cell["point"] for cell in document["cells"]] == [{"task.set_size": 4}, {"task.set_size": 6}]
    for cell in document["cells"]:
        assert cell["per_seed"] == {"0": 16.0, "1": 16.0} and cell["converged"] == 2
        assert cell["km"]["0.5"]["value"] == 16
        assert cell["n_star"]["bracket"] == [8, 16] and cell["n_star"]["success_rate"] == [0, 1]
        assert 8 < cell["n_star"]["value"] <= 16
        assert "sample maximum" in cell["n_star"]["warning"]  # δ = 0.1 < 1/2 seeds
        # Failed at 8, succeeded at 16: the data needed lies in (8, 16] (interval-censored).
        assert cell["interval_censored"] == {"median_bracket": [8, 16], "sizes": [8, 16], "survival": [1, 0]}
    (fit,) = document["fits"]
    assert fit["y"] == "n_star" and fit["exponent"] == "gamma"
    assert fit["parameters"]["gamma"]["value"] == pytest.approx(0, abs=1e-6)  # same n* at both N
    assert fit["theory"]["predicted"] == 1 and fit["theory"]["region"] == [0.7, 1.3]  # equal, margin 0.3
    # With 2 seeds, n*(δ = 0.1) is the sample maximum: the claim decides nothing.
    assert fit["theory"]["verdict"] == "inconclusive" and "sample maximum" in fit["theory"]["reason"]
    (claim,) = document["claims"]
    assert claim["kind"] == "equivalence" and claim["source"] == "fit" and claim["verdict"] == "inconclusive"
    assert [v["series"] for v in claim["values"]] == [{}]  # one series: every N
    # Same store + seed → the same document.
    assert main(["analyze", str(study_file), "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == document
    assert main(["analyze", str(study_file), "--store", str(store)]) == 0
    assert "fitted laws" in capsys.readouterr().out


def test_refine_bisects_the_bracket_and_resumes(stored, capsys):
    study_file, store = stored
    study = load_study(study_file)
    with ResultStore(store) as results:
        specs, statuses = plan_round(study, results, ratio=1.25, round_number=1)
    assert {s.config.training.n_train for s in specs} == {11}  # round(√(8·16))
    assert len(specs) == 4 and all(s.point[REFINEMENT_KEY] == 1 for s in specs)
    assert all(status.added == 11 for status in statuses)

    assert main(["refine", str(study_file), "--store", str(store), "--max-rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "round 1: added" in out and "n=11" in out
    with ResultStore(store) as results:
        runs = load_study_runs(study, results)
        assert len(runs.records) == 12  # 8 grid + 4 refinement runs, trained for real
        refined = [r for r in runs.records if r.n_train == 11]
        assert len(refined) == 4 and all(len(r.test_metric) == 3 for r in refined)
        count = results.count_runs()
    assert main(["analyze", str(study_file), "--store", str(store), "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)["cells"]
    assert all(cell["n_star"]["sizes"] == [8, 11, 16] for cell in cells)

    # Another study with the same runs reuses the refinement runs: registered, not retrained.
    twin = study_file.with_name("twin.toml")
    twin.write_text(study_file.read_text().replace('name = "tiny"', 'name = "twin"'))
    with ResultStore(store) as results:
        twin_study = load_study(twin)
        results.register_study("twin", "default", [(s.key, s.point) for s in twin_study.runs])
    assert main(["refine", str(twin), "--store", str(store), "--max-rounds", "1"]) == 0
    assert "round 1: added" in capsys.readouterr().out
    with ResultStore(store) as results:
        assert results.count_runs() == count
        assert len(load_study_runs(twin_study, results).records) == 12

    # A changed study no longer matches the refinement runs: they drop out, like grid runs.
    changed = study_file.read_text().replace("lr = 0.003", "lr = 0.004")
    study_file.write_text(changed)
    with ResultStore(store) as results:
        assert load_study_runs(load_study(study_file), results).records == []
        assert results.count_runs() == count


def test_analyze_errors_are_one_line(stored, write_study, capsys):
    study_file, store = stored
    assert main(["analyze", str(study_file), "--store", str(store.parent / "missing.sqlite")]) == 2
    assert "no such store" in capsys.readouterr().err
    bad = study_file.read_text().replace('x = "task.set_size"', 'x = "task.sett_size"')
    study_file.write_text(bad)
    assert main(["analyze", str(study_file), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "analysis.fits[0].x" in err and "fix:" in err


def _write_records(study, path, final_metric_of, curve_of=None):
    with ResultStore(path) as store:
        store.register_study(study.name, study.profile, [(s.key, s.point) for s in study.runs])
        records = []
        for spec in study.runs:
            record = _synthetic_record(spec, final_metric_of(spec))
            if curve_of is not None:
                record.test_metric = curve_of(spec)
            records.append(record)
        store.write_runs(records)


def test_online_cells_keep_censored_seeds(tiny_study, write_study, tmp_path, capsys):
    text = (
        tiny_study.read_text()
        .replace('regime = "fixed"\nn_train = 8\n', 'regime = "online"\n')
        .replace('"training.n_train" = [8, 16]', "")
    )
    text = text.replace("seeds = 2", "seeds = 3") + '\n[[analysis.fits]]\nx = "task.set_size"\ny = "km_median"\n'
    study_file = write_study(text)
    study = load_study(study_file)
    # Threshold 3.75; eval points at samples 0, 80, 160. Seed 0 crosses at the 1st eval,
    # seed 1 at the 2nd, seed 2 never (censored at 160 samples).
    curves = {0: [375.0, 1.0, 1.0], 1: [375.0, 100.0, 1.0], 2: [375.0, 100.0, 50.0]}
    _write_records(study, tmp_path / "runs.sqlite", lambda s: 1.0, lambda s: np.array(curves[s.seed]))
    assert main(["analyze", str(study_file), "--store", str(tmp_path / "runs.sqlite"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["measure"] == "samples_to_threshold"
    for cell in document["cells"]:
        assert cell["per_seed"] == {"0": 80.0, "1": 160.0, "2": None}
        assert cell["converged"] == 2 and cell["censored"] == 1 and cell["n_star"] is None
        # KM: Ŝ(80) = 2/3, Ŝ(160) = 1/3 → median (first Ŝ < 0.5) = 160.
        assert cell["km"]["0.5"]["value"] == 160
    assert document["fits"][0]["parameters"]["gamma"]["value"] == pytest.approx(0, abs=1e-6)


def test_learning_curve_fit_recovers_the_decay_exponent(tiny_study, tmp_path, capsys):
    text = tiny_study.read_text().replace('"training.n_train" = [8, 16]', '"training.n_train" = [8, 16, 32, 64, 128]')
    text += '\n[analysis]\nbootstrap = 200\n[[analysis.fits]]\nx = "training.n_train"\ny = "final_metric"\nlaw = "power_offset"\n'
    text += 'theory = { exponent = "0.5", margin = 0.1, label = "known" }\n'
    tiny_study.write_text(text)
    study = load_study(tiny_study)
    noise = np.random.default_rng(0)

    def error(spec):  # 2·n^−0.5 + 0.05 with 3% noise
        return float((2 * spec.config.training.n_train**-0.5 + 0.05) * (1 + 0.03 * noise.standard_normal()))

    _write_records(study, tmp_path / "runs.sqlite", error)
    assert main(["analyze", str(tiny_study), "--store", str(tmp_path / "runs.sqlite"), "--json"]) == 0
    fits = json.loads(capsys.readouterr().out)["fits"]
    assert [fit["series"] for fit in fits] == [{"task.set_size": 4}, {"task.set_size": 6}]
    for fit in fits:
        assert len(fit["points"]) == 10 and fit["exponent"] == "alpha"
        low, high = fit["parameters"]["alpha"]["ci"]
        assert low <= fit["parameters"]["alpha"]["value"] <= high  # 2 seeds: few distinct resamples
        assert fit["theory"]["predicted"] == 0.5
        assert abs(fit["parameters"]["alpha"]["value"] - 0.5) < 0.25


def test_a_trend_over_fitted_exponents_reads_the_fall_of_alpha_along_a_key(tiny_study, tmp_path, capsys):
    """α = 0.9 at set size 4 and 0.3 at 6, 5 seeds: Δα per step −0.6, so "α falls" agrees and "α rises" disagrees."""
    text = tiny_study.read_text().replace("seeds = 2", "seeds = 5")
    text = text.replace('"training.n_train" = [8, 16]', '"training.n_train" = [8, 16, 32, 64, 128, 256]')
    text += "\n[analysis]\nbootstrap = 200\n"
    for name, side in (("falls", "below"), ("rises", "above")):
        text += (f'[[analysis.claims]]\nkind = "trend"\nlabel = "alpha {name}"\nof = "exponent"\nx = "training.n_train"\n'
                 f'y = "final_metric"\nlaw = "power_offset"\nalong = "task.set_size"\n{side} = 0\n')  # fmt: skip
    tiny_study.write_text(text)
    noise = np.random.default_rng(0)

    def error(spec):  # 2·n^−α + 0.01 with 3% noise
        alpha = {4: 0.9, 6: 0.3}[spec.point["task.set_size"]]
        return float((2 * spec.config.training.n_train**-alpha + 0.01) * (1 + 0.03 * noise.standard_normal()))

    _write_records(load_study(tiny_study), tmp_path / "runs.sqlite", error)
    assert main(["analyze", str(tiny_study), "--store", str(tmp_path / "runs.sqlite"), "--json"]) == 0
    claims = {c["label"]: c for c in json.loads(capsys.readouterr().out)["claims"]}
    falls, rises = claims["alpha falls"], claims["alpha rises"]
    (value,) = falls["values"]
    assert value["order"] == ["4", "6"] and value["y"] == pytest.approx([0.9, 0.3], abs=0.1)
    assert value["estimate"] == pytest.approx(-0.6, abs=0.1) and value["interval"][1] < 0
    assert falls["verdict"] == "agrees" and rises["verdict"] == "disagrees"
    assert falls["measures"] == "trend" and falls["along"] == "task.set_size" and falls["exponent"] == "alpha"
