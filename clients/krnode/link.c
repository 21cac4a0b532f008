/* link.c - the connection to the broker (PROTOCOL.md "Sending" and
 * "Receiving"): one DEALER, CURVE client, whose monitor tells us when a
 * handshake succeeded or was refused.
 *
 * Sending: the outbox's pending order (nstore.c) is the queue. The pump
 * walks it from 'cursor' and keeps at most 'window' submits without a
 * receipt; a new handshake, a resend timeout or the end of a temporary
 * refusal's backoff rewinds the cursor to the start, and the walk skips
 * what is still in flight. Receiving: receipts and deliveries are written
 * in the pass's transaction; their acks wait in the pass until it commits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "names.h"
#include "node.h"

#define S_MONITOR_ENDPOINT "inproc://krnode-link-monitor"
#define S_WANT_MAX 256
/* A refused handshake is logged once, then at most this often. */
#define S_REFUSAL_LOG_MS 60000
/* First wait before reconnecting after a refused handshake or a fatal
 * FrameError; it doubles up to NODE_RESEND_MAX_MS. */
#define S_RECONNECT_BACKOFF_MS 1000
/* How often the pump looks at the oldest submit in flight. */
#define S_RESEND_CHECK_MS 100

struct inflight_slot {
    uint8_t id[KR_ID_LEN];
    uint8_t used;
    uint64_t sent_mono; /* when it was (last) submitted */
};

/*
 * The in-flight set: msg_ids submitted without a receipt.
 */

static size_t
s_id_hash(const uint8_t *id)
{
    uint64_t a, b;

    /* Ids may be chosen by adapters (sequential, say), so mix all 16
     * bytes instead of trusting them to be random. */
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    a ^= b * 0x9e3779b97f4a7c15ULL;
    a ^= a >> 31;
    a *= 0xbf58476d1ce4e5b9ULL;
    a ^= a >> 29;
    return (size_t)a;
}

static void
s_inflight_init(struct inflight *f, uint64_t window)
{
    size_t cap = 16;

    while (cap < 2 * window)
        cap *= 2;
    f->slots = xcalloc(cap, sizeof(*f->slots));
    f->cap = cap;
    f->n = 0;
}

