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

#define S_MAX_FD 65536
#define S_MAX_FILES 64
#define S_IOV_MAX 1024

/* The real functions, found with dlsym(RTLD_NEXT) once. */
static struct {
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
} s_real;

/* Per descriptor: the file id + 1 (0: not recorded), whether O_DSYNC. */
static struct {
    uint32_t file1;
    bool dsync;
} s_fd[S_MAX_FD];

static struct {
    dev_t dev;
    ino_t ino;
} s_files[S_MAX_FILES];
static uint32_t s_nfiles;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static bool s_active;
static char s_dir[PATH_MAX];
static size_t s_dir_len;
static char s_names[1024]; /* ",a,b," or "" */
static char s_log_path[PATH_MAX];
static int s_log = -1;
static uint64_t s_nrec;

#define S_REAL(name) (s_real.name = dlsym(RTLD_NEXT, #name))

static void
s_init(void)
{
    S_REAL(open);
    S_REAL(open64);
    S_REAL(openat);
    S_REAL(openat64);
    s_real.open_2 = dlsym(RTLD_NEXT, "__open_2");
    s_real.open64_2 = dlsym(RTLD_NEXT, "__open64_2");
    s_real.openat_2 = dlsym(RTLD_NEXT, "__openat_2");
    s_real.openat64_2 = dlsym(RTLD_NEXT, "__openat64_2");
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

static inline bool
s_on(void)
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
        ssize_t w = s_real.writev(s_log, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* A log that cannot be written makes every image a lie:
             * stop the daemon rather than go on unrecorded. */
            static const char msg[] = "pcrec: cannot write the log\n";
            s_real.write(2, msg, sizeof(msg) - 1);
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
static uint64_t
s_emit(struct pc_rec *r, const struct iovec *data, int ndata)
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
        s_log = s_real.open(s_log_path,
                            O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
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
static void
s_track(int fd, int flags)
{
    char link[64], path[PATH_MAX];
    struct stat st;

    if (fd < 0 || !s_active)
        return;
    if (fd >= S_MAX_FD)
        return;
    s_fd[fd].file1 = 0;
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return;
    path[n] = '\0';
    if (!s_wanted(path) || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    pthread_mutex_lock(&s_mu);
    uint32_t id = UINT32_MAX;
    for (uint32_t i = 0; i < s_nfiles; i++)
        if (s_files[i].dev == st.st_dev && s_files[i].ino == st.st_ino)
            id = i;
    bool fresh = false;
    if (id == UINT32_MAX && s_nfiles < S_MAX_FILES) {
        id = s_nfiles++;
        s_files[id].dev = st.st_dev;
        s_files[id].ino = st.st_ino;
        fresh = true;
    }
    pthread_mutex_unlock(&s_mu);
    if (id == UINT32_MAX)
        return;
    s_fd[fd].file1 = id + 1;
    s_fd[fd].dsync = (flags & (O_DSYNC | O_SYNC)) != 0;
    if (fresh) {
        struct pc_rec r = {0};
        struct iovec d = {path, (size_t)n};
        r.type = PC_OPEN;
        r.file = id;
        r.aux = (uint32_t)flags;
        r.off = (uint64_t)st.st_size;
        r.len = (uint64_t)n;
        s_emit(&r, &d, 1);
    }
}

static inline uint32_t
s_file(int fd)
{
    /* s_on() first: it also finds the real functions for the caller. */
    if (!s_on() || fd < 0 || fd >= S_MAX_FD)
        return 0;
    return s_fd[fd].file1;
}

static void
s_unsup(uint32_t file1, enum pc_unsup what)
{
    struct pc_rec r = {0};
    r.type = PC_UNSUP;
    r.file = file1 - 1;
    r.aux = what;
    s_emit(&r, NULL, 0);
}

/*
 * Opening and closing.
 */

#define S_OPEN_MODE(flags, mode)                                               \
    do {                                                                       \
        if ((flags) & (O_CREAT | O_TMPFILE)) {                                 \
            va_list ap;                                                        \
            va_start(ap, flags);                                               \
            mode = va_arg(ap, mode_t);                                         \
            va_end(ap);                                                        \
        }                                                                      \
    } while (0)

int
open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_OPEN_MODE(flags, mode);
    bool on = s_on();
    int fd = s_real.open(path, flags, mode);
    if (on)
        s_track(fd, flags);
    return fd;
}

int
open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_OPEN_MODE(flags, mode);
    bool on = s_on();
    int fd = s_real.open64(path, flags, mode);
    if (on)
        s_track(fd, flags);
    return fd;
}

int
openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_OPEN_MODE(flags, mode);
    bool on = s_on();
    int fd = s_real.openat(dirfd, path, flags, mode);
    if (on)
        s_track(fd, flags);
    return fd;
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_OPEN_MODE(flags, mode);
    bool on = s_on();
    int fd = s_real.openat64(dirfd, path, flags, mode);
    if (on)
        s_track(fd, flags);
    return fd;
}

int
__open_2(const char *path, int flags)
{
    bool on = s_on();
    int fd = s_real.open_2(path, flags);
    if (on)
        s_track(fd, flags);
    return fd;
}

int
__open64_2(const char *path, int flags)
{
    bool on = s_on();
    int fd = s_real.open64_2(path, flags);
    if (on)
        s_track(fd, flags);
    return fd;
}

int
__openat_2(int dirfd, const char *path, int flags)
{
    bool on = s_on();
    int fd = s_real.openat_2(dirfd, path, flags);
    if (on)
        s_track(fd, flags);
    return fd;
}

int
__openat64_2(int dirfd, const char *path, int flags)
{
    bool on = s_on();
    int fd = s_real.openat64_2(dirfd, path, flags);
    if (on)
        s_track(fd, flags);
    return fd;
}

int
creat(const char *path, mode_t mode)
{
    bool on = s_on();
    int fd = s_real.creat(path, mode);
    if (on)
        s_track(fd, O_CREAT | O_WRONLY | O_TRUNC);
    return fd;
}

int
creat64(const char *path, mode_t mode)
{
    bool on = s_on();
    int fd = s_real.creat64(path, mode);
    if (on)
        s_track(fd, O_CREAT | O_WRONLY | O_TRUNC);
    return fd;
}

int
close(int fd)
{
    if (s_file(fd) != 0)
        s_fd[fd].file1 = 0;
    return s_real.close(fd);
}

int
dup(int fd)
{
    uint32_t f = s_file(fd);
    if (f != 0)
        s_unsup(f, PC_U_DUP);
    return s_real.dup(fd);
}

int
dup2(int fd, int to)
{
    uint32_t f = s_file(fd);
    if (f != 0)
        s_unsup(f, PC_U_DUP);
    if (s_file(to) != 0)
        s_fd[to].file1 = 0;
    return s_real.dup2(fd, to);
}

int
dup3(int fd, int to, int flags)
{
    uint32_t f = s_file(fd);
    if (f != 0)
        s_unsup(f, PC_U_DUP);
    if (s_file(to) != 0)
        s_fd[to].file1 = 0;
    return s_real.dup3(fd, to, flags);
}

/*
 * Writes: the intent with its data before, the result after.
 */

static uint64_t
s_write_begin(int fd, uint32_t f, uint64_t off, const struct iovec *iov, int n)
{
    struct pc_rec r = {0};
    uint64_t len = 0;

    for (int i = 0; i < n; i++)
        len += iov[i].iov_len;
    r.type = PC_WRITE;
    r.flags = s_fd[fd].dsync ? PC_F_DSYNC : 0;
    r.file = f - 1;
    r.off = off;
    r.len = len;
    return s_emit(&r, iov, n);
}

static void
s_write_end(uint32_t f, uint64_t ref, ssize_t res)
{
    struct pc_rec r = {0};

    r.type = PC_DONE;
    r.file = f - 1;
    r.ref = ref;
    r.res = res < 0 ? -(int64_t)errno : (int64_t)res;
    s_emit(&r, NULL, 0);
}

/* The descriptor's position, for write() and writev(). */
static uint64_t
s_pos(int fd)
{
    off_t p = lseek(fd, 0, SEEK_CUR);
    return p < 0 ? 0 : (uint64_t)p;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.write(fd, buf, len);
    struct iovec v = {(void *)buf, len};
    uint64_t ref = s_write_begin(fd, f, s_pos(fd), &v, 1);
    ssize_t res = s_real.write(fd, buf, len);
    s_write_end(f, ref, res);
    return res;
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.pwrite(fd, buf, len, off);
    struct iovec v = {(void *)buf, len};
    uint64_t ref = s_write_begin(fd, f, (uint64_t)off, &v, 1);
    ssize_t res = s_real.pwrite(fd, buf, len, off);
    s_write_end(f, ref, res);
    return res;
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.pwrite64(fd, buf, len, off);
    struct iovec v = {(void *)buf, len};
    uint64_t ref = s_write_begin(fd, f, (uint64_t)off, &v, 1);
    ssize_t res = s_real.pwrite64(fd, buf, len, off);
    s_write_end(f, ref, res);
    return res;
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.writev(fd, iov, n);
    uint64_t ref = s_write_begin(fd, f, s_pos(fd), iov, n);
    ssize_t res = s_real.writev(fd, iov, n);
    s_write_end(f, ref, res);
    return res;
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.pwritev(fd, iov, n, off);
    uint64_t ref = s_write_begin(fd, f, (uint64_t)off, iov, n);
    ssize_t res = s_real.pwritev(fd, iov, n, off);
    s_write_end(f, ref, res);
    return res;
}

ssize_t
pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.pwritev64(fd, iov, n, off);
    uint64_t ref = s_write_begin(fd, f, (uint64_t)off, iov, n);
    ssize_t res = s_real.pwritev64(fd, iov, n, off);
    s_write_end(f, ref, res);
    return res;
}

