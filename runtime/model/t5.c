/* T5 encoder on the tensor runtime (see t5.h; train/t5_ref.py is the
 * specification it is tested against).
 *
 * One encode records the whole network into one command list and runs it
 * once: prompts are short (tens of tokens) and are encoded once per prompt
 * change, so there is nothing to gain from streaming activations.
 */
#include "runtime/model/t5.h"

#include "runtime/tensor/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    rg_tensor q, k, v, o;  /* [inner, d_model] x3, o: [d_model, inner] */
    rg_tensor ln_attn;     /* layer.0.layer_norm [d_model] */
    rg_tensor wi, wo;      /* [d_ff, d_model], [d_model, d_ff] */
    rg_tensor ln_ff;       /* layer.1.layer_norm */
} t5_layer;

struct rg_t5 {
    rg_t5_config cfg;
    rg_device *dev;
    char path[256];
    rg_tensor shared;      /* [vocab, d_model] */
    float *rel_table;      /* host copy of relative_attention_bias [buckets, heads] */
    t5_layer *layers;
    rg_tensor final_ln;
};

/* ------------------------------------------------------------------------ */
/* Configuration and weights                                                */
/* ------------------------------------------------------------------------ */

static bool read_config(const rg_weights *w, rg_t5_config *c, rg_error *err) {
    double eps = 1e-6;
    char ff[32];
    bool ok = rg_config_int(w, "vocab_size", 32128, &c->vocab_size, err) &&
              rg_config_int(w, "d_model", 768, &c->d_model, err) &&
              rg_config_int(w, "d_kv", 64, &c->d_kv, err) &&
              rg_config_int(w, "d_ff", 3072, &c->d_ff, err) &&
              rg_config_int(w, "num_layers", 12, &c->num_layers, err) &&
              rg_config_int(w, "num_heads", 12, &c->num_heads, err) &&
              rg_config_int(w, "relative_attention_num_buckets", 32, &c->num_buckets, err) &&
              rg_config_int(w, "relative_attention_max_distance", 128, &c->max_distance, err) &&
              rg_config_double(w, "layer_norm_epsilon", 1e-6, &eps, err) &&
              rg_config_string(w, "feed_forward_proj", "relu", ff, sizeof ff, err);
    if (!ok) return false;
    c->eps = (float)eps;
    const char *bad = NULL;
    if (strcmp(ff, "relu") != 0)
        bad = "feed_forward_proj must be \"relu\" (t5-base); gated T5 v1.1 is not supported";
    else if (c->vocab_size < 2 || c->d_model < 1 || c->d_kv < 1 || c->d_ff < 1 ||
             c->num_layers < 1 || c->num_heads < 1 || c->num_layers > 256)
        bad = "text_encoder sizes must be positive";
    else if (c->num_buckets < 4 || c->num_buckets % 2 != 0 || c->max_distance <= c->num_buckets / 4)
        bad = "text_encoder relative attention buckets/max distance are inconsistent";
    if (bad) return rg_error_set(err, RG_ERR_VALUE, rg_weights_path(w), 0, 0, "config.json: %s", bad);
    return true;
}

typedef struct {
    rg_t5 *m;
    const rg_weights *w;
    rg_dtype wtype;
    rg_error *err;
} loader;

static bool tensor_failed(const rg_t5 *m, rg_status st, const char *what, rg_error *err) {
    return rg_error_set(err, RG_ERR_INTERNAL, m->path, 0, 0, "T5: %s: %s (%s)", what,
                        rg_status_name(st), rg_device_error(m->dev));
}

/* Read `name` with exactly `shape` and upload it as `dtype`. */
static bool load(loader *ld, const char *name, rg_dtype dtype, int ndim, const int64_t *shape,
                 rg_tensor *out) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    float *host = malloc((size_t)n * sizeof *host);
    if (!host) return rg_error_set(ld->err, RG_ERR_INTERNAL, ld->m->path, 0, 0, "out of memory");
    bool ok = rg_weights_read(ld->w, name, ndim, shape, host, ld->err);
    if (ok) {
        rg_status st = rg_tensor_create(ld->m->dev, dtype, ndim, shape, out);
        if (st == RG_OK) st = rg_tensor_write_f32(out, host);
        ok = st == RG_OK || tensor_failed(ld->m, st, name, ld->err);
    }
    free(host);
    return ok;
}

static bool load_matrix(loader *ld, const char *name, int64_t rows, int64_t cols, rg_tensor *out) {
    int64_t shape[2] = {rows, cols};
    return load(ld, name, ld->wtype, 2, shape, out);
}

