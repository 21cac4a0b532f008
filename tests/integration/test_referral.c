/*
 * test_referral.c - a referral's life through the real daemons: the
 * closed loop (referral, received, accepted, in-progress, completed with
 * an outcome) with the broker's record after each step; statuses by the
 * wrong party, on a cancelled referral, out of range, without their
 * codes; a cancellation request after in-progress confirmed by the
 * performer; a REFERRAL reusing a referral_id with other parties; a
 * SUPPLEMENT to a closed referral; a message outside every route; a
 * routes file with a bad line; `krctl routes`; a revoked consent and the
 * referrals under it. The timers: test_referral_timers.c.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_referral.h"
#include "util.h"

static void
s_closed_loop(void)
{
    uint8_t rid[16];
    struct h_fate f;

    h_note("== the closed loop");
    f = hr_open(HR_JGZ, NULL, rid);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the referral is delivered (%d %s)", f.outcome, f.detail);
    hr_expect_state(rid, "requested", 1, "opened");
    static const char *const steps[] = {"received", "accepted", "in-progress"};
    for (size_t i = 0; i < 3; i++) {
        f = hr_status(hr.jgz, HR_VL, rid, steps[i], NULL, NULL);
        H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
                "JGZ sets %s: delivered (%d %s)", steps[i], f.outcome,
                f.detail);
        hr_expect_state(rid, steps[i], i + 2, steps[i]);
    }
    /* completed needs an outcome from its list. */
    f = hr_status(hr.jgz, HR_VL, rid, "completed", NULL, NULL);
    h_expect_refused(f, KR__V1__REASON__BAD_OUTCOME, "completed, no outcome");
    f = hr_status(hr.jgz, HR_VL, rid, "completed", NULL, "went-well");
    h_expect_refused(f, KR__V1__REASON__BAD_OUTCOME,
                     "completed, an outcome not in the list");
    hr_expect_state(rid, "in-progress", 4, "after the refusals, unchanged");
    /* The wrong party: the placer cannot complete. */
    f = hr_status(hr.vl, HR_JGZ, rid, "completed", NULL, "visit-done");
    h_expect_refused(f, KR__V1__REASON__NOT_REFERRAL_PARTY,
                     "the placer sets completed");
    f = hr_status(hr.jgz, HR_VL, rid, "completed", NULL, "visit-done");
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ sets completed, outcome visit-done: delivered (%s)", f.detail);
    hr_expect_state(rid, "completed", 5, "completed");
    json_object *o = hr_broker_referral(rid);
    const char *oc = o ? h_json_str(o, "outcome") : NULL;
    H_CHECK(oc != NULL && strcmp(oc, "visit-done") == 0,
            "the broker's record keeps the outcome visit-done");
    H_CHECK(o != NULL && h_json_str(o, "placer") != NULL &&
                strcmp(h_json_str(o, "placer"), HR_VL) == 0 &&
                strcmp(h_json_str(o, "performer"), HR_JGZ) == 0,
            "placer and performer as sent");
    json_object_put(o);
    /* A SUPPLEMENT to a closed referral. */
    uint8_t id[16];
    struct hr_msg m = {.type = KR__V1__MESSAGE_TYPE__SUPPLEMENT,
                       .to = HR_JGZ,
                       .referral_id = rid};
    f = hr_do(hr.vl, &m, id);
    h_expect_refused(f, KR__V1__REASON__REFERRAL_CLOSED,
                     "a supplement to a completed referral");
    /* Another organisation's status on it. */
    f = hr_status(hr.wt, HR_JGZ, rid, "received", NULL, NULL);
    h_expect_refused(f, KR__V1__REASON__NOT_REFERRAL_PARTY,
                     "a wijkteam's status on someone else's referral");
    hr_expect_state(rid, "completed", 5, "nothing changed by the refusals");
}

