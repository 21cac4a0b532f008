/* local_send.c - a send from an adapter: checked, sealed for its
 * recipient and stored in the outbox, or parked until the directory names
 * the recipient (local.c has the rest of the adapters' socket). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "names.h"
#include "node.h"

#include "local_internal.h"

/*
 * send
 */

static bool
s_id_len_ok(const ProtobufCBinaryData *b)
{
    return b->len == 0 || b->len == KR_ID_LEN;
}

/* What the checks of a send work out for building it. */
struct send_prep {
    /* MELDRECHT: BLAKE2b-256 of the content's justification. */
    uint8_t digest[NODE_DIGEST_LEN];
    bool has_digest;
    struct seal_fields codes; /* REFERRAL_STATUS: its clear codes */
};

/* A CONSENT_GRANT: its scope is parsed here, not judged. Whether the
 * period, the purpose or the parties make sense is the broker's to decide
 * (INVALID_SCOPE): one place for that rule. The scope's subject is always
 * the node's pseudonym of subject_bsn, whatever the adapter put there. */
static int
s_grant_check(const Kr__V1__SendRequest *sr, const char **why)
{
    const Kr__V1__ConsentScope *sc = sr->consent_scope;

    if (sc == NULL) {
        *why = "consent-grant needs consent_scope";
        return KR_EINVAL;
    }
    if (sr->subject_bsn[0] == '\0') {
        *why = "consent-grant needs subject_bsn: the subject of the scope";
        return KR_EINVAL;
    }
    if (!s_id_len_ok(&sc->consent_id) || !s_id_len_ok(&sc->supersedes)) {
        *why = "consent_scope.consent_id and consent_scope.supersedes are "
               "16 bytes when given";
        return KR_EINVAL;
    }
    if (sc->consent_id.len == KR_ID_LEN && sr->consent_id.len == KR_ID_LEN &&
        memcmp(sc->consent_id.data, sr->consent_id.data, KR_ID_LEN) != 0) {
        *why = "consent_id and consent_scope.consent_id differ";
        return KR_EINVAL;
    }
    /* The envelope's purpose and category are the scope's; a request that
     * says otherwise has mixed up two things. */
    if (sr->purpose[0] != '\0' && strcmp(sr->purpose, sc->purpose) != 0) {
        *why = "purpose differs from consent_scope.purpose";
        return KR_EINVAL;
    }
    if (sr->data_category != 0 && sr->data_category != sc->data_category) {
        *why = "data_category differs from consent_scope.data_category";
        return KR_EINVAL;
    }
    return KR_OK;
}

/* Check a send before anything is sealed. Returns 0 or the error with
 * 'why' set for the adapter. The content's parse lives in the request's
 * arena scope (pb). */
static int
s_send_check(struct arena *pb, const Kr__V1__SendRequest *sr,
             struct send_prep *prep, const char **why)
{
    Kr__V1__Content *c;
    int rc;

