/*
 * test_early.c - early delivery (PROTOCOL.md, "Early delivery"): the
 * broker sends a pass's deliveries while its commit runs, and the
 * recipient holds them unseen until the broker says the pass committed.
 * Each way that promise can break is made to happen, on purpose, with the
 * daemons' test faults:
 *
 *  1. the broker's commit fails after it sent a referral early: JGZ drops
 *     it unseen, the sender is told to retry, and the retry arrives once;
 *  2. the broker dies between the early send and its commit, and the
 *     woman's consent is revoked before the sender's node retries: the
 *     retry is refused for want of consent, and JGZ never shows the
 *     referral it had already stored;
 *  3. the JGZ node dies holding a referral it got early: at its restart it
 *     removes it unseen, and the broker's resend brings it back once;
 *  4. a client whose Hello does not say that it holds early deliveries
 *     (an older or another implementation) gets none: only deliveries from
 *     committed state, and no PassResult.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_WT_ORG "ura:00009012"

struct s_test {
    struct h_cluster c;
    int vl, jgz, wt;
    struct h_referral ref;
    uint8_t cid[16]; /* the consent in force */
};

struct s_find {
    const uint8_t *id;
    size_t n;
};

static int
s_find_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_find *f = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, f->id, 16) == 0)
        f->n++;
    return 0;
}

/* How often JGZ's inbox lists msg_id (-1 if the walk fails). */
static long
s_listed(struct s_test *t, const uint8_t id[16])
{
    struct s_find f = {id, 0};

    if (h_inbox_foreach(h_node_client(&t->c, t->jgz), s_find_one, &f) != 0)
        return -1;
    return (long)f.n;
}

/* Record a fresh consent vl -> to (its id in t->cid) and wait until the
 * broker's outcome for it reaches 'outcome': DELIVERED, so that no
 * delivery of it is in flight when a fault is armed, or ACCEPTED for a
 * recipient that never acknowledges. */
static void
s_consent_to(struct s_test *t, const char *to, int outcome)
{
    struct h_consent g = {0};
    uint8_t msg_id[16];
    uint64_t now = util_now_ms();
    bool ok;

    g.recipient = to;
    g.bsn = t->ref.bsn;
    g.from_org = S_VL_ORG;
    g.to_org = to;
    g.from_ms = now - 3600 * 1000ull;
    g.until_ms = now + 365 * 24 * 3600 * 1000ull;
    util_random_id(t->cid);
    g.consent_id = t->cid;
    int rc = h_send_consent(h_node_client(&t->c, t->vl), &g, NULL, msg_id);
    H_REQUIRE(rc == KR_OK, "record the woman's consent for %s (%s)", to,
              kr_strerror(rc));
    /* ACCEPTED: or any later outcome; DELIVERED: exactly. */
    H_POLL(ok, 20000,
           outcome == KR__V1__OUTCOME__ACCEPTED
               ? h_outcome(h_node_client(&t->c, t->vl), msg_id) >= outcome
               : h_outcome(h_node_client(&t->c, t->vl), msg_id) == outcome);
    H_REQUIRE(ok, "its outcome reaches %d (%d)", outcome,
              h_outcome(h_node_client(&t->c, t->vl), msg_id));
}

static void
s_consent(struct s_test *t)
{
    s_consent_to(t, S_JGZ_ORG, KR__V1__OUTCOME__DELIVERED);
}

static void
s_send(struct s_test *t, const char *text, uint8_t id[16])
{
    uint8_t got[16];

    t->ref.reason_text = text;
    util_random_id(id);
    int rc = h_send_referral(h_node_client(&t->c, t->vl), S_JGZ_ORG, &t->ref,
                             id, got);
    H_REQUIRE(rc == KR_OK, "the midwife's node takes referral '%s' (%s)", text,
              kr_strerror(rc));
}

/* The broker again, with a fault armed through its environment (or none:
 * name NULL). */
