"""Bisected sizes replayed on a whole store: which runs bisection would have trained, and whether
the claims judged on those alone equal the whole design's (docs/analysis.md, "Bisected sizes").

    python bench/bisection.py studies/setfind2_setsize.toml runs/samplelab.sqlite --profile quick

The store must hold the study's whole grid (``samplelab run`` without ``--until-decided``, or
``make run`` before bisection). Round by round, the runs :func:`~samplelab.analysis.bisection.next_probes`
asks for are copied into a fresh store (no training); then both stores are judged — the whole
one as a fixed design, the copy with ``sizes = "bisect"`` — and each claim's verdict, estimate
and interval printed side by side, with the rows where reaching the threshold is not monotone
in the training-set size.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from dataclasses import replace
from pathlib import Path

from samplelab.analysis.bisection import next_probes
from samplelab.analysis.cells import group_cells
from samplelab.analysis.document import analyze_study
from samplelab.analysis.runs import load_study_runs
from samplelab.ledger.store import ResultStore
from samplelab.spec.analysis import SequentialConfig
from samplelab.spec.study import load_study
from samplelab.sweep.runner import register_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("store", type=Path, help="a store holding the study's whole grid")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    whole_study = load_study(args.study, args.profile)
    fixed = whole_study.analysis.model_copy(update={"sequential": None})
    bisected = whole_study.analysis.model_copy(update={"sequential": SequentialConfig(looks=[], sizes="bisect")})
    whole_study, study = replace(whole_study, analysis=fixed), replace(whole_study, analysis=bisected)
    fractions = bisected.threshold_fractions
    with ResultStore(args.store) as whole, tempfile.TemporaryDirectory() as folder:
        full = load_study_runs(whole_study, whole)
        by_key = {record.run_key: record for record in full.records}
        with ResultStore(Path(folder) / "bisected.sqlite") as part:
            register_runs(study, study.runs, part)
            rounds = []
            while probes := next_probes(study.runs, load_study_runs(study, part), fractions):
                part.write_runs([by_key[s.key] for s in probes])
                rounds.append(len(probes))
            kept = load_study_runs(study, part)
            print(f"{study.name} [{study.profile}]: bisection kept {len(kept.records)} of {len(full.records)} runs "
                  f"in {len(rounds)} rounds ({', '.join(map(str, rounds))}); thresholds {fractions}")  # fmt: skip
            for fraction in fractions:
                at = full if fraction is None else full.at_threshold_relative(fraction)
                for cell, by_seed in group_cells(at):
                    for seed, records in by_seed.items():
                        ordered = sorted(records, key=lambda r: r.n_train)
                        row = [math.isfinite(r.final_metric) and r.final_metric <= at.thresholds[r.run_key]
                               for r in ordered]  # fmt: skip
                        if row != sorted(row):
                            print(f"  not monotone at threshold {fraction}: cell {cell}, seed {seed}: "
                                  f"{''.join('1' if ok else '0' for ok in row)}")  # fmt: skip
            pairs = zip(analyze_study(full)["claims"], analyze_study(kept)["claims"], strict=True)
            for a, b in pairs:
                same = [(v.get("estimate"), v.get("interval")) for v in a["values"]] == [
                    (v.get("estimate"), v.get("interval")) for v in b["values"]
                ]
                print(f"  {a['label']}: {a['verdict']} → {b['verdict']}; values "
                      f"{'identical' if same else 'differ'}")  # fmt: skip


if __name__ == "__main__":
    main()
