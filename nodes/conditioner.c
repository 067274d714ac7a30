/* conditioner: text in (its `prompt`), conditioning out, for every generator
 * patched to it. Each generator hears its own text, composed by the
 * conditioner's `template` from the global prompt, the generator's `track`
 * and the transport (runtime/prompt.h, runtime/model/cond.h): the drums
 * generator hears "drums, dark minimal techno, 124 bpm, A minor" and the
 * bass one "bass, dark minimal techno, 124 bpm, A minor".
 *
 * What it publishes on `cond` is its side of that composition (prompt,
 * template, key) and a bank of encoded texts it shares with every value it
 * publishes: a text is tokenised with the checkpoint's spiece.model and run
 * through the T5 encoder and MusicGen's enc_to_dec_proj the first time a
 * generator asks for it, and never again while it is in the bank. A new
 * prompt or template publishes a new value (so the generators make new
 * takes); a new take with the same prompt encodes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/registry.h"
#include "runtime/model/cond.h"
#include "runtime/model/lm_slot.h"
#include "runtime/prompt.h"

enum { P_MODEL, P_PROMPT, P_TEMPLATE, P_KEY, P_COUNT };

typedef struct {
    rg_lm_slot lm;
    rg_cond_bank *bank;
} conditioner_state;

static const rg_port_def outputs[] = {
    {"cond", RG_PORT_COND, 0, 0, "the prompt's conditioning, for generators' `cond` inputs"},
};
static const rg_param_def params[] = {
    [P_MODEL] = {"model", RG_PARAM_STRING, 0, 0, 0, "", NULL,
                 "MusicGen checkpoint folder (model.safetensors, config.json, spiece.model), "
                 "relative to the patch file; empty: the shipped default model", true},
    [P_PROMPT] = {"prompt", RG_PARAM_STRING, 0, 0, 0, "", NULL,
                  "what the music should be (the {prompt} of the template); empty: "
                  "unconditional generation, whatever the template"},
    [P_TEMPLATE] = {"template", RG_PARAM_STRING, 0, 0, 0, RG_PROMPT_TEMPLATE_DEFAULT, NULL,
                    "the text each generator hears: fields {prompt}, {track} (the generator's), "
                    "{tempo}, {meter} (the transport's) and {key}; a comma-separated part with an "
                    "empty field is left out; an empty text is unconditional"},
    [P_KEY] = {"key", RG_PARAM_STRING, 0, 0, 0, "", NULL,
               "the song's key for {key}, e.g. \"A minor\" (empty: left out); a track-aware "
               "model with a key input plays in the key its text names"},
};

static bool conditioner_init(rg_node *n, const rg_host_info *host, rg_error *err) {
    conditioner_state *s = n->state;
    s->bank = rg_cond_bank_new();
    if (!s->bank) return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "out of memory");
    return rg_lm_slot_init(&s->lm, host->base_dir, n->params[P_MODEL].str, err);
}

static const char *param_text(const rg_node *n, int p) {
    return n->params[p].str ? n->params[p].str : "";
}

/* Copy `src` into `dst`, refusing what does not fit rather than cutting it
 * (a cut prompt would be a different prompt). */
static bool copy_field(char *dst, size_t size, const char *src, const char *what, rg_error *err) {
    if (strlen(src) >= size)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "its %s is longer than %zu bytes", what,
                            size - 1);
    memcpy(dst, src, strlen(src) + 1);
    return true;
}

/* A bad template is reported here, once, rather than by every generator:
 * composed with every field set, it must be well formed and fit. */
static bool template_ok(const char *tmpl, char *probe, size_t size, rg_error *err) {
    rg_prompt_fields every = {.prompt = "prompt", .track = "track", .tempo = 120,
                              .meter_num = 4, .meter_den = 4, .key = "key"};
    return rg_compose_prompt(tmpl, &every, probe, size, err);
}

static bool conditioner_generate(rg_node *n, rg_job *job, rg_error *err) {
    conditioner_state *s = n->state;
    rg_cond *c = calloc(1, sizeof *c);
    if (!c) return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    memcpy(c->model, s->lm.path, sizeof c->model);
    c->bank = rg_cond_bank_ref(s->bank);
    char probe[512]; /* what a generator's text may hold */
    bool ok = copy_field(c->prompt, sizeof c->prompt, param_text(n, P_PROMPT), "prompt", err) &&
              copy_field(c->template, sizeof c->template, param_text(n, P_TEMPLATE), "template", err) &&
              copy_field(c->key, sizeof c->key, param_text(n, P_KEY), "key", err) &&
              template_ok(c->template, probe, sizeof probe, err);
    if (!ok) {
        rg_cond_free(c);
        return false;
    }
    rg_data *d = rg_cond_data(c);
    if (!d) return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    snprintf(d->prompt, sizeof d->prompt, "%s", c->prompt);
    rg_node_publish(n, 0, d);
    rg_job_report(job, n, 1.0);
    return true;
}

static void conditioner_describe(const rg_node *n, char *buf, int size) {
    const conditioner_state *s = n->state;
    snprintf(buf, (size_t)size, "\"%s\" by \"%s\"; %u texts encoded", param_text(n, P_PROMPT),
             param_text(n, P_TEMPLATE), rg_cond_bank_encodes(s->bank));
}

static void conditioner_process(rg_node *n, const rg_process_ctx *ctx) {
    (void)n;
    (void)ctx; /* nothing on the audio thread: conditioning is a generation value */
}

static void conditioner_destroy(rg_node *n) {
    conditioner_state *s = n->state;
    rg_cond_bank_unref(s->bank);
    rg_lm_slot_free(&s->lm);
}

const rg_node_type rg_node_conditioner = {
    .name = "conditioner",
    .doc = "Turns a text prompt into conditioning for generators: each generator hears the "
           "prompt composed with its track and the tempo by `template`, encoded (MusicGen's "
           "tokenizer, T5 encoder and projection) once per distinct text.",
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = P_COUNT,
    .state_size = sizeof(conditioner_state),
    .init = conditioner_init,
    .generate = conditioner_generate,
    .describe = conditioner_describe,
    .process = conditioner_process,
    .destroy = conditioner_destroy,
};
