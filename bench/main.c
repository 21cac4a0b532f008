/*
 * main.c - krbench: flags, the scenarios in order (with --compare, each
 * run with both builds), then table.c's table. See bench.h for the
 * modules and README.md ("Benchmarks") for what each figure means.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"
#include "util.h"

#ifndef KR_BENCH_BUILD_TYPE
#define KR_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef KR_BENCH_SANITIZE
#define KR_BENCH_SANITIZE "off"
#endif

#define S_EXIT_OK 0
#define S_EXIT_FAIL 1
#define S_EXIT_USAGE 2

static const char s_usage[] =
    "usage: krbench [--runs N] [--size BYTES] [--count N] [--backlog N]\n"
    "               [--full] [--only SCENARIO[,SCENARIO...]] [--keep]\n"
    "               [--senders N] [--random-ids] [--log-level LEVEL]\n"
    "               [--perf FILE] [--referrals N] [--signals N] [--purge N]\n"
    "               [--broker-bin PATH] [--node-bin PATH] [--krctl-bin "
    "PATH]\n"
    "               [--compare BUILD_DIR] [--dir DIR]\n"
    "       krbench --help\n"
    "\n"
    "krbench starts a krbroker (and krnodes where needed) from the build\n"
    "tree in a temporary directory under /tmp, drives them on loopback,\n"
    "and prints a table of figures: the median and the spread over the\n"
    "runs, the issue's target and whether it is met, then one\n"
    "machine-readable line per figure (\"krbench figure=...\"). Targets are\n"
    "reported, never asserted. Full sync is on throughout.\n"
    "\n"
    "Scenarios (all by default):\n"
    "  broker_w256  raw wire clients, 256 submits in flight: msgs/s,\n"
    "               accept and end-to-end latency\n"
    "  broker_w1    the same with one submit in flight\n"
    "  broker       both of the above\n"
    "  e2e          two krnodes and libkr adapters: a burst (msgs/s) and\n"
    "               1,000 msgs/s paced (latency p50/p99)\n"
    "  backlog      a backlog for an offline node: restart until serving,\n"
    "               anonymous memory, fill and drain msgs/s, at 10k, 100k\n"
    "               and 1M messages (up to --backlog)\n"
    "  fhir         two krfhir gateways: Bundles POSTed at one until the\n"
    "               Task is readable at the other, and the same through\n"
    "               libkr, at 100 msgs/s (p50/p99, what the gateway adds)\n"
    "  signals      (only when named) window 256 of SIGNALs on an empty\n"
    "               store and with --signals stored; the longest loop\n"
    "               pass (window-1 latency) during a purge of --purge\n"
    "               due records\n"
    "  timers       window 256 on an empty store and with --referrals\n"
    "               referrals open (their timers pending), and the\n"
    "               broker's timer scan per loop pass\n"
    "\n"
    "Options:\n"
    "  --runs N          runs of every figure (default 3)\n"
    "  --size BYTES      size of a message's content, before sealing\n"
    "                    (default 1024)\n"
    "  --count N         messages per run at window 256 and in the e2e\n"
    "                    burst (default 20000); window 1 takes at most\n"
    "                    3000, the paced run at most 5000\n"
    "  --backlog N       the largest backlog (default 100000)\n"
    "  --referrals N     open referrals in the timers scenario (default\n"
    "                    100000)\n"
    "  --signals N       signals stored in the signals scenario (default\n"
    "                    1000000)\n"
    "  --purge N         due records purged in the signals scenario\n"
    "                    (default 1000000)\n"
    "  --full            the issue's sizes: --backlog 1000000 (10k, 100k\n"
    "                    and 1M), --count 20000\n"
    "  --only LIST       run only these scenarios (comma-separated)\n"
    "  --keep            keep every temporary directory (logs, stores)\n"
    "  --senders N       concurrent adapters in the e2e burst (default 32)\n"
    "  --random-ids      message ids in random order, as an adapter that\n"
    "                    brings its own random ids makes them (default:\n"
    "                    rising, as the time-ordered ids of krnode and\n"
    "                    krctl are, which the stores' B-trees take at their\n"
    "                    right edge)\n"
    "  --log-level L     the daemons' log level (default info, as run in\n"
    "                    production)\n"
    "  --perf FILE       record the broker with `perf record` (DWARF call\n"
    "                    stacks) during\n"
    "                    the first window-256 run (the first window-1\n"
    "                    run if window 256 is not run), into FILE\n"
    "  --broker-bin PATH, --node-bin PATH, --krctl-bin PATH\n"
    "                    the daemons and krctl (default: next to krbench\n"
    "                    in the build tree: ../broker/krbroker,\n"
    "                    ../clients/krnode/krnode, ../clients/krctl/krctl)\n"
    "  --compare DIR     A/B: every run also runs the daemons and krctl of\n"
    "                    the build tree DIR (e.g. a `git worktree` of the\n"
    "                    commit before), interleaved (AB, BA, AB, ...) so\n"
    "                    that the machine's drift falls on both; its\n"
    "                    figures get \"@b\" appended, and a last table gives\n"
    "                    each figure's B/A ratio, paired run by run\n"
    "  --dir DIR         put the runs' temporary directories (the stores)\n"
    "                    in DIR instead of /tmp: a tmpfs (/dev/shm) shows\n"
    "                    what is left when flushes cost nothing\n"
    "  -h, --help        print this text\n"
    "\n"
    "Before every run the machine itself is measured (machine_* figures:\n"
    "flush latency alone and three at once, Ed25519 verify, BLAKE2b, a\n"
    "thread ping-pong): figures from different hours differ by as much as\n"
    "these do.\n"
    "\n"
    "Exit status: 0 when every scenario ran, 1 when one failed (the reason\n"
    "is printed; its directory is kept), 2 on a usage error.\n";

enum {
    OPT_RUNS = 256,
    OPT_SIZE,
    OPT_COUNT,
    OPT_BACKLOG,
    OPT_REFERRALS,
    OPT_SIGNALS,
    OPT_PURGE,
    OPT_FULL,
    OPT_ONLY,
    OPT_KEEP,
    OPT_SENDERS,
    OPT_RANDOM_IDS,
    OPT_LOG_LEVEL,
    OPT_PERF,
    OPT_BROKER_BIN,
    OPT_NODE_BIN,
    OPT_KRCTL_BIN,
    OPT_COMPARE,
    OPT_DIR,
};

static int s_usage_err(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
s_usage_err(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "krbench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'krbench --help'.\n");
    return S_EXIT_USAGE;
}

static int
s_parse_only(const char *list, unsigned *out)
{
    char buf[256], *save = NULL;

    *out = 0;
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *w = strtok_r(buf, ",", &save); w != NULL;
         w = strtok_r(NULL, ",", &save)) {
        if (strcmp(w, "broker") == 0)
            *out |= SC_BROKER_W256 | SC_BROKER_W1;
        else if (strcmp(w, "broker_w256") == 0)
            *out |= SC_BROKER_W256;
        else if (strcmp(w, "broker_w1") == 0)
            *out |= SC_BROKER_W1;
        else if (strcmp(w, "e2e") == 0)
            *out |= SC_E2E;
        else if (strcmp(w, "timers") == 0)
            *out |= SC_TIMERS;
        else if (strcmp(w, "fhir") == 0)
            *out |= SC_FHIR;
        else if (strcmp(w, "signals") == 0)
            *out |= SC_SIGNALS;
        else if (strcmp(w, "backlog") == 0)
            *out |= SC_BACKLOG;
        else if (strcmp(w, "all") == 0)
            *out |= SC_ALL;
        else
            return KR_EINVAL;
    }
    return *out != 0 ? KR_OK : KR_EINVAL;
}

/* A binary next to krbench in the build tree, unless a flag named one. */
static int
s_locate(char *dst, size_t len, const char *rel, const char *what)
{
    char self[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n;

    if (dst[0] == '\0') {
        if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0) {
            fprintf(stderr, "krbench: cannot find my own path\n");
            return KR_ESYS;
        }
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL)
            *slash = '\0';
        snprintf(path, sizeof(path), "%s/../%s", self, rel);
        if (realpath(path, dst) == NULL && strlen(path) < len)
            snprintf(dst, len, "%s", path);
    }
    if (access(dst, X_OK) != 0) {
        fprintf(stderr,
                "krbench: the %s binary is not found or not executable: "
                "%s (build it, or name it with --%s-bin)\n",
                what, dst, what);
        return KR_ENOTFOUND;
    }
    return KR_OK;
}

