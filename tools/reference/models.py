"""Plain PyTorch reference implementations of the model families slmkit
supports (Llama / Mistral / Qwen2 / Qwen3 blocks, Gemma 3 text and GPT-2),
written from the published architecture descriptions, with Hugging Face
parameter names, including RoPE scaling (linear, llama3, yarn) as
Hugging Face's rope utilities define it.

Used by make_model_fixtures.py (parity fixtures for the TypeScript models),
by the PyTorch training baseline in bench/, and to check exported model
directories. Not part of the package; CI never runs it.

Run with Debian's python3-torch: /usr/bin/python3 (torch 1.13, which has no
scaled_dot_product_attention, so attention is spelled out).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * rstd * self.weight


def inverse_frequencies(rot, theta, scaling=None, max_pos=None):
    """(inv_freq float64 (rot/2,), attention factor) for a rope_scaling dict (or None)."""
    inv = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    if not scaling or scaling.get("rope_type", scaling.get("type")) in (None, "default"):
        return inv, 1.0
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = scaling["factor"]
    if kind == "linear":
        return inv / factor, 1.0
    if kind == "llama3":
        orig = scaling["original_max_position_embeddings"]
        lo_f, hi_f = scaling["low_freq_factor"], scaling["high_freq_factor"]
        wave = 2 * math.pi / inv
        out = inv.clone()
        for i in range(inv.shape[0]):
            w = wave[i].item()
            if w < orig / hi_f:
                continue
            if w > orig / lo_f:
                out[i] = inv[i] / factor
            else:
                smooth = (orig / w - lo_f) / (hi_f - lo_f)
                out[i] = (1 - smooth) * inv[i] / factor + smooth * inv[i]
        return out, 1.0
    if kind == "yarn":
        orig = scaling.get("original_max_position_embeddings") or max_pos
        fast, slow = scaling.get("beta_fast") or 32, scaling.get("beta_slow") or 1
        att = scaling.get("attention_factor")
        if att is None:
            att = 0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0

        def dim_of(rotations):
            return rot * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(theta))

        lo, hi = math.floor(dim_of(fast)), math.ceil(dim_of(slow))
        lo, hi = max(lo, 0), min(hi, rot - 1)
        if lo == hi:
            hi += 0.001
        ramp = ((torch.arange(rot // 2, dtype=torch.float64) - lo) / (hi - lo)).clamp(0, 1)
        # ramp 0: the original frequency; ramp 1: interpolated (divided by factor)
        return inv / factor * ramp + inv * (1 - ramp), att
    raise ValueError(f"rope type {kind}")


def rope_tables(T, rot, theta, device=None, scaling=None, max_pos=None):
    inv, att = inverse_frequencies(rot, theta, scaling, max_pos)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]  # (T, rot/2)
    return (torch.cos(ang) * att).float(), (torch.sin(ang) * att).float()


def apply_rope_half(x, cos, sin):
    # x (B, nh, T, hd); rotate-half pairs (i, i + hd/2), as Hugging Face Llama stores q/k.
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    c, s = cos[None, None], sin[None, None]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def causal_attention(q, k, v, scale, window=None):
    # q (B, H, T, hd), k/v (B, H, T, hd) after GQA expansion. With a window, query i sees
    # keys j with i - window < j <= i.
    T = q.shape[2]
    att = (q @ k.transpose(-1, -2)) * scale
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    mask = j <= i
    if window is not None:
        mask = mask & (j > i - window)
    att = att.masked_fill(~mask, float("-inf"))
    return torch.softmax(att, dim=-1) @ v


class LlamaAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, H, KV, hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        qkv_bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)
        o_bias = c["model_type"] != "qwen2" and c.get("attention_bias", False)
        self.q_proj = nn.Linear(d, H * hd, bias=qkv_bias)
        self.k_proj = nn.Linear(d, KV * hd, bias=qkv_bias)
        self.v_proj = nn.Linear(d, KV * hd, bias=qkv_bias)
        self.o_proj = nn.Linear(H * hd, d, bias=o_bias)
        self.H, self.KV, self.hd = H, KV, hd
        self.qk_norm = c["model_type"] == "qwen3"
        if self.qk_norm:
            # Qwen3: RMSNorm over each head's hd values of q and k, before RoPE
            self.q_norm = RMSNorm(hd, c["rms_norm_eps"])
            self.k_norm = RMSNorm(hd, c["rms_norm_eps"])

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.H, self.hd)
        k = self.k_proj(x).view(B, T, self.KV, self.hd)
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q = q.transpose(1, 2)
        k = k.transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.KV, self.hd).transpose(1, 2)
        q, k = apply_rope_half(q, cos, sin), apply_rope_half(k, cos, sin)
        rep = self.H // self.KV
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        y = causal_attention(q, k, v, 1.0 / math.sqrt(self.hd))
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.H * self.hd))


class LlamaMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f, b = c["hidden_size"], c["intermediate_size"], c.get("mlp_bias", False)
        self.gate_proj = nn.Linear(d, f, bias=b)
        self.up_proj = nn.Linear(d, f, bias=b)
        self.down_proj = nn.Linear(f, d, bias=b)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = LlamaAttention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = LlamaMLP(c)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaInner(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([LlamaLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class Llama(nn.Module):
    """LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM parameter layout."""

    def __init__(self, c):
        super().__init__()
        c = dict(c)
        c.setdefault("head_dim", c["hidden_size"] // c["num_attention_heads"])
        self.c = c
        self.model = LlamaInner(c)
        self.tied = c.get("tie_word_embeddings", False)
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, ids):
        T = ids.shape[1]
        cos, sin = rope_tables(T, self.c["head_dim"], self.c.get("rope_theta", 10000.0),
                               scaling=self.c.get("rope_scaling"), max_pos=self.c["max_position_embeddings"])
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        x = self.model.norm(x)
        w = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return x @ w.t()


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Conv1D(nn.Module):
    """GPT-2 stores linear weights as (in, out)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, eps = c["n_embd"], c["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(d, eps=eps)
        self.attn = nn.Module()
        self.attn.c_attn = Conv1D(d, 3 * d)
        self.attn.c_proj = Conv1D(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=eps)
        self.mlp = nn.Module()
        self.mlp.c_fc = Conv1D(d, c.get("n_inner") or 4 * d)
        self.mlp.c_proj = Conv1D(c.get("n_inner") or 4 * d, d)
        self.H = c["n_head"]

    def forward(self, x):
        B, T, d = x.shape
        hd = d // self.H
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (t.view(B, T, self.H, hd).transpose(1, 2) for t in (q, k, v))
        y = causal_attention(q, k, v, 1.0 / math.sqrt(hd)).transpose(1, 2).reshape(B, T, d)
        x = x + self.attn.c_proj(y)
        return x + self.mlp.c_proj(gelu_tanh(self.mlp.c_fc(self.ln_2(x))))


class GPT2(nn.Module):
    """GPT2LMHeadModel parameter layout (transformer.*; lm_head tied to wte)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.transformer.wpe = nn.Embedding(c["n_positions"], c["n_embd"])
        self.transformer.h = nn.ModuleList([GPT2Block(c) for _ in range(c["n_layer"])])
        self.transformer.ln_f = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])

    def forward(self, ids):
        T = ids.shape[1]
        x = self.transformer.wte(ids) + self.transformer.wpe(torch.arange(T))[None]
        for block in self.transformer.h:
            x = block(x)
        return self.transformer.ln_f(x) @ self.transformer.wte.weight.t()


class GemmaRMSNorm(nn.Module):
    """Gemma's RMSNorm: the weight is stored as w and the scale is (1 + w)."""

    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * rstd * (1.0 + self.weight)


class Gemma3Attention(nn.Module):
    def __init__(self, c, sliding):
        super().__init__()
        d, H, KV, hd = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        b = c.get("attention_bias", False)
        self.q_proj = nn.Linear(d, H * hd, bias=b)
        self.k_proj = nn.Linear(d, KV * hd, bias=b)
        self.v_proj = nn.Linear(d, KV * hd, bias=b)
        self.o_proj = nn.Linear(H * hd, d, bias=b)
        self.q_norm = GemmaRMSNorm(hd, c["rms_norm_eps"])
        self.k_norm = GemmaRMSNorm(hd, c["rms_norm_eps"])
        self.H, self.KV, self.hd = H, KV, hd
        self.scale = c["query_pre_attn_scalar"] ** -0.5
        self.window = c["sliding_window"] if sliding else None

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(B, T, self.H, self.hd)).transpose(1, 2)
        k = self.k_norm(self.k_proj(x).view(B, T, self.KV, self.hd)).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.KV, self.hd).transpose(1, 2)
        q, k = apply_rope_half(q, cos, sin), apply_rope_half(k, cos, sin)
        rep = self.H // self.KV
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        y = causal_attention(q, k, v, self.scale, self.window)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.H * self.hd))


