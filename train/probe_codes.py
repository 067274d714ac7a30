#!/usr/bin/python3
"""Can a generator continue this codec's codes? A held note should be a code
held: then a language model only has to choose the note. For sawtooth notes
held 2 s (semitones from A1 = 55 Hz to A2 = 110 Hz, and 50 / 100 Hz, which
fit the 50 Hz frame exactly), the number of distinct codebook-0 codes in the
steady second and the share of frames that repeat the previous frame's
code; for corpus bass lines, the same repeat share per codebook and the
share of voiced frames within 25 cents of a semitone when decoded from
codebook 0 alone and from all codebooks.

The shipped codec (2026-11-26): a held 55 Hz note cycles through 9 codes
with period 10 frames (its phase advances 0.1 cycle per 20 ms frame), 50 and
100 Hz hold one code: the codes carry the waveform's phase, and a sampled
sequence that mixes cycles has no stable pitch (train/probe_pitch.py).

    train/probe_codes.py MODEL_DIR_OR_CODEC_CHECKPOINT [--songs 6]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec  # noqa: E402
import corpus  # noqa: E402
import encodec_ref  # noqa: E402
import eval_codec  # noqa: E402
from probe_pitch import pitch_stats  # noqa: E402


def encode(model, x):
    with torch.no_grad():
        return model.encode(torch.from_numpy(x.astype(np.float32))[None])


def decode(model, codes, n):
    with torch.no_grad():
        return model.decode(codes)[0].numpy()[:n]


def repeat_share(codes):
    """codes [Q, T] -> per codebook, the share of frames equal to the previous."""
    c = codes.numpy()
    return [round(float((c[q, 1:] == c[q, :-1]).mean()), 3) for q in range(c.shape[0])]


def held_notes(model, sr):
    rate = model.cfg.frame_rate
    t = np.arange(2 * sr) / sr
    out = {}
    for hz in [50.0, 100.0] + [55.0 * 2 ** (k / 12) for k in range(0, 13, 2)]:
        saw = 0.3 * (2 * ((hz * t) % 1.0) - 1)
        cb0 = encode(model, saw)[0, rate // 2: rate // 2 + rate]  # the steady second
        out[f"{hz:.1f}"] = dict(distinct=len(set(cb0.tolist())),
                                repeats=round(float((cb0[1:] == cb0[:-1]).float().mean()), 2))
    return out


def harmonic_path(model, song, n):
    """For a codec with the harmonic path: the share of the bass's
    known-note frames whose decoded f0 is within 25 / 50 cents of the note
    (with a pitch codebook: the f0 of the pitch codes the encoder's pitch
    tracker wrote), and the oscillator's share of the decoded bass's energy."""
    c = model.cfg
    x = torch.from_numpy(song.stems["bass"][:n].astype(np.float32))[None]
    with torch.no_grad():
        codes = model.encode(x)  # a pitch codebook's row: YIN's, as for any audio
        rvq, track = (codes[:-1], encodec_ref.pitch_track(codes[-1:], c)) if c.pitch_codebook else (codes, None)
        zq = model.quantizer.decode(rvq)[None]
        h = model.harmonic(zq)
        harm = encodec_ref.harmonic_synth(h, c.hop_length, c.sampling_rate, c.harmonic_f0_min, c.harmonic_f0_max,
                                          f0=track)
        conv = model.decoder(zq)[0]
    f0 = (track[0].clamp(min=1e-3).numpy() if c.pitch_codebook
          else encodec_ref.harmonic_controls(h, c.harmonic_f0_min, c.harmonic_f0_max)[0][0].numpy())
    known = codec.frame_f0(corpus.bass_f0(song.spec, c.sampling_rate)[:n], c.hop_length, len(f0))
    cents = np.abs(1200 * np.log2(f0[known > 0] / known[known > 0]))
    energy = float((harm ** 2).sum() / ((harm ** 2).sum() + (conv ** 2).sum()))
    return float((cents < 25).mean()), float((cents < 50).mean()), energy


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--songs", type=int, default=6)
    a = ap.parse_args()
    model = eval_codec.load(a.model).eval()
    sr = model.cfg.sampling_rate
    notes = held_notes(model, sr)
    repeats, first, full, harmonic = [], [], [], []
    for seed in range(a.songs):
        song = corpus.song(900_000 + seed, sr, bars=4, roles=["drums", "bass"])
        bass = song.stems["bass"][:4 * sr]
        if model.cfg.harmonic_bins:
            harmonic.append(harmonic_path(model, song, 4 * sr))
        codes = encode(model, bass)
        repeats.append(repeat_share(codes))
        one = torch.cat([codes[:1], codes[-1:]]) if model.cfg.pitch_codebook else codes[:1]
        first.append(pitch_stats(decode(model, one, len(bass)), sr)["within_25_cents"])
        full.append(pitch_stats(decode(model, codes, len(bass)), sr)["within_25_cents"])
    print(json.dumps(dict(
        held_note_codebook0=notes,
        mean_distinct_codes_per_held_note=round(float(np.mean([v["distinct"] for v in notes.values()])), 2),
        corpus_bass_repeat_share=[round(float(v), 3) for v in np.mean(repeats, 0)],
        corpus_bass_within_25_cents=dict(codebook0=round(float(np.mean(first)), 3), all=round(float(np.mean(full)), 3)),
        **({"harmonic_f0_within_25_50_cents_and_energy_share": [round(float(v), 3) for v in np.mean(harmonic, 0)]}
           if harmonic else {}))))


if __name__ == "__main__":
    main()
