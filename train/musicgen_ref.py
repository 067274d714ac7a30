#!/usr/bin/python3
"""PyTorch reference of MusicGen's language model: the text conditioning
(T5 + enc_to_dec_proj), the decoder with a KV cache, the codebook delay
pattern and classifier-free guidance.

Written from the published architecture (Copet et al. 2023, "Simple and
Controllable Music Generation") in the tensor layout of the Hugging Face
`facebook/musicgen-*` checkpoints:

    enc_to_dec_proj.{weight [D, d_t5], bias [D]}
    decoder.model.decoder.embed_tokens.{k}.weight        [card + 1, D]   k < K
    decoder.model.decoder.layers.{i}.self_attn.{q,k,v,out}_proj.weight   [D, D]
    decoder.model.decoder.layers.{i}.self_attn_layer_norm.{weight,bias}
    decoder.model.decoder.layers.{i}.encoder_attn.{q,k,v,out}_proj.weight [D, D]
    decoder.model.decoder.layers.{i}.encoder_attn_layer_norm.{weight,bias}
    decoder.model.decoder.layers.{i}.fc1.weight [F, D], fc2.weight [D, F]
    decoder.model.decoder.layers.{i}.final_layer_norm.{weight,bias}
    decoder.model.decoder.layer_norm.{weight,bias}
    decoder.lm_heads.{k}.weight                          [card, D]

The details that are easy to get wrong, and that runtime/model/musicgen.c
must reproduce:
  - positions: phase_i = pos / 10000^(i / (D/2 - 1)), emb = [cos, sin]
    (cos first, denominator D/2 - 1), added after summing the K codebook
    embeddings; the position keeps counting across KV-cache steps;
  - pre-norm layers, LayerNorm eps 1e-5 with bias; self-attention, then
    cross-attention, then an exact (erf) GELU feed-forward; no linear biases;
    attention scaled by 1/sqrt(head_dim);
  - token `card` (2048 in musicgen-small) is the special/pad/start token;
  - delay pattern: at step s codebook k holds frame s - 1 - k, anything else
    is the special token; T frames take T + 3 forward passes;
  - classifier-free guidance: one batch of two, [conditional; null]. The null
    branch's cross-attention source is the projected T5 output multiplied by
    a zero mask: all zeros, of the prompt's length. With no biases its keys
    and values are zero, so its cross-attention adds exactly nothing.
    logits = null + (cond - null) * guidance_scale.
"""
import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from t5_ref import T5Config, T5Encoder, random_state_dict as t5_random_state_dict

DEC = "decoder.model.decoder."


@dataclass
class DecoderConfig:
    vocab_size: int = 2048          # codebook size (card)
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    ffn_dim: int = 4096
    num_codebooks: int = 4
    max_position_embeddings: int = 2048

    @staticmethod
    def from_json(d: dict) -> "DecoderConfig":
        keys = DecoderConfig.__dataclass_fields__.keys()
        return DecoderConfig(**{k: d[k] for k in keys if k in d})

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d.update(model_type="musicgen_decoder", activation_function="gelu",
                 pad_token_id=self.vocab_size, bos_token_id=self.vocab_size,
                 scale_embedding=False, audio_channels=1, tie_word_embeddings=False)
        return d

    @property
    def special(self) -> int:
        return self.vocab_size


