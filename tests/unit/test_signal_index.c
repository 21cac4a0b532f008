/* test_signal_index.c - the in-memory subject index of signals
 * (broker/signal_index.c) and the store's signal functions over it
 * (broker/bstore_signal.c): many adds and removes against a plain list,
 * fingerprints made to collide, the undo log on abort, lookups inside the
 * transaction that wrote, the index rebuilt when the store opens again,
 * and a schema 2 store's signals migrated at open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "bstore.h"
#include "bstore_internal.h"
#include "bstore_signal.h"
#include "crypto.h"
#include "kr.h"
#include "log.h"
#include "signal_index.h"
#include "util.h"

/* A deterministic id per number: the big-endian number, then a tag. */
static void
s_id(uint32_t i, uint8_t id[16])
{
    memset(id, 0xa5, 16);
    id[0] = (uint8_t)(i >> 24);
    id[1] = (uint8_t)(i >> 16);
    id[2] = (uint8_t)(i >> 8);
    id[3] = (uint8_t)i;
}

static void
s_subject(uint32_t i, uint8_t out[32])
{
    kcrypto_hash((const uint8_t *)&i, sizeof(i), out);
}

/* Whether the index holds (fp, id). */
static bool
s_has(const struct signal_index *ix, uint64_t fp, const uint8_t id[16])
{
    uint8_t ids[64][16];
    size_t n = signal_index_find(ix, fp, ids, 64);

    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        if (memcmp(ids[i], id, 16) == 0)
            return true;
    return false;
}

/* 200,000 adds (the table grows from its minimum), half removed, every
 * one looked up: present exactly when the plain list says so. */
static void
test_many(void **state)
{
    enum { N = 200000 };
    struct signal_index *ix = signal_index_new(0);
    uint64_t *fp = xmalloc(N * sizeof(*fp));
    uint8_t subj[32], id[16];

    (void)state;
    for (uint32_t i = 0; i < N; i++) {
        s_subject(i, subj);
        fp[i] = signal_index_fp(ix, subj);
        assert_true(fp[i] != 0);
        s_id(i, id);
        signal_index_load(ix, fp[i], id);
    }
    assert_int_equal(signal_index_count(ix), N);
    /* At most 3/4 full, at least half (it grows by half). */
    assert_true(signal_index_slots(ix) * 3 >= (size_t)N * 4);
    assert_true(signal_index_slots(ix) <= (size_t)N * 2);
    for (uint32_t i = 0; i < N; i += 2) {
        s_id(i, id);
        assert_int_equal(signal_index_remove(ix, fp[i], id), KR_OK);
        assert_int_equal(signal_index_remove(ix, fp[i], id), KR_ENOTFOUND);
    }
    signal_index_commit(ix);
    assert_int_equal(signal_index_count(ix), N / 2);
    for (uint32_t i = 0; i < N; i++) {
        s_id(i, id);
        assert_int_equal(s_has(ix, fp[i], id), i % 2 == 1);
    }
    /* A subject never added finds nothing. */
    s_subject(N + 7, subj);
    assert_int_equal(signal_index_find(ix, signal_index_fp(ix, subj), NULL, 0),
                     0);
    free(fp);
    signal_index_destroy(&ix);
    assert_null(ix);
}

/* Every fingerprint one of 8 values: long runs that wrap around the table
 * end, removals in the middle of runs (backward shift), ids found only
 * under their own fingerprint. */
