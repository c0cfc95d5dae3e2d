"""samplelab: measure how many examples a neural architecture needs to learn a task.

The public face: what a researcher's script uses, importable from ``samplelab`` itself.
Names load lazily, so that ``import samplelab`` (and ``samplelab --help``) imports no JAX::

    import samplelab

    study = samplelab.load_study("studies/qstr_simple.toml", "quick")
    with samplelab.ResultStore("runs/samplelab.sqlite") as store:
        samplelab.run_study(study, store)
        document = samplelab.analyze_study(samplelab.load_study_runs(study, store))

The layers behind it, lowest first: ``core``, ``stats`` | ``ledger``, ``tasks`` | ``models``,
``spec``, ``analysis`` | ``training``, ``report`` | ``sweep``, ``cli`` (README, "Architecture").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from samplelab.core.version import __version__

# name → the module that defines it
_PUBLIC = {
    "ConfigError": "samplelab.core.errors",
    "TASKS": "samplelab.tasks",
    "MODELS": "samplelab.models",
    "resolve_run_config": "samplelab.spec.run_config",
    "RunConfig": "samplelab.spec.run_config",
    "load_study": "samplelab.spec.study",
    "Study": "samplelab.spec.study",
    "train_ensemble": "samplelab.training.trainer",
    "EnsembleResult": "samplelab.training.result",
    "ResultStore": "samplelab.ledger.store",
    "run_study": "samplelab.sweep.runner",
    "load_study_runs": "samplelab.analysis.runs",
    "analyze_study": "samplelab.analysis.document",
    "load_runs": "samplelab.analysis.frame",
    "load_analysis": "samplelab.analysis.frame",
    "write_figures": "samplelab.report.figures",
}

__all__ = [
    "MODELS",
    "TASKS",
    "ConfigError",
    "EnsembleResult",
    "ResultStore",
    "RunConfig",
    "Study",
    "__version__",
    "analyze_study",
    "load_analysis",
    "load_runs",
    "load_study",
    "load_study_runs",
    "resolve_run_config",
    "run_study",
    "train_ensemble",
    "write_figures",
]

if TYPE_CHECKING:
    from samplelab.analysis.document import analyze_study
    from samplelab.analysis.frame import load_analysis, load_runs
    from samplelab.analysis.runs import load_study_runs
    from samplelab.core.errors import ConfigError
    from samplelab.ledger.store import ResultStore
    from samplelab.models import MODELS
    from samplelab.report.figures import write_figures
    from samplelab.spec.run_config import RunConfig, resolve_run_config
    from samplelab.spec.study import Study, load_study
    from samplelab.sweep.runner import run_study
    from samplelab.tasks import TASKS
    from samplelab.training.result import EnsembleResult
    from samplelab.training.trainer import train_ensemble


def __getattr__(name: str) -> object:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'samplelab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
