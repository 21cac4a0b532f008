/*
 * harness.h - the integration tests' harness: real krbroker, krnode and
 * krctl processes in a fresh temporary directory.
 *
 * Rules every test follows through this library:
 *   - daemons run from KR_BIN_DIR in a mkdtemp() directory under /tmp, on a
 *     free loopback port and ipc:// sockets inside that directory;
 *   - readiness is polled with a deadline (h_wait_until, H_POLL), never
 *     slept for; every loop is bounded in count and in time;
 *   - only processes this harness started are signalled, by PID; a
 *     watchdog (h_init) kills them and exits if a test overruns;
 *   - at the end (h_finish) each daemon gets SIGTERM and must exit 0 in
 *     time; on success the directory is removed, on failure it is kept,
 *     its path printed, and the tail of every daemon's log shown.
 *
 * Output: one line per check, "ok   - what" or "FAIL - what"; a test exits
 * 0 on success and 1 naming its first failed check.
 *
 * Environment: KR_IT_TIME_SCALE=N multiplies every deadline (slow builds,
 * sanitizers); KR_IT_VALGRIND=1 runs the daemons under valgrind (and
 * implies a time scale of at least 10); KR_IT_KEEP=1 keeps the directory
 * also on success.
 */
#ifndef KR_HARNESS_H
#define KR_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "admin.pb-c.h"
#include "content.pb-c.h"
#include "crypto.h"
#include "envelope.pb-c.h"
#include "kr.h"
#include "local.pb-c.h"
#include "store.pb-c.h"
#include "wire.pb-c.h"

#define H_KRBROKER KR_BIN_DIR "/broker/krbroker"
#define H_KRNODE KR_BIN_DIR "/clients/krnode/krnode"
#define H_KRCTL KR_BIN_DIR "/clients/krctl/krctl"

#define H_MAX_NODES 8
#define H_PATH 512 /* every path the harness makes fits */
#define H_MAX_PROCS 32
#define H_POLL_MS 15

/* Deadlines used throughout, in ms (before scaling). */
#define H_START_MS 15000   /* a daemon answers after start */
#define H_STOP_MS 10000    /* a daemon exits after SIGTERM */
#define H_CONNECT_MS 20000 /* a node reports connected */
#define H_RUN_MS 20000     /* one krctl run */

/*
 * Checks and the test's life (harness_proc.c).
 */

/* Start a test: name for messages, a watchdog of 'budget_s' seconds (after
 * scaling) that kills every daemon and exits 3 if the test overruns, and
 * libsodium. */
void h_init(const char *test_name, int budget_s);
/* Print "ok   - ..." or "FAIL - ..." and count a failure. Returns cond. */
bool h_check(bool cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A note in the output ("# ..."), for figures and progress. */
void h_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Stop the test now: kill the daemons, show their logs, keep the
 * directory, exit 1. */
void h_abort(void) __attribute__((noreturn));
int h_failures(void);

#define H_CHECK(cond, ...) h_check((cond), __FILE__, __LINE__, __VA_ARGS__)
#define H_REQUIRE(cond, ...)                                                   \
    do {                                                                       \
        if (!h_check((cond), __FILE__, __LINE__, __VA_ARGS__))                 \
            h_abort();                                                         \
    } while (0)

/* Like H_REQUIRE for the harness's own plumbing: silent when it holds. */
#define H_ENSURE(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            h_check(false, __FILE__, __LINE__, __VA_ARGS__);                   \
            h_abort();                                                         \
        }                                                                      \
    } while (0)

/* Time. h_scale() applies KR_IT_TIME_SCALE to a deadline. */
uint64_t h_mono_ms(void);
void h_sleep_ms(int ms);
int h_scale(int ms);

/* Poll cond(arg) every H_POLL_MS until it returns true or timeout_ms
 * (scaled) passes. 0 when it became true, KR_ETIMEDOUT otherwise. */
int h_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* The same for an expression, in place: sets 'ok'. */
#define H_POLL(ok, timeout_ms, expr)                                           \
    do {                                                                       \
        uint64_t h_deadline_ = h_mono_ms() + (uint64_t)h_scale(timeout_ms);    \
        (ok) = false;                                                          \
        for (long h_i_ = 0; h_i_ < 10000000L; h_i_++) {                        \
            if (expr) {                                                        \
                (ok) = true;                                                   \
                break;                                                         \
            }                                                                  \
            if (h_mono_ms() >= h_deadline_)                                    \
                break;                                                         \
            h_sleep_ms(H_POLL_MS);                                             \
        }                                                                      \
    } while (0)

