/*
 * cmd_backup.c - `krctl backup DIR`: the broker writes a compacted copy of
 * its store into DIR while it goes on serving, verifies the copy's audit
 * chain, and answers when both are done.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "krctl.h"

/* Unless --timeout says otherwise: a large store takes a while to copy. */
#define S_BACKUP_TIMEOUT_MS 3600000

static const char s_usage[] =
    "usage: krctl [--admin ENDPOINT] [--timeout MS] backup DIR\n"
    "\n"
    "The broker copies its store, compacted, into DIR/data.mdb (mode 0600)\n"
    "while it goes on serving, then opens the copy and verifies its audit\n"
    "chain. DIR must be empty or not exist yet; a relative DIR is taken\n"
    "from krctl's working directory, and the broker must be able to write\n"
    "there (under systemd: ReadWritePaths=). Prints the copy's path, size\n"
    "and how many audit records were verified.\n"
    "\n"
    "To restore: stop the broker, move its data_dir aside, make a new\n"
    "data_dir with the copy's data.mdb in it (owned by the broker's user,\n"
    "mode 0600), start the broker, and check with 'krctl audit verify'.\n"
    "\n"
    "Options:\n"
    "  -h, --help   print this text and exit\n"
    "Without --timeout, krctl waits up to an hour for the answer.\n"
    "\n"
    "Exit status: 0 copied and verified; 1 refused (DIR not empty, a\n"
    "backup already running) or failed (the copy, its check); 2 usage\n"
    "error; 3 no answer.\n";

int
cmd_backup(struct krctl *k, int argc, char **argv)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    char abs[PATH_MAX + 2], cwd[PATH_MAX];
    const char *dir;
    int rc;

    if ((rc = krctl_one_arg(k, argc, argv, s_usage, "DIR", &dir)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    if (dir[0] != '/') {
        if (getcwd(cwd, sizeof(cwd)) == NULL ||
            (size_t)snprintf(abs, sizeof(abs), "%s/%s", cwd, dir) >=
                sizeof(abs))
            return krctl_usage_err(k, "DIR: give an absolute path");
        dir = abs;
    }
    if (!k->timeout_set)
        k->timeout_ms = S_BACKUP_TIMEOUT_MS;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_BACKUP;
    req.backup = (char *)dir;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    if (resp->backup == NULL) {
        krctl_err(k, "krbroker answered without a result");
        rc = KRCTL_EXIT_FAIL;
    } else {
        printf("%s bytes=%llu audit_checked=%llu ms=%llu\n", resp->backup->path,
               (unsigned long long)resp->backup->bytes,
               (unsigned long long)resp->backup->audit_checked,
               (unsigned long long)resp->backup->duration_ms);
        rc = fflush(stdout) == 0 ? KRCTL_EXIT_OK : KRCTL_EXIT_FAIL;
    }
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return rc;
}
