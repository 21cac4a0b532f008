/*
 * test_crash.c - kill -9 while 2,000 referrals flow: the broker, the
 * sending node and the receiving node each die at a chosen point and are
 * restarted with the same directories and ports. Afterwards every referral
 * is in the recipient's inbox exactly once, in the order sent, and the
 * sender sees each delivered exactly once: nothing lost, nothing doubled.
 *
 * Sends carry their own msg_id, so that a send whose answer was lost in a
 * crash can be repeated safely (the node deduplicates by msg_id).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "harness.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_COUNT 2000

struct s_test {
    struct h_cluster c;
    int vl, jgz;
    uint8_t ids[S_COUNT][16];
    struct h_idset sent;
};

/* The sender: a process of its own, so that the daemons die while it
 * sends. Number i is repeated (same msg_id) until the node has it. */
static int
s_sender(void *arg)
{
    struct s_test *t = arg;
    struct h_referral ref;
    kr_client_t *kc = NULL;
    char text[64];
    uint8_t got[16];
    size_t retries = 0;

    h_referral_default(&ref);
    for (int i = 0; i < S_COUNT; i++) {
        uint64_t deadline = h_mono_ms() + (uint64_t)h_scale(30000);
        int rc = KR_EUNAVAIL;
        snprintf(text, sizeof(text), "crash seq=%05d", i);
        ref.reason_text = text;
        for (int attempt = 0; attempt < 10000; attempt++) {
            /* A short timeout: a node killed mid-call must not hold the
             * sender for long. */
            if (kc == NULL &&
                kr_client_connect(t->c.nodes[t->vl].local, 2000, &kc) != KR_OK)
                kc = NULL;
            if (kc != NULL)
                rc = h_send_referral(kc, S_JGZ_ORG, &ref, t->ids[i], got);
            if (rc == KR_OK)
                break;
            retries++;
            if (h_mono_ms() >= deadline)
                break;
            h_sleep_ms(H_POLL_MS);
        }
        if (rc != KR_OK || memcmp(got, t->ids[i], 16) != 0) {
            printf("sender: send %d failed: %s\n", i, kr_strerror(rc));
            kr_client_destroy(&kc);
            return 1;
        }
    }
    printf("sender: %d sent, %zu repeated\n", S_COUNT, retries);
    kr_client_destroy(&kc);
    return 0;
}

/* Received so far (the JGZ node's unprocessed count: nobody processes). */
static uint64_t
s_received(struct s_test *t)
{
    struct h_status st;

    if (h_status(h_node_client(&t->c, t->jgz), &st) != KR_OK)
        return 0;
    return st.inbox_unprocessed;
}

static uint64_t
s_vl_pending(struct s_test *t)
{
    struct h_status st;

    if (h_status(h_node_client(&t->c, t->vl), &st) != KR_OK)
        return 0;
    return st.outbox_pending;
}

static uint64_t
s_vl_open(struct s_test *t)
{
    struct h_status st;

    if (h_status(h_node_client(&t->c, t->vl), &st) != KR_OK)
        return 0;
    return st.outbox_open;
}

/* Wait for a point in the flow; a note (not a failure) if the flow went
 * past it too fast to catch, since the kill still happens mid-run. */
static void
s_until(bool ok, const char *what)
{
    if (!ok)
        h_note("crash point not reached in time: %s", what);
}

struct s_seen {
    const struct s_test *t;
    struct h_idset set;
    size_t n, foreign, bad, out_of_order, wrong_id, wrong_ref;
    long last;
};

/* A new referral sent with its own msg_id gets a referral_id derived from
 * it (PROTOCOL.md, "send"), so that a repeated send is the same referral
 * whichever attempt reached the broker. */
static bool
s_ref_derived(const uint8_t *msg_id, const ProtobufCBinaryData *ref)
{
    static const char domain[] = "kr.v1 referral_id";
    uint8_t h[32];

    kcrypto_hash2((const uint8_t *)domain, strlen(domain), msg_id, 16, h);
    /* The msg_id's first 6 bytes (its time), then the hash's first 10. */
    return ref->len == 16 && memcmp(ref->data, msg_id, 6) == 0 &&
           memcmp(ref->data + 6, h, 10) == 0;
}

static int
s_seen_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_seen *s = arg;
    Kr__V1__Content *c;
    long seq = -1;

    s->n++;
    if (it->msg_id.len != 16 ||
        h_idset_count(&s->t->sent, it->msg_id.data) == 0) {
        s->foreign++;
        return 0;
    }
    h_idset_add(&s->set, it->msg_id.data);
    c = kr__v1__content__unpack(NULL, it->content.len, it->content.data);
    if (c != NULL && c->body_case == KR__V1__CONTENT__BODY_REFERRAL &&
        c->referral != NULL && c->referral->reason_text != NULL)
        sscanf(c->referral->reason_text, "crash seq=%ld", &seq);
    if (c != NULL)
        kr__v1__content__free_unpacked(c, NULL);
    if (seq < 0 || seq >= S_COUNT) {
        s->bad++;
        return 0;
    }
    if (memcmp(s->t->ids[seq], it->msg_id.data, 16) != 0)
        s->wrong_id++;
    if (!s_ref_derived(it->msg_id.data, &it->referral_id))
        s->wrong_ref++;
    if (seq <= s->last)
        s->out_of_order++;
    s->last = seq;
    return 0;
}

