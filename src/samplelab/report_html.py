"""A study's report as one self-contained HTML file (figures embedded) and a Markdown summary.

``report.html`` opens offline in any browser: the question (the study's description), run
counts (converged / censored / diverged), the grid and the base config, every figure as an
embedded PNG, the fitted laws with their CIs beside the theory and its verdict, and the
per-cell statistics. ``summary.md`` has the same text and tables, with the figures linked.
Everything comes from the analysis document (``analyze_study``) and the figures written
from the same stored runs.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from samplelab.analysis import StudyRuns
from samplelab.document_text import EXPONENT_SYMBOL, VERDICT, fit_x_label, value_ci

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}
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
        exponent = fit["parameters"].get(fit["exponent"])
        theory = fit["theory"]
        rows.append(
            {
                "y": fit["y"],
                "x": fit_x_label(fit),
                "series": ", ".join(f"{k}={v}" for k, v in fit["series"].items()) or "all",
                "exponent": f"{EXPONENT_SYMBOL[fit['exponent']]} = {value_ci(exponent, '.3g')}"
                if exponent
                else fit["status"],
                "theory": "—"
                if not theory
                else f"{theory['label'] or theory['expression']}: "
                + ("no value" if theory["predicted"] is None else f"{theory['predicted']:.3g}"),
                "verdict": VERDICT[theory["agrees"]] if theory else "—",
            }
        )
    return rows


def cell_table(document: dict) -> list[dict[str, str]]:
    """One row per cell: its grid point, seeds, converged, KM median and n* with CIs."""
    return [
        {
            **{key.split(".")[-1]: str(value) for key, value in cell["point"].items()},
            "seeds": str(cell["seeds"]),
            "converged": f"{cell['converged']}/{cell['seeds']}",
            "KM median": value_ci(cell["km"].get("0.5"), ".3g"),
            "n*": value_ci(cell["n_star"], ".3g") if cell["n_star"] else "—",
        }
        for cell in document["cells"]
    ]


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


def write_study_report(runs: StudyRuns, document: dict, figures: list[Path], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``summary.md`` into ``out_dir``; returns both paths."""
    study = runs.study
    title = f"{study.name} [{study.profile}]"
    counts = run_counts(document)
    config = runs.records[0].config if runs.records else {}
    grid = {key: [str(v) for v in values] for key, values in study.grid.items()}
    counts_text = ", ".join(f"{value} {name}" for name, value in counts.items())
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p><b>Question.</b> {html.escape(study.description or '(no description)')}</p>",
        f"<p><b>Runs.</b> {html.escape(counts_text)} (seeds per cell that reached the threshold / did not).</p>",
        "<h2>Fitted laws and theory</h2>",
        _html_table(fit_rows(document)),
        "<h2>Figures</h2>",
    ]
    for figure in figures:
        data = base64.b64encode(Path(figure).read_bytes()).decode()
        sections.append(
            f'<figure><img alt="{html.escape(figure.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(figure.name)}</figcaption></figure>"
        )
    sections += [
        "<h2>Cells</h2>",
        _html_table(cell_table(document)),
        "<h2>Grid and base config</h2>",
        f"<pre>{html.escape(json.dumps(grid, indent=1))}</pre>",
        f"<pre>{html.escape(json.dumps(config, indent=1, sort_keys=True))}</pre>",
        f"<p>samplelab {html.escape(document['samplelab_version'])} · study file {html.escape(study.source)}</p>",
    ]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
    page += f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    markdown = [
        f"# {title}\n",
        f"**Question.** {study.description or '(no description)'}\n",
        f"**Runs.** {counts_text}.\n",
        "## Fitted laws and theory\n",
        _markdown_table(fit_rows(document)),
        "## Figures\n",
        *(f"![{figure.stem}]({figure.name})\n" for figure in figures),
        "## Cells\n",
        _markdown_table(cell_table(document)),
    ]
    md_path = out_dir / "summary.md"
    md_path.write_text("\n".join(markdown), encoding="utf-8")
    return html_path, md_path
