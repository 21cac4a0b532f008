/* local.c - the adapters' socket: a ROUTER on ipc:// (by default) that
 * answers each LocalRequest with one LocalResponse (local.proto).
 *
 * The socket carries plain text of sealed content, so it never leaves the
 * machine and its file is not accessible to others. A send is answered only
 * after the pass that stored it has committed (loop.c); a send to an
 * organisation we have no keys for waits (parked) for a directory answer,
 * at most NODE_PARK_MS. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <zmq.h>

#include "diskspace.h"
#include "log.h"
#include "names.h"
#include "node.h"
#include "nmetrics.h"

/* The routing envelope of a request: who gets the reply. */
struct origin {
    uint8_t rid[NODE_RID_MAX];
    size_t rid_len;
    bool delim; /* REQ clients put an empty frame first */
};

struct parked {
    struct origin from;
    uint8_t *req; /* the LocalRequest as received */
    size_t len;
    char org[KR_ORG_ID_MAX]; /* the recipient we wait for */
    uint64_t deadline_mono;
};

/* An inbox request that waits for something to arrive. */
struct inbox_wait {
    struct origin from;
    Kr__V1__ListRequest lr; /* its parameters (no pointers) */
    uint64_t deadline_mono;
};

static void s_handle(struct node *n, const struct origin *from,
                     const uint8_t *data, size_t len);
static void s_send_replies(struct node *n, size_t from, size_t to,
                           int commit_rc);

/*
 * Replies
 */

static void
s_reply(struct node *n, const struct origin *from,
        const Kr__V1__LocalResponse *resp)
{
    size_t len = kr__v1__local_response__get_packed_size(resp);
    uint8_t *data = xmalloc(len);

    kr__v1__local_response__pack(resp, data);
    pass_add_reply(n, from->rid, from->rid_len, from->delim, data, len);
}

static void s_reply_err(struct node *n, const struct origin *from, int err,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_reply_err(struct node *n, const struct origin *from, int err, const char *fmt,
            ...)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    char detail[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    resp.error = err;
    resp.detail = detail;
    s_reply(n, from, &resp);
}

/* The answer to a send (and to processed): the message's id and, for a
 * consent grant, the consent's (NULL: none). */
static void
s_reply_ids(struct node *n, const struct origin *from, const uint8_t *msg_id,
            const uint8_t *consent_id)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;

    resp.msg_id.data = (uint8_t *)msg_id;
    resp.msg_id.len = KR_ID_LEN;
    if (consent_id != NULL) {
        resp.consent_id.data = (uint8_t *)consent_id;
        resp.consent_id.len = KR_ID_LEN;
    }
    s_reply(n, from, &resp);
}

static void
s_reply_id(struct node *n, const struct origin *from, const uint8_t *msg_id)
{
    s_reply_ids(n, from, msg_id, NULL);
}

/*
 * Setup
 */

