"""`samplelab reproduce`, the store-wide report and the claim table."""

from __future__ import annotations

import base64
import io
import re
import shutil
import sqlite3
import textwrap

import matplotlib.image
import numpy as np
import pytest

from conftest import TINY_STUDY  # a module fixture cannot use the function-scoped tiny_study
from samplelab.analysis.claims import ClaimData, evaluate_claim
from samplelab.cli import main
from samplelab.spec.analysis import AnalysisConfig

# The tiny study with a fit beside a theory and two claims about reaching the threshold.
CLAIMED = """
[analysis]
bootstrap = 100
[[analysis.fits]]
x = "task.set_size"
y = "km_median"
theory = { exponent = "1", margin = 0.3, label = "linear in N" }
[[analysis.claims]]
kind = "reached"
label = "N = 4 is learnt"
where = { "task.set_size" = 4 }
[[analysis.claims]]
kind = "not_reached"
label = "nothing is learnt"
where = { "task.set_size" = 6 }
control = { "task.set_size" = 4 }
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


def _judge(analysis: dict, cells: list[dict], outcomes: list[dict] | None = None) -> list[dict]:
    config = AnalysisConfig.model_validate(analysis)
    data = ClaimData(None, [], cells, outcomes or [], config, None)
    return [evaluate_claim(data, claim) for claim in config.claims]


def test_success_rates_are_judged_by_exact_intervals_and_a_control_that_learns():
    """reached: the Clopper–Pearson interval of the rate against ≥ 1 − δ; not_reached: the
    control's rate minus the test group's against ≥ 1 − 2δ, and only once the control learns."""
    claims = [
        {"kind": "reached", "label": "a", "where": {"model.heads": [2, 3]}},
        {"kind": "not_reached", "label": "b", "where": {"model.heads": 1}, "control": {"model.heads": [2, 3]}},
        {"kind": "reached", "label": "c", "where": {"model.heads": 4}},
        {"kind": "not_reached", "label": "d", "where": {"model.heads": 1}, "control": {"model.heads": 4}},
        {"kind": "not_reached", "label": "e", "where": {"model.heads": 2}, "control": {"model.heads": 3}},
    ]
    results = _judge({"delta": 0.1, "claims": claims}, _cells([0, 20, 20, 4], seeds=20))
    # 40/40: CP lower 0.912 ≥ 0.9; 4/20: upper 0.437 < 0.9.
    assert [r["verdict"] for r in results[:3]] == ["agrees", "agrees", "disagrees"]
    assert results[0]["values"][0]["interval"][0] == pytest.approx(0.025 ** (1 / 40))
    assert results[0]["values"][0] | {"interval": None} == {
        "reached": 40, "seeds": 40, "cells": 2, "estimate": 1.0, "interval": None, "verdict": "agrees"
    }  # fmt: skip
    # The control (4 of 20) does not learn within the budget: a failure beside it shows nothing.
    assert (
        results[3]["verdict"] == "inconclusive"
        and "control reached the threshold in 4 of 20 seeds" in results[3]["reason"]
    )
    assert results[4]["verdict"] == "disagrees"  # both learn: the difference is ≈ 0
    few = _judge({"delta": 0.1, "claims": claims[:2]}, _cells([0, 5, 5], seeds=5))
    assert [r["verdict"] for r in few] == ["inconclusive", "inconclusive"]  # 10/10 and 0/5 bound too little
    empty = _judge({"delta": 0.1, "claims": claims[:2]}, [])
    assert [r["reason"] for r in empty] == ["no runs", "no runs"]


def test_outcome_bounds_and_equivalences_compare_each_points_interval_with_the_region():
    claims = [
        {"kind": "bound", "label": "x", "of": "test_accuracy", "above": 0.70, "margin": 0, "where": {"m": "a"}},
        {"kind": "equivalence", "label": "y", "of": "test_accuracy", "within": [0.45, 0.55], "where": {"m": "a"}},
        {"kind": "bound", "label": "z", "of": "test_accuracy", "above": 0.5, "margin": 0.05},
        {"kind": "bound", "label": "w", "of": "test_accuracy", "above": 0.705, "margin": 0, "where": {"m": "a"}},
    ]
    outcomes = [
        {"point": {"m": "a"}, "test_accuracy": {"value": 0.713, "ci": [0.697, 0.722], "n": 10}},
        {"point": {"m": "b"}, "test_accuracy": {"value": 0.099, "ci": [0.099, 0.099], "n": 10}},
    ]
    results = _judge({"outcomes": True, "claims": claims}, [], outcomes)
    assert [r["verdict"] for r in results] == ["inconclusive", "disagrees", "disagrees", "inconclusive"]
    assert [v["verdict"] for v in results[2]["values"]] == ["agrees", "disagrees"]  # z: every point must
    assert results[2]["region"] == [pytest.approx(0.45), None]


@pytest.mark.parametrize(
    ("claim", "message"),
    [
        ('kind = "bound"\nlabel = "x"\nof = "test_accuracy"\nabove = 0.7', "a bound claim needs margin"),
        ('kind = "reached"\nlabel = "x"\nwithin = [0, 1]', "takes no within"),
        ('kind = "bound"\nlabel = "x"\nof = "test_accuracy"\nmargin = 0', "is one-sided"),
        ('kind = "not_reached"\nlabel = "x"', "a not_reached claim needs control"),
        ('kind = "reached"\nlabel = "x"\nwhere = { "task.q" = 2 }', '"task.q" is not a grid key here'),
        ('kind = "reached"\nlabel = "x"\nwhere = { "task.set_size" = [4, 5] }', "5 is not in the grid"),
        ('kind = "reached"\nlabel = "x"\nwhere = { "training.n_train" = 8 }', "is not a grid key here"),
        ('kind = "bound"\nlabel = "x"\nof = "test_accuracy"\nabove = 0.7\nmargin = 0', "set [analysis] outcomes"),
        ('kind = "growth"\nlabel = "x"\nx = "task.sett_size"\nmargin = 0', '"task.sett_size" is not a grid key'),
        ('kind = "band"\nlabel = "x"\nx = "task.set_size"\nwithin = [8, 4]', "is not increasing"),
        ('kind = "growth"\nlabel = "x"\nx = "task.set_size"\nmargin = 0\nlaw = "power_offset"', "takes no law"),
        ('kind = "trend"\nlabel = "x"\nalong = "training.n_train"\nabove = 0', "is not a grid key to order by"),
        ('kind = "trend"\nlabel = "x"\nalong = "task.set_size"', "is one-sided"),
        (
            'kind = "trend"\nlabel = "x"\nof = "exponent"\ny = "final_metric"\nx = "task.set_size"\nabove = 0',
            "needs along",
        ),
        (
            'kind = "trend"\nlabel = "x"\nof = "exponent"\nx = "task.set_size"\nalong = "training.n_train"\nbelow = 0',
            "is not a grid key to order by",
        ),
        ('kind = "trend"\nlabel = "x"\nalong = "task.set_size"\nx = "task.set_size"\nabove = 0', "not x"),
        (
            'kind = "compare"\nlabel = "x"\nof = "ratio"\nx = "task.set_size"\ny = "final_metric"\nthan = {}\n'
            "above = 1\nmargin = 0",
            "a ratio compares data needed",
        ),
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


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """A plan of two tiny studies reproduced once: (folder, store, report folder, printed output)."""
    import contextlib

    folder = tmp_path_factory.mktemp("reproduce")
    (folder / "tiny.toml").write_text(textwrap.dedent(TINY_STUDY) + CLAIMED)
    (folder / "online.toml").write_text(textwrap.dedent(ONLINE))
    (folder / "reproduce.toml").write_text(PLAN)
    store, out = folder / "store.sqlite", folder / "reports"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["reproduce", "--plan", str(folder / "reproduce.toml"), "--store", str(store), "--out", str(out)])
    assert code == 0
    return folder, store, out, printed.getvalue()


def test_reproduce_runs_the_plan_reports_from_the_store_and_resumes(reproduced, capsys):
    folder, store, out, printed = reproduced
    assert "claims: the seeds' statements beside what was measured" in printed
    verdicts = re.search(r"\n(\d+) agrees, (\d+) disagrees, (\d+) inconclusive\n", printed)
    assert verdicts and sum(map(int, verdicts.groups())) == 3  # a fit with a theory (too few points) + 2 claims
    assert re.search(r"reproduce quick: 2 studies, \d+ runs trained", printed)

    page = (out / "report.html").read_text()
    for heading in ("<h2>Claims</h2>", "<h2>tiny [quick]</h2>", "<h2>tiny_online [default]</h2>", "<h3>Figures</h3>"):
        assert heading in page, heading
    assert '<a href="#tiny-quick">tiny [quick]</a>' in page and '<section id="tiny-quick">' in page
    images = _embedded_images(page)
    figures = sorted(out.glob("*/*.png"))
    assert len(images) == len(figures) >= 5 and {p.parent.name for p in figures} == {
        "tiny-quick",
        "tiny_online-default",
    }
    assert all(image.ndim == 3 and np.std(image) > 0.01 for image in images)
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# samplelab report: 2 studies") and "](tiny-quick/" in summary
    claim_table = summary.split("## tiny")[0]
    assert all(claim in claim_table for claim in ("linear in N", "N = 4 is learnt", "nothing is learnt"))

    with sqlite3.connect(store) as db:
        stored = db.execute("SELECT study, profile FROM study_files ORDER BY study").fetchall()
        runs = db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert stored == [("tiny", "quick"), ("tiny_online", "default")]

    args = ["reproduce", "--plan", str(folder / "reproduce.toml"), "--store", str(store), "--out", str(out)]
    assert main(args) == 0  # everything stored: resumes to nothing
    assert "0 runs trained" in capsys.readouterr().out
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == runs

    # The store alone is enough: the report of everything in it, with the study files gone.
    moved = folder / "elsewhere"
    moved.mkdir()
    for name in ("tiny.toml", "online.toml"):
        (folder / name).rename(moved / name)
    again = folder / "again"
    assert main(["report", "--store", str(store), "--out", str(again), "--profile", "quick"]) == 0
    assert "(1 studies)" in capsys.readouterr().out
    page = (again / "report.html").read_text()
    assert "<h2>tiny [quick]</h2>" in page and "N = 4 is learnt" in page and "tiny_online" not in page


def test_reproduce_with_a_spent_budget_lists_every_claim_as_unjudged_and_the_next_call_finishes(
    reproduced, tmp_path, capsys
):
    whole_store = reproduced[1]
    (tmp_path / "tiny.toml").write_text(textwrap.dedent(TINY_STUDY) + CLAIMED)  # the fixture's files may have moved
    (tmp_path / "online.toml").write_text(textwrap.dedent(ONLINE))
    (tmp_path / "reproduce.toml").write_text(PLAN)
    store, out = tmp_path / "store.sqlite", tmp_path / "reports"
    args = ["reproduce", "--plan", str(tmp_path / "reproduce.toml"), "--store", str(store), "--out", str(out)]
    assert main([*args, "--max-minutes", "0"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert re.search(r"reproduce quick: 2 studies, 0 runs trained", text)
    assert "--max-minutes 0 spent before 2 of 2 studies ended (tiny [quick], tiny_online [default])" in text
    assert "0 agrees, 0 disagrees, 3 inconclusive" in text  # tiny's three claims, each unjudged
    summary = (out / "summary.md").read_text()
    assert summary.count("runs it reads are not stored") == 3 and "N = 4 is learnt" in summary
    assert main(args) == 0
    with sqlite3.connect(store) as cut, sqlite3.connect(whole_store) as whole:
        query = "SELECT run_key, final_metric, test_metric FROM runs ORDER BY run_key"
        assert cut.execute(query).fetchall() == whole.execute(query).fetchall()


def test_store_report_leaves_out_a_study_that_no_longer_loads_and_says_why(reproduced, tmp_path, capsys):
    _, store, _, _ = reproduced
    copy = tmp_path / "copy.sqlite"
    with sqlite3.connect(store) as source, sqlite3.connect(copy) as target:
        source.backup(target)
        target.execute(
            "INSERT INTO study_files VALUES ('gone', 'default', 'gone.toml', ?, '2026-01-01')",
            ('name = "gone"\n[task]\nname = "no_such_task"\n[model]\nname = "mlp"\n',),
        )
    assert main(["report", "--store", str(copy), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "left out gone [default]: gone.toml: task" in printed and "(2 studies)" in printed
    assert main(["report", "--store", str(copy), "--out", str(tmp_path / "out"), "--profile", "long"]) == 2
    assert "no studies to report (the store holds: tiny [quick], tiny_online [default])" in capsys.readouterr().err


def test_reproduce_and_store_report_refuse_bad_input_in_one_line(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text('[[quick]]\nstudy = "missing.toml"\n[[full]]\nstudy = "missing.toml"\n')
    cases = [
        (["reproduce", "--plan", str(plan)], "missing.toml: cannot read"),
        (["reproduce", "--plan", str(plan), "--profile", "medium"], "--profile 'medium': not in"),
        (["report", "--store", str(tmp_path / "none.sqlite")], "no such store"),
    ]
    plan_bad = tmp_path / "bad.toml"
    plan_bad.write_text('[[quick]]\nstudy = "x.toml"\nminutes = -1\n')
    cases.append((["reproduce", "--plan", str(plan_bad)], "quick[0].minutes: Input should be greater than 0"))
    plan_flat = tmp_path / "flat.toml"
    plan_flat.write_text('quick = "x.toml"\n')
    cases.append((["reproduce", "--plan", str(plan_flat)], "quick: a profile is a list of studies"))
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "fix:" in err, err


# Injected into a copy of the report (the report itself has no scripts): once everything has
# loaded, record each image's decoded size and place, each heading, and the page height.
_PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map((img) => {
    const box = img.getBoundingClientRect();
    return {ok: img.complete && img.naturalWidth > 0, x: box.left, y: box.top + window.scrollY,
            w: box.width, h: box.height};
  });
  const headings = [...document.querySelectorAll("h1, h2, h3")].map((h) => h.textContent);
  document.body.setAttribute("data-probe", JSON.stringify(
    {images, headings, height: document.documentElement.scrollHeight}));
});
</script>"""

_CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-device-scale-factor=1", "--virtual-time-budget=5000",
]  # fmt: skip


def _chromium(tmp_path, *args: str) -> str:
    import subprocess

    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    command = [shutil.which("chromium"), *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_headless_chromium(reproduced, tmp_path):
    """Chromium opens the report offline: every section is there, every figure decodes, and
    a screenshot of the whole page shows a drawn figure wherever the page puts one."""
    import html
    import json

    _, _, out, _ = reproduced
    probed = tmp_path / "probed.html"
    probed.write_text((out / "report.html").read_text().replace("</body>", _PROBE + "</body>"))
    dom = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    probe = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', dom).group(1)))
    for heading in ("Claims", "tiny [quick]", "tiny_online [default]", "Fitted laws and theory", "Figures", "Cells"):
        assert heading in probe["headings"], heading
    assert len(probe["images"]) >= 5 and all(image["ok"] and image["w"] > 100 for image in probe["images"])

    shot = tmp_path / "page.png"
    _chromium(
        tmp_path, f"--screenshot={shot}", f"--window-size=1280,{int(probe['height'])}", (out / "report.html").as_uri()
    )
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= probe["height"] - 1
    for image in probe["images"]:
        top, left = int(image["y"]), int(image["x"])
        region = pixels[top : top + int(image["h"]), left : left + int(image["w"]), :3]
        assert region.size and np.std(region) > 0.02, image  # drawn, not blank
