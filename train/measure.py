"""Audio measures used by the corpus tests and the evaluation: onset
envelope and onsets, tempo, f0 by harmonic summation, spectral centroid,
attack energy. numpy only, written for short mono signals; and the
synchronizer's onsets, read from the engine (`resonant eval --onsets`).
"""
import os
import re
import subprocess
import tempfile
import wave

import numpy as np


def _frames(x, size, hop):
    if len(x) < size:
        x = np.pad(x, (0, size - len(x)))
    n = 1 + (len(x) - size) // hop
    idx = np.arange(size)[None, :] + hop * np.arange(n)[:, None]
    return x[idx]


def onset_envelope(x, sr, hop=64, size=512):
    """Half-wave rectified spectral flux of the log magnitude, one value per
    hop (4 ms at 16 kHz): rises where energy appears in any band."""
    win = np.hanning(size)
    mag = np.abs(np.fft.rfft(_frames(x, size, hop) * win, axis=1))
    logm = np.log1p(100 * mag)
    flux = np.maximum(0.0, np.diff(logm, axis=0)).sum(1)
    return np.concatenate([[0.0], flux]), sr / hop


def onsets(x, sr, hop=64, threshold=0.3, min_gap=0.05, size=512):
    """Onset times (s): local maxima of the flux above `threshold` times its
    maximum, at least `min_gap` apart."""
    env, rate = onset_envelope(x, sr, hop, size)
    thr = threshold * env.max()
    times, last = [], -1e9
    for i in range(1, len(env) - 1):
        if env[i] >= thr and env[i] >= env[i - 1] and env[i] > env[i + 1]:
            t = (i * hop + size / 2) / sr  # the centre of the frame
            if t - last >= min_gap:
                times.append(t)
                last = t
    return np.array(times)


def resonant_exe():
    """The engine whose onset detector the evaluation reads: $RESONANT_EXE,
    else resonant in $RESONANT_BUILD_DIR, else build/resonant in the tree."""
    if os.environ.get("RESONANT_EXE"):
        return os.environ["RESONANT_EXE"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(os.environ.get("RESONANT_BUILD_DIR") or os.path.join(root, "build"), "resonant")


def use_engine_of(track_takes):
    """Measure with the `resonant` built beside `track_takes`
    (BUILD/bench/track_takes), so the takes and their onsets come from one
    build, unless $RESONANT_EXE names another."""
    if track_takes and not os.environ.get("RESONANT_EXE"):
        build = os.path.dirname(os.path.dirname(os.path.abspath(track_takes)))
        os.environ["RESONANT_EXE"] = os.path.join(build, "resonant")


def _engine_eval(x, sr, args, exe=None):
    """stdout of `resonant eval X ARGS` on x written as a 16-bit WAV at sr."""
    exe = exe or resonant_exe()
    if not os.access(exe, os.X_OK):
        raise RuntimeError(f"{exe}: no engine to measure with; build it (meson setup build && "
                           "ninja -C build) or name it in RESONANT_EXE or RESONANT_BUILD_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.wav")
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sr))
            w.writeframes(np.round(np.clip(x, -1.0, 1.0) * 32767).astype("<i2").tobytes())
        run = subprocess.run([exe, "eval", path] + args, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"resonant eval {' '.join(args)}: {run.stderr.strip() or run.returncode}")
    return run.stdout


def synchronizer_onsets(x, sr, exe=None):
    """Onset times (s) as the engine's synchronizer hears them (aubio's
    high-frequency-content detector with its adaptive threshold, each onset
    moved to the start of its attack: runtime/analysis.c), read from
    `resonant eval --onsets` on x at the engine's rate (48 kHz). Unlike
    onsets() above, whose threshold is a share of the signal's own largest
    flux, it does not count the small flux bumps of a held, filtered note,
    and a quiet hit in a loud bar still counts (docs/quality.md, "The
    synchronizer's onsets")."""
    out = _engine_eval(x, sr, ["--onsets"], exe)
    return np.array([float(m) for m in re.findall(r"^onset: ([0-9.]+) s", out, re.M)])


def synchronizer_tempo(x, sr, hint, exe=None):
    """The tempo (bpm) the engine's synchronizer hears in x (aubio's tempo
    folded to the octave of `hint`, refined by fitting its onsets to a 16th
    grid: rg_estimate_grid), or None when it finds none."""
    out = _engine_eval(x, sr, ["--tempo", f"{hint:g}"], exe)
    m = re.search(r"^estimated tempo: ([0-9.]+) bpm", out, re.M)
    return float(m.group(1)) if m else None


def on_grid(times, bpm, tol=0.025):
    """For each onset time (s), whether it is within `tol` s of the 16th-note
    grid of `bpm` that starts at 0."""
    six = 15.0 / bpm
    times = np.asarray(times, float)
    return np.abs(times / six - np.round(times / six)) * six <= tol


