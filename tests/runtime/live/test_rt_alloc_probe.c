/* The allocation probe counts what it should: allocations and frees made on
 * a thread between enter and leave, nothing outside that window and nothing
 * on other threads. (The soak test relies on it to show that the audio
 * thread never allocates; this shows the probe could see it if it did.)
 * The program is linked against the probe, so the probe's malloc stands in
 * front of glibc's as it does in the preloaded engine. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void rg_alloc_probe_enter(void);
void rg_alloc_probe_leave(void);
unsigned long rg_alloc_probe_count(void);

/* Through a volatile pointer so the compiler cannot drop the pair. */
static void *(*volatile do_malloc)(size_t) = malloc;

static void counts_the_watched_thread_only(void **state)
{
    (void)state;
    unsigned long before = rg_alloc_probe_count();
    free(do_malloc(32)); /* not watched */
    assert_int_equal(rg_alloc_probe_count(), before);

    rg_alloc_probe_enter();
    void *p = do_malloc(64);
    p = realloc(p, 4096);
    free(p);
    char *s = strdup("inside glibc"); /* libc's own calls go through it too */
    rg_alloc_probe_leave();
    assert_int_equal(rg_alloc_probe_count(), before + 4);
    free(s);
    assert_int_equal(rg_alloc_probe_count(), before + 4);
}

static pthread_barrier_t go, done;

static void *allocate_elsewhere(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&go);
    for (int i = 0; i < 100; i++)
        free(do_malloc(16));
    pthread_barrier_wait(&done);
    return NULL;
}

static void other_threads_are_not_counted(void **state)
{
    (void)state;
    pthread_barrier_init(&go, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, allocate_elsewhere, NULL), 0);
    unsigned long before = rg_alloc_probe_count();
    rg_alloc_probe_enter(); /* this thread is watched while the other allocates */
    pthread_barrier_wait(&go);
    pthread_barrier_wait(&done);
    rg_alloc_probe_leave();
    assert_int_equal(rg_alloc_probe_count(), before);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&go);
    pthread_barrier_destroy(&done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_the_watched_thread_only),
        cmocka_unit_test(other_threads_are_not_counted),
    };
    return cmocka_run_group_tests_name("rt_alloc_probe", tests, NULL, NULL);
}
