/* The built-in node types. Add a node: write nodes/NAME.c defining
 * `const rg_node_type rg_node_NAME`, declare it here, list it in
 * nodes/registry.c and nodes/meson.build. */
#ifndef RG_NODES_REGISTRY_H
#define RG_NODES_REGISTRY_H

#include "graph/registry.h"

extern const rg_node_type rg_node_output;
extern const rg_node_type rg_node_input;
extern const rg_node_type rg_node_mixer;
extern const rg_node_type rg_node_gain;
extern const rg_node_type rg_node_file_in;
extern const rg_node_type rg_node_file_out;
extern const rg_node_type rg_node_sine;
extern const rg_node_type rg_node_noise;
extern const rg_node_type rg_node_click;
extern const rg_node_type rg_node_synchronizer;
extern const rg_node_type rg_node_tune;
extern const rg_node_type rg_node_encoder;
extern const rg_node_type rg_node_decoder;
extern const rg_node_type rg_node_conditioner;
extern const rg_node_type rg_node_generator;

#endif
