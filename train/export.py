#!/usr/bin/python3
"""Export trained models to what the engine loads: model.safetensors plus
config.json, in the Hugging Face layouts (EnCodec alone, or the MusicGen
composite text_encoder.* / decoder.* / enc_to_dec_proj.* / audio_encoder.*
with the track-context tensors documented in docs/models.md).

    train/export.py codec  CHECKPOINT OUT_DIR [--dtype f16|f32]
    train/export.py lm     LM_CHECKPOINT CODEC_CHECKPOINT OUT_DIR [--dtype ...]

The safetensors writer is here (not a dependency): the format is an 8-byte
little-endian header length, a JSON header naming dtype, shape and byte
range of each tensor, then the raw little-endian data.
"""
import json
import os
import struct

import numpy as np
import torch

DTYPES = {"f32": (np.float32, "F32"), "f16": (np.float16, "F16")}


def write_safetensors(path, tensors, dtype="f32", metadata=None):
    """tensors: name -> torch tensor. Floating tensors are stored as `dtype`,
    integer ones as I64. Names are sorted so the file is reproducible."""
    header, blobs, offset = {}, [], 0
    np_dtype, tag = DTYPES[dtype]
    for name in sorted(tensors):
        t = tensors[name].detach().cpu()
        if t.is_floating_point():
            arr, kind = t.float().numpy().astype(np_dtype), tag
        else:
            arr, kind = t.numpy().astype("<i8"), "I64"
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": kind, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """name -> float32/int64 torch tensor (F32, F16, I64, I32)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    types = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b], types[info["dtype"]]).reshape(info["shape"])
        arr = arr.astype(np.float32) if arr.dtype.kind == "f" else arr.astype(np.int64)
        out[name] = torch.from_numpy(arr.copy())
    return out


def codec_state(model):
    """The HF EnCodec state dict of an encodec_ref.EncodecRef (legacy
    weight_g/weight_v spelling, codebook EMA state included as the public
    checkpoints carry it)."""
    return {k: v for k, v in model.state_dict().items()}


def codec_config(cfg):
    """config.json of an EnCodec model (encodec_ref.Config)."""
    keys = ["target_bandwidths", "sampling_rate", "audio_channels", "normalize", "chunk_length_s",
            "overlap", "hidden_size", "num_filters", "num_residual_layers", "upsampling_ratios",
            "norm_type", "kernel_size", "last_kernel_size", "residual_kernel_size",
            "dilation_growth_rate", "use_causal_conv", "pad_mode", "compress", "num_lstm_layers",
            "trim_right_ratio", "codebook_size", "codebook_dim", "use_conv_shortcut"]
    d = {k: getattr(cfg, k) for k in keys}
    if getattr(cfg, "harmonic_bins", 0):  # the harmonic bass path (docs/models.md)
        d.update({k: getattr(cfg, k) for k in ("harmonic_bins", "harmonic_f0_min", "harmonic_f0_max")})
        if getattr(cfg, "harmonic_hidden", 0):
            d["harmonic_hidden"] = cfg.harmonic_hidden
    if getattr(cfg, "pitch_codebook", False):  # the pitch codebook (docs/models.md)
        d.update({k: getattr(cfg, k) for k in ("pitch_codebook", "pitch_midi_min", "pitch_notes")})
    d.update(model_type="encodec", architectures=["EncodecModel"])
    return d


def export_codec(model, out_dir, dtype="f32", metadata=None):
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), codec_state(model), dtype, metadata)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(codec_config(model.cfg), f, indent=2)
        f.write("\n")


def main():
    import argparse
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("codec")
    c.add_argument("checkpoint")
    c.add_argument("out")
    c.add_argument("--dtype", choices=DTYPES, default="f32")
    m = sub.add_parser("lm")
    m.add_argument("checkpoint")
    m.add_argument("codec_checkpoint")
    m.add_argument("out")
    m.add_argument("--dtype", choices=DTYPES, default="f32")
    a = ap.parse_args()
    if a.what == "codec":
        import codec
        model = codec.load_checkpoint_model(a.checkpoint)
        export_codec(model, a.out, a.dtype)
    else:
        import lm
        lm.export_checkpoint(a.checkpoint, a.codec_checkpoint, a.out, a.dtype)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
