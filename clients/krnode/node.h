/*
 * node.h - krnode, the organisation's node daemon: its modules and the state
 * they share.
 *
 * One thread, one event loop (loop.c). Each pass of the loop drains what the
 * broker link (link.c) and the adapters' local socket (local.c) hold,
 * applies every write of that pass to LMDB (nstore.c) in ONE write
 * transaction, commits, and only then sends what the commit makes true: the
 * acknowledgements to the broker and the replies to adapters (persist
 * before acknowledge). After the commit the submission pump sends pending
 * outbox entries to the broker within the window.
 *
 * seal.c builds, seals and signs envelopes and verifies and opens
 * deliveries; peers.c caches the broker's directory; config.c holds the one
 * table of options.
 */
#ifndef KRNODE_NODE_H
#define KRNODE_NODE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "config.h"
#include "daemon.h"
#include "content.pb-c.h"
#include "crypto.h"
#include "envelope.pb-c.h"
#include "latency.h"
#include "local.pb-c.h"
#include "log.h"
#include "store.pb-c.h"
#include "util.h"
#include "wire.pb-c.h"

/* Frames read from each socket in one pass: bounds the work (and the
 * latency of the replies) of one group commit. */
#define NODE_DRAIN_MAX 256
/* Submit items per frame, and the bytes after which a frame is closed
 * (at least one item always goes). */
#define NODE_SUBMIT_BATCH 64
#define NODE_BATCH_BYTES (1u << 20)
/* The protocol's frame limit (ZMQ_MAXMSGSIZE). */
#define NODE_FRAME_MAX (16u << 20)
/* The largest content an adapter may send: its envelope must fit in one
 * frame with room to spare. */
#define NODE_CONTENT_MAX (8u << 20)
/* Inbox and outbox listings. */
#define NODE_LIST_DEFAULT 100
#define NODE_LIST_MAX 1000
#define NODE_LIST_BYTES (8u << 20)
/* The first chunk of the node's unpacking arena: a frame of deliveries
 * fits; a larger one takes a further chunk for its scope only. */
#define NODE_ARENA_BYTES (256u << 10)
/* Sends that wait for a directory lookup, and for how long. */
#define NODE_PARK_MAX 256
#define NODE_PARK_MS 5000
/* Inbox requests waiting for something to arrive (ListRequest.wait_ms),
 * and the longest wait. */
#define NODE_WAIT_MAX 256
#define NODE_WAIT_MS_MAX 60000
/* Resend timeouts double up to this. */
#define NODE_RESEND_MAX_MS 60000
/* The same organisation is asked about at most this often. */
#define NODE_DIR_RETRY_MS 1000
/* A delivery held this long without its pass result (the broker sends it
 * right after its commit): something went wrong on the way; the node
 * drops what it holds and says Hello again, and the broker sends again
 * what it committed. */
#define NODE_HELD_MAX_MS 30000
/* A delivery signed with a key we do not know makes us ask the broker,
 * unless its entry is younger than this: then the key is refused. */
#define NODE_KEY_REFRESH_MS 30000
/* A justification digest: BLAKE2b-256 (kcrypto_hash()). */
#define NODE_DIGEST_LEN 32
/* A ZeroMQ routing id is at most 255 bytes. */
#define NODE_RID_MAX 256

/*
 * config.c
 */

struct node_config {
    char *org;                    /* own organisation id */
    char *data_dir;               /* LMDB environment, lock, local socket */
    char *keys;                   /* the organisation's .secret key file */
    char *broker;                 /* broker endpoint */
    char *broker_key;             /* the broker's .public key file */
    char *local;                  /* adapters' endpoint; "" = ipc in data_dir */
    char *coalition_key;          /* coalition key file; "" = none */
    char *previous_keys;          /* .secret file before a rekey; "" = none */
    char *previous_coalition_key; /* the version before; "" = none */
    char *log_level;
    uint64_t map_size_mb;          /* LMDB map size */
    uint64_t prefill_mb;           /* file written ahead of LMDB's use */
    uint64_t window;               /* submits in flight; deliveries we take */
    uint64_t resend_ms;            /* first resend timeout, doubling to 60 s */
    uint64_t heartbeat_ms;         /* ZMTP PING interval */
    uint64_t heartbeat_timeout_ms; /* a silent connection is dead after */
    struct daemon_ops ops;         /* log format, socket, HTTP (daemon.h) */
    uint64_t retention_s; /* processed inbox, final outbox: then purged */
};
extern const struct cfg_option node_config_options[];

