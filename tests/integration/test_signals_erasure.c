/*
 * test_signals_erasure.c - the erasure of a subject (AVG art. 17) through
 * the real daemons: a request for an unknown subject refused; executed:
 * the signals go, the organisation that held one is told, the register
 * keeps it and a store restored from before it loses them again at start;
 * end to end, every database of the broker's and three nodes' stores
 * scanned with the LMDB API: afterwards the pseudonym is only in the audit
 * trail, the kept consent and the erasure notice, both nodes' referral
 * tables lost the referral, a handover not yet final ends withdrawn
 * (erased), and a pending one made before the erasure is refused (erased).
 */
#define _GNU_SOURCE
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_signals.h"
#include "util.h"

/* Notices of erasure in a node's inbox. */
static int
s_erasure_cb(const Kr__V1__InboxItem *it, void *arg)
{
    if (it->notice != NULL &&
        it->notice->kind == KR__V1__NOTICE_KIND__NOTICE_ERASURE &&
        it->notice->erased_subject.len == 32 &&
        it->type == KR__V1__MESSAGE_TYPE__ERASURE_REQUEST)
        (*(int *)arg)++;
    return 0;
}

static int
s_erasures(int node)
{
    int n = 0;
    h_inbox_foreach_all(h_node_client(&hs.c, node), s_erasure_cb, &n);
    return n;
}

static bool
s_cp(const char *from, const char *to)
{
    struct h_run r;
    char *argv[] = {"/bin/cp", (char *)from, (char *)to, NULL};
    bool ok = h_run(&r, 20000, argv) == 0 && r.code == 0;
    h_run_free(&r);
    return ok;
}

/* An erasure request: refused for an unknown subject; executed: the
 * signals go, the other organisation is told, the register keeps it; a
 * store restored from before the erasure loses them again at start. */
static void
s_erasure(void)
{
    char e[10], unknown[10], data[H_PATH + 16], backup[H_PATH + 16];
    uint8_t id[16], wt_sig[16];
    struct h_fate f;
    bool ok;

    h_note("== erasure");
    h_bsn(40, e);
    h_bsn(41, unknown);
    struct hs_msg m = {.type = KR__V1__MESSAGE_TYPE__ERASURE_REQUEST,
                       .bsn = unknown,
                       .purpose = "signaal"};
    f = hs_do(hs.jgz, &m, id);
    h_expect_refused(f, KR__V1__REASON__UNKNOWN_SUBJECT,
                     "an erasure request for an unknown subject");
    int pre = hs_total(hs.wt);
    hs_signal(hs.jgz, e, NULL, id);
    f = hs_signal(hs.wt, e, NULL, wt_sig);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "both signal E");
    /* A backup of the store as it is now, taken with the broker stopped. */
    snprintf(data, sizeof(data), "%s/data.mdb", hs.c.broker_dir);
    snprintf(backup, sizeof(backup), "%s/data.mdb.bak", hs.c.tmp);
    H_POLL(ok, 20000, hs_total(hs.wt) == pre + 1);
    H_CHECK(ok, "the wijkteam has its match on E");
    int wt_matches = hs_total(hs.wt);
    H_REQUIRE(h_broker_stop(&hs.c), "stop the broker for a backup");
    H_REQUIRE(s_cp(data, backup), "back up data.mdb");
    h_broker_start(&hs.c);
    int before = s_erasures(hs.wt);
    m.bsn = e;
    f = hs_do(hs.jgz, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ's erasure request on E is executed (%s)", f.detail);
    H_POLL(ok, 20000, s_erasures(hs.wt) == before + 1);
    H_CHECK(ok, "the wijkteam, which held a signal on E, gets the erasure "
                "notice");
    H_CHECK(hs_total(hs.wt) == wt_matches - 1,
            "the wijkteam's node removed its match notice on E (%d, was %d)",
            hs_total(hs.wt), wt_matches);
    struct h_run r;
    h_krctl(&r, "--node", hs.c.nodes[hs.wt].local, "erasure", "status", NULL);
    H_CHECK(r.code == 0 && r.out != NULL && strstr(r.out, HS_JGZ) != NULL &&
                strstr(r.out, "\"subject\"") != NULL,
            "krctl erasure status lists it, with who asked (exit %d)", r.code);
    h_run_free(&r);
    struct hs_msg w = {.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                       .withdraw = true,
                       .signal_id = wt_sig,
                       .purpose = "signaal"};
    f = hs_do(hs.wt, &w, id);
    h_expect_refused(f, KR__V1__REASON__UNKNOWN_SIGNAL,
                     "the wijkteam's signal on E is gone after the erasure");
    H_CHECK(hs_audit_has("erasure.executed") && hs_audit_has("erasure.kept") &&
                hs_audit_has("erasure.notified"),
            "the request, the notice and what was kept are audited");
    /* Restore the backup: the register brings the erasure back. */
    H_REQUIRE(h_broker_stop(&hs.c), "stop the broker for a restore");
    H_REQUIRE(s_cp(backup, data), "restore data.mdb from before the erasure");
    h_broker_start(&hs.c);
    H_POLL(ok, 20000, hs_audit_has("erasure.reapplied"));
    H_CHECK(ok, "at start the broker applies the erasure register again "
                "(erasure.reapplied)");
    uint8_t id2[16];
    f = hs_do(hs.wt, &w, id2);
    h_expect_refused(f, KR__V1__REASON__UNKNOWN_SIGNAL,
                     "after the restore the erased signal stays gone");
    /* krctl erasure request, on a subject with a signal. */
    char g[10];
    h_bsn(42, g);
    hs_signal(hs.wt, g, NULL, id);
    h_krctl(&r, "--node", hs.c.nodes[hs.jgz].local, "erasure", "request",
            "--bsn", g, NULL);
    char hex[40] = "";
    if (r.out != NULL)
        snprintf(hex, sizeof(hex), "%.32s", r.out);
    H_CHECK(r.code == 0 && util_unhex(hex, id, 16) == KR_OK,
            "krctl erasure request prints its msg_id (exit %d)", r.code);
    h_run_free(&r);
    struct h_fate ff = {.id = id};
    H_POLL(ok, 20000, h_fate_final(h_node_client(&hs.c, hs.jgz), &ff));
    H_CHECK(ok && ff.outcome == KR__V1__OUTCOME__DELIVERED,
            "and it is executed (%s)", ff.detail);
}

