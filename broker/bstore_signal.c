/* bstore_signal.c - signals, their expiry, mother-child links; see
 * bstore_signal.h. */
#include "bstore_signal.h"

#include <stdlib.h>
#include <string.h>

#include "bstore_internal.h"
#include "kr.h"
#include "log.h"
#include "signal_index.h"
#include "util.h"

/* What one scan reads from the index at most: a subject's signals and
 * any other subject's that share its fingerprint (2^-64 a pair). */
#define S_CANDIDATES_MAX 1024

static void
s_due_key(uint64_t due, const uint8_t id[16], uint8_t key[24])
{
    bstore_be64(due, key);
    memcpy(key + 8, id, 16);
}

static uint64_t
s_fp(const struct broker_store *st, const uint8_t subject[32])
{
    return signal_index_fp(st->sigidx, subject);
}

int
bstore_signal_get_id(struct broker_store *st, MDB_txn *txn,
                     const uint8_t id[16], ProtobufCAllocator *pa,
                     Kr__V1__SignalRecord **out)
{
    MDB_val k = {16, (void *)id}, v;
    int rc;

    if ((rc = mdb_get(txn, st->signals, &k, &v)) != 0)
        return bstore_from_mdb(rc);
    *out = kr__v1__signal_record__unpack(pa, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

static int
s_cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Call fn for each signal on subject, oldest id first, until it returns
 * non-zero: the ids from the index, each record read and its subject
 * checked. At most 'max' are passed to fn. */
static int
s_each(struct broker_store *st, MDB_txn *txn, const uint8_t subject[32],
       size_t max, ProtobufCAllocator *pa,
       int (*fn)(Kr__V1__SignalRecord *r, void *arg), void *arg)
{
    uint8_t(*ids)[16] = xmalloc(S_CANDIDATES_MAX * 16);
    size_t n =
        signal_index_find(st->sigidx, s_fp(st, subject), ids, S_CANDIDATES_MAX);
    size_t passed = 0;
    int rc = KR_OK;

    if (n > S_CANDIDATES_MAX) {
        log_warnx("store: more than %d signals share one subject "
                  "fingerprint: the rest is not read",
                  S_CANDIDATES_MAX);
        n = S_CANDIDATES_MAX;
    }
    /* Time-ordered ids: the order the signals were made in. */
    qsort(ids, n, 16, s_cmp_id);
    for (size_t i = 0; i < n && passed < max; i++) {
        MDB_val k = {16, ids[i]}, v;
        int mrc = mdb_get(txn, st->signals, &k, &v);
        if (mrc == MDB_NOTFOUND)
            continue;
        if (mrc != 0) {
            rc = bstore_from_mdb(mrc);
            break;
        }
        Kr__V1__SignalRecord *r =
            kr__v1__signal_record__unpack(pa, v.mv_size, v.mv_data);
        if (r == NULL)
            continue;
        if (r->subject_pseudonym.len != 32 ||
            memcmp(r->subject_pseudonym.data, subject, 32) != 0) {
            kr__v1__signal_record__free_unpacked(r, pa);
            continue; /* another subject with the same fingerprint */
        }
        passed++;
        if (fn(r, arg) != 0)
            break;
    }
    free(ids);
    return rc;
}

struct s_get {
    const char *org, *purpose;
    ProtobufCAllocator *pa;
    Kr__V1__SignalRecord *found;
};

static int
s_get_one(Kr__V1__SignalRecord *r, void *arg)
{
    struct s_get *g = arg;

    if (strcmp(r->org_id, g->org) == 0 && strcmp(r->purpose, g->purpose) == 0) {
        g->found = r;
        return 1;
    }
    kr__v1__signal_record__free_unpacked(r, g->pa);
    return 0;
}

int
bstore_signal_get(struct broker_store *st, MDB_txn *txn,
                  const uint8_t subject[32], const char *org,
                  const char *purpose, ProtobufCAllocator *pa,
                  Kr__V1__SignalRecord **out)
{
    struct s_get g = {org, purpose, pa, NULL};
    int rc = s_each(st, txn, subject, S_CANDIDATES_MAX, pa, s_get_one, &g);

    if (rc != KR_OK)
        return rc;
    if (g.found == NULL)
        return KR_ENOTFOUND;
    *out = g.found;
    return KR_OK;
}

int
bstore_signal_put(struct broker_store *st, MDB_txn *txn,
                  const Kr__V1__SignalRecord *r)
{
    uint8_t dkey[24];
    MDB_val k, v;
    int rc;

    if (r->signal_id.len != 16 || r->subject_pseudonym.len != 32)
        return KR_EINVAL;
    /* The id is the SIGNAL's msg_id, unique by the exactly-once index:
     * one that exists already is a bug, not a signal to overwrite. */
    k = (MDB_val){16, r->signal_id.data};
    v.mv_size = protobuf_c_message_get_packed_size(&r->base);
    if ((rc = mdb_put(txn, st->signals, &k, &v,
                      MDB_NOOVERWRITE | MDB_RESERVE)) != 0)
        return bstore_from_mdb(rc);
    protobuf_c_message_pack(&r->base, v.mv_data);
    if (r->expires_at_ms != 0) {
        s_due_key(r->expires_at_ms, r->signal_id.data, dkey);
        MDB_val dk = {24, dkey}, dv = {0, ""};
        if ((rc = mdb_put(txn, st->signal_due, &dk, &dv, 0)) != 0)
            return bstore_from_mdb(rc);
    }
    /* Last, once LMDB has taken it: on abort the log takes it out again. */
    signal_index_add(st->sigidx, s_fp(st, r->subject_pseudonym.data),
                     r->signal_id.data);
    return KR_OK;
}

static int
s_del(MDB_txn *txn, MDB_dbi dbi, MDB_val *k)
{
    int rc = mdb_del(txn, dbi, k, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_signal_del(struct broker_store *st, MDB_txn *txn,
                  const Kr__V1__SignalRecord *r)
{
    uint8_t dkey[24];
    int rc;

    if (r->signal_id.len != 16 || r->subject_pseudonym.len != 32)
        return KR_EINVAL;
    MDB_val ik = {16, r->signal_id.data};
    if ((rc = s_del(txn, st->signals, &ik)) != 0)
        return rc;
    s_due_key(r->expires_at_ms, r->signal_id.data, dkey);
    MDB_val dk = {24, dkey};
    if ((rc = s_del(txn, st->signal_due, &dk)) != 0)
        return rc;
    /* Absent from the index: removed earlier in this transaction. */
    (void)signal_index_remove(st->sigidx, s_fp(st, r->subject_pseudonym.data),
                              r->signal_id.data);
    return KR_OK;
}

int
bstore_signal_scan(struct broker_store *st, MDB_txn *txn,
                   const uint8_t subject[32], size_t max,
                   ProtobufCAllocator *pa,
                   int (*fn)(Kr__V1__SignalRecord *r, void *arg), void *arg)
{
    return s_each(st, txn, subject, max, pa, fn, arg);
}

int
bstore_signal_due(struct broker_store *st, MDB_txn *txn, uint64_t now,
                  size_t max, uint8_t (*ids)[16], size_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, st->signal_due, &cur)) != 0)
        return bstore_from_mdb(rc);
    /* From the front: the first signal not yet due ends the scan. */
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 24)
            continue;
        if (bstore_unbe64(k.mv_data) > now)
            break;
        memcpy(ids[(*n)++], (const uint8_t *)k.mv_data + 8, 16);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_signal_count(struct broker_store *st, MDB_txn *txn, uint64_t *n)
{
    MDB_stat s;
    int rc = mdb_stat(txn, st->signals, &s);

    *n = rc == 0 ? s.ms_entries : 0;
    return bstore_from_mdb(rc);
}

void
bstore_signal_index_size(const struct broker_store *st, uint64_t *n,
                         uint64_t *bytes)
{
    *n = signal_index_count(st->sigidx);
    *bytes = signal_index_bytes(st->sigidx);
}

/* The subject of a packed SignalRecord (field 2, 32 bytes), read from its
 * wire format without unpacking the rest: the index is built from a
 * million of them at start. false if it has none or does not parse. */
static bool
s_wire_subject(const uint8_t *p, size_t len, const uint8_t **subject)
{
    size_t i = 0;

    while (i < len) {
        uint64_t tag = 0, x = 0;
        int shift = 0;
        do {
            if (i == len || shift > 63)
                return false;
            tag |= (uint64_t)(p[i] & 0x7f) << shift;
            shift += 7;
        } while (p[i++] & 0x80);
        switch (tag & 7) {
        case 0: /* varint */
            do {
                if (i == len)
                    return false;
            } while (p[i++] & 0x80);
            break;
        case 1:
            if (len - i < 8)
                return false;
            i += 8;
            break;
        case 5:
            if (len - i < 4)
                return false;
            i += 4;
            break;
        case 2:
            shift = 0;
            do {
                if (i == len || shift > 63)
                    return false;
                x |= (uint64_t)(p[i] & 0x7f) << shift;
                shift += 7;
            } while (p[i++] & 0x80);
            if (x > len - i)
                return false;
            if (tag >> 3 == 2 && x == 32) {
                *subject = p + i;
                return true;
            }
            i += x;
            break;
        default:
            return false;
        }
    }
    return false;
}

/* A schema "2" store: signals keyed <subject><org>\0<purpose>, signal_ids
 * id -> that key, signal_due's values that key. Rewritten in the open
 * transaction: each signal under its id, signal_due again with empty
 * values (no subject left in it), the two old trees dropped. */
static int
s_migrate(struct broker_store *st, MDB_txn *txn, const char *dir)
{
    MDB_dbi old, old_ids;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t t0 = util_mono_ms(), n = 0, skipped = 0;
    int rc;

    rc = mdb_dbi_open(txn, "signals", 0, &old);
    if (rc == MDB_NOTFOUND)
        return KR_OK; /* never had a signal tree */
    if (rc != 0)
        return bstore_from_mdb(rc);
    if ((rc = mdb_drop(txn, st->signal_due, 0)) != 0 ||
        (rc = mdb_cursor_open(txn, old, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        Kr__V1__SignalRecord *r =
            kr__v1__signal_record__unpack(NULL, v.mv_size, v.mv_data);
        if (r == NULL || r->signal_id.len != 16 ||
            r->subject_pseudonym.len != 32) {
            skipped++;
        } else {
            MDB_val nk = {16, r->signal_id.data}, nv = v;
            uint8_t dkey[24];
            MDB_val dk = {24, dkey}, dv = {0, ""};
            s_due_key(r->expires_at_ms, r->signal_id.data, dkey);
            int prc = mdb_put(txn, st->signals, &nk, &nv, MDB_NOOVERWRITE);
            if (prc == 0 && r->expires_at_ms != 0)
                prc = mdb_put(txn, st->signal_due, &dk, &dv, 0);
            if (prc == MDB_KEYEXIST) {
                skipped++;
            } else if (prc != 0) {
                kr__v1__signal_record__free_unpacked(r, NULL);
                mdb_cursor_close(cur);
                return bstore_from_mdb(prc);
            } else {
                n++;
            }
        }
        if (r != NULL)
            kr__v1__signal_record__free_unpacked(r, NULL);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return bstore_from_mdb(rc);
    if ((rc = mdb_drop(txn, old, 1)) != 0)
        return bstore_from_mdb(rc);
    rc = mdb_dbi_open(txn, "signal_ids", 0, &old_ids);
    if (rc == 0)
        rc = mdb_drop(txn, old_ids, 1);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return bstore_from_mdb(rc);
    if (skipped > 0)
        log_warnx("store: %s: migration: %llu signal records did not parse "
                  "or repeated an id: left out",
                  dir, (unsigned long long)skipped);
    log_info("store: %s: signals migrated to schema %s (stored by id, "
             "found by subject in memory): %llu in %llu ms",
             dir, BSTORE_SCHEMA, (unsigned long long)n,
             (unsigned long long)(util_mono_ms() - t0));
    return KR_OK;
}

/* The subject index from what the store holds. */
static int
s_build(struct broker_store *st, MDB_txn *txn, const char *dir)
{
    MDB_cursor *cur;
    MDB_stat ms;
    MDB_val k, v;
    uint64_t t0 = util_mono_ms(), bad = 0;
    int rc;

    if ((rc = mdb_stat(txn, st->signals, &ms)) != 0)
        return bstore_from_mdb(rc);
    st->sigidx = signal_index_new(ms.ms_entries);
    if ((rc = mdb_cursor_open(txn, st->signals, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *subject;
        if (k.mv_size != 16 ||
            !s_wire_subject(v.mv_data, v.mv_size, &subject)) {
            bad++;
            continue;
        }
        signal_index_load(st->sigidx, s_fp(st, subject), k.mv_data);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND)
        return bstore_from_mdb(rc);
    if (bad > 0)
        log_warnx("store: %s: %llu signal records without a subject: not "
                  "matched (expiry still removes them)",
                  dir, (unsigned long long)bad);
    log_info("store: %s: signal index: %zu signals in %llu ms, %zu KiB", dir,
             signal_index_count(st->sigidx),
             (unsigned long long)(util_mono_ms() - t0),
             signal_index_bytes(st->sigidx) >> 10);
    return KR_OK;
}

int
bstore_signal_open(struct broker_store *st, MDB_txn *txn, const char *dir,
                   bool migrate)
{
    int rc;

    if (migrate && (rc = s_migrate(st, txn, dir)) != KR_OK) {
        log_errorx("store: %s: rewriting the signals of a schema 2 store "
                   "failed: %s%s; the store is unchanged",
                   dir, kr_strerror(rc),
                   rc == KR_EFULL ? " (the rewrite needs room for a second "
                                    "copy of the signals: raise map_size_mb)"
                                  : "");
        return rc;
    }
    if ((rc = s_build(st, txn, dir)) != KR_OK)
        log_errorx("store: %s: reading the signals for the subject index "
                   "failed: %s",
                   dir, kr_strerror(rc));
    return rc;
}

void
bstore_signal_txn_end(struct broker_store *st, bool committed)
{
    if (st->sigidx == NULL)
        return;
    if (committed)
        signal_index_commit(st->sigidx);
    else
        signal_index_rollback(st->sigidx);
}

void
bstore_signal_close(struct broker_store *st)
{
    signal_index_destroy(&st->sigidx);
}

int
bstore_link_put(struct broker_store *st, MDB_txn *txn, const uint8_t a[32],
                const uint8_t b[32], const uint8_t case_id[16])
{
    uint8_t key[64];
    MDB_val k = {64, key}, v = {16, (void *)case_id};
    int rc;

    memcpy(key, a, 32);
    memcpy(key + 32, b, 32);
    if ((rc = mdb_put(txn, st->subject_links, &k, &v, 0)) != 0)
        return bstore_from_mdb(rc);
    memcpy(key, b, 32);
    memcpy(key + 32, a, 32);
    v = (MDB_val){16, (void *)case_id};
    return bstore_from_mdb(mdb_put(txn, st->subject_links, &k, &v, 0));
}

int
bstore_link_list(struct broker_store *st, MDB_txn *txn, const uint8_t a[32],
                 size_t max, uint8_t (*out)[32], size_t *n)
{
    MDB_cursor *cur;
    MDB_val k = {32, (void *)a}, v;
    int rc;

    *n = 0;
    if ((rc = mdb_cursor_open(txn, st->subject_links, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 64 || memcmp(k.mv_data, a, 32) != 0)
            break;
        memcpy(out[(*n)++], (const uint8_t *)k.mv_data + 32, 32);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_case_subject_put(struct broker_store *st, MDB_txn *txn,
                        const uint8_t case_id[16], const uint8_t subject[32])
{
    MDB_val k = {16, (void *)case_id}, v = {32, (void *)subject};
    int rc = mdb_put(txn, st->case_subjects, &k, &v, MDB_NOOVERWRITE);

    return rc == MDB_KEYEXIST ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_case_subject_get(struct broker_store *st, MDB_txn *txn,
                        const uint8_t case_id[16], uint8_t subject[32])
{
    MDB_val k = {16, (void *)case_id}, v;
    int rc = mdb_get(txn, st->case_subjects, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
    if (v.mv_size != 32)
        return KR_ESTORE;
    memcpy(subject, v.mv_data, 32);
    return KR_OK;
}

int
bstore_link_del_all(struct broker_store *st, MDB_txn *txn, const uint8_t a[32],
                    size_t *n)
{
    uint8_t others[16][32], key[64];
    size_t k = 0;
    int rc;

    *n = 0;
    if ((rc = bstore_link_list(st, txn, a, 16, others, &k)) != 0)
        return rc;
    for (size_t i = 0; i < k; i++) {
        MDB_val dk = {64, key};
        memcpy(key, a, 32);
        memcpy(key + 32, others[i], 32);
        rc = mdb_del(txn, st->subject_links, &dk, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return bstore_from_mdb(rc);
        memcpy(key, others[i], 32);
        memcpy(key + 32, a, 32);
        rc = mdb_del(txn, st->subject_links, &dk, NULL);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return bstore_from_mdb(rc);
        (*n)++;
    }
    return KR_OK;
}

int
bstore_consent_del(struct broker_store *st, MDB_txn *txn,
                   const uint8_t consent_id[16], const uint8_t subject[32])
{
    uint8_t sk[48];
    MDB_val k = {16, (void *)consent_id}, ik = {48, sk};
    int rc = mdb_del(txn, st->consents, &k, NULL);

    if (rc != 0 && rc != MDB_NOTFOUND)
        return bstore_from_mdb(rc);
    memcpy(sk, subject, 32);
    memcpy(sk + 32, consent_id, 16);
    rc = mdb_del(txn, st->consent_subject, &ik, NULL);
    return rc == MDB_NOTFOUND ? KR_OK : bstore_from_mdb(rc);
}
