/* /regen and /take/select live, through JACK: the new take must start
 * exactly on a bar line.
 *
 * A dummy JACK server with a unique name; `resonant run` on a patch where a
 * real generator (the tiny fixture model, on the CPU backend) feeds a
 * decoder that plays its take in a loop, and a click marks the beats on a
 * second output.
 * A second JACK client records both outputs in the same cycles. Over OSC
 * the test exports the take that plays (/take/export), sends /regen, waits
 * for the decoder's new take, and exports it too. Knowing both takes sample
 * for sample, it finds in the recording
 *   - where the new take's first frame sounds (B), and checks that
 *   - B is a downbeat of the click (the engine's own bar line, to the frame),
 *   - every frame from half a bar before /regen up to B is the old take,
 *     continuing in time,
 *   - the crossfade after B is exactly the documented one (old fading out
 *     linearly over the decoder's `crossfade`, new fading in),
 *   - after it, the new take plays from its first frame on,
 *   - and the two takes differ audibly there, so none of this can hold by
 *     accident.
 *
 * The same holds twice for /regen and then for /take/select of the first
 * regenerated take, which must also sound bit for bit as it did.
 *
 * The only assumption about timing is that generation finishes eventually
 * (waits of up to a minute). An xrun makes the recording's timeline jump;
 * a round with one (the machine's load, not the engine) is done again. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <jack/jack.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lo/lo.h>
#include <sndfile.h>

#include "tests/runtime/live/jack_recorder.h"
#include "tests/runtime/live/jack_util.h"
#include "tests/runtime/live/osc_tcp.h"

#define RATE 48000
#define TEMPO 240
#define BAR (RATE * 4 * 60 / TEMPO) /* frames of a 4/4 bar: 48000 */
#define FADE_MS 10
#define FADE (RATE * FADE_MS / 1000) /* the decoder's crossfade in frames */
#define RECORD_SECONDS 60
#define ROUNDS 5 /* attempts when xruns spoil a recording */
#define WAIT_S 60.0 /* for generation and the recording; not a threshold */
/* The tiny random-weight MusicGen and an EnCodec of its codes (4 x 128),
 * random too: a take costs little CPU, and two takes (new seeds) sound
 * nothing alike. */
#define LM "tests/fixtures/lm/tiny"
#define CODEC "tests/fixtures/encodec/32k_128"

static char server[64], engine_name[64], rec_name[64], dir[64], patch_path[128], out_dir[128];
static pid_t jackd_pid = -1, engine_pid = -1;
static int engine_out = -1, osc_fd = -1;

/* ---- processes ------------------------------------------------------------------ */

/* The engine's "resonant: OSC on udp+tcp ADDR:PORT" line: the port. */
static int engine_osc_port(void)
{
    char buf[4096];
    size_t have = 0;
    for (double t0 = now_s(); now_s() - t0 < WAIT_S;) {
        buf[have] = 0;
        char *line = strstr(buf, "resonant: OSC on");
        char *nl = line ? strchr(line, '\n') : NULL;
        if (nl) {
            *nl = 0;
            return atoi(strrchr(line, ':') + 1);
        }
        struct pollfd p = {.fd = engine_out, .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            ssize_t r = read(engine_out, buf + have, sizeof buf - have - 1);
            if (r <= 0)
                return -1;
            have += (size_t)r;
        }
    }
    return -1;
}

/* ---- OSC over TCP (OSC 1.0 stream framing) ------------------------------------- */

static void osc_send(const char *path, lo_message m) { osc_tcp_send(osc_fd, path, m); }

typedef struct {
    char path[64];
    char s[2][4096]; /* the first two string arguments */
    int i;           /* the first int argument */
} reply;

static bool osc_reply(reply *r, int timeout_ms)
{
    static unsigned char buf[70000];
    long n = osc_tcp_recv_packet(osc_fd, buf, sizeof buf, timeout_ms, 10000);
    if (n < 0)
        return false;
    int res;
    lo_message m = lo_message_deserialise(buf, (size_t)n, &res);
    if (!m)
        return false;
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%.63s", (char *)buf);
    const char *types = lo_message_get_types(m);
    lo_arg **argv = lo_message_get_argv(m);
    for (int k = 0, ns = 0; types[k]; k++) {
        if (types[k] == 's' && ns < 2)
            snprintf(r->s[ns++], sizeof r->s[0], "%s", &argv[k]->s);
        else if (types[k] == 'i')
            r->i = argv[k]->i;
    }
    lo_message_free(m);
    return true;
}

