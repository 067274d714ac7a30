#!/usr/bin/python3
"""The track-aware generator: a MusicGen-architecture decoder (one, shared by
every track role) that cross-attends to [text conditioning ; track context].

Layout. Everything MusicGen has keeps its Hugging Face name and meaning
(text_encoder.* T5, enc_to_dec_proj.*, decoder.model.decoder.*,
decoder.lm_heads.*, audio_encoder.* EnCodec), so the engine's MusicGen path
runs a checkpoint unchanged apart from the additions, all under
`track_context.` (D = decoder hidden size, K codebooks, card = codebook size,
R roles, B beat bins; documented in docs/models.md):

  track_context.embed_tokens.{k}.weight  [card+1, D]  locked tracks' codes, per codebook
  track_context.role_embed.weight        [R, D]       role of a locked track
  track_context.layer_norm.{weight,bias} [D]          LayerNorm (eps 1e-5) of the context
  track_context.target_role_embed.weight [R, D]       role of the track being generated
  track_context.beat_embed.weight        [B, D]       position in the bar of the frame
  track_context.key_embed.weight         [24, D]      the key (only with "key_embed": true)
  track_context.tag_embed.weight         [T, D]       words of the text (only with "tags": [T words])

Decoder input at step s (positions count from 0 as in MusicGen):
    x_s = sum_k embed_tokens[k][tok_k,s] + sin(s) + target_role_embed[role]
          + beat_embed[bin(s)],  bin(s) = floor(frac(s / frame_rate * bpm / 240) * B)
  (bin(s) is the bar position of frame s, the frame codebook 0 predicts at
  step s; the tempo comes from the patch, so generated audio can lock to
  the beat: issue 7 found a plain LM did not.)
          + sum_i key[i] * key_embed[i]   (models with "key_embed": true)
  key = corpus.key_vector: the tonic's pitch class one-hot (0-11), then the
  scale's pitch classes (12-23); all zero when the text names no key. The
  key is read from the text ("A minor", corpus.caption_key); a generator
  that heard it only through the text ignored it (train/probe_key.py), and
  lm_v5 with this input still did: its bass is off the semitone grid
  (train/probe_pitch.py, docs/quality.md).
          + sum_j tag[j] * tag_embed[j]   (models with "tags")
  tag[j] = 1 if the text names the config's tags[j] as a word
  (corpus.caption_tags): the texture words, which the text alone moved
  too little ("busy" raised the drums' density on 57 % of prompts).
Codebook order (models with "codebook_order": [K codec rows]): the
model's codebook k is the codec's code row codebook_order[k], so the delay
pattern decides the rows in that order; every code the model reads or
writes (its own, a locked track's) is in its order, and the codec's order
is restored only where codes meet the codec (sample, set_track; batches
are in the codec's order, token_logits lists a model's tokens by frame and
codec row, so models in two orders compare token by token). [4, 0, 1,
2, 3] puts a pitch codec's pitch row first: a frame's note is chosen
before the acoustic rows that play its attack, so the note-on lock
(note_on_mask) can keep attacks on the grid.
Track context of a locked track with role r and codes c [K, T] aligned with
the generated track (frame t of both is the same instant):
    m_t = LayerNorm( sum_k track_context.embed_tokens[k][c_k,t] + role_embed[r] + sin(t) )
Cross-attention memory = [ enc_to_dec_proj(T5(text)) * mask ; m(track 1) ; m(track 2) ; ... ].
Classifier-free guidance: the null branch's memory is all zeros, of the
same length (text and context), as MusicGen's null condition. Training makes
the conditional and null cases: the whole memory is zeroed for p_uncond of
the examples, the context is left out for p_no_context, and each other track
is kept with p_keep_track, so one model serves with and without locked
tracks.

    nice -n 19 train/lm.py --config train/configs/lm_default.json --codec runs/codec/checkpoint.pt --out runs/lm
    train/export.py lm runs/lm/checkpoint.pt runs/codec/checkpoint.pt models/default
    train/lm.py --generate models/default --role bass --bpm 124 --prompt "bass, acid line, 124 bpm, A minor, dark techno" \
        --context drums=drums.wav -o bass.wav
"""
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import codec as codec_mod  # noqa: E402
import encodec_ref  # noqa: E402
import corpus  # noqa: E402
import export  # noqa: E402
import musicgen_ref  # noqa: E402
import text  # noqa: E402
from musicgen_ref import DecoderConfig, sin_embedding  # noqa: E402
from t5_ref import T5Config  # noqa: E402

ROLES = corpus.ROLES
TRAIN_DEFAULTS = dict(seed=0, batch=8, frames=200, lr=3e-4, warmup=200, steps=2000, songs=256,
                      song_bars=4, encode_batch=8, p_uncond=0.1, p_no_context=0.3, p_keep_track=0.6,
                      checkpoint_every=100, log_every=10, spm_vocab=256, spm_captions=4000, threads=0,
                      schedule_s=None, song_roles=None, p_no_key=0.1, dataset_workers=0,
                      target_roles=None, row_loss_weights=None, trainable=None, distill_roles=None,
                      distill_weight=1.0)
# distill_roles: the roles whose tracks learn a teacher's predictions (the
# KL divergence from its distribution, token by token, times
# distill_weight) instead of their targets; the teacher is the model given
# by --distill-from. So a fine-tune for one role (the bass's held notes)
# keeps another (the drums) where the teacher had it, although they share
# every weight.
# trainable: parameter name prefixes a run trains (None: all), e.g. only the
# pitch row's head, so the other rows' predictions cannot change.
# row_loss_weights: [K] weights of each codebook's tokens in the loss (None:
# all equal), e.g. more on a pitch row whose notes the model holds too
# loosely (docs/quality.md, "Held notes").
# schedule_s: stop after this many seconds of training steps (summed over
# resumed runs) and decay the learning rate over that time rather than over
# `steps`, so a run on a shared machine ends annealed whatever its speed.
# The batches stay a function of the step; only the rate depends on time.
# target_roles: train only these roles' tracks (the others still serve as
# locked context); None: every role of the song.


def load_config(path):
    with open(path) as f:
        cfg = json.load(f)
    t = dict(TRAIN_DEFAULTS)
    t.update(cfg.get("train", {}))
    return cfg, t


