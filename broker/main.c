/*
 * krbroker - the kansrijk broker: routes sealed messages between the
 * organisations' nodes and keeps their delivery state in LMDB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "broker.h"
#include "bstore.h"
#include "crypto.h"
#include "log.h"
#include "routes.h"
#include "backup.h"
#include "metrics.h"
#include "util.h"

static int s_sig_pipe[2] = {-1, -1};

static void
s_on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    /* Only async-signal-safe work here: the loop reads the pipe. */
    if (write(s_sig_pipe[1], &c, 1) < 0) {
        /* The pipe is full: a stop is already pending. */
    }
    errno = saved;
}

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: krbroker [-c FILE] [--key VALUE ...]\n"
            "\n"
            "The kansrijk broker. Options come from FILE (section [broker],\n"
            "key = value) and from flags, which win. Exit status: 0 after a\n"
            "clean stop (SIGTERM, SIGINT), 1 on a start-up error, 2 on a\n"
            "usage or configuration error. SIGHUP reads the configuration\n"
            "again (log_level, log_format, max_items_per_pass,\n"
            "max_frames_per_pass take effect; the rest at the next start).\n\n"
            "  -c, --config FILE        read options from FILE\n"
            "  -h, --help               show this help\n"
            "      --version            show the version\n"
            "      --sample-config      print a commented configuration "
            "file\n");
    cfg_print_help(f, broker_config_options);
}

static int
s_set_curve(void *sock, const kr_keys_t *keys)
{
    int one = 1;

    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys->curve_secret, 32) !=
            0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "kansrijk", 8) != 0)
        return KR_ESYS;
    return KR_OK;
}

static int
s_open_sockets(struct broker *b, const kr_keys_t *keys)
{
    int one = 1, linger = 1000;
    int ivl = (int)b->cfg.heartbeat_ms, tmo = (int)b->cfg.heartbeat_timeout_ms;
    int64_t maxmsg = 16 << 20;
    char admin[4096];

    b->zctx = zmq_ctx_new();
    /* The ZAP handler must be bound before the first CURVE handshake. */
    b->zap = zmq_socket(b->zctx, ZMQ_REP);
    if (zmq_bind(b->zap, "inproc://zeromq.zap.01") != 0) {
        log_errorx("main: zap: bind: %s", zmq_strerror(errno));
        return KR_ESYS;
    }
    b->router = zmq_socket(b->zctx, ZMQ_ROUTER);
    if (s_set_curve(b->router, keys) != 0 ||
        zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) ||
        zmq_setsockopt(b->router, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl)) ||
        zmq_setsockopt(b->router, ZMQ_HEARTBEAT_TIMEOUT, &tmo, sizeof(tmo)) ||
        zmq_setsockopt(b->router, ZMQ_HEARTBEAT_TTL, &tmo, sizeof(tmo)) ||
        zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
        zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof(linger))) {
        log_errorx("main: router: options: %s", zmq_strerror(errno));
        return KR_ESYS;
    }
    if (zmq_bind(b->router, b->cfg.listen) != 0) {
        log_errorx("main: listen %s: %s", b->cfg.listen, zmq_strerror(errno));
        return KR_ESYS;
    }
    /* With a wildcard port ("tcp://127.0.0.1:*") the kernel picks one;
     * tell operators and tests which, in a file beside the store. */
    char endpoint[1024], path[4096];
    size_t elen = sizeof(endpoint);
    if (zmq_getsockopt(b->router, ZMQ_LAST_ENDPOINT, endpoint, &elen) == 0) {
        snprintf(path, sizeof(path), "%s/endpoint", b->cfg.data_dir);
        size_t n = strnlen(endpoint, sizeof(endpoint));
        endpoint[n < sizeof(endpoint) - 1 ? n : sizeof(endpoint) - 2] = '\n';
        if (util_write_file_atomic(path, endpoint, n + 1, 0644) != 0)
            log_warnx("main: cannot write %s", path);
        endpoint[n] = '\0';
    }
    if (b->cfg.admin[0] != '\0')
        snprintf(admin, sizeof(admin), "%s", b->cfg.admin);
    else
        snprintf(admin, sizeof(admin), "ipc://%s/admin.sock", b->cfg.data_dir);
    b->admin = zmq_socket(b->zctx, ZMQ_ROUTER);
    zmq_setsockopt(b->admin, ZMQ_LINGER, &linger, sizeof(linger));
    /* The admin socket is guarded by file permissions: owner only. */
    mode_t old = umask(077);
    int rc = zmq_bind(b->admin, admin);
    umask(old);
    if (rc != 0) {
        log_errorx("main: admin %s: %s", admin, zmq_strerror(errno));
        return KR_ESYS;
    }
    /* socket_group / socket_mode: krctl need not run as this user. */
    if (daemon_socket_perms(admin, &b->cfg.ops) != KR_OK)
        return KR_ESYS;
    log_info("main: ready listen=%s admin=%s instance=%s", endpoint, admin,
             b->cfg.instance);
    return KR_OK;
}

/* One broker per data directory: LMDB itself would let a second process
 * in, and two brokers would each believe they own the queues. */