/* Checks beyond the table's: the org id's form, the log level. */
int node_config_check(const struct node_config *cfg, char *err, size_t errlen);

#include "nstore.h"

/* erasure.c: a NOTICE_ERASURE was filed at inbox seq notice_seq: remove
 * the inbox records about the subject and the envelopes of final sent
 * messages about it. 0 or a KR_E* store error. */
struct node;
int node_on_erasure(struct node *n, MDB_txn *txn, const Kr__V1__Notice *nt,
                    uint64_t notice_seq);
/* retention.c: the node's purge, once a second, in the pass. */
void node_retention(struct node *n);

/*
 * peers.c - the directory cache: every organisation the broker told us
 * about, in memory (a region has hundreds) and in the peers database.
 */

struct peer {
    char org_id[KR_ORG_ID_MAX];
    bool known; /* false: asked about, no entry yet */
    bool suspended;
    int category;             /* kr.v1.OrgCategory */
    uint8_t box[KR_KEY_LEN];  /* X25519 sealing key */
    uint8_t sign[KR_KEY_LEN]; /* Ed25519 signature key */
    char box_key_id[KR_KEY_ID_LEN];
    char sign_key_id[KR_KEY_ID_LEN];
    int shared_slot;         /* seal.c's cache slot, -1: none yet */
    uint64_t refreshed_mono; /* when the directory last described it */
    uint64_t asked_mono;     /* when we last asked the broker about it */
    uint64_t denied_mono;    /* when the broker said it has no such org */
    /* The keys before its last rekey, honoured until prev_until_ms (wall
     * clock) for what it signed or sealed before (krctl org rekey). */
    bool has_prev;
    uint8_t prev_box[KR_KEY_LEN];
    uint8_t prev_sign[KR_KEY_LEN];
    char prev_box_key_id[KR_KEY_ID_LEN];
    char prev_sign_key_id[KR_KEY_ID_LEN];
    uint64_t prev_until_ms;
};

struct peers {
    struct peer **slots; /* open addressing, NULL = free */
    size_t cap;          /* a power of two */
    size_t n;
};

void peers_init(struct peers *ps);
void peers_fini(struct peers *ps);
/* The entry of an organisation (possibly not 'known'), or NULL. */
struct peer *peers_find(struct peers *ps, const char *org_id);
/* Take a directory entry into memory. KR_EINVAL for a malformed entry
 * (bad org id, keys not 32 bytes). */
int peers_update(struct peers *ps, const Kr__V1__OrgEntry *e,
                 uint64_t now_mono);
/* Whether to ask the broker about org_id now (rate-limited per org);
 * records the question. */
bool peers_should_ask(struct peers *ps, const char *org_id, uint64_t now_mono);
/* The broker's directory has no such organisation (as of now_mono). */
void peers_mark_unknown(struct peers *ps, const char *org_id,
                        uint64_t now_mono);
/* Fill the cache from the peers database at start. */
int peers_load(struct peers *ps, nstore_t *st);
/* Whether env names p's keys from before its rekey, within the grace
 * period at now_ms (wall clock). */
bool peers_prev_keys(const struct peer *p, const Kr__V1__Envelope *env,
                     uint64_t now_ms);

/*
 * seal.c - envelopes: build, seal and sign; verify and open. Holds the
 * precomputed crypto_box keys per peer in secure memory.
 */

struct seal_slot;

