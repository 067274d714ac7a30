/* Vulkan backend core: loader, instance and device selection, memory
 * sub-allocation, pipelines (with an on-disk cache), command submission,
 * timestamps. The ops themselves are in vk_ops.c. */
#include "runtime/tensor/vk_internal.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "shaders/attention.spv.h"
#include "shaders/conv1d.spv.h"
#include "shaders/conv_transpose1d.spv.h"
#include "shaders/copy.spv.h"
#include "shaders/elementwise.spv.h"
#include "shaders/embedding.spv.h"
#include "shaders/harmonic.spv.h"
#include "shaders/lstm.spv.h"
#include "shaders/matmul.spv.h"
#include "shaders/matvec.spv.h"
#include "shaders/norm.spv.h"
#include "shaders/rvq.spv.h"
#include "shaders/sample.spv.h"

static const struct {
    const uint32_t *code;
    size_t size;
} spirv[VKF_COUNT] = {
    [VKF_ELEMENTWISE] = {rg_spv_elementwise, sizeof rg_spv_elementwise},
    [VKF_COPY] = {rg_spv_copy, sizeof rg_spv_copy},
    [VKF_MATMUL] = {rg_spv_matmul, sizeof rg_spv_matmul},
    [VKF_MATVEC] = {rg_spv_matvec, sizeof rg_spv_matvec},
    [VKF_NORM] = {rg_spv_norm, sizeof rg_spv_norm},
    [VKF_EMBEDDING] = {rg_spv_embedding, sizeof rg_spv_embedding},
    [VKF_CONV1D] = {rg_spv_conv1d, sizeof rg_spv_conv1d},
    [VKF_CONV_T1D] = {rg_spv_conv_transpose1d, sizeof rg_spv_conv_transpose1d},
    [VKF_LSTM] = {rg_spv_lstm, sizeof rg_spv_lstm},
    [VKF_ATTENTION] = {rg_spv_attention, sizeof rg_spv_attention},
    [VKF_RVQ] = {rg_spv_rvq, sizeof rg_spv_rvq},
    [VKF_SAMPLE] = {rg_spv_sample, sizeof rg_spv_sample},
    [VKF_HARMONIC] = {rg_spv_harmonic, sizeof rg_spv_harmonic},
};

#define BLOCK_SIZE ((VkDeviceSize)64 << 20)
#define ALLOC_ALIGN ((VkDeviceSize)256)

/* Map a VkResult to a status, marking the device lost when it is. */
static rg_status vk_status(rg_device *dev, VkResult r, const char *what) {
    vk_device *vd = dev->impl;
    switch (r) {
    case VK_SUCCESS: return RG_OK;
    case VK_ERROR_OUT_OF_HOST_MEMORY:
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        return rg_fail(dev, RG_ERR_OOM, "vulkan: %s: out of memory (%d)", what, (int)r);
    case VK_ERROR_DEVICE_LOST:
        if (vd)
            vd->lost = true;
        return rg_fail(dev, RG_ERR_DEVICE_LOST, "vulkan: %s: device lost", what);
    default:
        return rg_fail(dev, RG_ERR_BACKEND, "vulkan: %s failed (VkResult %d)", what, (int)r);
    }
}

/* ------------------------------------------------------------------------ */
/* Loader and instance                                                      */
/* ------------------------------------------------------------------------ */

