/*
 * kr.h - libkr, the library an adapter links to talk to its local krnode.
 *
 * An adapter (a bridge from an EPD, a JGZ dossier or a spool directory)
 * never speaks to the broker. It hands messages to the krnode of its own
 * organisation, which seals, signs, stores and sends them, and it reads what
 * the node has received and opened. Every call is synchronous, bounded by
 * the timeout given at connect, and returns 0 or a negative KR_E* code;
 * kr_strerror() names each code.
 *
 * Memory: strings and buffers passed in are borrowed for the duration of the
 * call. Results are owned by the caller and freed with the matching
 * kr_*_free() function.
 */
#ifndef KR_H
#define KR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. Every kansrijk function returns 0 or one of these. */
#define KR_OK 0
#define KR_EINVAL (-1)     /* an argument or input is invalid */
#define KR_ENOMEM (-2)     /* out of memory */
#define KR_EIO (-3)        /* a read, write or sync failed */
#define KR_EFULL (-4)      /* the store is full (LMDB map full) */
#define KR_ENOTFOUND (-5)  /* no such record */
#define KR_EEXIST (-6)     /* the record exists already */
#define KR_ECRYPTO (-7)    /* a signature or ciphertext did not verify */
#define KR_EPERM (-8)      /* not allowed (also: key file readable by others) */
#define KR_ETIMEDOUT (-9)  /* no answer within the deadline */
#define KR_ESTORE (-10)    /* the store failed (LMDB error other than full) */
#define KR_EPROTO (-11)    /* a peer sent something that does not parse */
#define KR_ECONFIG (-12)   /* a configuration value is invalid */
#define KR_EUNAVAIL (-13)  /* the peer or service is not reachable */
#define KR_ENOKEY (-14)    /* the recipient's public keys are not known */
#define KR_EREFUSED (-15)  /* the node or broker refused the request */
#define KR_ESYS (-16)      /* a system call failed; see errno in the log */
#define KR_EDISKFULL (-17) /* the node's file system is full: retry later */
#define KR_EMAX_ (-18)     /* one past the last code */

/* A short, stable description of an error code ("store full"). */
const char *kr_strerror(int err);

/* A connection from an adapter to its local krnode. */
typedef struct kr_client kr_client_t;

/* Connect to the krnode at 'endpoint' (e.g. "ipc:///var/lib/kr/node.sock").
 * 'timeout_ms' bounds every later call on this client (0: 10 seconds).
 * On success *out holds the client; destroy it with kr_client_destroy(). */
int kr_client_connect(const char *endpoint, int timeout_ms, kr_client_t **out);

/* Close the connection and set *cp to NULL. Safe on NULL. */
void kr_client_destroy(kr_client_t **cp);

/* Send one message: 'req' is a serialized kr.v1.LocalRequest whose op is
 * 'send' (see proto/local.proto). Returns once the node has committed the
 * message to its outbox, with its 16-byte id in msg_id. A send that carries
 * its own msg_id is idempotent: repeating it returns the same id. */
int kr_send(kr_client_t *c, const uint8_t *req, size_t req_len,
            uint8_t msg_id[16]);

/* Send any kr.v1.LocalRequest and receive its kr.v1.LocalResponse as bytes
 * (*resp, *resp_len; free with kr_buf_free()). A response whose error field
 * is non-zero is returned as that error, with the bytes still set so that
 * the caller can read its detail. */
int kr_call(kr_client_t *c, const uint8_t *req, size_t req_len, uint8_t **resp,
            size_t *resp_len);

void kr_buf_free(uint8_t *buf);

/* The transport under kr_call(), without interpreting the reply: send one
 * frame and return the one frame that answers it (*resp, *resp_len; free
 * with kr_buf_free()). Usable for any endpoint that speaks "one request
 * frame, one response frame" on a ROUTER socket; krctl uses it for the
 * broker's admin socket (kr.v1.AdminRequest / AdminResponse).
 *
 * Errors of this and every call above: KR_EUNAVAIL if no connection to the
 * endpoint came up within the timeout (the request was not handed over, so
 * it cannot have taken effect); KR_ETIMEDOUT if the request was sent but no
 * reply came in time (it may have taken effect: repeat a send with the same
 * msg_id). After KR_ETIMEDOUT the client opens a fresh socket, so that a
 * late reply is never taken for the answer to the next call. KR_EPROTO if
 * the reply is not one frame (kr_call: not a LocalResponse). A client is
 * not thread-safe: use one per thread. The clients of a process share one
 * ZeroMQ context of libkr's own (one I/O thread, however many clients),
 * apart from any context the host uses; a child after fork() gets its
 * own for the clients it connects. */
