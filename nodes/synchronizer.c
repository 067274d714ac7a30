/* synchronizer: puts a take on the transport's grid. When a new take
 * arrives on its input (from a decoder, or a file_in loop) it estimates the
 * take's tempo, downbeat and key, stretches it to the transport tempo, cuts
 * it to exactly `bars` bars with a seamless loop point, and plays it from
 * the next bar line, crossfading from the previous take. */
#include <stdio.h>

#include "nodes/registry.h"
#include "nodes/take_player.h"
#include "runtime/sync.h"

enum { P_BARS, P_HINT, P_CROSSFADE };

typedef struct {
    rg_take_player player;
    rg_sync_report report; /* of the last take, for reports and /take events */
} sync_state;

static const rg_port_def inputs[] = {
    {"in", RG_PORT_AUDIO, 2, 1, "takes to put on the grid (a decoder's or a file_in's)"},
};
static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 2, 0, "the take on the grid, looping, swapped at bar lines"},
};
static const rg_param_def params[] = {
    [P_BARS] = {"bars", RG_PARAM_INT, 4, 1, 256, NULL, NULL, "length of the loop in bars"},
    [P_HINT] = {"hint", RG_PARAM_FLOAT, 0, 0, 999, NULL, NULL,
                "tempo the take was made at (0: the take's own, else estimated)"},
    [P_CROSSFADE] = {"crossfade", RG_PARAM_FLOAT, 10, 1, 500, NULL, NULL,
                     "crossfade between takes and at the loop point, in ms", true},
};

static bool sync_init(rg_node *n, const rg_host_info *host, rg_error *err)
{
    sync_state *s = n->state;
    if (!rg_take_player_init(&s->player, host->sample_rate, n->params[P_CROSSFADE].num, true))
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "out of memory");
    return true;
}

static rg_data *synced_take(rg_audio_clip *clip, const rg_data *from, const rg_sync_options *opt,
                            rg_error *err)
{
    rg_data *d = rg_take_from_clip(clip, from, err);
    if (d) {
        d->tempo = opt->tempo;
        d->bars = opt->bars;
    }
    return d;
}

static bool sync_generate(rg_node *n, rg_job *job, rg_error *err)
{
    sync_state *s = n->state;
    rg_data *in = rg_node_read(n, 0, 0);
    if (!in)
        return true; /* nothing to put on the grid yet */
    if (in->kind != RG_DATA_AUDIO) {
        rg_data_unref(in);
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "its input carries no audio take");
    }
    const rg_audio_take *t = in->payload;
    rg_audio_clip clip = {t->samples, t->frames, t->channels, t->rate}, out;
    const rg_transport *tr = job->transport;
    double hint = n->params[P_HINT].num > 0 ? n->params[P_HINT].num : in->tempo;
    rg_sync_options opt = {.tempo = tr->tempo, .meter_num = tr->meter_num, .meter_den = tr->meter_den,
                           .rate = job->host->sample_rate, .bars = (int)n->params[P_BARS].num,
                           .tempo_hint = hint, .crossfade_ms = n->params[P_CROSSFADE].num};
    rg_data *d = NULL;
    if (rg_sync_take(&clip, &opt, &out, &s->report, err))
        d = synced_take(&out, in, &opt, err);
    rg_data_unref(in);
    if (!d)
        return false;
    rg_take_player_post(&s->player, d);
    rg_node_publish(n, 0, d);
    rg_job_report(job, n, 1.0);
    return true;
}

static void sync_describe(const rg_node *n, char *buf, int size)
{
    const sync_state *s = n->state;
    const rg_sync_report *r = &s->report;
    char key[32] = "no key found";
    if (r->key_found)
        rg_key_name(&r->key, key, sizeof key);
    if (r->source_tempo > 0)
        snprintf(buf, size, "take at %.2f bpm stretched x%.4f, first downbeat %.3f s, %s",
                 r->source_tempo, r->stretch_ratio, r->downbeat_s, key);
    else
        snprintf(buf, size, "no take yet");
}

static void sync_process(rg_node *n, const rg_process_ctx *ctx)
{
    sync_state *s = n->state;
    rg_take_player_play(&s->player, &n->out[0], ctx);
}

static void sync_housekeep(rg_node *n)
{
    sync_state *s = n->state;
    rg_take_player_housekeep(&s->player);
}

static void sync_destroy(rg_node *n)
{
    sync_state *s = n->state;
    rg_take_player_destroy(&s->player);
}

const rg_node_type rg_node_synchronizer = {
    .name = "synchronizer",
    .doc = "Puts takes on the grid: tempo, downbeat and key estimated, stretched to the "
           "transport tempo, cut to N bars, swapped in at the next bar line.",
    .inputs = inputs, .n_inputs = 1,
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 3,
    .state_size = sizeof(sync_state),
    .init = sync_init,
    .generate = sync_generate,
    .describe = sync_describe,
    .process = sync_process,
    .housekeep = sync_housekeep,
    .destroy = sync_destroy,
};
