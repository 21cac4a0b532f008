/* config.c - krnode's options: one table for the file, the flags and
 * --help. */
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "node.h"

#define S_OPT(k, t, f, d, lo, hi, req, h)                                      \
    {                                                                          \
        k, t, offsetof(struct node_config, f), d, lo, hi, req, h               \
    }

const struct cfg_option node_config_options[] = {
    S_OPT("org", CFG_STR, org, NULL, 0, 0, 1,
          "own organisation id, scheme:value (ura:, agb:, oin:, kvk:)"),
    S_OPT("data_dir", CFG_STR, data_dir, NULL, 0, 0, 1,
          "directory for the store and the local socket (created 0700)"),
    S_OPT("keys", CFG_STR, keys, NULL, 0, 0, 1,
          "the organisation's .secret key file (mode 0600)"),
    S_OPT("broker", CFG_STR, broker, "tcp://127.0.0.1:7700", 0, 0, 0,
          "broker endpoint"),
    S_OPT("broker_key", CFG_STR, broker_key, NULL, 0, 0, 1,
          "the broker's .public key file"),
    S_OPT("local", CFG_STR, local, "", 0, 0, 0,
          "endpoint for adapters (default: ipc://<data_dir>/node.sock)"),
    S_OPT("coalition_key", CFG_STR, coalition_key, "", 0, 0, 0,
          "coalition key file, needed to send with subject_bsn"),
    S_OPT("previous_keys", CFG_STR, previous_keys, "", 0, 0, 0,
          "the .secret key file before a rekey: messages sealed to it in "
          "the grace period still open (krctl org rekey)"),
    S_OPT("previous_coalition_key", CFG_STR, previous_coalition_key, "", 0, 0,
          0,
          "the coalition key before a rotation: envelopes carry the "
          "subject's pseudonym under it too, so that consents recorded "
          "under it still match"),
    S_OPT("map_size_mb", CFG_U64, map_size_mb, "256", 1, 1048576, 0,
          "LMDB map size in MiB"),
    S_OPT("prefill_mb", CFG_U64, prefill_mb, "16", 0, 65536, 0,
          "MiB of the store's file kept written ahead of use, so that "
          "commits do not grow the file (0: off)"),
    S_OPT("window", CFG_U64, window, "256", 1, 65536, 0,
          "submits in flight and deliveries taken without an ack"),
    S_OPT("resend_ms", CFG_U64, resend_ms, "3000", 100, 600000, 0,
          "resend after this long without a receipt (doubling to 60 s)"),
    S_OPT("heartbeat_ms", CFG_U64, heartbeat_ms, "1000", 100, 60000, 0,
          "ZMTP heartbeat interval"),
    S_OPT("heartbeat_timeout_ms", CFG_U64, heartbeat_timeout_ms, "5000", 100,
          600000, 0, "a connection silent this long is dead"),
    S_OPT("log_level", CFG_STR, log_level, "info", 0, 0, 0,
          "debug, info, warn or error"),
    DAEMON_OPS_OPTIONS(offsetof(struct node_config, ops)),
    S_OPT("retention_s", CFG_U64, retention_s, "2592000", 1,
          20ull * 366 * 86400, 0,
          "seconds an inbox record stays after it was processed and an "
          "outbox record after its final outcome (never before); default "
          "30 days"),
    {NULL, CFG_STR, 0, NULL, 0, 0, 0, NULL},
};

int
node_config_check(const struct node_config *cfg, char *err, size_t errlen)
{
    if (!util_org_id_valid(cfg->org)) {
        snprintf(err, errlen,
                 "org: '%s' is not an organisation id (scheme:digits with "
                 "scheme ura, agb, kvk or oin)",
                 cfg->org);
        return KR_ECONFIG;
    }
    if (log_level_parse(cfg->log_level) < 0) {
        snprintf(err, errlen,
                 "log_level: '%s' is not debug, info, warn or error",
                 cfg->log_level);
        return KR_ECONFIG;
    }
    if (cfg->broker[0] == '\0') {
        snprintf(err, errlen, "broker: an endpoint is required");
        return KR_ECONFIG;
    }
    if (daemon_ops_check(&cfg->ops, err, errlen) != KR_OK ||
        daemon_endpoint_check("broker", cfg->broker, false, err, errlen) !=
            KR_OK ||
        daemon_endpoint_check("local", cfg->local, true, err, errlen) != KR_OK)
        return KR_ECONFIG;
    if (cfg->heartbeat_timeout_ms < cfg->heartbeat_ms) {
        snprintf(err, errlen,
                 "heartbeat_timeout_ms (%llu) is shorter than heartbeat_ms "
                 "(%llu)",
                 (unsigned long long)cfg->heartbeat_timeout_ms,
                 (unsigned long long)cfg->heartbeat_ms);
        return KR_ECONFIG;
    }
    return KR_OK;
}