/* The daemons and krctl: those of the build tree 'tree' (--compare), or
 * the ones named by flags, or those next to krbench. */
static int
s_locate_bins(struct bench_opts *x, const char *tree)
{
    if (tree != NULL) {
        snprintf(x->broker_bin, sizeof(x->broker_bin), "%s/broker/krbroker",
                 tree);
        snprintf(x->node_bin, sizeof(x->node_bin), "%s/clients/krnode/krnode",
                 tree);
        snprintf(x->krctl_bin, sizeof(x->krctl_bin), "%s/clients/krctl/krctl",
                 tree);
    }
    if (s_locate(x->broker_bin, sizeof(x->broker_bin), "broker/krbroker",
                 "broker") != KR_OK ||
        s_locate(x->krctl_bin, sizeof(x->krctl_bin), "clients/krctl/krctl",
                 "krctl") != KR_OK)
        return KR_ENOTFOUND;
    if ((x->only & (SC_E2E | SC_FHIR)) &&
        s_locate(x->node_bin, sizeof(x->node_bin), "clients/krnode/krnode",
                 "node") != KR_OK)
        return KR_ENOTFOUND;
    if ((x->only & SC_FHIR) && tree != NULL)
        snprintf(x->krfhir_bin, sizeof(x->krfhir_bin),
                 "%s/clients/krfhir/krfhir", tree);
    if ((x->only & SC_FHIR) &&
        s_locate(x->krfhir_bin, sizeof(x->krfhir_bin), "clients/krfhir/krfhir",
                 "krfhir") != KR_OK)
        return KR_ENOTFOUND;
    return KR_OK;
}

