/*
 * test_signals.c - signals and matches through the real daemons: two
 * organisations signal one subject and each gets one NOTICE_MATCH (and the
 * route's coordinator one), exactly once, also with the broker killed -9
 * while the second signal is on its way; different subjects never match;
 * a signal signalled again changes nothing; a withdrawn signal and one
 * past its lifetime (a route of three seconds) no longer match; a family
 * match of a mother and her child linked by SUBJECT_LINK, also when the
 * link comes after both signals (once); bad input: a
 * signal without a route, one addressed to another organisation, one on a
 * consent route without consent, a withdrawal of another organisation's
 * signal and of an unknown one, each refused with its reason; krctl's
 * signal commands. Erasure: test_signals_erasure.c.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_signals.h"
#include "util.h"

static void
s_client_match(void)
{
    char a[10], b[10], c[10];
    uint8_t id[16], jgz_sig[16];
    struct h_fate f;
    bool ok;

    h_note("== two organisations signal one subject");
    h_bsn(1, a);
    h_bsn(2, b);
    h_bsn(3, c);
    f = hs_signal(hs.jgz, a, NULL, jgz_sig);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ's signal on A is recorded (%s)", f.detail);
    H_CHECK(hs_total(hs.jgz) == 0, "one signal alone matches nothing");
    f = hs_signal(hs.wt, a, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the wijkteam's signal on A is recorded (%s)", f.detail);
    H_POLL(ok, 20000,
           hs_matches(hs.jgz, HS_WT).n == 1 &&
               hs_matches(hs.wt, HS_JGZ).n == 1 &&
               hs_matches(hs.coord, HS_WT).n == 1);
    H_CHECK(ok,
            "JGZ, the wijkteam and the coordinator each get the match "
            "(%d, %d, %d)",
            hs_matches(hs.jgz, HS_WT).n, hs_matches(hs.wt, HS_JGZ).n,
            hs_matches(hs.coord, HS_WT).n);
    struct hs_matches m = hs_matches(hs.jgz, HS_WT);
    H_CHECK(m.fields_ok && m.family == 0,
            "the notice says who, its category, since when, the subject; "
            "a client match");
    /* Again by the same organisation: nothing changes, nothing matches. */
    f = hs_signal(hs.wt, a, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED &&
                strstr(f.detail, "already") != NULL,
            "a signal signalled again is taken and changes nothing (%s)",
            f.detail);
    /* Different subjects. */
    f = hs_signal(hs.jgz, b, NULL, id);
    f = hs_signal(hs.wt, c, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "signals on B and C");
    /* A later match on subject C by the coordinator's own...: a sentinel,
     * so that whatever came before it in JGZ's queue is in its inbox. */
    f = hs_signal(hs.jgz, c, NULL, id);
    H_POLL(ok, 20000, hs_matches(hs.jgz, HS_WT).n == 2);
    H_CHECK(ok && hs_matches(hs.wt, HS_JGZ).n == 2 && hs_total(hs.coord) == 2,
            "B and C (different subjects) never matched; A matched once, "
            "C once (jgz %d, wt %d, coord %d)",
            hs_matches(hs.jgz, HS_WT).n, hs_matches(hs.wt, HS_JGZ).n,
            hs_total(hs.coord));
}

