/* The pitch codebook (a ResonantGen extension, docs/models.md "Pitch
 * codebook"): a codec's last code row, one semitone per frame, which sets
 * the harmonic bass path's f0 instead of the latent. Code 0 is no pitch;
 * code c in 1..pitch_notes is MIDI note pitch_midi_min + c - 1; codes past
 * pitch_notes count as no pitch. The specification is midi_hz, pitch_codes
 * and pitch_track in train/encodec_ref.py. */
#ifndef RG_PITCH_CODE_H
#define RG_PITCH_CODE_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/error.h"
#include "runtime/model/encodec.h"
#include "runtime/model/musicgen.h"

/* Hz of a (fractional) MIDI note: 440 * 2^((midi - 69) / 12). */
double rg_midi_hz(double midi);

/* The code of `hz` (<= 0: no pitch, code 0): 1 + the nearest semitone
 * above pitch_midi_min (ties to even, like torch.round), clamped to the
 * codebook's notes (an octave off is still a note). */
int32_t rg_pitch_code(const rg_encodec_config *cfg, double hz);

/* Pitch codes [frames] -> the signed f0 track rg_op_harmonic plays: +Hz of
 * a note, -Hz of the last note (of pitch_midi_min before any) where there
 * is none, so a rest holds the pitch it is silent at. A scan in double,
 * rounded to float at the end, as the reference does. */
void rg_pitch_track(const rg_encodec_config *cfg, const int32_t *codes, int64_t frames,
                    float *f0);

/* Pitch codes of mono audio [samples] at the codec rate: per frame t, the
 * code of aubio's YIN f0 for a window around the frame's last sample
 * ((t+1) hop - 1), 0 where the window is silent or has no clear period.
 * Not bit-identical to the reference's yin_f0 (another YIN), but the same
 * notes on clear pitches. Allocates: not for the audio thread. */
bool rg_pitch_detect(const rg_encodec_config *cfg, const float *audio, int64_t samples,
                     int64_t frames, int32_t *codes, rg_error *err);

/* The model codebook that decides a pitch codec's pitch row (the codec's
 * last code row): the last but in models with a codebook_order (and the
 * last for a hand-made config whose codebook_order is left zero). */
int rg_pitch_model_row(const rg_musicgen_config *mc);

/* The key lock (docs/models.md "Pitch codebook"): the tokens a take of a
 * model with `codebooks` codebooks of `card` codes over this codec may
 * sample (rg_lm_sampling.allowed), as train/lm.py's key_lock_mask: on
 * codebook `row`, the pitch row (rg_pitch_model_row), code 0 (no pitch)
 * and the notes whose pitch class is in `key`'s scale; every token on the
 * other codebooks. Returns false, and leaves `allowed` ([codebooks][card])
 * alone, when nothing is locked: a codec without a pitch row, or no key
 * (scale 0). */
bool rg_pitch_key_lock(const rg_encodec_config *cfg, rg_lm_key key, int codebooks, int row,
                       int card, uint8_t *allowed);

/* The frames a note may start on under the note-on lock, for a take of
 * `frames` frames at `frame_rate` starting on a downbeat: note_on[f] = 1 on
 * the frame holding each 16th of `bpm` (floor of its time in frames: a
 * frame's pitch code is the note at its last sample), 0 elsewhere; as
 * train/lm.py's note_on_mask. */
void rg_pitch_note_on_frames(double frame_rate, float bpm, int frames, uint8_t *note_on);

/* The pitch row's temperature a take uses unless told otherwise (the
 * generator node's pitch_temperature, resonant generate --pitch-temperature):
 * measured in docs/quality.md, "Held notes". */
#define RG_PITCH_TEMPERATURE_DEFAULT 0.25

/* The sustain lock's attack and release (train/lm.py's SUSTAIN_ATTACK_MS,
 * SUSTAIN_RELEASE_S and sustain_frames): unless told otherwise a held note's other rows keep
 * the generator's codes for its first 120 ms, a rest's for 40 ms; at least
 * a frame each. A shorter attack puts more of the bass's onsets on the
 * grid and leaves less of the texture words' sound (docs/quality.md, "The
 * sustain lock"). */
#define RG_SUSTAIN_ATTACK_MS_DEFAULT 120.0
#define RG_SUSTAIN_RELEASE_S 0.040

