/*
 * pcnode.c - the node scenario of the power-cut harness (pcrun.h,
 * README.md here): adapter processes send through vl's node while JGZ's
 * node takes the broker's deliveries; both nodes are cut, and each image
 * must hold every msg_id handed to an adapter and every delivery JGZ's
 * node acknowledged.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "pcrun.h"
#include "util.h"

/*
 * The node scenario: adapters send through vl's node, JGZ's node takes
 * the deliveries; both nodes are cut, the broker is not.
 */

struct s_sender {
    bool named; /* brings its own msg_ids: the node sends ahead (22) */
    char endpoint[H_PATH];
    char out[2 * H_PATH]; /* one hex msg_id a line, once kr_send said yes */
};

static struct s_sender s_senders[PCR_SENDERS];

static int
s_sender_run(void *arg)
{
    const struct s_sender *s = arg;
    struct h_referral ref;
    kr_client_t *kc = NULL;
    int fd = open(s->out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    int last_rc = KR_OK;

    if (fd < 0 || kr_client_connect(s->endpoint, 2000, &kc) != KR_OK) {
        fprintf(stderr, "sender %s: cannot start\n", s->out);
        return 2;
    }
    h_referral_default(&ref);
    ref.reason_text = "power cut";
    /* Until killed: the harness kills this process with the nodes. */
    for (long i = 0; i < 100000000L; i++) {
        uint8_t id[16], mine[16];
        char line[40];
        randombytes_buf(mine, sizeof(mine));
        int rc =
            h_send_referral(kc, PCR_JGZ_ORG, &ref, s->named ? mine : NULL, id);
        if (rc != KR_OK) {
            /* Said when it changes, so that a sender that never gets an
             * answer leaves the reason in sender.log. */
            if (rc != last_rc)
                fprintf(stderr, "sender %s: send %ld: %s\n", s->out, i,
                        kr_strerror(rc));
            last_rc = rc;
            h_sleep_ms(5);
            continue;
        }
        last_rc = KR_OK;
        h_hex16(id, line);
        line[32] = '\n';
        if (write(fd, line, 33) != 33)
            return 2;
    }
    return 0;
}

static int
s_hexval(int ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                    : -1;
}

/* Read a sender's file of ids into pct.handed; the number of lines. */
static size_t
s_read_handed(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[64];
    size_t n = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        uint8_t id[16];
        bool ok = strlen(line) >= 32;
        for (int i = 0; ok && i < 16; i++) {
            int hi = s_hexval(line[2 * i]), lo = s_hexval(line[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            id[i] = (uint8_t)(hi << 4 | lo);
        }
        if (ok) {
            pcr_ids_add(&pct.handed, id);
            n++;
        }
    }
    fclose(f);
    return n;
}

static size_t
s_file_lines(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size / 33 : 0;
}

/* The broker's view: every message to JGZ it marked delivered, which it
 * does only when JGZ's node acknowledged it. Read from its store (it
 * keeps running), into pct.delivered; returns how many there are. */
static size_t
s_read_delivered(bool add)
{
    struct h_store s;
    MDB_dbi idx, msgs;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t n = 0;

    H_ENSURE(h_store_open(&pct.c, &s) == KR_OK &&
                 h_store_dbi(&s, "msg_index", &idx) == KR_OK &&
                 h_store_dbi(&s, "messages", &msgs) == KR_OK &&
                 mdb_cursor_open(s.txn, idx, &cur) == 0,
             "read the broker's store");
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        MDB_val m;
        if (k.mv_size != 16 || mdb_get(s.txn, msgs, &v, &m) != 0)
            continue;
        Kr__V1__StoredMessage *sm =
            kr__v1__stored_message__unpack(NULL, m.mv_size, m.mv_data);
        if (sm == NULL)
            continue;
        if (sm->state == KR__V1__MESSAGE_STATE__STATE_DELIVERED &&
            strcmp(sm->recipient, PCR_JGZ_ORG) == 0) {
            n++;
            if (add)
                pcr_ids_add(&pct.delivered, k.mv_data);
        }
        kr__v1__stored_message__free_unpacked(sm, NULL);
    }
    mdb_cursor_close(cur);
    h_store_close(&s);
    return n;
}

struct s_list {
    struct h_idset seen;
};

static int
s_list_out(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_list *l = arg;
    if (it->msg_id.len == 16)
        h_idset_add(&l->seen, it->msg_id.data);
    return 0;
}

static int
s_list_in(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_list *l = arg;
    if (it->msg_id.len == 16)
        h_idset_add(&l->seen, it->msg_id.data);
    return 0;
}

static void
s_node_check_image(int cut, int i, enum pc_variant v)
{
    struct h_node *n = &pct.c.nodes[i];
    bool sender = i == pct.vl;
    const struct pcr_ids *want = sender ? &pct.handed : &pct.delivered;
    const char *what = sender ? "sending node (outbox)"
                              : "receiving node "
                                "(inbox)";
    char why[512], first[33] = "-", name[64], store[2 * H_PATH];
    size_t missing = 0, walk_missing = 0;
    kr_client_t *kc = NULL;
    struct s_list l;
    int rc;

    snprintf(name, sizeof(name), "krnode %s", n->label);
    snprintf(store, sizeof(store), "%s/node.mdb", n->dir);
    enum pcr_start s = pcr_try_start(&n->proc, name, H_KRNODE, n->conf, n->log,
                                     pcr_node_up, n, why, sizeof(why));
    pct.images_checked++;
    if (s != PCR_UP) {
        pcr_refused(cut, what, v, s, why, n->log);
        return;
    }
    if (pcr_walk(store, true, NULL, &walk_missing, first, why, sizeof(why)) !=
        0)
        H_REQUIRE(false,
                  "cut %d, %s, %s image: every tree of the store reads "
                  "(%s; replay with --seed %" PRIu64 ")",
                  cut + 1, what, pc_variant_name(v), why, pct.seed);
    /* What the node serves, through libkr as an adapter sees it. */
    h_idset_init(&l.seen);
    rc = kr_client_connect(n->local, 5000, &kc);
    H_REQUIRE(rc == KR_OK, "connect to %s (%s)", name, kr_strerror(rc));
    rc = sender ? h_outbox_foreach_all(kc, s_list_out, &l)
                : h_inbox_foreach_all(kc, s_list_in, &l);
    kr_client_destroy(&kc);
    H_REQUIRE(rc == KR_OK, "cut %d, %s, %s image: the node lists it (%s)",
              cut + 1, what, pc_variant_name(v), kr_strerror(rc));
    for (size_t j = 0; j < want->n; j++)
        if (h_idset_count(&l.seen, want->id[j]) == 0 && missing++ == 0)
            h_hex16(want->id[j], first);
    h_idset_free(&l.seen);
    if (missing > 0)
        pcr_loss(cut, what, v, missing, want->n, first);
    pcr_stop_checked(&n->proc);
}

void
pcr_node_cut(int k)
{
    char log_path[2][2 * H_PATH], base[2][2 * H_PATH], next[2][2 * H_PATH];
    char store[2][2 * H_PATH], slog[2 * H_PATH];
    int idx[2] = {pct.vl, pct.jgz};
    static struct h_proc senders[PCR_SENDERS]; /* static: see pcr_walk */
    bool have_base = k > 0;

    for (int j = 0; j < 2; j++) {
        struct h_node *n = &pct.c.nodes[idx[j]];
        snprintf(log_path[j], sizeof(log_path[j]), "%s/%s-%d.log", pct.dir,
                 n->label, k);
        snprintf(base[j], sizeof(base[j]), "%s/%s-base-%d.mdb", pct.dir,
                 n->label, k);
        snprintf(next[j], sizeof(next[j]), "%s/%s-base-%d.mdb", pct.dir,
                 n->label, k + 1);
        snprintf(store[j], sizeof(store[j]), "%s/node.mdb", n->dir);
        pcr_fresh_dir(n->dir);
        if (have_base)
            H_ENSURE(pcr_copy(base[j], store[j]) == 0, "copy %s's base",
                     n->label);
        pcr_rec_on(n->dir, "node.mdb", log_path[j]);
        h_node_start(&pct.c, idx[j]);
        pcr_rec_off();
    }
    for (int j = 0; j < 2; j++)
        if (!h_node_wait_connected(&pct.c, idx[j], H_CONNECT_MS))
            h_abort();
    if (k == 0)
        H_REQUIRE(h_consent_default(&pct.c, pct.vl, pct.jgz),
                  "consent recorded");
    /* No libkr client of ours lives across the fork below: the last one
     * closed ends libkr's ZeroMQ context and its threads, which could
     * otherwise hold a lock (the sanitizer's allocator's) at the fork
     * that a child then waits for: once, under ASan, the senders' sends
     * were never answered. */
    h_clients_close(&pct.c);

    /* Adapters send until the cut. */
    for (int j = 0; j < PCR_SENDERS; j++) {
        s_senders[j].named = j % 2 == 1;
        snprintf(s_senders[j].endpoint, sizeof(s_senders[j].endpoint), "%s",
                 pct.c.nodes[pct.vl].local);
        snprintf(s_senders[j].out, sizeof(s_senders[j].out),
                 "%s/handed-%d-%d.txt", pct.dir, k, j);
        snprintf(slog, sizeof(slog), "%s/sender.log", pct.c.tmp);
        H_ENSURE(h_proc_fork(&senders[j], "sender", slog, s_sender_run,
                             &s_senders[j]) == KR_OK,
                 "fork a sender");
    }
    bool ok;
    H_POLL(ok, 20000, s_file_lines(s_senders[0].out) > 0);
    H_REQUIRE(ok, "cut %d: the adapters' first sends are answered", k + 1);
    int ms = 20 + (int)pcr_rand(400);
    h_sleep_ms(ms); /* the cut's moment: random, on purpose */
    /* Both nodes die, in random order, a random moment apart. */
    int first = (int)pcr_rand(2);
    int gap = (int)pcr_rand(30);
    h_node_kill9(&pct.c, idx[first]);
    if (gap > 0)
        h_sleep_ms(gap);
    h_node_kill9(&pct.c, idx[1 - first]);
    for (int j = 0; j < PCR_SENDERS; j++)
        h_proc_kill9(&senders[j]);
    for (int j = 0; j < 2; j++)
        kr_client_destroy(&pct.c.nodes[idx[j]].kc);
    size_t handed = 0;
    for (int j = 0; j < PCR_SENDERS; j++) {
        handed += s_read_handed(s_senders[j].out);
        unlink(s_senders[j].out);
    }
    /* Acks that left JGZ's node before it died reach the broker within
     * a pass or two: wait until its count of delivered stops moving. */
    size_t prev = SIZE_MAX, cur = 0;
    for (int i = 0; i < 100; i++) {
        cur = s_read_delivered(false);
        if (cur == prev)
            break;
        prev = cur;
        h_sleep_ms(100);
    }
    s_read_delivered(true);
    h_note("cut %d: after %d ms, %s first, %d ms apart: %zu handed to "
           "adapters (%zu in all), %zu delivered in all",
           k + 1, ms, pct.c.nodes[idx[first]].label, gap, handed, pct.handed.n,
           pct.delivered.n);

    /* Images are checked with the broker stopped: a node started on one
     * image must not change what the broker knows before the next. */
    H_REQUIRE(h_broker_stop(&pct.c), "the broker stops for the checks");
    for (int j = 0; j < 2; j++) {
        struct pc_log *log = pcr_load_log(log_path[j]);
        struct pc_image_stats st;
        /* Both roles are checked even after a loss (--expect-loss), so
         * that the note says which of them the switch broke. */
        for (int v = 0; v < pct.images; v++) {
            const char *before =
                strstr(pct.loss_what, j ? "receiving" : "sending");
            pcr_fresh_dir(pct.c.nodes[idx[j]].dir);
            pcr_build(log, "node.mdb", have_base ? base[j] : NULL, store[j],
                      (enum pc_variant)v, &st);
            h_note("cut %d: %s %s image: %" PRIu64 " durable writes, %" PRIu64
                   " later, %" PRIu64 " of them in it, %" PRIu64
                   " pieces torn off",
                   k + 1, pct.c.nodes[idx[j]].label,
                   pc_variant_name((enum pc_variant)v), st.durable, st.later,
                   st.later_taken, st.pieces_torn);
            s_node_check_image(k, idx[j], (enum pc_variant)v);
            if (before == NULL &&
                strstr(pct.loss_what, j ? "receiving" : "sending") != NULL)
                break;
        }
        pcr_build(log, "node.mdb", have_base ? base[j] : NULL, next[j],
                  PC_IMG_DURABLE, &st);
        pc_log_free(&log);
        unlink(log_path[j]);
        if (have_base)
            unlink(base[j]);
    }
    h_broker_start(&pct.c);
}
