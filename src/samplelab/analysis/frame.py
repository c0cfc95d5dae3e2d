"""A store's results from Python: one pandas DataFrame row per run, and a study's analysis.

::

    import samplelab

    runs = samplelab.load_runs("runs/samplelab.sqlite", study="qstr_simple", profile="quick")
    runs.groupby(["model.name", "task.seq_len"])["samples_to_threshold"].median()
    document = samplelab.load_analysis("runs/samplelab.sqlite", "qstr_simple", "quick")

Studies are re-expanded from the study files the store keeps (as ``samplelab report`` does),
so no study file is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from samplelab.analysis.document import analyze_study
from samplelab.analysis.export import CURVES, run_table
from samplelab.analysis.runs import load_study_runs, stored_studies
from samplelab.core.errors import ConfigError
from samplelab.ledger.store import ResultStore
from samplelab.spec.study import Study

if TYPE_CHECKING:
    import pandas as pd


def flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    """``{"task": {"name": …}}`` → ``{"task.name": …}``; lists and tuples stay whole."""
    return {f"{section}.{name}": value for section, fields in config.items() for name, value in fields.items()}


def _chosen(store: ResultStore, study: str | None, profile: str | None) -> list[Study]:
    studies, skipped = stored_studies(store)
    chosen = [s for s in studies if study in (None, s.name) and profile in (None, s.profile)]
    unloadable = [why for why in skipped if study is not None and why.startswith(f"{study} [{profile or ''}")]
    if not chosen and unloadable:  # stored, but its study file no longer loads (e.g. a plugin moved)
        raise ConfigError(unloadable[0])
    if (study is not None or profile is not None) and not chosen:
        held = ", ".join(f"{s.name} [{s.profile}]" for s in studies) or "none"
        wanted = f"{study or 'any study'} [{profile or 'any profile'}]"
        raise ConfigError(f"{wanted}: not in store {store.path} — fix: use one of: {held}")
    return chosen


def load_runs(store: str | Path, study: str | None = None, profile: str | None = None) -> pd.DataFrame:
    """One row per stored run of ``study`` / ``profile`` (``None``: all of them): ``study``,
    ``profile``, the grid point (a column per grid key), seed, status, ``n_train``, final and
    best test metric, baseline, threshold, samples-to-threshold, the end-of-training numbers,
    the run key, every config field as ``"<section>.<field>"``, and the learning curves as
    float arrays (``eval_steps``, ``test_metric``, ``train_loss``, and the optional ones:
    ``None`` where a run has none)."""
    import pandas as pd

    rows = []
    with ResultStore(store) as results:
        for chosen in _chosen(results, study, profile):
            runs = load_study_runs(chosen, results)
            for row in run_table(runs, curves=True):
                config = flatten_config(json.loads(row.pop("config_json")))
                curves = {name: row.pop(name) for name in CURVES}
                arrays = {name: None if values is None else np.asarray(values) for name, values in curves.items()}
                rows.append({"study": chosen.name, "profile": chosen.profile, **row, **config, **arrays})
    return pd.DataFrame(rows)


def load_analysis(store: str | Path, study: str, profile: str | None = None, **options: Any) -> dict:
    """The analysis document of a stored study, as ``samplelab analyze --json`` gives it
    (``options``: :func:`~samplelab.analysis.document.analyze_study`'s, e.g. ``bootstrap``)."""
    with ResultStore(store) as results:
        chosen = _chosen(results, study, profile)
        if len(chosen) > 1:
            profiles = ", ".join(s.profile for s in chosen)
            raise ConfigError(f"{study}: stored under several profiles ({profiles}) — fix: name one, profile=…")
        return analyze_study(load_study_runs(chosen[0], results), **options)
