/* main.c - krspool: arguments, signals, the two threads.
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT) or --help; 1 if it
 * cannot start or go on (the spool directory, inotify); 2 for a bad option
 * or value. */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "util.h"

#ifndef KRSPOOL_VERSION
#define KRSPOOL_VERSION "0"
#endif

/* How long a stop waits for a thread in a call to the node. */
#define S_STOP_WAIT_MS 2000

/* Join a thread, or give up at 'deadline': a thread that waits on a node
 * that does not answer may take a whole call's timeout. Leaving it is
 * safe: krspool is exactly once across a kill -9 at any point, and a stop
 * in the middle of a call is no worse. Returns whether it joined. */
static int
s_join(pthread_t th, const struct timespec *deadline)
{
    return pthread_timedjoin_np(th, NULL, deadline) == 0;
}

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: krspool [-c file] [--key value ...]\n"
            "       krspool -h | --help | --version | --sample-config\n"
            "\n"
            "The spool-directory adapter of one organisation, next to its\n"
            "krnode. A JSON message description (docs/JSON.md) written into\n"
            "outbox/tmp/ and renamed into outbox/new/ is sent; once the node\n"
            "holds it, it moves to outbox/cur/<msg_id>.json. A file that\n"
            "cannot be sent moves to outbox/failed/ beside <file>.error,\n"
            "which says why. Received messages, the broker's notices and\n"
            "the receipts of sent messages appear in inbox/new/ (written in\n"
            "inbox/tmp/ and renamed) as msg-<id>.json, notice-<id>.json and\n"
            "receipt-<id>.json; moving msg- or notice- files into inbox/cur/\n"
            "marks them processed at the node. A file's msg_id derives from\n"
            "the organisation and its bytes: the same file is one message.\n"
            "Options come from the [spool] section of the file given with\n"
            "-c, then from flags (--key value or --key=value), which\n"
            "override the file.\n"
            "\n"
            "options:\n");
    cfg_print_help(f, spool_config_options);
    fprintf(f, "\n"
               "Exit status: 0 after SIGTERM or SIGINT; 1 if it cannot start\n"
               "or go on; 2 for a bad option or value.\n");
}

int
main(int argc, char **argv)
{
    struct spool_config cfg;
    struct spool sp;
    pthread_t out_th, in_th;
    int stop_pipe[2] = {-1, -1}, sig = 0, rc, ret = 1;
    char err[512];
    sigset_t set;

    memset(&cfg, 0, sizeof(cfg));
    memset(&sp, 0, sizeof(sp));
    sp.d.root = -1;
    log_init("krspool", LOG_LEVEL_INFO);
    if (cfg_defaults(spool_config_options, &cfg, err, sizeof(err)) != KR_OK) {
        fprintf(stderr, "krspool: %s\n", err);
        return 2;
    }
    rc = cfg_parse_args(argc, argv, "spool", spool_config_options, &cfg, err,
                        sizeof(err));
    if (rc == 1 || rc == 2 || rc == 3) {
        if (rc == 1)
            s_usage(stdout);
        else if (rc == 2)
            printf("krspool %s (kansrijk protocol 1)\n", KRSPOOL_VERSION);
        else
            cfg_print_sample(stdout, "krspool", "spool", spool_config_options);
        cfg_free(spool_config_options, &cfg);
        return 0;
    }
    if (rc == KR_OK)
        rc = spool_config_check(&cfg, err, sizeof(err));
    if (rc != KR_OK) {
        fprintf(stderr, "krspool: %s\nTry 'krspool --help'.\n", err);
        cfg_free(spool_config_options, &cfg);
        return 2;
    }
    log_init("krspool", (enum log_level)log_level_parse(cfg.log_level));

    /* The threads never see SIGTERM or SIGINT: the main thread takes them
     * with sigwait() and tells the threads by closing the stop pipe. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 || pipe(stop_pipe) != 0) {
        log_errorx("signals: %s", strerror(errno));
        goto done;
    }
    if (spool_dirs_open(cfg.spool_dir, &sp.d) != KR_OK) {
        log_errorx("not started");
        goto done;
    }
    sp.cfg = &cfg;
    sp.wake_fd = stop_pipe[0];
    if (pthread_create(&out_th, NULL, spool_outbox_run, &sp) != 0) {
        log_errorx("not started: a thread: %s", strerror(errno));
        goto done;
    }
    if (pthread_create(&in_th, NULL, spool_inbox_run, &sp) != 0) {
        log_errorx("not started: a thread: %s", strerror(errno));
        atomic_store(&sp.stop, 1);
        close(stop_pipe[1]);
        stop_pipe[1] = -1;
        pthread_join(out_th, NULL);
        goto done;
    }
    log_info("started spool_dir=%s node=%s", cfg.spool_dir, cfg.node);
    sigwait(&set, &sig);
    atomic_store(&sp.stop, 1);
    close(stop_pipe[1]);
    stop_pipe[1] = -1;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += S_STOP_WAIT_MS / 1000;
    int joined = s_join(out_th, &deadline);
    joined = s_join(in_th, &deadline) && joined;
    ret = atomic_load(&sp.failed) ? 1 : 0;
    log_info("stopped%s%s", ret ? " after an error" : "",
             joined ? "" : " (a call to the node was left unanswered)");
    if (!joined) {
        /* The threads still use the directories and the configuration. */
        fflush(stderr);
        _exit(ret);
    }
done:
    spool_dirs_close(&sp.d);
    for (int i = 0; i < 2; i++)
        if (stop_pipe[i] >= 0)
            close(stop_pipe[i]);
    cfg_free(spool_config_options, &cfg);
    return ret;
}
