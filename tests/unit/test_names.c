/*
 * test_names.c - common/names.c: every value of every table has a name
 * that parses back to it, the released names stay what they are, and the
 * zero value and unknown values print without parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "names.h"
#include "store.pb-c.h"
#include "wire.pb-c.h"

struct table {
    const char *(*name)(int);
    int (*parse)(const char *);
    int first; /* the first value that must parse */
    int last;  /* the highest value of the enum */
};

static void
test_round_trip(void **state)
{
    static const struct table tables[] = {
        {reason_name, reason_parse, 0, KR__V1__REASON__DISK_FULL},
        {outcome_name, outcome_parse, 0, KR__V1__OUTCOME__WITHDRAWN},
        {message_type_name, message_type_parse, 1,
         KR__V1__MESSAGE_TYPE__ERASURE_REQUEST},
        {data_category_name, data_category_parse, 1,
         KR__V1__DATA_CATEGORY__SOCIAAL},
        {legal_basis_name, legal_basis_parse, 1,
         KR__V1__LEGAL_BASIS__MELDRECHT},
        {priority_name, priority_parse, 1, KR__V1__PRIORITY__URGENT},
        {grantor_name, grantor_parse, 1, KR__V1__GRANTOR__GUARDIAN},
        {consent_status_name, consent_status_parse, 1,
         KR__V1__CONSENT_STATUS__CONSENT_SUPERSEDED},
        {notice_kind_name, notice_kind_parse, 1,
         KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED},
    };

    (void)state;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        const struct table *tb = &tables[t];
        for (int v = tb->first; v <= tb->last; v++) {
            const char *n = tb->name(v);
            assert_non_null(n);
            if (tb->parse(n) != v)
                fail_msg("table %zu: value %d (\"%s\") does not parse back", t,
                         v, n);
        }
        assert_string_equal(tb->name(tb->last + 1), "unknown");
        assert_string_equal(tb->name(-1), "unknown");
        assert_int_equal(tb->parse("unknown"), -1);
        assert_int_equal(tb->parse("unspecified"), -1);
        assert_int_equal(tb->parse(""), -1);
        assert_int_equal(tb->parse(NULL), -1);
    }
}

/* Scripts and log queries depend on these: they never change. */
static void
test_released_names(void **state)
{
    (void)state;
    assert_string_equal(reason_name(KR__V1__REASON__NOT_AUTHORISED),
                        "not-authorised");
    assert_string_equal(reason_name(KR__V1__REASON__UNKNOWN_CONSENT),
                        "unknown-consent");
    assert_string_equal(reason_name(KR__V1__REASON__NOT_PARTY), "not-party");
    assert_string_equal(reason_name(KR__V1__REASON__INVALID_SCOPE),
                        "invalid-scope");
    assert_string_equal(reason_name(KR__V1__REASON__MISSING_JUSTIFICATION),
                        "missing-justification");
    assert_int_equal(reason_parse("missing-justification"),
                     KR__V1__REASON__MISSING_JUSTIFICATION);
    assert_string_equal(reason_name(KR__V1__REASON__DISK_FULL), "disk-full");
    assert_string_equal(grantor_name(KR__V1__GRANTOR__SELF), "self");
    assert_string_equal(grantor_name(KR__V1__GRANTOR__PARENT_WITH_AUTHORITY),
                        "parent-with-authority");
    assert_string_equal(grantor_name(KR__V1__GRANTOR__GUARDIAN), "guardian");
    assert_string_equal(grantor_name(0), "unspecified");
    assert_string_equal(
        consent_status_name(KR__V1__CONSENT_STATUS__CONSENT_ACTIVE), "active");
    assert_string_equal(
        consent_status_name(KR__V1__CONSENT_STATUS__CONSENT_REVOKED),
        "revoked");
    assert_string_equal(
        consent_status_name(KR__V1__CONSENT_STATUS__CONSENT_SUPERSEDED),
        "superseded");
    assert_string_equal(
        notice_kind_name(KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED),
        "consent-revoked");
    assert_int_equal(grantor_parse("Self"), -1);
    assert_int_equal(consent_status_parse("ended"), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_released_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
