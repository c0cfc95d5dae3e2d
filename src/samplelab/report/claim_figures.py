"""One figure per claim, ``claim_<k>.png``: why its verdict came out as it did.

Every figure has a *verdict panel*: each value the claim measured (an exponent, a ratio ÷ x,
a rate, a paired difference, ...) as its estimate with its interval, against the region
the claim allows, shaded (margin included). A claim read against a grid key ``x`` also
has *data panels*, one per series (small multiples):

* an exponent (a fitted theory, a bound, a compare or a growth claim): the data needed (or
  the learning curve's medians) against x, the fitted law, and the laws the claim allows —
  a fan of exponents through the fit's centre, shaded. A growth claim adds the log law.
* a band: y ÷ x at each x with its interval and the band shaded; a median not reached
  within the grid drawn as an arrow up from what it is known to exceed.

Everything comes from the analysis document (``samplelab.analysis/2``).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from samplelab.analysis.claim_table import claim_symbol
from samplelab.analysis.text import EXPONENT_SYMBOL, point_text, threshold_key, threshold_text
from samplelab.report.plotting import plain_log_ticks, plt, save_figure
from samplelab.stats.powerlaw import fit_log_law_batch, predict
from samplelab.stats.verdict import Region

VERDICT_COLOUR = {"agrees": "#17702a", "disagrees": "#b3261e", "inconclusive": "#6b6b6b"}
REGION_COLOUR = "#4c9be8"
MAX_DATA_PANELS = 4
DATA_NEEDED = ("n_star", "km_median")


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def threshold_cells(document: dict, entry: dict) -> list[dict]:
    """The document's cells measured at the threshold a claim or fit ``entry`` reads."""
    fraction = entry.get("threshold_relative")
    if fraction is None:
        return document["cells"]
    return document.get("cells_at_threshold", {}).get(threshold_key(fraction), [])


def cell_data_needed(cell: dict, y: str, regime: str) -> tuple[float, float, float] | None:
    """A cell's data needed with its interval, ``(value, low, high)`` (``high`` may be inf); ``None``: not reached."""
    if y == "n_star":
        entry = cell.get("n_star") or {}
    elif regime == "fixed" and "interval_censored" in cell:
        low, high = cell["interval_censored"]["median_bracket"]
        return None if high is None else (high, low if low is not None else high, high)
    else:
        entry = cell["km"].get("0.5") or {}
    if entry.get("value") is None:
        return None
    low, high = entry["ci"]
    return entry["value"], entry["value"] if low is None else low, math.inf if high is None else high


def _series_points(document: dict, claim: dict, series: dict) -> np.ndarray:
    """``[P, 4]``: x, value, low, high of the cells of ``series`` (data needed), sorted by x."""
    rows = []
    for cell in threshold_cells(document, claim):
        point = cell["point"]
        if all(point.get(k) == v for k, v in series.items()):
            measured = cell_data_needed(cell, claim["y"], document["regime"])
            if measured is not None:
                rows.append((float(point[claim["x"]]), *measured))
    return np.array(sorted(rows), dtype=float).reshape(-1, 4)


def _fan(ax, law: str, params: dict, exponent: float, region: list, x: np.ndarray, colour: str, label: str) -> None:
    """The laws with the exponent anywhere in ``region``, through the fit's value at the centre of x, shaded."""
    grid = np.geomspace(x.min(), x.max(), 60)
    centre = float(np.exp(np.mean(np.log([x.min(), x.max()]))))
    sign = -1.0 if law == "power_offset" else 1.0  # a·x^(−α) + c falls with α
    offset = params.get("c", 0.0)
    level = float(predict(law, params, centre)) - offset
    span = max(abs(exponent), 1.0) * 2
    low, high = (
        (exponent - span if region[0] is None else region[0]),
        (exponent + span if region[1] is None else region[1]),
    )
    curves = [level * (grid / centre) ** (sign * g) + offset for g in (low, high)]
    ax.fill_between(grid, np.minimum(*curves), np.maximum(*curves), color=colour, alpha=0.15, lw=0, label=label)


def _draw_series(ax, x: np.ndarray, values: np.ndarray, lows: np.ndarray, highs: np.ndarray, colour: str, label: str):
    top = np.where(np.isfinite(highs), highs, values * 2)
    ax.errorbar(x, values, yerr=[values - lows, top - values], color=colour, marker="o", capsize=3, ls="none",
                label=label)  # fmt: skip


