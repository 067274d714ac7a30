#include "runtime/history.h"

static int capacity(const rg_node *n)
{
    int p = rg_node_type_param(n->type, "history");
    int cap = p >= 0 ? (int)n->params[p].num : RG_HISTORY_DEFAULT;
    return cap < 1 ? 1 : cap > RG_MAX_HISTORY ? RG_MAX_HISTORY : cap;
}

void rg_history_record(rg_node *n)
{
    rg_data *now = rg_node_published(n, 0);
    if (!now)
        return;
    if (n->history_len > 0 && n->history[n->history_pos]->id == now->id) {
        rg_data_unref(now);
        return;
    }
    /* Forget the undone takes after the current one. */
    while (n->history_len > n->history_pos + 1)
        rg_data_unref(n->history[--n->history_len]);
    if (n->history_len == capacity(n)) {
        rg_data_unref(n->history[0]);
        for (int i = 1; i < n->history_len; i++)
            n->history[i - 1] = n->history[i];
        n->history_len--;
    }
    n->history[n->history_len++] = now; /* keeps the reference */
    n->history_pos = n->history_len - 1;
}

static bool republish(rg_node *n, int pos)
{
    n->history_pos = pos;
    rg_node_publish(n, 0, rg_data_ref(n->history[pos]));
    return true;
}

bool rg_history_undo(rg_node *n, rg_error *err)
{
    if (n->history_len == 0 || n->history_pos == 0)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "'%s' has no earlier take", n->name);
    return republish(n, n->history_pos - 1);
}

bool rg_history_redo(rg_node *n, rg_error *err)
{
    if (n->history_pos + 1 >= n->history_len)
        return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "'%s' has no later take", n->name);
    return republish(n, n->history_pos + 1);
}

bool rg_history_select(rg_node *n, uint64_t id, rg_error *err)
{
    for (int i = 0; i < n->history_len; i++)
        if (n->history[i]->id == id)
            return republish(n, i);
    return rg_error_set(err, RG_ERR_VALUE, NULL, 0, 0, "'%s' has no take %llu in its history",
                        n->name, (unsigned long long)id);
}

void rg_history_clear(rg_node *n)
{
    for (int i = 0; i < n->history_len; i++)
        rg_data_unref(n->history[i]);
    n->history_len = n->history_pos = 0;
}
