"""A figure per claim, small multiples for curves, and only the measures a study's claims read."""

from __future__ import annotations

import dataclasses
import io

import matplotlib.image
import numpy as np

from conftest import synthetic_record
from samplelab.analysis.document import analyze_study
from samplelab.analysis.runs import load_study_runs
from samplelab.ledger.store import ResultStore
from samplelab.report.curves import SmallMultiples
from samplelab.report.figures import reads_data_needed, write_figures
from samplelab.report.html import cell_table
from samplelab.spec.study import load_study
from test_claims import BUDGET, COMPARE, GROWTH, STUDY, THRESHOLDS

THEORY = """
[[analysis.fits]]
x = "task.set_size"
y = "km_median"
where = { "model.heads" = 2 }
theory = { exponent = "1", margin = 0.2, label = "heads 2 linear" }
"""


def _store(tmp_path, claims: str):
    """The synthetic online study of test_claims (heads 1: 300·ln x, heads 2: 60·x), stored."""
    path = tmp_path / "truths.toml"
    path.write_text(STUDY + claims)
    study = load_study(path)
    rng = np.random.default_rng(0)
    records = []
    steps = np.arange(BUDGET + 1, dtype=np.float64)
    for spec in study.runs:
        heads, size = spec.point["model.heads"], spec.point["task.set_size"]
        needed = round((300 * np.log(size) if heads == 1 else 60 * size) * np.exp(rng.normal(0, 0.05)))
        curve = np.where(steps >= needed, 1.0, 375.0)
        curve[(steps >= needed // 6) & (steps < needed)] = 30.0
        record = synthetic_record(spec, steps, curve.astype(np.float32), samples_per_step=1)
        records.append(dataclasses.replace(record, train_loss=curve[1:] * 0.9))  # one loss per eval after the first
    with ResultStore(tmp_path / "s.sqlite") as db:
        db.register_study(study.name, study.profile, [(s.key, s.point) for s in study.runs])
        db.write_runs(records)
        return load_study_runs(study, db)


def test_every_claim_gets_a_drawn_figure(tmp_path):
    runs = _store(tmp_path, GROWTH + COMPARE + THRESHOLDS + THEORY)
    document = analyze_study(runs, bootstrap=200)
    written = {p.name: p for p in write_figures(runs, tmp_path / "figures", document)}
    claims = document["claims"]
    assert len(claims) == 9  # 2 growth, compare, bound, band, 2 bands at thresholds, 2 theories
    for number in range(1, len(claims) + 1):
        pixels = matplotlib.image.imread(io.BytesIO(written[f"claim_{number}.png"].read_bytes()), format="png")
        assert pixels.ndim == 3 and np.std(pixels) > 0.01  # drawn, not blank
    assert {"learning_curves.png", "data_to_threshold.png", "fits.png"} <= set(written)


def test_a_study_about_outcomes_shows_no_data_needed():
    cell = {"point": {"model": "xavier"}, "seeds": 4, "converged": 4, "km": {"0.5": {"value": 100, "ci": [100, None]}},
            "n_star": None}  # fmt: skip
    outcomes = {"fits": [], "claims": [{"x": None, "y": None, "kind": "paired"}], "cells": [cell]}
    assert not reads_data_needed(outcomes) and "KM median" not in cell_table(outcomes)[0]
    growth = {"fits": [], "claims": [{"x": "task.set_size", "y": "km_median", "kind": "growth"}], "cells": [cell]}
    assert reads_data_needed(growth) and "KM median" in cell_table(growth)[0]
    assert reads_data_needed({"fits": [], "claims": [], "cells": [cell]})  # states nothing: show everything


def test_small_multiples_colour_the_varied_quantity_and_panel_the_rest():
    groups = [(model, n) for model in ("ffn", "gru", "transformer") for n in (2, 4, 8, 12)]
    layout = SmallMultiples(["model", "task.seq_len"], groups)
    assert layout.colour_key == "task.seq_len" and len(layout.panels) == 3 and layout.readable
    assert len({layout.colour_of(g) for g in groups}) == 4  # one colour per N, the same in every panel
    assert layout.panel_of(("gru", 8)) == 1
    single = SmallMultiples(["model", "training.n_train"], [(m, 100) for m in ("a", "b")])
    assert single.colour_key == "model" and len(single.panels) == 1  # a key with one value never colours