static rg_status load_loader(rg_device *dev, vk_device *vd) {
    /* RESONANT_VULKAN_LOADER names another loader library (tests use a
     * missing one to check the CPU fallback). */
    const char *name = getenv("RESONANT_VULKAN_LOADER");
    vd->lib = dlopen(name && *name ? name : "libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!vd->lib && !(name && *name))
        vd->lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
    if (!vd->lib)
        return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan: no loader (%s)",
                       name && *name ? name : "libvulkan.so.1");
    vd->f.vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(vd->lib, "vkGetInstanceProcAddr");
    if (!vd->f.vkGetInstanceProcAddr)
        return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan: loader lacks vkGetInstanceProcAddr");
#define LOAD_GLOBAL(name) \
    vd->f.name = (PFN_##name)vd->f.vkGetInstanceProcAddr(NULL, #name); \
    if (!vd->f.name) return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan: missing %s", #name);
    RG_VK_GLOBAL_FUNCS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
    return RG_OK;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)type;
    rg_device *dev = user;
    if (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        dev->validation_count++;
        fprintf(stderr, "resonant vulkan validation: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

static bool has_layer(vk_device *vd, const char *name) {
    uint32_t n = 0;
    vd->f.vkEnumerateInstanceLayerProperties(&n, NULL);
    VkLayerProperties *l = calloc(n ? n : 1, sizeof *l);
    bool found = false;
    if (l && vd->f.vkEnumerateInstanceLayerProperties(&n, l) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(l[i].layerName, name) == 0;
    free(l);
    return found;
}

static rg_status create_instance(rg_device *dev, vk_device *vd) {
    const char *v = getenv("RESONANT_VALIDATION");
    bool validate = v && strcmp(v, "1") == 0;
    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    if (validate && !has_layer(vd, layer))
        return rg_fail(dev, RG_ERR_NO_DEVICE,
                       "RESONANT_VALIDATION=1 but %s is not installed", layer);
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "resonant",
        .pEngineName = "resonant-tensor",
        .apiVersion = VK_API_VERSION_1_1,
    };
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation,
        .pUserData = dev,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validate ? &dbg : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = validate ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = validate ? 1 : 0,
        .ppEnabledExtensionNames = &ext,
    };
    VkResult r = vd->f.vkCreateInstance(&ci, NULL, &vd->instance);
    if (r != VK_SUCCESS)
        return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan: vkCreateInstance failed (%d)", (int)r);
#define LOAD_INST(name) \
    vd->f.name = (PFN_##name)vd->f.vkGetInstanceProcAddr(vd->instance, #name); \
    if (!vd->f.name) return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan: missing %s", #name);
    RG_VK_INSTANCE_FUNCS(LOAD_INST)
#undef LOAD_INST
#define LOAD_OPT(name) vd->f.name = (PFN_##name)vd->f.vkGetInstanceProcAddr(vd->instance, #name);
    RG_VK_OPTIONAL_FUNCS(LOAD_OPT)
#undef LOAD_OPT
    if (validate && vd->f.vkCreateDebugUtilsMessengerEXT)
        vd->f.vkCreateDebugUtilsMessengerEXT(vd->instance, &dbg, NULL, &vd->messenger);
    return RG_OK;
}

/* ------------------------------------------------------------------------ */
/* Physical device selection                                                */
/* ------------------------------------------------------------------------ */

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

static bool name_matches(const char *name, const char *want) {
    size_t n = strlen(want);
    for (const char *p = name; *p; p++)
        if (strncasecmp(p, want, n) == 0)
            return true;
    return false;
}

/* What the shaders need: a compute queue, subgroup arithmetic and ballot
 * (broadcast), and subgroups of at least 8 lanes (the register-tiled matmul
 * shares 8 loads per subgroup). */
static bool usable(vk_device *vd, VkPhysicalDevice pd, uint32_t *family, uint32_t *subgroup) {
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
    vd->f.vkGetPhysicalDeviceProperties2(pd, &p2);
    if (p2.properties.apiVersion < VK_API_VERSION_1_1)
        return false;
    if (!(sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ||
        !(sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) ||
        !(sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT) ||
        !(sg.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT) || sg.subgroupSize < 8)
        return false;
    *subgroup = sg.subgroupSize;
    uint32_t n = 0;
    vd->f.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties q[32];
    n = n > 32 ? 32 : n;
    vd->f.vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    for (uint32_t i = 0; i < n; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            *family = i;
            return true;
        }
    return false;
}

static rg_status pick_device(rg_device *dev, vk_device *vd, const char *want, bool allow_cpu) {
    uint32_t n = 0;
    vd->f.vkEnumeratePhysicalDevices(vd->instance, &n, NULL);
    if (n == 0)
        return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan: no devices");
    VkPhysicalDevice pds[16];
    n = n > 16 ? 16 : n;
    vd->f.vkEnumeratePhysicalDevices(vd->instance, &n, pds);
    bool by_index = want && *want && strspn(want, "0123456789") == strlen(want);
    int best = -1, best_rank = -1;
    uint32_t best_family = 0, best_sg = 0;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vd->f.vkGetPhysicalDeviceProperties(pds[i], &p);
        uint32_t family, sg;
        if (!usable(vd, pds[i], &family, &sg))
            continue;
        int rank = type_rank(p.deviceType);
        if (want) {
            bool hit = by_index ? (uint32_t)atoi(want) == i : name_matches(p.deviceName, want);
            if (!hit)
                continue;
        } else if (rank <= 1 && !allow_cpu) {
            continue; /* lavapipe: the CPU backend is much faster */
        }
        if (rank > best_rank) {
            best = (int)i, best_rank = rank, best_family = family, best_sg = sg;
        }
    }
    if (best < 0)
        return rg_fail(dev, RG_ERR_NO_DEVICE, want ? "vulkan: no usable device matches '%s'"
                                                   : "vulkan: no usable GPU%s",
                       want ? want : "");
    vd->phys = pds[best];
    vd->queue_family = best_family;
    vd->subgroup_size = best_sg;
    vd->f.vkGetPhysicalDeviceProperties(vd->phys, &vd->props);
    vd->f.vkGetPhysicalDeviceMemoryProperties(vd->phys, &vd->memprops);
    return RG_OK;
}

static rg_status create_device(rg_device *dev, vk_device *vd) {
    float prio = 1.0f;
    VkDeviceQueueCreateInfo q = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = vd->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkDeviceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &q,
    };
    VkResult r = vd->f.vkCreateDevice(vd->phys, &ci, NULL, &vd->device);
    if (r != VK_SUCCESS)
        return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan: vkCreateDevice failed (%d)", (int)r);
    vd->f.vkGetDeviceQueue(vd->device, vd->queue_family, 0, &vd->queue);
    uint32_t nq = 0;
    VkQueueFamilyProperties qp[32];
    vd->f.vkGetPhysicalDeviceQueueFamilyProperties(vd->phys, &nq, NULL);
    nq = nq > 32 ? 32 : nq;
    vd->f.vkGetPhysicalDeviceQueueFamilyProperties(vd->phys, &nq, qp);
    vd->timestamps = qp[vd->queue_family].timestampValidBits > 0 && vd->props.limits.timestampPeriod > 0;
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = vd->queue_family,
    };
    return vk_status(dev, vd->f.vkCreateCommandPool(vd->device, &pci, NULL, &vd->pool),
                     "vkCreateCommandPool");
}

/* ------------------------------------------------------------------------ */
/* Memory: 64 MiB blocks, first-fit free lists                              */
/* ------------------------------------------------------------------------ */

static bool pick_memory_type(vk_device *vd, uint32_t bits) {
    /* Prefer memory both device-local and host-visible (UMA, lavapipe,
     * resizable BAR): no staging copies. Else device-local with staging. */
    static const VkMemoryPropertyFlags wants[] = {
        VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
            VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
        VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
    };
    for (size_t w = 0; w < sizeof wants / sizeof *wants; w++)
        for (uint32_t i = 0; i < vd->memprops.memoryTypeCount; i++) {
            VkMemoryPropertyFlags f = vd->memprops.memoryTypes[i].propertyFlags;
            if ((bits & (1u << i)) && (f & wants[w]) == wants[w]) {
                vd->mem_type = i;
                vd->mem_host_visible = (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
                                       (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
                /* RESONANT_VK_STAGING=1 takes the discrete-GPU path (staging
                 * copies) even on UMA devices, so tests cover it. */
                const char *st = getenv("RESONANT_VK_STAGING");
                if (st && strcmp(st, "1") == 0)
                    vd->mem_host_visible = false;
                return true;
            }
        }
    return false;
}

static const VkBufferUsageFlags BUFFER_USAGE = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                               VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                               VK_BUFFER_USAGE_TRANSFER_DST_BIT;

static rg_status create_raw_buffer(rg_device *dev, VkDeviceSize size, uint32_t mem_type_or_max,
                                   VkBuffer *buf, VkDeviceMemory *mem, bool choose_type) {
    vk_device *vd = dev->impl;
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = BUFFER_USAGE,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    rg_status s = vk_status(dev, vd->f.vkCreateBuffer(vd->device, &bi, NULL, buf), "vkCreateBuffer");
    if (s != RG_OK)
        return s;
    VkMemoryRequirements req;
    vd->f.vkGetBufferMemoryRequirements(vd->device, *buf, &req);
    uint32_t type = mem_type_or_max;
    if (choose_type) {
        if (!pick_memory_type(vd, req.memoryTypeBits)) {
            vd->f.vkDestroyBuffer(vd->device, *buf, NULL);
            return rg_fail(dev, RG_ERR_NO_DEVICE, "vulkan: no usable memory type");
        }
        type = vd->mem_type;
    } else if (!(req.memoryTypeBits & (1u << type))) {
        vd->f.vkDestroyBuffer(vd->device, *buf, NULL);
        return rg_fail(dev, RG_ERR_BACKEND, "vulkan: memory type mismatch");
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    s = vk_status(dev, vd->f.vkAllocateMemory(vd->device, &ai, NULL, mem), "vkAllocateMemory");
    if (s == RG_OK)
        s = vk_status(dev, vd->f.vkBindBufferMemory(vd->device, *buf, *mem, 0), "vkBindBufferMemory");
    if (s != RG_OK) {
        vd->f.vkDestroyBuffer(vd->device, *buf, NULL);
        if (*mem)
            vd->f.vkFreeMemory(vd->device, *mem, NULL);
        *mem = VK_NULL_HANDLE;
    }
    return s;
}

static rg_status block_create(rg_device *dev, VkDeviceSize size, vk_block **out) {
    vk_device *vd = dev->impl;
    vk_block *b = calloc(1, sizeof *b);
    if (!b)
        return rg_fail(dev, RG_ERR_OOM, "vulkan: no host memory");
    rg_status s = create_raw_buffer(dev, size, vd->mem_type, &b->buffer, &b->mem, false);
    if (s != RG_OK) {
        free(b);
        return s;
    }
    if (vd->mem_host_visible) {
        s = vk_status(dev, vd->f.vkMapMemory(vd->device, b->mem, 0, VK_WHOLE_SIZE, 0, &b->mapped),
                      "vkMapMemory");
        if (s != RG_OK) {
            vd->f.vkDestroyBuffer(vd->device, b->buffer, NULL);
            vd->f.vkFreeMemory(vd->device, b->mem, NULL);
            free(b);
            return s;
        }
    }
    b->size = size;
    b->free = malloc(sizeof *b->free * 8);
    b->capfree = 8;
    b->nfree = 1;
    b->free[0] = (struct vk_range){0, size};
    b->next = vd->blocks;
    vd->blocks = b;
    *out = b;
    return RG_OK;
}

static bool block_take(vk_block *b, VkDeviceSize size, VkDeviceSize *off) {
    for (int i = 0; i < b->nfree; i++)
        if (b->free[i].size >= size) {
            *off = b->free[i].off;
            b->free[i].off += size;
            b->free[i].size -= size;
            if (b->free[i].size == 0) {
                memmove(&b->free[i], &b->free[i + 1], (size_t)(b->nfree - i - 1) * sizeof *b->free);
                b->nfree--;
            }
            return true;
        }
    return false;
}

/* Return a range to the sorted free list, merging with its neighbours. */
static void block_give(vk_block *b, VkDeviceSize off, VkDeviceSize size) {
    int i = 0;
    while (i < b->nfree && b->free[i].off < off)
        i++;
    if (i > 0 && b->free[i - 1].off + b->free[i - 1].size == off) {
        b->free[i - 1].size += size;
        if (i < b->nfree && off + size == b->free[i].off) {
            b->free[i - 1].size += b->free[i].size;
            memmove(&b->free[i], &b->free[i + 1], (size_t)(b->nfree - i - 1) * sizeof *b->free);
            b->nfree--;
        }
        return;
    }
    if (i < b->nfree && off + size == b->free[i].off) {
        b->free[i].off = off;
        b->free[i].size += size;
        return;
    }
    if (b->nfree == b->capfree) {
        void *p = realloc(b->free, sizeof *b->free * (size_t)b->capfree * 2);
        if (!p)
            return; /* leak the range rather than corrupt the list */
        b->free = p;
        b->capfree *= 2;
    }
    memmove(&b->free[i + 1], &b->free[i], (size_t)(b->nfree - i) * sizeof *b->free);
    b->free[i] = (struct vk_range){off, size};
    b->nfree++;
}

static rg_status vk_alloc_range(rg_device *dev, VkDeviceSize size, vk_alloc *a) {
    vk_device *vd = dev->impl;
    size = (size + ALLOC_ALIGN - 1) & ~(ALLOC_ALIGN - 1);
    if (size == 0)
        size = ALLOC_ALIGN;
    for (vk_block *b = vd->blocks; b; b = b->next)
        if (block_take(b, size, &a->off)) {
            a->block = b, a->size = size;
            return RG_OK;
        }
    vk_block *b = NULL;
    rg_status s = block_create(dev, size > BLOCK_SIZE ? size : BLOCK_SIZE, &b);
    if (s != RG_OK)
        return s;
    block_take(b, size, &a->off);
    a->block = b, a->size = size;
    return RG_OK;
}

static void vk_free_range(vk_alloc *a) {
    if (a->block)
        block_give(a->block, a->off, a->size);
    a->block = NULL;
}

/* One-shot command buffer for staging copies and fills (non-UMA devices). */
static rg_status one_shot(rg_device *dev, VkBuffer src, VkDeviceSize src_off, VkBuffer dst,
                          VkDeviceSize dst_off, VkDeviceSize n, bool fill_zero) {
    vk_device *vd = dev->impl;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vd->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkCommandBuffer cb;
    rg_status s = vk_status(dev, vd->f.vkAllocateCommandBuffers(vd->device, &ai, &cb), "allocate");
    if (s != RG_OK)
        return s;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    vd->f.vkBeginCommandBuffer(cb, &bi);
    if (fill_zero) {
        vd->f.vkCmdFillBuffer(cb, dst, dst_off, n, 0);
    } else {
        VkBufferCopy region = {src_off, dst_off, n};
        vd->f.vkCmdCopyBuffer(cb, src, dst, 1, &region);
    }
    vd->f.vkEndCommandBuffer(cb);
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence;
    s = vk_status(dev, vd->f.vkCreateFence(vd->device, &fi, NULL, &fence), "vkCreateFence");
    if (s == RG_OK) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                           .pCommandBuffers = &cb};
        s = vk_status(dev, vd->f.vkQueueSubmit(vd->queue, 1, &si, fence), "vkQueueSubmit");
        if (s == RG_OK)
            s = vk_status(dev, vd->f.vkWaitForFences(vd->device, 1, &fence, VK_TRUE, UINT64_MAX),
                          "vkWaitForFences");
        vd->f.vkDestroyFence(vd->device, fence, NULL);
    }
    vd->f.vkFreeCommandBuffers(vd->device, vd->pool, 1, &cb);
    return s;
}

/* Host <-> device transfer through a temporary host-visible buffer. */
static rg_status staged_copy(rg_device *dev, rg_buffer *buf, size_t off, void *host, size_t n,
                             bool upload) {
    vk_device *vd = dev->impl;
    vk_alloc *a = buf->impl;
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < vd->memprops.memoryTypeCount && type == UINT32_MAX; i++) {
        VkMemoryPropertyFlags f = vd->memprops.memoryTypes[i].propertyFlags;
        if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT))
            type = i;
    }
    if (type == UINT32_MAX)
        return rg_fail(dev, RG_ERR_UNSUPPORTED, "vulkan: no host-visible memory for staging");
    VkBuffer sb;
    VkDeviceMemory sm = VK_NULL_HANDLE;
    rg_status s = create_raw_buffer(dev, n, type, &sb, &sm, false);
    if (s != RG_OK)
        return s;
    void *p = NULL;
    s = vk_status(dev, vd->f.vkMapMemory(vd->device, sm, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
    if (s == RG_OK && upload) {
        memcpy(p, host, n);
        s = one_shot(dev, sb, 0, a->block->buffer, a->off + off, n, false);
    } else if (s == RG_OK) {
        s = one_shot(dev, a->block->buffer, a->off + off, sb, 0, n, false);
        if (s == RG_OK)
            memcpy(host, p, n);
    }
    vd->f.vkDestroyBuffer(vd->device, sb, NULL);
    vd->f.vkFreeMemory(vd->device, sm, NULL);
    return s;
}

static rg_status vk_buffer_create(rg_device *dev, rg_buffer *buf) {
    vk_device *vd = dev->impl;
    if (vd->lost)
        return rg_fail(dev, RG_ERR_DEVICE_LOST, "vulkan: device lost");
    vk_alloc *a = calloc(1, sizeof *a);
    if (!a)
        return rg_fail(dev, RG_ERR_OOM, "vulkan: no host memory");
    if (buf->size > vd->memprops.memoryHeaps[vd->memprops.memoryTypes[vd->mem_type].heapIndex].size) {
        free(a);
        return rg_fail(dev, RG_ERR_OOM, "vulkan: %zu bytes exceed the memory heap", buf->size);
    }
    rg_status s = vk_alloc_range(dev, buf->size, a);
    if (s != RG_OK) {
        free(a);
        return s;
    }
    buf->impl = a;
    if (a->block->mapped) {
        buf->host = (char *)a->block->mapped + a->off;
        memset(buf->host, 0, a->size);
        return RG_OK;
    }
    s = one_shot(dev, VK_NULL_HANDLE, 0, a->block->buffer, a->off, a->size, true);
    if (s != RG_OK) {
        vk_free_range(a);
        free(a);
        buf->impl = NULL;
    }
    return s;
}

/* Give an empty block's memory back to the driver, so unloading a model
 * frees its memory. The device's first block (holding the dummy range) is
 * never empty and so stays. */
static void release_if_empty(vk_device *vd, vk_block *b) {
    if (b->nfree != 1 || b->free[0].off != 0 || b->free[0].size != b->size)
        return;
    for (vk_block **p = &vd->blocks; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    vd->f.vkDestroyBuffer(vd->device, b->buffer, NULL);
    vd->f.vkFreeMemory(vd->device, b->mem, NULL);
    free(b->free);
    free(b);
}

static void vk_buffer_destroy(rg_buffer *buf) {
    vk_alloc *a = buf->impl;
    if (a) {
        vk_block *b = a->block;
        vk_free_range(a);
        if (b)
            release_if_empty(buf->dev->impl, b);
        free(a);
    }
    buf->impl = NULL;
}

static rg_status vk_buffer_write(rg_buffer *buf, size_t off, const void *src, size_t n) {
    if (buf->host) {
        memcpy((char *)buf->host + off, src, n);
        return RG_OK;
    }
    return staged_copy(buf->dev, buf, off, (void *)src, n, true);
}

static rg_status vk_buffer_read(rg_buffer *buf, size_t off, void *dst, size_t n) {
    if (buf->host) {
        memcpy(dst, (const char *)buf->host + off, n);
        return RG_OK;
    }
    return staged_copy(buf->dev, buf, off, dst, n, false);
}

/* ------------------------------------------------------------------------ */
/* Pipelines                                                                */
/* ------------------------------------------------------------------------ */

static void cache_path(vk_device *vd) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[400];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/resonant", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/resonant", home);
    else
        return;
    /* Best effort: create both levels; failures just mean no cache. */
    char parent[400];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = 0;
        mkdir(parent, 0755);
    }
    mkdir(dir, 0755);
    snprintf(vd->cache_path, sizeof vd->cache_path, "%s/vk-pipelines-%04x-%04x-%08x.bin", dir,
             vd->props.vendorID, vd->props.deviceID, vd->props.driverVersion);
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    void *data = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n > 0 && n < (64l << 20) && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n))) {
            if (fread(data, 1, (size_t)n, f) != (size_t)n) {
                free(data);
                data = NULL;
            } else {
                *len = (size_t)n;
            }
        }
    }
    fclose(f);
    return data;
}

