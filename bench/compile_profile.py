"""Where the test suite's time goes: XLA compiles per test (a pytest plugin, and its summary).

    PYTHONPATH=bench .venv/bin/python -m pytest -q -n 2 --dist loadfile -p compile_profile
    .venv/bin/python bench/compile_profile.py            # the summary of that run

Each pytest process (each xdist worker) records, per test, the wall time of the test (setup,
call and teardown) and the number and seconds of XLA backend compiles JAX reported in that
process (``jax.monitoring``'s ``backend_compile_duration`` events); compiles in subprocesses a
test starts are not counted. Written to ``$COMPILE_PROFILE_DIR`` (default
``/tmp/samplelab-compile-profile``), one JSON file per process; a new run clears the last one.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
from pathlib import Path

import pytest

FOLDER = Path(os.environ.get("COMPILE_PROFILE_DIR", "/tmp/samplelab-compile-profile"))
_running: dict[str, str | None] = {"test": None}
_compiles: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
_walls: dict[str, float] = {}


def _on_duration(event: str, duration: float, **_: object) -> None:
    if event.endswith("backend_compile_duration") and _running["test"]:
        counts = _compiles[_running["test"]]
        counts[0] += 1
        counts[1] += duration


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the run's first process: a new profile, not merged with an old one
        for old in FOLDER.glob("*.json"):
            old.unlink()
    import jax.monitoring

    jax.monitoring.register_event_duration_secs_listener(_on_duration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    _running["test"], began = item.nodeid, time.perf_counter()
    yield
    _walls[item.nodeid] = time.perf_counter() - began
    _running["test"] = None


def pytest_unconfigure(config: pytest.Config) -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    rows = {test: [*_compiles.get(test, [0, 0.0]), _walls.get(test, 0.0)] for test in set(_compiles) | set(_walls)}
    (FOLDER / f"{worker}.json").write_text(json.dumps(rows))


def summary(folder: Path = FOLDER, top: int = 15) -> str:
    """The totals, the files and the tests that spend most, as text."""
    rows: dict[str, list[float]] = {}
    for path in sorted(folder.glob("*.json")):
        rows.update(json.loads(path.read_text()))
    if not rows:
        return f"no profile in {folder}: run the suite with -p compile_profile first"
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for test, (count, seconds, wall) in rows.items():
        entry = files[test.split("::")[0]]
        entry[0] += wall
        entry[1] += seconds
        entry[2] += count
    wall, compile_seconds = sum(r[2] for r in rows.values()), sum(r[1] for r in rows.values())
    lines = [
        f"{len(rows)} tests: {wall:.0f} s of test time in all processes, {compile_seconds:.0f} s of it "
        f"({compile_seconds / wall:.0%}) in {sum(int(r[0]) for r in rows.values())} XLA compiles",
        "",
        "  test s  compile s  compiles  file",
    ]
    for name, (seconds, compiled, count) in sorted(files.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{seconds:8.0f} {compiled:10.0f} {int(count):9d}  {name}")
    lines += ["", "  test s  compile s  compiles  test"]
    for test, (count, seconds, test_wall) in sorted(rows.items(), key=lambda kv: -kv[1][2])[:top]:
        lines.append(f"{test_wall:8.1f} {seconds:10.1f} {int(count):9d}  {test}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER))
