/*
 * pcrec_calls.c - the calls the power-cut recorder interposes (pcrec.c has
 * the why, the state and the log): each looks up whether its descriptor
 * is recorded, makes the real call, and logs the intent before and the
 * result after (pcrec_internal.h).
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
    bool on = pcrec_on();
    int fd = pcrec_real.open(path, flags, mode);
    if (on)
        pcrec_track(fd, flags);
    return fd;
}

int
open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_OPEN_MODE(flags, mode);
    bool on = pcrec_on();
    int fd = pcrec_real.open64(path, flags, mode);
    if (on)
        pcrec_track(fd, flags);
    return fd;
}

int
openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_OPEN_MODE(flags, mode);
    bool on = pcrec_on();
    int fd = pcrec_real.openat(dirfd, path, flags, mode);
    if (on)
        pcrec_track(fd, flags);
    return fd;
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    S_OPEN_MODE(flags, mode);
    bool on = pcrec_on();
    int fd = pcrec_real.openat64(dirfd, path, flags, mode);
    if (on)
        pcrec_track(fd, flags);
    return fd;
}

int
__open_2(const char *path, int flags)
{
    bool on = pcrec_on();
    int fd = pcrec_real.open_2(path, flags);
    if (on)
        pcrec_track(fd, flags);
    return fd;
}

int
__open64_2(const char *path, int flags)
{
    bool on = pcrec_on();
    int fd = pcrec_real.open64_2(path, flags);
    if (on)
        pcrec_track(fd, flags);
    return fd;
}

int
__openat_2(int dirfd, const char *path, int flags)
{
    bool on = pcrec_on();
    int fd = pcrec_real.openat_2(dirfd, path, flags);
    if (on)
        pcrec_track(fd, flags);
    return fd;
}

int
__openat64_2(int dirfd, const char *path, int flags)
{
    bool on = pcrec_on();
    int fd = pcrec_real.openat64_2(dirfd, path, flags);
    if (on)
        pcrec_track(fd, flags);
    return fd;
}

int
creat(const char *path, mode_t mode)
{
    bool on = pcrec_on();
    int fd = pcrec_real.creat(path, mode);
    if (on)
        pcrec_track(fd, O_CREAT | O_WRONLY | O_TRUNC);
    return fd;
}

int
creat64(const char *path, mode_t mode)
{
    bool on = pcrec_on();
    int fd = pcrec_real.creat64(path, mode);
    if (on)
        pcrec_track(fd, O_CREAT | O_WRONLY | O_TRUNC);
    return fd;
}

int
close(int fd)
{
    if (pcrec_file(fd) != 0)
        pcrec_fd[fd].file1 = 0;
    return pcrec_real.close(fd);
}

int
dup(int fd)
{
    uint32_t f = pcrec_file(fd);
    if (f != 0)
        pcrec_unsup(f, PC_U_DUP);
    return pcrec_real.dup(fd);
}

int
dup2(int fd, int to)
{
    uint32_t f = pcrec_file(fd);
    if (f != 0)
        pcrec_unsup(f, PC_U_DUP);
    if (pcrec_file(to) != 0)
        pcrec_fd[to].file1 = 0;
    return pcrec_real.dup2(fd, to);
}

int
dup3(int fd, int to, int flags)
{
    uint32_t f = pcrec_file(fd);
    if (f != 0)
        pcrec_unsup(f, PC_U_DUP);
    if (pcrec_file(to) != 0)
        pcrec_fd[to].file1 = 0;
    return pcrec_real.dup3(fd, to, flags);
}

/*
 * Writes: the intent with its data before, the result after.
 */

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
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.write(fd, buf, len);
    struct iovec v = {(void *)buf, len};
    uint64_t ref = pcrec_write_begin(fd, f, s_pos(fd), &v, 1);
    ssize_t res = pcrec_real.write(fd, buf, len);
    pcrec_write_end(f, ref, res);
    return res;
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.pwrite(fd, buf, len, off);
    struct iovec v = {(void *)buf, len};
    uint64_t ref = pcrec_write_begin(fd, f, (uint64_t)off, &v, 1);
    ssize_t res = pcrec_real.pwrite(fd, buf, len, off);
    pcrec_write_end(f, ref, res);
    return res;
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.pwrite64(fd, buf, len, off);
    struct iovec v = {(void *)buf, len};
    uint64_t ref = pcrec_write_begin(fd, f, (uint64_t)off, &v, 1);
    ssize_t res = pcrec_real.pwrite64(fd, buf, len, off);
    pcrec_write_end(f, ref, res);
    return res;
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.writev(fd, iov, n);
    uint64_t ref = pcrec_write_begin(fd, f, s_pos(fd), iov, n);
    ssize_t res = pcrec_real.writev(fd, iov, n);
    pcrec_write_end(f, ref, res);
    return res;
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.pwritev(fd, iov, n, off);
    uint64_t ref = pcrec_write_begin(fd, f, (uint64_t)off, iov, n);
    ssize_t res = pcrec_real.pwritev(fd, iov, n, off);
    pcrec_write_end(f, ref, res);
    return res;
}

ssize_t
pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.pwritev64(fd, iov, n, off);
    uint64_t ref = pcrec_write_begin(fd, f, (uint64_t)off, iov, n);
    ssize_t res = pcrec_real.pwritev64(fd, iov, n, off);
    pcrec_write_end(f, ref, res);
    return res;
}