static void
s_cancelling(void)
{
    uint8_t rid[16], rid2[16], id[16];
    struct h_fate f;

    h_note("== cancelling, before and after work started");
    hr_open(HR_JGZ, NULL, rid);
    f = hr_status(hr.jgz, HR_VL, rid, "received", NULL, NULL);
    /* A supplement on the open referral passes, both ways. */
    struct hr_msg m = {.type = KR__V1__MESSAGE_TYPE__SUPPLEMENT,
                       .to = HR_JGZ,
                       .referral_id = rid};
    f = hr_do(hr.vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "a supplement on the open referral is delivered (%s)", f.detail);
    m.type = KR__V1__MESSAGE_TYPE__COMMUNICATION;
    m.to = HR_VL;
    f = hr_do(hr.jgz, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "a communication back on it is delivered (%s)", f.detail);
    f = hr_status(hr.vl, HR_JGZ, rid, "cancelled", NULL, NULL);
    h_expect_refused(f, KR__V1__REASON__BAD_STATUS_REASON,
                     "cancelled without a reason");
    f = hr_status(hr.vl, HR_JGZ, rid, "cancelled", "no-longer-needed", NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the placer cancels before work started (%s)", f.detail);
    hr_expect_state(rid, "cancelled", 3, "cancelled");
    f = hr_status(hr.jgz, HR_VL, rid, "accepted", NULL, NULL);
    h_expect_refused(f, KR__V1__REASON__REFERRAL_CLOSED,
                     "a status on a cancelled referral");
    hr_expect_state(rid, "cancelled", 3, "still cancelled");

    /* After in-progress: a request, confirmed by the performer. */
    hr_open(HR_JGZ, NULL, rid2);
    hr_status(hr.jgz, HR_VL, rid2, "accepted", NULL, NULL);
    hr_status(hr.jgz, HR_VL, rid2, "in-progress", NULL, NULL);
    f = hr_status(hr.vl, HR_JGZ, rid2, "cancelled", "no-longer-needed", NULL);
    h_expect_refused(f, KR__V1__REASON__BAD_TRANSITION,
                     "the placer cancels outright after in-progress");
    f = hr_status(hr.jgz, HR_VL, rid2, "cancel-confirmed", NULL, NULL);
    h_expect_refused(f, KR__V1__REASON__NO_CANCEL_REQUEST,
                     "a confirmation without a request");
    f = hr_status(hr.vl, HR_JGZ, rid2, "cancel-requested", "entered-elsewhere",
                  NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the placer asks to cancel (%s)", f.detail);
    json_object *o = hr_broker_referral(rid2);
    json_object *cp = o ? h_json_path(o, "cancel_pending") : NULL;
    H_CHECK(cp != NULL && json_object_get_boolean(cp) &&
                strcmp(h_json_str(o, "state"), "in-progress") == 0,
            "the broker: still in-progress, a cancellation request open");
    json_object_put(o);
    f = hr_status(hr.vl, HR_JGZ, rid2, "cancel-requested", "other", NULL);
    h_expect_refused(f, KR__V1__REASON__BAD_TRANSITION,
                     "a second request while one is open");
    f = hr_status(hr.jgz, HR_VL, rid2, "cancel-confirmed", NULL, NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the performer confirms (%s)", f.detail);
    hr_expect_state(rid2, "cancelled", 5, "cancelled on confirmation");
    o = hr_broker_referral(rid2);
    const char *reason = o ? h_json_str(o, "reason") : NULL;
    H_CHECK(reason != NULL && strcmp(reason, "entered-elsewhere") == 0,
            "the cancelled referral keeps the request's reason");
    json_object_put(o);
}

static void
s_bad_input(void)
{
    uint8_t rid[16], id[16], unknown[16];
    struct h_fate f;
    struct h_run r;

    h_note("== bad input");
    hr_open(HR_JGZ, NULL, rid);
    /* A status code out of range, in clear. */
    struct hr_msg m = {.type = KR__V1__MESSAGE_TYPE__REFERRAL_STATUS,
                       .to = HR_VL,
                       .referral_id = rid,
                       .status = "received",
                       .raw_task_status = 42};
    f = hr_do(hr.jgz, &m, id);
    h_expect_refused(f, KR__V1__REASON__BAD_STATUS, "task_status 42");
    H_CHECK(strstr(f.detail, "42") != NULL, "the refusal names the code (%s)",
            f.detail);
    /* A status for an unknown referral. */
    util_random_id(unknown);
    f = hr_status(hr.jgz, HR_VL, unknown, "received", NULL, NULL);
    h_expect_refused(f, KR__V1__REASON__UNKNOWN_REFERRAL,
                     "a status for an unknown referral");
    /* A REFERRAL that reuses the referral_id towards another party. */
    m = (struct hr_msg){.type = KR__V1__MESSAGE_TYPE__REFERRAL,
                        .to = HR_JGZ2,
                        .referral_id = rid};
    f = hr_do(hr.vl, &m, id);
    h_expect_refused(f, KR__V1__REASON__REFERRAL_CONFLICT,
                     "a referral reusing a referral_id with other parties");
    /* Outside every route: a purpose the routes file does not name, and
     * a route's purpose towards a category it does not allow. */
    uint8_t rid3[16];
    f = hr_open(HR_JGZ, "opvoedondersteuning", rid3);
    h_expect_refused(f, KR__V1__REASON__NO_ROUTE, "a purpose without route");
    H_CHECK(strstr(f.detail, "opvoedondersteuning") != NULL,
            "the refusal names the purpose (%s)", f.detail);
    char st[32];
    hr_expect_state(rid, "requested", 1, "nothing changed by the refusals");
    H_CHECK(strcmp(hr_broker_state(rid3, st, sizeof(st)), "(none)") == 0,
            "no record for the refused referral");

    /* krctl routes. */
    h_krctl(&r, "--admin", hr.c.admin, "routes", "--json", NULL);
    json_object *o = json_tokener_parse(r.out);
    json_object *routes = o ? h_json_path(o, "routes") : NULL;
    H_CHECK(r.code == 0 && routes != NULL &&
                json_object_array_length(routes) == 3 &&
                strcmp(h_json_str(o, "routes.0.purpose"),
                       "prenataal-huisbezoek") == 0 &&
                strcmp(h_json_str(o, "routes.1.t_ack"), "2 seconds") == 0 &&
                strcmp(h_json_str(o, "routes.0.coordinator"), HR_COORD) == 0,
            "krctl routes --json: both routes, their timers and coordinator "
            "(exit %d)",
            r.code);
    json_object_put(o);
    h_run_free(&r);

    /* A routes file with a bad line: the broker does not start, and says
     * which line. */
    char bad[H_PATH + 32], dir[H_PATH + 32], keys[H_PATH + 32];
    char arg_routes[H_PATH + 64], arg_dir[H_PATH + 64], arg_keys[H_PATH + 64];
    snprintf(bad, sizeof(bad), "%s/bad-routes.ini", hr.c.tmp);
    snprintf(dir, sizeof(dir), "%s/broker-bad", hr.c.tmp);
    H_REQUIRE(h_write_file(bad,
                           "# a coalition's routes\n"
                           "[route prenataal-huisbezoek]\n"
                           "from = verloskunde\n"
                           "to = jgz, huisarts\n",
                           0600) == KR_OK,
              "write a bad routes file");
    snprintf(arg_routes, sizeof(arg_routes), "--routes=%s", bad);
    snprintf(arg_dir, sizeof(arg_dir), "--data_dir=%s", dir);
    snprintf(arg_keys, sizeof(arg_keys), "--keys=%s",
             h_secret_path(hr.c.broker_keys, keys, sizeof(keys)));
    char *argv[] = {H_KRBROKER, arg_dir, arg_keys, arg_routes, NULL};
    h_run(&r, H_RUN_MS, argv);
    H_CHECK(r.code == 2 && strstr(r.err, "bad-routes.ini:4:") != NULL &&
                strstr(r.err, "huisarts") != NULL,
            "krbroker with a bad routes file: exit 2 naming file:line and "
            "the word (exit %d: %.200s)",
            r.code, r.err);
    h_run_free(&r);
}

/* "2026-12-04T23:40:01.123Z" (or without .mmm) to Unix ms. */

struct s_kind {
    const uint8_t *rid;
    int kind, n;
};

static int
s_kind_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_kind *k = arg;
    const Kr__V1__Notice *nt = it->notice;

    if (nt != NULL && (int)nt->kind == k->kind && nt->referral_id.len == 16 &&
        memcmp(nt->referral_id.data, k->rid, 16) == 0)
        k->n++;
    return 0;
}

static int
s_notices(int node, const uint8_t rid[16], int kind)
{
    struct s_kind k = {rid, kind, 0};

    h_inbox_foreach_all(h_node_client(&hr.c, node), s_kind_cb, &k);
    return k.n;
}

static void
s_revoke(void)
{
    uint8_t ra[16], rb[16], id[16];
    struct h_fate f;
    bool ok;

    h_note("== a revoked consent and the referrals under it");
    hr_open(HR_JGZ, NULL, ra);
    hr_status(hr.jgz, HR_VL, ra, "accepted", NULL, NULL);
    hr_open(HR_JGZ, NULL, rb);
    hr_status(hr.jgz, HR_VL, rb, "accepted", NULL, NULL);
    hr_status(hr.jgz, HR_VL, rb, "in-progress", NULL, NULL);
    H_REQUIRE(h_send_revoke(h_node_client(&hr.c, hr.vl), HR_JGZ, hr.cid_phb,
                            id) == KR_OK,
              "the practice revokes the consent");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&hr.c, hr.vl), id) ==
               KR__V1__OUTCOME__DELIVERED);
    H_CHECK(ok, "the revoke is delivered");
    json_object *o = hr_broker_referral(ra);
    H_CHECK(o != NULL && strcmp(h_json_str(o, "state"), "cancelled") == 0 &&
                strcmp(h_json_str(o, "reason"), "consent-revoked") == 0,
            "the accepted referral that had not started: cancelled, "
            "consent-revoked");
    json_object_put(o);
    o = hr_broker_referral(rb);
    H_CHECK(o != NULL && strcmp(h_json_str(o, "state"), "in-progress") == 0 &&
                json_object_get_boolean(h_json_path(o, "cancel_pending")),
            "the one in progress: still in progress, a cancellation request "
            "open");
    json_object_put(o);
    H_POLL(ok, 20000,
           s_notices(hr.vl, ra,
                     KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED) == 1 &&
               s_notices(hr.jgz, ra,
                         KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED) == 1 &&
               s_notices(hr.jgz, rb,
                         KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST) == 1);
    H_CHECK(ok, "both parties are told of the cancellation, the performer "
                "of the request");
    H_CHECK(s_notices(hr.vl, rb, KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST) ==
                0,
            "the placer gets no cancellation request");
    f = hr_status(hr.jgz, HR_VL, rb, "cancel-confirmed", NULL, NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the performer confirms the cancellation (%s)", f.detail);
    hr_expect_state(rb, "cancelled", 5, "cancelled on confirmation");
}

int
main(void)
{
    hr_setup("referral", 240);
    s_closed_loop();
    s_cancelling();
    s_bad_input();
    s_revoke();
    return h_finish(&hr.c);
}
