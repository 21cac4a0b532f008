/*
 * diskspace.h - how much room a store's file system has, and whether a
 * failed write means that it is full.
 *
 * LMDB grows its file by writing past the end. On a full file system its
 * commit fails with ENOSPC, or with EIO when the write came back short
 * (LMDB's mdb_page_flush turns a short write into EIO), so the error code
 * alone does not say "full". What does: the file system's free space,
 * read right after the failure (fstatvfs, cheap, and only on failure or
 * from the cron).
 *
 * Room for the store is the smaller of what the map allows and what the
 * file system allows: the file as it is (LMDB writes inside it, and the
 * prefill helper may have written it far ahead) plus what is still free.
 */
#ifndef KR_DISKSPACE_H
#define KR_DISKSPACE_H

#include <stdbool.h>
#include <stdint.h>

/* A write that failed with EIO is taken as "disk full" when less than
 * this is free on the file system afterwards: a short write uses up what
 * there was. */
#define DISKSPACE_LOW (1u << 20)

struct diskspace {
    uint64_t file_bytes; /* the store's file, as allocated */
    uint64_t fs_free;    /* free for unprivileged writers (f_bavail) */
};

/* Read both for the file open at 'fd'. 0, or an errno value. */
int diskspace_probe(int fd, struct diskspace *out);

/* Bytes the store can reach: min(map, file + free). */
uint64_t diskspace_capacity(uint64_t map_bytes, const struct diskspace *d);

/* Whether a write that failed with errno 'err' failed because the file
 * system is full, given what is free now. */
bool diskspace_errno_full(int err, uint64_t fs_free);

#endif