static size_t
s_inflight_find(const struct inflight *f, const uint8_t *id, bool *found)
{
    size_t mask = f->cap - 1, i = s_id_hash(id) & mask;

    while (f->slots[i].used) {
        if (memcmp(f->slots[i].id, id, KR_ID_LEN) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = false;
    return i;
}

static bool
s_inflight_has(const struct inflight *f, const uint8_t *id)
{
    bool found;

    s_inflight_find(f, id, &found);
    return found;
}

static void
s_inflight_add(struct inflight *f, const uint8_t *id, uint64_t now)
{
    bool found;
    size_t i = s_inflight_find(f, id, &found);

    /* The window keeps n at most half of cap: a free slot always exists. */
    if (!found) {
        if (f->n + 1 >= f->cap)
            return;
        memcpy(f->slots[i].id, id, KR_ID_LEN);
        f->slots[i].used = 1;
        f->n++;
    }
    f->slots[i].sent_mono = now;
}

static bool
s_inflight_del(struct inflight *f, const uint8_t *id)
{
    size_t mask = f->cap - 1, i, j;
    bool found;

    i = s_inflight_find(f, id, &found);
    if (!found)
        return false;
    /* Backward-shift deletion: linear probing needs no tombstones. */
    f->slots[i].used = 0;
    f->n--;
    for (j = (i + 1) & mask; f->slots[j].used; j = (j + 1) & mask) {
        size_t k = s_id_hash(f->slots[j].id) & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        f->slots[i] = f->slots[j];
        f->slots[j].used = 0;
        i = j;
    }
    return true;
}

static void
s_inflight_clear(struct inflight *f)
{
    memset(f->slots, 0, f->cap * sizeof(*f->slots));
    f->n = 0;
}

static uint64_t
s_inflight_oldest(const struct inflight *f)
{
    uint64_t oldest = UINT64_MAX;

    for (size_t i = 0; i < f->cap; i++)
        if (f->slots[i].used && f->slots[i].sent_mono < oldest)
            oldest = f->slots[i].sent_mono;
    return oldest;
}

/* Start the walk of the pending order again from its first entry. */
static void
s_rewind(struct link *l, bool forget_inflight)
{
    if (forget_inflight)
        s_inflight_clear(&l->inflight);
    l->cursor = 0;
    l->more = true;
}

/* Text from the broker goes into our log: keep it to one printable line. */
static const char *
s_clean(const char *in, char *out, size_t outlen)
{
    size_t i = 0;

    for (; in != NULL && in[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    out[i] = '\0';
    return out;
}

/*
 * Setup
 */

static int
s_setopt_int(void *sock, int opt, int v, const char *name)
{
    if (zmq_setsockopt(sock, opt, &v, sizeof(v)) != 0) {
        log_errorx("link: setsockopt %s: %s", name, zmq_strerror(errno));
        return KR_ESYS;
    }
    return KR_OK;
}

int
link_open(struct node *n)
{
    struct link *l = &n->link;
    const struct node_config *cfg = n->cfg;
    int64_t maxmsg = NODE_FRAME_MAX;
    char key_id[KR_KEY_ID_LEN];
    int rc = KR_ESYS;

    memset(l, 0, sizeof(*l));
    s_inflight_init(&l->inflight, cfg->window);
    l->resend_ivl = cfg->resend_ms;
    if ((l->sock = zmq_socket(n->zctx, ZMQ_DEALER)) == NULL)
        goto fail;
    /* Nothing may wait in a socket buffer across a reconnect (IMMEDIATE)
     * or at close (LINGER 0): what matters is in LMDB and is resent. */
    if ((rc = s_setopt_int(l->sock, ZMQ_LINGER, 0, "linger")) ||
        (rc = s_setopt_int(l->sock, ZMQ_IMMEDIATE, 1, "immediate")) ||
        (rc = s_setopt_int(l->sock, ZMQ_RECONNECT_IVL, 100, "reconnect")) ||
        (rc = s_setopt_int(l->sock, ZMQ_RECONNECT_IVL_MAX, 2000,
                           "reconnect_max")) ||
        (rc = s_setopt_int(l->sock, ZMQ_HEARTBEAT_IVL, (int)cfg->heartbeat_ms,
                           "heartbeat_ivl")) ||
        (rc = s_setopt_int(l->sock, ZMQ_HEARTBEAT_TIMEOUT,
                           (int)cfg->heartbeat_timeout_ms,
                           "heartbeat_timeout")) ||
        (rc = s_setopt_int(l->sock, ZMQ_HEARTBEAT_TTL,
                           (int)cfg->heartbeat_timeout_ms, "heartbeat_ttl")))
        goto fail;
    rc = KR_ESYS;
    if (zmq_setsockopt(l->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) ||
        zmq_setsockopt(l->sock, ZMQ_CURVE_SERVERKEY, n->broker_pub.curve,
                       KR_KEY_LEN) ||
        zmq_setsockopt(l->sock, ZMQ_CURVE_PUBLICKEY, n->keys->pub.curve,
                       KR_KEY_LEN) ||
        zmq_setsockopt(l->sock, ZMQ_CURVE_SECRETKEY, n->keys->curve_secret,
                       KR_KEY_LEN)) {
        log_errorx("link: curve options: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_socket_monitor(l->sock, S_MONITOR_ENDPOINT,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                               ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
        log_errorx("link: monitor: %s", zmq_strerror(errno));
        goto fail;
    }
    if ((l->mon = zmq_socket(n->zctx, ZMQ_PAIR)) == NULL ||
        s_setopt_int(l->mon, ZMQ_LINGER, 0, "linger") != KR_OK ||
        zmq_connect(l->mon, S_MONITOR_ENDPOINT) != 0) {
        log_errorx("link: monitor: %s", zmq_strerror(errno));
        goto fail;
    }
    if (zmq_connect(l->sock, cfg->broker) != 0) {
        log_errorx("link: connect broker=%s: %s", cfg->broker,
                   zmq_strerror(errno));
        rc = KR_ECONFIG;
        goto fail;
    }
    l->attached = true;
    kcrypto_key_id(n->broker_pub.curve, key_id);
    log_info("link: connecting broker=%s broker_key=%s", cfg->broker, key_id);
    return KR_OK;
fail:
    if (rc == KR_ESYS)
        log_errorx("link: cannot set up the broker socket: %s",
                   zmq_strerror(errno));
    link_close(n);
    return rc;
}

void
link_close(struct node *n)
{
    struct link *l = &n->link;

    if (l->sock != NULL) {
        zmq_socket_monitor(l->sock, NULL, 0);
        zmq_close(l->sock);
    }
    if (l->mon != NULL)
        zmq_close(l->mon);
    l->sock = l->mon = NULL;
    free(l->inflight.slots);
    l->inflight.slots = NULL;
    free(l->want);
    l->want = NULL;
    l->nwant = l->capwant = 0;
    buf_free(&l->out);
}

/*
 * Connection state
 */

static void
s_on_connected(struct node *n)
{
    struct link *l = &n->link;

    if (l->refusals > 0)
        log_info("link: handshake accepted after %u refusals", l->refusals);
    l->refusals = 0;
    l->refusal_log_mono = 0;
    l->connected = true;
    l->hello_due = true;
    l->reconnect_backoff = 0;
    /* Every submit without a receipt goes again, oldest first. */
    s_rewind(l, true);
    l->resend_ivl = n->cfg->resend_ms;
    l->retry_mono = 0;
    log_info("link: connected broker=%s", n->cfg->broker);
}

static void
s_on_disconnected(struct node *n, const char *why)
{
    struct link *l = &n->link;

    if (l->connected)
        log_warnx("link: disconnected broker=%s why=%s", n->cfg->broker, why);
    l->connected = false;
    l->hello_due = false;
    s_inflight_clear(&l->inflight);
}

/* Drop the connection and connect again after a backoff. libzmq gives up
 * on an endpoint whose handshake was refused (it does not reconnect after
 * a protocol or ZAP error), and a fatal FrameError leaves a connection the
 * broker will not serve: either way the pump connects again later. */
static void
s_reconnect_later(struct node *n)
{
    struct link *l = &n->link;

    if (l->attached) {
        zmq_disconnect(l->sock, n->cfg->broker); /* may be gone already */
        l->attached = false;
    }
    if (l->reconnect_backoff == 0)
        l->reconnect_backoff = S_RECONNECT_BACKOFF_MS;
    else if (l->reconnect_backoff * 2 > NODE_RESEND_MAX_MS)
        l->reconnect_backoff = NODE_RESEND_MAX_MS;
    else
        l->reconnect_backoff *= 2;
    l->reconnect_mono = util_mono_ms() + l->reconnect_backoff;
}

static void
s_on_refused(struct node *n, const char *what, uint32_t value)
{
    struct link *l = &n->link;
    uint64_t now = util_mono_ms();

    l->refusals++;
    s_on_disconnected(n, "handshake failed");
    s_reconnect_later(n);
    /* Said once, then once a minute: not at every attempt. */
    if (l->refusal_log_mono == 0 ||
        now - l->refusal_log_mono >= S_REFUSAL_LOG_MS) {
        log_errorx("link: %s broker=%s org=%s code=%u refusals=%u: "
                   "retrying in %llu ms",
                   what, n->cfg->broker, n->cfg->org, value, l->refusals,
                   (unsigned long long)l->reconnect_backoff);
        l->refusal_log_mono = now;
    } else {
        log_debug("link: handshake refused again refusals=%u", l->refusals);
    }
}

void
link_on_monitor(struct node *n)
{
    struct link *l = &n->link;

    for (;;) {
        zmq_msg_t ev, addr;
        uint16_t event;
        uint32_t value;

        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, l->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        /* An event is two frames: 6 bytes (event, value), then the
         * endpoint. Both must be read to stay in step. */
        bool ok = zmq_msg_size(&ev) >= 6 && zmq_msg_more(&ev);
        if (ok) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        while (zmq_msg_more(&ev)) {
            zmq_msg_init(&addr);
            int more =
                zmq_msg_recv(&addr, l->mon, 0) >= 0 && zmq_msg_more(&addr);
            zmq_msg_close(&addr);
            if (!more)
                break;
        }
        zmq_msg_close(&ev);
        if (!ok)
            continue;
        switch (event) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            s_on_connected(n);
            break;
        case ZMQ_EVENT_DISCONNECTED:
            s_on_disconnected(n, "connection closed");
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            s_on_refused(n,
                         "broker refused our key (is this organisation in "
                         "the directory and active?)",
                         value);
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            s_on_refused(n, "handshake failed: protocol error", value);
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            s_on_refused(n,
                         "handshake failed (is broker_key the broker's "
                         "key?)",
                         value);
            break;
        default:
            break;
        }
    }
}

/*
 * Frames from the broker
 */

static bool
s_outcome_final(int o)
{
    return o == KR__V1__OUTCOME__DELIVERED || o == KR__V1__OUTCOME__REFUSED ||
           o == KR__V1__OUTCOME__EXPIRED_OUTCOME ||
           o == KR__V1__OUTCOME__WITHDRAWN;
}

static void
s_on_error(struct node *n, const Kr__V1__FrameError *fe)
{
    char detail[256];

    s_clean(fe->detail, detail, sizeof(detail));
    if (!fe->fatal) {
        log_warnx("link: broker error reason=%s detail=\"%s\"",
                  reason_name(fe->reason), detail);
        return;
    }
    log_errorx("link: broker will not serve us reason=%s detail=\"%s\": "
               "disconnecting",
               reason_name(fe->reason), detail);
    s_on_disconnected(n, "fatal frame error");
    /* A new handshake later: a suspended organisation's key does not pass
     * it, and the refusals are logged then. */
    s_reconnect_later(n);
}

static void
s_on_directory(struct node *n, const Kr__V1__DirectoryResponse *dr)
{
    struct pass *p = &n->pass;
    MDB_txn *txn = NULL;
    size_t stored = 0;

    for (size_t i = 0; i < dr->n_entries; i++) {
        const Kr__V1__OrgEntry *e = dr->entries[i];
        if (peers_update(&n->peers, e, p->now_mono) != KR_OK)
            continue;
        /* Memory is updated even if the store cannot be: the entry is
         * right either way, and the next handshake brings it again. */
        if (pass_txn(n, &txn) != KR_OK)
            continue;
        int rc = nstore_peer_put(n->store, txn, e);
        if (rc != KR_OK)
            pass_fail(n, rc);
        else
            stored++;
    }
    for (size_t i = 0; i < dr->n_unknown; i++) {
        peers_mark_unknown(&n->peers, dr->unknown[i], p->now_mono);
        pass_add_unknown(n, dr->unknown[i]);
    }
    p->dir_changed = true;
    log_info("link: directory entries=%zu stored=%zu unknown=%zu",
             dr->n_entries, stored, dr->n_unknown);
}

/* A temporary refusal (the broker's store is full, or a fault there): the
 * message stays pending and the pump comes back to it after a backoff. */
static void
s_retry_later(struct node *n)
{
    struct link *l = &n->link;

    if (l->retry_mono != 0)
        return;
    if (l->retry_backoff == 0)
        l->retry_backoff = n->cfg->resend_ms;
    else if (l->retry_backoff * 2 > NODE_RESEND_MAX_MS)
        l->retry_backoff = NODE_RESEND_MAX_MS;
    else
        l->retry_backoff *= 2;
    l->retry_mono = util_mono_ms() + l->retry_backoff;
}

static void
s_on_receipt(struct node *n, const Kr__V1__Receipt *r)
{
    struct link *l = &n->link;
    struct nstore_outcome res;
    char hex[KR_ID_HEX_LEN], detail[256];
    MDB_txn *txn;
    int rc, o = r->outcome;

    s_clean(r->detail, detail, sizeof(detail));
    if (r->msg_id.len != KR_ID_LEN) {
        log_warnx("link: receipt without a valid msg_id seq=%llu: ignored",
                  (unsigned long long)r->seq);
        if (r->seq != 0)
            pass_add_ack(n, r->seq, NULL, 0, false, 0);
        return;
    }
    util_hex(r->msg_id.data, KR_ID_LEN, hex);
    if (s_inflight_del(&l->inflight, r->msg_id.data) && l->inflight.n == 0)
        l->resend_ivl = n->cfg->resend_ms; /* all answered: reset */
    if (o != KR__V1__OUTCOME__ACCEPTED && !s_outcome_final(o)) {
        log_warnx("outbox: receipt with unknown outcome=%d msg=%s seq=%llu", o,
                  hex, (unsigned long long)r->seq);
        if (r->seq != 0)
            pass_add_ack(n, r->seq, r->msg_id.data, KR_ID_LEN, false, 0);
        return;
    }
    if (o == KR__V1__OUTCOME__REFUSED && r->seq == 0 &&
        (r->reason == KR__V1__REASON__STORE_FULL ||
         r->reason == KR__V1__REASON__INTERNAL)) {
        log_warnx("outbox: refused for now msg=%s reason=%s detail=\"%s\": "
                  "will retry",
                  hex, reason_name(r->reason), detail);
        s_retry_later(n);
        return;
    }
    if (o == KR__V1__OUTCOME__ACCEPTED)
        l->retry_backoff = 0;
    if ((rc = pass_txn(n, &txn)) != KR_OK)
        return; /* no commit, no ack: the broker resends */
    rc = nstore_outbox_set_outcome(n->store, txn, r->msg_id.data, o, r->reason,
                                   detail, n->pass.now_ms, &res);
    if (rc == KR_ENOTFOUND) {
        log_warnx("outbox: receipt for a message we do not have msg=%s "
                  "outcome=%s seq=%llu",
                  hex, outcome_name(o), (unsigned long long)r->seq);
    } else if (rc != KR_OK) {
        pass_fail(n, rc);
        return;
    } else if (res.changed && o == KR__V1__OUTCOME__ACCEPTED) {
        log_info("outbox: accepted msg=%s to=%s type=%s seq=%llu", hex,
                 res.recipient, message_type_name(res.type),
                 (unsigned long long)res.seq);
    } else if (res.changed) {
        log_info("outbox: %s msg=%s to=%s type=%s reason=%s detail=\"%s\"",
                 outcome_name(o), hex, res.recipient,
                 message_type_name(res.type), reason_name(r->reason), detail);
    }
    /* Durable receipts are acknowledged after the pass commits. */
    if (r->seq != 0)
        pass_add_ack(n, r->seq, r->msg_id.data, KR_ID_LEN, false, 0);
}

static void
s_refuse(struct node *n, const Kr__V1__Delivery *d, const uint8_t *msg_id,
         size_t id_len, const char *sender, int reason, const char *why)
{
    char hex[KR_ID_HEX_LEN] = "-";

    if (id_len == KR_ID_LEN)
        util_hex(msg_id, KR_ID_LEN, hex);
    log_warnx("inbox: refused msg=%s from=%.64s seq=%llu reason=%s why=%s", hex,
              sender != NULL && sender[0] != '\0' ? sender : "-",
              (unsigned long long)d->seq, reason_name(reason), why);
    pass_add_ack(n, d->seq, id_len == KR_ID_LEN ? msg_id : NULL,
                 id_len == KR_ID_LEN ? id_len : 0, true, reason);
}

/* Ask the broker about the sender and leave the delivery unacknowledged:
 * the broker sends it again. */
static void
s_defer(struct node *n, const Kr__V1__Envelope *e, const char *hex,
        const char *why)
{
    link_want_directory(n, e->sender);
    log_info("inbox: waiting for directory msg=%s from=%s why=%s", hex,
             e->sender, why);
}

static void
s_on_delivery(struct node *n, const Kr__V1__Delivery *d)
{
    struct pass *p = &n->pass;
    Kr__V1__Envelope *e;
    Kr__V1__InboxItem item = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__InboxRecord rec = KR__V1__INBOX_RECORD__INIT;
    char hex[KR_ID_HEX_LEN];
    const uint8_t *v, *content;
    size_t vlen, content_len;
    struct peer *peer;
    MDB_txn *txn;
    int rc, reason;

    e = kr__v1__envelope__unpack(NULL, d->envelope.len, d->envelope.data);
    if (e == NULL) {
        s_refuse(n, d, NULL, 0, NULL, KR__V1__REASON__MALFORMED,
                 "envelope does not parse");
        return;
    }
    if (e->msg_id.len != KR_ID_LEN) {
        s_refuse(n, d, NULL, 0, e->sender, KR__V1__REASON__MALFORMED,
                 "msg_id is not 16 bytes");
        goto done;
    }
    util_hex(e->msg_id.data, KR_ID_LEN, hex);
    if (e->version != KR__V1__VERSION__VERSION_1) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                 KR__V1__REASON__BAD_VERSION, "envelope version is not 1");
        goto done;
    }
    if (strcmp(e->recipient, n->cfg->org) != 0) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                 KR__V1__REASON__MALFORMED, "not addressed to us");
        goto done;
    }
    if (!util_org_id_valid(e->sender)) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, NULL,
                 KR__V1__REASON__MALFORMED, "sender is not an org id");
        goto done;
    }
    if (pass_txn(n, &txn) != KR_OK)
        goto done; /* nothing commits in this pass: no ack */
    /* A duplicate is acknowledged again: our earlier ack may be lost. */
    rc = nstore_inbox_get(n->store, txn, e->msg_id.data, &v, &vlen);
    if (rc == KR_OK) {
        log_debug("inbox: duplicate msg=%s from=%s", hex, e->sender);
        pass_add_ack(n, d->seq, e->msg_id.data, KR_ID_LEN, false, 0);
        goto done;
    }
    if (rc != KR_ENOTFOUND) {
        pass_fail(n, rc);
        goto done;
    }
    peer = peers_find(&n->peers, e->sender);
    if (peer == NULL || !peer->known) {
        if (peer != NULL && peer->denied_mono != 0 &&
            p->now_mono - peer->denied_mono < NODE_KEY_REFRESH_MS) {
            s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                     KR__V1__REASON__UNKNOWN_SENDER_KEY,
                     "sender not in the directory");
            goto done;
        }
        s_defer(n, e, hex, "sender not known");
        goto done;
    }
    /* A key id we do not have may mean the sender rotated its keys: ask
     * the broker unless our entry is fresh, then refuse. Checked before
     * the signature, which would otherwise fail as a forgery. */
    if (strcmp(e->sender_key_id, peer->sign_key_id) != 0 ||
        (e->payload != NULL && e->payload->sender_key_id[0] != '\0' &&
         strcmp(e->payload->sender_key_id, peer->box_key_id) != 0)) {
        if (p->now_mono - peer->refreshed_mono >= NODE_KEY_REFRESH_MS) {
            s_defer(n, e, hex, "sender key changed");
            goto done;
        }
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                 KR__V1__REASON__UNKNOWN_SENDER_KEY,
                 "sender key id is not in the directory");
        goto done;
    }
    rc = seal_open(&n->seal, peer, e, d->envelope.data, d->envelope.len,
                   d->signature.data, d->signature.len, &content, &content_len,
                   &reason);
    if (rc != KR_OK) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender, reason,
                 reason == KR__V1__REASON__BAD_SIGNATURE
                     ? "signature does not verify"
                 : reason == KR__V1__REASON__MISSING_JUSTIFICATION
                     ? "meldrecht without a justification that matches "
                       "the envelope's digest"
                     : "payload does not open or parse");
        goto done;
    }
    if (e->not_after_ms != 0 && e->not_after_ms < p->now_ms) {
        s_refuse(n, d, e->msg_id.data, KR_ID_LEN, e->sender,
                 KR__V1__REASON__EXPIRED, "not_after has passed");
        goto done;
    }
    item.msg_id = e->msg_id;
    item.sender = e->sender;
    item.type = e->type;
    item.referral_id = e->referral_id;
    item.case_id = e->case_id;
    item.subject_pseudonym = e->subject_pseudonym;
    item.purpose = e->purpose;
    item.created_at_ms = e->created_at_ms;
    item.received_at_ms = p->now_ms;
    item.content.data = (uint8_t *)content;
    item.content.len = content_len;
    item.priority = e->priority;
    item.data_category = e->data_category;
    item.legal_basis = e->legal_basis;
    item.consent_id = e->consent_id;
    rec.item = &item;
    rec.envelope = d->envelope;
    rec.signature = d->signature;
    rc = nstore_inbox_add(n->store, txn, &rec);
    if (rc == KR_EEXIST) {
        pass_add_ack(n, d->seq, e->msg_id.data, KR_ID_LEN, false, 0);
        goto done;
    }
    if (rc != KR_OK) {
        pass_fail(n, rc);
        goto done;
    }
    log_info("inbox: received msg=%s from=%s type=%s seq=%llu", hex, e->sender,
             message_type_name(e->type), (unsigned long long)item.seq);
    pass_add_ack(n, d->seq, e->msg_id.data, KR_ID_LEN, false, 0);
