#include "graph/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool rg_error_set(rg_error *err, rg_error_code code, const char *file, int line, int col,
                  const char *fmt, ...)
{
    if (!err)
        return false;
    err->code = code;
    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}

void rg_error_format(const rg_error *err, char *buf, int size)
{
    if (err->file[0] && err->line > 0)
        snprintf(buf, size, "%s:%d:%d: error: %s", err->file, err->line, err->col, err->message);
    else if (err->file[0])
        snprintf(buf, size, "%s: error: %s", err->file, err->message);
    else
        snprintf(buf, size, "error: %s", err->message);
}

const char *rg_error_code_name(rg_error_code code)
{
    static const char *names[] = {
        [RG_ERR_NONE] = "ok",
        [RG_ERR_SYNTAX] = "syntax",
        [RG_ERR_UNKNOWN_TYPE] = "unknown-type",
        [RG_ERR_UNKNOWN_NODE] = "unknown-node",
        [RG_ERR_UNKNOWN_PORT] = "unknown-port",
        [RG_ERR_UNKNOWN_PARAM] = "unknown-param",
        [RG_ERR_VALUE] = "value",
        [RG_ERR_DUPLICATE] = "duplicate",
        [RG_ERR_PORT_TYPE] = "port-type",
        [RG_ERR_DIRECTION] = "direction",
        [RG_ERR_CABLES] = "cables",
        [RG_ERR_CYCLE] = "cycle",
        [RG_ERR_IO] = "io",
        [RG_ERR_NODE_INIT] = "node-init",
        [RG_ERR_INTERNAL] = "internal",
    };
    if ((unsigned)code < sizeof names / sizeof names[0] && names[code])
        return names[code];
    return "unknown";
}
