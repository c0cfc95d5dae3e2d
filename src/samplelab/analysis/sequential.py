"""A study's claims judged by its sequential design (docs/analysis.md, "Sequential design").

Look k reads the runs of the study's first ``looks[k]`` seeds (the last look: all of them)
and judges every claim still open at confidence 1 − αₖ (:mod:`samplelab.stats.sequential`).
A claim stops at the first look whose verdict is decided, or whose projected last-look
interval could not decide it (futile), or at the last look. A look whose runs are not all
stored for a claim's cells — its budget was spent, or it is not trained yet — ends the
claim at the look before it (``budget``; ``failed`` where every missing run failed every
attempt). With bisected sizes (:mod:`samplelab.analysis.bisection`) a look needs only the
runs its bisection asks for: it is complete when no probe is left.

The judgement reads the store alone, and a look reads only its own seeds: a study run until
decided and the same study run whole get the same verdicts, and the planner
(:mod:`samplelab.sweep.sequential`) decides each look's runs from what the looks before
it read, so a resumed run plans exactly what an uninterrupted one did.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scipy.stats import t

from samplelab.analysis.bisection import next_probes
from samplelab.analysis.claims import theory_fits
from samplelab.analysis.judging import Judgement, judge_claims, theory_verdicts_as_judged
from samplelab.analysis.runs import StudyRuns
from samplelab.spec.analysis import AnalysisConfig
from samplelab.spec.claims import point_matches
from samplelab.spec.study import REFINEMENT_KEY, Study, cell_point
from samplelab.stats.sequential import FUTILITY, decision_probability, rate_decision_probability, spending
from samplelab.stats.verdict import Region

EXACT_KINDS = ("reached", "not_reached")  # exact binomial intervals: valid at any number of seeds


@dataclass(frozen=True)
class Look:
    """One look: its number (1-based), the seeds it reads and the error rate it spends."""

    number: int
    seeds: tuple[int, ...]
    alpha: float


@dataclass(frozen=True)
class SequentialState:
    """The claims after the looks judged so far: each claim's document at the look it stopped
    (or its latest, while open), and the cells of the claims still open."""

    claims: list[dict]
    open_cells: set[tuple]


def study_seeds(study: Study) -> list[int]:
    """The study's seeds in the order its file lists them."""
    return list(dict.fromkeys(spec.seed for spec in study.runs))


def study_looks(study: Study, analysis: AnalysisConfig | None = None) -> list[Look]:
    """The looks of ``analysis.sequential`` (default: the study's) over the study's seeds."""
    analysis = analysis or study.analysis
    seeds = study_seeds(study)
    counts = [*analysis.sequential.looks, len(seeds)]
    alphas = spending(len(counts) - 1, 1 - analysis.confidence, analysis.sequential.alpha)
    return [
        Look(i + 1, tuple(seeds[:count]), alpha) for i, (count, alpha) in enumerate(zip(counts, alphas, strict=True))
    ]


def _keyed(claims: list[dict], analysis: AnalysisConfig) -> list[tuple[tuple, dict, list[dict]]]:
    """Each claim with a key stable across looks and the grid points that select its cells."""
    keyed, index = [], 0
    for claim in claims:
        if claim["source"] == "claim":
            config = analysis.claims[index]
            index += 1
            selectors = [w for w in (config.where, config.than, config.control) if w is not None]
            keyed.append((("claim", index), claim, selectors))
        else:
            indices = [v["fit_index"] for v in claim["values"]] or theory_fits(analysis, claim)
            selectors = [analysis.fits[i].where for i in indices]
            keyed.append((("fit", claim["label"], claim["threshold_relative"]), claim, selectors))
    return keyed


def _cells(study: Study, selectors: list[dict]) -> set[tuple]:
    return {cell_point(s.point) for s in study.runs if any(point_matches(s.point, w) for w in selectors)}


