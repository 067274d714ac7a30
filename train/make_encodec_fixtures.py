#!/usr/bin/python3
"""Build the EnCodec reference fixtures in tests/fixtures/encodec/.

For each published checkpoint shape this writes a model folder with random
weights in the exact Hugging Face tensor layout and a config.json, plus
`expected.safetensors` holding the input audio and what the PyTorch reference
(train/encodec_ref.py) makes of it:

  input     [C, L]      f32  the test signal
  latent    [D, T]      f32  encoder output before quantisation
  codes     [Q, T]      I32  RVQ codes at the model's full bandwidth
  margin    [Q, T]      f32  (2nd-best - best distance) / |residual|^2 per code:
                             how close each choice was to a tie
  decoded   [C, T*hop]  f32  decoder(codes)
  codes_low, decoded_low     the same at the lowest bandwidth (24 kHz only)
  short_input, short_latent, short_codes
                        a signal shorter than one frame, so deep layers
                        see fewer samples than their reflect padding

Shapes (scaled down in channels so the fixtures stay small):
  24k   encodec_24khz: causal, reflect, conv shortcut, ratios [8,5,4,2],
        codebooks of 1024, 8 codebooks (bandwidths 1.5/3/6 kbps);
        stored F32 with legacy weight_g/weight_v names.
  32k   encodec_32khz inside a MusicGen composite: tensors under
        `audio_encoder.`, config under "audio_encoder", non-causal, reflect,
        identity shortcut, ratios [8,5,4,4], 4 codebooks of 2048; stored F16
        with the parametrizations.weight.original0/1 names.
  16k_harm  the harmonic bass path (docs/models.md): 16 kHz, hop 320, 3
        codebooks of 64, non-causal, harmonic_bins 8 with f0 20..1000 Hz (f0
        glides across frames), the head's amplitude logits 0..2 (the
        harmonics are louder than the decoder); a MusicGen composite stored
        F32.
  16k_pitch  16k_harm with the pitch codebook (docs/models.md "Pitch
        codebook"; pitch_midi_min 26, pitch_notes 40): `codes` has a 4th row,
        not YIN's but a written one with notes, rests, a note after a rest,
        note changes and an out-of-range code, and `decoded` is of those
        codes; short_codes' pitch row is the reference's YIN.
  16k_pitch_mlp  16k_pitch with the two-layer harmonic head (harmonic_hidden
        12: conv 1x1, ELU, conv 1x1), the hidden units' pre-activations
        spread around -1..1 so the ELU bends about half of them.
  --full32k DIR   the real 32 kHz sizes (64 filters, 128-dim latent, LSTM
        1024), random weights, 1 s of audio; for the slow test (~240 MB, not
        committed).
  --full24k DIR   the real 24 kHz sizes (32 filters, LSTM 512, 32 codebooks
        of 1024), likewise (~75 MB).

Run from the repository root:  /usr/bin/python3 train/make_encodec_fixtures.py
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import encodec_ref  # noqa: E402

SHAPES = {
    "24k": {
        "config": {
            "model_type": "encodec", "sampling_rate": 24000, "audio_channels": 1,
            "num_filters": 2, "hidden_size": 8, "codebook_size": 1024,
            "upsampling_ratios": [8, 5, 4, 2], "target_bandwidths": [1.5, 3.0, 6.0],
            "use_causal_conv": True, "pad_mode": "reflect", "use_conv_shortcut": True,
            "norm_type": "weight_norm", "normalize": False, "chunk_length_s": None,
            "overlap": None, "codebook_dim": None, "trim_right_ratio": 1.0,
        },
        "seconds": 0.25 + 7 / 24000,  # not a whole number of frames
        "dtype": "F32", "spelling": "legacy", "composite": False, "low_bandwidth": 1.5,
    },
    "32k": {
        "config": {
            "model_type": "encodec", "sampling_rate": 32000, "audio_channels": 1,
            "num_filters": 4, "hidden_size": 16, "codebook_size": 2048,
            "upsampling_ratios": [8, 5, 4, 4], "target_bandwidths": [2.2],
            "use_causal_conv": False, "pad_mode": "reflect", "use_conv_shortcut": False,
            "norm_type": "weight_norm", "normalize": False, "chunk_length_s": None,
            "overlap": None, "codebook_dim": 16, "trim_right_ratio": 1.0,
        },
        "seconds": 0.3 + 123 / 32000,
        "dtype": "F16", "spelling": "parametrizations", "composite": True,
        "low_bandwidth": None,
    },
    "16k_harm": {
        "config": {
            "model_type": "encodec", "sampling_rate": 16000, "audio_channels": 1,
            "num_filters": 2, "hidden_size": 8, "codebook_size": 64,
            "upsampling_ratios": [8, 5, 4, 2], "target_bandwidths": [1.5],
            "use_causal_conv": False, "pad_mode": "reflect", "use_conv_shortcut": False,
            "norm_type": "weight_norm", "normalize": False, "chunk_length_s": None,
            "overlap": None, "codebook_dim": 8, "trim_right_ratio": 1.0,
            "harmonic_bins": 8, "harmonic_f0_min": 20.0, "harmonic_f0_max": 1000.0,
        },
        "seconds": 0.4 + 37 / 16000,
        "dtype": "F32", "spelling": "parametrizations", "composite": True,
        "low_bandwidth": None,
    },
    "full24k": {
        "config": {
            "model_type": "encodec", "sampling_rate": 24000, "audio_channels": 1,
            "num_filters": 32, "hidden_size": 128, "codebook_size": 1024,
            "upsampling_ratios": [8, 5, 4, 2], "target_bandwidths": [1.5, 3.0, 6.0, 12.0, 24.0],
            "use_causal_conv": True, "pad_mode": "reflect", "use_conv_shortcut": True,
            "norm_type": "weight_norm", "normalize": False, "chunk_length_s": None,
            "overlap": None, "codebook_dim": None, "trim_right_ratio": 1.0,
        },
        "seconds": 1.0,
        "dtype": "F32", "spelling": "legacy", "composite": False, "low_bandwidth": 1.5,
    },
    "full32k": {
        "config": {
            "model_type": "encodec", "sampling_rate": 32000, "audio_channels": 1,
            "num_filters": 64, "hidden_size": 128, "codebook_size": 2048,
            "upsampling_ratios": [8, 5, 4, 4], "target_bandwidths": [2.2],
            "use_causal_conv": False, "pad_mode": "reflect", "use_conv_shortcut": False,
            "norm_type": "weight_norm", "normalize": False, "chunk_length_s": None,
            "overlap": None, "codebook_dim": 128, "trim_right_ratio": 1.0,
        },
        "seconds": 1.0,
        "dtype": "F32", "spelling": "legacy", "composite": False, "low_bandwidth": None,
    },
}

SHAPES["16k_pitch"] = dict(
    SHAPES["16k_harm"],
    config=dict(SHAPES["16k_harm"]["config"], pitch_codebook=True, pitch_midi_min=26,
                pitch_notes=40),
    # per frame: 0 no pitch, c = MIDI 25 + c (20: A2 110 Hz, 27: E3, 32: A3,
    # 1: D1 36.7 Hz, 40: F4 349 Hz), 50 > pitch_notes counts as no pitch
    pitch_row=[0, 0, 20, 20, 20, 20, 0, 0, 20, 27, 27, 27, 50, 50, 32, 32, 1, 40, 40, 0, 27],
)

SHAPES["16k_pitch_mlp"] = dict(
    SHAPES["16k_pitch"], config=dict(SHAPES["16k_pitch"]["config"], harmonic_hidden=12))

# The committed fixtures (tests/fixtures/encodec/NAME) and their seeds.
FIXTURES = {"24k": 24, "32k": 320, "16k_harm": 1600, "16k_pitch": 1601, "16k_pitch_mlp": 1602}

DTYPES = {"F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16),
          "I32": (np.int32, torch.int32)}


def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer (little-endian, header padded to 8 bytes)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dtype, array = tensors[name]
        data = np.ascontiguousarray(array, dtype=DTYPES[dtype][0]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(np.shape(array)),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def test_signal(rate, seconds, channels, gen):
    """A chord with a decaying envelope plus a little noise: tonal like music,
    with enough broadband content to exercise every filter."""
    n = int(round(rate * seconds))
    t = torch.arange(n, dtype=torch.float64) / rate
    x = torch.zeros(channels, n, dtype=torch.float64)
    for f, a in ((110.0, 0.3), (164.8, 0.2), (220.0, 0.15), (329.6, 0.1), (1760.0, 0.05)):
        x += a * torch.sin(2 * math.pi * f * t)
    x *= torch.exp(-2.0 * t)
    x += 0.02 * torch.randn(channels, n, generator=gen, dtype=torch.float64)
    return x.float()


def randomise(model, gen):
    """Random weights that keep activations of order one through the stack:
    weight norm makes each filter's gain g, so g ~ U(0.5, 1.5)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))
            elif name.endswith("weight_v"):
                p.copy_(torch.randn(p.shape, generator=gen))
            elif name.startswith("harmonic_head"):
                continue  # set_harmonic_head
            elif "lstm" in name:
                bound = 1 / math.sqrt(p.shape[-1] if p.dim() > 1 else p.shape[0] / 4)
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                raise ValueError("unexpected parameter " + name)


