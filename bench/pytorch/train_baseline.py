"""PyTorch CPU training baseline for `slm bench train`: trains the identical
configuration (same shapes, batch, context, AdamW, fp32, thread count) with
the plain PyTorch models in tools/reference/models.py and prints one JSON line
with tokens/s. Benchmark-only: needs Debian's python3-torch (/usr/bin/python3);
never used at run or test time.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch/train_baseline.py \
        --config config.json --batch 8 --context 256 --steps 20 --threads 2

Tokens are random ids (throughput does not depend on their values).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "reference"))
import models  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="Hugging Face config.json of the model")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20, help="timed steps (after --warmup)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--lr", type=float, default=3e-4)
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
