"""`samplelab reproduce`, the store-wide report and the claim table."""

from __future__ import annotations

import base64
import io
import re
import sqlite3
import textwrap

import matplotlib.image
import numpy as np
import pytest

from samplelab.analysis_config import AnalysisConfig
from samplelab.claim_table import check_claims
from samplelab.cli import main

# The tiny study with a fit beside a theory and two claims about reaching the threshold.
CLAIMED = """
[analysis]
bootstrap = 100
[[analysis.fits]]
x = "task.set_size"
y = "km_median"
theory = { exponent = "1", label = "linear in N" }
[[analysis.claims]]
kind = "reached"
label = "N = 4 is learnt"
where = { "task.set_size" = 4 }
[[analysis.claims]]
kind = "not_reached"
label = "nothing is learnt"
where = { "task.set_size" = [4, 6] }
"""

ONLINE = """
name = "tiny_online"
description = "an online qSTR study for tests"
seeds = 2
[task]
name = "qstr"
seq_len = 4
[model]
name = "transformer"
d_model = 8
heads = 1
mlp_width = 16
[training]
regime = "online"
steps = 20
batch_size = 8
eval_every = 10
test_size = 16
[grid]
"model.heads" = [1, 2]
"""

PLAN = """
[[quick]]
study = "tiny.toml"
profile = "quick"
refine_rounds = 1
minutes = 0.2

[[quick]]
study = "online.toml"

[[full]]
study = "tiny.toml"
"""


def _cells(converged: list[int], seeds: int = 5) -> list[dict]:
    return [{"point": {"model.heads": h}, "converged": c, "seeds": seeds} for h, c in enumerate(converged, start=1)]


def test_reached_claims_follow_n_star_delta():
    """reached agrees iff ≥ 1 − δ of the runs reach; not_reached iff ≤ δ do."""
    analysis = AnalysisConfig.model_validate(
        {
            "delta": 0.1,
            "claims": [
                {"kind": "reached", "label": "a", "where": {"model.heads": [2, 3]}},
                {"kind": "not_reached", "label": "b", "where": {"model.heads": 1}},
                {"kind": "reached", "label": "c", "where": {"model.heads": 4}},
            ],
        }
    )
    results = check_claims(analysis, _cells([0, 5, 5, 4], seeds=5), [])
    assert [r["agrees"] for r in results] == [True, True, False]  # 4/5 = 0.8 < 0.9
    assert results[0]["measured"] == {"reached": 10, "runs": 10, "cells": 2}
    empty = check_claims(analysis, [], [])
    assert [r["agrees"] for r in empty] == [None, None, None] and empty[0]["measured_text"] == "no runs"


