#!/usr/bin/python3
"""The generator's code confusion: for each role (drums, bass), codec row
and true code c, the mean distribution a generator draws from (classifier-
free guidance, temperature, top-k as the engine samples) when it is
teacher-forced on the true codes of corpus songs it was not trained on
(4 s of drums and bass, encoded by CODEC, the bass with its known notes as
the generator's dataset is): the codes a decoder is given where the music
had c. The bass hears its song's drums, as in the evaluation; the drums
hear nothing. The pitch row is left out (its
confusion makes no onsets: docs/quality.md, "The generator's codes").

A decoder trained on codes drawn from it (codec.py's `code_noise`) learns
to render the generator's codes, not only the encoder's.

    train/code_confusion.py LM_CHECKPOINT CODEC OUT.pt [--songs 256] [--rows K]

CODEC: a codec checkpoint or a model folder (eval_codec.load).
--rows: the acoustic rows, the codec's first K (default all but the last,
the pitch row of a pitch codec).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus  # noqa: E402
import eval_codec  # noqa: E402
import lm  # noqa: E402
import text  # noqa: E402

ROLES = ("drums", "bass")
HELD_OUT = eval_codec.HELD_OUT + 500_000  # seeds no trainer draws, apart from eval_codec's


def held_out_items(codec, songs, seconds=4.0):
    """Dataset items (lm._encode_item) of `songs` corpus songs no trainer drew."""
    sr = codec.cfg.sampling_rate
    need = int(seconds * sr) // codec.cfg.hop_length * codec.cfg.hop_length
    items = []
    for i in range(songs):
        s = corpus.song(HELD_OUT + i, sr, bars=4, roles=list(ROLES))
        items.append(lm._encode_item(codec, s.stems, s.caption, s.spec["bpm"], 0, need,
                                     {"bass": corpus.bass_f0(s.spec, sr)}))
    return items


def role_batch(items, role, model, tok):
    """A teacher-forcing batch of `items` for `role` (codes in the codec's
    order); the bass with the item's drums as its context."""
    track = model.track
    kk, frames = items[0]["codes"][role].shape
    b, j = len(items), len(track["roles"]) - 1
    ctx = torch.full((b, j, kk, frames), model.dc.special, dtype=torch.long)
    ctx_roles = torch.zeros(b, j, dtype=torch.long)
    present = torch.zeros(b, j, dtype=torch.bool)
    if role == "bass":
        for i, it in enumerate(items):
            ctx[i, 0] = it["codes"]["drums"].long()
            ctx_roles[i, 0] = lm.ROLES.index("drums")
            present[i, 0] = True
    captions = [it["captions"][role] for it in items]
    ids, mask = tok.batch(captions)
    return dict(ids=ids, mask=mask, codes=torch.stack([it["codes"][role].long() for it in items]),
                role=torch.full((b,), lm.ROLES.index(role)), bpm=torch.tensor([it["bpm"] for it in items]),
                ctx=ctx, ctx_roles=ctx_roles, ctx_present=present, uncond=torch.zeros(b, dtype=torch.bool),
                key=torch.from_numpy(np.stack([corpus.key_vector(lm.song_key(it) if track.get("key_embed") else None)
                                               for it in items])),
                tags=torch.from_numpy(np.stack([corpus.caption_tags(c, track.get("tags", [])) for c in captions])))


@torch.no_grad()
def guided_logits(model, batch, guidance):
    """(classifier-free guided logits [B, n, card], targets [B, n], codec
    row [n]) of the batch's tokens, teacher-forced (lm.token_logits)."""
    logits, target, codebook = lm.token_logits(model, batch)
    null = lm.token_logits(model, dict(batch, uncond=torch.ones_like(batch["uncond"])))[0]
    order = torch.as_tensor(lm.codebook_order(model.track, model.dc.num_codebooks))
    return null + guidance * (logits - null), target, order[codebook]


def top_k_probs(logits, top_k):
    """softmax over each position's top_k logits (all of a smaller vocabulary)."""
    kth = torch.topk(logits, min(top_k, logits.shape[-1]), -1).values[..., -1:]
    return torch.softmax(logits.masked_fill(logits < kth, float("-inf")), -1)


def sampled_distribution(model, batch, guidance, temperature, top_k):
    """(probabilities [B, n, card], targets [B, n], codec row [n]) of the
    batch's tokens as the sampler draws them."""
    mixed, target, row = guided_logits(model, batch, guidance)
    return top_k_probs(mixed / temperature, top_k), target, row


def confusion(model, items, tok, rows, batch=8, guidance=3.0, temperature=1.0, top_k=50):
    """[len(ROLES), rows, card, card]: row c of [role, r] is the mean sampled
    distribution of codec row r where the true code is c (the identity for a
    code never seen)."""
    card = model.dc.vocab_size
    total = torch.zeros(len(ROLES), rows, card, card, dtype=torch.float64)
    usable = [it for it in items if all(r in it["codes"] for r in ROLES)]
    for start in range(0, len(usable), batch):
        chunk = usable[start:start + batch]
        for ri, role in enumerate(ROLES):
            probs, target, row = sampled_distribution(model, role_batch(chunk, role, model, tok),
                                                      guidance, temperature, top_k)
            for r in range(rows):
                sel = row == r
                total[ri, r].index_add_(0, target[:, sel].reshape(-1), probs[:, sel].reshape(-1, card).double())
    seen = total.sum(-1, keepdim=True)
    eye = torch.eye(card, dtype=torch.float64).expand_as(total)
    return torch.where(seen > 0, total / seen.clamp(min=1e-12), eye).float(), len(usable)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lm_checkpoint")
    ap.add_argument("codec")
    ap.add_argument("out")
    ap.add_argument("--songs", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, _ = lm.load_checkpoint_model(a.lm_checkpoint)
    tok = text.Tokenizer(os.path.join(os.path.dirname(a.lm_checkpoint), "spiece.model"))
    codec = eval_codec.load(a.codec).eval()
    rows = a.rows or model.dc.num_codebooks - 1
    items = held_out_items(codec, a.songs)
    table, n = confusion(model, items, tok, rows)
    seen = torch.stack([torch.cat([it["codes"][r][:rows].long() for it in items], 1) for r in ROLES])  # [roles, rows, n]
    hit = torch.stack([torch.stack([table[i, r][seen[i, r], seen[i, r]].mean() for r in range(rows)])
                       for i in range(len(ROLES))])
    torch.save(dict(confusion=table, roles=list(ROLES), items=n, source=os.path.abspath(a.lm_checkpoint)), a.out)
    print(f"{a.out}: {n} songs; the true code's mean probability by role and row: "
          + "; ".join(f"{role} " + " ".join(f"{v:.2f}" for v in hit[i].tolist()) for i, role in enumerate(ROLES)))


if __name__ == "__main__":
    main()