done:
    kr__v1__envelope__free_unpacked(e, NULL);
}

/* Notices are durable at the broker (seq != 0) and acknowledged like
 * receipts, with the notice_id as the msg_id. */
static void
s_ack_notice(struct node *n, const Kr__V1__Notice *nt)
{
    if (nt->seq != 0)
        pass_add_ack(n, nt->seq, nt->notice_id.data, KR_ID_LEN, false, 0);
}

/* A notice from the broker (a consent we received messages under was
 * revoked): committed to the inbox like a delivery, so that the adapter
 * that holds those messages learns of it, and acknowledged after the
 * commit. Deduplicated by notice_id: the broker resends until acked. */
static void
s_on_notice(struct node *n, const Kr__V1__Notice *nt)
{
    Kr__V1__InboxItem item = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__InboxRecord rec = KR__V1__INBOX_RECORD__INIT;
    char hex[KR_ID_HEX_LEN], chex[KR_ID_HEX_LEN] = "-";
    const uint8_t *v;
    size_t vlen;
    MDB_txn *txn;
    int rc;

    if (nt->notice_id.len != KR_ID_LEN) {
        /* Nothing to file it under. Acknowledged all the same: resending
         * would not give it an id. */
        log_warnx("inbox: notice without a valid notice_id seq=%llu "
                  "kind=%s: ignored",
                  (unsigned long long)nt->seq, notice_kind_name(nt->kind));
        if (nt->seq != 0)
            pass_add_ack(n, nt->seq, NULL, 0, false, 0);
        return;
    }
    util_hex(nt->notice_id.data, KR_ID_LEN, hex);
    if (nt->consent_id.len == KR_ID_LEN)
        util_hex(nt->consent_id.data, KR_ID_LEN, chex);
    if (pass_txn(n, &txn) != KR_OK)
        return; /* nothing commits in this pass: no ack */
    rc = nstore_inbox_get(n->store, txn, nt->notice_id.data, &v, &vlen);
    if (rc == KR_OK) {
        log_debug("inbox: duplicate notice=%s", hex);
        s_ack_notice(n, nt);
        return;
    }
    if (rc != KR_ENOTFOUND) {
        pass_fail(n, rc);
        return;
    }
    /* A kind this node does not know is kept too, as it came: the
     * adapter may know it, and dropping it would lose it for good. */
    item.msg_id = nt->notice_id;
    item.sender = "";
    item.type = nt->kind == KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED
                    ? KR__V1__MESSAGE_TYPE__CONSENT_REVOKE
                    : KR__V1__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED;
    item.created_at_ms = nt->at_ms;
    item.received_at_ms = n->pass.now_ms;
    item.consent_id = nt->consent_id;
    item.notice = (Kr__V1__Notice *)nt;
    rec.item = &item;
    rc = nstore_inbox_add(n->store, txn, &rec);
    if (rc == KR_EEXIST) {
        s_ack_notice(n, nt);
        return;
    }
    if (rc != KR_OK) {
        pass_fail(n, rc);
        return;
    }
    log_info("inbox: notice=%s kind=%s consent=%s messages=%zu seq=%llu", hex,
             notice_kind_name(nt->kind), chex, nt->n_msg_ids,
             (unsigned long long)item.seq);
    s_ack_notice(n, nt);
}

