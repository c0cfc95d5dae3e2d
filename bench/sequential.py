"""The sequential design against the fixed one: simulated studies, then the quick studies trained both ways.

    python bench/sequential.py --simulated               # simulated studies only (no training)
    python bench/sequential.py --trained                 # each quick study of the plan, fixed then sequential
    python bench/sequential.py --trained --only qstr_simple qstr_heads
    python bench/sequential.py --simulated --seeds 8 16 32 64   # when does it pay? more seeds, same looks' shares

**Simulated** (bench/calibration.py's designs and noise: a seed's need at x is
``y(x)·exp(seed_sd·z_seed + cell_sd·z_cell)``, read on the study's own grid or evaluations).
Each study is judged twice on the same draws: the fixed design, all seeds at 95%; and the
sequential design of the study's ``[analysis.sequential]``, with the analysis' own rules
(Student's intervals at interim looks, :func:`samplelab.analysis.sequential.look_decision`).
Both widen by the design's calibrated exponent factor. The claim is a bound γ ≥ 1 with margin
0.25 (allowed: γ ≥ 0.75), at true exponents from 0.25 to 2: at 0.75 (the edge) a
*disagrees* is wrong, at 0.5 and below an *agrees* is. Printed per design and truth: each
design's verdicts, how often the two agree, the wrong-verdict rates, and the seeds used.
With ``--seeds``, the same designs with S seeds instead of the study's (fixed design: S seeds
at 95%, widened by no factor, as the study's calibration was measured at its own seeds) and
sequential designs of one interim look at S/2 (the default spending, then α split equally
between the two looks) and of three at S/4, S/2, 3S/4 (default spending): how the saving
grows with the seeds a study can spend.

**Trained**: each quick study of ``studies/reproduce.toml`` into two fresh stores, run whole
(``samplelab run``) and until decided (``--until-decided``), one after the other on this
machine; printed: runs, model-steps, wall time and each claim's verdict both ways (the
fixed design judged at 95% on all its seeds, the sequential one as its looks judged it).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration import Design, _cells, _medians, _truth_scale, design_of
from calibration_tally import STUDIES
from samplelab.analysis.calibration import _entries
from samplelab.analysis.resample import SeedResampler
from samplelab.analysis.sequential import Look, look_decision, study_looks
from samplelab.spec.study import load_study
from samplelab.stats.bootstrap import seed_interval
from samplelab.stats.powerlaw import fit_with_replicates
from samplelab.stats.sequential import spending
from samplelab.stats.verdict import Region, verdict

REGION = Region.of(above=1.0, margin=0.25)
TRUTHS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
DESIGNS = [  # (study file, x, series): the data-needed designs of the quick plan
    ("setfind2_setsize.toml", "task.set_size", None),
    ("qstr_hierarchy.toml", "task.seq_len", "transformer"),
    ("qstr_hierarchy.toml", "task.seq_len", "ffn"),
]


def exponent_interval(design: Design, need: np.ndarray, seeds: int, confidence: float, factor: float,
                      rng: np.random.Generator, replicates: int, method: str = "percentile") -> tuple[float, list]:  # fmt: skip
    """γ and its whole-seed interval (``method``: percentile or student) from the first
    ``seeds`` seeds of ``need`` ``[S, P]``, widened by ``factor`` about γ."""
    part = dataclasses.replace(design, seeds=seeds)
    point, reps = _medians(part, _cells(part, need[:seeds]), SeedResampler(range(seeds), replicates, rng))
    if np.isfinite(point).sum() < 2:
        return float("nan"), [None, None]
    estimate, fitted = fit_with_replicates("power", design.x, point, reps)
    gamma = estimate["gamma"]
    low, high = seed_interval(gamma, fitted["gamma"], confidence, seeds, method)
    if not (np.isfinite(low) and np.isfinite(high)):
        return gamma, [None, None]
    return gamma, [gamma - factor * (gamma - low), gamma + factor * (high - gamma)]


def sequential_verdict(design: Design, need: np.ndarray, looks, factor: float, rng, replicates: int) -> tuple[str, int]:
    """The verdict of the sequential design on ``need`` and the seeds of the look that gave
    it, by the analysis' own rules (look_analysis, look_decision)."""
    last = looks[-1]
    for look in looks:
        seeds, method = len(look.seeds), "student" if look is not last else "percentile"
        gamma, interval = exponent_interval(design, need, seeds, 1 - look.alpha, factor, rng, replicates, method)
        known = bool(np.isfinite(gamma)) and None not in interval
        judged = verdict(interval, REGION) if known else "inconclusive"
        claim = {"kind": "bound", "reason": None, "region": [REGION.low, None], "margin": 0.25, "verdict": judged,
                 "values": [{"estimate": gamma if known else None, "interval": interval, "verdict": judged}]}  # fmt: skip
        stopped = look_decision(claim, look, last)
        if stopped != "open":
            return judged if stopped == "decided" else "inconclusive", seeds
    raise AssertionError("the last look always decides or ends")