/* The content's and the envelope's real sizes for --size: one envelope
 * built with throwaway keys, as the scenarios build theirs. */
static void
s_sizes(size_t size, size_t *content_len, size_t *env_len)
{
    struct msg_ctx m;
    kr_keys_t *keys = NULL;
    uint8_t *content = NULL, *env = NULL, id[KR_ID_LEN], sig[KR_SIG_LEN];

    *content_len = *env_len = 0;
    memset(&m, 0, sizeof(m));
    if (content_referral(size, &content, content_len) != KR_OK ||
        kcrypto_keys_generate(&keys) != KR_OK)
        goto done;
    m.keys = keys;
    m.sender = "ura:00000001";
    m.recipient = "ura:00000002";
    if (kcrypto_shared_key(keys->pub.box, keys->box_secret, m.shared) != KR_OK)
        goto done;
    kcrypto_key_id(keys->pub.sign, m.sign_kid);
    kcrypto_key_id(keys->pub.box, m.box_kid);
    kcrypto_key_id(keys->pub.box, m.rcpt_kid);
    m.key_version = 1;
    util_random_id(id);
    env = xmalloc(envelope_max(*content_len));
    if (envelope_referral(&m, id, content, *content_len, env, env_len, sig) !=
        KR_OK)
        *env_len = 0;
done:
    free(env);
    free(content);
    kcrypto_keys_destroy(&keys);
}

