/* signal_index.c - signals by subject, in memory; see signal_index.h. */
#include "signal_index.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kr.h"
#include "util.h"

#define S_MIN_SLOTS 1024
/* The log keeps its array between passes up to this many entries; a pass
 * that logged more (an erasure of many signals, a migration) frees it. */
#define S_LOG_KEEP 4096

/* One slot: fp 0 is empty. 24 bytes, no padding. */
struct s_slot {
    uint64_t fp;
    uint8_t id[16];
};

/* One logged change: what to undo. */
struct s_undo {
    uint64_t fp;
    uint8_t id[16];
    bool added; /* true: undo by removing; false: by adding back */
};

struct signal_index {
    struct s_slot *slot; /* nslots slots */
    size_t nslots;
    size_t count;       /* occupied slots */
    uint64_t key[2];    /* SipHash key, random per process */
    uint64_t fp_mask;   /* all ones but in tests */
    struct s_undo *log; /* changes since the last commit or rollback */
    size_t nlog, caplog;
};

static uint64_t
s_rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t
s_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#define S_SIPROUND                                                             \
    do {                                                                       \
        v0 += v1;                                                              \
        v1 = s_rotl(v1, 13);                                                   \
        v1 ^= v0;                                                              \
        v0 = s_rotl(v0, 32);                                                   \
        v2 += v3;                                                              \
        v3 = s_rotl(v3, 16);                                                   \
        v3 ^= v2;                                                              \
        v0 += v3;                                                              \
        v3 = s_rotl(v3, 21);                                                   \
        v3 ^= v0;                                                              \
        v2 += v1;                                                              \
        v1 = s_rotl(v1, 17);                                                   \
        v1 ^= v2;                                                              \
        v2 = s_rotl(v2, 32);                                                   \
    } while (0)

/* SipHash-2-4 of a 32-byte input (the reference algorithm, fixed length:
 * four message words, then the length byte in the last block). */
static uint64_t
s_siphash32(const uint64_t key[2], const uint8_t in[32])
{
    uint64_t v0 = 0x736f6d6570736575ull ^ key[0];
    uint64_t v1 = 0x646f72616e646f6dull ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ key[0];
    uint64_t v3 = 0x7465646279746573ull ^ key[1];

    for (int i = 0; i < 4; i++) {
        uint64_t m = s_le64(in + 8 * i);
        v3 ^= m;
        S_SIPROUND;
        S_SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)32 << 56;
    v3 ^= b;
    S_SIPROUND;
    S_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        S_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* The home slot of fp: its high bits scaled to the table (any size). */
static size_t
s_home(const struct signal_index *ix, uint64_t fp)
{
    return (size_t)(((unsigned __int128)fp * ix->nslots) >> 64);
}

static size_t
s_next(const struct signal_index *ix, size_t i)
{
    return i + 1 == ix->nslots ? 0 : i + 1;
}

/* Into a table that has a free slot. */
static void
s_put(struct signal_index *ix, uint64_t fp, const uint8_t id[16])
{
    size_t i = s_home(ix, fp);

    assert(ix->count + 1 < ix->nslots);
    while (ix->slot[i].fp != 0)
        i = s_next(ix, i);
    ix->slot[i].fp = fp;
    memcpy(ix->slot[i].id, id, 16);
    ix->count++;
}

static void
s_resize(struct signal_index *ix, size_t nslots)
{
    struct s_slot *old = ix->slot;
    size_t n = ix->nslots;

    ix->slot = xcalloc(nslots, sizeof(*ix->slot));
    ix->nslots = nslots;
    ix->count = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i].fp != 0)
            s_put(ix, old[i].fp, old[i].id);
    free(old);
}

/* Room for one more within 3/4: grow by half (not double, so that the
 * table stays between 1/2 and 3/4 full: 32-48 bytes a signal). */
static void
s_room(struct signal_index *ix)
{
    if ((ix->count + 1) * 4 > ix->nslots * 3)
        s_resize(ix, ix->nslots + ix->nslots / 2);
}

/* Remove the slot i and shift back the run after it (no tombstones: a
 * lookup stops at the first empty slot). */
static void
s_erase(struct signal_index *ix, size_t i)
{
    size_t j = i;

    for (;;) {
        j = s_next(ix, j);
        if (ix->slot[j].fp == 0)
            break;
        size_t h = s_home(ix, ix->slot[j].fp);
        /* The entry at j may move to i if its home is not in (i, j]. */
        bool stay = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (stay)
            continue;
        ix->slot[i] = ix->slot[j];
        i = j;
    }
    ix->slot[i].fp = 0;
    ix->count--;
}

