/*
 * pcrec.c - the power-cut recorder: an LD_PRELOAD library that logs every
 * write to, and every flush of, the files of a daemon's store, so that
 * the harness (powercut.c, pcimage.c) can build the image a power cut
 * would leave at any moment. The log's format is in pcrec.h.
 *
 * Environment (the library does nothing without PCREC_LOG):
 *   PCREC_LOG    the log file (appended; outside the recorded directory)
 *   PCREC_DIR    record files whose real path is under this directory
 *   PCREC_FILES  comma-separated base names to record (empty: every file)
 *
 * Intercepted: open/openat/creat (and their 64 and _2 forms), close, dup*,
 * write, pwrite, writev, pwritev(2), fsync, fdatasync, sync_file_range,
 * syncfs, sync, ftruncate, fallocate, posix_fallocate, mmap. A shared
 * writable mapping of a recorded file, or a recorded descriptor
 * duplicated, is logged as PC_UNSUP: the builder then refuses the log,
 * because writes through memory (made durable by msync) or through
 * another descriptor number would be missed. LMDB without MDB_WRITEMAP
 * maps its data file read-only, and neither daemon duplicates it.
 *
 * Why an LD_PRELOAD library rather than a FUSE file system: it sees the
 * calls exactly as the daemon makes them (which descriptor, O_DSYNC or
 * not, which thread, the order of a write's return against a flush's
 * start), it needs no kernel module, no /dev/fuse and no privileges in CI
 * containers, and it costs one extra write() per call instead of a round
 * trip through a user-space file system that would change the timing of
 * every commit by far more. Its limit: it sees only calls that go through
 * the dynamic linker (not raw syscall(2), not io_uring); the daemons use
 * neither.
 *
 * This file holds the state, the log and the records; pcrec_calls.c the
 * interposed calls themselves (pcrec_internal.h between them).
 *
 * Thread-safe: prefill.c writes and flushes from its own thread. Records
 * are appended under one mutex; the real write or flush runs outside it.
 */
#define _GNU_SOURCE
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pcrec.h"
#include "pcrec_internal.h"

#define S_MAX_FILES 64
#define S_IOV_MAX 1024

struct pcrec_real pcrec_real;

struct pcrec_fd pcrec_fd[PCREC_MAX_FD];

static struct {
    dev_t dev;
    ino_t ino;
} s_files[S_MAX_FILES];
uint32_t pcrec_nfiles;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static bool s_active;
static char s_dir[PATH_MAX];
static size_t s_dir_len;
static char s_names[1024]; /* ",a,b," or "" */
static char s_log_path[PATH_MAX];
static int s_log = -1;
static uint64_t s_nrec;

#define S_REAL(name) (pcrec_real.name = dlsym(RTLD_NEXT, #name))

static void
s_init(void)
{
    S_REAL(open);
    S_REAL(open64);
    S_REAL(openat);
    S_REAL(openat64);
    pcrec_real.open_2 = dlsym(RTLD_NEXT, "__open_2");
    pcrec_real.open64_2 = dlsym(RTLD_NEXT, "__open64_2");
    pcrec_real.openat_2 = dlsym(RTLD_NEXT, "__openat_2");
    pcrec_real.openat64_2 = dlsym(RTLD_NEXT, "__openat64_2");
    S_REAL(creat);
    S_REAL(creat64);
    S_REAL(close);
    S_REAL(dup);
    S_REAL(dup2);
    S_REAL(dup3);
    S_REAL(write);
    S_REAL(pwrite);
    S_REAL(pwrite64);
    S_REAL(writev);
    S_REAL(pwritev);
    S_REAL(pwritev64);
    S_REAL(pwritev2);
    S_REAL(fsync);
    S_REAL(fdatasync);
    S_REAL(sync_file_range);
    S_REAL(syncfs);
    S_REAL(sync);
    S_REAL(ftruncate);
    S_REAL(ftruncate64);
    S_REAL(fallocate);
    S_REAL(fallocate64);
    S_REAL(posix_fallocate);
    S_REAL(posix_fallocate64);
    S_REAL(mmap);
    S_REAL(mmap64);

    const char *log = getenv("PCREC_LOG");
    const char *dir = getenv("PCREC_DIR");
    const char *names = getenv("PCREC_FILES");
    if (log == NULL || dir == NULL || *log == '\0' || *dir == '\0')
        return;
    if (realpath(dir, s_dir) == NULL)
        snprintf(s_dir, sizeof(s_dir), "%s", dir);
    s_dir_len = strlen(s_dir);
    snprintf(s_log_path, sizeof(s_log_path), "%s", log);
    if (names != NULL && *names != '\0')
        snprintf(s_names, sizeof(s_names), ",%s,", names);
    s_active = true;
}

bool
pcrec_on(void)
{
    pthread_once(&s_once, s_init);
    return s_active;
}

/* Write all of iov to the log (a regular file: no short writes in
 * practice, but loop anyway). Called with s_mu held. */
