#!/usr/bin/python3
"""What the generator's sustain lock does to a bass (docs/quality.md, "The
sustain lock"), on the codes themselves, decoded by the PyTorch codec (which
the engine's matches: tests/train/test_engine.py):

    train/probe_sustain.py MODEL --corpus [--songs 12]
    train/probe_sustain.py MODEL --engine build/bench/track_takes --variants [--prompts 21]
    train/probe_sustain.py MODEL --engine build/bench/track_takes --timbre [--prompts 21]

--corpus: held-out corpus bass lines encoded with their known notes and
decoded as they are, and with the lock at 60 and 120 ms: share of onsets on
the grid, pitch within 50 cents, log-mel L1 and spectral centroid against
the original.
--variants: the engine's bass takes (drums locked; key and note-on locks)
decoded as generated and with other ways to quiet a held note's acoustic
rows (rests quiet after 40 ms in each): the lock (silence codes, the
harmonic head held at the attack: the shipped decoder), the lock with the
head on the silence codes, the previous frame's codes held, the head on the
generated codes; grid share, onsets a second, RMS.
--timbre: "saw bass" against "sub bass" (same prompt and seed), without and
with the lock: the share of prompts where the saw is brighter, the median
centroid ratio, and the mean RMS.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec as codec_mod  # noqa: E402
import corpus  # noqa: E402
import eval as ev  # noqa: E402
import eval_codec  # noqa: E402
import lm  # noqa: E402
import measure  # noqa: E402


def decode(model, codes, head=None):
    """Audio of codes [K, T]; the harmonic head reads `head` codes if given
    (else the model's own rule: held_codes under the lock)."""
    with torch.no_grad():
        if head is None:
            return model.decode(codes)[0].numpy()
        z = model.quantizer.decode(codes[:-1])[None]
        zh = model.quantizer.decode(head[:-1])[None]
        return model.render(z, codes[-1:], zh)[0, 0].numpy()


def previous_held(codes, attack, release, silence):
    """The lock's frames, but a held note's acoustic rows repeat the frame
    before instead of taking the silence codes."""
    out = codes.clone()
    pitch = codes[-1].tolist()
    for t in range(1, codes.shape[1]):
        if lm.sustain_quiet(pitch, t, attack, release):
            out[:-1, t] = out[:-1, t - 1] if pitch[t] != 0 else torch.as_tensor(silence[:-1])
    return out


def variants(model, codes):
    silence, attack, release = model.silence, *lm.sustain_frames(model.cfg.sampling_rate / model.cfg.hop_length)
    locked = lm.sustain(codes, silence, attack, release)
    return {"as generated": decode(model, codes),
            "sustain lock (shipped)": decode(model, locked),
            "lock, head on the silence codes": decode(model, locked, head=locked),
            "previous frame's codes held": decode(model, previous_held(codes, attack, release, silence)),
            "lock, head on the generated codes": decode(model, locked, head=codes)}


def corpus_lines(model, songs):
    sr, hop = model.cfg.sampling_rate, model.cfg.hop_length
    mel = codec_mod.MelLoss(sr, [1024], 64)
    rows = {}
    for i in range(songs):
        s = corpus.song(eval_codec.HELD_OUT + i, sr, bars=4, roles=["drums", "bass"])
        x = s.stems["bass"][:4 * sr]
        notes = codec_mod.frame_note(corpus.bass_f0(s.spec, sr)[:len(x)], hop, -(-len(x) // hop))
        with torch.no_grad():
            codes = model.encode(torch.from_numpy(x)[None], f0=notes)
        fx = measure.f0_track(x, sr)
        voiced = ~np.isnan(fx)
        for name, ms in (("decoded", None), ("lock 60 ms", 60.0), ("lock 120 ms", 120.0)):
            c = codes if ms is None else lm.sustain(codes, model.silence, *lm.sustain_frames(sr / hop, ms))
            y = decode(model, c)[:len(x)]
            m = mel.mel(torch.from_numpy(np.stack([x, y])), 1024)
            fy = measure.f0_track(y, sr, rel_energy=0.0)
            t = measure.synchronizer_onsets(y, sr)
            rows.setdefault(name, []).append((
                ev.share_on_grid(t, s.spec["bpm"]),
                float((np.abs(1200 * np.log2(fy[voiced] / fx[voiced])) <= 50).mean()),
                float((torch.log(m[0] + 1e-5) - torch.log(m[1] + 1e-5)).abs().mean()),
                measure.spectral_centroid(y, sr) / measure.spectral_centroid(x, sr)))
    print("| bass | on the grid | pitch within 50 c | log-mel L1 | centroid / original |")
    for name, r in rows.items():
        r = np.array(r)
        print(f"| {name} | {r[:, 0].mean():.2f} | {r[:, 1].mean():.2f} | {r[:, 2].mean():.2f} | {r[:, 3].mean():.2f} |")


def engine_bass(m, spec, i, **caption):
    """Codes [K, T] of the engine's bass take for prompt `spec` (seed i)."""
    context = []
    if not caption:
        drums, _ = m.track(corpus.caption(spec, "drums"), "drums", spec["bpm"], 4.0, i)
        context = [("drums", drums)]
    handle, _ = m.track(corpus.caption(dict(spec, **caption), "bass"), "bass", spec["bpm"], 4.0, i, context)
    return torch.from_numpy(m.codes(handle).astype(np.int64))


def engine_variants(model, m, prompts):
    rows = {}
    for i, spec in enumerate(ev.prompts(prompts, 0)):
        for name, y in variants(model, engine_bass(m, spec, i)).items():
            t = measure.synchronizer_onsets(y, model.cfg.sampling_rate)
            rows.setdefault(name, []).append((ev.share_on_grid(t, spec["bpm"]), len(t) / 4.0,
                                              float(np.sqrt(np.mean(y ** 2)))))
    print("| bass | on the grid | onsets/s | RMS |")
    for name, r in rows.items():
        r = np.array(r)
        print(f"| {name} | {r[:, 0].mean():.3f} | {r[:, 1].mean():.2f} | {r[:, 2].mean():.4f} |")


def timbre(model, m, prompts):
    sr = model.cfg.sampling_rate
    silence, attack, release = model.silence, *lm.sustain_frames(model.cfg.sampling_rate / model.cfg.hop_length)
    rows = {False: [], True: []}
    for i, spec in enumerate(ev.prompts(prompts, 0)):
        saw, sub = (engine_bass(m, spec, i, bass_timbre=t) for t in ("saw", "sub"))
        for lock in rows:
            a, b = (decode(model, lm.sustain(c, silence, attack, release) if lock else c) for c in (saw, sub))
            ca, cb = measure.spectral_centroid(a, sr), measure.spectral_centroid(b, sr)
            rows[lock].append((ca > cb, ca / cb, float(np.sqrt(np.mean(np.concatenate([a, b]) ** 2)))))
    for lock, r in rows.items():
        r = np.array(r, float)
        print(f"lock {'on' if lock else 'off'}: saw brighter than sub on {r[:, 0].mean():.2f} of prompts, "
              f"centroid ratio (median) {np.median(r[:, 1]):.2f}, RMS {r[:, 2].mean():.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--engine", metavar="TRACK_TAKES")
    ap.add_argument("--corpus", action="store_true")
    ap.add_argument("--variants", action="store_true")
    ap.add_argument("--timbre", action="store_true")
    ap.add_argument("--songs", type=int, default=12)
    ap.add_argument("--prompts", type=int, default=21)
    a = ap.parse_args()
    torch.set_num_threads(2)
    measure.use_engine_of(a.engine)  # the onsets from the same build
    model = eval_codec.load(a.model)
    if not model.silence:
        sys.exit(f"{a.model}: its config names no track_context.silence_codes")
    if a.corpus:
        corpus_lines(model, a.songs)
    if a.variants or a.timbre:
        if not a.engine:
            sys.exit("--variants and --timbre need --engine TRACK_TAKES")
        m = ev.EngineModel(a.model, a.engine, dict(note_on_lock=True), key_lock=True)
        if a.variants:
            engine_variants(model, m, a.prompts)
        if a.timbre:
            timbre(model, m, a.prompts)
    if not (a.corpus or a.variants or a.timbre):
        sys.exit("give --corpus, --variants or --timbre")


if __name__ == "__main__":
    main()
