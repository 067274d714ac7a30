#!/usr/bin/python3
"""Procedural multi-track corpus: seeded, aligned stems with captions.

Public music with stems cannot be fetched where ResonantGen is built, so the
project's own model learns from music it can synthesise. Every song is a
function of one integer seed (plus optional overrides), so the corpus is
never stored: it is re-rendered wherever it is needed.

A song has a tempo (70-180 bpm), a key and mode, a style and a few texture
words, and up to three stems of exactly the same length, starting on a
downbeat:

  drums   kick, snare/clap, hats and percussion on a 16th grid, with swing
          and an optional fill in the last beat
  bass    notes of the key's scale following a chord progression (one chord
          per bar), several additive synth timbres through a resonant low-pass
  chords  triads of the same progression (pads or stabs, style-dependent)

Every texture word changes a parameter that can be measured in the audio
(tests/train/test_corpus.py checks each of them):

  dark / bright   filter cutoff of bass and chords, level and band of the hats
                  -> spectral centroid
  acid            bass timbre: saw through a high-resonance filter with a per-
                  note envelope sweep
  punchy          kick with a click transient, shorter body, soft clipping
                  -> more energy in the first 30 ms of each hit
  sparse / busy   number of hits and bass notes per bar -> onset density
  swung           odd 16ths delayed by 22 % of a 16th

Captions name only what is audible in a stem, in a fixed order so that a
model can learn them: "bass, acid line, 124 bpm, A minor, dark acid techno".

A user folder of real stems loads through `load_stem_folder` (layout in
docs/training.md): one folder per song, one WAV per track named by its role
(drums.wav, bass.wav, chords.wav, lead.wav; anything else is "other"), and a
caption.txt.

    train/corpus.py --seed 7 --out /tmp/song7   # writes the stems as WAVs
"""
import math
import os
import re
import wave

import numpy as np

SAMPLE_RATE = 16000
ROLES = ["drums", "bass", "chords", "lead"]  # index = role id in the models

NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
# Flats read better for these roots in captions (Bb minor, Eb major).
NOTE_NAMES_CAPTION = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MODES = {
    "major": [0, 2, 4, 5, 7, 9, 11],
    "minor": [0, 2, 3, 5, 7, 8, 10],
    "dorian": [0, 2, 3, 5, 7, 9, 10],
    "phrygian": [0, 1, 3, 5, 7, 8, 10],
    "mixolydian": [0, 2, 4, 5, 7, 9, 10],
}
# Chord progressions as scale degrees (0-based), one chord per bar.
PROGRESSIONS = [[0, 5, 2, 6], [0, 3, 4, 0], [0, 0, 5, 6], [0, 4, 5, 3], [0, 6, 5, 6],
                [0, 3, 0, 4], [0, 2, 3, 4]]

# Style: tempo range, drum pattern family, bass rhythm family, timbre choices,
# chord style, base density. Tempi span 70-180 bpm over all styles.
STYLES = {
    "techno": dict(bpm=(120, 140), drums="four", bass="offbeat", timbres=["saw", "square", "acid"],
                   chords="stab", density=0.6, swing=0.0),
    "house": dict(bpm=(116, 128), drums="four_open", bass="house", timbres=["saw", "square", "sub"],
                  chords="stab", density=0.55, swing=0.08),
    "hip hop": dict(bpm=(80, 100), drums="boombap", bass="long", timbres=["sub", "square", "saw"],
                    chords="pad", density=0.45, swing=0.15),
    "drum and bass": dict(bpm=(160, 180), drums="dnb", bass="long", timbres=["sub", "saw"],
                          chords="pad", density=0.6, swing=0.0),
    "ambient": dict(bpm=(70, 95), drums="ambient", bass="whole", timbres=["sub", "saw"],
                    chords="pad", density=0.25, swing=0.0),
    "trap": dict(bpm=(130, 150), drums="trap", bass="808", timbres=["sub"],
                 chords="pad", density=0.55, swing=0.0),
    "electro": dict(bpm=(110, 130), drums="electro", bass="rolling", timbres=["square", "saw", "acid"],
                    chords="stab", density=0.6, swing=0.0),
}
TEXTURES = ["dark", "bright", "acid", "punchy", "sparse", "busy", "swung"]
# Mutually exclusive texture pairs.
OPPOSITE = {"dark": "bright", "bright": "dark", "sparse": "busy", "busy": "sparse"}

