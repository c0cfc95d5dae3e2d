"""Where ensembles train: in this process, in worker processes, or on a Ray cluster.

An executor takes :class:`~samplelab.sweep.ensembles.Ensemble` jobs and hands back, for each, the
:class:`~samplelab.ledger.store.RunRecord` of its members, or the exception that ended it. It never
touches the store: the driver (:mod:`samplelab.sweep.runner`) is its only writer, so a worker that dies
loses nothing that was stored, and what it was training is trained again.

* :class:`InProcess` (the default): one ensemble at a time in this process; per-eval progress.
* :class:`WorkerProcesses` (``--workers N``): N processes started with ``spawn``, each
  training whole ensembles with XLA on one thread, so N ≤ the cores.
* :class:`RayCluster` (``--backend ray [--address HOST:PORT]``): one Ray task per ensemble,
  as many in flight as the cluster has CPUs (``pip install 'samplelab[ray]'``).

Worker processes and Ray tasks load the driver's plugins (the same sources: a plugin file
must be at the same path on every node) before they read an ensemble (:func:`worker_job`).

Fault injection for tests: with ``SAMPLELAB_KILL_WORKER_ONCE=<path>`` set, a worker that
finds no file at ``path`` creates it and kills itself before training (exit 137), as a
worker lost to the OOM killer or a dead node would; with ``SAMPLELAB_KILL_WORKER_ALWAYS=1``
every worker does.
"""

from __future__ import annotations

import concurrent.futures as futures
import itertools
import multiprocessing
import os
import pickle
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from samplelab.core.errors import ConfigError

# Each worker process runs XLA's matrix products on one thread, so N workers share N
# cores without oversubscription (XLA reads this flag when its CPU backend starts in the
# worker). The trainer sets the same option per compile (trainer.COMPILER_OPTIONS); the
# flag also covers the jitted helpers outside the trainer.
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false"
_PASSED_ENV = ("SAMPLELAB_JAX_CACHE", "SAMPLELAB_KILL_WORKER_ONCE", "SAMPLELAB_KILL_WORKER_ALWAYS", "JAX_PLATFORMS")

Outcome = tuple[Any, list | BaseException]  # (handle, records or the error)


class Executor(Protocol):
    """Trains ensembles; ``slots`` of them may be in flight at once."""

    slots: int

    def submit(self, ensemble: Any) -> Any:
        """Start training ``ensemble``; returns a handle."""

    def wait(self, handles: list) -> list[Outcome]:
        """Block until at least one of ``handles`` is finished; return the finished ones."""

    def close(self) -> None:
        """Release workers (idempotent)."""


def _maybe_die() -> None:
    """The fault-injection hook (module docstring); a no-op unless its variables are set."""
    if os.environ.get("SAMPLELAB_KILL_WORKER_ALWAYS"):
        os._exit(137)
    marker = os.environ.get("SAMPLELAB_KILL_WORKER_ONCE")
    if marker:
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return
        os._exit(137)


def worker_job(ensemble: Any) -> tuple[dict[str, str], bytes]:
    """What a worker process receives: the plugins to load, then the ensemble, pickled, so
    that the configs of a plugin's task or model are read only once their module is loaded."""
    from samplelab.spec.plugins import loaded_plugins

    return loaded_plugins(), pickle.dumps(ensemble)


def train_in_worker(job: tuple[dict[str, str], bytes]) -> list:
    """What a worker runs: load the driver's plugins, train one ensemble, return its members' records."""
    from samplelab.spec.plugins import load_as_loaded
    from samplelab.sweep.ensembles import train_ensemble_records
    from samplelab.training.compile_cache import enable_compilation_cache

    _maybe_die()
    plugins, payload = job
    load_as_loaded(plugins)
    enable_compilation_cache()
    return train_ensemble_records(pickle.loads(payload))