class Gemma3MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, f = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(gelu_tanh(self.gate_proj(x)) * self.up_proj(x))


class Gemma3Layer(nn.Module):
    def __init__(self, c, sliding):
        super().__init__()
        d, eps = c["hidden_size"], c["rms_norm_eps"]
        self.sliding = sliding
        self.input_layernorm = GemmaRMSNorm(d, eps)
        self.self_attn = Gemma3Attention(c, sliding)
        self.post_attention_layernorm = GemmaRMSNorm(d, eps)
        self.pre_feedforward_layernorm = GemmaRMSNorm(d, eps)
        self.mlp = Gemma3MLP(c)
        self.post_feedforward_layernorm = GemmaRMSNorm(d, eps)

    def forward(self, x, cos, sin):
        x = x + self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), cos, sin))
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x)))


class Gemma3(nn.Module):
    """Gemma3ForCausalLM (model_type gemma3_text) parameter layout."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        n = c["num_hidden_layers"]
        types = c.get("layer_types") or [
            "full_attention" if (i + 1) % c.get("sliding_window_pattern", 6) == 0 else "sliding_attention" for i in range(n)]
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.model.layers = nn.ModuleList([Gemma3Layer(c, t == "sliding_attention") for t in types])
        self.model.norm = GemmaRMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.tied = c.get("tie_word_embeddings", True)
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, ids):
        c, T = self.c, ids.shape[1]
        hd = c["head_dim"]
        glob = rope_tables(T, hd, c["rope_theta"], scaling=c.get("rope_scaling"), max_pos=c["max_position_embeddings"])
        loc = rope_tables(T, hd, c["rope_local_base_freq"])
        # the embedding multiplier is sqrt(hidden) rounded to the weights' dtype (float32 here)
        x = self.model.embed_tokens(ids) * torch.tensor(math.sqrt(c["hidden_size"]), dtype=torch.float32)
        for layer in self.model.layers:
            x = layer(x, *(loc if layer.sliding else glob))
        x = self.model.norm(x)
        w = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return x @ w.t()


def build(config):
    if config["model_type"] == "gpt2":
        return GPT2(config)
    if config["model_type"] == "gemma3_text":
        return Gemma3(config)
    return Llama(config)
