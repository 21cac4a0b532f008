/*
 * test_disk_full_commit.c - the broker's commit itself fails on a full
 * file system (issue 17, point 4: LMDB reports it as EIO after a short
 * write, or ENOSPC).
 *
 * The broker's data directory is a small tmpfs and nothing is written
 * ahead (prefill_mb = 0), so the store's file grows with each commit. The
 * test fills the file system with a ballast file and at once sends a
 * large referral: the broker's room estimate (refreshed every 100 ms) has
 * not seen the ballast yet, takes the message, and its commit fails. The
 * refusal must say disk-full, not internal; the node keeps the message;
 * when the ballast is deleted it is accepted within seconds and delivered
 * once. Should the estimate see the ballast first (its refresh fell in
 * between), the refusal is disk-full too, and the test tries again, a
 * bounded number of times, for the commit's own failure; so it does when
 * the message fits in pages the file already holds (freed by the last
 * attempt's message) and is taken without a refusal.
 *
 * Needs to mount a tmpfs (root or CAP_SYS_ADMIN); exits 77 (skipped) and
 * says so where that is not permitted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "harness.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_TMPFS_MB 32
#define S_BIG (900u << 10) /* an envelope under the broker's 1 MiB */
#define S_ATTEMPTS 8

static size_t
s_pending(struct h_cluster *c, int vl)
{
    struct h_status st;

    if (h_status(h_node_client(c, vl), &st) != KR_OK)
        return SIZE_MAX;
    return st.outbox_pending;
}

static bool
s_refusing(struct h_cluster *c, int vl, const char *want)
{
    struct h_run r;
    bool yes = false;

    h_krctl(&r, "--node", c->nodes[vl].local, "status", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    const char *s = o ? h_json_str(o, "broker_refusing") : NULL;
    yes = s != NULL && strcmp(s, want) == 0;
    json_object_put(o);
    h_run_free(&r);
    return yes;
}

/* The broker took the message (accepted, or already delivered). */
static bool
s_taken(kr_client_t *kc, const uint8_t id[16])
{
    int o = h_outcome(kc, id);

    return o == KR__V1__OUTCOME__ACCEPTED || o == KR__V1__OUTCOME__DELIVERED;
}

int
main(void)
{
    static struct h_cluster c;
    static char big[S_BIG + 1];
    struct h_referral ref;
    struct h_idset sent;
    char ballast[H_PATH + 32];
    uint64_t written;
    uint8_t id[16];
    bool ok, commit_failed = false;
    int rc, attempt;

    h_init("disk_full_commit", 200);
    h_referral_default(&ref);
    memset(big, 'c', S_BIG);
    ref.reason_text = big;
    h_idset_init(&sent);
    h_cluster_init(&c, "disk_full_commit");
    rc = h_tmpfs_mount(c.broker_dir, S_TMPFS_MB);
    if (rc == KR_EPERM) {
        printf("SKIP disk_full_commit: mounting a tmpfs is not permitted "
               "here (run as root or with CAP_SYS_ADMIN)\n");
        h_rm_rf(c.tmp);
        return H_SKIP;
    }
    H_REQUIRE(rc == KR_OK,
              "mount a %d MiB tmpfs on the broker's data "
              "directory",
              S_TMPFS_MB);
    snprintf(ballast, sizeof(ballast), "%s/ballast", c.broker_dir);
    h_broker_set(&c, "map_size_mb", "1024");
    h_broker_set(&c, "prefill_mb", "0");
    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde",
                       "Verloskundigenpraktijk De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_start(&c, vl);
    h_node_start(&c, jgz);
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, jgz, H_CONNECT_MS))
        h_abort();
    H_REQUIRE(h_consent_default(&c, vl, jgz), "consent recorded");
    kr_client_t *kv = h_node_client(&c, vl);

    for (attempt = 1; attempt <= S_ATTEMPTS && !commit_failed; attempt++) {
        int before = h_log_count(c.broker_log, "pass not committed");
        rc = h_ballast(ballast, 0, &written);
        H_REQUIRE(rc == KR_OK, "attempt %d: ballast fills the file system",
                  attempt);
        rc = h_send_referral(kv, S_JGZ_ORG, &ref, NULL, id);
        H_REQUIRE(rc == KR_OK,
                  "attempt %d: the node takes a %u KiB referral "
                  "(%s)",
                  attempt, S_BIG >> 10, kr_strerror(rc));
        h_idset_add(&sent, id);
        /* Refused, or taken: the message may fit in pages the store's
         * file already holds (those the last attempt's message left when
         * it was delivered), and then no write needs the full disk. */
        bool refused = false, taken = false;
        H_POLL(ok, 10000,
               (refused = s_refusing(&c, vl, "disk-full")) ||
                   (taken = s_taken(kv, id)));
        H_CHECK(ok,
                "attempt %d: the broker refuses it disk-full, or takes "
                "it into its file's free pages",
                attempt);
        if (taken && !refused)
            h_note("attempt %d: taken into the store's free pages: no "
                   "refusal to see; again",
                   attempt);
        commit_failed =
            refused && h_log_count(c.broker_log, "pass not committed") > before;
        H_CHECK(!s_refusing(&c, vl, "internal") &&
                    !h_log_contains(c.nodes[vl].log, "reason=internal"),
                "attempt %d: no refusal says internal", attempt);
        H_CHECK(h_proc_alive(&c.broker), "attempt %d: the broker runs",
                attempt);
        /* Space returns: the refused message is taken within seconds. */
        H_REQUIRE(unlink(ballast) == 0, "delete the ballast");
        uint64_t t0 = h_mono_ms();
        H_POLL(ok, 15000, s_pending(&c, vl) == 0);
        uint64_t took = h_mono_ms() - t0;
        H_CHECK(ok && took < (uint64_t)h_scale(5000),
                "attempt %d: accepted %llu ms after the ballast went (under "
                "5 s)",
                attempt, (unsigned long long)took);
    }
    h_note("the commit failed on attempt %d", attempt - 1);
    H_CHECK(commit_failed,
            "the broker's commit failed for the full disk within %d "
            "attempts, and said disk-full",
            S_ATTEMPTS);
    H_CHECK(h_log_contains(c.broker_log, "the file system is full"),
            "the broker's store logs the failed commit as a full file "
            "system");
    H_CHECK(h_log_contains(c.broker_log, "the broker's disk is full"),
            "its refusal names the broker's full disk");

    /* Each message exactly once at JGZ, delivered at the sender. */
    struct h_tally tally;
    H_POLL(ok, 30000,
           h_outbox_tally(kv, &sent, &tally) == KR_OK &&
               tally.delivered == sent.n);
    H_CHECK(ok && tally.distinct == sent.n,
            "all %zu delivered at the sender (%zu delivered, %zu entries)",
            sent.n, tally.delivered, tally.n);
    size_t inbox = 0;
    H_CHECK(h_inbox_count(h_node_client(&c, jgz), &inbox) == KR_OK &&
                inbox == sent.n + 0,
            "JGZ holds %zu, one each (%zu)", sent.n, inbox);

    h_idset_free(&sent);
    for (int i = 0; i < c.nnodes; i++)
        h_node_stop(&c, i);
    h_broker_stop(&c);
    H_CHECK(h_tmpfs_umount(c.broker_dir) == KR_OK, "unmount the tmpfs");
    return h_finish(&c);
}
