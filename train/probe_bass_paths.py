#!/usr/bin/python3
"""Where a pitch model's generated bass comes from (docs/quality.md, "The
pitch codebook on the shipped codes"): for key-locked bass takes of the
PyTorch reference, the in-key share (measure.in_key_ratio) of the whole
decode, of the oscillator alone and of the convolutional path alone, the
convolutional path's share of the energy, the pitch codes' own in-key
share, how often the pitch row changes, and the harmonic head's mean
amplitudes on voiced frames.

    /usr/bin/python3 train/probe_bass_paths.py MODEL_DIR [--prompts N]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import eval as ev  # noqa: E402
import measure  # noqa: E402


def probe(model_dir, n):
    m = ev.Model(model_dir, key_lock=True)
    c = m.codec.cfg
    if not c.pitch_codebook:
        raise SystemExit(f"{model_dir}: the codec has no pitch codebook")
    for i, spec in enumerate(ev.prompts(n)):
        codes, full = m.track(corpus.caption(spec, "bass"), "bass", spec["bpm"], 4.0, i)
        with torch.no_grad():
            z = m.codec.quantizer.decode(codes[:-1])[None]
            conv = m.codec.decoder(z)[0, 0].numpy()[:len(full)]
            head = m.codec.harmonic(z)[0]
        osc = full - conv
        pcs = corpus.scale_pitch_classes(spec["root"], spec["mode"])
        row = codes[-1].numpy()
        notes = row[row > 0] - 1 + c.pitch_midi_min
        amp = (2 * torch.sigmoid(head[1:]) ** np.log(10))[:, torch.from_numpy(row > 0)].mean(1).numpy()
        print(dict(prompt=corpus.caption(spec, "bass"),
                   in_key=round(measure.in_key_ratio(full, m.sr, pcs), 3),
                   oscillator_in_key=round(measure.in_key_ratio(osc, m.sr, pcs), 3),
                   conv_in_key=round(measure.in_key_ratio(conv, m.sr, pcs), 3),
                   conv_energy_share=round(float((conv ** 2).sum() / ((full ** 2).sum() + 1e-9)), 3),
                   codes_in_key=round(float(np.isin(notes % 12, list(pcs)).mean()), 3) if len(notes) else None,
                   pitch_changes_per_frame=round(float(np.mean(row[1:] != row[:-1])), 3),
                   harmonics_1_to_8=[round(float(x), 2) for x in amp[:8] / (amp.max() + 1e-12)]), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--prompts", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(1)
    probe(a.model, a.prompts)
