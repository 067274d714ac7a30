#include "runtime/cli.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/patch.h"
#include "runtime/render.h"

int rg_cli_report(const rg_error *err)
{
    char line[1024];
    rg_error_format(err, line, sizeof line);
    fprintf(stderr, "%s\n", line);
    return err->code == RG_ERR_INTERNAL ? RG_EXIT_INTERNAL : RG_EXIT_USER;
}

int rg_cli_usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "resonant %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'resonant %s --help'.\n", cmd);
    return RG_EXIT_USER;
}

/* strtod that insists on the whole argument being a positive number. */
static bool parse_positive(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 1e9)
        return false;
    *out = v;
    return true;
}

/* ---- render ------------------------------------------------------------ */

static const char render_help[] =
    "usage: resonant render PATCH -o OUT [options]\n"
    "\n"
    "Render a patch offline to an audio file, without JACK.\n"
    "\n"
    "  -o, --output FILE     file to write: .wav or .flac\n"
    "      --seconds S       length in seconds\n"
    "      --bars N          length in bars at the patch's tempo (default 4)\n"
    "      --rate HZ         sample rate (default 48000)\n"
    "      --block FRAMES    frames per block (default 256)\n"
    "      --format F        float, s16 or s24 (default: float for WAV, s24 for FLAC)\n"
    "      --node NAME       which output node to render (default: the first)\n"
    "      --report          print what each take is: tempo, stretch, downbeat, key\n"
    "  -q, --quiet           no progress bar\n"
    "  -h, --help            this help\n";

