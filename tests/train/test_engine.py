#!/usr/bin/python3
"""The engine runs what train/ exports: a codec trained for a few steps on
the tiny config, exported in fp16 as the shipped default is, encoded and
decoded by `resonant encode`/`decode` (CPU backend) against the PyTorch
reference reading the same files. Skips when the engine is not built."""
import os
import struct
import subprocess
import tempfile
import zlib

import numpy as np
import torch

import tap
import codec
import corpus
import encodec_ref
import export

TMP = tempfile.mkdtemp(prefix="rg-engine-")
BUILD = os.environ.get("RESONANT_BUILD_DIR", os.path.join(tap.ROOT, "build"))
EXE = os.path.join(BUILD, "resonant")
torch.set_num_threads(1)


def read_codes(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"RGCD"
    hdr = struct.unpack("<H", data[6:8])[0]
    k = struct.unpack("<H", data[36:38])[0]
    t = struct.unpack("<Q", data[40:48])[0]
    assert struct.unpack("<I", data[56:60])[0] == zlib.crc32(data[hdr:])
    return np.frombuffer(data[hdr:], "<u2").reshape(k, t).astype(np.int64)


def test_engine_codec_matches_reference():
    if not os.access(EXE, os.X_OK):
        return "SKIP engine not built at " + EXE
    m, t = codec.load_config(os.path.join(tap.ROOT, "train", "configs", "codec_tiny.json"))
    codec.train(m, t, os.path.join(TMP, "run"), steps=3, quiet=True)
    model = codec.load_checkpoint_model(os.path.join(TMP, "run", "checkpoint.pt"))
    out = os.path.join(TMP, "model")
    export.export_codec(model, out, "f16")
    x = corpus.song(4, bars=1, roles=["bass"]).stems["bass"][:16000]
    wav = os.path.join(TMP, "in.wav")
    corpus.write_wav(wav, x, 16000)
    x16, _ = corpus.read_wav(wav)  # what the engine reads: 16-bit
    env = dict(os.environ, RESONANT_BACKEND="cpu")
    subprocess.run([EXE, "encode", wav, "-o", os.path.join(TMP, "c.codes"), "--model", out],
                   check=True, env=env, capture_output=True)
    got = read_codes(os.path.join(TMP, "c.codes"))
    ref = encodec_ref.load(out)
    with torch.no_grad():
        want = ref.encode(torch.from_numpy(x16)[None]).numpy()
    assert got.shape == want.shape, (got.shape, want.shape)
    same = float((got == want).mean())
    assert same >= 0.98, same  # near-ties of an untrained codebook may flip
    subprocess.run([EXE, "decode", os.path.join(TMP, "c.codes"), "-o", os.path.join(TMP, "out.wav"),
                    "--model", out, "--rate", "16000"], check=True, env=env, capture_output=True)
    y, rate = corpus.read_wav(os.path.join(TMP, "out.wav"))
    with torch.no_grad():
        y_ref = ref.decode(torch.from_numpy(got)).numpy()[0]
    n = min(len(y), len(y_ref))
    err = float(np.linalg.norm(y[:n] - y_ref[:n]) / (np.linalg.norm(y_ref[:n]) + 1e-9))
    assert rate == 16000 and abs(len(y) - len(x)) <= 320 and err < 0.02, (rate, len(y), err)
    return f"codes {same:.3f} identical, decoded rel err {err:.1e} (16-bit WAV)"


if __name__ == "__main__":
    tap.run([(n[5:], f) for n, f in list(globals().items()) if n.startswith("test_")])
