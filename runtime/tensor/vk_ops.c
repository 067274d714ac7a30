/* Vulkan backend: each validated op becomes one or more dispatches. The
 * push-constant layouts here mirror the `Push` blocks in shaders/<family>.comp. */
#include "runtime/tensor/vk_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Push words after the six binding offsets. */
#define P(i) d.push[6 + (i)]

static vk_dispatch new_dispatch(vk_family fam) {
    vk_dispatch d;
    memset(&d, 0, sizeof d);
    d.family = fam;
    return d;
}

static const rg_tensor *opt(const rg_tensor *t) { return t->buf ? t : NULL; }

static uint32_t groups_for(uint64_t n, uint32_t per) { return (uint32_t)((n + per - 1) / per); }

/* ------------------------------------------------------------------------ */
/* matmul / matvec                                                          */
/* ------------------------------------------------------------------------ */

/* Element offset of t within its bound range (same rule as bind_info). */
static uint32_t elem_offset(vk_rec *r, const rg_tensor *t) {
    const vk_alloc *a = t->buf->impl;
    VkDeviceSize align = r->vd->props.limits.minStorageBufferOffsetAlignment;
    if (align < 4)
        align = 4;
    VkDeviceSize first = a->off + t->offset;
    return (uint32_t)((first - first / align * align) / rg_dtype_size(t->dtype));
}

/* Matmul kernel: 0 shared-memory tiles (GPUs), 1 register tiles with
 * subgroup broadcasts (CPU implementations such as lavapipe, where shared
 * memory is emulated), 2 naive. RESONANT_VK_MATMUL=tiled|direct|naive
 * overrides the choice (for benchmarks and diagnosis). */
static uint32_t matmul_mode(vk_rec *r) {
    const char *e = getenv("RESONANT_VK_MATMUL");
    if (e && strcmp(e, "tiled") == 0)
        return 0;
    if (e && strcmp(e, "direct") == 0)
        return 1;
    if (e && strcmp(e, "naive") == 0)
        return 2;
    return r->vd->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 1 : 0;
}

static rg_status record_matmul(vk_rec *r, const rg_op *op) {
    const rg_tensor *a = &op->t[MM_A], *w = &op->t[MM_W];
    bool f16 = w->dtype == RG_F16, trans = op->p.mm.trans_w;
    uint32_t m = (uint32_t)op->p.mm.m, n = (uint32_t)op->p.mm.n, k = (uint32_t)op->p.mm.k;
    uint32_t batch = (uint32_t)op->p.mm.batch;
    if (!op->p.mm.w_batched) { /* a shared weight: fold the batch into M */
        m *= batch;
        batch = 1;
    }
    bool vec4 = k % 4 == 0 && elem_offset(r, a) % 4 == 0 && elem_offset(r, w) % 4 == 0;
    vk_dispatch d;
    uint32_t mode = matmul_mode(r);
    if (m <= 8 && mode != 1) {
        d = new_dispatch(VKF_MATVEC);
        uint32_t nr = 2, wg = trans ? 128 : 64;
        uint32_t spec[] = {wg, nr, trans, f16, vec4};
        memcpy(d.spec, spec, sizeof spec);
        d.nspec = 5;
        d.groups[0] = trans ? groups_for(n, nr) : groups_for(n, wg);
        d.groups[1] = 1;
    } else {
        d = new_dispatch(VKF_MATMUL);
        bool small = m <= 32 || n <= 32;
        uint32_t bm = small ? 32 : 64, wg = small ? 64 : 256;
        if (mode == 1) /* up to 8 rows x 256 columns per group; exactly M rows
                          * when M < 8, so the decode step wastes no work */
            bm = m < 8 ? m : 8, wg = 64;
        uint32_t spec[] = {wg, bm, bm, 16, 4, 4, trans, f16, vec4, mode};
        memcpy(d.spec, spec, sizeof spec);
        d.nspec = 10;
        if (mode == 0) {
            d.groups[0] = groups_for(n, bm);
            d.groups[1] = groups_for(m, bm);
        } else if (mode == 1) {
            d.groups[0] = groups_for(n, wg * 4);
            d.groups[1] = groups_for(m, bm);
        } else {
            d.groups[0] = groups_for((uint64_t)m * n, wg);
            d.groups[1] = 1;
        }
    }
    d.groups[2] = batch;
    if (d.groups[0] > r->vd->props.limits.maxComputeWorkGroupCount[0] ||
        d.groups[1] > r->vd->props.limits.maxComputeWorkGroupCount[1] ||
        batch > r->vd->props.limits.maxComputeWorkGroupCount[2])
        return rg_fail(r->dev, RG_ERR_UNSUPPORTED, "vulkan: matmul grid too large");
    d.bind[0] = a;
    d.bind[1] = w;
    d.bind[2] = opt(&op->t[MM_BIAS]);
    d.bind[3] = &op->t[MM_OUT];
    P(0) = m, P(1) = n, P(2) = k;
    P(3) = m * k;  /* a batch stride */
    P(4) = n * k;  /* w batch stride */
    P(5) = m * n;  /* out batch stride */
    P(6) = op->t[MM_BIAS].buf != NULL;
    return vk_record_dispatch(r, &d, false);
}

