/*
 * test_consent.c - the consent gate and ledger through the real daemons.
 *
 * 1. Deny by default: a referral without consent is refused (no-consent);
 *    with a covering consent it is delivered; under a consent whose period
 *    ended it is refused; and a consent whose period ends while a referral
 *    waits for an offline recipient stops it at delivery (withdrawn).
 * 2. A revoke withdraws what waits: 200 referrals queued for an offline
 *    JGZ, then the consent revoked; none is delivered, each sender sees one
 *    withdrawn outcome per message, and the ciphertexts are gone from the
 *    broker's LMDB file while the metadata stays (state withdrawn).
 * 3. A revoke racing deliveries: every message ends delivered or withdrawn,
 *    exactly once; no delivery is audited after the revoke's commit; JGZ
 *    gets a notice listing what it received under the consent.
 * 4. Meldrecht: towards Veilig Thuis with a justification it passes without
 *    consent (audited noodknop); towards JGZ, or without a justification,
 *    it is refused (by the node, and by the broker for a raw envelope).
 * 5. Malformed consent messages are refused with the reason and a detail
 *    that says what is wrong.
 * 6. A grant whose envelope names another subject, key version or purpose
 *    than its scope (or none) is refused invalid-scope and records
 *    nothing; the consent.granted record of one that agrees names the
 *    scope's subject, purpose and category.
 *
 * Each part uses a subject (BSN) of its own, so that the consents of one
 * part cannot cover the referrals of another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sodium.h>

#include "harness.h"
#include "names.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_VT_ORG "ura:00009876"
#define S_WT_ORG "ura:00004321"
#define S_TESTER_ORG "ura:00009999"
#define S_BULK 200
#define S_DAY_MS (24 * 3600 * 1000ull)
#define S_FINAL_MS 20000

struct s_test {
    struct h_cluster c;
    int vl, jgz, vt, wt, tester;
    char tester_secret[H_PATH + 32];
    char broker_public[H_PATH + 32];
    /* Part 3: the sender process hands these over in order. */
    uint8_t ids[S_BULK][16];
    char bsn[10];
};

static struct s_test t;

/*
 * Sending.
 */

struct s_send {
    int type;           /* 0: REFERRAL */
    const char *to;     /* recipient org */
    const char *bsn;    /* subject */
    int legal_basis;    /* 0: CONSENT */
    const char *justif; /* Content.justification, or NULL */
    const char *text;   /* reason_text, or NULL */
    const uint8_t *msg_id_in;
};

/* The harness's referral, with the subject, text and justification asked
 * for. *out is malloc'd. */
static int
s_content(const struct s_send *s, uint8_t **out, size_t *len)
{
    struct h_referral r;
    Kr__V1__Content *c;
    uint8_t *plain = NULL;
    size_t plen = 0;
    int rc;

    h_referral_default(&r);
    if (s->bsn != NULL)
        r.bsn = s->bsn;
    if (s->text != NULL)
        r.reason_text = s->text;
    if ((rc = h_content_pack(&r, &plain, &plen)) != KR_OK)
        return rc;
    if (s->justif == NULL) {
        *out = plain;
        *len = plen;
        return KR_OK;
    }
    c = kr__v1__content__unpack(NULL, plen, plain);
    free(plain);
    if (c == NULL)
        return KR_EPROTO;
    char *keep = c->justification;
    c->justification = (char *)s->justif;
    *len = kr__v1__content__get_packed_size(c);
    *out = malloc(*len);
    if (*out != NULL)
        kr__v1__content__pack(c, *out);
    c->justification = keep;
    kr__v1__content__free_unpacked(c, NULL);
    return *out != NULL ? KR_OK : KR_ENOMEM;
}

/* A send through libkr as an adapter would make it. */
static int
s_send(kr_client_t *kc, const struct s_send *s, uint8_t msg_id[16])
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__SendRequest sr = KR__V1__SEND_REQUEST__INIT;
    uint8_t *content = NULL, *buf = NULL;
    size_t clen = 0, len;
    int rc;

    if ((rc = s_content(s, &content, &clen)) != KR_OK)
        return rc;
    sr.type = s->type ? s->type : KR__V1__MESSAGE_TYPE__REFERRAL;
    sr.recipient = (char *)s->to;
    if (s->msg_id_in != NULL) {
        sr.msg_id.data = (uint8_t *)s->msg_id_in;
        sr.msg_id.len = 16;
    }
    sr.subject_bsn = (char *)s->bsn;
    sr.purpose = (char *)"prenataal-huisbezoek";
    sr.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    sr.legal_basis =
        s->legal_basis ? s->legal_basis : KR__V1__LEGAL_BASIS__CONSENT;
    sr.priority = KR__V1__PRIORITY__ROUTINE;
    sr.content.data = content;
    sr.content.len = clen;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    req.send = &sr;
    len = kr__v1__local_request__get_packed_size(&req);
    if ((buf = malloc(len)) == NULL) {
        free(content);
        return KR_ENOMEM;
    }
    kr__v1__local_request__pack(&req, buf);
    rc = kr_send(kc, buf, len, msg_id);
    free(buf);
    free(content);
    return rc;
}

/* A consent from 'from' to 'to' for 'bsn', valid [from_ms, until_ms]. */
static int
s_grant(int from, int to, const char *bsn, uint64_t from_ms, uint64_t until_ms,
        uint8_t cid[16], uint8_t msg_id[16])
{
    struct h_consent g = {0};

    g.recipient = t.c.nodes[to].org;
    g.bsn = bsn;
    g.from_org = t.c.nodes[from].org;
    g.to_org = t.c.nodes[to].org;
    g.from_ms = from_ms;
    g.until_ms = until_ms;
    return h_send_consent(h_node_client(&t.c, from), &g, cid, msg_id);
}

/*
 * The sender's view: outbox items.
 */

struct s_out {
    const uint8_t *id;
    unsigned n;
    int outcome, reason;
    char detail[256];
};

static int
s_out_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_out *o = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, o->id, 16) == 0) {
        o->n++;
        o->outcome = it->outcome;
        o->reason = it->reason;
        snprintf(o->detail, sizeof(o->detail), "%s",
                 it->detail ? it->detail : "");
    }
    return 0;
}

static bool
s_out_get(int node, const uint8_t id[16], struct s_out *o)
{
    memset(o, 0, sizeof(*o));
    o->id = id;
    o->outcome = -1;
    return h_outbox_foreach_all(h_node_client(&t.c, node), s_out_one, o) ==
               KR_OK &&
           o->n > 0;
}

/* Wait for the message's final outcome (or at least 'atleast'). */
static void
s_wait_outcome(int node, const uint8_t id[16], int atleast, struct s_out *o,
               int timeout_ms)
{
    bool ok;

    H_POLL(ok, timeout_ms, s_out_get(node, id, o) && o->outcome >= atleast);
    if (!ok)
        s_out_get(node, id, o);
}

static const char *
s_oname(int outcome)
{
    return outcome < 0 ? "(none)" : outcome_name(outcome);
}

/* Check a final outcome and its reason, and that the detail says why
 * (contains 'want_detail', if given). */
