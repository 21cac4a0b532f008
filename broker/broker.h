/*
 * broker.h - krbroker's modules and the state they share.
 *
 * One thread, one event loop (loop.c). Each pass of the loop reads what the
 * sockets hold, applies it to LMDB in ONE write transaction, commits, and
 * only then sends the receipts that the commit makes true (group commit:
 * one fsync per pass, not per message). Deliveries are then pumped from
 * LMDB to connected nodes within each node's window (deliver.c).
 */
#ifndef KR_BROKER_H
#define KR_BROKER_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "daemon.h"
#include "envelope.pb-c.h"
#include "log.h"
#include "store.pb-c.h"
#include "util.h"
#include "wire.pb-c.h"
#include "admin.pb-c.h"

#define BROKER_ROUTING_ID_MAX 256

/* config.c: every option, its default and meaning, in one table. */
struct broker_config {
    char *data_dir;    /* LMDB environment and admin socket */
    char *listen;      /* ROUTER endpoint for nodes */
    char *admin;       /* admin endpoint; "" = ipc://<data_dir>/admin.sock */
    char *keys;        /* broker's .secret key file */
    char *next_keys;   /* rollover: the next .secret key file, or "" */
    char *next_listen; /* rollover: where the next key is served */
    char *instance;    /* name of this broker in events and logs */
    char *log_level;
    uint64_t map_size_mb; /* LMDB map size */
    uint64_t prefill_mb;  /* file written ahead of LMDB's use */
    uint64_t max_envelope_bytes;
    uint64_t window;    /* max unacknowledged items per node */
    uint64_t resend_ms; /* first resend timeout, doubling to 60 s */
    uint64_t heartbeat_ms;
    uint64_t heartbeat_timeout_ms;
    uint64_t max_frames_per_pass; /* bound on the work of one loop pass */
    uint64_t max_items_per_pass;  /* submits and acks per pass (commit) */
    bool unsafe_nosync;           /* BENCHMARK ONLY: no fsync; loses data */
    bool early_delivery;   /* pump a pass's deliveries before its commit */
    char *routes;          /* routes file (routes.c); "" = no route check */
    struct daemon_ops ops; /* log format, socket, HTTP (daemon.h) */
    /* retention.c: how long after its final outcome a message's record
     * stays; audit records at least five years (days, never fewer than
     * 1826), purged in blocks of audit_purge_block records; the TEST ONLY
     * override in seconds wins when not 0. */
    uint64_t retention_messages_s;
    uint64_t retention_audit_days;
    uint64_t audit_purge_block;
    uint64_t test_audit_retention_s;
    /* erasure.c: the erasure register, a file kept apart from the store's
     * backups; "" = <data_dir>/erasure-register. */
    char *erasure_register;
};
extern const struct cfg_option broker_config_options[];

/* An organisation known to the directory, and its connection if any.
 * Kept in memory for every organisation: the directory is small (a region
 * has hundreds), and validation must not cost an LMDB read per field. */
struct org {
    char id[KR_ORG_ID_MAX]; /* "scheme:value" */
    int category;           /* kr.v1.OrgCategory */
    bool suspended;
    bool removed;      /* krctl org remove: suspended for good */
    uint8_t curve[32]; /* for ZAP */

    /* Connection state (lost on restart: nodes say Hello again). */
    bool connected; /* a Hello came and sends still succeed */
    uint8_t rid[BROKER_ROUTING_ID_MAX]; /* ROUTER routing id of its link */
    size_t rid_len;
    uint32_t window;         /* min(node's, broker's) */
    bool early_ok;           /* its Hello said it holds early deliveries */
    uint32_t inflight;       /* sent since the last rewind, not acked */
    uint64_t cursor;         /* next queue seq to send */
    uint64_t next_seq;       /* next seq to assign in its queue */
    uint64_t seq_reserved;   /* meta holds it: no seq at or past it used */
    bool dirty;              /* the pump should look at this org */
    uint64_t progress_ms;    /* last ack, or the send that began a burst */
    uint32_t resend_attempt; /* doubles the resend timeout */
    /* A pass that sent this node deliveries early, whose PassResult the
     * node has not been sent yet (0: none), and that result. */
    uint64_t result_pass;
    bool result_committed;