/*
 * Processes (harness_proc.c).
 */

struct h_proc {
    char name[64];    /* for messages: "krbroker", "krnode jgz" */
    char log[H_PATH]; /* stdout and stderr, appended */
    pid_t pid;        /* > 0 while started and not reaped */
    bool running;     /* started and not yet reaped */
    bool expected;    /* should run: not stopped or killed by the harness */
    int status;       /* wait status once reaped */
};

/* Start argv[0] with stdin from /dev/null and stdout+stderr appended to
 * p->log (a marker line first). The child dies with the test process
 * (PR_SET_PDEATHSIG). 0 or KR_ESYS. */
int h_proc_spawn(struct h_proc *p, const char *name, const char *log,
                 char *const argv[]);
/* Run fn(arg) in a child process (a concurrent client, e.g. a sender),
 * with stdout+stderr appended to 'log'; it exits with fn's return value.
 * The child must use only its own resources (new libkr clients): ZeroMQ
 * contexts do not survive fork(). Refused (a failed check, KR_EPERM)
 * while a libkr client of this process is open: its ZeroMQ I/O thread
 * could hold a lock at the fork that the child waits for forever (the
 * sanitizer allocator's); h_clients_close() first. */
int h_proc_fork(struct h_proc *p, const char *name, const char *log,
                int (*fn)(void *arg), void *arg);
/* Wait up to timeout_ms (scaled) for the process to exit by itself. 0
 * with *status set, or KR_ETIMEDOUT. */
int h_proc_wait(struct h_proc *p, int timeout_ms, int *status);
/* Reap the process if it has exited. Returns whether it still runs. */
bool h_proc_alive(struct h_proc *p);
/* Send 'sig' and wait up to timeout_ms (scaled) for the exit. 0 with
 * *status set (a wait status), or KR_ETIMEDOUT if it still runs. */
int h_proc_stop(struct h_proc *p, int sig, int timeout_ms, int *status);
/* kill -9 and reap. */
void h_proc_kill9(struct h_proc *p);
/* "exit 0", "exit 1", "signal 9" for a wait status. */
const char *h_status_str(int status, char *buf, size_t len);
/* Whether p's log contains 'needle' (reads the whole file). */
bool h_log_contains(const char *log, const char *needle);
/* Count the lines of a log that contain 'needle'. */
int h_log_count(const char *log, const char *needle);

/* A finished command: its exit code (-1 if killed by a signal or the
 * deadline), and what it wrote (NUL-terminated, malloc'd). */
struct h_run {
    int code;
    int status;
    char *out;
    char *err;
};
/* Run argv to completion within timeout_ms (scaled; killed after), with
 * stdin from /dev/null. 0, or KR_ESYS / KR_ETIMEDOUT (r->code is -1). */
int h_run(struct h_run *r, int timeout_ms, char *const argv[]);
void h_run_free(struct h_run *r);

/* Files. */
int h_write_file(const char *path, const char *text, unsigned mode);
int h_rm_rf(const char *path);

/*
 * The cluster (harness_cluster.c): one broker and up to H_MAX_NODES
 * organisations, each maybe with a running krnode.
 */

/* One "key = value" line of a daemon's config file. */
struct h_kv {
    char key[64];
    char value[H_PATH + 32];
};
#define H_MAX_OPTS 32

struct h_node {
    char label[32];               /* "vl", "jgz": names files and messages */
    char org[64];                 /* "ura:00001234" */
    char category[32];            /* "verloskunde" */
    char keys[H_PATH];            /* prefix of .secret and .public */
    char dir[H_PATH];             /* the node's data_dir */
    char conf[H_PATH];            /* its config file */
    char local[H_PATH];           /* ipc://<dir>/node.sock */
    char log[H_PATH];             /* the node's stderr, appended */
    struct h_kv opts[H_MAX_OPTS]; /* its config, in order */
    int nopts;
    struct h_proc proc;
    kr_client_t *kc; /* libkr client, opened on first use */
};

struct h_cluster {
    char tmp[256];    /* the test's directory */
    int port;         /* broker's TCP port, kept across restarts */
    char listen[128]; /* tcp://127.0.0.1:<port> */
    char broker_dir[H_PATH];
    char broker_keys[H_PATH]; /* prefix */
    char broker_conf[H_PATH];
    char admin[H_PATH];     /* ipc://<broker_dir>/admin.sock */
    char coalition[H_PATH]; /* coalition key file */
    char broker_log[H_PATH];
    struct h_kv broker_opts[H_MAX_OPTS]; /* the broker's config, in order */
    int nbroker_opts;
    struct h_proc broker;
    struct h_node nodes[H_MAX_NODES];
    int nnodes;
};

