/* SentencePiece unigram tokenizer (see spm.h).
 *
 * Three parts: a protobuf reader for ModelProto, the normaliser (darts-clone
 * double-array trie over the precompiled charsmap, then SentencePiece's
 * whitespace rules) and the unigram Viterbi over a byte trie of the pieces.
 * The order of comparisons and the float/double mix in the Viterbi follow
 * sentencepiece's EncodeOptimized so that near-ties break the same way.
 */
#include "runtime/model/spm.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_SYMBOL "\xe2\x96\x81" /* U+2581, what SentencePiece writes for ' ' */
#define REPLACEMENT "\xef\xbf\xbd"  /* U+FFFD, for bytes that are not UTF-8 */
#define UNK_PENALTY 10.0f           /* unknown char score: min score - this */
#define MAX_TRIE_RESULTS 32         /* the normaliser keeps this many matches */

/* ModelProto.SentencePiece.Type */
enum { PIECE_NORMAL = 1, PIECE_UNKNOWN = 2, PIECE_CONTROL = 3, PIECE_USER = 4,
       PIECE_UNUSED = 5, PIECE_BYTE = 6 };

typedef struct {
    char *text;
    size_t len;
    float score;
    int type;
} piece;

/* Byte trie of the pieces that segmentation may use. */
typedef struct {
    int32_t first_child, next_sibling, id; /* id -1: no piece ends here */
    uint8_t byte;
} trie_node;

struct rg_spm {
    char name[256];
    piece *pieces;
    int n_pieces, cap_pieces;
    trie_node *trie;
    int n_trie, cap_trie;
    int unk_id, eos_id, pad_id;
    float min_score, max_score;
    /* normaliser */
    uint8_t *charsmap;      /* the precompiled_charsmap blob (owned) */
    size_t charsmap_size;
    const uint32_t *darts;  /* double-array units inside charsmap (aligned copy) */
    size_t n_darts;
    const char *norm_strings; /* NUL-terminated replacement strings */
    size_t norm_size;
    bool add_dummy_prefix, remove_extra_ws, escape_ws;
    /* trainer_spec fields that change tokenisation */
    int model_type, pad_id_spec;
    bool ws_suffix, byte_fallback;
};

/* ------------------------------------------------------------------------ */
/* Protobuf reader                                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p, *end;
} pb_reader;

typedef struct {
    uint32_t field;
    int wire;
    uint64_t v;                /* varint / fixed value */
    const uint8_t *data;       /* length-delimited payload */
    size_t len;
} pb_field;