def futile(claim: dict, look: Look, last: Look, delta: float = 0.1) -> bool:
    """Whether the last look is predicted to decide none of the claim's values with
    probability ``FUTILITY`` or more (:func:`samplelab.stats.sequential.decision_probability`;
    a rate claim's exactly, :func:`~samplelab.stats.sequential.rate_decision_probability`);
    never for a blocked claim, a value without an estimate or one with an open end (a median
    not reached may close with more seeds). ``delta``: the analysis' δ (a ``not_reached``
    claim's control must reach in ≥ 1 − δ of its runs)."""
    if claim["reason"] or not claim["values"]:
        return False
    claim_region = Region.from_limits(claim["region"])
    if claim["kind"] in EXACT_KINDS:
        return max(_rate_chance(claim, value, claim_region, look, last, delta) for value in claim["values"]) < FUTILITY
    quantile = t.ppf(1 - look.alpha / 2, len(look.seeds) - 1)
    chances = []
    for value in claim["values"]:
        region = Region.from_limits(value.get("region")) or claim_region
        fitted = value.get("log_minus_power_fit")
        if fitted is not None:  # growth: γ within ±margin, or D above 0
            entries = [(value, Region(-claim["margin"], claim["margin"])), (fitted, Region(low=0.0))]
        else:
            entries = [(value, region)]
        for entry, allowed in entries:
            estimate, interval = entry.get("estimate"), entry.get("interval")
            if value.get("reason") or estimate is None or allowed is None or interval is None or None in interval:
                return False
            seeds = (len(look.seeds), len(last.seeds))
            edges = (allowed.low, allowed.high)
            chances.append(decision_probability(estimate, interval, edges, seeds, quantile, last.alpha))
    return max(chances) < FUTILITY


def _rate_chance(claim: dict, value: dict, region: Region, look: Look, last: Look, delta: float) -> float:
    """The last look's predicted chance of deciding one rate value: each rate's runs grow
    from its cells × this look's seeds to its cells × the last look's."""
    rates = [value["control"], value] if claim["kind"] == "not_reached" else [value]
    counts = [(rate["reached"], rate["seeds"], max(rate["seeds"], rate["cells"] * len(last.seeds))) for rate in rates]
    floor = 1 - delta if claim["kind"] == "not_reached" else None
    return rate_decision_probability(counts, region, last.alpha, floor)


def judge_looks(
    runs: StudyRuns, analysis: AnalysisConfig, seed: int = 0, through: int | None = None
) -> SequentialState:
    """Judge the claims at looks 1 … ``through`` (default: all) — see the module docstring."""
    study = runs.study
    looks = study_looks(study, analysis)
    last = looks[-1]
    stored = {record.run_key for record in runs.records}
    final: dict[tuple, dict] = {}
    cells: dict[tuple, set[tuple]] = {}
    open_keys: set[tuple] | None = None
    for look in looks[: len(looks) if through is None else through]:
        if open_keys is not None and not open_keys:
            break
        chosen = set(look.seeds)
        interim = look.number < last.number  # refinement runs (samplelab refine) count at the last look only
        kept = [r for r in runs.records if r.seed in chosen and not (interim and REFINEMENT_KEY in r.point)]
        restricted = StudyRuns(study, kept, runs.thresholds)
        at_level = look_analysis(analysis, look, last)
        judged = judge_claims(restricted, at_level, seed, any_level=True)
        seen = set()
        for key, claim, selectors in _keyed(judged.claims, analysis):
            seen.add(key)
            if open_keys is not None and key not in open_keys:
                continue
            cells.setdefault(key, _cells(study, selectors))
            missing = _missing(study, runs, analysis, chosen, cells[key], stored)
            failed = len(missing) if missing and missing <= runs.failed else 0  # else a budget stopped the look
            decision = look_decision(claim, look, last, analysis.sequential.futility, analysis.delta)
            stopped = decision if not missing else "budget"
            if stopped == "budget" and key in final:  # judged at the look before: undecided there
                final[key]["sequential"]["stopped"] = "failed" if failed else "budget"
                if failed:
                    reasons = [final[key]["reason"], _failed_reason(failed, look)]
                    final[key]["reason"] = "; ".join(r for r in reasons if r)
                continue
            if stopped == "budget":
                stopped = "failed" if failed else "incomplete"
                reason = _failed_reason(failed, look) if failed else f"look {look.number}'s runs are not all stored"
                claim.update(verdict="inconclusive", reason=reason)
            elif stopped in ("open", "futile") and claim["verdict"] != "inconclusive":
                claim.update(verdict="inconclusive", reason="an interim look decides only on two-sided intervals")
            interval = "exact" if claim["kind"] in EXACT_KINDS else at_level.interval
            claim["sequential"] = _look_json(look, len(looks), stopped, interval)
            final[key] = claim
        open_keys = {
            k for k in (seen if open_keys is None else open_keys) if final[k]["sequential"]["stopped"] == "open"
        }
    open_cells = set().union(*(cells[k] for k in open_keys or ()))
    return SequentialState(list(final.values()), open_cells)


