#include "runtime/generate.h"

#include <stdio.h>

#include "runtime/history.h"

/* FNV-1a over the parameter version and the id of every input value: any
 * change upstream (a new take, a rewired cable) changes the signature. */
static uint64_t input_signature(const rg_node *n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = (h ^ atomic_load(&n->param_version)) * 0x100000001b3ULL;
    for (int p = 0; p < n->type->n_inputs; p++) {
        for (int c = 0; c < n->n_in_cables[p]; c++) {
            const rg_data_source *src = &n->data_in[p][c];
            rg_data *d = atomic_load(&src->node->data_out[src->port]);
            h = (h ^ (d ? d->id : 0)) * 0x100000001b3ULL;
            h = (h ^ (uint64_t)(p * 64 + c)) * 0x100000001b3ULL;
        }
    }
    return h | 1; /* 0 means "never generated" */
}

/* A node with a true `lock` parameter keeps the take it has, whatever
 * happens upstream; only an explicit request (/regen) replaces it. */
static bool locked(const rg_node *n)
{
    int p = rg_node_type_param(n->type, "lock");
    return p >= 0 && n->type->params[p].type == RG_PARAM_BOOL && n->params[p].num != 0 &&
           n->generated_from != 0;
}

static bool needs_run(rg_node *n, uint64_t *sig)
{
    *sig = input_signature(n);
    if (atomic_load(&n->regen))
        return true;
    return !locked(n) && n->generated_from != *sig;
}

bool rg_engine_generation_pending(rg_engine *e)
{
    uint64_t sig;
    for (int i = 0; i < rg_engine_node_count(e); i++) {
        rg_node *n = rg_engine_node(e, i);
        if (n->type->generate && needs_run(n, &sig))
            return true;
    }
    return false;
}

/* Streaming: while a node makes a growing take, the nodes that read it and
 * can use part of a take (a `stream` callback: the decoder) catch up each
 * time it reports progress, on this same worker between its steps. The
 * scheduler puts itself between the job and its progress callback for the
 * pass to see the reports. */
typedef struct {
    rg_engine *engine;
    void (*on_progress)(rg_job *job, const rg_node *node, double fraction);
    void *user;
    bool inside; /* a stream callback is running: no nesting */
} stream_hook;

static bool reads_from(const rg_node *reader, const rg_node *source)
{
    for (int p = 0; p < reader->type->n_inputs; p++)
        for (int c = 0; c < reader->n_in_cables[p]; c++)
            if (reader->data_in[p] && reader->data_in[p][c].node == source)
                return true;
    return false;
}

/* Let every streaming reader of `source` catch up. Their errors surface
 * when their own generate() runs (it meets the same input). */
static void feed_readers(stream_hook *h, rg_job *job, const rg_node *source)
{
    if (h->inside)
        return;
    h->inside = true;
    for (int i = 0; i < rg_engine_node_count(h->engine); i++) {
        rg_node *m = rg_engine_node(h->engine, i);
        if (m->type->stream && reads_from(m, source)) {
            rg_error ignored = {0};
            m->type->stream(m, job, &ignored);
        }
    }
    h->inside = false;
}

static void streaming_progress(rg_job *job, const rg_node *node, double fraction)
{
    stream_hook *h = job->user;
    job->user = h->user; /* the job's own callback sees the job as it was given */
    job->on_progress = h->on_progress;
    if (h->on_progress)
        h->on_progress(job, node, fraction);
    job->user = h;
    job->on_progress = streaming_progress;
    feed_readers(h, job, node);
}

static bool run_node(rg_node *n, rg_job *job, stream_hook *h, rg_error *err)
{
    bool ok = n->type->generate(n, job, err);
    if (h)
        feed_readers(h, job, n); /* the take is complete or abandoned now */
    return ok;
}

static bool generate_pass(rg_engine *e, rg_job *job, stream_hook *h, int *ran, rg_error *err);

bool rg_engine_generate(rg_engine *e, rg_job *job, int *ran, rg_error *err)
{
    if (!job)
        return generate_pass(e, NULL, NULL, ran, err);
    stream_hook h = {e, job->on_progress, job->user, false};
    job->on_progress = streaming_progress;
    job->user = &h;
    bool ok = generate_pass(e, job, &h, ran, err);
    job->on_progress = h.on_progress;
    job->user = h.user;
    return ok;
}

static bool generate_pass(rg_engine *e, rg_job *job, stream_hook *h, int *ran, rg_error *err)
{
    if (ran)
        *ran = 0;
    bool all_ok = true;
    for (int i = 0; i < rg_engine_node_count(e); i++) {
        rg_node *n = rg_engine_node(e, rg_engine_schedule_at(e, i));
        uint64_t sig;
        if (!n->type->generate || !needs_run(n, &sig))
            continue;
        if (rg_job_cancelled(job))
            return false;
        bool asked = atomic_exchange(&n->regen, false);
        rg_error node_err = {0};
        bool ok = run_node(n, job, h, &node_err);
        if (!ok && rg_job_cancelled(job) && node_err.code == RG_ERR_NONE) {
            if (asked) /* the take asked for was not made: still asked for */
                atomic_store(&n->regen, true);
            return false;
        }
        /* Failed or not, these inputs have had their try: a node that
         * failed keeps its previous take and is not retried until its
         * inputs or parameters change or a new take is asked for. */
        n->generated_from = sig;
        if (!ok) {
            if (all_ok)
                rg_error_set(err, node_err.code ? node_err.code : RG_ERR_NODE_INIT, node_err.file,
                             node_err.line, node_err.col, "node '%s' (%s): %s", n->name,
                             n->type->name, node_err.message);
            all_ok = false;
            continue;
        }
        rg_history_record(n);
        if (ran)
            (*ran)++;
    }
    return all_ok;
}

bool rg_engine_request_regen(rg_engine *e, const char *node, rg_error *err)
{
    int idx = rg_engine_find_node(e, node);
    if (idx < 0)
        return rg_error_set(err, RG_ERR_UNKNOWN_NODE, NULL, 0, 0, "no node called '%s'", node);
    rg_node *n = rg_engine_node(e, idx);
    if (!n->type->generate)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "%s '%s' makes no takes", n->type->name, node);
    atomic_store(&n->regen, true);
    return true;
}
