/*
 * test_referral.c - a referral's life through the real daemons: the
 * closed loop (referral, received, accepted, in-progress, completed with
 * an outcome) with the broker's record after each step; statuses by the
 * wrong party, on a cancelled referral, out of range, without their
 * codes; a cancellation request after in-progress confirmed by the
 * performer; a REFERRAL reusing a referral_id with other parties; a
 * SUPPLEMENT to a closed referral; a message outside every route; a
 * routes file with a bad line; `krctl routes`. Then the timers of a route
 * with timers of one to five seconds: escalations to the placer, then to
 * the coordinator, none after the referral moved on, and exactly one
 * across a kill -9 of the broker at the moment a timer is due.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"
#include "workdays.h"

#define S_VL "ura:00001234"
#define S_JGZ "ura:00005678"
#define S_JGZ2 "ura:00005679"
#define S_COORD "ura:00009999"
#define S_WT "oin:00000001000000000001"

static struct h_cluster s_c;
static int s_vl, s_jgz, s_coord, s_wt;
static struct h_referral s_ref;
static uint8_t s_cid_phb[16]; /* the consent for prenataal-huisbezoek */

/* One message through a node: a referral, a status or a follow-up. */
struct s_msg {
    int type;
    const char *to;
    const uint8_t *referral_id; /* 16 bytes or NULL */
    const uint8_t *case_id;     /* 16 bytes or NULL */
    const char *purpose;        /* NULL: prenataal-huisbezoek */
    const char *status;         /* REFERRAL_STATUS: a name, sealed */
    const char *reason;
    const char *outcome;
    int raw_task_status; /* set in clear as given (bad input) */
};

static int
s_send(kr_client_t *kc, const struct s_msg *m, uint8_t msg_id[16])
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__ReferralStatus rs = KR__V1__REFERRAL_STATUS__INIT;
    uint8_t *content = NULL, *buf = NULL;
    size_t clen = 0, len;
    int rc;

    s.type = m->type;
    s.recipient = (char *)m->to;
    s.purpose = (char *)(m->purpose ? m->purpose : "prenataal-huisbezoek");
    s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.priority = KR__V1__PRIORITY__ROUTINE;
    if (m->referral_id != NULL)
        s.referral_id = (ProtobufCBinaryData){16, (uint8_t *)m->referral_id};
    if (m->case_id != NULL)
        s.case_id = (ProtobufCBinaryData){16, (uint8_t *)m->case_id};
    c.version = KR__V1__VERSION__VERSION_1;
    if (m->type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        if ((rc = h_content_pack(&s_ref, &content, &clen)) != KR_OK)
            return rc;
        s.subject_bsn = (char *)s_ref.bsn;
    } else {
        if (m->type == KR__V1__MESSAGE_TYPE__REFERRAL_STATUS) {
            rs.status = (char *)(m->status ? m->status : "");
            rs.status_reason = (char *)(m->reason ? m->reason : "");
            rs.outcome = (char *)(m->outcome ? m->outcome : "");
            rs.note = "Fictief: de verpleegkundige belt eerst.";
            c.body_case = KR__V1__CONTENT__BODY_REFERRAL_STATUS;
            c.referral_status = &rs;
            s.task_status = m->raw_task_status;
        } else {
            c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
            c.opaque = (ProtobufCBinaryData){5, (uint8_t *)"extra"};
            s.subject_bsn = (char *)s_ref.bsn;
        }
        clen = kr__v1__content__get_packed_size(&c);
        content = malloc(clen);
        kr__v1__content__pack(&c, content);
    }
    s.content = (ProtobufCBinaryData){clen, content};
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    req.send = &s;
    len = kr__v1__local_request__get_packed_size(&req);
    buf = malloc(len);
    kr__v1__local_request__pack(&req, buf);
    rc = kr_send(kc, buf, len, msg_id);
    free(buf);
    free(content);
    return rc;
}

