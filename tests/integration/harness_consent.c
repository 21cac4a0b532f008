/*
 * harness_consent.c - what the consent tests share (harness_consent.h):
 * one cluster of five organisations, sends and grants through libkr, the
 * sender's and the recipient's view of a message, the audit trail's
 * records of a set of messages, and the raw wire client as the tester.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_consent.h"
#include "names.h"

struct hc_test hc;

void
hc_setup(const char *name, int budget_s)
{
    h_init(name, budget_s);
    h_cluster_init(&hc.c, name);
    /* A small delivery window, so that a revoke can land while referrals
     * are still on their way to JGZ. */
    h_broker_set(&hc.c, "window", "4");
    h_broker_start(&hc.c);
    hc.vl = h_org_add(&hc.c, "vl", HC_VL_ORG, "verloskunde",
                      "Verloskundigenpraktijk De Wieg");
    hc.jgz = h_org_add(&hc.c, "jgz", HC_JGZ_ORG, "jgz", "JGZ Utrecht");
    hc.vt = h_org_add(&hc.c, "vt", HC_VT_ORG, "veilig-thuis",
                      "Veilig Thuis Utrecht");
    hc.wt = h_org_add(&hc.c, "wt", HC_WT_ORG, "wijkteam", "Wijkteam Noordoost");
    hc.tester = h_org_add(&hc.c, "tester", HC_TESTER_ORG, "verloskunde",
                          "Raw wire client");
    h_secret_path(hc.c.nodes[hc.tester].keys, hc.tester_secret,
                  sizeof(hc.tester_secret));
    h_public_path(hc.c.broker_keys, hc.broker_public, sizeof(hc.broker_public));
    h_node_start(&hc.c, hc.vl);
    h_node_start(&hc.c, hc.jgz);
    h_node_start(&hc.c, hc.vt);
    h_node_start(&hc.c, hc.wt);
    if (!h_node_wait_connected(&hc.c, hc.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&hc.c, hc.jgz, H_CONNECT_MS) ||
        !h_node_wait_connected(&hc.c, hc.vt, H_CONNECT_MS) ||
        !h_node_wait_connected(&hc.c, hc.wt, H_CONNECT_MS))
        h_abort();
    /* The default subject's consent, for the harness's roundtrips. */
    H_REQUIRE(h_consent_default(&hc.c, hc.vl, hc.jgz), "consent recorded");
    hc.t0 = h_mono_ms();
}

int
hc_finish(void)
{
    h_note("the parts: %llu ms", (unsigned long long)(h_mono_ms() - hc.t0));
    h_roundtrip(&hc.c, hc.vl, hc.jgz, "at the end", 20000);
    return h_finish(&hc.c);
}

/*
 * Sending.
 */

/* The harness's referral, with the subject, text and justification asked
 * for. *out is malloc'd. */
int
hc_content(const struct hc_send *s, uint8_t **out, size_t *len)
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
int
hc_send(kr_client_t *kc, const struct hc_send *s, uint8_t msg_id[16])
{
    Kr__V1__SendRequest sr = KR__V1__SEND_REQUEST__INIT;
    uint8_t *content = NULL;
    size_t clen = 0;
    int rc;

    if ((rc = hc_content(s, &content, &clen)) != KR_OK)
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
    rc = h_send_request(kc, &sr, msg_id);
    free(content);
    return rc;
}

/* A consent from 'from' to 'to' for 'bsn', valid [from_ms, until_ms]. */
int
hc_grant(int from, int to, const char *bsn, uint64_t from_ms, uint64_t until_ms,
         uint8_t cid[16], uint8_t msg_id[16])
{
    struct h_consent g = {0};

    g.recipient = hc.c.nodes[to].org;
    g.bsn = bsn;
    g.from_org = hc.c.nodes[from].org;
    g.to_org = hc.c.nodes[to].org;
    g.from_ms = from_ms;
    g.until_ms = until_ms;
    return h_send_consent(h_node_client(&hc.c, from), &g, cid, msg_id);
}

/*
 * The sender's view: outbox items.
 */

static int
s_out_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct hc_out *o = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, o->id, 16) == 0) {
        o->n++;
        o->outcome = it->outcome;
        o->reason = it->reason;
        snprintf(o->detail, sizeof(o->detail), "%s",
                 it->detail ? it->detail : "");
    }
    return 0;
}

bool
hc_out_get(int node, const uint8_t id[16], struct hc_out *o)
{
    memset(o, 0, sizeof(*o));
    o->id = id;
    o->outcome = -1;
    return h_outbox_foreach_all(h_node_client(&hc.c, node), s_out_one, o) ==
               KR_OK &&
           o->n > 0;
}

