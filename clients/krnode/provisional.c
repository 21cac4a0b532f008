/* provisional.c - deliveries the broker sent before its pass committed
 * (see node.h and PROTOCOL.md, "Early delivery").
 *
 * Why it is safe: the record is committed here while the broker commits
 * its pass, but nobody sees it and the broker gets no ack until the
 * broker says the pass committed. If it did not (or the broker died, or
 * the connection ended before it said), the record goes again, unseen:
 * the broker sends again whatever it did commit, and a message it did not
 * commit was refused to its sender, who may retry and be refused for good
 * (a consent revoked meanwhile). The ack of a confirmed delivery leaves
 * only with the commit that releases it, so a node that restarts with
 * held records may remove them all: none was acknowledged, so the broker
 * sends every one it committed again.
 *
 * Entries live from the delivery until the commit that settles them (the
 * release or the removal); at most the broker's window of them. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "node.h"

int
prov_add(struct node *n, uint64_t inbox_seq, const uint8_t *msg_id,
         uint64_t broker_pass, uint64_t delivery_seq)
{
    struct provisional *pv = &n->prov;
    MDB_txn *txn;
    int rc;

    if ((rc = pass_txn(n, &txn)) != KR_OK ||
        (rc = nstore_inbox_hold(n->store, txn, inbox_seq, msg_id)) != KR_OK) {
        pass_fail(n, rc);
        return rc;
    }
    if (pv->n == pv->cap) {
        pv->cap = pv->cap ? 2 * pv->cap : 64;
        pv->e = xrealloc(pv->e, pv->cap * sizeof(*pv->e));
    }
    /* Arrival seqs grow, except where a removed last record's seq comes
     * again: keep the order for the binary search. */
    size_t at = pv->n;
    while (at > 0 && pv->e[at - 1].inbox_seq > inbox_seq)
        at--;
    memmove(&pv->e[at + 1], &pv->e[at], (pv->n - at) * sizeof(*pv->e));
    pv->n++;
    struct prov_entry *e = &pv->e[at];
    memset(e, 0, sizeof(*e));
    e->inbox_seq = inbox_seq;
    memcpy(e->msg_id, msg_id, KR_ID_LEN);
    e->broker_pass = broker_pass;
    e->delivery_seq = delivery_seq;
    e->stored_pass = n->pass.id;
    e->held_mono = n->pass.now_mono;
    e->state = PROV_WAITING;
    if (pv->test_exit_after_held != 0 && --pv->test_exit_after_held == 0)
        pv->test_exit_armed = true;
    return KR_OK;
}

bool
prov_hidden(const struct node *n, uint64_t inbox_seq, const uint8_t *msg_id)
{
    const struct provisional *pv = &n->prov;
    size_t lo = 0, hi = pv->n;

    /* The first entry at inbox_seq; a seq may appear twice (a removed
     * record's and the one that took its seq), told apart by msg_id. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pv->e[mid].inbox_seq < inbox_seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < pv->n && pv->e[lo].inbox_seq == inbox_seq; lo++)
        if (memcmp(pv->e[lo].msg_id, msg_id, KR_ID_LEN) == 0 &&
            pv->e[lo].state != PROV_CONFIRMED)
            return true;
    return false;
}

struct prov_entry *
prov_find(struct node *n, const uint8_t *msg_id)
{
    struct provisional *pv = &n->prov;

    /* The newest first: an id removed and sent again has two entries
     * until the removal commits, and the live one is the later. */
    for (size_t i = pv->n; i > 0; i--)
        if (memcmp(pv->e[i - 1].msg_id, msg_id, KR_ID_LEN) == 0)
            return &pv->e[i - 1];
    return NULL;
}

static void
s_decide(struct node *n, struct prov_entry *e, enum prov_state to)
{
    e->state = to;
    e->settled_pass = 0;
    n->prov.unsettled = true;
    if (to == PROV_CONFIRMED) {
        /* Already committed here: shown at once, from committed state.
         * Added in this very pass: shown after its commit. */
        if (e->stored_pass != n->pass.id)
            n->prov.show_now = true;
        else
            n->pass.inbox_added = true;
    }
}

void
prov_on_again(struct node *n, struct prov_entry *e, const Kr__V1__Delivery *d)
{
    if (e->state != PROV_WAITING || d->provisional_pass != 0)
        return;
    /* Sent from the broker's committed state: as good as a result. Its
     * ack goes with the release, for the seq it came with now. */
    e->delivery_seq = d->seq;
    s_decide(n, e, PROV_CONFIRMED);
    prov_settle(n);
}

void
prov_on_result(struct node *n, const Kr__V1__PassResult *r)
{
    struct provisional *pv = &n->prov;
    size_t count = 0;

    if (pv->test_exit_armed)
        return; /* the test's crash comes before the result is read */
    for (size_t i = 0; i < pv->n; i++) {
        struct prov_entry *e = &pv->e[i];
        if (e->broker_pass != r->pass || e->state != PROV_WAITING)
            continue;
        s_decide(n, e, r->committed ? PROV_CONFIRMED : PROV_DROPPED);
        count++;
    }
    if (count == 0)
        return;
    /* A broker whose store or disk is full fails pass after pass: the
     * first line, then one every 10 s with a count, then the end. */
    static struct log_every failed;
    uint64_t unlogged, dur;
    if (r->committed) {
        log_debug("inbox: broker pass committed: %zu held deliveries shown",
                  count);
        if (log_every_clear(&failed, util_mono_ms(), &dur, &unlogged))
            log_warnx("inbox: broker passes commit again after %llu ms "
                      "failed_passes=%llu",
                      (unsigned long long)dur, (unsigned long long)unlogged);
    } else if (log_every_hit(&failed, util_mono_ms(), 10000, &unlogged)) {
        log_warnx("inbox: broker pass did not commit: %zu deliveries sent "
                  "early are removed unseen (the broker sends again what it "
                  "keeps) failed_passes_since_last_line=%llu",
                  count, (unsigned long long)unlogged);
    }
    /* Not urgent: the adapter sees them now (local_inbox_shown); the
     * release and its acks ride on the next commit that someone waits
     * for, within S_DEFER_MS, instead of a flush of their own. */
    prov_settle(n);
}

