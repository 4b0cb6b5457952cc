"""Generates the preference-loss fixtures in test/fixtures/preference/: on the
tiny Llama of test/fixtures/models/llama-gqa (its weights are read, not
copied), the losses of DPO (sigmoid and IPO) and ORPO on two preference
pairs, and their gradients:

- lora: LoRA adapters (rank 2, alpha 4, on q_proj and v_proj, A and B both
  random so the policy differs from the base) trained; the DPO reference is
  the same model with the adapters switched off. Gradients of every lora_A /
  lora_B (PEFT names).
- full: every base weight trained, adapters absent; the DPO reference
  log-probs are those of the adapted model above (any fixed numbers do).
  Gradients of every parameter.

Sequence log-probabilities are sums of log-softmax over the completion tokens
(targets != -100). Formulas (written here from the DPO, IPO and ORPO papers
and TRL's documented conventions, independently of the TypeScript code):
  h = (pi_c - ref_c) - (pi_r - ref_r); sigmoid: -logsigmoid(beta h); ipo: (h - 1/(2 beta))^2
  rpo: sigmoid + alpha * nll (nll as ORPO's below)
  orpo: m = pi / tokens; log odds = m - log1p(-exp(m));
        nll (mean cross-entropy over all chosen tokens) - lambda * mean logsigmoid(lo_c - lo_r)
Files: inputs.json (ids, targets: rows 0..n-1 chosen, n..2n-1 rejected;
options), adapters.safetensors, expected.safetensors.

    /usr/bin/python3 tools/reference/make_preference_fixtures.py
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
import safetensors_io  # noqa: E402

HERE = os.path.dirname(__file__)
MODEL = os.path.join(HERE, "..", "..", "test", "fixtures", "models", "llama-gqa")
OUT = os.path.join(HERE, "..", "..", "test", "fixtures", "preference")
R, ALPHA, TARGETS = 2, 4.0, ["q_proj", "v_proj"]
BETA, LAMBDA, RPO_ALPHA = 0.1, 0.1, 1.0


class LoraLinear(torch.nn.Module):
    def __init__(self, base, A, B, scale):
        super().__init__()
        self.base, self.A, self.B, self.scale, self.on = base, A, B, scale, True

    def forward(self, x):
        y = self.base(x)
        return y + self.scale * (x @ self.A.t()) @ self.B.t() if self.on else y


def seq_logps(logits, targets):
    lp = torch.log_softmax(logits, dim=-1)
    mask = targets != -100
    picked = lp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1), mask.sum(-1)


def losses(pi, ref, tokens, n):
    pc, pr = pi[:n], pi[n:]
    out = {}
    h = (pc - ref[:n]) - (pr - ref[n:])
    out["dpo_sigmoid"] = (-F.logsigmoid(BETA * h)).mean()
    out["dpo_ipo"] = ((h - 1 / (2 * BETA)) ** 2).mean()
    mc, mr = pc / tokens[:n], pr / tokens[n:]
    lo = (mc - torch.log1p(-torch.exp(mc))) - (mr - torch.log1p(-torch.exp(mr)))
    nll = -pc.sum() / tokens[:n].sum()
    out["dpo_rpo"] = out["dpo_sigmoid"] + RPO_ALPHA * nll
    out["orpo"] = nll - LAMBDA * F.logsigmoid(lo).mean()
    return out


def main():
    cfg = json.load(open(os.path.join(MODEL, "config.json")))
    model = models.build(cfg)
    weights = safetensors_io.load(os.path.join(MODEL, "model.safetensors"))
    model.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
    V = cfg["vocab_size"]

    g = torch.Generator().manual_seed(31)
    n, T = 2, 10
    prompt_len = [4, 3]
    ids = torch.randint(0, V, (2 * n, T), generator=g)
    targets = torch.full((2 * n, T), -100, dtype=torch.long)
    lengths = [[9, 6], [8, 10]]  # [pair][chosen, rejected] real tokens (padding after)
    for i in range(n):
        ids[n + i, : prompt_len[i]] = ids[i, : prompt_len[i]]  # the pair shares its prompt
        for side, row in ((0, i), (1, n + i)):
            L = lengths[i][side]
            for t in range(prompt_len[i] - 1, L - 1):
                targets[row, t] = ids[row, t + 1]
            ids[row, L:] = 0  # padding

    # Adapters.
    adapters, mods = {}, []
    for li, layer in enumerate(model.model.layers):
        for name in TARGETS:
            base = getattr(layer.self_attn, name)
            A = (0.3 * torch.randn(R, base.in_features, generator=g)).requires_grad_()
            B = (0.3 * torch.randn(base.out_features, R, generator=g)).requires_grad_()
            wrapped = LoraLinear(base, A, B, ALPHA / R)
            setattr(layer.self_attn, name, wrapped)
            mods.append(wrapped)
            prefix = f"base_model.model.model.layers.{li}.self_attn.{name}"
            adapters[prefix + ".lora_A.weight"] = A
            adapters[prefix + ".lora_B.weight"] = B

    expected = {}
    for p in model.parameters():
        p.requires_grad_(False)
    # LoRA: reference = adapters off.
    with torch.no_grad():
        for m in mods:
            m.on = False
        ref, _ = seq_logps(model(ids), targets)
        for m in mods:
            m.on = True
    pi, tokens = seq_logps(model(ids), targets)
    tokens = tokens.to(torch.float32)
    expected["lora.ref_logps"] = ref
    expected["lora.logps"] = pi
    for name, loss in losses(pi, ref, tokens, n).items():
        grads = torch.autograd.grad(loss, list(adapters.values()), retain_graph=True)
        expected[f"lora.{name}.loss"] = loss.reshape(1)
        for k, gr in zip(adapters.keys(), grads):
            expected[f"lora.{name}.grad.{k}"] = gr

    # Full: adapters removed, every base weight trained, reference = the adapted model's log-probs.
    for li, layer in enumerate(model.model.layers):
        for name in TARGETS:
            setattr(layer.self_attn, name, getattr(layer.self_attn, name).base)
    params = dict(model.named_parameters())
    for p in params.values():
        p.requires_grad_(True)
    pi_full, _ = seq_logps(model(ids), targets)
    expected["full.logps"] = pi_full
    for name, loss in losses(pi_full, pi.detach(), tokens, n).items():
        grads = torch.autograd.grad(loss, list(params.values()), retain_graph=True)
        expected[f"full.{name}.loss"] = loss.reshape(1)
        for k, gr in zip(params.keys(), grads):
            expected[f"full.{name}.grad.{k}"] = gr

    os.makedirs(OUT, exist_ok=True)
    safetensors_io.save(os.path.join(OUT, "adapters.safetensors"), adapters, {"format": "pt"})
    safetensors_io.save(os.path.join(OUT, "expected.safetensors"), expected)
    with open(os.path.join(OUT, "inputs.json"), "w") as f:
        json.dump({
            "model": "llama-gqa", "pairs": n, "ids": ids.tolist(), "targets": targets.tolist(), "ignore_index": -100,
            "lora": {"r": R, "alpha": ALPHA, "targets": TARGETS}, "beta": BETA, "orpo_lambda": LAMBDA, "rpo_alpha": RPO_ALPHA,
        }, f)
    for k in sorted(expected):
        if k.endswith(".loss"):
            print(k, f"{expected[k].item():.6f}")
    print("logps", pi.tolist(), "ref", ref.tolist())


if __name__ == "__main__":
    main()
