/* `resonant run --watch` end to end, on the internal clock (--no-jack): a
 * broken save is reported to /notify subscribers as /error with its
 * file:line:col while the old patch keeps playing; the fixed save is applied
 * (and /sync confirms the audio side has it, after the bar line). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lo/lo.h>

static char dir[64], patch[128];
static pid_t engine = -1;
static int out_fd = -1, udp = -1;
static struct sockaddr_in to;

static void write_patch(const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.new", patch);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, patch), 0); /* the way editors save */
}

static int read_port(void)
{
    char buf[1024];
    size_t have = 0;
    for (int i = 0; i < 150; i++) {
        struct pollfd p = {.fd = out_fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            ssize_t r = read(out_fd, buf + have, sizeof buf - have - 1);
            if (r <= 0)
                return -1;
            have += (size_t)r;
            buf[have] = 0;
            char *at = strstr(buf, "127.0.0.1:");
            if (at && strchr(at, '\n'))
                return atoi(at + strlen("127.0.0.1:"));
        }
    }
    return -1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rg_live_run_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(patch, sizeof patch, "%s/live.rpatch", dir);
    write_patch("tempo 240\nnode s sine amp=0.1\nnode out output\ns.out -> out.in\n");
    char exe[512];
    snprintf(exe, sizeof exe, "%s/resonant", getenv("RESONANT_BUILD_DIR") ? getenv("RESONANT_BUILD_DIR") : ".");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    engine = fork();
    if (engine == 0) {
        dup2(fds[1], 1);
        execl(exe, exe, "run", patch, "--no-jack", "--watch", "--osc-port", "0", "--seconds", "60",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    out_fd = fds[0];
    int port = read_port();
    assert_true(port > 0);
    udp = socket(AF_INET, SOCK_DGRAM, 0);
    to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (engine > 0) {
        kill(engine, SIGTERM);
        waitpid(engine, NULL, 0);
    }
    close(out_fd);
    close(udp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void send_osc(const char *path, lo_message m)
{
    size_t size;
    void *data = lo_message_serialise(m, path, NULL, &size);
    assert_int_equal(sendto(udp, data, size, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)size);
    free(data);
    lo_message_free(m);
}

/* Wait (10 s at most) for a message to `path`; its first two strings. */
static bool expect(const char *path, char *s0, char *s1, size_t size)
{
    static unsigned char buf[65536];
    for (int i = 0; i < 100; i++) {
        struct pollfd p = {.fd = udp, .events = POLLIN};
        if (poll(&p, 1, 100) != 1)
            continue;
        ssize_t n = recv(udp, buf, sizeof buf, 0);
        if (n <= 0 || strcmp((char *)buf, path) != 0)
            continue;
        int res;
        lo_message m = lo_message_deserialise(buf, (size_t)n, &res);
        const char *types = lo_message_get_types(m);
        lo_arg **argv = lo_message_get_argv(m);
        if (s0 && types[0] == 's')
            snprintf(s0, size, "%s", &argv[0]->s);
        if (s1 && types[0] && types[1] == 's')
            snprintf(s1, size, "%s", &argv[1]->s);
        lo_message_free(m);
        return true;
    }
    return false;
}

static void broken_save_reports_and_fixed_save_applies(void **state)
{
    (void)state;
    lo_message m = lo_message_new();
    lo_message_add_int32(m, 1);
    send_osc("/notify", m);
    char s0[512], s1[512];
    assert_true(expect("/done", s0, NULL, sizeof s0));

    write_patch("tempo 240\nnode s sine amp=0.1\nnode out output\ns.out -> out.inn\n");
    assert_true(expect("/error", s0, s1, sizeof s0));
    assert_non_null(strstr(s1, "live.rpatch:4:"));
    assert_non_null(strstr(s1, "inn"));
    assert_int_equal(waitpid(engine, NULL, WNOHANG), 0); /* still playing */

    write_patch("tempo 240\nnode s sine amp=0.1\nnode g gain gain=0.5\nnode out output\n"
                "s.out -> g.in\ng.out -> out.in\n");
    /* The watcher picks the save up (poll the live state until it shows),
     * then /sync comes back once the audio side has it, after the bar line. */
    bool applied = false;
    for (int i = 0; i < 100 && !applied; i++) {
        lo_message save = lo_message_new();
        lo_message_add_string(save, "now.rpatch");
        send_osc("/patch/save", save);
        assert_true(expect("/done", NULL, NULL, 0));
        char saved[160], text[1024] = "";
        snprintf(saved, sizeof saved, "%s/now.rpatch", dir);
        FILE *f = fopen(saved, "r");
        assert_non_null(f);
        fread(text, 1, sizeof text - 1, f);
        fclose(f);
        applied = strstr(text, "node g gain gain=0.5") != NULL;
        if (!applied)
            usleep(100000);
    }
    assert_true(applied);
    m = lo_message_new();
    lo_message_add_int32(m, 9);
    send_osc("/sync", m);
    assert_true(expect("/synced", NULL, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(broken_save_reports_and_fixed_save_applies, setup, teardown),
    };
    return cmocka_run_group_tests_name("live_run", tests, NULL, NULL);
}