/* The test's directory, the broker's and coalition keys, a free port.
 * Aborts the test on failure. */
void h_cluster_init(struct h_cluster *c, const char *name);
/* Set "key = value" in the broker's or a node's config file, replacing
 * the harness's default for that key; takes effect at the next start. */
void h_broker_set(struct h_cluster *c, const char *key, const char *value);
void h_node_set(struct h_cluster *c, int i, const char *key, const char *value);
/* Write the config, start krbroker, wait until `krctl org list` answers.
 * Same directory and port on every start, so this is also the restart. */
void h_broker_start(struct h_cluster *c);
/* SIGTERM; check a clean exit 0 in time. Returns whether it was clean. */
bool h_broker_stop(struct h_cluster *c);
void h_broker_kill9(struct h_cluster *c);

/* Keys (krctl keygen) and `krctl org add`; returns the node index. No
 * krnode is started. Aborts the test on failure. */
int h_org_add(struct h_cluster *c, const char *label, const char *org,
              const char *category, const char *name);
/* krctl org suspend/resume; returns krctl's exit code. */
int h_org_suspend(struct h_cluster *c, const char *org);
int h_org_resume(struct h_cluster *c, const char *org);

/* Write the node's config, start krnode, wait until its local socket
 * answers a status request. Also the restart. */
void h_node_start(struct h_cluster *c, int i);
bool h_node_stop(struct h_cluster *c, int i);
void h_node_kill9(struct h_cluster *c, int i);
/* The node's libkr client (10 s timeout), opened on first use. */
kr_client_t *h_node_client(struct h_cluster *c, int i);
/* Close every node's libkr client (reopened on next use): before
 * h_proc_fork(). */
void h_clients_close(struct h_cluster *c);
/* Wait until the node's status says connected; a check. */
bool h_node_wait_connected(struct h_cluster *c, int i, int timeout_ms);
/* Send one referral from node 'from' to node 'to' through libkr and wait
 * until it is in to's inbox exactly once and from's outbox says
 * delivered; one check named 'what'. */
bool h_roundtrip(struct h_cluster *c, int from, int to, const char *what,
                 int timeout_ms);
/* Find a node by label; -1 if none. */
int h_node_find(const struct h_cluster *c, const char *label);
/* "<keys>.secret" / "<keys>.public" into buf. */
const char *h_secret_path(const char *prefix, char *buf, size_t len);
const char *h_public_path(const char *prefix, char *buf, size_t len);

/* Run krctl with the given arguments (NULL-terminated) within H_RUN_MS. */
int h_krctl(struct h_run *r, const char *arg0, ...) __attribute__((sentinel));

/* End the test: SIGTERM every running daemon and check exit 0 in time;
 * then remove the directory (success) or keep it and show the logs
 * (failure). Returns the test's exit code. */
int h_finish(struct h_cluster *c);

/* Record the woman's consent for the default referral from node 'from' to
 * node 'to' (a year long), and wait until the broker has accepted it. */
bool h_consent_default(struct h_cluster *c, int from, int to);

/*
 * libkr helpers: what a test sends (harness_kr.c) and what a node then
 * holds (harness_box.c: status, inbox and outbox, fates, tallies).
 */

/* A referral's content, with known values to compare against. */
struct h_referral {
    const char *bsn;
    const char *given_name;
    const char *family_name;
    const char *birth_date;
    const char *street;
    const char *house_number;
    const char *postal_code;
    const char *city;
    const char *phone;
    const char *expected_delivery_date;
    const char *reason_codes[4];
    size_t n_reason_codes;
    const char *reason_text;
    const char *requested_service;
    int urgency; /* kr.v1.Priority */
    const char *ref_name;
    const char *ref_role;
    const char *ref_phone;
    const char *ref_email;
    const char *ref_agb;
};

/* Fill r with the harness's standard mother and referrer. */
void h_referral_default(struct h_referral *r);
/* Serialize Content{referral = r} (malloc'd). */
int h_content_pack(const struct h_referral *r, uint8_t **out, size_t *len);
/* Compare an opened Content with r, one check per field; 'what' prefixes
 * each check's text. Returns the number of mismatches. */
int h_content_compare(const uint8_t *content, size_t len,
                      const struct h_referral *r, const char *what);