/* The sustain lock (docs/generator.md, "Sustain lock"): the generator's
 * codes inside a held note, beyond its pitch, are what the decoder turned
 * into stray attacks; with the lock the decoder hears the codec's silence
 * there instead, and its harmonic path alone sounds the note. */
typedef struct {
    bool on;
    int attack, release;                  /* frames */
    int32_t silence[RG_LM_MAX_CODEBOOKS]; /* the model's silence_codes, codec row order */
} rg_pitch_sustain;

/* Apply the sustain lock to frames [from, to) of a take's codes
 * [codebooks][frames] (the codec's row order, the pitch row last), as
 * train/lm.py's sustain: where the pitch row has held one note for more
 * than `attack` frames up to and including frame t, or a rest (code 0)
 * for more than `release`, every other row's code at t becomes its
 * silence code. Reads the pitch row at and before each frame only, so
 * frames can be treated as they become final; the pitch row is left as
 * it is. Nothing happens when the lock is off. */
void rg_pitch_sustain_frames(const rg_pitch_sustain *s, int codebooks, int32_t *codes,
                             int64_t frames, int64_t from, int64_t to);

/* What a take asks of its pitch row. */
typedef struct {
    bool key_lock;           /* only the notes of the key the text names */
    float pitch_temperature; /* the row's own temperature */
    bool note_on_lock;       /* notes start on the 16ths of `bpm` only */
    bool sustain_lock;       /* held notes sound on the harmonic path alone */
    float sustain_attack_ms; /* ... after this much of them; 0: the default */
    float bpm;               /* the take's tempo and length in frames, */
    int frames;              /* for note_on_lock */
} rg_pitch_take_options;

/* What a take's sampling points at for a pitch codec: the key lock's mask,
 * the per-codebook temperatures and the note-on frames. Keep it alive,
 * unmoved, while the rg_lm_sampling that points into it is used; then
 * rg_pitch_take_free. */
typedef struct {
    uint8_t *allowed;                /* [codebooks][card], or NULL */
    float rows[RG_LM_MAX_CODEBOOKS]; /* rg_lm_sampling.row_temperature's storage */
    uint8_t *note_on;                /* [frames], or NULL */
    rg_pitch_sustain sustain;        /* the sustain lock, for rg_pitch_sustain_frames */
} rg_pitch_take;

/* Set up sp->allowed, sp->row_temperature and sp->note_on for a take
 * whose text is `text` by model `mc` over the codec in `codec_path` (a
 * codec folder or a composite checkpoint, rg_encodec_probe),
 * sp->temperature already set:
 * - with o->key_lock, the pitch row (rg_pitch_model_row) may sample only
 *   code 0 and the notes of the key the text names (rg_pitch_key_lock);
 * - the pitch row samples at o->pitch_temperature, the others at
 *   sp->temperature. Below the other rows', it holds notes longer: at 1
 *   the model changes note on a quarter of the frames, more often than
 *   the music it learnt from (docs/quality.md, "Held notes"). Greedy
 *   sampling (temperature <= 0) stays greedy;
 * - with o->note_on_lock, a note starts only on the 16ths of o->bpm
 *   (rg_pitch_note_on_frames, rg_lm_sampling.note_on): bass attacks on
 *   the grid, for a model that decides the pitch row first
 *   (docs/quality.md, "The note first");
 * - with o->sustain_lock, take->sustain is the sustain lock for the take's
 *   codes (rg_pitch_sustain_frames; the sampling is not changed: the
 *   generator goes on hearing its own codes). It needs a model that names
 *   its codec's "silence_codes": an error otherwise.
 * Each is left NULL where nothing changes (no pitch row, no key in the
 * text, the same temperature). The codec's config is read at most once.
 * False only on an error (the config unreadable, no memory, a model of
 * more than RG_LM_MAX_CODEBOOKS codebooks, a note-on lock without a tempo
 * or length, a sustain lock without silence codes), with `take` holding
 * nothing. */
bool rg_pitch_take_sampling(const char *codec_path, const char *text, const rg_musicgen_config *mc,
                            const rg_pitch_take_options *o, rg_pitch_take *take,
                            rg_lm_sampling *sp, rg_error *err);
void rg_pitch_take_free(rg_pitch_take *take);

#endif