class InProcess:
    """Train each ensemble in this process when it is submitted (per-eval progress)."""

    slots = 1

    def __init__(self, on_eval: Callable[[Any, int], None] | None = None) -> None:
        from samplelab.sweep.ensembles import train_ensemble_records

        self._train = train_ensemble_records
        self._on_eval = on_eval
        self._done: dict[int, list | BaseException] = {}
        self._handles = itertools.count()

    def submit(self, ensemble: Any) -> int:
        handle = next(self._handles)
        try:
            self._done[handle] = self._train(ensemble, on_eval=self._on_eval)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # recorded as the ensemble's failure by the driver
            self._done[handle] = error
        return handle

    def wait(self, handles: list) -> list[Outcome]:
        return [(handle, self._done.pop(handle)) for handle in handles]

    def close(self) -> None:
        self._done.clear()


def _worker_environment() -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()
    return env


def _set_environment(env: dict[str, str]) -> None:
    os.environ.update(env)


class WorkerProcesses:
    """``workers`` spawned processes, each training whole ensembles on one XLA thread.

    A worker that dies breaks the pool (``BrokenProcessPool``): the ensembles in flight come
    back as failed attempts and a fresh pool is started for what follows.
    """

    def __init__(self, workers: int) -> None:
        cores = os.cpu_count() or 1
        if not 1 <= workers <= cores:
            raise ConfigError(f"--workers {workers}: this machine has {cores} cores — fix: use 1 … {cores}")
        self.slots = workers
        self._pool: futures.ProcessPoolExecutor | None = None

    def _live_pool(self) -> futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = futures.ProcessPoolExecutor(
                max_workers=self.slots,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_set_environment,
                initargs=(_worker_environment(),),
            )
        return self._pool

    def submit(self, ensemble: Any) -> futures.Future:
        try:
            return self._live_pool().submit(train_in_worker, worker_job(ensemble))
        except BrokenProcessPool:
            self.close()
            return self._live_pool().submit(train_in_worker, worker_job(ensemble))

    def wait(self, handles: list) -> list[Outcome]:
        done, _ = futures.wait(handles, return_when=futures.FIRST_COMPLETED)
        outcomes = []
        for handle in done:
            error = handle.exception()
            outcomes.append((handle, error if error is not None else handle.result()))
            if isinstance(error, BrokenProcessPool):
                self.close()  # a worker died: the next submit starts a fresh pool
        return outcomes

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


class RayCluster:
    """One Ray task per ensemble on the cluster at ``address`` (``None``: start a local one).

    Ray does not retry here (``max_retries = 0``): the driver retries failed ensembles itself,
    the same bounded way for every executor.
    """

    def __init__(self, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--backend ray: Ray is not installed — fix: pip install 'samplelab[ray]'") from None
        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, ValueError, RuntimeError) as error:
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ConfigError(
                    f"--address {address}: cannot join the Ray cluster ({first_line}) — fix: start it with "
                    "`ray start --head` and pass its HOST:PORT, or leave --address out for a local cluster"
                ) from None
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(train_in_worker).options(
            runtime_env={"env_vars": _worker_environment()}
        )

    def submit(self, ensemble: Any) -> Any:
        return self._remote.remote(worker_job(ensemble))

    def wait(self, handles: list) -> list[Outcome]:
        done, _ = self._ray.wait(handles, num_returns=1)
        outcomes = []
        for handle in done:
            try:
                outcomes.append((handle, self._ray.get(handle)))
            except Exception as error:  # RayTaskError, WorkerCrashedError, …
                outcomes.append((handle, error))
        return outcomes

    def close(self) -> None:
        """Leave the cluster running (it may be shared); a local one ends with this process."""


def make_executor(backend: str, workers: int = 1, address: str | None = None, on_eval=None) -> Executor:
    """The executor for ``--backend`` (``local`` or ``ray``) and ``--workers``."""
    if backend == "ray":
        return RayCluster(address)
    if address is not None:
        raise ConfigError("--address: only the ray backend joins a cluster — fix: add --backend ray, or drop --address")
    return InProcess(on_eval) if workers == 1 else WorkerProcesses(workers)