static rg_status create_pipeline_objects(rg_device *dev, vk_device *vd) {
    VkDescriptorSetLayoutBinding b[VK_MAX_BINDINGS];
    for (int i = 0; i < VK_MAX_BINDINGS; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = (uint32_t)i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo li = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = VK_MAX_BINDINGS,
        .pBindings = b,
    };
    rg_status s = vk_status(dev, vd->f.vkCreateDescriptorSetLayout(vd->device, &li, NULL, &vd->set_layout),
                            "vkCreateDescriptorSetLayout");
    if (s != RG_OK)
        return s;
    VkPushConstantRange pr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, VK_PUSH_WORDS * 4};
    VkPipelineLayoutCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &vd->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pr,
    };
    s = vk_status(dev, vd->f.vkCreatePipelineLayout(vd->device, &pi, NULL, &vd->pipe_layout),
                  "vkCreatePipelineLayout");
    if (s != RG_OK)
        return s;
    cache_path(vd);
    size_t len = 0;
    void *data = vd->cache_path[0] ? read_file(vd->cache_path, &len) : NULL;
    VkPipelineCacheCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = data ? len : 0,
        .pInitialData = data,
    };
    VkResult r = vd->f.vkCreatePipelineCache(vd->device, &ci, NULL, &vd->cache);
    if (r != VK_SUCCESS && data) { /* a stale or corrupt cache: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vd->f.vkCreatePipelineCache(vd->device, &ci, NULL, &vd->cache);
    }
    free(data);
    if (r != VK_SUCCESS)
        vd->cache = VK_NULL_HANDLE;
    for (int f = 0; f < VKF_COUNT; f++) {
        VkShaderModuleCreateInfo mi = {
            .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            .codeSize = spirv[f].size,
            .pCode = spirv[f].code,
        };
        s = vk_status(dev, vd->f.vkCreateShaderModule(vd->device, &mi, NULL, &vd->modules[f]),
                      "vkCreateShaderModule");
        if (s != RG_OK)
            return s;
    }
    return RG_OK;
}

static void save_pipeline_cache(vk_device *vd) {
    if (!vd->cache || !vd->cache_path[0])
        return;
    size_t n = 0;
    if (vd->f.vkGetPipelineCacheData(vd->device, vd->cache, &n, NULL) != VK_SUCCESS || !n)
        return;
    void *data = malloc(n);
    if (data && vd->f.vkGetPipelineCacheData(vd->device, vd->cache, &n, data) == VK_SUCCESS) {
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp", vd->cache_path);
        FILE *f = fopen(tmp, "wb");
        if (f) {
            bool ok = fwrite(data, 1, n, f) == n;
            ok = fclose(f) == 0 && ok;
            if (ok)
                rename(tmp, vd->cache_path); /* atomic: readers never see half */
            else
                remove(tmp);
        }
    }
    free(data);
}