def set_harmonic_head(model, z, gen):
    """Random head weights scaled on the quantised latent z [D, T]. The pitch
    row is orthogonal to z's mean, so its output varies across frames
    (standard deviation 1 around 0: f0 glides) without a large mean that the
    bias would have to cancel (which would make f0, and so the phase every
    later frame inherits, sensitive to float rounding). The amplitude rows
    vary by 0.5 around logits drawn from 0..2 (every harmonic audible).
    A two-layer head's hidden units are scaled likewise to spread 1 around
    -1..1, and its last conv is set as above on their ELU."""
    head = model.harmonic_head
    with torch.no_grad():
        if isinstance(head, torch.nn.Sequential):
            first, head = head[0], head[2]
            w = torch.randn(first.weight.shape, generator=gen)[:, :, 0]
            w /= (w @ z).std(1)[:, None]
            bias = 2.0 * torch.rand(first.bias.shape, generator=gen) - 1.0 - (w @ z).mean(1)
            first.weight.copy_(w[:, :, None])
            first.bias.copy_(bias)
            z = torch.nn.functional.elu(first(z[None]))[0]
        w = torch.randn(head.weight.shape, generator=gen)[:, :, 0]
        mean = z.mean(1)
        w[0] -= (w[0] @ mean) / (mean @ mean) * mean
        w *= (torch.tensor([1.0] + [0.5] * (w.shape[0] - 1)) / (w @ z).std(1))[:, None]
        bias = 2.0 * torch.rand(head.bias.shape, generator=gen) - (w @ z).mean(1)
        bias[0] = 0.0
        head.weight.copy_(w[:, :, None])
        head.bias.copy_(bias)


