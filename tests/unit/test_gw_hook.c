/*
 * test_gw_hook.c - krfhir's rest-hook client (clients/krfhir/gw_hook.c)
 * and the options that feed it (gw_config.c): which endpoints and CA
 * files are taken and what a refusal says; a post to a loopback port
 * where nothing listens fails naming the cause. (test_fhir and
 * test_fhir_tls post to real receivers, over http and https.)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw.h"
#include "util.h"

/* A certificate in PEM (only its armour is checked by the options). */
static const char s_pem[] = "-----BEGIN CERTIFICATE-----\n"
                            "MIIBszCCAVmgAwIBAgIU\n"
                            "-----END CERTIFICATE-----\n";

static char s_dir[64];
static char s_ca[128], s_not_pem[128];

static int
s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof(s_dir), "/tmp/test_gw_hook.XXXXXX");
    if (mkdtemp(s_dir) == NULL)
        return -1;
    snprintf(s_ca, sizeof(s_ca), "%s/ca.pem", s_dir);
    snprintf(s_not_pem, sizeof(s_not_pem), "%s/not.pem", s_dir);
    if (util_write_file_atomic(s_ca, s_pem, sizeof(s_pem) - 1, 0600) != 0 ||
        util_write_file_atomic(s_not_pem, "hello\n", 6, 0600) != 0)
        return -1;
    return gw_hook_global_init() == KR_OK ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void)state;
    unlink(s_ca);
    unlink(s_not_pem);
    rmdir(s_dir);
    gw_hook_global_fini();
    return 0;
}

static void
test_check_url(void **state)
{
    char err[256];
    static const char *good[] = {
        "http://127.0.0.1:8080/hook",
        "https://127.0.0.1:8443/hook",
        "https://ehr.example.nl/fhir/notify?org=1",
        "http://[::1]:9000/",
        "HTTPS://ehr.example.nl/",
    };
    static const char *bad[] = {
        "",
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "127.0.0.1:8080/hook",
        "http://",
        "http://:8080/nohost",
        "http://127.0.0.1:0/hook",
        "gopher://x/",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        err[0] = '\0';
        if (gw_hook_check_url(good[i], err, sizeof(err)) != KR_OK)
            fail_msg("%s: %s", good[i], err);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (gw_hook_check_url(bad[i], err, sizeof(err)) != KR_ECONFIG)
            fail_msg("%s: taken", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(gw_hook_check_url("ftp://x/", err, sizeof(err)),
                     KR_ECONFIG);
    assert_non_null(strstr(err, "not an http:// or https:// URL"));
}

/* gw_config_check on the defaults with node and state_dir set, and the
 * three rest-hook options as given. */
static int
s_check(const char *endpoint, const char *ca_file, char *err, size_t errlen)
{
    struct gw_config cfg;
    int rc;

    memset(&cfg, 0, sizeof(cfg));
    if (cfg_defaults(gw_config_options, &cfg, err, errlen) != KR_OK)
        return -100;
    free(cfg.node);
    cfg.node = xstrdup("ipc:///tmp/node.sock");
    free(cfg.state_dir);
    cfg.state_dir = xstrdup("/tmp");
    free(cfg.subscription_endpoint);
    cfg.subscription_endpoint = xstrdup(endpoint);
    free(cfg.subscription_ca_file);
    cfg.subscription_ca_file = xstrdup(ca_file);
    rc = gw_config_check(&cfg, err, errlen);
    cfg_free(gw_config_options, &cfg);
    return rc;
}

static void
test_config(void **state)
{
    char err[512], missing[160];

    (void)state;
    snprintf(missing, sizeof(missing), "%s/missing.pem", s_dir);
    assert_int_equal(s_check("", "", err, sizeof(err)), KR_OK);
    assert_int_equal(s_check("http://127.0.0.1:1/h", "", err, sizeof(err)),
                     KR_OK);
    assert_int_equal(s_check("https://127.0.0.1:1/h", "", err, sizeof(err)),
                     KR_OK);
    assert_int_equal(s_check("https://127.0.0.1:1/h", s_ca, err, sizeof(err)),
                     KR_OK);

    assert_int_equal(s_check("ftp://127.0.0.1/h", "", err, sizeof(err)),
                     KR_ECONFIG);
    assert_non_null(strstr(err, "subscription_endpoint:"));

    /* A CA file for an http:// endpoint is a mistake, said as such. */
    assert_int_equal(s_check("http://127.0.0.1:1/h", s_ca, err, sizeof(err)),
                     KR_ECONFIG);
    assert_non_null(strstr(err, "subscription_ca_file: set, but"));

    assert_int_equal(
        s_check("https://127.0.0.1:1/h", missing, err, sizeof(err)),
        KR_ECONFIG);
    assert_non_null(strstr(err, "subscription_ca_file: cannot read"));
    assert_non_null(strstr(err, "No such file or directory"));

    assert_int_equal(
        s_check("https://127.0.0.1:1/h", s_not_pem, err, sizeof(err)),
        KR_ECONFIG);
    assert_non_null(strstr(err, "holds no PEM certificate"));

    assert_int_equal(s_check("https://127.0.0.1:1/h", s_dir, err, sizeof(err)),
                     KR_ECONFIG);
    assert_non_null(strstr(err, "subscription_ca_file"));
}

/* A loopback port nobody listens on: bound, then closed. */
static int
s_dead_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void
test_post_refused(void **state)
{
    struct gw_hook *h = NULL;
    char url[64], err[256];
    int port = s_dead_port();

    (void)state;
    assert_true(port > 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    assert_int_equal(gw_hook_new(url, "Authorization: Bearer x", "", 2000, &h,
                                 err, sizeof(err)),
                     KR_OK);
    assert_non_null(h);
    /* Twice on the same client: a failed connection is not kept. */
    for (int k = 0; k < 2; k++) {
        err[0] = '\0';
        assert_int_equal(gw_hook_post(h, "{}", 2, err, sizeof(err)),
                         KR_EUNAVAIL);
        assert_string_equal(err, "connect: Connection refused");
    }
    gw_hook_destroy(&h);
    assert_null(h);
    gw_hook_destroy(&h); /* harmless on NULL */

    /* The one-shot form says the same, and refuses what is no URL. */
    assert_int_equal(gw_http_post(url, "", "{}", 2, 2000, err, sizeof(err)),
                     KR_EUNAVAIL);
    assert_string_equal(err, "connect: Connection refused");
    assert_int_equal(
        gw_http_post("ftp://127.0.0.1/x", "", "{}", 2, 2000, err, sizeof(err)),
        KR_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_url),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_post_refused),
    };

    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