def beat_bins(positions, bpm, frame_rate, bins):
    """Bar-position bin of each frame index (positions [L]; bpm [B]) -> [B, L]."""
    bars = positions.double()[None, :] / frame_rate * bpm.double()[:, None] / 240.0
    return torch.floor((bars - torch.floor(bars)) * bins).long().clamp_(0, bins - 1)


def codebook_order(track, num_codebooks):
    """The codec row each of the model's codebooks holds: track_context's
    codebook_order, or the codec's own order. Refuses anything that is not
    a permutation of the rows."""
    order = list(track.get("codebook_order") or range(num_codebooks))
    if sorted(order) != list(range(num_codebooks)):
        raise SystemExit(f"track_context.codebook_order {order} is not an order of the "
                         f"{num_codebooks} code rows 0..{num_codebooks - 1}")
    return order


def to_model_rows(codes, order):
    """Codes [..., K, T] in the codec's row order -> the model's."""
    return codes[..., list(order), :]


def to_codec_rows(codes, order):
    """Codes [..., K, T] in the model's row order -> the codec's."""
    return codes[..., [order.index(k) for k in range(len(order))], :]


def pitch_row(codec_cfg, order):
    """The model codebook that holds a pitch codec's pitch row (the codec's
    last), or None for a codec without one."""
    if not getattr(codec_cfg, "pitch_codebook", False):
        return None
    return order.index(len(order) - 1)


# ---------------------------------------------------------------- model

class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)
        self.heads = heads

    def forward(self, x, mem, key_mask=None, causal=False):
        b, t, d = x.shape
        h = self.heads

        def split(y):
            return y.view(b, y.shape[1], h, d // h).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(mem)), split(self.v_proj(mem))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        if causal:
            tk = k.shape[2]
            allowed = torch.arange(tk)[None, :] <= torch.arange(t)[:, None]
            scores = scores.masked_fill(~allowed, float("-inf"))
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        return self.out_proj((torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(b, t, d))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c.hidden_size
        self.self_attn = Attention(d, c.num_attention_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, c.num_attention_heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, c.ffn_dim, bias=False)
        self.fc2 = nn.Linear(c.ffn_dim, d, bias=False)
        self.final_layer_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, mem, mem_mask):
        h = self.self_attn_layer_norm(x)
        x = x + self.dropout(self.self_attn(h, h, causal=True))
        x = x + self.dropout(self.encoder_attn(self.encoder_attn_layer_norm(x), mem, mem_mask))
        return x + self.dropout(self.fc2(F.gelu(self.fc1(self.final_layer_norm(x)))))


class DecoderBody(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.ModuleList([nn.Embedding(c.vocab_size + 1, c.hidden_size)
                                           for _ in range(c.num_codebooks)])
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c.num_hidden_layers)])
        self.layer_norm = nn.LayerNorm(c.hidden_size)


class TrackContext(nn.Module):
    def __init__(self, c, roles, bins, key=False, tags=0):
        super().__init__()
        d = c.hidden_size
        self.embed_tokens = nn.ModuleList([nn.Embedding(c.vocab_size + 1, d) for _ in range(c.num_codebooks)])
        self.role_embed = nn.Embedding(roles, d)
        self.layer_norm = nn.LayerNorm(d)
        self.target_role_embed = nn.Embedding(roles, d)
        self.beat_embed = nn.Embedding(bins, d)
        self.key_embed = nn.Embedding(24, d) if key else None
        self.tag_embed = nn.Embedding(tags, d) if tags else None
        for e in [self.role_embed, self.target_role_embed, self.beat_embed, self.key_embed, self.tag_embed]:
            if e is not None:
                nn.init.normal_(e.weight, std=0.1)


class TrackLM(nn.Module):
    """state_dict() names are the checkpoint names (see the module doc)."""

    def __init__(self, t5c: T5Config, dc: DecoderConfig, track: dict):
        super().__init__()
        self.t5c, self.dc, self.track = t5c, dc, track
        self.text_encoder = text.T5Encoder(t5c)
        self.enc_to_dec_proj = nn.Linear(t5c.d_model, dc.hidden_size)
        self.decoder = nn.Module()
        self.decoder.model = nn.Module()
        self.decoder.model.decoder = DecoderBody(dc)
        self.decoder.lm_heads = nn.ModuleList([nn.Linear(dc.hidden_size, dc.vocab_size, bias=False)
                                               for _ in range(dc.num_codebooks)])
        self.track_context = TrackContext(dc, len(track["roles"]), track["beat_bins"], track.get("key_embed", False),
                                          len(track.get("tags", [])))

    def context_memory(self, codes, roles):
        """codes [B, K, T], roles [B] -> [B, T, D]."""
        tc = self.track_context
        x = sum(tc.embed_tokens[k](codes[:, k]) for k in range(codes.shape[1]))
        x = x + tc.role_embed(roles)[:, None] + sin_embedding(torch.arange(codes.shape[2]), x.shape[-1])[None]
        return tc.layer_norm(x)

    def memory(self, ids, mask, ctx_codes=None, ctx_roles=None, ctx_present=None, uncond=None):
        """[text ; context] memory and its key mask. ctx_codes [B, J, K, T],
        ctx_roles/ctx_present [B, J]; uncond [B] bool zeroes the memory."""
        cond = self.enc_to_dec_proj(self.text_encoder(ids, mask)) * mask[..., None].float()
        mems, masks = [cond], [mask.bool()]
        if ctx_codes is not None:
            for j in range(ctx_codes.shape[1]):
                mems.append(self.context_memory(ctx_codes[:, j], ctx_roles[:, j]))
                masks.append(ctx_present[:, j, None].expand(-1, ctx_codes.shape[3]))
        mem, mem_mask = torch.cat(mems, 1), torch.cat(masks, 1)
        if uncond is not None:
            mem = mem * (~uncond)[:, None, None].float()
        return mem, mem_mask

    def forward(self, tokens, role, bpm, mem, mem_mask, key=None, tags=None):
        """tokens [B, K, L] delayed input, key [B, 24], tags [B, T] -> logits [B, K, L, card]."""
        body, tc = self.decoder.model.decoder, self.track_context
        L = tokens.shape[2]
        pos = torch.arange(L)
        x = sum(body.embed_tokens[k](tokens[:, k]) for k in range(tokens.shape[1]))
        x = x + sin_embedding(pos, x.shape[-1])[None] + tc.target_role_embed(role)[:, None]
        x = x + tc.beat_embed(beat_bins(pos, bpm, self.track["frame_rate"], self.track["beat_bins"]))
        if tc.key_embed is not None and key is not None:
            x = x + (key @ tc.key_embed.weight)[:, None]
        if tc.tag_embed is not None and tags is not None:
            x = x + (tags @ tc.tag_embed.weight)[:, None]
        for layer in body.layers:
            x = layer(x, mem, mem_mask)
        x = body.layer_norm(x)
        return torch.stack([head(x) for head in self.decoder.lm_heads], 1)