static bool pb_varint(pb_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return false;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static bool pb_fixed(pb_reader *r, int bytes, uint64_t *out) {
    if (r->end - r->p < bytes) return false;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    *out = v;
    return true;
}

/* Next field of a message; false at the end or on malformed input
 * (*bad tells which). Groups (wire types 3, 4) are not used by ModelProto. */
static bool pb_next(pb_reader *r, pb_field *f, bool *bad) {
    *bad = false;
    if (r->p >= r->end) return false;
    uint64_t key;
    if (!pb_varint(r, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX) goto malformed;
    f->field = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case 0:
        if (!pb_varint(r, &f->v)) goto malformed;
        return true;
    case 1:
        if (!pb_fixed(r, 8, &f->v)) goto malformed;
        return true;
    case 5:
        if (!pb_fixed(r, 4, &f->v)) goto malformed;
        return true;
    case 2:
        if (!pb_varint(r, &f->v) || f->v > (uint64_t)(r->end - r->p)) goto malformed;
        f->data = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return true;
    default:
        goto malformed;
    }
malformed:
    *bad = true;
    return false;
}

static float pb_float(uint64_t bits) {
    uint32_t u = (uint32_t)bits;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ------------------------------------------------------------------------ */
/* Model parsing                                                            */
/* ------------------------------------------------------------------------ */

static bool fail(rg_error *err, const rg_spm *m, const char *what) {
    return rg_error_set(err, RG_ERR_NODE_INIT, m->name, 0, 0, "tokenizer model: %s", what);
}

static bool parse_piece(rg_spm *m, const uint8_t *data, size_t len, rg_error *err) {
    if (m->n_pieces == m->cap_pieces) {
        int cap = m->cap_pieces ? 2 * m->cap_pieces : 1024;
        piece *np = realloc(m->pieces, (size_t)cap * sizeof *np);
        if (!np) return fail(err, m, "out of memory");
        m->pieces = np;
        m->cap_pieces = cap;
    }
    piece pc = {.text = NULL, .len = 0, .score = 0.0f, .type = PIECE_NORMAL};
    pb_reader r = {data, data + len};
    pb_field f;
    bool bad;
    while (pb_next(&r, &f, &bad)) {
        if (f.field == 1 && f.wire == 2) {
            free(pc.text);
            pc.text = malloc(f.len + 1);
            if (!pc.text) return fail(err, m, "out of memory");
            memcpy(pc.text, f.data, f.len);
            pc.text[f.len] = '\0';
            pc.len = f.len;
        } else if (f.field == 2 && f.wire == 5) {
            pc.score = pb_float(f.v);
        } else if (f.field == 3 && f.wire == 0) {
            pc.type = (int)f.v;
        }
    }
    m->pieces[m->n_pieces++] = pc; /* stored first so rg_spm_free releases it */
    if (bad) return fail(err, m, "malformed piece entry");
    if (!pc.text || pc.len == 0) return fail(err, m, "a piece has no text");
    if (pc.type < PIECE_NORMAL || pc.type > PIECE_BYTE)
        return fail(err, m, "a piece has an unknown type");
    return true;
}

static bool parse_trainer_spec(rg_spm *m, const uint8_t *data, size_t len, rg_error *err) {
    pb_reader r = {data, data + len};
    pb_field f;
    bool bad;
    while (pb_next(&r, &f, &bad)) {
        if (f.wire != 0) continue;
        switch (f.field) {
        case 3: m->model_type = (int)f.v; break;
        case 24: m->ws_suffix = f.v != 0; break;
        case 35: m->byte_fallback = f.v != 0; break;
        case 43: m->pad_id_spec = (int)(int32_t)f.v; break;
        default: break;
        }
    }
    return bad ? fail(err, m, "malformed trainer_spec") : true;
}

static bool parse_normalizer_spec(rg_spm *m, const uint8_t *data, size_t len, rg_error *err) {
    pb_reader r = {data, data + len};
    pb_field f;
    bool bad;
    while (pb_next(&r, &f, &bad)) {
        if (f.field == 2 && f.wire == 2) {
            free(m->charsmap);
            m->charsmap = malloc(f.len ? f.len : 1);
            if (!m->charsmap) return fail(err, m, "out of memory");
            memcpy(m->charsmap, f.data, f.len);
            m->charsmap_size = f.len;
        } else if (f.wire == 0 && f.field == 3) {
            m->add_dummy_prefix = f.v != 0;
        } else if (f.wire == 0 && f.field == 4) {
            m->remove_extra_ws = f.v != 0;
        } else if (f.wire == 0 && f.field == 5) {
            m->escape_ws = f.v != 0;
        }
    }
    return bad ? fail(err, m, "malformed normalizer_spec") : true;
}

/* The charsmap blob: uint32 LE trie size, the double-array units, then the
 * NUL-terminated replacement strings the trie's values point into. */
static bool setup_charsmap(rg_spm *m, rg_error *err) {
    if (m->charsmap_size == 0) return true; /* identity normalisation */
    if (m->charsmap_size < 4) return fail(err, m, "precompiled_charsmap is truncated");
    const uint8_t *b = m->charsmap;
    uint32_t trie_size = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                         (uint32_t)b[3] << 24;
    if (trie_size % 4 != 0 || trie_size == 0 || trie_size > m->charsmap_size - 4)
        return fail(err, m, "precompiled_charsmap has a bad trie size");
    /* Copy the units so they are aligned and in host order. */
    size_t n = trie_size / 4;
    uint32_t *units = malloc(n * sizeof *units);
    if (!units) return fail(err, m, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const uint8_t *u = b + 4 + 4 * i;
        units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
                   (uint32_t)u[3] << 24;
    }
    m->darts = units;
    m->n_darts = n;
    m->norm_strings = (const char *)b + 4 + trie_size;
    m->norm_size = m->charsmap_size - 4 - trie_size;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Piece trie                                                               */
/* ------------------------------------------------------------------------ */

static int trie_add_node(rg_spm *m, uint8_t byte) {
    if (m->n_trie == m->cap_trie) {
        int cap = m->cap_trie ? 2 * m->cap_trie : 4096;
        trie_node *nt = realloc(m->trie, (size_t)cap * sizeof *nt);
        if (!nt) return -1;
        m->trie = nt;
        m->cap_trie = cap;
    }
    m->trie[m->n_trie] = (trie_node){-1, -1, -1, byte};
    return m->n_trie++;
}

static int trie_child(const rg_spm *m, int node, uint8_t byte) {
    for (int c = m->trie[node].first_child; c >= 0; c = m->trie[c].next_sibling)
        if (m->trie[c].byte == byte) return c;
    return -1;
}

static bool trie_insert(rg_spm *m, int id, rg_error *err) {
    const piece *pc = &m->pieces[id];
    int node = 0;
    for (size_t i = 0; i < pc->len; i++) {
        uint8_t byte = (uint8_t)pc->text[i];
        int c = trie_child(m, node, byte);
        if (c < 0) {
            c = trie_add_node(m, byte);
            if (c < 0) return fail(err, m, "out of memory");
            m->trie[c].next_sibling = m->trie[node].first_child;
            m->trie[node].first_child = c;
        }
        node = c;
    }
    if (m->trie[node].id >= 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "piece '%.200s' appears twice", pc->text);
        return fail(err, m, msg);
    }
    m->trie[node].id = id;
    return true;
}

/* Index the pieces as sentencepiece's ModelInterface does: normal, user
 * defined and unused pieces are matchable; <unk> and controls are not. */
static bool index_pieces(rg_spm *m, rg_error *err) {
    if (trie_add_node(m, 0) < 0) return fail(err, m, "out of memory");
    m->min_score = FLT_MAX;
    m->max_score = FLT_MIN; /* sic: sentencepiece starts from FLT_MIN too */
    for (int i = 0; i < m->n_pieces; i++) {
        const piece *pc = &m->pieces[i];
        if (pc->type == PIECE_NORMAL) {
            if (pc->score < m->min_score) m->min_score = pc->score;
            if (pc->score > m->max_score) m->max_score = pc->score;
        }
        if (pc->type == PIECE_UNKNOWN) m->unk_id = i;
        if (pc->type == PIECE_CONTROL && strcmp(pc->text, "</s>") == 0) m->eos_id = i;
        if (pc->type == PIECE_NORMAL || pc->type == PIECE_USER || pc->type == PIECE_UNUSED)
            if (!trie_insert(m, i, err)) return false;
    }
    if (m->unk_id < 0) return fail(err, m, "no <unk> piece");
    if (m->pad_id_spec >= 0 && m->pad_id_spec < m->n_pieces) m->pad_id = m->pad_id_spec;
    return true;
}

static bool check_supported(rg_spm *m, rg_error *err) {
    if (m->n_pieces == 0) return fail(err, m, "no pieces (is this a SentencePiece .model?)");
    if (m->model_type != 1)
        return fail(err, m, "only unigram models are supported (T5's spiece.model is one)");
    if (m->byte_fallback) return fail(err, m, "byte_fallback models are not supported");
    if (m->ws_suffix)
        return fail(err, m, "treat_whitespace_as_suffix models are not supported");
    return true;
}

static bool parse_model(rg_spm *m, const uint8_t *data, size_t size, rg_error *err) {
    pb_reader r = {data, data + size};
    pb_field f;
    bool bad;
    while (pb_next(&r, &f, &bad)) {
        if (f.wire != 2) continue;
        bool ok = true;
        if (f.field == 1) ok = parse_piece(m, f.data, f.len, err);
        else if (f.field == 2) ok = parse_trainer_spec(m, f.data, f.len, err);
        else if (f.field == 3) ok = parse_normalizer_spec(m, f.data, f.len, err);
        if (!ok) return false;
    }
    if (bad) return fail(err, m, "not a valid protobuf (truncated or corrupt file)");
    return check_supported(m, err) && setup_charsmap(m, err) && index_pieces(m, err);
}

bool rg_spm_parse(const void *data, size_t size, const char *name, rg_spm **out,
                  rg_error *err) {
    *out = NULL;
    rg_spm *m = calloc(1, sizeof *m);
    if (!m) return rg_error_set(err, RG_ERR_NODE_INIT, name, 0, 0, "out of memory");
    snprintf(m->name, sizeof m->name, "%s", name ? name : "spiece.model");
    m->unk_id = m->eos_id = m->pad_id = m->pad_id_spec = -1;
    m->model_type = 1; /* protobuf defaults */
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = true;
    if (!parse_model(m, data, size, err)) {
        rg_spm_free(m);
        return false;
    }
    *out = m;
    return true;
}

bool rg_spm_load(const char *path, rg_spm **out, rg_error *err) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot open tokenizer model");
    uint8_t *buf = NULL;
    size_t size = 0, cap = 0;
    bool ok = true;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            if (cap > ((size_t)1 << 30)) { ok = false; break; } /* no tokenizer is 1 GB */
            uint8_t *nb = realloc(buf, cap);
            if (!nb) { ok = false; break; }
            buf = nb;
        }
        size_t got = fread(buf + size, 1, cap - size, fp);
        size += got;
        if (got == 0) break;
    }
    if (ferror(fp)) ok = false;
    fclose(fp);
    if (!ok) {
        free(buf);
        return rg_error_set(err, RG_ERR_IO, path, 0, 0, "cannot read tokenizer model");
    }
    bool parsed = rg_spm_parse(buf, size, path, out, err);
    free(buf);
    return parsed;
}

