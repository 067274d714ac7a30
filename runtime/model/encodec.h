/* EnCodec on the tensor runtime, as the Hugging Face checkpoints define it
 * (facebook/encodec_24khz, facebook/encodec_32khz, and the `audio_encoder.`
 * part of MusicGen checkpoints).
 *
 *   encode: audio [channels, samples] -> SEANet encoder -> latent [D, T]
 *           -> residual vector quantisation -> codes [Q, T] (int32)
 *   decode: codes -> sum of codebook rows (z) -> SEANet decoder
 *           -> audio [channels, T * hop]
 *           (+ the harmonic bass path's oscillator bank driven by z, when
 *           the checkpoint has one: docs/models.md)
 *
 * With a pitch codebook (docs/models.md "Pitch codebook") a code matrix has
 * one more row, the last: a semitone per frame, found by YIN on encode,
 * setting the oscillator bank's f0 on decode. A "row" below is any row, a
 * "codebook" an RVQ one.
 *
 * T = ceil(samples / hop). Decoded audio is always a whole number of frames
 * long; callers trim it to the length they encoded.
 *
 * A model belongs to the thread that owns its device (see tensor.h).
 */
#ifndef RG_ENCODEC_H
#define RG_ENCODEC_H

#include <stdbool.h>
#include <stdint.h>

#include "graph/error.h"

typedef struct rg_device rg_device;
typedef struct rg_encodec rg_encodec;

#define RG_ENCODEC_MAX_RATIOS 8
#define RG_ENCODEC_MAX_BANDWIDTHS 16

/* config.json fields, with EncodecConfig's defaults when absent. */
typedef struct {
    int sampling_rate;
    int audio_channels;
    int num_filters;
    int hidden_size;      /* latent dimension D */
    int codebook_size;    /* N */
    int codebook_dim;     /* must equal hidden_size (no projection) */
    int ratios[RG_ENCODEC_MAX_RATIOS]; /* upsampling_ratios, decoder order */
    int n_ratios;
    int kernel_size, last_kernel_size, residual_kernel_size;
    int num_residual_layers;
    int dilation_growth_rate;
    int compress;
    int num_lstm_layers;
    bool causal;          /* use_causal_conv */
    bool reflect;         /* pad_mode == "reflect" (else zeros) */
    bool conv_shortcut;   /* use_conv_shortcut */
    double trim_right_ratio;
    double bandwidths[RG_ENCODEC_MAX_BANDWIDTHS]; /* target_bandwidths, kbps */
    int n_bandwidths;
    /* The harmonic bass path (a ResonantGen extension, docs/models.md):
     * harmonic_bins K > 0 adds harmonic_synth(harmonic_head(z)) to the
     * decoder's output; 0 (or absent) is plain EnCodec. Mono only.
     * harmonic_hidden H > 0 makes the head two 1x1 convs with an ELU
     * between, through H hidden units; 0 (or absent) is one 1x1 conv. */
    int harmonic_bins, harmonic_hidden;
    double harmonic_f0_min, harmonic_f0_max; /* Hz, defaults 25 and 800 */
    /* The pitch codebook (an extension of the harmonic path; needs
     * harmonic_bins > 0): code 0 no pitch, c in 1..pitch_notes MIDI note
     * pitch_midi_min + c - 1 (runtime/model/pitch_code.h). */
    bool pitch_codebook;
    int pitch_midi_min, pitch_notes; /* defaults 24 and 48 */
    /* derived */
    int hop_length;       /* product of ratios */
    int frame_rate;       /* ceil(sampling_rate / hop_length), frames per second */
    int num_quantizers;   /* codebooks in the checkpoint */
    int num_codebooks;    /* code rows: num_quantizers, + 1 with a pitch codebook */
} rg_encodec_config;

/* Load a model folder, a .safetensors file (config.json beside it) or a
 * MusicGen folder, and upload its weights to `dev`. */
bool rg_encodec_load(const char *path, rg_device *dev, rg_encodec **out, rg_error *err);
void rg_encodec_free(rg_encodec *m);

/* Read and check config.json (and that the weights open) without loading
 * anything onto a device: the cheap check a node does when a patch loads. */
bool rg_encodec_probe(const char *path, rg_encodec_config *cfg, rg_error *err);

const rg_encodec_config *rg_encodec_get_config(const rg_encodec *m);

/* Code rows used at `kbps`: HF's rule picks the codebooks (floor(kbps*1000
 * / (log2(N) * frame rate)), at least 1, at most all), and with all of them
 * the pitch row follows; kbps <= 0 means all rows (num_codebooks). A pitch
 * codec refuses fewer rows (rg_encodec_check_rows). */
int rg_encodec_codebooks_for_bandwidth(const rg_encodec_config *cfg, double kbps);

/* Whether codes of `rows` rows suit the codec: 1..num_quantizers; with a
 * pitch codebook exactly num_codebooks (fewer codebooks, a lower
 * bandwidth, do not combine with the pitch row). The error names `what`. */
bool rg_encodec_check_rows(const rg_encodec_config *cfg, int rows, const char *what,
                           rg_error *err);

/* Frames for `samples` samples: ceil(samples / hop). */
int64_t rg_encodec_frames(const rg_encodec_config *cfg, int64_t samples);

/* Encoder output before quantisation: latent [hidden_size, frames]. */
bool rg_encodec_latent(rg_encodec *m, const float *audio, int64_t samples, float *latent,
                       rg_error *err);

/* audio: planar [audio_channels][samples] at sampling_rate. codes receives
 * [n_q][frames], n_q rows as rg_encodec_check_rows allows (with a pitch
 * codebook, the last is the pitch row). */
bool rg_encodec_encode(rg_encodec *m, const float *audio, int64_t samples, int n_q,
                       int32_t *codes, rg_error *err);

/* codes [n_q][frames] -> audio [audio_channels][frames * hop_length].
 * A code outside [0, codebook_size) is an error naming it. */
bool rg_encodec_decode(rg_encodec *m, const int32_t *codes, int n_q, int64_t frames,
                       float *audio, rg_error *err);

/* Encode frames [start, start + count) of `samples` samples of audio
 * (planar [audio_channels][samples]), seeing at most `context` frames of
 * audio on each side; codes receives [n_q][count]. With context >= the
 * number of frames this equals the matching codes of rg_encodec_encode; with
 * less, codes near the edges can differ. Lets long files be encoded in
 * pieces of bounded memory. */
bool rg_encodec_encode_range(rg_encodec *m, const float *audio, int64_t samples, int n_q,
                             int64_t start, int64_t count, int64_t context, int32_t *codes,
                             rg_error *err);

/* Decode frames [start, start + count) of a take of `frames` frames, seeing
 * at most `context` frames of codes on each side, into
 * audio [audio_channels][count * hop_length]. With context >= frames this
 * equals the matching part of rg_encodec_decode; with less, the edges differ
 * slightly (the decoder's LSTM and convolutions see less), which is what lets
 * a player start on the first chunk of a long take before the rest is
 * decoded. codes is the whole take, [n_q][frames], of which frames
 * start - context .. start + count + context are read (from frame 0 with
 * the harmonic bass path, whose phase runs through every earlier frame: its
 * part of the audio does not depend on the context). */
bool rg_encodec_decode_range(rg_encodec *m, const int32_t *codes, int n_q, int64_t frames,
                             int64_t start, int64_t count, int64_t context, float *audio,
                             rg_error *err);

#endif