struct seal {
    const kr_keys_t *keys; /* borrowed from the node */
    kr_keys_t *prev;       /* previous_keys: owned, NULL if none */
    char prev_box_key_id[KR_KEY_ID_LEN];
    char sign_key_id[KR_KEY_ID_LEN];
    char box_key_id[KR_KEY_ID_LEN];
    struct seal_slot *slots; /* sodium_malloc'd: shared keys */
    size_t nslots, capslots;
    struct kr_buf cipher; /* reused: a payload being sealed/opened */
    struct kr_buf env;    /* reused: the envelope being signed */
    struct arena *pb;     /* the node's: content is unpacked in it */
};

/* Everything an outgoing envelope needs besides the adapter's request. */
struct seal_fields {
    const char *sender;            /* own org id */
    const uint8_t *msg_id;         /* 16 bytes */
    const uint8_t *referral_id;    /* 16 bytes, or NULL: none */
    const uint8_t *pseudonym;      /* 32 bytes, or NULL: none */
    uint32_t key_version;          /* of the coalition key used */
    const uint8_t *prev_pseudonym; /* under the previous version, or NULL */
    uint32_t prev_key_version;
    uint64_t created_at_ms;
    const uint8_t *trace_id; /* 16 bytes */
    /* CONSENT_GRANT: the scope as it goes into the envelope, with its
     * consent_id and subject filled in. The envelope's consent_id,
     * purpose and data_category are then the scope's. NULL otherwise. */
    const Kr__V1__ConsentScope *scope;
    /* MELDRECHT: BLAKE2b-256 of the content's justification, or NULL. */
    const uint8_t *justification_digest;
    /* REFERRAL_STATUS: the clear codes (referrals.c). */
    int task_status, cancel_step;
    const char *status_reason, *status_outcome;
};
/* referrals.c: the clear status codes of a REFERRAL_STATUS into f, as the
 * adapter gave them in the request or else from the sealed
 * ReferralStatus c (NULL if the content has none). KR_EINVAL with *why
 * if a code is unknown. */
struct Kr__V1__Content;
struct node;
/* The referral state a node keeps (referrals.c), in the pass's
 * transaction: a REFERRAL, HANDOVER or REFERRAL_STATUS this node sent
 * (on the broker's ACCEPTED) or received, and the broker's referral
 * notices. 0 or a KR_E* store error (the pass then fails). */
int referrals_on_message(struct node *n, MDB_txn *txn,
                         const Kr__V1__Envelope *e);
int referrals_on_accepted(struct node *n, MDB_txn *txn,
                          const uint8_t msg_id[KR_ID_LEN]);
int referrals_on_notice(struct node *n, MDB_txn *txn, const Kr__V1__Notice *nt);
/* LocalRequest referral_get / referral_list into resp (its referrals are
 * malloc'd: referrals_local_free). 0 or an error with *why. */
int referrals_local(struct node *n, MDB_txn *txn,
                    const Kr__V1__LocalRequest *req,
                    Kr__V1__LocalResponse *resp, const char **why);
void referrals_local_free(Kr__V1__LocalResponse *resp);
int referrals_send_codes(const Kr__V1__SendRequest *sr,
                         const struct Kr__V1__Content *c, struct seal_fields *f,
                         const char **why);

int seal_init(struct seal *s, const kr_keys_t *keys, struct arena *pb);
void seal_fini(struct seal *s);
/* Load the own keys from before a rekey (option previous_keys), to open
 * what was sealed to them. */
int seal_load_previous(struct seal *s, const char *path);
/* Seal req->content for peer p, build the envelope, sign it. On success
 * *env / *env_len are the signed bytes, valid until the next seal_* call,
 * and sig holds the signature. */
int seal_build(struct seal *s, struct peer *p, const Kr__V1__SendRequest *req,
               const struct seal_fields *f, const uint8_t **env,
               size_t *env_len, uint8_t sig[KR_SIG_LEN]);
/* Verify a delivery from peer p (whose entry is known) and open its
 * payload. On success *content / *content_len are the opened bytes (a
 * serialized kr.v1.Content, checked to parse), valid until the next seal_*
 * call. A MELDRECHT envelope must carry a justification digest that is the
 * BLAKE2b-256 of the content's non-empty justification. On failure *reason
 * is the kr.v1.Reason to refuse with (BAD_SIGNATURE, CANNOT_OPEN or
 * MISSING_JUSTIFICATION). sig_checked: the signature was verified with
 * p->sign already (workers.c, in parallel), so it is not checked again.
 * An envelope that names p's previous keys (the caller checked the grace,
 * peers_prev_keys) is verified and opened with those; one sealed to our
 * previous box key is opened with seal_load_previous's keys. */
