#!/bin/sh
# Retrain the shipped default model (models/default/) from scratch, with one
# command, on a CPU machine, the way the shipped one was made
# (models/default/README.md):
#
#   train/retrain_default.sh            # everything, then export to models/default
#   RUN=/tmp/run CODEC_CONFIG=train/configs/codec_v3.json CODEC_STEPS=300 LM_STEPS=200 \
#     train/retrain_default.sh                                           # shorter
#   CODEC_CONFIG=train/configs/codec_tiny.json LM_CONFIG=train/configs/lm_tiny.json CODEC_STEPS=8 \
#     PITCH_CODEC_CONFIG=train/configs/codec_tiny_pitch.json PITCH_LM_CONFIG=train/configs/lm_tiny.json \
#     RUN=/tmp/r OUT=/tmp/m train/retrain_default.sh                     # smoke run, seconds
#
# Phases: the codec in four stages, each starting from the last one's model
# (codec_first.json 1450 steps on all roles; then on drums and bass:
# codec_v3_stage1.json 850 steps, codec_v3.json 1450 steps with the loss
# that learns the bass, codec_v3_stage3.json 1200 steps), the tokenizer,
# text encoder and generator (lm_v4.json: a 2700 s budget of training
# steps), the pitch codebook (codec_v9b_pitch_mlp.json: the codec's
# decoder and a new two-layer harmonic head learn to play a fifth code row
# of notes, encoder and codebooks frozen so the codes stay the generator's;
# then lm_v9_pitch_from_default.json: the generator grows that row and the
# key and tag inputs, 1400 steps; PITCH=0 skips both, and the next two),
# held notes (lm_v10e_pitch_weight_gentle.json: the generator 400 more
# steps with its pitch row weighted 4 in the loss; HELD_LM_CONFIG=FILE
# replaces it, "" skips it), the bass's onsets (codec_v10_bass_onsets, codec_v10b_bass_onsets_more,
# codec_v10c_bass_onsets_longer, 600 steps each: the decoder and harmonic
# head learn the bass's onset envelope, so held notes stop fluttering; the
# codes, so the generator, stay as they were; ONSET_CODEC_CONFIGS="FILE ..."
# replaces the list, "" skips it); then the eighth checkpoint's phases
# (PITCH_FIRST=0 skips them and makes the seventh checkpoint): the generator's codes
# (code_confusion.py: the generator's sampled distribution for each true
# code, on held-out songs; then codec_v13_generator_codes.json, the decoder
# and harmonic head 1200 steps with half the crops decoded from codes drawn
# from it; GENERATOR_CODEC_CONFIGS="FILE ..." replaces the list), the pitch
# row first (lm_v12_pitch_first.json, lm_v12b_pitch_first_more.json, 1000
# steps each: the generator decides a frame's note before its acoustic
# codes, so the generator's note_on_lock starts notes on the 16ths;
# FIRST_LM_CONFIGS), and the decoder once more on that generator's codes
# (codec_v13b_pitch_first_codes.json, 800 steps; FIRST_CODEC_CONFIGS), and
# the generator 1000 steps more on new batches (lm_v13_pitch_first_longer.json;
# MORE_LM_CONFIGS); then the ninth checkpoint's: the whole codec trained on
# with the drums' high-band envelope in its loss (codec_v14b_drum_hiband_joint.json,
# 2000 steps; its codes change; HIBAND_CODEC_CONFIG, "" skips this and the
# next) and the generator on the new codes (lm_v14_joint_codes.json, 2000
# steps on a dataset the new codec encodes; HIBAND_LM_CONFIG);
# CONFUSION_SONGS (default 512) sets how many held-out songs each
# confusion table is measured on; a list set to "" skips its phases. Last,
# the fp16 export. CODEC_CONFIG=FILE
# with CODEC_STEPS=N trains one codec stage from scratch instead (e.g. the
# tiny smoke config).
# DECODER_STEPS=N adds a phase that fine-tunes the codec's decoder
# alone (encoder and codebooks frozen, so the generator's codes stay valid)
# and uses that codec instead (the pitch phase starts from it; with
# PITCH=0 it is exported; DECODER_CONFIG: a config of the same
# architecture); the shipped model does not use it. Every phase resumes
# from its checkpoint when re-run with the same RUN folder, so an
# interrupted retrain continues where it stopped.
# Wall-clock times of each phase are appended to $RUN/times.txt. Jobs run at
# nice 19. Needs python3-torch, python3-numpy, sentencepiece,
# python3-sentencepiece (scripts/setup train).
set -eu
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/default}
OUT=${OUT:-models/default}
PY=/usr/bin/python3
mkdir -p "$RUN"
C=train/configs
ONSET_CODEC_DEFAULT="$C/codec_v10_bass_onsets.json $C/codec_v10b_bass_onsets_more.json $C/codec_v10c_bass_onsets_longer.json"
CODEC_STAGES=""
LM_STAGES=""

