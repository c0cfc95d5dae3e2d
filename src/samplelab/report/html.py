"""Studies' reports as one self-contained HTML file (figures embedded) and a Markdown summary.

``report.html`` opens offline in any browser. Per study: the question (the study's
description), run counts (converged / censored / diverged), its claims with their verdicts,
the fitted laws with their CIs beside the theory, every figure as an embedded PNG, the
per-cell statistics, the grid and the base config. A report of several studies (the
store's, :mod:`samplelab.report.store_report`) opens with links to each and the claim table of all of them.
``summary.md`` has the same text and tables, with the figures linked. Everything comes from the analysis document (``analyze_study``) and the figures written
from the same stored runs.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import NamedTuple

from samplelab.analysis.claim_table import claim_rows
from samplelab.analysis.runs import StudyRuns
from samplelab.analysis.text import exponent_text, fit_x_label, prediction_text, threshold_text, value_ci
from samplelab.core.version import __version__
from samplelab.report.figures import reads_data_needed

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}section{border-top:2px solid #ddd;margin-top:2em}figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:85%}.agrees{color:#17702a}.disagrees{color:#b3261e}"""


def run_counts(document: dict) -> dict[str, int]:
    """Runs stored, and of the cells' seeds: converged (reached the threshold), censored, diverged runs."""
    cells = document["cells"]
    return {
        "runs": document["runs"],
        "converged": sum(c["converged"] for c in cells),
        "censored": sum(c["censored"] for c in cells),
        "diverged runs": sum(c["diverged_runs"] for c in cells),
    }


def fit_rows(document: dict) -> list[dict[str, str]]:
    """One row per fitted series: law, x, exponent with CI, theory and verdict."""
    rows = []
    for fit in document["fits"]:
        theory = fit["theory"]
        rows.append(
            {
                "y": fit["y"] + threshold_text(fit),
                "x": fit_x_label(fit),
                "series": ", ".join(f"{k}={v}" for k, v in fit["series"].items()) or "all",
                "exponent": exponent_text(fit),
                "theory": "—"
                if not theory
                else f"{theory['label'] or theory['expression']}: "
                + ("no value" if theory["predicted"] is None else prediction_text(theory)),
                "verdict": theory["verdict"] if theory else "—",
            }
        )
    return rows


def cell_table(document: dict) -> list[dict[str, str]]:
    """One row per cell: its grid point, seeds, converged, and — when the analysis reads the data
    needed (:func:`~samplelab.report.figures.reads_data_needed`) — KM median and n* with CIs."""
    rows, data_needed = [], reads_data_needed(document)
    for cell in document["cells"]:
        row = {key.split(".")[-1]: str(value) for key, value in cell["point"].items()}
        row |= {"seeds": str(cell["seeds"]), "converged": f"{cell['converged']}/{cell['seeds']}"}
        if data_needed:
            row["KM median"] = value_ci(cell["km"].get("0.5"), ".3g")
            row["n*"] = value_ci(cell["n_star"], ".3g") if cell["n_star"] else "—"
        rows.append(row)
    return rows


