/* test_routes.c - the routes file (broker/routes.c): the example loads
 * with the Kansrijke Start purposes, every bad line is refused naming
 * file:line, and timer lengths come out as due times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "routes.h"
#include "workdays.h"

static void
test_example(void **state)
{
    (void)state;
    struct routes *rs = NULL;
    char err[512] = "";

    int rc = routes_load(KR_SOURCE_DIR "/examples/routes.ini", &rs, err,
                         sizeof(err));
    if (rc != 0)
        fail_msg("examples/routes.ini: %s", err);
    static const char *const purposes[] = {
        "nu-niet-zwanger",     "prenataal-huisbezoek",
        "overdracht-jgz",      "ondersteuning-wijkteam",
        "opvoedondersteuning", "signaal-kansrijke-start"};
    assert_int_equal(rs->n, 6);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(rs->v[i].purpose, purposes[i]);
        assert_string_equal(rs->v[i].coordinator, "ura:00009999");
    }
    const struct route *r = &rs->v[1];
    assert_true(r->from_mask & (1u << 1)); /* verloskunde */
    assert_true(r->to_mask & (1u << 4));   /* jgz */
    assert_int_equal(r->decide[1].n, 10);
    assert_int_equal(r->decide[1].unit, ROUTE_UNIT_WORKDAYS);
    assert_int_equal(rs->v[2].handover[2].n, 14);
    assert_int_equal(rs->v[2].handover[2].unit, ROUTE_UNIT_DAYS);
    assert_true(rs->v[5].match_coordinator);
    assert_int_equal(rs->v[5].signal_basis, ROUTE_BASIS_CONSENT);
    routes_free(&rs);
}

/* Each text must be refused, its error naming "<file>:<line>:" and the
 * word given. */
static void
test_bad_lines(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
        const char *says;
    } bad[] = {
        {"[route a]\nfrom = verloskunde\nto = huisarts\n", 3, "huisarts"},
        {"[route a]\nfrom = verloskunde\nto = jgz\nt_ack = 3 weeks\n", 4,
         "t_ack"},
        {"[route a]\nfrom = verloskunde\nto = jgz\nt_decide = 1 day, 2 "
         "days, 3 days\n",
         4, "t_decide"},
        {"from = jgz\n", 1, "before the first"},
        {"[route A B]\n", 1, "purpose"},
        {"[routes a]\n", 1, "[route PURPOSE]"},
        {"[route a]\nfrom = verloskunde\nto = jgz\ncolour = blue\n", 4,
         "colour"},
        {"[route a]\nto = jgz\n", 1, "from"},
        {"[route a]\nfrom = jgz\nto = jgz\ncoordinator = 1234\n", 4,
         "coordinator"},
        {"[route a]\nfrom = jgz\nto = jgz\ndata_category = geheim\n", 4,
         "geheim"},
        {"[route a]\nfrom = jgz\nto = jgz\nlegal_basis = gut\n", 4, "gut"},
        {"[route a]\nfrom jgz\n", 2, "key = value"},
        {"# nothing\n", 1, "no [route"},
    };
    char path[] = "/tmp/kr-test-routes.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i].text, f);
        fclose(f);
        struct routes *rs = NULL;
        char err[512] = "", want[64];
        int rc = routes_load(path, &rs, err, sizeof(err));
        snprintf(want, sizeof(want), "%s:%d:", path, bad[i].line);
        if (rc == 0 || rs != NULL || strstr(err, want) == NULL ||
            strstr(err, bad[i].says) == NULL)
            fail_msg("case %zu: rc %d, error \"%s\", want \"%s\" and \"%s\"", i,
                     rc, err, want, bad[i].says);
    }
    unlink(path);
    struct routes *rs = NULL;
    char err[256];
    assert_int_not_equal(
        routes_load("/nonexistent/routes.ini", &rs, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "/nonexistent/routes.ini"));
}

static void
test_due(void **state)
{
    (void)state;
    uint64_t t0 = (uint64_t)workdays_days_from_civil(2026, 12, 4) * 86400000 +
                  10 * 3600000ull; /* Friday 10:00 */
    struct route_span s = {2, ROUTE_UNIT_SECONDS};
    assert_int_equal(routes_due(&s, t0), t0 + 2000);
    s = (struct route_span){24, ROUTE_UNIT_HOURS};
    assert_int_equal(routes_due(&s, t0), t0 + 86400000);
    s = (struct route_span){1, ROUTE_UNIT_WORKDAYS};
    assert_int_equal(routes_due(&s, t0), t0 + 3 * 86400000ull); /* Monday */
    s = (struct route_span){0, ROUTE_UNIT_NONE};
    assert_int_equal(routes_due(&s, t0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
