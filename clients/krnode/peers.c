/* peers.c - the directory cache: what the broker told us about each
 * organisation, in memory. The peers database (nstore.c) keeps it across
 * restarts so that a node can open deliveries before its first directory
 * response. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node.h"

static uint64_t
s_hash(const char *s)
{
    /* FNV-1a: org ids are short and not chosen by an attacker who could
     * flood one bucket (they come from our broker or our adapters). */
    uint64_t h = 1469598103934665603ULL;

    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void
peers_init(struct peers *ps)
{
    ps->cap = 64;
    ps->n = 0;
    ps->slots = xcalloc(ps->cap, sizeof(*ps->slots));
}

void
peers_fini(struct peers *ps)
{
    for (size_t i = 0; i < ps->cap; i++)
        free(ps->slots[i]);
    free(ps->slots);
    ps->slots = NULL;
    ps->cap = ps->n = 0;
}

static struct peer **
s_slot(struct peer **slots, size_t cap, const char *org_id)
{
    size_t i = (size_t)s_hash(org_id) & (cap - 1);

    while (slots[i] != NULL && strcmp(slots[i]->org_id, org_id) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static void
s_grow(struct peers *ps)
{
    size_t cap = ps->cap * 2;
    struct peer **slots = xcalloc(cap, sizeof(*slots));

    for (size_t i = 0; i < ps->cap; i++)
        if (ps->slots[i] != NULL)
            *s_slot(slots, cap, ps->slots[i]->org_id) = ps->slots[i];
    free(ps->slots);
    ps->slots = slots;
    ps->cap = cap;
}

struct peer *
peers_find(struct peers *ps, const char *org_id)
{
    return *s_slot(ps->slots, ps->cap, org_id);
}

/* The entry of org_id, created empty (not known) if absent. Entries are
 * never removed, so a pointer to one stays valid for the node's life. */
static struct peer *
s_get(struct peers *ps, const char *org_id)
{
    struct peer **sp;

    if ((ps->n + 1) * 4 > ps->cap * 3)
        s_grow(ps);
    sp = s_slot(ps->slots, ps->cap, org_id);
    if (*sp == NULL) {
        struct peer *p = xcalloc(1, sizeof(*p));
        snprintf(p->org_id, sizeof(p->org_id), "%s", org_id);
        p->shared_slot = -1;
        *sp = p;
        ps->n++;
    }
    return *sp;
}

int
peers_update(struct peers *ps, const Kr__V1__OrgEntry *e, uint64_t now_mono)
{
    struct peer *p;

    if (!util_org_id_valid(e->org_id) || e->box_public.len != KR_KEY_LEN ||
        e->sign_public.len != KR_KEY_LEN) {
        log_warnx("peers: directory entry for '%.64s' is malformed: ignored",
                  e->org_id != NULL ? e->org_id : "");
        return KR_EINVAL;
    }
    p = s_get(ps, e->org_id);
    if (p->known && memcmp(p->sign, e->sign_public.data, KR_KEY_LEN) != 0)
        log_info("peers: key change org=%s what=sign", p->org_id);
    if (p->known && memcmp(p->box, e->box_public.data, KR_KEY_LEN) != 0)
        log_info("peers: key change org=%s what=box", p->org_id);
    /* seal.c compares the box key it computed a shared key for with this
     * one, so a changed key invalidates the cached shared key by itself. */
    memcpy(p->box, e->box_public.data, KR_KEY_LEN);
    memcpy(p->sign, e->sign_public.data, KR_KEY_LEN);
    kcrypto_key_id(p->box, p->box_key_id);
    kcrypto_key_id(p->sign, p->sign_key_id);
    p->has_prev = e->previous_box_public.len == KR_KEY_LEN &&
                  e->previous_sign_public.len == KR_KEY_LEN;
    if (p->has_prev) {
        memcpy(p->prev_box, e->previous_box_public.data, KR_KEY_LEN);
        memcpy(p->prev_sign, e->previous_sign_public.data, KR_KEY_LEN);
        kcrypto_key_id(p->prev_box, p->prev_box_key_id);
        kcrypto_key_id(p->prev_sign, p->prev_sign_key_id);
        p->prev_until_ms = e->previous_until_ms;
    }
    p->category = e->category;
    p->suspended = e->suspended;
    p->known = true;
    p->refreshed_mono = now_mono;
    return KR_OK;
}

bool
peers_should_ask(struct peers *ps, const char *org_id, uint64_t now_mono)
{
    struct peer *p;

    if (!util_org_id_valid(org_id))
        return false;
    p = s_get(ps, org_id);
    if (p->asked_mono != 0 && now_mono - p->asked_mono < NODE_DIR_RETRY_MS)
        return false;
    p->asked_mono = now_mono;
    return true;
}

int
peers_load(struct peers *ps, nstore_t *st)
{
    struct nstore_iter it;
    MDB_txn *txn = NULL;
    const uint8_t *id, *v;
    size_t len, count = 0;
    uint64_t seq;
    int rc;

    if ((rc = nstore_begin(st, false, &txn)) != KR_OK)
        return rc;
    if ((rc = nstore_iter_open(st, txn, NSTORE_PEERS, 0, &it)) != KR_OK)
        goto done;
    while ((rc = nstore_iter_next(&it, &seq, &id, &v, &len)) == KR_OK) {
        Kr__V1__OrgEntry *e = kr__v1__org_entry__unpack(NULL, len, v);
        if (e == NULL) {
            log_warnx("peers: load: a stored entry does not parse: skipped");
            continue;
        }
        /* Loaded entries count as old: a key mismatch on a delivery may
         * still ask the broker before refusing. */
        if (peers_update(ps, e, 0) == KR_OK)
            count++;
        kr__v1__org_entry__free_unpacked(e, NULL);
    }
    nstore_iter_close(&it);
    if (rc == KR_ENOTFOUND)
        rc = KR_OK;
    log_debug("peers: loaded count=%zu", count);
done:
    nstore_abort(&txn);
    return rc;
}

void
peers_mark_unknown(struct peers *ps, const char *org_id, uint64_t now_mono)
{
    if (!util_org_id_valid(org_id))
        return;
    s_get(ps, org_id)->denied_mono = now_mono;
}

bool
peers_prev_keys(const struct peer *p, const Kr__V1__Envelope *env,
                uint64_t now_ms)
{
    /* Both keys changed together: an envelope made before the rekey names
     * the old signing key and, if it says, the old sealing key. */
    return p->has_prev && now_ms < p->prev_until_ms &&
           env->sender_key_id != NULL &&
           strcmp(env->sender_key_id, p->prev_sign_key_id) == 0 &&
           (env->payload == NULL || env->payload->sender_key_id == NULL ||
            env->payload->sender_key_id[0] == '\0' ||
            strcmp(env->payload->sender_key_id, p->prev_box_key_id) == 0);
}
