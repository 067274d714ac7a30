#!/usr/bin/python3
"""Build tests/fixtures/encodec/32k_128: a random-weight EnCodec whose codes
are those of the tiny MusicGen fixture (tests/fixtures/lm/tiny): 32 kHz,
hop 640, 4 codebooks of 128. With it a patch can run the tiny generator into
a decoder, so tests hear real takes for almost no CPU (the live /regen test,
tests/runtime/live/test_live_regen.c). Random weights: different codes
decode to clearly different audio, which is what such a test needs.

Run from the repository root:  /usr/bin/python3 train/make_tiny_codec_fixture.py
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_encodec_fixtures as fx  # noqa: E402

SPEC = {
    # HF counts codebooks as bandwidth / (frame rate * 10 bits): 2.2 kbps -> 4
    "config": dict(fx.SHAPES["32k"]["config"], codebook_size=128),
    "seconds": 0.3,
    "dtype": "F16", "spelling": "parametrizations", "composite": True, "low_bandwidth": None,
}


def main():
    torch.set_num_threads(2)
    out = "tests/fixtures/encodec/32k_128"
    fx.build("32k_128", SPEC, out, seed=128)
    os.remove(os.path.join(out, "expected.safetensors"))  # only the model is used


if __name__ == "__main__":
    main()
