#include "tests/graph/fake_nodes.h"

#include <stdlib.h>

static const rg_port_def text_out[] = {{"cond", RG_PORT_COND, 0, 0, "conditioning"}};
static const rg_param_def text_params[] = {
    {"prompt", RG_PARAM_STRING, 0, 0, 0, "", NULL, "what to make", false},
};
static const rg_port_def gen_in[] = {
    {"cond", RG_PORT_COND, 0, 1, "conditioning"},
    {"context", RG_PORT_TOKENS, 0, 4, "locked tracks"},
    {"grid", RG_PORT_GRID, 0, 1, "tempo grid"},
};
static const rg_port_def gen_out[] = {{"tokens", RG_PORT_TOKENS, 0, 0, "codes"}};
static const rg_param_def gen_params[] = {
    {"track", RG_PARAM_ENUM, 0, 0, 0, "drums", "drums|bass|chords|lead", "role", false},
    {"bars", RG_PARAM_INT, 4, 1, 64, NULL, NULL, "length", false},
    {"seed", RG_PARAM_INT, 0, 0, 2147483647, NULL, NULL, "seed", false},
    {"lock", RG_PARAM_BOOL, 0, 0, 1, NULL, NULL, "keep the take", false},
    {"temperature", RG_PARAM_FLOAT, 1, 0.01, 4, NULL, NULL, "sampling temperature", false},
};
static const rg_port_def dec_in[] = {{"tokens", RG_PORT_TOKENS, 0, 1, "codes"}};
static const rg_port_def dec_out[] = {{"audio", RG_PORT_AUDIO, 1, 0, "decoded audio"}};
static const rg_port_def clock_out[] = {{"grid", RG_PORT_GRID, 0, 0, "grid"}};

static void never(rg_node *n, const rg_process_ctx *ctx) { (void)n; (void)ctx; abort(); }

static const rg_node_type fake_conditioner = {
    .name = "t_text", .doc = "test stand-in",
    .outputs = text_out, .n_outputs = 1, .params = text_params, .n_params = 1, .process = never};
static const rg_node_type fake_generator = {
    .name = "t_gen", .doc = "test stand-in",
    .inputs = gen_in, .n_inputs = 3, .outputs = gen_out, .n_outputs = 1,
    .params = gen_params, .n_params = 5, .process = never};
static const rg_node_type fake_decoder = {
    .name = "t_dec", .doc = "test stand-in",
    .inputs = dec_in, .n_inputs = 1, .outputs = dec_out, .n_outputs = 1, .process = never};
static const rg_node_type fake_clock = {
    .name = "t_clock", .doc = "test stand-in", .outputs = clock_out, .n_outputs = 1, .process = never};

const rg_registry *fake_registry(void)
{
    static const rg_node_type *types[64];
    static rg_registry reg = {types, 0};
    if (reg.count == 0) {
        const rg_registry *builtin = rg_builtin_registry();
        for (int i = 0; i < builtin->count && reg.count < 60; i++)
            types[reg.count++] = builtin->types[i];
        const rg_node_type *fakes[] = {&fake_conditioner, &fake_generator, &fake_decoder, &fake_clock};
        for (int i = 0; i < 4; i++)
            types[reg.count++] = fakes[i];
    }
    return &reg;
}