def sin_embedding(positions: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """[T] positions -> [T, dim]; float32 throughout, as MusicGen computes it."""
    half = dim // 2
    pos = positions.float()[:, None]
    adim = torch.arange(half, dtype=torch.float32)[None, :]
    phase = pos / (torch.tensor(max_period, dtype=torch.float32) ** (adim / (half - 1)))
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


class Decoder:
    """MusicGen decoder with a per-layer KV cache for step-by-step decoding."""

    def __init__(self, cfg: DecoderConfig, sd: dict):
        self.cfg = cfg
        self.w = {k: v.float() for k, v in sd.items() if k.startswith("decoder.")}
        self.cache = []
        self.offset = 0
        self.cross_kv = None

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T

    def ln(self, x, name):
        c = x.shape[-1]
        return F.layer_norm(x, (c,), self.w[name + ".weight"], self.w[name + ".bias"], 1e-5)

    def split(self, x):
        b, t, _ = x.shape
        h = self.cfg.num_attention_heads
        return x.view(b, t, h, -1).transpose(1, 2)

    def merge(self, x):
        b, h, t, d = x.shape
        return x.transpose(1, 2).reshape(b, t, h * d)

    def attend(self, q, k, v, causal_offset: Optional[int]):
        d = q.shape[-1]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        if causal_offset is not None:
            tq, tk = q.shape[-2], k.shape[-2]
            allowed = torch.arange(tk)[None, :] <= (torch.arange(tq)[:, None] + causal_offset)
            scores = scores.masked_fill(~allowed, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v

    def set_condition(self, cond: torch.Tensor):
        """cond [B, S, D] (projected, masked). K/V computed once per prompt."""
        self.cross_kv = []
        for i in range(self.cfg.num_hidden_layers):
            p = DEC + f"layers.{i}.encoder_attn."
            self.cross_kv.append((self.split(self.lin(cond, p + "k_proj")),
                                  self.split(self.lin(cond, p + "v_proj"))))
        self.cache = [None] * self.cfg.num_hidden_layers
        self.offset = 0

    def layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        p = DEC + f"layers.{i}."
        h = self.ln(x, p + "self_attn_layer_norm")
        q = self.split(self.lin(h, p + "self_attn.q_proj"))
        k = self.split(self.lin(h, p + "self_attn.k_proj"))
        v = self.split(self.lin(h, p + "self_attn.v_proj"))
        if self.cache[i] is not None:
            k = torch.cat([self.cache[i][0], k], dim=2)
            v = torch.cat([self.cache[i][1], v], dim=2)
        self.cache[i] = (k, v)
        a = self.attend(q, k, v, causal_offset=k.shape[2] - q.shape[2])
        x = x + self.lin(self.merge(a), p + "self_attn.out_proj")

        h = self.ln(x, p + "encoder_attn_layer_norm")
        q = self.split(self.lin(h, p + "encoder_attn.q_proj"))
        ck, cv = self.cross_kv[i]
        a = self.attend(q, ck, cv, causal_offset=None)
        x = x + self.lin(self.merge(a), p + "encoder_attn.out_proj")

        h = self.ln(x, p + "final_layer_norm")
        h = F.gelu(self.lin(h, p + "fc1"))  # exact erf GELU
        return x + self.lin(h, p + "fc2")

    @torch.no_grad()
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, K, T] (continuing the cache) -> logits [B, K, T, card]."""
        c = self.cfg
        t = tokens.shape[-1]
        x = sum(self.w[DEC + f"embed_tokens.{k}.weight"][tokens[:, k]] for k in range(c.num_codebooks))
        x = x + sin_embedding(torch.arange(self.offset, self.offset + t), c.hidden_size)[None]
        for i in range(c.num_hidden_layers):
            x = self.layer(i, x)
        self.offset += t
        x = self.ln(x, DEC + "layer_norm")
        return torch.stack([self.lin(x, f"decoder.lm_heads.{k}") for k in range(c.num_codebooks)], dim=1)


class MusicGen:
    def __init__(self, t5_cfg: T5Config, dec_cfg: DecoderConfig, sd: dict):
        self.t5 = T5Encoder(t5_cfg, sd)
        self.dec = Decoder(dec_cfg, sd)
        self.proj_w = sd["enc_to_dec_proj.weight"].float()
        self.proj_b = sd["enc_to_dec_proj.bias"].float()

    @torch.no_grad()
    def condition(self, ids: torch.Tensor, mask: torch.Tensor):
        """ids, mask [B, T] -> (T5 last_hidden_state, projected * mask)."""
        hidden = self.t5(ids, mask)
        cond = (hidden @ self.proj_w.T + self.proj_b) * mask[..., None].float()
        return hidden, cond

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, steps: int, guidance: Optional[float],
                 first_logits: Optional[dict] = None,
                 context: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Greedy decoding of one prompt (ids [T]) for `steps` forward passes.
        Returns the delayed token grid [K, steps]: column s is what step s
        produced (special token where the pattern has no frame; steps passes
        make steps - K + 1 frames, as in MusicGen). guidance None
        runs the conditional branch alone (batch 1). context [K, P] are codes
        to continue: the first P frames are forced to them (MusicGen's prompt
        continuation; the model still runs every step, so the KV cache holds
        the context as if it had been generated)."""
        c = self.dec.cfg
        kk = c.num_codebooks
        frames = steps - (kk - 1)
        _, cond = self.condition(ids[None], torch.ones(1, len(ids), dtype=torch.long))
        if guidance is not None:
            cond = torch.cat([cond, torch.zeros_like(cond)], dim=0)  # null branch
        self.dec.set_condition(cond)
        b = cond.shape[0]
        column = torch.full((kk,), c.special, dtype=torch.long)
        out = torch.empty(kk, steps, dtype=torch.long)
        for s in range(steps):
            logits = self.dec.forward(column[None, :, None].expand(b, kk, 1))[:, :, 0]  # [B, K, V]
            if guidance is not None:
                cond_l, null_l = logits[0], logits[1]
                mixed = null_l + (cond_l - null_l) * guidance
            else:
                cond_l, null_l, mixed = logits[0], None, logits[0]
            if s == 0 and first_logits is not None:
                first_logits.update(cond=cond_l.clone(), mixed=mixed.clone())
                if null_l is not None:
                    first_logits["null"] = null_l.clone()
            column = delay_mask(mixed.argmax(-1), s + 1, c.special, frames)
            if context is not None:
                for k in range(kk):
                    if 0 <= s - k < context.shape[1]:
                        column[k] = context[k, s - k]
            out[:, s] = column
        return out


def delay_mask(tokens: torch.Tensor, step: int, special: int, frames: Optional[int] = None) -> torch.Tensor:
    """Force the special token where codebook k has no frame at `step`
    (frame = step - 1 - k must be in [0, frames))."""
    k = torch.arange(tokens.shape[0])
    frame = step - 1 - k
    valid = frame >= 0
    if frames is not None:
        valid &= frame < frames
    return torch.where(valid, tokens, torch.full_like(tokens, special))


def undelay(grid: torch.Tensor, frames: int) -> torch.Tensor:
    """Delayed grid [K, steps] (column s = step s + 1's output) -> codes [K, frames]."""
    kk = grid.shape[0]
    return torch.stack([grid[k, k:k + frames] for k in range(kk)])


def random_state_dict(t5_cfg: T5Config, cfg: DecoderConfig, gen: torch.Generator) -> dict:
    """Random weights for the whole LM in the HF layout, scaled so that
    activations stay O(1) and logits spread over a few units (so greedy
    argmax is not decided by rounding)."""
    def rnd(*shape, std=None):
        std = std if std is not None else 1.0 / math.sqrt(shape[-1])
        return (torch.randn(*shape, generator=gen) * std).contiguous()

    def ln(name, n):
        sd[name + ".weight"] = 1.0 + 0.1 * torch.randn(n, generator=gen)
        sd[name + ".bias"] = 0.1 * torch.randn(n, generator=gen)

    d = cfg.hidden_size
    sd = t5_random_state_dict(t5_cfg, gen)
    sd["enc_to_dec_proj.weight"] = rnd(d, t5_cfg.d_model)
    sd["enc_to_dec_proj.bias"] = rnd(d, std=0.1)
    for k in range(cfg.num_codebooks):
        sd[DEC + f"embed_tokens.{k}.weight"] = rnd(cfg.vocab_size + 1, d, std=0.5)
        sd[f"decoder.lm_heads.{k}.weight"] = rnd(cfg.vocab_size, d, std=2.0 / math.sqrt(d))
    for i in range(cfg.num_hidden_layers):
        p = DEC + f"layers.{i}."
        for a in ("self_attn", "encoder_attn"):
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                sd[p + f"{a}.{n}.weight"] = rnd(d, d)
            ln(p + f"{a}_layer_norm", d)
        # A weaker text path keeps guided decoding from locking onto one token.
        sd[p + "encoder_attn.out_proj.weight"] *= 0.25
        sd[p + "fc1.weight"] = rnd(cfg.ffn_dim, d)
        sd[p + "fc2.weight"] = rnd(d, cfg.ffn_dim)
        ln(p + "final_layer_norm", d)
    ln(DEC + "layer_norm", d)
    return sd


def load_checkpoint(model_dir: str):
    """(T5Config, DecoderConfig, state dict) of a MusicGen folder with one
    model.safetensors, read with numpy (no safetensors package needed)."""
    import json
    import os

    import numpy as np

    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    path = os.path.join(model_dir, "model.safetensors")
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    n = int(np.frombuffer(raw[:8].tobytes(), dtype="<u8")[0])
    header = json.loads(raw[8:8 + n].tobytes())
    types = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "I64": np.int64}
    sd = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        arr = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=types[t["dtype"]]).reshape(t["shape"])
        sd[name] = torch.from_numpy(arr.copy())
    return (T5Config.from_json(cfg["text_encoder"]), DecoderConfig.from_json(cfg["decoder"]), sd)


