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
 * signal and of an unknown one, each refused with its reason.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"

#define S_VL "ura:00001234"
#define S_JGZ "ura:00005678"
#define S_COORD "ura:00009999"
#define S_WT "oin:00000001000000000001"

static struct h_cluster s_c;
static int s_vl, s_jgz, s_coord, s_wt;

struct s_fate {
    const uint8_t *id;
    int outcome, reason;
    char detail[256];
};

static int
s_fate_cb(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_fate *f = arg;

    if (it->msg_id.len != 16 || memcmp(it->msg_id.data, f->id, 16) != 0)
        return 0;
    f->outcome = it->outcome;
    f->reason = it->reason;
    snprintf(f->detail, sizeof(f->detail), "%s", it->detail ? it->detail : "");
    return 1;
}

static bool
s_final(kr_client_t *kc, struct s_fate *f)
{
    f->outcome = -1;
    return h_outbox_foreach_all(kc, s_fate_cb, f) == KR_OK &&
           (f->outcome == KR__V1__OUTCOME__DELIVERED ||
            f->outcome == KR__V1__OUTCOME__REFUSED);
}

/* One message through a node's libkr. */
struct s_msg {
    int type;
    const char *to; /* NULL: the sender itself (a signal) */
    const char *bsn;
    const char *purpose;
    const uint8_t *case_id;
    bool withdraw;
    const uint8_t *signal_id;
};

static int
s_send(int node, const struct s_msg *m, uint8_t msg_id[16])
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    uint8_t content[64], *buf;
    size_t len;
    int rc;

    s.type = m->type;
    s.recipient = (char *)(m->to ? m->to : s_c.nodes[node].org);
    s.purpose = (char *)m->purpose;
    s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.priority = KR__V1__PRIORITY__ROUTINE;
    s.subject_bsn = (char *)(m->bsn ? m->bsn : "");
    s.actor_ref = (ProtobufCBinaryData){6, (uint8_t *)"emp-17"};
    if (m->case_id != NULL)
        s.case_id = (ProtobufCBinaryData){16, (uint8_t *)m->case_id};
    s.signal_withdraw = m->withdraw;
    if (m->signal_id != NULL)
        s.signal_id = (ProtobufCBinaryData){16, (uint8_t *)m->signal_id};
    /* A signal's content is nothing but a marker: the contact stays with
     * the sender (actor_ref). */
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
    c.opaque = (ProtobufCBinaryData){1, (uint8_t *)"-"};
    s.content.len = kr__v1__content__pack(&c, content);
    s.content.data = content;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    req.send = &s;
    len = kr__v1__local_request__get_packed_size(&req);
    buf = malloc(len);
    kr__v1__local_request__pack(&req, buf);
    rc = kr_send(h_node_client(&s_c, node), buf, len, msg_id);
    free(buf);
    return rc;
}

static struct s_fate
s_do(int node, const struct s_msg *m, uint8_t msg_id[16])
{
    kr_client_t *kc = h_node_client(&s_c, node);
    struct s_fate f = {.id = msg_id, .outcome = -1};
    bool ok;

    int rc = s_send(node, m, msg_id);
    H_REQUIRE(rc == KR_OK, "the node takes the message (%s)", kr_strerror(rc));
    H_POLL(ok, 20000, s_final(kc, &f));
    H_REQUIRE(ok, "the message ends delivered or refused (outcome %d)",
              f.outcome);
    return f;
}

static struct s_fate
s_signal(int node, const char *bsn, const char *purpose, uint8_t id[16])
{
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                      .bsn = bsn,
                      .purpose = purpose ? purpose : "signaal"};
    return s_do(node, &m, id);
}

static void
s_expect_refused(struct s_fate f, int reason, const char *what)
{
    H_CHECK(f.outcome == KR__V1__OUTCOME__REFUSED && f.reason == reason,
            "%s: refused, reason %d (outcome %d, reason %d: %s)", what, reason,
            f.outcome, f.reason, f.detail);
}

/* NOTICE_MATCH items in a node's inbox about another organisation. */
struct s_matches {
    const char *with; /* NULL: any */
    int n, family;
    const Kr__V1__Notice *last; /* valid in the callback only */
    bool fields_ok;
    char coord_with[64];
};

static int
s_match_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_matches *m = arg;
    const Kr__V1__Notice *nt = it->notice;

    if (nt == NULL || nt->kind != KR__V1__NOTICE_KIND__NOTICE_MATCH)
        return 0;
    if (m->with != NULL && strcmp(nt->match_org, m->with) != 0 &&
        strcmp(nt->match_with, m->with) != 0)
        return 0;
    m->n++;
    if (nt->family_match)
        m->family++;
    m->fields_ok = it->type == KR__V1__MESSAGE_TYPE__SIGNAL &&
                   nt->match_since_ms > 0 &&
                   nt->match_other_subject.len == 32 && nt->match_category != 0;
    snprintf(m->coord_with, sizeof(m->coord_with), "%s", nt->match_with);
    return 0;
}

static struct s_matches
s_matches(int node, const char *with)
{
    struct s_matches m = {.with = with};

    h_inbox_foreach_all(h_node_client(&s_c, node), s_match_cb, &m);
    return m;
}

static int
s_total(int node)
{
    return s_matches(node, NULL).n;
}