/* The answer to the command just sent: /done or /fail (events such as
 * /take and /progress that come in between are skipped). */
static bool osc_answer(const char *cmd, reply *r)
{
    for (double t0 = now_s(); now_s() - t0 < WAIT_S;) {
        if (!osc_reply(r, 1000))
            continue;
        if ((!strcmp(r->path, "/done") || !strcmp(r->path, "/fail")) && !strcmp(r->s[0], cmd))
            return !strcmp(r->path, "/done");
    }
    fail_msg("no answer to %s", cmd);
    return false;
}

static lo_message strings(const char *a, const char *b)
{
    lo_message m = lo_message_new();
    lo_message_add_string(m, a);
    if (b)
        lo_message_add_string(m, b);
    return m;
}

/* ---- the recorder ------------------------------------------------------------- */

static jack_recorder rec; /* input TAKE: the engine's `out`; GRID: its click on `grid` */
enum { TAKE, GRID };
#define REC_CAP ((long)RECORD_SECONDS * RATE)

static void open_recorder(void)
{
    const char *names[] = {"take", "grid"};
    assert_true(recorder_open(&rec, rec_name, server, names));
    const char *nodes[] = {"out", "grid"};
    for (int i = 0; i < 2; i++) {
        char src[256];
        snprintf(src, sizeof src, "%s:%s:out_L", engine_name, nodes[i]);
        if (!recorder_connect(&rec, i, src))
            fail_msg("cannot connect %s to the recorder", src);
    }
}

/* Record until `frames` are there. */
static void record_until(long frames)
{
    assert_true(frames <= REC_CAP);
    for (double t0 = now_s(); atomic_load(&rec.frames) < frames; usleep(5000))
        if (now_s() - t0 > WAIT_S)
            fail_msg("the recording stalled at frame %ld", atomic_load(&rec.frames));
}

/* ---- takes -------------------------------------------------------------------- */

typedef struct {
    float *x; /* mono: the decoder's takes are */
    long frames;
} take;

static take read_take(const char *path)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        fail_msg("%s: %s", path, sf_strerror(NULL));
    assert_int_equal(info.channels, 1);
    assert_int_equal(info.samplerate, RATE);
    take t = {malloc((size_t)info.frames * sizeof(float)), info.frames};
    assert_int_equal(sf_readf_float(sf, t.x, t.frames), t.frames);
    sf_close(sf);
    return t;
}

/* The decoder's take as it is now, through /take/export; retried while it
 * has none yet (the first generation after the engine starts). */
static take export_take(const char *name)
{
    reply r;
    for (double t0 = now_s(); now_s() - t0 < WAIT_S; usleep(100000)) {
        osc_send("/take/export", strings("dec", name));
        if (osc_answer("/take/export", &r))
            return read_take(r.s[1]);
        if (!strstr(r.s[1], "no take with audio yet"))
            fail_msg("/take/export: %s", r.s[1]);
    }
    fail_msg("the decoder made no take");
    return (take){0};
}

/* Read what is still queued up to a /pong: the first take's /take may come
 * after the take was exported, and must not pass for a later one. */
static void drain_events(void)
{
    osc_send("/ping", lo_message_new());
    reply r;
    for (double t0 = now_s(); now_s() - t0 < WAIT_S;)
        if (osc_reply(&r, 1000) && !strcmp(r.path, "/pong"))
            return;
    fail_msg("no /pong");
}

/* Wait for the decoder's /take; `gen_id` receives the id in the
 * generator's /take that comes before it. */
static void wait_new_take(int *gen_id)
{
    reply r;
    *gen_id = 0;
    for (double t0 = now_s(); now_s() - t0 < WAIT_S;) {
        if (!osc_reply(&r, 1000) || strcmp(r.path, "/take") != 0)
            continue;
        if (!strcmp(r.s[0], "gen"))
            *gen_id = r.i;
        else if (!strcmp(r.s[0], "dec"))
            return;
    }
    fail_msg("no new take of the decoder");
}