/* ------------------------------------------------------------------------ */
/* elementwise, norms, embedding, copy                                      */
/* ------------------------------------------------------------------------ */

static rg_status record_elementwise(vk_rec *r, uint32_t opcode, const rg_tensor *a,
                                    const rg_tensor *b, const rg_tensor *out, float p0, float p1) {
    vk_dispatch d = new_dispatch(VKF_ELEMENTWISE);
    d.spec[0] = opcode;
    d.nspec = 1;
    d.bind[0] = a;
    d.bind[1] = b;
    d.bind[2] = out;
    uint64_t n = (uint64_t)rg_tensor_numel(a);
    P(0) = (uint32_t)n;
    P(1) = b ? (uint32_t)rg_tensor_numel(b) : 1;
    P(2) = f2u(p0);
    P(3) = f2u(p1);
    vk_grid_1d(r, groups_for(n, 256), d.groups);
    return vk_record_dispatch(r, &d, false);
}

static rg_status record_norm(vk_rec *r, const rg_op *op) {
    vk_dispatch d = new_dispatch(VKF_NORM);
    uint32_t mode = op->kind == RG_OP_LAYER_NORM ? 0 : op->kind == RG_OP_RMS_NORM ? 1 : 2;
    d.spec[0] = op->p.norm.cols >= 512 ? 256 : 64;
    d.spec[1] = mode;
    d.nspec = 2;
    d.bind[0] = &op->t[NORM_X];
    d.bind[1] = opt(&op->t[NORM_W]);
    d.bind[2] = opt(&op->t[NORM_B]);
    d.bind[3] = &op->t[NORM_OUT];
    P(0) = (uint32_t)op->p.norm.cols;
    P(1) = op->t[NORM_W].buf != NULL;
    P(2) = op->t[NORM_B].buf != NULL;
    P(3) = f2u(op->p.norm.eps);
    P(4) = (uint32_t)op->p.norm.rows;
    vk_grid_1d(r, (uint64_t)op->p.norm.rows, d.groups);
    return vk_record_dispatch(r, &d, false);
}

static rg_status record_embedding(vk_rec *r, const rg_op *op) {
    const rg_tensor *tab = &op->t[EMB_TABLE];
    vk_dispatch d = new_dispatch(VKF_EMBEDDING);
    d.spec[0] = tab->dtype == RG_F16;
    d.nspec = 1;
    d.bind[0] = tab;
    d.bind[1] = &op->t[EMB_IDS];
    d.bind[2] = &op->t[EMB_OUT];
    uint64_t n = (uint64_t)rg_tensor_numel(&op->t[EMB_IDS]);
    P(0) = (uint32_t)n;
    P(1) = (uint32_t)tab->shape[0];
    P(2) = (uint32_t)tab->shape[1];
    P(3) = op->p.emb.accumulate;
    vk_grid_1d(r, groups_for(n * (uint64_t)tab->shape[1], 256), d.groups);
    return vk_record_dispatch(r, &d, false);
}