def test_outcome_claims_compare_the_ci_with_the_reference():
    analysis = AnalysisConfig.model_validate(
        {
            "outcomes": True,
            "claims": [
                {"kind": "outcome", "label": "x", "metric": "test_accuracy", "reference": 0.71, "where": {"m": "a"}},
                {"kind": "outcome", "label": "y", "metric": "test_accuracy", "reference": 0.51, "where": {"m": "a"}},
                {"kind": "outcome", "label": "z", "metric": "test_accuracy", "reference": 0.5, "relation": "above"},
            ],
        }
    )
    outcomes = [
        {"point": {"m": "a"}, "test_accuracy": {"value": 0.713, "ci": [0.697, 0.722], "n": 10}},
        {"point": {"m": "b"}, "test_accuracy": {"value": 0.099, "ci": [0.099, 0.099], "n": 10}},
    ]
    results = check_claims(analysis, [], outcomes)
    assert [r["agrees"] for r in results] == [True, False, False]  # z: every point must lie above
    assert results[0]["measured_text"] == "test accuracy 0.713 [0.697, 0.722]"


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ('kind = "outcome"\nlabel = "x"', "an outcome claim needs metric and reference"),
        ('kind = "reached"\nlabel = "x"\nreference = 1.0', "takes no metric or reference"),
        ('kind = "reached"\nlabel = "x"\nwhere = { "task.q" = 2 }', '"task.q" is not a grid key of a cell'),
        ('kind = "reached"\nlabel = "x"\nwhere = { "task.set_size" = [4, 5] }', "5 is not in the grid"),
        ('kind = "reached"\nlabel = "x"\nwhere = { "training.n_train" = 8 }', "is not a grid key of a cell"),
        ('kind = "outcome"\nlabel = "x"\nmetric = "test_accuracy"\nreference = 0.7', "set [analysis] outcomes"),
    ],
)
def test_bad_claims_are_refused_at_load(tiny_study, write_study, capsys, claim, message):
    path = write_study(tiny_study.read_text() + "\n[analysis]\n[[analysis.claims]]\n" + claim + "\n")
    assert main(["run", str(path), "--dry-run", "--store", str(path.parent / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "fix:" in err


def _embedded_images(page: str) -> list[np.ndarray]:
    return [
        matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")
        for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    ]


def test_reproduce_runs_the_plan_reports_from_the_store_and_resumes(tmp_path, tiny_study, capsys):
    tiny_study.write_text(tiny_study.read_text() + CLAIMED)
    (tmp_path / "online.toml").write_text(textwrap.dedent(ONLINE))
    plan = tmp_path / "reproduce.toml"
    plan.write_text(PLAN)
    store, out = tmp_path / "store.sqlite", tmp_path / "reports"
    args = ["reproduce", "--plan", str(plan), "--store", str(store), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "claims: the seeds' statements beside what was measured" in printed
    verdicts = re.search(r"\n(\d+) agrees, (\d+) disagrees, (\d+) undetermined\n", printed)
    assert verdicts and sum(map(int, verdicts.groups())) == 3  # a fit with a theory (too few points) + 2 claims
    assert re.search(r"reproduce quick: 2 studies, \d+ runs trained", printed)

    page = (out / "report.html").read_text()
    for heading in ("<h2>Claims</h2>", "<h2>tiny [quick]</h2>", "<h2>tiny_online [default]</h2>", "<h3>Figures</h3>"):
        assert heading in page, heading
    images = _embedded_images(page)
    figures = sorted(out.glob("*/*.png"))
    assert len(images) == len(figures) >= 5 and {p.parent.name for p in figures} == {"tiny-quick", "tiny_online-default"}
    assert all(image.ndim == 3 and np.std(image) > 0.01 for image in images)
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# samplelab report: 2 studies") and "](tiny-quick/" in summary
    claim_table = summary.split("## tiny")[0]
    assert all(claim in claim_table for claim in ("linear in N", "N = 4 is learnt", "nothing is learnt"))

    with sqlite3.connect(store) as db:
        stored = db.execute("SELECT study, profile, source FROM study_files ORDER BY study").fetchall()
        runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert [(s, p) for s, p, _ in stored] == [("tiny", "quick"), ("tiny_online", "default")]

    assert main(args) == 0  # everything stored: resumes to nothing
    assert "0 runs trained" in capsys.readouterr().out
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == runs

    # The store alone is enough: the report of everything in it, with the study files gone.
    (tmp_path / "tiny.toml").unlink()
    (tmp_path / "online.toml").unlink()
    again = tmp_path / "again"
    assert main(["report", "--store", str(store), "--out", str(again), "--profile", "quick"]) == 0
    assert "(1 studies)" in capsys.readouterr().out
    page = (again / "report.html").read_text()
    assert "<h2>tiny [quick]</h2>" in page and "N = 4 is learnt" in page and "tiny_online" not in page


def test_reproduce_and_store_report_refuse_bad_input_in_one_line(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text('[[quick]]\nstudy = "missing.toml"\n[[full]]\nstudy = "missing.toml"\n')
    cases = [
        (["reproduce", "--plan", str(plan)], "missing.toml: cannot read"),
        (["reproduce", "--plan", str(plan), "--profile", "medium"], "--profile"),
        (["report", "--store", str(tmp_path / "none.sqlite")], "no such store"),
    ]
    plan_bad = tmp_path / "bad.toml"
    plan_bad.write_text('[[quick]]\nstudy = "x.toml"\nminutes = -1\n[[full]]\nstudy = "x.toml"\n')
    cases.append((["reproduce", "--plan", str(plan_bad)], "minutes"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "fix:" in err, err
