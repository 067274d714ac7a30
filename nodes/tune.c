/* tune: pulls each take's pitched notes onto a key's scale (pitch
 * correction, runtime/scale_tune.h) and plays it like the take it came
 * from. The key is the node's `key`, or else the one the take's own text
 * names ("bass, 120 bpm, A minor, dark techno"), so a generator's take is
 * tuned to the key it was asked for. A take with no key to go by plays
 * unchanged, and `describe` says so. */
#include <stdio.h>

#include "nodes/registry.h"
#include "nodes/take_player.h"
#include "runtime/model/musicgen.h"
#include "runtime/scale_tune.h"

enum { P_KEY, P_CROSSFADE };

typedef struct {
    rg_take_player player;
    char last[96]; /* what happened to the last take, for describe */
} tune_state;

static const rg_port_def inputs[] = {
    {"in", RG_PORT_AUDIO, 2, 1, "takes to tune (a decoder's or a file_in's)"},
};
static const rg_port_def outputs[] = {
    {"out", RG_PORT_AUDIO, 2, 0, "the tuned take, looping, swapped at bar lines"},
};
static const rg_param_def params[] = {
    [P_KEY] = {"key", RG_PARAM_STRING, 0, 0, 0, "", NULL,
               "the key to tune to, e.g. \"A minor\" or \"F# dorian\" (empty: the key the take's "
               "text names; a take without one plays unchanged)"},
    [P_CROSSFADE] = {"crossfade", RG_PARAM_FLOAT, 10, 1, 500, NULL, NULL,
                     "crossfade between takes, in ms", true},
};

static bool tune_init(rg_node *n, const rg_host_info *host, rg_error *err)
{
    tune_state *s = n->state;
    rg_lm_key key;
    const char *named = n->params[P_KEY].str;
    if (named && named[0] && !rg_lm_key_from_text(named, &key))
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "key=\"%s\" names no key: write a note and a mode, e.g. \"A minor\"", named);
    snprintf(s->last, sizeof s->last, "no take yet");
    if (!rg_take_player_init(&s->player, host->sample_rate, n->params[P_CROSSFADE].num, true))
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "out of memory");
    return true;
}

/* The key to tune `take` to: the parameter's, else its text's. */
static bool key_for(const rg_node *n, const rg_data *take, rg_lm_key *key, rg_error *err)
{
    const char *named = n->params[P_KEY].str;
    if (named && named[0]) {
        if (rg_lm_key_from_text(named, key))
            return true;
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "key=\"%s\" names no key: write a note and a mode, e.g. \"A minor\"", named);
    }
    if (!rg_lm_key_from_text(take->prompt, key))
        *key = (rg_lm_key){0};
    return true;
}

/* "A B C D E F G": the scale's notes from its tonic. */
static void scale_notes(const rg_lm_key *key, char *buf, int size)
{
    static const char *const names[12] = {"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"};
    int len = 0;
    buf[0] = '\0';
    for (int i = 0; i < 12 && len < size; i++) {
        int pc = (key->root + i) % 12;
        if (key->scale >> pc & 1u)
            len += snprintf(buf + len, (size_t)(size - len), "%s%s", len ? " " : "", names[pc]);
    }
}

static bool tune_generate(rg_node *n, rg_job *job, rg_error *err)
{
    tune_state *s = n->state;
    rg_data *in = rg_node_read(n, 0, 0);
    if (!in)
        return true;
    if (in->kind != RG_DATA_AUDIO) {
        rg_data_unref(in);
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "its input carries no audio take");
    }
    rg_lm_key key;
    if (!key_for(n, in, &key, err)) {
        rg_data_unref(in);
        return false;
    }
    rg_data *out = in; /* no key: the take itself, with read's reference */
    if (key.scale) {
        const rg_audio_take *t = in->payload;
        rg_audio_clip clip = {t->samples, t->frames, t->channels, t->rate}, tuned;
        rg_scale scale = {key.root, key.scale};
        rg_tune_report report;
        out = rg_tune_to_scale(&clip, &scale, &tuned, &report, err) ? rg_take_from_clip(&tuned, in, err) : NULL;
        rg_data_unref(in);
        if (!out)
            return false;
        char notes[40];
        scale_notes(&key, notes, sizeof notes);
        snprintf(s->last, sizeof s->last, "tuned to %s: %.0f%% pitched, median shift %.0f cents", notes,
                 100.0 * report.voiced_share, report.median_shift_cents);
    } else {
        snprintf(s->last, sizeof s->last, "the take's text names no key: played unchanged");
    }
    rg_take_player_post(&s->player, out); /* takes its own reference */
    rg_node_publish(n, 0, out);           /* takes over ours */
    rg_job_report(job, n, 1.0);
    return true;
}

static void tune_describe(const rg_node *n, char *buf, int size)
{
    const tune_state *s = n->state;
    snprintf(buf, size, "%s", s->last);
}

static void tune_process(rg_node *n, const rg_process_ctx *ctx)
{
    tune_state *s = n->state;
    rg_take_player_play(&s->player, &n->out[0], ctx);
}

static void tune_housekeep(rg_node *n)
{
    tune_state *s = n->state;
    rg_take_player_housekeep(&s->player);
}

static void tune_destroy(rg_node *n)
{
    tune_state *s = n->state;
    rg_take_player_destroy(&s->player);
}

const rg_node_type rg_node_tune = {
    .name = "tune",
    .doc = "Pitch correction: moves each pitched moment of a take to the nearest note of a key's "
           "scale (the node's key, or the one the take's text names), keeping its timing.",
    .inputs = inputs, .n_inputs = 1,
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 2,
    .state_size = sizeof(tune_state),
    .init = tune_init,
    .generate = tune_generate,
    .describe = tune_describe,
    .process = tune_process,
    .housekeep = tune_housekeep,
    .destroy = tune_destroy,
};
