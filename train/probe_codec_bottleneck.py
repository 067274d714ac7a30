#!/usr/bin/python3
"""Where a codec loses the drums' attacks: its quantizer or its encoder and
decoder. Round trips of held-out corpus drums (eval_codec's songs) through
the first n codebooks for every n, and with no quantization at all (the
encoder's latent straight into the decoder); for each, onset recall and F1
at 20 ms (eval_codec's measure).

    train/probe_codec_bottleneck.py MODEL_DIR [--songs 8]

If the unquantized latent keeps the onsets, more or larger codebooks would;
if it does not, the encoder/decoder (frame rate, receptive field, loss) is
what smears them. Also, for the codec as used (all codebooks): of the
reference onsets it misses, how many still have a flux peak within 20 ms
that is only under measure.onsets' threshold (0.3 of the signal's largest),
and the peak-to-mean ratio of the drums' amplitude envelope (10 ms) above
5 kHz before and after: a duller attack, not a moved one.
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


def high_band_peak_to_mean(x, sr, hz=5000):
    spec = np.fft.rfft(x)
    y = np.fft.irfft(spec * (np.fft.rfftfreq(len(x), 1 / sr) >= hz), len(x))
    env = np.sqrt(np.convolve(y ** 2, np.ones(sr // 100) / (sr // 100), "same"))
    return float(env.max() / env.mean())


def misses(x, y, sr, tol=0.02, hop=64, size=512):
    """(reference onsets, missed, missed but with a flux peak under the threshold)."""
    ref, est = measure.onsets(x, sr), measure.onsets(y, sr)
    env, _ = measure.onset_envelope(y, sr, hop, size)
    missed = under = 0
    for t in ref:
        if len(est) and np.abs(est - t).min() <= tol:
            continue
        missed += 1
        f = int(round((t * sr - size / 2) / hop))
        near = env[max(0, f - 5):f + 6]
        under += bool(len(near) and 0 < near.max() < 0.3 * env.max())
    return len(ref), missed, under


@torch.no_grad()
def probe(model, songs=8, seconds=4.0):
    sr = model.cfg.sampling_rate
    kk = model.cfg.num_quantizers
    ways = {f"{n} codebooks": n for n in range(1, kk + 1)}
    ways["unquantized"] = None
    scores = {name: [] for name in ways}
    counts, bands = np.zeros(3, int), []
    for i in range(songs):
        x = corpus.song(eval_codec.HELD_OUT + i, sr, bars=4, roles=["drums"]).stems["drums"][:int(seconds * sr)]
        z = model.latent(torch.from_numpy(x)[None])
        ref = measure.onsets(x, sr)
        for name, n in ways.items():
            q = z if n is None else model.quantizer.decode(model.quantizer.encode(z, n))
            y = model.decoder(q[None])[0, 0].numpy()[:len(x)]
            scores[name].append(eval_codec.onset_match(ref, measure.onsets(y, sr)))
            if n == kk:
                counts += misses(x, y, sr)
                bands.append((high_band_peak_to_mean(x, sr), high_band_peak_to_mean(y, sr)))
    out = {name: dict(recall=round(float(np.mean([r for r, _ in s])), 3),
                      f1=round(float(np.mean([f for _, f in s])), 3)) for name, s in scores.items()}
    out["misses"] = dict(reference_onsets=int(counts[0]), missed=int(counts[1]), under_threshold=int(counts[2]))
    out["above_5khz_peak_to_mean"] = dict(original=round(float(np.mean([b[0] for b in bands])), 1),
                                          decoded=round(float(np.mean([b[1] for b in bands])), 1))
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--songs", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(probe(eval_codec.load(a.model), a.songs)))