static rg_status get_pipeline(rg_device *dev, vk_family fam, const uint32_t *spec, int nspec,
                              VkPipeline *out) {
    vk_device *vd = dev->impl;
    uint32_t key[VK_MAX_SPEC] = {0};
    memcpy(key, spec, (size_t)nspec * sizeof *spec);
    for (int i = 0; i < vd->npipes; i++)
        if (vd->pipes[i].family == fam && memcmp(vd->pipes[i].spec, key, sizeof key) == 0) {
            *out = vd->pipes[i].pipe;
            return RG_OK;
        }
    VkSpecializationMapEntry map[VK_MAX_SPEC];
    for (int i = 0; i < VK_MAX_SPEC; i++)
        map[i] = (VkSpecializationMapEntry){(uint32_t)i, (uint32_t)(i * 4), 4};
    VkSpecializationInfo si = {(uint32_t)nspec, map, (size_t)nspec * 4, key};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = vd->modules[fam],
            .pName = "main",
            .pSpecializationInfo = nspec ? &si : NULL,
        },
        .layout = vd->pipe_layout,
    };
    if (vd->npipes == vd->cappipes) {
        int cap = vd->cappipes ? vd->cappipes * 2 : 32;
        vk_pipeline *p = realloc(vd->pipes, (size_t)cap * sizeof *p);
        if (!p)
            return rg_fail(dev, RG_ERR_OOM, "vulkan: no host memory for pipelines");
        vd->pipes = p;
        vd->cappipes = cap;
    }
    VkPipeline pipe = VK_NULL_HANDLE;
    rg_status s = vk_status(dev, vd->f.vkCreateComputePipelines(vd->device, vd->cache, 1, &ci, NULL, &pipe),
                            "vkCreateComputePipelines");
    if (s != RG_OK)
        return s;
    vk_pipeline *p = &vd->pipes[vd->npipes++];
    p->family = fam;
    memcpy(p->spec, key, sizeof key);
    p->pipe = pipe;
    *out = pipe;
    return RG_OK;
}

