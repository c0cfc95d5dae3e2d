"""Plain PyTorch eager re-implementation of the quick ``qstr_hierarchy`` protocol.

One model at a time, the way the authors' scripts do it: for each (architecture, N,
seed) build the model, then a Python loop over steps: a fresh batch of 64 qSTR examples
(q = 1), forward, MSE, backward, AdamW (lr 1e-3, weight decay 0.01); every ``eval_every``
steps the test MSE on a fixed test set; stop at the first evaluation below the threshold
(0.5) or when the step budget is spent. Float32, CPU. Uses only torch, numpy and the
standard library, so it runs in its own interpreter (``make bench`` builds it).

Task (as ``samplelab.tasks.qstr``): per run, E ∈ {±1/√d_e}^{N×d_e} with d_e = ⌊5 ln N⌋ and
a unit read-out u ∈ R^10; per example, X_j ~ N(0, I_10), t_i ~ U{0…N−1} per position,
input [X_i, E_i, E_{t_i}], target ⟨u, X_{t_i}⟩ at every position.
Models (as samplelab's): ``transformer`` = one softmax attention layer on the raw tokens
(H heads of the input width) + ReLU MLP on [x_i, retrieved]; ``ffn`` = flattened input →
N·10 → 1000 → N with ReLU; ``gru`` = bidirectional GRU + linear read-out.

Reads a JSON list of jobs ``{"model", "seq_len", "seed", "steps", ...}`` from ``--jobs``
and prints one JSON line: ``{"seconds": wall time of all jobs, "runs": [{...,
"samples_to_threshold": int | null, "steps_run": int}]}``.
"""

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn


class AttentionMLP(nn.Module):
    def __init__(self, width, heads, mlp_width):
        super().__init__()
        self.heads, self.width = heads, width
        bound = 1 / math.sqrt(width)
        self.q, self.k, self.v = (
            nn.Parameter(torch.empty(heads, width, width).uniform_(-bound, bound)) for _ in range(3)
        )
        self.mlp = nn.Sequential(nn.Linear(width * (1 + heads), mlp_width), nn.ReLU(), nn.Linear(mlp_width, 1))

    def forward(self, x):  # [B, T, W]
        q = torch.einsum("btw,hwk->bhtk", x, self.q)
        k = torch.einsum("bsw,hwk->bhsk", x, self.k)
        v = torch.einsum("bsw,hwk->bhsk", x, self.v)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.width), dim=-1)
        retrieved = (weights @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        return self.mlp(torch.cat([x, retrieved], dim=-1))[..., 0]


class FFN(nn.Module):
    def __init__(self, tokens, width):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(tokens * width, tokens * 10), nn.ReLU(), nn.Linear(tokens * 10, 1000), nn.ReLU(),
            nn.Linear(1000, tokens),
        )  # fmt: skip

    def forward(self, x):
        return self.net(x)


class BiGRU(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.rnn = nn.GRU(width, hidden, batch_first=True, bidirectional=True)
        self.readout = nn.Linear(2 * hidden, 1)

    def forward(self, x):
        return self.readout(self.rnn(x)[0])[..., 0]


def build(job, width):
    if job["model"] == "transformer":
        return AttentionMLP(width, job.get("heads", 1), job.get("mlp_width", 100))
    if job["model"] == "ffn":
        return FFN(job["seq_len"], width)
    return BiGRU(width, job.get("hidden", 64))


def batch(generator, embeddings, readout, size):
    tokens_n = embeddings.shape[0]
    x = torch.randn(size, tokens_n, 10, generator=generator)
    t = torch.randint(0, tokens_n, (size, tokens_n), generator=generator)
    retrieved_x = torch.gather(x, 1, t[..., None].expand(-1, -1, 10))
    inputs = torch.cat([x, embeddings.expand(size, -1, -1), embeddings[t]], dim=-1)
    return inputs, retrieved_x @ readout


def run_job(job):
    start = time.perf_counter()
    torch.manual_seed(job["seed"])
    generator = torch.Generator().manual_seed(job["seed"])
    n = job["seq_len"]
    d_e = max(1, math.floor(5 * math.log(n)))
    embeddings = (torch.randint(0, 2, (n, d_e), generator=generator) * 2 - 1).float() / math.sqrt(d_e)
    readout = torch.randn(10, generator=generator)
    readout /= readout.norm()
    test_x, test_y = batch(generator, embeddings, readout, job["test_size"])
    model = build(job, 10 + 2 * d_e)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    reached = None
    step = 0
    for step in range(1, job["steps"] + 1):
        inputs, targets = batch(generator, embeddings, readout, job["batch_size"])
        loss = torch.mean((model(inputs) - targets) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % job["eval_every"] == 0:
            with torch.no_grad():
                test_mse = torch.mean((model(test_x) - test_y) ** 2).item()
            if test_mse < job["threshold"]:
                reached = step * job["batch_size"]
                break
    return {**job, "samples_to_threshold": reached, "steps_run": step, "seconds": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", required=True, help="JSON file: a list of jobs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    with open(args.jobs) as handle:
        jobs = json.load(handle)
    start = time.perf_counter()
    runs = [run_job(job) for job in jobs]
    print(json.dumps({"seconds": time.perf_counter() - start, "runs": runs}))


if __name__ == "__main__":
    main()
