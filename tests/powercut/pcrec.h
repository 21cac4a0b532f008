/*
 * pcrec.h - the power-cut recorder's log format, shared by the LD_PRELOAD
 * library that writes it (pcrec.c) and the image builder that reads it
 * (pcimage.c).
 *
 * The log is a sequence of records, each a struct pc_rec followed by
 * 'len' bytes of payload for PC_WRITE (the data) and PC_OPEN (the path).
 * Records are appended with one write()/writev() each, under a mutex, to
 * an O_APPEND file: the log's order is the order in which the daemon's
 * threads made their calls, and every record written before a kill -9 is
 * in it (the page cache outlives the process). The last record may be cut
 * short by the kill; the reader ignores it.
 *
 * A write is logged twice: its intent with the data before the call
 * (PC_WRITE), its result after it (PC_DONE, ref = the PC_WRITE's index).
 * A flush likewise: PC_FBEGIN before, PC_FEND (ref = the PC_FBEGIN's
 * index) after it returned. So the builder knows which writes had
 * completed when a flush began (those it covers), which were still in
 * progress at the cut (candidates for a torn image), and which flushes had
 * returned (only those made anything durable).
 */
#ifndef KR_PCREC_H
#define KR_PCREC_H

#include <stdint.h>

#define PC_MAGIC 0x31524350u /* "PCR1" */

enum pc_type {
    PC_OPEN = 1,   /* first open of a file: file id, path, off = its size */
    PC_WRITE = 2,  /* a write's intent: file, off, len, data */
    PC_DONE = 3,   /* a write returned: ref, res = bytes written or -errno */
    PC_FBEGIN = 4, /* a flush is called: file (PC_ALL_FILES), aux = kind */
    PC_FEND = 5,   /* it returned: ref, res = 0 or -errno */
    PC_TRUNC = 6,  /* ftruncate returned 0: file, off = the new size */
    PC_FALLOC =
        7, /* fallocate returned 0: file, off, res = length, aux = mode */
    PC_UNSUP = 8, /* a call the model cannot follow: aux = what */
};

/* Flags of a PC_WRITE. */
#define PC_F_DSYNC 1u /* through an O_DSYNC/O_SYNC descriptor */

/* Kinds of flush (PC_FBEGIN.aux). */
enum pc_flush {
    PC_FL_FSYNC = 1,
    PC_FL_FDATASYNC = 2,
    PC_FL_SYNCFS = 3,    /* syncfs(), sync(): every file */
    PC_FL_SYNC_RANGE = 4 /* sync_file_range: no device flush, nothing durable */
};

/* What PC_UNSUP names. */
enum pc_unsup {
    PC_U_SHARED_WRITABLE_MAP = 1, /* writes through memory: not seen */
    PC_U_MSYNC = 2,
    PC_U_DUP = 3, /* a recorded descriptor duplicated */
};

#define PC_ALL_FILES 0xffffffffu

struct pc_rec {
    uint32_t magic;
    uint16_t type;
    uint16_t flags;
    uint32_t file; /* file id, 0.. in order of first open */
    uint32_t aux;
    int64_t res;  /* PC_DONE, PC_FEND; PC_FALLOC: the length */
    uint64_t off; /* PC_WRITE, PC_TRUNC, PC_FALLOC */
    uint64_t len; /* payload bytes (PC_WRITE, PC_OPEN) */
    uint64_t ref; /* PC_DONE, PC_FEND: index of the record they complete */
};

#endif
