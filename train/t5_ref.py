#!/usr/bin/python3
"""PyTorch reference of the T5 encoder as MusicGen's text conditioner uses it.

Written from the published T5 architecture (Raffel et al. 2020, "t5-base"
as loaded by MusicGen), in the tensor layout of the Hugging Face checkpoints
under the `text_encoder.` prefix:

    shared.weight                                             [vocab, d_model]
    encoder.block.{i}.layer.0.SelfAttention.{q,k,v,o}.weight  [H*d_kv, d_model] / o: [d_model, H*d_kv]
    encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight  [buckets, H]
    encoder.block.{i}.layer.0.layer_norm.weight               [d_model]
    encoder.block.{i}.layer.1.DenseReluDense.wi.weight        [d_ff, d_model]
    encoder.block.{i}.layer.1.DenseReluDense.wo.weight        [d_model, d_ff]
    encoder.block.{i}.layer.1.layer_norm.weight               [d_model]
    encoder.final_layer_norm.weight                           [d_model]

What makes T5 T5 (and what runtime/model/t5.c must match):
  - RMS norm without mean subtraction or bias, eps 1e-6, pre-norm;
  - attention scores are NOT scaled by 1/sqrt(d_kv);
  - one learned relative position bias, computed in block 0 and added in
    every block; bidirectional buckets: 16 per direction, exact below 8,
    log-spaced up to max_distance 128;
  - padded keys get -inf (here: the dtype's minimum, as HF does);
  - a plain ReLU feed-forward (t5-base is not gated).
"""
import math
from dataclasses import dataclass

import torch


@dataclass
class T5Config:
    vocab_size: int = 32128
    d_model: int = 768
    d_kv: int = 64
    d_ff: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    layer_norm_epsilon: float = 1e-6

    @staticmethod
    def from_json(d: dict) -> "T5Config":
        keys = T5Config.__dataclass_fields__.keys()
        return T5Config(**{k: d[k] for k in keys if k in d})

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        d.update(model_type="t5", feed_forward_proj="relu", is_encoder_decoder=True)
        return d


def relative_position_bucket(rel: torch.Tensor, num_buckets: int = 32,
                             max_distance: int = 128) -> torch.Tensor:
    """Bucket of key_pos - query_pos (bidirectional). The log branch is done
    in float32 and truncated, exactly as T5 computes it."""
    half = num_buckets // 2
    bucket = (rel > 0).long() * half
    dist = rel.abs()
    max_exact = half // 2
    large = max_exact + (torch.log(dist.float() / max_exact)
                         / math.log(max_distance / max_exact)
                         * (half - max_exact)).long()
    large = torch.minimum(large, torch.full_like(large, half - 1))
    return bucket + torch.where(dist < max_exact, dist, large)


def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    var = x.float().pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


class T5Encoder:
    def __init__(self, cfg: T5Config, sd: dict, prefix: str = "text_encoder."):
        self.cfg = cfg
        self.w = {k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)}
        if "shared.weight" not in self.w:  # tied; some exports keep only this name
            self.w["shared.weight"] = self.w["encoder.embed_tokens.weight"]

    def position_bias(self, t: int) -> torch.Tensor:
        """[H, t, t] bias from block 0's table."""
        pos = torch.arange(t)
        rel = pos[None, :] - pos[:, None]  # key - query
        b = relative_position_bucket(rel, self.cfg.relative_attention_num_buckets,
                                     self.cfg.relative_attention_max_distance)
        table = self.w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        return table[b].permute(2, 0, 1)

    def attention(self, i: int, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        c, p = self.cfg, f"encoder.block.{i}.layer.0.SelfAttention."
        b, t, _ = x.shape

        def heads(name):
            return (x @ self.w[p + name + ".weight"].T).view(b, t, c.num_heads, c.d_kv).transpose(1, 2)

        q, k, v = heads("q"), heads("k"), heads("v")
        scores = q @ k.transpose(-1, -2) + bias  # no 1/sqrt(d) in T5
        out = torch.softmax(scores.float(), dim=-1) @ v
        out = out.transpose(1, 2).reshape(b, t, c.num_heads * c.d_kv)
        return out @ self.w[p + "o.weight"].T

    def feed_forward(self, i: int, x: torch.Tensor) -> torch.Tensor:
        p = f"encoder.block.{i}.layer.1.DenseReluDense."
        return torch.relu(x @ self.w[p + "wi.weight"].T) @ self.w[p + "wo.weight"].T

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask: [B, T] -> last_hidden_state [B, T, d_model]."""
        c = self.cfg
        x = self.w["shared.weight"][ids]
        t = ids.shape[1]
        neg = torch.finfo(torch.float32).min
        key_mask = (1.0 - mask[:, None, None, :].float()) * neg
        bias = self.position_bias(t)[None] + key_mask
        for i in range(c.num_layers):
            h = rms_norm(x, self.w[f"encoder.block.{i}.layer.0.layer_norm.weight"], c.layer_norm_epsilon)
            x = x + self.attention(i, h, bias)
            h = rms_norm(x, self.w[f"encoder.block.{i}.layer.1.layer_norm.weight"], c.layer_norm_epsilon)
            x = x + self.feed_forward(i, h)
        return rms_norm(x, self.w["encoder.final_layer_norm.weight"], c.layer_norm_epsilon)


def random_state_dict(cfg: T5Config, gen: torch.Generator, prefix: str = "text_encoder.") -> dict:
    """Random weights in the HF layout, scaled so activations stay O(1)."""
    def rnd(*shape, std=None):
        std = std if std is not None else 1.0 / math.sqrt(shape[-1])
        return torch.randn(*shape, generator=gen) * std

    def norm_w(n):
        return 1.0 + 0.1 * torch.randn(n, generator=gen)

    inner = cfg.num_heads * cfg.d_kv
    sd = {"shared.weight": rnd(cfg.vocab_size, cfg.d_model, std=1.0)}
    for i in range(cfg.num_layers):
        a = f"encoder.block.{i}.layer.0."
        for n in "qkv":
            sd[a + f"SelfAttention.{n}.weight"] = rnd(inner, cfg.d_model)
        sd[a + "SelfAttention.o.weight"] = rnd(cfg.d_model, inner)
        if i == 0:
            sd[a + "SelfAttention.relative_attention_bias.weight"] = rnd(
                cfg.relative_attention_num_buckets, cfg.num_heads, std=1.0)
        sd[a + "layer_norm.weight"] = norm_w(cfg.d_model)
        f = f"encoder.block.{i}.layer.1."
        sd[f + "DenseReluDense.wi.weight"] = rnd(cfg.d_ff, cfg.d_model)
        sd[f + "DenseReluDense.wo.weight"] = rnd(cfg.d_model, cfg.d_ff)
        sd[f + "layer_norm.weight"] = norm_w(cfg.d_model)
    sd["encoder.final_layer_norm.weight"] = norm_w(cfg.d_model)
    return {prefix + k: v.contiguous() for k, v in sd.items()}
