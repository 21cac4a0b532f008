/*
 * test_consent_revoke.c - a revoke withdraws what waits: 200 referrals queued
 * for an offline JGZ, then the consent revoked; none is delivered, each
 * sender sees one withdrawn outcome per message, and the ciphertexts are
 * gone from the broker's LMDB file while the metadata stays (state
 * withdrawn).
 *
 * Each test of the consent gate (harness_consent.h) runs in a fresh
 * cluster of its own, with subjects (BSNs) of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_consent.h"
#include "names.h"
#include "util.h"

/*
 * 200 queued, then revoked.
 */

static void
s_part_revoke_queued(void)
{
    static uint8_t ids[HC_BULK][16];
    char bsn[10], text[64];
    uint8_t cid[16], gid[16], rid[16];
    struct h_idset set;
    struct hc_tally y = {0};
    struct hc_out o;
    bool ok;
    int rc;

    h_note("== 200 referrals queued for an offline JGZ, then revoked");
    h_bsn(4, bsn);
    uint64_t now = util_now_ms();
    rc = hc_grant(hc.vl, hc.jgz, bsn, now - 3600 * 1000ull,
                  now + 30 * HC_DAY_MS, cid, gid);
    H_REQUIRE(rc == KR_OK, "record the consent (%s)", kr_strerror(rc));
    hc_expect(hc.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL, "the grant");
    size_t before = 0, after = 0;
    H_ENSURE(h_inbox_count(h_node_client(&hc.c, hc.jgz), &before) == KR_OK,
             "count JGZ's referral inbox");
    h_node_stop(&hc.c, hc.jgz);

    h_idset_init(&set);
    h_idset_init(&y.seen);
    kr_client_t *kv = h_node_client(&hc.c, hc.vl);
    struct hc_send s = {.to = HC_JGZ_ORG, .bsn = bsn, .text = text};
    for (int i = 0; i < HC_BULK; i++) {
        snprintf(text, sizeof(text), "revoke-queued seq=%03d", i);
        rc = hc_send(kv, &s, ids[i]);
        H_ENSURE(rc == KR_OK, "send %d (%s)", i, kr_strerror(rc));
        h_idset_add(&set, ids[i]);
    }
    H_POLL(ok, 30000,
           hc_tally(hc.vl, &set, &y) &&
               y.by_outcome[KR__V1__OUTCOME__ACCEPTED] == HC_BULK);
    H_REQUIRE(ok, "the broker accepts all %d and queues them for JGZ (%zu)",
              HC_BULK, y.by_outcome[KR__V1__OUTCOME__ACCEPTED]);

    rc = h_send_revoke(kv, HC_JGZ_ORG, cid, rid);
    H_REQUIRE(rc == KR_OK, "the practice revokes the consent (%s)",
              kr_strerror(rc));
    hc_wait_outcome(hc.vl, rid, KR__V1__OUTCOME__ACCEPTED, &o, HC_FINAL_MS);
    H_CHECK(o.outcome == KR__V1__OUTCOME__ACCEPTED,
            "the broker accepts the revoke (got %s %s: %s)",
            hc_oname(o.outcome), reason_name(o.reason), o.detail);
    H_POLL(ok, 20000,
           hc_tally(hc.vl, &set, &y) && hc_tally_final(&y) == HC_BULK);
    H_CHECK(ok && y.by_outcome[KR__V1__OUTCOME__WITHDRAWN] == HC_BULK &&
                y.no_consent == HC_BULK,
            "every one of the %d is withdrawn, reason no-consent, while JGZ "
            "is still down (%zu withdrawn, %zu with no-consent, %zu "
            "delivered, %zu accepted)",
            HC_BULK, y.by_outcome[KR__V1__OUTCOME__WITHDRAWN], y.no_consent,
            y.by_outcome[KR__V1__OUTCOME__DELIVERED],
            y.by_outcome[KR__V1__OUTCOME__ACCEPTED]);
    H_CHECK(y.items == HC_BULK && y.seen.n == HC_BULK,
            "the sender's outbox holds each of them once (%zu items, %zu "
            "distinct)",
            y.items, y.seen.n);

    /* The broker's file: the ciphertexts gone, the metadata kept. */
    /* Messages and payloads are keyed by the message's seq, found in
     * msg_index by msg_id. */
    struct h_store st;
    MDB_dbi payloads, messages, index;
    H_REQUIRE(h_store_open(&hc.c, &st) == KR_OK &&
                  h_store_dbi(&st, "payloads", &payloads) == KR_OK &&
                  h_store_dbi(&st, "messages", &messages) == KR_OK &&
                  h_store_dbi(&st, "msg_index", &index) == KR_OK,
              "open the broker's LMDB read-only while it runs");
    size_t payload_left = 0, meta_ok = 0, meta_missing = 0;
    for (int i = 0; i < HC_BULK; i++) {
        MDB_val ik = {16, ids[i]}, k, v;
        if (mdb_get(st.txn, index, &ik, &k) != 0 || k.mv_size != 8) {
            meta_missing++;
            continue;
        }
        if (mdb_get(st.txn, payloads, &k, &v) != MDB_NOTFOUND)
            payload_left++;
        if (mdb_get(st.txn, messages, &k, &v) != 0) {
            meta_missing++;
            continue;
        }
        Kr__V1__StoredMessage *m =
            kr__v1__stored_message__unpack(NULL, v.mv_size, v.mv_data);
        if (m != NULL && m->state == KR__V1__MESSAGE_STATE__STATE_WITHDRAWN &&
            m->reason == KR__V1__REASON__NO_CONSENT &&
            m->envelope_hash.len == 32 && m->signature.len == 64 &&
            m->consent_id.len == 16 && memcmp(m->consent_id.data, cid, 16) == 0)
            meta_ok++;
        if (m != NULL)
            kr__v1__stored_message__free_unpacked(m, NULL);
    }
    h_store_close(&st);
    H_CHECK(payload_left == 0,
            "LMDB \"payloads\": none of the %d messages has one any more "
            "(%zu left)",
            HC_BULK, payload_left);
    H_CHECK(meta_ok == HC_BULK,
            "LMDB \"messages\": all %d kept, state withdrawn, reason "
            "no-consent, envelope hash and signature kept, under the "
            "consent (%zu so, %zu missing)",
            HC_BULK, meta_ok, meta_missing);

    /* JGZ comes up: the revoke arrives, nothing it withdrew does. */
    h_node_start(&hc.c, hc.jgz);
    h_node_wait_connected(&hc.c, hc.jgz, H_CONNECT_MS);
    hc_expect(hc.vl, rid, KR__V1__OUTCOME__DELIVERED, 0, NULL,
              "the revoke message itself");
    /* It was queued after the 200: anything of theirs still queued would
     * have been delivered before it. */
    struct hc_inset f = {&set, {0}, 0};
    h_idset_init(&f.seen);
    rc = h_inbox_foreach_all(h_node_client(&hc.c, hc.jgz), hc_inset_one, &f);
    H_CHECK(rc == KR_OK && f.items == 0,
            "JGZ's inbox holds none of the %d (%zu)", HC_BULK, f.items);
    rc = h_inbox_count(h_node_client(&hc.c, hc.jgz), &after);
    H_CHECK(rc == KR_OK && after == before,
            "JGZ's referral inbox holds what it held before it went down "
            "(%zu, before %zu)",
            after, before);
    struct hc_in in;
    unsigned n = hc_in_count(hc.jgz, rid, &in);
    H_CHECK(n == 1, "JGZ holds the revoke message once (%u)", n);
    hc_tally(hc.vl, &set, &y);
    H_CHECK(y.by_outcome[KR__V1__OUTCOME__WITHDRAWN] == HC_BULK &&
                y.items == HC_BULK,
            "after JGZ's start still exactly one outcome each, withdrawn "
            "(%zu withdrawn of %zu items)",
            y.by_outcome[KR__V1__OUTCOME__WITHDRAWN], y.items);

    /* The ledger. */
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW;
    req.consent_show.data = cid;
    req.consent_show.len = 16;
    rc = h_admin(&hc.c, &req, &resp);
    const Kr__V1__ConsentRecord *cr =
        rc == KR_OK && resp->n_consents == 1 ? resp->consents[0] : NULL;
    H_CHECK(cr != NULL &&
                cr->status == KR__V1__CONSENT_STATUS__CONSENT_REVOKED &&
                cr->ended_by != NULL && strcmp(cr->ended_by, HC_VL_ORG) == 0 &&
                cr->ended_at_ms != 0,
            "consent_show: the record stays, revoked by %s (%s)", HC_VL_ORG,
            kr_strerror(rc));
    if (resp != NULL)
        kr__v1__admin_response__free_unpacked(resp, NULL);
    h_idset_free(&f.seen);
    h_idset_free(&y.seen);
    h_idset_free(&set);
}

int
main(void)
{
    hc_setup("test_consent_revoke", 180);
    s_part_revoke_queued();
    return hc_finish();
}
