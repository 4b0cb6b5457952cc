"""Checks that a Hugging Face model directory written by slmkit (config.json +
model.safetensors, F32) loads into the plain PyTorch models of models.py and
reproduces slmkit's logits.

For each directory given: reads config.json, builds the PyTorch model, loads
model.safetensors with strict names and shapes (GPT-2 keeps HF's (in, out)
Conv1D layout, so a wrong transpose fails here), runs the token ids of
inputs.json, and compares with logits.safetensors (our logits, written by
export_fixtures.ts). Prints the max abs error per directory; exits 1 when any
exceeds --atol (default 1e-4). With --write, also saves PyTorch's logits as
torch-logits.safetensors in the directory (the committed fixture that
test/parity/export.test.ts checks our loader against).

    node --import tsx tools/reference/export_fixtures.ts
    /usr/bin/python3 tools/reference/check_hf_export.py --write test/fixtures/export/*

Run with Debian's python3-torch (/usr/bin/python3, torch 1.13). CI never runs it.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
import safetensors_io  # noqa: E402


def check(d, atol, write):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    model = models.build(cfg)
    state = safetensors_io.load(os.path.join(d, "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"{d}: missing {missing}, unexpected {unexpected}")
    with open(os.path.join(d, "inputs.json")) as f:
        ids = torch.tensor(json.load(f)["ids"], dtype=torch.long)
    with torch.no_grad():
        logits = model(ids).reshape(-1, cfg["vocab_size"])
    ours = safetensors_io.load(os.path.join(d, "logits.safetensors"))["logits"]
    if tuple(ours.shape) != tuple(logits.shape):
        raise SystemExit(f"{d}: our logits have shape {tuple(ours.shape)}, PyTorch's {tuple(logits.shape)}")
    err = (logits - ours).abs().max().item()
    spread = (ours.max() - ours.min()).item()
    ok = err <= atol
    print(f"{os.path.basename(os.path.normpath(d))}: {cfg['model_type']}, {sum(p.numel() for p in model.parameters())} params, "
          f"logits {tuple(logits.shape)} spread {spread:.3f}, max |torch - ours| = {err:.3e} {'ok' if ok else 'FAIL'} (atol {atol:g})")
    if write:
        safetensors_io.save(os.path.join(d, "torch-logits.safetensors"), {"logits": logits}, {"torch": torch.__version__})
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", nargs="+", help="model directories (config.json, model.safetensors, inputs.json, logits.safetensors)")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--write", action="store_true", help="save PyTorch's logits as torch-logits.safetensors")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ok = all([check(d, a.atol, a.write) for d in a.dirs])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
