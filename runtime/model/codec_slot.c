#include "runtime/model/codec_slot.h"

#include <stdio.h>

#include "runtime/audio_file.h"

#include "runtime/tensor/tensor.h"

bool rg_codec_slot_init(rg_codec_slot *s, const char *base_dir, const char *model,
                        rg_error *err)
{
    if (!model || !model[0])
        return rg_error_set(err, RG_ERR_NODE_INIT, NULL, 0, 0,
                            "no model given (set model=\"path/to/encodec_32khz\", a folder "
                            "with model.safetensors and config.json)");
    rg_resolve_path(base_dir, model, s->path, sizeof s->path);
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
