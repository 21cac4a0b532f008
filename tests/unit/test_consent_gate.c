/* test_consent_gate.c - the consent gate (broker/consent.c), case by case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "consent.h"
#include "envelope.pb-c.h"
#include "wire.pb-c.h"

#define DAY (24ull * 3600 * 1000)
#define T0 (1800000000000ull) /* some moment in 2027 */

static uint8_t s_subj[32] = {1, 2, 3};
static uint8_t s_other[32] = {9, 9, 9};
static uint8_t s_cid[16] = {0xc0};
static uint8_t s_cid2[16] = {0xc1};

/* A record: the woman's consent for a prenatal home visit, from the
 * midwife practice ura:1 to every JGZ organisation, for 30 days. */
static struct consent_record
s_record(void)
{
    struct consent_record r = {
        .consent_id = s_cid,
        .subject = s_subj,
        .key_version = 1,
        .purpose = "prenataal-huisbezoek",
        .data_category = KR__V1__DATA_CATEGORY__MEDISCH,
        .from_org = "ura:1",
        .from_category = 0,
        .to_org = "",
        .to_category = KR__V1__ORG_CATEGORY__JGZ,
        .valid_from_ms = T0,
        .valid_until_ms = T0 + 30 * DAY,
        .status = CONSENT_ACTIVE,
    };
    return r;
}

static struct consent_query
s_query(void)
{
    struct consent_query q = {
        .message_type = KR__V1__MESSAGE_TYPE__REFERRAL,
        .subject = s_subj,
        .key_version = 1,
        .purpose = "prenataal-huisbezoek",
        .data_category = KR__V1__DATA_CATEGORY__MEDISCH,
        .from_org = "ura:1",
        .from_category = KR__V1__ORG_CATEGORY__VERLOSKUNDE,
        .to_org = "ura:2",
        .to_category = KR__V1__ORG_CATEGORY__JGZ,
        .legal_basis = KR__V1__LEGAL_BASIS__CONSENT,
    };
    return q;
}

static void
s_expect(const struct consent_record *r, size_t n,
         const struct consent_query *q, uint64_t now, int verdict,
         const char *check)
{
    struct consent_decision d;

    consent_decide(r, n, q, now, &d);
    assert_int_equal(d.verdict, verdict);
    if (check != NULL)
        assert_string_equal(d.check, check);
    if (verdict == CONSENT_DENY)
        assert_int_equal(d.reason, KR__V1__REASON__NO_CONSENT);
}

static void
test_covered_and_period_boundaries(void **state)
{
    struct consent_record r = s_record();
    struct consent_query q = s_query();

    (void)state;
    s_expect(&r, 1, &q, T0, CONSENT_ALLOW, "covered by active consent");
    s_expect(&r, 1, &q, T0 + 30 * DAY, CONSENT_ALLOW, NULL);
    s_expect(&r, 1, &q, T0 - 1, CONSENT_DENY, "not yet valid");
    s_expect(&r, 1, &q, T0 + 30 * DAY + 1, CONSENT_DENY, "period ended");
    s_expect(&r, 1, &q, T0 + 31 * DAY, CONSENT_DENY, "period ended");
}

static void
test_no_record_denies(void **state)
{
    struct consent_query q = s_query();

    (void)state;
    s_expect(NULL, 0, &q, T0, CONSENT_DENY,
             "no consent recorded for this subject");
    struct consent_record r = s_record();
    r.subject = s_other;
    s_expect(&r, 1, &q, T0, CONSENT_DENY,
             "no consent recorded for this subject");
}

static void
test_scope_mismatches(void **state)
{
    struct consent_record r;
    struct consent_query q;

    (void)state;
    r = s_record();
    q = s_query();
    q.purpose = "overdracht-jgz";
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "purpose");
    q = s_query();
    q.data_category = KR__V1__DATA_CATEGORY__SOCIAAL;
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "data category");
    q = s_query();
    q.from_org = "ura:3";
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "sender");
    q = s_query();
    q.to_category = KR__V1__ORG_CATEGORY__WIJKTEAM;
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "recipient");
    q = s_query();
    q.key_version = 2;
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "subject key version");
}