static bool load_norm(loader *ld, const char *name, rg_tensor *out) {
    int64_t shape[1] = {ld->m->cfg.d_model};
    return load(ld, name, RG_F32, 1, shape, out);
}

static bool load_layer(loader *ld, int i) {
    const rg_t5_config *c = &ld->m->cfg;
    t5_layer *l = &ld->m->layers[i];
    int64_t inner = (int64_t)c->num_heads * c->d_kv;
    char n[8][160];
    static const char *const parts[8] = {
        "layer.0.SelfAttention.q.weight", "layer.0.SelfAttention.k.weight",
        "layer.0.SelfAttention.v.weight", "layer.0.SelfAttention.o.weight",
        "layer.0.layer_norm.weight",      "layer.1.DenseReluDense.wi.weight",
        "layer.1.DenseReluDense.wo.weight", "layer.1.layer_norm.weight"};
    for (int p = 0; p < 8; p++) snprintf(n[p], sizeof n[p], "encoder.block.%d.%s", i, parts[p]);
    return load_matrix(ld, n[0], inner, c->d_model, &l->q) &&
           load_matrix(ld, n[1], inner, c->d_model, &l->k) &&
           load_matrix(ld, n[2], inner, c->d_model, &l->v) &&
           load_matrix(ld, n[3], c->d_model, inner, &l->o) && load_norm(ld, n[4], &l->ln_attn) &&
           load_matrix(ld, n[5], c->d_ff, c->d_model, &l->wi) &&
           load_matrix(ld, n[6], c->d_model, c->d_ff, &l->wo) && load_norm(ld, n[7], &l->ln_ff);
}

/* The relative bias table stays on the host: the [B, H, T, T] bias is
 * built there once per encode (T is small). */
static bool load_rel_table(loader *ld) {
    const rg_t5_config *c = &ld->m->cfg;
    int64_t shape[2] = {c->num_buckets, c->num_heads};
    ld->m->rel_table = malloc((size_t)(shape[0] * shape[1]) * sizeof(float));
    if (!ld->m->rel_table)
        return rg_error_set(ld->err, RG_ERR_INTERNAL, ld->m->path, 0, 0, "out of memory");
    return rg_weights_read(ld->w, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                           2, shape, ld->m->rel_table, ld->err);
}

/* HF ties encoder.embed_tokens to shared; exports may keep either name. */
static bool load_embedding(loader *ld) {
    const char *name = "shared.weight";
    if (!rg_weights_find(ld->w, name, NULL) &&
        rg_weights_find(ld->w, "encoder.embed_tokens.weight", NULL))
        name = "encoder.embed_tokens.weight";
    return load_matrix(ld, name, ld->m->cfg.vocab_size, ld->m->cfg.d_model, &ld->m->shared);
}

bool rg_t5_load(const rg_weights *w, rg_device *dev, int wtype, rg_t5 **out, rg_error *err) {
    *out = NULL;
    rg_t5 *m = calloc(1, sizeof *m);
    if (!m) return rg_error_set(err, RG_ERR_INTERNAL, rg_weights_path(w), 0, 0, "out of memory");
    m->dev = dev;
    snprintf(m->path, sizeof m->path, "%s", rg_weights_path(w));
    loader ld = {.m = m, .w = w, .wtype = wtype == RG_F16 ? RG_F16 : RG_F32, .err = err};
    bool ok = read_config(w, &m->cfg, err);
    if (ok) {
        m->layers = calloc((size_t)m->cfg.num_layers, sizeof *m->layers);
        ok = m->layers || rg_error_set(err, RG_ERR_INTERNAL, m->path, 0, 0, "out of memory");
    }
    ok = ok && load_embedding(&ld) && load_rel_table(&ld);
    for (int i = 0; ok && i < m->cfg.num_layers; i++) ok = load_layer(&ld, i);
    ok = ok && load_norm(&ld, "encoder.final_layer_norm.weight", &m->final_ln);
    if (!ok) {
        rg_t5_free(m);
        return false;
    }
    *out = m;
    return true;
}

void rg_t5_free(rg_t5 *m) {
    if (!m) return;
    for (int i = 0; m->layers && i < m->cfg.num_layers; i++) {
        t5_layer *l = &m->layers[i];
        rg_tensor *all[] = {&l->q, &l->k, &l->v, &l->o, &l->ln_attn, &l->wi, &l->wo, &l->ln_ff};
        for (size_t j = 0; j < sizeof all / sizeof *all; j++) rg_tensor_destroy(all[j]);
    }
    free(m->layers);
    rg_tensor_destroy(&m->shared);
    rg_tensor_destroy(&m->final_ln);
    free(m->rel_table);
    free(m);
}