int
local_open(struct node *n)
{
    struct local *lo = &n->local;
    int64_t maxmsg = NODE_FRAME_MAX;
    /* Replies of the last pass before a stop still get out. */
    int linger = 500;
    const char *ipc_path = NULL;
    mode_t old;
    int rc;

    memset(lo, 0, sizeof(*lo));
    if (n->cfg->local[0] != '\0') {
        lo->endpoint = xstrdup(n->cfg->local);
    } else {
        size_t len = strlen(n->cfg->data_dir) + 32;
        lo->endpoint = xmalloc(len);
        snprintf(lo->endpoint, len, "ipc://%s/node.sock", n->cfg->data_dir);
    }
    if (strncmp(lo->endpoint, "ipc://", 6) == 0) {
        struct sockaddr_un sun;
        ipc_path = lo->endpoint + 6;
        if (strlen(ipc_path) >= sizeof(sun.sun_path)) {
            log_errorx("local: socket path is too long (at most %zu bytes): "
                       "%s",
                       sizeof(sun.sun_path) - 1, ipc_path);
            return KR_ECONFIG;
        }
    } else {
        log_warnx("local: endpoint %s is not ipc://: whoever reaches it "
                  "can send as %s",
                  lo->endpoint, n->cfg->org);
    }
    lo->parked = xcalloc(NODE_PARK_MAX, sizeof(*lo->parked));
    lo->waits = xcalloc(NODE_WAIT_MAX, sizeof(*lo->waits));
    if ((lo->sock = zmq_socket(n->zctx, ZMQ_ROUTER)) == NULL ||
        zmq_setsockopt(lo->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_setsockopt(lo->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) !=
            0) {
        log_errorx("local: socket: %s", zmq_strerror(errno));
        return KR_ESYS;
    }
    /* The socket file is created by bind() in this thread: a umask of 077
     * makes it ours alone from its first moment; the chmod is for file
     * systems that ignore the umask on sockets. */
    old = umask(077);
    rc = zmq_bind(lo->sock, lo->endpoint);
    umask(old);
    if (rc != 0) {
        log_errorx("local: bind %s: %s", lo->endpoint, zmq_strerror(errno));
        return KR_ESYS;
    }
    if (ipc_path != NULL && chmod(ipc_path, 0600) != 0) {
        log_errorx("local: chmod 0600 %s: %s", ipc_path, strerror(errno));
        return KR_ESYS;
    }
    /* socket_group / socket_mode: adapters need not run as this user. */
    return daemon_socket_perms(lo->endpoint, &n->cfg->ops);
}

void
local_close(struct node *n)
{
    struct local *lo = &n->local;

    if (lo->sock != NULL)
        zmq_close(lo->sock);
    lo->sock = NULL;
    for (size_t i = 0; i < lo->nparked; i++)
        free(lo->parked[i].req);
    free(lo->parked);
    lo->parked = NULL;
    lo->nparked = 0;
    free(lo->waits);
    lo->waits = NULL;
    lo->nwaits = 0;
    free(lo->endpoint);
    lo->endpoint = NULL;
}

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
        s_reply_err(n, from, KR_ESTORE, "outbox record of %s does not parse",
                    hex);
    } else if (strcmp(rec->item->recipient, sr->recipient) != 0 ||
               (int)rec->item->type != (int)sr->type) {
        log_warnx("outbox: msg_id taken msg=%s to=%s", hex, sr->recipient);
        s_reply_err(n, from, KR_EEXIST, "msg_id %s belongs to another message",
                    hex);
    } else if (rec->item->type == KR__V1__MESSAGE_TYPE__CONSENT_GRANT) {
        const uint8_t *cid = s_stored_consent_id(n, txn, sr->msg_id.data);

        log_debug("outbox: send again msg=%s to=%s", hex, sr->recipient);
        s_reply_ids(n, from, sr->msg_id.data, cid);
    } else {
        log_debug("outbox: send again msg=%s to=%s", hex, sr->recipient);
        s_reply_id(n, from, sr->msg_id.data);
    }
}

static void
s_park(struct node *n, const struct origin *from, const char *org,
       const uint8_t *data, size_t len)
{
    struct local *lo = &n->local;
    struct parked *pk;

    if (lo->nparked == NODE_PARK_MAX) {
        s_reply_err(n, from, KR_EUNAVAIL,
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
        s_reply_err(n, from, rc,
                    "send refused, nothing stored; retry when the node's "
                    "file system has room");
    else
        s_reply_err(n, from, rc,
                    "the node's store is nearly full: send refused");
}

static void
s_room_again(struct node *n)
{
    uint64_t dur, count;

    if (log_every_active(&s_full_log) &&
        nstore_room(n->store, n->pass.now_mono, NULL) == KR_OK &&
        log_every_clear(&s_full_log, n->pass.now_mono, &dur, &count))
        log_warnx("outbox: room again: sends taken after %llu ms "
                  "refused=%llu",
                  (unsigned long long)dur, (unsigned long long)count);
}

static void
s_send(struct node *n, const struct origin *from, const Kr__V1__SendRequest *sr,
       const uint8_t *data, size_t len)
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
        s_reply_err(n, from, rc, "%s", why);
        return;
    }
    if (sr->subject_bsn[0] != '\0' && n->coalition == NULL) {
        s_reply_err(n, from, KR_ECONFIG, "no coalition key configured");
        return;
    }
    if ((rc = pass_txn(n, &txn)) != KR_OK) {
        s_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
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
            s_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
            return;
        }
    }
    if ((rc = nstore_room(n->store, n->pass.now_mono, NULL)) != KR_OK) {
        s_refuse_full(n, from, rc, sr->recipient);
        return;
    }
    s_room_again(n);
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
            s_reply_err(n, from, rc, "subject_bsn: no pseudonym");
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
        s_reply_err(n, from, rc, "cannot seal for %s: %s", sr->recipient,
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
        s_reply_err(n, from, rc, "msg_id %s is taken", hex);
        return;
    }
    if (rc != KR_OK) {
        pass_fail(n, rc);
        s_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
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
    s_reply_ids(n, from, msg_id, f.scope != NULL ? consent_id : NULL);
}