int seal_open(struct seal *s, struct peer *p, const Kr__V1__Envelope *env,
              const uint8_t *env_bytes, size_t env_len, const uint8_t *sig,
              size_t sig_len, bool sig_checked, const uint8_t **content,
              size_t *content_len, int *reason);

/*
 * The pass (loop.c): what one loop pass wrote and what it may send after
 * its commit.
 */

/* A reply to an adapter, sent after the pass's commit. */
struct reply {
    uint8_t rid[NODE_RID_MAX]; /* ROUTER routing id */
    size_t rid_len;
    bool delim;    /* a REQ client: an empty frame follows */
    uint8_t *data; /* packed LocalResponse (malloc'd) */
    size_t len;
    bool went_ahead; /* its send left before the commit (link_send_ahead) */
};

/* A send that leaves for the broker before its pass commits
 * (link_send_ahead): what the outbox record holds, its envelope copied
 * into the pass's reused ahead_bytes (no allocation per message), and the
 * index of the adapter's reply in the pass. */
struct ahead {
    uint8_t msg_id[KR_ID_LEN];
    uint8_t sig[KR_SIG_LEN];
    size_t env_off; /* into pass.ahead_bytes */
    size_t env_len;
    size_t reply;
    bool sent; /* it left: a failed commit takes it out of flight */
};

/* An acknowledgement to the broker, sent after the pass's commit. */
struct pass_ack {
    uint64_t seq;
    uint8_t msg_id[KR_ID_LEN];
    size_t msg_id_len; /* 0 if the delivery had none */
    bool refused;
    int reason; /* kr.v1.Reason when refused */
};

struct pass {
    uint64_t id;     /* counts passes, from 1 */
    MDB_txn *txn;    /* the write transaction, opened on need */
    MDB_txn *read;   /* while a read is answered at once: its snapshot */
    int err;         /* first store failure: nothing commits */
    uint64_t now_ms; /* wall clock at the start of the pass */
    uint64_t now_mono;
    struct reply *replies;
    size_t nreplies, capreplies;
    struct pass_ack *acks;
    size_t nacks, capacks;
    bool dir_changed; /* a directory response came */
    bool urgent;      /* a delivery or notice: its ack and inbox wait on us */
    bool inbox_added; /* something was added to the inbox */
    bool awaited;     /* an outcome an adapter waits for (outbox_wait) */
    char (*unknown)[KR_ORG_ID_MAX]; /* orgs the directory does not know */
    size_t nunknown, capunknown;
    struct ahead *ahead; /* sends that leave before the commit */
    size_t nahead, capahead;
    struct kr_buf ahead_bytes; /* their envelopes, back to back */
};

struct node;

/* The pass's write transaction, begun on first use. Returns the pass's
 * error once a write failed: the rest of the pass then writes nothing.
 * While a read-only request is answered at once (local.c), its read
 * snapshot of the last commit instead. */
int pass_txn(struct node *n, MDB_txn **out);
/* Record a store failure (KR_EFULL, KR_EDISKFULL, KR_ESTORE) that killed
 * the txn. */
void pass_fail(struct node *n, int err);
void pass_add_ack(struct node *n, uint64_t seq, const uint8_t *msg_id,
                  size_t msg_id_len, bool refused, int reason);
/* Queue a reply; data is consumed (freed by the pass). */
void pass_add_reply(struct node *n, const uint8_t *rid, size_t rid_len,
                    bool delim, uint8_t *data, size_t len);
void pass_add_unknown(struct node *n, const char *org_id);
/* A send to submit before the pass commits; env is copied. The adapter's
 * reply must be the next one the pass adds. */
void pass_add_ahead(struct node *n, const uint8_t *msg_id, const uint8_t *sig,
                    const uint8_t *env, size_t env_len);