def bench(model_dir: str, frames: int, threads: int, repeats: int) -> None:
    """Guided greedy decoding of `frames` frames (batch of two, as MusicGen
    runs), best of `repeats`; one JSON line like the C benchmark's."""
    import json
    import resource
    import time

    if threads > 0:
        torch.set_num_threads(threads)
    t5_cfg, dec_cfg, sd = load_checkpoint(model_dir)
    model = MusicGen(t5_cfg, dec_cfg, sd)
    del sd
    ids = torch.tensor([85, 149, 145, 150, 80, 5, 38, 30, 1])  # "dark minimal techno in A minor"
    steps = frames + dec_cfg.num_codebooks - 1
    best = float("inf")
    for r in range(repeats + 1):  # the first run warms up
        t0 = time.perf_counter()
        model.generate(ids, steps, 3.0)
        if r > 0 or repeats == 0:
            best = min(best, time.perf_counter() - t0)
    seconds = frames / 50.0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
                      "frames": frames, "steps_per_s": round(steps / best, 3),
                      "rtf": round(seconds / best, 4), "peak_rss_mb": round(rss_mb)}))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="MusicGen LM reference: timing")
    parser.add_argument("--bench", metavar="MODEL_DIR", required=True)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    bench(args.bench, args.frames, args.threads, args.repeats)