    struct org *hash_next;
};

struct broker_store;

struct broker {
    struct broker_config cfg;
    struct broker_store *store;
    /* Scratch for protobuf unpacking on the hot path (arena.h): a frame's
     * handling and a pump each run in a scope of it. */
    struct arena pb;
    void *zctx;
    void *router; /* nodes */
    void *admin;  /* krctl */
    void *zap;    /* ZAP handler (REP on inproc) */
    int sig_fd;   /* self-pipe read end: a signal arrived */
    bool stopping;
    int exit_signal; /* the signal that stopped the loop */

    struct org **orgs; /* hash table by id */
    size_t norgs_buckets;
    size_t norgs;

    /* The pass in progress. */
    MDB_txn *txn;              /* opened lazily by broker_txn() */
    uint64_t now_ms;           /* wall clock at the start of the pass */
    uint64_t store_full_until; /* refuse submits until then (ms) */
    uint64_t store_free_est;   /* bytes free, estimated (see deliver.c) */
    uint64_t store_reserve;    /* kept free for acks and receipts */
    /* A full store or disk (full.c): why submits are refused until
     * store_full_until, what bounds the store (the map or the file
     * system, as the cron last saw them) and the figures for stats. */
    int store_full_reason;     /* STORE_FULL or DISK_FULL */
    int full_reason_now;       /* the last submit's refusal, or 0 */
    bool disk_bound;           /* the file system leaves less than the map */
    uint64_t disk_free;        /* free on the store's file system */
    uint64_t store_file_bytes; /* the store's file */
    uint64_t refused_full;     /* submits refused store-full or disk-full */
    struct log_every full_log; /* those refusals, for the log */
    uint32_t ack_limit;        /* acks applied per pass (adaptive, loop.c) */
    uint32_t acks_in_pass;     /* acks applied in this pass so far */
    uint64_t items_in_pass;    /* submits and acks read in this pass */
    uint64_t new_in_pass;      /* messages queued for delivery this pass */
    uint64_t next_cron_ms;
    /* Names this pass in early deliveries. Starts at a random point, so
     * that a node cannot mistake a restarted broker's pass for one of the
     * broker it was connected to before. */
    uint64_t pass_id;
    /* Test only, from the environment (main.c): after the Nth pass that
     * accepted a message and sent deliveries early, stop before its commit
     * (KRBROKER_TEST_HANG_BEFORE_COMMIT=N: the test kills it) or let its
     * commit fail
     * (KRBROKER_TEST_FAIL_COMMIT=N). */
    uint64_t test_hang_after_early;
    uint64_t test_fail_after_early;
    /* Test only (KRBROKER_TEST_EARLY_ACK, tests/powercut): receipts leave
     * before the commit, the bug the power-cut harness must catch. */
    uint64_t test_early_ack;

    struct kr_buf packbuf; /* reused for every frame sent */

    /* For `krctl stats` (admin.c). */
    uint64_t started_mono_ms;
    uint64_t commits_failed;
    uint64_t early_deliveries;
    uint64_t early_passes_failed;
};