static void
s_client_match(void)
{
    char a[10], b[10], c[10];
    uint8_t id[16], jgz_sig[16];
    struct s_fate f;
    bool ok;

    h_note("== two organisations signal one subject");
    h_bsn(1, a);
    h_bsn(2, b);
    h_bsn(3, c);
    f = s_signal(s_jgz, a, NULL, jgz_sig);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ's signal on A is recorded (%s)", f.detail);
    H_CHECK(s_total(s_jgz) == 0, "one signal alone matches nothing");
    f = s_signal(s_wt, a, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the wijkteam's signal on A is recorded (%s)", f.detail);
    H_POLL(ok, 20000,
           s_matches(s_jgz, S_WT).n == 1 && s_matches(s_wt, S_JGZ).n == 1 &&
               s_matches(s_coord, S_WT).n == 1);
    H_CHECK(ok,
            "JGZ, the wijkteam and the coordinator each get the match "
            "(%d, %d, %d)",
            s_matches(s_jgz, S_WT).n, s_matches(s_wt, S_JGZ).n,
            s_matches(s_coord, S_WT).n);
    struct s_matches m = s_matches(s_jgz, S_WT);
    H_CHECK(m.fields_ok && m.family == 0,
            "the notice says who, its category, since when, the subject; "
            "a client match");
    /* Again by the same organisation: nothing changes, nothing matches. */
    f = s_signal(s_wt, a, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED &&
                strstr(f.detail, "already") != NULL,
            "a signal signalled again is taken and changes nothing (%s)",
            f.detail);
    /* Different subjects. */
    f = s_signal(s_jgz, b, NULL, id);
    f = s_signal(s_wt, c, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "signals on B and C");
    /* A later match on subject C by the coordinator's own...: a sentinel,
     * so that whatever came before it in JGZ's queue is in its inbox. */
    f = s_signal(s_jgz, c, NULL, id);
    H_POLL(ok, 20000, s_matches(s_jgz, S_WT).n == 2);
    H_CHECK(ok && s_matches(s_wt, S_JGZ).n == 2 && s_total(s_coord) == 2,
            "B and C (different subjects) never matched; A matched once, "
            "C once (jgz %d, wt %d, coord %d)",
            s_matches(s_jgz, S_WT).n, s_matches(s_wt, S_JGZ).n,
            s_total(s_coord));
}

static void
s_kill9(void)
{
    char d[10];
    uint8_t id[16];
    struct s_fate f = {.id = id, .outcome = -1};
    bool ok;

    h_note("== the broker killed -9 while the second signal is on its way");
    h_bsn(4, d);
    int before_j = s_matches(s_jgz, S_WT).n,
        before_w = s_matches(s_wt, S_JGZ).n;
    f = s_signal(s_jgz, d, NULL, id);
    struct s_msg m = {
        .type = KR__V1__MESSAGE_TYPE__SIGNAL, .bsn = d, .purpose = "signaal"};
    H_REQUIRE(s_send(s_wt, &m, id) == KR_OK, "the wijkteam signals D");
    f.id = id;
    h_broker_kill9(&s_c);
    h_broker_start(&s_c);
    H_POLL(ok, 30000, s_final(h_node_client(&s_c, s_wt), &f));
    H_CHECK(ok && f.outcome == KR__V1__OUTCOME__DELIVERED,
            "after the restart the signal on D is recorded (%d: %s)", f.outcome,
            f.detail);
    H_POLL(ok, 30000,
           s_matches(s_jgz, S_WT).n == before_j + 1 &&
               s_matches(s_wt, S_JGZ).n == before_w + 1);
    /* A sentinel after it in both queues: a match on E. */
    char e[10];
    h_bsn(5, e);
    s_signal(s_jgz, e, NULL, id);
    s_signal(s_wt, e, NULL, id);
    H_POLL(ok, 20000,
           s_matches(s_jgz, S_WT).n == before_j + 2 &&
               s_matches(s_wt, S_JGZ).n == before_w + 2);
    H_CHECK(ok,
            "the match on D came exactly once to each across the kill "
            "(jgz %d, wt %d, want %d and %d)",
            s_matches(s_jgz, S_WT).n, s_matches(s_wt, S_JGZ).n, before_j + 2,
            before_w + 2);
}

/* An event among the broker's last audit records. */
static bool
s_audit_has(const char *event)
{
    struct h_run r;
    char needle[96];

    snprintf(needle, sizeof(needle), "\"%s\"", event);
    h_krctl(&r, "--admin", s_c.admin, "audit", "tail", "-n", "100", NULL);
    bool found = r.code == 0 && r.out != NULL && strstr(r.out, needle) != NULL;
    h_run_free(&r);
    return found;
}

static void
s_withdraw_expire(void)
{
    char g[10], h[10];
    uint8_t sig[16], id[16], rnd[16];
    struct s_fate f;
    bool ok;

    h_note("== withdrawn and expired signals no longer match");
    h_bsn(6, g);
    h_bsn(7, h);
    f = s_signal(s_jgz, g, NULL, sig);
    struct s_msg w = {.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                      .withdraw = true,
                      .signal_id = sig,
                      .purpose = "signaal"};
    f = s_do(s_wt, &w, id);
    s_expect_refused(f, KR__V1__REASON__NOT_SIGNAL_OWNER,
                     "a withdrawal of another organisation's signal");
    util_random_id(rnd);
    w.signal_id = rnd;
    f = s_do(s_jgz, &w, id);
    s_expect_refused(f, KR__V1__REASON__UNKNOWN_SIGNAL,
                     "a withdrawal of an unknown signal");
    w.signal_id = sig;
    f = s_do(s_jgz, &w, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ withdraws its own signal (%s)", f.detail);
    f = s_do(s_jgz, &w, id);
    s_expect_refused(f, KR__V1__REASON__UNKNOWN_SIGNAL,
                     "a second withdrawal of it");
    int before = s_matches(s_wt, S_JGZ).n;
    f = s_signal(s_wt, g, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "the wijkteam signals G");

    /* Expiry: a route of three seconds. */
    uint64_t t0 = util_now_ms();
    f = s_signal(s_jgz, h, "signaal-kort", sig);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ signals H on a route of three seconds (%s)", f.detail);
    H_POLL(ok, 20000, s_audit_has("signal.expired"));
    H_CHECK(ok && util_now_ms() - t0 >= 3000,
            "the broker removes H's signal after its lifetime, not before, "
            "audited (signal.expired)");
    H_CHECK(s_audit_has("signal.withdrawn"), "the withdrawal is audited");
    f = s_signal(s_wt, h, "signaal-kort", id);
    /* Sentinel: a match on a fresh subject. */
    char k[10];
    h_bsn(8, k);
    s_signal(s_jgz, k, NULL, id);
    s_signal(s_wt, k, NULL, id);
    H_POLL(ok, 20000, s_matches(s_wt, S_JGZ).n == before + 1);
    H_CHECK(ok,
            "neither the withdrawn (G) nor the expired (H) signal "
            "matched; the sentinel did (%d, want %d)",
            s_matches(s_wt, S_JGZ).n, before + 1);
}

static void
s_family(void)
{
    char mother[10], child[10];
    uint8_t case_id[16], id[16];
    struct s_fate f;
    bool ok;

    h_note("== a family match through SUBJECT_LINK");
    h_bsn(10, mother);
    h_bsn(11, child);
    uint64_t now = util_now_ms();
    const char *bsns[] = {mother, child};
    for (int i = 0; i < 2; i++) {
        struct h_consent g = {0};
        g.recipient = S_JGZ;
        g.bsn = bsns[i];
        g.purpose = "overdracht-jgz";
        g.from_org = S_VL;
        g.to_category = KR__V1__ORG_CATEGORY__JGZ;
        g.from_ms = now - 3600000;
        g.until_ms = now + 365ull * 86400000;
        H_REQUIRE(h_send_consent(h_node_client(&s_c, s_vl), &g, NULL, id) ==
                      KR_OK,
                  "consent %d", i);
        H_POLL(ok, 20000,
               h_outcome(h_node_client(&s_c, s_vl), id) >=
                   KR__V1__OUTCOME__ACCEPTED);
        H_REQUIRE(ok, "the broker accepts consent %d", i);
    }
    util_time_ordered_id(case_id);
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__HANDOVER,
                      .to = S_JGZ,
                      .bsn = mother,
                      .purpose = "overdracht-jgz",
                      .case_id = case_id};
    f = s_do(s_vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the mother's handover on the case (%s)", f.detail);
    m.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK;
    m.bsn = child;
    f = s_do(s_vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the child linked to the case (%s)", f.detail);
    int fj = s_matches(s_jgz, S_WT).family, fw = s_matches(s_wt, S_JGZ).family;
    f = s_signal(s_jgz, mother, NULL, id);
    f = s_signal(s_wt, child, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "signals on both");
    H_POLL(ok, 20000,
           s_matches(s_jgz, S_WT).family == fj + 1 &&
               s_matches(s_wt, S_JGZ).family == fw + 1);
    H_CHECK(ok,
            "JGZ (on the mother) and the wijkteam (on the child) get a "
            "family match (%d, %d)",
            s_matches(s_jgz, S_WT).family - fj,
            s_matches(s_wt, S_JGZ).family - fw);
}

/* A SUBJECT_LINK that comes after signals on the mother and the child:
 * the family match is made when the link is recorded, once (the same
 * link again matches nothing). */
static void
s_family_late(void)
{
    char mother[10], child[10], k[10];
    uint8_t case_id[16], id[16];
    struct s_fate f;
    bool ok;

    h_note("== a family match made by a SUBJECT_LINK after both signals");
    h_bsn(12, mother);
    h_bsn(13, child);
    h_bsn(14, k);
    uint64_t now = util_now_ms();
    const char *bsns[] = {mother, child};
    for (int i = 0; i < 2; i++) {
        struct h_consent g = {0};
        g.recipient = S_JGZ;
        g.bsn = bsns[i];
        g.purpose = "overdracht-jgz";
        g.from_org = S_VL;
        g.to_category = KR__V1__ORG_CATEGORY__JGZ;
        g.from_ms = now - 3600000;
        g.until_ms = now + 365ull * 86400000;
        H_REQUIRE(h_send_consent(h_node_client(&s_c, s_vl), &g, NULL, id) ==
                      KR_OK,
                  "consent %d", i);
        H_POLL(ok, 20000,
               h_outcome(h_node_client(&s_c, s_vl), id) >=
                   KR__V1__OUTCOME__ACCEPTED);
        H_REQUIRE(ok, "the broker accepts consent %d", i);
    }
    util_time_ordered_id(case_id);
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__HANDOVER,
                      .to = S_JGZ,
                      .bsn = mother,
                      .purpose = "overdracht-jgz",
                      .case_id = case_id};
    f = s_do(s_vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the mother's handover on the case (%s)", f.detail);
    int fj = s_matches(s_jgz, S_WT).family, fw = s_matches(s_wt, S_JGZ).family;
    int fc = s_matches(s_coord, NULL).family;
    int nj = s_matches(s_jgz, S_WT).n;
    s_signal(s_jgz, mother, NULL, id);
    f = s_signal(s_wt, child, NULL, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "signals on the mother and the child, not linked yet");
    m.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK;
    m.bsn = child;
    f = s_do(s_vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the child linked to the case after both signals (%s)", f.detail);
    H_POLL(ok, 20000,
           s_matches(s_jgz, S_WT).family == fj + 1 &&
               s_matches(s_wt, S_JGZ).family == fw + 1);
    H_CHECK(ok,
            "the link makes the family match: JGZ (on the mother) and the "
            "wijkteam (on the child) each get one (%d, %d)",
            s_matches(s_jgz, S_WT).family - fj,
            s_matches(s_wt, S_JGZ).family - fw);
    H_POLL(ok, 20000, s_matches(s_coord, NULL).family == fc + 1);
    H_CHECK(ok, "and the route's coordinator one");
    /* The same link again, then a sentinel match behind it in both
     * queues: nothing more came of the link. */
    f = s_do(s_vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "the same link again");
    s_signal(s_jgz, k, NULL, id);
    s_signal(s_wt, k, NULL, id);
    H_POLL(ok, 20000, s_matches(s_jgz, S_WT).n == nj + 2);
    H_CHECK(ok && s_matches(s_jgz, S_WT).family == fj + 1 &&
                s_matches(s_wt, S_JGZ).family == fw + 1,
            "the pair matched exactly once (jgz %d family of %d, wt %d)",
            s_matches(s_jgz, S_WT).family - fj, s_matches(s_jgz, S_WT).n - nj,
            s_matches(s_wt, S_JGZ).family - fw);
}

static void
s_bad_input(void)
{
    char a[10];
    uint8_t id[16];
    struct s_fate f;

    h_note("== bad signals");
    h_bsn(20, a);
    f = s_signal(s_jgz, a, "geen-route", id);
    s_expect_refused(f, KR__V1__REASON__NO_ROUTE, "a signal without a route");
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                      .to = S_WT,
                      .bsn = a,
                      .purpose = "signaal"};
    f = s_do(s_jgz, &m, id);
    s_expect_refused(f, KR__V1__REASON__BAD_SIGNAL,
                     "a signal addressed to another organisation");
    f = s_signal(s_jgz, a, "signaal-toestemming", id);
    s_expect_refused(f, KR__V1__REASON__NO_CONSENT,
                     "a signal on a consent route without consent");
    m = (struct s_msg){.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                       .purpose = "signaal"};
    f = s_do(s_jgz, &m, id);
    s_expect_refused(f, KR__V1__REASON__BAD_SIGNAL,
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
    h_krctl(&r, "--node", s_c.nodes[s_jgz].local, "signal", "send", "--bsn",
            bsn, "--purpose", "signaal", "--actor-ref", "emp-3", NULL);
    H_CHECK(r.code == 0 && r.out != NULL && strlen(r.out) == 33,
            "krctl signal send prints the signal's id (exit %d: %s)", r.code,
            r.err ? r.err : "");
    if (r.out != NULL)
        snprintf(sig, sizeof(sig), "%.32s", r.out);
    h_run_free(&r);
    struct s_fate f = {.id = id};
    H_REQUIRE(util_unhex(sig, id, 16) == KR_OK, "a signal id");
    H_POLL(ok, 20000, s_final(h_node_client(&s_c, s_jgz), &f));
    H_CHECK(ok && f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the signal is recorded (%s)", f.detail);
    int before = s_matches(s_jgz, S_WT).n;
    h_krctl(&r, "--node", s_c.nodes[s_wt].local, "signal", "send", "--bsn", bsn,
            "--purpose", "signaal", NULL);
    h_run_free(&r);
    H_POLL(ok, 20000, s_matches(s_jgz, S_WT).n == before + 1);
    h_krctl(&r, "--node", s_c.nodes[s_jgz].local, "matches", NULL);
    json_object *a = r.out ? json_tokener_parse(r.out) : NULL;
    bool found = false;
    for (size_t i = 0; a != NULL && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a);
         i++) {
        json_object *o = json_object_array_get_idx(a, i);
        const char *s = h_json_str(o, "signal_id");
        if (s != NULL && strcmp(s, sig) == 0 &&
            strcmp(h_json_str(o, "org"), S_WT) == 0 &&
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
    h_krctl(&r, "--node", s_c.nodes[s_jgz].local, "signal", "withdraw", sig,
            NULL);
    char wid[40] = "";
    if (r.out != NULL)
        snprintf(wid, sizeof(wid), "%.32s", r.out);
    H_CHECK(r.code == 0 && util_unhex(wid, id, 16) == KR_OK,
            "krctl signal withdraw prints the withdrawal's msg_id (exit %d)",
            r.code);
    h_run_free(&r);
    H_POLL(ok, 20000, s_final(h_node_client(&s_c, s_jgz), &f));
    H_CHECK(ok && f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the withdrawal is done (%s)", f.detail);
}

/* Notices of erasure in a node's inbox. */
static int
s_erasure_cb(const Kr__V1__InboxItem *it, void *arg)
{
    if (it->notice != NULL &&
        it->notice->kind == KR__V1__NOTICE_KIND__NOTICE_ERASURE &&
        it->notice->erased_subject.len == 32 &&
        it->type == KR__V1__MESSAGE_TYPE__ERASURE_REQUEST)
        (*(int *)arg)++;
    return 0;
}

static int
s_erasures(int node)
{
    int n = 0;
    h_inbox_foreach_all(h_node_client(&s_c, node), s_erasure_cb, &n);
    return n;
}

static bool
s_cp(const char *from, const char *to)
{
    struct h_run r;
    char *argv[] = {"/bin/cp", (char *)from, (char *)to, NULL};
    bool ok = h_run(&r, 20000, argv) == 0 && r.code == 0;
    h_run_free(&r);
    return ok;
}

/* An erasure request: refused for an unknown subject; executed: the
 * signals go, the other organisation is told, the register keeps it; a
 * store restored from before the erasure loses them again at start. */
static void
s_erasure(void)
{
    char e[10], unknown[10], data[H_PATH + 16], backup[H_PATH + 16];
    uint8_t id[16], wt_sig[16];
    struct s_fate f;
    bool ok;

    h_note("== erasure");
    h_bsn(40, e);
    h_bsn(41, unknown);
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__ERASURE_REQUEST,
                      .bsn = unknown,
                      .purpose = "signaal"};
    f = s_do(s_jgz, &m, id);
    s_expect_refused(f, KR__V1__REASON__UNKNOWN_SUBJECT,
                     "an erasure request for an unknown subject");
    int pre = s_total(s_wt);
    s_signal(s_jgz, e, NULL, id);
    f = s_signal(s_wt, e, NULL, wt_sig);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "both signal E");
    /* A backup of the store as it is now, taken with the broker stopped. */
    snprintf(data, sizeof(data), "%s/data.mdb", s_c.broker_dir);
    snprintf(backup, sizeof(backup), "%s/data.mdb.bak", s_c.tmp);
    H_POLL(ok, 20000, s_total(s_wt) == pre + 1);
    H_CHECK(ok, "the wijkteam has its match on E");
    int wt_matches = s_total(s_wt);
    H_REQUIRE(h_broker_stop(&s_c), "stop the broker for a backup");
    H_REQUIRE(s_cp(data, backup), "back up data.mdb");
    h_broker_start(&s_c);
    int before = s_erasures(s_wt);
    m.bsn = e;
    f = s_do(s_jgz, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ's erasure request on E is executed (%s)", f.detail);
    H_POLL(ok, 20000, s_erasures(s_wt) == before + 1);
    H_CHECK(ok, "the wijkteam, which held a signal on E, gets the erasure "
                "notice");
    H_CHECK(s_total(s_wt) == wt_matches - 1,
            "the wijkteam's node removed its match notice on E (%d, was %d)",
            s_total(s_wt), wt_matches);
    struct h_run r;
    h_krctl(&r, "--node", s_c.nodes[s_wt].local, "erasure", "status", NULL);
    H_CHECK(r.code == 0 && r.out != NULL && strstr(r.out, S_JGZ) != NULL &&
                strstr(r.out, "\"subject\"") != NULL,
            "krctl erasure status lists it, with who asked (exit %d)", r.code);
    h_run_free(&r);
    struct s_msg w = {.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                      .withdraw = true,
                      .signal_id = wt_sig,
                      .purpose = "signaal"};
    f = s_do(s_wt, &w, id);
    s_expect_refused(f, KR__V1__REASON__UNKNOWN_SIGNAL,
                     "the wijkteam's signal on E is gone after the erasure");
    H_CHECK(s_audit_has("erasure.executed") && s_audit_has("erasure.kept") &&
                s_audit_has("erasure.notified"),
            "the request, the notice and what was kept are audited");
    /* Restore the backup: the register brings the erasure back. */
    H_REQUIRE(h_broker_stop(&s_c), "stop the broker for a restore");
    H_REQUIRE(s_cp(backup, data), "restore data.mdb from before the erasure");
    h_broker_start(&s_c);
    H_POLL(ok, 20000, s_audit_has("erasure.reapplied"));
    H_CHECK(ok, "at start the broker applies the erasure register again "
                "(erasure.reapplied)");
    uint8_t id2[16];
    f = s_do(s_wt, &w, id2);
    s_expect_refused(f, KR__V1__REASON__UNKNOWN_SIGNAL,
                     "after the restore the erased signal stays gone");
    /* krctl erasure request, on a subject with a signal. */
    char g[10];
    h_bsn(42, g);
    s_signal(s_wt, g, NULL, id);
    h_krctl(&r, "--node", s_c.nodes[s_jgz].local, "erasure", "request", "--bsn",
            g, NULL);
    char hex[40] = "";
    if (r.out != NULL)
        snprintf(hex, sizeof(hex), "%.32s", r.out);
    H_CHECK(r.code == 0 && util_unhex(hex, id, 16) == KR_OK,
            "krctl erasure request prints its msg_id (exit %d)", r.code);
    h_run_free(&r);
    struct s_fate ff = {.id = id};
    H_POLL(ok, 20000, s_final(h_node_client(&s_c, s_jgz), &ff));
    H_CHECK(ok && ff.outcome == KR__V1__OUTCOME__DELIVERED,
            "and it is executed (%s)", ff.detail);
}

/* Where a store still holds 'subject' (LMDB API, read-only, every named
 * database, keys and values): "db:count ..." in out, the number of hits
 * returned; -1 if it cannot be read. Not counted: the audit trail (kept
 * by law), the active consent's ledger entries at the broker (kept:
 * art. 17(3)(b)), and a node's erasure notice itself (what tells its
 * adapters which subject to erase). */
static int
s_scan(const char *path, bool node, const uint8_t subject[32], char *out,
       size_t outlen)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *mc = NULL;
    MDB_dbi main_dbi;
    MDB_val k, v;
    int hits = -1;

    out[0] = '\0';
    if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 64) != 0 ||
        mdb_env_open(env, path, MDB_RDONLY | (node ? MDB_NOSUBDIR : 0), 0600) !=
            0 ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
        mdb_dbi_open(txn, NULL, 0, &main_dbi) != 0 ||
        mdb_cursor_open(txn, main_dbi, &mc) != 0)
        goto out;
    hits = 0;
    for (int rc = mdb_cursor_get(mc, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
        char name[64];
        MDB_dbi dbi;
        MDB_cursor *c;
        MDB_val dk, dv;
        int n = 0;
        if (k.mv_size == 0 || k.mv_size >= sizeof(name))
            continue;
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        if (strcmp(name, "audit") == 0 ||
            (!node && (strcmp(name, "consents") == 0 ||
                       strcmp(name, "consent_subject") == 0)))
            continue;
        if (mdb_dbi_open(txn, name, 0, &dbi) != 0 ||
            mdb_cursor_open(txn, dbi, &c) != 0)
            continue;
        for (int r = mdb_cursor_get(c, &dk, &dv, MDB_FIRST); r == 0;
             r = mdb_cursor_get(c, &dk, &dv, MDB_NEXT)) {
            bool in_key = memmem(dk.mv_data, dk.mv_size, subject, 32) != NULL;
            bool in_val = memmem(dv.mv_data, dv.mv_size, subject, 32) != NULL;
            if (!in_key && !in_val)
                continue;
            if (node && strcmp(name, "inbox") == 0 && dv.mv_size > 16) {
                Kr__V1__InboxRecord *ir = kr__v1__inbox_record__unpack(
                    NULL, dv.mv_size - 16, (const uint8_t *)dv.mv_data + 16);
                bool notice = ir != NULL && ir->item != NULL &&
                              ir->item->notice &&
                              ir->item->notice->kind ==
                                  KR__V1__NOTICE_KIND__NOTICE_ERASURE;
                if (ir != NULL)
                    kr__v1__inbox_record__free_unpacked(ir, NULL);
                if (notice)
                    continue;
            }
            n++;
        }
        mdb_cursor_close(c);
        if (n > 0) {
            size_t l = strlen(out);
            snprintf(out + l, outlen - l, "%s:%d ", name, n);
            hits += n;
        }
    }
out:
    if (mc != NULL)
        mdb_cursor_close(mc);
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (env != NULL)
        mdb_env_close(env);
    return hits;
}

/* The hits of s_scan in the broker's store and three nodes' stores. */
static int
s_scan_all(const uint8_t subject[32], const int *nodes, int nn, char *out,
           size_t outlen)
{
    char path[H_PATH + 16], one[512];
    int total = s_scan(s_c.broker_dir, false, subject, one, sizeof(one));

    snprintf(out, outlen, "broker: %s", total < 0 ? "unreadable" : one);
    for (int i = 0; i < nn && total >= 0; i++) {
        snprintf(path, sizeof(path), "%s/node.mdb", s_c.nodes[nodes[i]].dir);
        int h = s_scan(path, true, subject, one, sizeof(one));
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, "; %s: %s", s_c.nodes[nodes[i]].label,
                 h < 0 ? "unreadable" : one);
        total = h < 0 ? -1 : total + h;
    }
    return total;
}

/* The subject pseudonym of a message in a node's inbox. */
struct s_pseud {
    const uint8_t *id;
    uint8_t subject[32], rid[16];
    bool need_rid, found;
};

static int
s_pseud_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_pseud *p = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, p->id, 16) == 0 &&
        it->subject_pseudonym.len == 32) {
        memcpy(p->subject, it->subject_pseudonym.data, 32);
        p->found = !p->need_rid || it->referral_id.len == 16;
        if (it->referral_id.len == 16)
            memcpy(p->rid, it->referral_id.data, 16);
        return 1;
    }
    return 0;
}

