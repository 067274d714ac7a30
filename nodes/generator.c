/* generator: conditioning (and optionally a take to continue) in, codec
 * tokens out. On the generation worker it runs MusicGen's decoder for the
 * take's length — `bars` at the tempo and meter of its `grid` input (else
 * the transport's), or `seconds` — with classifier-free guidance and
 * top-k/top-p/temperature sampling, and publishes the codes on `tokens` for
 * a decoder.
 *
 * The take is published when the job starts, as a growing take (graph/data.h)
 * of its whole length, and grows as the model finishes frames (a frame is
 * final once all its codebooks are, three steps after its first): a decoder
 * reading it decodes while the model runs, so audio can start before the
 * take ends. Progress is reported per decoding step; a newer request cancels
 * the run between steps, and a cancelled take is abandoned and the previous
 * one published again, so no half take stays on the port.
 *
 * `cond`: the conditioner's offer (runtime/model/cond.h). The generator
 * hears the text composed from it with its own `track` and the tempo, e.g.
 * "bass, dark minimal techno, 124 bpm"; the take carries that text.
 *
 * `context`: tokens of other takes (an encoder's, or a locked generator's).
 * A public MusicGen checkpoint hears one as an audio prompt: the new take
 * continues the last frames of the context (as many as fit in the model's
 * window next to the take) and only the new frames are published. A
 * track-aware checkpoint (ResonantGen's own, models/default) makes the role
 * named by `track` at the grid's tempo and hears every context take as a
 * locked track of the same song, starting on the same downbeat, in its
 * cross-attention memory after the text (docs/models.md).
 *
 * `key_lock`: with a pitch codec, the pitch row is sampled from the key the
 * generator's text names only (rg_pitch_key_lock; docs/generator.md, "Key
 * lock"). `pitch_temperature`: the pitch row's own temperature (notes held
 * longer below the others'; docs/generator.md, "Held notes").
 * `note_on_lock`: with a pitch codec, the pitch row starts notes on the
 * grid's 16ths only (rg_lm_sampling.note_on; docs/generator.md, "Note-on
 * lock"). `sustain_lock`: past a held note's attack (`sustain_attack` ms)
 * and a rest's release the take's other rows hold the codec's silence
 * codes, so the decoder's harmonic path alone sounds the note
 * (rg_pitch_sustain_frames, applied to each frame as it is published;
 * docs/generator.md, "Sustain lock"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <stdint.h>

#include "nodes/registry.h"
#include "runtime/model/cond.h"
#include "runtime/model/lm_slot.h"
#include "runtime/model/musicgen.h"
#include "runtime/model/pitch_code.h"
#include "runtime/model/tokens.h"

enum { IN_COND, IN_CONTEXT, IN_GRID };
enum { P_MODEL, P_TRACK, P_BARS, P_SECONDS, P_SEED, P_TEMPERATURE, P_TOP_K, P_TOP_P, P_GUIDANCE,
       P_LOCK, P_KEY_LOCK, P_PITCH_TEMPERATURE, P_NOTE_ON_LOCK,
       P_SUSTAIN_LOCK, P_SUSTAIN_ATTACK, P_COUNT };

typedef struct {
    rg_lm_slot lm;
    uint64_t takes; /* takes made, for fresh seeds */
} generator_state;

