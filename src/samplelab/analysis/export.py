"""A study's stored runs as a flat table for pandas, DuckDB, Polars or a spreadsheet.

:func:`run_table` gives one row per run: the grid point (one column per grid key), seed,
status, ``n_train``, final and best test metric, baseline, threshold, samples-to-threshold,
the end-of-training numbers (weight sparsity, embeddings' intrinsic dimension), the run key
and the full resolved config as JSON. With ``curves`` it adds every stored learning curve
as a list of floats (``eval_steps``, ``test_metric``, ``train_loss``, ``test_loss``,
``validation_loss``, ``train_metric``, ``train_set_loss``; missing curves are null).
:func:`write_parquet` writes it with pyarrow (``pip install 'samplelab[export]'``).
"""

from __future__ import annotations

from pathlib import Path

from samplelab.analysis.runs import StudyRuns, run_rows
from samplelab.core.errors import ConfigError
from samplelab.core.run_fields import CURVE_COLUMNS, SCALAR_COLUMNS

CURVES = ("eval_steps", "test_metric", "train_loss", *CURVE_COLUMNS)


def run_table(runs: StudyRuns, curves: bool = False) -> list[dict]:
    """One dict per stored run of the study (see the module docstring for the columns)."""
    table = []
    for row, record in zip(run_rows(runs), runs.records, strict=True):
        row = {**row, **{name: getattr(record, name) for name in SCALAR_COLUMNS}, "config_json": record.config_json}
        if curves:
            for name in CURVES:
                values = getattr(record, name)
                row[name] = None if values is None else [float(v) for v in values]
        table.append(row)
    return table


def write_parquet(rows: list[dict], path: Path) -> Path:
    """Write ``rows`` (from :func:`run_table`) as one Parquet file; returns its path."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("--format parquet: pyarrow is not installed — fix: pip install 'samplelab[export]'") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path
