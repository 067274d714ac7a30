#!/usr/bin/python3
"""The PyTorch side of bench/bench_track.c: the same workload (a drum take at
124 bpm, decoded; a bass take hearing the drums, decoded) with the reference
of the same exported model (lm.TrackMusicGenRef, encodec_ref.EncodecRef),
best of REPEATS after a warm-up; one JSON line like the C benchmark's.

    train/bench_track.py MODEL_DIR [--seconds 8] [--repeats 1] [--threads 2]
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import encodec_ref  # noqa: E402
import export  # noqa: E402
import lm  # noqa: E402
import text  # noqa: E402

BPM = 124.0
DRUMS_PROMPT = "drums, four on the floor, 124 bpm, punchy techno"
BASS_PROMPT = "bass, acid line, 124 bpm, A minor, dark techno"


def load(model_dir):
    ref = lm.load_reference(model_dir)
    with open(os.path.join(model_dir, "config.json")) as f:
        conf = json.load(f)
    sd = export.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    codec = encodec_ref.EncodecRef(encodec_ref.Config(conf["audio_encoder"])).eval()
    encodec_ref.load_state_dict(codec, {k: v for k, v in sd.items() if k.startswith("audio_encoder.")})
    tok = text.Tokenizer(os.path.join(model_dir, "spiece.model"))
    return ref, codec, tok, conf["track_context"]["roles"]


@torch.no_grad()
def drums_and_bass(ref, codec, tok, roles, frames):
    t = [time.perf_counter()]
    ref.set_track(roles.index("drums"), BPM, text=DRUMS_PROMPT)
    drums = lm.sample(ref, torch.tensor(tok.encode(DRUMS_PROMPT)), frames, top_k=50, seed=1)
    t.append(time.perf_counter())
    codec.decode(drums)
    t.append(time.perf_counter())
    ref.set_track(roles.index("bass"), BPM, [(roles.index("drums"), drums)], BASS_PROMPT)
    bass = lm.sample(ref, torch.tensor(tok.encode(BASS_PROMPT)), frames, top_k=50, seed=2)
    t.append(time.perf_counter())
    codec.decode(bass)
    t.append(time.perf_counter())
    return [b - a for a, b in zip(t, t[1:])]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    ref, codec, tok, roles = load(a.model_dir)
    load_s = time.perf_counter() - t0
    frames = int(round(a.seconds * codec.cfg.frame_rate))
    best = None
    for r in range(a.repeats + 1):  # run 0 warms up
        t = drums_and_bass(ref, codec, tok, roles, frames)
        if (r > 0 or a.repeats == 0) and (best is None or sum(t) < sum(best)):
            best = t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": f"pytorch {torch.__version__} ({torch.get_num_threads()} threads)",
                      "seconds": a.seconds, "total_s": round(sum(best), 3),
                      "drums_lm_s": round(best[0], 3), "drums_decode_s": round(best[1], 3),
                      "bass_lm_s": round(best[2], 3), "bass_decode_s": round(best[3], 3),
                      "load_s": round(load_s, 3), "peak_rss_mb": round(rss)}), flush=True)


if __name__ == "__main__":
    main()
