"""GPT-2 fixture built from PyTorch's stock layers, not from our reference.

tools/reference/models.py is our own hand-written PyTorch port of each
architecture, so a misreading of GPT-2 shared by it and by src/models/gpt2.ts
would pass test/parity/models.test.ts. This script builds GPT-2 small's
structure at a tiny size from torch.nn modules written by others:
nn.Embedding for tokens and learned positions, nn.TransformerEncoderLayer
(norm_first=True: x + attn(ln_1(x)), x + mlp(ln_2(x)); nn.MultiheadAttention
with its fused q/k/v projection; a 4x MLP with tanh-approximated GELU, GPT-2's
"gelu_new") under a causal mask, a final nn.LayerNorm and a head tied to the
token embeddings. It imports nothing from tools/reference. The weights are
saved under Hugging Face GPT-2 names (Conv1D weights are (in, out), the
transpose of nn.Linear's) with an HF config.json, beside token ids and the
logits PyTorch computed. test/parity/gpt2-torch-nn.test.ts loads the directory
with our HF loader and compares.

    /usr/bin/python3 tools/independent/gpt2_torch_nn.py test/fixtures/independent/gpt2-torch-nn
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

V, P, D, L, H = 61, 16, 32, 2, 4  # vocabulary, positions, width, layers, heads
B, T = 2, 11


def gelu_new(x):
    return F.gelu(x, approximate="tanh")


class Gpt2FromNn(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(P, D)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(D, H, dim_feedforward=4 * D, dropout=0.0, activation=gelu_new,
                                       layer_norm_eps=1e-5, batch_first=True, norm_first=True)
            for _ in range(L))
        self.ln_f = nn.LayerNorm(D, eps=1e-5)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(t))[None]
        causal = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        for blk in self.blocks:
            x = blk(x, src_mask=causal)
        return self.ln_f(x) @ self.wte.weight.T  # tied head


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(out):
    torch.manual_seed(20261207)
    m = Gpt2FromNn().eval()
    with torch.no_grad():
        # Weights large enough that the logits spread over several units (default inits give ~0.1).
        for name, p in m.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "ln_f.weight":
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.25 * torch.randn_like(p))
    ids = torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        logits = m(ids)
        # The mask is causal: changing the last token leaves every earlier position's logits alone.
        other = ids.clone()
        other[:, -1] = (other[:, -1] + 1) % V
        moved = m(other)
        assert torch.equal(moved[:, :-1], logits[:, :-1]) and not torch.equal(moved[:, -1], logits[:, -1])

    w = {"wte.weight": m.wte.weight, "wpe.weight": m.wpe.weight, "ln_f.weight": m.ln_f.weight, "ln_f.bias": m.ln_f.bias}
    for i, blk in enumerate(m.blocks):
        p = f"h.{i}."
        w[p + "ln_1.weight"], w[p + "ln_1.bias"] = blk.norm1.weight, blk.norm1.bias
        w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"] = blk.self_attn.in_proj_weight.T, blk.self_attn.in_proj_bias
        w[p + "attn.c_proj.weight"], w[p + "attn.c_proj.bias"] = blk.self_attn.out_proj.weight.T, blk.self_attn.out_proj.bias
        w[p + "ln_2.weight"], w[p + "ln_2.bias"] = blk.norm2.weight, blk.norm2.bias
        w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"] = blk.linear1.weight.T, blk.linear1.bias
        w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"] = blk.linear2.weight.T, blk.linear2.bias

    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), w)
    write_safetensors(os.path.join(out, "expected.safetensors"), {"logits": logits})
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V, "n_embd": D, "n_layer": L, "n_head": H,
              "n_positions": P, "n_ctx": P, "n_inner": None, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
              "tie_word_embeddings": True, "torch_dtype": "float32"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "inputs.json"), "w") as f:
        json.dump({"ids": ids.tolist(), "torch": torch.__version__, "script": "tools/independent/gpt2_torch_nn.py"}, f)
    spread = (logits.max() - logits.min()).item()
    print(f"wrote {out}: logits {tuple(logits.shape)}, spread {spread:.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/independent/gpt2-torch-nn")
