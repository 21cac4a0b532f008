/*
 * spool_fs.c - the spool's files: the tree, crash-safe writes, moves that
 * never replace, bounded reads. Every write that another program may see
 * goes through a temporary and a rename, so that a reader of new/ never
 * sees a partial file, and is fsync'd (file, then directory) before
 * krspool acts on it as done.
 */
#define _GNU_SOURCE /* renameat2(RENAME_NOREPLACE) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

static const char *const s_tree[] = {
    "outbox", "outbox/tmp", "outbox/new", "outbox/cur", "outbox/failed",
    "inbox",  "inbox/tmp",  "inbox/new",  "inbox/cur",
};

int
spool_dirs_open(const char *root, struct spool_dirs *d)
{
    char path[4096];
    int *fds[] = {&d->out_new, &d->out_cur, &d->out_failed,
                  &d->in_tmp,  &d->in_new,  &d->in_cur};
    const char *names[] = {"outbox/new", "outbox/cur", "outbox/failed",
                           "inbox/tmp",  "inbox/new",  "inbox/cur"};

    d->root = -1;
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        *fds[i] = -1;
    if (mkdir(root, 0750) != 0 && errno != EEXIST) {
        log_errorx("spool: %s: cannot create: %s", root, strerror(errno));
        return KR_ESYS;
    }
    for (size_t i = 0; i < sizeof(s_tree) / sizeof(s_tree[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, s_tree[i]);
        if (mkdir(path, 0750) != 0 && errno != EEXIST) {
            log_errorx("spool: %s: cannot create: %s", path, strerror(errno));
            return KR_ESYS;
        }
    }
    if ((d->root = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        log_errorx("spool: %s: %s", root, strerror(errno));
        return KR_ESYS;
    }
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        *fds[i] = openat(d->root, names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*fds[i] < 0) {
            log_errorx("spool: %s/%s: %s", root, names[i], strerror(errno));
            spool_dirs_close(d);
            return KR_ESYS;
        }
    }
    return KR_OK;
}

void
spool_dirs_close(struct spool_dirs *d)
{
    int *fds[] = {&d->out_new, &d->out_cur, &d->out_failed, &d->in_tmp,
                  &d->in_new,  &d->in_cur,  &d->root};

    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int
spool_sync_dir(int dir)
{
    return fsync(dir) == 0 ? KR_OK : KR_EIO;
}

int
spool_write(int tmp, int fin, const char *name, const char *text, size_t len,
            unsigned mode)
{
    char tname[SPOOL_NAME_MAX + 8];
    size_t off = 0;
    int fd, rc = KR_EIO;

    /* A temporary left by a krspool killed mid-write is simply written
     * over (O_TRUNC): the name is the final one, so there is one at most. */
    if (tmp == fin)
        snprintf(tname, sizeof(tname), ".%s.tmp", name);
    else
        snprintf(tname, sizeof(tname), "%s", name);
    fd = openat(tmp, tname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                (mode_t)mode);
    if (fd < 0)
        return KR_ESYS;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    /* The bytes reach the disk before the name does: after a power cut
     * new/ holds the whole file or none of it. */
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (renameat(tmp, tname, fin, name) != 0)
        goto fail;
    if (spool_sync_dir(fin) != KR_OK)
        goto fail;
    return KR_OK;
fail:
    rc = errno == ENOSPC ? KR_EFULL : KR_EIO;
    if (fd >= 0)
        close(fd);
    unlinkat(tmp, tname, 0);
    return rc;
}

int
spool_exists(int dir, const char *name)
{
    struct stat st;

    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 1;
    return errno == ENOENT ? 0 : KR_ESYS;
}

int
spool_read(int dir, const char *name, char **text, size_t *len)
{
    struct stat st;
    size_t off = 0;
    char *buf = NULL;
    int fd;

    *text = NULL;
    *len = 0;
    /* O_NONBLOCK: a FIFO dropped in new/ must not hang the thread;
     * O_NOFOLLOW: a symbolic link is not a description either. */
    fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT  ? KR_ENOTFOUND
               : errno == ELOOP ? KR_EPERM
                                : KR_ESYS;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return KR_EPERM;
    }
    if (st.st_size > SPOOL_FILE_MAX) {
        close(fd);
        return KR_EINVAL;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
        goto fail;
    /* Read to the end (a file that grew after fstat is read up to the
     * bound only: it should not be written in new/ at all). */
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    buf[off] = '\0';
    *text = buf;
    *len = off;
    return KR_OK;
fail:
    free(buf);
    close(fd);
    return KR_ESYS;
}

int
spool_move(int from, const char *name, int to, const char *newname)
{
    if (renameat2(from, name, to, newname, RENAME_NOREPLACE) != 0)
        return errno == EEXIST   ? KR_EEXIST
               : errno == ENOENT ? KR_ENOTFOUND
                                 : KR_ESYS;
    return spool_sync_dir(to);
}