static void
s_expect(int node, const uint8_t id[16], int outcome, int reason,
         const char *want_detail, const char *what)
{
    struct s_out o;

    s_wait_outcome(node, id, KR__V1__OUTCOME__DELIVERED, &o, S_FINAL_MS);
    H_CHECK(o.n == 1 && o.outcome == outcome && o.reason == reason,
            "%s: the sender sees %s %s (got %s %s, %u items)", what,
            outcome_name(outcome), reason ? reason_name(reason) : "",
            s_oname(o.outcome), reason_name(o.reason), o.n);
    if (want_detail != NULL)
        H_CHECK(strstr(o.detail, want_detail) != NULL,
                "%s: the detail says why: \"%s\" (contains \"%s\")", what,
                o.detail, want_detail);
}

/*
 * The recipient's view.
 */

struct s_in {
    const uint8_t *id;
    unsigned n;
    int legal_basis;
    char justif[256];
};

static int
s_in_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_in *f = arg;

    if (it->msg_id.len != 16 || memcmp(it->msg_id.data, f->id, 16) != 0)
        return 0;
    f->n++;
    f->legal_basis = it->legal_basis;
    Kr__V1__Content *c =
        kr__v1__content__unpack(NULL, it->content.len, it->content.data);
    if (c != NULL) {
        snprintf(f->justif, sizeof(f->justif), "%s",
                 c->justification ? c->justification : "");
        kr__v1__content__free_unpacked(c, NULL);
    }
    return 0;
}

static unsigned
s_in_count(int node, const uint8_t id[16], struct s_in *f)
{
    memset(f, 0, sizeof(*f));
    f->id = id;
    if (h_inbox_foreach_all(h_node_client(&t.c, node), s_in_one, f) != KR_OK)
        return 0;
    return f->n;
}

/*
 * The audit trail, exported.
 */

struct s_aud {
    const uint8_t *msg_id; /* the one message, or NULL */
    const struct h_idset *set;
    const uint8_t *cid;
    /* The one message's first "message.accepted". */
    bool found;
    bool noodknop;
    int legal_basis;
    char check[128];
    /* The set's deliveries and withdrawals, the consent's revoke. */
    uint64_t revoked_seq;
    unsigned revoked_n;
    uint64_t last_delivered_seq;
    struct h_idset delivered, withdrawn;
    size_t records;
};

static bool
s_id_eq(ProtobufCBinaryData d, const uint8_t *id)
{
    return id != NULL && d.len == 16 && memcmp(d.data, id, 16) == 0;
}

static int
s_aud_one(const Kr__V1__AuditRecord *r, void *arg)
{
    struct s_aud *a = arg;

    a->records++;
    if (a->msg_id != NULL && !a->found && s_id_eq(r->msg_id, a->msg_id) &&
        strcmp(r->event, "message.accepted") == 0) {
        a->found = true;
        a->noodknop = r->noodknop;
        a->legal_basis = r->legal_basis;
        snprintf(a->check, sizeof(a->check), "%s", r->check ? r->check : "");
    }
    if (a->cid != NULL && strcmp(r->event, "consent.revoked") == 0 &&
        s_id_eq(r->consent_id, a->cid)) {
        a->revoked_n++;
        a->revoked_seq = r->seq;
    }
    if (a->set != NULL && r->msg_id.len == 16 &&
        h_idset_count(a->set, r->msg_id.data) > 0) {
        if (strcmp(r->event, "message.delivered") == 0) {
            h_idset_add(&a->delivered, r->msg_id.data);
            if (r->seq > a->last_delivered_seq)
                a->last_delivered_seq = r->seq;
        } else if (strcmp(r->event, "message.withdrawn") == 0) {
            h_idset_add(&a->withdrawn, r->msg_id.data);
        }
    }
    return 0;
}

/*
 * Part 1: deny by default, periods, the check again at delivery.
 */

static void
s_part_deny_by_default(void)
{
    char bsn[10], bsn2[10];
    uint8_t id[16], cid[16], gid[16];
    uint64_t now = util_now_ms();
    struct s_in in;
    int rc;

    h_note("== 1. deny by default; a period that ended");
    h_bsn(1, bsn);
    h_bsn(2, bsn2);
    kr_client_t *kv = h_node_client(&t.c, t.vl);
    struct s_send s = {.to = S_JGZ_ORG, .bsn = bsn, .text = "zonder"};

    rc = s_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "the node takes a referral without consent (%s)",
              kr_strerror(rc));
    s_expect(t.vl, id, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__NO_CONSENT,
             "no consent", "no consent");
    H_CHECK(s_in_count(t.jgz, id, &in) == 0,
            "no consent: nothing reached JGZ's inbox");

    rc = s_grant(t.vl, t.jgz, bsn, now - 3600 * 1000ull, now + 30 * S_DAY_MS,
                 cid, gid);
    H_REQUIRE(rc == KR_OK, "record a consent for the subject (%s)",
              kr_strerror(rc));
    s_expect(t.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL,
             "the consent grant");
    s.text = "met toestemming";
    rc = s_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "send under the consent (%s)", kr_strerror(rc));
    s_expect(t.vl, id, KR__V1__OUTCOME__DELIVERED, 0, NULL, "covering consent");
    unsigned n = s_in_count(t.jgz, id, &in);
    H_CHECK(n == 1,
            "covering consent: the referral is in JGZ's inbox once (%u)", n);

    /* A consent of another subject, whose period ended yesterday. */
    rc = s_grant(t.vl, t.jgz, bsn2, now - 30 * S_DAY_MS, now - S_DAY_MS, cid,
                 gid);
    H_REQUIRE(rc == KR_OK, "record a consent that ended a day ago (%s)",
              kr_strerror(rc));
    s_expect(t.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL,
             "the ended consent's grant (a record of the past)");
    s.bsn = bsn2;
    s.text = "verlopen";
    rc = s_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "send under the ended consent (%s)",
              kr_strerror(rc));
    s_expect(t.vl, id, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__NO_CONSENT,
             "period ended", "consent period ended a day ago");
    H_CHECK(s_in_count(t.jgz, id, &in) == 0,
            "ended consent: nothing reached JGZ's inbox");
}

static void
s_part_period_ends_in_queue(void)
{
    char bsn[10];
    uint8_t id[16], cid[16], gid[16];
    struct s_out o;
    struct s_in in;
    bool ok;
    int rc;

    h_note("== 1b. the period ends while the referral waits");
    h_bsn(3, bsn);
    h_node_stop(&t.c, t.jgz);
    uint64_t now = util_now_ms();
    uint64_t until = now + 2500;
    rc = s_grant(t.vl, t.jgz, bsn, now - 3600 * 1000ull, until, cid, gid);
    H_REQUIRE(rc == KR_OK, "record a consent that ends in 2.5 s (%s)",
              kr_strerror(rc));
    struct s_send s = {.to = S_JGZ_ORG, .bsn = bsn, .text = "wacht"};
    rc = s_send(h_node_client(&t.c, t.vl), &s, id);
    H_REQUIRE(rc == KR_OK, "send under it (%s)", kr_strerror(rc));
    s_wait_outcome(t.vl, id, KR__V1__OUTCOME__ACCEPTED, &o, 2000);
    H_CHECK(o.outcome == KR__V1__OUTCOME__ACCEPTED && util_now_ms() <= until,
            "the broker accepts it within the period (got %s %s, %lld ms "
            "before the end)",
            s_oname(o.outcome), reason_name(o.reason),
            (long long)until - (long long)util_now_ms());
    /* The one wall-clock wait of this test: the period must run out. */
    H_POLL(ok, 5000, util_now_ms() > until + 200);
    H_REQUIRE(ok, "the consent's period has ended");
    h_node_start(&t.c, t.jgz);
    h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS);
    s_expect(t.vl, id, KR__V1__OUTCOME__WITHDRAWN, KR__V1__REASON__NO_CONSENT,
             "at delivery", "period ended while queued");
    /* A referral sent after it arrives: the queue moved past it. */
    h_roundtrip(&t.c, t.vl, t.jgz, "period ended while queued", 20000);
    H_CHECK(s_in_count(t.jgz, id, &in) == 0,
            "period ended while queued: the referral never reached JGZ");
    H_CHECK(s_in_count(t.jgz, gid, &in) == 1, "the grant itself did reach JGZ");
}