/* A sent message's fate as its sender's outbox tells it. */
struct s_fate {
    const uint8_t *id;
    int outcome, reason;
    char detail[256];
    uint8_t referral_id[16];
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
    if (it->referral_id.len == 16)
        memcpy(f->referral_id, it->referral_id.data, 16);
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

/* Send and wait for delivered or refused; the fate. */
static struct s_fate
s_do(int node, const struct s_msg *m, uint8_t msg_id[16])
{
    kr_client_t *kc = h_node_client(&s_c, node);
    struct s_fate f = {.id = msg_id, .outcome = -1};
    bool ok;

    int rc = s_send(kc, m, msg_id);
    H_REQUIRE(rc == KR_OK, "the node takes the message (%s)", kr_strerror(rc));
    H_POLL(ok, 20000, s_final(kc, &f));
    H_REQUIRE(ok, "the message ends delivered or refused (outcome %d)",
              f.outcome);
    return f;
}

static struct s_fate
s_status(int node, const char *to, const uint8_t rid[16], const char *status,
         const char *reason, const char *outcome)
{
    uint8_t id[16];
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__REFERRAL_STATUS,
                      .to = to,
                      .referral_id = rid,
                      .status = status,
                      .reason = reason,
                      .outcome = outcome};
    return s_do(node, &m, id);
}

