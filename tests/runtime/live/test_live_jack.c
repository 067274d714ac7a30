/* `resonant run` against a real JACK server (the dummy driver, so no sound
 * card): a click patch is recorded by a second JACK client; the clicks must
 * sit on the 120 bpm grid; after /tempo 240 over OSC the new grid must start
 * on a downbeat, the next bar line. Skipped only when jackd is not installed.
 *
 * Names carry the PID: JACK client names are global across servers on one
 * machine, and tests may run side by side. */
#include <errno.h>
#include <fcntl.h>
#include <jack/jack.h>
#include <jack/transport.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lo/lo.h>

#include "jack_recorder.h"
#include "jack_util.h"
#include "osc_tcp.h"

#define RATE 48000
#define RECORD_SECONDS 12

static char server[64], engine_name[64], rec_name[64], patch_path[256];
static pid_t jackd_pid = -1, engine_pid = -1;
static int engine_out = -1;

static jack_recorder rec; /* the engine's `out`, for the grid test */

static bool have_jackd(void)
{
    return access("/usr/bin/jackd", X_OK) == 0 || system("command -v jackd >/dev/null 2>&1") == 0;
}

static char err_path[256];

/* `resonant run`: stdout (where it prints its OSC port) back through
 * `out_fd`, stderr (its exit summary) into err_path for the test to read.
 * jack_util.h's spawn() hides stderr, hence this one for the engine. */
static pid_t spawn_engine(char *const argv[], int *out_fd)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    *out_fd = fds[0];
    return pid;
}

static bool server_up(void) { return jack_server_up(server); }

/* The engine's stdout not yet split into lines; reset for each engine. */
static char buf[4096];
static size_t have;

/* A line from the engine's stdout that starts with `prefix`, within 15 s. */
static bool read_line(const char *prefix, char *line, size_t size)
{
    for (double t0 = now_s(); now_s() - t0 < 15;) {
        char *nl;
        while ((nl = memchr(buf, '\n', have))) {
            size_t len = (size_t)(nl - buf);
            bool match = strncmp(buf, prefix, strlen(prefix)) == 0;
            if (match)
                snprintf(line, size, "%.*s", (int)len, buf);
            memmove(buf, nl + 1, have - len - 1);
            have -= len + 1;
            if (match)
                return true;
        }
        struct pollfd p = {.fd = engine_out, .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            ssize_t r = read(engine_out, buf + have, sizeof buf - have - 1);
            if (r <= 0)
                return false;
            have += (size_t)r;
        }
    }
    return false;
}