/*
 * Listings, processed, status
 */

static uint32_t
s_limit(const Kr__V1__ListRequest *lr)
{
    if (lr->limit == 0)
        return NODE_LIST_DEFAULT;
    return lr->limit > NODE_LIST_MAX ? NODE_LIST_MAX : lr->limit;
}

/* Park an inbox request until something arrives or its deadline. */
static bool
s_wait_inbox(struct node *n, const struct origin *from,
             const Kr__V1__ListRequest *lr, uint64_t deadline_mono)
{
    struct local *lo = &n->local;

    if (lo->nwaits == NODE_WAIT_MAX)
        return false; /* answered at once: the adapter asks again */
    struct inbox_wait *w = &lo->waits[lo->nwaits++];
    w->from = *from;
    kr__v1__list_request__init(&w->lr);
    w->lr.after_seq = lr->after_seq;
    w->lr.limit = lr->limit;
    w->lr.unprocessed_only = lr->unprocessed_only;
    w->lr.wait_ms = lr->wait_ms;
    w->deadline_mono = deadline_mono;
    return true;
}

/* deadline_mono: 0 for a new request (it may wait wait_ms from now),
 * else the deadline of a wait being answered again (UINT64_MAX: answer,
 * whatever there is). */
static void
s_list_inbox(struct node *n, MDB_txn *txn, const struct origin *from,
             const Kr__V1__ListRequest *lr, uint64_t deadline_mono)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    uint32_t limit = s_limit(lr);
    /* The records listed live in one arena scope, gone after the reply. */
    struct arena_mark mark = arena_mark(&n->pb);
    Kr__V1__InboxItem **items = arena_alloc(&n->pb, limit * sizeof(*items));
    struct nstore_iter it;
    size_t count = 0, bytes = 0;
    int rc;

    if (txn == NULL && (rc = pass_txn(n, &txn)) != KR_OK)
        goto fail;
    rc = nstore_iter_open(n->store, txn,
                          lr->unprocessed_only ? NSTORE_INBOX_UNPROCESSED
                                               : NSTORE_INBOX_ALL,
                          lr->after_seq, &it);
    if (rc != KR_OK)
        goto fail;
    /* A page ends at 'limit' items or, with large content, at about
     * NODE_LIST_BYTES: the adapter asks again after the last seq. */
    while (count < limit && bytes < NODE_LIST_BYTES) {
        const uint8_t *id, *v;
        size_t len;
        uint64_t seq;

        if ((rc = nstore_iter_next(&it, &seq, &id, &v, &len)) != KR_OK)
            break;
        /* A delivery held for the broker's pass result ends the page: an
         * adapter that went on past it would never ask for it again. */
        if (n->prov.n > 0 && prov_hidden(n, seq, id))
            break;
        Kr__V1__InboxRecord *rec =
            kr__v1__inbox_record__unpack(arena_allocator(&n->pb), len, v);
        if (rec == NULL || rec->item == NULL) {
            log_errorx("local: inbox record seq=%llu does not parse: skipped",
                       (unsigned long long)seq);
            continue;
        }
        items[count] = rec->item;
        bytes += len;
        count++;
    }
    nstore_iter_close(&it);
    if (rc != KR_OK && rc != KR_ENOTFOUND)
        goto fail;
    if (count == 0 && lr->wait_ms > 0 && deadline_mono != UINT64_MAX) {
        uint32_t ms =
            lr->wait_ms < NODE_WAIT_MS_MAX ? lr->wait_ms : NODE_WAIT_MS_MAX;
        if (deadline_mono == 0)
            deadline_mono = n->pass.now_mono + ms;
        if (n->pass.now_mono < deadline_mono &&
            s_wait_inbox(n, from, lr, deadline_mono))
            goto done;
    }
    resp.inbox = items;
    resp.n_inbox = count;
    s_reply(n, from, &resp);
    goto done;