/* ------------------------------------------------------------------------ */
/* Recording                                                                */
/* ------------------------------------------------------------------------ */

void vk_grid_1d(vk_rec *r, uint64_t groups, uint32_t out[3]) {
    uint64_t maxx = r->vd->props.limits.maxComputeWorkGroupCount[0];
    if (maxx > 65535)
        maxx = 65535;
    if (groups == 0)
        groups = 1;
    out[0] = (uint32_t)(groups < maxx ? groups : maxx);
    out[1] = (uint32_t)((groups + out[0] - 1) / out[0]);
    out[2] = 1;
}

/* The bound range of a tensor: from an aligned start to the end of its
 * allocation (capped by maxStorageBufferRange); *elem_off is the tensor's
 * first element relative to that start, in units of its dtype. */
static rg_status bind_info(vk_rec *r, const rg_tensor *t, VkDescriptorBufferInfo *info,
                           uint32_t *elem_off) {
    vk_device *vd = r->vd;
    const vk_alloc *a = t ? t->buf->impl : &vd->dummy;
    VkDeviceSize align = vd->props.limits.minStorageBufferOffsetAlignment;
    if (align < 4)
        align = 4;
    VkDeviceSize first = a->off + (t ? t->offset : 0);
    VkDeviceSize start = first / align * align;
    VkDeviceSize end = a->off + a->size;
    VkDeviceSize range = end - start;
    if (range > vd->props.limits.maxStorageBufferRange)
        range = vd->props.limits.maxStorageBufferRange / 4 * 4;
    info->buffer = a->block->buffer;
    info->offset = start;
    info->range = range;
    size_t es = t ? rg_dtype_size(t->dtype) : 4;
    *elem_off = (uint32_t)((first - start) / es);
    if (t) { /* the furthest element must be inside the bound range */
        int64_t last = 0;
        for (int i = 0; i < t->ndim; i++)
            last += (t->shape[i] - 1) * t->stride[i];
        if (first - start + (VkDeviceSize)(last + 1) * es > range)
            return rg_fail(r->dev, RG_ERR_UNSUPPORTED,
                           "vulkan: a tensor spans more than maxStorageBufferRange (%u bytes)",
                           vd->props.limits.maxStorageBufferRange);
    }
    return RG_OK;
}

