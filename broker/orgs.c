/* orgs.c - the in-memory directory: every organisation and its link. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "bstore.h"
#include "log.h"

static size_t
s_hash(const char *id)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ull;
    return h;
}

struct org *
orgs_find(struct broker *b, const char *id)
{
    if (b->norgs_buckets == 0 || id == NULL)
        return NULL;
    for (struct org *o = b->orgs[s_hash(id) % b->norgs_buckets]; o != NULL;
         o = o->hash_next)
        if (strcmp(o->id, id) == 0)
            return o;
    return NULL;
}

struct org *
orgs_find_curve(struct broker *b, const uint8_t curve[32])
{
    /* Only at handshakes, so a scan is fine. */
    ORGS_FOREACH(b, o)
    if (memcmp(o->curve, curve, 32) == 0)
        return o;
    return NULL;
}

static void
s_grow(struct broker *b)
{
    size_t nb = b->norgs_buckets ? b->norgs_buckets * 2 : 64;
    struct org **t = xcalloc(nb, sizeof(*t));

    for (size_t i = 0; i < b->norgs_buckets; i++) {
        struct org *o = b->orgs[i];
        while (o != NULL) {
            struct org *next = o->hash_next;
            size_t h = s_hash(o->id) % nb;
            o->hash_next = t[h];
            t[h] = o;
            o = next;
        }
    }
    free(b->orgs);
    b->orgs = t;
    b->norgs_buckets = nb;
}

struct org *
orgs_upsert(struct broker *b, const Kr__V1__OrgEntry *e)
{
    struct org *o = orgs_find(b, e->org_id);

    if (o == NULL) {
        if (b->norgs + 1 > b->norgs_buckets)
            s_grow(b);
        o = xcalloc(1, sizeof(*o));
        snprintf(o->id, sizeof(o->id), "%s", e->org_id);
        o->next_seq = 1;
        size_t h = s_hash(o->id) % b->norgs_buckets;
        o->hash_next = b->orgs[h];
        b->orgs[h] = o;
        b->norgs++;
    }
    o->category = e->category;
    o->suspended = e->suspended || e->removed;
    o->removed = e->removed;
    if (e->curve_public.len == 32)
        memcpy(o->curve, e->curve_public.data, 32);
    return o;
}

struct s_load_arg {
    struct broker *b;
};

static void
s_load_one(const Kr__V1__OrgEntry *e, void *arg)
{
    struct s_load_arg *a = arg;

    orgs_upsert(a->b, e);
}

int
orgs_load(struct broker *b)
{
    struct s_load_arg a = {b};
    MDB_txn *txn;
    int rc;

    if ((rc = bstore_begin(b->store, true, &txn)) != 0)
        return rc;
    if ((rc = bstore_org_foreach(b->store, txn, s_load_one, &a)) != 0)
        goto done;
    /* Queue seqs continue where they were: from the persisted counter or
     * past the last item, whichever is higher, so that a stale ack can
     * never name a new item. */
    ORGS_FOREACH(b, o)
    {
        char name[KR_ORG_ID_MAX + 8];
        uint64_t last = 0, saved = 0;
        snprintf(name, sizeof(name), "seq:%s", o->id);
        if ((rc = bstore_queue_last(b->store, txn, o->id, &last)) != 0)
            goto done;
        rc = bstore_meta_get_u64(b->store, txn, name, &saved);
        if (rc != 0 && rc != KR_ENOTFOUND)
            goto done;
        rc = 0;
        o->next_seq = (last + 1 > saved) ? last + 1 : saved;
        o->seq_reserved = o->next_seq;
    }
done:
    bstore_abort(txn);
    if (rc == 0)
        log_info("directory: loaded orgs=%zu", b->norgs);
    return rc;
}

void
orgs_free(struct broker *b)
{
    for (size_t i = 0; i < b->norgs_buckets; i++) {
        struct org *o = b->orgs[i];
        while (o != NULL) {
            struct org *next = o->hash_next;
            free(o);
            o = next;
        }
    }
    free(b->orgs);
    b->orgs = NULL;
    b->norgs_buckets = b->norgs = 0;
}