static size_t
s_inbox_count(struct s_test *t)
{
    size_t n = 0;

    if (h_inbox_count(h_node_client(&t->c, t->jgz), &n) != KR_OK)
        return 0;
    return n;
}

static bool
s_all_delivered(struct s_test *t, struct h_outbox_stats *st)
{
    return h_outbox_stats(h_node_client(&t->c, t->vl), st) == KR_OK &&
           st->by_outcome[KR__V1__OUTCOME__DELIVERED] >= S_COUNT;
}

struct s_find_out {
    const uint8_t *id;
    int outcome; /* -1: not in the outbox */
    bool ref_ok;
};

static int
s_find_out(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_find_out *f = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, f->id, 16) == 0) {
        f->outcome = it->outcome;
        f->ref_ok = s_ref_derived(f->id, &it->referral_id);
    }
    return 0;
}

static bool
s_out_delivered(struct s_test *t, struct s_find_out *f)
{
    f->outcome = -1;
    return h_outbox_foreach(h_node_client(&t->c, t->vl), s_find_out, f) ==
               KR_OK &&
           f->outcome == KR__V1__OUTCOME__DELIVERED;
}

/* The sending node submits a named send before its own commit. Its worst
 * case, made on purpose: the broker has the message, the node has lost it
 * (its store is gone, as if it died before the commit). The adapter sends
 * again with the same msg_id; the node must answer yes, learn the outcome
 * from the broker's record, and the recipient must still hold it once. */
static void
s_lost_send(struct s_test *t)
{
    const uint8_t *id = t->ids[S_COUNT - 1];
    char path[H_PATH + 32], text[64];
    struct h_referral ref;
    uint8_t got[16];
    size_t held = s_inbox_count(t);
    bool ok;

    H_REQUIRE(h_node_stop(&t->c, t->vl), "the sending node stops");
    snprintf(path, sizeof(path), "%s/node.mdb", t->c.nodes[t->vl].dir);
    H_REQUIRE(unlink(path) == 0, "remove the sending node's store");
    snprintf(path, sizeof(path), "%s/node.mdb-lock", t->c.nodes[t->vl].dir);
    (void)unlink(path);
    h_node_start(&t->c, t->vl);
    H_REQUIRE(h_node_wait_connected(&t->c, t->vl, H_CONNECT_MS),
              "the sending node is back, with an empty store");

    h_referral_default(&ref);
    snprintf(text, sizeof(text), "crash seq=%05d", S_COUNT - 1);
    ref.reason_text = text;
    int rc =
        h_send_referral(h_node_client(&t->c, t->vl), S_JGZ_ORG, &ref, id, got);
    H_CHECK(rc == KR_OK && memcmp(got, id, 16) == 0,
            "the lost send, repeated with its msg_id, is taken (%s)",
            kr_strerror(rc));
    struct s_find_out f = {.id = id};
    H_POLL(ok, 20000, s_out_delivered(t, &f));
    H_CHECK(ok,
            "the node learns it was delivered from the broker's record "
            "(outcome %d)",
            f.outcome);
    H_CHECK(f.ref_ok, "its outbox holds the same referral_id as the "
                      "recipient's copy");
    struct h_status st;
    H_POLL(ok, 10000,
           h_status(h_node_client(&t->c, t->vl), &st) == KR_OK &&
               st.outbox_pending == 0 && st.outbox_open == 0);
    H_CHECK(ok, "the sender has nothing pending or open");
    H_CHECK(s_inbox_count(t) == held,
            "the recipient still holds %zu, not one more (%zu)", held,
            s_inbox_count(t));
}

