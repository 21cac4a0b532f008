/* test_daemon.c - unit tests for daemon/ (the daemons' service duties)
 * and the JSON log lines of common/log.c: endpoint and option checks,
 * the Prometheus text helpers and histogram buckets, the reload's diff of
 * two configurations, the commented sample a table prints. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "kr.h"
#include "log.h"

static void
test_endpoints(void **state)
{
    char err[256];

    (void)state;
    assert_int_equal(daemon_endpoint_check("listen", "tcp://127.0.0.1:7700",
                                           false, err, sizeof(err)),
                     KR_OK);
    assert_int_equal(daemon_endpoint_check("listen", "tcp://0.0.0.0:*", false,
                                           err, sizeof(err)),
                     KR_OK);
    assert_int_equal(daemon_endpoint_check("admin", "ipc:///run/a.sock", false,
                                           err, sizeof(err)),
                     KR_OK);
    assert_int_equal(daemon_endpoint_check("admin", "", true, err, sizeof(err)),
                     KR_OK);
    const char *bad[] = {"127.0.0.1:7700",
                         "tcp://127.0.0.1",
                         "tcp://:7700",
                         "tcp://h:70000",
                         "tcp://h:7x",
                         "ipc://",
                         "",
                         "udp://a:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            daemon_endpoint_check("listen", bad[i], false, err, sizeof(err)),
            KR_ECONFIG);
        assert_non_null(strstr(err, "listen: '"));
    }
}

static void
test_ops_check(void **state)
{
    struct daemon_ops o = {"text", "", "0600", "", false};
    char err[256];

    (void)state;
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_OK);
    o.http_listen = "127.0.0.1:9770";
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_OK);
    o.http_listen = "[::1]:9770";
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_OK);
    o.http_listen = "10.0.0.5:9770";
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_ECONFIG);
    assert_non_null(strstr(err, "http_allow_remote"));
    o.http_allow_remote = true;
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_OK);
    o.http_listen = "localhost:9770"; /* names are not resolved */
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_ECONFIG);
    o.http_listen = "127.0.0.1";
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_ECONFIG);
    o.http_listen = "";
    o.socket_mode = "0660";
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_OK);
    char *modes[] = {"0999", "660x", "07777", "", "-1"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        o.socket_mode = modes[i];
        assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_ECONFIG);
    }
    o.socket_mode = "0600";
    o.socket_group = "no-such-group-kansrijk";
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_ECONFIG);
    o.socket_group = "";
    o.log_format = "xml";
    assert_int_equal(daemon_ops_check(&o, err, sizeof(err)), KR_ECONFIG);
}