/*
 * Part 2: 200 queued, then revoked.
 */

struct s_tally {
    const struct h_idset *set;
    struct h_idset seen;
    size_t by_outcome[8];
    size_t no_consent; /* withdrawn with reason no-consent */
    size_t items;
};

static int
s_tally_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_tally *y = arg;

    if (it->msg_id.len != 16 || h_idset_count(y->set, it->msg_id.data) == 0)
        return 0;
    y->items++;
    h_idset_add(&y->seen, it->msg_id.data);
    if (it->outcome >= 0 && it->outcome < 8)
        y->by_outcome[it->outcome]++;
    if (it->outcome == KR__V1__OUTCOME__WITHDRAWN &&
        it->reason == KR__V1__REASON__NO_CONSENT)
        y->no_consent++;
    return 0;
}

static bool
s_tally(int node, const struct h_idset *set, struct s_tally *y)
{
    h_idset_free(&y->seen);
    memset(y, 0, sizeof(*y));
    y->set = set;
    h_idset_init(&y->seen);
    return h_outbox_foreach(h_node_client(&t.c, node), s_tally_one, y) == KR_OK;
}

static size_t
s_tally_final(const struct s_tally *y)
{
    size_t n = 0;

    for (int k = KR__V1__OUTCOME__DELIVERED; k <= KR__V1__OUTCOME__WITHDRAWN;
         k++)
        n += y->by_outcome[k];
    return n;
}

struct s_inset {
    const struct h_idset *set;
    struct h_idset seen;
    size_t items;
};

static int
s_inset_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_inset *f = arg;

    if (it->msg_id.len == 16 && h_idset_count(f->set, it->msg_id.data) > 0) {
        f->items++;
        h_idset_add(&f->seen, it->msg_id.data);
    }
    return 0;
}

static void
s_part_revoke_queued(void)
{
    static uint8_t ids[S_BULK][16];
    char bsn[10], text[64];
    uint8_t cid[16], gid[16], rid[16];
    struct h_idset set;
    struct s_tally y = {0};
    struct s_out o;
    bool ok;
    int rc;

    h_note("== 2. 200 referrals queued for an offline JGZ, then revoked");
    h_bsn(4, bsn);
    uint64_t now = util_now_ms();
    rc = s_grant(t.vl, t.jgz, bsn, now - 3600 * 1000ull, now + 30 * S_DAY_MS,
                 cid, gid);
    H_REQUIRE(rc == KR_OK, "record the consent (%s)", kr_strerror(rc));
    s_expect(t.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL, "the grant");
    size_t before = 0, after = 0;
    H_ENSURE(h_inbox_count(h_node_client(&t.c, t.jgz), &before) == KR_OK,
             "count JGZ's referral inbox");
    h_node_stop(&t.c, t.jgz);

    h_idset_init(&set);
    h_idset_init(&y.seen);
    kr_client_t *kv = h_node_client(&t.c, t.vl);
    struct s_send s = {.to = S_JGZ_ORG, .bsn = bsn, .text = text};
    for (int i = 0; i < S_BULK; i++) {
        snprintf(text, sizeof(text), "revoke-queued seq=%03d", i);
        rc = s_send(kv, &s, ids[i]);
        H_ENSURE(rc == KR_OK, "send %d (%s)", i, kr_strerror(rc));
        h_idset_add(&set, ids[i]);
    }
    H_POLL(ok, 30000,
           s_tally(t.vl, &set, &y) &&
               y.by_outcome[KR__V1__OUTCOME__ACCEPTED] == S_BULK);
    H_REQUIRE(ok, "the broker accepts all %d and queues them for JGZ (%zu)",
              S_BULK, y.by_outcome[KR__V1__OUTCOME__ACCEPTED]);

    rc = h_send_revoke(kv, S_JGZ_ORG, cid, rid);
    H_REQUIRE(rc == KR_OK, "the practice revokes the consent (%s)",
              kr_strerror(rc));
    s_wait_outcome(t.vl, rid, KR__V1__OUTCOME__ACCEPTED, &o, S_FINAL_MS);
    H_CHECK(o.outcome == KR__V1__OUTCOME__ACCEPTED,
            "the broker accepts the revoke (got %s %s: %s)", s_oname(o.outcome),
            reason_name(o.reason), o.detail);
    H_POLL(ok, 20000, s_tally(t.vl, &set, &y) && s_tally_final(&y) == S_BULK);
    H_CHECK(ok && y.by_outcome[KR__V1__OUTCOME__WITHDRAWN] == S_BULK &&
                y.no_consent == S_BULK,
            "every one of the %d is withdrawn, reason no-consent, while JGZ "
            "is still down (%zu withdrawn, %zu with no-consent, %zu "
            "delivered, %zu accepted)",
            S_BULK, y.by_outcome[KR__V1__OUTCOME__WITHDRAWN], y.no_consent,
            y.by_outcome[KR__V1__OUTCOME__DELIVERED],
            y.by_outcome[KR__V1__OUTCOME__ACCEPTED]);
    H_CHECK(y.items == S_BULK && y.seen.n == S_BULK,
            "the sender's outbox holds each of them once (%zu items, %zu "
            "distinct)",
            y.items, y.seen.n);

    /* The broker's file: the ciphertexts gone, the metadata kept. */
    /* Messages and payloads are keyed by the message's seq, found in
     * msg_index by msg_id. */
    struct h_store st;
    MDB_dbi payloads, messages, index;
    H_REQUIRE(h_store_open(&t.c, &st) == KR_OK &&
                  h_store_dbi(&st, "payloads", &payloads) == KR_OK &&
                  h_store_dbi(&st, "messages", &messages) == KR_OK &&
                  h_store_dbi(&st, "msg_index", &index) == KR_OK,
              "open the broker's LMDB read-only while it runs");
    size_t payload_left = 0, meta_ok = 0, meta_missing = 0;
    for (int i = 0; i < S_BULK; i++) {
        MDB_val ik = {16, ids[i]}, k, v;
        if (mdb_get(st.txn, index, &ik, &k) != 0 || k.mv_size != 8) {
            meta_missing++;
            continue;
        }
        if (mdb_get(st.txn, payloads, &k, &v) != MDB_NOTFOUND)
            payload_left++;
        if (mdb_get(st.txn, messages, &k, &v) != 0) {
            meta_missing++;
            continue;
        }
        Kr__V1__StoredMessage *m =
            kr__v1__stored_message__unpack(NULL, v.mv_size, v.mv_data);
        if (m != NULL && m->state == KR__V1__MESSAGE_STATE__STATE_WITHDRAWN &&
            m->reason == KR__V1__REASON__NO_CONSENT &&
            m->envelope_hash.len == 32 && m->signature.len == 64 &&
            m->consent_id.len == 16 && memcmp(m->consent_id.data, cid, 16) == 0)
            meta_ok++;
        if (m != NULL)
            kr__v1__stored_message__free_unpacked(m, NULL);
    }
    h_store_close(&st);
    H_CHECK(payload_left == 0,
            "LMDB \"payloads\": none of the %d messages has one any more "
            "(%zu left)",
            S_BULK, payload_left);
    H_CHECK(meta_ok == S_BULK,
            "LMDB \"messages\": all %d kept, state withdrawn, reason "
            "no-consent, envelope hash and signature kept, under the "
            "consent (%zu so, %zu missing)",
            S_BULK, meta_ok, meta_missing);

    /* JGZ comes up: the revoke arrives, nothing it withdrew does. */
    h_node_start(&t.c, t.jgz);
    h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS);
    s_expect(t.vl, rid, KR__V1__OUTCOME__DELIVERED, 0, NULL,
             "the revoke message itself");
    /* It was queued after the 200: anything of theirs still queued would
     * have been delivered before it. */
    struct s_inset f = {&set, {0}, 0};
    h_idset_init(&f.seen);
    rc = h_inbox_foreach_all(h_node_client(&t.c, t.jgz), s_inset_one, &f);
    H_CHECK(rc == KR_OK && f.items == 0,
            "JGZ's inbox holds none of the %d (%zu)", S_BULK, f.items);
    rc = h_inbox_count(h_node_client(&t.c, t.jgz), &after);
    H_CHECK(rc == KR_OK && after == before,
            "JGZ's referral inbox holds what it held before it went down "
            "(%zu, before %zu)",
            after, before);
    struct s_in in;
    unsigned n = s_in_count(t.jgz, rid, &in);
    H_CHECK(n == 1, "JGZ holds the revoke message once (%u)", n);
    s_tally(t.vl, &set, &y);
    H_CHECK(y.by_outcome[KR__V1__OUTCOME__WITHDRAWN] == S_BULK &&
                y.items == S_BULK,
            "after JGZ's start still exactly one outcome each, withdrawn "
            "(%zu withdrawn of %zu items)",
            y.by_outcome[KR__V1__OUTCOME__WITHDRAWN], y.items);

    /* The ledger. */
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW;
    req.consent_show.data = cid;
    req.consent_show.len = 16;
    rc = h_admin(&t.c, &req, &resp);
    const Kr__V1__ConsentRecord *cr =
        rc == KR_OK && resp->n_consents == 1 ? resp->consents[0] : NULL;
    H_CHECK(cr != NULL &&
                cr->status == KR__V1__CONSENT_STATUS__CONSENT_REVOKED &&
                cr->ended_by != NULL && strcmp(cr->ended_by, S_VL_ORG) == 0 &&
                cr->ended_at_ms != 0,
            "consent_show: the record stays, revoked by %s (%s)", S_VL_ORG,
            kr_strerror(rc));
    if (resp != NULL)
        kr__v1__admin_response__free_unpacked(resp, NULL);
    h_idset_free(&f.seen);
    h_idset_free(&y.seen);
    h_idset_free(&set);
}