/* The sample a take plays at recording frame f, placed with its first frame at `start`. */
static float take_at(const take *t, long start, long f)
{
    long k = (f - start) % t->frames;
    return t->x[k < 0 ? k + t->frames : k];
}

static bool same(float a, float b, float tol) { return fabsf(a - b) <= tol; }

/* Where `t` starts (mod its length) if it plays, looped and unchanged,
 * across [from, from + n) of the recording; -1 when it does not. */
static long find_phase(const take *t, long from, long n)
{
    long found = -1;
    for (long start = 0; start < t->frames; start++) {
        long k = 0;
        while (k < n && same(rec.data[TAKE][from + k], take_at(t, start, from + k), 1e-6f))
            k++;
        if (k == n) {
            if (found >= 0)
                fail_msg("the take fits the recording at two phases (%ld, %ld)", found, start);
            found = start;
        }
    }
    return found;
}

/* Downbeats of the click: onsets at the accented level (0.8; beats 0.4). */
static int downbeats(long *at, int max)
{
    int n = 0;
    long quiet = 2000, frames = atomic_load(&rec.frames);
    for (long i = 0; i < frames && n < max; i++) {
        if (fabsf(rec.data[GRID][i]) > 0.2f) {
            if (quiet >= 2000 && rec.data[GRID][i] > 0.6f)
                at[n++] = i;
            quiet = 0;
        } else {
            quiet++;
        }
    }
    return n;
}

static double rms_difference(const take *a, long a_start, const take *b, long b_start, long from, long n)
{
    double sum = 0;
    for (long f = from; f < from + n; f++) {
        double d = take_at(a, a_start, f) - (b ? take_at(b, b_start, f) : 0.0f);
        sum += d * d;
    }
    return sqrt(sum / (double)n);
}

/* The checks of the file comment, on one recording. `regen_at`: the
 * recording frame when `cmd` (/regen, /take/select) was sent. */
static void check_swap(const take *old, const take *new, const char *cmd, long regen_at)
{
    long end = atomic_load(&rec.frames);
    long from = regen_at - BAR / 2; /* the old take certainly plays here */
    long old_start = find_phase(old, from, 2048);
    if (old_start < 0)
        fail_msg("the old take is not what plays before /regen");
    long new_start = find_phase(new, end - BAR / 2, 2048);
    if (new_start < 0)
        fail_msg("the new take is not what plays at the end");
    /* B: the first frame, after `from`, where the new take's first frame
     * sounds (the crossfade mixes in the old one, so compare after it). */
    long B = -1;
    long first = from + ((new_start - from) % new->frames + new->frames) % new->frames;
    for (long c = first; B < 0 && c + FADE + 2048 < end; c += new->frames) {
        long k = 0;
        while (k < 2048 && same(rec.data[TAKE][c + FADE + k], take_at(new, c, c + FADE + k), 1e-6f))
            k++;
        if (k == 2048)
            B = c;
    }
    assert_true(B > from);
    fprintf(stderr, "# %s sent at frame %ld, the new take starts at %ld (take %ld frames)\n",
            cmd, regen_at, B, new->frames);

    /* A bar line: B is a downbeat of the click. */
    long db[256];
    int n_db = downbeats(db, 256);
    bool on_downbeat = false;
    for (int i = 0; i < n_db; i++)
        on_downbeat = on_downbeat || db[i] == B;
    if (!on_downbeat) {
        long nearest = -1;
        for (int i = 0; i < n_db; i++)
            if (nearest < 0 || labs(db[i] - B) < labs(nearest - B))
                nearest = db[i];
        fail_msg("the new take starts at frame %ld, not on a bar line (nearest downbeat %ld)", B, nearest);
    }

    /* The old take plays on, in time, up to the bar line (and on its first
     * frame, where the fade gives it all the weight). */
    for (long f = from; f <= B; f++)
        if (!same(rec.data[TAKE][f], take_at(old, old_start, f), 1e-6f))
            fail_msg("frame %ld (bar line at %ld): %g is not the old take's %g", f, B,
                     rec.data[TAKE][f], take_at(old, old_start, f));
    /* The crossfade: the old take's weight falls linearly from 1 to 0. */
    for (long k = 0; k < FADE; k++) {
        double g = (double)(FADE - k) / FADE;
        double want = (1 - g) * new->x[k] + g * take_at(old, old_start, B + k);
        if (fabs(rec.data[TAKE][B + k] - want) > 1e-5)
            fail_msg("crossfade frame %ld: %g, not %g", k, rec.data[TAKE][B + k], want);
    }
    /* Then the new take alone, from where the fade left it. */
    for (long f = B + FADE; f < end; f++)
        if (!same(rec.data[TAKE][f], take_at(new, B, f), 1e-6f))
            fail_msg("frame %ld: %g is not the new take's %g", f, rec.data[TAKE][f], take_at(new, B, f));

    /* The takes differ where they meet, so the checks above could tell. */
    double level = rms_difference(old, old_start, NULL, 0, B, BAR / 4);
    double diff = rms_difference(new, B, old, old_start, B + FADE, BAR / 4);
    fprintf(stderr, "# old take level %.4f, new - old %.4f (RMS over a beat after the bar line)\n",
            level, diff);
    assert_true(level > 1e-3);
    assert_true(diff > 0.1 * level);
}