static int render_parse(int argc, char **argv, rg_render_options *opt, const char **patch)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"seconds", required_argument, 0, 's'},
        {"bars", required_argument, 0, 'b'},   {"rate", required_argument, 0, 'r'},
        {"block", required_argument, 0, 'k'},  {"format", required_argument, 0, 'f'},
        {"node", required_argument, 0, 'n'},   {"quiet", no_argument, 0, 'q'},
        {"report", no_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    double v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': opt->out_path = optarg; break;
        case 's':
            if (!parse_positive(optarg, &opt->seconds))
                return rg_cli_usage_error("render", "--seconds takes a positive number, not '%s'", optarg);
            break;
        case 'b':
            if (!parse_positive(optarg, &opt->bars))
                return rg_cli_usage_error("render", "--bars takes a positive number, not '%s'", optarg);
            break;
        case 'r':
            if (!parse_positive(optarg, &v) || v < 8000 || v > 384000 || v != (int)v)
                return rg_cli_usage_error("render", "--rate takes a whole number of Hz from 8000 to 384000, not '%s'", optarg);
            opt->rate = (int)v;
            break;
        case 'k':
            if (!parse_positive(optarg, &v) || v > 8192 || v != (int)v)
                return rg_cli_usage_error("render", "--block takes 1 to 8192 frames, not '%s'", optarg);
            opt->block = (int)v;
            break;
        case 'f':
            if (!rg_sample_format_parse(optarg, &opt->format))
                return rg_cli_usage_error("render", "--format takes float, s16 or s24, not '%s'", optarg);
            break;
        case 'n': opt->output_node = optarg; break;
        case 'q': opt->progress = false; break;
        case 'R': opt->report = true; break;
        case 'h': fputs(render_help, stdout); return -1;
        default: return rg_cli_usage_error("render", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return rg_cli_usage_error("render", "%s", optind >= argc ? "which patch? (resonant render PATCH -o OUT)"
                                                          : "give one patch file");
    if (!opt->out_path)
        return rg_cli_usage_error("render", "%s", "where to? (-o OUT.wav)");
    if (opt->seconds > 0 && opt->bars > 0)
        return rg_cli_usage_error("render", "%s", "give --seconds or --bars, not both");
    *patch = argv[optind];
    return RG_EXIT_OK;
}

int rg_cli_render(int argc, char **argv)
{
    rg_render_options opt = {.rate = 48000, .block = 256, .progress = isatty(2)};
    const char *patch_path = NULL;
    int rc = render_parse(argc, argv, &opt, &patch_path);
    if (rc != RG_EXIT_OK)
        return rc < 0 ? RG_EXIT_OK : rc;
    rg_error err = {0};
    rg_graph *g = rg_patch_load(rg_builtin_registry(), patch_path, &err);
    if (!g)
        return rg_cli_report(&err);
    char dir_buf[PATH_MAX];
    snprintf(dir_buf, sizeof dir_buf, "%s", patch_path);
    opt.base_dir = dirname(dir_buf);
    bool ok = rg_render(g, &opt, &err);
    if (ok)
        fprintf(stderr, "wrote %s: %.3f s at %d Hz\n", opt.out_path,
                (double)rg_render_length(g, &opt) / opt.rate, opt.rate);
    rg_graph_free(g);
    return ok ? RG_EXIT_OK : rg_cli_report(&err);
}

/* ---- check ------------------------------------------------------------- */

static const char check_help[] =
    "usage: resonant check PATCH\n"
    "\n"
    "Check a patch and print its canonical form. Exit 0 if it is valid, 1 if not\n"
    "(with a file:line:col message).\n";

int rg_cli_check(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(check_help, stdout);
        return RG_EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-')
        return rg_cli_usage_error("check", "%s", "give one patch file (resonant check PATCH)");
    rg_error err = {0};
    rg_graph *g = rg_patch_load(rg_builtin_registry(), argv[1], &err);
    if (!g)
        return rg_cli_report(&err);
    char *text = rg_patch_write(g);
    rg_graph_free(g);
    if (!text) {
        fprintf(stderr, "error: out of memory\n");
        return RG_EXIT_INTERNAL;
    }
    fputs(text, stdout);
    free(text);
    return RG_EXIT_OK;
}

/* ---- nodes ------------------------------------------------------------- */

static void format_default(const rg_param_def *p, char *buf, int size)
{
    switch (p->type) {
    case RG_PARAM_BOOL: snprintf(buf, size, "%s", p->def != 0 ? "true" : "false"); break;
    case RG_PARAM_STRING: snprintf(buf, size, "\"%s\"", p->def_str ? p->def_str : ""); break;
    case RG_PARAM_ENUM: snprintf(buf, size, "%s", p->def_str); break;
    default: snprintf(buf, size, "%g", p->def); break;
    }
}

static void format_range(const rg_param_def *p, char *buf, int size)
{
    if (p->type == RG_PARAM_FLOAT || p->type == RG_PARAM_INT)
        snprintf(buf, size, "%g..%g", p->min, p->max);
    else if (p->type == RG_PARAM_ENUM)
        snprintf(buf, size, "%s", p->choices);
    else
        snprintf(buf, size, "%s", p->type == RG_PARAM_BOOL ? "true|false" : "text");
}

static void format_port(const rg_port_def *p, bool input, char *buf, int size)
{
    int n = snprintf(buf, size, "%s", rg_port_type_name(p->type));
    if (p->type == RG_PORT_AUDIO)
        n += snprintf(buf + n, size - n, ", %s", p->channels == 1 ? "mono" : "stereo");
    if (input && p->max_cables > 1)
        snprintf(buf + n, size - n, ", up to %d cables", p->max_cables);
}

static void print_ports(FILE *f, const char *title, const rg_port_def *ports, int n, bool input,
                        bool md)
{
    if (n == 0)
        return;
    fprintf(f, md ? "\n%s:\n\n| port | type | |\n|---|---|---|\n" : "  %s:\n", title);
    for (int i = 0; i < n; i++) {
        char type[96];
        format_port(&ports[i], input, type, sizeof type);
        fprintf(f, md ? "| `%s` | %s | %s |\n" : "    %-10s %-30s %s\n", ports[i].name, type,
                ports[i].doc);
    }
}

void rg_print_node_type(FILE *f, const rg_node_type *t, bool md)
{
    fprintf(f, md ? "## %s\n\n%s\n" : "%s: %s\n", t->name, t->doc);
    print_ports(f, "inputs", t->inputs, t->n_inputs, true, md);
    print_ports(f, "outputs", t->outputs, t->n_outputs, false, md);
    if (t->n_params)
        fprintf(f, md ? "\nparameters:\n\n| parameter | type | default | range | |\n|---|---|---|---|---|\n"
                      : "  parameters:\n");
    for (int i = 0; i < t->n_params; i++) {
        const rg_param_def *p = &t->params[i];
        char def[160], range[96];
        format_default(p, def, sizeof def);
        format_range(p, range, sizeof range);
        fprintf(f, md ? "| `%s` | %s | `%s` | %s | %s%s |\n" : "    %-10s %-7s %-9s %-16s %s%s\n",
                p->name, rg_param_type_name(p->type), def, range, p->doc,
                p->restarts ? " (a change restarts the node)" : "");
    }
    fputc('\n', f);
}

static const char nodes_help[] =
    "usage: resonant nodes [TYPE] [--markdown]\n"
    "\n"
    "List the node types with their ports and parameters, or describe one type.\n"
    "--markdown prints the reference page docs/nodes.md is generated from.\n";

int rg_cli_nodes(int argc, char **argv)
{
    const rg_registry *reg = rg_builtin_registry();
    bool md = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(nodes_help, stdout);
            return RG_EXIT_OK;
        } else if (strcmp(argv[i], "--markdown") == 0) {
            md = true;
        } else if (argv[i][0] == '-' || only) {
            return rg_cli_usage_error("nodes", "unexpected argument '%s'", argv[i]);
        } else {
            only = argv[i];
        }
    }
    if (only) {
        const rg_node_type *t = rg_registry_find(reg, only);
        if (!t) {
            rg_suggest s;
            rg_suggest_init(&s, only);
            for (int i = 0; i < reg->count; i++)
                rg_suggest_try(&s, reg->types[i]->name);
            char hint[96];
            rg_suggest_phrase(&s, hint, sizeof hint);
            fprintf(stderr, "error: unknown node type '%s'%s\n", only, hint);
            return RG_EXIT_USER;
        }
        rg_print_node_type(stdout, t, md);
        return RG_EXIT_OK;
    }
    if (md)
        printf("# Node reference\n\nGenerated by `resonant nodes --markdown` from the node "
               "registry; do not edit by hand.\n\n");
    for (int i = 0; i < reg->count; i++)
        rg_print_node_type(stdout, reg->types[i], md);
    return RG_EXIT_OK;
}
