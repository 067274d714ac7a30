#!/usr/bin/python3
"""Where a codec loses the drums' attacks: its quantizer or its encoder and
decoder. Round trips of held-out corpus drums (eval_codec's songs) through
the first n codebooks for every n, and with no quantization at all (the
encoder's latent straight into the decoder); for each, onset recall and F1
at 20 ms (eval_codec's measure).

    train/probe_codec_bottleneck.py MODEL_DIR [--songs 8]

If the unquantized latent keeps the onsets, more or larger codebooks would;
if it does not, the encoder/decoder (frame rate, receptive field, loss) is
what smears them.
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


@torch.no_grad()
def probe(model, songs=8, seconds=4.0):
    sr = model.cfg.sampling_rate
    kk = model.cfg.num_quantizers
    ways = {f"{n} codebooks": n for n in range(1, kk + 1)}
    ways["unquantized"] = None
    scores = {name: [] for name in ways}
    for i in range(songs):
        x = corpus.song(eval_codec.HELD_OUT + i, sr, bars=4, roles=["drums"]).stems["drums"][:int(seconds * sr)]
        z = model.latent(torch.from_numpy(x)[None])
        ref = measure.onsets(x, sr)
        for name, n in ways.items():
            q = z if n is None else model.quantizer.decode(model.quantizer.encode(z, n))
            y = model.decoder(q[None])[0, 0].numpy()[:len(x)]
            scores[name].append(eval_codec.onset_match(ref, measure.onsets(y, sr)))
    return {name: dict(recall=round(float(np.mean([r for r, _ in s])), 3),
                       f1=round(float(np.mean([f for _, f in s])), 3)) for name, s in scores.items()}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--songs", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(probe(eval_codec.load(a.model), a.songs)))