/* Where a store still holds 'subject' (LMDB API, read-only, every named
 * database, keys and values): "db:count ..." in out, the number of hits
 * returned; -1 if it cannot be read. Not counted: the audit trail (kept
 * by law), the active consent's ledger entries at the broker (kept:
 * art. 17(3)(b)), and a node's erasure notice itself (what tells its
 * adapters which subject to erase). */
static int
s_scan(const char *path, bool node, const uint8_t subject[32], char *out,
       size_t outlen)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_cursor *mc = NULL;
    MDB_dbi main_dbi;
    MDB_val k, v;
    int hits = -1;

    out[0] = '\0';
    if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 64) != 0 ||
        mdb_env_open(env, path, MDB_RDONLY | (node ? MDB_NOSUBDIR : 0), 0600) !=
            0 ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
        mdb_dbi_open(txn, NULL, 0, &main_dbi) != 0 ||
        mdb_cursor_open(txn, main_dbi, &mc) != 0)
        goto out;
    hits = 0;
    for (int rc = mdb_cursor_get(mc, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
        char name[64];
        MDB_dbi dbi;
        MDB_cursor *c;
        MDB_val dk, dv;
        int n = 0;
        if (k.mv_size == 0 || k.mv_size >= sizeof(name))
            continue;
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        if (strcmp(name, "audit") == 0 ||
            (!node && (strcmp(name, "consents") == 0 ||
                       strcmp(name, "consent_subject") == 0)))
            continue;
        if (mdb_dbi_open(txn, name, 0, &dbi) != 0 ||
            mdb_cursor_open(txn, dbi, &c) != 0)
            continue;
        for (int r = mdb_cursor_get(c, &dk, &dv, MDB_FIRST); r == 0;
             r = mdb_cursor_get(c, &dk, &dv, MDB_NEXT)) {
            bool in_key = memmem(dk.mv_data, dk.mv_size, subject, 32) != NULL;
            bool in_val = memmem(dv.mv_data, dv.mv_size, subject, 32) != NULL;
            if (!in_key && !in_val)
                continue;
            if (node && strcmp(name, "inbox") == 0 && dv.mv_size > 16) {
                Kr__V1__InboxRecord *ir = kr__v1__inbox_record__unpack(
                    NULL, dv.mv_size - 16, (const uint8_t *)dv.mv_data + 16);
                bool notice = ir != NULL && ir->item != NULL &&
                              ir->item->notice &&
                              ir->item->notice->kind ==
                                  KR__V1__NOTICE_KIND__NOTICE_ERASURE;
                if (ir != NULL)
                    kr__v1__inbox_record__free_unpacked(ir, NULL);
                if (notice)
                    continue;
            }
            n++;
        }
        mdb_cursor_close(c);
        if (n > 0) {
            size_t l = strlen(out);
            snprintf(out + l, outlen - l, "%s:%d ", name, n);
            hits += n;
        }
    }
out:
    if (mc != NULL)
        mdb_cursor_close(mc);
    if (txn != NULL)
        mdb_txn_abort(txn);
    if (env != NULL)
        mdb_env_close(env);
    return hits;
}