static rg_status ensure_descriptor_pool(rg_device *dev, vk_cmd *vc, uint32_t sets) {
    vk_device *vd = dev->impl;
    if (vc->dpool && vc->dpool_sets >= sets)
        return vk_status(dev, vd->f.vkResetDescriptorPool(vd->device, vc->dpool, 0),
                         "vkResetDescriptorPool");
    if (vc->dpool)
        vd->f.vkDestroyDescriptorPool(vd->device, vc->dpool, NULL);
    vc->dpool = VK_NULL_HANDLE;
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, sets * VK_MAX_BINDINGS};
    VkDescriptorPoolCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = sets,
        .poolSizeCount = 1,
        .pPoolSizes = &ps,
    };
    vc->dpool_sets = sets;
    return vk_status(dev, vd->f.vkCreateDescriptorPool(vd->device, &ci, NULL, &vc->dpool),
                     "vkCreateDescriptorPool");
}

static void barrier(vk_device *vd, VkCommandBuffer cb) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
    };
    vd->f.vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                               VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

rg_status vk_record_dispatch(vk_rec *r, vk_dispatch *d, bool reuse_set) {
    vk_device *vd = r->vd;
    vk_cmd *vc = r->vc;
    VkDescriptorBufferInfo infos[VK_MAX_BINDINGS];
    for (int i = 0; i < VK_MAX_BINDINGS; i++) {
        rg_status s = bind_info(r, d->bind[i], &infos[i], &d->push[i]);
        if (s != RG_OK)
            return s;
    }
    VkPipeline pipe = VK_NULL_HANDLE;
    rg_status s = get_pipeline(r->dev, d->family, d->spec, d->nspec, &pipe);
    if (s != RG_OK)
        return s;
    if (!reuse_set || !vc->last_set) {
        if (vc->sets_used >= vc->dpool_sets)
            return rg_fail(r->dev, RG_ERR_BACKEND, "vulkan: descriptor pool exhausted");
        VkDescriptorSetAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = vc->dpool,
            .descriptorSetCount = 1,
            .pSetLayouts = &vd->set_layout,
        };
        s = vk_status(r->dev, vd->f.vkAllocateDescriptorSets(vd->device, &ai, &vc->last_set),
                      "vkAllocateDescriptorSets");
        if (s != RG_OK)
            return s;
        vc->sets_used++;
        VkWriteDescriptorSet w[VK_MAX_BINDINGS];
        for (int i = 0; i < VK_MAX_BINDINGS; i++)
            w[i] = (VkWriteDescriptorSet){
                .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                .dstSet = vc->last_set,
                .dstBinding = (uint32_t)i,
                .descriptorCount = 1,
                .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                .pBufferInfo = &infos[i],
            };
        vd->f.vkUpdateDescriptorSets(vd->device, VK_MAX_BINDINGS, w, 0, NULL);
    }
    vd->f.vkCmdBindPipeline(vc->cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    vd->f.vkCmdBindDescriptorSets(vc->cb, VK_PIPELINE_BIND_POINT_COMPUTE, vd->pipe_layout, 0, 1,
                                  &vc->last_set, 0, NULL);
    vd->f.vkCmdPushConstants(vc->cb, vd->pipe_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                             VK_PUSH_WORDS * 4, d->push);
    vd->f.vkCmdDispatch(vc->cb, d->groups[0], d->groups[1], d->groups[2]);
    barrier(vd, vc->cb);
    return RG_OK;
}