ssize_t
pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.pwritev2(fd, iov, n, off, flags);
    uint64_t at = off == -1 ? s_pos(fd) : (uint64_t)off;
    /* RWF_DSYNC / RWF_SYNC make this one write durable on return. */
    bool saved = s_fd[fd].dsync;
    if (flags & (RWF_DSYNC | RWF_SYNC))
        s_fd[fd].dsync = true;
    uint64_t ref = s_write_begin(fd, f, at, iov, n);
    s_fd[fd].dsync = saved;
    ssize_t res = s_real.pwritev2(fd, iov, n, off, flags);
    s_write_end(f, ref, res);
    return res;
}

/*
 * Flushes: begin before, end after. Only a flush that returned 0 makes
 * anything durable, and only what had been written when it began.
 */

static uint64_t
s_flush_begin(uint32_t file, enum pc_flush kind)
{
    struct pc_rec r = {0};
    r.type = PC_FBEGIN;
    r.file = file;
    r.aux = kind;
    return s_emit(&r, NULL, 0);
}

static void
s_flush_end(uint32_t file, uint64_t ref, int res)
{
    struct pc_rec r = {0};
    r.type = PC_FEND;
    r.file = file;
    r.ref = ref;
    r.res = res < 0 ? -(int64_t)errno : 0;
    s_emit(&r, NULL, 0);
}

