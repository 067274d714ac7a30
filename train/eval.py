#!/usr/bin/python3
"""Evaluate a track-aware model folder on a fixed prompt set (issue 7's
generator measures), with the PyTorch reference (train/lm.py's
TrackMusicGenRef) and the measures of train/measure.py:

  tempo     median relative error of the tempo the synchronizer hears in the
            generated drums (measure.synchronizer_tempo: aubio's tempo
            folded to the prompt's octave, fitted to the onsets' 16th grid)
            against the prompt's
  key       share of generated bass frames (f0) whose pitch class is in the
            prompt's key
  grid      share of bass onsets, generated with the generated drums locked,
            within 25 ms of the prompt tempo's 16th-note grid
  dark      share of prompts whose bass is darker (lower spectral centroid)
            with "dark" than with "bright", same seed
  busy      share of prompts whose drums have more onsets per second with
            "busy" than with "sparse", same seed

and, not targets, the locked bass's onsets per second and pitch classes (how
many the f0 track spends 5 % of its frames on): a bass that flutters, or
holds one note, shows here.
The onsets of grid and busy are the synchronizer's (measure.synchronizer_onsets,
read from the built engine: `resonant eval --onsets`); *_flux are the same
measures with measure.onsets, the figures before the thirteenth session
(docs/quality.md, "The synchronizer's onsets"). The tempo is the
synchronizer's since the fourteenth session; median_tempo_err_flux is the
numpy grid fit measure.tempo used before (octave errors forgiven), which
reads many a generated take at the bottom of its range ("The
synchronizer's tempo").
With a pitch codec the pitch row samples at --pitch-temperature (default:
the engine's, 0.25); --key-lock, --note-on-lock and --sustain-lock are the
generator node's key_lock, note_on_lock and sustain_lock (the demo's bass
has all three; the sustain lock acts on the bass only, as
bench/track_takes).

    train/eval.py MODEL_DIR [--prompts N] [--seconds 4] [--seed 0] [--sampling-seed S]
                  [--engine BUILD/bench/track_takes]
                  [--key-lock] [--note-on-lock] [--sustain-lock [--sustain-attack MS]]
    train/eval.py MODEL_DIR --corpus [--prompts N]
prints a Markdown table and one JSON line. --corpus measures the prompts'
own corpus songs instead of generated takes, as rendered and through the
model's codec: the ceiling of each measure for this corpus and codec (a
generator cannot keep onsets its codec smears, nor beat a measure that
misses on the training data). The prompts are built from
corpus specs so they read like the training captions; they are fixed by
--seed (default 0) so runs are comparable; the takes sample with --seed
too unless --sampling-seed gives theirs (the same prompts, other draws:
how much of a figure is luck). With --engine the takes are made
by the engine (same sampling settings, its own random numbers) and decoded
by its codec; without, by the PyTorch reference.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec as codec_mod  # noqa: E402
import corpus  # noqa: E402
import eval_codec  # noqa: E402
import lm  # noqa: E402
import measure  # noqa: E402
import text  # noqa: E402

STYLES = ["techno", "house", "hip hop", "drum and bass", "trap", "electro", "ambient"]


def prompts(n, seed=0):
    """n specs (style cycles, tempo/key/mode from the seed), no texture words."""
    out = []
    for i in range(n):
        spec = corpus.sample_spec(800_000_000 + seed * 1000 + i, style=STYLES[i % len(STYLES)], textures=[])
        out.append(spec)
    return out


SAMPLING = dict(guidance=3.0, temperature=1.0, top_k=50,  # lm.sample's defaults
                pitch_temperature=lm.PITCH_TEMPERATURE,  # the engine's
                note_on_lock=False,  # notes start on the 16ths only (lm.note_on_mask)
                sustain_lock=False,  # held notes on the harmonic path alone (lm.sustain)
                sustain_attack=lm.SUSTAIN_ATTACK_MS)  # ms of a held note left as generated


class Model:
    def __init__(self, model_dir, sampling=None, key_lock=False):
        self.sampling = dict(SAMPLING, **(sampling or {}))
        self.key_lock = key_lock
        self.ref = lm.load_reference(model_dir)
        self.tok = text.Tokenizer(os.path.join(model_dir, "spiece.model"))
        with open(os.path.join(model_dir, "config.json")) as f:
            conf = json.load(f)
        self.codec = eval_codec.load(model_dir)  # its silence codes too, as the engine's decoder
        self.roles = conf["track_context"]["roles"]
        self.rate = conf["track_context"]["frame_rate"]
        self.sr = self.codec.cfg.sampling_rate
        self.pitch_row = bool(self.codec.cfg.pitch_codebook)

    def codes(self, handle):
        """[K, frames] ints of a take's codes (track()'s first result)."""
        return handle.numpy()

    def track(self, caption, role, bpm, seconds, seed, context=()):
        """(codes, audio) of one generated track."""
        self.ref.set_track(self.roles.index(role), bpm, [(self.roles.index(r), c) for r, c in context], caption)
        frames = int(round(seconds * self.rate))
        kk = self.ref.dec.cfg.num_codebooks
        order = lm.codebook_order(self.ref.dec.track, kk)
        allowed = (lm.key_lock_mask(self.codec.cfg, kk, self.ref.dec.cfg.vocab_size, caption, order)
                   if self.key_lock else None)
        sp = dict(self.sampling)
        rows = lm.row_temperatures(self.codec.cfg, kk, sp["temperature"], sp.pop("pitch_temperature"), order)
        pitch = lm.pitch_row(self.codec.cfg, order)
        note_on = (lm.note_on_mask(frames, self.rate, bpm)
                   if sp.pop("note_on_lock") and pitch is not None else None)
        sustain = sp.pop("sustain_lock") and pitch is not None and role != "drums"  # as bench/track_takes
        attack_ms = sp.pop("sustain_attack")
        codes = lm.sample(self.ref, torch.tensor(self.tok.encode(caption)), frames, seed=seed, allowed=allowed,
                          row_temperature=rows, note_on=note_on, pitch=pitch, **sp)
        if sustain:
            codes = lm.sustain(codes, *lm.sustain_lock(self.ref.dec.track, attack_ms))
        with torch.no_grad():
            audio = self.codec.decode(codes)[0].numpy()
        return codes, audio


class EngineModel:
    """The same takes made by the engine (bench/track_takes, CPU backend):
    codes are kept as files, handed back as their path prefix."""

    def __init__(self, model_dir, exe, sampling=None, tune=False, key_lock=False):
        import subprocess
        import tempfile

        with open(os.path.join(model_dir, "config.json")) as f:
            conf = json.load(f)
        self.rate = conf["track_context"]["frame_rate"]
        self.sr = conf["audio_encoder"]["sampling_rate"]
        self.pitch_row = bool(conf["audio_encoder"].get("pitch_codebook"))
        self.codebooks = conf["decoder"]["num_codebooks"]
        self.tmp = tempfile.mkdtemp(prefix="rg-eval-")
        self.n = 0
        env = dict(os.environ, RESONANT_BACKEND=os.environ.get("RESONANT_BACKEND", "cpu"))
        sp = dict(SAMPLING, **(sampling or {}))
        args = ([str(sp["guidance"]), str(sp["temperature"]), str(sp["top_k"])] + (["tune"] if tune else [])
                + (["key_lock"] if key_lock else []) + (["note_on_lock"] if sp["note_on_lock"] else [])
                + (["sustain_lock", f"sustain_attack={sp['sustain_attack']}"] if sp["sustain_lock"] else [])
                + [f"pitch_temperature={sp['pitch_temperature']}"])
        self.proc = subprocess.Popen([exe, model_dir] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def codes(self, handle):
        """[K, frames] ints of a take's codes (track()'s first result)."""
        return np.fromfile(handle + ".codes", "<i4").reshape(self.codebooks, -1)

    def track(self, caption, role, bpm, seconds, seed, context=()):
        out = os.path.join(self.tmp, f"t{self.n}")
        self.n += 1
        ctx = ",".join(f"{r}={c}.codes" for r, c in context) or "-"
        frames = int(round(seconds * self.rate))
        self.proc.stdin.write(f"{out} {role} {bpm} {frames} {seed} {ctx} {caption}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok " + out:
            raise RuntimeError(f"engine: {answer or 'no answer'}")
        return out, np.fromfile(out + ".f32", "<f4")


def tempo_errors(drums, sr, bpm):
    """(the synchronizer's, measure.tempo's) relative tempo error of drums
    against bpm (1.0 where no tempo is found)."""
    return (measure.tempo_error(measure.synchronizer_tempo(drums, sr, bpm), bpm),
            measure.tempo_error(measure.tempo(drums, sr), bpm))


def share_on_grid(times, bpm, tol=0.025):
    """Share of onset times (s) on the 16th grid of `bpm` (0 for none)."""
    return float(measure.on_grid(times, bpm, tol).mean()) if len(times) else 0.0


def grid_share(x, sr, bpm, tol=0.025, detector=measure.synchronizer_onsets):
    return share_on_grid(detector(x, sr), bpm, tol)


def evaluate(model_dir, n=7, seconds=4.0, seed=0, engine=None, sampling=None, tune=False, key_lock=False,
             sampling_seed=None):
    """Per-prompt rows and their summary. The prompts are prompts(n, seed);
    prompt i's takes sample with seed + i, or sampling_seed + i if given
    (the same prompts drawn again, to see how much of a figure is the draw)."""
    m = EngineModel(model_dir, engine, sampling, tune, key_lock) if engine else Model(model_dir, sampling, key_lock)
    rows = []
    for i, spec in enumerate(prompts(n, seed)):
        take_seed = (seed if sampling_seed is None else sampling_seed) + i
        bpm = spec["bpm"]
        dcap, bcap = corpus.caption(spec, "drums"), corpus.caption(spec, "bass")
        dcodes, drums = m.track(dcap, "drums", bpm, seconds, take_seed)
        bcodes, bass = m.track(bcap, "bass", bpm, seconds, take_seed, [("drums", dcodes)])
        pcs = corpus.scale_pitch_classes(spec["root"], spec["mode"])
        heard = measure.synchronizer_onsets(bass, m.sr)  # once: the grid and the density read them
        tempo_err, tempo_err_flux = tempo_errors(drums, m.sr, bpm)
        row = dict(prompt=bcap, seed=take_seed, tempo_err=tempo_err, tempo_err_flux=tempo_err_flux,
                   in_key=measure.in_key_ratio(bass, m.sr, pcs), grid=share_on_grid(heard, bpm),
                   grid_flux=grid_share(bass, m.sr, bpm, detector=measure.onsets),
                   onsets=len(heard) / (len(bass) / m.sr), pitch_classes=measure.pitch_class_count(bass, m.sr),
                   note_changes=note_changes_per_s(m.codes(bcodes)[-1], m.rate) if m.pitch_row else float("nan"))
        dark_spec, bright_spec = dict(spec, textures=["dark"]), dict(spec, textures=["bright"])
        _, dark = m.track(corpus.caption(dark_spec, "bass"), "bass", bpm, seconds, take_seed)
        _, bright = m.track(corpus.caption(bright_spec, "bass"), "bass", bpm, seconds, take_seed)
        row["dark_ok"] = measure.spectral_centroid(dark, m.sr) < measure.spectral_centroid(bright, m.sr)
        _, sparse = m.track(corpus.caption(dict(spec, textures=["sparse"]), "drums"), "drums", bpm, seconds, take_seed)
        _, busy = m.track(corpus.caption(dict(spec, textures=["busy"]), "drums"), "drums", bpm, seconds, take_seed)
        row["busy_ok"] = onset_density(busy, m.sr) > onset_density(sparse, m.sr)
        row["busy_ok_flux"] = measure.onset_density(busy, m.sr) > measure.onset_density(sparse, m.sr)
        rows.append(row)
    summary = dict(prompts=n, seconds=seconds,
                   median_tempo_err=round(float(np.median([r["tempo_err"] for r in rows])), 4),
                   bass_in_key=round(float(np.mean([r["in_key"] for r in rows])), 3),
                   bass_on_drum_grid=round(float(np.mean([r["grid"] for r in rows])), 3),
                   dark_lowers_centroid=round(float(np.mean([r["dark_ok"] for r in rows])), 3),
                   busy_raises_density=round(float(np.mean([r["busy_ok"] for r in rows])), 3),
                   bass_on_drum_grid_flux=round(float(np.mean([r["grid_flux"] for r in rows])), 3),
                   busy_raises_density_flux=round(float(np.mean([r["busy_ok_flux"] for r in rows])), 3),
                   median_tempo_err_flux=round(float(np.median([r["tempo_err_flux"] for r in rows])), 4),
                   # not targets: how busy and how varied the bass is (the corpus's
                   # own, eval.py --corpus: 3.7 onsets/s through nothing)
                   bass_onsets_per_s=round(float(np.mean([r["onsets"] for r in rows])), 2),
                   bass_pitch_classes=round(float(np.mean([r["pitch_classes"] for r in rows])), 2),
                   bass_note_changes_per_s=mean_or_none([r["note_changes"] for r in rows]))
    return rows, summary


def onset_density(x, sr):
    """The synchronizer's onsets per second."""
    return len(measure.synchronizer_onsets(x, sr)) / (len(x) / sr)


