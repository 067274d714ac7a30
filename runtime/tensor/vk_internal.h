/* Vulkan backend internals shared by vk_core.c (instance, device, memory,
 * pipelines, submission) and vk_ops.c (ops -> dispatches). */
#ifndef RESONANT_VK_INTERNAL_H
#define RESONANT_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "runtime/tensor/tensor_internal.h"

/* Every Vulkan entry point we use, loaded at run time from libvulkan.so.1 so
 * a machine without a loader still runs (on the CPU backend). */
#define RG_VK_GLOBAL_FUNCS(X)                                                  \
    X(vkCreateInstance) X(vkEnumerateInstanceLayerProperties)                  \
    X(vkEnumerateInstanceExtensionProperties)
#define RG_VK_INSTANCE_FUNCS(X)                                                \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices)                         \
    X(vkGetPhysicalDeviceProperties) X(vkGetPhysicalDeviceProperties2)         \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                \
    X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceFeatures2)     \
    X(vkCreateDevice) X(vkGetDeviceProcAddr)                                   \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkCreateCommandPool)              \
    X(vkDestroyCommandPool) X(vkAllocateCommandBuffers)                        \
    X(vkFreeCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer)      \
    X(vkQueueSubmit) X(vkDeviceWaitIdle) X(vkCreateFence) X(vkDestroyFence)    \
    X(vkWaitForFences) X(vkResetFences) X(vkAllocateMemory) X(vkFreeMemory)    \
    X(vkMapMemory) X(vkCreateBuffer) X(vkDestroyBuffer)                        \
    X(vkGetBufferMemoryRequirements) X(vkBindBufferMemory)                     \
    X(vkCreateShaderModule) X(vkDestroyShaderModule)                           \
    X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout)             \
    X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout)                       \
    X(vkCreateComputePipelines) X(vkDestroyPipeline) X(vkCreatePipelineCache)  \
    X(vkDestroyPipelineCache) X(vkGetPipelineCacheData)                        \
    X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool)                       \
    X(vkResetDescriptorPool) X(vkAllocateDescriptorSets)                       \
    X(vkUpdateDescriptorSets) X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets)  \
    X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdPipelineBarrier)             \
    X(vkCmdCopyBuffer) X(vkCmdFillBuffer) X(vkCreateQueryPool)                 \
    X(vkDestroyQueryPool) X(vkCmdResetQueryPool) X(vkCmdWriteTimestamp)        \
    X(vkGetQueryPoolResults) X(vkResetCommandBuffer)
#define RG_VK_OPTIONAL_FUNCS(X)                                                \
    X(vkCreateDebugUtilsMessengerEXT) X(vkDestroyDebugUtilsMessengerEXT)

#define RG_VK_DECLARE(name) PFN_##name name;
typedef struct vk_fns {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    RG_VK_GLOBAL_FUNCS(RG_VK_DECLARE)
    RG_VK_INSTANCE_FUNCS(RG_VK_DECLARE)
    RG_VK_OPTIONAL_FUNCS(RG_VK_DECLARE)
} vk_fns;
#undef RG_VK_DECLARE

/* Shader families: one .comp file each. */
typedef enum vk_family {
    VKF_ELEMENTWISE,
    VKF_COPY,
    VKF_MATMUL,
    VKF_MATVEC,
    VKF_NORM,
    VKF_EMBEDDING,
    VKF_CONV1D,
    VKF_CONV_T1D,
    VKF_LSTM,
    VKF_ATTENTION,
    VKF_RVQ,
    VKF_SAMPLE,
    VKF_HARMONIC,
    VKF_COUNT
} vk_family;

#define VK_MAX_BINDINGS 6
#define VK_MAX_SPEC 10
#define VK_PUSH_WORDS 32 /* 128 bytes: the guaranteed minimum */

/* A large device allocation that buffers are carved out of. */
typedef struct vk_block {
    VkDeviceMemory mem;
    VkBuffer buffer;
    VkDeviceSize size;
    void *mapped;     /* non-NULL when the memory is host-visible */
    struct vk_range { VkDeviceSize off, size; } *free;
    int nfree, capfree;
    struct vk_block *next;
} vk_block;

typedef struct vk_alloc {
    vk_block *block;
    VkDeviceSize off, size;
} vk_alloc;

typedef struct vk_pipeline {
    vk_family family;
    uint32_t spec[VK_MAX_SPEC];
    VkPipeline pipe;
} vk_pipeline;

typedef struct vk_device {
    vk_fns f;
    void *lib;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    uint32_t subgroup_size;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    bool timestamps;
    VkCommandPool pool;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout pipe_layout;
    VkPipelineCache cache;
    char cache_path[512];
    VkShaderModule modules[VKF_COUNT];
    vk_pipeline *pipes;
    int npipes, cappipes;
    vk_block *blocks;
    uint32_t mem_type;      /* for buffers */
    bool mem_host_visible;
    vk_alloc dummy;         /* bound to unused descriptor slots */
    bool lost;
} vk_device;

typedef struct vk_cmd {
    VkCommandBuffer cb;
    VkFence fence;
    VkDescriptorPool dpool;
    uint32_t dpool_sets;
    VkQueryPool qpool;
    uint32_t qpool_size;
    uint32_t sets_used;
    VkDescriptorSet last_set; /* for dispatches that reuse bindings */
    rg_status record_status;
} vk_cmd;

/* Recording context for one op. */
typedef struct vk_rec {
    rg_device *dev;
    vk_device *vd;
    vk_cmd *vc;
    rg_status status;
} vk_rec;

/* One descriptor binding: a tensor (or NULL for the dummy buffer). */
typedef struct vk_dispatch {
    vk_family family;
    uint32_t spec[VK_MAX_SPEC];
    int nspec;
    const rg_tensor *bind[VK_MAX_BINDINGS];
    uint32_t push[VK_PUSH_WORDS]; /* push[0..5] are filled with element offsets */
    uint32_t groups[3];
} vk_dispatch;

/* Record a dispatch followed by a full compute->compute barrier. With
 * reuse_set, the previous descriptor set is reused (same bindings). */
rg_status vk_record_dispatch(vk_rec *r, vk_dispatch *d, bool reuse_set);
/* Record one op (vk_ops.c). */
rg_status vk_record_op(vk_rec *r, const rg_op *op);
/* Split n work groups into a 2-D grid within the device limits. */
void vk_grid_1d(vk_rec *r, uint64_t groups, uint32_t out[3]);

static inline uint32_t f2u(float f) {
    union { float f; uint32_t u; } x = {f};
    return x.u;
}

#endif