int
fsync(int fd)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.fsync(fd);
    uint64_t ref = s_flush_begin(f - 1, PC_FL_FSYNC);
    int res = s_real.fsync(fd);
    s_flush_end(f - 1, ref, res);
    return res;
}

int
fdatasync(int fd)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.fdatasync(fd);
    uint64_t ref = s_flush_begin(f - 1, PC_FL_FDATASYNC);
    int res = s_real.fdatasync(fd);
    s_flush_end(f - 1, ref, res);
    return res;
}

int
sync_file_range(int fd, off64_t off, off64_t len, unsigned int flags)
{
    uint32_t f = s_file(fd);
    if (f == 0)
        return s_real.sync_file_range(fd, off, len, flags);
    /* It writes pages back but flushes no device cache and no metadata:
     * logged, never counted as durable (pcimage.c). */
    uint64_t ref = s_flush_begin(f - 1, PC_FL_SYNC_RANGE);
    int res = s_real.sync_file_range(fd, off, len, flags);
    s_flush_end(f - 1, ref, res);
    return res;
}

int
syncfs(int fd)
{
    if (!s_on() || s_nfiles == 0)
        return s_real.syncfs(fd);
    uint64_t ref = s_flush_begin(PC_ALL_FILES, PC_FL_SYNCFS);
    int res = s_real.syncfs(fd);
    s_flush_end(PC_ALL_FILES, ref, res);
    return res;
}