/*
 * Part 3: a revoke racing deliveries.
 */

struct s_notice {
    const uint8_t *cid;
    unsigned n;
    int kind;
    char revoked_by[64];
    struct h_idset listed;
};

static int
s_notice_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_notice *f = arg;
    const Kr__V1__Notice *nt = it->notice;

    /* The referrals cancelled under the consent have notices of their
     * own (test_referral.c); this is the consent's. */
    if (nt == NULL || !s_id_eq(nt->consent_id, f->cid) ||
        nt->kind == KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED ||
        nt->kind == KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST)
        return 0;
    f->n++;
    f->kind = nt->kind;
    snprintf(f->revoked_by, sizeof(f->revoked_by), "%s",
             nt->revoked_by ? nt->revoked_by : "");
    for (size_t i = 0; i < nt->n_msg_ids; i++)
        if (nt->msg_ids[i].len == 16)
            h_idset_add(&f->listed, nt->msg_ids[i].data);
    return 0;
}

/* The notices in JGZ's inbox for nt->cid. */
static bool
s_notice_get(struct s_notice *nt)
{
    h_idset_free(&nt->listed);
    h_idset_init(&nt->listed);
    nt->n = 0;
    return h_inbox_foreach_all(h_node_client(&t.c, t.jgz), s_notice_one, nt) ==
           KR_OK;
}

/* Freeze or thaw a node we started (SIGSTOP / SIGCONT, by its pid): it
 * stays connected, and what the broker sends it waits in its socket. */
static void
s_node_freeze(int node, bool freeze)
{
    pid_t pid = t.c.nodes[node].proc.pid;

    H_ENSURE(pid > 0 && kill(pid, freeze ? SIGSTOP : SIGCONT) == 0,
             "%s krnode %s", freeze ? "freeze" : "thaw", t.c.nodes[node].label);
}

/* 200 referrals accepted by the broker for an online JGZ, then the revoke
 * while they are delivered. 'freeze': JGZ's node is paused from just
 * before the revoke until the broker has committed it, so that the revoke
 * certainly lands mid-flow, with deliveries sent and not yet acknowledged
 * (the node commits and acknowledges them after the revoke). Without it,
 * the revoke races the acknowledgements freely. */