const rg_t5_config *rg_t5_get_config(const rg_t5 *m) { return &m->cfg; }

/* ------------------------------------------------------------------------ */
/* Relative position bias                                                   */
/* ------------------------------------------------------------------------ */

/* Float32 throughout and truncation toward zero, as T5 computes it: the
 * log-spaced branch is where an f64 version would disagree at boundaries. */
int rg_t5_bucket(int rel, int num_buckets, int max_distance) {
    int half = num_buckets / 2;
    int bucket = rel > 0 ? half : 0;
    int dist = rel < 0 ? -rel : rel;
    int max_exact = half / 2;
    if (dist < max_exact) return bucket + dist;
    float scaled = logf((float)dist / (float)max_exact) /
                   (float)log((double)max_distance / max_exact) * (float)(half - max_exact);
    int large = max_exact + (int)scaled;
    return bucket + (large < half - 1 ? large : half - 1);
}

/* bias[b, h, i, j] = table[bucket(j - i), h], or -inf where key j is padding. */
static float *build_bias(const rg_t5 *m, const int32_t *mask, int batch, int len) {
    const rg_t5_config *c = &m->cfg;
    size_t tt = (size_t)len * len;
    float *bias = malloc((size_t)batch * c->num_heads * tt * sizeof *bias);
    int *bucket = malloc((size_t)(2 * len) * sizeof *bucket);
    if (!bias || !bucket) {
        free(bias);
        free(bucket);
        return NULL;
    }
    for (int r = -len + 1; r < len; r++) bucket[r + len] = rg_t5_bucket(r, c->num_buckets, c->max_distance);
    for (int b = 0; b < batch; b++)
        for (int h = 0; h < c->num_heads; h++) {
            float *plane = bias + ((size_t)b * c->num_heads + h) * tt;
            for (int i = 0; i < len; i++)
                for (int j = 0; j < len; j++) {
                    bool pad = mask && mask[(size_t)b * len + j] == 0;
                    plane[(size_t)i * len + j] =
                        pad ? -INFINITY : m->rel_table[bucket[j - i + len] * c->num_heads + h];
                }
        }
    free(bucket);
    return bias;
}

/* ------------------------------------------------------------------------ */
/* Forward pass                                                             */
/* ------------------------------------------------------------------------ */

enum { A_X, A_H, A_Q, A_K, A_V, A_ATT, A_TMP, A_FF, A_IDS, A_BIAS, A_COUNT };

typedef struct {
    rg_t5 *m;
    rg_cmd *cmd;
    rg_tensor t[A_COUNT];
    int batch, len;
} encode_pass;

static rg_status alloc_activations(encode_pass *p) {
    const rg_t5_config *c = &p->m->cfg;
    int64_t b = p->batch, t = p->len, inner = (int64_t)c->num_heads * c->d_kv;
    struct {
        int slot;
        rg_dtype dt;
        int nd;
        int64_t s[4];
    } spec[A_COUNT] = {
        {A_X, RG_F32, 3, {b, t, c->d_model}},   {A_H, RG_F32, 3, {b, t, c->d_model}},
        {A_Q, RG_F32, 3, {b, t, inner}},        {A_K, RG_F32, 3, {b, t, inner}},
        {A_V, RG_F32, 3, {b, t, inner}},        {A_ATT, RG_F32, 3, {b, t, inner}},
        {A_TMP, RG_F32, 3, {b, t, c->d_model}}, {A_FF, RG_F32, 3, {b, t, c->d_ff}},
        {A_IDS, RG_I32, 1, {b * t}},            {A_BIAS, RG_F32, 4, {b, c->num_heads, t, t}},
    };
    for (int i = 0; i < A_COUNT; i++) {
        rg_status st = rg_tensor_create(p->m->dev, spec[i].dt, spec[i].nd, spec[i].s, &p->t[spec[i].slot]);
        if (st != RG_OK) return st;
    }
    return RG_OK;
}

/* [B, T, H*D] viewed as [B, H, T, D] (no copy). */
static rg_tensor heads_view(const rg_tensor *x, const rg_t5_config *c) {
    int64_t shape[4] = {x->shape[0], x->shape[1], c->num_heads, c->d_kv};
    return rg_tensor_transpose(rg_tensor_reshape(*x, 4, shape), 1, 2);
}