def mean_or_none(values):
    """The mean to 2 decimals, None where there is none (no pitch row)."""
    m = float(np.mean(values))
    return None if np.isnan(m) else round(m, 2)


def note_changes_per_s(pitch_row, rate):
    """How often a pitch row changes code (note, or note to rest), per second."""
    return float(np.count_nonzero(np.diff(pitch_row))) * rate / len(pitch_row)


def corpus_reference(model_dir, n=7, seconds=4.0, seed=0):
    """The tempo, key and grid measures on each prompt's corpus song (drums
    and bass as rendered, bass on its own tempo's grid), and on the same
    stems encoded and decoded by the model's codec."""
    codec = eval_codec.load(model_dir)
    sr = codec.cfg.sampling_rate
    need = int(seconds * sr)
    rows = {"rendered": [], "through the codec": []}
    if codec.cfg.pitch_codebook:  # the bass coded with its known notes, as the generator's dataset is
        rows["through the codec, known notes"] = []
    for spec in prompts(n, seed):
        song = corpus.render(dict(spec, roles=["drums", "bass"]), sr)
        drums, bass = song.stems["drums"][:need], song.stems["bass"][:need]
        trip = [eval_codec.round_trip(codec, x) for x in (drums, bass)]
        pcs = corpus.scale_pitch_classes(spec["root"], spec["mode"])
        kinds = [("rendered", (drums, bass)), ("through the codec", trip)]
        changes = float("nan")
        if codec.cfg.pitch_codebook:
            hop = codec.cfg.hop_length
            notes = codec_mod.frame_note(corpus.bass_f0(song.spec, sr)[:need], hop, -(-need // hop))
            with torch.no_grad():
                coded = codec.encode(torch.from_numpy(bass)[None], f0=notes)
                kinds.append(("through the codec, known notes", (trip[0], codec.decode(coded)[0].numpy()[:need])))
            changes = note_changes_per_s(coded[-1].numpy(), sr / hop)  # the generator's training data
        for name, (d, b) in kinds:
            heard = measure.synchronizer_onsets(b, sr)
            tempo_err, tempo_err_flux = tempo_errors(d, sr, spec["bpm"])
            rows[name].append(dict(tempo_err=tempo_err, tempo_err_flux=tempo_err_flux,
                                   in_key=measure.in_key_ratio(b, sr, pcs), grid=share_on_grid(heard, spec["bpm"]),
                                   grid_flux=grid_share(b, sr, spec["bpm"], detector=measure.onsets),
                                   onsets=len(heard) / (len(b) / sr),
                                   pitch_classes=measure.pitch_class_count(b, sr),
                                   note_changes=changes if name.endswith("known notes") else float("nan")))
    return {name: dict(prompts=n, seconds=seconds,
                       median_tempo_err=round(float(np.median([r["tempo_err"] for r in rs])), 4),
                       median_tempo_err_flux=round(float(np.median([r["tempo_err_flux"] for r in rs])), 4),
                       bass_in_key=round(float(np.mean([r["in_key"] for r in rs])), 3),
                       bass_on_grid=round(float(np.mean([r["grid"] for r in rs])), 3),
                       bass_on_grid_flux=round(float(np.mean([r["grid_flux"] for r in rs])), 3),
                       bass_onsets_per_s=round(float(np.mean([r["onsets"] for r in rs])), 2),
                       bass_pitch_classes=round(float(np.mean([r["pitch_classes"] for r in rs])), 2),
                       bass_note_changes_per_s=mean_or_none([r["note_changes"] for r in rs]))
            for name, rs in rows.items()}


def table(rows, summary):
    lines = ["| prompt (bass) | tempo err | bass in key | bass on grid | dark<bright | busy>sparse |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['prompt']} | {r['tempo_err']:.3f} | {r['in_key']:.2f} | {r['grid']:.2f} | "
                     f"{'yes' if r['dark_ok'] else 'no'} | {'yes' if r['busy_ok'] else 'no'} |")
    s = summary
    lines.append(f"| **all** (target) | median {s['median_tempo_err']:.3f} (< 0.02) | {s['bass_in_key']:.2f} (>= 0.85) "
                 f"| {s['bass_on_drum_grid']:.2f} (>= 0.80) | {s['dark_lowers_centroid']:.2f} (>= 0.8) "
                 f"| {s['busy_raises_density']:.2f} (>= 0.8) |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--prompts", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sampling-seed", type=int,
                    help="the takes' random numbers start here (default: --seed), the prompts stay --seed's")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a loaded machine more threads made it slower)")
    ap.add_argument("--engine", metavar="TRACK_TAKES",
                    help="generate with the engine (the build's bench/track_takes) instead of the "
                         "PyTorch reference")
    ap.add_argument("--tune", action="store_true",
                    help="with --engine: tune the bass to the prompt's key as the `tune` node does")
    ap.add_argument("--key-lock", action="store_true",
                    help="pitch codec: sample the bass's notes from the prompt's key only "
                         "(lm.key_lock_mask; the engine's generator key_lock)")
    ap.add_argument("--corpus", action="store_true",
                    help="measure the prompts' corpus songs, rendered and through the codec, instead of takes")
    ap.add_argument("--guidance", type=float, default=SAMPLING["guidance"])
    ap.add_argument("--temperature", type=float, default=SAMPLING["temperature"])
    ap.add_argument("--top-k", dest="top_k", type=int, default=SAMPLING["top_k"])
    ap.add_argument("--pitch-temperature", dest="pitch_temperature", type=float,
                    default=SAMPLING["pitch_temperature"],
                    help="a pitch codec's pitch row samples at this temperature (the engine's default)")
    ap.add_argument("--note-on-lock", dest="note_on_lock", action="store_true",
                    help="a pitch codec's notes start only on the 16ths (lm.note_on_mask; "
                         "the engine's generator note_on_lock)")
    ap.add_argument("--sustain-lock", dest="sustain_lock", action="store_true",
                    help="a pitch codec's held notes sound on the harmonic path alone past their attack "
                         "(lm.sustain; the engine's generator sustain_lock)")
    ap.add_argument("--sustain-attack", dest="sustain_attack", type=float, default=SAMPLING["sustain_attack"],
                    metavar="MS", help="with --sustain-lock, the ms of a held note left as generated")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    measure.use_engine_of(a.engine)  # the onsets from the same build
    if a.corpus:
        for name, summary in corpus_reference(a.model, a.prompts, a.seconds, a.seed).items():
            print(json.dumps(dict(corpus=name, **summary)))
        sys.exit(0)
    sampling = dict(guidance=a.guidance, temperature=a.temperature, top_k=a.top_k,
                    pitch_temperature=a.pitch_temperature, note_on_lock=a.note_on_lock,
                    sustain_lock=a.sustain_lock, sustain_attack=a.sustain_attack)
    if a.tune and not a.engine:
        sys.exit("--tune needs --engine")
    rows, summary = evaluate(a.model, a.prompts, a.seconds, a.seed, a.engine, sampling, a.tune, a.key_lock,
                             a.sampling_seed)
    summary["sampling"] = dict(sampling, seed=a.seed if a.sampling_seed is None else a.sampling_seed)
    summary["generator"] = ("engine (CPU backend)" if a.engine else "PyTorch reference") + (
        ", bass tuned to the key" if a.tune else "") + (", key lock" if a.key_lock else "")
    print(table(rows, summary))
    print(json.dumps(summary))
