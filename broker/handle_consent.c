/*
 * handle_consent.c - CONSENT_GRANT and CONSENT_REVOKE: the ledger.
 *
 * A grant's scope is in clear in its envelope; the broker checks that the
 * scope can be enforced and records it. A revoke ends a record and takes
 * effect in the same commit: every message still queued under it is
 * withdrawn (its ciphertext deleted, its sender told), and every
 * organisation that already received something under it gets a notice.
 * Both messages are then delivered like any other, carrying the sealed
 * evidence to their recipient.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "bstore.h"
#include "consent.h"
#include "log.h"
#include "names.h"
#include "referral.h"

/* Is 'org' (of category 'cat') the party a scope names? */
static bool
s_party(const char *rec_org, int rec_cat, const struct org *o)
{
    if (rec_org != NULL && rec_org[0] != '\0')
        return strcmp(rec_org, o->id) == 0;
    return rec_cat != 0 && rec_cat == o->category;
}

static bool
s_is_party(const Kr__V1__ConsentRecord *r, const struct org *o)
{
    const Kr__V1__ConsentScope *sc = r->scope;

    return strcmp(r->recorded_by, o->id) == 0 ||
           s_party(sc->from_org, sc->from_category, o) ||
           s_party(sc->to_org, sc->to_category, o);
}

/* One side of a scope: an organisation in the directory, or a category,
 * not both and not neither. */
static const char *
s_check_side(struct broker *b, const char *org, int cat, const char *side)
{
    static char why[96];
    bool has_org = org != NULL && org[0] != '\0';

    if (has_org == (cat != 0)) {
        snprintf(why, sizeof(why), "%s: name an organisation or a category",
                 side);
        return why;
    }
    if (has_org && orgs_find(b, org) == NULL) {
        snprintf(why, sizeof(why), "%s: organisation not in directory", side);
        return why;
    }
    if (!has_org && util_category_parse(util_category_name(cat)) != cat) {
        snprintf(why, sizeof(why), "%s: unknown category", side);
        return why;
    }
    return NULL;
}

/* The grant's envelope names the subject, purpose and data category in
 * clear like every other envelope, and the audit trail and the recipient
 * read them there: they must be the scope's, or the trail would name
 * another woman's pseudonym for the consent that was recorded. NULL if
 * they agree, else which field does not. */
static const char *
s_envelope_disagrees(const Kr__V1__Envelope *env,
                     const Kr__V1__ConsentScope *sc)
{
    if (env->subject_pseudonym.len != 32 ||
        memcmp(env->subject_pseudonym.data, sc->subject_pseudonym.data, 32) !=
            0)
        return "envelope subject_pseudonym differs from "
               "consent_scope.subject_pseudonym (both required, equal)";
    if (env->subject_key_version != sc->subject_key_version)
        return "envelope subject_key_version differs from "
               "consent_scope.subject_key_version";
    if (env->purpose == NULL || strcmp(env->purpose, sc->purpose) != 0)
        return "envelope purpose differs from consent_scope.purpose "
               "(both required, equal)";
    if (env->data_category != sc->data_category)
        return "envelope data_category differs from "
               "consent_scope.data_category (both required, equal)";
    return NULL;
}

