#!/usr/bin/python3
"""Does the generator's bass follow the key named in the prompt?

One bass take per key root (the same style, tempo, mode, seed and locked
nothing; only the root in the caption changes), each measured against every
key: share of voiced frames whose pitch class is in that key's scale. If
the model follows the key, the diagonal (a take against its own key) is
above the rest; if it ignores it, the diagonal is no better than the other
keys of the same mode.

    train/probe_key.py MODEL_DIR [--engine BUILD/bench/track_takes] [--mode minor] [--seeds 2]
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import eval as ev  # noqa: E402
import measure  # noqa: E402


def key_matrix(m, mode, seeds, bpm=120, seconds=4.0, style="techno"):
    """[root of the prompt, root measured against]: mean in-key share."""
    mat = np.zeros((12, 12))
    for root in range(12):
        for seed in range(seeds):
            spec = corpus.sample_spec(900_000 + seed, style=style, textures=[], root=root, mode=mode, bpm=bpm)
            _, bass = m.track(corpus.caption(spec, "bass"), "bass", bpm, seconds, seed)
            for other in range(12):
                mat[root, other] += measure.in_key_ratio(bass, m.sr, corpus.scale_pitch_classes(other, mode))
    return mat / seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--engine", metavar="TRACK_TAKES")
    ap.add_argument("--mode", default="minor")
    ap.add_argument("--seeds", type=int, default=2)
    a = ap.parse_args()
    m = ev.EngineModel(a.model, a.engine) if a.engine else ev.Model(a.model)
    mat = key_matrix(m, a.mode, a.seeds)
    own = float(np.mean(np.diag(mat)))
    others = float((mat.sum() - np.trace(mat)) / (12 * 11))
    print(json.dumps(dict(mode=a.mode, takes=12 * a.seeds, in_own_key=round(own, 3),
                          in_other_keys=round(others, 3),
                          best_key_is_own=round(float(np.mean(mat.argmax(1) == np.arange(12))), 3))))


if __name__ == "__main__":
    main()