static int
s_lock_data_dir(const char *dir)
{
    char path[4096];
    int fd;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_errorx("main: data_dir %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/krbroker.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        /* Not a lock held by someone: a directory we cannot write. */
        log_errorx("main: data_dir %s: cannot open %s: %s (is the directory "
                   "writable by this user?)",
                   dir, path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        log_errorx("main: data_dir %s: in use by another krbroker", dir);
        close(fd);
        return -1;
    }
    return fd;
}

/* A fault a test asks for (tests/integration/test_early.c), or 0. */
static uint64_t
s_test_env(const char *name)
{
    const char *v = getenv(name);
    uint64_t n = v != NULL ? strtoull(v, NULL, 10) : 0;

    if (n != 0)
        log_warnx("main: %s=%llu: this broker fails on purpose (a test)", name,
                  (unsigned long long)n);
    return n;
}

int
main(int argc, char **argv)
{
    struct broker b;
    kr_keys_t *keys = NULL;
    char err[512];
    int rc, lock_fd, level;

    util_malloc_keep();
    memset(&b, 0, sizeof(b));
    arena_init(&b.pb, 256u << 10);
    log_init("krbroker", LOG_LEVEL_INFO);
    if (cfg_defaults(broker_config_options, &b.cfg, err, sizeof(err)) != 0)
        fatalx("config: defaults: %s", err);
    rc = cfg_parse_args(argc, argv, "broker", broker_config_options, &b.cfg,
                        err, sizeof(err));
    if (rc != 0) {
        cfg_free(broker_config_options, &b.cfg);
        arena_fini(&b.pb);
        if (rc == 1) {
            s_usage(stdout);
            return 0;
        }
        if (rc == 2) {
            printf("krbroker %s\n", "0.1.0");
            return 0;
        }
        if (rc == 3) {
            cfg_print_sample(stdout, "krbroker", "broker",
                             broker_config_options);
            return 0;
        }
        fprintf(stderr, "krbroker: %s\n", err);
        fprintf(stderr, "Try 'krbroker --help'.\n");
        return 2;
    }
    if (broker_config_check(&b.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "krbroker: %s\nTry 'krbroker --help'.\n", err);
        cfg_free(broker_config_options, &b.cfg);
        arena_fini(&b.pb);
        return 2;
    }
    level = log_level_parse(b.cfg.log_level);
    log_init("krbroker", (enum log_level)level);
    daemon_ops_apply_log(&b.cfg.ops);
    daemon_args_keep(argc, argv);
    if (b.cfg.unsafe_nosync)
        log_warnx("main: unsafe_nosync is ON: accepted messages can be lost "
                  "in a crash; for benchmarks only");
    if (kcrypto_init() != 0)
        fatalx("main: libsodium does not start");
    /* For the crash tests only: never set in a deployment. */
    b.test_hang_after_early = s_test_env("KRBROKER_TEST_HANG_BEFORE_COMMIT");
    b.test_fail_after_early = s_test_env("KRBROKER_TEST_FAIL_COMMIT");
    b.test_early_ack = s_test_env("KRBROKER_TEST_EARLY_ACK");
    lock_fd = -1;
    rc = KR_ESYS;
    if (b.cfg.routes[0] != '\0') {
        struct routes *rs = NULL;
        if (routes_load(b.cfg.routes, &rs, err, sizeof(err)) != 0) {
            fprintf(stderr, "krbroker: routes: %s\n", err);
            log_errorx("main: routes: %s", err);
            cfg_free(broker_config_options, &b.cfg);
            arena_fini(&b.pb);
            return 2;
        }
        log_info("main: routes loaded file=%s routes=%zu", b.cfg.routes, rs->n);
        routes_swap(&rs);
    } else {
        log_warnx("main: no routes file: every purpose passes and no "
                  "referral has timers (set routes = FILE)");
    }
    if (daemon_keys_is_public(b.cfg.keys)) {
        log_errorx("main: keys %s is the PUBLIC key file: give the .secret "
                   "file that krctl keygen wrote beside it",
                   b.cfg.keys);
        rc = KR_EINVAL;
        goto out;
    }
    if ((rc = kcrypto_keys_load(b.cfg.keys, &keys)) != 0) {
        log_errorx("main: keys %s: %s", b.cfg.keys, kr_strerror(rc));
        goto out;
    }
    rc = KR_ESYS;
    if ((lock_fd = s_lock_data_dir(b.cfg.data_dir)) < 0)
        goto out;
    if (pipe2(s_sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        fatalx("main: pipe: %s", strerror(errno));
    b.sig_fd = s_sig_pipe[0];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); /* a reload (loop.c), never a stop */
    signal(SIGPIPE, SIG_IGN);

    if ((rc = bstore_open(b.cfg.data_dir, b.cfg.map_size_mb,
                          b.cfg.unsafe_nosync, &b.store)) != 0 ||
        (rc = orgs_load(&b)) != 0 || (rc = s_open_sockets(&b, keys)) != 0 ||
        (rc = rollover_listen(&b, keys)) != 0)
        goto out;
    kcrypto_keys_destroy(&keys);
    bstore_prefill(b.store, b.cfg.prefill_mb << 20);
    if ((rc = metrics_referrals_load(&b)) != 0 || (rc = metrics_start(&b)) != 0)
        goto out;
    rc = broker_run(&b);
    backup_stop(&b);
    metrics_stop(&b);
    if (b.exit_signal != 0) {
        char sb[32];
        log_info("main: exiting on %s",
                 daemon_signal_name(b.exit_signal, sb, sizeof(sb)));
    }
    log_info("main: stopped");
out:
    /* One way out, so that every start-up failure also leaves nothing
     * behind for the leak checker of the sanitizer build. */
    metrics_stop(&b);
    kcrypto_keys_destroy(&keys);
    if (b.router != NULL)
        zmq_close(b.router);
    if (b.admin != NULL)
        zmq_close(b.admin);
    if (b.zap != NULL)
        zmq_close(b.zap);
    if (b.zctx != NULL)
        zmq_ctx_term(b.zctx);
    bstore_close(&b.store);
    orgs_free(&b);
    buf_free(&b.packbuf);
    arena_fini(&b.pb);
    cfg_free(broker_config_options, &b.cfg);
    struct routes *none = NULL;
    routes_swap(&none);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc == 0 ? 0 : 1;
}