int kr_call_raw(kr_client_t *c, const uint8_t *req, size_t req_len,
                uint8_t **resp, size_t *resp_len);

/*
 * The JSON layer. The same mapping krctl and krspool use (docs/JSON.md has
 * every form, examples/ one file per message type): an adapter that
 * speaks JSON needs no protobuf. Text is UTF-8 JSON, checked strictly
 * (RFC 8259, one value); every key of a description is checked, and an
 * error names its path ("referral.mother.birth_date: not a date
 * (YYYY-MM-DD)") and never quotes the value (it may be a BSN).
 *
 * 'err' (errlen bytes, may be NULL with errlen 0) receives a line that says
 * why a call failed: the mapping's message for KR_EINVAL, the node's
 * detail for a refusal, the transport's cause otherwise. It is set to ""
 * on success. JSON results (*json, *json_len: NUL-terminated text, len
 * without the NUL) belong to the caller: free them with kr_json_free().
 * They may hold person data (names, a BSN): keep them where the EPD keeps
 * such data.
 */

/* 32 lower-case hex digits and a NUL: a msg_id as JSON writes it. */
#define KR_MSG_ID_HEX_LEN 33

/* kr_inbox_json(): also list items already marked processed. */
#define KR_INBOX_ALL 1u

/* Check a message description without sending it: KR_OK or KR_EINVAL with
 * the reason in 'err' (what `krctl send --check` does). Times such as
 * not_after and valid_until are checked against the current clock. */
int kr_check_json(const char *json, size_t len, char *err, size_t errlen);

/* The msg_id a description without one gets: derived from the sending
 * organisation's id ('org_id', e.g. "ura:00001234") and the description's
 * exact bytes, so that the same file sent again, by krctl send, krspool or
 * an adapter, is the same message and is delivered once. The organisation
 * is in it because ids are unique across the coalition: two organisations
 * that send equal bytes send two messages. */
int kr_json_msg_id(const char *org_id, const char *json, size_t len,
                   char msg_id_hex[KR_MSG_ID_HEX_LEN]);

/* Send the message 'json' describes. A description without "msg_id" gets
 * kr_json_msg_id() of the node's organisation (asked of the node) and
 * 'json': repeating the call with the same bytes is idempotent. Returns
 * once the node has committed the message to its outbox. msg_id_hex is
 * set as soon as the id is known, also when the call then fails: after
 * KR_ETIMEDOUT or KR_EUNAVAIL repeat the same call (same bytes) to be sure
 * the message is sent once.
 * Errors: KR_EINVAL (the description is invalid; nothing was sent),
 * KR_EEXIST (its msg_id belongs to another message), KR_ENOKEY (the
 * recipient is not in the directory), KR_ECONFIG, KR_EREFUSED (the node
 * refused it), and those of kr_call(). */
int kr_send_json(kr_client_t *c, const char *json, size_t len,
                 char msg_id_hex[KR_MSG_ID_HEX_LEN], char *err, size_t errlen);

/* The inbox as a JSON array of inbox items in arrival order (docs/JSON.md,
 * "Inbox items"): items after arrival number 'after_seq', at most 'limit'
 * (0: the node's page size), unprocessed ones only unless 'flags' has
 * KR_INBOX_ALL. When nothing is to be listed, the node waits up to
 * 'wait_ms' (at most 60,000) for an arrival before it answers "[]"; the
 * call's own timeout is extended by as much. An item whose content does
 * not parse is listed with "content": null. */
int kr_inbox_json(kr_client_t *c, uint64_t after_seq, uint32_t limit,
                  uint32_t wait_ms, unsigned flags, char **json,
                  size_t *json_len, char *err, size_t errlen);

/* Receipts: the outbox as its sender sees it, a JSON array of receipts in
 * submission order (docs/JSON.md, "Receipts"), after submission number
 * 'after_seq', at most 'limit' (0: the node's page size). */
int kr_receipts_json(kr_client_t *c, uint64_t after_seq, uint32_t limit,
                     char **json, size_t *json_len, char *err, size_t errlen);

/* The node's state as a JSON object (what `krctl status` prints). */
int kr_status_json(kr_client_t *c, char **json, size_t *json_len, char *err,
                   size_t errlen);

