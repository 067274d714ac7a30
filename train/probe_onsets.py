#!/usr/bin/python3
"""Where a bass's detected onsets fall against its pitch row, and how many of
each kind are on the 16th-note grid (within 25 ms, eval.py's grid measure):
at a note start (a pitch-row note start within a frame), inside a held note,
or where the pitch row is silent. The grid measure counts them all alike;
this says which ones miss.

    train/probe_onsets.py MODEL --engine build/bench/track_takes [--note-on-lock] [--sustain-lock]
                          [--prompts 14] [--flux]
    train/probe_onsets.py MODEL --corpus [--prompts 14] [--flux]

Without --corpus: bass takes made by the engine hearing drums it made, with
the key lock (as eval.py --key-lock). With --corpus: the prompts' own corpus
bass lines encoded with their known notes and decoded by MODEL's codec (the
generator's training data, as eval.py --corpus). The onsets are the
synchronizer's, as eval.py's (measure.synchronizer_onsets); --flux,
measure.onsets, the twelfth session's figures. docs/quality.md, "The note
first" and "The synchronizer's onsets".
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec as codec_mod  # noqa: E402
import corpus  # noqa: E402
import eval as ev  # noqa: E402
import eval_codec  # noqa: E402
import measure  # noqa: E402

KINDS = ("at a note start", "inside a held note", "pitch row silent")


ONSETS = measure.synchronizer_onsets


def classify(audio, sr, pitch_row, frame_rate, bpm, counts):
    """Add each onset of `audio` to counts[kind] = [onsets, on the grid]."""
    starts = {f for f in range(len(pitch_row))
              if pitch_row[f] != 0 and (f == 0 or pitch_row[f] != pitch_row[f - 1])}
    times = ONSETS(audio, sr)
    for t, on in zip(times, measure.on_grid(times, bpm)):
        f = int(t * frame_rate)
        if any(g in starts for g in (f - 1, f, f + 1)):
            kind = KINDS[0]
        elif f < len(pitch_row) and pitch_row[f] != 0:
            kind = KINDS[1]
        else:
            kind = KINDS[2]
        counts[kind][0] += 1
        counts[kind][1] += bool(on)


def generated(model_dir, exe, n, note_on_lock, sustain_lock, counts):
    m = ev.EngineModel(model_dir, exe, dict(note_on_lock=note_on_lock, sustain_lock=sustain_lock), key_lock=True)
    for i, spec in enumerate(ev.prompts(n, 0)):
        bpm = spec["bpm"]
        drums, _ = m.track(corpus.caption(spec, "drums"), "drums", bpm, 4.0, i)
        codes, bass = m.track(corpus.caption(spec, "bass"), "bass", bpm, 4.0, i, [("drums", drums)])
        classify(bass, m.sr, m.codes(codes)[-1], m.rate, bpm, counts)


def corpus_lines(model_dir, n, counts):
    codec = eval_codec.load(model_dir)
    sr, hop = codec.cfg.sampling_rate, codec.cfg.hop_length
    need = 4 * sr
    for spec in ev.prompts(n, 0):
        song = corpus.render(dict(spec, roles=["drums", "bass"]), sr)
        bass = song.stems["bass"][:need]
        notes = codec_mod.frame_note(corpus.bass_f0(song.spec, sr)[:need], hop, -(-need // hop))
        with torch.no_grad():
            codes = codec.encode(torch.from_numpy(bass)[None], f0=notes)
            decoded = codec.decode(codes)[0].numpy()[:need]
        classify(decoded, sr, codes[-1].numpy(), sr / hop, spec["bpm"], counts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--engine", metavar="TRACK_TAKES")
    ap.add_argument("--corpus", action="store_true")
    ap.add_argument("--note-on-lock", action="store_true")
    ap.add_argument("--sustain-lock", action="store_true", help="the bass with the generator's sustain_lock")
    ap.add_argument("--prompts", type=int, default=14)
    ap.add_argument("--flux", action="store_true", help="measure.onsets instead of the synchronizer's")
    a = ap.parse_args()
    torch.set_num_threads(1)
    global ONSETS
    if a.flux:
        ONSETS = measure.onsets
    else:
        measure.use_engine_of(a.engine)  # the onsets from the same build
    if not a.corpus and not a.engine:
        sys.exit("give --engine TRACK_TAKES (generated takes) or --corpus")
    counts = {k: [0, 0] for k in KINDS}
    if a.corpus:
        corpus_lines(a.model, a.prompts, counts)
    else:
        generated(a.model, a.engine, a.prompts, a.note_on_lock, a.sustain_lock, counts)
    total = max(1, sum(c for c, _ in counts.values()))
    for kind, (c, on) in counts.items():
        print(f"{kind}: {c} onsets ({c / total:.2f}), on the grid {on / max(1, c):.2f}")


if __name__ == "__main__":
    main()