/* Whether a node's referrals table holds the referral (krctl referral
 * show answers from it). */
static bool
s_node_has_referral(int node, const uint8_t rid[16])
{
    struct h_run r;
    char hex[33];

    h_krctl(&r, "--node", s_c.nodes[node].local, "referral", "show",
            h_hex16(rid, hex), NULL);
    bool has = r.code == 0;
    h_run_free(&r);
    return has;
}

/* Erasure end to end, scanned: a subject with a consent, a handover
 * delivered (a referral at the broker and in both nodes' tables) and one
 * not yet final (its recipient's node stopped). */
static void
s_erasure_scan(void)
{
    char bsn[10], where[2048];
    uint8_t cid[16], case1[16], case2[16], id1[16], id2[16], eid[16];
    struct s_fate f;
    bool ok;

    h_note("== erasure end to end: no store holds the pseudonym afterwards");
    h_bsn(44, bsn);
    uint64_t now = util_now_ms();
    struct h_consent g = {0};
    g.recipient = S_JGZ;
    g.bsn = bsn;
    g.purpose = "overdracht-jgz";
    g.from_org = S_VL;
    g.to_category = KR__V1__ORG_CATEGORY__JGZ;
    g.from_ms = now - 3600000;
    g.until_ms = now + 365ull * 86400000;
    H_REQUIRE(h_send_consent(h_node_client(&s_c, s_vl), &g, NULL, cid) == KR_OK,
              "consent on F");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&s_c, s_vl), cid) ==
               KR__V1__OUTCOME__DELIVERED);
    H_REQUIRE(ok, "the consent on F is recorded and delivered");
    util_time_ordered_id(case1);
    util_time_ordered_id(case2);
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__HANDOVER,
                      .to = S_JGZ,
                      .bsn = bsn,
                      .purpose = "overdracht-jgz",
                      .case_id = case1};
    f = s_do(s_vl, &m, id1);
    H_REQUIRE(f.outcome == KR__V1__OUTCOME__DELIVERED,
              "a handover on F is delivered (%s)", f.detail);
    struct s_pseud p = {.id = id1, .need_rid = true};
    h_inbox_foreach_all(h_node_client(&s_c, s_jgz), s_pseud_cb, &p);
    H_REQUIRE(p.found, "JGZ's inbox names F's pseudonym and the referral");
    H_POLL(ok, 20000,
           s_node_has_referral(s_jgz, p.rid) &&
               s_node_has_referral(s_vl, p.rid));
    H_CHECK(ok, "both nodes hold the referral in their referrals table");
    int nodes[] = {s_vl, s_jgz, s_wt};
    H_CHECK(s_scan_all(p.subject, nodes, 3, where, sizeof(where)) > 0,
            "before the erasure the stores hold F's pseudonym (%s)", where);

    /* A second handover while JGZ's node is down: accepted, not final. */
    H_REQUIRE(h_node_stop(&s_c, s_jgz), "JGZ's node stops");
    m.case_id = case2;
    H_REQUIRE(s_send(s_vl, &m, id2) == KR_OK, "a second handover on F");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&s_c, s_vl), id2) ==
               KR__V1__OUTCOME__ACCEPTED);
    H_REQUIRE(ok, "the broker accepted it and holds it for JGZ");

    struct s_msg e = {.type = KR__V1__MESSAGE_TYPE__ERASURE_REQUEST,
                      .bsn = bsn,
                      .purpose = "overdracht-jgz"};
    f = s_do(s_vl, &e, eid);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the midwife's erasure request on F is executed (%s)", f.detail);
    struct s_fate f2 = {.id = id2};
    H_POLL(ok, 20000,
           s_final(h_node_client(&s_c, s_vl), &f2) ||
               f2.outcome == KR__V1__OUTCOME__WITHDRAWN);
    H_CHECK(ok && f2.outcome == KR__V1__OUTCOME__WITHDRAWN &&
                f2.reason == KR__V1__REASON__ERASED,
            "the handover not yet final ends withdrawn, reason erased, and "
            "its sender sees it (outcome %d, reason %d: %s)",
            f2.outcome, f2.reason, f2.detail);
    h_node_start(&s_c, s_jgz);
    H_REQUIRE(h_node_wait_connected(&s_c, s_jgz, H_CONNECT_MS),
              "JGZ's node is back");
    H_POLL(ok, 20000,
           !s_node_has_referral(s_jgz, p.rid) &&
               !s_node_has_referral(s_vl, p.rid));
    H_CHECK(ok, "both nodes removed the referral from their referrals "
                "table");
    /* The notices wait in the broker's queues until acknowledged. */
    int hits = -1;
    H_POLL(ok, 30000,
           (hits = s_scan_all(p.subject, nodes, 3, where, sizeof(where))) == 0);
    H_CHECK(ok,
            "after the erasure no store holds F's pseudonym outside the "
            "audit trail, the kept consent and the notice (%d: %s)",
            hits, where);
    H_CHECK(s_audit_has("erasure.kept"), "what was kept is audited");
    struct h_run r;
    h_krctl(&r, "--admin", s_c.admin, "audit", "tail", "-n", "100", NULL);
    H_CHECK(r.code == 0 && r.out != NULL &&
                strstr(r.out, "referral records=2") != NULL &&
                strstr(r.out, "art. 17(3)(b)") != NULL,
            "the two referral records kept without their pseudonym, with the "
            "legal ground, are in the audit trail");
    h_run_free(&r);
}