/* Send a referral through libkr: SendRequest{REFERRAL, recipient,
 * subject_bsn = r->bsn, purpose, data category, legal basis, content}.
 * msg_id_in (16 bytes, or NULL) makes the send idempotent. */
int h_send_referral(kr_client_t *kc, const char *recipient,
                    const struct h_referral *r, const uint8_t *msg_id_in,
                    uint8_t msg_id[16]);

struct h_status {
    bool connected;
    uint64_t outbox_pending;
    uint64_t outbox_open;
    uint64_t inbox_unprocessed;
    char org_id[64];
};
int h_status(kr_client_t *kc, struct h_status *out);

/* Consent, as a node sends it. A grant for 'bsn' and the purpose the
 * default referral uses (prenataal-huisbezoek, medisch), from from_org to
 * to_org (or, if to_org is NULL, to every organisation of to_category),
 * valid [from_ms, until_ms]. consent_id: 16 bytes to use, or NULL for a
 * fresh one (written to consent_out if not NULL). */
struct h_consent {
    const char *recipient; /* who receives the sealed evidence */
    const char *bsn;
    const char *purpose; /* NULL: prenataal-huisbezoek */
    const char *from_org;
    const char *to_org;
    int to_category;
    uint64_t from_ms, until_ms;
    const uint8_t *consent_id;
    const uint8_t *supersedes;
};
int h_send_consent(kr_client_t *kc, const struct h_consent *g,
                   uint8_t consent_out[16], uint8_t msg_id[16]);
int h_send_revoke(kr_client_t *kc, const char *recipient,
                  const uint8_t consent_id[16], uint8_t msg_id[16]);
/* A BSN that passes the eleven-test, its own for each n (0..9999). */
void h_bsn(int n, char out[10]);

/* The sender's outbox (referral traffic) against the ids a test sent:
 * entries, distinct ids among them, those delivered, and foreign ones. */
struct h_idset;
struct h_tally {
    size_t n, distinct, delivered, foreign;
};
int h_outbox_tally(kr_client_t *kc, const struct h_idset *sent,
                   struct h_tally *out);

/* One SendRequest through libkr (kr_send): the LocalRequest around it
 * packed here. */
int h_send_request(kr_client_t *kc, Kr__V1__SendRequest *s, uint8_t msg_id[16]);

/* The outcome of one outbox message (0 while pending), or -1. */
int h_outcome(kr_client_t *kc, const uint8_t msg_id[16]);

/* A sent message's fate as its sender's outbox tells it (outcome -1: not
 * in the outbox). */
struct h_fate {
    const uint8_t *id;
    int outcome, reason;
    char detail[256];
    uint8_t referral_id[16];
};
/* *f from the outbox; true once the message is delivered or refused. */
bool h_fate_final(kr_client_t *kc, struct h_fate *f);
/* Wait for delivered or refused (20 s, scaled; the test ends if
 * neither); the fate. */
struct h_fate h_fate_wait(kr_client_t *kc, const uint8_t msg_id[16]);
/* A check that the fate is a refusal for 'reason'. */
void h_expect_refused(struct h_fate f, int reason, const char *what);

/* Walk the whole inbox (outbox) in seq order, page by page. fn returns
 * non-zero to stop early. The item is valid during the call only. */
typedef int h_inbox_fn(const Kr__V1__InboxItem *it, void *arg);
typedef int h_outbox_fn(const Kr__V1__OutboxItem *it, void *arg);
/* The referral traffic: consent grants, revokes and notices left out. */
int h_inbox_foreach(kr_client_t *kc, h_inbox_fn *fn, void *arg);
int h_outbox_foreach(kr_client_t *kc, h_outbox_fn *fn, void *arg);
/* Everything, the ledger's traffic included. */
int h_inbox_foreach_all(kr_client_t *kc, h_inbox_fn *fn, void *arg);
int h_outbox_foreach_all(kr_client_t *kc, h_outbox_fn *fn, void *arg);

/* Outbox totals by outcome (kr.v1.Outcome 0..5) and by reason. */
struct h_outbox_stats {
    size_t total;
    size_t by_outcome[8];
    size_t by_reason[32];
};
int h_outbox_stats(kr_client_t *kc, struct h_outbox_stats *out);
/* Items in the inbox. */
int h_inbox_count(kr_client_t *kc, size_t *n);