static const rg_port_def inputs[] = {
    [IN_COND] = {"cond", RG_PORT_COND, 0, 1,
                 "a conditioner's output; unconnected: unconditional generation"},
    [IN_CONTEXT] = {"context", RG_PORT_TOKENS, 0, RG_LM_MAX_TRACKS,
                    "MusicGen: one take to continue from (its audio prompt); a track-aware "
                    "model: the locked tracks this one hears, each with its maker's `track`"},
    [IN_GRID] = {"grid", RG_PORT_GRID, 0, 1,
                 "tempo and meter for `bars` and the prompt; unconnected: the transport's"},
};
static const rg_port_def outputs[] = {
    {"tokens", RG_PORT_TOKENS, 0, 0, "the take's codec tokens, for a decoder"},
};
static const rg_param_def params[] = {
    [P_MODEL] = {"model", RG_PARAM_STRING, 0, 0, 0, "", NULL,
                 "MusicGen checkpoint folder, relative to the patch file (the conditioner's); "
                 "empty: the shipped default model", true},
    [P_TRACK] = {"track", RG_PARAM_STRING, 0, 0, 0, "", NULL,
                 "what this track is (drums, bass, ...): the {track} of the conditioner's "
                 "template, so this generator hears its own text; with a track-aware model "
                 "(the default) also the role it makes"},
    [P_BARS] = {"bars", RG_PARAM_INT, 4, 1, 64, NULL, NULL,
                "take length in bars at the grid's tempo and meter (rounded up to whole frames)"},
    [P_SECONDS] = {"seconds", RG_PARAM_FLOAT, 0, 0, 60, NULL, NULL,
                   "take length in seconds; 0: use bars"},
    [P_SEED] = {"seed", RG_PARAM_INT, -1, -1, 999999, NULL, NULL,
                "sampling seed: the same seed, prompt and settings give the same take; "
                "-1: a new seed for every take (recorded with the take)"},
    [P_TEMPERATURE] = {"temperature", RG_PARAM_FLOAT, 1.0, 0, 4, NULL, NULL,
                       "sampling temperature; 0: always the most likely token"},
    [P_TOP_K] = {"top_k", RG_PARAM_INT, 250, 0, 100000, NULL, NULL,
                 "sample among the k most likely tokens (0: all)"},
    [P_TOP_P] = {"top_p", RG_PARAM_FLOAT, 0, 0, 1, NULL, NULL,
                 "nucleus sampling mass (0: off)"},
    [P_GUIDANCE] = {"guidance", RG_PARAM_FLOAT, 3.0, 0, 20, NULL, NULL,
                    "classifier-free guidance: how strongly the prompt steers (0: off)"},
    [P_LOCK] = {"lock", RG_PARAM_BOOL, 0, 0, 1, NULL, NULL,
                "keep this take when others regenerate"},
    [P_KEY_LOCK] = {"key_lock", RG_PARAM_BOOL, 0, 0, 1, NULL, NULL,
                    "with a pitch codec, sample the pitch row from the take's key only"},
    [P_PITCH_TEMPERATURE] = {"pitch_temperature", RG_PARAM_FLOAT, RG_PITCH_TEMPERATURE_DEFAULT, 0.05, 4,
                             NULL, NULL,
                             "with a pitch codec, the pitch row's temperature (the bass's notes): "
                             "lower holds notes longer; `temperature` 0 makes it greedy too"},
    [P_NOTE_ON_LOCK] = {"note_on_lock", RG_PARAM_BOOL, 0, 0, 1, NULL, NULL,
                        "with a pitch codec, start notes on the grid's 16ths only (bass attacks "
                        "on the grid)"},
    [P_SUSTAIN_LOCK] = {"sustain_lock", RG_PARAM_BOOL, 0, 0, 1, NULL, NULL,
                        "with a pitch codec, held notes sound on the harmonic path alone after "
                        "their attack (no stray attacks inside them); pitched tracks only "
                        "(refused on drums, which rest on the pitch row)"},
    [P_SUSTAIN_ATTACK] = {"sustain_attack", RG_PARAM_FLOAT, RG_SUSTAIN_ATTACK_MS_DEFAULT, 20, 2000,
                          NULL, NULL,
                          "ms of a held note the sustain lock leaves as generated: shorter puts "
                          "more onsets on the grid, longer keeps more of the texture words' sound"},
};

static bool generator_init(rg_node *n, const rg_host_info *host, rg_error *err) {
    generator_state *s = n->state;
    return rg_lm_slot_init(&s->lm, host->base_dir, n->params[P_MODEL].str, err);
}

/* The track role this generator makes (its `track` parameter), "" if none:
 * the {track} of its prompt. */
static const char *track_role(const rg_node *n) {
    return n->params[P_TRACK].str ? n->params[P_TRACK].str : "";
}

/* Tempo and meter the take is made for: a value on the `grid` input, else
 * the transport's, else 120 bpm 4/4. */
static rg_transport take_grid(const rg_node *n, const rg_job *job) {
    rg_transport t = {.tempo = 120, .meter_num = 4, .meter_den = 4};
    if (job && job->transport) t = *job->transport;
    rg_data *d = n->n_in_cables[IN_GRID] ? rg_node_read(n, IN_GRID, 0) : NULL;
    const rg_grid *g = rg_data_grid(d);
    if (g && g->tempo > 0 && g->meter_num > 0 && g->meter_den > 0) {
        t.tempo = g->tempo;
        t.meter_num = g->meter_num;
        t.meter_den = g->meter_den;
    }
    rg_data_unref(d);
    if (!(t.tempo > 0)) t.tempo = 120;
    if (t.meter_num <= 0 || t.meter_den <= 0) t.meter_num = t.meter_den = 4;
    return t;
}