def _html_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>none</p>"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{html.escape(row.get(c, ""))}">{html.escape(row.get(c, ""))}</td>' for c in columns)
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _markdown_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "none\n"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(row.get(c, "").replace("|", "\\|") for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _caption(figure: Path, document: dict) -> str:
    """A figure's file name, and for a claim's figure (``claim_<k>.png``) the claim it shows."""
    number = figure.stem.removeprefix("claim_")
    claims = document.get("claims", [])
    if figure.stem.startswith("claim_") and number.isdigit() and 0 < int(number) <= len(claims):
        return f"{figure.name}: {claims[int(number) - 1]['label']}"
    return figure.name


class StudySection(NamedTuple):
    """One study's part of a report."""

    anchor: str  # the HTML section's id
    title: str  # "name [profile]"
    html: str
    markdown: str


def study_section(runs: StudyRuns, document: dict, figures: list[Path], out_dir: Path, level: int = 1) -> StudySection:
    """One study's part of the report; figure links are relative to ``out_dir``.

    ``level`` is the heading level of the study's title (its subsections are one deeper).
    """
    study = runs.study
    title = f"{study.name} [{study.profile}]"
    counts_text = ", ".join(f"{value} {name}" for name, value in run_counts(document).items())
    config = runs.records[0].config if runs.records else {}
    grid = {key: [str(v) for v in values] for key, values in study.grid.items()}
    anchor = f"{study.name}-{study.profile}"
    own_claims = [{k: v for k, v in row.items() if k != "study"} for row in claim_rows(document)]
    h, sub = f"h{level}", f"h{level + 1}"
    parts = [
        f'<section id="{html.escape(anchor)}"><{h}>{html.escape(title)}</{h}>',
        f"<p><b>Question.</b> {html.escape(study.description or '(no description)')}</p>",
        f"<p><b>Runs.</b> {html.escape(counts_text)} (seeds per cell that reached the threshold / did not).</p>",
        f"<{sub}>Claims</{sub}>",
        _html_table(own_claims),
        f"<{sub}>Fitted laws and theory</{sub}>",
        _html_table(fit_rows(document)),
        f"<{sub}>Figures</{sub}>",
    ]
    for figure in figures:
        data = base64.b64encode(Path(figure).read_bytes()).decode()
        caption = html.escape(_caption(Path(figure), document))
        parts.append(
            f'<figure><img alt="{html.escape(figure.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    parts += [
        f"<{sub}>Cells</{sub}>",
        _html_table(cell_table(document)),
        f"<{sub}>Grid and base config</{sub}>",
        f"<pre>{html.escape(json.dumps(grid, indent=1))}</pre>",
        f"<pre>{html.escape(json.dumps(config, indent=1, sort_keys=True))}</pre>",
        f"<p>study file {html.escape(study.source)}</p></section>",
    ]
    hashes = "#" * level
    markdown = [
        f"{hashes} {title}\n",
        f"**Question.** {study.description or '(no description)'}\n",
        f"**Runs.** {counts_text}.\n",
        f"{hashes}# Claims\n",
        _markdown_table(own_claims),
        f"{hashes}# Fitted laws and theory\n",
        _markdown_table(fit_rows(document)),
        f"{hashes}# Figures\n",
        *(f"![{figure.stem}]({Path(figure).relative_to(out_dir).as_posix()})\n" for figure in figures),
        f"{hashes}# Cells\n",
        _markdown_table(cell_table(document)),
    ]
    return StudySection(anchor, title, "".join(parts), "\n".join(markdown))


def write_report(
    title: str, sections: list[StudySection], out_dir: Path, claims: list[dict[str, str]] | None = None
) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``summary.md`` into ``out_dir``; returns both paths.

    ``claims``, if given, opens the report with the claim table of every study, after a list
    of links to each study's section.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    head_html, head_md = [], []
    if claims is not None:
        contents = "".join(f'<li><a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a></li>' for s in sections)
        head_html = [f"<h1>{html.escape(title)}</h1>", f"<ul>{contents}</ul>", "<h2>Claims</h2>", _html_table(claims)]
        head_md = [f"# {title}\n", "## Claims\n", _markdown_table(claims)]
    page = f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
    body = "".join([*head_html, *(section.html for section in sections)])
    page += f"<style>{_STYLE}</style></head><body>{body}<footer><p>samplelab {html.escape(__version__)}</p>"
    page += "</footer></body></html>\n"
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    md_path = out_dir / "summary.md"
    md_path.write_text("\n".join([*head_md, *(section.markdown for section in sections)]), encoding="utf-8")
    return html_path, md_path


def write_study_report(runs: StudyRuns, document: dict, figures: list[Path], out_dir: Path) -> tuple[Path, Path]:
    """The report of one study (``samplelab report STUDY``): its section alone."""
    title = f"{runs.study.name} [{runs.study.profile}]"
    return write_report(title, [study_section(runs, document, figures, Path(out_dir))], out_dir)
