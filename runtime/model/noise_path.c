#include "runtime/model/noise_path.h"

#include <math.h>

/* The envelope of one band over one frame, from its `steps` points. */
static void frame_envelope(const rg_noise_path *np, const float *points, float *env)
{
    float amp[64];
    int steps = np->steps, run = np->hop / steps;
    for (int s = 0; s < steps; s++)
        amp[s] = expf(fminf(points[s], RG_NOISE_MAX_LOG));
    for (int j = 0; j < np->hop; j++) {
        float u = ((float)j + 0.5f) / (float)run - 0.5f;
        u = fminf(fmaxf(u, 0.0f), (float)(steps - 1));
        int s0 = (int)floorf(u), s1 = s0 + 1 < steps ? s0 + 1 : steps - 1;
        float w = u - (float)s0;
        env[j] = amp[s0] * (1.0f - w) + amp[s1] * w;
    }
}

void rg_noise_add(const rg_noise_path *np, const float *head, int64_t cols, int64_t col0,
                  int64_t first_frame, int64_t count, float *audio)
{
    float env[4096], points[64];
    for (int64_t f = 0; f < count; f++) {
        int64_t at = ((first_frame + f) * np->hop) % np->length;
        float *out = audio + f * np->hop;
        for (int b = 0; b < np->bands; b++) {
            for (int s = 0; s < np->steps; s++)
                points[s] = head[(int64_t)(b * np->steps + s) * cols + col0 + f];
            frame_envelope(np, points, env);
            const float *noise = np->table + (int64_t)b * np->length;
            int64_t i = at;
            for (int j = 0; j < np->hop; j++) {
                out[j] += env[j] * noise[i];
                if (++i == np->length)
                    i = 0;
            }
        }
    }
}
