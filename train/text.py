#!/usr/bin/python3
"""Text side of the track-aware model: a SentencePiece vocabulary trained on
the corpus captions with Debian's spm_train, and a trainable T5-architecture
encoder whose parameter names are those of the Hugging Face T5 checkpoints
(exported under `text_encoder.`), so train/t5_ref.py and runtime/model/t5.c
run it unchanged.

    train/text.py --spm OUT_DIR [--vocab 256] [--captions 4000]
        -> OUT_DIR/spiece.model (+ OUT_DIR/captions.txt, the training text)

The tokenizer settings are T5's (unigram, nmt_nfkc, pad 0, </s> 1, <unk> 2,
no <s>), like train/spm/train.sh, so the engine's tokenizer (runtime/model/
spm.c) reads it as it reads T5's spiece.model.
"""
import math
import os
import subprocess
import sys
import tempfile

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
from t5_ref import T5Config, relative_position_bucket  # noqa: E402

EOS, PAD = 1, 0


# --------------------------------------------------------- the vocabulary

def caption_lines(n, seed=0):
    """Captions of n corpus songs (every stem's and the mix's), from specs
    only: no audio is rendered."""
    lines = []
    for i in range(n):
        spec = corpus.sample_spec(seed * 1_000_003 + i)
        for role in spec["roles"] + ["mix"]:
            lines.append(corpus.caption(spec, role))
    return lines


def train_spm(out_dir, vocab=256, captions=4000, seed=0, extra_lines=()):
    """Train spiece.model on corpus captions (plus extra_lines, e.g. the
    captions of a user's stem folder). Returns the model path."""
    os.makedirs(out_dir, exist_ok=True)
    text = os.path.join(out_dir, "captions.txt")
    with open(text, "w", encoding="utf-8") as f:
        for line in caption_lines(captions, seed) + list(extra_lines):
            f.write(line + "\n")
    prefix = os.path.join(out_dir, "spiece")
    subprocess.run(["spm_train", f"--input={text}", f"--model_prefix={prefix}",
                    "--model_type=unigram", f"--vocab_size={vocab}", "--character_coverage=1.0",
                    "--normalization_rule_name=nmt_nfkc", "--pad_id=0", "--eos_id=1",
                    "--unk_id=2", "--bos_id=-1", "--hard_vocab_limit=false",
                    "--num_threads=1", "--minloglevel=2", "--seed_sentencepiece_size=100000"],
                   check=True)
    os.remove(prefix + ".vocab")
    return prefix + ".model"


class Tokenizer:
    """python3-sentencepiece with T5's convention: ids then </s>."""

    def __init__(self, path):
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_file=path)
        self.vocab_size = self.sp.get_piece_size()

    def encode(self, text):
        return self.sp.encode(text) + [EOS]

    def batch(self, texts):
        """ids, mask [B, T] padded with 0 to the longest."""
        ids = [self.encode(t) for t in texts]
        n = max(len(i) for i in ids)
        out = torch.zeros(len(ids), n, dtype=torch.long)
        mask = torch.zeros(len(ids), n, dtype=torch.long)
        for b, i in enumerate(ids):
            out[b, :len(i)] = torch.tensor(i)
            mask[b, :len(i)] = 1
        return out, mask


# ------------------------------------------------------------ the encoder

class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class SelfAttention(nn.Module):
    def __init__(self, c, has_bias_table):
        super().__init__()
        inner = c.num_heads * c.d_kv
        self.q = nn.Linear(c.d_model, inner, bias=False)
        self.k = nn.Linear(c.d_model, inner, bias=False)
        self.v = nn.Linear(c.d_model, inner, bias=False)
        self.o = nn.Linear(inner, c.d_model, bias=False)
        if has_bias_table:
            self.relative_attention_bias = nn.Embedding(c.relative_attention_num_buckets, c.num_heads)
        self.c = c

    def forward(self, x, bias):
        b, t, _ = x.shape
        c = self.c

        def heads(lin):
            return lin(x).view(b, t, c.num_heads, c.d_kv).transpose(1, 2)

        scores = heads(self.q) @ heads(self.k).transpose(-1, -2) + bias  # T5: no 1/sqrt(d)
        out = torch.softmax(scores, -1) @ heads(self.v)
        return self.o(out.transpose(1, 2).reshape(b, t, -1))


class AttnLayer(nn.Module):
    def __init__(self, c, first):
        super().__init__()
        self.SelfAttention = SelfAttention(c, first)
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)


class DenseReluDense(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wi = nn.Linear(c.d_model, c.d_ff, bias=False)
        self.wo = nn.Linear(c.d_ff, c.d_model, bias=False)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x):
        return self.wo(self.dropout(torch.relu(self.wi(x))))


class FFLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.DenseReluDense = DenseReluDense(c)
        self.layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)


class Block(nn.Module):
    def __init__(self, c, first):
        super().__init__()
        self.layer = nn.ModuleList([AttnLayer(c, first), FFLayer(c)])


class Stack(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.ModuleList([Block(c, i == 0) for i in range(c.num_layers)])
        self.final_layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)


class T5Encoder(nn.Module):
    """Trainable T5 encoder; state_dict() names are HF's (shared.weight,
    encoder.block.N.layer.0.SelfAttention.q.weight, ...)."""

    def __init__(self, c: T5Config):
        super().__init__()
        self.c = c
        self.shared = nn.Embedding(c.vocab_size, c.d_model)
        self.encoder = Stack(c)
        nn.init.normal_(self.shared.weight, std=1.0)

    def position_bias(self, t):
        pos = torch.arange(t)
        bucket = relative_position_bucket(pos[None, :] - pos[:, None], self.c.relative_attention_num_buckets,
                                          self.c.relative_attention_max_distance)
        table = self.encoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        return table[bucket].permute(2, 0, 1)

    def forward(self, ids, mask):
        """ids, mask [B, T] -> last_hidden_state [B, T, d_model]."""
        x = self.shared(ids)
        neg = torch.finfo(x.dtype).min
        bias = self.position_bias(ids.shape[1])[None] + (1.0 - mask[:, None, None, :].float()) * neg
        for blk in self.encoder.block:
            att, ff = blk.layer
            x = x + att.SelfAttention(att.layer_norm(x), bias)
            x = x + ff.DenseReluDense(ff.layer_norm(x))
        return self.encoder.final_layer_norm(x)


def t5_config(d):
    return T5Config.from_json(d)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spm", required=True, metavar="OUT_DIR")
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--captions", type=int, default=4000)
    a = ap.parse_args()
    path = train_spm(a.spm, a.vocab, a.captions)
    tok = Tokenizer(path)
    print(path, "vocab", tok.vocab_size, corpus.caption(corpus.sample_spec(0), "bass"),
          tok.encode(corpus.caption(corpus.sample_spec(0), "bass")))