phase() { # phase NAME COMMAND...
    name="$1"; shift
    start=$(date +%s)
    nice -n 19 "$@"
    echo "$name $(( $(date +%s) - start )) s" >> "$RUN/times.txt"
}

if [ -n "${CODEC_CONFIG:-}" ]; then
    phase codec $PY train/codec.py --config "$CODEC_CONFIG" --out "$RUN/codec" ${CODEC_STEPS:+--steps "$CODEC_STEPS"}
else
    stages="codec_first codec_v3_stage1 codec_v3 codec_v3_stage3"
    prev=""
    for stage in $stages; do
        phase "$stage" $PY train/codec.py --config "train/configs/$stage.json" --out "$RUN/$stage" \
            ${prev:+--init-from "$prev"}
        prev="$RUN/$stage/checkpoint.pt"
    done
    mkdir -p "$RUN/codec"
    cp "$prev" "$RUN/codec/checkpoint.pt"
    for stage in $stages; do
        cat "$RUN/$stage/log.jsonl"
    done > "$RUN/codec/log.jsonl"
fi
CODEC="$RUN/codec/checkpoint.pt"
if [ "${DECODER_STEPS:-0}" -gt 0 ]; then
    phase codec_decoder $PY train/codec.py --config "${DECODER_CONFIG:-train/configs/codec_decoder.json}" \
        --out "$RUN/codec_decoder" --init-from "$RUN/codec/checkpoint.pt" --decoder-only --steps "$DECODER_STEPS"
    CODEC="$RUN/codec_decoder/checkpoint.pt"
fi
phase lm $PY train/lm.py --config "${LM_CONFIG:-train/configs/lm_v4.json}" --codec "$RUN/codec/checkpoint.pt" \
    --out "$RUN/lm" ${LM_STEPS:+--steps "$LM_STEPS"}
