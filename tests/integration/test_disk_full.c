/*
 * test_disk_full.c - the broker's file system fills up (issue 17, point 4).
 *
 * The broker's data directory is a 40 MiB tmpfs, most of it taken by a
 * ballast file, and its map is 1 GiB: the disk, not the map, is what
 * fills. With JGZ away, the sending node's messages are refused with
 * reason disk-full (not "internal"), which the node keeps pending and
 * shows in `krctl status`; `krctl stats` says disk full. With the disk
 * still full, JGZ comes back and the backlog drains: acknowledgements
 * commit and free pages, every accepted message arrives once, and what
 * was refused is then taken too. Then the disk fills again and the
 * ballast is deleted: the broker takes the refused messages again within
 * a few seconds. Nothing accepted is lost or doubled; the logs do not
 * flood.
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
#define S_TMPFS_MB 40
#define S_ROOM (8u << 20) /* left free for the broker's store */
#define S_MAX_SENDS 6000
#define S_BATCH 50
#define S_PAD 3000
#define S_MORE 300 /* sent while the disk is full */

struct s_test {
    struct h_cluster c;
    int vl, jgz;
    struct h_idset sent;
    char text[S_PAD + 64], pad[S_PAD + 1];
    struct h_referral ref;
};

/* `krctl stats --json`: whether the broker says disk full, and how many
 * submits it refused for a full store or disk. */
