/* local_outbox_wait.c - outbox_wait: one sent message, answered when it
 * has an outcome. The FHIR gateway answers a write once the broker has
 * (docs/FHIR.md, "Writes wait"); it used to ask outbox_get at growing
 * gaps, so an answer that came just after a look waited for the next one
 * (up to twice as long), and every look was a node round trip. Now the
 * node holds the request and answers right after the commit that sets
 * the outcome, like an inbox long poll (ARCHITECTURE departure 16). */
#include <string.h>

#include "log.h"
#include "node.h"

#include "local_internal.h"

/* Answer w from txn: the item as outbox_get gives it. false: it has no
 * outcome yet and 'final_only' asks for one (keep waiting). */
static bool
s_answer(struct node *n, MDB_txn *txn, const struct origin *from,
         const uint8_t msg_id[KR_ID_LEN], bool final_only)
{
    Kr__V1__LocalResponse resp = KR__V1__LOCAL_RESPONSE__INIT;
    struct arena_mark mark = arena_mark(&n->pb);
    const uint8_t *v;
    size_t len;
    int rc = nstore_outbox_get(n->store, txn, msg_id, &v, &len);

    if (rc != KR_OK) {
        local_reply_err(n, from, rc, "outbox: %s", kr_strerror(rc));
        return true;
    }
    Kr__V1__OutboxRecord *rec =
        kr__v1__outbox_record__unpack(arena_allocator(&n->pb), len, v);
    if (rec == NULL || rec->item == NULL) {
        arena_release(&n->pb, mark);
        local_reply_err(n, from, KR_ESTORE, "outbox: record does not parse");
        return true;
    }
    if (final_only &&
        rec->item->outcome == KR__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
        arena_release(&n->pb, mark);
        return false;
    }
    resp.outbox = &rec->item;
    resp.n_outbox = 1;
    local_reply(n, from, &resp);
    arena_release(&n->pb, mark);
    return true;
}

void
local_outbox_wait(struct node *n, MDB_txn *txn, const struct origin *from,
                  const Kr__V1__OutboxWait *w)
{
    struct local *lo = &n->local;

    if (w == NULL || w->msg_id.len != KR_ID_LEN) {
        local_reply_err(n, from, KR_EINVAL, "outbox_wait: msg_id is 16 bytes");
        return;
    }
    /* Held only while there is room; else answered as it is (the client
     * asks again). */
    bool hold = w->wait_ms > 0 && lo->nowaits < NODE_WAIT_MAX;
    if (s_answer(n, txn, from, w->msg_id.data, hold))
        return;
    struct outbox_wait *ow = &lo->owaits[lo->nowaits++];
    ow->from = *from;
    memcpy(ow->msg_id, w->msg_id.data, KR_ID_LEN);
    uint32_t ms = w->wait_ms < NODE_WAIT_MS_MAX ? w->wait_ms : NODE_WAIT_MS_MAX;
    ow->deadline_mono = n->pass.now_mono + ms;
    /* The outcome may be in this pass's writes, which the snapshot did
     * not see: its commit looks again, at once. */
    n->pass.awaited = true;
    if (n->pass.txn != NULL)
        n->pass.urgent = true;
}

bool
local_outbox_waited(const struct node *n, const uint8_t *msg_id)
{
    const struct local *lo = &n->local;

    for (size_t i = 0; i < lo->nowaits; i++)
        if (memcmp(lo->owaits[i].msg_id, msg_id, KR_ID_LEN) == 0)
            return true;
    return false;
}

/* Answer the waits that have an outcome (every one when 'all', and those
 * past their deadline), from a snapshot of what is committed. */
static void
s_answer_waits(struct node *n, bool all)
{
    struct local *lo = &n->local;
    MDB_txn *txn = NULL;
    size_t j = 0, before = n->pass.nreplies;

    if (lo->nowaits == 0 || nstore_begin(n->store, false, &txn) != KR_OK)
        return;
    uint64_t now = util_mono_ms();
    for (size_t i = 0; i < lo->nowaits; i++) {
        struct outbox_wait *ow = &lo->owaits[i];
        bool due = all || now >= ow->deadline_mono;
        if (!s_answer(n, txn, &ow->from, ow->msg_id, !due))
            lo->owaits[j++] = *ow;
    }
    lo->nowaits = j;
    nstore_abort(&txn);
    /* Their answers come from committed state: out now, not after the
     * next pass's commit. */
    local_send_replies(n, before, n->pass.nreplies, KR_OK);
    n->pass.nreplies = before;
}

void
local_outbox_committed(struct node *n)
{
    s_answer_waits(n, false);
}

/* Only once a deadline has passed: outcomes are answered after the
 * commit that sets them (local_outbox_committed). */
void
local_outbox_timers(struct node *n)
{
    const struct local *lo = &n->local;
    uint64_t now = util_mono_ms();

    for (size_t i = 0; i < lo->nowaits; i++)
        if (now >= lo->owaits[i].deadline_mono) {
            s_answer_waits(n, false);
            return;
        }
}

void
local_outbox_stop(struct node *n)
{
    s_answer_waits(n, true);
}

long
local_outbox_timeout(const struct node *n, long timeout)
{
    const struct local *lo = &n->local;
    uint64_t now = util_mono_ms();

    for (size_t i = 0; i < lo->nowaits; i++) {
        uint64_t d = lo->owaits[i].deadline_mono;
        long left = d > now ? (long)(d - now) : 0;
        if (left < timeout)
            timeout = left;
    }
    return timeout;
}