/* `krctl referral show ID --json` at the broker, parsed (NULL if none). */
static json_object *
s_broker_referral(const uint8_t rid[16])
{
    struct h_run r;
    char hex[33];

    h_krctl(&r, "--admin", s_c.admin, "referral", "show", h_hex16(rid, hex),
            "--json", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    h_run_free(&r);
    return o;
}

static const char *
s_broker_state(const uint8_t rid[16], char *buf, size_t len)
{
    json_object *o = s_broker_referral(rid);
    const char *s = o ? h_json_str(o, "state") : NULL;

    snprintf(buf, len, "%s", s ? s : "(none)");
    json_object_put(o);
    return buf;
}

/* The referral's state as a node keeps it (`krctl --node ... referral
 * show --json`), into buf ("(none)" if it has none). */
static const char *
s_node_state(int node, const uint8_t rid[16], char *buf, size_t len)
{
    struct h_run r;
    char hex[33];

    h_krctl(&r, "--node", s_c.nodes[node].local, "referral", "show",
            h_hex16(rid, hex), "--json", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    const char *st = o ? h_json_str(o, "state") : NULL;
    snprintf(buf, len, "%s", st ? st : "(none)");
    json_object_put(o);
    h_run_free(&r);
    return buf;
}

static void
s_expect_state(const uint8_t rid[16], const char *want, size_t history,
               const char *what)
{
    char a[32] = "", b[32] = "";
    bool same;

    /* Both nodes keep the same state: the sender's from the broker's
     * ACCEPTED, the recipient's from the delivery (and notices, which may
     * still be on their way: hence the wait). */
    H_POLL(same, 10000,
           strcmp(s_node_state(s_vl, rid, a, sizeof(a)), want) == 0 &&
               strcmp(s_node_state(s_jgz, rid, b, sizeof(b)), want) == 0);
    H_CHECK(same, "%s: both nodes say %s (vl %s, jgz %s)", what, want, a, b);
    json_object *o = s_broker_referral(rid);
    const char *st = o ? h_json_str(o, "state") : NULL;
    json_object *h = o ? h_json_path(o, "history") : NULL;
    size_t n = h ? json_object_array_length(h) : 0;

    H_CHECK(st != NULL && strcmp(st, want) == 0 && n == history,
            "%s: the broker's record says %s with %zu steps (%s, %zu)", what,
            want, history, st ? st : "none", n);
    json_object_put(o);
}

static void
s_expect_refused(struct s_fate f, int reason, const char *what)
{
    H_CHECK(f.outcome == KR__V1__OUTCOME__REFUSED && f.reason == reason,
            "%s: refused, reason %d (outcome %d, reason %d: %s)", what, reason,
            f.outcome, f.reason, f.detail);
}

static void
s_consents(void)
{
    static const char *const purposes[] = {
        "prenataal-huisbezoek", "nu-niet-zwanger", "opvoedondersteuning",
        "overdracht-jgz"};
    uint64_t now = util_now_ms();

    for (size_t i = 0; i < 4; i++) {
        struct h_consent g = {0};
        uint8_t msg_id[16];
        bool ok;
        g.recipient = S_JGZ;
        g.bsn = s_ref.bsn;
        g.purpose = purposes[i];
        g.from_org = S_VL;
        g.to_category = KR__V1__ORG_CATEGORY__JGZ;
        g.from_ms = now - 3600000;
        g.until_ms = now + 365ull * 86400000;
        H_REQUIRE(h_send_consent(h_node_client(&s_c, s_vl), &g,
                                 i == 0 ? s_cid_phb : NULL, msg_id) == KR_OK,
                  "consent for %s", purposes[i]);
        H_POLL(ok, 20000,
               h_outcome(h_node_client(&s_c, s_vl), msg_id) >=
                   KR__V1__OUTCOME__ACCEPTED);
        H_REQUIRE(ok, "the broker accepts the consent for %s", purposes[i]);
    }
}

/* A new referral from vl to 'to' under 'purpose': its referral_id. */
static struct s_fate
s_open(const char *to, const char *purpose, uint8_t rid[16])
{
    uint8_t id[16];
    struct s_msg m = {
        .type = KR__V1__MESSAGE_TYPE__REFERRAL, .to = to, .purpose = purpose};
    struct s_fate f = s_do(s_vl, &m, id);
    memcpy(rid, f.referral_id, 16);
    return f;
}

static void
s_closed_loop(void)
{
    uint8_t rid[16];
    struct s_fate f;

    h_note("== the closed loop");
    f = s_open(S_JGZ, NULL, rid);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the referral is delivered (%d %s)", f.outcome, f.detail);
    s_expect_state(rid, "requested", 1, "opened");
    static const char *const steps[] = {"received", "accepted", "in-progress"};
    for (size_t i = 0; i < 3; i++) {
        f = s_status(s_jgz, S_VL, rid, steps[i], NULL, NULL);
        H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
                "JGZ sets %s: delivered (%d %s)", steps[i], f.outcome,
                f.detail);
        s_expect_state(rid, steps[i], i + 2, steps[i]);
    }
    /* completed needs an outcome from its list. */
    f = s_status(s_jgz, S_VL, rid, "completed", NULL, NULL);
    s_expect_refused(f, KR__V1__REASON__BAD_OUTCOME, "completed, no outcome");
    f = s_status(s_jgz, S_VL, rid, "completed", NULL, "went-well");
    s_expect_refused(f, KR__V1__REASON__BAD_OUTCOME,
                     "completed, an outcome not in the list");
    s_expect_state(rid, "in-progress", 4, "after the refusals, unchanged");
    /* The wrong party: the placer cannot complete. */
    f = s_status(s_vl, S_JGZ, rid, "completed", NULL, "visit-done");
    s_expect_refused(f, KR__V1__REASON__NOT_REFERRAL_PARTY,
                     "the placer sets completed");
    f = s_status(s_jgz, S_VL, rid, "completed", NULL, "visit-done");
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ sets completed, outcome visit-done: delivered (%s)", f.detail);
    s_expect_state(rid, "completed", 5, "completed");
    json_object *o = s_broker_referral(rid);
    const char *oc = o ? h_json_str(o, "outcome") : NULL;
    H_CHECK(oc != NULL && strcmp(oc, "visit-done") == 0,
            "the broker's record keeps the outcome visit-done");
    H_CHECK(o != NULL && h_json_str(o, "placer") != NULL &&
                strcmp(h_json_str(o, "placer"), S_VL) == 0 &&
                strcmp(h_json_str(o, "performer"), S_JGZ) == 0,
            "placer and performer as sent");
    json_object_put(o);
    /* A SUPPLEMENT to a closed referral. */
    uint8_t id[16];
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__SUPPLEMENT,
                      .to = S_JGZ,
                      .referral_id = rid};
    f = s_do(s_vl, &m, id);
    s_expect_refused(f, KR__V1__REASON__REFERRAL_CLOSED,
                     "a supplement to a completed referral");
    /* Another organisation's status on it. */
    f = s_status(s_wt, S_JGZ, rid, "received", NULL, NULL);
    s_expect_refused(f, KR__V1__REASON__NOT_REFERRAL_PARTY,
                     "a wijkteam's status on someone else's referral");
    s_expect_state(rid, "completed", 5, "nothing changed by the refusals");
}