static void
s_part_revoke_race(int bsn_n, bool freeze)
{
    uint8_t cid[16], gid[16], rid[16];
    char text[64];
    struct h_idset set;
    struct s_tally y = {0};
    int rc;
    bool ok;

    h_note("== 3%s. a revoke racing 200 deliveries to an online JGZ%s",
           freeze ? "b" : "a",
           freeze ? " (JGZ paused around the revoke)" : " (free race)");
    h_bsn(bsn_n, t.bsn);
    uint64_t now = util_now_ms();
    rc = s_grant(t.vl, t.jgz, t.bsn, now - 3600 * 1000ull, now + 30 * S_DAY_MS,
                 cid, gid);
    H_REQUIRE(rc == KR_OK, "record the consent (%s)", kr_strerror(rc));
    s_expect(t.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL, "the grant");
    h_idset_init(&set);
    h_idset_init(&y.seen);

    /* All 200 accepted first, so that the revoke (which follows them in
     * the practice's outbox) cannot overtake any: JGZ's node is paused
     * meanwhile, connected, so that none is delivered yet. */
    s_node_freeze(t.jgz, true);
    kr_client_t *kv = h_node_client(&t.c, t.vl);
    struct s_send s = {.to = S_JGZ_ORG, .bsn = t.bsn, .text = text};
    for (int i = 0; i < S_BULK; i++) {
        snprintf(text, sizeof(text), "race seq=%03d", i);
        rc = s_send(kv, &s, t.ids[i]);
        H_ENSURE(rc == KR_OK, "send %d (%s)", i, kr_strerror(rc));
        h_idset_add(&set, t.ids[i]);
    }
    H_POLL(ok, 30000,
           s_tally(t.vl, &set, &y) &&
               y.by_outcome[KR__V1__OUTCOME__ACCEPTED] == S_BULK);
    H_CHECK(ok, "the broker accepts all %d (%zu)", S_BULK,
            y.by_outcome[KR__V1__OUTCOME__ACCEPTED]);
    s_node_freeze(t.jgz, false);

    /* They flow; once the practice sees the first 50 delivered, the woman
     * withdraws her consent. Counted at the sender, not at JGZ: a message
     * JGZ has stored is delivered only once its acknowledgement is in at
     * the broker, and one still on its way when the revoke commits ends
     * withdrawn (PROTOCOL.md, CONSENT_REVOKE), so JGZ's own count is no
     * floor for the delivered. */
    H_POLL(ok, 30000,
           s_tally(t.vl, &set, &y) &&
               y.by_outcome[KR__V1__OUTCOME__DELIVERED] >= 50);
    H_CHECK(ok, "the first 50 are delivered (%zu)",
            y.by_outcome[KR__V1__OUTCOME__DELIVERED]);
    uint64_t at = y.by_outcome[KR__V1__OUTCOME__DELIVERED];
    if (freeze)
        s_node_freeze(t.jgz, true);
    rc = h_send_revoke(kv, S_JGZ_ORG, cid, rid);
    H_REQUIRE(rc == KR_OK, "the practice revokes while deliveries flow (%s)",
              kr_strerror(rc));
    h_note("revoke handed to the node with %llu of %d delivered",
           (unsigned long long)at, S_BULK);
    struct s_out o;
    s_wait_outcome(t.vl, rid, KR__V1__OUTCOME__ACCEPTED, &o, S_FINAL_MS);
    uint64_t t_acc = h_mono_ms();
    H_CHECK(o.outcome >= KR__V1__OUTCOME__ACCEPTED,
            "the broker commits the revoke%s (%s)",
            freeze ? " while JGZ is paused" : "", s_oname(o.outcome));
    if (freeze)
        s_node_freeze(t.jgz, false);
    s_expect(t.vl, rid, KR__V1__OUTCOME__DELIVERED, 0, NULL, "the revoke");
    /* What follows the withdrawn messages in JGZ's queue must not wait for
     * a resend timeout (resend_ms, 5 s here): the acknowledgements of the
     * deliveries that were in flight must free the window as usual. */
    uint64_t lag = h_mono_ms() - t_acc;
    H_CHECK(lag < (uint64_t)h_scale(2000),
            "the revoke reaches JGZ within 2 s of its commit, without a "
            "stall of JGZ's queue (%llu ms)",
            (unsigned long long)lag);

    /* Settle: every one of them final at the sender. */
    H_POLL(ok, 30000, s_tally(t.vl, &set, &y) && s_tally_final(&y) == S_BULK);
    size_t delivered = y.by_outcome[KR__V1__OUTCOME__DELIVERED];
    size_t withdrawn = y.by_outcome[KR__V1__OUTCOME__WITHDRAWN];
    h_note("split: %zu delivered, %zu withdrawn", delivered, withdrawn);
    H_CHECK(ok && delivered + withdrawn == S_BULK && withdrawn == y.no_consent,
            "every message ends delivered or withdrawn (no-consent), none "
            "pending or accepted (%zu delivered, %zu withdrawn, %zu "
            "accepted, %zu pending, %zu refused)",
            delivered, withdrawn, y.by_outcome[KR__V1__OUTCOME__ACCEPTED],
            y.by_outcome[0], y.by_outcome[KR__V1__OUTCOME__REFUSED]);
    H_CHECK(y.items == S_BULK && y.seen.n == S_BULK,
            "exactly one outcome per message at the sender (%zu items, %zu "
            "distinct)",
            y.items, y.seen.n);
    if (freeze)
        H_CHECK(delivered >= 50 && withdrawn >= 1,
                "the revoke landed mid-flow: at least 50 delivered before "
                "it, the rest withdrawn by it (%zu, %zu)",
                delivered, withdrawn);

    /* The audit trail: no delivery after the revoke's commit. */
    struct s_aud a;
    memset(&a, 0, sizeof(a));
    a.set = &set;
    a.cid = cid;
    h_idset_init(&a.delivered);
    h_idset_init(&a.withdrawn);
    rc = h_audit_foreach(&t.c, 0, s_aud_one, &a);
    H_CHECK(rc == KR_OK && a.revoked_n == 1,
            "the audit trail holds one consent.revoked for the consent "
            "(%u; %zu records read, %s)",
            a.revoked_n, a.records, kr_strerror(rc));
    H_CHECK(a.last_delivered_seq < a.revoked_seq,
            "no message.delivered of these messages after the revoke "
            "(last delivered at record %llu, revoked at %llu)",
            (unsigned long long)a.last_delivered_seq,
            (unsigned long long)a.revoked_seq);
    H_CHECK(a.delivered.n == delivered && a.withdrawn.n == withdrawn,
            "the audit trail agrees with the sender: %zu delivered, %zu "
            "withdrawn (audit: %zu, %zu)",
            delivered, withdrawn, a.delivered.n, a.withdrawn.n);
    bool dup = false;
    for (int i = 0; i < S_BULK; i++)
        if (h_idset_count(&a.delivered, t.ids[i]) +
                h_idset_count(&a.withdrawn, t.ids[i]) !=
            1)
            dup = true;
    H_CHECK(!dup, "each message has exactly one final audit record");

    /* The recipient: what it holds, and the notice. */
    struct s_inset f = {&set, {0}, 0};
    h_idset_init(&f.seen);
    rc = h_inbox_foreach(h_node_client(&t.c, t.jgz), s_inset_one, &f);
    struct s_notice nt;
    memset(&nt, 0, sizeof(nt));
    nt.cid = cid;
    h_idset_init(&nt.listed);
    H_POLL(ok, 20000, s_notice_get(&nt) && nt.n >= 1);
    H_CHECK(ok && nt.n == 1 &&
                nt.kind == KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED &&
                strcmp(nt.revoked_by, S_VL_ORG) == 0,
            "JGZ's inbox holds one notice consent-revoked for the consent, "
            "revoked by %s (%u)",
            S_VL_ORG, nt.n);
    size_t missing_delivered = 0, missing_held = 0, ours = 0;
    for (int i = 0; i < S_BULK; i++) {
        bool listed = h_idset_count(&nt.listed, t.ids[i]) > 0;
        if (h_idset_count(&f.seen, t.ids[i]) > 0 && !listed)
            missing_held++;
        if (h_idset_count(&a.delivered, t.ids[i]) > 0 && !listed)
            missing_delivered++;
        ours += listed;
    }
    size_t foreign = nt.listed.n - ours;
    H_CHECK(rc == KR_OK && f.items == f.seen.n && f.seen.n >= delivered,
            "JGZ holds each delivered message once (%zu items, %zu "
            "distinct, %zu delivered)",
            f.items, f.seen.n, delivered);
    H_CHECK(missing_delivered == 0 && missing_held == 0 && foreign == 0,
            "the notice lists every message JGZ received under the consent "
            "(%zu listed; %zu delivered and %zu held not listed, %zu "
            "foreign)",
            nt.listed.n, missing_delivered, missing_held, foreign);

    h_idset_free(&nt.listed);
    h_idset_free(&f.seen);
    h_idset_free(&a.delivered);
    h_idset_free(&a.withdrawn);
    h_idset_free(&y.seen);
    h_idset_free(&set);
}

/*
 * Part 4: meldrecht.
 */

static const char s_justif[] =
    "Acute zorgen over de veiligheid van moeder en kind; overleg met "
    "aandachtsfunctionaris gevoerd, toestemming vragen brengt hen in gevaar.";

