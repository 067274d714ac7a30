#!/usr/bin/python3
"""Which band of the decoded drums loses their onsets. Held-out corpus drums
(eval_codec's songs) through a codec, onsets as the synchronizer hears
them (measure.synchronizer_onsets: needs the engine built), recall at
20 ms of the original's onsets, pooled over the songs:

  decoded                  the codec as used
  + original high band     the decoded drums with their band over --hz
                           replaced by the original's
  original + decoded high  the other way round
  decoded, high band xG    the decoded high band louder (G = 2, 3, 5):
                           whether it is only too quiet

and, for the hits kept and the hits missed, the median peak level and the
median RMS over --hz in the 35 ms from the hit, original and decoded (dB).

    train/probe_drum_band.py MODEL [--songs 8] [--hz 4000]

If splicing the original's high band back brings the recall to the
target while a louder decoded band does not, the codec renders the high
band's level but not its timing: the quieter hits became hiss
(docs/quality.md, "The drums' high band").
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


def band(x, sr, lo, hi=np.inf):
    """x's content in [lo, hi) Hz (an FFT brick wall: no phase shift)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return np.fft.irfft(spec * ((f >= lo) & (f < hi)), len(x)).astype(np.float32)


def db(v):
    return float(20 * np.log10(v + 1e-9))


def hit_levels(x, y, hx, hy, t, sr):
    """(peak x, peak y, high-band RMS x, high-band RMS y) in dB, 5 ms before to 30 ms after t."""
    a, b = int(max(0.0, t - 0.005) * sr), int((t + 0.03) * sr)
    return (db(np.abs(x[a:b]).max()), db(np.abs(y[a:b]).max()),
            db(np.sqrt((hx[a:b] ** 2).mean())), db(np.sqrt((hy[a:b] ** 2).mean())))


def probe(model, songs=8, hz=4000.0, seconds=4.0):
    sr = model.cfg.sampling_rate
    ways = ["decoded", "+ original high band", "original + decoded high", "high x2", "high x3", "high x5"]
    hits = {w: 0.0 for w in ways}
    found = {w: 0 for w in ways}
    total, kept, missed = 0, [], []
    for i in range(songs):
        x = corpus.song(eval_codec.HELD_OUT + i, sr, bars=4, roles=["drums"]).stems["drums"][:int(seconds * sr)]
        y = eval_codec.round_trip(model, x)
        hx, hy = band(x, sr, hz), band(y, sr, hz)
        ref = measure.synchronizer_onsets(x, sr)
        versions = {"decoded": y, "+ original high band": y - hy + hx, "original + decoded high": x - hx + hy,
                    "high x2": y + hy, "high x3": y + 2 * hy, "high x5": y + 4 * hy}
        for w, v in versions.items():
            est = measure.synchronizer_onsets(v, sr)
            hits[w] += eval_codec.onset_match(ref, est)[0] * len(ref)
            found[w] += len(est)
            if w == "decoded":
                for t in ref:
                    near = len(est) and np.abs(est - t).min() <= 0.02
                    (kept if near else missed).append(hit_levels(x, y, hx, hy, t, sr))
        total += len(ref)
    out = dict(songs=songs, reference_onsets=total, band_hz=hz)
    out["recall_20ms"] = {w: round(hits[w] / max(1, total), 3) for w in ways}
    out["onsets_found_per_reference"] = {w: round(found[w] / max(1, total), 2) for w in ways}
    for name, rows in (("kept", kept), ("missed", missed)):
        r = np.array(rows).reshape(-1, 4)
        med = np.median(r, 0) if len(r) else np.full(4, np.nan)
        out[name] = dict(count=len(rows), peak_db=dict(original=round(med[0], 1), decoded=round(med[1], 1)),
                         high_band_rms_db=dict(original=round(med[2], 1), decoded=round(med[3], 1)))
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="an exported model folder or a codec checkpoint.pt")
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--hz", type=float, default=4000.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(probe(eval_codec.load(a.model), a.songs, a.hz)))