/* A set of 16-byte ids with a count each (duplicates are counted). */
struct h_idset {
    struct h_idset_slot *slots;
    size_t cap, n;
};
void h_idset_init(struct h_idset *s);
void h_idset_free(struct h_idset *s);
/* Add one occurrence; returns the count after adding. */
unsigned h_idset_add(struct h_idset *s, const uint8_t id[16]);
unsigned h_idset_count(const struct h_idset *s, const uint8_t id[16]);

/* JSON output of krctl: the value at a dotted path ("content.referral.
 * mother.bsn"; an array index is a number: "3.msg_id"), or NULL. The
 * string at a path, or NULL if absent or not a string. */
struct json_object;
struct json_object *h_json_path(struct json_object *o, const char *path);
const char *h_json_str(struct json_object *o, const char *path);
/* One field of org's entry in `krctl queues --json` ("depth",
 * "early_delivery": a boolean is 0 or 1), or -1 if there is none. */
long long h_krctl_queue(struct h_cluster *c, const char *org, const char *key);

/* Hex of a 16-byte id into buf (33 bytes). */
const char *h_hex16(const uint8_t id[16], char buf[33]);

/*
 * A small file system (harness_disk.c), for the full-disk tests.
 */

/* Exit code of a test that cannot run here (ctest: SKIP_RETURN_CODE). */
#define H_SKIP 77
/* Mount a tmpfs of size_mb MiB at dir (made if missing). KR_EPERM if this
 * process may not mount (the test then skips, saying so). Unmounted by
 * h_tmpfs_umount, or lazily at exit. */
int h_tmpfs_mount(const char *dir, unsigned size_mb);
int h_tmpfs_umount(const char *dir);
/* Free bytes on the file system of dir (for unprivileged writers). */
uint64_t h_fs_free(const char *dir);
/* Append zeros to 'path' until its file system has at most leave_bytes
 * free (or none: ENOSPC ends it). *written: bytes appended. */
int h_ballast(const char *path, uint64_t leave_bytes, uint64_t *written);

/*
 * The raw wire client (harness_wire.c): a DEALER with CURVE, as a node
 * would open it, for input no well-behaved node sends.
 */

struct h_wire_receipt {
    uint8_t msg_id[16];
    bool has_id;
    int outcome; /* kr.v1.Outcome */
    int reason;  /* kr.v1.Reason */
    uint64_t seq;
    char detail[256];
};

struct h_wire {
    void *ctx;
    void *sock;                      /* DEALER, CURVE client */
    void *mon;                       /* PAIR: the DEALER's monitor */
    kr_keys_t *keys;                 /* secure memory */
    char org[64];                    /* the organisation whose keys these are */
    unsigned events;                 /* ZMQ_EVENT_* seen so far (OR-ed) */
    struct h_wire_receipt *receipts; /* every receipt seen, in order */
    size_t nreceipts, capreceipts;
    int errors[64]; /* FrameError reasons seen, in order */
    bool error_fatal[64];
    size_t nerrors;
    size_t nframes;     /* frames read */
    size_t nbad;        /* frames that did not parse */
    size_t ndeliveries; /* deliveries seen (never acked) */
    size_t nearly;      /* of which sent early (provisional_pass != 0) */
    size_t nresults;    /* PassResult items seen */
    size_t ndir;        /* DirectoryResponse frames seen */
};

/* Open a wire client to 'endpoint' with the keys in secret_path (NULL: a
 * fresh key set that no directory knows), the broker's .public file for
 * the server key, and 'org' as the organisation it speaks for. */
int h_wire_open(struct h_wire *w, const char *endpoint, const char *secret_path,
                const char *broker_public, const char *org);
void h_wire_close(struct h_wire *w);
/* Send one single-part message of raw bytes. */
int h_wire_send_bytes(struct h_wire *w, const void *data, size_t len);
/* Send a message of several parts (ZeroMQ multipart). */
int h_wire_send_parts(struct h_wire *w, const void *const *parts,
                      const size_t *lens, size_t n);
int h_wire_send_frame(struct h_wire *w, const Kr__V1__Frame *f);
/* Frame{hello{org_id, window}}. */
int h_wire_send_hello(struct h_wire *w, const char *org_id, uint32_t window);
/* Frame{submit{envelope, signature}}. */
int h_wire_send_submit(struct h_wire *w, const uint8_t *env, size_t env_len,
                       const uint8_t *sig, size_t sig_len);
/* Read what arrives for up to timeout_ms (unscaled; 0: only what is
 * there): frames are recorded in w, durable receipts (seq != 0) are
 * acknowledged, monitor events are OR-ed into w->events. Returns the
 * number of frames read. */
