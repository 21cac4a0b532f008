/*
 * match_store.c - krbench_match: what a match costs with many signals
 * stored. It fills a broker store (the real bstore_signal_* functions, in
 * a temporary directory) with N signals of distinct subjects, and times
 * the matcher's reads for one new signal (the subject's signals and its
 * links) against an empty store and against the full one, in the same
 * run. Not a test: it prints figures.
 *
 *   krbench_match [N]   (default 1000000)
 *
 * krbench's "signals" scenario also uses it to fill a stopped broker's
 * store before it starts again:
 *
 *   krbench_match --fill-signals DIR N   N signals of distinct subjects
 *   krbench_match --fill-finals DIR N    N final message records, final
 *                                        a day ago: due for retention
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bstore.h"
#include "bstore_retention.h"
#include "bstore_signal.h"
#include "crypto.h"
#include "util.h"

#define S_BATCH 10000
#define S_PROBES 100000

static uint64_t
s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
s_count(Kr__V1__SignalRecord *r, void *arg)
{
    (void)r;
    (*(size_t *)arg)++;
    return 0;
}

static void
s_subject(uint64_t i, uint8_t out[32])
{
    memset(out, 0, 32);
    /* Spread like HMAC output: the index's hash. */
    kcrypto_hash((const uint8_t *)&i, sizeof(i), out);
}

/* The matcher's reads for S_PROBES subjects (half stored, half not). */
static double
s_probe(struct broker_store *st, uint64_t n, size_t *found)
{
    uint8_t subj[32], links[8][32];
    size_t nl;
    MDB_txn *txn;

    *found = 0;
    if (bstore_begin(st, true, &txn) != 0)
        return -1;
    uint64_t t0 = s_now_ns();
    for (uint64_t i = 0; i < S_PROBES; i++) {
        uint64_t k = (i % 2 == 0 && n > 0) ? (i * 7919) % n : n + i;
        s_subject(k, subj);
        bstore_signal_scan(st, txn, subj, 256, NULL, s_count, found);
        bstore_link_list(st, txn, subj, 8, links, &nl);
    }
    uint64_t t1 = s_now_ns();
    bstore_abort(txn);
    return (double)(t1 - t0) / 1000.0 / S_PROBES;
}

/* N signals into the store, S_BATCH a commit. 0 or 1. */
static int
s_fill_signals(struct broker_store *st, uint64_t n)
{
    for (uint64_t i = 0; i < n;) {
        MDB_txn *txn;
        if (bstore_begin(st, false, &txn) != 0)
            return 1;
        for (uint64_t j = 0; j < S_BATCH && i < n; j++, i++) {
            Kr__V1__SignalRecord r = KR__V1__SIGNAL_RECORD__INIT;
            uint8_t subj[32], id[16];
            s_subject(i, subj);
            util_time_ordered_id(id);
            r.signal_id = (ProtobufCBinaryData){16, id};
            r.subject_pseudonym = (ProtobufCBinaryData){32, subj};
            r.org_id = i % 2 ? "ura:00005678" : "oin:00000001000000000001";
            r.category = i % 2 ? 4 : 5;
            r.purpose = "signaal-kansrijke-start";
            r.data_category = 1;
            r.made_at_ms = util_now_ms();
            r.expires_at_ms = r.made_at_ms + 730ull * 86400000ull;
            if (bstore_signal_put(st, txn, &r) != 0) {
                fprintf(stderr, "krbench_match: store full at %llu\n",
                        (unsigned long long)i);
                bstore_abort(txn);
                return 1;
            }
        }
        if (bstore_commit(txn) != 0)
            return 1;
    }
    return 0;
}

/* N message records made final a day ago, as a delivered message leaves
 * them (no payload; hash and signature kept). 0 or 1. */
