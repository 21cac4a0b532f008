/*
 * cmd_log_level.c - `krctl log-level LEVEL`: the broker's log level at
 * run time, until its next SIGHUP (which reads the file's) or start.
 */
#include <stdio.h>

#include "krctl.h"
#include "log.h"

static const char s_usage[] =
    "usage: krctl [--admin ENDPOINT] log-level LEVEL\n"
    "\n"
    "Set the broker's log level to LEVEL: debug, info, warn or error. It\n"
    "holds until the broker's next SIGHUP, which reads log_level from its\n"
    "configuration again, or its next start.\n"
    "\n"
    "Options:\n"
    "  -h, --help   print this text and exit\n"
    "\n"
    "Exit status: 0 set, 1 refused, 2 usage error (LEVEL is no level),\n"
    "3 no answer.\n";

int
cmd_log_level(struct krctl *k, int argc, char **argv)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    const char *level;
    int rc;

    if ((rc = krctl_one_arg(k, argc, argv, s_usage, "LEVEL", &level)) != 0)
        return rc < 0 ? KRCTL_EXIT_OK : rc;
    if (log_level_parse(level) < 0)
        return krctl_usage_err(k, "'%s' is not debug, info, warn or error",
                               level);
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_SET_LOG_LEVEL;
    req.set_log_level = (char *)level;
    if ((rc = krctl_admin(k, &req, &resp)) != KRCTL_EXIT_OK)
        return rc;
    kr__v1__admin_response__free_unpacked(resp, NULL);
    return KRCTL_EXIT_OK;
}
