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

#include "local_internal.h"

static void s_handle(struct node *n, const struct origin *from,
                     const uint8_t *data, size_t len);

/*
 * Replies
 */

void
local_reply(struct node *n, const struct origin *from,
            const Kr__V1__LocalResponse *resp)
{
    size_t len = kr__v1__local_response__get_packed_size(resp);
    uint8_t *data = xmalloc(len);

    kr__v1__local_response__pack(resp, data);
    pass_add_reply(n, from->rid, from->rid_len, from->delim, data, len);
}

void
local_reply_err(struct node *n, const struct origin *from, int err,
                const char *fmt, ...)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    char detail[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    resp.error = err;
    resp.detail = detail;
    local_reply(n, from, &resp);
}

/* The answer to a send (and to processed): the message's id and, for a
 * consent grant, the consent's (NULL: none). */
void
local_reply_ids(struct node *n, const struct origin *from,
                const uint8_t *msg_id, const uint8_t *consent_id)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;

    resp.msg_id.data = (uint8_t *)msg_id;
    resp.msg_id.len = KR_ID_LEN;
    if (consent_id != NULL) {
        resp.consent_id.data = (uint8_t *)consent_id;
        resp.consent_id.len = KR_ID_LEN;
    }
    local_reply(n, from, &resp);
}

void
local_reply_id(struct node *n, const struct origin *from, const uint8_t *msg_id)
{
    local_reply_ids(n, from, msg_id, NULL);
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
    lo->owaits = xcalloc(NODE_WAIT_MAX, sizeof(*lo->owaits));
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
    free(lo->owaits);
    lo->owaits = NULL;
    lo->nowaits = 0;
    free(lo->endpoint);
    lo->endpoint = NULL;
}

/*
 * Processed, referrals, status
 */

static void
s_processed(struct node *n, const struct origin *from,
            const ProtobufCBinaryData *id)
{
    char hex[KR_ID_HEX_LEN];
    bool changed;
    MDB_txn *txn;
    int rc;

    if (id->len != KR_ID_LEN) {
        local_reply_err(n, from, KR_EINVAL, "processed: msg_id is 16 bytes");
        return;
    }
    util_hex(id->data, KR_ID_LEN, hex);
    if ((rc = pass_txn(n, &txn)) != KR_OK) {
        local_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        return;
    }
    const struct prov_entry *held = prov_find(n, id->data);
    if (held != NULL && held->state != PROV_CONFIRMED) {
        /* Not shown yet, and perhaps never: as if it were not there. */
        local_reply_err(n, from, KR_ENOTFOUND, "no message %s in the inbox",
                        hex);
        return;
    }
    rc = nstore_inbox_set_processed(n->store, txn, id->data, &changed);
    if (rc == KR_ENOTFOUND) {
        local_reply_err(n, from, rc, "no message %s in the inbox", hex);
        return;
    }
    if (rc != KR_OK) {
        pass_fail(n, rc);
        local_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        return;
    }
    if (changed)
        log_debug("inbox: processed msg=%s", hex);
    local_reply_id(n, from, id->data);
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
        local_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
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
    local_room_again(n);
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
    local_reply(n, from, &resp);
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
        local_reply_err(n, from, KR_EPROTO,
                        "request does not parse as kr.v1.LocalRequest");
        return;
    }
    if (req->version != KR__V1__VERSION__VERSION_UNSPECIFIED &&
        req->version != KR__V1__VERSION__VERSION_1) {
        local_reply_err(n, from, KR_EPROTO, "version %d is not supported",
                        (int)req->version);
        goto done;
    }
    size_t before = 0;
    bool snapshot = local_read_begin(n, req, &before);
    switch (req->op_case) {
    case KR__V1__LOCAL_REQUEST__OP_SEND:
        local_send(n, from, req->send, data, len);
        break;
    case KR__V1__LOCAL_REQUEST__OP_INBOX:
        local_list_inbox(n, NULL, from, req->inbox, 0);
        break;
    case KR__V1__LOCAL_REQUEST__OP_OUTBOX:
        local_list_outbox(n, from, req->outbox);
        break;
    case KR__V1__LOCAL_REQUEST__OP_PROCESSED:
        s_processed(n, from, &req->processed);
        break;
    case KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET:
    case KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST:
        local_referrals(n, from, req);
        break;
    case KR__V1__LOCAL_REQUEST__OP_STATUS:
        s_status(n, from);
        break;
    case KR__V1__LOCAL_REQUEST__OP_OUTBOX_GET:
        local_outbox_get(n, from, &req->outbox_get);
        break;
    case KR__V1__LOCAL_REQUEST__OP_INBOX_GET:
        local_inbox_get(n, from, &req->inbox_get);
        break;
    case KR__V1__LOCAL_REQUEST__OP_REFERRAL_VIEW:
        local_referral_view(n, from, req);
        break;
    case KR__V1__LOCAL_REQUEST__OP_OUTBOX_WAIT: {
        MDB_txn *txn;
        int rc = pass_txn(n, &txn);
        if (rc != KR_OK)
            local_reply_err(n, from, rc, "store: %s", kr_strerror(rc));
        else
            local_outbox_wait(n, txn, from, req->outbox_wait);
        break;
    }
    case KR__V1__LOCAL_REQUEST__OP_COALITION_REFERRALS:
        coalition_request(n, from->rid, from->rid_len, from->delim,
                          req->coalition_referrals);
        break;
    default:
        local_reply_err(n, from, KR_EPROTO, "request names no operation");
        break;
    }
    if (snapshot)
        local_read_end(n, before);
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
            local_reply_err(n, &pk.from, KR_ENOKEY,
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
            local_reply_err(n, &pk->from, KR_EUNAVAIL,
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
        local_reply_err(n, &pk->from, KR_ENOKEY, "recipient not in directory");
        free(pk->req);
    }
    lo->nparked = j;

    local_answer_waits(n, NULL, false);
    local_outbox_timers(n);
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
    local_answer_waits(n, txn, true);
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
    local_answer_waits(n, txn, true);
    nstore_abort(&txn);
    local_send_replies(n, before, p->nreplies, KR_OK);
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
    return coalition_timeout(local_outbox_timeout(n, timeout));
}

void
local_stop(struct node *n)
{
    struct local *lo = &n->local;

    for (size_t i = 0; i < lo->nparked; i++) {
        local_reply_err(n, &lo->parked[i].from, KR_EUNAVAIL,
                        "the node is stopping: nothing was stored; retry");
        free(lo->parked[i].req);
    }
    lo->nparked = 0;
    coalition_stop(n);
    /* Waits get what there is now (an empty page): nothing else comes. */
    for (size_t i = 0; i < lo->nwaits; i++)
        local_list_inbox(n, NULL, &lo->waits[i].from, &lo->waits[i].lr,
                         UINT64_MAX);
    lo->nwaits = 0;
    local_outbox_stop(n);
}

/* Send the pass's replies [from, to). */
void
local_send_replies(struct node *n, size_t from, size_t to, int commit_rc)
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
    local_send_replies(n, 0, n->pass.nreplies, commit_rc);
    n->pass.nreplies = 0;
}
