/* sockperm.c - the permissions of a daemon's ipc socket (daemon.h). */
#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_internal.h"
#include "kr.h"
#include "log.h"

int
daemon_socket_perms(const char *endpoint, const struct daemon_ops *o)
{
    const char *path;
    long mode = daemon_socket_mode(o);

    if (strncmp(endpoint, "ipc://", 6) != 0)
        return KR_OK; /* tcp: guarded by CURVE or by being loopback */
    path = endpoint + 6;
    if (path[0] == '@')
        return KR_OK; /* abstract socket: no file to guard */
    if (o->socket_group[0] != '\0') {
        struct group *g = getgrnam(o->socket_group);
        struct stat st;
        /* Already the group (the process's own, as with the units'
         * Group=): no chown, which their SystemCallFilter= refuses. A
         * group the daemon's user is a member of needs no privilege. */
        if (g != NULL && stat(path, &st) == 0 && st.st_gid == g->gr_gid) {
            /* nothing to change */
        } else if (g == NULL || chown(path, (uid_t)-1, g->gr_gid) != 0) {
            log_errorx("main: socket %s: chown to group %s: %s (is this "
                       "user a member of it?)",
                       path, o->socket_group,
                       g == NULL ? "no such group" : strerror(errno));
            return KR_ESYS;
        }
    }
    /* After the chown: a chmod first would let the old group in for a
     * moment. */
    if (mode >= 0 && chmod(path, (mode_t)mode) != 0) {
        log_errorx("main: socket %s: chmod %s: %s", path, o->socket_mode,
                   strerror(errno));
        return KR_ESYS;
    }
    return KR_OK;
}