def delayed(codes, special):
    """codes [B, K, T] -> (input [B, K, T+K-1], target, valid) for MusicGen's
    delay pattern: input position s holds frame s-1-k of codebook k, the
    target at s is frame s-k; anything outside [0, T) is the special token."""
    b, kk, t = codes.shape
    L = t + kk - 1
    s = torch.arange(L)
    inp = torch.full((b, kk, L), special, dtype=torch.long)
    tgt = torch.full((b, kk, L), special, dtype=torch.long)
    valid = torch.zeros(kk, L, dtype=torch.bool)
    for k in range(kk):
        fi, ft = s - 1 - k, s - k
        ok_i, ok_t = (fi >= 0) & (fi < t), (ft >= 0) & (ft < t)
        inp[:, k, ok_i] = codes[:, k, fi[ok_i]]
        tgt[:, k, ok_t] = codes[:, k, ft[ok_t]]
        valid[k] = ok_t
    return inp, tgt, valid


# ------------------------------------------------------------------ data

def _encode_item(codec_model, stems, captions, bpm, start, need, notes=None):
    """One dataset item; `notes` (role -> per-sample f0, 0 = none) are the
    known pitches a pitch codebook codes (else the codec tracks them)."""
    item = dict(bpm=float(bpm), codes={}, captions={})
    c = codec_model.cfg
    for role, x in stems.items():
        if role not in ROLES:  # "other" stems train the codec only
            continue
        x = np.pad(x[start:start + need], (0, max(0, need - len(x[start:start + need]))))
        f0 = None
        if c.pitch_codebook and notes is not None:
            known = np.zeros(need, np.float32)
            if role in notes:
                seg = notes[role][start:start + need]
                known[:len(seg)] = seg
            f0 = codec_mod.frame_note(known, c.hop_length, need // c.hop_length)
        with torch.no_grad():
            item["codes"][role] = codec_model.encode(torch.from_numpy(x.astype(np.float32))[None],
                                                     f0=f0).to(torch.int16)
        item["captions"][role] = captions(role)
    return item if item["codes"] else None


_WORKER = {}  # the codec and config a dataset worker inherits (fork)


def _corpus_item(i):
    codec_model, t = _WORKER["codec"], _WORKER["t"]
    kw = {"roles": t["song_roles"]} if t["song_roles"] else {}
    s = corpus.song(t["seed"] * 1_000_003 + 500_000 + i, codec_model.cfg.sampling_rate, bars=t["song_bars"], **kw)
    notes = {"bass": corpus.bass_f0(s.spec, codec_model.cfg.sampling_rate)} if "bass" in s.stems else {}
    return _encode_item(codec_model, s.stems, s.caption, s.spec["bpm"], 0, t["frames"] * codec_model.cfg.hop_length,
                        notes)


def corpus_items(codec_model, t):
    """The corpus songs of the dataset, rendered and encoded by
    `dataset_workers` processes (0: one per core); each song is a function
    of its index alone, so the result is the same for any count."""
    import multiprocessing

    workers = min(t["dataset_workers"] or os.cpu_count() or 1, t["songs"])
    _WORKER.update(codec=codec_model, t=t)
    if workers == 1:
        return [_corpus_item(i) for i in range(t["songs"])]
    # one torch thread per worker: the workers are the parallelism
    with multiprocessing.get_context("fork").Pool(workers, torch.set_num_threads, (1,)) as pool:
        return pool.map(_corpus_item, range(t["songs"]), chunksize=max(1, min(16, t["songs"] // workers)))


def build_dataset(codec_model, t, out_path=None):
    """Encode `songs` corpus songs (every stem) with the codec, or every
    `frames`-long window of a user's stem folder (t["stems"]): a list of
    dict(codes={role: [K, frames]}, captions={role: str}, bpm). The tempo of
    a real song is read from its captions ("... 122 bpm ..."; 120 if none).
    Cached at out_path so a resumed run does not encode again."""
    if out_path and os.path.exists(out_path):
        return torch.load(out_path)
    sr = codec_model.cfg.sampling_rate
    need = t["frames"] * codec_model.cfg.hop_length
    data = []
    if t.get("stems"):
        for s in corpus.load_stem_folder(t["stems"], sr):
            bpm = corpus.caption_bpm(s.caption("mix")) or next(
                (corpus.caption_bpm(s.caption(r)) for r in s.stems if corpus.caption_bpm(s.caption(r))), 120.0)
            n = len(next(iter(s.stems.values())))
            for start in range(0, max(1, n - need // 2), need):
                item = _encode_item(codec_model, s.stems, s.caption, bpm, start, need)
                if item:
                    data.append(item)
    else:
        data = corpus_items(codec_model, t)
    if out_path:
        torch.save(data, out_path)
    return data


def batch_at(data, tok, t, step, track, special):
    """A training batch for `step`, deterministic in (seed, step), for a
    model whose config's track_context is `track` (its roles, and its key
    and tag inputs if it has them). Codes in the codec's row order
    (token_logits puts them in a model's)."""
    rng = np.random.default_rng([t["seed"], step, 11])
    B, J = t["batch"], len(track["roles"]) - 1
    key_input = track.get("key_embed", False)
    items = [data[rng.integers(len(data))] for _ in range(B)]
    roles, captions, codes, bpm, keys = [], [], [], [], []
    kk, frames = items[0]["codes"][next(iter(items[0]["codes"]))].shape
    ctx = torch.full((B, J, kk, frames), special, dtype=torch.long)
    ctx_roles = torch.zeros(B, J, dtype=torch.long)
    ctx_present = torch.zeros(B, J, dtype=torch.bool)
    uncond = torch.zeros(B, dtype=torch.bool)
    for b, it in enumerate(items):
        avail = list(it["codes"])
        targets = [r for r in avail if r in t["target_roles"]] if t.get("target_roles") else avail
        role = targets[rng.integers(len(targets))]
        roles.append(ROLES.index(role))
        captions.append(it["captions"][role])
        codes.append(it["codes"][role].long())
        bpm.append(it["bpm"])
        no_ctx = rng.random() < t["p_no_context"]
        j = 0
        for other in avail:
            keep = rng.random() < t["p_keep_track"]
            if other == role or no_ctx or not keep:
                continue
            ctx[b, j] = it["codes"][other].long()
            ctx_roles[b, j] = ROLES.index(other)
            ctx_present[b, j] = True
            j += 1
        uncond[b] = rng.random() < t["p_uncond"]
        # the song's key for every role, drums too (the engine hands it to
        # every generator whose text names one); left out at random so the
        # model also serves texts without a key. Drawn only for a model with
        # a key input, so older configs keep their batches.
        keys.append(corpus.key_vector(song_key(it) if key_input and rng.random() >= t["p_no_key"] else None))
    ids, mask = tok.batch(captions)
    return dict(ids=ids, mask=mask, codes=torch.stack(codes), role=torch.tensor(roles),
                bpm=torch.tensor(bpm), ctx=ctx, ctx_roles=ctx_roles, ctx_present=ctx_present, uncond=uncond,
                key=torch.from_numpy(np.stack(keys)),
                tags=torch.from_numpy(np.stack([corpus.caption_tags(c, track.get("tags", [])) for c in captions])))


def song_key(item):
    """The key any of a dataset item's captions names, else None."""
    return next((k for k in map(corpus.caption_key, item["captions"].values()) if k), None)


def token_logits(model, batch):
    """(logits [B, n, card], targets [B, n], codebook [n]) of the batch's n
    tokens (every frame of every code row; batch codes in the codec's row
    order), in the model's codebook order and delay pattern, listed by
    frame, then codec row: one order for any model, whatever its codebook
    order, so a teacher in another order can be compared token by token.
    `codebook` is the model codebook of each token."""
    order = codebook_order(model.track, model.dc.num_codebooks)
    mem, mem_mask = model.memory(batch["ids"], batch["mask"], to_model_rows(batch["ctx"], order),
                                 batch["ctx_roles"], batch["ctx_present"], batch["uncond"])
    inp, tgt, valid = delayed(to_model_rows(batch["codes"], order), model.dc.special)
    logits = model(inp, batch["role"], batch["bpm"], mem, mem_mask, batch["key"], batch["tags"])
    kk, steps = valid.shape
    codebook = torch.arange(kk)[None, :].expand(steps, kk)[valid.T]  # (step, codebook) order
    frame = torch.arange(steps)[:, None].expand(steps, kk)[valid.T] - codebook
    by_frame = torch.argsort(frame * kk + torch.as_tensor(order)[codebook])
    return (logits.permute(0, 2, 1, 3)[:, valid.T][:, by_frame], tgt.permute(0, 2, 1)[:, valid.T][:, by_frame],
            codebook[by_frame])


def loss_of(model, batch, row_weights=None, teacher=None, distilled=None, distill_weight=1.0):
    """Mean next-token cross-entropy; with row_weights ([K]) each codebook's
    tokens count by its weight (a weighted mean, so the scale stays). With a
    teacher, the batch items where `distilled` ([B] bool) is set learn its
    distribution instead: their mean KL(teacher || model) per token, times
    distill_weight, is added to the others' cross-entropy."""
    logits, target, row = token_logits(model, batch)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
    ce = ce.reshape(target.shape)
    w = torch.ones(row.shape, dtype=ce.dtype) if row_weights is None else torch.as_tensor(
        row_weights, dtype=ce.dtype)[row]
    if teacher is None or distilled is None or not distilled.any():
        return (w * ce).sum() / (w.sum() * ce.shape[0])
    with torch.no_grad():
        want = F.log_softmax(token_logits(teacher, batch)[0][distilled], -1)
    have = F.log_softmax(logits[distilled], -1)
    kl = (want.exp() * (want - have)).sum(-1).mean()
    own = ~distilled
    if not own.any():
        return distill_weight * kl
    return (w * ce[own]).sum() / (w.sum() * int(own.sum())) + distill_weight * kl


def distilled_items(batch, roles):
    """[B] bool: the batch items whose role is one of `roles` (names)."""
    unknown = [r for r in roles or [] if r not in ROLES]
    if unknown:
        raise SystemExit(f"distill_roles: no role {unknown[0]!r} (roles: {', '.join(ROLES)})")
    ids = torch.tensor([ROLES.index(r) for r in roles or []], dtype=torch.long)
    return torch.isin(batch["role"], ids)


def load_teacher(cfg, vocab_size, path):
    """A frozen copy of the model at `path` (a checkpoint or an exported
    folder, as --init-from takes) in this run's architecture, but in its own
    codebook order (token_logits compares the two token by token)."""
    _, track = read_model_state(path)
    own = {"codebook_order": track["codebook_order"]} if track.get("codebook_order") else {}
    track_cfg = {k: v for k, v in cfg["track_context"].items() if k != "codebook_order"}
    teacher = new_model(dict(cfg, track_context=dict(track_cfg, **own)), vocab_size)
    load_initial_state(teacher, path)
    for v in teacher.parameters():
        v.requires_grad_(False)
    return teacher.eval()


# ---------------------------------------------------------------- training

def new_model(cfg, vocab_size):
    t5c = T5Config.from_json(dict(cfg["text_encoder"], vocab_size=vocab_size))
    dc = DecoderConfig.from_json(cfg["decoder"])
    return TrackLM(t5c, dc, cfg["track_context"])


def trainable_params(model, prefixes):
    """The parameters a run trains: all, or those whose names start with one
    of `prefixes` (the rest frozen, requires_grad off). Refuses prefixes that
    name nothing."""
    if prefixes is None:
        return list(model.parameters())
    named = dict(model.named_parameters())
    for p in prefixes:
        if not any(n.startswith(p) for n in named):
            raise SystemExit(f"trainable: no parameter starts with {p!r}")
    for n, v in named.items():
        v.requires_grad_(any(n.startswith(p) for p in prefixes))
    return [v for v in named.values() if v.requires_grad]


def read_model_state(path):
    """(state dict, track_context config) of a run's checkpoint or an
    exported model folder (its codec left out)."""
    if os.path.isdir(path):
        sd = export.read_safetensors(os.path.join(path, "model.safetensors"))
        with open(os.path.join(path, "config.json")) as f:
            track = json.load(f).get("track_context", {})
        return {k: v.float() for k, v in sd.items() if not k.startswith("audio_encoder.")}, track
    ck = torch.load(path, map_location="cpu")
    return ck["model"], ck["config"].get("track_context", {})


def load_initial_state(model, path):
    """Start `model` from a run's checkpoint or an exported model folder
    (e.g. models/default). The model may have grown over the one it starts
    from: one more code row (a codec with a pitch codebook), the key or tag
    inputs. Their input embeddings start at zero, so at step 0 the model
    predicts the old rows exactly as the old one did (what it has learnt,
    the drums' timing above all, is kept while the new inputs are learnt);
    anything else missing or different is refused."""
    sd, src_track = read_model_state(path)
    sd = reorder_codebooks(sd, src_track, codebook_order(model.track, model.dc.num_codebooks))
    grown = {f"decoder.model.decoder.embed_tokens.{k}.weight" for k in range(model.dc.num_codebooks)}
    grown |= {f"track_context.embed_tokens.{k}.weight" for k in range(model.dc.num_codebooks)}
    grown |= {"track_context.key_embed.weight", "track_context.tag_embed.weight"}
    heads = {f"decoder.lm_heads.{k}.weight" for k in range(model.dc.num_codebooks)}
    own = model.state_dict()
    resized = [f"{k} {tuple(v.shape)} (here {tuple(own[k].shape)})" for k, v in sd.items()
               if k in own and v.shape != own[k].shape]
    if resized:
        raise SystemExit(f"{path}: not this architecture (other sizes: {', '.join(resized[:3])})")
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if unexpected or any(k not in grown | heads for k in missing):
        raise SystemExit(f"{path}: not this architecture (missing {missing}, unexpected {unexpected})")
    state = model.state_dict()
    with torch.no_grad():
        for k in missing:
            if k in grown:
                state[k].zero_()
    return missing


PER_CODEBOOK = ("decoder.model.decoder.embed_tokens.{}.weight", "track_context.embed_tokens.{}.weight",
                "decoder.lm_heads.{}.weight")


def reorder_codebooks(sd, src_track, order):
    """A state dict whose codebooks are in `src_track`'s codebook order ->
    one in `order` (each codebook's embeddings and head follow its codec
    row). A codec row the source has no codebook for is left out: a grown
    row, which load_initial_state starts at zero."""
    n = sum(1 for k in sd if k.startswith("decoder.lm_heads."))
    src_order = codebook_order(src_track, n)
    if src_order == order[:n]:
        return sd
    out = {k: v for k, v in sd.items() if not any(k.startswith(p.split("{")[0]) for p in PER_CODEBOOK)}
    for k, row in enumerate(order):
        if row in src_order:
            for name in PER_CODEBOOK:
                out[name.format(k)] = sd[name.format(src_order.index(row))]
    return out


def train(cfg, t, codec_ckpt, out_dir, steps=None, quiet=False, init_from=None, distill_from=None):
    os.makedirs(out_dir, exist_ok=True)
    if t["threads"]:
        torch.set_num_threads(t["threads"])
    spm_path = os.path.join(out_dir, "spiece.model")
    if not os.path.exists(spm_path) and init_from:  # the text encoder it starts from reads these ids
        src = os.path.join(init_from if os.path.isdir(init_from) else os.path.dirname(init_from), "spiece.model")
        if os.path.exists(src):
            shutil.copy(src, spm_path)
    if not os.path.exists(spm_path):
        extra = []
        if t.get("stems"):
            extra = [s.caption(r) for s in corpus.load_stem_folder(t["stems"]) for r in list(s.stems) + ["mix"]]
        text.train_spm(out_dir, t["spm_vocab"], t["spm_captions"], t["seed"], extra)
    tok = text.Tokenizer(spm_path)
    codec_model = codec_mod.load_checkpoint_model(codec_ckpt)
    cfg = json.loads(json.dumps(cfg))
    cfg["decoder"]["vocab_size"] = codec_model.cfg.codebook_size
    cfg["decoder"]["num_codebooks"] = codec_model.cfg.num_codebooks
    cfg["track_context"]["frame_rate"] = codec_model.cfg.frame_rate
    data = build_dataset(codec_model, t, os.path.join(out_dir, "dataset.pt"))
    torch.manual_seed(t["seed"])
    model = new_model(cfg, tok.vocab_size)
    opt = torch.optim.AdamW(trainable_params(model, t["trainable"]), lr=t["lr"], betas=(0.9, 0.95), weight_decay=0.1)
    ck_path = os.path.join(out_dir, "checkpoint.pt")
    step, elapsed = 0, 0.0
    if os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
    elif init_from:  # a new run (new optimiser, step 0) from another run's model
        load_initial_state(model, init_from)
    teacher = None
    if t["distill_roles"]:
        if not distill_from:
            raise SystemExit("distill_roles needs --distill-from (the teacher model)")
        teacher = load_teacher(cfg, tok.vocab_size, distill_from)
    steps = t["steps"] if steps is None else steps
    log_path = os.path.join(out_dir, "log.jsonl")
    logs, window = [], []
    model.train()
    budget = t.get("schedule_s")  # a wall-clock budget instead of a step count (see TRAIN_DEFAULTS)

    def done():
        return step >= steps or (budget is not None and elapsed >= budget)

    while not done():
        t0 = time.time()
        # linear warm-up then cosine decay, a function of the step (resumable),
        # or of the training time spent when the run has a time budget
        progress = elapsed / budget if budget else step / max(1, t["steps"])
        lr = t["lr"] * min(1.0, (step + 1) / t["warmup"]) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        torch.manual_seed(t["seed"] * 7919 + step)  # dropout, reproducible on resume
        batch = batch_at(data, tok, t, step, cfg["track_context"], model.dc.special)
        loss = loss_of(model, batch, t["row_loss_weights"], teacher,
                       distilled_items(batch, t["distill_roles"]), t["distill_weight"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        dt = time.time() - t0
        elapsed += dt
        window.append((loss.item(), dt))
        if step % t["log_every"] == 0 or done():
            w = np.array(window)
            frames = t["batch"] * t["frames"] * len(w)
            entry = dict(step=step, loss=round(float(w[:, 0].mean()), 5), lr=round(lr, 7),
                         frames_per_s=round(frames / w[:, 1].sum(), 1), elapsed_s=round(elapsed, 1))
            logs.append(entry)
            with open(log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
            if not quiet:
                print(json.dumps(entry), flush=True)
            window = []
        if step % t["checkpoint_every"] == 0 or done():
            codec_mod.save_checkpoint(ck_path, dict(model=model.state_dict(), opt=opt.state_dict(), step=step,
                                                    elapsed=elapsed, config=cfg, train_config=t,
                                                    vocab_size=tok.vocab_size))
    return logs


def load_checkpoint_model(path):
    ck = torch.load(path, map_location="cpu")
    model = new_model(ck["config"], ck["vocab_size"])
    model.load_state_dict(ck["model"])
    return model.eval(), ck["config"]


# ------------------------------------------------------------------ export

def composite_state(model, codec_model=None):
    sd = {}
    for name, v in model.state_dict().items():
        sd[name] = v
    # HF T5 checkpoints carry the tied embedding twice; keep MusicGen's name
    if codec_model is not None:
        for name, v in codec_model.state_dict().items():
            sd["audio_encoder." + name] = v
    return sd


def composite_config(model, cfg, codec_model=None):
    conf = {"architectures": ["MusicgenForConditionalGeneration"], "model_type": "musicgen",
            "is_encoder_decoder": True, "text_encoder": model.t5c.to_json(),
            "decoder": model.dc.to_json(),
            "track_context": dict(cfg["track_context"], model_type="resonant_track_context",
                                  null_condition="zeros of the whole memory (text and context)")}
    if codec_model is not None:
        conf["audio_encoder"] = export.codec_config(codec_model.cfg)
        if codec_model.cfg.pitch_codebook:  # for the sustain lock (lm.sustain)
            conf["track_context"]["silence_codes"] = encodec_ref.silence_codes(codec_model)
    return conf


def export_model(model, cfg, out_dir, spm_path, codec_model=None, dtype="f32"):
    os.makedirs(out_dir, exist_ok=True)
    export.write_safetensors(os.path.join(out_dir, "model.safetensors"),
                             composite_state(model, codec_model), dtype)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(composite_config(model, cfg, codec_model), f, indent=2)
        f.write("\n")
    shutil.copyfile(spm_path, os.path.join(out_dir, "spiece.model"))


def export_checkpoint(lm_ckpt, codec_ckpt, out_dir, dtype):
    model, cfg = load_checkpoint_model(lm_ckpt)
    codec_model = codec_mod.load_checkpoint_model(codec_ckpt)
    export_model(model, cfg, out_dir, os.path.join(os.path.dirname(lm_ckpt), "spiece.model"),
                 codec_model, dtype)


# ------------------------------------------------- reference of the extension

class TrackDecoderRef(musicgen_ref.Decoder):
    """musicgen_ref's KV-cached decoder plus the track_context input terms
    (target role, beat position, key, tags): the oracle for the engine's
    version."""

    def __init__(self, cfg, sd, track):
        super().__init__(cfg, sd)
        self.tc = {k[len("track_context."):]: v.float() for k, v in sd.items() if k.startswith("track_context.")}
        self.track = track
        self.role, self.bpm, self.key, self.tags = 0, 120.0, None, None

    @torch.no_grad()
    def forward(self, tokens):
        c = self.cfg
        t = tokens.shape[-1]
        pos = torch.arange(self.offset, self.offset + t)
        x = sum(self.w[musicgen_ref.DEC + f"embed_tokens.{k}.weight"][tokens[:, k]] for k in range(c.num_codebooks))
        x = x + sin_embedding(pos, c.hidden_size)[None]
        x = x + self.tc["target_role_embed.weight"][self.role]
        x = x + self.tc["beat_embed.weight"][beat_bins(pos, torch.tensor([float(self.bpm)]),
                                                      self.track["frame_rate"], self.track["beat_bins"])]
        if self.key is not None and "key_embed.weight" in self.tc:
            x = x + torch.from_numpy(self.key) @ self.tc["key_embed.weight"]
        if self.tags is not None and "tag_embed.weight" in self.tc:
            x = x + torch.from_numpy(self.tags) @ self.tc["tag_embed.weight"]
        for i in range(c.num_hidden_layers):
            x = self.layer(i, x)
        self.offset += t
        x = self.ln(x, musicgen_ref.DEC + "layer_norm")
        return torch.stack([self.lin(x, f"decoder.lm_heads.{k}") for k in range(c.num_codebooks)], dim=1)


class TrackMusicGenRef(musicgen_ref.MusicGen):
    """musicgen_ref.MusicGen whose memory is [text ; track context]. Its
    generate() (inherited) builds the null branch as zeros of the whole
    memory, which is this model's null condition."""

    def __init__(self, t5_cfg, dec_cfg, sd, track):
        super().__init__(t5_cfg, dec_cfg, sd)
        self.dec = TrackDecoderRef(dec_cfg, sd, track)
        self.context = []  # [(role id, codes [K, T])]

    def set_track(self, role, bpm, context=(), text=""):
        """The take's role, tempo, locked tracks [(role, codes [K, T])] and
        the text it is made from, whose key and tags the model's inputs read
        (the engine's rg_musicgen_condition_track does the same). Codes in
        the codec's row order."""
        order = codebook_order(self.dec.track, self.dec.cfg.num_codebooks)
        self.dec.role, self.dec.bpm = role, bpm
        self.context = [(r, to_model_rows(codes, order)) for r, codes in context]
        self.dec.key = corpus.key_vector(corpus.caption_key(text))
        self.dec.tags = corpus.caption_tags(text, self.dec.track.get("tags", []))

    @torch.no_grad()
    def condition(self, ids, mask):
        hidden, cond = super().condition(ids, mask)
        tc = self.dec.tc
        mems = [cond]
        for role, codes in self.context:
            kk, t = codes.shape
            x = sum(tc[f"embed_tokens.{k}.weight"][codes[k]] for k in range(kk))
            x = x + tc["role_embed.weight"][role] + sin_embedding(torch.arange(t), x.shape[-1])
            x = F.layer_norm(x, (x.shape[-1],), tc["layer_norm.weight"], tc["layer_norm.bias"], 1e-5)
            mems.append(x[None].expand(cond.shape[0], -1, -1))
        return hidden, torch.cat(mems, 1)


@torch.no_grad()
def key_lock_mask(codec_cfg, num_codebooks, vocab, text, order=None):
    """[K, vocab] bool, the tokens a take may sample under the key lock: on
    a pitch codec's pitch row (model codebook pitch_row, for a model whose
    codebook order is `order`; None: the codec's), no pitch or a note of
    the key `text` names; every token on the other rows. None if the codec
    has no pitch row or the text names no key (then nothing is locked)."""
    key = corpus.caption_key(text)
    if not getattr(codec_cfg, "pitch_codebook", False) or key is None:
        return None
    pcs = set(corpus.scale_pitch_classes(*key))
    allowed = torch.ones(num_codebooks, vocab, dtype=torch.bool)
    row = torch.zeros(vocab, dtype=torch.bool)
    row[0] = True
    for c in range(1, codec_cfg.pitch_notes + 1):
        row[c] = (codec_cfg.pitch_midi_min + c - 1) % 12 in pcs
    allowed[pitch_row(codec_cfg, order or list(range(num_codebooks)))] = row
    return allowed


PITCH_TEMPERATURE = 0.25  # the engine's RG_PITCH_TEMPERATURE_DEFAULT (runtime/model/pitch_code.h)


def row_temperatures(codec_cfg, num_codebooks, temperature, pitch_temperature, order=None):
    """[K] per-codebook temperatures with a pitch codec's pitch row (model
    codebook pitch_row; `order` as key_lock_mask's) at `pitch_temperature`
    (the engine's rg_pitch_take_sampling; lower holds the bass's notes
    longer), or None when nothing changes (no pitch row, the same
    temperature, greedy sampling)."""
    if (not getattr(codec_cfg, "pitch_codebook", False) or temperature <= 0
            or pitch_temperature is None or pitch_temperature == temperature):
        return None
    rows = torch.full((num_codebooks,), float(temperature))
    rows[pitch_row(codec_cfg, order or list(range(num_codebooks)))] = pitch_temperature
    return rows


def note_on_mask(frames, frame_rate, bpm, per_beat=4):
    """[frames] bool: the frames a note may start on under the note-on lock,
    the frame holding each grid line (a 16th at per_beat 4) of a take
    starting on the beat. A frame's pitch code is the note at its last
    sample (codec.frame_note), so a note starting at sample n is first
    seen by frame floor(n / hop)."""
    step = frame_rate * 60.0 / (bpm * per_beat)
    mask = torch.zeros(frames, dtype=torch.bool)
    lines = torch.arange(0, frames / step + 1) * step
    idx = torch.floor(lines + 1e-6).long()
    mask[idx[idx < frames]] = True
    return mask


def pitch_row_choices(allowed_row, prev, may_start):
    """The pitch row's allowed tokens for a frame under the note-on lock:
    where no note may start, the previous frame's note goes on or stops
    (code 0); elsewhere `allowed_row` (all, or the key lock's)."""
    if may_start:
        return allowed_row
    row = torch.zeros_like(allowed_row)
    row[0] = True
    row[prev] = allowed_row[prev] or prev == 0
    return row


# The sustain lock: a held note's other code rows keep the generator's codes
# for its first 120 ms (the attack, by default), a rest's for 40 ms (the release), then
# hold the codec's silence codes and the decoder's harmonic path alone sounds
# the note: the generator's codes inside a held note are what the decoder
# turned into stray attacks (docs/quality.md, "The sustain lock").
SUSTAIN_ATTACK_MS, SUSTAIN_RELEASE_S = 120.0, 0.040


def sustain_frames(frame_rate, attack_ms=SUSTAIN_ATTACK_MS):
    """(attack, release) of the sustain lock in frames at `frame_rate`,
    rounded half away from zero with the engine's arithmetic
    (rg_pitch_take_sampling), so both agree on every attack."""
    return (max(1, math.floor(attack_ms * frame_rate / 1000.0 + 0.5)),
            max(1, math.floor(SUSTAIN_RELEASE_S * frame_rate + 0.5)))


def sustain_quiet(pitch_codes, frame, attack, release):
    """Whether `frame`'s acoustic rows are past the attack of the note the
    pitch row holds there (its code has run more than `attack` frames) or
    past the release of a rest (code 0 for more than `release`)."""
    code = int(pitch_codes[frame])
    limit = attack if code != 0 else release
    run = 1
    while run <= limit and frame - run >= 0 and int(pitch_codes[frame - run]) == code:
        run += 1
    return run > limit


def sustain(codes, silence, attack, release):
    """The sustain lock on a take's codes [K, T] (the codec's row order, the
    pitch row last): where sustain_quiet says so, every other row takes
    its silence code (track_context.silence_codes). The generator's own
    stream is not changed (the engine applies it to frames as they are
    published: rg_pitch_sustain_frames)."""
    out = codes.clone()
    pitch = codes[-1].tolist()
    for t in range(codes.shape[1]):
        if sustain_quiet(pitch, t, attack, release):
            out[:-1, t] = torch.as_tensor(silence[:-1], dtype=out.dtype)
    return out


def sustain_lock(track, attack_ms=SUSTAIN_ATTACK_MS):
    """sustain()'s (silence, attack, release) for a model whose
    track_context names its codec's silence_codes (composite_config)."""
    silence = track.get("silence_codes")
    if not silence:
        raise ValueError("the sustain lock needs track_context.silence_codes (export the model again)")
    return (silence, *sustain_frames(track["frame_rate"], attack_ms))


def sample(ref, ids, frames, guidance=3.0, temperature=1.0, top_k=50, seed=0, allowed=None,
           row_temperature=None, note_on=None, pitch=None):
    """Codes [K, frames] from a TrackMusicGenRef (set_track() first): the
    delay pattern, classifier-free guidance with the zero-memory null
    branch, top-k sampling (temperature 0: greedy, which reproduces
    MusicGen.generate). `allowed` [K, vocab] (key_lock_mask) restricts
    each codebook's choice to its True tokens: constrained sampling, the
    model's distribution renormalised over them. `row_temperature` [K]
    (row_temperatures) replaces `temperature` row by row; both in the
    model's codebook order. `note_on` [frames] bool (note_on_mask) is the
    note-on lock on model codebook `pitch` (pitch_row): a note may start
    only on its True frames. Returns codes in the codec's row order."""
    c = ref.dec.cfg
    kk = c.num_codebooks
    order = codebook_order(ref.dec.track, kk)
    if note_on is not None and allowed is None:
        allowed = torch.ones(kk, c.vocab_size, dtype=torch.bool)
    steps = frames + kk - 1
    _, cond = ref.condition(ids[None], torch.ones(1, len(ids), dtype=torch.long))
    if guidance is not None:
        cond = torch.cat([cond, torch.zeros_like(cond)], 0)
    ref.dec.set_condition(cond)
    gen = torch.Generator().manual_seed(seed)
    column = torch.full((kk,), c.special, dtype=torch.long)
    grid = torch.empty(kk, steps, dtype=torch.long)
    for s in range(steps):
        logits = ref.dec.forward(column[None, :, None].expand(cond.shape[0], kk, 1))[:, :, 0]
        mixed = logits[0] if guidance is None else logits[1] + (logits[0] - logits[1]) * guidance
        if allowed is not None:
            mask = allowed
            frame = s - pitch if note_on is not None else -1
            if 0 < frame < frames and not note_on[frame]:  # no note may start here
                mask = allowed.clone()
                mask[pitch] = pitch_row_choices(allowed[pitch], int(grid[pitch, s - 1]), False)
            mixed = mixed.masked_fill(~mask, float("-inf"))
        if temperature <= 0:
            tok = mixed.argmax(-1)
        else:
            scale = temperature if row_temperature is None else row_temperature[:, None]
            top = torch.topk(mixed / scale, min(top_k or mixed.shape[-1], mixed.shape[-1]), dim=-1)  # 0: off
            probs = torch.softmax(top.values, -1)
            tok = top.indices.gather(-1, torch.multinomial(probs, 1, generator=gen))[:, 0]
        column = musicgen_ref.delay_mask(tok, s + 1, c.special, frames)
        grid[:, s] = column
    return to_codec_rows(musicgen_ref.undelay(grid, frames), order)


def generate_cli(a):
    """--generate: a track from an exported folder, decoded to a WAV."""
    ref = load_reference(a.generate)
    tok = text.Tokenizer(os.path.join(a.generate, "spiece.model"))
    sd = export.read_safetensors(os.path.join(a.generate, "model.safetensors"))
    with open(os.path.join(a.generate, "config.json")) as f:
        conf = json.load(f)
    cmodel = encodec_ref.EncodecRef(encodec_ref.Config(conf["audio_encoder"])).eval()
    encodec_ref.load_state_dict(cmodel, {k: v for k, v in sd.items() if k.startswith("audio_encoder.")})
    roles = conf["track_context"]["roles"]
    frames = int(round(a.seconds * conf["track_context"]["frame_rate"]))
    context = []
    for item in a.context or []:
        role, path = item.split("=", 1)
        x, rate = corpus.read_wav(path)
        x = corpus.resample(x, rate, cmodel.cfg.sampling_rate)
        codes = cmodel.encode(torch.from_numpy(x)[None])
        context.append((roles.index(role), codes[:, :frames]))
    ref.set_track(roles.index(a.role), a.bpm, context, a.prompt)
    codes = sample(ref, torch.tensor(tok.encode(a.prompt)), frames, a.guidance, a.temperature, a.top_k, a.seed)
    with torch.no_grad():
        y = cmodel.decode(codes)[0].numpy()
    corpus.write_wav(a.output, y, cmodel.cfg.sampling_rate)
    print("wrote", a.output, f"{len(y) / cmodel.cfg.sampling_rate:.2f} s")


def load_reference(model_dir):
    """TrackMusicGenRef of an exported folder (read with musicgen_ref's own
    loader)."""
    t5c, dc, sd = musicgen_ref.load_checkpoint(model_dir)
    with open(os.path.join(model_dir, "config.json")) as f:
        track = json.load(f)["track_context"]
    return TrackMusicGenRef(t5c, dc, sd, track)


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config")
    ap.add_argument("--codec", help="codec checkpoint.pt")
    ap.add_argument("--out")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--export", metavar="DIR")
    ap.add_argument("--dtype", choices=export.DTYPES, default="f32")
    ap.add_argument("--stems", metavar="DIR", help="train on a folder of real stems instead of the corpus")
    ap.add_argument("--init-from", metavar="CHECKPOINT|FOLDER",
                    help="start a new run from a generator checkpoint's model or an exported model folder "
                         "(the spiece.model beside it is copied into --out); the new model may add a code "
                         "row and the key and tag inputs")
    ap.add_argument("--distill-from", metavar="CHECKPOINT|FOLDER",
                    help="the teacher whose predictions the config's distill_roles learn (a generator "
                         "checkpoint or an exported model folder of this architecture)")
    g = ap.add_argument_group("generation from an exported folder (instead of training)")
    g.add_argument("--generate", metavar="MODEL_DIR")
    g.add_argument("--prompt", default="")
    g.add_argument("--role", default="drums")
    g.add_argument("--bpm", type=float, default=120.0)
    g.add_argument("--seconds", type=float, default=4.0)
    g.add_argument("--context", action="append", metavar="ROLE=WAV", help="a locked track (repeatable)")
    g.add_argument("--guidance", type=float, default=3.0)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", dest="top_k", type=int, default=50)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("-o", "--output", default="out.wav")
    a = ap.parse_args()
    if a.generate:
        generate_cli(a)
        return
    if not (a.config and a.codec and a.out):
        ap.error("training needs --config, --codec and --out")
    cfg, t = load_config(a.config)
    if a.stems:
        t["stems"] = a.stems
    train(cfg, t, a.codec, a.out, a.steps, init_from=a.init_from, distill_from=a.distill_from)
    if a.export:
        export_checkpoint(os.path.join(a.out, "checkpoint.pt"), a.codec, a.export, a.dtype)


if __name__ == "__main__":
    main()
