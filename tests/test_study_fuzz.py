"""Fuzz the study loader through the CLI: whatever the file holds, `samplelab run --dry-run`
either accepts it (exit 0) or prints one line, ``error: … — fix: …``, and exits 2: never a
traceback."""

from __future__ import annotations

import json
import math
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from samplelab.cli import main
from samplelab.models import MODELS
from samplelab.tasks import TASKS

SECTIONS = ["task", "model", "optimizer", "training", "measurement", "analysis", "grid", "profiles"]
FIELDS = [
    "name", "set_size", "distract", "seq_len", "q", "layers", "heads", "d_model", "widths", "lr", "steps",
    "batch_size", "n_train", "regime", "eval_every", "test_size", "validation_size", "threshold_relative",
    "dataset", "path", "intrinsic_dim", "context", "causal", "schedule", "fits", "x", "y", "law", "quick",
]  # fmt: skip
GRID_KEYS = ["task.set_size", "training.n_train", "model.layers", "model.heads,model.layers", "task", "nope.x", ""]


def _key(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else json.dumps(text)


def _toml(value: object) -> str:
    """A value as inline TOML (every study section can be written as an inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + "}"


names = st.sampled_from(sorted(TASKS.names()) + sorted(MODELS.names()) + ["nope", "", "fixed", "online"])
scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 1, 2, 4, 8, 16, 10**9, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    names,
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS + GRID_KEYS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)
sections = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)
studies = st.fixed_dictionaries(
    {"name": st.one_of(st.just("fuzz"), st.text(max_size=6), st.integers())},
    optional={
        "seeds": st.one_of(st.integers(-3, 10**7), st.lists(st.integers(-3, 10**6), max_size=4), st.text(max_size=3)),
        **{section: st.one_of(sections, values) for section in SECTIONS},
        "extra": values,
    },
)


def _check(path, capsys) -> None:
    code = main(["run", str(path), "--dry-run", "--store", str(path.with_suffix(".sqlite"))])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(study=studies)
def test_any_study_file_is_accepted_or_refused_in_one_line(study, tmp_path, capsys):
    path = tmp_path / "fuzz.toml"
    path.write_text("\n".join(f"{_key(key)} = {_toml(value)}" for key, value in study.items()) + "\n")
    _check(path, capsys)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_malformed_toml_is_refused_in_one_line(text, tmp_path, capsys):
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    _check(path, capsys)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_as_a_study_file_are_refused_in_one_line(data, tmp_path, capsys):
    """Bytes as they are on disk (not UTF-8, NUL bytes, a stray BOM …)."""
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    _check(path, capsys)


def test_a_study_file_that_is_not_utf8_names_the_byte(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "café"\n'.encode("latin-1"))
    assert main(["run", str(path), "--dry-run", "--store", str(tmp_path / "s.sqlite")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {path}: is not UTF-8 text (byte 0xe9 at offset 11) — fix: give a study .toml file, saved as UTF-8"
    )


VALID = {
    "name": "fuzz",
    "seeds": 2,
    "task": {"name": "setfind2", "set_size": 4},
    "model": {"name": "transformer", "d_model": 8, "heads": 2},
    "optimizer": {"lr": 0.003},
    "training": {"regime": "fixed", "n_train": 8, "steps": 20, "eval_every": 10},
    "grid": {"task.set_size": [4, 6], "training.n_train": [8, 16]},
    "analysis": {"fits": [{"x": "task.set_size", "y": "n_star", "law": "power"}]},
    "profiles": {"quick": {"training": {"steps": 10}}},
}
PLACES = [(section, field) for section, table in VALID.items() if isinstance(table, dict) for field in table]
PLACES += [(section, None) for section in VALID] + [("grid", "model.d_model"), ("model", "layers"), ("task", "extra")]
ABSURD = st.sampled_from([0, -1, 2**31, 10**12, 1e300, -0.0, [], {}, [[]], "", "x" * 300, [1] * 50])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.lists(st.tuples(st.sampled_from(PLACES), st.one_of(values, ABSURD, st.none())), min_size=1, max_size=3)
)
@example(changes=[(("optimizer", None), {"name": []})])  # found by this test: a TypeError, not one line
def test_a_valid_study_with_fields_changed_or_removed_is_accepted_or_refused_in_one_line(changes, tmp_path, capsys):
    """The deep paths: one to three fields of a valid study set to random or absurd values
    (or removed: ``None``)."""
    study = json.loads(json.dumps(VALID))
    for (section, field), value in changes:
        target = study if field is None else study[section] if isinstance(study.get(section), dict) else None
        if target is None:
            continue
        key = section if field is None else field
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    path = tmp_path / "fuzz.toml"
    path.write_text("\n".join(f"{_key(key)} = {_toml(value)}" for key, value in study.items()) + "\n")
    _check(path, capsys)