void
sync(void)
{
    if (!s_on() || s_nfiles == 0) {
        s_real.sync();
        return;
    }
    uint64_t ref = s_flush_begin(PC_ALL_FILES, PC_FL_SYNCFS);
    s_real.sync();
    s_flush_end(PC_ALL_FILES, ref, 0);
}

/*
 * Size changes, logged once they succeeded.
 */

static void
s_size_op(uint32_t f, enum pc_type type, uint64_t off, uint64_t len,
          uint32_t mode)
{
    struct pc_rec r = {0};
    r.type = (uint16_t)type;
    r.file = f - 1;
    r.off = off;
    r.len = 0;
    r.res = (int64_t)len; /* the range (no payload follows) */
    r.aux = mode;
    s_emit(&r, NULL, 0);
}

int
ftruncate(int fd, off_t len)
{
    uint32_t f = s_file(fd);
    int res = s_real.ftruncate(fd, len);
    if (f != 0 && res == 0)
        s_size_op(f, PC_TRUNC, (uint64_t)len, 0, 0);
    return res;
}

int
ftruncate64(int fd, off64_t len)
{
    uint32_t f = s_file(fd);
    int res = s_real.ftruncate64(fd, len);
    if (f != 0 && res == 0)
        s_size_op(f, PC_TRUNC, (uint64_t)len, 0, 0);
    return res;
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
    uint32_t f = s_file(fd);
    int res = s_real.fallocate(fd, mode, off, len);
    if (f != 0 && res == 0)
        s_size_op(f, PC_FALLOC, (uint64_t)off, (uint64_t)len, (uint32_t)mode);
    return res;
}

int
fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    uint32_t f = s_file(fd);
    int res = s_real.fallocate64(fd, mode, off, len);
    if (f != 0 && res == 0)
        s_size_op(f, PC_FALLOC, (uint64_t)off, (uint64_t)len, (uint32_t)mode);
    return res;
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
    uint32_t f = s_file(fd);
    int res = s_real.posix_fallocate(fd, off, len);
    if (f != 0 && res == 0)
        s_size_op(f, PC_FALLOC, (uint64_t)off, (uint64_t)len, 0);
    return res;
}

int
posix_fallocate64(int fd, off64_t off, off64_t len)
{
    uint32_t f = s_file(fd);
    int res = s_real.posix_fallocate64(fd, off, len);
    if (f != 0 && res == 0)
        s_size_op(f, PC_FALLOC, (uint64_t)off, (uint64_t)len, 0);
    return res;
}

/*
 * Mappings: a shared writable one would let the daemon write without a
 * call we see.
 */

void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    /* Anonymous maps straight to the kernel: ASan maps memory this way
     * while it starts, before this library could look anything up. */
    if (fd < 0)
        return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    uint32_t f = s_file(fd);
    if (f != 0 && (prot & PROT_WRITE) && (flags & MAP_SHARED))
        s_unsup(f, PC_U_SHARED_WRITABLE_MAP);
    return s_real.mmap(addr, len, prot, flags, fd, off);
}

void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    /* Anonymous maps straight to the kernel: ASan maps memory this way
     * while it starts, before this library could look anything up. */
    if (fd < 0)
        return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    uint32_t f = s_file(fd);
    if (f != 0 && (prot & PROT_WRITE) && (flags & MAP_SHARED))
        s_unsup(f, PC_U_SHARED_WRITABLE_MAP);
    return s_real.mmap64(addr, len, prot, flags, fd, off);
}
