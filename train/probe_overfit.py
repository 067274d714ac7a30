#!/usr/bin/python3
"""Does a trained generator know its training windows better than new songs?

The mean next-token loss per role (drums, bass) of a train/lm.py run's
checkpoint on batches of its own dataset (RUN_DIR/dataset.pt) and on the
same number of batches of held-out corpus songs (another seed), encoded by
the same codec. Every locked track is kept and no caption is dropped, so the
two numbers differ only by the songs. A gap says the model memorised its
windows and more songs are the lever; no gap says more steps or a bigger
model are.

    train/probe_overfit.py RUN_DIR CODEC_CHECKPOINT [--songs 96] [--batches 30]

The figures behind lm_v4.json (docs/training.md) are this script's on the
third and fourth checkpoints' runs (RUN/lm and RUN/codec/checkpoint.pt of
train/retrain_default.sh with lm_v3.json and lm_v4.json).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec as codec_mod  # noqa: E402
import lm  # noqa: E402
import text  # noqa: E402

HELD_OUT_SEED = 7  # build_dataset's songs for seed 7 share none with seed 0's


def role_losses(model, tok, data, t, batches):
    """Mean loss per role over `batches` fixed batches, everything conditioned."""
    t = dict(t, p_uncond=0.0, p_no_context=0.0, p_keep_track=1.0, p_no_key=0.0)
    per_role = {}
    with torch.no_grad():
        for s in range(batches):
            b = lm.batch_at(data, tok, t, 1_000_000 + s, model.track, model.dc.special)
            n = len(b["role"])
            for i in range(n):
                one = {k: v[i:i + 1] if torch.is_tensor(v) and v.shape[0] == n else v for k, v in b.items()}
                per_role.setdefault(lm.ROLES[int(b["role"][i])], []).append(lm.loss_of(model, one).item())
    return {r: round(float(np.mean(v)), 3) for r, v in sorted(per_role.items())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", help="a train/lm.py --out folder (checkpoint.pt, dataset.pt, spiece.model)")
    ap.add_argument("codec", help="the codec checkpoint the run was trained on")
    ap.add_argument("--songs", type=int, default=96, help="held-out songs to encode")
    ap.add_argument("--batches", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(1)
    ck = torch.load(os.path.join(a.run_dir, "checkpoint.pt"), map_location="cpu")
    model = lm.new_model(ck["config"], ck["vocab_size"])
    model.load_state_dict(ck["model"])
    model.eval()
    t = dict(lm.TRAIN_DEFAULTS, **ck["train_config"])
    tok = text.Tokenizer(os.path.join(a.run_dir, "spiece.model"))
    train_data = torch.load(os.path.join(a.run_dir, "dataset.pt"))
    held_t = dict(t, seed=HELD_OUT_SEED, songs=a.songs)
    held_data = lm.build_dataset(codec_mod.load_checkpoint_model(a.codec), held_t)
    out = dict(step=ck["step"], training_songs=role_losses(model, tok, train_data, t, a.batches),
               held_out_songs=role_losses(model, tok, held_data, held_t, a.batches))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
