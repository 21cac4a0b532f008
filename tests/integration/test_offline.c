/*
 * test_offline.c - the recipient is away: 500 referrals are sent while the
 * JGZ node is stopped; the broker must accept and keep all of them; once
 * JGZ starts again every one arrives, in the order sent, exactly once, and
 * the sender sees 500 "delivered" receipts, one per message.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_COUNT 500

struct s_sent {
    uint8_t ids[S_COUNT][16];
    struct h_idset set;
};

/* What the inbox walk finds. */
struct s_seen {
    const struct s_sent *sent;
    struct h_idset set;
    size_t n;
    long last_seq; /* the previous item's number, -1 at first */
    size_t out_of_order;
    size_t unknown; /* not one of ours */
    size_t bad_content;
    size_t wrong_id; /* number and msg_id do not match */
};

static int
s_seen_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_seen *s = arg;
    Kr__V1__Content *c;
    long seq = -1;

    s->n++;
    if (it->msg_id.len != 16 ||
        h_idset_count(&s->sent->set, it->msg_id.data) == 0) {
        s->unknown++;
        return 0;
    }
    h_idset_add(&s->set, it->msg_id.data);
    c = kr__v1__content__unpack(NULL, it->content.len, it->content.data);
    if (c != NULL && c->body_case == KR__V1__CONTENT__BODY_REFERRAL &&
        c->referral != NULL && c->referral->reason_text != NULL)
        sscanf(c->referral->reason_text, "offline seq=%ld", &seq);
    if (c != NULL)
        kr__v1__content__free_unpacked(c, NULL);
    if (seq < 0 || seq >= S_COUNT) {
        s->bad_content++;
        return 0;
    }
    if (memcmp(s->sent->ids[seq], it->msg_id.data, 16) != 0)
        s->wrong_id++;
    if (seq != s->last_seq + 1)
        s->out_of_order++;
    s->last_seq = seq;
    return 0;
}

/* The JGZ queue depth that `krctl queues --json` reports, or -1. */
static long
s_queue_depth(struct h_cluster *c, const char *org)
{
    return (long)h_krctl_queue(c, org, "depth");
}

static bool
s_all_accepted(kr_client_t *kc, struct h_outbox_stats *st)
{
    return h_outbox_stats(kc, st) == KR_OK &&
           st->by_outcome[KR__V1__OUTCOME__ACCEPTED] == S_COUNT;
}

static bool
s_all_delivered(kr_client_t *kc, struct h_outbox_stats *st)
{
    return h_outbox_stats(kc, st) == KR_OK &&
           st->by_outcome[KR__V1__OUTCOME__DELIVERED] == S_COUNT;
}