def simulate(design: Design, looks, factor: float, truth: float, studies: int, replicates: int,
             seed_sd: float, cell_sd: float, rng) -> dict:  # fmt: skip
    """Fixed vs sequential on ``studies`` simulated studies with true exponent ``truth``."""
    law = lambda x: x**truth  # noqa: E731
    scale = _truth_scale(design, law)
    s, p = design.seeds, design.x.size
    tally = {"fixed": [], "sequential": [], "seeds": []}
    for _ in range(studies):
        effect = seed_sd * rng.standard_normal(s)
        need = scale * law(design.x)[None, :] * np.exp(effect[:, None] + cell_sd * rng.standard_normal((s, p)))
        gamma, interval = exponent_interval(design, need, s, 0.95, factor, rng, replicates)
        tally["fixed"].append(verdict(interval, REGION) if np.isfinite(gamma) else "inconclusive")
        judged, used = sequential_verdict(design, need, looks, factor, rng, replicates)
        tally["sequential"].append(judged)
        tally["seeds"].append(used)
    return tally


def wrong(verdicts: list[str], truth: float) -> float:
    """Rate of wrong verdicts: *disagrees* with the truth inside the region, *agrees* outside."""
    bad = "disagrees" if REGION.low <= truth <= REGION.high else "agrees"
    return sum(v == bad for v in verdicts) / len(verdicts)


def _share(verdicts: list[str]) -> str:
    return " / ".join(
        f"{sum(v == name for v in verdicts) / len(verdicts):.0%}" for name in ("agrees", "disagrees", "inconclusive")
    )


def simulated(args) -> None:
    print(f"{args.studies} studies per truth, {args.replicates} replicates, seed sd {args.seed_sd}, cell sd "
          f"{args.cell_sd}; claim γ ≥ 1, margin 0.25")  # fmt: skip
    print(
        "| design (looks: seeds) | true γ | fixed a/d/i | sequential a/d/i | same verdict | wrong fixed → "
        "sequential | seeds used |\n|---|---|---|---|---|---|---|"
    )
    rng = np.random.default_rng([24, 0])
    pooled_same, pooled_used, total = 0, 0.0, 0
    for study_file, x_key, series in DESIGNS:
        design = design_of(study_file, x_key, series)
        study = load_study(STUDIES / study_file, "quick")
        looks = study_looks(study)
        entry = _entries().get((study.name, "quick", "exponent"))
        factor = 1.0 if entry is None else entry[1]
        label = f"{design.name} ({', '.join(str(len(look.seeds)) for look in looks)})"
        for truth in TRUTHS:
            tally = simulate(design, looks, factor, truth, args.studies, args.replicates, args.seed_sd, args.cell_sd,
                             rng)  # fmt: skip
            same = sum(a == b for a, b in zip(tally["fixed"], tally["sequential"], strict=True))
            bad = "disagrees" if REGION.low <= truth else "agrees"
            early = sum(v == bad and k < design.seeds for v, k in zip(tally["sequential"], tally["seeds"], strict=True))
            used = float(np.mean(tally["seeds"])) / design.seeds
            pooled_same, pooled_used, total = (
                pooled_same + same,
                pooled_used + used * args.studies,
                total + args.studies,
            )
            print(f"| {label} | {truth:g} | {_share(tally['fixed'])} | {_share(tally['sequential'])} | "
                  f"{same / args.studies:.1%} | {wrong(tally['fixed'], truth):.1%} → "
                  f"{wrong(tally['sequential'], truth):.1%} ({early / args.studies:.1%} at the interim look) | "
                  f"{used:.0%} |", flush=True)  # fmt: skip
    print(f"\npooled: same verdict in {pooled_same / total:.1%} of {total} simulated studies; the sequential design "
          f"trained {pooled_used / total:.0%} of the fixed design's runs")  # fmt: skip


def looks_at(seeds: int, shares: tuple[float, ...], equal: bool = False, alpha: float = 0.05) -> list[Look]:
    """Looks at ``shares`` of ``seeds`` (then all), spending ``alpha`` the default way or,
    ``equal``, in equal parts (Bonferroni's Pocock-like split)."""
    counts = [*(max(2, round(share * seeds)) for share in shares), seeds]
    alphas = [alpha / len(counts)] * len(counts) if equal else spending(len(shares), alpha)
    return [Look(i + 1, tuple(range(count)), a) for i, (count, a) in enumerate(zip(counts, alphas, strict=True))]