    if (sr->type <= KR__V1__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED ||
        sr->type > KR__V1__MESSAGE_TYPE__ERASURE_REQUEST) {
        *why = "type is not set or not known";
        return KR_EINVAL;
    }
    if (!util_org_id_valid(sr->recipient)) {
        *why = "recipient is not an organisation id";
        return KR_EINVAL;
    }
    if (sr->content.len == 0) {
        *why = "content is empty";
        return KR_EINVAL;
    }
    if (sr->content.len > NODE_CONTENT_MAX) {
        *why = "content is larger than 8 MiB";
        return KR_EINVAL;
    }
    if (!s_id_len_ok(&sr->msg_id) || !s_id_len_ok(&sr->referral_id) ||
        !s_id_len_ok(&sr->case_id) || !s_id_len_ok(&sr->in_reply_to) ||
        !s_id_len_ok(&sr->consent_id)) {
        *why = "msg_id, referral_id, case_id, in_reply_to and consent_id are "
               "16 bytes when given";
        return KR_EINVAL;
    }
    if (sr->subject_bsn[0] != '\0' && !kcrypto_bsn_valid(sr->subject_bsn)) {
        *why = "subject_bsn is not a valid BSN (9 digits, eleven-test)";
        return KR_EINVAL;
    }
    if (sr->consent_scope != NULL &&
        sr->type != KR__V1__MESSAGE_TYPE__CONSENT_GRANT) {
        *why = "consent_scope is only for consent-grant";
        return KR_EINVAL;
    }
    if (sr->type == KR__V1__MESSAGE_TYPE__CONSENT_GRANT &&
        (rc = s_grant_check(sr, why)) != KR_OK)
        return rc;
    if (sr->type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE &&
        sr->consent_id.len != KR_ID_LEN) {
        *why = "consent-revoke needs consent_id: the consent to revoke";
        return KR_EINVAL;
    }
    /* The recipient refuses content it cannot parse; tell the adapter now
     * rather than in a receipt later. */
    c = kr__v1__content__unpack(arena_allocator(pb), sr->content.len,
                                sr->content.data);
    if (c == NULL) {
        *why = "content is not a serialized kr.v1.Content";
        return KR_EINVAL;
    }
    prep->has_digest = false;
    memset(&prep->codes, 0, sizeof(prep->codes));
    if ((rc = referrals_send_codes(sr, c, &prep->codes, why)) != KR_OK)
        return rc;
    if (sr->legal_basis == KR__V1__LEGAL_BASIS__MELDRECHT) {
        /* The broker lets a meldrecht past the consent gate only with the
         * digest, and the recipient checks it against the sealed text. */
        if (c->justification == NULL || c->justification[0] == '\0') {
            *why = "meldrecht needs a justification";
            return KR_EINVAL;
        }
        kcrypto_hash((const uint8_t *)c->justification,
                     strlen(c->justification), prep->digest);
        prep->has_digest = true;
    }
    return KR_OK;
}

/* The consent_id of a grant as stored in the outbox, for the answer to a
 * repeated send; NULL if the envelope does not parse or has none. It
 * lives in the request's arena scope. */
static const uint8_t *
s_stored_consent_id(struct node *n, MDB_txn *txn, const uint8_t *msg_id)
{
    const uint8_t *sig, *env;
    size_t env_len;
    Kr__V1__Envelope *e;

    if (nstore_outbox_envelope(n->store, txn, msg_id, &sig, &env, &env_len) !=
        KR_OK)
        return NULL;
    e = kr__v1__envelope__unpack(arena_allocator(&n->pb), env_len, env);
    if (e == NULL)
        return NULL;
    return e->consent_id.len == KR_ID_LEN ? e->consent_id.data : NULL;
}

/* Is this outbox record only a receipt kept for a message the node never
 * committed (OutboxItem.not_held)? */
static bool
s_not_held(struct node *n, const uint8_t *v, size_t vlen)
{
    Kr__V1__OutboxRecord *rec =
        kr__v1__outbox_record__unpack(arena_allocator(&n->pb), vlen, v);

    return rec != NULL && rec->item != NULL && rec->item->not_held;
}

/* A send whose msg_id the outbox holds: the same message again (return its
 * id) or another one under a taken id (KR_EEXIST). */
