/*
 * harness_disk.c - a small file system for a daemon's data directory (a
 * tmpfs), and ballast to fill it: the full-disk tests (test_disk_full*).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "harness.h"

#define S_MAX_MOUNTS 4

static char s_mounts[S_MAX_MOUNTS][H_PATH];
static int s_nmounts;
static pid_t s_owner;

/* At exit (a failed check or h_abort): the daemons are gone; a lazy
 * unmount never fails on a busy mount. Only in the test's own process. */
static void
s_umount_all(void)
{
    if (getpid() != s_owner)
        return;
    for (int i = 0; i < s_nmounts; i++)
        if (s_mounts[i][0] != '\0')
            umount2(s_mounts[i], MNT_DETACH);
}

int
h_tmpfs_mount(const char *dir, unsigned size_mb)
{
    char opts[64];

    if (s_nmounts == S_MAX_MOUNTS || strlen(dir) >= H_PATH)
        return KR_EINVAL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return KR_ESYS;
    snprintf(opts, sizeof(opts), "size=%um,mode=0700", size_mb);
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        h_note("mount -t tmpfs -o %s %s: %s", opts, dir, strerror(errno));
        return errno == EPERM || errno == EACCES ? KR_EPERM : KR_ESYS;
    }
    if (s_owner == 0) {
        s_owner = getpid();
        atexit(s_umount_all);
    }
    snprintf(s_mounts[s_nmounts++], H_PATH, "%s", dir);
    return KR_OK;
}

int
h_tmpfs_umount(const char *dir)
{
    for (int i = 0; i < s_nmounts; i++) {
        if (strcmp(s_mounts[i], dir) != 0)
            continue;
        s_mounts[i][0] = '\0';
        return umount2(dir, MNT_DETACH) == 0 ? KR_OK : KR_ESYS;
    }
    return KR_ENOTFOUND;
}

uint64_t
h_fs_free(const char *dir)
{
    struct statvfs v;

    if (statvfs(dir, &v) != 0)
        return 0;
    return (uint64_t)v.f_bavail * v.f_frsize;
}

int
h_ballast(const char *path, uint64_t leave_bytes, uint64_t *written)
{
    static char zeros[1 << 20];
    const char *slash = strrchr(path, '/');
    char dir[H_PATH];
    int fd, rc = KR_OK;

    *written = 0;
    if (slash == NULL || (size_t)(slash - path) >= sizeof(dir))
        return KR_EINVAL;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0)
        return KR_ESYS;
    /* Bounded: at most a GiB, a MiB (or less) at a time. */
    for (int i = 0; i < 1024; i++) {
        uint64_t free = h_fs_free(dir);
        if (free <= leave_bytes)
            break;
        size_t len = free - leave_bytes < sizeof(zeros)
                         ? (size_t)(free - leave_bytes)
                         : sizeof(zeros);
        ssize_t w = write(fd, zeros, len);
        if (w < 0 && errno == ENOSPC)
            break;
        if (w <= 0) {
            rc = KR_ESYS;
            break;
        }
        *written += (uint64_t)w;
    }
    if (close(fd) != 0)
        rc = KR_ESYS;
    return rc;
}
