"""A study's stored runs as MLflow runs (``samplelab export STUDY --to mlflow``).

One MLflow run per stored run, in the experiment ``<study> [<profile>]``:

- **params**: the resolved run config, flattened (``task.seq_len``, ``model.name``,
  ``optimizer.lr``, …);
- **metrics**: each learning curve the run stored (``test_metric``, ``train_loss``, and
  ``validation_loss``, ``test_loss``, ``train_metric``, ``train_set_loss`` where it has them)
  by step, the step being the training examples seen at that evaluation (``train_loss``, the
  mean over the steps since the previous evaluation, from the second evaluation on); the
  end-of-training numbers (``weight_sparsity``, ``embedding_dimension``,
  ``embedding_dimension_twonn``) at the last step;
- **tags**: ``samplelab.study``, ``samplelab.profile``, ``samplelab.seed``,
  ``samplelab.run_key``, ``samplelab.status``, and what the verdicts read —
  ``samplelab.final_metric``, ``samplelab.threshold``, ``samplelab.samples_to_threshold``
  (``not reached``) — and ``samplelab.point.<grid key>`` for each grid value.

Exporting again adds nothing: a run whose key the experiment holds (its
``samplelab.run_key`` tag) is skipped. The default tracking URI is an embedded SQLite store,
``sqlite:///runs/mlflow.db`` (no server; ``mlflow ui --backend-store-uri
sqlite:///runs/mlflow.db`` opens it). Needs ``pip install 'samplelab[tracking]'``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

from samplelab.analysis.export import CURVES, run_table
from samplelab.analysis.frame import flatten_config
from samplelab.analysis.runs import StudyRuns
from samplelab.core.errors import ConfigError
from samplelab.core.run_fields import SCALAR_COLUMNS

DEFAULT_TRACKING_URI = "sqlite:///runs/mlflow.db"
RUN_KEY_TAG = "samplelab.run_key"
_BATCH = 1000  # MLflow's most metrics in one log_batch call


@dataclass(frozen=True)
class Exported:
    """What one export did: the experiment, and the runs it logged and found already there."""

    experiment: str
    logged: int
    already: int


def _client(tracking_uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("--to mlflow: MLflow is not installed — fix: pip install 'samplelab[tracking]'") from None
    for name in ("mlflow", "alembic"):  # their INFO lines (store migrations) are not ours to print
        logging.getLogger(name).setLevel(logging.WARNING)
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=tracking_uri)


def _exported_keys(client, experiment_id: str) -> set[str]:
    keys, token = set(), None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        keys.update(run.data.tags.get(RUN_KEY_TAG) for run in page)
        token = page.token
        if not token:
            return keys - {None}


def export_to_mlflow(runs: StudyRuns, tracking_uri: str = DEFAULT_TRACKING_URI) -> Exported:
    """Log each stored run of ``runs`` not yet in the MLflow experiment (see the module docstring)."""
    from mlflow.entities import Metric, Param

    client = _client(tracking_uri)
    name = f"{runs.study.name} [{runs.study.profile}]"
    try:
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    except Exception as err:  # a URI MLflow cannot open: one line, as every bad input
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"--tracking-uri {tracking_uri}: MLflow cannot open it ({first}) — fix: e.g. "
                          f"{DEFAULT_TRACKING_URI}") from None  # fmt: skip
    done = _exported_keys(client, experiment_id)
    logged = 0
    now = int(time.time() * 1000)
    for row, record in zip(run_table(runs, curves=True), runs.records, strict=True):
        if record.run_key in done:
            continue
        steps = [int(s) for s in record.samples_seen]
        # A curve of K values (train_loss: each chunk's mean) ends at the evaluations after the first.
        metrics = [Metric(curve, float(v), now, step) for curve in CURVES[1:] if row[curve] is not None
                   for step, v in zip(steps[len(steps) - len(row[curve]):], row[curve], strict=True)
                   if math.isfinite(v)]  # fmt: skip
        metrics += [Metric(n, float(row[n]), now, steps[-1]) for n in SCALAR_COLUMNS
                    if row[n] is not None and math.isfinite(row[n])]  # fmt: skip
        reached = row["samples_to_threshold"]
        tags = {
            "samplelab.study": runs.study.name, "samplelab.profile": runs.study.profile,
            "samplelab.seed": str(record.seed), RUN_KEY_TAG: record.run_key, "samplelab.status": record.status,
            "samplelab.final_metric": repr(row["final_metric"]), "samplelab.threshold": repr(row["threshold"]),
            "samplelab.samples_to_threshold": "not reached" if reached is None or math.isnan(reached) else repr(reached),
            **{f"samplelab.point.{key}": str(value) for key, value in record.point.items()},
        }  # fmt: skip
        point = " ".join(f"{key.split('.')[-1]}={value}" for key, value in record.point.items())
        # Tagged with its run key as it is created: an export killed midway leaves no untagged run to duplicate.
        run = client.create_run(experiment_id, run_name=f"{point} seed={record.seed}".strip(), start_time=now,
                                tags=tags)  # fmt: skip
        params = [Param(k, json.dumps(v) if isinstance(v, list | dict) else str(v))
                  for k, v in flatten_config(json.loads(row["config_json"])).items()]  # fmt: skip
        client.log_batch(run.info.run_id, params=params)
        for start in range(0, len(metrics), _BATCH):
            client.log_batch(run.info.run_id, metrics=metrics[start : start + _BATCH])
        client.set_terminated(run.info.run_id, "FINISHED" if record.status == "done" else "FAILED", end_time=now)
        logged += 1
    return Exported(name, logged, len(runs.records) - logged)
