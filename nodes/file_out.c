/* file_out: records what reaches it to a WAV or FLAC file. The audio thread
 * only copies into a lock-free ring; housekeeping, off the audio thread,
 * drains the ring to disk. */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>

#include "nodes/dsp.h"
#include "nodes/registry.h"
#include "runtime/audio_file.h"
#include "runtime/spsc_ring.h"

enum { P_PATH, P_FORMAT };

#define RING_SECONDS 10

typedef struct {
    rg_spsc_ring ring;          /* interleaved stereo float frames */
    float *scratch;             /* one block, interleaved; audio thread only */
    float *drain;               /* housekeeping's buffer */
    size_t drain_frames;
    rg_audio_writer *writer;
    rg_audio sum;               /* summed input; audio thread only */
    _Atomic long dropped;       /* frames lost because the disk fell behind */
    long dropped_reported;
    bool failed;
} file_out_state;

static const rg_port_def inputs[] = {
    {"in", RG_PORT_AUDIO, 2, 16, "what to record; several cables are summed"},
};
static const rg_param_def params[] = {
    [P_PATH] = {"path", RG_PARAM_STRING, 0, 0, 0, "", NULL, "file to write (.wav or .flac), relative to the patch file", true},
    [P_FORMAT] = {"format", RG_PARAM_ENUM, 0, 0, 0, "float", "float|s16|s24", "sample format (FLAC takes s16 or s24)", true},
};

static bool file_out_init(rg_node *n, const rg_host_info *host, rg_error *err)
{
    file_out_state *s = n->state;
    const char *path = n->params[P_PATH].str;
    if (!path || !path[0])
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "no file given (set path=\"take.wav\")");
    rg_sample_format fmt = RG_SAMPLE_FLOAT;
    rg_sample_format_parse(n->params[P_FORMAT].str, &fmt);
    char full[PATH_MAX];
    rg_resolve_path(host->base_dir, path, full, sizeof full);
    s->drain_frames = (size_t)host->max_block * 4;
    size_t ring_bytes = (size_t)(host->sample_rate * RING_SECONDS) * 2 * sizeof(float);
    s->sum.channels = 2;
    if (!rg_spsc_init(&s->ring, ring_bytes) ||
        !(s->scratch = malloc((size_t)host->max_block * 2 * sizeof(float))) ||
        !(s->drain = malloc(s->drain_frames * 2 * sizeof(float))) ||
        !(s->sum.ch[0] = malloc((size_t)host->max_block * sizeof(float))) ||
        !(s->sum.ch[1] = malloc((size_t)host->max_block * sizeof(float))))
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "out of memory");
    s->writer = rg_writer_open(full, 2, (int)host->sample_rate, fmt, err);
    return s->writer != NULL;
}

static void file_out_process(rg_node *n, const rg_process_ctx *ctx)
{
    file_out_state *s = n->state;
    rg_sum_inputs(n, 0, &s->sum, ctx->frames);
    for (int i = 0; i < ctx->frames; i++) {
        s->scratch[2 * i] = s->sum.ch[0][i];
        s->scratch[2 * i + 1] = s->sum.ch[1][i];
    }
    if (!rg_spsc_write(&s->ring, s->scratch, (size_t)ctx->frames * 2 * sizeof(float)))
        atomic_fetch_add_explicit(&s->dropped, ctx->frames, memory_order_relaxed);
}

static void file_out_housekeep(rg_node *n)
{
    file_out_state *s = n->state;
    size_t frame_bytes = 2 * sizeof(float);
    size_t frames;
    while (!s->failed && (frames = rg_spsc_readable(&s->ring) / frame_bytes) > 0) {
        if (frames > s->drain_frames)
            frames = s->drain_frames;
        rg_spsc_read(&s->ring, s->drain, frames * frame_bytes);
        rg_error err;
        if (!rg_writer_write(s->writer, s->drain, (int64_t)frames, &err)) {
            fprintf(stderr, "file_out '%s': %s (recording stopped)\n", n->name, err.message);
            s->failed = true;
        }
    }
    long dropped = atomic_load_explicit(&s->dropped, memory_order_relaxed);
    if (dropped != s->dropped_reported) {
        fprintf(stderr, "file_out '%s': disk too slow, %ld frames lost\n", n->name, dropped);
        s->dropped_reported = dropped;
    }
}

static void file_out_destroy(rg_node *n)
{
    file_out_state *s = n->state;
    if (s->writer) {
        file_out_housekeep(n);
        rg_error err;
        if (!rg_writer_close(s->writer, &err))
            fprintf(stderr, "file_out '%s': %s\n", n->name, err.message);
    }
    rg_spsc_free(&s->ring);
    free(s->scratch);
    free(s->drain);
    free(s->sum.ch[0]);
    free(s->sum.ch[1]);
}

const rg_node_type rg_node_file_out = {
    .name = "file_out",
    .doc = "Records its input to a WAV or FLAC file (written off the audio thread).",
    .inputs = inputs, .n_inputs = 1,
    .params = params, .n_params = 2,
    .state_size = sizeof(file_out_state),
    .init = file_out_init,
    .process = file_out_process,
    .housekeep = file_out_housekeep,
    .destroy = file_out_destroy,
};