static void
s_wire_open(struct h_wire *w, const char *what)
{
    int rc = h_wire_open(w, t.c.listen, t.tester_secret, t.broker_public,
                         S_TESTER_ORG);

    H_ENSURE(rc == KR_OK, "%s: open the raw wire client (%s)", what,
             kr_strerror(rc));
    H_ENSURE(h_wire_send_hello(w, S_TESTER_ORG, 16) == KR_OK, "%s: hello",
             what);
}

/* Submit a raw envelope; the first receipt with an outcome in 'mask'. */
static const struct h_wire_receipt *
s_wire_submit(struct h_wire *w, struct h_env_spec *spec, unsigned mask,
              uint8_t id[16])
{
    uint8_t *env = NULL, sig[KR_SIG_LEN];
    size_t len = 0;
    int rc, i;

    rc = h_envelope_build(w->keys, spec, id, &env, &len, sig);
    H_ENSURE(rc == KR_OK, "build an envelope (%s)", kr_strerror(rc));
    rc = h_wire_send_submit(w, env, len, sig, sizeof(sig));
    free(env);
    if (rc != KR_OK)
        return NULL;
    i = h_wire_wait_receipt(w, id, mask, 10000);
    return i >= 0 ? &w->receipts[i] : NULL;
}

#define S_ANY_OUTCOME 0x3eu
#define S_FINAL_MASK                                                           \
    ((1u << KR__V1__OUTCOME__DELIVERED) | (1u << KR__V1__OUTCOME__REFUSED) |   \
     (1u << KR__V1__OUTCOME__EXPIRED_OUTCOME) |                                \
     (1u << KR__V1__OUTCOME__WITHDRAWN))

static void
s_part_meldrecht(void)
{
    char bsn[10];
    uint8_t id[16];
    struct s_in in;
    int rc;

    h_note("== 4. meldrecht towards Veilig Thuis");
    h_bsn(6, bsn); /* a subject without any consent */
    kr_client_t *kv = h_node_client(&t.c, t.vl);
    struct s_send s = {.to = S_VT_ORG,
                       .bsn = bsn,
                       .legal_basis = KR__V1__LEGAL_BASIS__MELDRECHT,
                       .justif = s_justif,
                       .text = "melding"};
    rc = s_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK,
              "the node takes a meldrecht referral with a "
              "justification (%s)",
              kr_strerror(rc));
    s_expect(t.vl, id, KR__V1__OUTCOME__DELIVERED, 0, NULL,
             "meldrecht to Veilig Thuis without consent");
    unsigned n = s_in_count(t.vt, id, &in);
    H_CHECK(n == 1 && in.legal_basis == KR__V1__LEGAL_BASIS__MELDRECHT &&
                strcmp(in.justif, s_justif) == 0,
            "Veilig Thuis holds it once, legal basis meldrecht, with the "
            "justification as written (%u)",
            n);
    struct s_aud a;
    memset(&a, 0, sizeof(a));
    a.msg_id = id;
    rc = h_audit_foreach(&t.c, 0, s_aud_one, &a);
    H_CHECK(rc == KR_OK && a.found && a.noodknop &&
                a.legal_basis == KR__V1__LEGAL_BASIS__MELDRECHT,
            "audit: message.accepted with noodknop=true, legal basis "
            "meldrecht (found %d, noodknop %d, check \"%s\")",
            a.found, a.noodknop, a.check);

    /* Towards JGZ the meldrecht does not apply, consent or not. */
    s.to = S_JGZ_ORG;
    rc = s_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "the node takes a meldrecht referral to JGZ (%s)",
              kr_strerror(rc));
    s_expect(t.vl, id, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__NO_CONSENT,
             "veilig-thuis", "meldrecht to JGZ");
    H_CHECK(s_in_count(t.jgz, id, &in) == 0,
            "meldrecht to JGZ: nothing reached JGZ");

    /* Without a justification the node refuses the send itself. */
    uint8_t want[16];
    util_random_id(want);
    s.to = S_VT_ORG;
    s.justif = NULL;
    s.msg_id_in = want;
    rc = s_send(kv, &s, id);
    H_CHECK(rc == KR_EINVAL,
            "meldrecht without a justification: the node refuses the send "
            "(%s)",
            kr_strerror(rc));
    struct s_out o;
    H_CHECK(!s_out_get(t.vl, want, &o),
            "and keeps nothing of it in its outbox (%u)", o.n);

    /* A raw envelope without the digest: the broker refuses it. */
    struct h_wire w;
    kr_pubkeys_t vt_pub;
    char pub[H_PATH + 32];
    uint8_t *content = NULL, digest[32], pseudo[32];
    size_t clen = 0;
    kr_coalition_key_t *ck = NULL;
    H_ENSURE(kcrypto_pubkeys_load(
                 h_public_path(t.c.nodes[t.vt].keys, pub, sizeof(pub)),
                 &vt_pub) == KR_OK,
             "load Veilig Thuis's public keys");
    H_ENSURE(kcrypto_coalition_key_load(t.c.coalition, &ck) == KR_OK &&
                 kcrypto_pseudonym(ck, bsn, pseudo) == KR_OK,
             "the subject's pseudonym");
    kcrypto_coalition_key_destroy(&ck);
    struct s_send sc = {.bsn = bsn, .justif = s_justif, .text = "rauw"};
    H_ENSURE(s_content(&sc, &content, &clen) == KR_OK, "content");
    kcrypto_hash((const uint8_t *)s_justif, strlen(s_justif), digest);
    s_wire_open(&w, "meldrecht");
    struct h_env_spec spec = {.sender = S_TESTER_ORG,
                              .recipient = S_VT_ORG,
                              .rcpt = &vt_pub,
                              .content = content,
                              .content_len = clen,
                              .type = KR__V1__MESSAGE_TYPE__REFERRAL,
                              .legal_basis = KR__V1__LEGAL_BASIS__MELDRECHT,
                              .subject_pseudonym = pseudo};
    const struct h_wire_receipt *r =
        s_wire_submit(&w, &spec, S_ANY_OUTCOME, id);
    H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__REFUSED &&
                r->reason == KR__V1__REASON__NO_CONSENT,
            "raw meldrecht envelope without justification_digest: refused "
            "no-consent (got %s %s)",
            r ? outcome_name(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "");
    H_CHECK(r != NULL && strstr(r->detail, "justification") != NULL,
            "its detail says why: \"%s\"", r ? r->detail : "");
    /* The control: the same with the digest passes, so the refusal above
     * was the missing digest's. */
    spec.justification_digest = digest;
    r = s_wire_submit(&w, &spec,
                      (1u << KR__V1__OUTCOME__ACCEPTED) |
                          (1u << KR__V1__OUTCOME__REFUSED),
                      id);
    H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__ACCEPTED,
            "control: the same envelope with the digest is accepted (got "
            "%s %s %s)",
            r ? outcome_name(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "", r ? r->detail : "");
    int i = h_wire_wait_receipt(&w, id, S_FINAL_MASK, S_FINAL_MS);
    H_CHECK(i >= 0 && w.receipts[i].outcome == KR__V1__OUTCOME__DELIVERED,
            "control: and delivered to Veilig Thuis, which checks the "
            "digest against the sealed justification (got %s %s)",
            i >= 0 ? outcome_name(w.receipts[i].outcome) : "nothing",
            i >= 0 ? reason_name(w.receipts[i].reason) : "");
    h_wire_close(&w);
    free(content);
}