static void
test_prom(void **state)
{
    struct kr_buf b = {0};
    struct daemon_hist h = {{0}, 0};

    (void)state;
    assert_int_equal(daemon_hist_bucket(0), 0);
    assert_int_equal(daemon_hist_bucket(500), 0);
    assert_int_equal(daemon_hist_bucket(501), 1);
    assert_int_equal(daemon_hist_bucket(2500000), DAEMON_HIST_N - 1);
    assert_int_equal(daemon_hist_bucket(2500001), DAEMON_HIST_N);
    h.counts[0] = 2;
    h.counts[3] = 1;
    h.counts[DAEMON_HIST_N] = 1;
    h.sum_us = 3000000;
    buf_reserve(&b, 16);
    prom_hist(&b, "x_seconds", "help", &h);
    buf_reserve(&b, b.len + 1);
    b.data[b.len] = '\0';
    const char *t = (const char *)b.data;
    /* Cumulative buckets, +Inf equals _count. */
    assert_non_null(strstr(t, "# TYPE x_seconds histogram\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"0.0005\"} 2\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"0.005\"} 3\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"2.5\"} 3\n"));
    assert_non_null(strstr(t, "x_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(t, "x_seconds_count 4\n"));
    assert_non_null(strstr(t, "x_seconds_sum 3.000000\n"));
    buf_free(&b);
}

/* A config of two options for the reload's diff. */
struct s_cfg {
    char *level;
    uint64_t limit;
    uint64_t window;
};
static const struct cfg_option s_opts[] = {
    {"level", CFG_STR, offsetof(struct s_cfg, level), "info", 0, 0, 0, "lvl"},
    {"limit", CFG_U64, offsetof(struct s_cfg, limit), "512", 1, 100000, 0,
     "a limit"},
    {"window", CFG_U64, offsetof(struct s_cfg, window), "256", 1, 1000, 0,
     "a window"},
    {NULL, 0, 0, NULL, 0, 0, 0, NULL},
};
static int s_hook_runs;
static int
s_hook(void *ctx)
{
    (void)ctx;
    s_hook_runs++;
    return KR_OK;
}

static void
test_reload(void **state)
{
    char path[] = "/tmp/kr-unit-daemon.XXXXXX";
    int fd = mkstemp(path);
    struct s_cfg cur;
    char err[256];
    static const char *const live[] = {"level", "limit", NULL};
    static const struct reload_hook hooks[] = {{"h", s_hook}};

    (void)state;
    assert_true(fd >= 0);
    dprintf(fd, "[t]\nlevel = debug\nlimit = 64\nwindow = 8\n");
    close(fd);
    char *argv[] = {"prog", "-c", path, NULL};
    memset(&cur, 0, sizeof(cur));
    assert_int_equal(cfg_defaults(s_opts, &cur, err, sizeof(err)), KR_OK);
    daemon_args_keep(3, argv);
    /* level and limit are live: taken; window is not: kept. */
    assert_int_equal(daemon_reload("t", s_opts, &cur, sizeof(cur), live, NULL,
                                   hooks, 1, NULL),
                     2);
    assert_string_equal(cur.level, "debug");
    assert_int_equal(cur.limit, 64);
    assert_int_equal(cur.window, 256);
    assert_int_equal(s_hook_runs, 1);
    /* A bad file changes nothing and runs no hook. */
    FILE *f = fopen(path, "w");
    fprintf(f, "[t]\nlimit = many\n");
    fclose(f);
    assert_int_equal(daemon_reload("t", s_opts, &cur, sizeof(cur), live, NULL,
                                   hooks, 1, NULL),
                     KR_ECONFIG);
    assert_int_equal(cur.limit, 64);
    assert_int_equal(s_hook_runs, 1);
    cfg_free(s_opts, &cur);
    unlink(path);
}

static void
test_sample(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    cfg_print_sample(f, "prog", "t", s_opts);
    fclose(f);
    assert_non_null(strstr(text, "\n[t]\n"));
    assert_non_null(
        strstr(text, "\n; a limit\n; (1 to 100000)\n;limit = 512\n"));
    free(text);
}

/* log_format = json: one object a line, key=value fields as members. */
static void
test_log_json(void **state)
{
    char path[] = "/tmp/kr-unit-log.XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    char line[1024] = "";

    (void)state;
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, 2);
    log_init("unit", LOG_LEVEL_INFO);
    log_set_json(1);
    log_emit(LOG_LEVEL_WARN, "link: refused org=%s detail=\"%s\" n=%d", "ura:1",
             "a \"quoted\" why", 3);
    log_set_json(0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    close(fd);
    unlink(path);
    assert_int_equal(line[0], '{');
    assert_non_null(strstr(line, "\"level\":\"warn\",\"prog\":\"unit\""));
    assert_non_null(strstr(line, "\"msg\":\"link: refused org=ura:1 "
                                 "detail=\\\"a \\\"quoted\\\" why\\\" n=3\""));
    assert_non_null(strstr(line, "\"org\":\"ura:1\""));
    assert_non_null(strstr(line, "\"n\":\"3\"}"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints), cmocka_unit_test(test_ops_check),
        cmocka_unit_test(test_prom),      cmocka_unit_test(test_reload),
        cmocka_unit_test(test_sample),    cmocka_unit_test(test_log_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
