#!/usr/bin/python3
"""How much a generator with a key input uses it: the bass's teacher-forced
loss on batches of its own training songs with the right key, with every
key moved up a fourth (5 semitones), and with no key.

    train/probe_key_loss.py RUN_DIR [--batches 12]

RUN_DIR is a train/lm.py run folder (checkpoint.pt, dataset.pt,
spiece.model) of a model whose config has "key_embed": true.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm  # noqa: E402
import text  # noqa: E402


def moved(keys, semitones):
    """Key inputs [B, 24] with tonic and scale transposed."""
    return torch.cat([torch.roll(keys[:, :12], semitones, 1), torch.roll(keys[:, 12:], semitones, 1)], 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--batches", type=int, default=12)
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(os.path.join(a.run_dir, "checkpoint.pt"), map_location="cpu")
    model, cfg = lm.load_checkpoint_model(os.path.join(a.run_dir, "checkpoint.pt"))
    if not cfg["track_context"].get("key_embed"):
        sys.exit(f"{a.run_dir}: the model has no key input")
    data = torch.load(os.path.join(a.run_dir, "dataset.pt"))
    tok = text.Tokenizer(os.path.join(a.run_dir, "spiece.model"))
    t = dict(dict(lm.TRAIN_DEFAULTS, **ck["train_config"]), p_uncond=0.0, p_no_context=1.0, p_no_key=0.0)
    losses = {"right key": [], "up a fourth": [], "no key": []}
    with torch.no_grad():
        for s in range(a.batches):
            b = lm.batch_at(data, tok, t, 2_000_000 + s, cfg["track_context"], model.dc.special)
            bass = b["role"] == lm.ROLES.index("bass")
            if not bass.any():
                continue
            one = {k: v[bass] if torch.is_tensor(v) and v.shape[0] == len(b["role"]) else v for k, v in b.items()}
            for name, key in (("right key", one["key"]), ("up a fourth", moved(one["key"], 5)),
                              ("no key", torch.zeros_like(one["key"]))):
                losses[name].append(lm.loss_of(model, dict(one, key=key)).item())
    print(json.dumps({k: round(float(np.mean(v)), 4) for k, v in losses.items()}))


if __name__ == "__main__":
    main()
