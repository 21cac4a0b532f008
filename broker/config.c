/* config.c - krbroker's options: file [broker], flags --key, defaults. */
#include <stddef.h>

#include "broker.h"
#include "config.h"
#include "daemon.h"

#define O(f) offsetof(struct broker_config, f)

const struct cfg_option broker_config_options[] = {
    {"data_dir", CFG_STR, O(data_dir), NULL, 0, 0, 1,
     "directory of the LMDB store and the admin socket"},
    {"keys", CFG_STR, O(keys), NULL, 0, 0, 1,
     "the broker's .secret key file (krctl keygen), mode 0600"},
    {"listen", CFG_STR, O(listen), "tcp://127.0.0.1:7700", 0, 0, 0,
     "endpoint where nodes connect (CURVE)"},
    {"admin", CFG_STR, O(admin), "", 0, 0, 0,
     "admin endpoint for krctl; empty: ipc://<data_dir>/admin.sock"},
    {"next_keys", CFG_STR, O(next_keys), "", 0, 0, 0,
     "broker key rollover: the next .secret key file, served on "
     "next_listen while nodes move to its public key"},
    {"next_listen", CFG_STR, O(next_listen), "", 0, 0, 0,
     "broker key rollover: the endpoint of next_keys"},
    {"instance", CFG_STR, O(instance), "krbroker", 0, 0, 0,
     "name of this broker in events and logs"},
    {"log_level", CFG_STR, O(log_level), "info", 0, 0, 0,
     "debug, info, warn or error"},
    {"map_size_mb", CFG_U64, O(map_size_mb), "4096", 1, 1u << 24, 0,
     "LMDB map size in MiB: the most the store may hold"},
    {"prefill_mb", CFG_U64, O(prefill_mb), "64", 0, 1u << 20, 0,
     "MiB of the store's file kept written ahead of use, so that commits "
     "do not grow the file (0: off)"},
    {"max_envelope_bytes", CFG_U64, O(max_envelope_bytes), "1048576", 1024,
     8u << 20, 0, "largest envelope accepted"},
    {"window", CFG_U64, O(window), "256", 1, 65536, 0,
     "most unacknowledged deliveries per node"},
    {"resend_ms", CFG_U64, O(resend_ms), "5000", 50, 600000, 0,
     "first resend timeout for unacknowledged deliveries (doubles to 60 s)"},
    {"heartbeat_ms", CFG_U64, O(heartbeat_ms), "1000", 100, 60000, 0,
     "ZMTP heartbeat interval"},
    {"heartbeat_timeout_ms", CFG_U64, O(heartbeat_timeout_ms), "5000", 200,
     600000, 0, "a connection silent this long is dead"},
    {"max_frames_per_pass", CFG_U64, O(max_frames_per_pass), "1024", 1, 100000,
     0, "frames read per loop pass (one commit each pass)"},
    {"max_items_per_pass", CFG_U64, O(max_items_per_pass), "512", 1, 1000000, 0,
     "submits and acks per loop pass: a pass that stops there commits, and "
     "its receipts go out while the next pass reads"},
    {"early_delivery", CFG_BOOL, O(early_delivery), "true", 0, 0, 0,
     "send a pass's deliveries while its commit runs; nodes keep them "
     "hidden until told that it committed (PROTOCOL.md)"},
    {"routes", CFG_STR, O(routes), "", 0, 0, 0,
     "routes file: the coalition's routes and timers (PROTOCOL.md "
     "\"Routes\"); empty: no route check and no timers"},
    {"retention_messages_s", CFG_U64, O(retention_messages_s), "2592000", 1,
     20ull * 366 * 86400, 0,
     "seconds a message's record stays after its final outcome (its "
     "ciphertext is gone at that outcome); default 30 days; deployments: at "
     "least 7 days, so that a node's late resend is still known"},
    {"retention_audit_days", CFG_U64, O(retention_audit_days), "1826", 1826,
     36600, 0,
     "days audit records stay (NEN 7513: at least five years, so never "
     "below 1826); then purged in whole blocks from the oldest"},
    {"audit_purge_block", CFG_U64, O(audit_purge_block), "1000", 1, 100000, 0,
     "audit records purged together; the block goes only when its newest "
     "record is past retention"},
    {"test_audit_retention_s", CFG_U64, O(test_audit_retention_s), "0", 0,
     UINT64_MAX / 1000, 0,
     "TEST ONLY: audit retention in seconds, below the legal minimum; 0: "
     "off (retention_audit_days holds)"},
    {"erasure_register", CFG_STR, O(erasure_register), "", 0, 0, 0,
     "file of executed erasures, applied again at every start so that a "
     "store restored from backup never brings erased data back; keep it "
     "apart from the store's backups; empty: <data_dir>/erasure-register"},
    {"unsafe_nosync", CFG_BOOL, O(unsafe_nosync), "false", 0, 0, 0,
     "BENCHMARK ONLY: skip fsync; a crash loses accepted messages"},
    DAEMON_OPS_OPTIONS(O(ops)),
    {NULL, 0, 0, NULL, 0, 0, 0, NULL},
};