/* The hits of s_scan in the broker's store and three nodes' stores. */
static int
s_scan_all(const uint8_t subject[32], const int *nodes, int nn, char *out,
           size_t outlen)
{
    char path[H_PATH + 16], one[512];
    int total = s_scan(hs.c.broker_dir, false, subject, one, sizeof(one));

    snprintf(out, outlen, "broker: %s", total < 0 ? "unreadable" : one);
    for (int i = 0; i < nn && total >= 0; i++) {
        snprintf(path, sizeof(path), "%s/node.mdb", hs.c.nodes[nodes[i]].dir);
        int h = s_scan(path, true, subject, one, sizeof(one));
        size_t l = strlen(out);
        snprintf(out + l, outlen - l, "; %s: %s", hs.c.nodes[nodes[i]].label,
                 h < 0 ? "unreadable" : one);
        total = h < 0 ? -1 : total + h;
    }
    return total;
}

/* The subject pseudonym of a message in a node's inbox. */
struct s_pseud {
    const uint8_t *id;
    uint8_t subject[32], rid[16];
    bool need_rid, found;
};

static int
s_pseud_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_pseud *p = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, p->id, 16) == 0 &&
        it->subject_pseudonym.len == 32) {
        memcpy(p->subject, it->subject_pseudonym.data, 32);
        p->found = !p->need_rid || it->referral_id.len == 16;
        if (it->referral_id.len == 16)
            memcpy(p->rid, it->referral_id.data, 16);
        return 1;
    }
    return 0;
}

/* Whether a node's referrals table holds the referral (krctl referral
 * show answers from it). */
static bool
s_node_has_referral(int node, const uint8_t rid[16])
{
    struct h_run r;
    char hex[33];

    h_krctl(&r, "--node", hs.c.nodes[node].local, "referral", "show",
            h_hex16(rid, hex), NULL);
    bool has = r.code == 0;
    h_run_free(&r);
    return has;
}

/* Erasure end to end, scanned: a subject with a consent, a handover
 * delivered (a referral at the broker and in both nodes' tables) and one
 * not yet final (its recipient's node stopped). */
static void
s_erasure_scan(void)
{
    char bsn[10], where[2048];
    uint8_t cid[16], case1[16], case2[16], id1[16], id2[16], eid[16];
    struct h_fate f;
    bool ok;

    h_note("== erasure end to end: no store holds the pseudonym afterwards");
    h_bsn(44, bsn);
    hs_consent(bsn, true, "the consent on F", cid);
    util_time_ordered_id(case1);
    util_time_ordered_id(case2);
    struct hs_msg m = {.type = KR__V1__MESSAGE_TYPE__HANDOVER,
                       .to = HS_JGZ,
                       .bsn = bsn,
                       .purpose = "overdracht-jgz",
                       .case_id = case1};
    f = hs_do(hs.vl, &m, id1);
    H_REQUIRE(f.outcome == KR__V1__OUTCOME__DELIVERED,
              "a handover on F is delivered (%s)", f.detail);
    struct s_pseud p = {.id = id1, .need_rid = true};
    h_inbox_foreach_all(h_node_client(&hs.c, hs.jgz), s_pseud_cb, &p);
    H_REQUIRE(p.found, "JGZ's inbox names F's pseudonym and the referral");
    H_POLL(ok, 20000,
           s_node_has_referral(hs.jgz, p.rid) &&
               s_node_has_referral(hs.vl, p.rid));
    H_CHECK(ok, "both nodes hold the referral in their referrals table");
    int nodes[] = {hs.vl, hs.jgz, hs.wt};
    H_CHECK(s_scan_all(p.subject, nodes, 3, where, sizeof(where)) > 0,
            "before the erasure the stores hold F's pseudonym (%s)", where);

    /* A second handover while JGZ's node is down: accepted, not final. */
    H_REQUIRE(h_node_stop(&hs.c, hs.jgz), "JGZ's node stops");
    m.case_id = case2;
    H_REQUIRE(hs_send(hs.vl, &m, id2) == KR_OK, "a second handover on F");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&hs.c, hs.vl), id2) ==
               KR__V1__OUTCOME__ACCEPTED);
    H_REQUIRE(ok, "the broker accepted it and holds it for JGZ");

    struct hs_msg e = {.type = KR__V1__MESSAGE_TYPE__ERASURE_REQUEST,
                       .bsn = bsn,
                       .purpose = "overdracht-jgz"};
    f = hs_do(hs.vl, &e, eid);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the midwife's erasure request on F is executed (%s)", f.detail);
    struct h_fate f2 = {.id = id2};
    H_POLL(ok, 20000,
           h_fate_final(h_node_client(&hs.c, hs.vl), &f2) ||
               f2.outcome == KR__V1__OUTCOME__WITHDRAWN);
    H_CHECK(ok && f2.outcome == KR__V1__OUTCOME__WITHDRAWN &&
                f2.reason == KR__V1__REASON__ERASED,
            "the handover not yet final ends withdrawn, reason erased, and "
            "its sender sees it (outcome %d, reason %d: %s)",
            f2.outcome, f2.reason, f2.detail);
    h_node_start(&hs.c, hs.jgz);
    H_REQUIRE(h_node_wait_connected(&hs.c, hs.jgz, H_CONNECT_MS),
              "JGZ's node is back");
    H_POLL(ok, 20000,
           !s_node_has_referral(hs.jgz, p.rid) &&
               !s_node_has_referral(hs.vl, p.rid));
    H_CHECK(ok, "both nodes removed the referral from their referrals "
                "table");
    /* The notices wait in the broker's queues until acknowledged. */
    int hits = -1;
    H_POLL(ok, 30000,
           (hits = s_scan_all(p.subject, nodes, 3, where, sizeof(where))) == 0);
    H_CHECK(ok,
            "after the erasure no store holds F's pseudonym outside the "
            "audit trail, the kept consent and the notice (%d: %s)",
            hits, where);
    H_CHECK(hs_audit_has("erasure.kept"), "what was kept is audited");
    struct h_run r;
    h_krctl(&r, "--admin", hs.c.admin, "audit", "tail", "-n", "100", NULL);
    H_CHECK(r.code == 0 && r.out != NULL &&
                strstr(r.out, "referral records=2") != NULL &&
                strstr(r.out, "art. 17(3)(b)") != NULL,
            "the two referral records kept without their pseudonym, with the "
            "legal ground, are in the audit trail");
    h_run_free(&r);
}

