/*
 * pcimage.h - reading a power-cut recorder's log (pcrec.h) and building
 * from it the file a power cut would leave.
 *
 * The model, per recorded file:
 *   - a write is durable when it returned and then a flush of the same
 *     file (fsync or fdatasync through any descriptor; syncfs or sync)
 *     BEGAN and later RETURNED 0; a write through an O_DSYNC or O_SYNC
 *     descriptor (or with RWF_DSYNC) is durable when it returned;
 *   - ftruncate and fallocate are durable under the same rule;
 *   - sync_file_range makes nothing durable (no device flush);
 *   - everything else recorded is "later": it may or may not have reached
 *     the disk, in any subset, and a write may be torn at the device's
 *     atomic unit (512 bytes, or 4 KiB on a 4Kn disk).
 * It models file data and size, not the file system's own metadata (a
 * file created and never flushed with its directory is assumed to be
 * there; the daemons create their store once, at the first start).
 */
#ifndef KR_PCIMAGE_H
#define KR_PCIMAGE_H

#include <stddef.h>
#include <stdint.h>

struct pc_log;

/* Load a log. On error: -1 and a message naming the cause in err. A
 * record cut short at the end (the kill) is ignored. */
int pc_log_load(const char *path, struct pc_log **out, char *err,
                size_t errlen);
void pc_log_free(struct pc_log **lp);
/* The id of the recorded file with this base name ("data.mdb"), or -1. */
int pc_log_file(const struct pc_log *l, const char *name);
/* Counts over the whole log: records, writes, completed flushes. */
void pc_log_counts(const struct pc_log *l, uint64_t *records, uint64_t *writes,
                   uint64_t *flushes);

enum pc_variant {
    PC_IMG_DURABLE,  /* exactly what completed flushes made durable */
    PC_IMG_SUBSET,   /* plus a random subset of the later writes, whole */
    PC_IMG_TORN_4K,  /* plus random 4 KiB pieces of the later writes */
    PC_IMG_TORN_512, /* plus random 512-byte pieces of the later writes */
};
#define PC_IMG_VARIANTS 4

const char *pc_variant_name(enum pc_variant v);

struct pc_image_stats {
    uint64_t durable;     /* durable writes applied */
    uint64_t later;       /* writes not known durable */
    uint64_t later_taken; /* of which (in part, if torn) in this image */
    uint64_t pieces_torn; /* torn variants: pieces left out of taken writes */
    uint64_t size;        /* the image's size in bytes */
};

/* Build the image of recorded file 'file' as of the end of the log: start
 * from 'base' (the file as it was when the recording began; NULL or
 * missing: empty), apply the durable writes and, per variant, later ones
 * chosen with 'rng', and write it to 'out'. 0, or -1 with err. */
int pc_image_build(const struct pc_log *l, int file, const char *base,
                   const char *out, enum pc_variant v, uint64_t *rng,
                   struct pc_image_stats *st, char *err, size_t errlen);

/* splitmix64: the harness's one random source, replayable from a seed. */
static inline uint64_t
pc_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