def seeds_sweep(args) -> None:
    """``--simulated --seeds``: the saving as the seeds grow (module docstring)."""
    print(f"{args.studies} studies per truth, {args.replicates} replicates, seed sd {args.seed_sd}, cell sd "
          f"{args.cell_sd}; claim γ ≥ 1, margin 0.25; fixed design at 95%, no calibration factor")  # fmt: skip
    print("| design | seeds S | looks | true γ | fixed a/d/i | sequential a/d/i | same verdict | wrong fixed → "
          "sequential | seeds used |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    rng = np.random.default_rng([24, 1])
    for study_file, x_key, series in DESIGNS[:2]:
        base = design_of(study_file, x_key, series)
        for seeds in args.seeds:
            design = dataclasses.replace(base, seeds=seeds)
            for shares, equal in (((0.5,), False), ((0.5,), True), ((0.25, 0.5, 0.75), False)):
                looks = looks_at(seeds, shares, equal)
                label = ", ".join(str(len(look.seeds)) for look in looks) + (" (α split equally)" if equal else "")
                used_all, same_all = [], []
                for truth in TRUTHS:
                    tally = simulate(design, looks, 1.0, truth, args.studies, args.replicates, args.seed_sd,
                                     args.cell_sd, rng)  # fmt: skip
                    same = sum(a == b for a, b in zip(tally["fixed"], tally["sequential"], strict=True))
                    used = float(np.mean(tally["seeds"])) / seeds
                    used_all.append(used)
                    same_all.append(same / args.studies)
                    print(f"| {base.name} | {seeds} | {label} | {truth:g} | {_share(tally['fixed'])} | "
                          f"{_share(tally['sequential'])} | {same / args.studies:.1%} | "
                          f"{wrong(tally['fixed'], truth):.1%} → {wrong(tally['sequential'], truth):.1%} | "
                          f"{used:.0%} |", flush=True)  # fmt: skip
                print(f"| {base.name} | {seeds} | {label} | all six | | | {np.mean(same_all):.1%} | | "
                      f"**{np.mean(used_all):.0%}** |")  # fmt: skip


def _verdicts(study, store, sequential: bool) -> list[tuple[str, str]]:
    from samplelab.analysis.judging import judge_claims
    from samplelab.analysis.runs import load_study_runs
    from samplelab.analysis.sequential import judge_looks

    runs = load_study_runs(study, store)
    if sequential:
        claims = judge_looks(runs, study.analysis).claims
    else:
        claims = judge_claims(runs, study.analysis.model_copy(update={"sequential": None})).claims
    return [(c["label"], c["verdict"]) for c in claims]


def trained(args) -> None:
    from samplelab.ledger.store import ResultStore
    from samplelab.spec.plan import load_plan
    from samplelab.sweep.runner import run_study
    from samplelab.sweep.sequential import run_until_decided
    from samplelab.training.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    planned = [p for p in load_plan(STUDIES / "reproduce.toml", "quick")
               if not args.only or p.study.name in args.only]  # fmt: skip
    print(
        "| study | runs fixed → sequential | model-steps | wall time | verdicts fixed → sequential |\n|---|---|---|---|---|"
    )
    totals = np.zeros(6)
    with tempfile.TemporaryDirectory() as folder:
        for entry in planned:
            study = entry.study
            fixed, seq = ResultStore(Path(folder) / f"{study.name}-fixed.sqlite"), None
            began = time.perf_counter()
            run_study(study, fixed)
            fixed_seconds = time.perf_counter() - began
            seq = ResultStore(Path(folder) / f"{study.name}-sequential.sqlite")
            began = time.perf_counter()
            outcome = run_until_decided(study, seq)
            seq_seconds = time.perf_counter() - began
            fixed_steps = sum(s.config.training.steps for s in study.runs)
            changed = [
                f"{label}: {a} → {b}" if a != b else f"{label}: {a}"
                for (label, a), (_, b) in zip(_verdicts(study, fixed, False), _verdicts(study, seq, True), strict=True)
            ]
            row = np.array([len(study.runs), outcome.stored_runs, fixed_steps, outcome.stored_model_steps,
                            fixed_seconds, seq_seconds])  # fmt: skip
            totals += row
            print(f"| {study.name} | {len(study.runs)} → {outcome.stored_runs} | {fixed_steps:,} → "
                  f"{outcome.stored_model_steps:,} ({fixed_steps / outcome.stored_model_steps:.2f}×) | "
                  f"{fixed_seconds / 60:.1f} → {seq_seconds / 60:.1f} min ({outcome.stopped}) | "
                  f"{'; '.join(changed)} |", flush=True)  # fmt: skip
            fixed.close()
            seq.close()
    print(f"| all | {totals[0]:.0f} → {totals[1]:.0f} | {totals[2]:,.0f} → {totals[3]:,.0f} "
          f"({totals[2] / totals[3]:.2f}×) | {totals[4] / 60:.1f} → {totals[5] / 60:.1f} min | |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--simulated", action="store_true", help="simulated studies (no training)")
    parser.add_argument("--trained", action="store_true", help="train each quick study both ways")
    parser.add_argument("--only", nargs="+", metavar="STUDY", help="trained: these studies of the quick plan only")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="S", help="simulated: designs with S seeds instead")
    parser.add_argument("--studies", type=int, default=500, help="simulated studies per design and truth")
    parser.add_argument("--replicates", type=int, default=500, help="bootstrap replicates per interval")
    parser.add_argument("--seed-sd", type=float, default=0.3, help="sd of a seed's log need, shared across x")
    parser.add_argument("--cell-sd", type=float, default=0.3, help="sd of each cell's own log need")
    args = parser.parse_args()
    if not (args.simulated or args.trained):
        args.simulated = args.trained = True
    if args.simulated and args.seeds:
        seeds_sweep(args)
    elif args.simulated:
        simulated(args)
    if args.trained:
        trained(args)


if __name__ == "__main__":
    main()
