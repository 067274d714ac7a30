/* libFuzzer target for the patch parser. Beyond "no crash", it checks the
 * writer's promise on every patch that parses: parse(write(g)) == g. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/patch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_error err;
    rg_graph *g = rg_patch_parse(rg_builtin_registry(), (const char *)data, size, "fuzz", &err);
    if (!g) {
        if (err.code == RG_ERR_NONE || err.line < 0 || err.col < 0 || !memchr(err.message, '\0', sizeof err.message))
            abort(); /* a rejection must say why and where */
        return 0;
    }
    char *text = rg_patch_write(g);
    if (!text)
        abort();
    rg_graph *back = rg_patch_parse(rg_builtin_registry(), text, strlen(text), "written", &err);
    if (!back || !rg_graph_equal(g, back)) {
        fprintf(stderr, "round trip failed:\n%s\n", text);
        abort();
    }
    free(text);
    rg_graph_free(back);
    rg_graph_free(g);
    return 0;
}