static rg_status ensure_cmd(rg_device *dev, rg_cmd *cmd) {
    vk_device *vd = dev->impl;
    if (cmd->impl)
        return RG_OK;
    vk_cmd *vc = calloc(1, sizeof *vc);
    if (!vc)
        return rg_fail(dev, RG_ERR_OOM, "vulkan: no host memory");
    cmd->impl = vc;
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vd->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    rg_status s = vk_status(dev, vd->f.vkAllocateCommandBuffers(vd->device, &ai, &vc->cb),
                            "vkAllocateCommandBuffers");
    if (s != RG_OK)
        return s;
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    return vk_status(dev, vd->f.vkCreateFence(vd->device, &fi, NULL, &vc->fence), "vkCreateFence");
}

static rg_status ensure_query_pool(rg_device *dev, vk_cmd *vc, uint32_t n) {
    vk_device *vd = dev->impl;
    if (vc->qpool && vc->qpool_size >= n)
        return RG_OK;
    if (vc->qpool)
        vd->f.vkDestroyQueryPool(vd->device, vc->qpool, NULL);
    VkQueryPoolCreateInfo qi = {
        .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
        .queryType = VK_QUERY_TYPE_TIMESTAMP,
        .queryCount = n,
    };
    vc->qpool_size = n;
    return vk_status(dev, vd->f.vkCreateQueryPool(vd->device, &qi, NULL, &vc->qpool),
                     "vkCreateQueryPool");
}

static bool profiling(rg_device *dev) {
    return dev->profile && ((vk_device *)dev->impl)->timestamps;
}

static rg_status record_all(rg_device *dev, rg_cmd *cmd) {
    vk_device *vd = dev->impl;
    vk_cmd *vc = cmd->impl;
    /* An op records at most 8 descriptor sets (LSTM uses 5; see vk_ops.c). */
    rg_status s = ensure_descriptor_pool(dev, vc, (uint32_t)cmd->count * 8 + 8);
    if (s != RG_OK)
        return s;
    bool prof = profiling(dev);
    if (prof && (s = ensure_query_pool(dev, vc, (uint32_t)cmd->count * 2 + 2)) != RG_OK)
        return s;
    vc->sets_used = 0;
    vc->last_set = VK_NULL_HANDLE;
    vd->f.vkResetCommandBuffer(vc->cb, 0);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    s = vk_status(dev, vd->f.vkBeginCommandBuffer(vc->cb, &bi), "vkBeginCommandBuffer");
    if (s != RG_OK)
        return s;
    if (prof)
        vd->f.vkCmdResetQueryPool(vc->cb, vc->qpool, 0, (uint32_t)cmd->count * 2);
    /* Staged uploads (copies in earlier submits) and host writes must be
     * visible to the shaders of this list. */
    VkMemoryBarrier in = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
    };
    vd->f.vkCmdPipelineBarrier(vc->cb, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT,
                               VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &in, 0, NULL, 0, NULL);
    vk_rec r = {dev, vd, vc, RG_OK};
    for (int i = 0; i < cmd->count && s == RG_OK; i++) {
        if (prof)
            vd->f.vkCmdWriteTimestamp(vc->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, vc->qpool, (uint32_t)(2 * i));
        s = vk_record_op(&r, &cmd->ops[i]);
        if (prof)
            vd->f.vkCmdWriteTimestamp(vc->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vc->qpool,
                                      (uint32_t)(2 * i + 1));
    }
    /* Make the results visible to the host after the fence. */
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT,
    };
    vd->f.vkCmdPipelineBarrier(vc->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                               VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                               &mb, 0, NULL, 0, NULL);
    VkResult er = vd->f.vkEndCommandBuffer(vc->cb);
    return s != RG_OK ? s : vk_status(dev, er, "vkEndCommandBuffer");
}

static rg_status vk_submit(rg_cmd *cmd) {
    rg_device *dev = cmd->dev;
    vk_device *vd = dev->impl;
    if (vd->lost)
        return rg_fail(dev, RG_ERR_DEVICE_LOST, "vulkan: device lost earlier");
    rg_status s = ensure_cmd(dev, cmd);
    if (s == RG_OK)
        s = record_all(dev, cmd);
    if (s != RG_OK)
        return s;
    vk_cmd *vc = cmd->impl;
    s = vk_status(dev, vd->f.vkResetFences(vd->device, 1, &vc->fence), "vkResetFences");
    if (s != RG_OK)
        return s;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                       .pCommandBuffers = &vc->cb};
    return vk_status(dev, vd->f.vkQueueSubmit(vd->queue, 1, &si, vc->fence), "vkQueueSubmit");
}