void rg_spm_free(rg_spm *m) {
    if (!m) return;
    for (int i = 0; i < m->n_pieces; i++) free(m->pieces[i].text);
    free(m->pieces);
    free(m->trie);
    free((void *)m->darts);
    free(m->charsmap);
    free(m);
}

int rg_spm_vocab_size(const rg_spm *m) { return m->n_pieces; }
int rg_spm_eos_id(const rg_spm *m) { return m->eos_id; }
int rg_spm_unk_id(const rg_spm *m) { return m->unk_id; }
int rg_spm_pad_id(const rg_spm *m) { return m->pad_id; }

const char *rg_spm_piece(const rg_spm *m, int id) {
    return id >= 0 && id < m->n_pieces ? m->pieces[id].text : NULL;
}

/* ------------------------------------------------------------------------ */
/* Normalisation                                                            */
/* ------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_append(sbuf *s, const char *p, size_t n) {
    if (s->oom) return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->len + n + 1) cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) {
            s->oom = true;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

/* Length of a valid UTF-8 character at s (n bytes available), 0 if invalid.
 * Rejects overlongs, surrogates and code points above U+10FFFF, as
 * sentencepiece's IsValidDecodeUTF8 does. */
static size_t utf8_valid_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* darts-clone's unit fields. */
static uint32_t du_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static uint32_t du_label(uint32_t u) { return u & ((1u << 31) | 0xff); }
static bool du_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static uint32_t du_value(uint32_t u) { return u & ((1u << 31) - 1); }

