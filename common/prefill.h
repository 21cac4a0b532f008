/*
 * prefill.h - keep a store's file written ahead of its writer.
 *
 * On this machine's file system a commit that writes past the end of the
 * file costs much more than one that writes inside it: its fdatasync must
 * also make the new blocks and the new size durable (docs/ARCHITECTURE.md,
 * "A growing file makes each commit dearer"). A helper thread therefore
 * writes zeros, and flushes them, a little past the end that LMDB uses, so
 * that commits land in blocks the file already has.
 *
 * LMDB may write anywhere past its last page while a write transaction is
 * open, so the helper and the writer exclude each other: the writer holds
 * the lock from the transaction's start until its commit or abort returns
 * (prefill_writer_enter/_leave), and the helper writes only while holding
 * it, and only past the end the writer has committed. The helper's flush
 * runs outside the lock.
 */
#ifndef KR_PREFILL_H
#define KR_PREFILL_H

#include <stdint.h>

struct prefill;

/* Where the writer's data ends, in bytes, or UINT64_MAX if unknown (then
 * nothing is written); called with the lock held. */
typedef uint64_t (*prefill_used_fn)(void *arg);

/* Start the helper for the file open at 'fd': it keeps the file written up
 * to 'ahead' bytes past used(arg), never past 'cap' bytes. NULL if ahead is
 * 0 or the thread cannot start (logged; the store then works as before). */
struct prefill *prefill_start(int fd, uint64_t ahead, uint64_t cap,
                              prefill_used_fn used, void *arg);

/* Around every write transaction. Both accept NULL. */
void prefill_writer_enter(struct prefill *p);
void prefill_writer_leave(struct prefill *p);

/* How far the file is written (bytes), for logs and tests. */
uint64_t prefill_filled(struct prefill *p);

/* Stop the helper and wait for it; *pp becomes NULL. Before the file's
 * descriptor is closed. */
void prefill_stop(struct prefill **pp);

#endif