static void print_profile(rg_device *dev, rg_cmd *cmd) {
    vk_device *vd = dev->impl;
    vk_cmd *vc = cmd->impl;
    uint32_t n = (uint32_t)cmd->count * 2;
    uint64_t *ts = calloc(n ? n : 1, sizeof *ts);
    if (!ts)
        return;
    if (vd->f.vkGetQueryPoolResults(vd->device, vc->qpool, 0, n, n * sizeof *ts, ts, sizeof *ts,
                                    VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS)
        for (int i = 0; i < cmd->count; i++)
            fprintf(stderr, "resonant profile: op %3d %-18s %10.1f us\n", i,
                    rg_op_name(cmd->ops[i].kind),
                    (double)(ts[2 * i + 1] - ts[2 * i]) * vd->props.limits.timestampPeriod / 1e3);
    free(ts);
}

static rg_status vk_wait(rg_cmd *cmd) {
    rg_device *dev = cmd->dev;
    vk_device *vd = dev->impl;
    vk_cmd *vc = cmd->impl;
    rg_status s = vk_status(dev, vd->f.vkWaitForFences(vd->device, 1, &vc->fence, VK_TRUE, UINT64_MAX),
                            "vkWaitForFences");
    if (s == RG_OK && profiling(dev))
        print_profile(dev, cmd);
    return s;
}

static void vk_cmd_release(rg_cmd *cmd) {
    vk_cmd *vc = cmd->impl;
    if (!vc)
        return;
    vk_device *vd = cmd->dev->impl;
    if (vc->fence)
        vd->f.vkDestroyFence(vd->device, vc->fence, NULL);
    if (vc->cb)
        vd->f.vkFreeCommandBuffers(vd->device, vd->pool, 1, &vc->cb);
    if (vc->dpool)
        vd->f.vkDestroyDescriptorPool(vd->device, vc->dpool, NULL);
    if (vc->qpool)
        vd->f.vkDestroyQueryPool(vd->device, vc->qpool, NULL);
    free(vc);
    cmd->impl = NULL;
}

/* ------------------------------------------------------------------------ */
/* Open and close                                                           */
/* ------------------------------------------------------------------------ */

static void vk_destroy(rg_device *dev) {
    vk_device *vd = dev->impl;
    if (!vd)
        return;
    if (vd->device) {
        vd->f.vkDeviceWaitIdle(vd->device);
        vk_free_range(&vd->dummy);
        save_pipeline_cache(vd);
        for (int i = 0; i < vd->npipes; i++)
            vd->f.vkDestroyPipeline(vd->device, vd->pipes[i].pipe, NULL);
        for (int f = 0; f < VKF_COUNT; f++)
            if (vd->modules[f])
                vd->f.vkDestroyShaderModule(vd->device, vd->modules[f], NULL);
        if (vd->cache)
            vd->f.vkDestroyPipelineCache(vd->device, vd->cache, NULL);
        if (vd->pipe_layout)
            vd->f.vkDestroyPipelineLayout(vd->device, vd->pipe_layout, NULL);
        if (vd->set_layout)
            vd->f.vkDestroyDescriptorSetLayout(vd->device, vd->set_layout, NULL);
        while (vd->blocks) {
            vk_block *b = vd->blocks;
            vd->blocks = b->next;
            vd->f.vkDestroyBuffer(vd->device, b->buffer, NULL);
            vd->f.vkFreeMemory(vd->device, b->mem, NULL);
            free(b->free);
            free(b);
        }
        if (vd->pool)
            vd->f.vkDestroyCommandPool(vd->device, vd->pool, NULL);
        vd->f.vkDestroyDevice(vd->device, NULL);
    }
    free(vd->pipes);
    if (vd->messenger && vd->f.vkDestroyDebugUtilsMessengerEXT)
        vd->f.vkDestroyDebugUtilsMessengerEXT(vd->instance, vd->messenger, NULL);
    if (vd->instance)
        vd->f.vkDestroyInstance(vd->instance, NULL);
    if (vd->lib)
        dlclose(vd->lib);
    free(vd);
    dev->impl = NULL;
}

static const rg_backend_vtable vk_vtable = {
    .name = "vulkan",
    .destroy = vk_destroy,
    .buffer_create = vk_buffer_create,
    .buffer_destroy = vk_buffer_destroy,
    .buffer_write = vk_buffer_write,
    .buffer_read = vk_buffer_read,
    .cmd_submit = vk_submit,
    .cmd_wait = vk_wait,
    .cmd_release = vk_cmd_release,
};

/* Pick the memory type once with a probe buffer, and make the dummy range
 * that fills unused descriptor slots. */
static rg_status init_memory(rg_device *dev, vk_device *vd) {
    VkBuffer probe;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    rg_status s = create_raw_buffer(dev, 256, 0, &probe, &mem, true);
    if (s != RG_OK)
        return s;
    vd->f.vkDestroyBuffer(vd->device, probe, NULL);
    vd->f.vkFreeMemory(vd->device, mem, NULL);
    return vk_alloc_range(dev, 256, &vd->dummy);
}

rg_status rg_vk_open(rg_device *dev, const char *want, bool allow_cpu_type) {
    vk_device *vd = calloc(1, sizeof *vd);
    if (!vd)
        return rg_fail(dev, RG_ERR_OOM, "vulkan: no host memory");
    dev->impl = vd;
    dev->vt = &vk_vtable;
    rg_status s = load_loader(dev, vd);
    if (s == RG_OK)
        s = create_instance(dev, vd);
    if (s == RG_OK)
        s = pick_device(dev, vd, want, allow_cpu_type);
    if (s == RG_OK)
        s = create_device(dev, vd);
    if (s == RG_OK)
        s = create_pipeline_objects(dev, vd);
    if (s == RG_OK)
        s = init_memory(dev, vd);
    if (s != RG_OK) {
        char msg[sizeof dev->error];
        memcpy(msg, dev->error, sizeof msg);
        vk_destroy(dev);
        dev->vt = NULL;
        dev->validation_count = 0;
        memcpy(dev->error, msg, sizeof msg);
        return s;
    }
    dev->kind = RG_BACKEND_VULKAN;
    snprintf(dev->name, sizeof dev->name, "%.200s (vulkan, subgroup %u)", vd->props.deviceName,
             vd->subgroup_size);
    return RG_OK;
}