static void
s_on_frame(struct node *n, const uint8_t *data, size_t len)
{
    Kr__V1__Frame *f = kr__v1__frame__unpack(NULL, len, data);

    if (f == NULL) {
        log_warnx("link: frame from the broker does not parse bytes=%zu: "
                  "ignored",
                  len);
        return;
    }
    if (f->version != KR__V1__VERSION__VERSION_1) {
        log_warnx("link: frame version=%d from the broker: ignored",
                  (int)f->version);
        goto done;
    }
    if (f->error != NULL)
        s_on_error(n, f->error);
    /* The directory first: deliveries in the same frame may need it. */
    if (f->dir_response != NULL)
        s_on_directory(n, f->dir_response);
    for (size_t i = 0; i < f->n_receipt; i++)
        s_on_receipt(n, f->receipt[i]);
    for (size_t i = 0; i < f->n_delivery; i++)
        s_on_delivery(n, f->delivery[i]);
    /* After the deliveries: a notice may name messages of the same
     * frame, and the inbox then lists them before it. */
    for (size_t i = 0; i < f->n_notice; i++)
        s_on_notice(n, f->notice[i]);
done:
    kr__v1__frame__free_unpacked(f, NULL);
}

void
link_drain(struct node *n)
{
    struct link *l = &n->link;

    for (int i = 0; i < NODE_DRAIN_MAX; i++) {
        zmq_msg_t m;
        bool extra = false;

        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, l->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        /* One frame per message; more parts are not ours. */
        while (zmq_msg_more(&m)) {
            extra = true;
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, l->sock, 0) < 0)
                break;
        }
        if (extra)
            log_warnx("link: multi-part message from the broker: ignored");
        else
            s_on_frame(n, zmq_msg_data(&m), zmq_msg_size(&m));
        zmq_msg_close(&m);
    }
}

