#!/usr/bin/python3
"""Does the generator's bass have pitches at all? For bass takes generated
from corpus captions and for the same songs' own bass lines through the
model's codec: the share of frames that are voiced, the share of voiced
frames within 25 cents of an equal-tempered semitone (A = 440 Hz; the
corpus is tuned so: a pitch at random scores 0.5), and the median
frame-to-frame pitch change in semitones (a held note: 0). A bass that is
off the semitone grid cannot be in any key, so "bass in key" reads chance.

    train/probe_pitch.py MODEL_DIR --engine BUILD/bench/track_takes [--takes 6] [--sampling '{"top_k": 1}']
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import eval as ev  # noqa: E402
import eval_codec  # noqa: E402
import measure  # noqa: E402


def pitch_stats(x, sr):
    f0 = measure.f0_track(x, sr)
    voiced = ~np.isnan(f0)
    semis = 12 * np.log2(f0[voiced] / 440.0)
    on_grid = np.abs(semis - np.round(semis)) < 0.25
    return dict(voiced=float(voiced.mean()), within_25_cents=float(on_grid.mean()) if len(semis) else 0.0,
                median_jump=float(np.median(np.abs(np.diff(semis)))) if len(semis) > 1 else 0.0)


def mean(rows):
    return {k: round(float(np.mean([r[k] for r in rows])), 3) for k in rows[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--engine", metavar="TRACK_TAKES", help="takes made by the engine (else the PyTorch reference)")
    ap.add_argument("--takes", type=int, default=6)
    ap.add_argument("--sampling", default="{}", help="JSON overrides of eval.SAMPLING")
    a = ap.parse_args()
    sampling = json.loads(a.sampling)
    m = ev.EngineModel(a.model, a.engine, sampling) if a.engine else ev.Model(a.model, sampling)
    codec = eval_codec.load(a.model)
    generated, corpus_bass = [], []
    for seed in range(a.takes):
        spec = corpus.sample_spec(900_000 + seed, style="techno", textures=[])
        _, bass = m.track(corpus.caption(spec, "bass"), "bass", float(spec["bpm"]), 4.0, seed)
        generated.append(pitch_stats(bass, m.sr))
        song = corpus.song(900_000 + seed, m.sr, bars=4, roles=["drums", "bass"])
        corpus_bass.append(pitch_stats(eval_codec.round_trip(codec, song.stems["bass"][:4 * m.sr]), m.sr))
    print(json.dumps(dict(sampling=dict(ev.SAMPLING, **sampling), generated=mean(generated),
                          corpus_through_codec=mean(corpus_bass))))


if __name__ == "__main__":
    main()