static uint32_t copy_type(rg_dtype t) { return t == RG_F32 ? 0 : t == RG_F16 ? 1 : 2; }

static rg_status record_copy(vk_rec *r, const rg_tensor *src, const rg_tensor *dst) {
    vk_dispatch d = new_dispatch(VKF_COPY);
    d.spec[0] = copy_type(src->dtype);
    d.spec[1] = copy_type(dst->dtype);
    d.nspec = 2;
    d.bind[0] = src;
    d.bind[1] = dst;
    int pad = 4 - src->ndim;
    for (int i = 0; i < 4; i++) {
        int j = i - pad;
        P(1 + i) = j < 0 ? 1 : (uint32_t)src->shape[j];
        P(5 + i) = j < 0 ? 0 : (uint32_t)src->stride[j];
        P(9 + i) = j < 0 ? 0 : (uint32_t)dst->stride[j];
    }
    uint64_t n = (uint64_t)rg_tensor_numel(src);
    P(0) = (uint32_t)n;
    vk_grid_1d(r, groups_for(n, 256), d.groups);
    return vk_record_dispatch(r, &d, false);
}

/* ------------------------------------------------------------------------ */
/* convolutions                                                             */
/* ------------------------------------------------------------------------ */

static rg_status record_conv1d(vk_rec *r, const rg_op *op) {
    const rg_conv1d_params *p = &op->p.conv.p;
    vk_dispatch d = new_dispatch(VKF_CONV1D);
    uint32_t cout = (uint32_t)op->p.conv.cout, lout = (uint32_t)op->p.conv.lout;
    bool small = cout <= 32 || lout <= 32;
    uint32_t bm = small ? 32 : 64, wg = small ? 64 : 256;
    uint32_t spec[] = {wg, bm, bm, 16, 4, 4, op->t[CONV_W].dtype == RG_F16,
                       p->pad_mode == RG_PAD_REFLECT};
    memcpy(d.spec, spec, sizeof spec);
    d.nspec = 8;
    d.bind[0] = &op->t[CONV_X];
    d.bind[1] = &op->t[CONV_W];
    d.bind[2] = opt(&op->t[CONV_BIAS]);
    d.bind[3] = &op->t[CONV_OUT];
    P(0) = (uint32_t)op->p.conv.cin, P(1) = cout, P(2) = (uint32_t)op->p.conv.k;
    P(3) = (uint32_t)op->p.conv.lin, P(4) = lout;
    P(5) = (uint32_t)p->stride, P(6) = (uint32_t)p->dilation, P(7) = (uint32_t)p->pad_left;
    P(8) = op->t[CONV_BIAS].buf != NULL;
    d.groups[0] = groups_for(lout, bm);
    d.groups[1] = groups_for(cout, bm);
    d.groups[2] = (uint32_t)op->p.conv.batch;
    if (d.groups[0] > r->vd->props.limits.maxComputeWorkGroupCount[0])
        return rg_fail(r->dev, RG_ERR_UNSUPPORTED, "vulkan: conv1d output too long");
    return vk_record_dispatch(r, &d, false);
}

