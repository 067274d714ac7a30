/* The codec's noise path (docs/models.md, "Noise path"): looped,
 * band-limited noise under per-band amplitude envelopes that the codec's
 * noise head reads from the latent. It plays the drums' high band, whose
 * quieter hits the convolutional decoder renders as a steady hiss.
 *
 * This is the synthesis only, on the host: a few multiply-adds a sample,
 * next to the decoder's convolutions (the head itself runs as convs on the
 * device, runtime/model/encodec.c). train/encodec_ref.py noise_synth is the
 * reference; the two agree to float rounding. */
#ifndef RG_MODEL_NOISE_PATH_H
#define RG_MODEL_NOISE_PATH_H

#include <stdint.h>

/* Envelopes are exp(min(head, RG_NOISE_MAX_LOG)): a head gone wrong cannot
 * blow up the output (encodec_ref.NOISE_MAX_LOG). */
#define RG_NOISE_MAX_LOG 2.0f

typedef struct {
    int bands;          /* noise_bands */
    int steps;          /* envelope points a frame; divides hop */
    int hop;            /* samples a frame */
    const float *table; /* [bands][length], unit-RMS band-limited noise */
    int64_t length;     /* noise_table_length */
} rg_noise_path;

/* audio[f * hop + j] += the noise path's sample j of take frame
 * first_frame + f, for f in [0, count), from the head output
 * head[bands * steps][cols] whose column col0 + f is that frame's (band b,
 * step s in row b * steps + s). Band b's amplitude is linear between its
 * steps' centres and held outside them within a frame; it multiplies
 * table[b][(frame * hop + j) mod length], the take's own noise, so a range
 * decode matches a whole one. */
void rg_noise_add(const rg_noise_path *np, const float *head, int64_t cols, int64_t col0,
                  int64_t first_frame, int64_t count, float *audio);

#endif
