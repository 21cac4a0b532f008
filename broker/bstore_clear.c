/*
 * bstore_clear.c - tests only: empty every database of an open store, as
 * if it had just been created. The fuzz targets (tests/fuzz/) start each
 * input from the same store this way; opening a new LMDB environment per
 * input costs megabytes of fresh allocations and ran them a hundred times
 * slower.
 */
#include <string.h>

#include "bstore_internal.h"

int
bstore_clear(struct broker_store *st)
{
    MDB_txn *txn;
    MDB_dbi all[] = {st->directory,       st->messages,    st->payloads,
                     st->msg_index,       st->queue,       st->expiry,
                     st->audit,           st->meta,        st->consents,
                     st->consent_subject, st->consent_msgs};
    MDB_val k = {6, "schema"}, v = {strlen(BSTORE_SCHEMA), BSTORE_SCHEMA};
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return bstore_from_mdb(rc);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if ((rc = mdb_drop(txn, all[i], 0)) != 0)
            goto fail;
    if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) != 0 ||
        (rc = bstore_load_audit_tail(st, txn)) != 0 ||
        (rc = bstore_load_msg_seq(st, txn)) != 0)
        goto fail;
    st->seq_cache_valid = false;
    return bstore_from_mdb(mdb_txn_commit(txn));
fail:
    mdb_txn_abort(txn);
    return bstore_from_mdb(rc);
}
