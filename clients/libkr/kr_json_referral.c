/*
 * kr_json_referral.c - libkr's JSON entry points for referrals (include/
 * kr.h): one record, one view (the record and the messages of it received
 * here), and listings of records or of views; and, for the FHIR gateway
 * in the same process, the views as json-c values (libkr_internal.h), so
 * that it does not read back the text made for it.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_map.h"
#include "kr.h"
#include "libkr_internal.h"
#include "local.pb-c.h"
#include "referral_table.h"
#include "util.h"

/* The text outputs cleared; KR_EINVAL if there is nowhere to put one. */
static int
s_clear(char **json, size_t *json_len)
{
    if (json != NULL)
        *json = NULL;
    if (json_len != NULL)
        *json_len = 0;
    return json != NULL ? KR_OK : KR_EINVAL;
}

int
kr_referral_json(kr_client_t *c, const char *referral_id_hex, char **json,
                 size_t *json_len, char *err, size_t errlen)
{
    Kr__V1__LocalResponse *resp = NULL;
    json_object *o;
    int rc;

    if ((rc = s_clear(json, json_len)) != KR_OK ||
        (rc = libkr_get_by_id(c, KR__V1__LOCAL_REQUEST__OP_REFERRAL_GET,
                              referral_id_hex, "referral_id", &resp, err,
                              errlen)) != KR_OK)
        return rc;
    if (resp->n_referrals != 1) {
        libkr_err(err, errlen, "krnode answered without the referral");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KR_EPROTO;
    }
    o = json_map_node_referral(resp->referrals[0], 1);
    rc = libkr_json_text(o, json, json_len, err, errlen);
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
libkr_referral_view_obj(kr_client_t *c, const char *referral_id_hex,
                        json_object **out, char *err, size_t errlen)
{
    Kr__V1__LocalResponse *resp = NULL;
    int rc;

    *out = NULL;
    if ((rc = libkr_get_by_id(c, KR__V1__LOCAL_REQUEST__OP_REFERRAL_VIEW,
                              referral_id_hex, "referral_id", &resp, err,
                              errlen)) != KR_OK)
        return rc;
    if (resp->n_referrals != 1) {
        libkr_err(err, errlen, "krnode answered without the referral");
        kr__v1__local_response__free_unpacked(resp, NULL);
        return KR_EPROTO;
    }
    errno = 0; /* json_map_oom.h */
    *out = s_view(resp->referrals[0], resp->inbox, resp->n_inbox);
    kr__v1__local_response__free_unpacked(resp, NULL);
    if (*out == NULL || errno == ENOMEM) {
        json_object_put(*out);
        *out = NULL;
        libkr_err(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    return KR_OK;
}

int
kr_referral_view_json(kr_client_t *c, const char *referral_id_hex, char **json,
                      size_t *json_len, char *err, size_t errlen)
{
    json_object *o = NULL;
    int rc;

    if ((rc = s_clear(json, json_len)) != KR_OK ||
        (rc = libkr_referral_view_obj(c, referral_id_hex, &o, err, errlen)) !=
            KR_OK)
        return rc;
    errno = 0; /* built whole: only the writing is left to fail */
    rc = libkr_json_text(o, json, json_len, err, errlen);
    json_object_put(o);
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
            libkr_err(err, errlen,
                      "state: not a FHIR Task status (requested, "
                      "received, accepted, rejected, cancelled, "
                      "on-hold, in-progress, completed, failed, "
                      "entered-in-error)");
            return KR_EINVAL;
        }
        lq->state = st;
    }
    if (after_hex != NULL) {
        if ((rc = libkr_id(after_hex, "after", after, err, errlen)) != KR_OK)
            return rc;
        lq->after = (ProtobufCBinaryData){KR_ID_LEN, after};
    }
    if (limit > 1000) {
        libkr_err(err, errlen, "limit: at most 1000");
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

    libkr_err(err, errlen, "%s", "");
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
    if ((rc = libkr_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    a = json_object_new_array();
    for (size_t i = 0; i < resp->n_referrals; i++)
        json_object_array_add(a, json_map_node_referral(resp->referrals[i], 0));
    rc = libkr_json_text(a, json, json_len, err, errlen);
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
    if ((rc = libkr_call(c, &req, &resp, err, errlen)) != KR_OK)
        return rc;
    errno = 0; /* s_text */
    /* The items come referral after referral, each one's in its history's
     * order. */
    for (size_t i = 0; i < resp->n_referrals; i++) {
        const Kr__V1__NodeReferral *nr = resp->referrals[i];
        size_t from = j;
        json_object *v;
        if (nr->referral_id.len != KR_ID_LEN) {
            libkr_err(err, errlen,
                      "krnode answered with a referral without id");
            rc = KR_EPROTO;
            goto done;
        }
        /* Every record holds the step that opened it: a record without
         * history is a listing's, from a node that does not know views. */
        if (nr->n_history == 0) {
            libkr_err(err, errlen,
                      "krnode answered the listing without views: it is "
                      "older than this libkr (update krnode)");
            rc = KR_EPROTO;
            goto done;
        }
        while (j < resp->n_inbox && s_of(nr, resp->inbox[j]))
            bytes += kr__v1__inbox_item__get_packed_size(resp->inbox[j++]);
        if ((v = s_view(nr, resp->inbox + from, j - from)) == NULL ||
            json_object_array_add(a, v) != 0) {
            json_object_put(v);
            libkr_err(err, errlen, "out of memory");
            rc = KR_ENOMEM;
            goto done;
        }
        util_hex(nr->referral_id.data, KR_ID_LEN, last);
        *last_at = nr->updated_at_ms;
        (*got)++;
    }
    if (j < resp->n_inbox) {
        libkr_err(err, errlen,
                  "krnode answered with an item of no referral listed");
        rc = KR_EPROTO;
        goto done;
    }
    if (errno == ENOMEM) {
        libkr_err(err, errlen, "out of memory");
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
libkr_referral_views_obj(kr_client_t *c, const char *state,
                         uint64_t changed_since_ms, const char *after_hex,
                         uint32_t limit, json_object **out, char *err,
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

    libkr_err(err, errlen, "%s", "");
    *out = NULL;
    if (c == NULL)
        return KR_EINVAL;
    if ((rc = s_list_request(state, 0, changed_since_ms, after_hex, want, &lq,
                             after, err, errlen)) != KR_OK)
        return rc;
    lq.views = true;
    lq.views_bytes = S_VIEWS_BYTES;
    if ((a = json_object_new_array()) == NULL) {
        libkr_err(err, errlen, "out of memory");
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
    *out = a;
    return KR_OK;
done:
    json_object_put(a);
    return rc;
}

int
kr_referral_views_json(kr_client_t *c, const char *state,
                       uint64_t changed_since_ms, const char *after_hex,
                       uint32_t limit, char **json, size_t *json_len, char *err,
                       size_t errlen)
{
    json_object *a = NULL;
    int rc;

    if ((rc = s_clear(json, json_len)) != KR_OK ||
        (rc = libkr_referral_views_obj(c, state, changed_since_ms, after_hex,
                                       limit, &a, err, errlen)) != KR_OK)
        return rc;
    errno = 0; /* built whole: only the writing is left to fail */
    rc = libkr_json_text(a, json, json_len, err, errlen);
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
        libkr_err(err, errlen, "since_ms: a time after 1970 (ms)");
        if (json != NULL)
            *json = NULL;
        return KR_EINVAL;
    }
    return s_referrals(c, NULL, 0, since_ms, after_hex, limit, json, json_len,
                       err, errlen);
}