fail:
    s_reply_err(n, from, rc, "inbox: %s", kr_strerror(rc));
done:
    arena_release(&n->pb, mark);
}

static void
s_list_outbox(struct node *n, const struct origin *from,
              const Kr__V1__ListRequest *lr)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    uint32_t limit = s_limit(lr);
    /* The records listed live in one arena scope, gone after the reply. */
    struct arena_mark mark = arena_mark(&n->pb);
    Kr__V1__OutboxItem **items = arena_alloc(&n->pb, limit * sizeof(*items));
    struct nstore_iter it;
    size_t count = 0;
    MDB_txn *txn;
    int rc;

    if ((rc = pass_txn(n, &txn)) != KR_OK)
        goto fail;
    rc = nstore_iter_open(n->store, txn, NSTORE_OUTBOX_ALL, lr->after_seq, &it);
    if (rc != KR_OK)
        goto fail;
    while (count < limit) {
        const uint8_t *id, *v;
        size_t len;
        uint64_t seq;

        if ((rc = nstore_iter_next(&it, &seq, &id, &v, &len)) != KR_OK)
            break;
        Kr__V1__OutboxRecord *rec =
            kr__v1__outbox_record__unpack(arena_allocator(&n->pb), len, v);
        if (rec == NULL || rec->item == NULL) {
            log_errorx("local: outbox record seq=%llu does not parse: "
                       "skipped",
                       (unsigned long long)seq);
            continue;
        }
        items[count] = rec->item;
        count++;
    }
    nstore_iter_close(&it);
    if (rc != KR_OK && rc != KR_ENOTFOUND)
        goto fail;
    resp.outbox = items;
    resp.n_outbox = count;
    s_reply(n, from, &resp);
    goto done;
fail:
    s_reply_err(n, from, rc, "outbox: %s", kr_strerror(rc));
done:
    arena_release(&n->pb, mark);
}

/* One sent message by msg_id, for `krctl send --wait`. */
static void
s_outbox_get(struct node *n, const struct origin *from,
             const ProtobufCBinaryData *id)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    struct arena_mark mark = arena_mark(&n->pb);
    const uint8_t *v;
    size_t len;
    MDB_txn *txn;
    int rc;

    if (id->len != KR_ID_LEN) {
        s_reply_err(n, from, KR_EINVAL, "outbox: msg_id is 16 bytes");
        return;
    }
    if ((rc = pass_txn(n, &txn)) != KR_OK ||
        (rc = nstore_outbox_get(n->store, txn, id->data, &v, &len)) != KR_OK) {
        s_reply_err(n, from, rc, "outbox: %s", kr_strerror(rc));
        return;
    }
    Kr__V1__OutboxRecord *rec =
        kr__v1__outbox_record__unpack(arena_allocator(&n->pb), len, v);
    if (rec == NULL || rec->item == NULL) {
        s_reply_err(n, from, KR_ESTORE, "outbox: record does not parse");
    } else {
        resp.outbox = &rec->item;
        resp.n_outbox = 1;
        s_reply(n, from, &resp);
    }
    arena_release(&n->pb, mark);
}

/* One received item by msg_id (libkr's kr_inbox_get_json: the FHIR
 * gateway reads the REFERRAL that opened a referral). An item held for
 * the broker's pass result is not shown, as in the listing. */