static void record_attention(encode_pass *p, const t5_layer *l) {
    const rg_t5_config *c = &p->m->cfg;
    rg_tensor *t = p->t;
    rg_op_rms_norm(p->cmd, &t[A_X], &l->ln_attn, c->eps, &t[A_H]);
    rg_op_matmul(p->cmd, &t[A_H], &l->q, NULL, &t[A_Q], true);
    rg_op_matmul(p->cmd, &t[A_H], &l->k, NULL, &t[A_K], true);
    rg_op_matmul(p->cmd, &t[A_H], &l->v, NULL, &t[A_V], true);
    rg_tensor q = heads_view(&t[A_Q], c), k = heads_view(&t[A_K], c);
    rg_tensor v = heads_view(&t[A_V], c), o = heads_view(&t[A_ATT], c);
    rg_attention_params ap = {.scale = 1.0f, .causal = false}; /* T5 does not scale */
    rg_op_attention(p->cmd, &q, &k, &v, &t[A_BIAS], &o, &ap);
    rg_op_matmul(p->cmd, &t[A_ATT], &l->o, NULL, &t[A_TMP], true);
    rg_op_add(p->cmd, &t[A_X], &t[A_TMP], &t[A_X]);
}

static void record_feed_forward(encode_pass *p, const t5_layer *l) {
    rg_tensor *t = p->t;
    rg_op_rms_norm(p->cmd, &t[A_X], &l->ln_ff, p->m->cfg.eps, &t[A_H]);
    rg_op_matmul(p->cmd, &t[A_H], &l->wi, NULL, &t[A_FF], true);
    rg_op_unary(p->cmd, RG_UNARY_RELU, 0.0f, &t[A_FF], &t[A_FF]);
    rg_op_matmul(p->cmd, &t[A_FF], &l->wo, NULL, &t[A_TMP], true);
    rg_op_add(p->cmd, &t[A_X], &t[A_TMP], &t[A_X]);
}

static void record_encoder(encode_pass *p, const rg_tensor *out) {
    rg_t5 *m = p->m;
    rg_op_embedding(p->cmd, &m->shared, &p->t[A_IDS], &p->t[A_X], false);
    for (int i = 0; i < m->cfg.num_layers; i++) {
        record_attention(p, &m->layers[i]);
        record_feed_forward(p, &m->layers[i]);
    }
    rg_op_rms_norm(p->cmd, &p->t[A_X], &m->final_ln, m->cfg.eps, out);
}

static bool check_inputs(const rg_t5 *m, const int32_t *ids, int batch, int len,
                         const rg_tensor *out, rg_error *err) {
    if (batch < 1 || len < 1)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0, "T5: empty batch or prompt");
    if (len > RG_T5_MAX_TOKENS)
        return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                            "prompt is %d tokens long; the text encoder takes at most %d", len,
                            RG_T5_MAX_TOKENS);
    for (int i = 0; i < batch * len; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return rg_error_set(err, RG_ERR_VALUE, m->path, 0, 0,
                                "T5: token id %d is outside the vocabulary (0..%d)", ids[i],
                                m->cfg.vocab_size - 1);
    if (!out || out->ndim != 3 || out->shape[0] != batch || out->shape[1] != len ||
        out->shape[2] != m->cfg.d_model || out->dtype != RG_F32)
        return rg_error_set(err, RG_ERR_INTERNAL, m->path, 0, 0,
                            "T5: output must be f32 [%d, %d, %d]", batch, len, m->cfg.d_model);
    return true;
}

bool rg_t5_encode(rg_t5 *m, const int32_t *ids, const int32_t *mask, int batch, int len,
                  const rg_tensor *out, rg_error *err) {
    if (!check_inputs(m, ids, batch, len, out, err)) return false;
    encode_pass p = {.m = m, .batch = batch, .len = len};
    float *bias = build_bias(m, mask, batch, len);
    rg_status st = bias ? rg_cmd_create(m->dev, &p.cmd) : RG_ERR_OOM;
    const char *what = "creating a command list";
    if (st == RG_OK) {
        st = alloc_activations(&p);
        what = "allocating activations";
    }
    if (st == RG_OK) {
        st = rg_tensor_write(&p.t[A_IDS], ids);
        if (st == RG_OK) st = rg_tensor_write_f32(&p.t[A_BIAS], bias);
        what = "uploading the prompt";
    }
    if (st == RG_OK) {
        record_encoder(&p, out);
        st = rg_cmd_run(p.cmd); /* recording errors are sticky and surface here */
        what = "running the encoder";
    }
    for (int i = 0; i < A_COUNT; i++) rg_tensor_destroy(&p.t[i]);
    rg_cmd_destroy(p.cmd);
    free(bias);
    return st == RG_OK || tensor_failed(m, st, what, err);
}