static void
s_cancelling(void)
{
    uint8_t rid[16], rid2[16], id[16];
    struct s_fate f;

    h_note("== cancelling, before and after work started");
    s_open(S_JGZ, NULL, rid);
    f = s_status(s_jgz, S_VL, rid, "received", NULL, NULL);
    /* A supplement on the open referral passes, both ways. */
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__SUPPLEMENT,
                      .to = S_JGZ,
                      .referral_id = rid};
    f = s_do(s_vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "a supplement on the open referral is delivered (%s)", f.detail);
    m.type = KR__V1__MESSAGE_TYPE__COMMUNICATION;
    m.to = S_VL;
    f = s_do(s_jgz, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "a communication back on it is delivered (%s)", f.detail);
    f = s_status(s_vl, S_JGZ, rid, "cancelled", NULL, NULL);
    s_expect_refused(f, KR__V1__REASON__BAD_STATUS_REASON,
                     "cancelled without a reason");
    f = s_status(s_vl, S_JGZ, rid, "cancelled", "no-longer-needed", NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the placer cancels before work started (%s)", f.detail);
    s_expect_state(rid, "cancelled", 3, "cancelled");
    f = s_status(s_jgz, S_VL, rid, "accepted", NULL, NULL);
    s_expect_refused(f, KR__V1__REASON__REFERRAL_CLOSED,
                     "a status on a cancelled referral");
    s_expect_state(rid, "cancelled", 3, "still cancelled");

    /* After in-progress: a request, confirmed by the performer. */
    s_open(S_JGZ, NULL, rid2);
    s_status(s_jgz, S_VL, rid2, "accepted", NULL, NULL);
    s_status(s_jgz, S_VL, rid2, "in-progress", NULL, NULL);
    f = s_status(s_vl, S_JGZ, rid2, "cancelled", "no-longer-needed", NULL);
    s_expect_refused(f, KR__V1__REASON__BAD_TRANSITION,
                     "the placer cancels outright after in-progress");
    f = s_status(s_jgz, S_VL, rid2, "cancel-confirmed", NULL, NULL);
    s_expect_refused(f, KR__V1__REASON__NO_CANCEL_REQUEST,
                     "a confirmation without a request");
    f = s_status(s_vl, S_JGZ, rid2, "cancel-requested", "entered-elsewhere",
                 NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the placer asks to cancel (%s)", f.detail);
    json_object *o = s_broker_referral(rid2);
    json_object *cp = o ? h_json_path(o, "cancel_pending") : NULL;
    H_CHECK(cp != NULL && json_object_get_boolean(cp) &&
                strcmp(h_json_str(o, "state"), "in-progress") == 0,
            "the broker: still in-progress, a cancellation request open");
    json_object_put(o);
    f = s_status(s_vl, S_JGZ, rid2, "cancel-requested", "other", NULL);
    s_expect_refused(f, KR__V1__REASON__BAD_TRANSITION,
                     "a second request while one is open");
    f = s_status(s_jgz, S_VL, rid2, "cancel-confirmed", NULL, NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the performer confirms (%s)", f.detail);
    s_expect_state(rid2, "cancelled", 5, "cancelled on confirmation");
    o = s_broker_referral(rid2);
    const char *reason = o ? h_json_str(o, "reason") : NULL;
    H_CHECK(reason != NULL && strcmp(reason, "entered-elsewhere") == 0,
            "the cancelled referral keeps the request's reason");
    json_object_put(o);
}

static void
s_bad_input(void)
{
    uint8_t rid[16], id[16], unknown[16];
    struct s_fate f;
    struct h_run r;

    h_note("== bad input");
    s_open(S_JGZ, NULL, rid);
    /* A status code out of range, in clear. */
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__REFERRAL_STATUS,
                      .to = S_VL,
                      .referral_id = rid,
                      .status = "received",
                      .raw_task_status = 42};
    f = s_do(s_jgz, &m, id);
    s_expect_refused(f, KR__V1__REASON__BAD_STATUS, "task_status 42");
    H_CHECK(strstr(f.detail, "42") != NULL, "the refusal names the code (%s)",
            f.detail);
    /* A status for an unknown referral. */
    util_random_id(unknown);
    f = s_status(s_jgz, S_VL, unknown, "received", NULL, NULL);
    s_expect_refused(f, KR__V1__REASON__UNKNOWN_REFERRAL,
                     "a status for an unknown referral");
    /* A REFERRAL that reuses the referral_id towards another party. */
    m = (struct s_msg){.type = KR__V1__MESSAGE_TYPE__REFERRAL,
                       .to = S_JGZ2,
                       .referral_id = rid};
    f = s_do(s_vl, &m, id);
    s_expect_refused(f, KR__V1__REASON__REFERRAL_CONFLICT,
                     "a referral reusing a referral_id with other parties");
    /* Outside every route: a purpose the routes file does not name, and
     * a route's purpose towards a category it does not allow. */
    uint8_t rid3[16];
    f = s_open(S_JGZ, "opvoedondersteuning", rid3);
    s_expect_refused(f, KR__V1__REASON__NO_ROUTE, "a purpose without route");
    H_CHECK(strstr(f.detail, "opvoedondersteuning") != NULL,
            "the refusal names the purpose (%s)", f.detail);
    char st[32];
    s_expect_state(rid, "requested", 1, "nothing changed by the refusals");
    H_CHECK(strcmp(s_broker_state(rid3, st, sizeof(st)), "(none)") == 0,
            "no record for the refused referral");

    /* krctl routes. */
    h_krctl(&r, "--admin", s_c.admin, "routes", "--json", NULL);
    json_object *o = json_tokener_parse(r.out);
    json_object *routes = o ? h_json_path(o, "routes") : NULL;
    H_CHECK(r.code == 0 && routes != NULL &&
                json_object_array_length(routes) == 3 &&
                strcmp(h_json_str(o, "routes.0.purpose"),
                       "prenataal-huisbezoek") == 0 &&
                strcmp(h_json_str(o, "routes.1.t_ack"), "2 seconds") == 0 &&
                strcmp(h_json_str(o, "routes.0.coordinator"), S_COORD) == 0,
            "krctl routes --json: both routes, their timers and coordinator "
            "(exit %d)",
            r.code);
    json_object_put(o);
    h_run_free(&r);

    /* A routes file with a bad line: the broker does not start, and says
     * which line. */
    char bad[H_PATH + 32], dir[H_PATH + 32], keys[H_PATH + 32];
    char arg_routes[H_PATH + 64], arg_dir[H_PATH + 64], arg_keys[H_PATH + 64];
    snprintf(bad, sizeof(bad), "%s/bad-routes.ini", s_c.tmp);
    snprintf(dir, sizeof(dir), "%s/broker-bad", s_c.tmp);
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
             h_secret_path(s_c.broker_keys, keys, sizeof(keys)));
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
static int
s_time_parse(const char *s, uint64_t *ms)
{
    int y, mo, d, h, mi, sec, frac = 0, n = 0;

    if (sscanf(s, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return -1;
    if (s[n] == '.')
        frac = (int)strtol(s + n + 1, NULL, 10);
    *ms = ((uint64_t)workdays_days_from_civil(y, mo, d) * 86400 +
           (uint64_t)h * 3600 + (uint64_t)mi * 60 + (uint64_t)sec) *
              1000 +
          (uint64_t)frac;
    return 0;
}

/* Escalation notices in a node's inbox for one referral. */
struct s_esc {
    const uint8_t *rid;
    int n, by_step[8];
};

static int
s_esc_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_esc *e = arg;
    const Kr__V1__Notice *nt = it->notice;

    if (nt == NULL || nt->kind != KR__V1__NOTICE_KIND__NOTICE_ESCALATION ||
        nt->referral_id.len != 16 || memcmp(nt->referral_id.data, e->rid, 16))
        return 0;
    e->n++;
    if (nt->step < 8)
        e->by_step[nt->step]++;
    return 0;
}

static struct s_esc
s_escalations(int node, const uint8_t rid[16])
{
    struct s_esc e = {.rid = rid};

    h_inbox_foreach_all(h_node_client(&s_c, node), s_esc_cb, &e);
    return e;
}

static void
s_timers(void)
{
    uint8_t r2[16], r4[16], r5[16], r6[16];
    struct s_esc e = {0}, ec = {0};
    struct s_fate f;
    bool ok;

    h_note("== timers: a route with timers of seconds");
    /* R4 moves on at once: its timers stop. */
    s_open(S_JGZ, "nu-niet-zwanger", r4);
    f = s_status(s_vl, S_JGZ, r4, "cancelled", "no-longer-needed", NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "R4 cancelled at once");
    json_object *o = s_broker_referral(r4);
    json_object *t = o ? h_json_path(o, "timers") : NULL;
    H_CHECK(t != NULL && json_object_array_length(t) == 0,
            "R4: no timer left pending once it moved on");
    json_object_put(o);

    /* R2: nobody answers. ack (2 s) and decide (3 s) to the placer, decide
     * at 4 s to the placer and the coordinator. */
    s_open(S_JGZ, "nu-niet-zwanger", r2);
    H_POLL(ok, 20000,
           (e = s_escalations(s_vl, r2)).by_step[1] == 1 && e.by_step[2] == 1 &&
               e.by_step[3] == 1 &&
               (ec = s_escalations(s_coord, r2)).by_step[3] == 1);
    H_CHECK(ok,
            "R2: the placer is told of ack, decide, decide again, and the "
            "coordinator of the last (vl %d/%d/%d, coordinator %d)",
            e.by_step[1], e.by_step[2], e.by_step[3], ec.by_step[3]);
    H_CHECK(ec.n == 1, "the coordinator got one escalation (%d)", ec.n);
    /* Accepted: T_contact (1 s) runs, then in-progress stops it. */
    s_status(s_jgz, S_VL, r2, "accepted", NULL, NULL);
    H_POLL(ok, 20000, s_escalations(s_vl, r2).by_step[4] == 1);
    H_CHECK(ok, "R2 accepted and not started: the placer is told (contact)");
    s_status(s_jgz, S_VL, r2, "in-progress", NULL, NULL);
    o = s_broker_referral(r2);
    H_CHECK(o != NULL &&
                json_object_get_int(h_json_path(o, "escalations")) == 4 &&
                json_object_array_length(h_json_path(o, "timers")) == 0,
            "the broker counts R2's 4 escalations, none pending");
    json_object_put(o);

    /* R5 escalates later than anything of R4 could have: once its
     * coordinator step came, R4 would have had all of its. */
    s_open(S_JGZ, "nu-niet-zwanger", r5);
    H_POLL(ok, 20000, s_escalations(s_coord, r5).by_step[3] == 1);
    H_CHECK(ok, "R5 escalates to the coordinator");
    e = s_escalations(s_vl, r4);
    H_CHECK(e.n == 0, "R4, moved on, never escalated (%d)", e.n);
    e = s_escalations(s_vl, r2);
    H_CHECK(e.n == 4, "R2 escalated 4 times in all, not again (%d)", e.n);
    s_status(s_vl, S_JGZ, r5, "entered-in-error", NULL, NULL);

    /* R6: the broker is killed when its ack timer is due, and started
     * again: the escalation comes, once. */
    h_note("== a kill -9 at the moment a timer is due");
    f = s_open(S_JGZ, "nu-niet-zwanger", r6);
    o = s_broker_referral(r6);
    const char *opened = o ? h_json_str(o, "timers.0.due") : NULL;
    uint64_t due = 0;
    H_REQUIRE(opened != NULL && s_time_parse(opened, &due) == 0,
              "R6's first timer has a due time");
    json_object_put(o);
    for (int i = 0; i < 100000 && util_now_ms() < due; i++)
        h_sleep_ms(1);
    h_broker_kill9(&s_c);
    h_broker_start(&s_c);
    H_POLL(ok, 30000, s_escalations(s_vl, r6).by_step[3] == 1);
    H_CHECK(ok, "after the restart R6's escalations come");
    e = s_escalations(s_vl, r6);
    H_CHECK(e.by_step[1] == 1 && e.by_step[2] == 1 && e.by_step[3] == 1,
            "each of R6's steps came exactly once (ack %d, decide %d, %d)",
            e.by_step[1], e.by_step[2], e.by_step[3]);
    /* The placer's node lists it as overdue, and counts what it got. */
    struct h_run r;
    char hex[33];
    h_krctl(&r, "--node", s_c.nodes[s_vl].local, "referrals", "--overdue",
            "--json", NULL);
    o = json_tokener_parse(r.out);
    bool found = false;
    for (size_t i = 0; o != NULL && json_object_is_type(o, json_type_array) &&
                       i < json_object_array_length(o);
         i++) {
        json_object *it = json_object_array_get_idx(o, i);
        const char *id = h_json_str(it, "referral_id");
        if (id != NULL && strcmp(id, h_hex16(r6, hex)) == 0 &&
            json_object_get_int(h_json_path(it, "escalations")) == 3)
            found = true;
        if (id != NULL && strcmp(id, h_hex16(r4, hex)) == 0)
            found = false; /* R4 never escalated: never overdue */
    }
    H_CHECK(r.code == 0 && found,
            "krctl --node referrals --overdue: R6 with its 3 escalations "
            "(exit %d)",
            r.code);
    json_object_put(o);
    h_run_free(&r);
}

/* Notices of a kind about one referral in a node's inbox. */
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

    h_inbox_foreach_all(h_node_client(&s_c, node), s_kind_cb, &k);
    return k.n;
}

static void
s_revoke(void)
{
    uint8_t ra[16], rb[16], id[16];
    struct s_fate f;
    bool ok;

    h_note("== a revoked consent and the referrals under it");
    s_open(S_JGZ, NULL, ra);
    s_status(s_jgz, S_VL, ra, "accepted", NULL, NULL);
    s_open(S_JGZ, NULL, rb);
    s_status(s_jgz, S_VL, rb, "accepted", NULL, NULL);
    s_status(s_jgz, S_VL, rb, "in-progress", NULL, NULL);
    H_REQUIRE(h_send_revoke(h_node_client(&s_c, s_vl), S_JGZ, s_cid_phb, id) ==
                  KR_OK,
              "the practice revokes the consent");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&s_c, s_vl), id) ==
               KR__V1__OUTCOME__DELIVERED);
    H_CHECK(ok, "the revoke is delivered");
    json_object *o = s_broker_referral(ra);
    H_CHECK(o != NULL && strcmp(h_json_str(o, "state"), "cancelled") == 0 &&
                strcmp(h_json_str(o, "reason"), "consent-revoked") == 0,
            "the accepted referral that had not started: cancelled, "
            "consent-revoked");
    json_object_put(o);
    o = s_broker_referral(rb);
    H_CHECK(o != NULL && strcmp(h_json_str(o, "state"), "in-progress") == 0 &&
                json_object_get_boolean(h_json_path(o, "cancel_pending")),
            "the one in progress: still in progress, a cancellation request "
            "open");
    json_object_put(o);
    H_POLL(ok, 20000,
           s_notices(s_vl, ra,
                     KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED) == 1 &&
               s_notices(s_jgz, ra,
                         KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED) == 1 &&
               s_notices(s_jgz, rb,
                         KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST) == 1);
    H_CHECK(ok, "both parties are told of the cancellation, the performer "
                "of the request");
    H_CHECK(s_notices(s_vl, rb, KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST) ==
                0,
            "the placer gets no cancellation request");
    f = s_status(s_jgz, S_VL, rb, "cancel-confirmed", NULL, NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the performer confirms the cancellation (%s)", f.detail);
    s_expect_state(rb, "cancelled", 5, "cancelled on confirmation");
}