static void
s_send_again(struct node *n, MDB_txn *txn, const struct origin *from,
             const Kr__V1__SendRequest *sr, const uint8_t *v, size_t vlen)
{
    Kr__V1__OutboxRecord *rec =
        kr__v1__outbox_record__unpack(arena_allocator(&n->pb), vlen, v);
    char hex[KR_ID_HEX_LEN];

    util_hex(sr->msg_id.data, KR_ID_LEN, hex);
    if (rec == NULL || rec->item == NULL) {
        local_reply_err(n, from, KR_ESTORE,
                        "outbox record of %s does not parse", hex);
    } else if (strcmp(rec->item->recipient, sr->recipient) != 0 ||
               (int)rec->item->type != (int)sr->type) {
        log_warnx("outbox: msg_id taken msg=%s to=%s", hex, sr->recipient);
        local_reply_err(n, from, KR_EEXIST,
                        "msg_id %s belongs to another message", hex);
    } else if (rec->item->type == KR__V1__MESSAGE_TYPE__CONSENT_GRANT) {
        const uint8_t *cid = s_stored_consent_id(n, txn, sr->msg_id.data);

        log_debug("outbox: send again msg=%s to=%s", hex, sr->recipient);
        local_reply_ids(n, from, sr->msg_id.data, cid);
    } else {
        log_debug("outbox: send again msg=%s to=%s", hex, sr->recipient);
        local_reply_id(n, from, sr->msg_id.data);
    }
}

static void
s_park(struct node *n, const struct origin *from, const char *org,
       const uint8_t *data, size_t len)
{
    struct local *lo = &n->local;
    struct parked *pk;

    if (lo->nparked == NODE_PARK_MAX) {
        local_reply_err(n, from, KR_EUNAVAIL,
                        "too many sends wait for directory lookups; retry");
        return;
    }
    pk = &lo->parked[lo->nparked++];
    pk->from = *from;
    pk->req = xmalloc(len ? len : 1);
    memcpy(pk->req, data, len);
    pk->len = len;
    snprintf(pk->org, sizeof(pk->org), "%s", org);
    pk->deadline_mono = n->pass.now_mono + NODE_PARK_MS;
    link_want_directory(n, org);
    log_info("outbox: waiting for directory to=%s", org);
}

/* An id that follows from another: the first 16 bytes of BLAKE2b-256 of
 * a domain string and that id. */
static void
s_derive_id(const char *domain, const uint8_t from[KR_ID_LEN],
            uint8_t out[KR_ID_LEN])
{
    uint8_t h[32];

    kcrypto_hash2((const uint8_t *)domain, strlen(domain), from, KR_ID_LEN, h);
    memcpy(out, h, KR_ID_LEN);
}

/* A send refused before it is stored: the node's map (KR_EFULL) or the
 * file system under it (KR_EDISKFULL) is nearly full, and what is left is
 * kept for the receipts and deliveries that let its work drain. Logged
 * once, then once a minute with a count, and once when sends are taken
 * again (local_room_again). */
static struct log_every s_full_log;

static void
s_refuse_full(struct node *n, const struct origin *from, int rc,
              const char *recipient)
{
    uint64_t unlogged;

    if (log_every_hit(&s_full_log, n->pass.now_mono, 60000, &unlogged))
        log_warnx("outbox: ALERT %s: sends refused to=%s map_size_mb=%llu "
                  "refused_since_last=%llu",
                  rc == KR_EDISKFULL ? "disk full at the node (free space "
                                       "on the store's file system)"
                                     : "store nearly full (raise "
                                       "map_size_mb)",
                  recipient, (unsigned long long)n->cfg->map_size_mb,
                  (unsigned long long)unlogged);
    if (rc == KR_EDISKFULL)
        local_reply_err(n, from, rc,
                        "send refused, nothing stored; retry when the node's "
                        "file system has room");
    else
        local_reply_err(n, from, rc,
                        "the node's store is nearly full: send refused");
}

void
local_room_again(struct node *n)
{
    uint64_t dur, count;

    if (log_every_active(&s_full_log) &&
        nstore_room(n->store, n->pass.now_mono, NULL) == KR_OK &&
        log_every_clear(&s_full_log, n->pass.now_mono, &dur, &count))
        log_warnx("outbox: room again: sends taken after %llu ms "
                  "refused=%llu",
                  (unsigned long long)dur, (unsigned long long)count);
}