int
consent_check_grant(struct broker *b, struct org *o,
                    const Kr__V1__Envelope *env, const char **why,
                    Kr__V1__ConsentRecord **superseded)
{
    const Kr__V1__ConsentScope *sc = env->consent_scope;
    MDB_txn *txn = broker_txn(b);
    Kr__V1__ConsentRecord *old = NULL;

    *superseded = NULL;
    if (sc == NULL) {
        *why = "consent grant without consent_scope";
        return KR__V1__REASON__MISSING_FIELD;
    }
    if (sc->consent_id.len != 16 || env->consent_id.len != 16 ||
        memcmp(sc->consent_id.data, env->consent_id.data, 16) != 0) {
        *why = "consent_id: 16 bytes, the same in scope and envelope";
        return KR__V1__REASON__INVALID_SCOPE;
    }
    if (sc->subject_pseudonym.len != 32) {
        *why = "subject_pseudonym: 32 bytes";
        return KR__V1__REASON__INVALID_SCOPE;
    }
    if (sc->purpose == NULL || sc->purpose[0] == '\0') {
        *why = "purpose missing";
        return KR__V1__REASON__INVALID_SCOPE;
    }
    if (sc->data_category != KR__V1__DATA_CATEGORY__MEDISCH &&
        sc->data_category != KR__V1__DATA_CATEGORY__SOCIAAL) {
        *why = "data_category: medisch or sociaal";
        return KR__V1__REASON__INVALID_SCOPE;
    }
    if ((*why = s_envelope_disagrees(env, sc)) != NULL)
        return KR__V1__REASON__INVALID_SCOPE;
    if ((*why = s_check_side(b, sc->from_org, sc->from_category, "from")) ||
        (*why = s_check_side(b, sc->to_org, sc->to_category, "to")))
        return KR__V1__REASON__INVALID_SCOPE;
    if (sc->valid_from_ms == 0 || sc->valid_until_ms == 0) {
        *why = "valid_from and valid_until are required";
        return KR__V1__REASON__INVALID_SCOPE;
    }
    if (sc->valid_until_ms < sc->valid_from_ms) {
        *why = "valid_until is before valid_from";
        return KR__V1__REASON__INVALID_SCOPE;
    }
    if (sc->grantor != KR__V1__GRANTOR__SELF &&
        sc->grantor != KR__V1__GRANTOR__PARENT_WITH_AUTHORITY &&
        sc->grantor != KR__V1__GRANTOR__GUARDIAN) {
        *why = "grantor: self, parent-with-authority or guardian";
        return KR__V1__REASON__INVALID_SCOPE;
    }
    /* Whoever records a consent must be one of its parties: a practice
     * cannot record consents for others' exchanges. */
    if (!s_party(sc->from_org, sc->from_category, o) &&
        !s_party(sc->to_org, sc->to_category, o)) {
        *why = "the recording organisation is not a party to the scope";
        return KR__V1__REASON__NOT_PARTY;
    }
    if (txn == NULL) {
        *why = "store unavailable";
        return KR__V1__REASON__INTERNAL;
    }
    if (bstore_consent_get(b->store, txn, sc->consent_id.data, NULL, &old) ==
        0) {
        kr__v1__consent_record__free_unpacked(old, NULL);
        *why = "consent_id already recorded";
        return KR__V1__REASON__INVALID_SCOPE;
    }
    if (sc->supersedes.len != 0) {
        if (sc->supersedes.len != 16 ||
            bstore_consent_get(b->store, txn, sc->supersedes.data, NULL,
                               &old) != 0) {
            *why = "supersedes a consent that does not exist";
            return KR__V1__REASON__UNKNOWN_CONSENT;
        }
        const char *bad = NULL;
        int reason = KR__V1__REASON__INVALID_SCOPE;
        if (memcmp(old->scope->subject_pseudonym.data,
                   sc->subject_pseudonym.data, 32) != 0)
            bad = "supersedes a consent of another subject";
        else if (old->status != KR__V1__CONSENT_STATUS__CONSENT_ACTIVE)
            bad = "supersedes a consent that has already ended";
        else if (!s_is_party(old, o)) {
            bad = "supersedes a consent this organisation is no party to";
            reason = KR__V1__REASON__NOT_PARTY;
        }
        if (bad != NULL) {
            kr__v1__consent_record__free_unpacked(old, NULL);
            *why = bad;
            return reason;
        }
        *superseded = old;
    }
    *why = "scope valid, recorded by a party";
    return 0;
}

int
consent_apply_grant(struct broker *b, struct org *o,
                    const Kr__V1__Envelope *env,
                    Kr__V1__ConsentRecord *superseded)
{
    Kr__V1__ConsentRecord r = KR__V1__CONSENT_RECORD__INIT;
    MDB_txn *txn = broker_txn(b);
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    if (superseded != NULL) {
        superseded->status = KR__V1__CONSENT_STATUS__CONSENT_SUPERSEDED;
        superseded->ended_at_ms = b->now_ms;
        superseded->ended_by = o->id;
        superseded->superseded_by = env->consent_id;
        rc = bstore_consent_put(b->store, txn, superseded);
        /* Pointers borrowed from env and o must not be freed with it. */
        superseded->ended_by = NULL;
        superseded->superseded_by.data = NULL;
        superseded->superseded_by.len = 0;
        if (rc != 0)
            return rc;
        audit_write(b, &(struct audit_ev){
                           .event = "consent.superseded",
                           .action = 'U',
                           .org_id = o->id,
                           .env = env,
                           .consent_id = superseded->scope->consent_id.data,
                           .check = "superseded by a newer record"});
    }
    r.scope = env->consent_scope;
    r.status = KR__V1__CONSENT_STATUS__CONSENT_ACTIVE;
    r.recorded_by = o->id;
    r.recorded_at_ms = b->now_ms;
    r.grant_msg_id = env->msg_id;
    if ((rc = bstore_consent_put(b->store, txn, &r)) != 0)
        return rc;
    char hex[KR_ID_HEX_LEN];
    log_info("consent: granted consent=%s by=%s purpose=%s",
             util_hex(env->consent_id.data, 16, hex), o->id,
             env->consent_scope->purpose);
    /* The record names what was recorded: the scope's subject, purpose
     * and category (consent_check_grant made the envelope agree; taking
     * them from the scope keeps it so should that check ever change). */
    Kr__V1__Envelope recorded = *env;
    recorded.subject_pseudonym = env->consent_scope->subject_pseudonym;
    recorded.subject_key_version = env->consent_scope->subject_key_version;
    recorded.purpose = env->consent_scope->purpose;
    recorded.data_category = env->consent_scope->data_category;
    return audit_write(b, &(struct audit_ev){.event = "consent.granted",
                                             .action = 'C',
                                             .org_id = o->id,
                                             .env = &recorded,
                                             .check = "scope valid"});
}