BASS_WORDS = {"sub": "sub bass", "saw": "saw bass", "square": "square bass", "acid": "acid line"}
DRUM_WORDS = {"four": "four on the floor", "four_open": "four on the floor with open hats",
              "boombap": "boom bap beat", "dnb": "breakbeat", "ambient": "soft beat",
              "trap": "trap beat with hat rolls", "electro": "electro beat"}
CHORD_WORDS = {"stab": "chord stabs", "pad": "pads"}


# ---------------------------------------------------------------- the spec

def sample_spec(seed, **overrides):
    """All random choices of a song, drawn from `seed`. Overrides (bpm, root,
    mode, style, textures, bars, bass_timbre, roles, ...) replace the drawn
    values; every draw still happens in the same order, so two specs that
    differ only by an override share everything else (the texture tests rely
    on this)."""
    rng = np.random.default_rng(seed)
    style = list(STYLES)[rng.integers(len(STYLES))]
    style = overrides.get("style", style)
    st = STYLES[style]
    bpm = int(rng.integers(st["bpm"][0], st["bpm"][1] + 1))
    root = int(rng.integers(12))
    mode = ["minor", "minor", "major", "dorian", "phrygian", "mixolydian"][rng.integers(6)]
    words = []
    for w in TEXTURES:
        if rng.random() < 0.2 and OPPOSITE.get(w) not in words:
            words.append(w)
    timbre = st["timbres"][rng.integers(len(st["timbres"]))]
    spec = dict(seed=seed, style=style, bpm=bpm, root=root, mode=mode, textures=words,
                bass_timbre=timbre, bars=4, roles=["drums", "bass", "chords"],
                progression=PROGRESSIONS[rng.integers(len(PROGRESSIONS))],
                bass_octave=int(rng.integers(2)),
                fill=bool(rng.random() < 0.5), chords_on=bool(rng.random() < 0.8),
                detail_seed=int(rng.integers(2**31)))
    spec.update(overrides)
    if "acid" in spec["textures"] and "bass_timbre" not in overrides:
        spec["bass_timbre"] = "acid"
    if spec["bass_timbre"] == "acid" and "acid" not in spec["textures"]:
        spec["textures"] = spec["textures"] + ["acid"]
    if not spec["chords_on"] and "chords" in spec["roles"] and "roles" not in overrides:
        spec["roles"] = [r for r in spec["roles"] if r != "chords"]
    return spec


def key_name(spec):
    return f"{NOTE_NAMES_CAPTION[spec['root']]} {spec['mode']}"


def scale_pitch_classes(root, mode):
    return sorted({(root + i) % 12 for i in MODES[mode]})


def caption(spec, role):
    """What is audible in one stem (or the whole mix for role 'mix')."""
    tex = spec["textures"]
    st = STYLES[spec["style"]]
    relevant = {
        "drums": {"dark", "bright", "punchy", "sparse", "busy", "swung"},
        "bass": {"dark", "bright", "sparse", "busy", "swung"},  # acid is in the description
        "chords": {"dark", "bright", "sparse", "busy"},
        "mix": set(TEXTURES),
    }[role]
    words = " ".join(w for w in TEXTURES if w in tex and w in relevant)
    style = f"{words} {spec['style']}" if words else spec["style"]
    if role == "drums":
        desc = DRUM_WORDS[st["drums"]]
        return f"drums, {desc}, {spec['bpm']} bpm, {style}"
    if role == "bass":
        desc = BASS_WORDS[spec["bass_timbre"]]
    elif role == "chords":
        desc = CHORD_WORDS[st["chords"]]
    else:
        desc = ", ".join(spec["roles"])
    return f"{role}, {desc}, {spec['bpm']} bpm, {key_name(spec)}, {style}"