static int setup(void **state)
{
    (void)state;
    if (!have_jackd())
        return 0;
    int pid = (int)getpid();
    snprintf(server, sizeof server, "rgtest%d", pid);
    snprintf(engine_name, sizeof engine_name, "rgeng%d", pid);
    snprintf(rec_name, sizeof rec_name, "rgrec%d", pid);
    snprintf(err_path, sizeof err_path, "/tmp/rg_live_jack_%d.log", pid);
    char *jackd[] = {"jackd", "-n", server, "-d", "dummy", "-r", "48000", "-p", "256", NULL};
    jackd_pid = spawn(jackd, NULL);
    assert_true(jackd_pid > 0);
    assert_true(server_up());
    assert_true(recorder_alloc(&rec, 1, (long)RECORD_SECONDS * RATE));
    snprintf(patch_path, sizeof patch_path, "/tmp/rg_live_jack_%d.rpatch", pid);
    FILE *f = fopen(patch_path, "w");
    fputs("tempo 120\nmeter 4/4\nnode c click amp=0.5 accent=1.5\nnode mic input gain=0\n"
          "node out output\nc.out -> out.in\nmic.out -> out.in\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop(&engine_pid);
    stop(&jackd_pid);
    if (engine_out >= 0)
        close(engine_out);
    unlink(patch_path);
    unlink(err_path);
    recorder_free(&rec);
    engine_out = -1;
    return 0;
}

static void open_recorder(void)
{
    const char *names[] = {"in"};
    assert_true(recorder_open(&rec, rec_name, server, names));
    char src[256];
    snprintf(src, sizeof src, "%s:out:out_L", engine_name);
    if (!recorder_connect(&rec, 0, src))
        fail_msg("cannot connect %s to the recorder", src);
}

/* `resonant run` on the test patch; `port` receives the OSC port. */
static void start_engine(const char *extra, char *port)
{
    char exe[512];
    snprintf(exe, sizeof exe, "%s/resonant", getenv("RESONANT_BUILD_DIR") ? getenv("RESONANT_BUILD_DIR") : ".");
    char *argv[] = {exe, "run", patch_path, "--jack-server", server, "--jack-name", engine_name,
                    "--osc-port", "0", "--seconds", "86400", (char *)extra, NULL};
    engine_pid = spawn_engine(argv, &engine_out);
    have = 0; /* nothing of an earlier engine's output */
    char line[256];
    assert_true(read_line("resonant: OSC on", line, sizeof line));
    snprintf(port, 16, "%s", strrchr(line, ':') + 1);
}

static int onsets(const float *x, long n, long *on, float *peak, int max)
{
    int count = 0;
    long quiet = 2000;
    for (long i = 0; i < n && count < max; i++) {
        if (fabsf(x[i]) > 0.01f) {
            if (quiet >= 2000) {
                on[count] = i;
                peak[count] = 0;
                for (long k = i; k < i + 200 && k < n; k++)
                    peak[count] = fmaxf(peak[count], fabsf(x[k]));
                count++;
            }
            quiet = 0;
        } else {
            quiet++;
        }
    }
    return count;
}

static void clicks_follow_the_grid_and_the_tempo_change(void **state)
{
    (void)state;
    if (!have_jackd())
        skip();
    char port[16];
    start_engine(NULL, port);

    open_recorder();
    char in_port[128];
    snprintf(in_port, sizeof in_port, "%s:mic:in_R", engine_name);
    assert_non_null(jack_port_by_name(rec.client, in_port)); /* an input node's port */
    atomic_store(&rec.on, true);
    while (atomic_load(&rec.frames) < 5L * RATE)
        usleep(10000);
    lo_address osc = lo_address_new("127.0.0.1", port);
    assert_true(lo_send(osc, "/tempo", "f", 240.0f) > 0);
    while (atomic_load(&rec.frames) < (long)RECORD_SECONDS * RATE)
        usleep(10000);
    lo_address_free(osc);
    recorder_close(&rec);

    long on[64];
    float peak[64];
    int n = onsets(rec.data[0], (long)RECORD_SECONDS * RATE, on, peak, 64);
    assert_true(n > 12);
    /* Every gap is one beat at 120 (24000) or at 240 (12000): nothing else,
     * and the switch happens once. */
    int first_fast = -1, skipped = 0;
    for (int i = 1; i < n; i++) {
        long gap = on[i] - on[i - 1];
        if (recorder_xrun_between(&rec, on[i - 1], on[i], 512)) {
            skipped++;
            continue;
        }
        if (labs(gap - 24000) <= 1 && first_fast < 0)
            continue;
        if (labs(gap - 12000) <= 1) {
            if (first_fast < 0)
                first_fast = i - 1;
            continue;
        }
        fail_msg("gap %ld between clicks %d and %d (at %ld)", gap, i - 1, i, on[i]);
    }
    if (skipped)
        print_message("# %d of %d gaps not checked: xruns in them\n", skipped, n - 1);
    if (first_fast < 0 && skipped)
        skip(); /* the switch fell in an xrun: nothing to judge */
    assert_true(first_fast > 0);
    if (recorder_xrun_between(&rec, on[first_fast > 4 ? first_fast - 4 : 0], on[first_fast], 512))
        return; /* the bar before the switch was cut by an xrun */
    /* The new grid starts on a downbeat: the accented click (0.75, not 0.5),
     * and the four clicks before it are one bar of the old grid. */
    assert_true(peak[first_fast] > 0.7f);
    assert_true(first_fast >= 4 && peak[first_fast - 4] > 0.7f);
    for (int k = 1; k < 4; k++)
        assert_true(peak[first_fast - k] < 0.6f);
    print_message("# %d clicks; the 240 bpm grid starts at click %d (frame %ld)\n", n, first_fast,
                  on[first_fast]);
}

/* ---- a TCP OSC client ------------------------------------------------------- */

#include <arpa/inet.h>
#include <sys/socket.h>

static int tcp_connect(const char *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* The next reply's address (and its message, when `out` is given). */
static bool tcp_reply(int fd, char *path, size_t size, lo_message *out)
{
    static unsigned char buf[70000];
    long n = osc_tcp_recv_packet(fd, buf, sizeof buf, 10000, 10000);
    if (n < 0)
        return false;
    snprintf(path, size, "%.63s", (char *)buf);
    if (out) {
        int res;
        *out = lo_message_deserialise(buf, (size_t)n, &res);
    }
    return true;
}

static long rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* What a soak command must be answered with: the malformed /node/add a
 * /fail, everything else /done. */
typedef enum { WANT_DONE, WANT_FAIL } want;

#define SOAK_BATCH 400

/* One batch of edits: SOAK_BATCH float sets on /c/amp, and every 200th
 * command a malformed /node/add plus a node added and removed again (two
 * rebuilds swapped in by the audio thread). Records what each should get. */
static int send_batch(int fd, long *sent, want *expect)
{
    int n = 0;
    for (int i = 0; i < SOAK_BATCH; i++) {
        if (*sent % 200 == 0) {
            osc_tcp_send(fd, "/node/add", lo_message_new());
            expect[n++] = WANT_FAIL;
            lo_message m = lo_message_new();
            lo_message_add_string(m, "tone");
            lo_message_add_string(m, "sine");
            lo_message_add_string(m, "amp");
            lo_message_add_float(m, 0.01f);
            osc_tcp_send(fd, "/node/add", m);
            expect[n++] = WANT_DONE;
            m = lo_message_new();
            lo_message_add_string(m, "tone");
            osc_tcp_send(fd, "/node/remove", m);
            expect[n++] = WANT_DONE;
            *sent += 3;
        }
        lo_message m = lo_message_new();
        lo_message_add_float(m, (float)(*sent % 100) / 200.0f);
        osc_tcp_send(fd, "/c/amp", m);
        expect[n++] = WANT_DONE;
        (*sent)++;
    }
    return n;
}

/* The engine's audio-thread summary (RESONANT_RT_DIAGNOSTICS), printed when
 * it stops: see rg_jack_close. */
typedef struct {
    unsigned long long blocks, overruns;
    long long allocations;
    double cpu_mean_us, cpu_worst_us;
    char line[512]; /* as printed, page faults included */
} rt_summary;

static bool read_rt_summary(rt_summary *rt, char *wall_line, size_t size)
{
    FILE *f = fopen(err_path, "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "callback mean"))
            snprintf(wall_line, size, "%s", line);
        int used = 0;
        if (sscanf(line, "resonant: audio thread: %llu blocks, CPU mean %lf us, worst %lf us, %llu over their period, %n",
                   &rt->blocks, &rt->cpu_mean_us, &rt->cpu_worst_us, &rt->overruns, &used) == 4 && used > 0) {
            found = true;
            snprintf(rt->line, sizeof rt->line, "%s", line);
            if (sscanf(line + used, "%lld allocations", &rt->allocations) != 1)
                rt->allocations = -1; /* "allocations not counted": no probe */
        }
    }
    fclose(f);
    return found;
}

/* Several thousand OSC edits a second while the audio runs. Asserted, none
 * of it depending on how fast the machine is or what else runs on it:
 * - every TCP command gets its answer, the one it should (a "busy" /fail
 *   when the engine's queue is full is allowed and counted);
 * - resident memory stays flat;
 * - no block's callback used more CPU time than the block lasts (the
 *   thread's CPU clock, so preemption by other processes does not count;
 *   the server's xruns, which a loaded machine causes, are only printed);
 * - the audio thread never called malloc or free (the probe preloaded into
 *   the engine counts it, see rt_alloc_probe.c). */
static void soak_under_osc_edits(void **state)
{
    (void)state;
    if (!have_jackd())
        skip();
    /* The probe's path; empty in a sanitizer build, where it cannot work. */
    const char *probe = getenv("RG_ALLOC_PROBE");
    if (!probe)
        fail_msg("RG_ALLOC_PROBE (the path of librt_alloc_probe.so) is not set: run through meson test");
    char port[16];
    setenv("RESONANT_RT_DIAGNOSTICS", "1", 1);
    if (*probe)
        setenv("LD_PRELOAD", probe, 1); /* for the engine only: unset once it is forked */
    start_engine(NULL, port);
    unsetenv("LD_PRELOAD");
    unsetenv("RESONANT_RT_DIAGNOSTICS");
    int fd = tcp_connect(port);
    long sent = 0, busy = 0, rss_start = 0;
    double t0 = now_s();
    char path[64];
    /* 10 s in CI; RG_SOAK_SECONDS=600 for a release run (docs/live.md). */
    double seconds = getenv("RG_SOAK_SECONDS") ? atof(getenv("RG_SOAK_SECONDS")) : 10;
    if (!(seconds > 0))
        seconds = 10;
    static want expect[2 * SOAK_BATCH];
    while (now_s() - t0 < seconds) {
        int n = send_batch(fd, &sent, expect);
        for (int k = 0; k < n; k++) {
            lo_message m = NULL;
            if (!tcp_reply(fd, path, sizeof path, &m) || !m)
                fail_msg("command %ld of the soak got no answer", sent - n + k);
            lo_arg **argv = lo_message_get_argv(m);
            bool is_busy = !strcmp(path, "/fail") && lo_message_get_argc(m) == 2 &&
                           !strncmp(&argv[1]->s, "busy", 4);
            if (is_busy && expect[k] == WANT_DONE)
                busy++;
            else if (strcmp(path, expect[k] == WANT_DONE ? "/done" : "/fail") != 0)
                fail_msg("command %ld of the soak: %s, expected %s", sent - n + k, path,
                         expect[k] == WANT_DONE ? "/done" : "/fail");
            lo_message_free(m);
        }
        if (!rss_start && now_s() - t0 > 2)
            rss_start = rss_kb(engine_pid);
    }
    long rss_end = rss_kb(engine_pid);
    osc_tcp_send(fd, "/status", lo_message_new());
    lo_message st = NULL;
    assert_true(tcp_reply(fd, path, sizeof path, &st));
    assert_string_equal(path, "/status.reply");
    int xruns = lo_message_get_argv(st)[5]->i;
    lo_message_free(st);
    close(fd);
    stop(&engine_pid);
    char wall[512] = "";
    rt_summary rt = {0};
    bool have_rt = read_rt_summary(&rt, wall, sizeof wall);
    print_message("# %ld commands in %.0f s (%.0f/s), all answered (%ld busy); RSS %ld -> %ld kB; "
                  "server xruns %d; %s", sent, seconds, sent / seconds, busy, rss_start, rss_end, xruns, wall);
    if (!have_rt)
        fail_msg("the engine printed no 'audio thread:' summary (%s)", err_path);
    if (rt.allocations < 0 && *probe)
        fail_msg("the engine did not find the preloaded allocation probe %s", probe);
    print_message("# %s", rt.line);
    assert_true(rss_end - rss_start < 4096);
    assert_true(rt.blocks > 0);
    assert_int_equal(rt.overruns, 0);
    if (rt.allocations < 0)
        print_message("# allocations on the audio thread not counted (sanitizer build)\n");
    else
        assert_int_equal(rt.allocations, 0);
}

/* The server goes away: the engine keeps its patch and keeps answering OSC;
 * the server comes back: with --reconnect the ports reappear. */
static void survives_the_server_going_away(void **state)
{
    (void)state;
    if (!have_jackd())
        skip();
    char port[16];
    start_engine("--reconnect", port);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "jack_lsp -s %s 2>/dev/null | grep -q '^%s:out:out_L$'", server, engine_name);
    bool seen = false;
    for (double t0 = now_s(); !seen && now_s() - t0 < 15; usleep(50000))
        seen = system(cmd) == 0;
    assert_true(seen);
    stop(&jackd_pid);
    int fd = tcp_connect(port);
    char path[64];
    lo_message m = lo_message_new();
    lo_message_add_string(m, "c");
    lo_message_add_string(m, "amp");
    lo_message_add_float(m, 0.25f);
    osc_tcp_send(fd, "/set", m);
    assert_true(tcp_reply(fd, path, sizeof path, NULL));
    assert_string_equal(path, "/done");
    assert_int_equal(waitpid(engine_pid, NULL, WNOHANG), 0); /* still running */

    char *jackd[] = {"jackd", "-n", server, "-d", "dummy", "-r", "48000", "-p", "256", NULL};
    jackd_pid = spawn(jackd, NULL);
    assert_true(server_up());
    seen = false;
    for (double t0 = now_s(); !seen && now_s() - t0 < 15; usleep(100000))
        seen = system(cmd) == 0;
    assert_true(seen);
    close(fd);
}

static double status_tempo(const char *port)
{
    int fd = tcp_connect(port);
    osc_tcp_send(fd, "/status", lo_message_new());
    char path[64];
    lo_message st = NULL;
    double tempo = -1;
    if (tcp_reply(fd, path, sizeof path, &st) && st && !strcmp(path, "/status.reply"))
        tempo = lo_message_get_argv(st)[0]->f;
    if (st)
        lo_message_free(st);
    close(fd);
    return tempo;
}

/* Another client (jack_transport) is timebase master at 90 bpm: the engine
 * plays on its tempo, not the patch's 120. */
static void follows_another_timebase_master(void **state)
{
    (void)state;
    if (!have_jackd() || system("command -v jack_transport >/dev/null 2>&1") != 0)
        skip();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t tp = fork();
    if (tp == 0) {
        dup2(fds[0], 0);
        close(fds[1]);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        setenv("JACK_DEFAULT_SERVER", server, 1);
        execlp("jack_transport", "jack_transport", (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    const char *cmds = "master\ntempo 90\nplay\n";
    assert_int_equal(write(fds[1], cmds, strlen(cmds)), (ssize_t)strlen(cmds));
    char port[16];
    start_engine(NULL, port);
    double tempo = 0;
    for (double t0 = now_s(); now_s() - t0 < 15 && fabs(tempo - 90) > 1e-3; usleep(100000))
        tempo = status_tempo(port);
    assert_true(write(fds[1], "quit\n", 5) == 5);
    close(fds[1]);
    stop(&tp);
    assert_true(fabs(tempo - 90) < 1e-3);
}

/* --timebase-master: the engine publishes its tempo and bar/beat, and
 * rolls the transport. */
static void acts_as_timebase_master(void **state)
{
    (void)state;
    if (!have_jackd())
        skip();
    char port[16];
    start_engine("--timebase-master", port);
    jack_status_t status;
    jack_client_t *c = jack_client_open(rec_name, JackNoStartServer | JackServerName, &status, server);
    assert_non_null(c);
    assert_int_equal(jack_activate(c), 0);
    jack_position_t pos = {0};
    jack_transport_state_t st = JackTransportStopped;
    for (double t0 = now_s(); now_s() - t0 < 15; usleep(50000)) {
        st = jack_transport_query(c, &pos);
        if (st == JackTransportRolling && (pos.valid & JackPositionBBT) && pos.bar >= 2)
            break;
    }
    jack_client_close(c);
    assert_int_equal(st, JackTransportRolling);
    assert_true(pos.valid & JackPositionBBT);
    assert_true(fabs(pos.beats_per_minute - 120) < 1e-6);
    assert_true(pos.beats_per_bar == 4 && pos.bar >= 2 && pos.beat >= 1 && pos.beat <= 4);
}

/* With --reconnect the engine may start before the server: it waits, and
 * its ports appear once jackd is up. */
static void starts_before_the_server(void **state)
{
    (void)state;
    if (!have_jackd())
        skip();
    stop(&jackd_pid);
    char port[16];
    start_engine("--reconnect", port);
    char *jackd[] = {"jackd", "-n", server, "-d", "dummy", "-r", "48000", "-p", "256", NULL};
    jackd_pid = spawn(jackd, NULL);
    assert_true(server_up());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "jack_lsp -s %s 2>/dev/null | grep -q '^%s:out:out_L$'", server, engine_name);
    bool seen = false;
    for (double t0 = now_s(); !seen && now_s() - t0 < 15; usleep(100000))
        seen = system(cmd) == 0;
    assert_true(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(clicks_follow_the_grid_and_the_tempo_change, setup, teardown),
        cmocka_unit_test_setup_teardown(soak_under_osc_edits, setup, teardown),
        cmocka_unit_test_setup_teardown(survives_the_server_going_away, setup, teardown),
        cmocka_unit_test_setup_teardown(follows_another_timebase_master, setup, teardown),
        cmocka_unit_test_setup_teardown(acts_as_timebase_master, setup, teardown),
        cmocka_unit_test_setup_teardown(starts_before_the_server, setup, teardown),
    };
    return cmocka_run_group_tests_name("live_jack", tests, NULL, NULL);
}
