/*
 * coalition.c - the coordinator organisation's view of its coalition:
 * an adapter's coalition_referrals request goes to the broker as a
 * CoalitionQuery and is answered when the broker's ReferralStates with
 * the same query_id comes back (PROTOCOL.md "Coalition state").
 *
 * Nothing is stored here: the request waits in memory, at most
 * S_DEADLINE_MS, and is answered KR_EUNAVAIL at once when there is no
 * link, KR_ETIMEDOUT when no answer comes in time, and KR_EUNAVAIL when
 * the node stops. The broker decides who may ask.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "node.h"

#define S_MAX 64
/* Under krctl's default timeout (10 s), so that its user hears why. */
#define S_DEADLINE_MS 5000

struct s_wait {
    uint8_t rid[NODE_RID_MAX];
    size_t rid_len;
    bool delim;
    uint8_t qid[16];
    uint64_t deadline_mono;
};

static struct s_wait s_waits[S_MAX];
static size_t s_nwaits;

static void
s_reply(struct node *n, const struct s_wait *w,
        const Kr__V1__LocalResponse *resp)
{
    size_t len = kr__v1__local_response__get_packed_size(resp);
    uint8_t *data = xmalloc(len ? len : 1);

    kr__v1__local_response__pack(resp, data);
    pass_add_reply(n, w->rid, w->rid_len, w->delim, data, len);
}

static void
s_reply_err(struct node *n, const struct s_wait *w, int err, const char *detail)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;

    resp.error = err;
    resp.detail = (char *)detail;
    s_reply(n, w, &resp);
}

void
coalition_request(struct node *n, const uint8_t *rid, size_t rid_len,
                  bool delim, const Kr__V1__CoalitionQuery *q)
{
    struct s_wait w = {.rid_len = rid_len < NODE_RID_MAX ? rid_len : 0,
                       .delim = delim};
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__CoalitionQuery cq = *q;
    uint8_t *buf;
    size_t len;

    memcpy(w.rid, rid, w.rid_len);
    if (q->after.len != 0 && q->after.len != KR_ID_LEN) {
        s_reply_err(n, &w, KR_EINVAL,
                    "coalition: after is a referral_id of 16 bytes");
        return;
    }
    if (!n->link.connected || n->link.hello_due) {
        s_reply_err(n, &w, KR_EUNAVAIL,
                    "coalition: the broker is not connected: only the "
                    "broker knows the coalition's referrals; retry when "
                    "`krctl status` says connected");
        return;
    }
    if (s_nwaits == S_MAX) {
        s_reply_err(n, &w, KR_EUNAVAIL,
                    "coalition: too many queries wait for the broker; retry");
        return;
    }
    /* The node's own id, whatever the adapter put there: answers are
     * matched to waiting requests by it. */
    randombytes_buf(w.qid, sizeof(w.qid));
    cq.query_id.data = w.qid;
    cq.query_id.len = sizeof(w.qid);
    f.version = KR__V1__VERSION__VERSION_1;
    f.coalition_query = &cq;
    len = kr__v1__frame__get_packed_size(&f);
    buf = xmalloc(len);
    kr__v1__frame__pack(&f, buf);
    int rc = zmq_send(n->link.sock, buf, len, ZMQ_DONTWAIT);
    free(buf);
    if (rc < 0) {
        s_reply_err(n, &w, KR_EUNAVAIL,
                    "coalition: the query could not be sent to the broker; "
                    "retry");
        return;
    }
    w.deadline_mono = util_mono_ms() + S_DEADLINE_MS;
    s_waits[s_nwaits++] = w;
    log_debug("coalition: query sent, waiting=%zu", s_nwaits);
}

void
coalition_on_answer(struct node *n, const Kr__V1__ReferralStates *st)
{
    for (size_t i = 0; i < s_nwaits; i++) {
        struct s_wait *w = &s_waits[i];
        if (st->query_id.len != sizeof(w->qid) ||
            memcmp(st->query_id.data, w->qid, sizeof(w->qid)) != 0)
            continue;
        Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
        resp.coalition = (Kr__V1__ReferralStates *)st;
        if (st->reason != KR__V1__REASON__REASON_NONE) {
            resp.error = st->reason == KR__V1__REASON__NOT_AUTHORISED ? KR_EPERM
                         : st->reason == KR__V1__REASON__MALFORMED
                             ? KR_EINVAL
                             : KR_EUNAVAIL;
            resp.detail = st->detail;
            log_warnx("coalition: the broker refused the query: %s",
                      st->detail ? st->detail : "");
        }
        s_reply(n, w, &resp);
        s_waits[i] = s_waits[--s_nwaits];
        return;
    }
    log_debug("coalition: an answer no request waits for (late): ignored");
}

void
coalition_timers(struct node *n)
{
    uint64_t now = util_mono_ms();

    for (size_t i = 0; i < s_nwaits;) {
        if (now < s_waits[i].deadline_mono) {
            i++;
            continue;
        }
        log_warnx("coalition: no answer from the broker within %d ms",
                  S_DEADLINE_MS);
        s_reply_err(n, &s_waits[i], KR_ETIMEDOUT,
                    n->link.connected
                        ? "coalition: no answer from the broker in time; "
                          "retry"
                        : "coalition: the link to the broker went down "
                          "before it answered; retry when connected");
        s_waits[i] = s_waits[--s_nwaits];
    }
}

long
coalition_timeout(long timeout)
{
    uint64_t now = util_mono_ms();

    for (size_t i = 0; i < s_nwaits; i++) {
        uint64_t d = s_waits[i].deadline_mono;
        long left = d > now ? (long)(d - now) : 0;
        if (left < timeout)
            timeout = left;
    }
    return timeout;
}

void
coalition_stop(struct node *n)
{
    for (size_t i = 0; i < s_nwaits; i++)
        s_reply_err(n, &s_waits[i], KR_EUNAVAIL,
                    "coalition: the node is stopping; retry");
    s_nwaits = 0;
}