/* orgs.c */
struct org *orgs_find(struct broker *b, const char *id);
struct org *orgs_find_curve(struct broker *b, const uint8_t curve[32]);
struct org *orgs_upsert(struct broker *b, const Kr__V1__OrgEntry *e);
int orgs_load(struct broker *b);
void orgs_free(struct broker *b);
#define ORGS_FOREACH(b, o)                                                     \
    for (size_t o##_i = 0; o##_i < (b)->norgs_buckets; o##_i++)                \
        for (struct org *o = (b)->orgs[o##_i]; o != NULL; o = o->hash_next)

/* loop.c: the pass and its replies. */
int broker_run(struct broker *b);
/* One frame from the connection 'rid', whose CURVE handshake named the
 * organisation org_id (ZAP's User-Id; NULL: none), applied in the pass.
 * The loop reads frames with it; so do the fuzz targets, without a socket
 * (tests/fuzz/). */
void broker_handle_frame(struct broker *b, const char *org_id,
                         const uint8_t *rid, size_t rid_len,
                         const uint8_t *bytes, size_t len);
/* Tests only: end the pass as broker_run does (commit, receipts, pump),
 * and forget loop.c's reused reply arrays (deliver_reset: the pump's). */
void broker_end_pass(struct broker *b);
void broker_reset(void);
/* The pass's write transaction, begun on first use. NULL on failure. */
MDB_txn *broker_txn(struct broker *b);
/* Queue a receipt for the connection 'rid' of this pass; it is sent after
 * the pass commits. If the commit fails, an ACCEPTED becomes REFUSED. */
void broker_reply_receipt(struct broker *b, const uint8_t *rid, size_t rid_len,
                          const uint8_t msg_id[16], int outcome, int reason,
                          const char *detail);
/* Send a frame now, to a routing id. 0, or KR_EUNAVAIL if the peer is gone
 * (ROUTER_MANDATORY) and KR_EFULL if its pipe is full. */
int broker_send_frame(struct broker *b, const uint8_t *rid, size_t rid_len,
                      const Kr__V1__Frame *f);
void broker_send_error(struct broker *b, const uint8_t *rid, size_t rid_len,
                       int reason, const char *detail, bool fatal);
/* audit.c: one record per accepted or refused event, in the pass's
 * transaction, hash-chained by the store. Only ids, codes and the subject
 * pseudonym go in: never a payload, a name or a BSN. */
struct audit_ev {
    const char *event;           /* "message.accepted", "consent.revoked" */
    char action;                 /* C, R, U, D or E(xecute) */
    bool refused;                /* result: refused, else success */
    const char *check;           /* the check that decided */
    const char *org_id;          /* the organisation that acted */
    const Kr__V1__Envelope *env; /* fills the object fields, if given */
    const Kr__V1__StoredMessage *msg; /* or these, from a stored message */
    const uint8_t *msg_id;            /* overrides, 16 bytes */
    const uint8_t *consent_id;        /* overrides, 16 bytes */
    const char *object;               /* another object (an org id) */
    int reason;
    const char *detail;
    bool noodknop; /* the meldrecht exception was used */
};
int audit_write(struct broker *b, const struct audit_ev *ev);

/* handle_*.c: one per kind of item in an inbound frame. */
void handle_hello(struct broker *b, struct org *o, const uint8_t *rid,
                  size_t rid_len, const Kr__V1__Hello *h);
void handle_dir_request(struct broker *b, const uint8_t *rid, size_t rid_len,
                        const Kr__V1__DirectoryRequest *r);
void handle_submit(struct broker *b, struct org *o, const uint8_t *rid,
                   size_t rid_len, const Kr__V1__Submit *s);
void handle_ack(struct broker *b, struct org *o, const Kr__V1__Ack *a);
/* handle_referral_query.c: a coordinator asks for its coalition's
 * referrals (state only); the answer leaves after the pass's commit
 * (referral_query_flush: committed, or each asker told to retry). */
void handle_referral_query(struct broker *b, struct org *o, const uint8_t *rid,
                           size_t rid_len, const Kr__V1__CoalitionQuery *q);
void referral_query_flush(struct broker *b, bool committed);
void referral_query_reset(void);

/* handle_consent.c: the ledger. check_* return 0 or a kr.v1.Reason with
 * a why; apply_* write in the pass's transaction. */
struct Kr__V1__ConsentRecord;
int consent_check_grant(struct broker *b, struct org *o,
                        const Kr__V1__Envelope *env, const char **why,
                        Kr__V1__ConsentRecord **superseded);
int consent_apply_grant(struct broker *b, struct org *o,
                        const Kr__V1__Envelope *env,
                        Kr__V1__ConsentRecord *superseded);
int consent_check_revoke(struct broker *b, struct org *o,
                         const Kr__V1__Envelope *env, const char **why,
                         Kr__V1__ConsentRecord **rec);
int consent_apply_revoke(struct broker *b, struct org *o,
                         const Kr__V1__Envelope *env,
                         Kr__V1__ConsentRecord *rec);
/* The gate: 0 if env may pass now (*cid_out: the consent that decided, or
 * NULL; *noodknop: the meldrecht exception), else a kr.v1.Reason and the
 * check that failed in *why. 'to' is the recipient. */
int consent_gate(struct broker *b, struct org *from, struct org *to,
                 const Kr__V1__Envelope *env, uint8_t cid_out[16],
                 bool *has_cid, bool *noodknop, const char **why);

/* deliver.c: queues, the pump, resends and expiry. */
/* Append an item (a delivery, a receipt or a notice) to org's queue in
 * the pass's transaction. */
int deliver_enqueue(struct broker *b, struct org *o, Kr__V1__QueueItem *item,
                    uint64_t *seq_out);
/* Queue a durable final receipt for the sender of a message. */
int deliver_final_receipt(struct broker *b, const char *sender,
                          const uint8_t msg_id[16], int outcome, int reason,
                          const char *detail);
/* Make a queued message final (delivered, refused, expired, withdrawn):
 * its state, the hash of its payload kept and the payload deleted, its
 * expiry entry gone, and a durable receipt queued for its sender. The
 * caller has removed (or is removing) its queue entry. */
int deliver_finalize(struct broker *b, const uint8_t msg_id[16],
                     Kr__V1__StoredMessage *m, int state, int outcome,
                     int reason, const char *detail);
/* full.c: a full store or a full disk. The space the store may still
 * use, from the cron (the smaller of the map and the file system). */
void full_refresh(struct broker *b, uint64_t used, uint64_t map);
/* 0 if a new message of env_len bytes may be stored; else the reason to
 * refuse it now (STORE_FULL or DISK_FULL), counted and logged. */
int full_refusal(struct broker *b, size_t env_len);
/* A pass did not commit for lack of room (rc KR_EFULL or KR_EDISKFULL):
 * refuse submits for a moment, so that acks commit on their own. Returns
 * the reason its messages are refused with. */
int full_commit_failed(struct broker *b, int rc);
/* Whether new messages are refused now because the disk is full. */
bool full_disk_now(struct broker *b);

/* Room for one more message of env_len bytes? Refreshes nothing. */
bool deliver_has_room(struct broker *b, size_t env_len);
void deliver_took_room(struct broker *b, size_t env_len);
void deliver_pump(struct broker *b);
/* Send from the pass's open transaction, before its commit, the
 * deliveries (only) that connected nodes have room for, marked with the
 * pass's id; returns how many. Each node that got some is owed a
 * PassResult (deliver_send_results). */
size_t deliver_pump_early(struct broker *b);
/* After the pass's commit (committed) or its failure: tell every node
 * that got deliveries early what became of them. A node whose pipe is
 * full is told in a later pass, and gets nothing early until then. */
void deliver_send_results(struct broker *b, bool committed);
void deliver_cron(struct broker *b);
/* Queue seqs are reserved on disk a block at a time. */
#define DELIVER_SEQ_BLOCK 4096
/* Write a new bound for every queue whose seqs passed theirs, in the
 * pass's transaction. */
int deliver_persist_seqs(struct broker *b);
/* After a pass that did not commit: the bounds it wrote are not on disk. */
void deliver_forget_reserved(struct broker *b);
void deliver_rewind(struct org *o);
/* Tests only: forget the withdrawals the pump set aside for the next pass
 * (a fuzz target starts each input from an emptied store). */
void deliver_reset(void);

/* admin.c */
void admin_handle(struct broker *b);
/* One packed kr.v1.AdminRequest: applied (a change commits in its own
 * transaction) and its packed AdminResponse left in 'out'. 'rid' names
 * the requester on the admin socket (NULL: none, e.g. a fuzz target);
 * *deferred is set when the answer is sent later (a backup). */
void admin_handle_request(struct broker *b, const uint8_t *bytes, size_t len,
                          const uint8_t *rid, size_t rid_len,
                          struct kr_buf *out, bool *deferred);
/* admin_keys.c: krctl org remove and org rekey, each committed in its own
 * transaction with its events before the answer. */
int admin_org_remove(struct broker *b, const char *id,
                     Kr__V1__AdminResponse *resp);
int admin_org_rekey(struct broker *b, const Kr__V1__OrgRekey *req,
                    Kr__V1__AdminResponse *resp);

/* rollover.c: with next_keys, listen on next_listen with that key too. */
int rollover_listen(struct broker *b, const kr_keys_t *current);

/* auth.c: the ZAP handler. */
void auth_handle(struct broker *b);

#endif
