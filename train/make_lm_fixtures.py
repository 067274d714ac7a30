#!/usr/bin/python3
"""Random-weight MusicGen LM fixtures for the C tests (tests/runtime/lm).

Writes, at a scaled-down width and depth but in the exact Hugging Face layout:
  tests/fixtures/lm/tiny/model.safetensors  text_encoder.*, decoder.*, enc_to_dec_proj.*
  tests/fixtures/lm/tiny/config.json        the composite MusicGen config
  tests/fixtures/lm/expected.safetensors    what train/t5_ref.py and
                                            train/musicgen_ref.py compute:
    buckets                 I32 [601]      T5 bucket of relative position -300..300
    p{i}.ids                I32 [T]        prompt i tokenised (spiece.model, </s>)
    p{i}.hidden / p{i}.cond F32 [T, d]     T5 output / projected conditioning
    batch.ids, batch.mask   I32 [2, T]     two prompts padded together
    batch.hidden            F32 [2, T, d]  T5 output with the key-padding mask
    first.cond/null/mixed   F32 [K, card]  first decode step's logits, prompt 0
                                           (mixed = guided with scale 3)
    greedy.cfg / greedy.nocfg I32 [K, 100] argmax decoding for 100 steps, with
                                           guidance 3 and without (batch 1)
    context                 I32 [K, 20]    random codes to continue from
    greedy.context          I32 [K, 100]   guided argmax decoding continuing them
    positions               F32 [8, D]     sinusoid rows at a few positions
    position_index          I32 [8]

  train/make_lm_fixtures.py          (needs python3-torch, python3-sentencepiece)

The seed is fixed; the script refuses weights whose greedy decoding has a
near-tie (top-2 gap < 1e-3), so that the C test is decided by the model and
not by float rounding.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sentencepiece as spm  # noqa: E402
from musicgen_ref import DEC, DecoderConfig, MusicGen, random_state_dict, sin_embedding  # noqa: E402
from t5_ref import T5Config, relative_position_bucket  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "tests/fixtures/lm")
PROMPTS = ["dark minimal techno in A minor", "80s pop track with bassy drums and synth",
           "  ＡＢＣ　ファンク 🎹 café ", ""]
STEPS = 100
CONTEXT_FRAMES = 20
GUIDANCE = 3.0

T5_CFG = T5Config(vocab_size=512, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4)
DEC_CFG = DecoderConfig(vocab_size=128, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        ffn_dim=256, num_codebooks=4, max_position_embeddings=512)
# facebook/musicgen-small's shapes (t5-base text encoder): for the slow test
# and the benchmark, made at build time (~2.1 GB, not committed).
FULL_T5_CFG = T5Config()
FULL_DEC_CFG = DecoderConfig()
FULL_FRAMES = 50  # 1 s at 50 Hz

DTYPES = {torch.float32: "F32", torch.int32: "I32"}


def write_safetensors(path: str, tensors: dict) -> None:
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def config_json(t5_cfg=T5_CFG, dec_cfg=DEC_CFG) -> dict:
    return {"architectures": ["MusicgenForConditionalGeneration"], "model_type": "musicgen",
            "is_encoder_decoder": True, "torch_dtype": "float32",
            "text_encoder": t5_cfg.to_json(), "decoder": dec_cfg.to_json()}


def tokenize(sp, text):
    return torch.tensor(sp.encode(text) + [sp.piece_to_id("</s>")], dtype=torch.long)


def hf_position_table(n: int, d: int) -> torch.Tensor:
    """The table HF stores as embed_positions.weights (the C code recomputes it)."""
    return sin_embedding(torch.arange(n), d)


def min_gap(model: MusicGen, ids, guidance, context=None) -> float:
    """Smallest top-2 logit gap over a greedy run (recomputed with a hook)."""
    return min(step_gaps(model, ids, guidance, STEPS, context)[1])


def step_gaps(model: MusicGen, ids, guidance, steps, context=None, first=None):
    """Greedy run returning (grid, top-2 logit gap of each step)."""
    gaps = []
    orig = model.dec.forward

    def hooked(tokens):
        out = orig(tokens)
        lg = out[:, :, 0]
        mixed = lg[1] + (lg[0] - lg[1]) * guidance if guidance is not None else lg[0]
        top = mixed.topk(2, dim=-1).values
        gaps.append((top[:, 0] - top[:, 1]).min().item())
        return out

    model.dec.forward = hooked
    grid = model.generate(ids, steps, guidance, first, context=context)
    model.dec.forward = orig
    return grid, gaps


def check_kv_cache(model: MusicGen, ids) -> None:
    """The reference checks itself: step-by-step decoding with the KV cache
    must equal one causal pass over the same tokens."""
    _, cond = model.condition(ids[None], torch.ones(1, len(ids), dtype=torch.long))
    tokens = torch.randint(0, DEC_CFG.vocab_size + 1, (1, DEC_CFG.num_codebooks, 12),
                           generator=torch.Generator().manual_seed(0))
    model.dec.set_condition(cond)
    full = model.dec.forward(tokens)
    model.dec.set_condition(cond)
    steps = torch.cat([model.dec.forward(tokens[..., s:s + 1]) for s in range(12)], dim=2)
    err = (full - steps).abs().max().item()
    assert err < 1e-4, f"KV-cache decoding differs from the full pass by {err}"


def build(seed: int):
    gen = torch.Generator().manual_seed(seed)
    sd = random_state_dict(T5_CFG, DEC_CFG, gen)
    sd[DEC + "embed_positions.weights"] = hf_position_table(DEC_CFG.max_position_embeddings,
                                                           DEC_CFG.hidden_size)
    return sd, MusicGen(T5_CFG, DEC_CFG, sd)


def main() -> None:
    sp = spm.SentencePieceProcessor(model_file=os.path.join(FIX, "tiny/spiece.model"))
    prompt_ids = [tokenize(sp, p) for p in PROMPTS]
    context = torch.randint(0, DEC_CFG.vocab_size, (DEC_CFG.num_codebooks, CONTEXT_FRAMES),
                            generator=torch.Generator().manual_seed(99))
    for seed in range(1234, 1300):
        sd, model = build(seed)
        gaps = (min_gap(model, prompt_ids[0], GUIDANCE), min_gap(model, prompt_ids[0], None),
                min_gap(model, prompt_ids[0], GUIDANCE, context))
        if min(gaps) > 1e-3:
            break
        print(f"seed {seed}: near-tie {min(gaps):.2e}, trying the next")
    print(f"seed {seed}: min top-2 gaps {gaps[0]:.3e} (cfg), {gaps[1]:.3e} (no cfg), "
          f"{gaps[2]:.3e} (context)")

    check_kv_cache(model, prompt_ids[0])
    exp = {}
    rel = torch.arange(-300, 301)
    exp["buckets"] = relative_position_bucket(rel).int()
    for i, ids in enumerate(prompt_ids):
        hidden, cond = model.condition(ids[None], torch.ones(1, len(ids), dtype=torch.long))
        exp[f"p{i}.ids"] = ids.int()
        exp[f"p{i}.hidden"] = hidden[0]
        exp[f"p{i}.cond"] = cond[0]
    a, b = prompt_ids[0], prompt_ids[2]
    t = max(len(a), len(b))
    ids = torch.zeros(2, t, dtype=torch.long)
    mask = torch.zeros(2, t, dtype=torch.long)
    for r, x in enumerate((a, b)):
        ids[r, :len(x)] = x
        mask[r, :len(x)] = 1
    exp["batch.ids"], exp["batch.mask"] = ids.int(), mask.int()
    exp["batch.hidden"] = model.t5(ids, mask)

    first = {}
    exp["greedy.cfg"] = model.generate(prompt_ids[0], STEPS, GUIDANCE, first).int()
    exp["first.cond"], exp["first.null"], exp["first.mixed"] = first["cond"], first["null"], first["mixed"]
    exp["greedy.nocfg"] = model.generate(prompt_ids[0], STEPS, None).int()
    exp["context"] = context.int()
    exp["greedy.context"] = model.generate(prompt_ids[0], STEPS, GUIDANCE, context=context).int()
    pos = torch.tensor([0, 1, 2, 7, 100, 511, 1000, 2047])  # past the HF table too
    exp["position_index"] = pos.int()
    exp["positions"] = sin_embedding(pos, DEC_CFG.hidden_size)

    os.makedirs(os.path.join(FIX, "tiny"), exist_ok=True)
    write_safetensors(os.path.join(FIX, "tiny/model.safetensors"), sd)
    with open(os.path.join(FIX, "tiny/config.json"), "w") as f:
        json.dump(config_json(), f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(FIX, "expected.safetensors"), exp)
    for name in ("greedy.cfg", "greedy.nocfg", "greedy.context"):
        distinct = [len(set(row.tolist())) for row in exp[name]]
        print(f"{name}: distinct tokens per codebook {distinct}; codebook 0:", exp[name][0, :20].tolist())


def main_full(out_dir: str) -> None:
    """musicgen-small-shaped random weights plus what the reference computes
    on them: first-step logits and 1 s of guided greedy decoding, with the
    top-2 gap of every step (full-size random logits can nearly tie, and
    the C test compares tokens only up to the first near-tie)."""
    gen = torch.Generator().manual_seed(2024)
    sd = random_state_dict(FULL_T5_CFG, FULL_DEC_CFG, gen)
    model = MusicGen(FULL_T5_CFG, FULL_DEC_CFG, sd)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(FIX, "tiny/spiece.model"))
    ids = tokenize(sp, PROMPTS[0])
    first = {}
    steps = FULL_FRAMES + FULL_DEC_CFG.num_codebooks - 1
    grid, gaps = step_gaps(model, ids, GUIDANCE, steps, first=first)
    exp = {"p0.ids": ids.int(), "greedy.cfg": grid.int(), "greedy.gap": torch.tensor(gaps),
           "first.cond": first["cond"], "first.null": first["null"], "first.mixed": first["mixed"]}
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), sd)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config_json(FULL_T5_CFG, FULL_DEC_CFG), f, indent=2)
    with open(os.path.join(FIX, "tiny/spiece.model"), "rb") as src, \
            open(os.path.join(out_dir, "spiece.model"), "wb") as dst:
        dst.write(src.read())
    write_safetensors(os.path.join(out_dir, "expected.safetensors"), exp)
    print(f"full-size fixture in {out_dir}: min top-2 gap {min(gaps):.3e}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        main_full(sys.argv[2])
    else:
        main()