ssize_t
pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.pwritev2(fd, iov, n, off, flags);
    uint64_t at = off == -1 ? s_pos(fd) : (uint64_t)off;
    /* RWF_DSYNC / RWF_SYNC make this one write durable on return. */
    bool saved = pcrec_fd[fd].dsync;
    if (flags & (RWF_DSYNC | RWF_SYNC))
        pcrec_fd[fd].dsync = true;
    uint64_t ref = pcrec_write_begin(fd, f, at, iov, n);
    pcrec_fd[fd].dsync = saved;
    ssize_t res = pcrec_real.pwritev2(fd, iov, n, off, flags);
    pcrec_write_end(f, ref, res);
    return res;
}

/*
 * Flushes: begin before, end after. Only a flush that returned 0 makes
 * anything durable, and only what had been written when it began.
 */

int
fsync(int fd)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.fsync(fd);
    uint64_t ref = pcrec_flush_begin(f - 1, PC_FL_FSYNC);
    int res = pcrec_real.fsync(fd);
    pcrec_flush_end(f - 1, ref, res);
    return res;
}

int
fdatasync(int fd)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.fdatasync(fd);
    uint64_t ref = pcrec_flush_begin(f - 1, PC_FL_FDATASYNC);
    int res = pcrec_real.fdatasync(fd);
    pcrec_flush_end(f - 1, ref, res);
    return res;
}

int
sync_file_range(int fd, off64_t off, off64_t len, unsigned int flags)
{
    uint32_t f = pcrec_file(fd);
    if (f == 0)
        return pcrec_real.sync_file_range(fd, off, len, flags);
    /* It writes pages back but flushes no device cache and no metadata:
     * logged, never counted as durable (pcimage.c). */
    uint64_t ref = pcrec_flush_begin(f - 1, PC_FL_SYNC_RANGE);
    int res = pcrec_real.sync_file_range(fd, off, len, flags);
    pcrec_flush_end(f - 1, ref, res);
    return res;
}

int
syncfs(int fd)
{
    if (!pcrec_on() || pcrec_nfiles == 0)
        return pcrec_real.syncfs(fd);
    uint64_t ref = pcrec_flush_begin(PC_ALL_FILES, PC_FL_SYNCFS);
    int res = pcrec_real.syncfs(fd);
    pcrec_flush_end(PC_ALL_FILES, ref, res);
    return res;
}

void
sync(void)
{
    if (!pcrec_on() || pcrec_nfiles == 0) {
        pcrec_real.sync();
        return;
    }
    uint64_t ref = pcrec_flush_begin(PC_ALL_FILES, PC_FL_SYNCFS);
    pcrec_real.sync();
    pcrec_flush_end(PC_ALL_FILES, ref, 0);
}

/*
 * Size changes, logged once they succeeded.
 */

int
ftruncate(int fd, off_t len)
{
    uint32_t f = pcrec_file(fd);
    int res = pcrec_real.ftruncate(fd, len);
    if (f != 0 && res == 0)
        pcrec_size_op(f, PC_TRUNC, (uint64_t)len, 0, 0);
    return res;
}

int
ftruncate64(int fd, off64_t len)
{
    uint32_t f = pcrec_file(fd);
    int res = pcrec_real.ftruncate64(fd, len);
    if (f != 0 && res == 0)
        pcrec_size_op(f, PC_TRUNC, (uint64_t)len, 0, 0);
    return res;
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
    uint32_t f = pcrec_file(fd);
    int res = pcrec_real.fallocate(fd, mode, off, len);
    if (f != 0 && res == 0)
        pcrec_size_op(f, PC_FALLOC, (uint64_t)off, (uint64_t)len,
                      (uint32_t)mode);
    return res;
}

int
fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    uint32_t f = pcrec_file(fd);
    int res = pcrec_real.fallocate64(fd, mode, off, len);
    if (f != 0 && res == 0)
        pcrec_size_op(f, PC_FALLOC, (uint64_t)off, (uint64_t)len,
                      (uint32_t)mode);
    return res;
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
    uint32_t f = pcrec_file(fd);
    int res = pcrec_real.posix_fallocate(fd, off, len);
    if (f != 0 && res == 0)
        pcrec_size_op(f, PC_FALLOC, (uint64_t)off, (uint64_t)len, 0);
    return res;
}

int
posix_fallocate64(int fd, off64_t off, off64_t len)
{
    uint32_t f = pcrec_file(fd);
    int res = pcrec_real.posix_fallocate64(fd, off, len);
    if (f != 0 && res == 0)
        pcrec_size_op(f, PC_FALLOC, (uint64_t)off, (uint64_t)len, 0);
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
    uint32_t f = pcrec_file(fd);
    if (f != 0 && (prot & PROT_WRITE) && (flags & MAP_SHARED))
        pcrec_unsup(f, PC_U_SHARED_WRITABLE_MAP);
    return pcrec_real.mmap(addr, len, prot, flags, fd, off);
}

void *
mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    /* Anonymous maps straight to the kernel: ASan maps memory this way
     * while it starts, before this library could look anything up. */
    if (fd < 0)
        return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    uint32_t f = pcrec_file(fd);
    if (f != 0 && (prot & PROT_WRITE) && (flags & MAP_SHARED))
        pcrec_unsup(f, PC_U_SHARED_WRITABLE_MAP);
    return pcrec_real.mmap64(addr, len, prot, flags, fd, off);
}
