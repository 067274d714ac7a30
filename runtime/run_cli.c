/* `resonant run`: play a patch live through JACK, controlled over OSC, and
 * (with --watch) follow the patch file as it is edited. The main thread is
 * the live engine's control thread: it serves OSC, watches the file, frees
 * what the audio thread retires and looks after the JACK connection. */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "graph/patch.h"
#include "runtime/cli.h"
#include "runtime/jack_backend.h"
#include "runtime/live.h"
#include "runtime/live_watch.h"
#include "runtime/osc.h"

static const char run_help[] =
    "usage: resonant run PATCH [options]\n"
    "\n"
    "Play a patch live through JACK, controlled over OSC (UDP and TCP on one port).\n"
    "\n"
    "  -w, --watch             re-read PATCH when it is saved; apply the change at the next bar\n"
    "      --jack-name NAME    JACK client name (default resonant; a suffix is added if taken)\n"
    "      --jack-server NAME  JACK server to use (default: $JACK_DEFAULT_SERVER or 'default')\n"
    "      --autoconnect       connect the outputs to the system playback ports\n"
    "      --reconnect         when the JACK server goes away, keep the patch and reconnect\n"
    "                          when it returns\n"
    "      --timebase-master   publish tempo and bar/beat to the JACK transport\n"
    "      --no-follow         ignore another client's JACK transport tempo and position\n"
    "      --no-jack           run on an internal clock without audio output (testing)\n"
    "      --rate HZ           sample rate with --no-jack (default 48000)\n"
    "      --osc-port N        OSC port (default 57130; 0 picks a free one and prints it)\n"
    "      --osc-listen ADDR   address to listen on (default 127.0.0.1; 0.0.0.0 for the LAN)\n"
    "      --osc-allow CIDR    only accept OSC from these addresses (repeatable)\n"
    "      --no-osc            no OSC server\n"
    "      --out-dir DIR       where /take/export and /export write WAV files (default: the\n"
    "                          patch's directory)\n"
    "      --seconds S         stop after S seconds (default: run until interrupted)\n"
    "  -h, --help              this help\n"
    "\n"
    "See docs/live.md for the OSC address table and the JACK port names.\n";

typedef struct {
    const char *patch;
    bool watch, no_jack, no_osc;
    int rate;
    double seconds;
    rg_jack_config jack;
    rg_osc_config osc;
} run_options;

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "resonant run: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'resonant run --help'.\n");
    return RG_EXIT_USER;
}

enum { O_JACK_NAME = 256, O_JACK_SERVER, O_AUTO, O_RECONNECT, O_TBM, O_NOFOLLOW, O_NOJACK,
       O_RATE, O_PORT, O_LISTEN, O_ALLOW, O_NOOSC, O_SECONDS, O_OUTDIR };

static int parse_number_opt(const char *name, const char *arg, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(arg, &end);
    if (end == arg || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "resonant run: %s takes a number from %g to %g, not '%s'\n", name, lo, hi, arg);
        return RG_EXIT_USER;
    }
    *out = v;
    return RG_EXIT_OK;
}

static int parse_one(run_options *o, int c)
{
    double v;
    int rc = RG_EXIT_OK;
    switch (c) {
    case 'w': o->watch = true; break;
    case O_JACK_NAME: o->jack.client_name = optarg; break;
    case O_JACK_SERVER: o->jack.server_name = optarg; break;
    case O_AUTO: o->jack.autoconnect = true; break;
    case O_RECONNECT: o->jack.reconnect = true; break;
    case O_TBM: o->jack.timebase_master = true; break;
    case O_NOFOLLOW: o->jack.follow_transport = false; break;
    case O_NOJACK: o->no_jack = true; break;
    case O_NOOSC: o->no_osc = true; break;
    case O_LISTEN: o->osc.listen = optarg; break;
    case O_OUTDIR: o->osc.out_dir = optarg; break;
    case O_RATE:
        if ((rc = parse_number_opt("--rate", optarg, 8000, 384000, &v)) == RG_EXIT_OK)
            o->rate = (int)v;
        break;
    case O_PORT:
        if ((rc = parse_number_opt("--osc-port", optarg, 0, 65535, &v)) == RG_EXIT_OK)
            o->osc.port = (int)v;
        break;
    case O_SECONDS: rc = parse_number_opt("--seconds", optarg, 0.001, 1e9, &o->seconds); break;
    case O_ALLOW:
        if (o->osc.n_allow == RG_OSC_MAX_ALLOW)
            return usage_error("at most %s --osc-allow ranges", "8");
        o->osc.allow[o->osc.n_allow++] = optarg;
        break;
    case 'h': fputs(run_help, stdout); return -1;
    default: return usage_error("unknown option '%s'", optarg ? optarg : "?");
    }
    return rc;
}