static void
s_kill9(void)
{
    char d[10];
    uint8_t id[16];
    struct h_fate f = {.id = id, .outcome = -1};
    bool ok;

    h_note("== the broker killed -9 while the second signal is on its way");
    h_bsn(4, d);
    int before_j = hs_matches(hs.jgz, HS_WT).n,
        before_w = hs_matches(hs.wt, HS_JGZ).n;
    f = hs_signal(hs.jgz, d, NULL, id);
    struct hs_msg m = {
        .type = KR__V1__MESSAGE_TYPE__SIGNAL, .bsn = d, .purpose = "signaal"};
    H_REQUIRE(hs_send(hs.wt, &m, id) == KR_OK, "the wijkteam signals D");
    f.id = id;
    h_broker_kill9(&hs.c);
    h_broker_start(&hs.c);
    H_POLL(ok, 30000, h_fate_final(h_node_client(&hs.c, hs.wt), &f));
    H_CHECK(ok && f.outcome == KR__V1__OUTCOME__DELIVERED,
            "after the restart the signal on D is recorded (%d: %s)", f.outcome,
            f.detail);
    H_POLL(ok, 30000,
           hs_matches(hs.jgz, HS_WT).n == before_j + 1 &&
               hs_matches(hs.wt, HS_JGZ).n == before_w + 1);
    /* A sentinel after it in both queues: a match on E. */
    char e[10];
    h_bsn(5, e);
    hs_signal(hs.jgz, e, NULL, id);
    hs_signal(hs.wt, e, NULL, id);
    H_POLL(ok, 20000,
           hs_matches(hs.jgz, HS_WT).n == before_j + 2 &&
               hs_matches(hs.wt, HS_JGZ).n == before_w + 2);
    H_CHECK(ok,
            "the match on D came exactly once to each across the kill "
            "(jgz %d, wt %d, want %d and %d)",
            hs_matches(hs.jgz, HS_WT).n, hs_matches(hs.wt, HS_JGZ).n,
            before_j + 2, before_w + 2);
}

