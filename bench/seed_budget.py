"""What a smaller seed budget would give: a plan's stored studies judged on their first k seeds.

    python bench/seed_budget.py runs/samplelab.sqlite                  # the quick plan, k = 3, ⌈S/2⌉, all
    python bench/seed_budget.py runs/samplelab.sqlite --seeds 2 3 4    # chosen k (capped at the seeds stored)

No training: each study of the plan profile is read from the store (``make run``'s), its
runs restricted to the first k seeds the study file lists, and its claims judged as a fixed
design at the study's confidence. Beside each k it prints the runs kept and the sum of their
stored ``wall_seconds`` (an ensemble's wall time, compile included, shared among its members),
which is close to a lower bound on training them alone: their compiles do not shrink with
the seeds, and an ensemble's members already keep both cores busy.

The intervals are widened by the calibration measured on the study's own seed count: for
k below it that coverage was not measured, so a verdict at small k is a hint, not a result.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from samplelab.analysis.judging import judge_claims
from samplelab.analysis.runs import load_study_runs
from samplelab.analysis.sequential import study_seeds
from samplelab.ledger.store import ResultStore
from samplelab.spec.plan import load_plan

PLAN = Path(__file__).resolve().parents[1] / "studies" / "reproduce.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path, help="a store the plan was run into (make run's)")
    parser.add_argument("--plan", type=Path, default=PLAN)
    parser.add_argument("--profile", default="quick", help="the plan profile (default: quick)")
    parser.add_argument("--seeds", type=int, nargs="+", help="the k to judge at (default: 3, half, all)")
    args = parser.parse_args()
    rules = {"3": lambda seeds: 3, "half": lambda seeds: (seeds + 1) // 2, "all": lambda seeds: seeds}
    if args.seeds:
        rules = {str(k): (lambda seeds, k=k: k) for k in args.seeds}
    totals = {rule: [0.0, 0] for rule in rules}
    with ResultStore(args.store) as store:
        for entry in load_plan(args.plan, args.profile):
            study = entry.study
            analysis = study.analysis
            if analysis.sequential is not None:  # one look: a fixed design (bisected sizes stay bisected)
                analysis = analysis.model_copy(
                    update={"sequential": analysis.sequential.model_copy(update={"looks": []})}
                )
            runs = load_study_runs(study, store)
            seeds = study_seeds(study)
            stored = [s for s in seeds if any(r.seed == s for r in runs.records)]
            print(
                f"{study.name} [{study.profile}]: {len(runs.records)} runs of {len(stored)} of {len(seeds)} seeds stored"
            )
            judged: dict[int, tuple[int, float, list[str]]] = {}
            for rule, count in rules.items():
                k = min(count(len(seeds)), len(stored))
                if k not in judged:
                    chosen = set(stored[:k])
                    part = replace(runs, records=[r for r in runs.records if r.seed in chosen])
                    wall = sum(r.wall_seconds or 0.0 for r in part.records) / 60
                    verdicts = [claim["verdict"] for claim in judge_claims(part, analysis).claims]
                    judged[k] = (len(part.records), wall, verdicts)
                    print(f"  k = {k}: {len(part.records)} runs, stored wall ≥ {wall:.1f} min: {', '.join(verdicts)}")
                totals[rule][0] += judged[k][1]
                totals[rule][1] += judged[k][0]
    for rule, (wall, count) in totals.items():
        print(f"every study at k = {rule}: {count} runs, stored wall ≥ {wall:.1f} min")


if __name__ == "__main__":
    main()