int
main(void)
{
    static struct s_sent sent;
    struct h_cluster c;
    struct h_referral ref;
    struct h_outbox_stats st;
    char text[128];
    size_t n = 0;
    bool ok;
    int rc;

    h_init("offline", 240);
    h_referral_default(&ref);
    h_cluster_init(&c, "offline");
    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde",
                       "Verloskundigenpraktijk De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_start(&c, vl);
    h_node_start(&c, jgz);
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, jgz, H_CONNECT_MS))
        h_abort();
    /* Deny by default: the woman's consent comes first. */
    H_REQUIRE(h_consent_default(&c, vl, jgz), "consent recorded");
    H_REQUIRE(h_node_stop(&c, jgz), "the JGZ node stops cleanly");

    /* 500 referrals while JGZ is away; each numbered in its free text. */
    kr_client_t *kv = h_node_client(&c, vl);
    uint64_t t0 = h_mono_ms();
    size_t failed = 0;
    int first_err = 0;
    h_idset_init(&sent.set);
    for (int i = 0; i < S_COUNT; i++) {
        snprintf(text, sizeof(text), "offline seq=%04d", i);
        ref.reason_text = text;
        rc = h_send_referral(kv, S_JGZ_ORG, &ref, NULL, sent.ids[i]);
        if (rc != KR_OK) {
            failed++;
            if (first_err == 0)
                first_err = rc;
            continue;
        }
        h_idset_add(&sent.set, sent.ids[i]);
    }
    H_REQUIRE(failed == 0,
              "libkr accepts all %d sends (%zu failed, first: "
              "%s)",
              S_COUNT, failed, kr_strerror(first_err));
    H_CHECK(sent.set.n == S_COUNT, "the node gave %d distinct msg_ids (%zu)",
            S_COUNT, sent.set.n);
    h_note("%d sends took %llu ms", S_COUNT,
           (unsigned long long)(h_mono_ms() - t0));

    memset(&st, 0, sizeof(st));
    H_POLL(ok, 60000, s_all_accepted(kv, &st));
    H_REQUIRE(ok,
              "the broker accepts all %d while JGZ is away (accepted "
              "%zu, pending %zu, refused %zu)",
              S_COUNT, st.by_outcome[KR__V1__OUTCOME__ACCEPTED],
              st.by_outcome[0], st.by_outcome[KR__V1__OUTCOME__REFUSED]);
    H_CHECK(st.total == S_COUNT, "the outbox holds exactly %d (%zu)", S_COUNT,
            st.total);
    long depth = s_queue_depth(&c, S_JGZ_ORG);
    H_CHECK(depth == S_COUNT, "krctl queues: JGZ's queue holds %d (%ld)",
            S_COUNT, depth);

    /* JGZ comes back: everything arrives. */
    t0 = h_mono_ms();
    h_node_start(&c, jgz);
    kr_client_t *kj = h_node_client(&c, jgz);
    H_POLL(ok, 60000, h_inbox_count(kj, &n) == KR_OK && n >= S_COUNT);
    H_CHECK(ok, "JGZ's inbox fills to %d after its restart (%zu)", S_COUNT, n);
    h_note("drain took %llu ms", (unsigned long long)(h_mono_ms() - t0));

    struct s_seen seen;
    memset(&seen, 0, sizeof(seen));
    seen.sent = &sent;
    seen.last_seq = -1;
    h_idset_init(&seen.set);
    rc = h_inbox_foreach(kj, s_seen_one, &seen);
    H_CHECK(rc == KR_OK, "walk JGZ's inbox (%s)", kr_strerror(rc));
    H_CHECK(seen.n == S_COUNT, "JGZ's inbox holds exactly %d items (%zu)",
            S_COUNT, seen.n);
    H_CHECK(seen.unknown == 0, "no item is foreign (%zu)", seen.unknown);
    H_CHECK(seen.set.n == S_COUNT,
            "every message arrived: %d distinct msg_ids (%zu)", S_COUNT,
            seen.set.n);
    H_CHECK(seen.set.n == seen.n, "none arrived twice (%zu items, %zu ids)",
            seen.n, seen.set.n);
    H_CHECK(seen.bad_content == 0 && seen.wrong_id == 0,
            "each opened content carries its own number (bad %zu, "
            "mismatched %zu)",
            seen.bad_content, seen.wrong_id);
    H_CHECK(seen.out_of_order == 0 && seen.last_seq == S_COUNT - 1,
            "they arrived in the order sent (%zu out of order, last %ld)",
            seen.out_of_order, seen.last_seq);

    /* The sender: 500 delivered receipts, one per message. */
    H_POLL(ok, 60000, s_all_delivered(kv, &st));
    H_CHECK(ok,
            "the sender's outbox shows %d delivered (%zu delivered, "
            "%zu accepted)",
            S_COUNT, st.by_outcome[KR__V1__OUTCOME__DELIVERED],
            st.by_outcome[KR__V1__OUTCOME__ACCEPTED]);
    struct h_tally out;
    rc = h_outbox_tally(kv, &sent.set, &out);
    H_CHECK(rc == KR_OK && out.n == S_COUNT && out.distinct == S_COUNT &&
                out.foreign == 0 && out.delivered == S_COUNT,
            "outbox: %d entries, each msg_id once, each delivered (%zu "
            "entries, %zu ids, %zu delivered, %zu foreign)",
            S_COUNT, out.n, out.distinct, out.delivered, out.foreign);

    /* Nothing is left behind at the broker once receipts are acked. */
    H_POLL(ok, 20000,
           s_queue_depth(&c, S_JGZ_ORG) == 0 &&
               s_queue_depth(&c, S_VL_ORG) == 0);
    H_CHECK(ok, "krctl queues: both queues drain to 0");

    h_idset_free(&sent.set);
    h_idset_free(&seen.set);
    return h_finish(&c);
}