int
consent_check_revoke(struct broker *b, struct org *o,
                     const Kr__V1__Envelope *env, const char **why,
                     Kr__V1__ConsentRecord **rec)
{
    MDB_txn *txn = broker_txn(b);

    *rec = NULL;
    if (env->consent_id.len != 16) {
        *why = "consent_id: 16 bytes";
        return KR__V1__REASON__MISSING_FIELD;
    }
    if (txn == NULL) {
        *why = "store unavailable";
        return KR__V1__REASON__INTERNAL;
    }
    if (bstore_consent_get(b->store, txn, env->consent_id.data, NULL, rec) !=
        0) {
        *why = "no such consent";
        return KR__V1__REASON__UNKNOWN_CONSENT;
    }
    if (!s_is_party(*rec, o)) {
        *why = "the revoking organisation is not a party to the consent";
        goto refuse;
    }
    if ((*rec)->status != KR__V1__CONSENT_STATUS__CONSENT_ACTIVE) {
        *why = "the consent has already ended";
        kr__v1__consent_record__free_unpacked(*rec, NULL);
        *rec = NULL;
        return KR__V1__REASON__INVALID_SCOPE;
    }
    *why = "revoked by a party to the consent";
    return 0;
refuse:
    kr__v1__consent_record__free_unpacked(*rec, NULL);
    *rec = NULL;
    return KR__V1__REASON__NOT_PARTY;
}

/* The messages under a revoked consent, collected before any write. */
struct s_hit {
    uint8_t msg_id[16];
    char state;
    char recipient[KR_ORG_ID_MAX];
};

struct s_hits {
    struct s_hit *v;
    size_t n, cap;
};

static void
s_collect(const uint8_t msg_id[16], char state, const char *recipient,
          void *arg)
{
    struct s_hits *h = arg;

    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    memcpy(h->v[h->n].msg_id, msg_id, 16);
    h->v[h->n].state = state;
    snprintf(h->v[h->n].recipient, KR_ORG_ID_MAX, "%s", recipient);
    h->n++;
}

/* Tell 'to' which of the messages it received fall under the revoked
 * consent: one durable notice per organisation. */
static int
s_notify(struct broker *b, const char *to, const uint8_t consent_id[16],
         const char *revoked_by, struct s_hits *h)
{
    struct org *o = orgs_find(b, to);
    Kr__V1__Notice n = KR__V1__NOTICE__INIT;
    Kr__V1__QueueItem item = KR__V1__QUEUE_ITEM__INIT;
    uint8_t id[16];
    size_t count = 0;
    int rc;

    if (o == NULL || o->removed) /* no node to tell (admin_keys.c) */
        return KR_OK;
    ProtobufCBinaryData *ids = xcalloc(h->n, sizeof(*ids));
    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i].state == 'n' && strcmp(h->v[i].recipient, to) == 0) {
            ids[count].data = h->v[i].msg_id;
            ids[count].len = 16;
            count++;
        }
    }
    util_time_ordered_id(id);
    n.notice_id.data = id;
    n.notice_id.len = 16;
    n.kind = KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED;
    n.consent_id.data = (uint8_t *)consent_id;
    n.consent_id.len = 16;
    n.msg_ids = ids;
    n.n_msg_ids = count;
    n.at_ms = b->now_ms;
    n.revoked_by = (char *)revoked_by;
    item.msg_id.data = id;
    item.msg_id.len = 16;
    item.notice = &n;
    rc = deliver_enqueue(b, o, &item, NULL);
    free(ids);
    if (rc == 0)
        audit_write(b, &(struct audit_ev){.event = "consent.notice",
                                          .action = 'C',
                                          .org_id = revoked_by,
                                          .consent_id = consent_id,
                                          .object = to,
                                          .check = "received under it"});
    return rc;
}