static int
s_fill_finals(struct broker_store *st, uint64_t n)
{
    uint64_t at = util_now_ms() - 86400000ull;
    uint8_t hash[32], sig[64];

    memset(hash, 0x11, sizeof(hash));
    memset(sig, 0x22, sizeof(sig));
    for (uint64_t i = 0; i < n;) {
        MDB_txn *txn;
        if (bstore_begin(st, false, &txn) != 0)
            return 1;
        for (uint64_t j = 0; j < S_BATCH && i < n; j++, i++) {
            Kr__V1__StoredMessage m = KR__V1__STORED_MESSAGE__INIT;
            uint8_t id[16];
            util_time_ordered_id(id);
            m.envelope_hash = (ProtobufCBinaryData){32, hash};
            m.signature = (ProtobufCBinaryData){64, sig};
            m.sender = "ura:00000001";
            m.recipient = "ura:00000002";
            m.state = KR__V1__MESSAGE_STATE__STATE_DELIVERED;
            m.accepted_at_ms = at;
            m.final_at_ms = at;
            m.type = KR__V1__MESSAGE_TYPE__REFERRAL;
            if (bstore_msg_put(st, txn, id, &m) != 0 ||
                bstore_final_put(st, txn, at, id) != 0) {
                fprintf(stderr, "krbench_match: store full at %llu\n",
                        (unsigned long long)i);
                bstore_abort(txn);
                return 1;
            }
        }
        if (bstore_commit(txn) != 0)
            return 1;
    }
    return 0;
}

/* --fill-signals DIR N | --fill-finals DIR N: an existing (stopped)
 * broker's store. */
static int
s_fill(const char *mode, const char *dir, const char *count)
{
    struct broker_store *st = NULL;
    uint64_t n = strtoull(count, NULL, 10);
    int rc;

    if (n == 0 || bstore_open(dir, 8192, false, &st) != 0) {
        fprintf(stderr, "krbench_match: cannot open the store in %s\n", dir);
        return 1;
    }
    uint64_t t0 = s_now_ns();
    rc = strcmp(mode, "--fill-signals") == 0 ? s_fill_signals(st, n)
                                             : s_fill_finals(st, n);
    bstore_close(&st);
    if (rc == 0)
        printf("filled %llu in %.1f s\n", (unsigned long long)n,
               (double)(s_now_ns() - t0) / 1e9);
    return rc;
}

int
main(int argc, char **argv)
{
    uint64_t n = 1000000;
    char dir[] = "/tmp/krbench-match-XXXXXX";
    struct broker_store *st = NULL;
    size_t found;

    if (argc == 4 && (strcmp(argv[1], "--fill-signals") == 0 ||
                      strcmp(argv[1], "--fill-finals") == 0))
        return s_fill(argv[1], argv[2], argv[3]);
    if (argc > 1 && (n = strtoull(argv[1], NULL, 10)) == 0) {
        fprintf(stderr, "usage: krbench_match [N]\n");
        return 2;
    }
    if (mkdtemp(dir) == NULL || bstore_open(dir, 4096, true, &st) != 0) {
        fprintf(stderr, "krbench_match: cannot open a store in %s\n", dir);
        return 1;
    }
    double empty = s_probe(st, 0, &found);
    uint64_t t0 = s_now_ns();
    if (s_fill_signals(st, n) != 0)
        return 1;
    double fill_s = (double)(s_now_ns() - t0) / 1e9;
    double full = s_probe(st, n, &found);
    uint64_t count = 0, ixn = 0, ixbytes = 0;
    MDB_txn *txn;
    if (bstore_begin(st, true, &txn) == 0) {
        bstore_signal_count(st, txn, &count);
        bstore_abort(txn);
    }
    /* Opened again: what the broker's start costs to rebuild the subject
     * index from the store (the file is in the page cache here). */
    bstore_close(&st);
    t0 = s_now_ns();
    if (bstore_open(dir, 4096, true, &st) != 0) {
        fprintf(stderr, "krbench_match: cannot open the store again\n");
        return 1;
    }
    double open_ms = (double)(s_now_ns() - t0) / 1e6;
    bstore_signal_index_size(st, &ixn, &ixbytes);
    printf("match_empty_us %.2f\n", empty);
    printf("match_full_us %.2f\n", full);
    printf("match_full_vs_empty %.2f\n", empty > 0 ? full / empty : 0);
    printf("match_signals_stored %llu\n", (unsigned long long)count);
    printf("match_found_per_probe %.2f\n", (double)found / S_PROBES);
    printf("match_fill_signals_per_s %.0f\n", fill_s > 0 ? n / fill_s : 0);
    printf("match_open_with_index_ms %.0f\n", open_ms);
    printf("match_index_signals %llu\n", (unsigned long long)ixn);
    printf("match_index_bytes_per_signal %.1f\n",
           ixn > 0 ? (double)ixbytes / (double)ixn : 0);
    bstore_close(&st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
