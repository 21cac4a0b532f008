/*
 * signal_index.h - the broker's in-memory index of signals by subject.
 *
 * LMDB holds signals in insert order (bstore_signal.h: keyed by their
 * time-ordered signal_id, so a new one is an append). This index finds a
 * subject's signals: a multimap from a 64-bit fingerprint of the subject
 * to signal ids, open addressing with linear probing, 24 bytes a slot,
 * at most 3/4 full (32-48 bytes a signal). It is rebuilt from LMDB when
 * the store opens, and never written to disk.
 *
 * The fingerprint is SipHash-2-4 of the subject under a key drawn at
 * random when the index is made: a sender cannot choose pseudonyms that
 * pile up in one run of slots. Two subjects may still share one (2^-64 a
 * pair): the store reads each record and checks its subject.
 *
 * Transactions: every add and remove is logged. signal_index_commit()
 * forgets the log when the write transaction commits;
 * signal_index_rollback() undoes it, newest first, when it aborts, so
 * the index never holds what LMDB did not commit (bstore.c calls both).
 *
 * Out of memory aborts the daemon (util.h's xmalloc), as everywhere in it.
 */
#ifndef KR_SIGNAL_INDEX_H
#define KR_SIGNAL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct signal_index;

/* A new empty index with room for 'hint' signals before it grows. */
struct signal_index *signal_index_new(size_t hint);
void signal_index_destroy(struct signal_index **ip);

/* The fingerprint of a subject (never 0: 0 marks an empty slot). */
uint64_t signal_index_fp(const struct signal_index *ix,
                         const uint8_t subject[32]);
/* Tests only: keep only these bits of each fingerprint (collisions on
 * purpose). */
void signal_index_set_fp_mask(struct signal_index *ix, uint64_t mask);

/* Add (fp, id), logged for rollback. The pair must not be there yet. */
void signal_index_add(struct signal_index *ix, uint64_t fp,
                      const uint8_t id[16]);
/* Add without logging: filling the index from the store. */
void signal_index_load(struct signal_index *ix, uint64_t fp,
                       const uint8_t id[16]);
/* Remove (fp, id), logged; KR_ENOTFOUND (nothing logged) if absent. */
int signal_index_remove(struct signal_index *ix, uint64_t fp,
                        const uint8_t id[16]);
/* The ids under fp, up to max into ids; returns how many there are in
 * all (more than max: the rest was not copied). In slot order. */
size_t signal_index_find(const struct signal_index *ix, uint64_t fp,
                         uint8_t (*ids)[16], size_t max);

/* The write transaction committed: forget the log. */
void signal_index_commit(struct signal_index *ix);
/* It aborted: undo the logged changes, newest first. */
void signal_index_rollback(struct signal_index *ix);
/* Empty the index (and the log). */
void signal_index_clear(struct signal_index *ix);

/* Signals held, slots, bytes allocated (table and log). */
size_t signal_index_count(const struct signal_index *ix);
size_t signal_index_slots(const struct signal_index *ix);
size_t signal_index_bytes(const struct signal_index *ix);

#endif