static void
s_inbox_get(struct node *n, const struct origin *from,
            const ProtobufCBinaryData *id)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    struct arena_mark mark = arena_mark(&n->pb);
    char hex[KR_ID_HEX_LEN];
    const uint8_t *v;
    size_t len;
    MDB_txn *txn;
    int rc;

    if (id->len != KR_ID_LEN) {
        s_reply_err(n, from, KR_EINVAL, "inbox: msg_id is 16 bytes");
        return;
    }
    util_hex(id->data, KR_ID_LEN, hex);
    const struct prov_entry *held = prov_find(n, id->data);
    if (held != NULL && held->state != PROV_CONFIRMED) {
        s_reply_err(n, from, KR_ENOTFOUND, "no message %s in the inbox", hex);
        return;
    }
    if ((rc = pass_txn(n, &txn)) != KR_OK) {
        s_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        return;
    }
    rc = nstore_inbox_get(n->store, txn, id->data, &v, &len);
    if (rc == KR_ENOTFOUND) {
        s_reply_err(n, from, rc, "no message %s in the inbox", hex);
        return;
    }
    if (rc != KR_OK) {
        s_reply_err(n, from, rc, "inbox: %s", kr_strerror(rc));
        return;
    }
    Kr__V1__InboxRecord *rec =
        kr__v1__inbox_record__unpack(arena_allocator(&n->pb), len, v);
    if (rec == NULL || rec->item == NULL) {
        s_reply_err(n, from, KR_ESTORE, "inbox: record does not parse");
    } else {
        resp.inbox = &rec->item;
        resp.n_inbox = 1;
        s_reply(n, from, &resp);
    }
    arena_release(&n->pb, mark);
}

static void
s_processed(struct node *n, const struct origin *from,
            const ProtobufCBinaryData *id)
{
    char hex[KR_ID_HEX_LEN];
    bool changed;
    MDB_txn *txn;
    int rc;

    if (id->len != KR_ID_LEN) {
        s_reply_err(n, from, KR_EINVAL, "processed: msg_id is 16 bytes");
        return;
    }
    util_hex(id->data, KR_ID_LEN, hex);
    if ((rc = pass_txn(n, &txn)) != KR_OK) {
        s_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        return;
    }
    const struct prov_entry *held = prov_find(n, id->data);
    if (held != NULL && held->state != PROV_CONFIRMED) {
        /* Not shown yet, and perhaps never: as if it were not there. */
        s_reply_err(n, from, KR_ENOTFOUND, "no message %s in the inbox", hex);
        return;
    }
    rc = nstore_inbox_set_processed(n->store, txn, id->data, &changed);
    if (rc == KR_ENOTFOUND) {
        s_reply_err(n, from, rc, "no message %s in the inbox", hex);
        return;
    }
    if (rc != KR_OK) {
        pass_fail(n, rc);
        s_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        return;
    }
    if (changed)
        log_debug("inbox: processed msg=%s", hex);
    s_reply_id(n, from, id->data);
}

/* A referral's state, or a listing (referrals.c). */
static void
s_referrals(struct node *n, const struct origin *from,
            const Kr__V1__LocalRequest *req)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    const char *why = "";
    MDB_txn *txn;
    int rc;

    if ((rc = pass_txn(n, &txn)) != KR_OK ||
        (rc = referrals_local(n, txn, req, &resp, &why)) != KR_OK) {
        referrals_local_free(&resp);
        s_reply_err(n, from, rc, "%s", why);
        return;
    }
    s_reply(n, from, &resp);
    referrals_local_free(&resp);
}

static void
s_status(struct node *n, const struct origin *from)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    Kr__V1__NodeStatus st = KR__V1__NODE_STATUS__INIT;
    struct nstore_counts c;
    MDB_txn *txn;
    int rc;

    if ((rc = pass_txn(n, &txn)) != KR_OK ||
        (rc = nstore_counts(n->store, txn, &c)) != KR_OK) {
        s_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        return;
    }
    st.org_id = n->cfg->org;
    st.connected = n->link.connected;
    struct diskspace disk = {0};
    st.disk_full =
        nstore_room(n->store, n->pass.now_mono, &disk) == KR_EDISKFULL;
    st.disk_free_bytes = disk.fs_free;
    st.store_file_bytes = disk.file_bytes;
    st.broker_refusing = n->link.refusing;
    s_room_again(n);
    st.outbox_pending = c.outbox_pending;
    st.outbox_open = c.outbox_open;
    st.inbox_unprocessed = c.inbox_unprocessed;
    struct latency_summary cl;
    nstore_commit_latency(n->store, &cl);
    st.commits = cl.count;
    st.commit_p50_us = cl.p50_us;
    st.commit_p99_us = cl.p99_us;
    st.commit_max_us = cl.max_us;
    st.commit_window = cl.window;
    st.commit_total_us = cl.total_us;
    for (size_t i = 0; i < n->prov.n; i++)
        if (n->prov.e[i].state == PROV_WAITING)
            st.held++;
    /* What an adapter can see: held ones are in the index, not shown. */
    st.inbox_unprocessed =
        c.inbox_unprocessed > st.held ? c.inbox_unprocessed - st.held : 0;
    char link_err[256];
    nmetrics_link_last(link_err, sizeof(link_err), &st.last_link_error_at_ms,
                       &st.link_errors);
    st.last_link_error = link_err;
    resp.status = &st;
    s_reply(n, from, &resp);
}

