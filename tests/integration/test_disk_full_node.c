/*
 * test_disk_full_node.c - the sending node's file system fills up (issue
 * 17, point 4).
 *
 * The node's data directory is a 24 MiB tmpfs, most of it taken by a
 * ballast file; its map is larger than that. Sends are taken until the
 * disk is nearly full, then refused with KR_EDISKFULL, "disk full at the
 * node" (libkr and `krctl send`), and `krctl status` says disk_full. With
 * the disk still full, the receipts of what was taken still commit: every
 * message taken is delivered and its sender learns it. When the ballast
 * is deleted, sends are taken again within a second or so. Nothing taken
 * is lost or doubled; the log does not flood.
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
#define S_TMPFS_MB 24
#define S_ROOM (4u << 20) /* left free for the node's store */
#define S_MAX_SENDS 5000
#define S_PAD 3000
#define S_JGZ_ROOM (12u << 20) /* left free for the receiving node */
#define S_BIG (6u << 20)       /* more than the node's disk has room for */

struct s_test {
    struct h_cluster c;
    int vl, jgz;
    struct h_idset sent;
    char text[S_PAD + 64], pad[S_PAD + 1];
    struct h_referral ref;
};

/* `krctl status` of the sending node: its disk_full flag (-1: no answer). */
static int
s_disk_full(struct s_test *t)
{
    struct h_run r;
    int v = -1;

    h_krctl(&r, "--node", t->c.nodes[t->vl].local, "status", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    json_object *d = o ? h_json_path(o, "disk_full") : NULL;
    if (d != NULL)
        v = json_object_get_boolean(d) ? 1 : 0;
    json_object_put(o);
    h_run_free(&r);
    return v;
}

/* The receiving node's status: disk_full (-1: no answer). */
static int
s_jgz_disk_full(struct s_test *t)
{
    struct h_run r;
    int v = -1;

    h_krctl(&r, "--node", t->c.nodes[t->jgz].local, "status", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    json_object *d = o ? h_json_path(o, "disk_full") : NULL;
    if (d != NULL)
        v = json_object_get_boolean(d) ? 1 : 0;
    json_object_put(o);
    h_run_free(&r);
    return v;
}

static int
s_send(struct s_test *t)
{
    uint8_t id[16];

    snprintf(t->text, sizeof(t->text), "node disk seq=%05zu %s", t->sent.n,
             t->pad);
    t->ref.reason_text = t->text;
    int rc = h_send_referral(h_node_client(&t->c, t->vl), S_JGZ_ORG, &t->ref,
                             NULL, id);
    if (rc == KR_OK)
        h_idset_add(&t->sent, id);
    return rc;
}

struct s_inbox {
    const struct h_idset *sent;
    struct h_idset seen;
    size_t n, foreign;
};

static int
s_inbox_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_inbox *in = arg;

    in->n++;
    if (it->msg_id.len != 16 || h_idset_count(in->sent, it->msg_id.data) == 0)
        in->foreign++;
    else
        h_idset_add(&in->seen, it->msg_id.data);
    return 0;
}

static bool
s_all_delivered(struct s_test *t, struct h_outbox_stats *os)
{
    return h_outbox_stats(h_node_client(&t->c, t->vl), os) == KR_OK &&
           os->by_outcome[KR__V1__OUTCOME__DELIVERED] == t->sent.n;
}

static void
s_check_all(struct s_test *t, const char *what)
{
    struct h_outbox_stats os;
    struct s_inbox in = {.sent = &t->sent};
    bool ok;

    H_POLL(ok, 60000, s_all_delivered(t, &os));
    H_CHECK(ok,
            "%s: all %zu taken are delivered, and the sender knows (delivered "
            "%zu, accepted %zu, pending %zu, refused %zu)",
            what, t->sent.n, os.by_outcome[KR__V1__OUTCOME__DELIVERED],
            os.by_outcome[KR__V1__OUTCOME__ACCEPTED], os.by_outcome[0],
            os.by_outcome[KR__V1__OUTCOME__REFUSED]);
    h_idset_init(&in.seen);
    h_inbox_foreach(h_node_client(&t->c, t->jgz), s_inbox_one, &in);
    H_CHECK(in.n == t->sent.n && in.seen.n == t->sent.n && in.foreign == 0,
            "%s: JGZ holds each of the %zu exactly once (%zu items, %zu "
            "distinct, %zu foreign)",
            what, t->sent.n, in.n, in.seen.n, in.foreign);
    h_idset_free(&in.seen);
}

int
main(void)
{
    static struct s_test t;
    char ballast[H_PATH + 32], jballast[H_PATH + 32], example[H_PATH];
    uint64_t written, t0;
    bool ok;
    int rc = KR_OK;

    h_init("disk_full_node", 240);
    h_referral_default(&t.ref);
    memset(t.pad, 'q', S_PAD);
    h_idset_init(&t.sent);
    h_cluster_init(&t.c, "disk_full_node");
    h_broker_start(&t.c);
    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde",
                     "Verloskundigenpraktijk De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");

    /* The sending node's data directory on a small file system. */
    rc = h_tmpfs_mount(t.c.nodes[t.vl].dir, S_TMPFS_MB);
    if (rc == KR_EPERM) {
        printf("SKIP disk_full_node: mounting a tmpfs is not permitted here "
               "(run as root or with CAP_SYS_ADMIN)\n");
        h_broker_stop(&t.c);
        h_rm_rf(t.c.tmp);
        return H_SKIP;
    }
    H_REQUIRE(rc == KR_OK,
              "mount a %d MiB tmpfs on the node's data "
              "directory",
              S_TMPFS_MB);
    snprintf(ballast, sizeof(ballast), "%s/ballast", t.c.nodes[t.vl].dir);
    rc = h_ballast(ballast, S_ROOM, &written);
    H_REQUIRE(rc == KR_OK, "ballast leaves %u MiB free (%llu bytes written)",
              S_ROOM >> 20, (unsigned long long)written);
    /* The receiving node too, with more room: it fills only in part 5. */
    rc = h_tmpfs_mount(t.c.nodes[t.jgz].dir, S_TMPFS_MB);
    H_REQUIRE(rc == KR_OK, "mount a tmpfs on the receiving node's data "
                           "directory");
    snprintf(jballast, sizeof(jballast), "%s/ballast", t.c.nodes[t.jgz].dir);
    rc = h_ballast(jballast, S_JGZ_ROOM, &written);
    H_REQUIRE(rc == KR_OK, "ballast leaves %u MiB free there",
              S_JGZ_ROOM >> 20);
    h_node_set(&t.c, t.vl, "map_size_mb", "256");
    h_node_set(&t.c, t.jgz, "map_size_mb", "256");
    h_node_start(&t.c, t.vl);
    h_node_start(&t.c, t.jgz);
    if (!h_node_wait_connected(&t.c, t.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS))
        h_abort();
    H_REQUIRE(h_consent_default(&t.c, t.vl, t.jgz), "consent recorded");
    H_CHECK(s_disk_full(&t) == 0, "krctl status: disk_full false at first");

    /* 0. A message larger than the room left passes the node's estimate
     * but not its commit: LMDB's write fails (ENOSPC, or EIO after a
     * short write) and the node must still say that the disk is full. */
    static char big[S_BIG + 1];
    memset(big, 'b', S_BIG);
    t.ref.reason_text = big;
    uint8_t big_id[16];
    rc = h_send_referral(h_node_client(&t.c, t.vl), S_JGZ_ORG, &t.ref, NULL,
                         big_id);
    H_CHECK(rc == KR_EDISKFULL,
            "a %d MiB send fails in the node's commit as KR_EDISKFULL (%s)",
            S_BIG >> 20, kr_strerror(rc));
    H_CHECK(h_log_contains(t.c.nodes[t.vl].log, "the file system is full"),
            "the node logs the failed commit as a full file system");
    H_CHECK(h_proc_alive(&t.c.nodes[t.vl].proc), "the node still runs");

    /* 1. Send until the node refuses for its full disk. */
    t0 = h_mono_ms();
    for (int i = 0; i < S_MAX_SENDS; i++)
        if ((rc = s_send(&t)) != KR_OK)
            break;
    h_note("%zu sends taken in %llu ms; then %s; disk free %llu bytes",
           t.sent.n, (unsigned long long)(h_mono_ms() - t0), kr_strerror(rc),
           (unsigned long long)h_fs_free(t.c.nodes[t.vl].dir));
    H_REQUIRE(rc == KR_EDISKFULL && t.sent.n > 0,
              "a send is refused with KR_EDISKFULL after %zu (%d: %s)",
              t.sent.n, rc, kr_strerror(rc));
    H_CHECK(strcmp(kr_strerror(rc), "disk full at the node") == 0,
            "kr_strerror says \"%s\"", kr_strerror(rc));
    H_CHECK(s_send(&t) == KR_EDISKFULL, "the next send too");
    struct h_run r;
    snprintf(example, sizeof(example), "%s/examples/referral.json",
             KR_SOURCE_DIR);
    h_krctl(&r, "--node", t.c.nodes[t.vl].local, "send", example, NULL);
    H_CHECK(r.code == 1 && strstr(r.err, "disk full at the node") != NULL,
            "krctl send exits 1 naming the full disk (exit %d: %s)", r.code,
            r.err);
    h_run_free(&r);
    H_CHECK(s_disk_full(&t) == 1, "krctl status: disk_full true");
    H_CHECK(h_log_contains(t.c.nodes[t.vl].log, "disk full at the node"),
            "the node logs its full disk");
    H_CHECK(!h_log_contains(t.c.nodes[t.vl].log, "store error"),
            "and never a bare store error");

    /* 2. The disk still full, what was taken drains: the receipts
     * commit, every message is delivered and its sender knows. */
    s_check_all(&t, "on the full disk");
    H_CHECK(h_fs_free(t.c.nodes[t.vl].dir) < S_ROOM / 4,
            "the node's disk is still full (%llu free)",
            (unsigned long long)h_fs_free(t.c.nodes[t.vl].dir));

    /* 3. Space returns: sends are taken again at once. */
    H_REQUIRE(unlink(ballast) == 0, "delete the ballast");
    t0 = h_mono_ms();
    H_POLL(ok, 10000, (rc = s_send(&t)) == KR_OK);
    uint64_t took = h_mono_ms() - t0;
    H_CHECK(ok && took < (uint64_t)h_scale(3000),
            "space returned: a send is taken again in %llu ms (%s)",
            (unsigned long long)took, kr_strerror(rc));
    H_CHECK(s_disk_full(&t) == 0, "krctl status: disk_full false again");
    for (int i = 0; i < 50; i++)
        H_ENSURE((rc = s_send(&t)) == KR_OK,
                 "send after the disk has room "
                 "(%s)",
                 kr_strerror(rc));
    s_check_all(&t, "at the end");

    /* 5. The receiving node's disk fills: deliveries it cannot store stay
     * at the broker (no ack), and arrive, once each, within seconds of
     * the space coming back (the node says Hello again; the broker's own
     * resends have backed off by then). */
    size_t before = t.sent.n;
    for (int i = 0; i < S_MAX_SENDS; i++) {
        if (i % 100 == 99) {
            struct h_outbox_stats os;
            /* Stop once deliveries stall: the receiver is full. */
            H_POLL(ok, 3000, s_all_delivered(&t, &os));
            if (!ok)
                break;
        }
        H_ENSURE((rc = s_send(&t)) == KR_OK, "send (%s)", kr_strerror(rc));
    }
    H_CHECK(s_jgz_disk_full(&t) == 1,
            "krctl status of the receiving node: disk_full true");
    h_note("%zu more sent; receiving node disk free %llu bytes",
           t.sent.n - before,
           (unsigned long long)h_fs_free(t.c.nodes[t.jgz].dir));
    H_POLL(ok, 10000,
           h_log_contains(t.c.nodes[t.jgz].log, "the file system is full"));
    H_CHECK(ok, "the receiving node's commits fail for its full disk");
    H_CHECK(h_proc_alive(&t.c.nodes[t.jgz].proc),
            "the receiving node still runs");
    H_REQUIRE(unlink(jballast) == 0, "delete the receiving node's ballast");
    t0 = h_mono_ms();
    struct h_outbox_stats os5;
    H_POLL(ok, 30000, s_all_delivered(&t, &os5));
    took = h_mono_ms() - t0;
    H_CHECK(ok && took < (uint64_t)h_scale(8000),
            "space returned at the receiver: all delivered in %llu ms "
            "(under 8 s)",
            (unsigned long long)took);
    s_check_all(&t, "after the receiver's full disk");
    h_roundtrip(&t.c, t.vl, t.jgz, "a new message after the full disk", 20000);

    /* 4. The log does not flood. */
    int lines = h_log_count(t.c.nodes[t.vl].log, "");
    h_note("log lines: node vl %d, broker %d", lines,
           h_log_count(t.c.broker_log, ""));
    H_CHECK(lines < 100, "the node's log stays short (%d lines)", lines);

    h_idset_free(&t.sent);
    for (int i = 0; i < t.c.nnodes; i++)
        h_node_stop(&t.c, i);
    h_broker_stop(&t.c);
    H_CHECK(h_tmpfs_umount(t.c.nodes[t.vl].dir) == KR_OK &&
                h_tmpfs_umount(t.c.nodes[t.jgz].dir) == KR_OK,
            "unmount the tmpfs");
    return h_finish(&t.c);
}