/* Wait for the message's final outcome (or at least 'atleast'). */
void
hc_wait_outcome(int node, const uint8_t id[16], int atleast, struct hc_out *o,
                int timeout_ms)
{
    bool ok;

    H_POLL(ok, timeout_ms, hc_out_get(node, id, o) && o->outcome >= atleast);
    if (!ok)
        hc_out_get(node, id, o);
}

const char *
hc_oname(int outcome)
{
    return outcome < 0 ? "(none)" : outcome_name(outcome);
}

/* Check a final outcome and its reason, and that the detail says why
 * (contains 'want_detail', if given). */
void
hc_expect(int node, const uint8_t id[16], int outcome, int reason,
          const char *want_detail, const char *what)
{
    struct hc_out o;

    hc_wait_outcome(node, id, KR__V1__OUTCOME__DELIVERED, &o, HC_FINAL_MS);
    H_CHECK(o.n == 1 && o.outcome == outcome && o.reason == reason,
            "%s: the sender sees %s %s (got %s %s, %u items)", what,
            outcome_name(outcome), reason ? reason_name(reason) : "",
            hc_oname(o.outcome), reason_name(o.reason), o.n);
    if (want_detail != NULL)
        H_CHECK(strstr(o.detail, want_detail) != NULL,
                "%s: the detail says why: \"%s\" (contains \"%s\")", what,
                o.detail, want_detail);
}

/*
 * The recipient's view.
 */

static int
s_in_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct hc_in *f = arg;

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

unsigned
hc_in_count(int node, const uint8_t id[16], struct hc_in *f)
{
    memset(f, 0, sizeof(*f));
    f->id = id;
    if (h_inbox_foreach_all(h_node_client(&hc.c, node), s_in_one, f) != KR_OK)
        return 0;
    return f->n;
}

/*
 * The audit trail, exported.
 */

bool
hc_id_eq(ProtobufCBinaryData d, const uint8_t *id)
{
    return id != NULL && d.len == 16 && memcmp(d.data, id, 16) == 0;
}

int
hc_aud_one(const Kr__V1__AuditRecord *r, void *arg)
{
    struct hc_aud *a = arg;

    a->records++;
    if (a->msg_id != NULL && !a->found && hc_id_eq(r->msg_id, a->msg_id) &&
        strcmp(r->event, "message.accepted") == 0) {
        a->found = true;
        a->noodknop = r->noodknop;
        a->legal_basis = r->legal_basis;
        snprintf(a->check, sizeof(a->check), "%s", r->check ? r->check : "");
    }
    if (a->cid != NULL && strcmp(r->event, "consent.revoked") == 0 &&
        hc_id_eq(r->consent_id, a->cid)) {
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
 * Many messages: the sender's tally and the recipient's set.
 */

static int
s_tally_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct hc_tally *y = arg;

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

bool
hc_tally(int node, const struct h_idset *set, struct hc_tally *y)
{
    h_idset_free(&y->seen);
    memset(y, 0, sizeof(*y));
    y->set = set;
    h_idset_init(&y->seen);
    return h_outbox_foreach(h_node_client(&hc.c, node), s_tally_one, y) ==
           KR_OK;
}

size_t
hc_tally_final(const struct hc_tally *y)
{
    size_t n = 0;

    for (int k = KR__V1__OUTCOME__DELIVERED; k <= KR__V1__OUTCOME__WITHDRAWN;
         k++)
        n += y->by_outcome[k];
    return n;
}

int
hc_inset_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct hc_inset *f = arg;

    if (it->msg_id.len == 16 && h_idset_count(f->set, it->msg_id.data) > 0) {
        f->items++;
        h_idset_add(&f->seen, it->msg_id.data);
    }
    return 0;
}

/*
 * The raw wire client, as the tester organisation.
 */

void
hc_wire_open(struct h_wire *w, const char *what)
{
    int rc = h_wire_open(w, hc.c.listen, hc.tester_secret, hc.broker_public,
                         HC_TESTER_ORG);

    H_ENSURE(rc == KR_OK, "%s: open the raw wire client (%s)", what,
             kr_strerror(rc));
    H_ENSURE(h_wire_send_hello(w, HC_TESTER_ORG, 16) == KR_OK, "%s: hello",
             what);
}

/* Submit a raw envelope; the first receipt with an outcome in 'mask'. */
const struct h_wire_receipt *
hc_wire_submit(struct h_wire *w, struct h_env_spec *spec, unsigned mask,
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