static void
s_machine(const struct bench_opts *o)
{
    struct utsname u;
    char cpu[128] = "unknown", line[256];
    FILE *f = fopen("/proc/cpuinfo", "re");

    if (f != NULL) {
        for (int i = 0; i < 10000 && fgets(line, sizeof(line), f); i++) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
                snprintf(cpu, sizeof(cpu), "%s", colon + 2);
                cpu[strcspn(cpu, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    if (uname(&u) != 0)
        memset(&u, 0, sizeof(u));
    printf("krbench: machine: %ld cpus (%s), %s %s, build %s, sanitizers "
           "%s\n",
           sysconf(_SC_NPROCESSORS_ONLN), cpu, u.sysname, u.release,
           KR_BENCH_BUILD_TYPE, KR_BENCH_SANITIZE);
    size_t clen = 0, elen = 0;
    s_sizes(o->size, &clen, &elen);
    printf("krbench: content %zu bytes per message (asked %zu), sealed "
           "envelope %zu bytes, %d runs per figure, daemons log at %s, full "
           "sync on, message ids %s\n",
           clen, o->size, elen, o->runs, o->log_level,
           bench_scatter_ids ? "in random order" : "rising");
    printf("krbench machine nproc=%ld kernel=%s build=%s sanitize=%s "
           "dir=%s\n",
           sysconf(_SC_NPROCESSORS_ONLN), u.release, KR_BENCH_BUILD_TYPE,
           KR_BENCH_SANITIZE, bench_dir);
    fflush(stdout);
}

/* --compare: the other build's options (its binaries, no perf). */
static struct bench_opts s_opts_b;
static bool s_have_b;

/* One run of one scenario with one build: the machine's floor right
 * before it (flushes, Ed25519, BLAKE2b: the hour moves every figure, see
 * sc_machine.c), then the scenario. */
static int
s_run_once(const struct bench_opts *o, int which, uint64_t arg, int run,
           char *why, size_t len)
{
    int rc = sc_machine(why, len);

    if (rc != KR_OK)
        return rc;
    switch (which) {
    case SC_BROKER_W256:
        return sc_broker(o, 256, o->count, run == 0 ? o->perf : NULL, why, len);
    case SC_BROKER_W1:
        return sc_broker(
            o, 1, o->count_w1,
            run == 0 && !(o->only & SC_BROKER_W256) ? o->perf : NULL, why, len);
    case SC_E2E:
        return sc_e2e(o, o->count, o->count_paced, why, len);
    case SC_TIMERS:
        return sc_timers(o, o->count, o->referrals, why, len);
    case SC_FHIR:
        return sc_fhir(o, o->count_paced, o->krfhir_bin, why, len);
    case SC_SIGNALS:
        return sc_signals(o, o->count, o->signals, o->purge, why, len);
    default:
        return sc_backlog(o, arg, why, len);
    }
}

/* Run one scenario o->runs times (with --compare, each run with both
 * builds); on failure say why and stop it. */
static bool
s_scenario(const struct bench_opts *o, const char *name, int which,
           uint64_t arg)
{
    char why[BENCH_ERR];
    int sides = s_have_b ? 2 : 1;

    for (int run = 0; run < o->runs; run++) {
        for (int k = 0; k < sides; k++) {
            /* AB, BA, AB, ...: a machine that drifts through the runs
             * weighs on both builds alike. */
            bool b = sides == 2 && k == (run % 2 == 0 ? 1 : 0);
            uint64_t t0 = bench_now_ns();
            why[0] = '\0';
            bench_figure_side = b ? BENCH_SIDE_B : "";
            fprintf(stderr, "krbench: %s run %d/%d%s\n", name, run + 1, o->runs,
                    b ? " (B: --compare)" : "");
            int rc = s_run_once(b ? &s_opts_b : o, which, arg, run, why,
                                sizeof(why));
            bench_figure_side = "";
            if (rc != KR_OK) {
                printf("krbench: FAILED %s run %d%s: %s\n", name, run + 1,
                       b ? " (B)" : "", why[0] ? why : kr_strerror(rc));
                fflush(stdout);
                return false;
            }
            fprintf(stderr, "krbench: %s run %d took %.1f s\n", name, run + 1,
                    (double)(bench_now_ns() - t0) / 1e9);
        }
    }
    return true;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"runs", required_argument, NULL, OPT_RUNS},
        {"size", required_argument, NULL, OPT_SIZE},
        {"count", required_argument, NULL, OPT_COUNT},
        {"backlog", required_argument, NULL, OPT_BACKLOG},
        {"referrals", required_argument, NULL, OPT_REFERRALS},
        {"signals", required_argument, NULL, OPT_SIGNALS},
        {"purge", required_argument, NULL, OPT_PURGE},
        {"full", no_argument, NULL, OPT_FULL},
        {"only", required_argument, NULL, OPT_ONLY},
        {"keep", no_argument, NULL, OPT_KEEP},
        {"senders", required_argument, NULL, OPT_SENDERS},
        {"random-ids", no_argument, NULL, OPT_RANDOM_IDS},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"perf", required_argument, NULL, OPT_PERF},
        {"broker-bin", required_argument, NULL, OPT_BROKER_BIN},
        {"node-bin", required_argument, NULL, OPT_NODE_BIN},
        {"krctl-bin", required_argument, NULL, OPT_KRCTL_BIN},
        {"compare", required_argument, NULL, OPT_COMPARE},
        {"dir", required_argument, NULL, OPT_DIR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bench_opts o;
    bool count_set = false, backlog_set = false, ok = true;
    uint64_t v;
    int c;

    util_malloc_keep(); /* as the daemons: the driver must not skew them */
    memset(&o, 0, sizeof(o));
    o.runs = 3;
    o.size = 1024;
    o.count = 20000;
    o.backlog = 100000;
    o.referrals = 100000;
    o.signals = 1000000;
    o.purge = 1000000;
    o.only = SC_ALL;
    o.senders = 32;
    o.log_level = "info";
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_RUNS:
            if (util_parse_u64(optarg, 1, BENCH_MAX_RUNS, &v) != KR_OK)
                return s_usage_err("--runs: '%s' is not 1 to 50", optarg);
            o.runs = (int)v;
            break;
        case OPT_SIZE:
            /* An envelope must stay under the broker's 1 MiB default. */
            if (util_parse_u64(optarg, 1, 1000000, &v) != KR_OK)
                return s_usage_err("--size: '%s' is not 1 to 1000000", optarg);
            o.size = (size_t)v;
            break;
        case OPT_COUNT:
            if (util_parse_u64(optarg, 1, 10000000, &v) != KR_OK)
                return s_usage_err("--count: '%s' is not 1 to 10000000",
                                   optarg);
            o.count = v;
            count_set = true;
            break;
        case OPT_BACKLOG:
            if (util_parse_u64(optarg, 1, 10000000, &v) != KR_OK)
                return s_usage_err("--backlog: '%s' is not 1 to 10000000",
                                   optarg);
            o.backlog = v;
            backlog_set = true;
            break;
        case OPT_REFERRALS:
            if (util_parse_u64(optarg, 1, 10000000, &v) != KR_OK)
                return s_usage_err("--referrals: '%s' is not 1 to 10000000",
                                   optarg);
            o.referrals = v;
            break;
        case OPT_SIGNALS:
            if (util_parse_u64(optarg, 1, 10000000, &v) != KR_OK)
                return s_usage_err("--signals: '%s' is not 1 to 10000000",
                                   optarg);
            o.signals = v;
            break;
        case OPT_PURGE:
            if (util_parse_u64(optarg, 1, 10000000, &v) != KR_OK)
                return s_usage_err("--purge: '%s' is not 1 to 10000000",
                                   optarg);
            o.purge = v;
            break;
        case OPT_FULL:
            o.full = true;
            break;
        case OPT_ONLY:
            if (s_parse_only(optarg, &o.only) != KR_OK)
                return s_usage_err("--only: '%s' names no scenario "
                                   "(broker, broker_w256, broker_w1, e2e, "
                                   "backlog)",
                                   optarg);
            break;
        case OPT_KEEP:
            o.keep = true;
            break;
        case OPT_SENDERS:
            if (util_parse_u64(optarg, 1, 64, &v) != KR_OK)
                return s_usage_err("--senders: '%s' is not 1 to 64", optarg);
            o.senders = (int)v;
            break;
        case OPT_RANDOM_IDS:
            bench_scatter_ids = true;
            break;
        case OPT_LOG_LEVEL:
            if (log_level_parse(optarg) < 0)
                return s_usage_err("--log-level: '%s' is not debug, info, "
                                   "warn or error",
                                   optarg);
            o.log_level = optarg;
            break;
        case OPT_PERF:
            o.perf = optarg;
            break;
        case OPT_BROKER_BIN:
            snprintf(o.broker_bin, sizeof(o.broker_bin), "%s", optarg);
            break;
        case OPT_NODE_BIN:
            snprintf(o.node_bin, sizeof(o.node_bin), "%s", optarg);
            break;
        case OPT_KRCTL_BIN:
            snprintf(o.krctl_bin, sizeof(o.krctl_bin), "%s", optarg);
            break;
        case OPT_DIR: {
            struct stat sb;
            if (stat(optarg, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
                strlen(optarg) > 200)
                return s_usage_err("--dir: '%s' is not a directory", optarg);
            bench_dir = optarg;
            break;
        }
        case OPT_COMPARE:
            o.compare = optarg;
            break;
        case 'h':
            fputs(s_usage, stdout);
            return S_EXIT_OK;
        default:
            return s_usage_err("unknown or incomplete option '%s'",
                               argv[optind - 1]);
        }
    }
    if (optind < argc)
        return s_usage_err("unexpected argument '%s'", argv[optind]);
    if (o.full) {
        if (!backlog_set)
            o.backlog = 1000000;
        if (!count_set)
            o.count = 20000;
    }
    o.count_w1 = o.count < 3000 ? o.count : 3000;
    o.count_paced = o.count < 5000 ? o.count : 5000;

    log_init("krbench", LOG_LEVEL_WARN);
    signal(SIGPIPE, SIG_IGN);
    if (kcrypto_init() != KR_OK) {
        fprintf(stderr, "krbench: libsodium does not start\n");
        return S_EXIT_FAIL;
    }
    if (s_locate_bins(&o, NULL) != KR_OK)
        return S_EXIT_FAIL;
    if (o.compare != NULL) {
        s_opts_b = o;
        s_opts_b.perf = NULL;
        if (s_locate_bins(&s_opts_b, o.compare) != KR_OK)
            return S_EXIT_FAIL;
        s_have_b = true;
    }
    s_machine(&o);

    if ((o.only & SC_BROKER_W256) &&
        !s_scenario(&o, "broker_w256", SC_BROKER_W256, 0))
        ok = false;
    if ((o.only & SC_BROKER_W1) &&
        !s_scenario(&o, "broker_w1", SC_BROKER_W1, 0))
        ok = false;
    if ((o.only & SC_E2E) && !s_scenario(&o, "e2e", SC_E2E, 0))
        ok = false;
    if ((o.only & SC_TIMERS) && !s_scenario(&o, "timers", SC_TIMERS, 0))
        ok = false;
    if ((o.only & SC_FHIR) && !s_scenario(&o, "fhir", SC_FHIR, 0))
        ok = false;
    if ((o.only & SC_SIGNALS) && !s_scenario(&o, "signals", SC_SIGNALS, 0))
        ok = false;
    if (o.only & SC_BACKLOG) {
        /* The ladder up to --backlog, so that a cost per message that
         * grows with the backlog shows. */
        static const uint64_t ladder[] = {10000, 100000, 1000000};
        char name[48], lbl[24];
        for (size_t i = 0; i < sizeof(ladder) / sizeof(ladder[0]); i++) {
            if (ladder[i] >= o.backlog)
                break;
            snprintf(name, sizeof(name), "backlog %s",
                     bench_count_label(ladder[i], lbl, sizeof(lbl)));
            if (!s_scenario(&o, name, SC_BACKLOG, ladder[i]))
                ok = false;
        }
        snprintf(name, sizeof(name), "backlog %s",
                 bench_count_label(o.backlog, lbl, sizeof(lbl)));
        if (!s_scenario(&o, name, SC_BACKLOG, o.backlog))
            ok = false;
    }
    bench_table(o.size);
    if (s_have_b)
        bench_compare_table();
    figures_free();
    return ok ? S_EXIT_OK : S_EXIT_FAIL;
}