static void
s_broker_restart(struct s_test *t, const char *fault)
{
    H_REQUIRE(h_broker_stop(&t->c), "the broker stops cleanly");
    if (fault != NULL)
        setenv(fault, "1", 1);
    h_broker_start(&t->c);
    if (fault != NULL)
        unsetenv(fault);
    if (!h_node_wait_connected(&t->c, t->vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t->c, t->jgz, H_CONNECT_MS))
        h_abort();
}

/* A number in a JSON object that krctl prints, or -1. */
static long long
s_json_num(const char *arg0, const char *endpoint, const char *cmd,
           const char *key)
{
    struct h_run r;
    long long v = -1;

    if (strcmp(cmd, "status") == 0) /* JSON is all it prints */
        h_krctl(&r, arg0, endpoint, cmd, NULL);
    else
        h_krctl(&r, arg0, endpoint, cmd, "--json", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    json_object *x = o != NULL ? h_json_path(o, key) : NULL;
    if (x != NULL)
        v = (long long)json_object_get_int64(x);
    json_object_put(o);
    h_run_free(&r);
    return v;
}

static long long
s_broker_stat(struct s_test *t, const char *key)
{
    return s_json_num("--admin", t->c.admin, "stats", key);
}

static long long
s_node_stat(struct s_test *t, int i, const char *key)
{
    return s_json_num("--node", t->c.nodes[i].local, "status", key);
}

/* 1: the pass that sent the referral early does not commit. */
static void
s_failed_commit(struct s_test *t)
{
    uint8_t id[16];
    bool ok;

    s_broker_restart(t, "KRBROKER_TEST_FAIL_COMMIT");
    s_send(t, "early: failed commit", id);
    H_POLL(ok, 20000,
           h_log_contains(t->c.broker_log, "test: this commit fails"));
    H_REQUIRE(ok, "the broker's commit fails after it sent the referral "
                  "early");
    H_POLL(ok, 20000,
           h_log_contains(t->c.nodes[t->jgz].proc.log,
                          "broker pass did not commit: 1 deliveries"));
    H_CHECK(ok, "JGZ learns that the pass did not commit and drops the "
                "referral unseen");
    H_POLL(ok, 30000,
           h_outcome(h_node_client(&t->c, t->vl), id) ==
               KR__V1__OUTCOME__DELIVERED);
    H_CHECK(ok,
            "the sender's node retries and the referral is delivered "
            "(outcome %d)",
            h_outcome(h_node_client(&t->c, t->vl), id));
    H_CHECK(s_listed(t, id) == 1, "JGZ lists it exactly once (%ld)",
            s_listed(t, id));
    H_CHECK(s_broker_stat(t, "early_passes_failed") == 1 &&
                s_broker_stat(t, "commits_failed") == 1 &&
                s_broker_stat(t, "early_deliveries") >= 2 &&
                s_broker_stat(t, "commit_p50_us") > 0,
            "krctl stats counts it: %lld pass called back, %lld commit "
            "failed, %lld early deliveries, commit p50 %lld us",
            s_broker_stat(t, "early_passes_failed"),
            s_broker_stat(t, "commits_failed"),
            s_broker_stat(t, "early_deliveries"),
            s_broker_stat(t, "commit_p50_us"));
}

/* 2: the broker dies before its commit; the consent is revoked before the
 * sender's node can retry. */
static void
s_broker_dies(struct s_test *t)
{
    uint8_t id[16], rid[16];
    bool ok;

    s_broker_restart(t, "KRBROKER_TEST_HANG_BEFORE_COMMIT");
    s_send(t, "early: broker dies", id);
    H_POLL(ok, 20000,
           h_log_contains(t->c.broker_log, "test: stopped before a commit"));
    H_REQUIRE(ok, "the broker stops after sending the referral early, before "
                  "its commit");
    /* JGZ stores it, held; then the broker dies right there. */
    H_POLL(ok, 20000, s_node_stat(t, t->jgz, "held") == 1);
    H_CHECK(ok, "krctl status of JGZ shows it held (%lld)",
            s_node_stat(t, t->jgz, "held"));
    h_broker_kill9(&t->c);
    H_CHECK(s_listed(t, id) == 0, "JGZ does not list the held referral (%ld)",
            s_listed(t, id));
    /* The midwife's node would retry first thing: keep it away until the
     * consent is gone. */
    H_REQUIRE(h_node_stop(&t->c, t->vl), "the midwife's node stops cleanly");
    h_broker_start(&t->c);
    if (!h_node_wait_connected(&t->c, t->jgz, H_CONNECT_MS))
        h_abort();
    /* Well before the node's own 30 s backstop. */
    H_POLL(ok, 5000,
           s_node_stat(t, t->jgz, "held") == 0 &&
               h_log_contains(t->c.nodes[t->jgz].proc.log,
                              "1 deliveries sent early without a result are "
                              "removed unseen"));
    H_CHECK(ok, "JGZ drops the referral it never got a result for when it "
                "connects again");
    int rc = h_send_revoke(h_node_client(&t->c, t->jgz), S_VL_ORG, t->cid, rid);
    H_REQUIRE(rc == KR_OK, "JGZ revokes the consent (%s)", kr_strerror(rc));
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&t->c, t->jgz), rid) >=
               KR__V1__OUTCOME__ACCEPTED);
    H_REQUIRE(ok, "the broker accepts the revoke");
    h_node_start(&t->c, t->vl);
    H_POLL(ok, 30000,
           h_outcome(h_node_client(&t->c, t->vl), id) ==
               KR__V1__OUTCOME__REFUSED);
    H_CHECK(ok,
            "the sender's retry is refused: no consent any more (outcome "
            "%d)",
            h_outcome(h_node_client(&t->c, t->vl), id));
    H_CHECK(s_listed(t, id) == 0,
            "JGZ never shows the referral the broker did not accept (%ld)",
            s_listed(t, id));
    /* A held record never dropped would stop every listing at it. */
    s_consent(t);
    h_roundtrip(&t->c, t->vl, t->jgz,
                "JGZ's inbox goes on past the dropped "
                "one",
                20000);
}