static void
s_handle(struct node *n, const struct origin *from, const uint8_t *data,
         size_t len)
{
    /* The request and all that its handling unpacks live in one arena
     * scope, gone at once at its end. */
    struct arena_mark mark = arena_mark(&n->pb);
    Kr__V1__LocalRequest *req =
        kr__v1__local_request__unpack(arena_allocator(&n->pb), len, data);

    if (req == NULL) {
        arena_release(&n->pb, mark);
        log_warnx("local: request does not parse bytes=%zu", len);
        s_reply_err(n, from, KR_EPROTO,
                    "request does not parse as kr.v1.LocalRequest");
        return;
    }
    if (req->version != KR__V1__VERSION__VERSION_UNSPECIFIED &&
        req->version != KR__V1__VERSION__VERSION_1) {
        s_reply_err(n, from, KR_EPROTO, "version %d is not supported",
                    (int)req->version);
        goto done;
    }
    switch (req->op_case) {
    case KR__V1__LOCAL_REQUEST__OP_SEND:
        s_send(n, from, req->send, data, len);
        break;
    case KR__V1__LOCAL_REQUEST__OP_INBOX:
        s_list_inbox(n, NULL, from, req->inbox, 0);
        break;
    case KR__V1__LOCAL_REQUEST__OP_OUTBOX:
        s_list_outbox(n, from, req->outbox);
        break;
    case KR__V1__LOCAL_REQUEST__OP_PROCESSED:
        s_processed(n, from, &req->processed);
        break;
    case KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET:
    case KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST:
        s_referrals(n, from, req);
        break;
    case KR__V1__LOCAL_REQUEST__OP_STATUS:
        s_status(n, from);
        break;
    case KR__V1__LOCAL_REQUEST__OP_OUTBOX_GET:
        s_outbox_get(n, from, &req->outbox_get);
        break;
    case KR__V1__LOCAL_REQUEST__OP_INBOX_GET:
        s_inbox_get(n, from, &req->inbox_get);
        break;
    case KR__V1__LOCAL_REQUEST__OP_COALITION_REFERRALS:
        coalition_request(n, from->rid, from->rid_len, from->delim,
                          req->coalition_referrals);
        break;
    default:
        s_reply_err(n, from, KR_EPROTO, "request names no operation");
        break;
    }
done:
    arena_release(&n->pb, mark);
}

void
local_handle_request(struct node *n, const uint8_t *rid, size_t rid_len,
                     bool delim, const uint8_t *bytes, size_t len)
{
    struct origin from;

    from.rid_len = rid_len < NODE_RID_MAX ? rid_len : NODE_RID_MAX;
    memcpy(from.rid, rid, from.rid_len);
    from.delim = delim;
    s_handle(n, &from, bytes, len);
}

void
local_drain(struct node *n)
{
    struct local *lo = &n->local;

    for (int i = 0; i < NODE_DRAIN_MAX; i++) {
        zmq_msg_t parts[3], extra;
        size_t np = 0, nall = 1;
        bool bad = false, more;

        zmq_msg_init(&parts[0]);
        if (zmq_msg_recv(&parts[0], lo->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&parts[0]);
            return;
        }
        np = 1;
        more = zmq_msg_more(&parts[0]);
        /* [routing id] [empty, from REQ] body. The rest of a message with
         * more parts is read (a multi-part message arrives whole) and the
         * message dropped. */
        while (more) {
            zmq_msg_t *m = np < 3 ? &parts[np] : &extra;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, lo->sock, 0) < 0) {
                zmq_msg_close(m);
                bad = true;
                break;
            }
            more = zmq_msg_more(m);
            nall++;
            if (m == &extra) {
                zmq_msg_close(m);
                bad = true;
            } else {
                np++;
            }
        }
        if (!bad && np == 3 && zmq_msg_size(&parts[1]) != 0)
            bad = true;
        if (!bad && np >= 2 && zmq_msg_size(&parts[0]) < NODE_RID_MAX) {
            local_handle_request(
                n, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), np == 3,
                zmq_msg_data(&parts[np - 1]), zmq_msg_size(&parts[np - 1]));
        } else {
            log_warnx("local: request of %zu parts (1 or 2 after the "
                      "routing id): dropped",
                      nall);
        }
        for (size_t k = 0; k < np; k++)
            zmq_msg_close(&parts[k]);
    }
}

