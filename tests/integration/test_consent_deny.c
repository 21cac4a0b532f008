/*
 * test_consent_deny.c - the consent gate through the real daemons: deny by
 * default. A referral without consent is refused (no-consent); with a
 * covering consent it is delivered; under a consent whose period ended it
 * is refused; and a consent whose period ends while a referral waits for
 * an offline recipient stops it at delivery (withdrawn).
 *
 * Each test of the consent gate (harness_consent.h) runs in a fresh
 * cluster of its own, with subjects (BSNs) of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_consent.h"
#include "names.h"
#include "util.h"

/*
 * Deny by default, periods, the check again at delivery.
 */

static void
s_part_deny_by_default(void)
{
    char bsn[10], bsn2[10];
    uint8_t id[16], cid[16], gid[16];
    uint64_t now = util_now_ms();
    struct hc_in in;
    int rc;

    h_note("== deny by default; a period that ended");
    h_bsn(1, bsn);
    h_bsn(2, bsn2);
    kr_client_t *kv = h_node_client(&hc.c, hc.vl);
    struct hc_send s = {.to = HC_JGZ_ORG, .bsn = bsn, .text = "zonder"};

    rc = hc_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "the node takes a referral without consent (%s)",
              kr_strerror(rc));
    hc_expect(hc.vl, id, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__NO_CONSENT,
              "no consent", "no consent");
    H_CHECK(hc_in_count(hc.jgz, id, &in) == 0,
            "no consent: nothing reached JGZ's inbox");

    rc = hc_grant(hc.vl, hc.jgz, bsn, now - 3600 * 1000ull,
                  now + 30 * HC_DAY_MS, cid, gid);
    H_REQUIRE(rc == KR_OK, "record a consent for the subject (%s)",
              kr_strerror(rc));
    hc_expect(hc.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL,
              "the consent grant");
    s.text = "met toestemming";
    rc = hc_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "send under the consent (%s)", kr_strerror(rc));
    hc_expect(hc.vl, id, KR__V1__OUTCOME__DELIVERED, 0, NULL,
              "covering consent");
    unsigned n = hc_in_count(hc.jgz, id, &in);
    H_CHECK(n == 1,
            "covering consent: the referral is in JGZ's inbox once (%u)", n);

    /* A consent of another subject, whose period ended yesterday. */
    rc = hc_grant(hc.vl, hc.jgz, bsn2, now - 30 * HC_DAY_MS, now - HC_DAY_MS,
                  cid, gid);
    H_REQUIRE(rc == KR_OK, "record a consent that ended a day ago (%s)",
              kr_strerror(rc));
    hc_expect(hc.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL,
              "the ended consent's grant (a record of the past)");
    s.bsn = bsn2;
    s.text = "verlopen";
    rc = hc_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "send under the ended consent (%s)",
              kr_strerror(rc));
    hc_expect(hc.vl, id, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__NO_CONSENT,
              "period ended", "consent period ended a day ago");
    H_CHECK(hc_in_count(hc.jgz, id, &in) == 0,
            "ended consent: nothing reached JGZ's inbox");
}

static void
s_part_period_ends_in_queue(void)
{
    char bsn[10];
    uint8_t id[16], cid[16], gid[16];
    struct hc_out o;
    struct hc_in in;
    bool ok;
    int rc;

    h_note("== the period ends while the referral waits");
    h_bsn(3, bsn);
    h_node_stop(&hc.c, hc.jgz);
    uint64_t now = util_now_ms();
    uint64_t until = now + 2500;
    rc = hc_grant(hc.vl, hc.jgz, bsn, now - 3600 * 1000ull, until, cid, gid);
    H_REQUIRE(rc == KR_OK, "record a consent that ends in 2.5 s (%s)",
              kr_strerror(rc));
    struct hc_send s = {.to = HC_JGZ_ORG, .bsn = bsn, .text = "wacht"};
    rc = hc_send(h_node_client(&hc.c, hc.vl), &s, id);
    H_REQUIRE(rc == KR_OK, "send under it (%s)", kr_strerror(rc));
    hc_wait_outcome(hc.vl, id, KR__V1__OUTCOME__ACCEPTED, &o, 2000);
    H_CHECK(o.outcome == KR__V1__OUTCOME__ACCEPTED && util_now_ms() <= until,
            "the broker accepts it within the period (got %s %s, %lld ms "
            "before the end)",
            hc_oname(o.outcome), reason_name(o.reason),
            (long long)until - (long long)util_now_ms());
    /* The one wall-clock wait of this test: the period must run out. */
    H_POLL(ok, 5000, util_now_ms() > until + 200);
    H_REQUIRE(ok, "the consent's period has ended");
    h_node_start(&hc.c, hc.jgz);
    h_node_wait_connected(&hc.c, hc.jgz, H_CONNECT_MS);
    hc_expect(hc.vl, id, KR__V1__OUTCOME__WITHDRAWN, KR__V1__REASON__NO_CONSENT,
              "at delivery", "period ended while queued");
    /* A referral sent after it arrives: the queue moved past it. */
    h_roundtrip(&hc.c, hc.vl, hc.jgz, "period ended while queued", 20000);
    H_CHECK(hc_in_count(hc.jgz, id, &in) == 0,
            "period ended while queued: the referral never reached JGZ");
    H_CHECK(hc_in_count(hc.jgz, gid, &in) == 1,
            "the grant itself did reach JGZ");
}

int
main(void)
{
    hc_setup("test_consent_deny", 180);
    s_part_deny_by_default();
    s_part_period_ends_in_queue();
    return hc_finish();
}
