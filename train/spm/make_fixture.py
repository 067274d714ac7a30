#!/usr/bin/python3
"""Write tests/fixtures/lm/spm_cases.tsv: prompts and the token ids that
SentencePiece itself (python3-sentencepiece) gives for them with the test
tokenizer tests/fixtures/lm/tiny/spiece.model, </s> appended as T5's
tokenizer does. The C tokenizer (runtime/model/spm.c) must reproduce every
line exactly.

Format, one case per line: the prompt's bytes in hex (so tabs, newlines and
invalid UTF-8 survive), a tab, then the ids separated by spaces.
"""
import os
import random
import sys

import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_corpus  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MODEL = os.path.join(ROOT, "tests/fixtures/lm/tiny/spiece.model")
OUT = os.path.join(ROOT, "tests/fixtures/lm/spm_cases.tsv")

# Malformed UTF-8: each bad byte becomes U+FFFD (one byte consumed), then <unk>.
INVALID = [b"ab\xffcd", b"\xe3\x81", b"drums \xc3(", b"\xf0\x9f\x8e", b"\x80\x80 bass",
           b"ok \xed\xa0\x80 surrogate", b"\xc0\xaf overlong"]


def main() -> None:
    sp = spm.SentencePieceProcessor(model_file=MODEL)
    eos = sp.piece_to_id("</s>")
    cases = [p.encode("utf-8") for p in make_corpus.prompts(random.Random(55), 240)] + INVALID
    with open(OUT, "w") as f:
        for c in cases:
            ids = sp.encode(c) + [eos]
            f.write(c.hex() + "\t" + " ".join(map(str, ids)) + "\n")
    print(f"{len(cases)} cases -> {OUT}")


if __name__ == "__main__":
    main()