def _missing(
    study: Study, runs: StudyRuns, analysis: AnalysisConfig, seeds: set[int], cells: set[tuple], stored: set[str]
) -> set[str]:
    """Keys of the runs a look needs in ``cells`` that are not stored: every size of its
    seeds, or with bisected sizes the next probes (:mod:`samplelab.analysis.bisection`)."""
    specs = [s for s in study.runs if s.seed in seeds and cell_point(s.point) in cells]
    if analysis.bisected:
        return {s.key for s in next_probes(specs, runs, analysis.threshold_fractions)}
    return {s.key for s in specs if s.key not in stored}


def _failed_reason(failed: int, look: Look) -> str:
    return f"{failed} of look {look.number}'s runs failed every attempt (the store's failed_runs table)"


def two_sided(claim: dict) -> bool:
    """Whether every value (and a growth claim's D) has an estimate and an interval with both
    ends finite and apart from it. A grid's discrete medians from few seeds often give an
    interval that ends at its estimate — no resample moved it that way, and no factor widens
    a zero width — or a median not reached gives an open end: an interim look decides on
    neither."""
    for value in claim["values"]:
        for entry in (value, value.get("log_minus_power_fit")):
            if entry is None:
                continue
            estimate, interval = entry.get("estimate"), entry.get("interval")
            if estimate is None or interval is None or None in interval:
                return False
            if any(abs(end - estimate) <= 1e-12 * max(1.0, abs(estimate)) for end in interval):
                return False
    return bool(claim["values"])


def look_decision(claim: dict, look: Look, last: Look, futility: bool = True, delta: float = 0.1) -> str:
    """Where a claim judged at ``look`` (with :func:`look_analysis`' intervals) stands: ``decided``; at an interim look ``futile`` or ``open``; else ``last look``. An
    interim look decides only a claim that names no reason to doubt it, on two-sided
    intervals (:func:`two_sided`) or exact rate intervals."""
    interim, exact = look.number < last.number, claim["kind"] in EXACT_KINDS
    if claim["verdict"] != "inconclusive" and (not interim or (not claim["reason"] and (exact or two_sided(claim)))):
        return "decided"
    if not interim:
        return "last look"
    return "futile" if futility and futile(claim, look, last, delta) else "open"


def look_analysis(analysis: AnalysisConfig, look: Look, last: Look) -> AnalysisConfig:
    """The settings a look judges with: its own level, and at an interim look Student's
    intervals (:func:`samplelab.stats.bootstrap.student_interval`; exact rate intervals keep theirs)."""
    update = {"confidence": 1 - look.alpha}
    if look.number < last.number:
        update["interval"] = "student"
    return analysis.model_copy(update=update)


def _look_json(look: Look, looks: int, stopped: str, interval: str) -> dict:
    return {
        "look": look.number,
        "looks": looks,
        "seeds": len(look.seeds),
        "alpha": look.alpha,
        "confidence": 1 - look.alpha,
        "interval": interval,
        "stopped": stopped,
    }


def sequential_judgement(runs: StudyRuns, analysis: AnalysisConfig, seed: int = 0) -> Judgement:
    """The document's judgement of a sequential study: cells and fits of every stored run,
    and each claim as its look judged it (with its ``sequential`` entry)."""
    whole = judge_claims(runs, analysis, seed)
    claims = judge_looks(runs, analysis, seed).claims
    theory_verdicts_as_judged(whole.fits, claims)
    return replace(whole, claims=claims)


def fixed_judgement(runs: StudyRuns, analysis: AnalysisConfig, seed: int = 0) -> Judgement:
    """The document's judgement of a fixed design: every claim on all its runs, except that a
    claim whose cells miss runs that are neither stored nor failed (a ``--max-minutes``
    budget, or a run interrupted and not yet resumed) is inconclusive: judging it on the
    seeds and sizes that happen to be stored would be judging another design."""
    judged = judge_claims(runs, analysis, seed)
    study, stored = runs.study, {record.run_key for record in runs.records}
    for _, claim, selectors in _keyed(judged.claims, analysis):
        cells = _cells(study, selectors)
        needed = {s.key for s in study.runs if cell_point(s.point) in cells}
        unstored = needed - stored - runs.failed
        if unstored:
            claim.update(
                verdict="inconclusive",
                reason=f"{len(unstored)} of the {len(needed)} runs it reads are not stored (a budget, or a run not "
                "finished): run the study again to finish it",
            )
    return judged