/* ---- the test ------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    int pid = (int)getpid();
    snprintf(server, sizeof server, "rgregen%d", pid);
    snprintf(engine_name, sizeof engine_name, "rgregeng%d", pid);
    snprintf(rec_name, sizeof rec_name, "rgregrec%d", pid);
    snprintf(dir, sizeof dir, "/tmp/rg_live_regen_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(out_dir, sizeof out_dir, "%s/exports", dir);
    snprintf(patch_path, sizeof patch_path, "%s/regen.rpatch", dir);
    assert_int_equal(mkdir(out_dir, 0755), 0);
    const char *src = getenv("RESONANT_SOURCE_DIR") ? getenv("RESONANT_SOURCE_DIR") : ".";
    FILE *f = fopen(patch_path, "w");
    assert_non_null(f);
    fprintf(f,
            "tempo %d\nmeter 4/4\n"
            "node text conditioner model=\"%s/" LM "\" prompt=\"dark minimal techno\"\n"
            "node gen  generator model=\"%s/" LM "\" bars=1 seed=-1 guidance=0\n"
            "node dec  decoder model=\"%s/" CODEC "\" crossfade=%d\n"
            "node out  output\n"
            "node clk  click amp=0.4 accent=2\n"
            "node grid output\n"
            "text.cond -> gen.cond\ngen.tokens -> dec.tokens\ndec.audio -> out.in\n"
            "clk.out -> grid.in\n",
            TEMPO, src, src, src, FADE_MS);
    fclose(f);
    assert_true(recorder_alloc(&rec, 2, REC_CAP));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    recorder_close(&rec);
    if (osc_fd >= 0)
        close(osc_fd);
    stop(&engine_pid);
    stop(&jackd_pid);
    if (engine_out >= 0)
        close(engine_out);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    recorder_free(&rec);
    return 0;
}

static void start_engine(void)
{
    char *jackd[] = {"jackd", "-n", server, "-d", "dummy", "-r", "48000", "-p", "256", NULL};
    jackd_pid = spawn(jackd, NULL);
    assert_true(jackd_pid > 0);
    if (!jack_server_up(server))
        fail_msg("the dummy JACK server '%s' did not come up (is jackd installed?)", server);
    char exe[512];
    snprintf(exe, sizeof exe, "%s/resonant", getenv("RESONANT_BUILD_DIR") ? getenv("RESONANT_BUILD_DIR") : ".");
    setenv("RESONANT_BACKEND", "cpu", 0); /* the model is small; lavapipe would be slower */
    char *argv[] = {exe, "run", patch_path, "--jack-server", server, "--jack-name", engine_name,
                    "--osc-port", "0", "--out-dir", out_dir, "--seconds", "86400", NULL};
    engine_pid = spawn(argv, &engine_out);
    int port = engine_osc_port();
    assert_true(port > 0);
    osc_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(osc_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    lo_message m = lo_message_new();
    lo_message_add_int32(m, 1);
    osc_send("/notify", m);
    reply r;
    assert_true(osc_answer("/notify", &r));
}

