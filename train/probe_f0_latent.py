#!/usr/bin/python3
"""Does a codec's quantised latent say the bass's pitch? The harmonic path
reads f0 from the latent through one 1x1 convolution, so the pitch must be
a linear function of it. This fits log2 f0 of the known notes on the
latent by least squares over training songs and measures the fit on
held-out songs, and also the nearest training frame's note (is the pitch
in the latent at all, linear or not).

    train/probe_f0_latent.py CODEC_CHECKPOINT [--songs 60]

Measured 2026-11-27 on codec_v7b_harmonic_f0: at step 150 (--songs 60)
the linear fit is within 25 cents on 0.12 (training) / 0.14 (held out) of
frames, the nearest neighbour on 0.41; at step 700 (--songs 30) 0.24 / 0.30
and 0.54. The encoder is still learning to lay the pitch out linearly, and
the 1x1 head cannot do better than the fit.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec  # noqa: E402
import corpus  # noqa: E402


def frames(model, seeds, seconds=4.0):
    """(quantised latents [N, D], log2 f0 [N]) of the frames with a known note."""
    xs, ys = [], []
    sr, hop = model.cfg.sampling_rate, model.cfg.hop_length
    n = int(seconds * sr)
    for seed in seeds:
        s = corpus.song(seed, sr, bars=4, roles=["drums", "bass"])
        x = torch.from_numpy(s.stems["bass"][:n])[None]
        with torch.no_grad():
            zq = model.quantizer.decode(model.encode(x))
        known = codec.frame_f0(corpus.bass_f0(s.spec, sr)[:n], hop, zq.shape[1])
        voiced = known > 0
        xs.append(zq.t().numpy()[voiced])
        ys.append(np.log2(known[voiced]))
    return np.concatenate(xs), np.concatenate(ys)


def shares(cents):
    return round(float((np.abs(cents) < 25).mean()), 3), round(float((np.abs(cents) < 50).mean()), 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--songs", type=int, default=60)
    a = ap.parse_args()
    model = codec.load_checkpoint_model(a.checkpoint)
    xa, ya = frames(model, range(1000, 1000 + a.songs))
    xb, yb = frames(model, range(900_000, 900_000 + max(2, a.songs // 6)))
    w = np.linalg.lstsq(np.c_[xa, np.ones(len(xa))], ya, rcond=None)[0]
    fit = {name: shares(1200 * (np.c_[x, np.ones(len(x))] @ w - y)) for name, x, y in
           (("training", xa, ya), ("held_out", xb, yb))}
    nearest = ((xb[:, None, :] - xa[None, :, :]) ** 2).sum(-1).argmin(1)
    print({"frames": [len(ya), len(yb)], "linear_fit_within_25_50_cents": fit,
           "nearest_neighbour_within_25_50_cents": shares(1200 * (ya[nearest] - yb))})


if __name__ == "__main__":
    main()