/* Longest charsmap rule matching a prefix of s (commonPrefixSearch keeping
 * the first MAX_TRIE_RESULTS matches, as sentencepiece does). Returns the
 * matched length (0: none) and the rule's value in *value. Indices outside
 * the array end the search instead of reading out of bounds. */
static size_t charsmap_match(const rg_spm *m, const uint8_t *s, size_t n, uint32_t *value) {
    size_t best = 0, found = 0;
    uint32_t pos = du_offset(m->darts[0]);
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= m->n_darts) break;
        uint32_t unit = m->darts[pos];
        if (du_label(unit) != s[i]) break;
        pos ^= du_offset(unit);
        if (du_has_leaf(unit)) {
            if (pos >= m->n_darts) break;
            if (found++ < MAX_TRIE_RESULTS && i + 1 > best) {
                best = i + 1;
                *value = du_value(m->darts[pos]);
            }
        }
    }
    return best;
}

/* Longest user-defined piece that is a prefix of s (those are never
 * normalised). Linear: models have few or none. */
static size_t user_symbol_match(const rg_spm *m, const uint8_t *s, size_t n) {
    size_t best = 0;
    for (int i = 0; i < m->n_pieces; i++) {
        const piece *pc = &m->pieces[i];
        if (pc->type == PIECE_USER && pc->len <= n && pc->len > best &&
            memcmp(pc->text, s, pc->len) == 0)
            best = pc->len;
    }
    return best;
}