int
consent_apply_revoke(struct broker *b, struct org *o,
                     const Kr__V1__Envelope *env, Kr__V1__ConsentRecord *rec)
{
    MDB_txn *txn = broker_txn(b);
    const uint8_t *cid = env->consent_id.data;
    struct s_hits h = {NULL, 0, 0};
    size_t withdrawn = 0, notified = 0;
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    rec->status = KR__V1__CONSENT_STATUS__CONSENT_REVOKED;
    rec->ended_at_ms = b->now_ms;
    rec->ended_by = o->id;
    rc = bstore_consent_put(b->store, txn, rec);
    rec->ended_by = NULL;
    if (rc != 0)
        return rc;
    if ((rc = bstore_consent_msg_scan(b->store, txn, cid, s_collect, &h)) != 0)
        goto done;
    for (size_t i = 0; i < h.n; i++) {
        struct s_hit *hit = &h.v[i];
        Kr__V1__StoredMessage *m = NULL;
        if (bstore_msg_get(b->store, txn, hit->msg_id, NULL, &m) != 0)
            continue;
        if (m->state == KR__V1__MESSAGE_STATE__STATE_DELIVERED) {
            /* The index is not rewritten at delivery (deliver.c): the
             * message's own state says where it went. */
            kr__v1__stored_message__free_unpacked(m, NULL);
            hit->state = 'n';
            continue;
        }
        if (m->state == KR__V1__MESSAGE_STATE__QUEUED) {
            struct org *to = orgs_find(b, m->recipient);
            /* Sent but not yet acknowledged: the recipient may hold it,
             * though it will never count as delivered. Tell it too. */
            bool in_flight =
                to != NULL && to->connected && m->queue_seq < to->cursor;
            if (to != NULL && (rc = bstore_queue_del(b->store, txn, to->id,
                                                     m->queue_seq)) != 0) {
                kr__v1__stored_message__free_unpacked(m, NULL);
                goto done;
            }
            /* Its ack, if one comes, finds no queue entry and is ignored:
             * free its place in the window now, or the recipient's queue
             * would wait for the resend timer. */
            if (in_flight && to->inflight > 0)
                to->inflight--;
            if (to != NULL)
                to->dirty = true;
            rc = deliver_finalize(
                b, hit->msg_id, m, KR__V1__MESSAGE_STATE__STATE_WITHDRAWN,
                KR__V1__OUTCOME__WITHDRAWN, KR__V1__REASON__NO_CONSENT,
                "consent revoked before delivery");
            if (rc == 0)
                rc = audit_write(
                    b, &(struct audit_ev){.event = "message.withdrawn",
                                          .action = 'D',
                                          .org_id = o->id,
                                          .msg = m,
                                          .msg_id = hit->msg_id,
                                          .reason = KR__V1__REASON__NO_CONSENT,
                                          .check = "consent revoked"});
            kr__v1__stored_message__free_unpacked(m, NULL);
            if (rc != 0)
                goto done;
            withdrawn++;
            hit->state = in_flight ? 'n' : 'w';
        } else {
            kr__v1__stored_message__free_unpacked(m, NULL);
        }
    }
    /* One notice per organisation that holds, or may hold, something. */
    for (size_t i = 0; i < h.n; i++) {
        if (h.v[i].state != 'n')
            continue;
        bool first = true;
        for (size_t k = 0; k < i; k++)
            if (h.v[k].state == 'n' &&
                strcmp(h.v[k].recipient, h.v[i].recipient) == 0)
                first = false;
        if (!first)
            continue;
        if ((rc = s_notify(b, h.v[i].recipient, cid, o->id, &h)) != 0)
            goto done;
        notified++;
    }
    /* The referrals under it: in this commit too (referral_consent.c). */
    if ((rc = referral_consent_revoked(b, o, cid)) != 0)
        goto done;
    char hex[KR_ID_HEX_LEN];
    log_info("consent: revoked consent=%s by=%s withdrawn=%zu notified=%zu",
             util_hex(cid, 16, hex), o->id, withdrawn, notified);
    rc = audit_write(b, &(struct audit_ev){.event = "consent.revoked",
                                           .action = 'U',
                                           .org_id = o->id,
                                           .env = env,
                                           .check = "party to the consent"});
done:
    free(h.v);
    return rc;
}

static enum consent_status
s_status(int st)
{
    switch (st) {
    case KR__V1__CONSENT_STATUS__CONSENT_ACTIVE:
        return CONSENT_ACTIVE;
    case KR__V1__CONSENT_STATUS__CONSENT_REVOKED:
        return CONSENT_REVOKED;
    default:
        return CONSENT_SUPERSEDED;
    }
}

