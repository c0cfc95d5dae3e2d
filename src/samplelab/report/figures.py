"""Figures of a study, drawn only from stored runs (PNG, matplotlib's Agg backend).

* ``claim_<k>.png``: one per claim, why its verdict came out so (:mod:`samplelab.report.claim_figures`).
* ``metric_vs_train_size.png`` (fixed regime, more than one training-set size) and ``learning_curves.png`` (when its small
  multiples stay readable): :mod:`samplelab.report.curves`.
* ``data_to_threshold.png`` (when the analysis reads the data needed, or states nothing):
  data needed to reach the threshold vs the cell's grid value,
  one dot per seed (censored seeds as open triangles above the data); the Kaplan–Meier
  median and n* with CIs and the fitted n* law when an analysis is given (else the plain
  median); for a ``task.set_size`` axis, reference lines at 4·N and 8·N (seed 000's claim).
* ``model_selection.png`` (studies with ``[analysis.model_selection]``): per series, the
  fraction of seeds whose final test metric is at or below ε vs training-set size for the
  selected, largest and oracle strategies, with n* marked; and how often each candidate is
  chosen by validation loss at each size.
* ``fits.png`` (studies whose ``[analysis]`` fits KM medians or n* per series): each
  series' statistic with its CI against the fit's x, at the threshold the fit reads (one
  series per threshold), the fitted power law, and γ with its CI beside the theory's
  verdict in the legend.
* ``metric_vs_sparsity.png`` and ``train_test_curves.png`` (studies with ``[analysis]
  outcomes = true``): see :mod:`samplelab.report.outcomes`.
* ``attention_map.png`` (studies with a model that has ``attention_map``, e.g.
  ``attention_mlp``): seed 001's ``|W_Q W_Kᵀ|`` per head of one retrained run. A report
  never trains: it embeds the figure when ``samplelab attention-map`` has drawn it into the
  figure folder, and otherwise names it in :func:`figures_left_out` with that command.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import NullFormatter, ScalarFormatter

from samplelab.analysis.cells import cell_rows
from samplelab.analysis.runs import StudyRuns, mapped_run
from samplelab.analysis.text import point_text, threshold_text
from samplelab.report.attention_map import ATTENTION_MAP, drawn_attention_map
from samplelab.report.claim_figures import DATA_NEEDED, cell_data_needed, threshold_cells, write_claim_figures
from samplelab.report.curves import curve_layout, plot_learning_curves, plot_metric_vs_train_size
from samplelab.report.laws import plot_metric_laws
from samplelab.report.outcomes import write_outcome_figures
from samplelab.report.plotting import error_bars, plain_log_ticks, plt, save_figure


def point_label(keys: list[str], cell: tuple) -> str:
    return point_text(dict(zip(keys, cell, strict=True)))


def reads_data_needed(document: dict) -> bool:
    """Whether a study's analysis reads the data needed (n*, KM median) or whether runs reach the
    threshold anywhere, or states nothing at all (then every measure is shown): a study about
    outcomes at fixed n does not."""
    fits, claims = document.get("fits", []), document.get("claims", [])
    if not fits and not claims:
        return True
    reads = [c for c in claims if c["kind"] in ("reached", "not_reached") or (c.get("x") and c.get("y") in DATA_NEEDED)]
    return any(f["y"] in DATA_NEEDED for f in fits) or bool(reads)


def _draw_statistics(ax, document: dict, x_of, numeric: bool, ceiling: float) -> None:
    """KM medians and n* with their CIs, and the fitted n* law, from an analysis document."""
    level = f"{document['settings']['confidence']:.0%}"
    for key, label, color, shift in (("km", "Kaplan–Meier median", "C0", -1), ("n_star", "n*(ε, δ)", "C1", 1)):
        cells = [c for c in document["cells"] if (c["km"]["0.5"] if key == "km" else c["n_star"] or {}).get("value")]
        if not cells:
            continue
        entries = [c["km"]["0.5"] if key == "km" else c["n_star"] for c in cells]
        values, lows, highs = error_bars(entries, ceiling)
        xs = [x_of(c["point"]) * (1 + 0.03 * shift) if numeric else x_of(c["point"]) + 0.08 * shift for c in cells]
        ax.errorbar(xs, values, yerr=[lows, highs], color=color, marker="o", capsize=3, label=f"{label} ({level} CI)")
    for fit in document["fits"] if numeric else []:
        at_study_threshold = fit.get("threshold_relative") is None  # the cells drawn here are at the study's
        if (
            fit["y"] != "n_star"
            or fit["status"] != "ok"
            or fit["law"] != "power"
            or fit["series"]
            or not at_study_threshold
        ):
            continue
        gamma = fit["parameters"]["gamma"]
        xs = np.geomspace(min(p["x"] for p in fit["points"]), max(p["x"] for p in fit["points"]), 50)
        low, high = gamma["ci"]
        ax.plot(
            xs,
            fit["parameters"]["a"]["value"] * xs ** gamma["value"],
            color="C1",
            lw=1,
            alpha=0.7,
            label=f"n* fit: γ = {gamma['value']:.2f} [{low:.2f}, {high:.2f}]",
        )


def plot_data_to_threshold(runs: StudyRuns, path: Path, document: dict | None = None) -> Path:
    """Data needed per cell: against the cell's value when one numeric key defines cells, else per cell.

    With an analysis ``document`` (:func:`samplelab.analysis.document.analyze_study`) it draws KM
    medians and n* with CIs and the fitted n* law; without, the plain median over seeds.
    """
    keys = runs.cell_keys
    rows = cell_rows(runs)
    numeric = len(keys) == 1 and all(isinstance(row[keys[0]], int | float) and row[keys[0]] > 0 for row in rows)
    if numeric:
        rows.sort(key=lambda row: row[keys[0]])

        def x_of(point: dict) -> float:
            return point[keys[0]]
    else:
        order = {tuple(row[k] for k in keys): index + 1 for index, row in enumerate(rows)}

        def x_of(point: dict) -> float:
            return order[tuple(point[k] for k in keys)]

    reached = [v for row in rows for v in row["per_seed"].values() if v is not None]
    ceiling = (max(reached) if reached else 1) * 2
    fig, ax = plt.subplots(figsize=(7, 4.5))
    any_missed = False
    for row in rows:
        values = list(row["per_seed"].values())
        x = x_of(row)
        # Seeds spread slightly sideways so that equal values stay visible.
        offsets = np.linspace(-0.5, 0.5, len(values))
        spread = x * (1 + 0.06 * offsets) if numeric else x + 0.2 * offsets
        hit = [(x, v) for x, v in zip(spread, values, strict=True) if v is not None]
        ax.scatter([x for x, _ in hit], [v for _, v in hit], color="C0", alpha=0.6, s=18)
        missed = [x for x, v in zip(spread, values, strict=True) if v is None]
        if missed:
            any_missed = True
            ax.scatter(missed, [ceiling] * len(missed), marker="^", facecolors="none", edgecolors="C3", s=30)
    if document is None:
        with_median = [row for row in rows if row["median"] is not None]
        ax.plot(
            [x_of(row) for row in with_median],
            [row["median"] for row in with_median],
            color="C0",
            marker="o",
            label="median over seeds",
        )
    else:
        _draw_statistics(ax, document, x_of, numeric, ceiling)
    if numeric and keys[0] == "task.set_size" and runs.regime == "fixed":
        xs = np.array([row[keys[0]] for row in rows], dtype=float)
        ax.plot(xs, 4 * xs, "k:", lw=1, label="4·N (seed 000)")
        ax.plot(xs, 8 * xs, "k--", lw=1, label="8·N (seed 000)")
    if any_missed:
        ax.scatter(
            [], [], marker="^", facecolors="none", edgecolors="C3", label="not reached (censored, drawn at 2× max)"
        )
    measure = "training-set size to threshold" if runs.regime == "fixed" else "samples to threshold"
    ax.set_yscale("log")
    if numeric:
        ax.set(xscale="log", xlabel=keys[0])
        ax.set_xticks([row[keys[0]] for row in rows])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_xticks(range(1, len(rows) + 1), [point_label(keys, tuple(row[k] for k in keys)) for row in rows])
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set(ylabel=measure, title=f"{runs.study.name}: {measure}")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


_STRATEGY_STYLE = {"selected": ("C0", "o-"), "largest": ("C3", "s--"), "oracle": ("0.5", ":")}


def plot_fits(document: dict, path: Path) -> Path | None:
    """Each fitted series (y = n_star or km_median, law = power) with CIs and its law."""
    fits = [f for f in document["fits"] if f["y"] in ("n_star", "km_median") and f["law"] == "power"]
    if not fits:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for number, fit in enumerate(fits):
        color = f"C{number % 10}"
        cells = threshold_cells(document, fit)
        cells = [c for c in cells if all(c["point"].get(k) == v for k, v in fit["series"].items())]
        entries = [(c["point"][fit["x"]], cell_data_needed(c, fit["y"], document["regime"])) for c in cells]
        entries = sorted((x, {"value": e[0], "ci": [e[1], e[2] if np.isfinite(e[2]) else None]})
                         for x, e in entries if e is not None)  # fmt: skip
        label = point_text({k: v for k, v in fit["series"].items() if not k.startswith("training.")}, fit["y"])
        label += threshold_text(fit)
        if fit["status"] == "ok":
            gamma = fit["parameters"]["gamma"]
            low, high = gamma["ci"]
            label += f": γ = {gamma['value']:.2f} [{low:.2f}, {high:.2f}]"
            xs = np.geomspace(min(p["x"] for p in fit["points"]), max(p["x"] for p in fit["points"]), 50)
            ax.plot(xs, fit["parameters"]["a"]["value"] * xs ** gamma["value"], color=color, lw=1, alpha=0.7)
        if fit["theory"]:
            label += f" (theory {fit['theory']['label'] or fit['theory']['expression']}: {fit['theory']['verdict']})"
        if entries:
            ceiling = max(e["value"] for _, e in entries) * 2
            values, lows, highs = error_bars([e for _, e in entries], ceiling)
            ax.errorbar([x for x, _ in entries], values, yerr=[lows, highs], color=color, marker="o", capsize=3,
                        linestyle="none", label=label)  # fmt: skip
        for x in fit["censored_x"]:
            ax.scatter([x], [ax.get_ylim()[1]], marker="^", facecolors="none", edgecolors=color)
    measure = " and ".join(sorted({"n*(ε, δ)" if f["y"] == "n_star" else "median data needed" for f in fits}))
    ax.set(xscale="log", yscale="log", xlabel=fits[0]["x"], ylabel=measure)
    plain_log_ticks(ax, sorted({c["point"][fits[0]["x"]] for c in document["cells"]}))
    ax.set_title(f"{document['study']}: fitted power laws ({document['settings']['confidence']:.0%} CIs)", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(*ax.get_legend_handles_labels(), fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save_figure(fig, path)


def plot_model_selection(selections: list[dict], path: Path, delta: float) -> Path:
    """Success rate vs n per strategy (left) and the candidates chosen (right), per series."""
    fig, axes = plt.subplots(len(selections), 2, figsize=(11, 4 * len(selections)), squeeze=False)
    for (left, right), entry in zip(axes, selections, strict=True):
        sizes = np.array(entry["sizes"], dtype=float)
        series = point_text(entry["series"], empty="")
        for name, (color, style) in _STRATEGY_STYLE.items():
            estimate = entry["n_star"][name]
            label = name + ("" if estimate["value"] is None else f" (n* = {estimate['value']:.0f})")
            left.plot(sizes, estimate["success_rate"], style, color=color, label=label)
            if estimate["value"] is not None:
                left.axvline(estimate["value"], color=color, linewidth=0.8, alpha=0.6)
        left.axhline(1 - delta, color="k", linestyle=":", linewidth=0.8, label=f"1 − δ = {1 - delta:g}")
        left.set(xscale="log", xlabel="training examples n", ylabel="fraction of seeds ≤ ε", ylim=(-0.03, 1.03))
        left.set_title(f"model selection by validation loss {series}".strip(), fontsize=10)
        left.legend(fontsize=8)
        bottom = np.zeros(len(sizes))
        for label, fractions in entry["chosen_fraction"].items():
            right.bar(np.arange(len(sizes)), fractions, bottom=bottom, label=label)
            bottom += np.asarray(fractions)
        right.set_xticks(np.arange(len(sizes)), [f"{n:g}" for n in sizes])
        right.set(xlabel="training examples n", ylabel="fraction of seeds choosing", ylim=(0, 1))
        right.set_title("candidate chosen (" + ", ".join(entry["candidates"]) + ")", fontsize=10)
        right.legend(fontsize=8, title="candidate", title_fontsize=8)
    return save_figure(fig, path)


def write_figures(runs: StudyRuns, out_dir: Path, document: dict | None = None) -> list[Path]:
    """Every figure that applies to the study; returns the paths written.

    ``document`` is the study's analysis (adds CIs and fitted laws where a figure has them).
    """
    out_dir = Path(out_dir)
    paths = []
    paths += write_claim_figures(document, out_dir) if document else []
    if runs.regime == "fixed" and len({r.n_train for r in runs.records}) > 1:
        paths.append(plot_metric_vs_train_size(runs, out_dir / "metric_vs_train_size.png"))
    if curve_layout(runs).readable:
        paths.append(plot_learning_curves(runs, out_dir / "learning_curves.png"))
    if document is None or reads_data_needed(document):
        paths.append(plot_data_to_threshold(runs, out_dir / "data_to_threshold.png", document))
    fitted = plot_fits(document, out_dir / "fits.png") if document else None
    if fitted is not None:
        paths.append(fitted)
    laws = plot_metric_laws(document, out_dir / "laws.png") if document else None
    if laws is not None:
        paths.append(laws)
    attention_map = _attention_map(runs, out_dir)  # drawn by `samplelab attention-map`: a report never trains
    if attention_map is not None:
        paths.append(attention_map)
    selections = [entry for entry in (document or {}).get("model_selection", []) if entry.get("status") == "ok"]
    if selections:
        paths.append(plot_model_selection(selections, out_dir / "model_selection.png", document["settings"]["delta"]))
    return paths + write_outcome_figures(runs, document, out_dir)


def _attention_map(runs: StudyRuns, out_dir: Path) -> Path | None:
    chosen = mapped_run(runs)
    return None if chosen is None else drawn_attention_map(out_dir, chosen[0].key)


def figures_left_out(runs: StudyRuns, out_dir: Path, store: Path) -> list[str]:
    """Figures that apply to the study but need a trained model, which a report never trains
    (missing, or drawn from another run): one line each, with the command that makes it."""
    chosen = mapped_run(runs)
    if chosen is None or drawn_attention_map(out_dir, chosen[0].key) is not None:
        return []
    study = runs.study
    profile = "" if study.profile == "default" else f" --profile {study.profile}"  # "default": the base profile
    return [
        f"{study.name} [{study.profile}]: {ATTENTION_MAP} (retrains a run) — make it with `samplelab attention-map "
        f"{study.source}{profile} --store {store} --out {out_dir}`"
    ]