/* Normalise one prefix of s: *out and *out_len give the replacement, the return
 * value the number of input bytes consumed (>= 1). */
static size_t normalize_prefix(const rg_spm *m, const uint8_t *s, size_t n, const char **out,
                               size_t *out_len) {
    size_t user = user_symbol_match(m, s, n);
    if (user > 0) {
        *out = (const char *)s;
        *out_len = user;
        return user;
    }
    uint32_t value = 0;
    size_t len = m->darts ? charsmap_match(m, s, n, &value) : 0;
    if (len > 0 && value < m->norm_size) {
        *out = m->norm_strings + value;
        *out_len = strnlen(*out, m->norm_size - value);
        return len;
    }
    size_t ch = utf8_valid_len(s, n);
    if (ch == 0) {
        *out = REPLACEMENT;
        *out_len = 3;
        return 1;
    }
    *out = (const char *)s;
    *out_len = ch;
    return ch;
}

static bool ends_with(const sbuf *s, const char *suffix, size_t n) {
    return s->len >= n && memcmp(s->buf + s->len - n, suffix, n) == 0;
}

/* Append one normalised piece, applying the whitespace rules; returns
 * whether it ended in a space (sentencepiece's is_prev_space). */
static bool append_normalized(const rg_spm *m, sbuf *s, const char *sp, size_t n,
                              bool prev_space) {
    if (prev_space && m->remove_extra_ws)
        while (n > 0 && sp[0] == ' ') sp++, n--;
    if (n == 0) return prev_space;
    for (size_t i = 0; i < n; i++) {
        if (m->escape_ws && sp[i] == ' ') sb_append(s, SPACE_SYMBOL, 3);
        else sb_append(s, sp + i, 1);
    }
    return sp[n - 1] == ' ';
}

static void normalize_into(const rg_spm *m, const uint8_t *s, size_t n, sbuf *out) {
    const char *sp;
    size_t sp_len;
    if (m->remove_extra_ws) { /* drop leading whitespace */
        while (n > 0) {
            size_t used = normalize_prefix(m, s, n, &sp, &sp_len);
            if (!(sp_len == 1 && sp[0] == ' ')) break;
            s += used;
            n -= used;
        }
    }
    if (n == 0) return;
    if (m->add_dummy_prefix) {
        if (m->escape_ws) sb_append(out, SPACE_SYMBOL, 3);
        else sb_append(out, " ", 1);
    }
    bool prev_space = m->remove_extra_ws;
    while (n > 0) {
        size_t used = normalize_prefix(m, s, n, &sp, &sp_len);
        prev_space = append_normalized(m, out, sp, sp_len, prev_space);
        if (!m->remove_extra_ws) prev_space = false;
        s += used;
        n -= used;
    }
    if (m->remove_extra_ws) { /* drop trailing whitespace */
        const char *space = m->escape_ws ? SPACE_SYMBOL : " ";
        size_t sl = strlen(space);
        while (ends_with(out, space, sl)) out->len -= sl;
        if (out->buf) out->buf[out->len] = '\0';
    }
}

