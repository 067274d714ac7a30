#!/usr/bin/python3
"""Codec reconstruction on held-out corpus songs (seeds the trainers never
draw): the measures of issue 7's "done means" for the codec.

  onsets   share of the original drum onsets with a decoded onset within
           20 ms (recall), and onset F1 at 20 ms: onsets as the synchronizer
           hears them (`resonant eval --onsets`, so the engine must be
           built: measure.resonant_exe); *_flux, the same with
           measure.onsets, the measure before the thirteenth session
  pitch    share of the original bass's voiced frames whose decoded f0 is
           within 50 cents
  mel      mean L1 distance of log-mel spectra (FFT 1024, 64 bands); and per
           stem with a floor of 1e-2 instead of 1e-5 (log_mel_l1_floor_1e-2:
           the low floor weighs near-silent bands as much as the music)
  snr      waveform SNR of the bass (dB)

    train/eval_codec.py MODEL_DIR_OR_CHECKPOINT [--songs 8] [--sines]
prints one JSON line; --sines adds, by frequency, the rms of a 1 s sine
(0.3 peak) after a round trip over its rms before: a codec that does not
pass the bass shows here first.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec  # noqa: E402
import corpus  # noqa: E402
import encodec_ref  # noqa: E402
import measure  # noqa: E402

HELD_OUT = 900_000_000  # seed base no trainer uses


def onset_match(ref, est, tol=0.02):
    """(recall, F1) of onset times est against ref, one-to-one within tol."""
    if len(ref) == 0:
        return 1.0, 1.0
    used = np.zeros(len(est), bool)
    hits = 0
    for t in ref:
        if len(est) == 0:
            break
        d = np.abs(est - t)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= tol:
            used[j] = True
            hits += 1
    recall = hits / len(ref)
    precision = hits / max(1, len(est))
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    return recall, f1


def evaluate(model, songs=8, seconds=4.0):
    sr = model.cfg.sampling_rate
    mel = codec.MelLoss(sr, [1024], 64)
    rec, f1s, pitch_ok, pitch_n, mels, snrs = [], [], 0, 0, [], []
    rec_flux, f1s_flux = [], []
    floor_mels = {}  # role -> log-mel L1 with a 1e-2 floor
    for i in range(songs):
        s = corpus.song(HELD_OUT + i, sr, bars=4, roles=["drums", "bass"])
        for role, x in s.stems.items():
            x = x[:int(seconds * sr)]
            y = round_trip(model, x)
            m = mel.mel(torch.from_numpy(np.stack([x, y])), 1024)
            mels.append(float((torch.log(m[0] + 1e-5) - torch.log(m[1] + 1e-5)).abs().mean()))
            floor_mels.setdefault(role, []).append(float((torch.log(m[0] + 1e-2) - torch.log(m[1] + 1e-2)).abs().mean()))
            if role == "drums":
                r, f = onset_match(measure.synchronizer_onsets(x, sr), measure.synchronizer_onsets(y, sr))
                rec.append(r)
                f1s.append(f)
                r, f = onset_match(measure.onsets(x, sr), measure.onsets(y, sr))
                rec_flux.append(r)
                f1s_flux.append(f)
            else:
                fx, fy = measure.f0_track(x, sr), measure.f0_track(y, sr, rel_energy=0.0)
                voiced = ~np.isnan(fx)
                cents = np.abs(1200 * np.log2(fy[voiced] / fx[voiced]))
                pitch_ok += int((cents <= 50).sum())
                pitch_n += int(voiced.sum())
                snrs.append(float(10 * np.log10((x**2).sum() / max(1e-12, ((x - y) ** 2).sum()))))
    return dict(songs=songs, onset_recall_20ms=round(float(np.mean(rec)), 3),
                onset_f1_20ms=round(float(np.mean(f1s)), 3),
                onset_recall_20ms_flux=round(float(np.mean(rec_flux)), 3),
                onset_f1_20ms_flux=round(float(np.mean(f1s_flux)), 3),
                bass_pitch_within_50c=round(pitch_ok / max(1, pitch_n), 3),
                log_mel_l1=round(float(np.mean(mels)), 3), bass_snr_db=round(float(np.mean(snrs)), 2),
                **{"log_mel_l1_floor_1e-2": {r: round(float(np.mean(v)), 3) for r, v in floor_mels.items()}})


def round_trip(model, x):
    """x (float32 [n]) encoded and decoded by the codec, cut to its length."""
    with torch.no_grad():
        return model.decode(model.encode(torch.from_numpy(x)[None]))[0].numpy()[:len(x)]


def sine_gains(model, freqs=(40, 60, 100, 200, 400, 1000, 3000)):
    """{Hz: decoded rms / original rms} for 1 s sines of 0.3 peak."""
    sr = model.cfg.sampling_rate
    t = np.arange(sr) / sr
    out = {}
    for f in freqs:
        x = (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)
        y = round_trip(model, x)
        out[f] = round(float(y.std() / x.std()), 3)
    return out


def load(path):
    """A codec checkpoint.pt, an EnCodec folder, or the codec inside a
    composite (track-aware MusicGen) folder."""
    if path.endswith(".pt"):
        return codec.load_checkpoint_model(path)
    import export

    with open(os.path.join(path, "config.json")) as f:
        conf = json.load(f)
    sd = export.read_safetensors(os.path.join(path, "model.safetensors"))
    if any(k.startswith("audio_encoder.") for k in sd):
        sd = {k[len("audio_encoder."):]: v for k, v in sd.items() if k.startswith("audio_encoder.")}
    model = encodec_ref.EncodecRef(encodec_ref.Config(conf)).eval()
    encodec_ref.load_state_dict(model, sd)
    model.silence = conf.get("track_context", {}).get("silence_codes")  # as the engine's decoder
    return model


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: on a loaded machine more threads made it slower)")
    ap.add_argument("--sines", action="store_true", help="also the round-trip gain of sines by frequency")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load(a.model)
    result = evaluate(model, a.songs)
    if a.sines:
        result["sine_gain"] = sine_gains(model)
    print(json.dumps(result))