def _clip_to_data(ax, data: tuple[list[float], list[float]]) -> None:
    """Limit the panel to a factor 3 around the data ``(x, y)``, so that a fan with an open side does
    not swamp it, and label its ticks in plain numbers."""
    y = np.asarray(data[1], dtype=float)
    y = y[np.isfinite(y) & (y > 0)]
    if y.size:
        ax.set_ylim(y.min() / 3, y.max() * 3)
    plain_log_ticks(ax, data[0])


def _fit_panels(document: dict, claim: dict) -> list[dict]:
    """Data panels of a theory on a fitted law: one per series, with its fits (e.g. true and measured d)."""
    chosen = {(v["fit_index"], repr(v["series"])) for v in claim["values"]}
    fits = [f for f in document["fits"] if (f["fit_index"], repr(f["series"])) in chosen]
    panels: dict[str, dict] = {}
    for fit in fits:
        panel = panels.setdefault(repr(fit["series"]), {"title": point_text(fit["series"], ""), "fits": []})
        panel["fits"].append(fit)
    return list(panels.values())


def _draw_fit_panel(ax, panel: dict) -> tuple[list[float], list[float]]:
    """The panel of one series' fits; returns the data it drew, ``(x, y)``."""
    first = panel["fits"][0]
    x = np.array([p["x"] for p in first["points"]], dtype=float)
    y = np.array([p["y"] for p in first["points"]], dtype=float)
    if not x.size:
        ax.text(0.5, 0.5, first["status"], transform=ax.transAxes, ha="center")
        return [], []
    xs = np.unique(x)
    medians = np.array([np.median(y[x == v]) for v in xs])
    if xs.size < x.size:  # one value per run: the runs faint, their medians as markers
        ax.scatter(x, y, s=8, alpha=0.25, color="C0")
    ax.plot(xs, medians, "o", color="C0", label="measured (median over seeds)")
    symbol = EXPONENT_SYMBOL[first["exponent"]]
    for number, fit in enumerate(panel["fits"]):
        theory, estimate = fit["theory"], fit["parameters"].get(fit["exponent"])
        if fit["status"] != "ok" or estimate is None:
            continue
        params = {name: entry["value"] for name, entry in fit["parameters"].items()}
        if number == 0:
            grid = np.geomspace(xs.min(), xs.max(), 60)
            ax.plot(grid, predict(fit["law"], params, grid), color="C0", lw=1.2,
                    label=f"fitted: {symbol} = {estimate['value']:.3g}")  # fmt: skip
        if theory and theory["region"] is not None:
            which = ", ".join(f"{k} = {v:.3g}" for k, v in theory["variables"].items() if v is not None)
            _fan(ax, fit["law"], params, estimate["value"], theory["region"], xs, f"C{number + 1}",
                 f"allowed: {Region.from_limits(theory['region']).text(symbol)}" + (f" ({which})" if which else ""))  # fmt: skip
    return list(x), list(y)


def _claim_series_panels(document: dict, claim: dict) -> list[dict]:
    """Data panels of a claim on the exponent of data needed: one per series (both series of a compare)."""
    series = [v.get("series") or {} for v in claim["values"]]
    if claim["kind"] == "compare" and claim["values"]:
        return [{"title": "", "series": [claim["values"][0]["series"], claim["values"][0]["than"]]}]
    return [{"title": point_text(s, ""), "series": [s]} for s in series]


