/* Errors are values: a location, a class a test can assert on, and a
 * message a musician can act on. Printed as `file:line:col: error: message`. */
#ifndef RG_ERROR_H
#define RG_ERROR_H

#include <stdbool.h>

typedef enum {
    RG_ERR_NONE = 0,
    RG_ERR_SYNTAX,        /* unexpected character, missing token, bad escape */
    RG_ERR_UNKNOWN_TYPE,  /* node type not in the registry */
    RG_ERR_UNKNOWN_NODE,  /* a name that no `node` statement declares */
    RG_ERR_UNKNOWN_PORT,  /* port not declared by the node type */
    RG_ERR_UNKNOWN_PARAM, /* parameter not declared by the node type */
    RG_ERR_VALUE,         /* wrong value type or out of range */
    RG_ERR_DUPLICATE,     /* node declared twice, parameter given twice, cable twice */
    RG_ERR_PORT_TYPE,     /* connecting incompatible port types */
    RG_ERR_DIRECTION,     /* an input used as a source or an output as a destination */
    RG_ERR_CABLES,        /* more cables into an input than it takes */
    RG_ERR_CYCLE,         /* the graph has a cycle */
    RG_ERR_IO,            /* file could not be read or written */
    RG_ERR_NODE_INIT,     /* a node could not start (missing file, bad model) */
    RG_ERR_INTERNAL,
} rg_error_code;

typedef struct {
    rg_error_code code;
    char file[256];
    int line, col;        /* 1-based; 0 when the error has no place in a file */
    char message[512];
} rg_error;

/* Fill `err` (when non-NULL); always returns false so callers can
 * `return rg_error_set(...)`. */
bool rg_error_set(rg_error *err, rg_error_code code, const char *file, int line, int col,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* `file:line:col: error: message` (or `error: message` with no place) into buf. */
void rg_error_format(const rg_error *err, char *buf, int size);

const char *rg_error_code_name(rg_error_code code);

#endif