/* Mark the inbox item 'msg_id_hex' (32 hex digits) processed: the
 * organisation has taken it over. Idempotent. KR_ENOTFOUND if the node
 * holds no such item, KR_EINVAL if it is not a msg_id. */
int kr_processed(kr_client_t *c, const char *msg_id_hex, char *err,
                 size_t errlen);

/* One inbox item by its msg_id (32 hex digits), as kr_inbox_json() lists
 * it (processed or not): a JSON object. KR_ENOTFOUND if the node holds no
 * such item (or does not show it yet), KR_EINVAL if it is not a msg_id. */
int kr_inbox_get_json(kr_client_t *c, const char *msg_id_hex, char **json,
                      size_t *json_len, char *err, size_t errlen);

/* The node's record of one referral this organisation is party to, by
 * its referral_id (32 hex digits): a JSON object with its parties, state,
 * times, escalations and "history", every step with the msg_id that set
 * it; history[0].msg_id is the REFERRAL or HANDOVER that opened it
 * (docs/JSON.md, "Referral state"; what `krctl referral show --node
 * --json` prints). KR_ENOTFOUND if the node has no such referral. */
int kr_referral_json(kr_client_t *c, const char *referral_id_hex, char **json,
                     size_t *json_len, char *err, size_t errlen);

/* A referral and the messages of it that this node received, read by the
 * node in one snapshot: {"referral": <as kr_referral_json()>, "item": <as
 * kr_inbox_get_json(): the REFERRAL or HANDOVER of history[0]>,
 * "received": [<every message of its history held in this inbox, in
 * order: the opening one and the other party's status changes, at most
 * 64>]}; no "item" where this node sent it (the placer) or the item is
 * not shown yet. One round trip (what the FHIR gateway serves a Task
 * from). KR_ENOTFOUND if the node has no such referral. */
int kr_referral_view_json(kr_client_t *c, const char *referral_id_hex,
                          char **json, size_t *json_len, char *err,
                          size_t errlen);

/* The referrals this organisation is party to, a JSON array of records as
 * kr_referral_json() gives them but without "history", in referral_id
 * order: those in 'state' ("requested", "accepted", ...: a FHIR Task
 * status; NULL for every state), only those escalated in their current
 * state if 'overdue', after referral_id 'after_hex' (NULL: from the
 * start), at most 'limit' (0: 1000, the most a page holds). */
int kr_referrals_json(kr_client_t *c, const char *state, int overdue,
                      const char *after_hex, uint32_t limit, char **json,
                      size_t *json_len, char *err, size_t errlen);

/* The referrals this organisation is party to that its node changed at
 * or after since_ms (ms since 1970; "updated_at" in each record), as
 * kr_referrals_json() gives them, in the order they changed: a reader
 * that follows changes reads only the new, not every referral. A page
 * ends at 'limit' (0: 1000); the next starts at the last record's
 * updated_at with after_hex its referral_id (NULL: from since_ms). A
 * record that changes again moves to the end. */
int kr_referrals_changed_json(kr_client_t *c, uint64_t since_ms,
                              const char *after_hex, uint32_t limit,
                              char **json, size_t *json_len, char *err,
                              size_t errlen);

/* A page of the referrals this organisation is party to, each as
 * kr_referral_view_json() gives it (the record with its "history", the
 * "item" that opened it here, the messages "received"), a JSON array read
 * in one round trip where kr_referrals_json() and a kr_referral_view_json()
 * per referral take one each (the FHIR gateway's Task search). In
 * referral_id order after after_hex as kr_referrals_json() (changed_since_ms
 * 0), or, changed_since_ms nonzero, in the order they changed as
 * kr_referrals_changed_json() (the next page starts at the last one's
 * referral.updated_at with after_hex its referral_id); 'state' (NULL:
 * every state) filters either. At most 'limit' (0: 1000); fewer only at
 * the end of the listing. A node older than this call gives the records
 * without "item" and with "received" empty. */
int kr_referral_views_json(kr_client_t *c, const char *state,
                           uint64_t changed_since_ms, const char *after_hex,
                           uint32_t limit, char **json, size_t *json_len,
                           char *err, size_t errlen);

/* Free a JSON result. Safe on NULL. */
void kr_json_free(char *json);

#ifdef __cplusplus
}
#endif
#endif /* KR_H */
