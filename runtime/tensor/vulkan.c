/* Vulkan backend (in progress). */
#include "runtime/tensor/tensor_internal.h"

rg_status rg_vk_open(rg_device *dev, const char *want, bool allow_cpu_type) {
    (void)want;
    (void)allow_cpu_type;
    return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan backend not built yet");
}
