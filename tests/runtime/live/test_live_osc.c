/* The OSC server against an engine driven without JACK: every address of
 * the table answers /done or /fail (with a reason), errors change nothing,
 * the /<node>/<param> form with coercion, patterns and 0..1 faders, time
 * tagged bundles landing on their frame, late ones reported, /sync, /notify,
 * path confinement, and a flood over TCP where every command is answered.
 *
 * Threads: a control thread runs rg_osc_poll; the test thread is the OSC
 * client and, when it says so, the audio thread (rec_run). */
#include <arpa/inet.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lo/lo.h>
#include <sndfile.h>

#include "runtime/audio_file.h"
#include "runtime/osc.h"
#include "tests/runtime/live/live_util.h"
#include "tests/runtime/live/osc_tcp.h"

static const char test_patch[] =
    "tempo 120\n"
    "node low  sine   freq=110 amp=0\n"
    "node high sine   freq=880 amp=0.1\n"
    "node mix  mixer\n"
    "node out  output\n"
    "low.out  -> mix.in\n"
    "high.out -> mix.in\n"
    "mix.out  -> out.in\n";

typedef struct {
    char dir[64];
    char out_dir[96]; /* where exports go: inside dir */
    rg_live *lv;
    rg_osc *osc;
    pthread_t control;
    atomic_bool stop;
    atomic_int notify_error; /* ask the control thread to send /error */
    int udp, tcp;
    struct sockaddr_in to;
    recorder rec;
} fixture;

