#include "runtime/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "runtime/engine.h"
#include "runtime/generate.h"

int64_t rg_render_length(const rg_graph *g, const rg_render_options *opt)
{
    if (opt->seconds > 0)
        return llround(opt->seconds * opt->rate);
    double bars = opt->bars > 0 ? opt->bars : RG_RENDER_DEFAULT_BARS;
    return llround(bars * rg_bar_frames(g->tempo, g->meter_num, g->meter_den, opt->rate));
}

static void draw_progress(int64_t done, int64_t total)
{
    int width = 40, filled = total ? (int)(width * done / total) : width;
    fprintf(stderr, "\rrendering [%.*s%*s] %3d%%", filled,
            "########################################", width - filled, "",
            total ? (int)(100 * done / total) : 100);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int pick_output(rg_engine *e, const rg_graph *g, const rg_render_options *opt, rg_error *err)
{
    int idx = opt->output_node ? rg_engine_find_node(e, opt->output_node)
                               : rg_engine_find_type(e, "output");
    if (idx >= 0 && rg_engine_node(e, idx)->type->sink_channels > 0)
        return idx;
    if (opt->output_node)
        rg_error_set(err, RG_ERR_UNKNOWN_NODE, g->file, 0, 0, "no output node called '%s'",
                     opt->output_node);
    else
        rg_error_set(err, RG_ERR_UNKNOWN_NODE, g->file, 0, 0,
                     "the patch has no output node (add 'node out output' and a cable into out.in)");
    return -1;
}

/* Run the engine and stream the output node's sink into the writer. */
static bool run_blocks(rg_engine *e, rg_node *out, rg_audio_writer *w, int64_t total,
                       const rg_render_options *opt, rg_error *err)
{
    float *interleaved = malloc((size_t)opt->block * 2 * sizeof *interleaved);
    if (!interleaved)
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    int64_t done = 0, last_drawn = -1;
    bool ok = true;
    while (ok && done < total) {
        int frames = total - done < opt->block ? (int)(total - done) : opt->block;
        rg_engine_process(e, frames);
        rg_engine_housekeep(e);
        for (int i = 0; i < frames; i++) {
            interleaved[2 * i] = out->sink.ch[0][i];
            interleaved[2 * i + 1] = out->sink.ch[1][i];
        }
        ok = rg_writer_write(w, interleaved, frames, err);
        done += frames;
        if (opt->progress && (done == total || done - last_drawn >= opt->rate / 4)) {
            draw_progress(done, total);
            last_drawn = done;
        }
    }
    free(interleaved);
    return ok;
}

static void show_generation(rg_job *job, const rg_node *node, double fraction)
{
    (void)job;
    fprintf(stderr, "\rgenerating %-16s %3d%%%s", node->name, (int)(100 * fraction),
            fraction >= 1.0 ? "\n" : "");
    fflush(stderr);
}

/* Offline there is no hurry: every take is made before the first block, so
 * the render starts with the music, not with silence while models run. */
static bool generate_takes(rg_engine *e, const rg_host_info *host, const rg_render_options *opt,
                           rg_error *err)
{
    rg_job job = {.transport = rg_engine_transport(e), .host = host,
                  .on_progress = opt->progress ? show_generation : NULL};
    atomic_init(&job.cancel, false);
    bool ok = rg_engine_generate(e, &job, NULL, err);
    rg_engine_housekeep(e);
    for (int i = 0; ok && opt->report && i < rg_engine_node_count(e); i++) {
        rg_node *n = rg_engine_node(e, i);
        char line[512];
        if (n->type->describe) {
            n->type->describe(n, line, sizeof line);
            printf("%s: %s\n", n->name, line);
        }
    }
    return ok;
}

bool rg_render(const rg_graph *g, const rg_render_options *opt, rg_error *err)
{
    rg_host_info host = {.sample_rate = opt->rate, .max_block = opt->block, .base_dir = opt->base_dir};
    rg_engine *e = rg_engine_new(g, &host, err);
    if (!e)
        return false;
    if (!generate_takes(e, &host, opt, err)) {
        rg_engine_free(e);
        return false;
    }
    int out = pick_output(e, g, opt, err);
    rg_audio_writer *w = NULL;
    bool ok = out >= 0 && (w = rg_writer_open(opt->out_path, 2, opt->rate, opt->format, err));
    ok = ok && run_blocks(e, rg_engine_node(e, out), w, rg_render_length(g, opt), opt, err);
    rg_engine_free(e); /* first: file_out nodes flush on destroy */
    if (w && !rg_writer_close(w, ok ? err : NULL))
        ok = false;
    return ok;
}
