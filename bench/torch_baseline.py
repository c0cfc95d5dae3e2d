"""Plain PyTorch eager baseline for the "setfind2" (one-of-N retrieval) benchmark.

Trains ``--models`` small pre-LayerNorm transformers one after another, the way a
researcher's script would: a Python loop over models, and inside it a Python loop
over steps (fresh batch generated in torch, forward, loss, backward, AdamW step).
Float32, CPU, ``torch.set_num_threads(--threads)``. Uses only torch, numpy and the
standard library.

Task, per example: N set tokens (positions 0..N-1) plus one query token, each of
width W = 32 + D. Dims 0..15 hold a sinusoidal position code (x10), dim 16 a flag
(+10 set / -10 query), dims 17..W-1 Normal(0, 5) content (zeros on the query). A
cursor c is drawn once per model; the target at the query token is the cursor
token's dims 17..31 (zeros elsewhere). Loss = sum over W of squared error at the
last position, mean over the batch (predicting zeros gives ~375).

Prints exactly one JSON line on stdout:
  {"models": E, "steps": S, "seconds": wall time of all training (data generation
   and model construction included, interpreter start-up and imports excluded),
   "models_per_second": E / seconds,
   "final_loss": [per-model mean loss over the last 20 steps],
   "initial_loss": [per-model loss at step 0]}
"""

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, d_model, heads, mlp_width):
        super().__init__()
        self.heads, self.hd = heads, d_model // heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.q, self.k, self.v = (nn.Linear(d_model, d_model) for _ in range(3))
        self.o = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_width), nn.GELU(approximate="tanh"), nn.Linear(mlp_width, d_model)
        )

    def forward(self, x):
        b, t, d = x.shape
        h = self.ln1(x)
        q, k, v = (
            f(h).view(b, t, self.heads, self.hd).transpose(1, 2) for f in (self.q, self.k, self.v)
        )  # [b, H, t, hd]
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.hd), dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class Model(nn.Module):
    def __init__(self, width, d_model, heads, mlp_width, layers):
        super().__init__()
        self.inp = nn.Linear(width, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads, mlp_width) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, width)

    def forward(self, x):  # [b, T, W] -> [b, T, W]
        x = self.inp(x)
        for blk in self.blocks:
            x = blk(x)
        return self.out(self.ln_f(x))


def position_code(n):
    """[n, 16]: dim 2i = -cos(2 pi p / P_i) * 10, dim 2i+1 = sin(2 pi p / P_i) * 10, P_i = 4 * 2**i."""
    p = torch.arange(n, dtype=torch.float32)[:, None]
    period = 4.0 * 2.0 ** torch.arange(8, dtype=torch.float32)
    ang = 2 * math.pi * p / period
    return torch.stack([-torch.cos(ang) * 10, torch.sin(ang) * 10], dim=-1).reshape(n, 16)


def make_batch(gen, batch, n, width, cursor, pos):
    x = torch.zeros(batch, n + 1, width)
    x[:, :n, :16] = pos
    x[:, :n, 16] = 10.0
    x[:, n, 16] = -10.0
    x[:, :n, 17:] = torch.randn(batch, n, width - 17, generator=gen) * 5.0
    y = torch.zeros(batch, width)
    y[:, 17:32] = x[:, cursor, 17:32]
    return x, y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set-size", type=int, default=16)
    ap.add_argument("--distract", type=int, default=0)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--mlp-width", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--models", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    assert a.d_model % a.heads == 0, "--d-model must be divisible by --heads"
    torch.set_num_threads(a.threads)
    torch.set_default_dtype(torch.float32)
    n, width = a.set_size, 32 + a.distract

    final_loss, initial_loss = [], []
    t0 = time.perf_counter()
    for m in range(a.models):
        seed = a.seed * 1_000_003 + m
        torch.manual_seed(seed)  # model init
        gen = torch.Generator().manual_seed(seed + 12345)  # data stream
        cursor = int(torch.randint(0, n, (1,), generator=gen))
        pos = position_code(n)
        model = Model(width, a.d_model, a.heads, a.mlp_width, a.layers)
        opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        losses = []
        for _ in range(a.steps):
            x, y = make_batch(gen, a.batch_size, n, width, cursor, pos)
            loss = ((model(x)[:, -1, :] - y) ** 2).sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        losses = torch.stack(losses).numpy() if losses else np.zeros(0, np.float32)
        initial_loss.append(float(losses[0]) if len(losses) else float("nan"))
        final_loss.append(float(losses[-20:].mean()) if len(losses) else float("nan"))
    seconds = time.perf_counter() - t0

    print(
        json.dumps(
            {
                "models": a.models,
                "steps": a.steps,
                "seconds": seconds,
                "models_per_second": a.models / seconds,
                "final_loss": final_loss,
                "initial_loss": initial_loss,
            }
        )
    )


if __name__ == "__main__":
    main()