def _draw_claim_series_panel(ax, document: dict, claim: dict, panel: dict) -> tuple[list[float], list[float]]:
    """Data needed of the panel's series against x, their power laws and the allowed fan; returns the data, ``(x, y)``."""
    symbol, drawn_x, drawn = "γ", [], []
    for number, series in enumerate(panel["series"]):
        points = _series_points(document, claim, series)
        if not len(points):
            continue
        x, values, lows, highs = points.T
        drawn_x += list(x)
        drawn += [*values, *lows]
        colour = f"C{number}"
        name = point_text(series, "") if len(panel["series"]) > 1 else "measured"
        _draw_series(ax, x, values, lows, highs, colour, name)
        if len(x) < 2:
            continue
        own = [v for v in claim["values"] if v.get("series") == series and claim["kind"] != "compare"]
        estimate = own[0].get("estimate") if own else None  # the exponent the verdict read
        gamma = float(np.polyfit(np.log(x), np.log(values), 1)[0]) if estimate is None else float(estimate)
        params = {"a": float(np.exp(np.mean(np.log(values) - gamma * np.log(x)))), "gamma": gamma}
        grid = np.geomspace(x.min(), x.max(), 60)
        ax.plot(grid, predict("power", params, grid), color=colour, lw=1.2, label=f"power law: {symbol} = {gamma:.3g}")
        if claim["kind"] == "growth":
            law = fit_log_law_batch(x, values[None])  # as the claim fits it: relative error, a, b ≥ 0
            ax.plot(grid, law["a"][0] + law["b"][0] * np.log(grid), color=colour, lw=1.2, ls="--",
                    label="log law a + b·ln x")  # fmt: skip
        if claim["kind"] in ("growth", "bound", "equivalence") and claim["region"] is not None:
            _fan(
                ax,
                "power",
                params,
                gamma,
                claim["region"],
                x,
                "C2",
                f"allowed: {Region.from_limits(claim['region']).text(symbol)}",
            )
    return drawn_x, drawn


def _draw_band_panel(ax, claim: dict) -> tuple[list[float], list[float]]:
    """y ÷ x at each x with its interval, censored cells as arrows, the band shaded; returns its x (no y to clip to)."""
    values = [v for v in claim["values"] if "x" in v]
    reached = [v for v in values if not v.get("censored")]
    if reached:
        x = np.array([v["x"] for v in reached])
        est = np.array([v["estimate"] for v in reached])
        lows = np.array([v["interval"][0] if v["interval"][0] is not None else v["estimate"] for v in reached])
        highs = np.array([v["interval"][1] if v["interval"][1] is not None else math.inf for v in reached])
        _draw_series(ax, x, est, lows, highs, "C0", f"{claim['y']} ÷ x (interval)")
    for value in values:
        if value.get("censored"):
            ax.annotate("", xy=(value["x"], value["interval"][0] * 2), xytext=(value["x"], value["interval"][0]),
                        arrowprops={"arrowstyle": "->", "color": "C3"})  # fmt: skip
            ax.plot([value["x"]], [value["interval"][0]], "_", color="C3", ms=12)
    if any(v.get("censored") for v in values):
        ax.plot([], [], "_", color="C3", label="not reached: above")
    low, high = claim["region"]
    bottom, top = ax.get_ylim()
    ax.axhspan(low if low is not None else bottom, high if high is not None else top, color=REGION_COLOUR, alpha=0.15,
               label=f"allowed: {Region.from_limits(claim['region']).text('y ÷ x')}")  # fmt: skip
    return [v["x"] for v in values], []


def _draw_trend_panel(ax, claim: dict) -> tuple[list[float], list[float]]:
    """Each series' values at its cells (data needed) or series (exponents) in order, with the
    fitted trend — exp(a + b·rank), or a + b·rank for exponents; returns the y drawn."""
    ax.set_xscale("linear")
    exponents = claim.get("x") is not None
    if exponents:
        ax.set_yscale("linear")
        ax.set_ylabel(claim_symbol({**claim, "kind": "bound", "measures": "exponent"}))
    drawn = []
    for number, value in enumerate(claim["values"]):
        y = np.array([np.nan if v is None else v for v in value["y"]], dtype=float)
        rank = np.arange(len(y))
        ax.plot(rank, y, "o", color=f"C{number}", label=point_text(value["series"], "measured"))
        if value["estimate"] is not None:
            line = np.nanmean(y if exponents else np.log(y)) + value["estimate"] * (rank - rank.mean())
            ax.plot(rank, line if exponents else np.exp(line), color=f"C{number}", lw=1.2)
        ax.set_xticks(rank, value["order"], fontsize=7, rotation=30)
        drawn += list(y)
    ax.set_xlabel(f"{'series' if exponents else 'cells'} ordered by {claim['along']}")
    return [], [] if exponents else drawn  # exponents: a linear axis, left to matplotlib


def _value_label(claim: dict, value: dict) -> str:
    if "x" in value:
        return f"x = {value['x']:g}"
    if "than" in value and value["than"] is not None:
        return f"{point_text(value.get('series') or value.get('point') or {}, 'all')} vs {point_text(value['than'], 'all')}"
    if "reached" in value:
        return f"{value['reached']} of {value['seeds']} seeds"
    text = point_text(value.get("series") or value.get("point") or {}, "all runs")
    bound = ", ".join(f"{k} = {v:.3g}" for k, v in (value.get("variables") or {}).items() if v is not None)
    return f"{text} ({bound})" if bound else text


