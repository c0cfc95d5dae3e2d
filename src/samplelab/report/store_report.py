"""The report of a whole store: every study it holds, from the study files it keeps.

``samplelab run`` records each study's TOML in the store (table ``study_files``), so this
report needs nothing but the store: each study is re-expanded from its stored text, its
runs analysed and drawn, and the report opens with the claim table of all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from samplelab.analysis.claim_table import claim_rows
from samplelab.analysis.document import analyze_study
from samplelab.analysis.runs import StudyRuns, load_study_runs
from samplelab.ledger.store import ResultStore
from samplelab.report.figures import figures_left_out, write_figures
from samplelab.report.html import study_section, write_report
from samplelab.spec.study import Study


@dataclass(frozen=True)
class StoreReport:
    """What :func:`write_store_report` wrote and found."""

    html: Path
    markdown: Path
    claims: list[dict[str, str]]  # the claim table: study, claim, measured, expected, verdict
    studies: list[str]  # "name [profile]" of each study reported
    skipped: list[str]  # "name [profile]: no stored runs" of each study left out
    figures_left_out: list[str]  # figures that need a trained model, and the command that makes each


def write_store_report(
    store: ResultStore,
    out_dir: Path,
    studies: list[Study],
    on_study: Callable[[Study], None] | None = None,
    on_runs: Callable[[StudyRuns, Path], object] | None = None,
) -> StoreReport:
    """Analyse and draw those of ``studies`` with runs in ``store`` (e.g. :func:`stored_studies`);
    write ``out_dir/report.html`` and ``summary.md``, and each study's figures under
    ``out_dir/<study>-<profile>/``. ``on_study`` is called before each study is analysed;
    ``on_runs(runs, figure_dir)`` with its runs, before its figures are drawn (a caller that
    trains, e.g. ``samplelab reproduce``, draws the figures that retrain a run there)."""
    out_dir = Path(out_dir)
    sections, claims, reported, skipped, left_out = [], [], [], [], []
    for study in studies:
        if on_study is not None:
            on_study(study)
        runs = load_study_runs(study, store)
        document = analyze_study(runs)
        if not runs.records:  # in the claim table all the same: each claim says its runs are not stored
            skipped.append(f"{study.name} [{study.profile}]: no stored runs, so no section (its claims are listed)")
            claims.extend(claim_rows(document))
            continue
        figure_dir = out_dir / f"{study.name}-{study.profile}"
        if on_runs is not None:
            on_runs(runs, figure_dir)
        figures = write_figures(runs, figure_dir, document)
        left_out += figures_left_out(runs, figure_dir, store.path)
        sections.append(study_section(runs, document, figures, out_dir, level=2))
        claims.extend(claim_rows(document))
        reported.append(f"{study.name} [{study.profile}]")
    html_path, md_path = write_report(f"samplelab report: {len(reported)} studies", sections, out_dir, claims)
    return StoreReport(html_path, md_path, claims, reported, skipped, left_out)
