/* main.c - krfhir: arguments, signals, the HTTP server and the notifier.
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT), --help, --version,
 * --sample-config or a good --check-config; 1 if it cannot start (the
 * address is taken, the state directory); 2 for a bad option or value. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw.h"
#include "log.h"
#include "util.h"

#ifndef KRFHIR_VERSION
#define KRFHIR_VERSION "0"
#endif

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: krfhir [-c file] [--key value ...]\n"
            "       krfhir [-c file] --check-config\n"
            "       krfhir -h | --help | --version | --sample-config\n"
            "\n"
            "The HL7 FHIR R4 (4.0.1) gateway of one organisation, next to\n"
            "its krnode (docs/FHIR.md). A message Bundle POSTed at\n"
            "/$process-message becomes a kansrijk message (a referral, a\n"
            "handover, a consent...); a referral is read as a Task,\n"
            "ServiceRequest and Patient; a PUT or PATCH of its Task changes\n"
            "its status. New and changed Tasks are announced by a rest-hook\n"
            "(subscription_endpoint) or found by a long poll\n"
            "(GET /Task?_lastUpdated=gt...&_wait=SECONDS). Every error is an\n"
            "OperationOutcome. Nothing is stored here: every read asks the\n"
            "node. It listens on loopback unless allow_remote is set.\n"
            "Options come from the [fhir] section of the file given with\n"
            "-c, then from flags (--key value or --key=value), which\n"
            "override the file. --check-config reads them, says what is\n"
            "wrong and exits.\n"
            "\n"
            "options:\n");
    cfg_print_help(f, gw_config_options);
    fprintf(f, "\n"
               "Exit status: 0 after SIGTERM or SIGINT; 1 if it cannot start;\n"
               "2 for a bad option or value.\n");
}

int
main(int argc, char **argv)
{
    struct gw_config cfg;
    struct gw *g = NULL;
    struct gw_server *srv = NULL;
    int stop_pipe[2] = {-1, -1}, sig = 0, rc, ret = 1;
    bool check_only = false;
    char err[512];
    sigset_t set;

    memset(&cfg, 0, sizeof(cfg));
    log_init("krfhir", LOG_LEVEL_INFO);
    /* --check-config is ours, not the table's: take it out of argv. */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--check-config") == 0)
            check_only = true;
        else
            argv[n++] = argv[i];
    }
    argc = n;
    argv[argc] = NULL;
    if (cfg_defaults(gw_config_options, &cfg, err, sizeof(err)) != KR_OK) {
        fprintf(stderr, "krfhir: %s\n", err);
        return 2;
    }
    rc = cfg_parse_args(argc, argv, "fhir", gw_config_options, &cfg, err,
                        sizeof(err));
    if (rc == 1 || rc == 2 || rc == 3) {
        if (rc == 1)
            s_usage(stdout);
        else if (rc == 2)
            printf("krfhir %s (kansrijk protocol 1, FHIR 4.0.1)\n",
                   KRFHIR_VERSION);
        else
            cfg_print_sample(stdout, "krfhir", "fhir", gw_config_options);
        cfg_free(gw_config_options, &cfg);
        return 0;
    }
    if (rc == KR_OK)
        rc = gw_config_check(&cfg, err, sizeof(err));
    if (rc != KR_OK) {
        fprintf(stderr, "krfhir: %s\nTry 'krfhir --help'.\n", err);
        cfg_free(gw_config_options, &cfg);
        return 2;
    }
    if (check_only) {
        printf("krfhir: the configuration is valid\n");
        cfg_free(gw_config_options, &cfg);
        return 0;
    }
    log_init("krfhir", (enum log_level)log_level_parse(cfg.log_level));
    /* libcurl's global state (OpenSSL's included) before any thread:
     * curl_global_init is not thread-safe. */
    if (gw_hook_global_init() != KR_OK)
        goto done;

    /* The server's and the notifier's threads never see SIGTERM or
     * SIGINT: the main thread takes them with sigwait(). */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 || pipe(stop_pipe) != 0) {
        log_errorx("signals: %s", strerror(errno));
        goto done;
    }
    g = xcalloc(1, sizeof(*g));
    g->cfg = &cfg;
    g->version = KRFHIR_VERSION;
    snprintf(g->base_url, sizeof(g->base_url), "%s", cfg.base_url);
    gw_node_init(&g->node, cfg.node, (int)cfg.node_timeout_ms,
                 (size_t)cfg.node_clients);
    if (gw_notify_start(&g->notify, &cfg, &g->node, g->base_url,
                        stop_pipe[0]) != KR_OK) {
        log_errorx("not started");
        goto done;
    }
    if (gw_http_start(g, &srv) != KR_OK) {
        log_errorx("not started");
        goto done;
    }
    char org[GW_ORG_MAX];
    if (gw_node_org(&g->node, org) == KR_OK)
        log_info("started node=%s org=%s", cfg.node, org);
    else
        log_warnx("started node=%s: the node does not answer yet; requests "
                  "get 503 until it does",
                  cfg.node);
    sigwait(&set, &sig);
    log_info("exiting on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ret = 0;
done:
    gw_http_stop(&srv);
    if (stop_pipe[1] >= 0) {
        close(stop_pipe[1]);
        stop_pipe[1] = -1;
    }
    if (g != NULL) {
        gw_notify_stop(&g->notify);
        gw_node_fini(&g->node);
        free(g);
    }
    if (stop_pipe[0] >= 0)
        close(stop_pipe[0]);
    gw_hook_global_fini(); /* the threads are gone */
    cfg_free(gw_config_options, &cfg);
    return ret;
}
