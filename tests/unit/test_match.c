/* test_match.c - every cell of the match decision (broker/match.c): the
 * signalling organisation against another signal's organisation, its
 * lifetime, whether the pair matched already and whether it is on the
 * linked mother or child; the decision when a link comes after signals
 * on both sides; and the signal keys of the routes file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "match.h"
#include "routes.h"
#include "util.h"

#define NOW 1000000ull

/* Expected results, written out by hand: same org, expired (before,
 * at and after now), known, linked. */
static void
test_cells(void **state)
{
    (void)state;
    static const struct {
        const char *org;
        uint64_t expires;
        bool linked, known;
        enum match_result want;
    } cells[] = {
        {"ura:1", NOW + 1, false, false, MATCH_NONE_SAME_ORG},
        {"ura:1", NOW + 1, true, false, MATCH_NONE_SAME_ORG},
        {"ura:1", NOW - 1, false, true, MATCH_NONE_SAME_ORG},
        {"ura:2", NOW - 1, false, false, MATCH_NONE_EXPIRED},
        {"ura:2", NOW, false, false, MATCH_NONE_EXPIRED},
        {"ura:2", NOW, true, true, MATCH_NONE_EXPIRED},
        {"ura:2", NOW + 1, false, true, MATCH_NONE_KNOWN},
        {"ura:2", NOW + 1, true, true, MATCH_NONE_KNOWN},
        {"ura:2", NOW + 1, false, false, MATCH_CLIENT},
        {"ura:2", 0, false, false, MATCH_CLIENT},
        {"ura:2", NOW + 1, true, false, MATCH_FAMILY},
        {"ura:2", 0, true, false, MATCH_FAMILY},
    };
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
        struct match_sig o = {cells[i].org, cells[i].expires, cells[i].linked};
        enum match_result got = match_decide("ura:1", cells[i].known, &o, NOW);
        if (got != cells[i].want)
            fail_msg("cell %zu: %s, want %s", i, match_result_name(got),
                     match_result_name(cells[i].want));
    }
}

/* The decision when a SUBJECT_LINK comes after signals on both sides:
 * same org, either side expired (before, at, after now), matched before,
 * and the family match. */
static void
test_link_cells(void **state)
{
    (void)state;
    static const struct {
        const char *a, *b;
        uint64_t exp_a, exp_b;
        bool already;
        enum match_result want;
    } cells[] = {
        {"ura:1", "ura:1", NOW + 1, NOW + 1, false, MATCH_NONE_SAME_ORG},
        {"ura:1", "ura:1", NOW - 1, 0, true, MATCH_NONE_SAME_ORG},
        {"ura:1", "ura:2", NOW - 1, NOW + 1, false, MATCH_NONE_EXPIRED},
        {"ura:1", "ura:2", NOW, NOW + 1, false, MATCH_NONE_EXPIRED},
        {"ura:1", "ura:2", NOW + 1, NOW, false, MATCH_NONE_EXPIRED},
        {"ura:1", "ura:2", 0, NOW - 1, true, MATCH_NONE_EXPIRED},
        {"ura:1", "ura:2", NOW + 1, NOW + 1, true, MATCH_NONE_KNOWN},
        {"ura:1", "ura:2", 0, 0, true, MATCH_NONE_KNOWN},
        {"ura:1", "ura:2", NOW + 1, NOW + 1, false, MATCH_FAMILY},
        {"ura:1", "ura:2", 0, NOW + 1, false, MATCH_FAMILY},
        {"ura:1", "ura:2", 0, 0, false, MATCH_FAMILY},
    };
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
        struct match_sig a = {cells[i].a, cells[i].exp_a, false};
        struct match_sig b = {cells[i].b, cells[i].exp_b, true};
        enum match_result got =
            match_decide_link(&a, &b, cells[i].already, NOW);
        if (got != cells[i].want)
            fail_msg("link cell %zu: %s, want %s", i, match_result_name(got),
                     match_result_name(cells[i].want));
        /* The link joins both ways: the decision is symmetric. */
        got = match_decide_link(&b, &a, cells[i].already, NOW);
        if (got != cells[i].want)
            fail_msg("link cell %zu swapped: %s, want %s", i,
                     match_result_name(got), match_result_name(cells[i].want));
    }
}

static int
s_load(const char *text, struct routes **rs, char *err, size_t len)
{
    char path[] = "/tmp/test_match_routes_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    int rc = routes_load(path, rs, err, len);
    unlink(path);
    return rc;
}

static void
test_route_keys(void **state)
{
    struct routes *rs = NULL;
    char err[256];
    (void)state;

    assert_int_equal(s_load("[route signaal]\nfrom = jgz, wijkteam\n"
                            "to = coordinator\nsignal_lifetime = 3 seconds\n"
                            "signal_basis = route\nmatch_coordinator = yes\n",
                            &rs, err, sizeof(err)),
                     0);
    assert_int_equal(rs->v[0].signal_basis, ROUTE_BASIS_ROUTE);
    assert_true(rs->v[0].match_coordinator);
    assert_int_equal(routes_due(&rs->v[0].signal_lifetime, 1000), 4000);
    routes_free(&rs);
    /* The default: two years, on consent, the coordinator not told. */
    assert_int_equal(s_load("[route signaal]\nfrom = jgz\nto = jgz\n", &rs, err,
                            sizeof(err)),
                     0);
    assert_int_equal(rs->v[0].signal_basis, ROUTE_BASIS_CONSENT);
    assert_false(rs->v[0].match_coordinator);
    assert_int_equal(routes_due(&rs->v[0].signal_lifetime, 0),
                     730ull * 86400000ull);
    routes_free(&rs);
    static const char *const bad[] = {
        "signal_lifetime = 3 years",     "signal_lifetime = 732 days",
        "signal_lifetime = 10 workdays", "signal_lifetime = none",
        "signal_basis = meldrecht",      "match_coordinator = maybe",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "[route s]\nfrom = jgz\nto = jgz\n%s\n",
                 bad[i]);
        if (s_load(text, &rs, err, sizeof(err)) == 0)
            fail_msg("accepted: %s", bad[i]);
        if (strstr(err, ":4: ") == NULL)
            fail_msg("%s: error does not name line 4: %s", bad[i], err);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_link_cells),
        cmocka_unit_test(test_route_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