/* 3: the JGZ node dies while it holds a referral sent early. */
static void
s_node_dies(struct s_test *t)
{
    uint8_t id[16];
    int status;
    bool ok;

    H_REQUIRE(h_node_stop(&t->c, t->jgz), "the JGZ node stops cleanly");
    setenv("KRNODE_TEST_EXIT_AFTER_HELD", "1", 1);
    h_node_start(&t->c, t->jgz);
    unsetenv("KRNODE_TEST_EXIT_AFTER_HELD");
    if (!h_node_wait_connected(&t->c, t->jgz, H_CONNECT_MS))
        h_abort();
    s_send(t, "early: recipient dies", id);
    H_REQUIRE(h_proc_wait(&t->c.nodes[t->jgz].proc, 20000, &status) == KR_OK &&
                  WIFEXITED(status) && WEXITSTATUS(status) == 70,
              "the JGZ node dies right after storing the referral held");
    t->c.nodes[t->jgz].proc.expected = false;
    h_node_start(&t->c, t->jgz);
    H_CHECK(h_log_contains(t->c.nodes[t->jgz].proc.log,
                           "1 deliveries sent early by the broker were never "
                           "confirmed: removed unseen"),
            "at its restart JGZ removes the held referral unseen");
    H_POLL(ok, 30000,
           h_outcome(h_node_client(&t->c, t->vl), id) ==
               KR__V1__OUTCOME__DELIVERED);
    H_CHECK(ok, "the broker sends it again and it is delivered (outcome %d)",
            h_outcome(h_node_client(&t->c, t->vl), id));
    H_CHECK(s_listed(t, id) == 1, "JGZ lists it exactly once (%ld)",
            s_listed(t, id));
}

/* What `krctl queues --json` says of org's early delivery: 1 yes, 0 no,
 * -1 not found. */
