/* Offline render: the graph run block by block as fast as it goes, the
 * output node written to a file. No JACK, no real-time thread. */
#ifndef RG_RENDER_H
#define RG_RENDER_H

#include <stdint.h>

#include "graph/graph.h"
#include "runtime/audio_file.h"

typedef struct {
    const char *out_path;
    double seconds;         /* length: seconds, or */
    double bars;            /* bars at the patch's tempo and meter (used when seconds <= 0) */
    int rate;               /* engine sample rate */
    int block;              /* frames per block */
    rg_sample_format format;
    const char *output_node; /* which output node; NULL for the first */
    const char *base_dir;   /* for relative paths in the patch */
    bool progress;          /* draw a progress bar on stderr */
    bool report;            /* print what each generating node made (tempo, key, ...) */
} rg_render_options;

#define RG_RENDER_DEFAULT_BARS 4

/* Frames a render of `opt` lasts, rounded to the nearest frame. */
int64_t rg_render_length(const rg_graph *g, const rg_render_options *opt);

bool rg_render(const rg_graph *g, const rg_render_options *opt, rg_error *err);

#endif
