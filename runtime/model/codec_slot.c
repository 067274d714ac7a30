#include "runtime/model/codec_slot.h"

#include <stdio.h>

#include "runtime/model/model_path.h"

#include "runtime/tensor/tensor.h"

bool rg_codec_slot_init(rg_codec_slot *s, const char *base_dir, const char *model,
                        rg_error *err)
{
    if (!rg_model_resolve(base_dir, model, s->path, sizeof s->path, err))
        return false;
    rg_error probe = {0};
    if (!rg_encodec_probe(s->path, &s->cfg, &probe))
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0, "%s: %s", probe.file,
                            probe.message);
    return true;
}

bool rg_codec_slot_model(rg_codec_slot *s, rg_encodec **out, rg_error *err)
{
    if (!s->dev) {
        char msg[512] = "";
        if (rg_device_create(NULL, &s->dev, msg, sizeof msg) != RG_OK)
            return rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "no compute device: %s", msg);
    }
    if (!s->model && !rg_encodec_load(s->path, s->dev, &s->model, err))
        return false;
    *out = s->model;
    return true;
}

void rg_codec_slot_free(rg_codec_slot *s)
{
    rg_encodec_free(s->model);
    rg_device_destroy(s->dev);
    s->model = NULL;
    s->dev = NULL;
}
