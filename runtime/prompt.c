#include "runtime/prompt.h"

#include <stdio.h>
#include <string.h>

/* The value of a field, or "" when it has none; false if unknown. */
static bool field_value(const char *name, size_t len, const rg_prompt_fields *f, char *buf, size_t size)
{
#define IS(s) (len == strlen(s) && strncmp(name, s, len) == 0)
    buf[0] = '\0';
    if (IS("prompt"))
        snprintf(buf, size, "%s", f->prompt ? f->prompt : "");
    else if (IS("track"))
        snprintf(buf, size, "%s", f->track ? f->track : "");
    else if (IS("tempo")) {
        if (f->tempo > 0)
            snprintf(buf, size, "%g", f->tempo);
    } else if (IS("meter")) {
        if (f->meter_num > 0 && f->meter_den > 0)
            snprintf(buf, size, "%d/%d", f->meter_num, f->meter_den);
    } else if (IS("key"))
        snprintf(buf, size, "%s", f->key ? f->key : "");
    else
        return false;
    return true;
#undef IS
}

static bool append(char *out, size_t *n, size_t size, const char *s, size_t len)
{
    if (*n + len + 1 > size)
        return false;
    memcpy(out + *n, s, len);
    *n += len;
    out[*n] = '\0';
    return true;
}

/* Render one comma-separated segment of the template into `seg`. *empty
 * says whether it had a field without a value (then the segment is left
 * out). */
static bool render_segment(const char *p, const char *end, const rg_prompt_fields *f, char *seg,
                           size_t size, bool *empty, rg_error *err)
{
    size_t n = 0;
    seg[0] = '\0';
    *empty = false;
    while (p < end) {
        if (p + 1 < end && ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}'))) {
            if (!append(seg, &n, size, p, 1))
                return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "prompt too long");
            p += 2;
        } else if (*p == '{') {
            const char *close = memchr(p, '}', end - p);
            if (!close)
                return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "unclosed '{' in prompt template");
            char value[1024];
            if (!field_value(p + 1, close - p - 1, f, value, sizeof value))
                return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0,
                                    "unknown field '%.*s' in prompt template (use {prompt}, {track}, "
                                    "{tempo}, {meter} or {key})", (int)(close - p - 1), p + 1);
            *empty |= !value[0];
            if (!append(seg, &n, size, value, strlen(value)))
                return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "prompt too long");
            p = close + 1;
        } else {
            if (!append(seg, &n, size, p, 1))
                return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "prompt too long");
            p++;
        }
    }
    return true;
}

/* The end of the segment starting at p: the next comma outside braces. */
static const char *segment_end(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && depth > 0)
            depth--;
        else if (*p == ',' && depth == 0)
            return p;
    }
    return p;
}

bool rg_compose_prompt(const char *tmpl, const rg_prompt_fields *f, char *out, size_t size,
                       rg_error *err)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = tmpl;;) {
        const char *end = segment_end(p);
        while (p < end && *p == ' ')
            p++;
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        char seg[2048];
        bool empty;
        if (!render_segment(p, last, f, seg, sizeof seg, &empty, err))
            return false;
        if (!empty && seg[0] && ((n && !append(out, &n, size, ", ", 2)) || !append(out, &n, size, seg, strlen(seg))))
            return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "prompt too long");
        if (!*end)
            return true;
        p = end + 1;
    }
}
