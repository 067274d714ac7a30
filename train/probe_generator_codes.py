#!/usr/bin/python3
"""What the generator's codes do to the bass, with the generator's own
mistakes and nothing else: held-out corpus songs' bass codes (known notes,
the drums as context, as code_confusion.py builds them), teacher-forced
through the generator, its acoustic rows replaced by draws from its own
distributions (guidance 3, top-k 50, as the engine samples) and decoded by
the codec. Onsets per second and their share on the 16th grid (the
synchronizer's onsets, as eval.py counts them) for:

  clean            the encoder's codes
  rows R sampled   those rows drawn from the generator given the true past
  temperature T    every acoustic row drawn at T (0: the generator's top choice)
  confusion        each acoustic code drawn from a confusion table (--confusion)

If the clean codes decode on the grid and the drawn ones do not, the
generator's per-frame choices, not its long-range timing, put the bass off
the grid (docs/quality.md, "The generator's codes").

    train/probe_generator_codes.py LM_CHECKPOINT CODEC [--songs 8] [--confusion TABLE.pt]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import code_confusion  # noqa: E402
import eval_codec  # noqa: E402
import lm  # noqa: E402
import measure  # noqa: E402
import text  # noqa: E402


def onsets_on_grid(codec, codes, bpms):
    """(onsets per second, share on the 16th grid within 25 ms) of codes [B, K, T] decoded."""
    sr, count, on, seconds = codec.cfg.sampling_rate, 0, 0, 0.0
    for c, bpm in zip(codes, bpms):
        with torch.no_grad():
            y = codec.decode(c).reshape(-1).numpy()
        t = measure.synchronizer_onsets(y, sr)
        count += len(t)
        on += int(measure.on_grid(t, bpm).sum())
        seconds += len(y) / sr
    return count / seconds, on / max(1, count)


def drawn(probs, target, row, rows, gen):
    """Codes [B, K, T] with the tokens of `rows` drawn from `probs` and the
    others the true ones."""
    b, n, card = probs.shape
    pick = torch.multinomial(probs.reshape(-1, card), 1, generator=gen).reshape(b, n)
    keep = ~torch.isin(row, torch.tensor(rows))[None, :].expand_as(pick)
    pick[keep] = target[keep]
    return pick


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("lm_checkpoint")
    ap.add_argument("codec")
    ap.add_argument("--songs", type=int, default=8)
    ap.add_argument("--confusion")
    a = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    model, _ = lm.load_checkpoint_model(a.lm_checkpoint)
    tok = text.Tokenizer(os.path.join(os.path.dirname(a.lm_checkpoint), "spiece.model"))
    codec = eval_codec.load(a.codec).eval()
    items = code_confusion.held_out_items(codec, a.songs)
    batch = code_confusion.role_batch(items, "bass", model, tok)
    bpms = [it["bpm"] for it in items]
    b, kk, frames = batch["codes"].shape
    acoustic = list(range(kk - 1))

    def as_codes(tokens):  # tokens are listed by frame, then codec row
        return tokens.reshape(b, frames, kk).permute(0, 2, 1)

    def report(name, codes):
        rate, share = onsets_on_grid(codec, codes, bpms)
        print(f"{name}: {rate:.2f} onsets/s, {share:.2f} on the grid", flush=True)

    report("clean", batch["codes"])
    mixed, target, row = code_confusion.guided_logits(model, batch, 3.0)
    probs = code_confusion.top_k_probs(mixed, 50)  # as the engine samples: temperature 1, top-k 50
    assert torch.equal(as_codes(target), batch["codes"])
    for rows in ([0], acoustic[1:], acoustic, [kk - 1]):
        report(f"rows {rows} sampled", as_codes(drawn(probs, target, row, rows, gen)))
    for temp in (0.5, 0.0):
        p = torch.softmax(mixed / temp, -1) if temp > 0 else torch.nn.functional.one_hot(
            mixed.argmax(-1), mixed.shape[-1]).float()
        report(f"acoustic rows at temperature {temp}", as_codes(drawn(p, target, row, acoustic, gen)))
    if a.confusion:
        table = torch.load(a.confusion)["confusion"][code_confusion.ROLES.index("bass")]
        codes = batch["codes"].clone()
        for r in acoustic:
            codes[:, r] = torch.multinomial(table[r][codes[:, r].reshape(-1)], 1, generator=gen).reshape(b, frames)
        report("confusion", codes)


if __name__ == "__main__":
    main()