def _draw_verdict_panel(ax, claim: dict) -> None:
    """Each value's estimate and interval against the region the claim allows."""
    values = claim["values"]
    ends = [e for v in values for e in (v.get("estimate"), *(v.get("interval") or [None, None])) if _finite(e)]
    ends += [e for e in (claim["region"] or [None, None]) if _finite(e)]
    if not ends:
        ax.text(0.5, 0.5, claim.get("reason") or "nothing measured", transform=ax.transAxes, ha="center", wrap=True)
        ax.set_axis_off()
        return
    lo, hi = min(ends), max(ends)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.15 or 1.0
    lo, hi = lo - pad, hi + pad
    for row, value in enumerate(values):
        colour = VERDICT_COLOUR[value["verdict"]]
        interval = value.get("interval") or [None, None]
        if value.get("estimate") is None and not any(_finite(e) for e in interval):
            continue
        left = interval[0] if _finite(interval[0]) else lo
        right = interval[1] if _finite(interval[1]) else hi
        ax.plot([left, right], [row, row], color=colour, lw=2.5, solid_capstyle="butt")
        if _finite(value.get("estimate")):
            ax.plot([value["estimate"]], [row], "o", color=colour)
    for row, value in enumerate(values):  # one region for the claim, or each value's own (a theory per series)
        region = claim["region"] or value.get("region")
        if region is not None and (claim["region"] is None or row == 0):
            low, high = (lo if region[0] is None else region[0]), (hi if region[1] is None else region[1])
            rows = (row - 0.4, row + 0.4) if claim["region"] is None else (-0.5, len(values) - 0.5)
            ax.fill_between([low, high], *rows, color=REGION_COLOUR, alpha=0.25 if claim["region"] is None else 0.15)
    ax.set_xlim(lo, hi)
    labels = ["\n".join(textwrap.wrap(_value_label(claim, v), 30)) for v in values]
    ax.set_yticks(range(len(values)), labels, fontsize=7)
    ax.set_ylim(len(values) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel(claim_symbol(claim), fontsize=8)
    ax.set_title("interval (bar), estimate (dot), allowed (shaded)", fontsize=8)


def plot_claim(document: dict, claim: dict, path: Path) -> Path:
    """The figure of one claim of ``document``: data panels (when it reads y against x) and its verdict panel."""
    if claim["source"] == "fit":
        panels, draw = _fit_panels(document, claim), _draw_fit_panel
    elif claim["kind"] in ("band", "trend"):
        panels, draw = [{"title": ""}], None
    elif claim["x"] is not None and claim["y"] in DATA_NEEDED and claim["measures"] in ("exponent", "growth"):
        panels, draw = _claim_series_panels(document, claim), None
    else:
        panels, draw = [], None
    panels = panels[:MAX_DATA_PANELS]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4.2 * len(panels) + 5.2, 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=False):
        ax.set(xscale="log", yscale="log", xlabel=claim["x"] or "")
        if draw is not None:
            drawn = draw(ax, panel)
        elif claim["kind"] == "band":
            drawn = _draw_band_panel(ax, claim)
        elif claim["kind"] == "trend":
            drawn = _draw_trend_panel(ax, claim)
        else:
            drawn = _draw_claim_series_panel(ax, document, claim, panel)
        _clip_to_data(ax, drawn)
        ax.set_title(panel["title"], fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    _draw_verdict_panel(axes[0][-1], claim)
    title = claim["label"] + threshold_text(claim)
    width = 25 * (len(panels) + 1) + 20  # characters a line of the title can take
    fig.suptitle("\n".join(textwrap.wrap(f"{title} — {claim['verdict']}", width)), fontsize=10,
                 color=VERDICT_COLOUR[claim["verdict"]])  # fmt: skip
    return save_figure(fig, path)


def write_claim_figures(document: dict, out_dir: Path) -> list[Path]:
    """``claim_<k>.png`` for every claim of the document (k from 1, in the claim table's order)."""
    return [
        plot_claim(document, claim, Path(out_dir) / f"claim_{number}.png")
        for number, claim in enumerate(document.get("claims", []), start=1)
    ]