/* Seconds of the take: `seconds`, else `bars` at the grid's tempo. */
static double take_seconds(const rg_node *n, const rg_transport *grid) {
    if (n->params[P_SECONDS].num > 0) return n->params[P_SECONDS].num;
    return n->params[P_BARS].num * grid->meter_num * (60.0 / grid->tempo) * (4.0 / grid->meter_den);
}

/* Frames for `seconds`, rounded up so the take covers all of it (the
 * synchronizer cuts it to the bar); a hair of float error does not add a
 * frame. */
static int take_frames(double seconds, const rg_musicgen_config *c) {
    double frames = seconds * c->sample_rate / c->hop;
    return frames > 2e9 ? INT32_MAX : (int)ceil(frames - 1e-6);
}

static uint64_t take_seed(const rg_node *n, generator_state *s) {
    if (n->params[P_SEED].num >= 0) return (uint64_t)n->params[P_SEED].num;
    uint64_t t = (uint64_t)time(NULL);
    return (t * 0x9e3779b97f4a7c15ULL) ^ (++s->takes * 0xbf58476d1ce4e5b9ULL) ^ (uintptr_t)s;
}

/* The conditioning on the `cond` input as the model's (len 0 if none), and
 * the text it is of: the conditioner's prompt composed with this track and
 * the grid's tempo, encoded by the conditioner's bank unless it was before. */
static bool read_cond(rg_node *n, generator_state *s, rg_musicgen *m, const rg_transport *grid,
                      rg_lm_cond *out, char *text, size_t size, rg_error *err) {
    *out = (rg_lm_cond){0};
    rg_data *d = n->n_in_cables[IN_COND] ? rg_node_read(n, IN_COND, 0) : NULL;
    const rg_cond *c = rg_data_cond(d);
    rg_cond_states states;
    bool ok = true;
    if (d && !c) ok = rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "its cond input carries no conditioning");
    else if (c && strcmp(c->model, s->lm.path) != 0)
        ok = rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                          "its conditioning was made by %s, but it runs %s (use one model)",
                          c->model, s->lm.path);
    else if (c)
        ok = rg_cond_text(c, track_role(n), grid, text, size, err) &&
             rg_cond_states_for(c, m, text, &states, err) &&
             rg_musicgen_condition_states(m, states.states, states.len, out, err);
    rg_data_unref(d);
    return ok;
}

/* Whether `tk` is in this model's codec. */
static bool same_codec(const rg_tokens *tk, const rg_musicgen_config *c, rg_error *err) {
    if (tk && tk->n_codebooks == c->codebooks && (int)tk->codebook_size == c->card &&
        (int)tk->sample_rate == c->sample_rate && (int)tk->hop_length == c->hop)
        return true;
    return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                        "its context is not %d codebooks of %d codes at %d Hz / hop %d "
                        "(this model's codec)",
                        c->codebooks, c->card, c->sample_rate, c->hop);
}

/* Frames of a tokens take that may be read now: all of a finished take,
 * the ready ones of a growing take, none of an abandoned one. */
static int readable_frames(const rg_data *d, const rg_tokens *tk) {
    switch (rg_data_growth(d)) {
    case RG_GROWTH_GROWING: return (int)rg_data_ready(d);
    case RG_GROWTH_ABANDONED: return 0;
    default: return (int)tk->frames;
    }
}

/* The take on the `context` input (referenced), if it is in this model's
 * codec; *out is NULL when nothing is connected or published yet. */
static bool read_context(rg_node *n, const rg_musicgen *m, rg_data **out, rg_error *err) {
    *out = NULL;
    if (n->n_in_cables[IN_CONTEXT] > 1)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "a MusicGen checkpoint continues one take, but %d are patched to "
                            "its context (several locked tracks need a track-aware model)",
                            n->n_in_cables[IN_CONTEXT]);
    rg_data *d = n->n_in_cables[IN_CONTEXT] ? rg_node_read(n, IN_CONTEXT, 0) : NULL;
    if (!d) return true;
    if (!same_codec(rg_data_tokens(d), rg_musicgen_get_config(m), err)) {
        rg_data_unref(d);
        return false;
    }
    *out = d;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Track-aware models (ResonantGen's own checkpoints, docs/models.md): the  */
/* generator makes the role named by its `track`, at the grid's tempo, and */
/* hears every take on `context` as a locked track of the song, each with  */
/* the role of the node that made it. Nothing is continued.                */
/* ------------------------------------------------------------------------ */

/* "drums, bass, chords, lead": the roles a track-aware model knows. */
static void role_list(const rg_musicgen *m, char *out, size_t size) {
    out[0] = '\0';
    for (int i = 0; i < rg_musicgen_track_roles(m); i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? ", " : "",
                 rg_musicgen_track_role_name(m, i));
}

/* The role index of `track`, or an error; `prefix` says whose track it is
 * ("" for this generator's own). */
static bool find_role(const rg_musicgen *m, const char *track, const char *prefix, int *role,
                      rg_error *err) {
    *role = rg_musicgen_track_role(m, track ? track : "");
    if (*role >= 0) return true;
    char roles[256];
    role_list(m, roles, sizeof roles);
    if (!track || !track[0])
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "%sno track (set track= to one of this model's roles: %s)", prefix,
                            roles);
    return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                        "%strack '%s' is not a role of this model (%s)", prefix, track, roles);
}

