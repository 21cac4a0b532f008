/* bstore_ledger.c - the audit chain and the consent ledger; see
 * bstore.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bstore_internal.h"
#include "bstore_retention.h"
#include "crypto.h"
#include "kr.h"
#include "log.h"
#include "util.h"

/* The chain: H(prev || record bytes). */
void
bstore_chain_hash(const uint8_t prev[32], const uint8_t *rec, size_t len,
                  uint8_t out[32])
{
    kcrypto_hash2(prev, 32, rec, len, out);
}

/* The next audit seq and the hash to chain to: from the last record. */
int
bstore_load_audit_tail(struct broker_store *st, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_cursor_open(txn, st->audit, &cur)) != 0)
        return rc;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8 && v.mv_size >= 32) {
        st->next_audit = bstore_unbe64(k.mv_data) + 1;
        memcpy(st->last_hash, v.mv_data, 32);
    } else {
        st->next_audit = 1;
        memset(st->last_hash, 0, 32);
        /* Every record purged: the chain goes on from the anchor. */
        uint64_t aseq;
        if (bstore_audit_anchor(st, txn, &aseq, st->last_hash) == KR_OK)
            st->next_audit = aseq + 1;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? 0 : rc;
}

int
bstore_audit_append(struct broker_store *st, MDB_txn *txn,
                    Kr__V1__AuditRecord *rec)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    int rc;

    rec->seq = st->next_audit;
    rec->prev_hash.data = st->last_hash;
    rec->prev_hash.len = 32;
    rec->hash.data = NULL;
    rec->hash.len = 0;
    bstore_be64(rec->seq, key);
    size_t len = protobuf_c_message_get_packed_size(&rec->base);
    v.mv_size = 32 + len;
    if ((rc = mdb_put(txn, st->audit, &k, &v, MDB_RESERVE)) != 0)
        return bstore_from_mdb(rc);
    uint8_t *p = v.mv_data;
    protobuf_c_message_pack(&rec->base, p + 32);
    /* hash = H(prev_hash || record): the record also holds prev_hash, so
     * the hash covers it twice; what matters is that it covers it. */
    bstore_chain_hash(st->last_hash, p + 32, len, p);
    /* Advanced on success only; an aborted pass reloads the tail. */
    memcpy(st->last_hash, p, 32);
    rec->prev_hash.data = NULL;
    rec->prev_hash.len = 0;
    st->next_audit++;
    return KR_OK;
}

uint64_t
bstore_audit_last(struct broker_store *st)
{
    return st->next_audit - 1;
}