/*
 * Sending
 */

void
link_want_directory(struct node *n, const char *org_id)
{
    struct link *l = &n->link;

    if (!peers_should_ask(&n->peers, org_id, util_mono_ms()))
        return;
    if (l->nwant == S_WANT_MAX)
        return; /* asked again after NODE_DIR_RETRY_MS */
    if (l->nwant == l->capwant) {
        l->capwant = l->capwant ? 2 * l->capwant : 16;
        l->want = xrealloc(l->want, l->capwant * sizeof(*l->want));
    }
    snprintf(l->want[l->nwant++], KR_ORG_ID_MAX, "%s", org_id);
}

void
link_outbox_changed(struct node *n)
{
    n->link.more = true;
}

bool
link_busy(const struct node *n)
{
    const struct link *l = &n->link;

    return l->hello_due || l->inflight.n > 0 || l->retry_mono != 0 ||
           l->reconnect_mono != 0 || l->nwant > 0 || (l->connected && l->more);
}

static int
s_send(struct link *l)
{
    if (zmq_send(l->sock, l->out.data, l->out.len, ZMQ_DONTWAIT) < 0) {
        log_debug("link: send: %s", zmq_strerror(errno));
        return KR_EUNAVAIL;
    }
    return KR_OK;
}

void
link_flush(struct node *n, int commit_rc)
{
    struct link *l = &n->link;
    struct pass *p = &n->pass;
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__Hello hello = KR__V1__HELLO__INIT;
    Kr__V1__DirectoryRequest dr = KR__V1__DIRECTORY_REQUEST__INIT;
    Kr__V1__Ack *acks = NULL, **ackp = NULL;
    char **orgs = NULL;
    size_t nacks = 0;

    if (commit_rc != KR_OK && l->retry_mono == 0) {
        /* Receipts of this pass were not saved: the broker resends the
         * durable ones, and the pump resubmits to get the others again. */
        l->retry_mono = util_mono_ms() + n->cfg->resend_ms;
    }
    if (!l->connected) {
        /* The Hello of the next handshake asks for the whole directory. */
        l->nwant = 0;
        return;
    }
    f.version = KR__V1__VERSION__VERSION_1;
    if (l->hello_due) {
        hello.org_id = n->cfg->org;
        hello.window = (uint32_t)n->cfg->window;
        hello.want_directory = 1;
        f.hello = &hello;
    }
    if (l->nwant > 0) {
        orgs = xmalloc(l->nwant * sizeof(*orgs));
        for (size_t i = 0; i < l->nwant; i++)
            orgs[i] = l->want[i];
        dr.org_ids = orgs;
        dr.n_org_ids = l->nwant;
        f.dir_request = &dr;
    }
    /* Persist before acknowledge: acks only for a pass that committed. */
    if (commit_rc == KR_OK && p->nacks > 0) {
        nacks = p->nacks;
        acks = xmalloc(nacks * sizeof(*acks));
        ackp = xmalloc(nacks * sizeof(*ackp));
        for (size_t i = 0; i < nacks; i++) {
            const struct pass_ack *a = &p->acks[i];
            kr__v1__ack__init(&acks[i]);
            acks[i].seq = a->seq;
            acks[i].msg_id.data = (uint8_t *)a->msg_id;
            acks[i].msg_id.len = a->msg_id_len;
            acks[i].refused = a->refused;
            acks[i].reason = a->reason;
            ackp[i] = &acks[i];
        }
        f.ack = ackp;
        f.n_ack = nacks;
    }
    if (f.hello == NULL && f.dir_request == NULL && f.n_ack == 0)
        goto done;
    buf_pack(&l->out, &f.base);
    if (s_send(l) == KR_OK) {
        /* A lost Hello is sent again next pass; lost acks are harmless,
         * the broker resends what they would have cleared. */
        l->hello_due = false;
        l->nwant = 0;
        if (nacks > 0)
            log_debug("link: acked count=%zu", nacks);
    }
done:
    free(orgs);
    free(acks);
    free(ackp);
}

