"""Plain PyTorch LoRA training steps on a Qwen2-shaped model, for bench/finetune.ts.

A float32 base (random weights, frozen), LoRA adapters (A uniform, B zero as PEFT starts
them; here B is small random so every product does real work) on every linear layer of
every block, AdamW on the adapters only, causal attention written out (torch 1.13 has
no fused attention), a tied output head and a full-logits cross-entropy: what a user
writing LoRA by hand in PyTorch on a CPU gets. Prints one JSON line: each step's wall and
CPU seconds and minor page faults (bench/finetune.ts reports the first step apart from the
steady state), tokens/s over the steps after the first, and the peak RSS of the process.

Run with the Debian torch: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/reference/lora_bench.py \
    --threads 2 --batch 4 --context 512 --rank 16 --steps 4
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=4)
p.add_argument("--context", type=int, default=512)
p.add_argument("--rank", type=int, default=16)
p.add_argument("--steps", type=int, default=4)
p.add_argument("--layers", type=int, default=24)
p.add_argument("--vocab", type=int, default=151936)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

D, H, KVH, HD, FF, THETA, EPS = 896, 14, 2, 64, 4864, 1e6, 1e-6


class LoraLinear(nn.Module):
    def __init__(self, i, o, r, alpha, bias=False):
        super().__init__()
        self.base = nn.Linear(i, o, bias=bias)
        self.base.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(r, i).uniform_(-1 / math.sqrt(i), 1 / math.sqrt(i)))
        self.b = nn.Parameter(torch.randn(o, r) * 0.01)
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.scale


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d), requires_grad=False)

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.w


def rotate(x, cos, sin):
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return x * cos + torch.cat((-x2, x1), -1) * sin


class Block(nn.Module):
    def __init__(self, r):
        super().__init__()
        a = 2 * r
        self.n1, self.n2 = RMSNorm(D), RMSNorm(D)
        self.q = LoraLinear(D, H * HD, r, a, True)
        self.k = LoraLinear(D, KVH * HD, r, a, True)
        self.v = LoraLinear(D, KVH * HD, r, a, True)
        self.o = LoraLinear(H * HD, D, r, a)
        self.gate = LoraLinear(D, FF, r, a)
        self.up = LoraLinear(D, FF, r, a)
        self.down = LoraLinear(FF, D, r, a)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.n1(x)
        q = self.q(h).view(b, t, H, HD).transpose(1, 2)
        k = self.k(h).view(b, t, KVH, HD).transpose(1, 2)
        v = self.v(h).view(b, t, KVH, HD).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = k.repeat_interleave(H // KVH, 1)
        v = v.repeat_interleave(H // KVH, 1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(HD) + mask
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, H * HD)
        x = x + self.o(a)
        m = self.n2(x)
        return x + self.down(F.silu(self.gate(m)) * self.up(m))


class Model(nn.Module):
    def __init__(self, r):
        super().__init__()
        self.embed = nn.Embedding(args.vocab, D)
        self.embed.requires_grad_(False)
        self.blocks = nn.ModuleList(Block(r) for _ in range(args.layers))
        self.norm = RMSNorm(D)

    def forward(self, ids):
        t = ids.shape[1]
        inv = 1.0 / (THETA ** (torch.arange(0, HD, 2).float() / HD))
        f = torch.outer(torch.arange(t).float(), inv)
        emb = torch.cat((f, f), -1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.norm(x) @ self.embed.weight.t()  # tied head


model = Model(args.rank)
params = [q for q in model.parameters() if q.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
g = torch.Generator().manual_seed(3)
n = args.batch * args.context
steps = []
for s in range(args.steps):
    t0, c0, f0 = time.perf_counter(), time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    ids = torch.randint(0, args.vocab, (args.batch, args.context), generator=g)
    tg = torch.randint(0, args.vocab, (n,), generator=g)
    loss = F.cross_entropy(model(ids).view(n, args.vocab), tg)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    steps.append({
        "wallS": time.perf_counter() - t0, "cpuS": time.process_time() - c0,
        "minorFaults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0,
    })
rest = sum(st["wallS"] for st in steps[1:])
print(json.dumps({
    "tokensPerS": (len(steps) - 1) * n / rest if rest > 0 else 0.0,
    "stepTimings": steps,
    "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "trainable": sum(q.numel() for q in params),
    "torch": torch.__version__, "threads": torch.get_num_threads(),
}))