int h_wire_pump(struct h_wire *w, int timeout_ms);
/* Wait (scaled) for a receipt for msg_id (NULL: a receipt without an id)
 * with an outcome in 'outcome_mask' (1 << outcome). Returns its index in
 * w->receipts, or -1 on timeout. */
int h_wire_wait_receipt(struct h_wire *w, const uint8_t *msg_id,
                        unsigned outcome_mask, int timeout_ms);
/* Wait for the n-th (0-based) FrameError; its reason, or -1. */
int h_wire_wait_error(struct h_wire *w, size_t n, int timeout_ms);
/* Wait for a monitor event (ZMQ_EVENT_*); whether it came. */
bool h_wire_wait_event(struct h_wire *w, unsigned event, int timeout_ms);

/* Building envelopes as a node would, with defects on request. */
enum h_tamper {
    H_TAMPER_NONE,
    H_TAMPER_CIPHER_BEFORE_SIGN, /* signature valid, payload won't open */
    H_TAMPER_CIPHER_AFTER_SIGN,  /* envelope bytes differ from signed */
    H_TAMPER_SIGNATURE,          /* one bit of the signature flipped */
};

struct h_env_spec {
    const char *sender;       /* envelope.sender */
    const char *recipient;    /* envelope.recipient */
    const kr_pubkeys_t *rcpt; /* recipient's keys, for sealing */
    const uint8_t *content;   /* serialized Content */
    size_t content_len;
    int type;              /* kr.v1.MessageType; 0: COMMUNICATION */
    int version;           /* envelope version; 0: 1 */
    const uint8_t *msg_id; /* 16 bytes to use, or NULL: a new one */
    enum h_tamper tamper;
    /* For the consent gate's tests; zero and NULL keep the defaults. */
    int legal_basis;                     /* kr.v1.LegalBasis; 0: CONSENT */
    const uint8_t *subject_pseudonym;    /* 32 bytes, or NULL: none */
    const uint8_t *consent_id;           /* 16 bytes, or NULL: none */
    const Kr__V1__ConsentScope *scope;   /* CONSENT_GRANT's, or NULL: none */
    const uint8_t *justification_digest; /* 32 bytes, or NULL: none */
    const char *purpose;                 /* NULL: "prenataal-huisbezoek" */
    uint32_t subject_key_version;        /* envelope.subject_key_version */
};

/* Seal, fill, pack and sign an envelope with 'keys'. *env is malloc'd;
 * msg_id receives its fresh id. */
int h_envelope_build(const kr_keys_t *keys, const struct h_env_spec *spec,
                     uint8_t msg_id[16], uint8_t **env, size_t *env_len,
                     uint8_t sig[KR_SIG_LEN]);

/*
 * The broker's admin socket and its store (harness_admin.c).
 */

/* One AdminRequest on the broker's admin socket; *out is the unpacked
 * AdminResponse (free with kr__v1__admin_response__free_unpacked), also
 * when it carries an error, which is then returned. 0, a transport error
 * (KR_EUNAVAIL, KR_ETIMEDOUT), KR_EPROTO, or the response's error. */
int h_admin(struct h_cluster *c, const Kr__V1__AdminRequest *req,
            Kr__V1__AdminResponse **out);

/* Walk the audit trail after record 'after' (0: from the first), in order,
 * page by page (audit_export). fn returns non-zero to stop early. The
 * record is valid during the call only. */
typedef int h_audit_fn(const Kr__V1__AuditRecord *r, void *arg);
int h_audit_foreach(struct h_cluster *c, uint64_t after, h_audit_fn *fn,
                    void *arg);

/* audit_verify: the broker walks its chain. */
struct h_audit_verify {
    bool ok;
    uint64_t checked;
    uint64_t first_bad_seq;
    char detail[256];
};
int h_audit_verify(struct h_cluster *c, struct h_audit_verify *out);

/* The broker's LMDB environment opened read-only (MDB_RDONLY, 16 named
 * databases), with a read transaction: safe while the broker runs, since
 * LMDB readers in another process never block or disturb its writer.
 * h_store_close aborts the transaction and closes the environment. */
struct h_store {
    MDB_env *env;
    MDB_txn *txn;
};
int h_store_open(struct h_cluster *c, struct h_store *s);
/* Open a named database ("payloads", "messages", "audit", ...). */
int h_store_dbi(struct h_store *s, const char *name, MDB_dbi *dbi);
void h_store_close(struct h_store *s);

#endif
