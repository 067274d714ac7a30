#!/usr/bin/python3
"""How much of the drums' high-band envelope a codec's latent carries: what
any decoder of these codes could render of the quieter hits.

A small MLP (--context frames of the latent in, 256, 256, ELU) learns the
log power of the drums' band over --hz, in two bands (hz..5 kHz, 5..8 kHz)
and 10 steps a frame (2 ms at 16 kHz), on corpus songs 0..--songs-1. On
eval_codec's 8 held-out songs the decoded drums' band over --hz is then
replaced by band-limited noise under the envelope it predicts, and under
the true envelope (the oracle), and the synchronizer's onsets are matched
to the original's (recall at 20 ms, pooled; needs the engine built).

    train/probe_highband_latent.py MODEL [--latent codes|unquantized] [--songs 600]
        [--iters 8000] [--context 5] [--hz 3000]

`codes`: the quantised latent (what a generator writes); `unquantized`:
the encoder's output before the codebooks. If the oracle keeps the onsets
and the head does not, the latent does not say where the quieter hits are,
and no decoder of these codes will (docs/quality.md, "The drums' high
band").
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import eval_codec  # noqa: E402
import measure  # noqa: E402
from probe_drum_band import band  # noqa: E402

STEPS = 10
EPS = 1e-6


def bands(hz, sr):
    return [(hz, 5000.0), (5000.0, sr / 2 + 1)]


def envelope(x, sr, hop, hz):
    """log power [frames, steps, bands] of x's bands over hz."""
    n = len(x) // hop * hop
    return np.stack([np.log((band(x, sr, lo, hi)[:n] ** 2).reshape(-1, STEPS, hop // STEPS).mean(2) + EPS)
                     for lo, hi in bands(hz, sr)], 2)


@torch.no_grad()
def features(model, x, latent, context):
    z = model.latent(torch.from_numpy(x)[None])
    if latent == "codes":
        z = model.quantizer.decode(model.quantizer.encode(z, model.cfg.num_quantizers))
    z = z.numpy().T  # [frames, D]
    half = context // 2
    p = np.pad(z, ((half, half), (0, 0)))
    return np.concatenate([p[i:i + len(z)] for i in range(context)], 1)


def noise_under(env, sr, hop, hz, n, rng):
    """Band-limited noise of n samples under the envelope env [frames, steps, bands] (log power)."""
    run = hop // STEPS
    out = np.zeros(n)
    for b, (lo, hi) in enumerate(bands(hz, sr)):
        amp = np.sqrt(np.maximum(np.exp(env[:, :, b]) - EPS, 0)).reshape(-1)
        a = np.interp(np.arange(n), (np.arange(len(amp)) + 0.5) * run, amp)
        noise = band(rng.standard_normal(n), sr, lo, hi)
        out += a * noise / np.sqrt((noise ** 2).mean())
    return out


def probe(model, latent="codes", songs=600, iters=8000, context=5, hz=3000.0, seconds=4.0):
    sr, hop = model.cfg.sampling_rate, model.cfg.hop_length
    torch.manual_seed(0)
    xs, ys = [], []
    for i in range(songs):
        x = corpus.song(i, sr, bars=4, roles=["drums"]).stems["drums"][:int(seconds * sr)]
        f, e = features(model, x, latent, context), envelope(x, sr, hop, hz)
        k = min(len(f), len(e))
        xs.append(f[:k])
        ys.append(e[:k].reshape(k, -1))
    xt, yt = torch.from_numpy(np.concatenate(xs)).float(), torch.from_numpy(np.concatenate(ys)).float()
    net = torch.nn.Sequential(torch.nn.Linear(xt.shape[1], 256), torch.nn.ELU(), torch.nn.Linear(256, 256),
                              torch.nn.ELU(), torch.nn.Linear(256, yt.shape[1]))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(iters):
        idx = torch.randint(0, len(xt), (512,))
        loss = (net(xt[idx]) - yt[idx]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    rng = np.random.default_rng(0)
    hits = {"decoded": 0.0, "head's envelope": 0.0, "true envelope": 0.0}
    total, l1 = 0, []
    for i in range(8):
        x = corpus.song(eval_codec.HELD_OUT + i, sr, bars=4, roles=["drums"]).stems["drums"][:int(seconds * sr)]
        y = eval_codec.round_trip(model, x)
        f, e = features(model, x, latent, context), envelope(x, sr, hop, hz)
        k = min(len(f), len(e))
        with torch.no_grad():
            pred = net(torch.from_numpy(f[:k]).float()).numpy().reshape(e[:k].shape)
        l1.append(float(np.abs(pred - e[:k]).mean()))
        low = y - band(y, sr, hz)
        ref = measure.synchronizer_onsets(x, sr)
        for name, v in (("decoded", y), ("head's envelope", low + noise_under(pred, sr, hop, hz, len(x), rng)),
                        ("true envelope", low + noise_under(e[:k], sr, hop, hz, len(x), rng))):
            est = measure.synchronizer_onsets(v.astype(np.float32), sr)
            hits[name] += eval_codec.onset_match(ref, est)[0] * len(ref)
        total += len(ref)
    return dict(latent=latent, songs=songs, iters=iters, context=context, band_hz=hz,
                held_out_log_power_l1=round(float(np.mean(l1)), 3), reference_onsets=total,
                recall_20ms={k: round(v / total, 3) for k, v in hits.items()})


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="an exported model folder or a codec checkpoint.pt")
    ap.add_argument("--latent", choices=["codes", "unquantized"], default="codes")
    ap.add_argument("--songs", type=int, default=600)
    ap.add_argument("--iters", type=int, default=8000)
    ap.add_argument("--context", type=int, default=5)
    ap.add_argument("--hz", type=float, default=3000.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(probe(eval_codec.load(a.model), a.latent, a.songs, a.iters, a.context, a.hz)))