/*
 * Part 5: malformed consent messages.
 */

static void
s_part_malformed(void)
{
    char bsn[10];
    uint8_t cid[16], gid[16], id[16], rid[16];
    struct h_consent g = {0};
    int rc;

    h_note("== 5. malformed consent messages");
    h_bsn(7, bsn);
    kr_client_t *kv = h_node_client(&t.c, t.vl);
    uint64_t now = util_now_ms();

    /* Missing scope: the node refuses to send it at all. */
    {
        Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
        Kr__V1__SendRequest sr = KR__V1__SEND_REQUEST__INIT;
        Kr__V1__Content c = KR__V1__CONTENT__INIT;
        Kr__V1__ConsentEvidence ev = KR__V1__CONSENT_EVIDENCE__INIT;
        uint8_t content[256], buf[1024];
        ev.given_on = "2026-11-23";
        c.version = KR__V1__VERSION__VERSION_1;
        c.body_case = KR__V1__CONTENT__BODY_CONSENT_EVIDENCE;
        c.consent_evidence = &ev;
        sr.type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT;
        sr.recipient = S_JGZ_ORG;
        sr.subject_bsn = bsn;
        sr.content.data = content;
        sr.content.len = kr__v1__content__pack(&c, content);
        req.version = KR__V1__VERSION__VERSION_1;
        req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
        req.send = &sr;
        size_t len = kr__v1__local_request__pack(&req, buf);
        rc = kr_send(kv, buf, len, id);
        H_CHECK(rc == KR_EINVAL,
                "consent grant without a scope: the node refuses it (%s)",
                kr_strerror(rc));
    }
    /* ... and a raw one reaches the broker, which refuses it. */
    {
        struct h_wire w;
        kr_pubkeys_t jgz_pub;
        char pub[H_PATH + 32];
        uint8_t content[64], wid[16], wcid[16];
        Kr__V1__Content c = KR__V1__CONTENT__INIT;
        static const char note[] = "consent";
        c.version = KR__V1__VERSION__VERSION_1;
        c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
        c.opaque.data = (uint8_t *)note;
        c.opaque.len = sizeof(note) - 1;
        size_t clen = kr__v1__content__pack(&c, content);
        H_ENSURE(kcrypto_pubkeys_load(
                     h_public_path(t.c.nodes[t.jgz].keys, pub, sizeof(pub)),
                     &jgz_pub) == KR_OK,
                 "load JGZ's public keys");
        util_random_id(wcid);
        s_wire_open(&w, "grant without scope");
        struct h_env_spec spec = {.sender = S_TESTER_ORG,
                                  .recipient = S_JGZ_ORG,
                                  .rcpt = &jgz_pub,
                                  .content = content,
                                  .content_len = clen,
                                  .type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT,
                                  .consent_id = wcid};
        const struct h_wire_receipt *r =
            s_wire_submit(&w, &spec, S_ANY_OUTCOME, wid);
        H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__REFUSED &&
                    r->reason == KR__V1__REASON__MISSING_FIELD &&
                    strstr(r->detail, "consent_scope") != NULL,
                "raw consent grant without consent_scope: refused "
                "missing-field, \"%s\" (got %s %s)",
                r ? r->detail : "", r ? outcome_name(r->outcome) : "nothing",
                r ? reason_name(r->reason) : "");
        h_wire_close(&w);
    }

    /* valid_until before valid_from. */
    g.recipient = S_JGZ_ORG;
    g.bsn = bsn;
    g.from_org = S_VL_ORG;
    g.to_org = S_JGZ_ORG;
    g.from_ms = now + S_DAY_MS;
    g.until_ms = now - S_DAY_MS;
    rc = h_send_consent(kv, &g, cid, gid);
    H_REQUIRE(rc == KR_OK,
              "the node sends a grant whose period ends "
              "before it begins (%s)",
              kr_strerror(rc));
    s_expect(t.vl, gid, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__INVALID_SCOPE,
             "valid_until", "until before from");

    /* An organisation category that does not exist. */
    g.to_org = NULL;
    g.to_category = 99;
    g.from_ms = now - 3600 * 1000ull;
    g.until_ms = now + S_DAY_MS;
    rc = h_send_consent(kv, &g, cid, gid);
    if (rc == KR_EINVAL) {
        H_CHECK(true, "unknown category 99: the node refuses the grant (%s)",
                kr_strerror(rc));
    } else {
        H_REQUIRE(rc == KR_OK, "the node sends a grant to category 99 (%s)",
                  kr_strerror(rc));
        s_expect(t.vl, gid, KR__V1__OUTCOME__REFUSED,
                 KR__V1__REASON__INVALID_SCOPE, "category",
                 "unknown category 99");
    }

    /* A revoke for a consent that does not exist. */
    util_random_id(cid);
    rc = h_send_revoke(kv, S_JGZ_ORG, cid, rid);
    H_REQUIRE(rc == KR_OK,
              "the node sends a revoke of an unknown consent "
              "(%s)",
              kr_strerror(rc));
    s_expect(t.vl, rid, KR__V1__OUTCOME__REFUSED,
             KR__V1__REASON__UNKNOWN_CONSENT, "no such consent",
             "revoke of an unknown consent");

    /* A revoke by an organisation that is no party to the consent. */
    g.to_org = S_JGZ_ORG;
    g.to_category = 0;
    rc = h_send_consent(kv, &g, cid, gid);
    H_REQUIRE(rc == KR_OK, "record a consent vl -> jgz (%s)", kr_strerror(rc));
    s_expect(t.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL, "its grant");
    rc = h_send_revoke(h_node_client(&t.c, t.wt), S_JGZ_ORG, cid, rid);
    H_REQUIRE(rc == KR_OK, "the wijkteam's node sends a revoke of it (%s)",
              kr_strerror(rc));
    s_expect(t.wt, rid, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__NOT_PARTY,
             "not a party", "revoke by a third organisation");

    /* The consent still stands and still covers. */
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW;
    req.consent_show.data = cid;
    req.consent_show.len = 16;
    rc = h_admin(&t.c, &req, &resp);
    H_CHECK(rc == KR_OK && resp->n_consents == 1 &&
                resp->consents[0]->status ==
                    KR__V1__CONSENT_STATUS__CONSENT_ACTIVE,
            "after the refused revoke the consent is still active (%s)",
            kr_strerror(rc));
    if (resp != NULL)
        kr__v1__admin_response__free_unpacked(resp, NULL);
    struct s_send s = {.to = S_JGZ_ORG, .bsn = bsn, .text = "nog geldig"};
    rc = s_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "send under it (%s)", kr_strerror(rc));
    s_expect(t.vl, id, KR__V1__OUTCOME__DELIVERED, 0, NULL,
             "a referral under the consent that a third party tried to "
             "revoke");
}

/* Part 6's audit lookup: the consent.granted record of one consent. */
struct s_granted {
    const uint8_t *cid;
    bool found;
    uint8_t pseudonym[32];
    size_t pseudonym_len;
    char purpose[64];
    int data_category;
};

static int
s_find_granted(const Kr__V1__AuditRecord *r, void *arg)
{
    struct s_granted *g = arg;

    if (strcmp(r->event, "consent.granted") != 0 || r->consent_id.len != 16 ||
        memcmp(r->consent_id.data, g->cid, 16) != 0)
        return 0;
    g->found = true;
    g->pseudonym_len = r->subject_pseudonym.len;
    if (r->subject_pseudonym.len == 32)
        memcpy(g->pseudonym, r->subject_pseudonym.data, 32);
    snprintf(g->purpose, sizeof(g->purpose), "%s", r->purpose);
    g->data_category = r->data_category;
    return 0;
}

