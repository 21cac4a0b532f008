/*
 * kr_json.c - libkr's JSON entry points (include/kr.h, "The JSON layer"):
 * a message description in, records out, through the same mapping
 * (json_map_*.c) that krctl and krspool use, so that one JSON form holds
 * for every program (docs/JSON.md).
 *
 * Like the rest of libkr this runs inside other people's processes: every
 * failure is a return code with its reason in 'err', never an abort on
 * bad input.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json_map.h"
#include "json_map_oom.h"
#include "kr.h"
#include "libkr_internal.h"
#include "local.pb-c.h"
#include "referral_table.h"
#include "util.h"

/* The prefix of a derived msg_id's hash input. It was krctl's before the
 * JSON layer moved into libkr; it stays, so that ids derived before and
 * after are the same. */
#define S_MSG_ID_DOMAIN "kr.v1 krctl send "

static void s_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* One LocalRequest to the node and its unpacked answer. A refusal is
 * returned as its code, with the node's detail in err. */
static int
s_call(kr_client_t *c, const Kr__V1__LocalRequest *req,
       Kr__V1__LocalResponse **out, char *err, size_t errlen)
{
    size_t len = kr__v1__local_request__get_packed_size(req), rlen = 0;
    uint8_t *buf, *rb = NULL;
    int rc;

    *out = NULL;
    if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
        s_err(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    kr__v1__local_request__pack(req, buf);
    rc = kr_call(c, buf, len, &rb, &rlen);
    free(buf);
    if (rb == NULL) {
        s_err(err, errlen, "krnode: %s", kr_strerror(rc));
        return rc;
    }
    errno = 0;
    *out = kr__v1__local_response__unpack(NULL, rlen, rb);
    kr_buf_free(rb);
    if (*out == NULL && errno == ENOMEM) {
        s_err(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    if (*out == NULL) {
        s_err(err, errlen, "krnode: an answer that does not parse");
        return KR_EPROTO;
    }
    if (rc != KR_OK) {
        if ((*out)->detail != NULL && (*out)->detail[0] != '\0')
            s_err(err, errlen, "krnode: %s: %s", kr_strerror(rc),
                  (*out)->detail);
        else
            s_err(err, errlen, "krnode: %s", kr_strerror(rc));
        kr__v1__local_response__free_unpacked(*out, NULL);
        *out = NULL;
    }
    errno = 0; /* what the caller builds from *out: s_text */
    return rc;
}

/* A JSON value as text the caller owns. The caller cleared errno before
 * building j: ENOMEM now means that a part of it is missing or that json-c
 * could not write it all (json_map_oom.h). */
static int
s_text(json_object *j, char **json, size_t *json_len, char *err, size_t errlen)
{
    const char *s;
    size_t n;

    if (json_object_is_type(j, json_type_array) &&
        json_object_array_length(j) == 0)
        s = "[]";
    else
        s = json_object_to_json_string_ext(
            j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                   JSON_C_TO_STRING_NOSLASHESCAPE);
    if (j == NULL || s == NULL || errno == ENOMEM ||
        (*json = malloc((n = strlen(s)) + 1)) == NULL) {
        s_err(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    memcpy(*json, s, n + 1);
    if (json_len != NULL)
        *json_len = n;
    return KR_OK;
}

int
libkr_json_text(json_object *j, char **json, size_t *json_len, char *err,
                size_t errlen)
{
    return s_text(j, json, json_len, err, errlen);
}

int
kr_json_msg_id(const char *org_id, const char *json, size_t len,
               char msg_id_hex[KR_MSG_ID_HEX_LEN])
{
    char domain[sizeof(S_MSG_ID_DOMAIN) + KR_ORG_ID_MAX];
    uint8_t h[32];
    int n;

    if (org_id == NULL || *org_id == '\0' || strlen(org_id) > KR_ORG_ID_MAX ||
        (json == NULL && len > 0) || msg_id_hex == NULL)
        return KR_EINVAL;
    n = snprintf(domain, sizeof(domain), S_MSG_ID_DOMAIN "%s", org_id);
    /* The terminating NUL separates the organisation from the bytes. */
    kcrypto_hash2((const uint8_t *)domain, (size_t)n + 1,
                  (const uint8_t *)(json != NULL ? json : ""), len, h);
    util_hex(h, KR_ID_LEN, msg_id_hex);
    return KR_OK;
}

/* The description parsed, with its msg_id (given, derived for 'org', or
 * none when org is NULL: a check) into msg_id_hex, then mapped to a
 * packed request. */
static int
s_map(const char *org, const char *json, size_t len,
      char msg_id_hex[KR_MSG_ID_HEX_LEN], uint8_t **req, size_t *req_len,
      char *err, size_t errlen)
{
    json_object *in = NULL, *v;
    char buf[512];
    int rc;

    if (msg_id_hex != NULL)
        msg_id_hex[0] = '\0';
    if (json == NULL && len > 0)
        return KR_EINVAL;
    if ((rc = json_map_parse_text(json != NULL ? json : "", len, &in, buf,
                                  sizeof(buf))) != KR_OK) {
        s_err(err, errlen, "%s", buf);
        return rc;
    }
    if (json_object_is_type(in, json_type_object) &&
        !json_object_object_get_ex(in, "msg_id", &v) && org != NULL) {
        char hex[KR_MSG_ID_HEX_LEN];
        kr_json_msg_id(org, json, len, hex);
        /* Without it the node would choose one: not idempotent. */
        json_object *id = json_object_new_string(hex);
        if (id == NULL || json_object_object_add(in, "msg_id", id) != 0) {
            json_object_put(in);
            s_err(err, errlen, "out of memory");
            return KR_ENOMEM;
        }
    }
    rc = json_map_send_parse(in, util_now_ms(), req, req_len, buf, sizeof(buf));
    if (rc != KR_OK) {
        s_err(err, errlen, "%s", buf);
    } else if (msg_id_hex != NULL &&
               json_object_object_get_ex(in, "msg_id", &v)) {
        /* The mapping has checked it: 32 hex digits. */
        snprintf(msg_id_hex, KR_MSG_ID_HEX_LEN, "%s",
                 json_object_get_string(v));
    }
    json_object_put(in);
    return rc;
}

int
kr_check_json(const char *json, size_t len, char *err, size_t errlen)
{
    uint8_t *req = NULL;
    size_t req_len = 0;
    int rc;

    s_err(err, errlen, "%s", "");
    rc = s_map(NULL, json, len, NULL, &req, &req_len, err, errlen);
    if (req != NULL) {
        /* The request holds the BSN and the content in plain text. */
        explicit_bzero(req, req_len);
        free(req);
    }
    return rc;
}

/* The node's organisation id: asked of the node once a connection (a
 * round trip saved on every later send). */
static int
s_org(kr_client_t *c, char org[KR_ORG_ID_MAX + 1], char *err, size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    int rc;

    if (libkr_org(c)[0] != '\0') {
        snprintf(org, KR_ORG_ID_MAX + 1, "%s", libkr_org(c));
        return KR_OK;
    }
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    req.status = 1;
    if ((rc = s_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    if (resp->status == NULL || resp->status->org_id[0] == '\0' ||
        strlen(resp->status->org_id) > KR_ORG_ID_MAX) {
        s_err(err, errlen, "krnode answered without its organisation");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KR_EPROTO;
    }
    snprintf(org, KR_ORG_ID_MAX + 1, "%s", resp->status->org_id);
    libkr_org_remember(c, org);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return KR_OK;
}

int
kr_send_json(kr_client_t *c, const char *json, size_t len,
             char msg_id_hex[KR_MSG_ID_HEX_LEN], char *err, size_t errlen)
{
    Kr__V1__LocalResponse *resp = NULL;
    char org[KR_ORG_ID_MAX + 1];
    uint8_t *req = NULL, *rb = NULL;
    size_t req_len = 0, rlen = 0;
    int rc;

    s_err(err, errlen, "%s", "");
    if (c == NULL || msg_id_hex == NULL)
        return KR_EINVAL;
    msg_id_hex[0] = '\0';
    /* The organisation is needed only when the id is derived, but knowing
     * it first keeps one order of calls (and a node that is down at a
     * client's first send is reported as such before the description is
     * judged). */
    if ((rc = s_org(c, org, err, errlen)) != KR_OK)
        return rc;
    if ((rc = s_map(org, json, len, msg_id_hex, &req, &req_len, err, errlen)) !=
        KR_OK)
        goto done;
    rc = kr_call(c, req, req_len, &rb, &rlen);
    if (rb == NULL) {
        s_err(err, errlen, "krnode: %s", kr_strerror(rc));
        goto done;
    }
    if ((resp = kr__v1__local_response__unpack(NULL, rlen, rb)) == NULL) {
        s_err(err, errlen, "krnode: an answer that does not parse");
        rc = KR_EPROTO;
        goto done;
    }
    if (rc != KR_OK) {
        s_err(err, errlen, "krnode: %s%s%s", kr_strerror(rc),
              resp->detail[0] != '\0' ? ": " : "", resp->detail);
        goto done;
    }
    if (resp->msg_id.len != KR_ID_LEN) {
        s_err(err, errlen, "krnode answered without a msg_id");
        rc = KR_EPROTO;
        goto done;
    }
    util_hex(resp->msg_id.data, KR_ID_LEN, msg_id_hex);
done:
    if (resp != NULL)
        kr__v1__local_response__free_unpacked(resp, NULL);
    kr_buf_free(rb);
    if (req != NULL) {
        explicit_bzero(req, req_len);
        free(req);
    }
    return rc;
}

/* An inbox or outbox listing. */
static int
s_list(kr_client_t *c, int inbox, const Kr__V1__ListRequest *lr, char **json,
       size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    json_object *a;
    int rc, old = 0;

    s_err(err, errlen, "%s", "");
    if (c == NULL || json == NULL)
        return KR_EINVAL;
    *json = NULL;
    if (json_len != NULL)
        *json_len = 0;
    req.version = KR__V1__VERSION__VERSION_1;
    if (inbox) {
        req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
        req.inbox = (Kr__V1__ListRequest *)lr;
        /* The node answers within the wait: the call may take it on top
         * of its usual bound. */
        old = libkr_timeout_set(c, 0);
        libkr_timeout_set(c, old + (int)lr->wait_ms);
    } else {
        req.op_case = KR__V1__LOCAL_REQUEST__OP_OUTBOX;
        req.outbox = (Kr__V1__ListRequest *)lr;
    }
    rc = s_call(c, &req, &resp, err, errlen);
    if (inbox)
        libkr_timeout_set(c, old);
    if (rc != KR_OK)
        return rc;
    errno = 0; /* s_text */
    a = json_object_new_array();
    for (size_t i = 0; i < (inbox ? resp->n_inbox : resp->n_outbox); i++) {
        int ok;
        json_object_array_add(a, inbox
                                     ? json_map_inbox_item(resp->inbox[i], &ok)
                                     : json_map_outbox_item(resp->outbox[i]));
    }
    rc = s_text(a, json, json_len, err, errlen);
    json_object_put(a);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

int
kr_inbox_json(kr_client_t *c, uint64_t after_seq, uint32_t limit,
              uint32_t wait_ms, unsigned flags, char **json, size_t *json_len,
              char *err, size_t errlen)
{
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;

    if (wait_ms > 60000) {
        s_err(err, errlen, "wait_ms: at most 60000");
        return KR_EINVAL;
    }
    lr.after_seq = after_seq;
    lr.limit = limit;
    lr.wait_ms = wait_ms;
    lr.unprocessed_only = (flags & KR_INBOX_ALL) == 0;
    return s_list(c, 1, &lr, json, json_len, err, errlen);
}

int
kr_receipts_json(kr_client_t *c, uint64_t after_seq, uint32_t limit,
                 char **json, size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;

    lr.after_seq = after_seq;
    lr.limit = limit;
    return s_list(c, 0, &lr, json, json_len, err, errlen);
}

int
kr_status_json(kr_client_t *c, char **json, size_t *json_len, char *err,
               size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    json_object *o;
    int rc;

    s_err(err, errlen, "%s", "");
    if (c == NULL || json == NULL)
        return KR_EINVAL;
    *json = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    req.status = 1;
    if ((rc = s_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    if (resp->status == NULL) {
        s_err(err, errlen, "krnode answered without a status");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KR_EPROTO;
    }
    errno = 0; /* s_text */
    o = json_map_status(resp->status);
    rc = s_text(o, json, json_len, err, errlen);
    json_object_put(o);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

int
kr_processed(kr_client_t *c, const char *msg_id_hex, char *err, size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    uint8_t id[KR_ID_LEN];
    int rc;

    s_err(err, errlen, "%s", "");
    if (c == NULL || msg_id_hex == NULL ||
        strlen(msg_id_hex) != 2 * KR_ID_LEN ||
        util_unhex(msg_id_hex, id, KR_ID_LEN) != KR_OK) {
        s_err(err, errlen, "msg_id: not 32 hex digits");
        return KR_EINVAL;
    }
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_PROCESSED;
    req.processed = (ProtobufCBinaryData){KR_ID_LEN, id};
    if ((rc = s_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    kr__v1__local_response__free_unpacked(resp, NULL);
    return KR_OK;
}

/* 32 hex digits into id[16]; KR_EINVAL with 'what' named otherwise. */
static int
s_id(const char *hex, const char *what, uint8_t id[KR_ID_LEN], char *err,
     size_t errlen)
{
    if (hex == NULL || strlen(hex) != 2 * KR_ID_LEN ||
        util_unhex(hex, id, KR_ID_LEN) != KR_OK) {
        s_err(err, errlen, "%s: not 32 hex digits", what);
        return KR_EINVAL;
    }
    return KR_OK;
}

/* What a read of one thing by its id starts with: the outputs cleared,
 * the id checked ('what' names it in the error), the request made and
 * answered. */
static int
s_get_by_id(kr_client_t *c, Kr__V1__LocalRequest__OpCase op, const char *hex,
            const char *what, Kr__V1__LocalResponse **resp, char **json,
            size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    uint8_t id[KR_ID_LEN];
    ProtobufCBinaryData b = {KR_ID_LEN, id};
    int rc;

    s_err(err, errlen, "%s", "");
    if (json != NULL)
        *json = NULL;
    if (json_len != NULL)
        *json_len = 0;
    if (c == NULL || json == NULL)
        return KR_EINVAL;
    if ((rc = s_id(hex, what, id, err, errlen)) != KR_OK)
        return rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = op;
    if (op == KR__V1__LOCAL_REQUEST__OP_INBOX_GET)
        req.inbox_get = b;
    else if (op == KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET)
        req.referral_get = b;
    else
        req.referral_view = b;
    return s_call(c, &req, resp, err, errlen);
}

int
kr_inbox_get_json(kr_client_t *c, const char *msg_id_hex, char **json,
                  size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__LocalResponse *resp = NULL;
    json_object *o;
    int rc, ok;

    if ((rc = s_get_by_id(c, KR__V1__LOCAL_REQUEST__OP_INBOX_GET, msg_id_hex,
                          "msg_id", &resp, json, json_len, err, errlen)) !=
        KR_OK)
        return rc;
    if (resp->n_inbox != 1) {
        /* A node older than this op answers every unknown op with an
         * error, so this is a peer that does not follow the protocol. */
        s_err(err, errlen, "krnode answered without the item");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KR_EPROTO;
    }
    o = json_map_inbox_item(resp->inbox[0], &ok);
    rc = s_text(o, json, json_len, err, errlen);
    json_object_put(o);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

int
kr_referral_json(kr_client_t *c, const char *referral_id_hex, char **json,
                 size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__LocalResponse *resp = NULL;
    json_object *o;
    int rc;

    if ((rc = s_get_by_id(c, KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET,
                          referral_id_hex, "referral_id", &resp, json, json_len,
                          err, errlen)) != KR_OK)
        return rc;
    if (resp->n_referrals != 1) {
        s_err(err, errlen, "krnode answered without the referral");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KR_EPROTO;
    }
    o = json_map_node_referral(resp->referrals[0], 1);
    rc = s_text(o, json, json_len, err, errlen);
    json_object_put(o);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

/* One referral's view as kr_referral_view_json() gives it, from its
 * record and the messages of its history received here (in order); NULL
 * when out of memory. */
static json_object *
s_view(const Kr__V1__NodeReferral *nr, Kr__V1__InboxItem *const *items,
       size_t nitems)
{
    json_object *o, *r, *rcv, *opening = NULL;
    int rc, ok;

    o = json_object_new_object();
    r = json_map_node_referral(nr, 1);
    rcv = json_object_new_array();
    rc = o != NULL && r != NULL && rcv != NULL ? KR_OK : KR_ENOMEM;
    for (size_t i = 0; rc == KR_OK && i < nitems; i++) {
        json_object *it = json_map_inbox_item(items[i], &ok);
        const ProtobufCBinaryData *mid = &items[i]->msg_id;
        if (it == NULL || json_object_array_add(rcv, it) != 0) {
            json_object_put(it);
            rc = KR_ENOMEM;
            break;
        }
        /* The opening one: history[0]'s message, received here. */
        if (nr->n_history > 0 && mid->len == KR_ID_LEN &&
            nr->history[0]->msg_id.len == KR_ID_LEN &&
            memcmp(mid->data, nr->history[0]->msg_id.data, KR_ID_LEN) == 0)
            opening = it;
    }
    /* json_object_object_add leaves the value to the caller when it
     * fails: each is put below unless it was taken. */
    if (rc == KR_OK) {
        if (json_object_object_add(o, "referral", r) != 0)
            rc = KR_ENOMEM;
        else
            r = NULL;
    }
    if (rc == KR_OK && opening != NULL) {
        if (json_object_object_add(o, "item", json_object_get(opening)) != 0) {
            json_object_put(opening);
            rc = KR_ENOMEM;
        }
    }
    if (rc == KR_OK) {
        if (json_object_object_add(o, "received", rcv) != 0)
            rc = KR_ENOMEM;
        else
            rcv = NULL;
    }
    json_object_put(r);
    json_object_put(rcv);
    if (rc != KR_OK) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

int
kr_referral_view_json(kr_client_t *c, const char *referral_id_hex, char **json,
                      size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__LocalResponse *resp = NULL;
    json_object *o;
    int rc;

    if ((rc = s_get_by_id(c, KR__V1__LOCAL_REQUEST__OP_REFERRAL_VIEW,
                          referral_id_hex, "referral_id", &resp, json, json_len,
                          err, errlen)) != KR_OK)
        return rc;
    if (resp->n_referrals != 1) {
        s_err(err, errlen, "krnode answered without the referral");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KR_EPROTO;
    }
    o = s_view(resp->referrals[0], resp->inbox, resp->n_inbox);
    if (o == NULL) {
        s_err(err, errlen, "out of memory");
        rc = KR_ENOMEM;
    } else {
        rc = s_text(o, json, json_len, err, errlen);
    }
    json_object_put(o);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

/* A listing's request: by state and overdue in referral_id order, or
 * (since_ms nonzero) those changed since, in the order they changed;
 * 'after' holds the bytes lq->after points at. */
static int
s_list_request(const char *state, int overdue, uint64_t since_ms,
               const char *after_hex, uint32_t limit,
               Kr__V1__ReferralListRequest *lq, uint8_t after[KR_ID_LEN],
               char *err, size_t errlen)
{
    int rc, st;

    if (state != NULL) {
        if ((st = task_status_parse(state)) <= 0) {
            s_err(err, errlen,
                  "state: not a FHIR Task status (requested, "
                  "received, accepted, rejected, cancelled, "
                  "on-hold, in-progress, completed, failed, "
                  "entered-in-error)");
            return KR_EINVAL;
        }
        lq->state = st;
    }
    if (after_hex != NULL) {
        if ((rc = s_id(after_hex, "after", after, err, errlen)) != KR_OK)
            return rc;
        lq->after = (ProtobufCBinaryData){KR_ID_LEN, after};
    }
    if (limit > 1000) {
        s_err(err, errlen, "limit: at most 1000");
        return KR_EINVAL;
    }
    lq->overdue = overdue != 0;
    lq->limit = limit;
    lq->changed_since_ms = since_ms;
    return KR_OK;
}

/* A listing of records (without history). */
static int
s_referrals(kr_client_t *c, const char *state, int overdue, uint64_t since_ms,
            const char *after_hex, uint32_t limit, char **json,
            size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ReferralListRequest lq = KR__V1__REFERRAL_LIST_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    uint8_t after[KR_ID_LEN];
    json_object *a;
    int rc;

    s_err(err, errlen, "%s", "");
    if (json != NULL)
        *json = NULL;
    if (json_len != NULL)
        *json_len = 0;
    if (c == NULL || json == NULL)
        return KR_EINVAL;
    if ((rc = s_list_request(state, overdue, since_ms, after_hex, limit, &lq,
                             after, err, errlen)) != KR_OK)
        return rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST;
    req.referral_list = &lq;
    if ((rc = s_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    a = json_object_new_array();
    for (size_t i = 0; i < resp->n_referrals; i++)
        json_object_array_add(a, json_map_node_referral(resp->referrals[i], 0));
    rc = s_text(a, json, json_len, err, errlen);
    json_object_put(a);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

/* The bytes of received items a page of views may reach before the node
 * cuts it short (ReferralListRequest.views_bytes): asked explicitly, so
 * that a short page can be told from the listing's end here. */
#define S_VIEWS_BYTES (4u << 20)

/* Whether the node found this item through r's history (its rule for
 * the items of a view: msg_ids of the history held in the inbox). */
static bool
s_of(const Kr__V1__NodeReferral *r, const Kr__V1__InboxItem *it)
{
    if (it->msg_id.len != KR_ID_LEN)
        return false;
    for (size_t i = 0; i < r->n_history; i++)
        if (r->history[i]->msg_id.len == KR_ID_LEN &&
            memcmp(r->history[i]->msg_id.data, it->msg_id.data, KR_ID_LEN) == 0)
            return true;
    return false;
}

/* One page of views appended to a; *got grows by the referrals of the
 * page, *more says whether the node may hold more than it gave (the page
 * was cut by the bytes of its items), and last is its last referral
 * (after_hex, since_ms of the next page). */
static int
s_views_page(kr_client_t *c, const Kr__V1__ReferralListRequest *lq,
             json_object *a, uint32_t *got, bool *more,
             char last[2 * KR_ID_LEN + 1], uint64_t *last_at, char *err,
             size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    size_t j = 0, bytes = 0;
    int rc;

    *more = false;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST;
    req.referral_list = (Kr__V1__ReferralListRequest *)lq;
    if ((rc = s_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    errno = 0; /* s_text */
    /* The items come referral after referral, each one's in its history's
     * order. */
    for (size_t i = 0; i < resp->n_referrals; i++) {
        const Kr__V1__NodeReferral *nr = resp->referrals[i];
        size_t from = j;
        json_object *v;
        if (nr->referral_id.len != KR_ID_LEN) {
            s_err(err, errlen, "krnode answered with a referral without id");
            rc = KR_EPROTO;
            goto done;
        }
        while (j < resp->n_inbox && s_of(nr, resp->inbox[j]))
            bytes += kr__v1__inbox_item__get_packed_size(resp->inbox[j++]);
        if ((v = s_view(nr, resp->inbox + from, j - from)) == NULL ||
            json_object_array_add(a, v) != 0) {
            json_object_put(v);
            s_err(err, errlen, "out of memory");
            rc = KR_ENOMEM;
            goto done;
        }
        util_hex(nr->referral_id.data, KR_ID_LEN, last);
        *last_at = nr->updated_at_ms;
        (*got)++;
    }
    if (j < resp->n_inbox) {
        s_err(err, errlen,
              "krnode answered with an item of no referral listed");
        rc = KR_EPROTO;
        goto done;
    }
    if (errno == ENOMEM) {
        s_err(err, errlen, "out of memory");
        rc = KR_ENOMEM;
        goto done;
    }
    *more = resp->n_referrals > 0 && resp->n_referrals < lq->limit &&
            bytes >= lq->views_bytes;
done:
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

int
kr_referral_views_json(kr_client_t *c, const char *state,
                       uint64_t changed_since_ms, const char *after_hex,
                       uint32_t limit, char **json, size_t *json_len, char *err,
                       size_t errlen)
{
    Kr__V1__ReferralListRequest lq = KR__V1__REFERRAL_LIST_REQUEST__INIT;
    uint8_t after[KR_ID_LEN];
    char last[2 * KR_ID_LEN + 1];
    uint32_t want = limit > 0 ? limit : 1000, got = 0;
    uint64_t last_at = 0;
    bool more = true;
    json_object *a;
    int rc;

    s_err(err, errlen, "%s", "");
    if (json != NULL)
        *json = NULL;
    if (json_len != NULL)
        *json_len = 0;
    if (c == NULL || json == NULL)
        return KR_EINVAL;
    if ((rc = s_list_request(state, 0, changed_since_ms, after_hex, want, &lq,
                             after, err, errlen)) != KR_OK)
        return rc;
    lq.views = true;
    lq.views_bytes = S_VIEWS_BYTES;
    if ((a = json_object_new_array()) == NULL) {
        s_err(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    /* A page the node cut short for the size of its items goes on from
     * its last referral until 'limit' or the listing's end: the caller
     * tells the end by a short answer, as with kr_referrals_json().
     * Bounded: every page but the last brings at least one referral. */
    for (uint32_t pg = 0; more && got < want && pg <= want; pg++) {
        if ((rc = s_views_page(c, &lq, a, &got, &more, last, &last_at, err,
                               errlen)) != KR_OK)
            goto done;
        if (more) {
            util_unhex(last, after, KR_ID_LEN);
            lq.after = (ProtobufCBinaryData){KR_ID_LEN, after};
            lq.limit = want - got;
            if (lq.changed_since_ms != 0)
                lq.changed_since_ms = last_at;
        }
    }
    errno = 0; /* s_text */
    rc = s_text(a, json, json_len, err, errlen);
done:
    json_object_put(a);
    return rc;
}

int
kr_referrals_json(kr_client_t *c, const char *state, int overdue,
                  const char *after_hex, uint32_t limit, char **json,
                  size_t *json_len, char *err, size_t errlen)
{
    return s_referrals(c, state, overdue, 0, after_hex, limit, json, json_len,
                       err, errlen);
}

int
kr_referrals_changed_json(kr_client_t *c, uint64_t since_ms,
                          const char *after_hex, uint32_t limit, char **json,
                          size_t *json_len, char *err, size_t errlen)
{
    if (since_ms == 0) {
        s_err(err, errlen, "since_ms: a time after 1970 (ms)");
        if (json != NULL)
            *json = NULL;
        return KR_EINVAL;
    }
    return s_referrals(c, NULL, 0, since_ms, after_hex, limit, json, json_len,
                       err, errlen);
}

void
kr_json_free(char *json)
{
    free(json);
}
