/*
 * test_signals.c - signals and matches through the real daemons: two
 * organisations signal one subject and each gets one NOTICE_MATCH (and the
 * route's coordinator one), exactly once, also with the broker killed -9
 * while the second signal is on its way; different subjects never match;
 * a signal signalled again changes nothing; a withdrawn signal and one
 * past its lifetime (a route of three seconds) no longer match; a family
 * match of a mother and her child linked by SUBJECT_LINK; bad input: a
 * signal without a route, one addressed to another organisation, one on a
 * consent route without consent, a withdrawal of another organisation's
 * signal and of an unknown one, each refused with its reason.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
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
    s_krctl();
    s_erasure();
    return h_finish(&s_c);
}