static void
s_handover(void)
{
    uint8_t c1[16], c2[16], id[16], h2[16];
    struct s_esc e = {0}, ec = {0};
    struct s_fate f;
    bool ok;

    h_note("== birth and handover: T_handover after a SUBJECT_LINK");
    util_time_ordered_id(c2);
    util_time_ordered_id(c1);
    /* C2: the link, then a HANDOVER that JGZ accepts at once (well
     * within the 8 seconds of the test route's first step, also in a
     * sanitizer build on a loaded machine: 3 seconds were not). C1 comes after
     * it: once C1 has escalated at its last step, C2 would have had all of its.
     */
    struct s_msg m = {.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK,
                      .to = S_JGZ,
                      .purpose = "overdracht-jgz",
                      .case_id = c2};
    f = s_do(s_vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the subject link of case C2 is delivered (%s)", f.detail);
    m.type = KR__V1__MESSAGE_TYPE__HANDOVER;
    f = s_do(s_vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the handover of case C2 is delivered (%s)", f.detail);
    memcpy(h2, f.referral_id, 16);
    s_expect_state(h2, "requested", 1, "the handover is a referral");
    f = s_status(s_jgz, S_VL, h2, "accepted", NULL, NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "JGZ accepts it");
    json_object *o = s_broker_referral(c2);
    H_CHECK(o != NULL && strcmp(h_json_str(o, "state"), "completed") == 0 &&
                json_object_array_length(h_json_path(o, "timers")) == 0,
            "C2's watch is completed, no timer pending");
    json_object_put(o);
    /* C1: a link and no handover. */
    m = (struct s_msg){.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK,
                       .to = S_JGZ,
                       .purpose = "overdracht-jgz",
                       .case_id = c1};
    f = s_do(s_vl, &m, id);
    H_POLL(ok, 20000,
           (e = s_escalations(s_vl, c1)).by_step[5] == 1 && e.by_step[6] == 1 &&
               e.by_step[7] == 1 &&
               (ec = s_escalations(s_coord, c1)).by_step[7] == 1);
    H_CHECK(ok,
            "C1 without a handover: the link's sender is told three times, "
            "the coordinator at the last (vl %d/%d/%d, coordinator %d)",
            e.by_step[5], e.by_step[6], e.by_step[7], ec.by_step[7]);
    e = s_escalations(s_vl, c2);
    H_CHECK(e.n == 0, "C2, handed over, stayed quiet (%d)", e.n);
    /* A link without its case is refused. */
    m.case_id = NULL;
    f = s_do(s_vl, &m, id);
    s_expect_refused(f, KR__V1__REASON__MISSING_FIELD,
                     "a subject link without case_id");
}

int
main(void)
{
    char routes[H_PATH + 32], text[1024];

    h_init("referral", 240);
    h_referral_default(&s_ref);
    h_cluster_init(&s_c, "referral");
    snprintf(routes, sizeof(routes), "%s/routes.ini", s_c.tmp);
    snprintf(text, sizeof(text),
             "# routes of a test coalition\n"
             "[route prenataal-huisbezoek]\n"
             "from = verloskunde\n"
             "to = jgz\n"
             "data_category = medisch\n"
             "coordinator = %s\n"
             "\n"
             "[route nu-niet-zwanger]\n"
             "from = verloskunde\n"
             "to = jgz\n"
             "coordinator = %s\n"
             "t_ack = 2 seconds\n"
             "t_decide = 3 seconds, 4 seconds\n"
             "t_contact = 1 second\n"
             "\n"
             "[route overdracht-jgz]\n"
             "from = verloskunde\n"
             "to = jgz\n"
             "coordinator = %s\n"
             "t_handover = 8 seconds, 9 seconds, 10 seconds\n",
             S_COORD, S_COORD, S_COORD);
    H_REQUIRE(h_write_file(routes, text, 0600) == KR_OK, "write routes");
    h_broker_set(&s_c, "routes", routes);
    h_broker_start(&s_c);
    s_vl = h_org_add(&s_c, "vl", S_VL, "verloskunde", "Praktijk De Wieg");
    s_jgz = h_org_add(&s_c, "jgz", S_JGZ, "jgz", "JGZ Utrecht");
    h_org_add(&s_c, "jgz2", S_JGZ2, "jgz", "JGZ Elders");
    s_coord = h_org_add(&s_c, "coord", S_COORD, "coordinator", "Coalitie");
    s_wt = h_org_add(&s_c, "wt", S_WT, "wijkteam", "Wijkteam Noord");
    int nodes[] = {s_vl, s_jgz, s_coord, s_wt};
    for (size_t i = 0; i < 4; i++)
        h_node_start(&s_c, nodes[i]);
    for (size_t i = 0; i < 4; i++)
        if (!h_node_wait_connected(&s_c, nodes[i], H_CONNECT_MS))
            h_abort();
    s_consents();
    s_closed_loop();
    s_cancelling();
    s_bad_input();
    s_timers();
    s_handover();
    s_revoke();
    return h_finish(&s_c);
}
