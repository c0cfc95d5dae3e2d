"""The vectorised analysis (bench/analysis.py) gives the same document, to the last bit, as
the per-replicate estimators it replaced, on a synthetic store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from analysis import analyze, baseline, write_store


def test_vectorised_analysis_equals_the_per_replicate_baseline(tmp_path):
    study_path, store_path = write_store(tmp_path, runs=512, bootstrap=200)
    document, _ = analyze(study_path, store_path)
    reference, _ = baseline(study_path, store_path)
    assert document["runs"] == 512 and len(document["cells"]) == 8 and len(document["fits"]) == 4
    assert any(cell["n_star"] and cell["n_star"]["value"] for cell in document["cells"])
    assert json.dumps(document, sort_keys=True) == json.dumps(reference, sort_keys=True)