static bool
s_stats(struct s_test *t, bool *disk_full, long long *refused)
{
    struct h_run r;
    bool ok = false;

    h_krctl(&r, "--admin", t->c.admin, "stats", "--json", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    json_object *d = o ? h_json_path(o, "disk_full") : NULL;
    json_object *n = o ? h_json_path(o, "refused_full") : NULL;
    if (d != NULL && n != NULL) {
        *disk_full = json_object_get_boolean(d);
        *refused = json_object_get_int64(n);
        ok = true;
    }
    json_object_put(o);
    h_run_free(&r);
    return ok;
}

/* `krctl status` of the sending node: why the broker refuses its pending
 * messages for now ("" if it does not). */
static void
s_refusing(struct s_test *t, char *out, size_t len)
{
    struct h_run r;

    out[0] = '\0';
    h_krctl(&r, "--node", t->c.nodes[t->vl].local, "status", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    const char *s = o ? h_json_str(o, "broker_refusing") : NULL;
    if (s != NULL)
        snprintf(out, len, "%s", s);
    json_object_put(o);
    h_run_free(&r);
}

static bool
s_refused_disk_full(struct s_test *t)
{
    char why[64];

    s_refusing(t, why, sizeof(why));
    return strcmp(why, "disk-full") == 0;
}

static size_t
s_pending(struct s_test *t)
{
    struct h_status st;

    if (h_status(h_node_client(&t->c, t->vl), &st) != KR_OK)
        return SIZE_MAX;
    return st.outbox_pending;
}

/* Send batches until the broker refuses with disk-full (the node's status
 * says so). Returns how many were sent. */
static size_t
s_fill(struct s_test *t, const char *what)
{
    kr_client_t *kv = h_node_client(&t->c, t->vl);
    size_t n = 0;
    bool ok, full = false;
    uint8_t id[16];

    for (int batch = 0; !full && n < S_MAX_SENDS; batch++) {
        for (int i = 0; i < S_BATCH; i++) {
            snprintf(t->text, sizeof(t->text), "disk seq=%05zu %s", t->sent.n,
                     t->pad);
            t->ref.reason_text = t->text;
            int rc = h_send_referral(kv, S_JGZ_ORG, &t->ref, NULL, id);
            H_ENSURE(rc == KR_OK, "libkr send %zu (%s)", t->sent.n,
                     kr_strerror(rc));
            h_idset_add(&t->sent, id);
            n++;
        }
        /* Every submit answered: accepted, or refused for now. */
        H_POLL(ok, 20000, s_refused_disk_full(t) || s_pending(t) == 0);
        H_REQUIRE(ok, "%s: batch %d: the broker answers every submit", what,
                  batch);
        full = s_refused_disk_full(t);
    }
    H_REQUIRE(full, "%s: the broker refuses with reason disk-full (%zu sent)",
              what, n);
    return n;
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

static void
s_walk(struct s_test *t, struct s_inbox *in)
{
    h_idset_free(&in->seen);
    memset(in, 0, sizeof(*in));
    in->sent = &t->sent;
    h_idset_init(&in->seen);
    h_inbox_foreach(h_node_client(&t->c, t->jgz), s_inbox_one, in);
}

static bool
s_all_delivered(struct s_test *t, struct h_outbox_stats *os)
{
    return h_outbox_stats(h_node_client(&t->c, t->vl), os) == KR_OK &&
           os->by_outcome[KR__V1__OUTCOME__DELIVERED] == t->sent.n;
}

/* JGZ back: everything sent arrives exactly once and is delivered at the
 * sender. */
static void
s_drain_all(struct s_test *t, const char *what)
{
    struct h_outbox_stats os;
    struct s_inbox in = {0};
    bool ok;

    h_idset_init(&in.seen);
    H_POLL(ok, 60000, s_all_delivered(t, &os));
    H_CHECK(ok,
            "%s: all %zu delivered at the sender (delivered %zu, accepted "
            "%zu, pending %zu, refused %zu)",
            what, t->sent.n, os.by_outcome[KR__V1__OUTCOME__DELIVERED],
            os.by_outcome[KR__V1__OUTCOME__ACCEPTED], os.by_outcome[0],
            os.by_outcome[KR__V1__OUTCOME__REFUSED]);
    s_walk(t, &in);
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
    struct h_outbox_stats os;
    char ballast[H_PATH + 32], why[64];
    uint64_t written, t0;
    bool ok, disk_full = false;
    long long refused = 0;

    h_init("disk_full", 280);
    h_referral_default(&t.ref);
    memset(t.pad, 'p', S_PAD);
    h_idset_init(&t.sent);
    h_cluster_init(&t.c, "disk_full");

    /* The broker's data directory on a small file system of its own. */
    int rc = h_tmpfs_mount(t.c.broker_dir, S_TMPFS_MB);
    if (rc == KR_EPERM) {
        printf("SKIP disk_full: mounting a tmpfs is not permitted here (run "
               "as root or with CAP_SYS_ADMIN)\n");
        h_rm_rf(t.c.tmp);
        return H_SKIP;
    }
    H_REQUIRE(rc == KR_OK,
              "mount a %d MiB tmpfs on the broker's data "
              "directory",
              S_TMPFS_MB);
    snprintf(ballast, sizeof(ballast), "%s/ballast", t.c.broker_dir);
    rc = h_ballast(ballast, S_ROOM, &written);
    H_REQUIRE(rc == KR_OK, "ballast leaves %u MiB free (%llu bytes written)",
              S_ROOM >> 20, (unsigned long long)written);

    /* The map is far larger than the disk: the disk is what fills. */
    h_broker_set(&t.c, "map_size_mb", "1024");
    h_broker_start(&t.c);
    t.vl = h_org_add(&t.c, "vl", S_VL_ORG, "verloskunde",
                     "Verloskundigenpraktijk De Wieg");
    t.jgz = h_org_add(&t.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_start(&t.c, t.vl);
    h_node_start(&t.c, t.jgz);
    if (!h_node_wait_connected(&t.c, t.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&t.c, t.jgz, H_CONNECT_MS))
        h_abort();
    H_REQUIRE(h_consent_default(&t.c, t.vl, t.jgz), "consent recorded");
    H_REQUIRE(h_node_stop(&t.c, t.jgz), "the JGZ node stops cleanly");

    /* 1. Fill the disk. */
    t0 = h_mono_ms();
    size_t n = s_fill(&t, "fill");
    h_note("%zu sends in %llu ms; disk free %llu bytes", n,
           (unsigned long long)(h_mono_ms() - t0),
           (unsigned long long)h_fs_free(t.c.broker_dir));
    H_CHECK(h_log_contains(t.c.nodes[t.vl].log, "reason=disk-full"),
            "the sending node logs the refusal's reason, disk-full");
    H_CHECK(h_log_contains(t.c.broker_log, "ALERT disk full"),
            "the broker logs that its disk is full");
    H_CHECK(!h_log_contains(t.c.nodes[t.vl].log, "reason=internal"),
            "no refusal says internal");
    /* More while it is full: all kept pending at the node. */
    kr_client_t *kv = h_node_client(&t.c, t.vl);
    for (int i = 0; i < S_MORE; i++) {
        uint8_t id[16];
        snprintf(t.text, sizeof(t.text), "disk seq=%05zu %s", t.sent.n, t.pad);
        t.ref.reason_text = t.text;
        rc = h_send_referral(kv, S_JGZ_ORG, &t.ref, NULL, id);
        H_ENSURE(rc == KR_OK, "libkr send (%s)", kr_strerror(rc));
        h_idset_add(&t.sent, id);
    }
    H_POLL(ok, 10000, s_pending(&t) >= S_MORE);
    H_CHECK(ok, "%d more sent on the full disk are kept pending (%zu)", S_MORE,
            s_pending(&t));
    ok = s_stats(&t, &disk_full, &refused);
    H_CHECK(ok && disk_full && refused > 0,
            "krctl stats: disk_full true, refused_full %lld", refused);
    s_refusing(&t, why, sizeof(why));
    H_CHECK(strcmp(why, "disk-full") == 0,
            "krctl status of the sending node: broker_refusing \"%s\"", why);
    H_CHECK(h_proc_alive(&t.c.broker), "krbroker still runs on a full disk");
    struct h_run r;
    h_krctl(&r, "--admin", t.c.admin, "stats", NULL);
    H_CHECK(r.code == 0 && strstr(r.out, "DISK FULL") != NULL,
            "krctl stats says DISK FULL in words");
    h_run_free(&r);
    H_REQUIRE(h_outbox_stats(h_node_client(&t.c, t.vl), &os) == KR_OK,
              "read the sender's outbox");
    size_t accepted = os.by_outcome[KR__V1__OUTCOME__ACCEPTED];
    h_note("at the full disk: %zu accepted, %zu pending", accepted,
           os.by_outcome[0]);
    H_CHECK(accepted > 0 && os.by_outcome[0] > 0 &&
                accepted + os.by_outcome[0] == t.sent.n,
            "each message is accepted or kept pending (%zu + %zu of %zu)",
            accepted, os.by_outcome[0], t.sent.n);

    /* 2. The drain, with the disk still full: acks commit and free the
     * payloads' pages; then what was refused is taken too. */
    H_CHECK(h_fs_free(t.c.broker_dir) < S_ROOM / 4,
            "the disk is still full when JGZ comes back (%llu free)",
            (unsigned long long)h_fs_free(t.c.broker_dir));
    t0 = h_mono_ms();
    h_node_start(&t.c, t.jgz);
    struct s_inbox in = {0};
    h_idset_init(&in.seen);
    H_POLL(ok, 30000, (s_walk(&t, &in), in.seen.n >= accepted));
    H_CHECK(ok,
            "the backlog drains on a full disk: JGZ receives the %zu "
            "accepted (%zu, %llu ms)",
            accepted, in.seen.n, (unsigned long long)(h_mono_ms() - t0));
    s_drain_all(&t, "after the drain");
    s_refusing(&t, why, sizeof(why));
    H_CHECK(why[0] == '\0',
            "the node's status no longer names a refusal "
            "(\"%s\")",
            why);

    /* 3. Full again; then space returns: the refused ones are taken
     * within seconds, not after a backoff. */
    H_REQUIRE(h_node_stop(&t.c, t.jgz), "the JGZ node stops again");
    s_fill(&t, "fill again");
    H_REQUIRE(unlink(ballast) == 0, "delete the ballast");
    t0 = h_mono_ms();
    H_POLL(ok, 15000, s_pending(&t) == 0);
    uint64_t took = h_mono_ms() - t0;
    H_CHECK(ok && took < (uint64_t)h_scale(5000),
            "space returned: the refused messages are accepted in %llu ms "
            "(under 5 s)",
            (unsigned long long)took);
    ok = s_stats(&t, &disk_full, &refused);
    H_CHECK(ok && !disk_full, "krctl stats: disk_full false again");
    h_node_start(&t.c, t.jgz);
    s_drain_all(&t, "at the end");
    h_roundtrip(&t.c, t.vl, t.jgz, "a new message after the full disk", 20000);

    /* 4. The logs do not flood. */
    int lines = h_log_count(t.c.broker_log, "");
    int vl_lines = h_log_count(t.c.nodes[t.vl].log, "");
    h_note("log lines: broker %d, node vl %d, node jgz %d", lines, vl_lines,
           h_log_count(t.c.nodes[t.jgz].log, ""));
    H_CHECK(lines < 400 && vl_lines < 200,
            "the logs stay short (broker %d lines, node %d)", lines, vl_lines);

    h_idset_free(&in.seen);
    h_idset_free(&t.sent);
    for (int i = 0; i < t.c.nnodes; i++)
        h_node_stop(&t.c, i);
    h_broker_stop(&t.c);
    H_CHECK(h_tmpfs_umount(t.c.broker_dir) == KR_OK, "unmount the tmpfs");
    return h_finish(&t.c);
}