# ------------------------------------------------------------ synthesis

def _envelope(n, sr, attack, decay):
    t = np.arange(n) / sr
    env = np.exp(-t / max(decay, 1e-4))
    a = max(1, int(attack * sr))
    env[:a] *= np.linspace(0.0, 1.0, a, endpoint=False)
    return env


def _fft_band(x, sr, lo, hi):
    """Band-pass by masking the spectrum (used on short one-shot templates
    only, so the cost is negligible and no filter-design code is needed)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / sr)
    spec[(f < lo) | (f > hi)] = 0.0
    return np.fft.irfft(spec, len(x))


def _kick(sr, rng, punchy, style):
    dur = 0.6 if style == "trap" else 0.35
    n = int(dur * sr)
    t = np.arange(n) / sr
    f_end = rng.uniform(45, 55)
    f_start = rng.uniform(140, 200)
    freq = f_end + (f_start - f_end) * np.exp(-t / 0.03)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    body_decay = 0.45 if style == "trap" else (0.06 if punchy else 0.2)
    x = np.sin(phase) * _envelope(n, sr, 0.001, body_decay)
    if punchy:
        # a click transient and gentle saturation; the saturation is applied
        # before the body decays so it does not lengthen the tail
        click = rng.standard_normal(n) * _envelope(n, sr, 0.0005, 0.004)
        x = np.tanh(1.5 * (x + 0.6 * _fft_band(click, sr, 1000, 6000))) / np.tanh(1.5)
    return x


def _snare(sr, rng, clap):
    n = int(0.25 * sr)
    noise = rng.standard_normal(n)
    if clap:  # three quick bursts
        env = sum(_envelope(n, sr, 0.0005, 0.008 if i < 2 else 0.08) * (np.arange(n) >= int(i * 0.011 * sr))
                  for i in range(3))
        return 0.6 * _fft_band(noise, sr, 800, 3500) * env
    tone = np.sin(2 * np.pi * rng.uniform(170, 220) * np.arange(n) / sr) * _envelope(n, sr, 0.001, 0.05)
    return 0.5 * _fft_band(noise, sr, 1200, 7000) * _envelope(n, sr, 0.001, 0.07) + 0.6 * tone


def _hat(sr, rng, open_, bright, dark):
    n = int((0.3 if open_ else 0.08) * sr)
    lo = 6500 if bright else (3000 if dark else 5000)
    hi = 7900 if not dark else 5500
    x = _fft_band(rng.standard_normal(n), sr, lo, hi)
    gain = 0.35 * (1.6 if bright else (0.5 if dark else 1.0))
    return gain * x * _envelope(n, sr, 0.0005, 0.12 if open_ else 0.02)


def _perc(sr, rng):
    n = int(0.2 * sr)
    f = rng.uniform(180, 400)
    return 0.5 * np.sin(2 * np.pi * f * np.arange(n) / sr) * _envelope(n, sr, 0.001, 0.06)


def _place(out, hit, pos, gain):
    if pos >= len(out):
        return
    m = min(len(hit), len(out) - pos)
    out[pos:pos + m] += gain * hit[:m]


# Drum patterns: for each instrument, 16 step probabilities per bar; the
# density scales the optional (probability < 1) steps.
def _drum_pattern(kind):
    z = [0.0] * 16
    kick, snare, hat, ohat, perc = list(z), list(z), list(z), list(z), list(z)
    if kind in ("four", "four_open", "electro"):
        for s in (0, 4, 8, 12):
            kick[s] = 1.0
        for s in (4, 12):
            snare[s] = 1.0
        for s in range(2, 16, 4):
            (ohat if kind == "four_open" else hat)[s] = 1.0
        for s in range(0, 16, 2):
            hat[s] = max(hat[s], 0.5)
        for s in range(1, 16, 2):
            hat[s] = 0.3
        kick[14] = 0.2
        perc[7], perc[11] = 0.3, 0.3
        if kind == "electro":
            kick[4], kick[8], kick[10] = 0.0, 0.0, 1.0
            kick[6] = 0.5
    elif kind == "boombap":
        kick[0], kick[7], kick[10] = 1.0, 0.6, 1.0
        snare[4], snare[12] = 1.0, 1.0
        for s in range(0, 16, 2):
            hat[s] = 1.0
        for s in range(1, 16, 2):
            hat[s] = 0.25
        snare[15] = 0.2
    elif kind == "dnb":
        kick[0], kick[10] = 1.0, 1.0
        kick[7] = 0.3
        snare[4], snare[12] = 1.0, 1.0
        snare[14] = 0.3
        for s in range(0, 16, 2):
            hat[s] = 1.0
        for s in range(1, 16, 2):
            hat[s] = 0.4
    elif kind == "trap":
        kick[0], kick[6], kick[11] = 1.0, 0.7, 0.8
        snare[8] = 1.0
        for s in range(16):
            hat[s] = 1.0 if s % 2 == 0 else 0.6
    elif kind == "ambient":
        kick[0], kick[8] = 1.0, 0.5
        snare[12] = 0.4
        for s in range(0, 16, 4):
            hat[s] = 0.8
        for s in range(2, 16, 4):
            hat[s] = 0.3
    return dict(kick=kick, snare=snare, hat=hat, ohat=ohat, perc=perc)


def _density(spec):
    d = STYLES[spec["style"]]["density"]
    if "sparse" in spec["textures"]:
        d *= 0.3
    if "busy" in spec["textures"]:
        d = min(1.0, d * 1.8 + 0.2)
    return d


def _swing(spec):
    s = STYLES[spec["style"]]["swing"]
    if "swung" in spec["textures"]:
        s = 0.22
    return s


def _step_sample(spec, bar, step, sr, swing):
    """Sample index of 16th `step` in `bar`: odd 16ths are late by swing."""
    sixteenth = 60.0 / spec["bpm"] / 4
    t = (bar * 16 + step + (swing if step % 2 else 0.0)) * sixteenth
    return int(round(t * sr))


def bar_samples(spec, sr=SAMPLE_RATE):
    return 4 * 60.0 / spec["bpm"] * sr


def song_samples(spec, sr=SAMPLE_RATE):
    return int(round(spec["bars"] * bar_samples(spec, sr)))


def render_drums(spec, sr=SAMPLE_RATE):
    rng = np.random.default_rng([spec["detail_seed"], 1])
    tex = spec["textures"]
    n = song_samples(spec, sr)
    out = np.zeros(n + sr, np.float64)  # room for the tails; cut at the end
    kind = STYLES[spec["style"]]["drums"]
    pat = _drum_pattern(kind)
    dens = _density(spec)
    swing = _swing(spec)
    kick = _kick(sr, rng, "punchy" in tex, spec["style"])
    snare = _snare(sr, rng, clap=spec["style"] in ("house", "trap", "techno"))
    hat = _hat(sr, rng, False, "bright" in tex, "dark" in tex)
    ohat = _hat(sr, rng, True, "bright" in tex, "dark" in tex)
    perc = _perc(sr, rng)
    hits = dict(kick=(kick, 0.9), snare=(snare, 0.6), hat=(hat, 0.5), ohat=(ohat, 0.35), perc=(perc, 0.4))
    # Drawn once per song so that sparse/busy only move the threshold: the
    # same seed keeps the same candidate hits, and busy plays a superset.
    chance = rng.random((spec["bars"], 16, len(hits)))
    for bar in range(spec["bars"]):
        for step in range(16):
            pos = _step_sample(spec, bar, step, sr, swing)
            for i, (name, (hit, gain)) in enumerate(hits.items()):
                p = pat[name][step]
                if p <= 0:
                    continue
                if p < 1.0:
                    p = min(1.0, p * dens * 2)
                if chance[bar, step, i] < p:
                    vel = 0.8 + 0.2 * chance[bar, step, i] if p < 1 else 1.0
                    _place(out, hit, pos, gain * vel)
            if kind == "trap" and step % 4 == 3 and chance[bar, step, 2] < 0.3 * dens * 2:
                # a 32nd-note hat roll into the next beat
                half = int(round(60.0 / spec["bpm"] / 8 * sr))
                _place(out, hat, pos + half, 0.35)
    if spec["fill"] and spec["bars"] >= 2:
        bar = spec["bars"] - 1
        for step in range(12, 16):
            pos = _step_sample(spec, bar, step, sr, swing)
            _place(out, snare, pos, 0.3 + 0.1 * (step - 12))
    return out[:n]


def _additive(f0, n, sr, harmonics_amp, cutoff_env, resonance, amp_env, phase=0.0):
    """Band-limited additive note through a 2-pole resonant low-pass whose
    cutoff may move over time: each harmonic is scaled by the filter's
    magnitude response at its frequency. Exact, alias-free and vectorised."""
    h_max = int(min(len(harmonics_amp), (0.45 * sr) // f0))
    t = np.arange(n) / sr
    h = np.arange(1, h_max + 1)[None, :]
    ratio = (h * f0) / cutoff_env[:, None]
    gain = 1.0 / np.sqrt((1 - ratio**2) ** 2 + (ratio / resonance) ** 2)
    partials = np.sin(2 * np.pi * f0 * h * t[:, None] + phase * h)
    return amp_env * (partials * gain * np.asarray(harmonics_amp[:h_max])[None, :]).sum(1)


def _timbre_harmonics(timbre):
    k = np.arange(1, 41)
    if timbre == "sub":
        return np.where(k == 1, 1.0, np.where(k == 2, 0.15, 0.0))
    if timbre == "square":
        return np.where(k % 2 == 1, 1.0 / k, 0.0)
    return 1.0 / k  # saw and acid


def _brightness(spec):
    if "dark" in spec["textures"]:
        return 0.45
    if "bright" in spec["textures"]:
        return 2.2
    return 1.0


def chord_roots(spec):
    """Scale degree of the chord in each bar."""
    prog = spec["progression"]
    return [prog[b % len(prog)] for b in range(spec["bars"])]


def _degree_midi(spec, degree, base):
    scale = MODES[spec["mode"]]
    octave, idx = divmod(degree, 7)
    return base + spec["root"] + 12 * octave + scale[idx]


def bass_notes(spec):
    """(start step from the song start, length in steps, midi) of every bass
    note. All pitches are scale tones: chord root, fifth, or a passing tone."""
    rng = np.random.default_rng([spec["detail_seed"], 2])
    kind = STYLES[spec["style"]]["bass"]
    dens = _density(spec)
    base = 24 + 12 * spec["bass_octave"]  # C1 or C2, then + root
    if base + spec["root"] > 45:
        base -= 12
    notes = []
    chance = rng.random((spec["bars"], 16, 3))
    for bar, degree in enumerate(chord_roots(spec)):
        if kind == "whole":
            steps = [(0, 16)]
        elif kind == "long":
            steps = [(0, 6), (10, 6)] if chance[bar, 0, 0] < 0.6 else [(0, 10), (10, 6)]
        elif kind == "808":
            steps = [(0, 6), (6, 5), (11, 5)]
        elif kind == "offbeat":
            steps = [(s, 2) for s in (2, 6, 10, 14)]
        elif kind == "house":
            steps = [(2, 2), (6, 2), (10, 2), (14, 2), (7, 1), (15, 1)]
        else:  # rolling 16ths
            steps = [(s, 1) for s in range(16)]
        for j, (s, length) in enumerate(steps):
            essential = j == 0 or kind in ("offbeat", "whole", "808")
            if not essential and chance[bar, s, 0] > 0.35 + dens:
                continue
            r = chance[bar, s, 1]
            deg = degree
            if r > 0.75:
                deg = degree + 4  # fifth
            elif r > 0.6 and dens > 0.5:
                deg = degree + 2  # passing third
            notes.append((bar * 16 + s, length, _degree_midi(spec, deg, base)))
        if "busy" in spec["textures"] and kind not in ("rolling",):
            # extra 16th pickups between the notes
            for s in (3, 11):
                if chance[bar, s, 2] < 0.8:
                    notes.append((bar * 16 + s, 1, _degree_midi(spec, degree + 7, base)))
    return sorted(notes)


def midi_hz(m):
    return 440.0 * 2 ** ((m - 69) / 12)


def _bass_spans(spec, sr):
    """(first sample, samples, length in 16ths, f0 Hz) of each bass note."""
    swing = _swing(spec)
    sixteenth = 60.0 / spec["bpm"] / 4 * sr
    for start, length, midi in bass_notes(spec):
        yield (_step_sample(spec, 0, start, sr, swing), int(max(0.05 * sr, length * sixteenth * 0.9)),
               length, midi_hz(midi))


def bass_f0(spec, sr=SAMPLE_RATE):
    """f0 in Hz of the bass stem at each sample, 0 where no note sounds: the
    pitch the codec's harmonic path is taught (codec.py `f0_weight`)."""
    out = np.zeros(song_samples(spec, sr), np.float32)
    for pos, dur, _, f0 in _bass_spans(spec, sr):
        out[pos:pos + dur] = f0
    return out