/* A message still pending at its node (its organisation suspended) when
 * another organisation has its subject erased: the broker refuses it
 * when it comes (reason erased: made before the erasure), the node drops
 * its envelope at that outcome, and no store holds the pseudonym. */
static void
s_erasure_pending(void)
{
    char bsn[10], where[2048];
    uint8_t cid[16], case_id[16], id[16], eid[16];
    struct h_status st;
    struct s_fate f;
    bool ok;

    h_note("== erasure of a subject a pending message names");
    h_bsn(45, bsn);
    uint64_t now = util_now_ms();
    struct h_consent g = {0};
    g.recipient = S_JGZ;
    g.bsn = bsn;
    g.purpose = "overdracht-jgz";
    g.from_org = S_VL;
    g.to_category = KR__V1__ORG_CATEGORY__JGZ;
    g.from_ms = now - 3600000;
    g.until_ms = now + 365ull * 86400000;
    H_REQUIRE(h_send_consent(h_node_client(&s_c, s_vl), &g, NULL, cid) == KR_OK,
              "consent on P");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&s_c, s_vl), cid) ==
               KR__V1__OUTCOME__DELIVERED);
    H_REQUIRE(ok, "the consent on P is recorded and delivered");
    struct s_pseud p = {.id = cid};
    h_inbox_foreach_all(h_node_client(&s_c, s_jgz), s_pseud_cb, &p);
    H_REQUIRE(p.found, "JGZ's inbox names P's pseudonym (the consent)");
    H_REQUIRE(h_org_suspend(&s_c, S_VL) == KR_OK, "suspend the midwife");
    H_POLL(ok, 20000,
           h_status(h_node_client(&s_c, s_vl), &st) == KR_OK && !st.connected);
    H_REQUIRE(ok, "the midwife's node lost its link");
    util_time_ordered_id(case_id);
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__HANDOVER,
                      .to = S_JGZ,
                      .bsn = bsn,
                      .purpose = "overdracht-jgz",
                      .case_id = case_id};
    H_REQUIRE(s_send(s_vl, &m, id) == KR_OK,
              "the midwife's node takes a handover on P, pending");
    struct s_msg e = {.type = KR__V1__MESSAGE_TYPE__ERASURE_REQUEST,
                      .bsn = bsn,
                      .purpose = "overdracht-jgz"};
    f = s_do(s_jgz, &e, eid);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ's erasure request on P is executed (%s)", f.detail);
    H_REQUIRE(h_org_resume(&s_c, S_VL) == KR_OK, "resume the midwife");
    struct s_fate fp = {.id = id};
    H_POLL(ok, 60000, s_final(h_node_client(&s_c, s_vl), &fp));
    H_CHECK(ok && fp.outcome == KR__V1__OUTCOME__REFUSED &&
                fp.reason == KR__V1__REASON__ERASED,
            "the pending handover, made before the erasure, is refused when "
            "it comes, reason erased (outcome %d, reason %d: %s)",
            fp.outcome, fp.reason, fp.detail);
    int nodes[] = {s_vl, s_jgz, s_wt};
    int hits = -1;
    H_POLL(ok, 30000,
           (hits = s_scan_all(p.subject, nodes, 3, where, sizeof(where))) == 0);
    H_CHECK(ok,
            "no store holds P's pseudonym outside the audit trail, the kept "
            "consent and the notice (%d: %s)",
            hits, where);
}