/* One recording around one change of take: /regen (select_id 0) or
 * /take/select of the generator's take `select_id`. `gen_id` and `out`
 * receive the generator's new take id and the decoder's new take. False if
 * an xrun spoilt the recording. */
static bool swap_round(int round, int select_id, int *gen_id, take *out)
{
    char name[32];
    snprintf(name, sizeof name, "old%d", round);
    take old = export_take(name);
    atomic_store(&rec.frames, 0);
    atomic_store(&rec.xruns, 0);
    atomic_store(&rec.on, true);
    /* The old take was published before the recording started, so it
     * plays from the first bar line, at most a bar in: from 2.5 bars on it
     * has played for more than one. */
    record_until(5 * BAR / 2);
    drain_events();
    long sent_at = atomic_load(&rec.frames);
    lo_message m = strings("gen", NULL);
    if (select_id)
        lo_message_add_int32(m, select_id);
    const char *cmd = select_id ? "/take/select" : "/regen";
    osc_send(cmd, m);
    reply r;
    if (!osc_answer(cmd, &r))
        fail_msg("%s: %s", cmd, r.s[1]);
    wait_new_take(gen_id);
    assert_true(*gen_id > 0);
    long take_at_frame = atomic_load(&rec.frames);
    snprintf(name, sizeof name, "new%d", round);
    *out = export_take(name);
    assert_int_equal(out->frames, old.frames);
    /* It swaps in at the next bar line: within a bar of its /take. Record
     * a bar and a half beyond that. */
    record_until(take_at_frame + 5 * BAR / 2);
    atomic_store(&rec.on, false);
    bool clean = atomic_load(&rec.xruns) == 0;
    if (clean)
        check_swap(&old, out, cmd, sent_at);
    else
        fprintf(stderr, "# round %d: %d xruns while recording; again\n", round, atomic_load(&rec.xruns));
    free(old.x);
    return clean;
}

/* Regenerate until a round is recorded without xruns; the last new take. */
static void regen_until_clean(int *round, int *gen_id, take *t)
{
    bool clean = false;
    for (int attempt = 0; !clean && attempt < ROUNDS; attempt++) {
        free(t->x);
        clean = swap_round((*round)++, 0, gen_id, t);
    }
    if (!clean)
        fail_msg("xruns in all %d recordings: the machine is too loaded to check the frame", ROUNDS);
}

/* /regen twice (the second time with the generator locked), then
 * /take/select of the first: each new take (the selected one too) starts
 * on a bar line, and the selected take sounds bit for bit as it did (the
 * decoder is deterministic). */
static void regen_and_select_land_on_the_bar_line(void **state)
{
    (void)state;
    start_engine();
    open_recorder();
    int round = 0, id[2];
    take t[2] = {{0}, {0}};
    regen_until_clean(&round, &id[0], &t[0]);
    /* Locked, the generator keeps its take when what it hears changes;
     * /regen (asked for directly) still replaces it. */
    lo_message m = strings("gen", NULL);
    lo_message_add_int32(m, 1);
    osc_send("/lock", m);
    reply r;
    if (!osc_answer("/lock", &r))
        fail_msg("/lock: %s", r.s[1]);
    regen_until_clean(&round, &id[1], &t[1]);
    assert_true(id[0] != id[1]);
    /* Select the first; if xruns spoil that recording, the second, ... */
    bool clean = false;
    for (int attempt = 0, k = 0; !clean && attempt < ROUNDS; attempt++, k ^= 1) {
        int got;
        take again = {0};
        clean = swap_round(round++, id[k], &got, &again);
        assert_int_equal(got, id[k]);
        assert_int_equal(again.frames, t[k].frames);
        assert_memory_equal(again.x, t[k].x, (size_t)again.frames * sizeof(float));
        free(again.x);
    }
    free(t[0].x);
    free(t[1].x);
    if (!clean)
        fail_msg("xruns in every /take/select recording: the machine is too loaded");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(regen_and_select_land_on_the_bar_line, setup, teardown),
    };
    return cmocka_run_group_tests_name("live_regen", tests, NULL, NULL);
}
