/* diskspace.c - see diskspace.h. */
#include "diskspace.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

int
diskspace_probe(int fd, struct diskspace *out)
{
    struct stat sb;
    struct statvfs vfs;

    if (fstat(fd, &sb) != 0 || fstatvfs(fd, &vfs) != 0)
        return errno;
    /* Blocks, not st_size: a sparse file holds no room it has not got. */
    uint64_t alloc = (uint64_t)sb.st_blocks * 512;
    out->file_bytes =
        alloc < (uint64_t)sb.st_size ? alloc : (uint64_t)sb.st_size;
    out->fs_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    return 0;
}

uint64_t
diskspace_capacity(uint64_t map_bytes, const struct diskspace *d)
{
    uint64_t disk = d->file_bytes + d->fs_free;

    return disk < map_bytes ? disk : map_bytes;
}

bool
diskspace_errno_full(int err, uint64_t fs_free)
{
    if (err == ENOSPC || err == EDQUOT)
        return true;
    return err == EIO && fs_free < DISKSPACE_LOW;
}
