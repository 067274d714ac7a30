#!/usr/bin/python3
"""train/retrain_default.sh end to end on the tiny configs: every phase runs
(codec, generator, the pitch codebook's two phases, held notes, the bass's
onsets, and with PITCH_FIRST=1 the generator's codes and the pitch row
first; the drums' high band (codec and generator); export; the second
generator-codes phase runs the first's code on other files, so it is
skipped here) and the exported folder is a pitch model the engine's
layout describes."""
import json
import os
import subprocess
import tempfile

import tap
import export


def test_recipe_runs_every_phase_on_tiny_configs():
    tmp = tempfile.mkdtemp(prefix="rg-retrain-")
    run, out = os.path.join(tmp, "run"), os.path.join(tmp, "model")
    configs = os.path.join(tap.ROOT, "train", "configs")
    env = dict(os.environ, RUN=run, OUT=out, CODEC_STEPS="4", LM_STEPS="2",
               CODEC_CONFIG=os.path.join(configs, "codec_tiny.json"),
               LM_CONFIG=os.path.join(configs, "lm_tiny.json"),
               PITCH_CODEC_CONFIG=os.path.join(configs, "codec_tiny_pitch.json"),
               PITCH_CODEC_STEPS="2", PITCH_LM_CONFIG=os.path.join(configs, "lm_tiny.json"), PITCH_LM_STEPS="2",
               HELD_LM_CONFIG=os.path.join(configs, "lm_tiny.json"), HELD_LM_STEPS="2",
               ONSET_CODEC_CONFIGS=os.path.join(configs, "codec_tiny_pitch.json"), ONSET_CODEC_STEPS="2",
               GENERATOR_CODEC_CONFIGS=os.path.join(configs, "codec_tiny_generator_codes.json"), CONFUSION_SONGS="2",
               FIRST_LM_CONFIGS=os.path.join(configs, "lm_tiny.json"), FIRST_LM_STEPS="2", FIRST_CODEC_CONFIGS="", MORE_LM_CONFIGS="",
               HIBAND_CODEC_CONFIG=os.path.join(configs, "codec_tiny_hiband.json"), HIBAND_CODEC_STEPS="2",
               HIBAND_LM_CONFIG=os.path.join(configs, "lm_tiny.json"), HIBAND_LM_STEPS="2",
               PITCH_FIRST="1")
    done = subprocess.run([os.path.join(tap.ROOT, "train", "retrain_default.sh")], env=env,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(os.path.join(run, "times.txt")) as f:
        phases = [line.split()[0] for line in f]
    assert phases == ["codec", "lm", "codec_pitch", "lm_pitch", "lm_held", "codec_tiny_pitch", "confusion",
                      "codec_tiny_generator_codes", "lm_tiny", "codec_hiband", "lm_hiband", "export"], phases
    assert os.path.exists(os.path.join(run, "confusion.pt"))
    with open(os.path.join(out, "config.json")) as f:
        conf = json.load(f)
    assert conf["audio_encoder"]["pitch_codebook"] and conf["decoder"]["num_codebooks"] == 5, conf["decoder"]
    names = export.read_safetensors(os.path.join(out, "model.safetensors"))
    assert "decoder.lm_heads.4.weight" in names and "audio_encoder.harmonic_head.2.weight" in names
    with open(os.path.join(out, "lm_log.jsonl")) as f:
        steps = [json.loads(line)["step"] for line in f]
    assert steps == [1, 2] * 5, steps  # the generator's, the pitch phase's, held notes', pitch first, high band
    with open(os.path.join(out, "codec_log.jsonl")) as f:
        steps = [json.loads(line)["step"] for line in f]
    assert steps[-8:] == [1, 2] * 4, steps  # ... the pitch codec's, the bass onsets', the generator codes', high band
    with open(os.path.join(run, "codec_tiny_generator_codes", "log.jsonl")) as f:
        assert len(f.readlines()) == 2
    # the high-band generator encodes its own dataset (the codec's codes moved)
    assert os.path.exists(os.path.join(run, "lm_hiband", "dataset.pt"))
    return " ".join(phases)


if __name__ == "__main__":
    tap.run([(n[5:], f) for n, f in list(globals().items()) if n.startswith("test_")])