bool rg_spm_normalize(const rg_spm *m, const char *text, size_t len, char **out,
                      size_t *out_len, rg_error *err) {
    sbuf s = {0};
    sb_append(&s, "", 0); /* always return a string, even an empty one */
    normalize_into(m, (const uint8_t *)text, len, &s);
    if (s.oom) {
        free(s.buf);
        return fail(err, m, "out of memory while normalising");
    }
    *out = s.buf;
    *out_len = s.len;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Viterbi segmentation                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    int id;
    float score;   /* best path score ending here (float, as sentencepiece) */
    int starts_at; /* -1: not reached */
} best_node;

/* Byte length of the UTF-8 character starting with c, from its lead byte
 * only (sentencepiece's OneCharLen). */
static int one_char_len(uint8_t c) {
    static const int8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[c >> 4];
}

static void relax(best_node *t, double cand, int start, int id) {
    if (t->starts_at == -1 || cand > (double)t->score) {
        t->score = (float)cand;
        t->starts_at = start;
        t->id = id;
    }
}

/* Every piece starting at byte `start`, then the unknown fallback. */
static void viterbi_from(const rg_spm *m, const char *s, int size, int start, best_node *best) {
    const float here = best[start].score;
    const int mblen = one_char_len((uint8_t)s[start]) < size - start
                          ? one_char_len((uint8_t)s[start]) : size - start;
    bool has_single = false;
    int node = 0;
    for (int pos = start; pos < size; pos++) {
        node = trie_child(m, node, (uint8_t)s[pos]);
        if (node < 0) break;
        int id = m->trie[node].id;
        if (id < 0 || m->pieces[id].type == PIECE_UNUSED) continue;
        int length = pos + 1 - start;
        /* user-defined symbols get a bonus so they always win; the score is
         * a double there, as in sentencepiece, hence double throughout. */
        double score = m->pieces[id].type == PIECE_USER
                           ? (double)((float)length * m->max_score) - 0.1
                           : (double)m->pieces[id].score;
        relax(&best[pos + 1], score + (double)here, start, id);
        if (length == mblen) has_single = true;
    }
    if (!has_single) {
        float unk = (m->min_score - UNK_PENALTY) + here; /* float, as sentencepiece */
        relax(&best[start + mblen], (double)unk, start, m->unk_id);
    }
}

/* ids of the best segmentation, runs of <unk> merged into one. */
static int segment(const rg_spm *m, const char *s, int size, int32_t *ids) {
    best_node *best = malloc((size_t)(size + 1) * sizeof *best);
    if (!best) return -1;
    for (int i = 0; i <= size; i++) best[i] = (best_node){-1, 0.0f, -1};
    for (int start = 0; start < size;) {
        viterbi_from(m, s, size, start, best);
        int mb = one_char_len((uint8_t)s[start]);
        start += mb < size - start ? mb : size - start;
    }
    int n = 0;
    for (int end = size; end > 0; end = best[end].starts_at) ids[n++] = best[end].id;
    free(best);
    for (int i = 0; i < n / 2; i++) { /* reverse into text order */
        int32_t t = ids[i];
        ids[i] = ids[n - 1 - i];
        ids[n - 1 - i] = t;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!(k > 0 && ids[i] == m->unk_id && ids[k - 1] == m->unk_id)) ids[k++] = ids[i];
    return k;
}

bool rg_spm_encode(const rg_spm *m, const char *text, size_t len, bool add_eos,
                   int32_t **ids, int *n, rg_error *err) {
    *ids = NULL;
    *n = 0;
    if (add_eos && m->eos_id < 0) return fail(err, m, "the model has no </s> piece");
    char *norm;
    size_t norm_len;
    if (!rg_spm_normalize(m, text, len, &norm, &norm_len, err)) return false;
    if (norm_len > (size_t)INT32_MAX / 2) {
        free(norm);
        return fail(err, m, "text too long to tokenise");
    }
    /* At most one id per byte, plus </s>. */
    int32_t *out = malloc((norm_len + 1) * sizeof *out);
    int count = out ? segment(m, norm, (int)norm_len, out) : -1;
    free(norm);
    if (count < 0) {
        free(out);
        return fail(err, m, "out of memory while tokenising");
    }
    if (add_eos) out[count++] = m->eos_id;
    *ids = out;
    *n = count;
    return true;
}