/* The ledger's records of one subject, as consent_decide reads them, in
 * the frame's arena. 0 or a kr.v1.Reason with why. */
static int
s_records(struct broker *b, MDB_txn *txn, const uint8_t *subject,
          struct consent_record **out, size_t *n, const char **why)
{
    Kr__V1__ConsentRecord **recs = NULL;
    struct consent_record *cr;

    if (txn == NULL) {
        *why = "store unavailable";
        return KR__V1__REASON__INTERNAL;
    }
    /* consent_gate runs inside the frame's arena scope (loop.c). */
    if (bstore_consent_by_subject(b->store, txn, subject,
                                  arena_allocator(&b->pb), &recs, n) != 0) {
        *why = "consent ledger unreadable";
        return KR__V1__REASON__INTERNAL;
    }
    size_t cr_size = (*n ? *n : 1) * sizeof(*cr);
    cr = memset(arena_alloc(&b->pb, cr_size), 0, cr_size);
    for (size_t i = 0; i < *n; i++) {
        const Kr__V1__ConsentScope *sc = recs[i]->scope;
        if (sc == NULL || sc->consent_id.len != 16 ||
            sc->subject_pseudonym.len != 32) {
            cr[i].consent_id = (const uint8_t *)"\0\0\0\0\0\0\0\0\0\0\0"
                                                "\0\0\0\0";
            cr[i].subject = (const uint8_t *)"";
            continue;
        }
        cr[i] = (struct consent_record){
            .consent_id = sc->consent_id.data,
            .subject = sc->subject_pseudonym.data,
            .key_version = sc->subject_key_version,
            .purpose = sc->purpose,
            .data_category = sc->data_category,
            .from_org = sc->from_org,
            .from_category = sc->from_category,
            .to_org = sc->to_org,
            .to_category = sc->to_category,
            .valid_from_ms = sc->valid_from_ms,
            .valid_until_ms = sc->valid_until_ms,
            .status = s_status(recs[i]->status),
        };
    }
    *out = cr;
    return 0;
}

int
consent_gate(struct broker *b, struct org *from, struct org *to,
             const Kr__V1__Envelope *env, uint8_t cid_out[16], bool *has_cid,
             bool *noodknop, const char **why)
{
    struct consent_query q = {0};
    struct consent_decision d;
    struct consent_record *cr = NULL;
    size_t n = 0;
    MDB_txn *txn = broker_txn(b);
    int rc;

    *has_cid = false;
    *noodknop = false;
    q.message_type = env->type;
    q.subject =
        env->subject_pseudonym.len == 32 ? env->subject_pseudonym.data : NULL;
    q.key_version = env->subject_key_version;
    q.purpose = env->purpose;
    q.data_category = env->data_category;
    q.from_org = from->id;
    q.from_category = from->category;
    q.to_org = to->id;
    q.to_category = to->category;
    q.legal_basis = env->legal_basis;
    q.consent_id = env->consent_id.len == 16 ? env->consent_id.data : NULL;
    q.has_justification = env->justification_digest.len == 32;
    bool ledger = consent_required(env->type) &&
                  q.legal_basis == KR__V1__LEGAL_BASIS__CONSENT &&
                  q.subject != NULL;
    if (ledger && (rc = s_records(b, txn, q.subject, &cr, &n, why)) != 0)
        return rc;
    consent_decide(cr, n, &q, b->now_ms, &d);
    /* A coalition-key rotation: consents recorded under the previous key
     * version are found by the subject's previous pseudonym, which the
     * sender's node adds while it holds that version. Only after a denial,
     * so the usual message pays nothing. */
    if (ledger && d.verdict == CONSENT_DENY &&
        env->previous_subject_pseudonym.len == 32 &&
        env->previous_subject_key_version != q.key_version) {
        struct consent_decision d2;
        q.subject = env->previous_subject_pseudonym.data;
        q.key_version = env->previous_subject_key_version;
        if ((rc = s_records(b, txn, q.subject, &cr, &n, why)) != 0)
            return rc;
        consent_decide(cr, n, &q, b->now_ms, &d2);
        if (d2.verdict != CONSENT_DENY)
            d = d2;
    }
    int reason = 0;
    *why = d.check;
    if (d.verdict == CONSENT_DENY) {
        reason = d.reason;
    } else if (d.verdict == CONSENT_ALLOW && d.decided_by != NULL) {
        memcpy(cid_out, d.decided_by->consent_id, 16);
        *has_cid = true;
    } else if (d.verdict == CONSENT_ALLOW_MELDRECHT) {
        *noodknop = true;
    }
    return reason; /* records go with the frame's arena scope */
}
