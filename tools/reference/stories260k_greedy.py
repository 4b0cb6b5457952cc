"""Greedy-decoding reference for llama2.c's stories260K checkpoint.

Reads the legacy llama2.c .bin (7 int32 header, then float32 arrays; see
/work/shared/models/stories260K/SOURCE.md) into a plain PyTorch Llama written
for llama2.c's own layout: RoPE rotates consecutive pairs (2i, 2i+1) of each
head (as complex numbers), so no q/k row permutation is involved (slmkit's
importer permutes to rotate-half; this script deliberately does not, so the
two paths are independent). RMSNorm eps 1e-5, theta 10000, SwiGLU FFN, the
classifier tied to the token embedding when vocab_size > 0.

Greedy decoding from [BOS=1] for N new tokens with a full recompute of the
sequence at every step (float32, no cache), then writes
test/fixtures/stories260k/greedy-200.json.

Run with Debian's torch: /usr/bin/python3 tools/reference/stories260k_greedy.py [BIN] [OUT] [N]
Not part of the package; CI never runs it.
"""
import hashlib
import json
import math
import os
import struct
import sys

import torch

torch.set_num_threads(2)


def read_llama2c(path):
    raw = open(path, "rb").read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    kv_dim = hd * n_kv
    floats = torch.frombuffer(bytearray(raw[28:]), dtype=torch.float32)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = math.prod(shape)
        t = floats[pos:pos + n].reshape(shape).clone()
        pos += n
        return t

    w = {}
    w["emb"] = take(vocab, dim)
    w["rms_att"] = take(n_layers, dim)
    w["wq"] = take(n_layers, dim, dim)
    w["wk"] = take(n_layers, kv_dim, dim)
    w["wv"] = take(n_layers, kv_dim, dim)
    w["wo"] = take(n_layers, dim, dim)
    w["rms_ffn"] = take(n_layers, dim)
    w["w1"] = take(n_layers, hidden, dim)
    w["w2"] = take(n_layers, dim, hidden)
    w["w3"] = take(n_layers, hidden, dim)
    w["rms_final"] = take(dim)
    pos += seq_len * hd  # freq_cis_real + freq_cis_imag (seq_len * hd/2 each), unused
    w["cls"] = w["emb"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv, vocab=vocab, seq_len=seq_len, hd=hd)
    return cfg, w


def rmsnorm(x, weight, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope_pairs(x, theta=10000.0):
    """x (T, H, hd): rotate each consecutive pair (2i, 2i+1) by angle pos * theta^(-2i/hd)."""
    T, H, hd = x.shape
    freqs = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)  # (hd/2)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]  # (T, hd/2)
    cos = torch.cos(ang).float()[:, None, :]
    sin = torch.sin(ang).float()[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def forward(cfg, w, ids):
    """ids list of T token ids -> logits (T, vocab)."""
    T, H, KV, hd = len(ids), cfg["n_heads"], cfg["n_kv"], cfg["hd"]
    x = w["emb"][torch.tensor(ids)]  # (T, dim)
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["n_layers"]):
        h = rmsnorm(x, w["rms_att"][l])
        q = rope_pairs((h @ w["wq"][l].T).view(T, H, hd))
        k = rope_pairs((h @ w["wk"][l].T).view(T, KV, hd))
        v = (h @ w["wv"][l].T).view(T, KV, hd)
        rep = H // KV
        k = k.repeat_interleave(rep, dim=1)  # query head j uses kv head j // rep
        v = v.repeat_interleave(rep, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        att = torch.softmax(att, dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, H * hd)
        x = x + o @ w["wo"][l].T
        h = rmsnorm(x, w["rms_ffn"][l])
        x = x + (torch.nn.functional.silu(h @ w["w1"][l].T) * (h @ w["w3"][l].T)) @ w["w2"][l].T
    x = rmsnorm(x, w["rms_final"])
    return x @ w["cls"].T


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    # ../shared from the repo root (../../shared from a worktree under /work/wt).
    candidates = [os.path.join(repo, *up, "shared", "models", "stories260K", "stories260K.bin") for up in ([".."], ["..", ".."])]
    path = sys.argv[1] if len(sys.argv) > 1 else next((p for p in candidates if os.path.exists(p)), candidates[0])
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(repo, "test", "fixtures", "stories260k", "greedy-200.json")
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    cfg, w = read_llama2c(path)
    ids = [1]
    margins = []
    with torch.no_grad():
        for _ in range(n):
            logits = forward(cfg, w, ids)[-1]
            top2 = torch.topk(logits, 2).values
            margins.append(float(top2[0] - top2[1]))
            ids.append(int(torch.argmax(logits)))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    doc = {
        "prompt": [1],
        "ids": ids[1:],
        "source": f"stories260K.bin sha256 {sha}",
        "sha256": sha,
        "made_by": "tools/reference/stories260k_greedy.py (PyTorch %s, float32, full recompute, pairwise RoPE)" % torch.__version__,
        "min_top2_margin": min(margins),
    }
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.write("\n")
    os.replace(tmp, out)
    print(f"wrote {out}: {n} ids, smallest top-2 logit margin {min(margins):.4g}")


if __name__ == "__main__":
    main()
