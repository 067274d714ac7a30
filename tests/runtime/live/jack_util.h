/* Helpers for tests that run their own JACK server and `resonant run` as
 * child processes: start, stop (TERM, then KILL), wait for the server.
 * Header-only: each test program is one file. */
#ifndef RG_TEST_JACK_UTIL_H
#define RG_TEST_JACK_UTIL_H

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Start argv; its stdout comes back through `out_fd` when given, else it
 * goes to /dev/null. Its stderr is hidden unless RG_TEST_VERBOSE is set. */
static inline pid_t spawn(char *const argv[], int *out_fd)
{
    int fds[2] = {-1, -1};
    if (out_fd && pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(out_fd ? fds[1] : null, 1);
        if (!getenv("RG_TEST_VERBOSE"))
            dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (out_fd) {
        close(fds[1]);
        *out_fd = fds[0];
    }
    return pid;
}

/* TERM, then KILL if it has not gone within three seconds. */
static inline void stop(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = -1;
            return;
        }
        usleep(10000);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = -1;
}

/* Whether the JACK server `name` answers within 15 s (jack_lsp). */
static inline bool jack_server_up(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "jack_lsp -s %s >/dev/null 2>&1", name);
    for (double t0 = now_s(); now_s() - t0 < 15; usleep(50000))
        if (system(cmd) == 0)
            return true;
    return false;
}

#endif
