"""The arithmetic floor of bench/qstr_hierarchy.py counts no more than the models compute.

The floor claims to be a lower bound on the work of the qSTR protocol; that holds only if
its hand count of one example's forward products stays below what XLA itself counts for
samplelab's models (for the GRU, XLA counts a ``lax.scan`` body once, so its figure is
multiplied by the number of steps).
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from samplelab.models import build_model
from samplelab.spec.run_config import resolve_run_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from arithmetic_floor import floor_table, forward_matmul_flops, run_flops, token_width

MODELS = {
    "ffn": ({"name": "ffn"}, {}),
    "gru": ({"name": "rnn", "cell": "gru", "hidden": 64}, {"hidden": 64}),
    "transformer": ({"name": "attention_mlp", "heads": 2, "mlp_width": 100}, {"heads": 2, "mlp_width": 100}),
}


def xla_forward_flops(model_config: dict, seq_len: int) -> float:
    config = resolve_run_config({"task": {"name": "qstr", "seq_len": seq_len}, "model": model_config})
    shape = (seq_len, token_width(seq_len))
    model = build_model(config.model, jax.random.key(0), input_shape=shape, output_dim=1)
    analysis = jax.jit(lambda x: model(x)).lower(jnp.ones(shape)).compile().cost_analysis()
    return (analysis[0] if isinstance(analysis, list) else analysis)["flops"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("seq_len", [2, 12])
def test_counted_products_are_at_most_what_xla_counts(name, seq_len):
    model_config, job_fields = MODELS[name]
    counted = forward_matmul_flops({"model": name, "seq_len": seq_len, **job_fields})
    xla = xla_forward_flops(model_config, seq_len) * (seq_len if name == "gru" else 1)
    assert 0 < counted <= xla


def test_floor_adds_training_and_evaluation_and_divides_by_the_peak():
    job = {"model": "ffn", "seq_len": 4, "batch_size": 64, "eval_every": 20, "test_size": 256}
    per_example = forward_matmul_flops(job)
    assert run_flops(job, 100) == per_example * (3 * 64 * 100 + 256 * 5)
    runs = [{**job, "steps_run": 100, "seconds": 2.0}, {**job, "steps_run": 40, "seconds": 1.0}]
    table = floor_table(runs, peak=1e9)
    assert table["all"]["flops"] == run_flops(job, 100) + run_flops(job, 40) == table["ffn"]["flops"]
    assert table["all"]["floor_seconds"] == pytest.approx(table["all"]["flops"] / 1e9)
    assert table["all"]["largest_ratio"] == pytest.approx(3.0 / table["all"]["floor_seconds"])
