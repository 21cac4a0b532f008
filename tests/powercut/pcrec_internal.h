/*
 * pcrec_internal.h - what the recorder's two files share: the state and
 * the records (pcrec.c) and the interposed calls (pcrec_calls.c). Hidden:
 * nothing here is exported from libpcrec.so, so that it cannot interpose
 * on the daemon's own symbols; only the interposed calls are.
 */
#ifndef PCREC_INTERNAL_H
#define PCREC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "pcrec.h"

#define PCREC_MAX_FD 65536

#pragma GCC visibility push(hidden)

/* The real functions, found with dlsym(RTLD_NEXT) once (pcrec_on). */
struct pcrec_real {
    int (*open)(const char *, int, ...);
    int (*open64)(const char *, int, ...);
    int (*openat)(int, const char *, int, ...);
    int (*openat64)(int, const char *, int, ...);
    int (*open_2)(const char *, int);
    int (*open64_2)(const char *, int);
    int (*openat_2)(int, const char *, int);
    int (*openat64_2)(int, const char *, int);
    int (*creat)(const char *, mode_t);
    int (*creat64)(const char *, mode_t);
    int (*close)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*pwrite)(int, const void *, size_t, off_t);
    ssize_t (*pwrite64)(int, const void *, size_t, off64_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*pwritev)(int, const struct iovec *, int, off_t);
    ssize_t (*pwritev64)(int, const struct iovec *, int, off64_t);
    ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
    int (*fsync)(int);
    int (*fdatasync)(int);
    int (*sync_file_range)(int, off64_t, off64_t, unsigned int);
    int (*syncfs)(int);
    void (*sync)(void);
    int (*ftruncate)(int, off_t);
    int (*ftruncate64)(int, off64_t);
    int (*fallocate)(int, int, off_t, off_t);
    int (*fallocate64)(int, int, off64_t, off64_t);
    int (*posix_fallocate)(int, off_t, off_t);
    int (*posix_fallocate64)(int, off64_t, off64_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    void *(*mmap64)(void *, size_t, int, int, int, off64_t);
};
extern struct pcrec_real pcrec_real;

/* Per descriptor: the file id + 1 (0: not recorded), whether O_DSYNC. */
struct pcrec_fd {
    uint32_t file1;
    bool dsync;
};
extern struct pcrec_fd pcrec_fd[PCREC_MAX_FD];
/* How many files were recorded so far. */
extern uint32_t pcrec_nfiles;

/* Whether recording is on (PCREC_LOG set); the first call finds the real
 * functions. */
bool pcrec_on(void);
/* The descriptor's file id + 1, or 0 if it is not recorded (or off). */
uint32_t pcrec_file(int fd);
/* A descriptor just opened: record it if it is one of ours. */
void pcrec_track(int fd, int flags);
/* Log a use the builder cannot model (the log is then refused). */
void pcrec_unsup(uint32_t file1, enum pc_unsup what);
/* Append one record with its payload; returns its index in the log. */
uint64_t pcrec_emit(struct pc_rec *r, const struct iovec *data, int ndata);
/* A write's intent with its data (its index), and its result. */
uint64_t pcrec_write_begin(int fd, uint32_t f, uint64_t off,
                           const struct iovec *iov, int n);
void pcrec_write_end(uint32_t f, uint64_t ref, ssize_t res);
/* A flush's start (its index), and its result. */
uint64_t pcrec_flush_begin(uint32_t file, enum pc_flush kind);
void pcrec_flush_end(uint32_t file, uint64_t ref, int res);
/* A size change that succeeded. */
void pcrec_size_op(uint32_t f, enum pc_type type, uint64_t off, uint64_t len,
                   uint32_t mode);

#pragma GCC visibility pop

#endif