LM="$RUN/lm/checkpoint.pt"
if [ "${PITCH:-1}" != 0 ]; then
    # the pitch codebook on the same codes: the codec's encoder and codebooks
    # stay frozen, the generator grows the pitch row from the one above
    phase codec_pitch $PY train/codec.py --config "${PITCH_CODEC_CONFIG:-train/configs/codec_v9b_pitch_mlp.json}" \
        --out "$RUN/codec_pitch" --init-from "$CODEC" ${PITCH_CODEC_STEPS:+--steps "$PITCH_CODEC_STEPS"}
    CODEC="$RUN/codec_pitch/checkpoint.pt"
    phase lm_pitch $PY train/lm.py --config "${PITCH_LM_CONFIG:-train/configs/lm_v9_pitch_from_default.json}" \
        --codec "$CODEC" --out "$RUN/lm_pitch" --init-from "$LM" ${PITCH_LM_STEPS:+--steps "$PITCH_LM_STEPS"}
    LM="$RUN/lm_pitch/checkpoint.pt"
    # held notes: the generator continued with its pitch row weighted in the
    # loss, on the same dataset (copied: the codes are the same)
    if [ -n "${HELD_LM_CONFIG-$C/lm_v10e_pitch_weight_gentle.json}" ]; then
        mkdir -p "$RUN/lm_held"
        [ -f "$RUN/lm_held/dataset.pt" ] || cp "$RUN/lm_pitch/dataset.pt" "$RUN/lm_held/"
        phase lm_held $PY train/lm.py --config "${HELD_LM_CONFIG-$C/lm_v10e_pitch_weight_gentle.json}" \
            --codec "$CODEC" --out "$RUN/lm_held" --init-from "$LM" ${HELD_LM_STEPS:+--steps "$HELD_LM_STEPS"}
        LM="$RUN/lm_held/checkpoint.pt"
    fi
    # the bass's onsets: the decoder and harmonic head only (the codes, so
    # the generator, stay valid), with the bass's onset envelope in the loss
    for config in ${ONSET_CODEC_CONFIGS-$ONSET_CODEC_DEFAULT}; do
        stage=$(basename "$config" .json)
        phase "$stage" $PY train/codec.py --config "$config" --out "$RUN/$stage" --init-from "$CODEC" \
            ${ONSET_CODEC_STEPS:+--steps "$ONSET_CODEC_STEPS"}
        CODEC="$RUN/$stage/checkpoint.pt"
        CODEC_STAGES="$CODEC_STAGES $stage"
    done
    # the generator's codes: the decoder learns to render what the generator
    # writes (codes drawn from its confusion table); the codes stay the same
    generator_codes() { # generator_codes TABLE_NAME CONFIG...
        table="$RUN/$1.pt"; shift
        [ $# -gt 0 ] || return 0
        phase "$(basename "$table" .pt)" $PY train/code_confusion.py "$LM" "$CODEC" "$table" \
            --songs "${CONFUSION_SONGS:-512}"
        for config in "$@"; do
            stage=$(basename "$config" .json)
            phase "$stage" $PY train/codec.py --config "$config" --out "$RUN/$stage" --init-from "$CODEC" \
                --code-noise "$table" ${GENERATOR_CODEC_STEPS:+--steps "$GENERATOR_CODEC_STEPS"}
            CODEC="$RUN/$stage/checkpoint.pt"
            CODEC_STAGES="$CODEC_STAGES $stage"
        done
    }
    # generators continued from $LM on the pitch phase's dataset (copied)
    lm_phases() { # lm_phases CONFIG...
        for config in "$@"; do
            stage=$(basename "$config" .json)
            mkdir -p "$RUN/$stage"
            [ -f "$RUN/$stage/dataset.pt" ] || cp "$RUN/lm_pitch/dataset.pt" "$RUN/$stage/"
            phase "$stage" $PY train/lm.py --config "$config" --codec "$CODEC" --out "$RUN/$stage" \
                --init-from "$LM" ${FIRST_LM_STEPS:+--steps "$FIRST_LM_STEPS"}
            LM="$RUN/$stage/checkpoint.pt"
            LM_STAGES="$LM_STAGES $stage"
        done
    }
    if [ "${PITCH_FIRST:-1}" != 0 ]; then
        generator_codes confusion ${GENERATOR_CODEC_CONFIGS-$C/codec_v13_generator_codes.json}
        # the pitch row first: the generator above reordered and trained on
        lm_phases ${FIRST_LM_CONFIGS-$C/lm_v12_pitch_first.json $C/lm_v12b_pitch_first_more.json}
        generator_codes confusion_first ${FIRST_CODEC_CONFIGS-$C/codec_v13b_pitch_first_codes.json}
        # and on, on new batches (the decoder above is kept)
        lm_phases ${MORE_LM_CONFIGS-$C/lm_v13_pitch_first_longer.json}
    fi
    # the drums' high band: the whole codec trained on with the band's
    # envelope in its loss, so the quieter hits get into the codes; every
    # acoustic code moves, so the generator learns the new ones on a
    # dataset the new codec encodes (not copied)
    if [ -n "${HIBAND_CODEC_CONFIG-$C/codec_v14b_drum_hiband_joint.json}" ]; then
        phase codec_hiband $PY train/codec.py --config "${HIBAND_CODEC_CONFIG-$C/codec_v14b_drum_hiband_joint.json}" \
            --out "$RUN/codec_hiband" --init-from "$CODEC" ${HIBAND_CODEC_STEPS:+--steps "$HIBAND_CODEC_STEPS"}
        CODEC="$RUN/codec_hiband/checkpoint.pt"
        CODEC_STAGES="$CODEC_STAGES codec_hiband"
        phase lm_hiband $PY train/lm.py --config "${HIBAND_LM_CONFIG:-$C/lm_v14_joint_codes.json}" --codec "$CODEC" \
            --out "$RUN/lm_hiband" --init-from "$LM" ${HIBAND_LM_STEPS:+--steps "$HIBAND_LM_STEPS"}
        LM="$RUN/lm_hiband/checkpoint.pt"
        LM_STAGES="$LM_STAGES lm_hiband"
    fi
fi
phase export $PY train/export.py lm "$LM" "$CODEC" "$OUT" --dtype f16
# every phase's log, in order (a phase skipped has no folder)
for d in codec codec_decoder codec_pitch $CODEC_STAGES; do
    if [ -f "$RUN/$d/log.jsonl" ]; then cat "$RUN/$d/log.jsonl"; fi
done > "$OUT/codec_log.jsonl"
for d in lm lm_pitch lm_held $LM_STAGES; do
    if [ -f "$RUN/$d/log.jsonl" ]; then cat "$RUN/$d/log.jsonl"; fi
done > "$OUT/lm_log.jsonl"
cat "$RUN/times.txt"
