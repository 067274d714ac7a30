#include "nodes/registry.h"

/* Every node type the engine knows, in the order `resonant nodes` lists them. */
static const rg_node_type *const builtin_types[] = {
    &rg_node_output,
    &rg_node_input,
    &rg_node_mixer,
    &rg_node_gain,
    &rg_node_file_in,
    &rg_node_file_out,
    &rg_node_sine,
    &rg_node_noise,
    &rg_node_click,
    &rg_node_synchronizer,
    &rg_node_tune,
    &rg_node_encoder,
    &rg_node_decoder,
    &rg_node_conditioner,
    &rg_node_generator,
};

static const rg_registry builtin = {
    builtin_types,
    (int)(sizeof builtin_types / sizeof builtin_types[0]),
};

const rg_registry *rg_builtin_registry(void)
{
    return &builtin;
}
