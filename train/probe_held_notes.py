#!/usr/bin/python3
"""Does a pitch generator hold its notes as its training data does?

On fixed batches of a train/lm.py run's own dataset (every locked track
kept, every caption and key given), teacher-forced: the bass's mean
cross-entropy per code row, and on the pitch row (the last) the mean
probability the model gives the previous frame's code against the share of
frames on which the data keeps it. Sampled at temperature 1, a model that
gives a held note 0.72 where the data holds 0.92 changes note on about a
quarter of its frames (docs/quality.md, "Held notes").

    train/probe_held_notes.py RUN_DIR [--batches 10]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm  # noqa: E402
import text  # noqa: E402


def probe(run_dir, batches):
    ck = torch.load(os.path.join(run_dir, "checkpoint.pt"), map_location="cpu")
    model = lm.new_model(ck["config"], ck["vocab_size"])
    model.load_state_dict(ck["model"])
    model.eval()
    t = dict(lm.TRAIN_DEFAULTS, **ck["train_config"])
    t.update(p_uncond=0.0, p_no_context=0.0, p_keep_track=1.0, p_no_key=0.0)
    tok = text.Tokenizer(os.path.join(run_dir, "spiece.model"))
    data = torch.load(os.path.join(run_dir, "dataset.pt"))
    special = model.dc.special
    rows, p_same, held = {}, [], []
    with torch.no_grad():
        for s in range(batches):
            b = lm.batch_at(data, tok, t, 1_000_000 + s, model.track, special)
            mem, mm = model.memory(b["ids"], b["mask"], b["ctx"], b["ctx_roles"], b["ctx_present"], b["uncond"])
            inp, tgt, valid = lm.delayed(b["codes"], special)
            logits = model(inp, b["role"], b["bpm"], mem, mm, b["key"], b["tags"])  # [B, K, L, card]
            kk = tgt.shape[1]
            for i in np.nonzero((b["role"] == lm.ROLES.index("bass")).numpy())[0]:
                for k in range(kk):
                    rows.setdefault(k, []).append(F.cross_entropy(logits[i, k, valid[k]], tgt[i, k, valid[k]]).item())
                k = kk - 1
                prev, now = inp[i, k, valid[k]], tgt[i, k, valid[k]]
                known = prev < special  # frame 0 has no previous code
                probs = torch.softmax(logits[i, k, valid[k]][known], -1)
                p_same.append(probs.gather(1, prev[known][:, None]).mean().item())
                held.append((now[known] == prev[known]).float().mean().item())
    return dict(step=ck["step"], bass_loss_per_row=[round(float(np.mean(rows[k])), 3) for k in sorted(rows)],
                pitch_row_p_previous=round(float(np.mean(p_same)), 3),
                pitch_row_data_holds=round(float(np.mean(held)), 3))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", help="a train/lm.py --out folder (checkpoint.pt, dataset.pt, spiece.model)")
    ap.add_argument("--batches", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(probe(a.run_dir, a.batches)))
