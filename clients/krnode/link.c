/* link.c - the connection to the broker (PROTOCOL.md "Sending" and
 * "Receiving"): one DEALER, CURVE client, whose monitor tells us when a
 * handshake succeeded or was refused. This file holds the connection: its
 * setup, the monitor's events, the reconnect after a refusal, the Hello,
 * directory responses, the dispatch of the broker's frames and the flush
 * after each pass. The outbox side (submits, the window, resends, receipts)
 * is in link_send.c, the inbox side (deliveries, notices) in link_recv.c.
 *
 * Receipts and deliveries are written in the pass's transaction; their acks
 * wait in the pass until it commits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "link_internal.h"
#include "log.h"
#include "names.h"
#include "node.h"
#include "nmetrics.h"

#define S_MONITOR_ENDPOINT "inproc://krnode-link-monitor"
#define S_WANT_MAX 256
/* A refused handshake is logged once, then at most this often. */
#define S_REFUSAL_LOG_MS 60000
/* First wait before reconnecting after a refused handshake or a fatal
 * FrameError; it doubles up to NODE_RESEND_MAX_MS. */
#define S_RECONNECT_BACKOFF_MS 1000
/* Handshakes cut off in a row, with the broker accepting connections in
 * between, before the node says its broker_key must be wrong. */
#define S_KEY_BLAME_STREAK 3