static void *control_thread(void *arg)
{
    fixture *f = arg;
    while (!atomic_load(&f->stop)) {
        rg_osc_poll(f->osc, 2);
        if (atomic_exchange(&f->notify_error, 0))
            rg_osc_notify_error(f->osc, "test.rpatch:1:1", "a test error");
    }
    return NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/rg_live_osc_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    rg_graph *g = patch_from(test_patch);
    rg_error err = {0};
    f->lv = rg_live_new(g, RATE, f->dir, &err);
    rg_graph_free(g);
    assert_non_null(f->lv);
    snprintf(f->out_dir, sizeof f->out_dir, "%s/exports", f->dir);
    assert_int_equal(mkdir(f->out_dir, 0755), 0);
    rg_osc_config cfg = {.port = 0, .out_dir = f->out_dir};
    f->osc = rg_osc_new(f->lv, &cfg, &err);
    assert_non_null(f->osc);
    rec_init(&f->rec, f->lv, 4.0);
    f->udp = socket(AF_INET, SOCK_DGRAM, 0);
    f->to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)rg_osc_port(f->osc))};
    inet_pton(AF_INET, "127.0.0.1", &f->to.sin_addr);
    f->tcp = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(f->tcp, (struct sockaddr *)&f->to, sizeof f->to), 0);
    assert_int_equal(pthread_create(&f->control, NULL, control_thread, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    atomic_store(&f->stop, true);
    pthread_join(f->control, NULL);
    close(f->udp);
    close(f->tcp);
    rg_osc_free(f->osc);
    rg_live_free(f->lv);
    rec_free(&f->rec);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- a small OSC client ------------------------------------------------------ */

static void send_bytes(fixture *f, bool tcp, const void *data, size_t size)
{
    if (tcp) {
        osc_tcp_send_bytes(f->tcp, data, size);
    } else {
        assert_int_equal(sendto(f->udp, data, size, 0, (struct sockaddr *)&f->to, sizeof f->to), (ssize_t)size);
    }
}

static void send_msg(fixture *f, bool tcp, const char *path, lo_message m)
{
    size_t size = 0;
    void *data = lo_message_serialise(m, path, NULL, &size);
    send_bytes(f, tcp, data, size);
    free(data);
    lo_message_free(m);
}

/* Build a message from a liblo type string: i f s T F. */
static lo_message make(const char *types, ...)
{
    lo_message m = lo_message_new();
    va_list ap;
    va_start(ap, types);
    for (const char *t = types; *t; t++) {
        switch (*t) {
        case 'i': lo_message_add_int32(m, va_arg(ap, int)); break;
        case 'f': lo_message_add_float(m, (float)va_arg(ap, double)); break;
        case 's': lo_message_add_string(m, va_arg(ap, const char *)); break;
        case 'T': lo_message_add_true(m); break;
        case 'F': lo_message_add_false(m); break;
        }
    }
    va_end(ap);
    return m;
}

typedef struct {
    char path[64];
    char types[16];
    char s[4][512];  /* the first four string arguments */
    double num;      /* the first numeric argument */
} reply;

/* The next reply, waiting up to 10 s (generous: it is not a timing test). */
static bool next_reply(fixture *f, bool tcp, reply *r)
{
    static unsigned char buf[70000];
    struct pollfd p = {.fd = tcp ? f->tcp : f->udp, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1)
        return false;
    ssize_t n;
    if (tcp) {
        if ((n = osc_tcp_recv_packet(f->tcp, buf, sizeof buf, -1, -1)) < 0)
            return false;
    } else {
        n = recv(f->udp, buf, sizeof buf, 0);
    }
    int res;
    lo_message m = lo_message_deserialise(buf, (size_t)n, &res);
    if (!m)
        return false;
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%.63s", (char *)buf);
    snprintf(r->types, sizeof r->types, "%s", lo_message_get_types(m));
    lo_arg **argv = lo_message_get_argv(m);
    int ns = 0;
    bool got_num = false;
    for (int i = 0; i < lo_message_get_argc(m); i++) {
        char t = r->types[i];
        if (t == 's' && ns < 4)
            snprintf(r->s[ns++], sizeof r->s[0], "%s", &argv[i]->s);
        else if (!got_num && (t == 'i' || t == 'f' || t == 'd' || t == 'h')) {
            r->num = t == 'i' ? argv[i]->i : t == 'f' ? argv[i]->f : t == 'd' ? argv[i]->d : (double)argv[i]->h;
            got_num = true;
        }
    }
    lo_message_free(m);
    return true;
}

/* Send and expect /done for it. */
static void expect_done(fixture *f, bool tcp, const char *path, lo_message m)
{
    send_msg(f, tcp, path, m);
    reply r;
    assert_true(next_reply(f, tcp, &r));
    if (strcmp(r.path, "/done") != 0 || strcmp(r.s[0], path) != 0)
        fail_msg("%s: expected /done, got %s %s %s", path, r.path, r.s[0], r.s[1]);
}

/* Send and expect /fail whose reason contains `why`. */
static void expect_fail(fixture *f, bool tcp, const char *path, lo_message m, const char *why)
{
    send_msg(f, tcp, path, m);
    reply r;
    assert_true(next_reply(f, tcp, &r));
    if (strcmp(r.path, "/fail") != 0 || strcmp(r.s[0], path) != 0 || !strstr(r.s[1], why))
        fail_msg("%s: expected /fail '...%s...', got %s %s '%s'", path, why, r.path, r.s[0], r.s[1]);
}

/* The live graph as text, through /patch/save (the OSC way to look). */
static char *saved_patch(fixture *f, bool tcp)
{
    expect_done(f, tcp, "/patch/save", make("s", "state.rpatch"));
    char path[256];
    snprintf(path, sizeof path, "%s/state.rpatch", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *text = calloc(1, 8192);
    fread(text, 1, 8191, fp);
    fclose(fp);
    return text;
}

/* ---- tests ------------------------------------------------------------------ */

static void ping_status_over_udp_and_tcp(void **state)
{
    fixture *f = *state;
    for (int tcp = 0; tcp < 2; tcp++) {
        reply r;
        send_msg(f, tcp, "/ping", make(""));
        assert_true(next_reply(f, tcp, &r));
        assert_string_equal(r.path, "/pong");
        send_msg(f, tcp, "/status", make(""));
        assert_true(next_reply(f, tcp, &r));
        assert_string_equal(r.path, "/status.reply");
        assert_string_equal(r.types, "fhdiiii");
        assert_true(fabs(r.num - 120.0) < 1e-6);
    }
}

/* Each address of the table, a success and a failure, over both transports. */
static void every_address_answers(void **state)
{
    fixture *f = *state;
    for (int tcp = 0; tcp < 2; tcp++) {
        expect_done(f, tcp, "/node/add", make("sssfsf", "s2", "sine", "freq", 220.0, "amp", 0.1));
        expect_fail(f, tcp, "/node/add", make("ss", "s2", "sine"), "already");
        expect_fail(f, tcp, "/node/add", make("ss", "s3", "sien"), "did you mean 'sine'");
        expect_fail(f, tcp, "/node/add", make("sss", "s3", "sine", "freq"), "pairs");
        expect_done(f, tcp, "/connect", make("ss", "s2.out", "mix.in"));
        expect_fail(f, tcp, "/connect", make("ss", "s2.out", "nowhere.in"), "nowhere");
        expect_fail(f, tcp, "/connect", make("ss", "s2out", "mix.in"), "node.port");
        expect_done(f, tcp, "/disconnect", make("ss", "s2.out", "mix.in"));
        expect_fail(f, tcp, "/disconnect", make("ss", "s2.out", "mix.in"), "");
        expect_done(f, tcp, "/node/remove", make("s", "s2"));
        expect_fail(f, tcp, "/node/remove", make("s", "s2"), "s2");
        expect_done(f, tcp, "/set", make("ssf", "high", "amp", 0.2));
        expect_fail(f, tcp, "/set", make("ssf", "high", "ampp", 0.2), "did you mean 'amp'");
        expect_fail(f, tcp, "/set", make("ssf", "hihg", "amp", 0.2), "hihg");
        expect_fail(f, tcp, "/set", make("ssf", "high", "amp", 7.0), "between");
        expect_fail(f, tcp, "/set", make("s", "high"), "expects");
        expect_done(f, tcp, "/tempo", make("f", 130.0));
        expect_done(f, tcp, "/tempo", make("i", 120));
        expect_fail(f, tcp, "/tempo", make("s", "fast"), "expects ,f");
        expect_fail(f, tcp, "/tempo", make("f", 5000.0), "");
        expect_done(f, tcp, "/transport/stop", make(""));
        expect_done(f, tcp, "/transport/start", make(""));
        expect_done(f, tcp, "/transport/start", make("i", 1)); /* a button pressed */
        expect_done(f, tcp, "/transport/stop", make("f", 0.0)); /* released: nothing */
        expect_fail(f, tcp, "/transport/start", make("s", "go"), "no arguments, or a button's 1/0");
        expect_done(f, tcp, "/notify", make("i", 1));
        expect_done(f, tcp, "/notify", make("i", 0));
        expect_fail(f, tcp, "/notify", make("s", "yes"), "expects");
        expect_fail(f, tcp, "/regen", make("s", "low"), "makes no takes");
        expect_fail(f, tcp, "/regen", make("s", "nobody"), "unknown node");
        expect_fail(f, tcp, "/regen", make("i", 3), "expects ,s node");
        expect_fail(f, tcp, "/low/regen", make("i", 1), "makes no takes");
        expect_fail(f, tcp, "/nobody/regen", make(""), "unknown node");
        expect_done(f, tcp, "/low/regen", make("f", 0.0)); /* a button released */
        expect_fail(f, tcp, "/low/regen", make("ss", "a", "b"), "a button's 1/0");
        expect_fail(f, tcp, "/lock", make("si", "low", 1), "has no lock");
        expect_fail(f, tcp, "/lock", make("si", "nobody", 1), "nobody");
        expect_fail(f, tcp, "/lock", make("s", "low"), "expects ,si");
        expect_fail(f, tcp, "/undo", make("s", "low"), "makes no takes");
        expect_fail(f, tcp, "/redo", make("s", "nobody"), "unknown node");
        expect_fail(f, tcp, "/undo", make(""), "expects ,s");
        expect_fail(f, tcp, "/ping", make("i", 3), "no arguments");
        expect_fail(f, tcp, "/sync", make("s", "x"), "expects");
        expect_fail(f, tcp, "/bogus", make(""), "unknown address");
        expect_fail(f, tcp, "/pnig", make(""), "did you mean '/ping'");
        expect_fail(f, tcp, "/nobody/amp", make("f", 0.1), "unknown node 'nobody'");
        expect_fail(f, tcp, "/low/volume", make("f", 0.1), "no parameter 'volume'");
        expect_fail(f, tcp, "/zz*/amp", make("f", 0.1), "matches no");
    }
}

/* A failing command leaves the graph exactly as it was. */
static void errors_change_nothing(void **state)
{
    fixture *f = *state;
    char *before = saved_patch(f, false);
    expect_fail(f, false, "/node/add", make("sssf", "x", "sine", "freq", -5.0), "between");
    expect_fail(f, false, "/node/add", make("sssf", "x", "sine", "nope", 1.0), "nope");
    expect_fail(f, false, "/connect", make("ss", "low.out", "low.out"), "");
    expect_fail(f, false, "/connect", make("ss", "mix.out", "low.in"), "");
    expect_fail(f, false, "/set", make("ssf", "low", "freq", 1e9), "between");
    expect_fail(f, false, "/*/amp", make("f", 3.0), "between"); /* mixer has none, sines say no */
    expect_fail(f, false, "/tempo", make("f", 1.0), "");
    expect_fail(f, false, "/patch/load", make("s", "missing.rpatch"), "no such file");
    char *after = saved_patch(f, false);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* The TouchOSC/Max form: an int for a float, a float for an int or bool, a
 * 0..1 fader on /norm, and patterns. */
static void node_param_form(void **state)
{
    fixture *f = *state;
    expect_done(f, false, "/low/amp", make("i", 1));
    expect_done(f, false, "/mix/gain2/norm", make("f", 0.5)); /* 0..4 -> 2 */
    expect_done(f, false, "/mix/pan1/norm", make("f", 0.25));  /* -1..1 -> -0.5 */
    expect_fail(f, false, "/mix/pan1/norm", make("f", 1.5), "0..1");
    expect_done(f, false, "/high/freq", make("f", 440.5));
    char *text = saved_patch(f, false);
    assert_non_null(strstr(text, "node low sine freq=110 amp=1\n"));
    assert_non_null(strstr(text, "gain2=2"));
    assert_non_null(strstr(text, "pan1=-0.5"));
    assert_non_null(strstr(text, "freq=440.5"));
    free(text);
    expect_done(f, false, "/{low,high}/amp", make("f", 0.25));
    expect_done(f, false, "/*/freq", make("i", 300));
    text = saved_patch(f, false);
    assert_non_null(strstr(text, "node low sine freq=300 amp=0.25\n"));
    assert_non_null(strstr(text, "node high sine freq=300 amp=0.25\n"));
    free(text);
}

static lo_timetag timetag_of(uint64_t unix_ns)
{
    uint64_t sec = unix_ns / 1000000000ull;
    uint64_t frac = ((unix_ns % 1000000000ull) << 32) / 1000000000ull;
    return (lo_timetag){(uint32_t)(sec + 2208988800ull), (uint32_t)frac};
}

static void send_bundle(fixture *f, bool tcp, lo_timetag tt, const char *path, lo_message m)
{
    lo_bundle b = lo_bundle_new(tt);
    lo_bundle_add_message(b, path, m);
    size_t size = 0;
    void *data = lo_bundle_serialise(b, NULL, &size);
    send_bytes(f, tcp, data, size);
    free(data);
    lo_bundle_free_recursive(b);
}

/* A bundle 500 ms ahead (UDP) sets low's amp from 0 at exactly its frame:
 * the output is silent before it and sounds from the next frame (the gain
 * glides from 0 starting on that frame). A second one over TCP, 1000 frames
 * later, sets it back to 0: silence from the end of that block on. */
static void bundle_lands_on_its_frame(void **state)
{
    fixture *f = *state;
    expect_done(f, false, "/high/amp", make("f", 0.0));
    f->rec.t0_ns = wall_ns();
    rec_run(&f->rec, 4 * BLOCK);
    long target = f->rec.frames + RATE / 2; /* 500 ms ahead */
    for (int tcp = 0; tcp < 2; tcp++) {
        long at = target + tcp * 1000;
        send_bundle(f, tcp, timetag_of(rec_ns_of(&f->rec, at)), "/low/amp", make("f", tcp ? 0.0 : 0.5));
        reply r;
        assert_true(next_reply(f, tcp, &r));
        assert_string_equal(r.path, "/done");
    }
    rec_run(&f->rec, target + 4000);
    long first = -1, last = -1;
    /* From the third block: high glides to 0 over the first one. */
    for (long i = 2 * BLOCK; i < f->rec.frames; i++) {
        if (f->rec.left[i] != 0.0f) {
            if (first < 0)
                first = i;
            last = i;
        }
    }
    assert_true(first == target || first == target + 1);
    long off = target + 1000, block_end = (off / BLOCK + 1) * BLOCK;
    assert_true(last >= off && last < block_end);
    rg_live_status st;
    rg_live_get_status(f->lv, &st);
    assert_int_equal(st.scheduled, 0);
}

static void late_bundle_runs_at_once_with_late(void **state)
{
    fixture *f = *state;
    f->rec.t0_ns = wall_ns();
    rec_run(&f->rec, 8 * BLOCK);
    send_bundle(f, false, timetag_of(rec_ns_of(&f->rec, 0)), "/low/amp", make("f", 0.5));
    reply r;
    assert_true(next_reply(f, false, &r));
    assert_string_equal(r.path, "/late");
    assert_string_equal(r.s[0], "/low/amp");
    assert_true(r.num > 0);
    assert_true(next_reply(f, false, &r));
    assert_string_equal(r.path, "/done");
}

/* /sync answers only when what came before it has been applied, including
 * a tempo change waiting for its bar line. */
static void sync_waits_for_earlier_commands(void **state)
{
    fixture *f = *state;
    rec_run(&f->rec, 10000); /* off the bar line */
    expect_done(f, true, "/tempo", make("f", 90.0));
    send_msg(f, true, "/sync", make("i", 42));
    /* TCP keeps order: once /pong is back, /sync has been queued. */
    send_msg(f, true, "/ping", make(""));
    reply pong;
    assert_true(next_reply(f, true, &pong));
    assert_string_equal(pong.path, "/pong");
    rg_live_status st;
    rec_run(&f->rec, 10000 + BLOCK);
    rg_live_get_status(f->lv, &st);
    assert_true(st.scheduled > 0); /* the tempo waits for the bar */
    rec_run(&f->rec, 2 * RATE + 2 * BLOCK); /* the bar line at 120 bpm */
    reply r;
    assert_true(next_reply(f, true, &r));
    assert_string_equal(r.path, "/synced");
    assert_int_equal((int)r.num, 42);
    rg_live_get_status(f->lv, &st);
    assert_true(fabs(st.tempo - 90.0) < 1e-9);
}

static void notify_subscribers_get_errors(void **state)
{
    fixture *f = *state;
    expect_done(f, false, "/notify", make("i", 1));
    atomic_store(&f->notify_error, 1);
    reply r;
    assert_true(next_reply(f, false, &r));
    assert_string_equal(r.path, "/error");
    assert_string_equal(r.s[0], "test.rpatch:1:1");
}

/* /patch/load and /patch/save stay inside the patch directory. */
static void patch_paths_are_confined(void **state)
{
    fixture *f = *state;
    expect_fail(f, false, "/patch/save", make("s", "/tmp/x.rpatch"), "relative");
    expect_fail(f, false, "/patch/save", make("s", "../x.rpatch"), "..");
    expect_fail(f, false, "/patch/load", make("s", "a/../../x.rpatch"), "..");
    char link[256];
    snprintf(link, sizeof link, "%s/escape", f->dir);
    assert_int_equal(symlink("/tmp", link), 0);
    expect_fail(f, false, "/patch/save", make("s", "escape/x.rpatch"), "symbolic link");
    expect_done(f, false, "/patch/save", make("s", "mine.rpatch"));
    char bad[256];
    snprintf(bad, sizeof bad, "%s/bad.rpatch", f->dir);
    FILE *fp = fopen(bad, "w");
    fputs("node a sine\nnode out output\na.out -> out.inn\n", fp);
    fclose(fp);
    expect_fail(f, false, "/patch/load", make("s", "bad.rpatch"), "bad.rpatch:3:");
    expect_done(f, false, "/patch/load", make("s", "mine.rpatch"));
}

/* Thousands of commands over TCP as fast as they go, with the audio side
 * running: every one gets exactly one answer, and the queues stay bounded. */
static void tcp_flood_gets_every_reply(void **state)
{
    fixture *f = *state;
    enum { N = 6000, BATCH = 200 };
    int done = 0, failed = 0;
    for (int sent = 0; sent < N; sent += BATCH) {
        for (int i = 0; i < BATCH; i++)
            send_msg(f, true, "/high/amp", make("f", (i % 100) / 1000.0));
        /* The audio side runs only now and then, so the queue fills up
         * (4096 commands) and the rest are refused as busy, not queued. */
        if (sent % (25 * BATCH) == 0)
            rec_run(&f->rec, f->rec.frames + BLOCK);
        for (int i = 0; i < BATCH; i++) {
            reply r;
            assert_true(next_reply(f, true, &r));
            if (!strcmp(r.path, "/done"))
                done++;
            else if (!strcmp(r.path, "/fail") && strstr(r.s[1], "busy"))
                failed++;
            else
                fail_msg("unexpected reply %s %s", r.path, r.s[1]);
        }
    }
    assert_int_equal(done + failed, N);
    assert_true(done >= RG_LIVE_QUEUE_LEN);
    assert_true(failed > 0);
    print_message("# flood: %d done, %d refused as busy\n", done, failed);
}

/* Wait for a message to `path`, skipping others. */
static bool wait_for(fixture *f, bool tcp, const char *path, reply *r)
{
    for (int i = 0; i < 50; i++) {
        if (!next_reply(f, tcp, r))
            return false;
        if (!strcmp(r->path, path))
            return true;
    }
    return false;
}

/* The generation domain runs on its worker in live mode: a file_in node
 * offers its file as a take as soon as it is added (/take to subscribers),
 * and /regen makes a new one. */
static void takes_and_regen(void **state)
{
    fixture *f = *state;
    char wav[256];
    snprintf(wav, sizeof wav, "%s/loop.wav", f->dir);
    rg_error err = {0};
    rg_audio_writer *w = rg_writer_open(wav, 2, RATE, RG_SAMPLE_FLOAT, &err);
    assert_non_null(w);
    float frames[2 * 4800] = {0};
    assert_true(rg_writer_write(w, frames, 4800, &err));
    assert_true(rg_writer_close(w, &err));

    expect_done(f, false, "/notify", make("i", 1));
    expect_done(f, false, "/node/add", make("ssss", "loop", "file_in", "path", "loop.wav"));
    reply r;
    assert_true(wait_for(f, false, "/take", &r));
    assert_string_equal(r.s[0], "loop");
    int first = (int)r.num;
    assert_true(first > 0);
    expect_done(f, false, "/regen", make("s", "loop"));
    assert_true(wait_for(f, false, "/take", &r));
    assert_string_equal(r.s[0], "loop");
    int second = (int)r.num;
    assert_true(second != first);
    /* History: undo publishes the first take again, redo the second. */
    expect_done(f, false, "/undo", make("s", "loop"));
    assert_true(wait_for(f, false, "/take", &r));
    assert_int_equal((int)r.num, first);
    expect_done(f, false, "/redo", make("s", "loop"));
    assert_true(wait_for(f, false, "/take", &r));
    assert_int_equal((int)r.num, second);
    expect_fail(f, false, "/redo", make("s", "loop"), "");
    assert_true(rg_live_generation_idle(f->lv));
}

/* A stereo float WAV of `frames` frames at RATE whose samples say where
 * they are (left k/frames, right -k/frames, times `scale`). */
static void write_ramp(const char *path, int frames, float scale)
{
    rg_error err = {0};
    rg_audio_writer *w = rg_writer_open(path, 2, RATE, RG_SAMPLE_FLOAT, &err);
    assert_non_null(w);
    float *x = malloc((size_t)frames * 2 * sizeof *x);
    for (int k = 0; k < frames; k++) {
        x[2 * k] = scale * (float)k / (float)frames;
        x[2 * k + 1] = -scale * (float)k / (float)frames;
    }
    assert_true(rg_writer_write(w, x, frames, &err));
    assert_true(rg_writer_close(w, &err));
    free(x);
}

/* A written export: a valid WAV (read back with libsndfile) of the take's
 * length and samples. */
static void check_export(const char *path, int frames, float scale)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        fail_msg("%s: %s", path, sf_strerror(NULL));
    assert_int_equal(info.frames, frames);
    assert_int_equal(info.channels, 2);
    assert_int_equal(info.samplerate, RATE);
    assert_int_equal(info.format & SF_FORMAT_TYPEMASK, SF_FORMAT_WAV);
    float *x = malloc((size_t)frames * 2 * sizeof *x);
    assert_int_equal(sf_readf_float(sf, x, frames), frames);
    sf_close(sf);
    for (int k = 0; k < frames; k += 97)
        assert_float_equal(x[2 * k], scale * (float)k / (float)frames, 1e-7);
    free(x);
}

/* Files in a directory (not counting . and ..). */
static int count_files(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* Replies until `path` arrives; a /take on the way is a failure (a command
 * that failed must not have changed any take). */
static void no_take_before(fixture *f, const char *path)
{
    reply r;
    for (int i = 0; i < 50; i++) {
        assert_true(next_reply(f, false, &r));
        if (!strcmp(r.path, "/take"))
            fail_msg("a /take for '%s' came after a command that failed", r.s[0]);
        if (!strcmp(r.path, path))
            return;
    }
    fail_msg("no %s", path);
}

/* Two takes of a file_in (the file read twice); the take id of each. */
static void two_takes(fixture *f, const char *node, int *first, int *second)
{
    reply r;
    assert_true(wait_for(f, false, "/take", &r));
    assert_string_equal(r.s[0], node);
    *first = (int)r.num;
    expect_done(f, false, "/regen", make("s", node));
    assert_true(wait_for(f, false, "/take", &r));
    *second = (int)r.num;
    assert_true(*second != *first);
}

/* /take/select publishes a take of the history again (a /take follows);
 * every bad input is a /fail that changes nothing. */
static void take_select(void **state)
{
    fixture *f = *state;
    char wav[256];
    snprintf(wav, sizeof wav, "%s/loop.wav", f->dir);
    write_ramp(wav, 4800, 0.5f);
    expect_done(f, false, "/notify", make("i", 1));
    expect_done(f, false, "/node/add", make("ssss", "loop", "file_in", "path", "loop.wav"));
    int first, second;
    two_takes(f, "loop", &first, &second);

    expect_done(f, false, "/take/select", make("si", "loop", first));
    reply r;
    assert_true(wait_for(f, false, "/take", &r));
    assert_string_equal(r.s[0], "loop");
    assert_int_equal((int)r.num, first);
    /* Now at the older take: nothing earlier, the second one later. */
    expect_fail(f, false, "/undo", make("s", "loop"), "no earlier take");

    expect_fail(f, false, "/take/select", make("si", "nobody", first), "unknown node 'nobody'");
    expect_fail(f, false, "/take/select", make("si", "low", first), "makes no takes");
    expect_fail(f, false, "/take/select", make("si", "loop", second + 1000), "no take");
    expect_fail(f, false, "/take/select", make("si", "loop", 0), "whole number");
    expect_fail(f, false, "/take/select", make("sf", "loop", 1.5), "whole number");
    expect_fail(f, false, "/take/select", make("ss", "loop", "x"), "expects ,si");
    expect_fail(f, false, "/take/select", make("s", "loop"), "expects ,si");
    send_msg(f, false, "/ping", make(""));
    no_take_before(f, "/pong");
    expect_fail(f, false, "/undo", make("s", "loop"), "no earlier take");
    /* A whole float is an id too (TouchOSC sends floats). */
    expect_done(f, false, "/take/select", make("sf", "loop", (double)second));
    assert_true(wait_for(f, false, "/take", &r));
    assert_int_equal((int)r.num, second);
    expect_fail(f, false, "/redo", make("s", "loop"), "no later take");
}

/* /take/export and /export: valid WAVs of the take's length in the output
 * directory, never overwriting, and no name or link leads out of it. */
static void take_and_stem_export(void **state)
{
    fixture *f = *state;
    char wav[256], path[PATH_MAX + 64];
    expect_fail(f, false, "/export", make("s", "early"), "nothing to export");
    snprintf(wav, sizeof wav, "%s/loop.wav", f->dir);
    write_ramp(wav, 4800, 0.5f);
    snprintf(wav, sizeof wav, "%s/loop2.wav", f->dir);
    write_ramp(wav, 7200, 0.25f);
    expect_done(f, false, "/notify", make("i", 1));
    expect_done(f, false, "/node/add", make("ssss", "loop", "file_in", "path", "loop.wav"));
    reply r;
    assert_true(wait_for(f, false, "/take", &r));
    expect_done(f, false, "/node/add", make("ssss", "loop2", "file_in", "path", "loop2.wav"));
    assert_true(wait_for(f, false, "/take", &r));
    char real[PATH_MAX];
    assert_non_null(realpath(f->out_dir, real));

    send_msg(f, false, "/take/export", make("ss", "loop", "mine"));
    assert_true(wait_for(f, false, "/done", &r));
    assert_string_equal(r.types, "ss");
    snprintf(path, sizeof path, "%s/mine.wav", real);
    assert_string_equal(r.s[1], path);
    check_export(path, 4800, 0.5f);
    /* The same name again: a new file, the first one untouched. */
    send_msg(f, false, "/take/export", make("ss", "loop2", "mine"));
    assert_true(wait_for(f, false, "/done", &r));
    snprintf(path, sizeof path, "%s/mine-2.wav", real);
    assert_string_equal(r.s[1], path);
    check_export(path, 7200, 0.25f);
    snprintf(path, sizeof path, "%s/mine.wav", real);
    check_export(path, 4800, 0.5f);

    /* A link planted in the output directory is not followed out of it. */
    char link[512], outside[512];
    snprintf(outside, sizeof outside, "%s/outside.wav", f->dir);
    snprintf(link, sizeof link, "%s/evil.wav", f->out_dir);
    assert_int_equal(symlink(outside, link), 0);
    send_msg(f, false, "/take/export", make("ss", "loop", "evil"));
    assert_true(wait_for(f, false, "/done", &r));
    snprintf(path, sizeof path, "%s/evil-2.wav", real);
    assert_string_equal(r.s[1], path);
    assert_int_equal(access(outside, F_OK), -1);

    int files = count_files(f->out_dir), in_dir = count_files(f->dir);
    const char *bad[] = {"../x", "/abs", "a/b", ".hidden", "", "..", "x y", "a\\b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_fail(f, false, "/take/export", make("ss", "loop", bad[i]), "not a plain file name");
        expect_fail(f, false, "/export", make("s", bad[i]), "not a plain file name");
    }
    expect_fail(f, false, "/take/export", make("ss", "nobody", "x"), "unknown node 'nobody'");
    expect_fail(f, false, "/take/export", make("ss", "low", "x"), "makes no takes");
    expect_fail(f, false, "/take/export", make("s", "loop"), "expects ,ss");
    expect_fail(f, false, "/export", make("i", 3), "optional ,s name");
    expect_fail(f, false, "/export", make("ss", "a", "b"), "optional ,s name");
    assert_int_equal(count_files(f->out_dir), files);
    assert_int_equal(count_files(f->dir), in_dir);
    assert_int_equal(access("/abs.wav", F_OK), -1);

    /* Stems: every audio take, NAME-NODE.wav, all paths in the /done. */
    send_msg(f, false, "/export", make("s", "set"));
    assert_true(wait_for(f, false, "/done", &r));
    assert_string_equal(r.types, "sss");
    snprintf(path, sizeof path, "%s/set-loop.wav", real);
    assert_string_equal(r.s[1], path);
    check_export(path, 4800, 0.5f);
    snprintf(path, sizeof path, "%s/set-loop2.wav", real);
    assert_string_equal(r.s[2], path);
    check_export(path, 7200, 0.25f);
    /* Without a name: the time of day. */
    send_msg(f, false, "/export", make(""));
    assert_true(wait_for(f, false, "/done", &r));
    assert_string_equal(r.types, "sss");
    assert_non_null(strstr(r.s[1], "/export-"));
    assert_non_null(strstr(r.s[1], "-loop.wav"));
    check_export(r.s[1], 4800, 0.5f);

    /* The output directory gone: a /fail that says so, nothing written. */
    char moved[256];
    snprintf(moved, sizeof moved, "%s/moved", f->dir);
    assert_int_equal(rename(f->out_dir, moved), 0);
    in_dir = count_files(f->dir);
    expect_fail(f, false, "/take/export", make("ss", "loop", "x"), "does not exist");
    expect_fail(f, false, "/export", make("s", "x"), "does not exist");
    assert_int_equal(count_files(f->dir), in_dir);
}

/* --osc-allow: a sender outside every range gets nothing; the packet is
 * counted as denied. The server runs on this thread, so no timing. */
static void allow_list_filters_senders(void **state)
{
    (void)state;
    rg_graph *g = patch_from(test_patch);
    rg_error err = {0};
    rg_live *lv = rg_live_new(g, RATE, ".", &err);
    rg_graph_free(g);
    uint32_t a, m;
    assert_false(rg_osc_parse_cidr("10.0.0.0/33", &a, &m));
    assert_false(rg_osc_parse_cidr("tablet", &a, &m));
    assert_true(rg_osc_parse_cidr("192.168.1.7/24", &a, &m));
    assert_int_equal(ntohl(a), 0xc0a80100u);
    rg_osc_config bad = {.allow = {"10.0.0.0/8", "nonsense"}, .n_allow = 2};
    assert_null(rg_osc_new(lv, &bad, &err));
    assert_non_null(strstr(err.message, "nonsense"));
    for (int allow_local = 0; allow_local < 2; allow_local++) {
        rg_osc_config cfg = {.allow = {"10.0.0.0/8", "127.0.0.1/32"}, .n_allow = 1 + allow_local};
        rg_osc *o = rg_osc_new(lv, &cfg, &err);
        assert_non_null(o);
        fixture f = {.udp = socket(AF_INET, SOCK_DGRAM, 0)};
        f.to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)rg_osc_port(o))};
        inet_pton(AF_INET, "127.0.0.1", &f.to.sin_addr);
        send_msg(&f, false, "/ping", make(""));
        rg_osc_poll(o, 5000);
        rg_osc_stats st;
        rg_osc_get_stats(o, &st);
        struct pollfd p = {.fd = f.udp, .events = POLLIN};
        int replies = poll(&p, 1, 0); /* answers are sent inside rg_osc_poll */
        assert_int_equal(st.denied, allow_local ? 0 : 1);
        assert_int_equal(replies, allow_local ? 1 : 0);
        close(f.udp);
        rg_osc_free(o);
    }
    rg_live_free(lv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ping_status_over_udp_and_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(every_address_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(errors_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(node_param_form, setup, teardown),
        cmocka_unit_test_setup_teardown(bundle_lands_on_its_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(late_bundle_runs_at_once_with_late, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_waits_for_earlier_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(notify_subscribers_get_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(patch_paths_are_confined, setup, teardown),
        cmocka_unit_test_setup_teardown(tcp_flood_gets_every_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(takes_and_regen, setup, teardown),
        cmocka_unit_test_setup_teardown(take_select, setup, teardown),
        cmocka_unit_test_setup_teardown(take_and_stem_export, setup, teardown),
        cmocka_unit_test(allow_list_filters_senders),
    };
    return cmocka_run_group_tests_name("live_osc", tests, NULL, NULL);
}