/* Submit pending messages from the cursor on, in frames of up to
 * NODE_SUBMIT_BATCH items, until the window is full or none is left. */
static void
s_submit_pending(struct node *n, uint64_t now)
{
    struct link *l = &n->link;
    Kr__V1__OutboxRecord *recs[NODE_SUBMIT_BATCH];
    Kr__V1__Submit subs[NODE_SUBMIT_BATCH], *subp[NODE_SUBMIT_BATCH];
    struct nstore_iter it;
    MDB_txn *txn = NULL;
    bool end = false, stalled = false;
    size_t sent = 0;
    int rc;

    if (nstore_begin(n->store, false, &txn) != KR_OK)
        return;
    if (nstore_iter_open(n->store, txn, NSTORE_OUTBOX_PENDING, l->cursor,
                         &it) != KR_OK)
        goto done;
    while (!end && !stalled) {
        size_t nb = 0, bytes = 0;
        uint64_t last = l->cursor;

        while (nb < NODE_SUBMIT_BATCH && bytes < NODE_BATCH_BYTES &&
               l->inflight.n + nb < n->cfg->window) {
            const uint8_t *id, *v;
            size_t len;
            uint64_t seq;

            rc = nstore_iter_next(&it, &seq, &id, &v, &len);
            if (rc != KR_OK) {
                if (rc != KR_ENOTFOUND)
                    log_errorx("link: outbox walk: %s", kr_strerror(rc));
                end = true;
                break;
            }
            last = seq;
            if (s_inflight_has(&l->inflight, id))
                continue;
            Kr__V1__OutboxRecord *rec =
                kr__v1__outbox_record__unpack(NULL, len, v);
            if (rec == NULL || rec->item == NULL ||
                rec->item->msg_id.len != KR_ID_LEN || rec->envelope.len == 0) {
                log_errorx("link: outbox record seq=%llu does not parse: "
                           "skipped",
                           (unsigned long long)seq);
                if (rec != NULL)
                    kr__v1__outbox_record__free_unpacked(rec, NULL);
                continue;
            }
            kr__v1__submit__init(&subs[nb]);
            subs[nb].envelope = rec->envelope;
            subs[nb].signature = rec->signature;
            subp[nb] = &subs[nb];
            recs[nb] = rec;
            bytes += len;
            nb++;
        }
        if (nb > 0) {
            Kr__V1__Frame f = KR__V1__FRAME__INIT;
            f.version = KR__V1__VERSION__VERSION_1;
            f.submit = subp;
            f.n_submit = nb;
            buf_pack(&l->out, &f.base);
            if (s_send(l) == KR_OK) {
                for (size_t i = 0; i < nb; i++)
                    s_inflight_add(&l->inflight, recs[i]->item->msg_id.data,
                                   now);
                l->cursor = last;
                sent += nb;
            } else {
                stalled = true; /* the cursor stays: sent again later */
            }
            for (size_t i = 0; i < nb; i++)
                kr__v1__outbox_record__free_unpacked(recs[i], NULL);
        } else if (!stalled) {
            l->cursor = last; /* only entries in flight were passed */
        }
        if (l->inflight.n >= n->cfg->window)
            break;
    }
    /* More may wait if the walk did not reach the end. */
    l->more = !end || stalled;
    nstore_iter_close(&it);
    if (sent > 0)
        log_debug("link: submitted count=%zu inflight=%zu", sent,
                  l->inflight.n);
done:
    nstore_abort(&txn);
}