def render_bass(spec, sr=SAMPLE_RATE):
    rng = np.random.default_rng([spec["detail_seed"], 3])
    n = song_samples(spec, sr)
    out = np.zeros(n + sr, np.float64)
    timbre = spec["bass_timbre"]
    harm = _timbre_harmonics(timbre)
    bright = _brightness(spec)
    for pos, dur, length, f0 in _bass_spans(spec, sr):
        t = np.arange(dur) / sr
        if timbre == "acid":
            # per-note envelope sweep of a resonant filter: the 303 sound
            cutoff = f0 * (2.0 + 14.0 * bright * np.exp(-t / 0.08) * rng.uniform(0.5, 1.0))
            res = 6.0
        else:
            cutoff = np.full(dur, max(1.5 * f0, 500.0 * bright))
            res = 0.8
        amp = np.minimum(1.0, t / 0.004) * np.where(t > dur / sr - 0.01, (dur / sr - t) / 0.01, 1.0)
        amp *= np.exp(-t / (1.5 if length >= 6 else 0.6))
        note = _additive(f0, dur, sr, harm, cutoff, res, amp)
        _place(out, note, pos, 1.0)
    return out[:n]


def render_chords(spec, sr=SAMPLE_RATE):
    rng = np.random.default_rng([spec["detail_seed"], 4])
    n = song_samples(spec, sr)
    out = np.zeros(n + 2 * sr, np.float64)
    kind = STYLES[spec["style"]]["chords"]
    bright = _brightness(spec)
    harm = np.where(np.arange(1, 41) % 2 == 1, 1.0 / np.arange(1, 41) ** 1.5, 0.2 / np.arange(1, 41) ** 2)
    dens = _density(spec)
    sixteenth = 60.0 / spec["bpm"] / 4 * sr
    swing = _swing(spec)
    for bar, degree in enumerate(chord_roots(spec)):
        if kind == "pad":
            hits = [(0, 16)]
        else:
            hits = [(s, 2) for s in (2, 6, 10, 14) if rng.random() < 0.3 + dens]
            if not hits:
                hits = [(2, 2)]
        for s, length in hits:
            pos = _step_sample(spec, bar, s, sr, swing)
            dur = int(length * sixteenth)
            t = np.arange(dur) / sr
            if kind == "pad":
                amp = np.minimum(1.0, t / 0.3) * np.minimum(1.0, (dur / sr - t) / 0.2 + 1e-3)
            else:
                amp = np.minimum(1.0, t / 0.003) * np.exp(-t / 0.12)
            cutoff = np.full(dur, 900.0 * bright)
            for d in (0, 2, 4):
                f0 = midi_hz(_degree_midi(spec, degree + d, 48 if spec["root"] < 7 else 36))
                _place(out, _additive(f0, dur, sr, harm, cutoff, 0.9, amp, phase=rng.uniform(0, 6.28)), pos, 0.3)
    return out[:n]