/* A message still pending at its node (its organisation suspended) when
 * another organisation has its subject erased: the broker refuses it
 * when it comes (reason erased: made before the erasure), the node drops
 * its envelope at that outcome, and no store holds the pseudonym. */
static void
s_erasure_pending(void)
{
    char bsn[10], where[2048];
    uint8_t cid[16], case_id[16], id[16], eid[16];
    struct h_status st;
    struct h_fate f;
    bool ok;

    h_note("== erasure of a subject a pending message names");
    h_bsn(45, bsn);
    hs_consent(bsn, true, "the consent on P", cid);
    struct s_pseud p = {.id = cid};
    h_inbox_foreach_all(h_node_client(&hs.c, hs.jgz), s_pseud_cb, &p);
    H_REQUIRE(p.found, "JGZ's inbox names P's pseudonym (the consent)");
    H_REQUIRE(h_org_suspend(&hs.c, HS_VL) == KR_OK, "suspend the midwife");
    H_POLL(ok, 20000,
           h_status(h_node_client(&hs.c, hs.vl), &st) == KR_OK &&
               !st.connected);
    H_REQUIRE(ok, "the midwife's node lost its link");
    util_time_ordered_id(case_id);
    struct hs_msg m = {.type = KR__V1__MESSAGE_TYPE__HANDOVER,
                       .to = HS_JGZ,
                       .bsn = bsn,
                       .purpose = "overdracht-jgz",
                       .case_id = case_id};
    H_REQUIRE(hs_send(hs.vl, &m, id) == KR_OK,
              "the midwife's node takes a handover on P, pending");
    struct hs_msg e = {.type = KR__V1__MESSAGE_TYPE__ERASURE_REQUEST,
                       .bsn = bsn,
                       .purpose = "overdracht-jgz"};
    f = hs_do(hs.jgz, &e, eid);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "JGZ's erasure request on P is executed (%s)", f.detail);
    H_REQUIRE(h_org_resume(&hs.c, HS_VL) == KR_OK, "resume the midwife");
    struct h_fate fp = {.id = id};
    H_POLL(ok, 60000, h_fate_final(h_node_client(&hs.c, hs.vl), &fp));
    H_CHECK(ok && fp.outcome == KR__V1__OUTCOME__REFUSED &&
                fp.reason == KR__V1__REASON__ERASED,
            "the pending handover, made before the erasure, is refused when "
            "it comes, reason erased (outcome %d, reason %d: %s)",
            fp.outcome, fp.reason, fp.detail);
    int nodes[] = {hs.vl, hs.jgz, hs.wt};
    int hits = -1;
    H_POLL(ok, 30000,
           (hits = s_scan_all(p.subject, nodes, 3, where, sizeof(where))) == 0);
    H_CHECK(ok,
            "no store holds P's pseudonym outside the audit trail, the kept "
            "consent and the notice (%d: %s)",
            hits, where);
}

int
main(void)
{
    hs_setup("signals_erasure", 240);
    s_erasure();
    s_erasure_scan();
    s_erasure_pending();
    return h_finish(&hs.c);
}
