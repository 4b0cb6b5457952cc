"""Generates the model parity fixtures in test/fixtures/models/<name>/:
config.json and model.safetensors (a tiny seeded model in Hugging Face
layout), inputs.json (token ids and targets, -100 = ignored) and
expected.safetensors (logits, mean cross-entropy loss, and the gradient of
every parameter, as computed by the plain PyTorch models in models.py).

    /usr/bin/python3 tools/reference/make_model_fixtures.py

Deterministic (fixed seeds); re-running rewrites identical files.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
import safetensors_io  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "models")

CONFIGS = {
    "llama-gqa": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 61, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
        "hidden_act": "silu", "attention_bias": False, "torch_dtype": "float32",
    },
    "qwen2-tied": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 67, "hidden_size": 48,
        "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 2,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True,
        "hidden_act": "silu", "use_sliding_window": False, "sliding_window": None, "torch_dtype": "float32",
    },
    "gpt2": {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 59, "n_embd": 32, "n_layer": 2,
        "n_head": 4, "n_positions": 16, "n_ctx": 16, "n_inner": None, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new", "tie_word_embeddings": True, "torch_dtype": "float32",
    },
    # Qwen3: q/k RMSNorm per head, head_dim (16) != hidden / heads (8), tied head.
    "qwen3": {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 63, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": True, "hidden_act": "silu", "attention_bias": False, "use_sliding_window": False,
        "sliding_window": None, "torch_dtype": "float32",
    },
    # Gemma 3: sliding window 4 (cuts at T = 9) on layers 0-1, full attention on layer 2 with linear
    # RoPE scaling (global layers only), query_pre_attn_scalar != head_dim, multi-query attention.
    "gemma3": {
        "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": 61, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1,
        "head_dim": 16, "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "rope_local_base_freq": 10000.0, "rope_scaling": {"rope_type": "linear", "factor": 2.0},
        "sliding_window": 4, "layer_types": ["sliding_attention", "sliding_attention", "full_attention"],
        "query_pre_attn_scalar": 24, "hidden_activation": "gelu_pytorch_tanh", "final_logit_softcapping": None,
        "attn_logit_softcapping": None, "attention_bias": False, "tie_word_embeddings": True, "torch_dtype": "float32",
    },
    # Llama 3.1 / 3.2 RoPE: head_dim 16 under base 10000 puts one frequency below, two in and five
    # past the smooth band of an original context of 64.
    "llama-rope-llama3": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 59, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64},
        "tie_word_embeddings": True, "hidden_act": "silu", "torch_dtype": "float32",
    },
    # SmolLM2's head counts (15 query / 5 key-value heads, not powers of two) with linear scaling.
    "llama-rope-linear-15h": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 57, "hidden_size": 60,
        "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 15, "num_key_value_heads": 5,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": {"rope_type": "linear", "factor": 4.0},
        "tie_word_embeddings": True, "hidden_act": "silu", "torch_dtype": "float32",
    },
    # YaRN: ramp between beta_fast 32 and beta_slow 1 over an original context of 16, attention factor
    # 0.1 ln 4 + 1 on cos and sin.
    "llama-rope-yarn": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 59, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},
        "tie_word_embeddings": False, "hidden_act": "silu", "torch_dtype": "float32",
    },
}


def init_(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or "ln_" in name):
                if isinstance(model, models.Gemma3):
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))  # stored w of a (1 + w) scale
                elif name.endswith("bias"):
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def main():
    torch.manual_seed(0)
    for i, (name, cfg) in enumerate(CONFIGS.items()):
        out = os.path.join(ROOT, name)
        os.makedirs(out, exist_ok=True)
        model = models.build(cfg)
        init_(model, 100 + i)
        g = torch.Generator().manual_seed(200 + i)
        B, T, V = 2, 9, cfg["vocab_size"]
        ids = torch.randint(0, V, (B, T), generator=g)
        targets = torch.randint(0, V, (B, T), generator=g)
        targets[0, 2] = -100
        targets[1, 7] = -100
        logits = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
        loss.backward()
        params = {n: p for n, p in model.named_parameters()}
        safetensors_io.save(os.path.join(out, "model.safetensors"), params, {"format": "pt"})
        expected = {"logits": logits, "loss": loss.reshape(1)}
        for n, p in params.items():
            expected["grad." + n] = p.grad
        safetensors_io.save(os.path.join(out, "expected.safetensors"), expected)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        with open(os.path.join(out, "inputs.json"), "w") as f:
            json.dump({"ids": ids.tolist(), "targets": targets.tolist(), "ignore_index": -100}, f)
        print(f"{name}: {sum(p.numel() for p in params.values())} params, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
