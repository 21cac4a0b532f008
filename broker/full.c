/*
 * full.c - a full store and a full disk (docs/ARCHITECTURE.md, departures
 * 7, 13 and 27).
 *
 * The store can grow until its map is full, or until the file system
 * under it is. Both end the same way: new messages are refused before
 * they touch the store, while acknowledgements go on committing, and
 * every acknowledged delivery deletes its payload and frees pages for the
 * next. The cron measures the room: what the map allows, or, if smaller,
 * what the disk allows (the store's file as it is, written ahead included,
 * plus what the file system has free; LMDB writes inside its file without
 * asking the file system for more). The refusal names which of the two is
 * full, so that an operator knows whether to raise map_size_mb or to free
 * the disk, and a sender's node knows to offer the message again soon.
 */
#include "broker.h"
#include "bstore.h"
#include "diskspace.h"
#include "log.h"

#define S_FULL_HOLD_MS 1000 /* submits refused after a pass failed so */
#define S_LOG_EVERY_MS 60000

void
full_refresh(struct broker *b, uint64_t used, uint64_t map)
{
    struct diskspace d;
    uint64_t cap = map;

    if (bstore_disk(b->store, &d) == KR_OK) {
        cap = diskspace_capacity(map, &d);
        b->disk_free = d.fs_free;
        b->store_file_bytes = d.file_bytes;
    }
    b->disk_bound = cap < map;
    b->store_free_est = cap > used ? cap - used : 0;
    /* The reserve is an eighth of what the store can reach: acks, receipts
     * and audit records need pages too, also on a disk smaller than the
     * map. */
    b->store_reserve = cap / 8 > (256u << 10) ? cap / 8 : (256u << 10);
}

/* Once refusing, take new messages again only when the room is back by a
 * margin (half the reserve again): the cron's estimate moves by a few
 * pages with every refresh, and a store at the edge would otherwise take
 * and refuse by turns, logging each turn. */
static bool
s_room(struct broker *b, size_t env_len)
{
    if (b->full_reason_now == 0)
        return deliver_has_room(b, env_len);
    return deliver_has_room(b, env_len + (size_t)(b->store_reserve / 4));
}

int
full_refusal(struct broker *b, size_t env_len)
{
    uint64_t n, dur;
    int reason = 0;

    if (b->now_ms < b->store_full_until)
        reason = b->store_full_reason;
    else if (!s_room(b, env_len))
        reason = b->disk_bound ? KR__V1__REASON__DISK_FULL
                               : KR__V1__REASON__STORE_FULL;
    b->full_reason_now = reason;
    if (reason == 0) {
        if (log_every_clear(&b->full_log, util_mono_ms(), &dur, &n))
            log_warnx("submit: room again: new messages accepted after "
                      "%llu ms refused=%llu free_est=%llu",
                      (unsigned long long)dur, (unsigned long long)n,
                      (unsigned long long)b->store_free_est);
        return 0;
    }
    b->refused_full++;
    /* The operator must hear of this: once, then once a minute. */
    if (log_every_hit(&b->full_log, util_mono_ms(), S_LOG_EVERY_MS, &n)) {
        if (reason == KR__V1__REASON__DISK_FULL)
            log_warnx("submit: ALERT disk full: refusing new messages "
                      "reason=disk-full disk_free=%llu store_file=%llu "
                      "free_est=%llu reserve=%llu refused_since_last=%llu "
                      "(free space on the store's file system; "
                      "acknowledgements still drain the store)",
                      (unsigned long long)b->disk_free,
                      (unsigned long long)b->store_file_bytes,
                      (unsigned long long)b->store_free_est,
                      (unsigned long long)b->store_reserve,
                      (unsigned long long)n);
        else
            log_warnx("submit: ALERT store full: refusing new messages "
                      "reason=store-full free_est=%llu reserve=%llu "
                      "map_size_mb=%llu refused_since_last=%llu",
                      (unsigned long long)b->store_free_est,
                      (unsigned long long)b->store_reserve,
                      (unsigned long long)b->cfg.map_size_mb,
                      (unsigned long long)n);
    }
    return reason;
}

int
full_commit_failed(struct broker *b, int rc)
{
    int reason = rc == KR_EDISKFULL ? KR__V1__REASON__DISK_FULL
                                    : KR__V1__REASON__STORE_FULL;

    /* Stop taking new messages for a moment so that acknowledgements,
     * which free space, can commit on their own; the cron measures the
     * room again meanwhile. */
    b->store_full_until = b->now_ms + S_FULL_HOLD_MS;
    b->store_full_reason = reason;
    if (rc == KR_EDISKFULL)
        b->store_free_est = 0; /* until the cron has looked again */
    return reason;
}

bool
full_disk_now(struct broker *b)
{
    if (b->now_ms < b->store_full_until)
        return b->store_full_reason == KR__V1__REASON__DISK_FULL;
    return b->disk_bound && !s_room(b, 0);
}