void
local_on_directory(struct node *n)
{
    struct local *lo = &n->local;
    struct pass *p = &n->pass;
    size_t count = lo->nparked, j = 0;

    /* Sends that may go now are taken out first: handling them again may
     * park new ones, which are appended behind. */
    for (size_t i = 0; i < count; i++) {
        struct parked pk = lo->parked[i];
        struct peer *peer = peers_find(&n->peers, pk.org);
        bool unknown = false;

        for (size_t k = 0; k < p->nunknown && !unknown; k++)
            unknown = strcmp(p->unknown[k], pk.org) == 0;
        if (peer != NULL && peer->known) {
            lo->parked[i].req = NULL;
            s_handle(n, &pk.from, pk.req, pk.len);
            free(pk.req);
        } else if (unknown) {
            log_warnx("outbox: recipient not in directory to=%s", pk.org);
            s_reply_err(n, &pk.from, KR_ENOKEY,
                        "recipient %s is not in the directory", pk.org);
            free(pk.req);
            lo->parked[i].req = NULL;
        }
    }
    for (size_t i = 0; i < lo->nparked; i++)
        if (lo->parked[i].req != NULL)
            lo->parked[j++] = lo->parked[i];
    lo->nparked = j;
}

/* Inbox waits: after an arrival (all) each looks again, and waits on if
 * nothing it asked for came; past its deadline one gets what there is, an
 * empty page. Taken out first: looking again may park it anew. */
static void
s_answer_waits(struct node *n, MDB_txn *txn, bool arrival)
{
    struct local *lo = &n->local;
    bool any = arrival && lo->nwaits > 0;

    for (size_t i = 0; i < lo->nwaits && !any; i++)
        any = n->pass.now_mono >= lo->waits[i].deadline_mono;
    if (!any)
        return;
    size_t count = lo->nwaits;
    struct inbox_wait *ws = xmalloc(count * sizeof(*ws));
    memcpy(ws, lo->waits, count * sizeof(*ws));
    lo->nwaits = 0;
    for (size_t i = 0; i < count; i++) {
        bool due = n->pass.now_mono >= ws[i].deadline_mono;
        if (!due && !arrival) {
            lo->waits[lo->nwaits++] = ws[i];
            continue;
        }
        s_list_inbox(n, txn, &ws[i].from, &ws[i].lr,
                     due ? UINT64_MAX : ws[i].deadline_mono);
    }
    free(ws);
}

void
local_timers(struct node *n)
{
    struct local *lo = &n->local;
    size_t j = 0;

    for (size_t i = 0; i < lo->nparked; i++) {
        struct parked *pk = &lo->parked[i];
        if (n->pass.now_mono < pk->deadline_mono) {
            lo->parked[j++] = *pk;
            continue;
        }
        if (!n->link.connected) {
            /* No answer because there is no broker to ask: saying "not in
             * the directory" would send the operator the wrong way. */
            char why[256];
            uint64_t at, count;
            nmetrics_link_last(why, sizeof(why), &at, &count);
            log_warnx("outbox: recipient %s unknown here and the broker is "
                      "not reachable: send not taken%s%s",
                      pk->org, why[0] != '\0' ? ": " : "", why);
            s_reply_err(n, &pk->from, KR_EUNAVAIL,
                        "the broker is not reachable (%s), so recipient %s "
                        "cannot be looked up; nothing was stored: send "
                        "again when `krctl status` says connected",
                        why[0] != '\0' ? why : "not connected", pk->org);
            free(pk->req);
            continue;
        }
        log_warnx("outbox: recipient not in directory to=%s (no answer "
                  "within %d ms)",
                  pk->org, NODE_PARK_MS);
        s_reply_err(n, &pk->from, KR_ENOKEY, "recipient not in directory");
        free(pk->req);
    }
    lo->nparked = j;

    s_answer_waits(n, NULL, false);
    coalition_timers(n);
}