/* Is consent 'cid' recorded at the broker? */
static bool
s_consent_recorded(const uint8_t cid[16])
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW;
    req.consent_show.data = (uint8_t *)cid;
    req.consent_show.len = 16;
    int rc = h_admin(&t.c, &req, &resp);
    bool found = rc == KR_OK && resp != NULL && resp->n_consents == 1;
    if (resp != NULL)
        kr__v1__admin_response__free_unpacked(resp, NULL);
    return found;
}

static void
s_part_grant_envelope(void)
{
    struct h_wire w;
    kr_pubkeys_t jgz_pub;
    char pub[H_PATH + 32];
    uint8_t content[64], id[16], cid[16], p_scope[32], p_other[32];
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    static const char note[] = "evidence";
    const unsigned mask =
        (1u << KR__V1__OUTCOME__ACCEPTED) | (1u << KR__V1__OUTCOME__REFUSED);
    uint64_t now = util_now_ms();

    h_note("== 6. a grant's envelope must agree with its scope");
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
    c.opaque.data = (uint8_t *)note;
    c.opaque.len = sizeof(note) - 1;
    size_t clen = kr__v1__content__pack(&c, content);
    H_ENSURE(kcrypto_pubkeys_load(
                 h_public_path(t.c.nodes[t.jgz].keys, pub, sizeof(pub)),
                 &jgz_pub) == KR_OK,
             "load JGZ's public keys");
    randombytes_buf(p_scope, sizeof(p_scope));
    randombytes_buf(p_other, sizeof(p_other));
    sc.subject_pseudonym.data = p_scope;
    sc.subject_pseudonym.len = 32;
    sc.subject_key_version = 1;
    sc.purpose = "prenataal-huisbezoek";
    sc.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    sc.from_org = S_TESTER_ORG;
    sc.to_org = S_JGZ_ORG;
    sc.valid_from_ms = now - 3600 * 1000ull;
    sc.valid_until_ms = now + S_DAY_MS;
    sc.grantor = KR__V1__GRANTOR__SELF;
    s_wire_open(&w, "grant envelope");

    struct {
        const char *what;
        const uint8_t *pseudonym;
        uint32_t key_version;
        const char *purpose;
        const char *field; /* in the refusal's detail, or NULL: accepted */
    } cases[] = {
        {"another subject in the envelope", p_other, 1, NULL,
         "subject_pseudonym"},
        {"no subject in the envelope", NULL, 0, NULL, "subject_pseudonym"},
        {"another key version", p_scope, 2, NULL, "subject_key_version"},
        {"another purpose", p_scope, 1, "nu-niet-zwanger", "purpose"},
        {"envelope and scope agree", p_scope, 1, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        util_random_id(cid);
        sc.consent_id.data = cid;
        sc.consent_id.len = 16;
        struct h_env_spec spec = {.sender = S_TESTER_ORG,
                                  .recipient = S_JGZ_ORG,
                                  .rcpt = &jgz_pub,
                                  .content = content,
                                  .content_len = clen,
                                  .type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT,
                                  .consent_id = cid,
                                  .scope = &sc,
                                  .subject_pseudonym = cases[i].pseudonym,
                                  .subject_key_version = cases[i].key_version,
                                  .purpose = cases[i].purpose};
        const struct h_wire_receipt *r = s_wire_submit(&w, &spec, mask, id);
        if (cases[i].field != NULL) {
            H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__REFUSED &&
                        r->reason == KR__V1__REASON__INVALID_SCOPE &&
                        strstr(r->detail, cases[i].field) != NULL,
                    "grant with %s: refused invalid-scope naming %s "
                    "(got %s %s \"%s\")",
                    cases[i].what, cases[i].field,
                    r ? outcome_name(r->outcome) : "nothing",
                    r ? reason_name(r->reason) : "", r ? r->detail : "");
            H_CHECK(!s_consent_recorded(cid), "grant with %s: nothing recorded",
                    cases[i].what);
            continue;
        }
        H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__ACCEPTED,
                "grant with %s: accepted (got %s %s \"%s\")", cases[i].what,
                r ? outcome_name(r->outcome) : "nothing",
                r ? reason_name(r->reason) : "", r ? r->detail : "");
        H_CHECK(s_consent_recorded(cid), "grant with %s: recorded",
                cases[i].what);
        struct s_granted g = {.cid = cid};
        H_CHECK(h_audit_foreach(&t.c, 0, s_find_granted, &g) == KR_OK &&
                    g.found && g.pseudonym_len == 32 &&
                    memcmp(g.pseudonym, p_scope, 32) == 0 &&
                    strcmp(g.purpose, sc.purpose) == 0 &&
                    g.data_category == (int)sc.data_category,
                "consent.granted audit record names the scope's subject, "
                "purpose and category (found %d, purpose '%s')",
                g.found, g.purpose);
    }
    h_wire_close(&w);
}

int
main(void)
{
    h_init("consent", 180);
    h_cluster_init(&t.c, "consent");
    /* A small delivery window, so that a revoke can land while referrals
     * are still on their way to JGZ. */
    h_broker_set(&t.c, "window", "4");
    h_broker_start(&t.c);
    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde",
                     "Verloskundigenpraktijk De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    t.vt =
        h_org_add(&t.c, "vt", S_VT_ORG, "veilig-thuis", "Veilig Thuis Utrecht");
    t.wt = h_org_add(&t.c, "wt", S_WT_ORG, "wijkteam", "Wijkteam Noordoost");
    t.tester = h_org_add(&t.c, "tester", S_TESTER_ORG, "verloskunde",
                         "Raw wire client");
    h_secret_path(t.c.nodes[t.tester].keys, t.tester_secret,
                  sizeof(t.tester_secret));
    h_public_path(t.c.broker_keys, t.broker_public, sizeof(t.broker_public));
    h_node_start(&t.c, t.vl);
    h_node_start(&t.c, t.jgz);
    h_node_start(&t.c, t.vt);
    h_node_start(&t.c, t.wt);
    if (!h_node_wait_connected(&t.c, t.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.vt, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.wt, H_CONNECT_MS))
        h_abort();
    /* The default subject's consent, for the harness's roundtrips. */
    H_REQUIRE(h_consent_default(&t.c, t.vl, t.jgz), "consent recorded");

    uint64_t t0 = h_mono_ms();
    s_part_deny_by_default();
    s_part_period_ends_in_queue();
    h_note("parts 1: %llu ms", (unsigned long long)(h_mono_ms() - t0));
    s_part_revoke_queued();
    h_note("part 2: %llu ms", (unsigned long long)(h_mono_ms() - t0));
    s_part_revoke_race(5, false);
    s_part_revoke_race(8, true);
    h_note("part 3: %llu ms", (unsigned long long)(h_mono_ms() - t0));
    s_part_meldrecht();
    s_part_malformed();
    s_part_grant_envelope();
    h_note("all parts: %llu ms", (unsigned long long)(h_mono_ms() - t0));
    h_roundtrip(&t.c, t.vl, t.jgz, "at the end", 20000);
    return h_finish(&t.c);
}