def tempo(x, sr, lo=60.0, hi=200.0, step=0.1):
    """Tempo (bpm) by fitting a 16th-note grid to the onset envelope. For
    each candidate tempo and phase the score is the mean envelope on the
    grid (odd 16ths may be late by up to 22 % of a 16th: swing) minus half
    the mean on the 32nd-note points between them. Grids whose spacing is
    not the music's 16th (e.g. 2/3 or 4/3 of the tempo) land between hits
    half of the time and lose. Octave errors (x2, x0.5) remain possible;
    callers accept them (tempo_error)."""
    env, rate = onset_envelope(x, sr)
    # tolerate +-1 frame (4 ms) of timing jitter
    env = np.maximum(env, np.maximum(np.roll(env, 1), np.roll(env, -1)))
    env = env / (env.max() + 1e-12)
    n = len(env)
    best, best_score = None, -np.inf
    for bpm in np.arange(lo, hi, step):
        p = 15.0 / bpm * rate  # one 16th, in frames
        k = np.arange(0, int((n - 1) / p) - 1, 2)  # even 16ths
        if len(k) < 4:
            continue
        ph = np.arange(0.0, 2 * p, 1.0)[:, None]

        def at(offset):
            return env[np.minimum(np.round(ph + (k[None, :] + offset) * p).astype(int), n - 1)]

        even = at(0.0)
        odd = np.maximum.reduce([at(1.0 + s) for s in (0.0, 0.08, 0.15, 0.22)])
        mid = 0.5 * (at(0.5) + at(1.6))
        score = ((even + odd) / 2 - 0.5 * mid).mean(1).max()
        if score > best_score:
            best, best_score = bpm, score
    return best


def tempo_error(measured, expected):
    """Relative error, allowing the octave ambiguity of tempo estimation;
    1.0 when no tempo could be measured (too short)."""
    if measured is None:
        return 1.0
    return min(abs(measured * m - expected) / expected for m in (1.0, 0.5, 2.0))


def f0_track(x, sr, size=4096, hop=512, fmin=30.0, fmax=260.0, rel_energy=0.1, harmonics=5):
    """f0 (Hz) per frame, for the frames whose energy is above rel_energy of
    the loudest (others are NaN): the candidate (10-cent grid) maximising
    the 1/h-weighted sum of the magnitudes at its first harmonics, on a
    zero-padded FFT. The 1/h weights keep the sub-octave (which collects
    only the even harmonics, at half weight) from winning. 256 ms frames:
    a semitone at 40 Hz is 2.4 Hz, so shorter frames blur neighbouring
    notes into each other."""
    fr = _frames(x, size, hop)
    energy = (fr**2).mean(1)
    nfft = 4 * size
    mag = np.abs(np.fft.rfft(fr * np.hanning(size), nfft, axis=1))
    bin_hz = sr / nfft
    cands = fmin * 2 ** (np.arange(0, np.log2(fmax / fmin) * 1200, 10) / 1200)
    out = np.full(len(fr), np.nan)
    for i in np.nonzero(energy >= rel_energy * energy.max())[0]:
        score = np.zeros(len(cands))
        for h in range(1, harmonics + 1):
            b = np.minimum(cands * h / bin_hz, mag.shape[1] - 2)
            bi = b.astype(int)
            frac = b - bi
            score += (mag[i, bi] * (1 - frac) + mag[i, bi + 1] * frac) / h
        out[i] = cands[np.argmax(score)]
    return out


def pitch_classes(f0):
    voiced = f0[~np.isnan(f0)]
    return np.round(12 * np.log2(voiced / 440.0) + 69).astype(int) % 12


def pitch_class_count(x, sr, min_share=0.05):
    """How many pitch classes the f0 track spends at least `min_share` of its
    voiced frames on: a line that holds one note scores 1."""
    pcs = pitch_classes(f0_track(x, sr))
    if len(pcs) == 0:
        return 0
    return int((np.bincount(pcs, minlength=12) / len(pcs) >= min_share).sum())


def in_key_ratio(x, sr, scale_pcs):
    pcs = pitch_classes(f0_track(x, sr))
    if len(pcs) == 0:
        return 0.0
    return float(np.isin(pcs, list(scale_pcs)).mean())


def spectral_centroid(x, sr, size=2048, hop=512):
    """Energy-weighted mean of the per-frame centroids (Hz)."""
    mag = np.abs(np.fft.rfft(_frames(x, size, hop) * np.hanning(size), axis=1))
    f = np.fft.rfftfreq(size, 1.0 / sr)
    e = mag.sum(1)
    cent = (mag * f).sum(1) / (e + 1e-12)
    return float((cent * e).sum() / (e.sum() + 1e-12))


def onset_density(x, sr):
    """Onsets per second."""
    return len(onsets(x, sr)) / (len(x) / sr)


def attack_ratio(x, sr, times, attack=0.03, window=0.15):
    """Mean share of each hit's energy (over `window` s) in its first
    `attack` s: higher for punchier hits."""
    r = []
    for t in times:
        a = int(t * sr)
        seg = x[a:a + int(window * sr)] ** 2
        if len(seg) < int(window * sr) or seg.sum() <= 0:
            continue
        r.append(seg[:int(attack * sr)].sum() / seg.sum())
    return float(np.mean(r)) if r else 0.0