int
main(void)
{
    static struct s_test t;
    struct h_outbox_stats st;
    bool ok;

    h_init("crash", 300);
    h_cluster_init(&t.c, "crash");
    /* Quick resends, so that what a crash swallowed comes again soon. */
    h_broker_set(&t.c, "resend_ms", "500");
    h_broker_start(&t.c);
    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde",
                     "Verloskundigenpraktijk De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_set(&t.c, t.vl, "resend_ms", "500");
    h_node_set(&t.c, t.jgz, "resend_ms", "500");
    h_node_start(&t.c, t.vl);
    h_node_start(&t.c, t.jgz);
    if (!h_node_wait_connected(&t.c, t.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS))
        h_abort();
    /* Deny by default: the woman's consent comes first. */
    H_REQUIRE(h_consent_default(&t.c, t.vl, t.jgz), "consent recorded");

    h_idset_init(&t.sent);
    for (int i = 0; i < S_COUNT; i++) {
        util_random_id(t.ids[i]);
        h_idset_add(&t.sent, t.ids[i]);
    }
    char log[H_PATH + 32];
    struct h_proc sender;
    int status;
    snprintf(log, sizeof(log), "%s/sender.log", t.c.tmp);
    uint64_t t0 = h_mono_ms();
    /* No libkr client of ours lives across the fork (h_proc_fork). */
    h_clients_close(&t.c);
    H_ENSURE(h_proc_fork(&sender, "sender", log, s_sender, &t) == KR_OK,
             "fork the sender");

    /* Nine kills at random points of the flow, each victim three times:
     * the broker (submits, receipts and deliveries in flight), the sending
     * node (a full pipeline behind it) and the receiving node (while it
     * commits and acknowledges). The seed is printed: KR_TEST_SEED=N
     * replays a run. */
    unsigned seed = (unsigned)h_mono_ms();
    const char *env = getenv("KR_TEST_SEED");
    if (env != NULL)
        seed = (unsigned)strtoul(env, NULL, 10);
    h_note("random kill points: KR_TEST_SEED=%u", seed);
    srand(seed);
    static const char *const victims[] = {"broker", "sending node",
                                          "receiving node"};
    uint64_t target = 0;
    for (int k = 0; k < 9; k++) {
        /* Spread the kills over the run: each one past the last. */
        target += 50 + (uint64_t)(rand() % (S_COUNT / 9 - 50));
        H_POLL(ok, 30000, s_received(&t) >= target);
        s_until(ok, "the next kill point");
        /* A random extra moment, so that kills do not line up with the
         * test's own polling. */
        h_sleep_ms(rand() % 40);
        int v = k % 3;
        h_note("kill -9 of the %s at %llu received", victims[v],
               (unsigned long long)s_received(&t));
        if (v == 0) {
            h_broker_kill9(&t.c);
            /* The sender's node keeps taking messages meanwhile. */
            uint64_t pending = s_vl_pending(&t);
            H_POLL(ok, 5000, s_vl_pending(&t) >= pending + 50);
            h_broker_start(&t.c);
        } else if (v == 1) {
            h_node_kill9(&t.c, t.vl);
            h_node_start(&t.c, t.vl);
        } else {
            h_node_kill9(&t.c, t.jgz);
            /* Deliveries wait at the broker meanwhile. */
            uint64_t open = s_vl_open(&t);
            H_POLL(ok, 5000, s_vl_open(&t) >= open + 50);
            h_node_start(&t.c, t.jgz);
        }
    }

    H_CHECK(h_proc_wait(&sender, 60000, &status) == KR_OK &&
                WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the sender hands all %d to its node, repeating what a crash "
            "cut off",
            S_COUNT);
    h_note("sending took %llu ms", (unsigned long long)(h_mono_ms() - t0));

    H_POLL(ok, 120000, s_inbox_count(&t) >= S_COUNT);
    H_CHECK(ok, "JGZ's inbox reaches %d (%zu, %llu ms)", S_COUNT,
            s_inbox_count(&t), (unsigned long long)(h_mono_ms() - t0));
    H_POLL(ok, 60000, s_all_delivered(&t, &st));
    H_CHECK(ok,
            "the sender sees %d delivered (%zu delivered, %zu accepted, "
            "%zu pending, %zu refused)",
            S_COUNT, st.by_outcome[KR__V1__OUTCOME__DELIVERED],
            st.by_outcome[KR__V1__OUTCOME__ACCEPTED], st.by_outcome[0],
            st.by_outcome[KR__V1__OUTCOME__REFUSED]);

    struct s_seen seen;
    memset(&seen, 0, sizeof(seen));
    seen.t = &t;
    seen.last = -1;
    h_idset_init(&seen.set);
    int rc = h_inbox_foreach(h_node_client(&t.c, t.jgz), s_seen_one, &seen);
    H_CHECK(rc == KR_OK, "walk JGZ's inbox (%s)", kr_strerror(rc));
    H_CHECK(seen.n == S_COUNT && seen.set.n == S_COUNT,
            "nothing lost, nothing doubled: %d items, %d distinct (%zu, "
            "%zu)",
            S_COUNT, S_COUNT, seen.n, seen.set.n);
    H_CHECK(seen.foreign == 0 && seen.bad == 0 && seen.wrong_id == 0,
            "each item is one of ours with its own content (foreign %zu, "
            "bad %zu, mismatched %zu)",
            seen.foreign, seen.bad, seen.wrong_id);
    H_CHECK(seen.wrong_ref == 0,
            "each referral_id is the one derived from its msg_id (%zu not)",
            seen.wrong_ref);
    H_CHECK(seen.out_of_order == 0,
            "they arrived in the order sent (%zu out of order)",
            seen.out_of_order);

    struct h_tally out;
    rc = h_outbox_tally(h_node_client(&t.c, t.vl), &t.sent, &out);
    H_CHECK(rc == KR_OK && out.n == S_COUNT && out.distinct == S_COUNT &&
                out.foreign == 0 && out.delivered == S_COUNT,
            "the sender's outbox: each of %d once, each delivered (%zu "
            "entries, %zu distinct, %zu delivered, %zu foreign)",
            S_COUNT, out.n, out.distinct, out.delivered, out.foreign);

    h_roundtrip(&t.c, t.vl, t.jgz, "after the crashes", 20000);
    s_lost_send(&t);
    h_idset_free(&t.sent);
    h_idset_free(&seen.set);
    return h_finish(&t.c);
}