static void
s_withdraw_expire(void)
{
    char g[10], h[10];
    uint8_t sig[16], id[16], rnd[16];
    struct h_fate f;
    bool ok;

    h_note("== withdrawn and expired signals no longer match");
    h_bsn(6, g);
    h_bsn(7, h);
    f = hs_signal(hs.jgz, g, NULL, sig);
    struct hs_msg w = {.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                       .withdraw = true,
                       .signal_id = sig,
                       .purpose = "signaal"};
    f = hs_do(hs.wt, &w, id);
    h_expect_refused(f, KR__V1__REASON__NOT_SIGNAL_OWNER,
                     "a withdrawal of another organisation's signal");
    util_random_id(rnd);
    w.signal_id = rnd;
    f = hs_do(hs.jgz, &w, id);
    h_expect_refused(f, KR__V1__REASON__UNKNOWN_SIGNAL,
                     "a withdrawal of an unknown signal");
    w.signal_id = sig;
    f = hs_do(hs.jgz, &w, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ withdraws its own signal (%s)", f.detail);
    f = hs_do(hs.jgz, &w, id);
    h_expect_refused(f, KR__V1__REASON__UNKNOWN_SIGNAL,
                     "a second withdrawal of it");
    int before = hs_matches(hs.wt, HS_JGZ).n;
    f = hs_signal(hs.wt, g, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "the wijkteam signals G");

    /* Expiry: a route of three seconds. */
    uint64_t t0 = util_now_ms();
    f = hs_signal(hs.jgz, h, "signaal-kort", sig);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ signals H on a route of three seconds (%s)", f.detail);
    H_POLL(ok, 20000, hs_audit_has("signal.expired"));
    H_CHECK(ok && util_now_ms() - t0 >= 3000,
            "the broker removes H's signal after its lifetime, not before, "
            "audited (signal.expired)");
    H_CHECK(hs_audit_has("signal.withdrawn"), "the withdrawal is audited");
    f = hs_signal(hs.wt, h, "signaal-kort", id);
    /* Sentinel: a match on a fresh subject. */
    char k[10];
    h_bsn(8, k);
    hs_signal(hs.jgz, k, NULL, id);
    hs_signal(hs.wt, k, NULL, id);
    H_POLL(ok, 20000, hs_matches(hs.wt, HS_JGZ).n == before + 1);
    H_CHECK(ok,
            "neither the withdrawn (G) nor the expired (H) signal "
            "matched; the sentinel did (%d, want %d)",
            hs_matches(hs.wt, HS_JGZ).n, before + 1);
}

static void
s_family(void)
{
    char mother[10], child[10];
    uint8_t case_id[16], id[16];
    struct h_fate f;
    bool ok;

    h_note("== a family match through SUBJECT_LINK");
    h_bsn(10, mother);
    h_bsn(11, child);
    hs_consent(mother, false, "the mother's consent", id);
    hs_consent(child, false, "the child's consent", id);
    util_time_ordered_id(case_id);
    struct hs_msg m = {.type = KR__V1__MESSAGE_TYPE__HANDOVER,
                       .to = HS_JGZ,
                       .bsn = mother,
                       .purpose = "overdracht-jgz",
                       .case_id = case_id};
    f = hs_do(hs.vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the mother's handover on the case (%s)", f.detail);
    m.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK;
    m.bsn = child;
    f = hs_do(hs.vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the child linked to the case (%s)", f.detail);
    int fj = hs_matches(hs.jgz, HS_WT).family,
        fw = hs_matches(hs.wt, HS_JGZ).family;
    f = hs_signal(hs.jgz, mother, NULL, id);
    f = hs_signal(hs.wt, child, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "signals on both");
    H_POLL(ok, 20000,
           hs_matches(hs.jgz, HS_WT).family == fj + 1 &&
               hs_matches(hs.wt, HS_JGZ).family == fw + 1);
    H_CHECK(ok,
            "JGZ (on the mother) and the wijkteam (on the child) get a "
            "family match (%d, %d)",
            hs_matches(hs.jgz, HS_WT).family - fj,
            hs_matches(hs.wt, HS_JGZ).family - fw);
}

/* A SUBJECT_LINK that comes after signals on the mother and the child:
 * the family match is made when the link is recorded, once (the same
 * link again matches nothing). */
static void
s_family_late(void)
{
    char mother[10], child[10], k[10];
    uint8_t case_id[16], id[16];
    struct h_fate f;
    bool ok;

    h_note("== a family match made by a SUBJECT_LINK after both signals");
    h_bsn(12, mother);
    h_bsn(13, child);
    h_bsn(14, k);
    hs_consent(mother, false, "the mother's consent", id);
    hs_consent(child, false, "the child's consent", id);
    util_time_ordered_id(case_id);
    struct hs_msg m = {.type = KR__V1__MESSAGE_TYPE__HANDOVER,
                       .to = HS_JGZ,
                       .bsn = mother,
                       .purpose = "overdracht-jgz",
                       .case_id = case_id};
    f = hs_do(hs.vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the mother's handover on the case (%s)", f.detail);
    int fj = hs_matches(hs.jgz, HS_WT).family,
        fw = hs_matches(hs.wt, HS_JGZ).family;
    int fc = hs_matches(hs.coord, NULL).family;
    int nj = hs_matches(hs.jgz, HS_WT).n;
    hs_signal(hs.jgz, mother, NULL, id);
    f = hs_signal(hs.wt, child, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "signals on the mother and the child, not linked yet");
    m.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK;
    m.bsn = child;
    f = hs_do(hs.vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the child linked to the case after both signals (%s)", f.detail);
    H_POLL(ok, 20000,
           hs_matches(hs.jgz, HS_WT).family == fj + 1 &&
               hs_matches(hs.wt, HS_JGZ).family == fw + 1);
    H_CHECK(ok,
            "the link makes the family match: JGZ (on the mother) and the "
            "wijkteam (on the child) each get one (%d, %d)",
            hs_matches(hs.jgz, HS_WT).family - fj,
            hs_matches(hs.wt, HS_JGZ).family - fw);
    H_POLL(ok, 20000, hs_matches(hs.coord, NULL).family == fc + 1);
    H_CHECK(ok, "and the route's coordinator one");
    /* The same link again, then a sentinel match behind it in both
     * queues: nothing more came of the link. */
    f = hs_do(hs.vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "the same link again");
    hs_signal(hs.jgz, k, NULL, id);
    hs_signal(hs.wt, k, NULL, id);
    H_POLL(ok, 20000, hs_matches(hs.jgz, HS_WT).n == nj + 2);
    H_CHECK(ok && hs_matches(hs.jgz, HS_WT).family == fj + 1 &&
                hs_matches(hs.wt, HS_JGZ).family == fw + 1,
            "the pair matched exactly once (jgz %d family of %d, wt %d)",
            hs_matches(hs.jgz, HS_WT).family - fj,
            hs_matches(hs.jgz, HS_WT).n - nj,
            hs_matches(hs.wt, HS_JGZ).family - fw);
}

static void
s_bad_input(void)
{
    char a[10];
    uint8_t id[16];
    struct h_fate f;

    h_note("== bad signals");
    h_bsn(20, a);
    f = hs_signal(hs.jgz, a, "geen-route", id);
    h_expect_refused(f, KR__V1__REASON__NO_ROUTE, "a signal without a route");
    struct hs_msg m = {.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                       .to = HS_WT,
                       .bsn = a,
                       .purpose = "signaal"};
    f = hs_do(hs.jgz, &m, id);
    h_expect_refused(f, KR__V1__REASON__BAD_SIGNAL,
                     "a signal addressed to another organisation");
    f = hs_signal(hs.jgz, a, "signaal-toestemming", id);
    h_expect_refused(f, KR__V1__REASON__NO_CONSENT,
                     "a signal on a consent route without consent");
    m = (struct hs_msg){.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                        .purpose = "signaal"};
    f = hs_do(hs.jgz, &m, id);
    h_expect_refused(f, KR__V1__REASON__BAD_SIGNAL,
                     "a signal without a subject");
}

/* krctl signal send, matches, signal withdraw, through the nodes. */
static void
s_krctl(void)
{
    struct h_run r;
    char bsn[10], sig[40] = "";
    uint8_t id[16];
    bool ok;

    h_note("== krctl signal send, matches, signal withdraw");
    h_bsn(30, bsn);
    h_krctl(&r, "--node", hs.c.nodes[hs.jgz].local, "signal", "send", "--bsn",
            bsn, "--purpose", "signaal", "--actor-ref", "emp-3", NULL);
    H_CHECK(r.code == 0 && r.out != NULL && strlen(r.out) == 33,
            "krctl signal send prints the signal's id (exit %d: %s)", r.code,
            r.err ? r.err : "");
    if (r.out != NULL)
        snprintf(sig, sizeof(sig), "%.32s", r.out);
    h_run_free(&r);
    struct h_fate f = {.id = id};
    H_REQUIRE(util_unhex(sig, id, 16) == KR_OK, "a signal id");
    H_POLL(ok, 20000, h_fate_final(h_node_client(&hs.c, hs.jgz), &f));
    H_CHECK(ok && f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the signal is recorded (%s)", f.detail);
    int before = hs_matches(hs.jgz, HS_WT).n;
    h_krctl(&r, "--node", hs.c.nodes[hs.wt].local, "signal", "send", "--bsn",
            bsn, "--purpose", "signaal", NULL);
    h_run_free(&r);
    H_POLL(ok, 20000, hs_matches(hs.jgz, HS_WT).n == before + 1);
    h_krctl(&r, "--node", hs.c.nodes[hs.jgz].local, "matches", NULL);
    json_object *a = r.out ? json_tokener_parse(r.out) : NULL;
    bool found = false;
    for (size_t i = 0; a != NULL && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a);
         i++) {
        json_object *o = json_object_array_get_idx(a, i);
        const char *s = h_json_str(o, "signal_id");
        if (s != NULL && strcmp(s, sig) == 0 &&
            strcmp(h_json_str(o, "org"), HS_WT) == 0 &&
            strcmp(h_json_str(o, "category"), "wijkteam") == 0 &&
            h_json_str(o, "since") != NULL)
            found = true;
    }
    H_CHECK(r.code == 0 && found,
            "krctl matches lists the match on the signal: org, category, "
            "since (exit %d)",
            r.code);
    json_object_put(a);
    h_run_free(&r);
    h_krctl(&r, "--node", hs.c.nodes[hs.jgz].local, "signal", "withdraw", sig,
            NULL);
    char wid[40] = "";
    if (r.out != NULL)
        snprintf(wid, sizeof(wid), "%.32s", r.out);
    H_CHECK(r.code == 0 && util_unhex(wid, id, 16) == KR_OK,
            "krctl signal withdraw prints the withdrawal's msg_id (exit %d)",
            r.code);
    h_run_free(&r);
    H_POLL(ok, 20000, h_fate_final(h_node_client(&hs.c, hs.jgz), &f));
    H_CHECK(ok && f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the withdrawal is done (%s)", f.detail);
}

int
main(void)
{
    hs_setup("signals", 240);
    s_bad_input();
    s_client_match();
    s_kill9();
    s_withdraw_expire();
    s_family();
    s_family_late();
    s_krctl();
    return h_finish(&hs.c);
}
