/* config.c - krspool's options: one table for the file, the flags and
 * --help, as for the other daemons (common/config.h). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "spool.h"

#define S_OPT(k, t, f, d, lo, hi, req, h)                                      \
    {                                                                          \
        k, t, offsetof(struct spool_config, f), d, lo, hi, req, h              \
    }

const struct cfg_option spool_config_options[] = {
    S_OPT("node", CFG_STR, node, NULL, 0, 0, 1,
          "the krnode's local endpoint, e.g. ipc:///var/lib/krnode/node.sock"),
    S_OPT("spool_dir", CFG_STR, spool_dir, NULL, 0, 0, 1,
          "root of outbox/{tmp,new,cur,failed} and inbox/{tmp,new,cur} "
          "(created 0750)"),
    S_OPT("scan_ms", CFG_U64, scan_ms, "2000", 10, 3600000, 0,
          "scan outbox/new this often even without an inotify event"),
    S_OPT("receipts_ms", CFG_U64, receipts_ms, "1000", 10, 3600000, 0,
          "read the node's outbox this often for final outcomes"),
    S_OPT("relist_ms", CFG_U64, relist_ms, "60000", 100, 86400000, 0,
          "list every unprocessed inbox item again this often"),
    S_OPT("timeout_ms", CFG_U64, timeout_ms, "10000", 100, 600000, 0,
          "bound on each call to the node"),
    S_OPT("file_mode", CFG_STR, file_mode, "0640", 0, 0, 0,
          "mode of the files krspool writes, octal"),
    S_OPT("log_level", CFG_STR, log_level, "info", 0, 0, 0,
          "debug, info, warn or error"),
    {NULL, CFG_STR, 0, NULL, 0, 0, 0, NULL},
};

int
spool_config_check(struct spool_config *cfg, char *err, size_t errlen)
{
    char *end = NULL;
    unsigned long m;

    if (log_level_parse(cfg->log_level) < 0) {
        snprintf(err, errlen,
                 "log_level: '%s' is not debug, info, warn or error",
                 cfg->log_level);
        return KR_ECONFIG;
    }
    if (cfg->node[0] == '\0') {
        snprintf(err, errlen, "node: an endpoint is required");
        return KR_ECONFIG;
    }
    if (cfg->spool_dir[0] == '\0') {
        snprintf(err, errlen, "spool_dir: a directory is required");
        return KR_ECONFIG;
    }
    m = strtoul(cfg->file_mode, &end, 8);
    if (cfg->file_mode[0] < '0' || cfg->file_mode[0] > '7' || *end != '\0' ||
        m > 0777 || (m & 0600) != 0600) {
        snprintf(err, errlen,
                 "file_mode: '%s' is not an octal mode from 0600 to 0777 "
                 "that lets krspool read and write its own files",
                 cfg->file_mode);
        return KR_ECONFIG;
    }
    cfg->mode = (unsigned)m;
    return KR_OK;
}