/*
 * link.c - the broker connection.
 */

struct inflight_slot;

struct inflight {
    struct inflight_slot *slots; /* open addressing by msg_id */
    size_t cap;                  /* a power of two, >= 2 * window */
    size_t n;
};

struct link {
    void *sock;                 /* DEALER, CURVE client */
    void *mon;                  /* PAIR: the DEALER's monitor events */
    bool connected;             /* handshake done, not refused fatally */
    bool hello_due;             /* a Hello must go before anything else */
    bool hello_unanswered;      /* no directory since the handshake yet */
    bool attached;              /* zmq_connect() is in effect */
    struct inflight inflight;   /* submits without a receipt */
    uint64_t cursor;            /* highest pending seq sent this round */
    bool more;                  /* pending submits may wait after cursor */
    uint64_t resend_ivl;        /* current resend timeout, doubling */
    uint64_t resend_check_mono; /* next look at the oldest in flight */
    uint64_t retry_mono;        /* rewind for temporary refusals, or 0 */
    uint64_t retry_backoff;     /* their backoff, doubling */
    uint64_t reconnect_mono;    /* connect again then (after a refusal), or 0 */
    uint64_t reconnect_backoff; /* its backoff, doubling */
    char (*want)[KR_ORG_ID_MAX]; /* orgs to ask the directory about */
    size_t nwant, capwant;
    struct kr_buf out;              /* reused: frames being packed */
    unsigned refusals;              /* handshakes refused since connected */
    uint64_t refusal_log_mono;      /* last log line about them */
    uint64_t test_exit_after_ahead; /* test only: see link_send.c */
    unsigned cut_streak;            /* handshakes cut off in a row, the broker
                                       accepting connections in between */
    bool tcp_up;                    /* a TCP connection came up since libzmq's
                                       last retry */

    /* The reason of the last temporary refusal, until a message is
     * accepted again (status: broker_refusing); those refusals, for the
     * log (link_send.c). */
    int refusing;
    struct log_every refused_log;
};

int link_open(struct node *n);
void link_close(struct node *n);
/* Read the monitor's events: connected, disconnected, refused. */
void link_on_monitor(struct node *n);
/* Read and handle up to NODE_DRAIN_MAX frames from the broker. */
void link_drain(struct node *n);
/* One frame from the broker, applied in the pass. link_drain reads frames
 * with it; so do the fuzz targets, without a socket (tests/fuzz/). */
void node_handle_broker_frame(struct node *n, const uint8_t *bytes, size_t len);
/* After the pass's commit (commit_rc): send Hello, directory requests and,
 * if the commit held, the acknowledgements, in one frame. */
void link_flush(struct node *n, int commit_rc);
/* Send pending submits within the window; resend on timeouts. */
void link_pump(struct node *n);
/* Ask the broker about org_id in the next flush (rate-limited). */
void link_want_directory(struct node *n, const char *org_id);
/* A local send was committed: the pump has work. */
void link_outbox_changed(struct node *n);
/* Whether a send of this pass may leave before the commit: the link is up,
 * the pump has nothing older waiting, and the window has room. */
bool link_may_send_ahead(const struct node *n);
/* Just before the pass commits: submit the pass's sends that may go
 * ahead. */
void link_send_ahead(struct node *n);
/* Whether timers of the link want the loop to wake up soon. */
bool link_busy(const struct node *n);

/*
 * local.c - the adapters' socket.
 */

/*
 * provisional.c - deliveries the broker sent early, before the pass that
 * wrote them had committed (PROTOCOL.md, "Early delivery"). Stored like
 * any delivery and marked held in the store; not listed, long-polled or
 * acknowledged until the broker's PassResult says the pass committed;
 * removed if it says not, or if the connection ends before it says.
 */
enum prov_state {
    PROV_WAITING,   /* no result yet: hidden */
    PROV_CONFIRMED, /* committed at the broker: shown, acked once released */
    PROV_DROPPED,   /* not committed there: hidden, being removed */
};

