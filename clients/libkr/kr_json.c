/*
 * kr_json.c - libkr's JSON entry points (include/kr.h, "The JSON layer"):
 * a message description in, records out, through the same mapping
 * (json_map_*.c) that krctl and krspool use, so that one JSON form holds
 * for every program (docs/JSON.md).
 *
 * Like the rest of libkr this runs inside other people's processes: every
 * failure is a return code with its reason in 'err', never an abort on
 * bad input. The referral reads are in kr_json_referral.c.
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

void
libkr_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int
libkr_call(kr_client_t *c, const Kr__V1__LocalRequest *req,
           Kr__V1__LocalResponse **out, char *err, size_t errlen)
{
    size_t len = kr__v1__local_request__get_packed_size(req), rlen = 0;
    uint8_t *buf, *rb = NULL;
    int rc;

    *out = NULL;
    if ((buf = malloc(len > 0 ? len : 1)) == NULL) {
        libkr_err(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    kr__v1__local_request__pack(req, buf);
    rc = kr_call(c, buf, len, &rb, &rlen);
    free(buf);
    if (rb == NULL) {
        libkr_err(err, errlen, "krnode: %s", kr_strerror(rc));
        return rc;
    }
    errno = 0;
    *out = kr__v1__local_response__unpack(NULL, rlen, rb);
    kr_buf_free(rb);
    if (*out == NULL && errno == ENOMEM) {
        libkr_err(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    if (*out == NULL) {
        libkr_err(err, errlen, "krnode: an answer that does not parse");
        return KR_EPROTO;
    }
    if (rc != KR_OK) {
        if ((*out)->detail != NULL && (*out)->detail[0] != '\0')
            libkr_err(err, errlen, "krnode: %s: %s", kr_strerror(rc),
                      (*out)->detail);
        else
            libkr_err(err, errlen, "krnode: %s", kr_strerror(rc));
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
        libkr_err(err, errlen, "out of memory");
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
        libkr_err(err, errlen, "%s", buf);
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
            libkr_err(err, errlen, "out of memory");
            return KR_ENOMEM;
        }
    }
    rc = json_map_send_parse(in, util_now_ms(), req, req_len, buf, sizeof(buf));
    if (rc != KR_OK) {
        libkr_err(err, errlen, "%s", buf);
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

    libkr_err(err, errlen, "%s", "");
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
    if ((rc = libkr_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    if (resp->status == NULL || resp->status->org_id[0] == '\0' ||
        strlen(resp->status->org_id) > KR_ORG_ID_MAX) {
        libkr_err(err, errlen, "krnode answered without its organisation");
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

    libkr_err(err, errlen, "%s", "");
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
        libkr_err(err, errlen, "krnode: %s", kr_strerror(rc));
        goto done;
    }
    if ((resp = kr__v1__local_response__unpack(NULL, rlen, rb)) == NULL) {
        libkr_err(err, errlen, "krnode: an answer that does not parse");
        rc = KR_EPROTO;
        goto done;
    }
    if (rc != KR_OK) {
        libkr_err(err, errlen, "krnode: %s%s%s", kr_strerror(rc),
                  resp->detail[0] != '\0' ? ": " : "", resp->detail);
        goto done;
    }
    if (resp->msg_id.len != KR_ID_LEN) {
        libkr_err(err, errlen, "krnode answered without a msg_id");
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

int
libkr_inbox_list(kr_client_t *c, const Kr__V1__ListRequest *lr,
                 Kr__V1__LocalResponse **out, char *err, size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    int rc, old;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    req.inbox = (Kr__V1__ListRequest *)lr;
    /* The node answers within the wait: the call may take it on top of
     * its usual bound. */
    old = libkr_timeout_set(c, 0);
    libkr_timeout_set(c, old + (int)lr->wait_ms);
    rc = libkr_call(c, &req, out, err, errlen);
    libkr_timeout_set(c, old);
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
    int rc;

    libkr_err(err, errlen, "%s", "");
    if (c == NULL || json == NULL)
        return KR_EINVAL;
    *json = NULL;
    if (json_len != NULL)
        *json_len = 0;
    if (inbox) {
        rc = libkr_inbox_list(c, lr, &resp, err, errlen);
    } else {
        req.version = KR__V1__VERSION__VERSION_1;
        req.op_case = KR__V1__LOCAL_REQUEST__OP_OUTBOX;
        req.outbox = (Kr__V1__ListRequest *)lr;
        rc = libkr_call(c, &req, &resp, err, errlen);
    }
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
        libkr_err(err, errlen, "wait_ms: at most 60000");
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

    libkr_err(err, errlen, "%s", "");
    if (c == NULL || json == NULL)
        return KR_EINVAL;
    *json = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    req.status = 1;
    if ((rc = libkr_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    if (resp->status == NULL) {
        libkr_err(err, errlen, "krnode answered without a status");
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

    libkr_err(err, errlen, "%s", "");
    if (c == NULL || msg_id_hex == NULL ||
        strlen(msg_id_hex) != 2 * KR_ID_LEN ||
        util_unhex(msg_id_hex, id, KR_ID_LEN) != KR_OK) {
        libkr_err(err, errlen, "msg_id: not 32 hex digits");
        return KR_EINVAL;
    }
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_PROCESSED;
    req.processed = (ProtobufCBinaryData){KR_ID_LEN, id};
    if ((rc = libkr_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    kr__v1__local_response__free_unpacked(resp, NULL);
    return KR_OK;
}

int
libkr_id(const char *hex, const char *what, uint8_t id[KR_ID_LEN], char *err,
         size_t errlen)
{
    if (hex == NULL || strlen(hex) != 2 * KR_ID_LEN ||
        util_unhex(hex, id, KR_ID_LEN) != KR_OK) {
        libkr_err(err, errlen, "%s: not 32 hex digits", what);
        return KR_EINVAL;
    }
    return KR_OK;
}

int
libkr_get_by_id(kr_client_t *c, Kr__V1__LocalRequest__OpCase op,
                const char *hex, const char *what, Kr__V1__LocalResponse **resp,
                char *err, size_t errlen)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    uint8_t id[KR_ID_LEN];
    ProtobufCBinaryData b = {KR_ID_LEN, id};
    int rc;

    libkr_err(err, errlen, "%s", "");
    *resp = NULL;
    if (c == NULL)
        return KR_EINVAL;
    if ((rc = libkr_id(hex, what, id, err, errlen)) != KR_OK)
        return rc;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = op;
    if (op == KR__V1__LOCAL_REQUEST__OP_INBOX_GET)
        req.inbox_get = b;
    else if (op == KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET)
        req.referral_get = b;
    else
        req.referral_view = b;
    return libkr_call(c, &req, resp, err, errlen);
}

int
kr_inbox_get_json(kr_client_t *c, const char *msg_id_hex, char **json,
                  size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__LocalResponse *resp = NULL;
    json_object *o;
    int rc, ok;

    if (json != NULL)
        *json = NULL;
    if (json_len != NULL)
        *json_len = 0;
    if (json == NULL)
        return KR_EINVAL;
    if ((rc = libkr_get_by_id(c, KR__V1__LOCAL_REQUEST__OP_INBOX_GET,
                              msg_id_hex, "msg_id", &resp, err, errlen)) !=
        KR_OK)
        return rc;
    if (resp->n_inbox != 1) {
        /* A node older than this op answers every unknown op with an
         * error, so this is a peer that does not follow the protocol. */
        libkr_err(err, errlen, "krnode answered without the item");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KR_EPROTO;
    }
    o = json_map_inbox_item(resp->inbox[0], &ok);
    rc = s_text(o, json, json_len, err, errlen);
    json_object_put(o);
    kr__v1__local_response__free_unpacked(resp, NULL);
    return rc;
}

void
kr_json_free(char *json)
{
    free(json);
}
