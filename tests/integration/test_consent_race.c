/*
 * test_consent_race.c - a revoke racing deliveries: every message ends
 * delivered or withdrawn, exactly once; no delivery is audited after the
 * revoke's commit; JGZ gets a notice listing what it received under the
 * consent. Twice: a free race, and with JGZ's node paused around the
 * revoke so that it certainly lands mid-flow.
 *
 * Each test of the consent gate (harness_consent.h) runs in a fresh
 * cluster of its own, with subjects (BSNs) of its own.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_consent.h"
#include "names.h"
#include "util.h"

/* The subject and the messages of the current race. */
static char s_bsn[10];
static uint8_t s_ids[HC_BULK][16];

/*
 * A revoke racing deliveries.
 */

struct s_notice {
    const uint8_t *cid;
    unsigned n;
    int kind;
    char revoked_by[64];
    struct h_idset listed;
};

static int
s_notice_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_notice *f = arg;
    const Kr__V1__Notice *nt = it->notice;

    /* The referrals cancelled under the consent have notices of their
     * own (test_referral.c); this is the consent's. */
    if (nt == NULL || !hc_id_eq(nt->consent_id, f->cid) ||
        nt->kind == KR__V1__NOTICE_KIND__NOTICE_REFERRAL_CANCELLED ||
        nt->kind == KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST)
        return 0;
    f->n++;
    f->kind = nt->kind;
    snprintf(f->revoked_by, sizeof(f->revoked_by), "%s",
             nt->revoked_by ? nt->revoked_by : "");
    for (size_t i = 0; i < nt->n_msg_ids; i++)
        if (nt->msg_ids[i].len == 16)
            h_idset_add(&f->listed, nt->msg_ids[i].data);
    return 0;
}

/* The notices in JGZ's inbox for nt->cid. */
static bool
s_notice_get(struct s_notice *nt)
{
    h_idset_free(&nt->listed);
    h_idset_init(&nt->listed);
    nt->n = 0;
    return h_inbox_foreach_all(h_node_client(&hc.c, hc.jgz), s_notice_one,
                               nt) == KR_OK;
}

/* Freeze or thaw a node we started (SIGSTOP / SIGCONT, by its pid): it
 * stays connected, and what the broker sends it waits in its socket. */
static void
s_node_freeze(int node, bool freeze)
{
    pid_t pid = hc.c.nodes[node].proc.pid;

    H_ENSURE(pid > 0 && kill(pid, freeze ? SIGSTOP : SIGCONT) == 0,
             "%s krnode %s", freeze ? "freeze" : "thaw",
             hc.c.nodes[node].label);
}

/* 200 referrals accepted by the broker for an online JGZ, then the revoke
 * while they are delivered. 'freeze': JGZ's node is paused from just
 * before the revoke until the broker has committed it, so that the revoke
 * certainly lands mid-flow, with deliveries sent and not yet acknowledged
 * (the node commits and acknowledges them after the revoke). Without it,
 * the revoke races the acknowledgements freely. */