struct prov_entry {
    uint64_t inbox_seq;
    uint8_t msg_id[KR_ID_LEN];
    uint64_t broker_pass;  /* the broker's pass that sent it */
    uint64_t delivery_seq; /* its seq in our queue at the broker, for the ack */
    uint64_t stored_pass;  /* our pass that added it */
    uint64_t settled_pass; /* our pass that released or removed it, or 0 */
    uint64_t held_mono;    /* when it came */
    enum prov_state state;
};

struct provisional {
    struct prov_entry *e; /* in inbox_seq order (arrival) */
    size_t n, cap;
    bool unsettled; /* an entry decided but not yet written (a failed pass) */
    bool show_now;  /* confirmed entries already committed here: show them */
    /* Test only (KRNODE_TEST_EXIT_AFTER_HELD=N): the Nth held delivery
     * arms an exit at the commit that stores it; results are not read
     * from then on, as if the process had died before they came. */
    uint64_t test_exit_after_held;
    bool test_exit_armed;
};

/* A delivery of broker_pass was just added to the inbox at inbox_seq, in
 * this pass; it is marked held in the store here. */
int prov_add(struct node *n, uint64_t inbox_seq, const uint8_t *msg_id,
             uint64_t broker_pass, uint64_t delivery_seq);
/* Whether the inbox record at inbox_seq (with msg_id) must not be shown:
 * waiting for its pass result, or being removed. */
bool prov_hidden(const struct node *n, uint64_t inbox_seq,
                 const uint8_t *msg_id);
/* The entry for msg_id, if it is still tracked; NULL otherwise. */
struct prov_entry *prov_find(struct node *n, const uint8_t *msg_id);
/* The same message again: a plain (not early) delivery proves the broker
 * committed it; an early one changes nothing. */
void prov_on_again(struct node *n, struct prov_entry *e,
                   const Kr__V1__Delivery *d);
/* A PassResult from the broker. */
void prov_on_result(struct node *n, const Kr__V1__PassResult *r);
/* A new connection (results owed on the old one never come), or a result
 * overdue: everything still waiting is removed unseen. */
void prov_drop_waiting(struct node *n, const char *why);
/* Held past NODE_HELD_MAX_MS without a result: drop and say Hello. */
void prov_timers(struct node *n);
/* Before the pass commits: write what was decided but not yet written. */
void prov_settle(struct node *n);
/* After the pass's commit (or its failure). */
void prov_after_commit(struct node *n, int commit_rc);
/* At start-up: remove every record still held. */
int prov_recover(struct node *n);
void prov_free(struct node *n);

struct parked;

struct inbox_wait;
struct outbox_wait;
struct local {
    void *sock;            /* ROUTER */
    char *endpoint;        /* as bound */
    struct parked *parked; /* sends waiting for a directory lookup */
    size_t nparked;
    struct inbox_wait *waits; /* inbox requests waiting for an arrival */
    size_t nwaits;
    struct outbox_wait *owaits; /* outbox_wait requests: until an outcome */
    size_t nowaits;
};

int local_open(struct node *n);
void local_close(struct node *n);
/* Read and handle up to NODE_DRAIN_MAX requests. */
void local_drain(struct node *n);
/* One request (a packed kr.v1.LocalRequest) from the adapter whose
 * routing id is 'rid' (delim: it came through a REQ socket), handled in
 * the pass; its reply goes after the commit. local_drain reads requests
 * with it; so do the fuzz targets. */
void local_handle_request(struct node *n, const uint8_t *rid, size_t rid_len,
                          bool delim, const uint8_t *bytes, size_t len);
/* The directory changed (or named unknown orgs): retry parked sends. */
void local_on_directory(struct node *n);
/* Parked sends past their deadline fail; inbox waits past theirs get an
 * empty page; after local_inbox_grew, waits are answered. */
void local_timers(struct node *n);
/* A committed pass gave an awaited message its outcome (pass.awaited):
 * answer those waits (local_outbox_wait.c). */
void local_outbox_committed(struct node *n);
/* The outcome of msg_id was set in this pass: true if an adapter waits for
 * it (the pass then commits at once instead of deferring). */