void
local_inbox_grew(struct node *n)
{
    MDB_txn *txn = NULL;

    /* Right after the commit, from what it made durable, and not in the
     * next pass: that pass may hold new deliveries, and its answers wait
     * for its own commit. */
    if (n->local.nwaits == 0 || nstore_begin(n->store, false, &txn) != KR_OK)
        return;
    s_answer_waits(n, txn, true);
    nstore_abort(&txn);
    local_flush(n, KR_OK);
}

void
local_inbox_shown(struct node *n)
{
    struct pass *p = &n->pass;
    MDB_txn *txn = NULL;
    size_t before = p->nreplies;

    /* From committed state, now: what it holds of these deliveries is
     * durable here, and the broker has them. The pass's own replies wait
     * for its commit; only the answers added here leave now. */
    n->prov.show_now = false;
    if (n->local.nwaits == 0 || nstore_begin(n->store, false, &txn) != KR_OK)
        return;
    s_answer_waits(n, txn, true);
    nstore_abort(&txn);
    s_send_replies(n, before, p->nreplies, KR_OK);
    p->nreplies = before;
}

long
local_timeout(const struct node *n, long timeout)
{
    const struct local *lo = &n->local;
    uint64_t now = util_mono_ms();

    for (size_t i = 0; i < lo->nwaits; i++) {
        uint64_t d = lo->waits[i].deadline_mono;
        long left = d > now ? (long)(d - now) : 0;
        if (left < timeout)
            timeout = left;
    }
    return coalition_timeout(timeout);
}

void
local_stop(struct node *n)
{
    struct local *lo = &n->local;

    for (size_t i = 0; i < lo->nparked; i++) {
        s_reply_err(n, &lo->parked[i].from, KR_EUNAVAIL,
                    "the node is stopping: nothing was stored; retry");
        free(lo->parked[i].req);
    }
    lo->nparked = 0;
    coalition_stop(n);
    /* Waits get what there is now (an empty page): nothing else comes. */
    for (size_t i = 0; i < lo->nwaits; i++)
        s_list_inbox(n, NULL, &lo->waits[i].from, &lo->waits[i].lr, UINT64_MAX);
    lo->nwaits = 0;
}

/* Send the pass's replies [from, to). */
static void
s_send_replies(struct node *n, size_t from, size_t to, int commit_rc)
{
    struct pass *p = &n->pass;

    for (size_t i = from; i < to; i++) {
        struct reply *r = &p->replies[i];

        if (commit_rc != KR_OK) {
            /* Nothing of this pass was saved, and what it read may have
             * included its own lost writes: every answer is the error. */
            Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
            char detail[192];
            if (r->went_ahead)
                snprintf(detail, sizeof(detail),
                         "store: %s: not saved here, but the message may "
                         "have reached the broker: send it again with the "
                         "same msg_id (it is not doubled)",
                         kr_strerror(commit_rc));
            else
                snprintf(detail, sizeof(detail),
                         "store: %s: nothing was saved; retry",
                         kr_strerror(commit_rc));
            resp.error = commit_rc;
            resp.detail = detail;
            free(r->data);
            r->len = kr__v1__local_response__get_packed_size(&resp);
            r->data = xmalloc(r->len);
            kr__v1__local_response__pack(&resp, r->data);
        }
        /* A client that left has no route: ROUTER drops the reply. */
        if (zmq_send(n->local.sock, r->rid, r->rid_len, ZMQ_SNDMORE) < 0 ||
            (r->delim && zmq_send(n->local.sock, "", 0, ZMQ_SNDMORE) < 0) ||
            zmq_send(n->local.sock, r->data, r->len, ZMQ_DONTWAIT) < 0)
            log_debug("local: reply: %s", zmq_strerror(errno));
        free(r->data);
        r->data = NULL;
    }
}

void
local_flush(struct node *n, int commit_rc)
{
    s_send_replies(n, 0, n->pass.nreplies, commit_rc);
    n->pass.nreplies = 0;
}