def fit_codebooks(model, latent, gen):
    """Codebooks drawn around the latent's own spread at each stage, so every
    stage picks among plausible entries instead of the smallest-norm one."""
    residual = latent.t()
    with torch.no_grad():
        for layer in model.quantizer.layers:
            cb = layer["codebook"]
            std = residual.std().item() + 1e-3
            embed = torch.randn(cb.embed.shape, generator=gen) * std
            cb.embed.copy_(embed)
            cb.embed_avg.copy_(embed)
            cb.cluster_size.fill_(1.0)
            residual = residual - cb.embed[cb.encode(residual)]


def round_to_storage(model, dtype):
    """Make the reference compute with exactly what the file stores."""
    if dtype == "F16":
        with torch.no_grad():
            for tensor in list(model.parameters()) + list(model.buffers()):
                tensor.copy_(tensor.half().float())


def hf_state(model, spec):
    state = {}
    for name, tensor in model.state_dict().items():
        if spec["spelling"] == "parametrizations":
            name = name.replace("weight_g", "parametrizations.weight.original0")
            name = name.replace("weight_v", "parametrizations.weight.original1")
        if spec["composite"]:
            name = "audio_encoder." + name
        state[name] = (spec["dtype"], tensor.detach().numpy())
    if spec["composite"]:
        # A stand-in for the MusicGen LM tensors the codec loader must skip.
        state["decoder.lm_heads.0.weight"] = (spec["dtype"], np.zeros((4, 4), np.float32))
    return state


def margins(model, latent, codes):
    """Per code: (second-best - best squared distance) / |residual|^2."""
    residual = latent.t().double()
    out = torch.zeros(codes.shape, dtype=torch.float64)
    for q, idx in enumerate(codes):
        embed = model.quantizer.layers[q]["codebook"].embed.double()
        dist = torch.cdist(residual, embed).pow(2)
        best2 = dist.topk(2, dim=1, largest=False).values
        out[q] = (best2[:, 1] - best2[:, 0]) / (residual.pow(2).sum(1) + 1e-12)
        residual = residual - embed[idx]
    return out.float()