const char *
link_clean(const char *in, char *out, size_t outlen)
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
    /* For the crash tests only: never set in a deployment. */
    const char *tx = getenv("KRNODE_TEST_EXIT_AFTER_AHEAD");
    if (tx != NULL && (l->test_exit_after_ahead = strtoull(tx, NULL, 10)))
        log_warnx("link: KRNODE_TEST_EXIT_AFTER_AHEAD=%s: this node fails "
                  "on purpose (a test)",
                  tx);
    link_inflight_init(&l->inflight, cfg->window);
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
    if (zmq_socket_monitor(
            l->sock, S_MONITOR_ENDPOINT,
            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_CONNECTED |
                ZMQ_EVENT_CONNECT_RETRIED) != 0) {
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
    l->cut_streak = 0;
    l->connected = true;
    nmetrics_link_up();
    l->hello_due = true;
    l->reconnect_backoff = 0;
    /* Every submit without a receipt goes again, oldest first. */
    link_rewind(l, true);
    /* Deliveries sent early on the old connection get no result now: the
     * broker's answer to our Hello is to send again what it committed.
     * Frames of the old connection may still be read after this event:
     * what they hold is dropped when the Hello's answer comes (below). */
    prov_drop_waiting(n, "new connection");
    l->hello_unanswered = true;
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
    link_inflight_clear(&l->inflight);
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

void
link_reconnect_if_due(struct node *n, uint64_t now)
{
    struct link *l = &n->link;

    if (!l->attached && l->reconnect_mono != 0 && now >= l->reconnect_mono) {
        l->reconnect_mono = 0;
        if (zmq_connect(l->sock, n->cfg->broker) == 0) {
            char why[256];
            uint64_t at, count;
            l->attached = true;
            /* Each time, with the cause: "reconnecting" alone hides a
             * wrong key. The backoff (up to a minute) limits the rate. */
            nmetrics_link_last(why, sizeof(why), &at, &count);
            if (why[0] != '\0')
                log_warnx("link: reconnecting broker=%s after: %s "
                          "failures=%llu",
                          n->cfg->broker, why, (unsigned long long)count);
            else
                log_info("link: reconnecting broker=%s", n->cfg->broker);
        } else {
            log_errorx("link: reconnect broker=%s: %s", n->cfg->broker,
                       zmq_strerror(errno));
            l->reconnect_mono = now + NODE_RESEND_MAX_MS;
        }
    }
}

/* 'blame': the cause is on our side (a key, the directory), an error an
 * operator must act on; otherwise a warning (the broker went away). A
 * blame said for the first time is said at once, whatever was said
 * before. */
static void
s_on_refused(struct node *n, enum nmetrics_link_err kind, const char *what,
             uint32_t value, bool blame, bool first_blame)
{
    struct link *l = &n->link;
    uint64_t now = util_mono_ms();

    l->refusals++;
    nmetrics_link_error(kind, what, util_now_ms());
    s_on_disconnected(n, "handshake failed");
    s_reconnect_later(n);
    /* Said once, then once a minute: not at every attempt. */
    if (l->refusal_log_mono == 0 || first_blame ||
        now - l->refusal_log_mono >= S_REFUSAL_LOG_MS) {
        if (blame)
            log_errorx("link: %s broker=%s org=%s code=%u refusals=%u: "
                       "retrying in %llu ms",
                       what, n->cfg->broker, n->cfg->org, value, l->refusals,
                       (unsigned long long)l->reconnect_backoff);
        else
            log_warnx("link: %s broker=%s org=%s code=%u refusals=%u: "
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
        case ZMQ_EVENT_CONNECTED:
            l->tcp_up = true;
            break;
        case ZMQ_EVENT_CONNECT_RETRIED:
            /* libzmq schedules another attempt, after a connection that
             * failed or one that never came up. Never up: nobody
             * listens, so whatever cut the last handshake off was not a
             * broker that reads our key and refuses it. */
            if (!l->tcp_up)
                l->cut_streak = 0;
            l->tcp_up = false;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            s_on_refused(n, NM_LINK_AUTH,
                         "broker refused our key (is this organisation in "
                         "the directory and active?)",
                         value, true, false);
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            s_on_refused(n, NM_LINK_HANDSHAKE,
                         "handshake failed: protocol error", value, true,
                         false);
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            /* A broker that cannot decrypt our HELLO (we sealed it to
             * the wrong broker_key) closes the connection; so does a
             * broker that stops in the middle of a handshake. Only the
             * first happens again and again while the broker still
             * accepts connections, so only a streak blames the key. */
            if (++l->cut_streak >= S_KEY_BLAME_STREAK)
                s_on_refused(n, NM_LINK_HANDSHAKE,
                             "handshake failed again and again while the "
                             "broker accepts connections (is broker_key the "
                             "broker's key?)",
                             value, true, l->cut_streak == S_KEY_BLAME_STREAK);
            else
                s_on_refused(n, NM_LINK_HANDSHAKE,
                             "handshake cut off: the broker closed the "
                             "connection (stopping or restarting; if this "
                             "repeats, check broker_key)",
                             value, false, false);
            break;
        default:
            break;
        }
    }
}

/*
 * Frames from the broker
 */

static void
s_on_error(struct node *n, const Kr__V1__FrameError *fe)
{
    char detail[256];

    link_clean(fe->detail, detail, sizeof(detail));
    if (!fe->fatal) {
        log_warnx("link: broker error reason=%s detail=\"%s\"",
                  reason_name(fe->reason), detail);
        return;
    }
    log_errorx("link: broker will not serve us reason=%s detail=\"%s\": "
               "disconnecting",
               reason_name(fe->reason), detail);
    {
        char text[300];
        snprintf(text, sizeof(text), "broker will not serve us: %s: %s",
                 reason_name(fe->reason), detail);
        nmetrics_link_error(NM_LINK_FATAL, text, util_now_ms());
    }
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

/* Signature checks for a frame's deliveries, in parallel. */
struct s_checks {
    const Kr__V1__Frame *f;
    struct delivery_check *pre;
    size_t *todo; /* indexes into f->delivery */
};

static void
s_check_one(void *arg, size_t i)
{
    struct s_checks *c = arg;
    size_t k = c->todo[i];
    const Kr__V1__Delivery *d = c->f->delivery[k];
    struct delivery_check *pc = &c->pre[k];

    pc->ok = kcrypto_verify(pc->sign_pk, d->envelope.data, d->envelope.len,
                            d->signature.data, d->signature.len) == KR_OK;
    pc->checked = true;
}

/* Unpack the frame's envelopes and check the signatures of those whose
 * sender and key we know, all at once on the helpers (link_on_delivery
 * then skips its own check). NULL when that would not pay: one delivery,
 * or no helpers. Everything else link_on_delivery decides as before. */
static struct delivery_check *
s_check_deliveries(struct node *n, const Kr__V1__Frame *f)
{
    struct s_checks c;
    size_t ntodo = 0;

    if (f->n_delivery < 2 || !workers_parallel(n->workers))
        return NULL;
    c.f = f;
    c.pre = xcalloc(f->n_delivery, sizeof(*c.pre));
    c.todo = xmalloc(f->n_delivery * sizeof(*c.todo));
    for (size_t i = 0; i < f->n_delivery; i++) {
        const Kr__V1__Delivery *d = f->delivery[i];
        Kr__V1__Envelope *e = kr__v1__envelope__unpack(
            arena_allocator(&n->pb), d->envelope.len, d->envelope.data);
        c.pre[i].env = e;
        if (e == NULL || !util_org_id_valid(e->sender))
            continue;
        const struct peer *peer = peers_find(&n->peers, e->sender);
        if (peer == NULL || !peer->known ||
            strcmp(e->sender_key_id, peer->sign_key_id) != 0)
            continue;
        memcpy(c.pre[i].sign_pk, peer->sign, KR_KEY_LEN);
        c.todo[ntodo++] = i;
    }
    workers_run(n->workers, s_check_one, &c, ntodo);
    free(c.todo);
    return c.pre;
}

/* The frame and the envelopes checked ahead live in one arena scope,
 * gone at once at its end (the helpers only read them). */
void
node_handle_broker_frame(struct node *n, const uint8_t *data, size_t len)
{
    struct arena_mark mark = arena_mark(&n->pb);
    Kr__V1__Frame *f =
        kr__v1__frame__unpack(arena_allocator(&n->pb), len, data);

    if (f == NULL) {
        arena_release(&n->pb, mark);
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
    if (f->dir_response != NULL) {
        /* The first one after a handshake answers our Hello: the broker
         * sends nothing on a new connection before it, so a delivery held
         * now came on the old one, whose result will not come. */
        if (n->link.hello_unanswered)
            prov_drop_waiting(n, "new connection (late frames of the old)");
        n->link.hello_unanswered = false;
        s_on_directory(n, f->dir_response);
    }
    for (size_t i = 0; i < f->n_receipt; i++)
        link_on_receipt(n, f->receipt[i]);
    struct delivery_check *pre = s_check_deliveries(n, f);
    for (size_t i = 0; i < f->n_delivery; i++)
        link_on_delivery(n, f->delivery[i], pre != NULL ? &pre[i] : NULL);
    free(pre);
    /* After the deliveries: a notice may name messages of the same
     * frame, and the inbox then lists them before it. */
    for (size_t i = 0; i < f->n_notice; i++)
        link_on_notice(n, f->notice[i]);
    for (size_t i = 0; i < f->n_pass_result; i++)
        prov_on_result(n, f->pass_result[i]);
    if (f->referral_states != NULL)
        coalition_on_answer(n, f->referral_states);
done:
    arena_release(&n->pb, mark);
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
            node_handle_broker_frame(n, zmq_msg_data(&m), zmq_msg_size(&m));
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

bool
link_busy(const struct node *n)
{
    const struct link *l = &n->link;

    return l->hello_due || l->inflight.n > 0 || l->retry_mono != 0 ||
           l->reconnect_mono != 0 || l->nwant > 0 || (l->connected && l->more);
}

int
link_send_out(struct link *l)
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

    link_ahead_settle(n, commit_rc);
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
        hello.early_delivery = 1; /* provisional.c holds them */
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
    if (link_send_out(l) == KR_OK) {
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