int
bstore_audit_range(struct broker_store *st, MDB_txn *txn, uint64_t after,
                   size_t max, Kr__V1__AuditRecord **out, size_t *n)
{
    uint8_t key[8];
    MDB_val k = {8, key}, v;
    MDB_cursor *cur;
    int rc;

    *n = 0;
    bstore_be64(after + 1, key);
    if ((rc = mdb_cursor_open(txn, st->audit, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size < 32)
            continue;
        Kr__V1__AuditRecord *r = kr__v1__audit_record__unpack(
            NULL, v.mv_size - 32, (const uint8_t *)v.mv_data + 32);
        if (r == NULL)
            continue; /* verify reports it; a listing skips it */
        /* Hand the stored hash out with the record. */
        r->hash.data = malloc(32);
        if (r->hash.data != NULL) {
            memcpy(r->hash.data, v.mv_data, 32);
            r->hash.len = 32;
        }
        out[(*n)++] = r;
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_audit_verify(struct broker_store *st, MDB_txn *txn, uint64_t *checked,
                    uint64_t *bad_seq, char *why, size_t whylen)
{
    uint8_t prev[32] = {0}, h[32];
    uint64_t expect = 1;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, result = KR_OK;

    *checked = 0;
    *bad_seq = 0;
    /* After a purge the chain starts at the anchor: the hash and seq of
     * the last record purged (bstore_retention.h). */
    uint64_t aseq;
    if ((rc = bstore_audit_anchor(st, txn, &aseq, prev)) == KR_OK)
        expect = aseq + 1;
    else if (rc != KR_ENOTFOUND)
        return rc;
    if ((rc = mdb_cursor_open(txn, st->audit, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq = k.mv_size == 8 ? bstore_unbe64(k.mv_data) : 0;
        const char *bad = NULL;
        Kr__V1__AuditRecord *r = NULL;
        if (seq != expect)
            bad = seq > expect ? "a record is missing before this one"
                               : "out of order";
        else if (v.mv_size < 32)
            bad = "too short";
        if (bad == NULL) {
            const uint8_t *p = v.mv_data;
            r = kr__v1__audit_record__unpack(NULL, v.mv_size - 32, p + 32);
            bstore_chain_hash(prev, p + 32, v.mv_size - 32, h);
            if (r == NULL)
                bad = "does not parse";
            else if (r->seq != seq)
                bad = "its seq differs from its key";
            else if (r->prev_hash.len != 32 ||
                     memcmp(r->prev_hash.data, prev, 32) != 0)
                bad = "does not chain to the record before it";
            else if (memcmp(h, p, 32) != 0)
                bad = "its content does not match its hash";
            else
                memcpy(prev, p, 32);
        }
        if (r != NULL)
            kr__v1__audit_record__free_unpacked(r, NULL);
        if (bad != NULL) {
            *bad_seq = seq ? seq : expect;
            snprintf(why, whylen, "record %llu: %s",
                     (unsigned long long)*bad_seq, bad);
            result = KR_ECRYPTO;
            break;
        }
        (*checked)++;
        expect++;
    }
    mdb_cursor_close(cur);
    if (result != KR_OK)
        return result;
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

int
bstore_consent_get(struct broker_store *st, MDB_txn *txn,
                   const uint8_t consent_id[16], ProtobufCAllocator *pa,
                   Kr__V1__ConsentRecord **out)
{
    MDB_val k = {16, (void *)consent_id}, v;
    int rc = mdb_get(txn, st->consents, &k, &v);

    if (rc != 0)
        return bstore_from_mdb(rc);
    *out = kr__v1__consent_record__unpack(pa, v.mv_size, v.mv_data);
    return *out != NULL ? KR_OK : KR_ESTORE;
}

int
bstore_consent_put(struct broker_store *st, MDB_txn *txn,
                   const Kr__V1__ConsentRecord *r)
{
    const Kr__V1__ConsentScope *sc = r->scope;
    uint8_t sk[48];
    MDB_val k = {16, sc->consent_id.data}, ik = {48, sk}, iv = {0, ""};
    int rc;

    if (sc->consent_id.len != 16 || sc->subject_pseudonym.len != 32)
        return KR_EINVAL;
    if ((rc = bstore_put_msg(txn, st->consents, &k, &r->base)) != 0)
        return rc;
    memcpy(sk, sc->subject_pseudonym.data, 32);
    memcpy(sk + 32, sc->consent_id.data, 16);
    return bstore_from_mdb(mdb_put(txn, st->consent_subject, &ik, &iv, 0));
}

int
bstore_consent_by_subject(struct broker_store *st, MDB_txn *txn,
                          const uint8_t subject[32], ProtobufCAllocator *pa,
                          Kr__V1__ConsentRecord ***out, size_t *n)
{
    uint8_t sk[48];
    MDB_val k = {48, sk}, v;
    MDB_cursor *cur;
    Kr__V1__ConsentRecord **recs = NULL;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    memcpy(sk, subject, 32);
    memset(sk + 32, 0, 16);
    if ((rc = mdb_cursor_open(txn, st->consent_subject, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 48 || memcmp(k.mv_data, subject, 32) != 0)
            break;
        Kr__V1__ConsentRecord *r;
        if (bstore_consent_get(st, txn, (const uint8_t *)k.mv_data + 32, pa,
                               &r) != KR_OK)
            continue;
        if (*n == cap) {
            /* In the caller's arena when it gives one: the gate asks this
             * for every message it lets through. */
            size_t ncap = cap ? 2 * cap : 8;
            Kr__V1__ConsentRecord **g =
                pa != NULL ? pa->alloc(pa->allocator_data, ncap * sizeof(*g))
                           : xrealloc(recs, ncap * sizeof(*g));
            if (g == NULL) {
                mdb_cursor_close(cur);
                *out = recs;
                return KR_ENOMEM;
            }
            if (pa != NULL && *n > 0)
                memcpy(g, recs, *n * sizeof(*g));
            recs = g;
            cap = ncap;
        }
        recs[(*n)++] = r;
    }
    mdb_cursor_close(cur);
    *out = recs;
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}

/* consent_msgs: key consent_id || the message's seq (BE), so that a
 * consent's messages append whatever ids senders choose; value state ||
 * msg_id || recipient. */
int
bstore_consent_msg_put(struct broker_store *st, MDB_txn *txn,
                       const uint8_t consent_id[16], const uint8_t msg_id[16],
                       char state, const char *recipient)
{
    uint8_t key[24], val[17 + KR_ORG_ID_MAX];
    size_t rl = strlen(recipient);
    MDB_val k = {24, key}, v = {17 + rl, val};
    int rc;

    if (rl >= KR_ORG_ID_MAX)
        return KR_EINVAL;
    memcpy(key, consent_id, 16);
    if ((rc = bstore_msg_key(st, txn, msg_id, true, key + 16)) != KR_OK)
        return rc;
    val[0] = (uint8_t)state;
    memcpy(val + 1, msg_id, 16);
    memcpy(val + 17, recipient, rl);
    return bstore_from_mdb(mdb_put(txn, st->consent_msgs, &k, &v, 0));
}

int
bstore_consent_msg_scan(struct broker_store *st, MDB_txn *txn,
                        const uint8_t consent_id[16],
                        void (*fn)(const uint8_t msg_id[16], char state,
                                   const char *recipient, void *arg),
                        void *arg)
{
    uint8_t key[24];
    MDB_val k = {24, key}, v;
    MDB_cursor *cur;
    char rcpt[KR_ORG_ID_MAX];
    int rc;

    memcpy(key, consent_id, 16);
    memset(key + 16, 0, 8);
    if ((rc = mdb_cursor_open(txn, st->consent_msgs, &cur)) != 0)
        return bstore_from_mdb(rc);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 24 || memcmp(k.mv_data, consent_id, 16) != 0)
            break;
        if (v.mv_size < 17 || v.mv_size > 16 + KR_ORG_ID_MAX)
            continue;
        const uint8_t *p = v.mv_data;
        memcpy(rcpt, p + 17, v.mv_size - 17);
        rcpt[v.mv_size - 17] = '\0';
        fn(p + 1, (char)p[0], rcpt, arg);
    }
    mdb_cursor_close(cur);
    return (rc == 0 || rc == MDB_NOTFOUND) ? KR_OK : bstore_from_mdb(rc);
}
