/* conditioner: text in (its `prompt`), conditioning out. On the generation
 * worker it tokenises the prompt with the checkpoint's spiece.model, runs the
 * T5 encoder and MusicGen's enc_to_dec_proj, and publishes the states on
 * `cond` for every generator patched to it. The encoder runs only when the
 * prompt changes: asking for a new take with the same prompt republishes
 * the states it already has (so the generators still make new takes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/registry.h"
#include "runtime/model/cond.h"
#include "runtime/model/lm_slot.h"
#include "runtime/model/musicgen.h"

enum { P_MODEL, P_PROMPT };

typedef struct {
    rg_lm_slot lm;
    char *last_prompt; /* the prompt `last` was made from, NULL before the first */
    rg_cond last;      /* its states (a private copy, republished as new values) */
} conditioner_state;

static const rg_port_def outputs[] = {
    {"cond", RG_PORT_COND, 0, 0, "the prompt's conditioning, for generators' `cond` inputs"},
};
static const rg_param_def params[] = {
    [P_MODEL] = {"model", RG_PARAM_STRING, 0, 0, 0, "", NULL,
                 "MusicGen checkpoint folder (model.safetensors, config.json, spiece.model), "
                 "relative to the patch file"},
    [P_PROMPT] = {"prompt", RG_PARAM_STRING, 0, 0, 0, "", NULL,
                  "what the music should be; empty: unconditional (no guidance effect)"},
};

static bool conditioner_init(rg_node *n, const rg_host_info *host, rg_error *err) {
    conditioner_state *s = n->state;
    return rg_lm_slot_init(&s->lm, host->base_dir, n->params[P_MODEL].str, err);
}

/* Encode `prompt` into s->last (host copy of the device states). */
static bool encode_prompt(conditioner_state *s, const char *prompt, rg_error *err) {
    rg_musicgen *m;
    rg_lm_cond cond;
    if (!rg_lm_slot_model(&s->lm, &m, err) || !rg_musicgen_condition_text(m, prompt, &cond, err))
        return false;
    int width = rg_musicgen_get_config(m)->hidden, len = cond.len;
    float *states = cond.len ? malloc((size_t)cond.len * width * sizeof *states) : NULL;
    bool ok = cond.len == 0 || (states && rg_lm_cond_read(m, &cond, states, err));
    if (cond.len && !states) ok = rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    rg_lm_cond_free(&cond);
    char *copy = ok ? strdup(prompt) : NULL;
    if (!ok || !copy) {
        free(states);
        free(copy);
        return ok ? rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory") : false;
    }
    free(s->last.states);
    free(s->last_prompt);
    s->last = (rg_cond){.len = len, .width = width, .states = states};
    memcpy(s->last.model, s->lm.path, sizeof s->last.model);
    s->last_prompt = copy;
    return true;
}

/* A new value carrying a copy of s->last. */
static rg_data *publishable(const conditioner_state *s, rg_error *err) {
    rg_cond *c = malloc(sizeof *c);
    size_t bytes = (size_t)s->last.len * s->last.width * sizeof(float);
    float *states = bytes ? malloc(bytes) : NULL;
    if (!c || (bytes && !states)) {
        free(c);
        free(states);
        rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
        return NULL;
    }
    *c = s->last;
    c->states = states;
    if (bytes) memcpy(states, s->last.states, bytes);
    rg_data *d = rg_cond_data(c);
    if (!d) rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "out of memory");
    return d;
}

static bool conditioner_generate(rg_node *n, rg_job *job, rg_error *err) {
    conditioner_state *s = n->state;
    const char *prompt = n->params[P_PROMPT].str ? n->params[P_PROMPT].str : "";
    if ((!s->last_prompt || strcmp(prompt, s->last_prompt) != 0) && !encode_prompt(s, prompt, err))
        return false;
    rg_data *d = publishable(s, err);
    if (!d) return false;
    snprintf(d->prompt, sizeof d->prompt, "%s", prompt);
    rg_node_publish(n, 0, d);
    rg_job_report(job, n, 1.0);
    return true;
}

static void conditioner_process(rg_node *n, const rg_process_ctx *ctx) {
    (void)n;
    (void)ctx; /* nothing on the audio thread: conditioning is a generation value */
}

static void conditioner_destroy(rg_node *n) {
    conditioner_state *s = n->state;
    free(s->last.states);
    free(s->last_prompt);
    rg_lm_slot_free(&s->lm);
}

const rg_node_type rg_node_conditioner = {
    .name = "conditioner",
    .doc = "Turns a text prompt into conditioning for generators: MusicGen's tokenizer, T5 "
           "encoder and projection, run only when the prompt changes.",
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = 2,
    .state_size = sizeof(conditioner_state),
    .init = conditioner_init,
    .generate = conditioner_generate,
    .process = conditioner_process,
    .destroy = conditioner_destroy,
};