static void
s_log_write(struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = pcrec_real.writev(s_log, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* A log that cannot be written makes every image a lie:
             * stop the daemon rather than go on unrecorded. */
            static const char msg[] = "pcrec: cannot write the log\n";
            pcrec_real.write(2, msg, sizeof(msg) - 1);
            abort();
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
}

/* Append one record with its payload; returns its index in the log. */
uint64_t
pcrec_emit(struct pc_rec *r, const struct iovec *data, int ndata)
{
    struct iovec iov[S_IOV_MAX];
    char *copy = NULL;
    int errno_saved = errno;

    r->magic = PC_MAGIC;
    iov[0].iov_base = r;
    iov[0].iov_len = sizeof(*r);
    int n = 1;
    if (ndata + 1 <= S_IOV_MAX) {
        for (int i = 0; i < ndata; i++)
            iov[n++] = data[i];
    } else {
        /* More pieces than one writev takes: copy them together. */
        copy = malloc(r->len);
        if (copy == NULL)
            abort();
        size_t at = 0;
        for (int i = 0; i < ndata && at < r->len; i++) {
            size_t k = data[i].iov_len;
            if (k > r->len - at)
                k = r->len - at;
            memcpy(copy + at, data[i].iov_base, k);
            at += k;
        }
        iov[n].iov_base = copy;
        iov[n++].iov_len = r->len;
    }
    pthread_mutex_lock(&s_mu);
    if (s_log < 0) {
        s_log = pcrec_real.open(
            s_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (s_log < 0)
            abort();
    }
    uint64_t idx = s_nrec++;
    s_log_write(iov, n);
    pthread_mutex_unlock(&s_mu);
    free(copy);
    errno = errno_saved;
    return idx;
}

static bool
s_wanted(const char *path)
{
    if (strncmp(path, s_dir, s_dir_len) != 0 ||
        (path[s_dir_len] != '/' && path[s_dir_len] != '\0'))
        return false;
    if (s_names[0] == '\0')
        return true;
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    char key[PATH_MAX + 2];
    snprintf(key, sizeof(key), ",%s,", base);
    return strstr(s_names, key) != NULL;
}

/* A descriptor just opened: record it if it is one of ours. */
void
pcrec_track(int fd, int flags)
{
    char link[64], path[PATH_MAX];
    struct stat st;

    if (fd < 0 || !s_active)
        return;
    if (fd >= PCREC_MAX_FD)
        return;
    pcrec_fd[fd].file1 = 0;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return;
    path[n] = '\0';
    if (!s_wanted(path) || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    pthread_mutex_lock(&s_mu);
    uint32_t id = UINT32_MAX;
    for (uint32_t i = 0; i < pcrec_nfiles; i++)
        if (s_files[i].dev == st.st_dev && s_files[i].ino == st.st_ino)
            id = i;
    bool fresh = false;
    if (id == UINT32_MAX && pcrec_nfiles < S_MAX_FILES) {
        id = pcrec_nfiles++;
        s_files[id].dev = st.st_dev;
        s_files[id].ino = st.st_ino;
        fresh = true;
    }
    pthread_mutex_unlock(&s_mu);
    if (id == UINT32_MAX)
        return;
    pcrec_fd[fd].file1 = id + 1;
    pcrec_fd[fd].dsync = (flags & (O_DSYNC | O_SYNC)) != 0;
    if (fresh) {
        struct pc_rec r = {0};
        struct iovec d = {path, (size_t)n};
        r.type = PC_OPEN;
        r.file = id;
        r.aux = (uint32_t)flags;
        r.off = (uint64_t)st.st_size;
        r.len = (uint64_t)n;
        pcrec_emit(&r, &d, 1);
    }
}

uint32_t
pcrec_file(int fd)
{
    /* pcrec_on() first: it also finds the real functions for the caller. */
    if (!pcrec_on() || fd < 0 || fd >= PCREC_MAX_FD)
        return 0;
    return pcrec_fd[fd].file1;
}

void
pcrec_unsup(uint32_t file1, enum pc_unsup what)
{
    struct pc_rec r = {0};
    r.type = PC_UNSUP;
    r.file = file1 - 1;
    r.aux = what;
    pcrec_emit(&r, NULL, 0);
}

/*
 * The records the interposed calls make (pcrec_calls.c).
 */

uint64_t
pcrec_write_begin(int fd, uint32_t f, uint64_t off, const struct iovec *iov,
                  int n)
{
    struct pc_rec r = {0};
    uint64_t len = 0;

    for (int i = 0; i < n; i++)
        len += iov[i].iov_len;
    r.type = PC_WRITE;
    r.flags = pcrec_fd[fd].dsync ? PC_F_DSYNC : 0;
    r.file = f - 1;
    r.off = off;
    r.len = len;
    return pcrec_emit(&r, iov, n);
}

void
pcrec_write_end(uint32_t f, uint64_t ref, ssize_t res)
{
    struct pc_rec r = {0};

    r.type = PC_DONE;
    r.file = f - 1;
    r.ref = ref;
    r.res = res < 0 ? -(int64_t)errno : (int64_t)res;
    pcrec_emit(&r, NULL, 0);
}

uint64_t
pcrec_flush_begin(uint32_t file, enum pc_flush kind)
{
    struct pc_rec r = {0};
    r.type = PC_FBEGIN;
    r.file = file;
    r.aux = kind;
    return pcrec_emit(&r, NULL, 0);
}

void
pcrec_flush_end(uint32_t file, uint64_t ref, int res)
{
    struct pc_rec r = {0};
    r.type = PC_FEND;
    r.file = file;
    r.ref = ref;
    r.res = res < 0 ? -(int64_t)errno : 0;
    pcrec_emit(&r, NULL, 0);
}

void
pcrec_size_op(uint32_t f, enum pc_type type, uint64_t off, uint64_t len,
              uint32_t mode)
{
    struct pc_rec r = {0};
    r.type = (uint16_t)type;
    r.file = f - 1;
    r.off = off;
    r.len = 0;
    r.res = (int64_t)len; /* the range (no payload follows) */
    r.aux = mode;
    pcrec_emit(&r, NULL, 0);
}