static void
test_collisions(void **state)
{
    enum { N = 600 };
    struct signal_index *ix = signal_index_new(0);
    uint8_t subj[32], id[16], ids[N][16];
    uint64_t fp[N];
    size_t per[8] = {0};

    (void)state;
    signal_index_set_fp_mask(ix, 7);
    for (uint32_t i = 0; i < N; i++) {
        s_subject(i, subj);
        fp[i] = signal_index_fp(ix, subj);
        assert_true(fp[i] >= 1 && fp[i] <= 7);
        per[fp[i]]++;
        s_id(i, id);
        signal_index_add(ix, fp[i], id);
    }
    signal_index_commit(ix);
    for (uint64_t f = 1; f <= 7; f++)
        assert_int_equal(signal_index_find(ix, f, ids, N), per[f]);
    /* Remove every third, then all must still be found or not. */
    for (uint32_t i = 0; i < N; i += 3) {
        s_id(i, id);
        assert_int_equal(signal_index_remove(ix, fp[i], id), KR_OK);
        per[fp[i]]--;
    }
    for (uint64_t f = 1; f <= 7; f++)
        assert_int_equal(signal_index_find(ix, f, ids, N), per[f]);
    for (uint32_t i = 0; i < N; i++) {
        s_id(i, id);
        size_t n = signal_index_find(ix, fp[i], ids, N);
        bool found = false;
        for (size_t k = 0; k < n; k++)
            found |= memcmp(ids[k], id, 16) == 0;
        assert_int_equal(found, i % 3 != 0);
        /* Not under another fingerprint. */
        uint64_t other = fp[i] % 7 + 1;
        n = signal_index_find(ix, other, ids, N);
        for (size_t k = 0; k < n; k++)
            assert_true(memcmp(ids[k], id, 16) != 0 || i % 3 == 0);
    }
    signal_index_destroy(&ix);
}

/* The undo log: a rollback restores the table exactly as the last commit
 * left it, through growth, removals and re-adds of the same pair. */
static void
test_rollback(void **state)
{
    enum { BASE = 700, MORE = 3000 };
    struct signal_index *ix = signal_index_new(0);
    uint8_t subj[32], id[16];
    uint64_t fp[BASE + MORE];

    (void)state;
    for (uint32_t i = 0; i < BASE + MORE; i++) {
        s_subject(i, subj);
        fp[i] = signal_index_fp(ix, subj);
    }
    for (uint32_t i = 0; i < BASE; i++) {
        s_id(i, id);
        signal_index_add(ix, fp[i], id);
    }
    signal_index_commit(ix);
    size_t slots0 = signal_index_slots(ix);

    /* One "pass": add MORE (the table grows), remove some old, remove and
     * add back one, then abort. */
    for (uint32_t i = BASE; i < BASE + MORE; i++) {
        s_id(i, id);
        signal_index_add(ix, fp[i], id);
    }
    assert_true(signal_index_slots(ix) > slots0);
    for (uint32_t i = 0; i < BASE; i += 5) {
        s_id(i, id);
        assert_int_equal(signal_index_remove(ix, fp[i], id), KR_OK);
    }
    s_id(1, id);
    assert_int_equal(signal_index_remove(ix, fp[1], id), KR_OK);
    signal_index_add(ix, fp[1], id);
    signal_index_rollback(ix);

    assert_int_equal(signal_index_count(ix), BASE);
    for (uint32_t i = 0; i < BASE + MORE; i++) {
        s_id(i, id);
        assert_int_equal(s_has(ix, fp[i], id), i < BASE);
    }
    /* A commit forgets the log: a rollback after it changes nothing. */
    s_id(BASE, id);
    signal_index_add(ix, fp[BASE], id);
    signal_index_commit(ix);
    signal_index_rollback(ix);
    assert_true(s_has(ix, fp[BASE], id));
    assert_int_equal(signal_index_count(ix), BASE + 1);
    signal_index_destroy(&ix);
}

/* The store over the index. */
struct s_store {
    char dir[64];
    struct broker_store *st;
};

static int
s_store_setup(void **state)
{
    static struct s_store s;

    memset(&s, 0, sizeof(s));
    snprintf(s.dir, sizeof(s.dir), "/tmp/kr-test-sigidx.XXXXXX");
    assert_non_null(mkdtemp(s.dir));
    assert_int_equal(bstore_open(s.dir, 64, true, &s.st), 0);
    *state = &s;
    return 0;
}