static rg_status record_conv_t1d(vk_rec *r, const rg_op *op) {
    vk_dispatch d = new_dispatch(VKF_CONV_T1D);
    d.spec[0] = op->t[CONV_W].dtype == RG_F16;
    d.nspec = 1;
    d.bind[0] = &op->t[CONV_X];
    d.bind[1] = &op->t[CONV_W];
    d.bind[2] = opt(&op->t[CONV_BIAS]);
    d.bind[3] = &op->t[CONV_OUT];
    P(0) = (uint32_t)op->p.convt.cin, P(1) = (uint32_t)op->p.convt.cout;
    P(2) = (uint32_t)op->p.convt.k, P(3) = (uint32_t)op->p.convt.lin;
    P(4) = (uint32_t)op->p.convt.lout, P(5) = (uint32_t)op->p.convt.stride;
    P(6) = (uint32_t)op->p.convt.trim_left, P(7) = (uint32_t)op->p.convt.batch;
    P(8) = op->t[CONV_BIAS].buf != NULL;
    uint64_t n = (uint64_t)op->p.convt.batch * op->p.convt.cout * op->p.convt.lout;
    vk_grid_1d(r, groups_for(n, 256), d.groups);
    return vk_record_dispatch(r, &d, false);
}

/* ------------------------------------------------------------------------ */
/* LSTM: input projection (matmul), biases (adds), T step dispatches        */
/* ------------------------------------------------------------------------ */