void
prov_drop_waiting(struct node *n, const char *why)
{
    struct provisional *pv = &n->prov;
    size_t count = 0;

    for (size_t i = 0; i < pv->n; i++)
        if (pv->e[i].state == PROV_WAITING) {
            s_decide(n, &pv->e[i], PROV_DROPPED);
            count++;
        }
    if (count == 0)
        return;
    log_info("inbox: %s: %zu deliveries sent early without a result are "
             "removed unseen (the broker sends again what it committed)",
             why, count);
    prov_settle(n);
}

void
prov_timers(struct node *n)
{
    struct provisional *pv = &n->prov;

    for (size_t i = 0; i < pv->n; i++) {
        const struct prov_entry *e = &pv->e[i];
        if (e->state != PROV_WAITING ||
            n->pass.now_mono - e->held_mono < NODE_HELD_MAX_MS)
            continue;
        log_warnx("inbox: no result from the broker for a pass that sent "
                  "deliveries early, after %d ms: saying Hello again",
                  NODE_HELD_MAX_MS);
        prov_drop_waiting(n, "no pass result in time");
        if (n->link.connected)
            n->link.hello_due = true; /* the broker rewinds our queue */
        return;
    }
}

void
prov_settle(struct node *n)
{
    struct provisional *pv = &n->prov;
    MDB_txn *txn;
    int rc = KR_OK;

    if (!pv->unsettled)
        return;
    if (pass_txn(n, &txn) != KR_OK)
        return; /* this pass fails; the next one writes them */
    for (size_t i = 0; i < pv->n && rc == KR_OK; i++) {
        struct prov_entry *e = &pv->e[i];
        if (e->state == PROV_WAITING || e->settled_pass != 0)
            continue;
        if (e->state == PROV_CONFIRMED) {
            rc = nstore_inbox_release(n->store, txn, e->inbox_seq);
            if (rc == KR_OK)
                pass_add_ack(n, e->delivery_seq, e->msg_id, KR_ID_LEN, false,
                             0);
        } else {
            rc = nstore_inbox_remove(n->store, txn, e->inbox_seq, e->msg_id);
        }
        if (rc == KR_OK)
            e->settled_pass = n->pass.id;
    }
    if (rc != KR_OK) {
        pass_fail(n, rc);
        return;
    }
    pv->unsettled = false;
}

void
prov_after_commit(struct node *n, int commit_rc)
{
    struct provisional *pv = &n->prov;
    size_t j = 0;

    if (pv->test_exit_armed && commit_rc == KR_OK) {
        log_errorx("inbox: test: exit with held deliveries "
                   "(KRNODE_TEST_EXIT_AFTER_HELD)");
        _exit(70);
    }
    for (size_t i = 0; i < pv->n; i++) {
        struct prov_entry *e = &pv->e[i];
        if (commit_rc == KR_OK) {
            if (e->settled_pass == n->pass.id)
                continue; /* released or removed for good */
        } else {
            if (e->stored_pass == n->pass.id)
                continue; /* never stored: the broker sends it again */
            if (e->settled_pass == n->pass.id) {
                e->settled_pass = 0; /* not written: the next pass does */
                pv->unsettled = true;
            }
        }
        pv->e[j++] = *e;
    }
    pv->n = j;
}

int
prov_recover(struct node *n)
{
    MDB_txn *txn = NULL;
    uint64_t dropped = 0;
    int rc;

    /* For the crash tests only: never set in a deployment. */
    const char *tx = getenv("KRNODE_TEST_EXIT_AFTER_HELD");
    if (tx != NULL && strtoull(tx, NULL, 10) != 0) {
        n->prov.test_exit_after_held = strtoull(tx, NULL, 10);
        log_warnx("inbox: KRNODE_TEST_EXIT_AFTER_HELD=%s: this node fails on "
                  "purpose (a test)",
                  tx);
    }
    if ((rc = nstore_begin(n->store, true, &txn)) != KR_OK)
        return rc;
    if ((rc = nstore_inbox_drop_held(n->store, txn, &dropped)) != KR_OK) {
        nstore_abort(&txn);
        return rc;
    }
    if (dropped == 0) {
        nstore_abort(&txn);
        return KR_OK;
    }
    if ((rc = nstore_commit(&txn)) != KR_OK)
        return rc;
    log_info("inbox: %llu deliveries sent early by the broker were never "
             "confirmed: removed unseen (the broker sends again what it "
             "committed)",
             (unsigned long long)dropped);
    return KR_OK;
}

void
prov_free(struct node *n)
{
    free(n->prov.e);
    n->prov.e = NULL;
    n->prov.n = n->prov.cap = 0;
}
