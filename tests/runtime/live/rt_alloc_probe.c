/* The allocation probe of the soak test: preloaded into `resonant run`
 * (LD_PRELOAD), it stands in front of glibc's malloc family and counts the
 * calls made on a thread while that thread is inside
 * rg_alloc_probe_enter()/rg_alloc_probe_leave(). The JACK backend calls
 * those around its real-time callbacks when RESONANT_RT_DIAGNOSTICS is set
 * and it finds them (dlsym), so a soak can assert that the audio thread
 * never allocated or freed.
 *
 * Every call is forwarded to glibc's own implementation (__libc_malloc and
 * friends, exported for exactly this), so nothing else changes. Not for
 * sanitizer builds: ASan brings its own malloc. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t alignment, size_t size);

#define EXPORT __attribute__((visibility("default")))

/* initial-exec: a preloaded library's TLS is static, and reading it must
 * not itself allocate (the general model may, on first use in a thread). */
static __thread int watching __attribute__((tls_model("initial-exec")));
static atomic_ulong calls;

EXPORT void rg_alloc_probe_enter(void) { watching++; }
EXPORT void rg_alloc_probe_leave(void) { watching--; }
EXPORT unsigned long rg_alloc_probe_count(void) { return atomic_load(&calls); }

static void note(void)
{
    if (watching)
        atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
}

EXPORT void *malloc(size_t size)
{
    note();
    return __libc_malloc(size);
}

EXPORT void *calloc(size_t n, size_t size)
{
    note();
    return __libc_calloc(n, size);
}

EXPORT void *realloc(void *p, size_t size)
{
    note();
    return __libc_realloc(p, size);
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
    note();
    if (size && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n * size);
}

EXPORT void free(void *p)
{
    if (p) /* free(NULL) is a no-op, not a call into the allocator */
        note();
    __libc_free(p);
}

static void *aligned(size_t alignment, size_t size)
{
    note();
    return __libc_memalign(alignment, size);
}

EXPORT void *memalign(size_t alignment, size_t size) { return aligned(alignment, size); }
EXPORT void *aligned_alloc(size_t alignment, size_t size) { return aligned(alignment, size); }
EXPORT void *valloc(size_t size) { return aligned((size_t)sysconf(_SC_PAGESIZE), size); }

EXPORT void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return aligned(page, (size + page - 1) / page * page);
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment % sizeof(void *) || (alignment & (alignment - 1)))
        return EINVAL;
    void *p = aligned(alignment, size);
    if (!p && size)
        return ENOMEM;
    *out = p;
    return 0;
}