/* The `track` parameter of the node feeding context cable `cable`; NULL
 * when that node has none (an encoder). */
static const char *context_track(const rg_node *n, int cable) {
    const rg_node *src = n->data_in[IN_CONTEXT][cable].node;
    int p = rg_node_type_param(src->type, "track");
    return p >= 0 && src->type->params[p].type == RG_PARAM_STRING ? src->params[p].str : NULL;
}

/* The locked tracks on `context`: tracks[i] reads the first `frames` (at
 * most) frames of held[i] (referenced; the caller releases them): the part
 * that sounds with the new take, which is how the model was trained.
 * Abandoned or empty takes are left out. */
static bool read_tracks(rg_node *n, const rg_musicgen *m, int frames, rg_data **held,
                        rg_lm_track *tracks, int *n_tracks, rg_error *err) {
    *n_tracks = 0;
    for (int c = 0; c < n->n_in_cables[IN_CONTEXT] && c < RG_LM_MAX_TRACKS; c++) {
        rg_data *d = rg_node_read(n, IN_CONTEXT, c);
        const rg_tokens *tk = rg_data_tokens(d);
        int heard = d && tk ? readable_frames(d, tk) : 0;
        if (heard > frames) heard = frames;
        const rg_node *src = n->data_in[IN_CONTEXT][c].node;
        const char *track = context_track(n, c);
        char whose[300];
        snprintf(whose, sizeof whose, "its context from '%s': ", src->name);
        int role = -1;
        bool ok = !d || (same_codec(tk, rg_musicgen_get_config(m), err) &&
                         (track ? find_role(m, track, whose, &role, err)
                                : rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                                               "%sthe %s node has no track, so the role of its take is "
                                               "unknown (patch a generator's tokens here)",
                                               whose, src->type->name)));
        if (!ok) {
            rg_data_unref(d);
            return false;
        }
        if (heard <= 0) {
            rg_data_unref(d);
            continue;
        }
        held[*n_tracks] = d;
        tracks[(*n_tracks)++] = (rg_lm_track){role, tk->codes, heard, tk->frames};
    }
    return true;
}

/* Replace *cond (the text) by the track-aware condition of this node's role
 * at `bpm`, in the key and with the tags `text_said` names (the text *cond
 * encodes), for a take of `frames`, hearing the locked tracks on
 * `context`. */
static bool track_condition(rg_node *n, rg_musicgen *m, double bpm, const char *text_said,
                            int frames, rg_lm_cond *cond, rg_error *err) {
    int role, n_tracks = 0;
    rg_data *held[RG_LM_MAX_TRACKS];
    rg_lm_track tracks[RG_LM_MAX_TRACKS];
    rg_lm_cond text = *cond;
    if (!find_role(m, track_role(n), "", &role, err) ||
        !read_tracks(n, m, frames, held, tracks, &n_tracks, err))
        return false;
    bool ok = rg_musicgen_condition_track(m, &text, role, (float)bpm, text_said, tracks, n_tracks,
                                          cond, err);
    for (int i = 0; i < n_tracks; i++) rg_data_unref(held[i]);
    if (ok) rg_lm_cond_free(&text);
    else *cond = text;
    return ok;
}

/* A growing tokens take: the model's codes are copied into it, frame by
 * frame as they become final, then its ready count is raised. */
typedef struct {
    rg_node *node;
    rg_job *job;
    rg_data *take;
    const int32_t *codes; /* the model's [K][total], context first */
    int codebooks, total;
    int skip;   /* context frames that are not part of the take */
    int copied; /* take frames copied so far */
    const rg_pitch_sustain *sustain; /* applied to each frame as it is copied */
} progress_ctx;