static int
s_store_teardown(void **state)
{
    struct s_store *s = *state;
    char cmd[128];

    bstore_close(&s->st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
s_record(Kr__V1__SignalRecord *r, const uint8_t id[16], const uint8_t subj[32],
         const char *org)
{
    Kr__V1__SignalRecord init = KR__V1__SIGNAL_RECORD__INIT;

    *r = init;
    r->signal_id = (ProtobufCBinaryData){16, (uint8_t *)id};
    r->subject_pseudonym = (ProtobufCBinaryData){32, (uint8_t *)subj};
    r->org_id = (char *)org;
    r->category = 4;
    r->purpose = "signaal-kansrijke-start";
    r->made_at_ms = 1000;
    r->expires_at_ms = 5000;
}

struct s_seen {
    size_t n;
    char orgs[8][32];
};

static int
s_seen_fn(Kr__V1__SignalRecord *r, void *arg)
{
    struct s_seen *s = arg;

    if (s->n < 8)
        snprintf(s->orgs[s->n], sizeof(s->orgs[0]), "%s", r->org_id);
    s->n++;
    kr__v1__signal_record__free_unpacked(r, NULL);
    return 0;
}

static size_t
s_scan(struct broker_store *st, MDB_txn *txn, const uint8_t subj[32],
       struct s_seen *seen)
{
    memset(seen, 0, sizeof(*seen));
    assert_int_equal(
        bstore_signal_scan(st, txn, subj, 256, NULL, s_seen_fn, seen), 0);
    return seen->n;
}

static size_t
s_scan_committed(struct broker_store *st, const uint8_t subj[32])
{
    struct s_seen seen;
    MDB_txn *txn;

    assert_int_equal(bstore_begin(st, true, &txn), 0);
    size_t n = s_scan(st, txn, subj, &seen);
    bstore_abort(txn);
    return n;
}

/* Two organisations signal one subject in one transaction: the second
 * finds the first before the commit. An abort takes both out of the
 * index; a commit keeps them; a delete that aborts leaves the signal. */
static void
test_store_txn(void **state)
{
    struct s_store *s = *state;
    uint8_t subj[32], id1[16], id2[16];
    Kr__V1__SignalRecord r1, r2, *got = NULL;
    struct s_seen seen;
    MDB_txn *txn;

    s_subject(42, subj);
    s_id(1, id1); /* id1 < id2: as two made one after the other */
    s_id(2, id2);
    s_record(&r1, id1, subj, "ura:00000001");
    s_record(&r2, id2, subj, "oin:00000001000000000002");

    for (int round = 0; round < 2; round++) {
        assert_int_equal(bstore_begin(s->st, false, &txn), 0);
        assert_int_equal(bstore_signal_put(s->st, txn, &r1), 0);
        assert_int_equal(s_scan(s->st, txn, subj, &seen), 1);
        assert_int_equal(bstore_signal_put(s->st, txn, &r2), 0);
        assert_int_equal(s_scan(s->st, txn, subj, &seen), 2);
        /* Oldest id first. */
        assert_string_equal(seen.orgs[0], "ura:00000001");
        assert_string_equal(seen.orgs[1], "oin:00000001000000000002");
        assert_int_equal(
            bstore_signal_get(s->st, txn, subj, "oin:00000001000000000002",
                              "signaal-kansrijke-start", NULL, &got),
            0);
        assert_memory_equal(got->signal_id.data, id2, 16);
        kr__v1__signal_record__free_unpacked(got, NULL);
        assert_int_equal(bstore_signal_get(s->st, txn, subj, "ura:00000009",
                                           "signaal-kansrijke-start", NULL,
                                           &got),
                         KR_ENOTFOUND);
        /* The same id twice is refused, and the index is unchanged. */
        assert_int_equal(bstore_signal_put(s->st, txn, &r1), KR_EEXIST);
        if (round == 0) {
            bstore_abort(txn);
            assert_int_equal(signal_index_count(s->st->sigidx), 0);
            assert_int_equal(s_scan_committed(s->st, subj), 0);
        } else {
            assert_int_equal(bstore_commit(txn), 0);
            assert_int_equal(signal_index_count(s->st->sigidx), 2);
            assert_int_equal(s_scan_committed(s->st, subj), 2);
        }
    }
    /* A delete (as erasure, withdrawal and expiry do) that aborts. */
    assert_int_equal(bstore_begin(s->st, false, &txn), 0);
    assert_int_equal(bstore_signal_del(s->st, txn, &r1), 0);
    assert_int_equal(s_scan(s->st, txn, subj, &seen), 1);
    assert_int_equal(bstore_signal_get_id(s->st, txn, id1, NULL, &got),
                     KR_ENOTFOUND);
    bstore_abort(txn);
    assert_int_equal(s_scan_committed(s->st, subj), 2);
    /* And one that commits: gone from LMDB and from the index. */
    assert_int_equal(bstore_begin(s->st, false, &txn), 0);
    assert_int_equal(bstore_signal_del(s->st, txn, &r1), 0);
    assert_int_equal(bstore_commit(txn), 0);
    assert_int_equal(s_scan_committed(s->st, subj), 1);
    assert_int_equal(signal_index_count(s->st->sigidx), 1);

    /* Opened again: the index is rebuilt from what was committed. */
    bstore_close(&s->st);
    assert_int_equal(bstore_open(s->dir, 64, true, &s->st), 0);
    assert_int_equal(signal_index_count(s->st->sigidx), 1);
    assert_int_equal(s_scan_committed(s->st, subj), 1);
    uint8_t ids[4][16];
    size_t n = 0;
    assert_int_equal(bstore_begin(s->st, true, &txn), 0);
    assert_int_equal(bstore_signal_due(s->st, txn, 5000, 4, ids, &n), 0);
    bstore_abort(txn);
    assert_int_equal(n, 1);
    assert_memory_equal(ids[0], id2, 16);
}

/* Subjects whose fingerprints collide (mask 3): a scan reads the other
 * subjects' records and passes only its own. */
static void
test_store_collisions(void **state)
{
    enum { N = 300 };
    struct s_store *s = *state;
    uint8_t subj[N][32], id[N][16];
    Kr__V1__SignalRecord r;
    struct s_seen seen;
    MDB_txn *txn;

    signal_index_set_fp_mask(s->st->sigidx, 3);
    assert_int_equal(bstore_begin(s->st, false, &txn), 0);
    for (uint32_t i = 0; i < N; i++) {
        s_subject(1000 + i, subj[i]);
        util_time_ordered_id(id[i]);
        s_record(&r, id[i], subj[i], i % 2 ? "ura:00000001" : "ura:00000002");
        assert_int_equal(bstore_signal_put(s->st, txn, &r), 0);
    }
    assert_int_equal(bstore_commit(txn), 0);
    assert_int_equal(bstore_begin(s->st, true, &txn), 0);
    for (uint32_t i = 0; i < N; i++) {
        assert_int_equal(s_scan(s->st, txn, subj[i], &seen), 1);
        assert_string_equal(seen.orgs[0],
                            i % 2 ? "ura:00000001" : "ura:00000002");
    }
    bstore_abort(txn);
}

/* A pass whose store fills up: LMDB refuses a put (map full), the commit
 * of that transaction fails, and the index holds just what was committed
 * before, as LMDB does. */
static void
test_store_full(void **state)
{
    char dir[64], cmd[128];
    struct broker_store *st = NULL;
    uint8_t subj[32], id[16], first[32];
    Kr__V1__SignalRecord r;
    MDB_txn *txn;
    uint64_t count = 0;
    uint32_t i;
    int rc = 0;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kr-test-sigfull.XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(bstore_open(dir, 1, true, &st), 0); /* a 1 MiB map */
    s_subject(0, first);
    assert_int_equal(bstore_begin(st, false, &txn), 0);
    for (i = 0; i < 10; i++) {
        s_subject(i, subj);
        s_id(i, id);
        s_record(&r, id, subj, "ura:00000001");
        assert_int_equal(bstore_signal_put(st, txn, &r), 0);
    }
    assert_int_equal(bstore_commit(txn), 0);
    assert_int_equal(bstore_begin(st, false, &txn), 0);
    /* Same subject as the first: the pass's own lookups see them. */
    for (i = 10; i < 100000 && rc == 0; i++) {
        s_id(i, id);
        s_record(&r, id, first, i % 2 ? "ura:00000002" : "ura:00000003");
        rc = bstore_signal_put(st, txn, &r);
    }
    assert_int_equal(rc, KR_EFULL);
    assert_true(signal_index_count(st->sigidx) > 10);
    assert_int_not_equal(bstore_commit(txn), 0);
    assert_int_equal(signal_index_count(st->sigidx), 10);
    assert_int_equal(s_scan_committed(st, first), 1);
    assert_int_equal(bstore_begin(st, true, &txn), 0);
    assert_int_equal(bstore_signal_count(st, txn, &count), 0);
    bstore_abort(txn);
    assert_int_equal(count, 10);
    bstore_close(&st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A schema 2 store, written with LMDB as the old broker wrote it: opened,
 * its signals are under their ids, found by subject, due as before, and
 * the old trees are gone. */
static void
test_migrate(void **state)
{
    char dir[64], cmd[128];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, sig, ids, due;
    uint8_t subj[3][32], id[3][16];
    struct broker_store *st = NULL;

    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kr-test-sigmig.XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
    assert_int_equal(mdb_dbi_open(txn, "signals", MDB_CREATE, &sig), 0);
    assert_int_equal(mdb_dbi_open(txn, "signal_ids", MDB_CREATE, &ids), 0);
    assert_int_equal(mdb_dbi_open(txn, "signal_due", MDB_CREATE, &due), 0);
    MDB_val k = {6, "schema"}, v = {1, "2"};
    assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
    for (uint32_t i = 0; i < 3; i++) {
        Kr__V1__SignalRecord r;
        uint8_t key[128], buf[256], dkey[24];
        const char *org = i == 2 ? "ura:00000002" : "ura:00000001";
        s_subject(i == 2 ? 0 : i, subj[i]); /* 0 and 2: one subject */
        s_id(10 + i, id[i]);
        s_record(&r, id[i], subj[i], org);
        r.expires_at_ms = 5000 + i;
        size_t ol = strlen(org), pl = strlen(r.purpose);
        memcpy(key, subj[i], 32);
        memcpy(key + 32, org, ol);
        key[32 + ol] = '\0';
        memcpy(key + 33 + ol, r.purpose, pl);
        MDB_val sk = {33 + ol + pl, key};
        MDB_val sv = {kr__v1__signal_record__pack(&r, buf), buf};
        assert_int_equal(mdb_put(txn, sig, &sk, &sv, 0), 0);
        MDB_val ik = {16, id[i]};
        assert_int_equal(mdb_put(txn, ids, &ik, &sk, 0), 0);
        bstore_be64(r.expires_at_ms, dkey);
        memcpy(dkey + 8, id[i], 16);
        MDB_val dk = {24, dkey};
        assert_int_equal(mdb_put(txn, due, &dk, &sk, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    assert_int_equal(bstore_open(dir, 64, true, &st), 0);
    assert_int_equal(signal_index_count(st->sigidx), 3);
    assert_int_equal(s_scan_committed(st, subj[0]), 2);
    assert_int_equal(s_scan_committed(st, subj[1]), 1);
    uint64_t count = 0;
    uint8_t dids[4][16];
    size_t n = 0;
    assert_int_equal(bstore_begin(st, true, &txn), 0);
    assert_int_equal(bstore_signal_count(st, txn, &count), 0);
    assert_int_equal(bstore_signal_due(st, txn, 5001, 4, dids, &n), 0);
    /* The old trees are gone; signal_due holds no subject any more. */
    assert_int_equal(mdb_dbi_open(txn, "signals", 0, &sig), MDB_NOTFOUND);
    assert_int_equal(mdb_dbi_open(txn, "signal_ids", 0, &ids), MDB_NOTFOUND);
    MDB_cursor *cur;
    MDB_val dk, dv;
    assert_int_equal(mdb_cursor_open(txn, st->signal_due, &cur), 0);
    while (mdb_cursor_get(cur, &dk, &dv, MDB_NEXT) == 0)
        assert_int_equal(dv.mv_size, 0);
    mdb_cursor_close(cur);
    MDB_val sk = {6, "schema"}, sv;
    assert_int_equal(mdb_get(txn, st->meta, &sk, &sv), 0);
    assert_int_equal(sv.mv_size, 1);
    assert_memory_equal(sv.mv_data, "3", 1);
    bstore_abort(txn);
    assert_int_equal(count, 3);
    assert_int_equal(n, 2);
    assert_memory_equal(dids[0], id[0], 16);
    assert_memory_equal(dids[1], id[1], 16);
    bstore_close(&st);

    /* Opened again: nothing left to migrate, the same three. */
    assert_int_equal(bstore_open(dir, 64, true, &st), 0);
    assert_int_equal(signal_index_count(st->sigidx), 3);
    bstore_close(&st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_rollback),
        cmocka_unit_test_setup_teardown(test_store_txn, s_store_setup,
                                        s_store_teardown),
        cmocka_unit_test_setup_teardown(test_store_collisions, s_store_setup,
                                        s_store_teardown),
        cmocka_unit_test(test_store_full),
        cmocka_unit_test(test_migrate),
    };

    log_init("test_signal_index", LOG_LEVEL_WARN);
    if (kcrypto_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