static rg_status record_lstm(vk_rec *r, const rg_op *op) {
    const rg_tensor *x = &op->t[LSTM_X], *out = &op->t[LSTM_OUT];
    int64_t t_len = x->shape[0], hid = op->t[LSTM_WHH].shape[1];
    int64_t gshape[2] = {t_len, 4 * hid};
    rg_tensor gx = rg_tensor_view(op->t[LSTM_SCRATCH].buf, op->t[LSTM_SCRATCH].offset, RG_F32, 2, gshape);
    rg_op mm = {.kind = RG_OP_MATMUL};
    mm.t[MM_A] = *x;
    mm.t[MM_W] = op->t[LSTM_WIH];
    mm.t[MM_OUT] = gx;
    mm.p.mm.trans_w = true;
    mm.p.mm.batch = 1, mm.p.mm.m = t_len, mm.p.mm.n = 4 * hid, mm.p.mm.k = x->shape[1];
    rg_status s = record_matmul(r, &mm);
    if (s == RG_OK && op->t[LSTM_BIH].buf)
        s = record_elementwise(r, 0, &gx, &op->t[LSTM_BIH], &gx, 0, 0);
    if (s == RG_OK && op->t[LSTM_BHH].buf)
        s = record_elementwise(r, 0, &gx, &op->t[LSTM_BHH], &gx, 0, 0);
    if (s != RG_OK)
        return s;
    bool state = op->t[LSTM_H].buf != NULL;
    vk_dispatch d = new_dispatch(VKF_LSTM);
    d.spec[0] = 64;
    d.spec[1] = op->t[LSTM_WHH].dtype == RG_F16;
    d.nspec = 2;
    d.bind[0] = &gx;
    d.bind[1] = &op->t[LSTM_WHH];
    d.bind[2] = opt(&op->t[LSTM_H]);
    d.bind[3] = opt(&op->t[LSTM_C]);
    d.bind[4] = out;
    P(0) = (uint32_t)hid;
    P(2) = state;
    vk_grid_1d(r, (uint64_t)hid, d.groups);
    for (int64_t t = 0; t < t_len && s == RG_OK; t++) {
        P(1) = (uint32_t)t;
        s = vk_record_dispatch(r, &d, t > 0); /* same bindings: one set */
    }
    if (s == RG_OK && state) { /* final h for the next chunk */
        rg_tensor last = rg_tensor_reshape(*out, 2, (int64_t[]){t_len, hid});
        last = rg_tensor_slice(last, 0, t_len - 1, 1);
        rg_tensor h = rg_tensor_reshape(op->t[LSTM_H], 2, (int64_t[]){1, hid});
        s = record_copy(r, &last, &h);
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* attention, RVQ, sampling                                                 */
/* ------------------------------------------------------------------------ */

static rg_status record_attention(vk_rec *r, const rg_op *op) {
    const rg_tensor *q = &op->t[ATT_Q], *k = &op->t[ATT_K], *v = &op->t[ATT_V];
    const rg_tensor *b = &op->t[ATT_BIAS], *o = &op->t[ATT_OUT];
    uint32_t dim = (uint32_t)q->shape[3];
    if (dim > 256)
        return rg_fail(r->dev, RG_ERR_UNSUPPORTED, "vulkan: attention head dim %u > 256", dim);
    vk_dispatch d = new_dispatch(VKF_ATTENTION);
    d.spec[0] = dim > 128 ? 128 : 64;
    d.nspec = 1;
    d.bind[0] = q, d.bind[1] = k, d.bind[2] = v, d.bind[3] = opt(b), d.bind[4] = o;
    P(0) = (uint32_t)q->shape[1], P(1) = (uint32_t)q->shape[2];
    P(2) = (uint32_t)k->shape[2], P(3) = dim;
    const rg_tensor *ts[4] = {q, k, v, o};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            P(4 + 3 * i + j) = (uint32_t)ts[i]->stride[j];
    for (int j = 0; j < 4; j++)
        P(16 + j) = b->buf ? (uint32_t)b->stride[j] : 0;
    P(20) = f2u(op->p.att.scale);
    P(21) = op->p.att.causal;
    P(22) = b->buf != NULL;
    P(23) = (uint32_t)q->shape[0];
    vk_grid_1d(r, (uint64_t)q->shape[0] * q->shape[1] * q->shape[2], d.groups);
    return vk_record_dispatch(r, &d, false);
}

static rg_status record_rvq(vk_rec *r, const rg_op *op, bool encode) {
    const rg_tensor *x = &op->t[RVQ_X], *cb = &op->t[RVQ_CB], *codes = &op->t[RVQ_CODES];
    uint32_t t_len = (uint32_t)x->shape[0], dim = (uint32_t)x->shape[1];
    if (encode && dim > 1024)
        return rg_fail(r->dev, RG_ERR_UNSUPPORTED, "vulkan: rvq dim %u > 1024", dim);
    vk_dispatch d = new_dispatch(VKF_RVQ);
    d.spec[0] = 128;
    d.spec[1] = encode ? 0 : 1;
    d.spec[2] = cb->dtype == RG_F16;
    d.nspec = 3;
    d.bind[0] = x, d.bind[1] = cb, d.bind[2] = codes;
    P(0) = t_len, P(1) = dim, P(2) = (uint32_t)cb->shape[1], P(3) = (uint32_t)codes->shape[0];
    P(4) = (uint32_t)x->stride[0], P(5) = (uint32_t)x->stride[1];
    vk_grid_1d(r, encode ? t_len : groups_for((uint64_t)t_len * dim, 128), d.groups);
    return vk_record_dispatch(r, &d, false);
}

static rg_status record_sample(vk_rec *r, const rg_op *op) {
    const rg_tensor *l = &op->t[SMP_LOGITS];
    const rg_sample_params *p = &op->p.sample;
    uint32_t v = (uint32_t)l->shape[l->ndim - 1];
    uint32_t rows = (uint32_t)(rg_tensor_numel(l) / v);
    vk_dispatch d = new_dispatch(VKF_SAMPLE);
    d.spec[0] = 256;
    d.nspec = 1;
    d.bind[0] = l, d.bind[1] = &op->t[SMP_IDS];
    P(0) = v;
    P(1) = f2u(p->temperature > 0.0f ? 1.0f / p->temperature : 0.0f);
    P(2) = (uint32_t)p->top_k;
    P(3) = f2u(p->top_p);
    P(4) = (uint32_t)p->seed, P(5) = (uint32_t)(p->seed >> 32), P(6) = p->step;
    P(7) = rows;
    vk_grid_1d(r, rows, d.groups);
    return vk_record_dispatch(r, &d, false);
}

/* Two dispatches on the same bindings: the per-frame controls and phases
 * (one work group, see harmonic.comp), then one thread per sample. */
static rg_status record_harmonic(vk_rec *r, const rg_op *op) {
    const rg_tensor *h = &op->t[HARM_H];
    const rg_harmonic_params *p = &op->p.harm;
    uint32_t t_len = (uint32_t)h->shape[1];
    uint64_t n = (uint64_t)(t_len - p->first_frame) * (uint64_t)p->hop;
    if (n > UINT32_MAX)
        return rg_fail(r->dev, RG_ERR_UNSUPPORTED, "vulkan: harmonic output too long");
    vk_dispatch d = new_dispatch(VKF_HARMONIC);
    d.spec[0] = 64;
    d.spec[1] = 0;
    d.nspec = 2;
    const rg_tensor *track = op->t[HARM_F0].buf ? &op->t[HARM_F0] : NULL; /* NULL: dummy */
    d.bind[0] = h, d.bind[1] = &op->t[HARM_SCRATCH], d.bind[2] = &op->t[HARM_OUT];
    d.bind[3] = track;
    P(0) = t_len, P(1) = (uint32_t)h->shape[0] - 1, P(2) = (uint32_t)p->hop;
    P(3) = (uint32_t)p->first_frame;
    P(4) = (uint32_t)h->stride[0], P(5) = (uint32_t)h->stride[1];
    P(6) = f2u(p->sample_rate), P(7) = f2u(p->f0_min);
    P(8) = f2u((float)log2((double)p->f0_max / p->f0_min));
    P(9) = p->accumulate, P(10) = (uint32_t)n;
    P(11) = track != NULL, P(12) = track ? (uint32_t)track->stride[0] : 0;
    d.groups[0] = d.groups[1] = d.groups[2] = 1;
    rg_status s = vk_record_dispatch(r, &d, false);
    if (s != RG_OK)
        return s;
    d.spec[1] = 1;
    vk_grid_1d(r, groups_for(n, 64), d.groups);
    return vk_record_dispatch(r, &d, true);
}

/* ------------------------------------------------------------------------ */

/* Opcode numbers of elementwise.comp. */
static uint32_t unary_opcode(rg_unary f) { return 10u + (uint32_t)f; }

rg_status vk_record_op(vk_rec *r, const rg_op *op) {
    switch (op->kind) {
    case RG_OP_MATMUL: return record_matmul(r, op);
    case RG_OP_BINARY:
        return record_elementwise(r, op->p.bin.op == RG_BINARY_ADD ? 0 : 1, &op->t[BIN_A],
                                  &op->t[BIN_B], &op->t[BIN_OUT], 0, 0);
    case RG_OP_SCALE:
        return record_elementwise(r, 2, &op->t[UN_A], NULL, &op->t[UN_OUT], op->p.scale.scale,
                                  op->p.scale.shift);
    case RG_OP_UNARY:
        return record_elementwise(r, unary_opcode(op->p.un.f), &op->t[UN_A], NULL,
                                  &op->t[UN_OUT], op->p.un.param, 0);
    case RG_OP_LAYER_NORM:
    case RG_OP_RMS_NORM:
    case RG_OP_SOFTMAX: return record_norm(r, op);
    case RG_OP_EMBEDDING: return record_embedding(r, op);
    case RG_OP_COPY: return record_copy(r, &op->t[CPY_SRC], &op->t[CPY_DST]);
    case RG_OP_CONV1D: return record_conv1d(r, op);
    case RG_OP_CONV_T1D: return record_conv_t1d(r, op);
    case RG_OP_LSTM: return record_lstm(r, op);
    case RG_OP_ATTENTION: return record_attention(r, op);
    case RG_OP_RVQ_ENCODE: return record_rvq(r, op, true);
    case RG_OP_RVQ_DECODE: return record_rvq(r, op, false);
    case RG_OP_SAMPLE: return record_sample(r, op);
    case RG_OP_HARMONIC: return record_harmonic(r, op);
    case RG_OP_KIND_COUNT: break;
    }
    return rg_fail(r->dev, RG_ERR_INVALID, "vulkan: unknown op kind %d", (int)op->kind);
}
