#!/usr/bin/python3
"""How far generators' predictions for one role have moved from a reference
generator's, teacher-forced on a run's dataset: per token, the KL divergence
from the reference's distribution and each one's entropy, for the
conditional branch, the null branch and their guided mix (guidance 3, as the
engine samples). Take measures compare draws; this compares distributions.

    train/probe_drift.py RUN/dataset_folder REFERENCE MODEL... [--role drums]

RUN/dataset_folder holds a generator run's dataset.pt and spiece.model;
REFERENCE and each MODEL are a checkpoint.pt or an exported folder of that
run's architecture (docs/quality.md, "Distilling the drums").
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lm  # noqa: E402
import text  # noqa: E402


def guided_log_probs(model, batch, guidance):
    """(guided, conditional, null) log-probabilities of the batch's tokens."""
    cond = lm.token_logits(model, batch)[0]
    null = lm.token_logits(model, dict(batch, uncond=torch.ones_like(batch["uncond"])))[0]
    return [torch.log_softmax(x, -1) for x in (null + guidance * (cond - null), cond, null)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a generator run's folder (dataset.pt, spiece.model, checkpoint.pt)")
    ap.add_argument("reference")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--role", default="drums")
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--guidance", type=float, default=3.0)
    a = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(os.path.join(a.run, "checkpoint.pt"), map_location="cpu")
    cfg, t = ck["config"], ck["train_config"]
    load = lambda path: lm.load_teacher(cfg, ck["vocab_size"], path)  # noqa: E731
    ref, models = load(a.reference), {m: load(m) for m in a.models}
    data = torch.load(os.path.join(a.run, "dataset.pt"))
    tok = text.Tokenizer(os.path.join(a.run, "spiece.model"))
    out, items = {}, 0
    with torch.no_grad():
        for step in range(a.batches):
            batch = lm.batch_at(data, tok, dict(t, seed=1234, batch=16, p_uncond=0.0), step,
                                cfg["track_context"], ref.dc.special)
            pick = lm.distilled_items(batch, [a.role])
            if not pick.any():
                continue
            items += int(pick.sum())
            want = [x[pick] for x in guided_log_probs(ref, batch, a.guidance)]
            for name, m in models.items():
                have = [x[pick] for x in guided_log_probs(m, batch, a.guidance)]
                for branch, p, q in zip(("guided", "cond", "null"), want, have):
                    out.setdefault((name, "KL", branch), []).append((p.exp() * (p - q)).sum(-1).mean().item())
                    out.setdefault((name, "entropy", branch), []).append(-(q.exp() * q).sum(-1).mean().item())
            for branch, p in zip(("guided", "cond", "null"), want):
                out.setdefault(("reference", "entropy", branch), []).append(-(p.exp() * p).sum(-1).mean().item())
    print(f"{items} {a.role} tracks; nats per token")
    for (name, what, branch), v in out.items():
        print(f"{name}  {what} {branch}: {np.mean(v):.4f}")


if __name__ == "__main__":
    main()