static void
s_part_revoke_race(int bsn_n, bool freeze)
{
    uint8_t cid[16], gid[16], rid[16];
    char text[64];
    struct h_idset set;
    struct hc_tally y = {0};
    int rc;
    bool ok;

    h_note("== a revoke racing 200 deliveries to an online JGZ%s",
           freeze ? " (JGZ paused around the revoke)" : " (free race)");
    h_bsn(bsn_n, s_bsn);
    uint64_t now = util_now_ms();
    rc = hc_grant(hc.vl, hc.jgz, s_bsn, now - 3600 * 1000ull,
                  now + 30 * HC_DAY_MS, cid, gid);
    H_REQUIRE(rc == KR_OK, "record the consent (%s)", kr_strerror(rc));
    hc_expect(hc.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL, "the grant");
    h_idset_init(&set);
    h_idset_init(&y.seen);

    /* All 200 accepted first, so that the revoke (which follows them in
     * the practice's outbox) cannot overtake any: JGZ's node is paused
     * meanwhile, connected, so that none is delivered yet. */
    s_node_freeze(hc.jgz, true);
    kr_client_t *kv = h_node_client(&hc.c, hc.vl);
    struct hc_send s = {.to = HC_JGZ_ORG, .bsn = s_bsn, .text = text};
    for (int i = 0; i < HC_BULK; i++) {
        snprintf(text, sizeof(text), "race seq=%03d", i);
        rc = hc_send(kv, &s, s_ids[i]);
        H_ENSURE(rc == KR_OK, "send %d (%s)", i, kr_strerror(rc));
        h_idset_add(&set, s_ids[i]);
    }
    H_POLL(ok, 30000,
           hc_tally(hc.vl, &set, &y) &&
               y.by_outcome[KR__V1__OUTCOME__ACCEPTED] == HC_BULK);
    H_CHECK(ok, "the broker accepts all %d (%zu)", HC_BULK,
            y.by_outcome[KR__V1__OUTCOME__ACCEPTED]);
    s_node_freeze(hc.jgz, false);

    /* They flow; once the practice sees the first 50 delivered, the woman
     * withdraws her consent. Counted at the sender, not at JGZ: a message
     * JGZ has stored is delivered only once its acknowledgement is in at
     * the broker, and one still on its way when the revoke commits ends
     * withdrawn (PROTOCOL.md, CONSENT_REVOKE), so JGZ's own count is no
     * floor for the delivered. */
    H_POLL(ok, 30000,
           hc_tally(hc.vl, &set, &y) &&
               y.by_outcome[KR__V1__OUTCOME__DELIVERED] >= 50);
    H_CHECK(ok, "the first 50 are delivered (%zu)",
            y.by_outcome[KR__V1__OUTCOME__DELIVERED]);
    uint64_t at = y.by_outcome[KR__V1__OUTCOME__DELIVERED];
    if (freeze)
        s_node_freeze(hc.jgz, true);
    rc = h_send_revoke(kv, HC_JGZ_ORG, cid, rid);
    H_REQUIRE(rc == KR_OK, "the practice revokes while deliveries flow (%s)",
              kr_strerror(rc));
    h_note("revoke handed to the node with %llu of %d delivered",
           (unsigned long long)at, HC_BULK);
    struct hc_out o;
    hc_wait_outcome(hc.vl, rid, KR__V1__OUTCOME__ACCEPTED, &o, HC_FINAL_MS);
    uint64_t t_acc = h_mono_ms();
    H_CHECK(o.outcome >= KR__V1__OUTCOME__ACCEPTED,
            "the broker commits the revoke%s (%s)",
            freeze ? " while JGZ is paused" : "", hc_oname(o.outcome));
    if (freeze)
        s_node_freeze(hc.jgz, false);
    hc_expect(hc.vl, rid, KR__V1__OUTCOME__DELIVERED, 0, NULL, "the revoke");
    /* What follows the withdrawn messages in JGZ's queue must not wait for
     * a resend timeout (resend_ms, 5 s here): the acknowledgements of the
     * deliveries that were in flight must free the window as usual. */
    uint64_t lag = h_mono_ms() - t_acc;
    H_CHECK(lag < (uint64_t)h_scale(2000),
            "the revoke reaches JGZ within 2 s of its commit, without a "
            "stall of JGZ's queue (%llu ms)",
            (unsigned long long)lag);

    /* Settle: every one of them final at the sender. */
    H_POLL(ok, 30000,
           hc_tally(hc.vl, &set, &y) && hc_tally_final(&y) == HC_BULK);
    size_t delivered = y.by_outcome[KR__V1__OUTCOME__DELIVERED];
    size_t withdrawn = y.by_outcome[KR__V1__OUTCOME__WITHDRAWN];
    h_note("split: %zu delivered, %zu withdrawn", delivered, withdrawn);
    H_CHECK(ok && delivered + withdrawn == HC_BULK && withdrawn == y.no_consent,
            "every message ends delivered or withdrawn (no-consent), none "
            "pending or accepted (%zu delivered, %zu withdrawn, %zu "
            "accepted, %zu pending, %zu refused)",
            delivered, withdrawn, y.by_outcome[KR__V1__OUTCOME__ACCEPTED],
            y.by_outcome[0], y.by_outcome[KR__V1__OUTCOME__REFUSED]);
    H_CHECK(y.items == HC_BULK && y.seen.n == HC_BULK,
            "exactly one outcome per message at the sender (%zu items, %zu "
            "distinct)",
            y.items, y.seen.n);
    if (freeze)
        H_CHECK(delivered >= 50 && withdrawn >= 1,
                "the revoke landed mid-flow: at least 50 delivered before "
                "it, the rest withdrawn by it (%zu, %zu)",
                delivered, withdrawn);

    /* The audit trail: no delivery after the revoke's commit. */
    struct hc_aud a;
    memset(&a, 0, sizeof(a));
    a.set = &set;
    a.cid = cid;
    h_idset_init(&a.delivered);
    h_idset_init(&a.withdrawn);
    rc = h_audit_foreach(&hc.c, 0, hc_aud_one, &a);
    H_CHECK(rc == KR_OK && a.revoked_n == 1,
            "the audit trail holds one consent.revoked for the consent "
            "(%u; %zu records read, %s)",
            a.revoked_n, a.records, kr_strerror(rc));
    H_CHECK(a.last_delivered_seq < a.revoked_seq,
            "no message.delivered of these messages after the revoke "
            "(last delivered at record %llu, revoked at %llu)",
            (unsigned long long)a.last_delivered_seq,
            (unsigned long long)a.revoked_seq);
    H_CHECK(a.delivered.n == delivered && a.withdrawn.n == withdrawn,
            "the audit trail agrees with the sender: %zu delivered, %zu "
            "withdrawn (audit: %zu, %zu)",
            delivered, withdrawn, a.delivered.n, a.withdrawn.n);
    bool dup = false;
    for (int i = 0; i < HC_BULK; i++)
        if (h_idset_count(&a.delivered, s_ids[i]) +
                h_idset_count(&a.withdrawn, s_ids[i]) !=
            1)
            dup = true;
    H_CHECK(!dup, "each message has exactly one final audit record");

    /* The recipient: what it holds, and the notice. */
    struct hc_inset f = {&set, {0}, 0};
    h_idset_init(&f.seen);
    rc = h_inbox_foreach(h_node_client(&hc.c, hc.jgz), hc_inset_one, &f);
    struct s_notice nt;
    memset(&nt, 0, sizeof(nt));
    nt.cid = cid;
    h_idset_init(&nt.listed);
    H_POLL(ok, 20000, s_notice_get(&nt) && nt.n >= 1);
    H_CHECK(ok && nt.n == 1 &&
                nt.kind == KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED &&
                strcmp(nt.revoked_by, HC_VL_ORG) == 0,
            "JGZ's inbox holds one notice consent-revoked for the consent, "
            "revoked by %s (%u)",
            HC_VL_ORG, nt.n);
    size_t missing_delivered = 0, missing_held = 0, ours = 0;
    for (int i = 0; i < HC_BULK; i++) {
        bool listed = h_idset_count(&nt.listed, s_ids[i]) > 0;
        if (h_idset_count(&f.seen, s_ids[i]) > 0 && !listed)
            missing_held++;
        if (h_idset_count(&a.delivered, s_ids[i]) > 0 && !listed)
            missing_delivered++;
        ours += listed;
    }
    size_t foreign = nt.listed.n - ours;
    H_CHECK(rc == KR_OK && f.items == f.seen.n && f.seen.n >= delivered,
            "JGZ holds each delivered message once (%zu items, %zu "
            "distinct, %zu delivered)",
            f.items, f.seen.n, delivered);
    H_CHECK(missing_delivered == 0 && missing_held == 0 && foreign == 0,
            "the notice lists every message JGZ received under the consent "
            "(%zu listed; %zu delivered and %zu held not listed, %zu "
            "foreign)",
            nt.listed.n, missing_delivered, missing_held, foreign);

    h_idset_free(&nt.listed);
    h_idset_free(&f.seen);
    h_idset_free(&a.delivered);
    h_idset_free(&a.withdrawn);
    h_idset_free(&y.seen);
    h_idset_free(&set);
}

int
main(void)
{
    hc_setup("test_consent_race", 180);
    s_part_revoke_race(5, false);
    s_part_revoke_race(8, true);
    return hc_finish();
}
