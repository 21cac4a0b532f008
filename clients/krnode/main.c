/* main.c - krnode: arguments, signals, start.
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT) or --help; 1 if the
 * node cannot start (keys, store, sockets); 2 for a bad option or value. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "node.h"
#include "nmetrics.h"

#ifndef KRNODE_VERSION
#define KRNODE_VERSION "0"
#endif

static int s_sig_pipe[2] = {-1, -1};

static void
s_on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;

    /* Only async-signal-safe work here: the loop polls the pipe. */
    if (write(s_sig_pipe[1], &c, 1) < 0) {
        /* A full pipe already holds a wake-up. */
    }
    errno = saved;
}

static int
s_signals(void)
{
    struct sigaction sa;

    if (pipe(s_sig_pipe) != 0)
        return KR_ESYS;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(s_sig_pipe[i], F_GETFL);
        if (fl < 0 || fcntl(s_sig_pipe[i], F_SETFL, fl | O_NONBLOCK) != 0 ||
            fcntl(s_sig_pipe[i], F_SETFD, FD_CLOEXEC) != 0)
            return KR_ESYS;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    /* SIGHUP reloads (loop.c reads which signal came), never stops. */
    if (sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0)
        return KR_ESYS;
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return KR_ESYS;
    return KR_OK;
}

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: krnode [-c file] [--key value ...]\n"
            "       krnode -h | --help | --version\n"
            "\n"
            "The node daemon of one organisation: it seals, signs and sends\n"
            "its adapters' messages through the broker, and verifies, opens\n"
            "and stores what the broker delivers. Options come from the\n"
            "[node] section of the file given with -c, then from flags\n"
            "(--key value or --key=value), which override the file.\n"
            "SIGTERM or SIGINT stops it (the pass in progress commits);\n"
            "SIGHUP reads the configuration again (log_level and\n"
            "log_format take effect, the rest at the next start).\n"
            "\n"
            "Exit status: 0 after a clean stop (SIGTERM, SIGINT), --help or\n"
            "--version; 1 if the node cannot start (keys, store, sockets: the\n"
            "reason is logged); 2 for a bad option or value.\n"
            "\n"
            "  -c, --config FILE        read options from FILE\n"
            "  -h, --help               show this help\n"
            "      --version            show the version\n"
            "      --sample-config      print a commented configuration file\n"
            "\n"
            "options:\n");
    cfg_print_help(f, node_config_options);
}

int
main(int argc, char **argv)
{
    struct node_config cfg;
    struct node *n = NULL;
    char err[512];
    int rc;

    util_malloc_keep();
    memset(&cfg, 0, sizeof(cfg));
    log_init("krnode", LOG_LEVEL_INFO);
    if (cfg_defaults(node_config_options, &cfg, err, sizeof(err)) != KR_OK) {
        fprintf(stderr, "krnode: %s\n", err);
        return 2;
    }
    rc = cfg_parse_args(argc, argv, "node", node_config_options, &cfg, err,
                        sizeof(err));
    if (rc == 1) {
        s_usage(stdout);
        cfg_free(node_config_options, &cfg);
        return 0;
    }
    if (rc == 2) {
        printf("krnode %s (kansrijk protocol 1)\n", KRNODE_VERSION);
        cfg_free(node_config_options, &cfg);
        return 0;
    }
    if (rc == 3) {
        cfg_print_sample(stdout, "krnode", "node", node_config_options);
        cfg_free(node_config_options, &cfg);
        return 0;
    }
    if (rc == KR_OK)
        rc = node_config_check(&cfg, err, sizeof(err));
    if (rc != KR_OK) {
        fprintf(stderr, "krnode: %s\nTry 'krnode --help'.\n", err);
        cfg_free(node_config_options, &cfg);
        return 2;
    }
    log_init("krnode", (enum log_level)log_level_parse(cfg.log_level));
    daemon_ops_apply_log(&cfg.ops);
    daemon_args_keep(argc, argv);
    if (s_signals() != KR_OK) {
        log_errorx("signals: %s", strerror(errno));
        cfg_free(node_config_options, &cfg);
        return 1;
    }
    if (node_open(&cfg, &n) != KR_OK) {
        log_errorx("not started");
        cfg_free(node_config_options, &cfg);
        return 1;
    }
    if (nmetrics_start(n) != KR_OK) {
        node_close(&n);
        cfg_free(node_config_options, &cfg);
        return 1;
    }
    /* The store is open and both sockets are bound. */
    daemon_notify_ready("serving");
    rc = node_run(n, s_sig_pipe[0]);
    nmetrics_stop(n);
    if (n->exit_signal != 0) {
        char sb[32];
        log_info("exiting on %s",
                 daemon_signal_name(n->exit_signal, sb, sizeof(sb)));
    }
    node_close(&n);
    cfg_free(node_config_options, &cfg);
    log_info("stopped");
    return rc == KR_OK ? 0 : 1;
}
