"""PyTorch CPU training baseline for `slm bench train`: trains the identical
configuration (same shapes, batch, context, AdamW, fp32, thread count) with
the plain PyTorch models in tools/reference/models.py and prints one JSON line
with tokens/s. Benchmark-only: needs Debian's python3-torch (/usr/bin/python3);
never used at run or test time.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch/train_baseline.py \
        --config config.json --batch 8 --context 256 --steps 20 --threads 2

Tokens are random ids (throughput does not depend on their values), unless
--data names a dataset made by `slm ingest`: then it trains on its train
shards (random windows) for --time-budget seconds with the same warmup +
cosine schedule as `slm train`, evaluates on the same fixed validation
windows every --eval-every steps, and prints one JSON line per evaluation
(time, step, val loss) — the learning-curve baseline.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "reference"))
import models  # noqa: E402


def read_split(data_dir, split):
    """All tokens of <split>-NNNNN.bin shards ("SLMT" header: magic, u32 version, u32 dtype, u64 count, pad to 32)."""
    names = sorted(n for n in os.listdir(data_dir) if n.startswith(split + "-") and n.endswith(".bin"))
    parts = []
    for n in names:
        with open(os.path.join(data_dir, n), "rb") as f:
            head = f.read(32)
            assert head[:4] == b"SLMT", n
            dtype = struct.unpack("<I", head[8:12])[0]
            count = struct.unpack("<Q", head[16:24])[0]
            parts.append(np.frombuffer(f.read(), dtype=np.uint16 if dtype == 1 else np.uint32)[:count].astype(np.int64))
    return torch.from_numpy(np.concatenate(parts))


def train_on_data(a, cfg, model, opt):
    V = cfg["vocab_size"]
    train = read_split(a.data, "train")
    val = read_split(a.data, "val")
    T, B = a.context, a.batch
    g = torch.Generator().manual_seed(a.seed)
    nwin = (len(val) - 1) // T
    val_windows = [val[w * T:(w + 1) * T + 1] for w in range(min(nwin, a.eval_batches * B))]

    def evaluate():
        model.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(val_windows), B):
                w = torch.stack(val_windows[i:i + B])
                logits = model(w[:, :-1])
                tot += F.cross_entropy(logits.reshape(-1, V), w[:, 1:].reshape(-1), reduction="sum").item()
                n += w[:, 1:].numel()
        model.train()
        return tot / n

    # Calibrate the step count on 3 steps, like slm train --time-budget.
    def step(lr):
        starts = torch.randint(0, len(train) - T - 1, (B,), generator=g)
        x = torch.stack([train[s:s + T] for s in starts])
        y = torch.stack([train[s + 1:s + T + 1] for s in starts])
        for group in opt.param_groups:
            group["lr"] = lr
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    total = None
    s = 0
    elapsed_eval = 0.0
    while total is None or s < total:
        if total is None:
            lr = a.lr * min(1.0, (s + 1) / 20)
        else:
            warm = min(200, int(total * 0.05))
            if s < warm:
                lr = a.lr * (s + 1) / warm
            else:
                p = (s - warm) / max(1, total - warm)
                lr = a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))
        step(lr)
        s += 1
        if total is None and s == 3:
            per = (time.perf_counter() - t0) / 3
            total = max(4, int(a.time_budget / per))
        if s % a.eval_every == 0 or s == total:
            te = time.perf_counter()
            vl = evaluate()
            elapsed_eval += time.perf_counter() - te
            print(json.dumps({"impl": "pytorch", "step": s, "time_s": time.perf_counter() - t0, "val_loss": vl}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="Hugging Face config.json of the model")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20, help="timed steps (after --warmup)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--data", help="dataset directory from slm ingest: train for --time-budget and print a val-loss curve")
    ap.add_argument("--time-budget", type=float, default=600.0, help="seconds (with --data)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-batches", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(a.config) as f:
        cfg = json.load(f)
    model = models.build(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.02)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    if a.data:
        train_on_data(a, cfg, model, opt)
        return
    V = cfg["vocab_size"]
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, V, (a.warmup + a.steps, a.batch, a.context + 1), generator=g)

    def step(i):
        x, y = data[i, :, :-1], data[i, :, 1:]
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for i in range(a.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(a.steps):
        loss = step(a.warmup + i)
    dt = time.perf_counter() - t0
    tokens = a.steps * a.batch * a.context
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "threads": a.threads, "batch": a.batch, "context": a.context,
        "params": sum(p.numel() for p in model.parameters()), "steps": a.steps, "seconds": dt,
        "tokens_per_s": tokens / dt, "last_loss": loss,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }))


if __name__ == "__main__":
    main()