static bool on_progress(void *user, int done, int total) {
    progress_ctx *p = user;
    rg_tokens *tk = p->take->payload;
    int made = done - p->skip, all = total - p->skip;
    if (made > p->copied) {
        for (int k = 0; k < p->codebooks; k++)
            memcpy(tk->codes + (size_t)k * tk->frames + p->copied,
                   p->codes + (size_t)k * p->total + p->skip + p->copied,
                   (size_t)(made - p->copied) * sizeof *tk->codes);
        rg_pitch_sustain_frames(p->sustain, p->codebooks, tk->codes, tk->frames, p->copied, made);
        p->copied = made;
        rg_data_grow(p->take, made); /* after the copy: readers see whole frames */
    }
    rg_job_report(p->job, p->node, made <= 0 ? 0.0 : (double)made / all);
    return !rg_job_cancelled(p->job);
}

/* An empty take of `frames` frames in this model's codec, growing. */
static rg_data *growing_tokens(const rg_musicgen *m, int frames, rg_error *err) {
    const rg_musicgen_config *c = rg_musicgen_get_config(m);
    rg_tokens *tk = calloc(1, sizeof *tk);
    int32_t *codes = calloc((size_t)c->codebooks * frames, sizeof *codes);
    if (!tk || !codes) {
        free(tk);
        free(codes);
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    snprintf(tk->codec, sizeof tk->codec, "encodec");
    tk->sample_rate = (uint32_t)c->sample_rate;
    tk->hop_length = (uint32_t)c->hop;
    tk->codebook_size = (uint32_t)c->card;
    tk->n_codebooks = c->codebooks;
    tk->channels = 1;
    tk->frames = frames;
    tk->samples = (int64_t)frames * c->hop;
    tk->codes = codes;
    rg_data *d = rg_tokens_data(tk);
    if (!d) {
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    rg_data_begin_growth(d, frames);
    return d;
}

static rg_lm_sampling sampling(const rg_node *n) {
    return (rg_lm_sampling){.guidance = (float)n->params[P_GUIDANCE].num,
                            .temperature = (float)n->params[P_TEMPERATURE].num,
                            .top_k = (int)n->params[P_TOP_K].num,
                            .top_p = (float)n->params[P_TOP_P].num};
}

/* Run the model into the growing `take`: its frames after what fits of the
 * context. */
static bool run_model(rg_node *n, rg_job *job, rg_musicgen *m, const rg_lm_cond *cond,
                      const rg_tokens *ctx_tk, rg_data *take, const rg_lm_sampling *sp,
                      const rg_pitch_sustain *sustain, rg_error *err) {
    const rg_musicgen_config *c = rg_musicgen_get_config(m);
    int frames = (int)((rg_tokens *)take->payload)->frames;
    int room = rg_musicgen_max_frames(m) - frames;
    int skip = ctx_tk ? (int)(ctx_tk->frames < room ? ctx_tk->frames : room) : 0;
    int total = frames + skip;
    int32_t *codes = malloc((size_t)c->codebooks * total * sizeof *codes);
    int32_t *ctx = skip ? malloc((size_t)c->codebooks * skip * sizeof *ctx) : NULL;
    if (!codes || (skip && !ctx)) {
        free(codes);
        free(ctx);
        return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    }
    for (int k = 0; skip && k < c->codebooks; k++) /* the context's last `skip` frames */
        memcpy(ctx + (size_t)k * skip, ctx_tk->codes + (size_t)k * ctx_tk->frames + (ctx_tk->frames - skip),
               (size_t)skip * sizeof *ctx);
    rg_lm_context context = {ctx, skip};
    progress_ctx pc = {n, job, take, codes, c->codebooks, total, skip, 0, sustain};
    rg_error run_err = {0};
    bool ok = rg_musicgen_generate(m, cond, sp, skip ? &context : NULL, total, on_progress, &pc,
                                   codes, &run_err);
    if (ok) /* every frame is final now, whatever progress last said */
        on_progress(&pc, total, total);
    else if (!rg_job_cancelled(job)) /* a cancelled run returns with err unset */
        *err = run_err;
    free(codes);
    free(ctx);
    return ok;
}

/* Publish `take` while it grows; on failure or cancel abandon it and put
 * back what was published before. */
static bool make_take(rg_node *n, rg_job *job, rg_musicgen *m, const rg_lm_cond *cond,
                      const rg_tokens *ctx, rg_data *take, const rg_lm_sampling *sp,
                      const rg_pitch_sustain *sustain, rg_error *err) {
    rg_data *before = rg_node_published(n, 0);
    rg_node_publish(n, 0, rg_data_ref(take));
    if (!run_model(n, job, m, cond, ctx, take, sp, sustain, err)) {
        rg_data_abandon(take);
        rg_node_publish(n, 0, before);
        return false;
    }
    rg_data_complete(take);
    rg_data_unref(before);
    return true;
}

static bool generator_generate(rg_node *n, rg_job *job, rg_error *err) {
    generator_state *s = n->state;
    rg_musicgen *m;
    if (!rg_lm_slot_model(&s->lm, &m, err)) return false;
    const rg_musicgen_config *c = rg_musicgen_get_config(m);
    rg_transport grid = take_grid(n, job);
    double seconds = take_seconds(n, &grid);
    int frames = take_frames(seconds, c);
    if (frames < 1 || frames > rg_musicgen_max_frames(m))
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "a take of %.2f s is %d frames; this model makes 1..%d (%.1f s)",
                            seconds, frames, rg_musicgen_max_frames(m),
                            (double)rg_musicgen_max_frames(m) * c->hop / c->sample_rate);
    char text[512] = "";
    rg_lm_cond cond;
    rg_data *ctx = NULL, *take = NULL;
    rg_pitch_take pitch = {0};
    if (n->params[P_SUSTAIN_LOCK].num != 0 && strcmp(track_role(n), "drums") == 0)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                            "sustain_lock is for pitched tracks: drums rest on the pitch row, so "
                            "all but the first 40 ms of the take would fall silent");
    if (!read_cond(n, s, m, &grid, &cond, text, sizeof text, err)) return false;
    bool track_aware = rg_musicgen_track_roles(m) > 0;
    bool inputs_ok = track_aware ? track_condition(n, m, grid.tempo, text, frames, &cond, err)
                                 : read_context(n, m, &ctx, err);
    rg_lm_sampling sp = sampling(n);
    /* the pitch row's locks and temperature, for the codec of the model's folder */
    rg_pitch_take_options po = {.key_lock = n->params[P_KEY_LOCK].num != 0,
                                .pitch_temperature = (float)n->params[P_PITCH_TEMPERATURE].num,
                                .note_on_lock = n->params[P_NOTE_ON_LOCK].num != 0,
                                .sustain_lock = n->params[P_SUSTAIN_LOCK].num != 0,
                                .sustain_attack_ms = (float)n->params[P_SUSTAIN_ATTACK].num,
                                .bpm = (float)grid.tempo, .frames = frames};
    if (!inputs_ok || !rg_pitch_take_sampling(s->lm.path, text, c, &po, &pitch, &sp, err) ||
        !(take = growing_tokens(m, frames, err))) {
        rg_pitch_take_free(&pitch);
        rg_data_unref(ctx);
        rg_lm_cond_free(&cond);
        return false;
    }
    uint64_t seed = sp.seed = take_seed(n, s);
    snprintf(take->prompt, sizeof take->prompt, "%s", text);
    take->seed = seed;
    take->tempo = grid.tempo;
    take->bars = n->params[P_SECONDS].num > 0 ? 0 : (int)n->params[P_BARS].num;
    bool ok = make_take(n, job, m, &cond, rg_data_tokens(ctx), take, &sp, &pitch.sustain, err);
    rg_pitch_take_free(&pitch);
    rg_data_unref(take);
    rg_data_unref(ctx);
    rg_lm_cond_free(&cond);
    if (ok) rg_job_report(job, n, 1.0);
    return ok;
}

static void generator_process(rg_node *n, const rg_process_ctx *ctx) {
    (void)n;
    (void)ctx; /* tokens are a generation value; a decoder plays them */
}

static void generator_destroy(rg_node *n) {
    generator_state *s = n->state;
    rg_lm_slot_free(&s->lm);
}

const rg_node_type rg_node_generator = {
    .name = "generator",
    .doc = "Generates a take of codec tokens with MusicGen from a conditioner's prompt for its "
           "`track`, optionally continuing another take, for `bars` at the grid's tempo or "
           "`seconds`; the take grows while it is made, so a decoder can start on it.",
    .inputs = inputs, .n_inputs = 3,
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = P_COUNT,
    .state_size = sizeof(generator_state),
    .init = generator_init,
    .generate = generator_generate,
    .process = generator_process,
    .destroy = generator_destroy,
};