static bool
s_find_slot(const struct signal_index *ix, uint64_t fp, const uint8_t id[16],
            size_t *at)
{
    for (size_t i = s_home(ix, fp), n = 0; n < ix->nslots;
         i = s_next(ix, i), n++) {
        if (ix->slot[i].fp == 0)
            return false;
        if (ix->slot[i].fp == fp && memcmp(ix->slot[i].id, id, 16) == 0) {
            *at = i;
            return true;
        }
    }
    return false;
}

static void
s_log(struct signal_index *ix, uint64_t fp, const uint8_t id[16], bool added)
{
    if (ix->nlog == ix->caplog) {
        ix->caplog = ix->caplog < 64 ? 64 : ix->caplog * 2;
        ix->log = xrealloc(ix->log, ix->caplog * sizeof(*ix->log));
    }
    struct s_undo *u = &ix->log[ix->nlog++];
    u->fp = fp;
    memcpy(u->id, id, 16);
    u->added = added;
}

static void
s_log_reset(struct signal_index *ix)
{
    ix->nlog = 0;
    if (ix->caplog > S_LOG_KEEP) {
        free(ix->log);
        ix->log = NULL;
        ix->caplog = 0;
    }
}

static void
s_seed(uint64_t key[2])
{
    /* getrandom() blocks only before the kernel's pool is ready at boot;
     * should it fail, a weaker seed still spreads honest pseudonyms. */
    if (getrandom(key, 2 * sizeof(uint64_t), 0) == 2 * sizeof(uint64_t))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    key[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full ^ (uintptr_t)key;
}

struct signal_index *
signal_index_new(size_t hint)
{
    struct signal_index *ix = xcalloc(1, sizeof(*ix));
    size_t n = hint + hint / 2 + 1;

    ix->nslots = n < S_MIN_SLOTS ? S_MIN_SLOTS : n;
    ix->slot = xcalloc(ix->nslots, sizeof(*ix->slot));
    ix->fp_mask = UINT64_MAX;
    s_seed(ix->key);
    return ix;
}

void
signal_index_destroy(struct signal_index **ip)
{
    if (*ip == NULL)
        return;
    free((*ip)->slot);
    free((*ip)->log);
    free(*ip);
    *ip = NULL;
}

uint64_t
signal_index_fp(const struct signal_index *ix, const uint8_t subject[32])
{
    uint64_t fp = s_siphash32(ix->key, subject) & ix->fp_mask;

    return fp != 0 ? fp : 1;
}

void
signal_index_set_fp_mask(struct signal_index *ix, uint64_t mask)
{
    ix->fp_mask = mask;
}

void
signal_index_add(struct signal_index *ix, uint64_t fp, const uint8_t id[16])
{
    s_log(ix, fp, id, true);
    s_room(ix);
    s_put(ix, fp, id);
}

void
signal_index_load(struct signal_index *ix, uint64_t fp, const uint8_t id[16])
{
    s_room(ix);
    s_put(ix, fp, id);
}

int
signal_index_remove(struct signal_index *ix, uint64_t fp, const uint8_t id[16])
{
    size_t at;

    if (!s_find_slot(ix, fp, id, &at))
        return KR_ENOTFOUND;
    s_log(ix, fp, id, false);
    s_erase(ix, at);
    return KR_OK;
}

size_t
signal_index_find(const struct signal_index *ix, uint64_t fp,
                  uint8_t (*ids)[16], size_t max)
{
    size_t n = 0;

    for (size_t i = s_home(ix, fp), k = 0; k < ix->nslots;
         i = s_next(ix, i), k++) {
        if (ix->slot[i].fp == 0)
            break;
        if (ix->slot[i].fp != fp)
            continue;
        if (n < max)
            memcpy(ids[n], ix->slot[i].id, 16);
        n++;
    }
    return n;
}

void
signal_index_commit(struct signal_index *ix)
{
    s_log_reset(ix);
}

void
signal_index_rollback(struct signal_index *ix)
{
    /* Newest first: each step returns the table to the state before that
     * change, so the count never passes what it held then and no slot
     * needs to be made. */
    for (size_t k = ix->nlog; k-- > 0;) {
        const struct s_undo *u = &ix->log[k];
        size_t at;
        if (u->added) {
            if (s_find_slot(ix, u->fp, u->id, &at))
                s_erase(ix, at);
        } else {
            s_put(ix, u->fp, u->id);
        }
    }
    s_log_reset(ix);
}

void
signal_index_clear(struct signal_index *ix)
{
    memset(ix->slot, 0, ix->nslots * sizeof(*ix->slot));
    ix->count = 0;
    s_log_reset(ix);
}

size_t
signal_index_count(const struct signal_index *ix)
{
    return ix->count;
}

size_t
signal_index_slots(const struct signal_index *ix)
{
    return ix->nslots;
}

size_t
signal_index_bytes(const struct signal_index *ix)
{
    return sizeof(*ix) + ix->nslots * sizeof(*ix->slot) +
           ix->caplog * sizeof(*ix->log);
}
