#!/usr/bin/python3
"""How much eval_codec's onset measure (recall and F1 at 20 ms) moves
under changes that keep every hit where it was: held-out corpus drums
against themselves low-passed, with noise, quieter, delayed 5 ms, or
through 8-bit mu-law; and, as the control that must fail, delayed 30 ms.
A codec's score is read against these. --detector synchronizer (default):
the engine's onsets, as eval_codec reads them now (measure.synchronizer_onsets);
flux: measure.onsets, whose threshold is 0.3 of each signal's own largest
flux (the measure before the thirteenth session).

    train/probe_onset_measure.py [--songs 8] [--detector synchronizer|flux]
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import eval_codec  # noqa: E402
import measure  # noqa: E402

SR = corpus.SAMPLE_RATE


def lowpass(x, hz):
    spec = np.fft.rfft(x)
    return np.fft.irfft(spec * (np.fft.rfftfreq(len(x), 1 / SR) < hz), len(x))


def mu_law_8bit(x):
    q = np.round(np.sign(x) * np.log1p(255 * np.abs(np.clip(x, -1, 1))) / np.log(256) * 127) / 127
    return np.sign(q) * np.expm1(np.abs(q) * np.log(256)) / 255


def variants(x, rng):
    return {"itself": x, "noise -40 dB": x + rng.standard_normal(len(x)) * x.std() * 0.01,
            "gain 0.9": 0.9 * x, "delayed 5 ms": np.concatenate([np.zeros(SR // 200), x[:-SR // 200]]),
            "delayed 30 ms (must fail)": np.concatenate([np.zeros(3 * SR // 100), x[:-3 * SR // 100]]),
            "mu-law 8 bit": mu_law_8bit(x), "low-pass 6 kHz": lowpass(x, 6000), "low-pass 4 kHz": lowpass(x, 4000)}


DETECTORS = {"synchronizer": measure.synchronizer_onsets, "flux": measure.onsets}


def probe(songs=8, seconds=4.0, detector="synchronizer"):
    onsets = DETECTORS[detector]
    scores = {}
    for i in range(songs):
        x = corpus.song(eval_codec.HELD_OUT + i, SR, bars=4, roles=["drums"]).stems["drums"][:int(seconds * SR)]
        ref = onsets(x, SR)
        for name, y in variants(x, np.random.default_rng(i)).items():
            scores.setdefault(name, []).append(eval_codec.onset_match(ref, onsets(y.astype(np.float32), SR)))
    return {name: dict(recall=round(float(np.mean([r for r, _ in s])), 3), f1=round(float(np.mean([f for _, f in s])), 3))
            for name, s in scores.items()}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--detector", choices=sorted(DETECTORS), default="synchronizer")
    a = ap.parse_args()
    print(json.dumps(probe(a.songs, detector=a.detector)))