bool local_outbox_waited(const struct node *n, const uint8_t *msg_id);
/* A committed pass added to the inbox: answer the waits now, from what
 * it committed. */
void local_inbox_grew(struct node *n);
/* Held deliveries already committed here were confirmed by the broker:
 * answer the waits now, from committed state, without waiting for this
 * pass's commit (only these answers leave now). */
void local_inbox_shown(struct node *n);
/* How long the loop may sleep for the local socket's timers (ms). */
long local_timeout(const struct node *n, long timeout);
/* The node stops: parked sends are answered KR_EUNAVAIL (not stored). */
void local_stop(struct node *n);
/* After the pass's commit: send the replies; if the commit failed, every
 * reply becomes that error (nothing of the pass was saved). */
void local_flush(struct node *n, int commit_rc);

/* coalition.c: a coordinator's coalition_referrals request, sent to the
 * broker and answered when its ReferralStates comes (or its deadline;
 * local_timers, local_timeout and local_stop call the rest). */
void coalition_request(struct node *n, const uint8_t *rid, size_t rid_len,
                       bool delim, const Kr__V1__CoalitionQuery *q);
void coalition_on_answer(struct node *n, const Kr__V1__ReferralStates *st);
void coalition_timers(struct node *n);
long coalition_timeout(long timeout);
void coalition_stop(struct node *n);

/*
 * The node (loop.c).
 */

/*
 * workers.c - helper threads for the pass's crypto.
 */

struct workers;

/* Helpers for this machine: one fewer than its CPUs, at most three. */
unsigned workers_default(void);
int workers_open(unsigned helpers, struct workers **out);
void workers_close(struct workers **w);
/* Whether workers_run() runs items in parallel. */
bool workers_parallel(const struct workers *w);
/* fn(arg, i) for every i below count, on the loop thread and the helpers;
 * returns when all are done. */
void workers_run(struct workers *w, void (*fn)(void *arg, size_t i), void *arg,
                 size_t count);

struct node {
    struct node_config *cfg; /* borrowed from main */
    kr_keys_t *keys;         /* own keys, secure memory */
    kr_pubkeys_t broker_pub;
    kr_coalition_key_t *coalition;      /* NULL: none configured */
    kr_coalition_key_t *prev_coalition; /* a rotation's previous version */
    nstore_t *store;
    void *zctx;
    struct peers peers;
    struct seal seal;
    /* Frames, local requests and the records they read are unpacked here,
     * on the main thread only: no malloc per field (arena.h). */
    struct arena pb;
    struct link link;
    struct local local;
    struct pass pass;
    struct provisional prov;
    struct workers *workers; /* signature checks in parallel */
    int lock_fd;             /* flock on data_dir/node.lock */
    uint64_t full_passes;    /* passes lost to a full store */
    uint64_t full_log_mono;  /* last log line about it */
    /* A pass failed for a full map or disk and none has committed since:
     * deliveries of that pass went unacknowledged, and the broker's
     * resends back off to a minute. Looked at every second (loop.c); when
     * there is room again, a Hello makes the broker send them at once. */
    bool full_failing;
    uint64_t full_check_mono;
    /* Test only (KRNODE_TEST_EARLY_ACK, tests/powercut): acks and adapter
     * replies leave before the commit, the bug the power-cut harness
     * must catch. */
    bool test_early_ack;
    int exit_signal; /* the signal that stopped the loop */
};

/* Load keys, open the store, bind the local socket, connect the broker.
 * Logs why it fails; KR_EPERM for a key file others can read. */
int node_open(struct node_config *cfg, struct node **out);
void node_close(struct node **np);
/* Run the loop until stop_fd becomes readable (a signal arrived), then
 * finish the pass and return 0. */
int node_run(struct node *n, int stop_fd);
/* A pass as node_run makes it: begin (clocks read, nothing pending), and
 * end (commit, then acks, replies and the pump; 'stop': no pump). The
 * fuzz targets drive passes with them. */
void node_pass_begin(struct node *n);
void node_pass_end(struct node *n, bool stop);

#endif