static int
s_queue_early(struct s_test *t, const char *org)
{
    return (int)h_krctl_queue(&t->c, org, "early_delivery");
}

/* 4: the wijkteam's client speaks the wire protocol itself and does not
 * say that it holds early deliveries. */
static void
s_old_client(struct s_test *t)
{
    struct h_wire w;
    char secret[H_PATH + 32], pub[H_PATH + 32];
    uint8_t id[16];
    bool ok;

    h_secret_path(t->c.nodes[t->wt].keys, secret, sizeof(secret));
    h_public_path(t->c.broker_keys, pub, sizeof(pub));
    H_REQUIRE(h_wire_open(&w, t->c.listen, secret, pub, S_WT_ORG) == KR_OK &&
                  h_wire_send_hello(&w, S_WT_ORG, 64) == KR_OK,
              "a raw wire client for the wijkteam says Hello, without "
              "early_delivery");
    H_POLL(ok, 10000, (h_wire_pump(&w, 50), w.ndir >= 1));
    H_CHECK(ok, "its Hello (without want_directory) is answered by a "
                "DirectoryResponse");
    /* The grant's evidence goes to the wijkteam: the raw client never
     * acknowledges it, so wait only for the broker to accept it. */
    s_consent_to(t, S_WT_ORG, KR__V1__OUTCOME__ACCEPTED);
    t->ref.reason_text = "early: old client";
    util_random_id(id);
    uint8_t got[16];
    H_REQUIRE(h_send_referral(h_node_client(&t->c, t->vl), S_WT_ORG, &t->ref,
                              id, got) == KR_OK,
              "the midwife's node takes a referral for the wijkteam");
    H_POLL(ok, 20000, (h_wire_pump(&w, 10), w.ndeliveries >= 2));
    H_CHECK(ok, "the raw client gets the evidence and the referral (%zu)",
            w.ndeliveries);
    H_CHECK(w.nearly == 0 && w.nresults == 0,
            "none of them early, and no pass results (%zu early, %zu "
            "results)",
            w.nearly, w.nresults);
    H_CHECK(s_queue_early(t, S_WT_ORG) == 0 && s_queue_early(t, S_JGZ_ORG) == 1,
            "krctl queues shows which nodes take early deliveries (wijkteam "
            "%d, JGZ %d)",
            s_queue_early(t, S_WT_ORG), s_queue_early(t, S_JGZ_ORG));
    h_wire_close(&w);
}

int
main(void)
{
    struct s_test t;

    memset(&t, 0, sizeof(t));
    h_init("early", 240);
    h_referral_default(&t.ref);
    h_cluster_init(&t.c, "early");
    h_broker_start(&t.c);
    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde",
                     "Verloskundigenpraktijk De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    t.wt = h_org_add(&t.c, "wt", S_WT_ORG, "wijkteam", "Wijkteam Noord");
    h_node_start(&t.c, t.vl);
    h_node_start(&t.c, t.jgz);
    if (!h_node_wait_connected(&t.c, t.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS))
        h_abort();
    s_consent(&t);
    h_roundtrip(&t.c, t.vl, t.jgz, "a referral with early delivery on", 20000);

    s_failed_commit(&t);
    s_broker_dies(&t);
    s_node_dies(&t);
    s_old_client(&t);

    h_roundtrip(&t.c, t.vl, t.jgz, "after the faults", 20000);
    H_CHECK(s_node_stat(&t, t.jgz, "held") == 0 &&
                s_node_stat(&t, t.jgz, "commits") > 0 &&
                s_node_stat(&t, t.jgz, "commit_p50_us") > 0,
            "JGZ's status: nothing held, its commits timed (%lld held, "
            "%lld commits, p50 %lld us)",
            s_node_stat(&t, t.jgz, "held"), s_node_stat(&t, t.jgz, "commits"),
            s_node_stat(&t, t.jgz, "commit_p50_us"));
    return h_finish(&t.c);
}