void
link_pump(struct node *n)
{
    struct link *l = &n->link;
    uint64_t now = util_mono_ms();

    if (!l->attached && l->reconnect_mono != 0 && now >= l->reconnect_mono) {
        l->reconnect_mono = 0;
        if (zmq_connect(l->sock, n->cfg->broker) == 0) {
            l->attached = true;
            log_info("link: reconnecting broker=%s", n->cfg->broker);
        } else {
            log_errorx("link: reconnect broker=%s: %s", n->cfg->broker,
                       zmq_strerror(errno));
            l->reconnect_mono = now + NODE_RESEND_MAX_MS;
        }
    }
    /* The Hello goes first; until it has, nothing else does. */
    if (!l->connected || l->hello_due)
        return;
    if (l->inflight.n > 0 && now >= l->resend_check_mono) {
        uint64_t oldest = s_inflight_oldest(&l->inflight);
        if (now - oldest >= l->resend_ivl) {
            log_info("link: no receipt for %llu ms: resending from the "
                     "oldest pending inflight=%zu",
                     (unsigned long long)(now - oldest), l->inflight.n);
            s_rewind(l, true);
            l->resend_ivl = l->resend_ivl * 2 > NODE_RESEND_MAX_MS
                                ? NODE_RESEND_MAX_MS
                                : l->resend_ivl * 2;
        }
        l->resend_check_mono = now + S_RESEND_CHECK_MS;
    }
    if (l->retry_mono != 0 && now >= l->retry_mono) {
        l->retry_mono = 0;
        s_rewind(l, false);
    }
    if (l->more && l->inflight.n < n->cfg->window)
        s_submit_pending(n, now);
}