int
main(void)
{
    char routes[H_PATH + 32], text[1024];

    h_init("signals", 240);
    h_cluster_init(&s_c, "signals");
    snprintf(routes, sizeof(routes), "%s/routes.ini", s_c.tmp);
    snprintf(text, sizeof(text),
             "[route signaal]\n"
             "from = jgz, wijkteam, verloskunde\n"
             "to = coordinator\n"
             "coordinator = %s\n"
             "signal_basis = route\n"
             "match_coordinator = yes\n"
             "\n"
             "[route signaal-kort]\n"
             "from = jgz, wijkteam\n"
             "to = coordinator\n"
             "signal_basis = route\n"
             "signal_lifetime = 3 seconds\n"
             "\n"
             "[route signaal-toestemming]\n"
             "from = jgz, wijkteam\n"
             "to = coordinator\n"
             "\n"
             "[route overdracht-jgz]\n"
             "from = verloskunde\n"
             "to = jgz\n",
             S_COORD);
    H_REQUIRE(h_write_file(routes, text, 0600) == KR_OK, "write routes");
    h_broker_set(&s_c, "routes", routes);
    h_broker_start(&s_c);
    s_vl = h_org_add(&s_c, "vl", S_VL, "verloskunde", "Praktijk De Wieg");
    s_jgz = h_org_add(&s_c, "jgz", S_JGZ, "jgz", "JGZ Utrecht");
    s_coord = h_org_add(&s_c, "coord", S_COORD, "coordinator", "Coalitie");
    s_wt = h_org_add(&s_c, "wt", S_WT, "wijkteam", "Wijkteam Noord");
    int nodes[] = {s_vl, s_jgz, s_coord, s_wt};
    for (size_t i = 0; i < 4; i++)
        h_node_start(&s_c, nodes[i]);
    for (size_t i = 0; i < 4; i++)
        if (!h_node_wait_connected(&s_c, nodes[i], H_CONNECT_MS))
            h_abort();
    s_bad_input();
    s_client_match();
    s_kill9();
    s_withdraw_expire();
    s_family();
    s_family_late();
    s_krctl();
    s_erasure();
    s_erasure_scan();
    s_erasure_pending();
    return h_finish(&s_c);
}
