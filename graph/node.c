/* Reading and publishing values on non-audio ports. All generate() calls
 * run on one worker thread, one at a time, so a value cannot be released
 * between a reader loading it and taking its reference; the atomics make
 * published values visible to other threads that look (status, export). */
#include "graph/node.h"

rg_data *rg_node_read(const rg_node *node, int port, int cable)
{
    if (port < 0 || port >= RG_MAX_PORTS || cable < 0 || cable >= node->n_in_cables[port] ||
        !node->data_in[port])
        return NULL;
    const rg_data_source *src = &node->data_in[port][cable];
    return rg_data_ref(atomic_load_explicit(&src->node->data_out[src->port], memory_order_acquire));
}

void rg_node_publish(rg_node *node, int port, rg_data *value)
{
    rg_data *old = atomic_exchange_explicit(&node->data_out[port], value, memory_order_acq_rel);
    rg_data_unref(old);
}

rg_data *rg_node_published(rg_node *node, int port)
{
    return rg_data_ref(atomic_load_explicit(&node->data_out[port], memory_order_acquire));
}
