#!/bin/sh
# Retrain the shipped default model (models/default/) from scratch, with one
# command, on a CPU machine:
#
#   train/retrain_default.sh            # everything, then export to models/default
#   RUN=/tmp/run CODEC_STEPS=300 LM_STEPS=200 train/retrain_default.sh   # shorter
#   CODEC_CONFIG=train/configs/codec_tiny.json LM_CONFIG=train/configs/lm_tiny.json \
#     RUN=/tmp/r OUT=/tmp/m train/retrain_default.sh                     # smoke run, seconds
#
# Every phase resumes from its checkpoint when re-run with the same RUN
# folder, so an interrupted retrain continues where it stopped. Wall-clock
# times of each phase are appended to $RUN/times.txt. Jobs run at nice 19.
# Needs python3-torch, python3-numpy, sentencepiece, python3-sentencepiece
# (scripts/setup train).
set -eu
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/default}
OUT=${OUT:-models/default}
PY=/usr/bin/python3
mkdir -p "$RUN"

phase() { # phase NAME COMMAND...
    name="$1"; shift
    start=$(date +%s)
    nice -n 19 "$@"
    echo "$name $(( $(date +%s) - start )) s" >> "$RUN/times.txt"
}

phase codec $PY train/codec.py --config "${CODEC_CONFIG:-train/configs/codec_default.json}" --out "$RUN/codec" \
    ${CODEC_STEPS:+--steps "$CODEC_STEPS"}
phase lm $PY train/lm.py --config "${LM_CONFIG:-train/configs/lm_default.json}" --codec "$RUN/codec/checkpoint.pt" \
    --out "$RUN/lm" ${LM_STEPS:+--steps "$LM_STEPS"}
phase export $PY train/export.py lm "$RUN/lm/checkpoint.pt" "$RUN/codec/checkpoint.pt" "$OUT" --dtype f16
cp "$RUN/codec/log.jsonl" "$OUT/codec_log.jsonl"
cp "$RUN/lm/log.jsonl" "$OUT/lm_log.jsonl"
cat "$RUN/times.txt"