void
local_send(struct node *n, const struct origin *from,
           const Kr__V1__SendRequest *sr, const uint8_t *data, size_t len)
{
    Kr__V1__OutboxItem item = KR__V1__OUTBOX_ITEM__INIT;
    Kr__V1__OutboxRecord rec = KR__V1__OUTBOX_RECORD__INIT;
    uint8_t msg_id[KR_ID_LEN], referral_id[KR_ID_LEN], trace_id[KR_ID_LEN];
    uint8_t pseudonym[KR_PSEUDONYM_LEN], sig[KR_SIG_LEN];
    uint8_t prev_pseudonym[KR_PSEUDONYM_LEN];
    uint8_t consent_id[KR_ID_LEN];
    Kr__V1__ConsentScope scope;
    struct send_prep prep;
    struct seal_fields f = {0};
    char hex[KR_ID_HEX_LEN], chex[KR_ID_HEX_LEN] = "-";
    const uint8_t *env, *v;
    size_t env_len, vlen;
    const char *why = NULL;
    struct peer *peer;
    MDB_txn *txn;
    int rc;

    if ((rc = s_send_check(&n->pb, sr, &prep, &why)) != KR_OK) {
        local_reply_err(n, from, rc, "%s", why);
        return;
    }
    if (sr->subject_bsn[0] != '\0' && n->coalition == NULL) {
        local_reply_err(n, from, KR_ECONFIG, "no coalition key configured");
        return;
    }
    if ((rc = pass_txn(n, &txn)) != KR_OK) {
        local_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        return;
    }
    if (sr->msg_id.len == KR_ID_LEN) {
        rc = nstore_outbox_get(n->store, txn, sr->msg_id.data, &v, &vlen);
        if (rc == KR_OK && !s_not_held(n, v, vlen)) {
            s_send_again(n, txn, from, sr, v, vlen);
            return;
        }
        /* Not held: the broker has this message and we kept its receipt;
         * the send stores it and takes that record over. */
        if (rc != KR_OK && rc != KR_ENOTFOUND) {
            local_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
            return;
        }
    }
    if ((rc = nstore_room(n->store, n->pass.now_mono, NULL)) != KR_OK) {
        s_refuse_full(n, from, rc, sr->recipient);
        return;
    }
    local_room_again(n);
    peer = peers_find(&n->peers, sr->recipient);
    if (peer == NULL || !peer->known) {
        s_park(n, from, sr->recipient, data, len);
        return;
    }

    /* Ids the node makes sort by time: every store on the way (outbox,
     * broker, inbox) is keyed by msg_id and then appends instead of
     * scattering writes. An adapter's own ids are taken as they come. */
    if (sr->msg_id.len == KR_ID_LEN)
        memcpy(msg_id, sr->msg_id.data, KR_ID_LEN);
    else
        util_time_ordered_id(msg_id);
    util_random_id(trace_id);
    f.sender = n->cfg->org;
    f.msg_id = msg_id;
    f.created_at_ms = n->pass.now_ms;
    f.trace_id = trace_id;
    if ((sr->type == KR__V1__MESSAGE_TYPE__REFERRAL ||
         sr->type == KR__V1__MESSAGE_TYPE__HANDOVER) &&
        sr->referral_id.len == 0) {
        /* A new referral gets its id; with a named msg_id, one derived
         * from it, so that a retried send is the same referral. */
        /* Both sort by time, as msg_ids do: the broker files referrals
         * by id, and rising ids append to its tree instead of landing on
         * a random page each (krbench timers). A derived id keeps the
         * msg_id's first 6 bytes (its time, when the id is time-ordered). */
        if (sr->msg_id.len == KR_ID_LEN) {
            s_derive_id("kr.v1 referral_id", msg_id, referral_id);
            memmove(referral_id + 6, referral_id, KR_ID_LEN - 6);
            memcpy(referral_id, msg_id, 6);
        } else {
            util_time_ordered_id(referral_id);
        }
        f.referral_id = referral_id;
    }
    if (sr->subject_bsn[0] != '\0') {
        rc = kcrypto_pseudonym(n->coalition, sr->subject_bsn, pseudonym);
        if (rc != KR_OK) {
            local_reply_err(n, from, rc, "subject_bsn: no pseudonym");
            return;
        }
        f.pseudonym = pseudonym;
        f.key_version = n->coalition->version;
        if (n->prev_coalition != NULL &&
            kcrypto_pseudonym(n->prev_coalition, sr->subject_bsn,
                              prev_pseudonym) == KR_OK) {
            f.prev_pseudonym = prev_pseudonym;
            f.prev_key_version = n->prev_coalition->version;
        }
    }
    if (sr->type == KR__V1__MESSAGE_TYPE__CONSENT_GRANT) {
        /* The scope goes out as given, with its subject as the envelope's
         * (s_grant_check made sure there is one) and its id settled. The
         * copy is shallow: it borrows the request's strings. */
        scope = *sr->consent_scope;
        if (scope.consent_id.len == KR_ID_LEN)
            memcpy(consent_id, scope.consent_id.data, KR_ID_LEN);
        else if (sr->consent_id.len == KR_ID_LEN)
            memcpy(consent_id, sr->consent_id.data, KR_ID_LEN);
        else
            util_time_ordered_id(consent_id);
        scope.consent_id.data = consent_id;
        scope.consent_id.len = KR_ID_LEN;
        scope.subject_pseudonym.data = pseudonym;
        scope.subject_pseudonym.len = KR_PSEUDONYM_LEN;
        scope.subject_key_version = f.key_version;
        f.scope = &scope;
        util_hex(consent_id, KR_ID_LEN, chex);
    } else if (sr->consent_id.len == KR_ID_LEN)
        util_hex(sr->consent_id.data, KR_ID_LEN, chex);
    if (prep.has_digest)
        f.justification_digest = prep.digest;
    f.task_status = prep.codes.task_status;
    f.cancel_step = prep.codes.cancel_step;
    f.status_reason = prep.codes.status_reason;
    f.status_outcome = prep.codes.status_outcome;
    rc = seal_build(&n->seal, peer, sr, &f, &env, &env_len, sig);
    if (rc != KR_OK) {
        local_reply_err(n, from, rc, "cannot seal for %s: %s", sr->recipient,
                        kr_strerror(rc));
        return;
    }

    item.msg_id.data = msg_id;
    item.msg_id.len = KR_ID_LEN;
    item.recipient = sr->recipient;
    item.type = sr->type;
    item.referral_id = f.referral_id != NULL
                           ? (ProtobufCBinaryData){KR_ID_LEN, referral_id}
                           : sr->referral_id;
    item.created_at_ms = f.created_at_ms;
    rec.envelope.data = (uint8_t *)env;
    rec.envelope.len = env_len;
    rec.signature.data = sig;
    rec.signature.len = KR_SIG_LEN;
    rec.item = &item;
    util_hex(msg_id, KR_ID_LEN, hex);
    rc = nstore_outbox_add(n->store, txn, &rec);
    if (rc == KR_EEXIST) {
        local_reply_err(n, from, rc, "msg_id %s is taken", hex);
        return;
    }
    if (rc != KR_OK) {
        pass_fail(n, rc);
        local_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        return;
    }
    log_debug("outbox: queued msg=%s to=%s type=%s seq=%llu bytes=%zu "
              "consent=%s",
              hex, sr->recipient, message_type_name(sr->type),
              (unsigned long long)rec.seq, env_len, chex);
    /* See link_send.c, "Sending ahead of the commit", for why only
     * these. */
    if (sr->msg_id.len == KR_ID_LEN &&
        sr->type != KR__V1__MESSAGE_TYPE__CONSENT_GRANT &&
        sr->type != KR__V1__MESSAGE_TYPE__CONSENT_REVOKE &&
        link_may_send_ahead(n))
        pass_add_ahead(n, msg_id, sig, env, env_len);
    else
        link_outbox_changed(n);
    local_reply_ids(n, from, msg_id, f.scope != NULL ? consent_id : NULL);
}