static int run_parse(int argc, char **argv, run_options *o)
{
    static const struct option longopts[] = {
        {"watch", no_argument, 0, 'w'},           {"jack-name", required_argument, 0, O_JACK_NAME},
        {"jack-server", required_argument, 0, O_JACK_SERVER},
        {"autoconnect", no_argument, 0, O_AUTO},  {"reconnect", no_argument, 0, O_RECONNECT},
        {"timebase-master", no_argument, 0, O_TBM}, {"no-follow", no_argument, 0, O_NOFOLLOW},
        {"no-jack", no_argument, 0, O_NOJACK},    {"rate", required_argument, 0, O_RATE},
        {"osc-port", required_argument, 0, O_PORT}, {"osc-listen", required_argument, 0, O_LISTEN},
        {"osc-allow", required_argument, 0, O_ALLOW}, {"no-osc", no_argument, 0, O_NOOSC},
        {"seconds", required_argument, 0, O_SECONDS}, {"help", no_argument, 0, 'h'},
        {"out-dir", required_argument, 0, O_OUTDIR},
        {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "wh", longopts, NULL)) != -1) {
        if (c == '?')
            return usage_error("unknown option '%s'", argv[optind - 1]);
        int rc = parse_one(o, c);
        if (rc != RG_EXIT_OK)
            return rc;
    }
    if (optind != argc - 1)
        return usage_error("%s", optind >= argc ? "which patch? (resonant run PATCH)" : "give one patch file");
    o->patch = argv[optind];
    struct stat st;
    if (o->osc.out_dir && (stat(o->osc.out_dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return usage_error("--out-dir '%s' is not a directory", o->osc.out_dir);
    return RG_EXIT_OK;
}

/* ---- the internal clock (--no-jack) ------------------------------------------ */

typedef struct {
    rg_live *lv;
    int rate, block;
    atomic_bool stop;
} clock_driver;

static void *clock_thread(void *arg)
{
    clock_driver *d = arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long block_ns = (long)(1e9 * d->block / d->rate);
    while (!atomic_load(&d->stop)) {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        rg_live_process(d->lv, d->block, NULL, (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec);
        next.tv_nsec += block_ns;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    return NULL;
}

/* ---- the session ----------------------------------------------------------- */

typedef struct {
    run_options *opt;
    rg_live *lv;
    rg_jack *jack;
    rg_osc *osc;
    rg_watch *watch;
    clock_driver clock;
    pthread_t clock_tid;
    bool clock_running;
} session;

static void report_reload(session *s)
{
    rg_error err = {0};
    switch (rg_live_reload(s->lv, s->opt->patch, &err)) {
    case RG_RELOAD_APPLIED: fprintf(stderr, "resonant: %s changed; playing it from the next bar\n", s->opt->patch); break;
    case RG_RELOAD_UNCHANGED: break;
    case RG_RELOAD_FAILED: {
        char line[1024];
        rg_error_format(&err, line, sizeof line);
        fprintf(stderr, "%s (still playing the previous version)\n", line);
        if (s->osc)
            rg_osc_notify_error(s->osc, s->opt->patch, line);
        break;
    }
    }
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void main_loop(session *s)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!stop_requested && (s->opt->seconds <= 0 || elapsed_s(&t0) < s->opt->seconds)) {
        if (s->osc) {
            rg_osc_poll(s->osc, 5);
        } else {
            usleep(5000);
            rg_live_poll(s->lv, NULL, NULL);
        }
        if (s->watch && rg_watch_changed(s->watch))
            report_reload(s);
        if (s->jack)
            rg_jack_poll(s->jack);
    }
}

static bool start_audio(session *s, rg_error *err)
{
    if (s->opt->no_jack) {
        s->clock = (clock_driver){.lv = s->lv, .rate = s->opt->rate, .block = 256};
        s->clock_running = pthread_create(&s->clock_tid, NULL, clock_thread, &s->clock) == 0;
        return s->clock_running || rg_error_set(err, RG_ERR_INTERNAL, NULL, 0, 0, "cannot start the clock thread");
    }
    if (!rg_jack_start(s->jack, s->lv, err))
        return false;
    rg_jack_status st;
    rg_jack_get_status(s->jack, &st);
    if (st.connected)
        printf("resonant: JACK client '%s' at %.0f Hz, %d frames per block\n", st.client_name,
               st.sample_rate, st.buffer_size);
    else
        printf("resonant: waiting for a JACK server\n");
    return true;
}

static void stop_session(session *s)
{
    if (s->clock_running) {
        atomic_store(&s->clock.stop, true);
        pthread_join(s->clock_tid, NULL);
    }
    if (s->jack) {
        rg_jack_status st;
        rg_jack_get_status(s->jack, &st);
        fprintf(stderr, "resonant: %llu blocks, callback mean %.1f us, worst %.1f us, %llu xruns\n",
                (unsigned long long)st.callbacks, st.cpu_mean_us, st.cpu_max_us,
                (unsigned long long)st.xruns);
    }
    rg_jack_close(s->jack); /* first: no process callback after this */
    rg_osc_free(s->osc);
    rg_watch_free(s->watch);
    rg_live_free(s->lv);
}

static bool start_session(session *s, const rg_graph *g, const char *base_dir, rg_error *err)
{
    run_options *o = s->opt;
    if (!o->no_jack && !(s->jack = rg_jack_open(&o->jack, err)))
        return false;
    double rate = s->jack ? rg_jack_sample_rate(s->jack) : o->rate;
    if (!(s->lv = rg_live_new(g, rate, base_dir, err)))
        return false;
    if (!o->no_osc && !(s->osc = rg_osc_new(s->lv, &o->osc, err)))
        return false;
    if (o->watch && !(s->watch = rg_watch_new(o->patch, err)))
        return false;
    if (!start_audio(s, err))
        return false;
    if (s->osc)
        printf("resonant: OSC on udp+tcp %s:%d\n", o->osc.listen ? o->osc.listen : "127.0.0.1",
               rg_osc_port(s->osc));
    if (s->watch)
        printf("resonant: watching %s\n", o->patch);
    fflush(stdout);
    return true;
}

int rg_cli_run(int argc, char **argv)
{
    run_options o = {.rate = 48000, .osc.port = RG_OSC_DEFAULT_PORT,
                     .jack.follow_transport = true};
    int rc = run_parse(argc, argv, &o);
    if (rc != RG_EXIT_OK)
        return rc < 0 ? RG_EXIT_OK : rc;
    rg_error err = {0};
    rg_graph *g = rg_patch_load(rg_builtin_registry(), o.patch, &err);
    if (!g)
        return rg_cli_report(&err);
    char dir_buf[PATH_MAX];
    snprintf(dir_buf, sizeof dir_buf, "%s", o.patch);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    session s = {.opt = &o};
    bool ok = start_session(&s, g, dirname(dir_buf), &err);
    rg_graph_free(g);
    if (ok)
        main_loop(&s);
    stop_session(&s);
    return ok ? RG_EXIT_OK : rg_cli_report(&err);
}