RENDERERS = {"drums": render_drums, "bass": render_bass, "chords": render_chords}
LEVELS = {"drums": 0.5, "bass": 0.4, "chords": 0.25}  # peak of each stem


class Song:
    def __init__(self, spec, stems, sr):
        self.spec = spec
        self.stems = stems  # role -> float32 [n]
        self.sr = sr

    def caption(self, role):
        return caption(self.spec, role)

    @property
    def mix(self):
        return sum(self.stems.values())


def render(spec, sr=SAMPLE_RATE):
    """The stems of a spec, float32, equal length, peak-normalised per stem
    (levels differ per role so the mix is balanced)."""
    stems = {}
    for role in spec["roles"]:
        x = RENDERERS[role](spec, sr)
        peak = np.abs(x).max()
        if peak > 0:
            x = x * (LEVELS[role] / peak)
        stems[role] = x.astype(np.float32)
    return Song(spec, stems, sr)


def song(seed, sr=SAMPLE_RATE, **overrides):
    return render(sample_spec(seed, **overrides), sr)


# ------------------------------------------------------ real stems on disk

def read_wav(path):
    """Mono float32 and the rate of a WAV file: integer PCM (8/16/24/32-bit)
    or IEEE float (32/64-bit), plain or WAVE_FORMAT_EXTENSIBLE. A small RIFF
    reader, because the standard `wave` module refuses float files (what
    DAWs and the engine write)."""
    import struct

    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, raw = 12, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            tag, ch, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if tag == 0xFFFE and len(body) >= 26:
                tag = struct.unpack("<H", body[24:26])[0]  # the sub-format GUID starts with the tag
            fmt = (tag, ch, rate, bits)
        elif cid == b"data":
            raw = body
        pos += 8 + size + (size & 1)
    if fmt is None or raw is None:
        raise ValueError(f"{path}: no fmt or data chunk")
    tag, ch, rate, bits = fmt
    width = bits // 8
    raw = raw[:len(raw) - len(raw) % (width * ch)]
    if tag == 3 and width in (4, 8):
        x = np.frombuffer(raw, "<f4" if width == 4 else "<f8").astype(np.float32)
    elif tag != 1:
        raise ValueError(f"{path}: unsupported WAV format tag {tag}")
    elif width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / (1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2**31
    else:
        raise ValueError(f"{path}: unsupported sample width {width}")
    return x.reshape(-1, ch).mean(1), rate


def write_wav(path, x, sr):
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


def resample(x, src, dst):
    """Band-limited resampling by zero-padding or truncating the spectrum
    (fine for offline training data; no scipy on the build machines)."""
    if src == dst:
        return x.astype(np.float32)
    n = int(round(len(x) * dst / src))
    spec = np.fft.rfft(x)
    out = np.zeros(n // 2 + 1, complex)
    m = min(len(spec), len(out))
    out[:m] = spec[:m]
    return (np.fft.irfft(out, n) * (n / len(x))).astype(np.float32)


def caption_bpm(text, default=None):
    """The tempo a caption names ("... 124 bpm ..."), else default."""
    import re

    m = re.search(r"(\d+(?:\.\d+)?)\s*bpm", text, re.IGNORECASE)
    return float(m.group(1)) if m else default


_KEY_RE = re.compile(r"(?<![A-Za-z0-9#])([A-G])([#b]?)\s+(?i:(" + "|".join(list(MODES) + ["ionian", "aeolian"])
                     + r"))(?![A-Za-z])")


def caption_key(text):
    """The key a caption names ("... A minor ...", "F# dorian", "Bb major")
    as (root 0-11, mode), else None. Modes are MODES' names plus ionian and
    aeolian, in any case; the note is a capital letter ("a minor" is not a
    key), optionally with # or b. The engine's rg_lm_key_from_text reads
    the same."""
    m = _KEY_RE.search(text)
    if not m:
        return None
    root = ("C D EF G A B".index(m.group(1)) + {"": 0, "#": 1, "b": -1}[m.group(2)]) % 12
    mode = m.group(3).lower()
    return root, {"ionian": "major", "aeolian": "minor"}.get(mode, mode)


def caption_tags(text, tags):
    """Which of the words `tags` the text names, as a float32 multi-hot:
    a tag counts where it stands as a whole word (not inside a longer run
    of letters), in any case. The engine's tag reading is the same."""
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", text)}
    return np.array([1.0 if t.lower() in words else 0.0 for t in tags], np.float32)


def key_vector(key):
    """The generator's key input (docs/models.md): 24 values, the tonic's
    pitch class one-hot then the scale's pitch classes; all zero when the
    key is unknown (None)."""
    v = np.zeros(24, np.float32)
    if key is not None:
        root, mode = key
        v[root] = 1.0
        v[[12 + pc for pc in scale_pitch_classes(root, mode)]] = 1.0
    return v


def load_stem_folder(root, sr=SAMPLE_RATE):
    """Songs from a folder of real stems: root/<song>/<role>.wav plus
    root/<song>/caption.txt. caption.txt holds a line for the whole song and
    optional "role: caption" lines for single stems; a stem without its own
    line gets "<role>, <song caption>". Stems are resampled to `sr`, mixed to
    mono and cut to the shortest one so they stay aligned."""
    songs = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        stems = {}
        for f in sorted(os.listdir(folder)):
            if f.lower().endswith(".wav"):
                role = os.path.splitext(f)[0].lower()
                role = role if role in ROLES else "other"
                x, rate = read_wav(os.path.join(folder, f))
                x = resample(x, rate, sr)
                stems[role] = stems[role] + x[:len(stems[role])] if role in stems else x
        if not stems:
            continue
        n = min(len(x) for x in stems.values())
        stems = {r: x[:n] for r, x in stems.items()}
        captions, song_caption = {}, name
        path = os.path.join(folder, "caption.txt")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    head, sep, rest = line.partition(":")
                    if sep and head.strip().lower() in ROLES + ["other"]:
                        captions[head.strip().lower()] = rest.strip()
                    else:
                        song_caption = line
        for r in stems:
            captions.setdefault(r, f"{r}, {song_caption}")
        captions["mix"] = song_caption
        spec = dict(name=name, roles=list(stems), captions=captions)
        s = Song(spec, stems, sr)
        s.caption = lambda role, c=captions: c[role]
        songs.append(s)
    return songs


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="render one corpus song to WAV stems")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--bars", type=int, default=4)
    a = ap.parse_args()
    s = song(a.seed, bars=a.bars)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "caption.txt"), "w") as fh:
        fh.write(s.caption("mix") + "\n")
        for role, x in s.stems.items():
            write_wav(os.path.join(a.out, role + ".wav"), x, s.sr)
            fh.write(f"{role}: {s.caption(role)}\n")
            print(role, "|", s.caption(role))
