#!/bin/sh
# Train the project's small test tokenizer: a SentencePiece unigram model of
# the same kind as T5's spiece.model (nmt_nfkc, pad 0, </s> 1, <unk> 2, no <s>)
# on a generated caption corpus. Needs Debian's `sentencepiece` package.
#   train/spm/train.sh   -> train/spm/corpus.txt, tests/fixtures/lm/tiny/spiece.model
# The paths are relative so the model (which records them) is reproducible.
set -eu
cd "$(dirname "$0")/../.."
python3 train/spm/make_corpus.py corpus > train/spm/corpus.txt
out=tests/fixtures/lm/tiny
mkdir -p "$out"
spm_train --input=train/spm/corpus.txt --model_prefix="$out/spiece" \
  --model_type=unigram --vocab_size=512 --character_coverage=0.9995 \
  --normalization_rule_name=nmt_nfkc \
  --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 \
  --num_threads=1 --minloglevel=1
rm -f "$out/spiece.vocab"