static void
test_category_versus_organisation(void **state)
{
    struct consent_record r = s_record();
    struct consent_query q = s_query();

    (void)state;
    /* Sender by category: any verloskunde practice. */
    r.from_org = "";
    r.from_category = KR__V1__ORG_CATEGORY__VERLOSKUNDE;
    q.from_org = "ura:77";
    s_expect(&r, 1, &q, T0, CONSENT_ALLOW, NULL);
    q.from_category = KR__V1__ORG_CATEGORY__KRAAMZORG;
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "sender");
    /* Recipient by organisation: only that JGZ, not another of its kind. */
    r = s_record();
    q = s_query();
    r.to_org = "ura:2";
    r.to_category = 0;
    s_expect(&r, 1, &q, T0, CONSENT_ALLOW, NULL);
    q.to_org = "ura:5";
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "recipient");
    /* A party with neither organisation nor category covers nobody. */
    r = s_record();
    q = s_query();
    r.to_category = 0;
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "recipient");
}

static void
test_revoked_and_superseded(void **state)
{
    struct consent_record r[2];
    struct consent_query q = s_query();

    (void)state;
    r[0] = s_record();
    r[0].status = CONSENT_REVOKED;
    s_expect(r, 1, &q, T0, CONSENT_DENY, "revoked");
    r[0].status = CONSENT_SUPERSEDED;
    s_expect(r, 1, &q, T0, CONSENT_DENY, "superseded");
    /* The record that superseded it covers the message. */
    r[1] = s_record();
    r[1].consent_id = s_cid2;
    struct consent_decision d;
    consent_decide(r, 2, &q, T0, &d);
    assert_int_equal(d.verdict, CONSENT_ALLOW);
    assert_ptr_equal(d.decided_by, &r[1]);
}

static void
test_named_consent_is_checked_alone(void **state)
{
    struct consent_record r[2];
    struct consent_query q = s_query();

    (void)state;
    r[0] = s_record();
    r[0].status = CONSENT_REVOKED;
    r[1] = s_record();
    r[1].consent_id = s_cid2;
    /* Naming the revoked one fails even though another would cover. */
    q.consent_id = s_cid;
    s_expect(r, 2, &q, T0, CONSENT_DENY, "revoked");
    q.consent_id = s_cid2;
    s_expect(r, 2, &q, T0, CONSENT_ALLOW, NULL);
    static uint8_t unknown[16] = {0xee};
    q.consent_id = unknown;
    s_expect(r, 2, &q, T0, CONSENT_DENY,
             "named consent not found for this subject");
}

static void
test_meldrecht(void **state)
{
    struct consent_query q = s_query();

    (void)state;
    q.legal_basis = KR__V1__LEGAL_BASIS__MELDRECHT;
    q.to_category = KR__V1__ORG_CATEGORY__VEILIG_THUIS;
    q.has_justification = true;
    s_expect(NULL, 0, &q, T0, CONSENT_ALLOW_MELDRECHT, NULL);
    q.has_justification = false;
    s_expect(NULL, 0, &q, T0, CONSENT_DENY,
             "meldrecht: no sealed justification");
    q.has_justification = true;
    q.to_category = KR__V1__ORG_CATEGORY__JGZ;
    s_expect(NULL, 0, &q, T0, CONSENT_DENY,
             "meldrecht: recipient is not veilig-thuis");
}

static void
test_types_and_bases(void **state)
{
    struct consent_query q = s_query();

    (void)state;
    int need[] = {
        KR__V1__MESSAGE_TYPE__REFERRAL, KR__V1__MESSAGE_TYPE__HANDOVER,
        KR__V1__MESSAGE_TYPE__SUPPLEMENT, KR__V1__MESSAGE_TYPE__SIGNAL,
        KR__V1__MESSAGE_TYPE__SUBJECT_LINK};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        q.message_type = need[i];
        s_expect(NULL, 0, &q, T0, CONSENT_DENY, NULL);
    }
    q.message_type = KR__V1__MESSAGE_TYPE__REFERRAL_STATUS;
    s_expect(NULL, 0, &q, T0, CONSENT_NOT_NEEDED, NULL);
    q.message_type = KR__V1__MESSAGE_TYPE__COMMUNICATION;
    s_expect(NULL, 0, &q, T0, CONSENT_NOT_NEEDED, NULL);
    struct consent_record r = s_record();
    q = s_query();
    q.legal_basis = 0;
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "no legal basis");
    q = s_query();
    q.subject = NULL;
    s_expect(&r, 1, &q, T0, CONSENT_DENY, "no subject pseudonym");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covered_and_period_boundaries),
        cmocka_unit_test(test_no_record_denies),
        cmocka_unit_test(test_scope_mismatches),
        cmocka_unit_test(test_category_versus_organisation),
        cmocka_unit_test(test_revoked_and_superseded),
        cmocka_unit_test(test_named_consent_is_checked_alone),
        cmocka_unit_test(test_meldrecht),
        cmocka_unit_test(test_types_and_bases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