def build(name, spec, out_dir, seed):
    gen = torch.Generator().manual_seed(seed)
    cfg_values = dict(spec["config"])
    cfg = encodec_ref.Config(cfg_values)
    model = encodec_ref.EncodecRef(cfg).eval()
    randomise(model, gen)
    audio = test_signal(cfg.sampling_rate, spec["seconds"], cfg.audio_channels, gen)
    round_to_storage(model, spec["dtype"])
    with torch.no_grad():
        fit_codebooks(model, model.latent(audio), gen)
        nq = cfg.num_quantizers  # the RVQ rows of a code matrix
        if cfg.harmonic_bins:
            set_harmonic_head(model, model.quantizer.decode(model.encode(audio)[:nq]), gen)
        round_to_storage(model, spec["dtype"])
        latent = model.latent(audio)
        codes = model.encode(audio)
        if "pitch_row" in spec:
            codes[nq] = torch.tensor(spec["pitch_row"])  # shape-checked: T frames
        decoded = model.decode(codes)
        expected = {
            "input": ("F32", audio.numpy()),
            "latent": ("F32", latent.numpy()),
            "codes": ("I32", codes.numpy()),
            "margin": ("F32", margins(model, latent, codes[:nq]).numpy()),
            "decoded": ("F32", decoded.numpy()),
        }
        short = audio[:, :50]
        expected["short_input"] = ("F32", short.numpy())
        expected["short_latent"] = ("F32", model.latent(short).numpy())
        expected["short_codes"] = ("I32", model.encode(short).numpy())
        if spec["low_bandwidth"]:
            low = model.encode(audio, spec["low_bandwidth"])
            expected["codes_low"] = ("I32", low.numpy())
            expected["decoded_low"] = ("F32", model.decode(low).numpy())
    os.makedirs(out_dir, exist_ok=True)
    config = cfg_values
    if spec["composite"]:
        config = {"model_type": "musicgen", "audio_encoder": cfg_values,
                  "decoder": {"model_type": "musicgen_decoder"}}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out_dir, "model.safetensors"), hf_state(model, spec),
                      {"format": "pt", "source": "train/make_encodec_fixtures.py"})
    meta = {"bandwidth_low": str(spec["low_bandwidth"] or ""), "seed": str(seed)}
    write_safetensors(os.path.join(out_dir, "expected.safetensors"), expected, meta)
    if cfg.harmonic_bins:
        with torch.no_grad():
            z = model.quantizer.decode(codes[:nq])[None]
            plain = model.decoder(z)[0]
            f0, _ = encodec_ref.harmonic_controls(model.harmonic(z)[0], cfg.harmonic_f0_min,
                                                  cfg.harmonic_f0_max)
            if cfg.pitch_codebook:
                f0 = encodec_ref.pitch_track(codes[nq:], cfg)[0].abs()
        print(f"{name}: f0 {f0.min():.0f}..{f0.max():.0f} Hz, harmonic RMS "
              f"{(decoded - plain).pow(2).mean().sqrt():.3f} against the decoder's "
              f"{plain.pow(2).mean().sqrt():.3f}")
    print(f"{name}: {cfg.num_quantizers} codebooks x {codes.shape[1]} frames, "
          f"{audio.shape[1]} samples in, {decoded.shape[1]} out, "
          f"min code margin {expected['margin'][1].min():.2e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/fixtures/encodec")
    parser.add_argument("--full32k", metavar="DIR",
                        help="write only the full-size 32 kHz random model into DIR")
    parser.add_argument("--full24k", metavar="DIR",
                        help="write only the full-size 24 kHz random model into DIR")
    parser.add_argument("--shape", choices=sorted(FIXTURES),
                        help="write only this committed fixture")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.full32k or args.full24k:
        if args.full32k:
            build("full32k", SHAPES["full32k"], args.full32k, seed=32)
        if args.full24k:
            build("full24k", SHAPES["full24k"], args.full24k, seed=2424)
        return
    for name, seed in FIXTURES.items():
        if args.shape in (None, name):
            build(name, SHAPES[name], os.path.join(args.out, name), seed=seed)


if __name__ == "__main__":
    main()
