#!/usr/bin/python3
"""Texture contrast, a sampling prototype (not in the engine): the texture
takes of eval.py (the bass with "dark" and with "bright", the drums with
"busy" and with "sparse") sampled by the PyTorch reference with a third
guidance branch conditioned on the text with the opposite word,

    logits = null + g (cond - null) + c (cond - antonym),

and the two texture measures (dark<bright, busy>sparse) on N prompts. c 0 is
plain guidance. Same sampling as eval.py otherwise (top-k 50, the pitch row
at its temperature).

    train/probe_contrast.py MODEL [--prompts 63] [--contrast 1.5] [--seed 0] [--flux]
    train/probe_contrast.py --corpus [--prompts 63] [--flux]

--corpus measures the prompts' corpus songs as rendered instead, each with
each word (the same song otherwise): what the words do in the music the
generator learnt from. Onsets per second are the synchronizer's, as
eval.py's; --flux, measure.onsets (the twelfth session's figures).

docs/quality.md, "The note first" (texture contrast).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import eval as ev  # noqa: E402
import lm  # noqa: E402
import measure  # noqa: E402
import musicgen_ref  # noqa: E402

ANTONYM = {"dark": "bright", "bright": "dark", "busy": "sparse", "sparse": "busy"}


def condition(ref, tok, role, bpm, caption):
    ids = tok.encode(caption)
    ref.set_track(role, bpm, [], caption)
    return ref.condition(torch.tensor(ids)[None], torch.ones(1, len(ids), dtype=torch.long))[1]


def take(m, other, caption, antonym, role, bpm, frames, seed, contrast, guidance=3.0, top_k=50):
    """Audio of one take; `other` is a second reference for the antonym branch."""
    ref, kk = m.ref, m.ref.dec.cfg.num_codebooks
    special = ref.dec.cfg.special
    order = lm.codebook_order(ref.dec.track, kk)
    cond = condition(ref, m.tok, m.roles.index(role), bpm, caption)
    ref.dec.set_condition(torch.cat([cond, torch.zeros_like(cond)], 0))
    if contrast:
        other.dec.set_condition(condition(other, m.tok, m.roles.index(role), bpm, antonym))
    rows = lm.row_temperatures(m.codec.cfg, kk, 1.0, lm.PITCH_TEMPERATURE, order)
    rows = torch.ones(kk) if rows is None else rows
    gen = torch.Generator().manual_seed(seed)
    column = torch.full((kk,), special, dtype=torch.long)
    grid = torch.empty(kk, frames + kk - 1, dtype=torch.long)
    for s in range(frames + kk - 1):
        lg = ref.dec.forward(column[None, :, None].expand(2, kk, 1))[:, :, 0]
        mixed = lg[1] + (lg[0] - lg[1]) * guidance
        if contrast:
            mixed = mixed + contrast * (lg[0] - other.dec.forward(column[None, :, None])[0, :, 0])
        top = torch.topk(mixed / rows[:, None], top_k, dim=-1)
        tok = top.indices.gather(-1, torch.multinomial(torch.softmax(top.values, -1), 1, generator=gen))[:, 0]
        column = musicgen_ref.delay_mask(tok, s + 1, special, frames)
        grid[:, s] = column
    codes = lm.to_codec_rows(musicgen_ref.undelay(grid, frames), order)
    with torch.no_grad():
        return m.codec.decode(codes)[0].numpy()


def rendered(spec, word, role, seconds=4.0, sr=16000):
    song = corpus.render(dict(spec, textures=[word], roles=[role]), sr)
    return song.stems[role][:int(seconds * sr)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?")
    ap.add_argument("--corpus", action="store_true")
    ap.add_argument("--prompts", type=int, default=63)
    ap.add_argument("--contrast", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--flux", action="store_true", help="measure.onsets instead of the synchronizer's")
    a = ap.parse_args()
    density = measure.onset_density if a.flux else ev.onset_density
    if not a.corpus and not a.model:
        sys.exit("give MODEL, or --corpus")
    torch.set_num_threads(1)
    if not a.corpus:
        m, other = ev.Model(a.model), lm.load_reference(a.model)
        frames = int(round(4.0 * m.rate))
    sr = 16000 if a.corpus else m.sr
    dark, busy = [], []
    for i, spec in enumerate(ev.prompts(a.prompts, 0)):
        audio = {}
        for word in ANTONYM:
            role = "bass" if word in ("dark", "bright") else "drums"
            audio[word] = rendered(spec, word, role, sr=sr) if a.corpus else take(
                m, other, corpus.caption(dict(spec, textures=[word]), role),
                corpus.caption(dict(spec, textures=[ANTONYM[word]]), role),
                role, spec["bpm"], frames, a.seed + i, a.contrast)
        dark.append(measure.spectral_centroid(audio["dark"], sr) < measure.spectral_centroid(audio["bright"], sr))
        busy.append(density(audio["busy"], sr) > density(audio["sparse"], sr))
    print(json.dumps(dict(model="corpus, rendered" if a.corpus else a.model, prompts=a.prompts,
                          contrast=None if a.corpus else a.contrast, seed=a.seed,
                          dark_lowers_centroid=round(float(np.mean(dark)), 3),
                          busy_raises_density=round(float(np.mean(busy)), 3))))


if __name__ == "__main__":
    main()
