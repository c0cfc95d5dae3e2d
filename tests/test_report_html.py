"""The self-contained HTML report and the Markdown summary of a study."""

from __future__ import annotations

import base64
import io
import re

import matplotlib.image
import numpy as np

from samplelab.cli import main

FIT = """
[analysis]
bootstrap = 100
[[analysis.fits]]
x = "task.set_size"
y = "km_median"
"""


def test_report_html_embeds_every_figure_and_has_every_section(tmp_path, tiny_study, train_study):
    path, store, runs = train_study(tiny_study.read_text() + FIT, "tiny_report.toml")
    out = tmp_path / "report"
    assert main(["report", str(path), "--store", str(store), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    for section in ("<h1>tiny [default]</h1>", "Question.", "Runs.", "Fitted laws and theory", "Figures", "Cells",
                    "Grid and base config"):  # fmt: skip
        assert section in page, section
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(images) == len(pngs) >= 3  # every figure written is embedded: the file works offline
    for data in images:
        pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert pixels.ndim == 3 and np.std(pixels) > 0.01  # a drawn figure, not a blank canvas
    assert 'src="http' not in page and "<script" not in page
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# tiny [default]") and all(f"]({name})" in summary for name in pngs)
    assert f"{len(runs.records)} runs" in summary
