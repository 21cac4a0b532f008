/*
 * test_views.c - kr_referral_views_json (issue 14: a FHIR Task search is
 * one node call a page) on more referrals than a page holds, between the
 * examples' two organisations (examples/referral.json, accepted, and
 * more like it): at both nodes, in id order, in change order and by
 * state, paged, its views equal kr_referral_view_json's one by one; the
 * node cuts a page of views by the bytes of its items (views_bytes; at
 * 4 MiB with 80 large referrals) and libkr pages on to its limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "harness.h"
#include "harness_examples.h"
#include "json_map.h"
#include "local.pb-c.h"
#include "util.h"

/* More referrals, like examples/referral.json with other ids, sent by
 * the practice through libkr and received by JGZ. */
#define S_MORE 4
static const char *const s_more_ids[S_MORE] = {
    "b0e0a1e2c3d4e5f60718293a4b5c6d01", "b0e0a1e2c3d4e5f60718293a4b5c6d02",
    "00e0a1e2c3d4e5f60718293a4b5c6d03", "f0e0a1e2c3d4e5f60718293a4b5c6d04"};

static void
s_send_more(struct h_cluster *c, int vl, int jgz)
{
    char path[H_PATH], err[256], id[KR_MSG_ID_HEX_LEN];
    kr_client_t *k = NULL;
    size_t len = 0;
    bool ok;

    snprintf(path, sizeof(path), "%s/referral.json", HX_EXAMPLES);
    char *text = NULL;
    H_REQUIRE(util_read_file(path, 1u << 20, &text, &len) == KR_OK,
              "examples/referral.json can be read");
    char *at = strstr(text, HX_RID);
    H_REQUIRE(at != NULL, "examples/referral.json holds its referral_id");
    H_REQUIRE(kr_client_connect(c->nodes[vl].local, 5000, &k) == KR_OK,
              "libkr connects to the practice's node");
    for (int i = 0; i < S_MORE; i++) {
        memcpy(at, s_more_ids[i], 32);
        int rc = kr_send_json(k, text, len, id, err, sizeof(err));
        H_CHECK(rc == KR_OK, "kr_send_json: referral %s (rc %d: %s)",
                s_more_ids[i], rc, err);
        if (rc != KR_OK)
            continue;
        H_POLL(ok, 20000, hx_listed(c, jgz, "inbox", id, NULL, NULL));
        H_CHECK(ok, "referral %s arrives at JGZ", s_more_ids[i]);
    }
    kr_client_destroy(&k);
    free(text);
}

/* Every view of kr_referral_views_json (state, since, pages of 'page')
 * into 'all' (an array); false (what is wrong in why) if a call fails, a
 * page is longer than asked, or an id comes twice. */
static bool
s_views_all(kr_client_t *k, const char *state, uint64_t since, uint32_t page,
            json_object *all, char *why, size_t whylen)
{
    char after[KR_MSG_ID_HEX_LEN] = "", err[160];

    for (int pg = 0; pg < 100; pg++) {
        char *text = NULL;
        size_t len = 0;
        int rc =
            kr_referral_views_json(k, state, since, after[0] ? after : NULL,
                                   page, &text, &len, err, sizeof(err));
        json_object *a = rc == KR_OK ? json_tokener_parse(text) : NULL;
        kr_json_free(text);
        if (a == NULL || !json_object_is_type(a, json_type_array) ||
            json_object_array_length(a) > page) {
            snprintf(why, whylen, "page %d: rc %d: %s", pg, rc, err);
            json_object_put(a);
            return false;
        }
        size_t n = json_object_array_length(a);
        for (size_t i = 0; i < n; i++) {
            json_object *v = json_object_array_get_idx(a, i);
            const char *rid = h_json_str(v, "referral.referral_id");
            const char *up = h_json_str(v, "referral.updated_at");
            if (rid == NULL ||
                (since != 0 &&
                 (up == NULL || json_map_time_parse(up, &since) != 0))) {
                snprintf(why, whylen, "page %d: a view without id or time", pg);
                json_object_put(a);
                return false;
            }
            snprintf(after, sizeof(after), "%s", rid);
            json_object_array_add(all, json_object_get(v));
        }
        json_object_put(a);
        if (n < page)
            return true;
    }
    snprintf(why, whylen, "more than 100 pages");
    return false;
}

/* The ids in a listing (kr_referrals_json or _changed_json), in order. */
static json_object *
s_ids(kr_client_t *k, const char *state, uint64_t since)
{
    char *text = NULL, err[256];
    size_t len = 0;
    int rc = since != 0 ? kr_referrals_changed_json(k, since, NULL, 0, &text,
                                                    &len, err, sizeof(err))
                        : kr_referrals_json(k, state, 0, NULL, 0, &text, &len,
                                            err, sizeof(err));
    json_object *a = rc == KR_OK ? json_tokener_parse(text) : NULL;
    kr_json_free(text);
    json_object *ids = json_object_new_array();
    for (size_t i = 0; a != NULL && i < json_object_array_length(a); i++) {
        const char *rid =
            h_json_str(json_object_array_get_idx(a, i), "referral_id");
        if (rid != NULL)
            json_object_array_add(ids, json_object_new_string(rid));
    }
    json_object_put(a);
    return ids;
}

/* The views, paged, equal the listing's referrals in its order, each as
 * kr_referral_view_json gives it. */
static bool
s_views_match(kr_client_t *k, const char *state, uint64_t since, uint32_t page,
              size_t *count, char *why, size_t whylen)
{
    json_object *all = json_object_new_array(), *ids = s_ids(k, state, since);
    bool ok = s_views_all(k, state, since, page, all, why, whylen);
    size_t n = json_object_array_length(all);

    *count = n;
    if (ok && n != json_object_array_length(ids)) {
        snprintf(why, whylen, "%zu views, %zu listed", n,
                 json_object_array_length(ids));
        ok = false;
    }
    for (size_t i = 0; ok && i < n; i++) {
        const char *rid =
            json_object_get_string(json_object_array_get_idx(ids, i));
        char *text = NULL, err[256];
        size_t len = 0;
        int rc = kr_referral_view_json(k, rid, &text, &len, err, sizeof(err));
        json_object *one = rc == KR_OK ? json_tokener_parse(text) : NULL;
        kr_json_free(text);
        if (!json_object_equal(one, json_object_array_get_idx(all, i))) {
            snprintf(why, whylen,
                     "view %zu (%s) differs from "
                     "kr_referral_view_json's (rc %d)",
                     i, rid, rc);
            ok = false;
        }
        json_object_put(one);
    }
    json_object_put(all);
    json_object_put(ids);
    return ok;
}

/* A raw page of views with views_bytes 1: the node cuts it after the first
 * referral that has received items; its items are that one's. */
static void
s_views_cut(struct h_cluster *c, int node)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ReferralListRequest lq = KR__V1__REFERRAL_LIST_REQUEST__INIT;
    uint8_t *buf, *rb = NULL;
    size_t len, rlen = 0;

    lq.views = true;
    lq.views_bytes = 1;
    lq.limit = 10;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST;
    req.referral_list = &lq;
    len = kr__v1__local_request__get_packed_size(&req);
    buf = malloc(len);
    kr__v1__local_request__pack(&req, buf);
    int rc = kr_call(h_node_client(c, node), buf, len, &rb, &rlen);
    free(buf);
    Kr__V1__LocalResponse *r =
        rc == KR_OK ? kr__v1__local_response__unpack(NULL, rlen, rb) : NULL;
    kr_buf_free(rb);
    bool ok = r != NULL && r->n_referrals == 1 && r->n_inbox >= 1;
    for (size_t i = 0; ok && i < r->n_inbox; i++)
        ok = r->inbox[i]->referral_id.len == KR_ID_LEN &&
             r->referrals[0]->referral_id.len == KR_ID_LEN &&
             memcmp(r->inbox[i]->referral_id.data,
                    r->referrals[0]->referral_id.data, KR_ID_LEN) == 0;
    H_CHECK(ok,
            "referral_list with views_bytes 1 at JGZ: one referral a page, "
            "with its own received items (rc %d, %zu referrals, %zu items)",
            rc, r != NULL ? r->n_referrals : 0, r != NULL ? r->n_inbox : 0);
    if (r != NULL)
        kr__v1__local_response__free_unpacked(r, NULL);
}

/* Referrals whose REFERRAL is large (60,000 characters of reason_text)
 * until JGZ's received items pass what the node answers in one page of
 * views (4 MiB): the node cuts the page short, and kr_referral_views_json
 * pages on to its limit. */
#define S_BIG 80

static void
s_views_big(struct h_cluster *c, int vl, int jgz)
{
    char path[H_PATH], err[256], id[KR_MSG_ID_HEX_LEN], why[256] = "";
    kr_client_t *k = NULL;
    size_t n = 0;
    static char ids_sent[S_BIG][KR_MSG_ID_HEX_LEN];
    int sent = 0;
    bool ok;

    snprintf(path, sizeof(path), "%s/referral.json", HX_EXAMPLES);
    json_object *o = json_object_from_file(path);
    json_object *r = o != NULL ? h_json_path(o, "referral") : NULL;
    H_REQUIRE(r != NULL, "examples/referral.json parses");
    char *big = malloc(60001);
    H_REQUIRE(big != NULL, "memory for a large reason_text");
    memset(big, 'x', 60000);
    big[60000] = '\0';
    json_object_object_add(r, "reason_text", json_object_new_string(big));
    free(big);
    H_REQUIRE(kr_client_connect(c->nodes[vl].local, 5000, &k) == KR_OK,
              "libkr connects to the practice's node");
    for (int i = 0; i < S_BIG; i++) {
        char rid[KR_MSG_ID_HEX_LEN];
        snprintf(rid, sizeof(rid), "b1%030x", (unsigned)i);
        json_object_object_add(o, "referral_id", json_object_new_string(rid));
        const char *text = json_object_to_json_string(o);
        if (kr_send_json(k, text, strlen(text), id, err, sizeof(err)) == KR_OK)
            snprintf(ids_sent[sent++], KR_MSG_ID_HEX_LEN, "%s", id);
    }
    kr_client_destroy(&k);
    json_object_put(o);
    H_CHECK(sent == S_BIG,
            "kr_send_json: %d referrals of 60,000 characters "
            "(%d taken)",
            S_BIG, sent);

    H_REQUIRE(kr_client_connect(c->nodes[jgz].local, 5000, &k) == KR_OK,
              "libkr connects to JGZ's node");
    json_object *ids = NULL;
    H_POLL(ok, 60000,
           (json_object_put(ids), ids = s_ids(k, NULL, 0),
            json_object_array_length(ids) == 1 + S_MORE + S_BIG));
    H_CHECK(ok, "JGZ holds them all (%zu referrals)",
            json_object_array_length(ids));
    json_object_put(ids);

    /* The node's own page of views, asked for every referral, is cut. */
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ReferralListRequest lq = KR__V1__REFERRAL_LIST_REQUEST__INIT;
    uint8_t *buf, *rb = NULL;
    size_t len, rlen = 0;
    lq.views = true;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_REFERRAL_LIST;
    req.referral_list = &lq;
    len = kr__v1__local_request__get_packed_size(&req);
    buf = malloc(len);
    kr__v1__local_request__pack(&req, buf);
    int rc = kr_call(k, buf, len, &rb, &rlen);
    free(buf);
    Kr__V1__LocalResponse *resp =
        rc == KR_OK ? kr__v1__local_response__unpack(NULL, rlen, rb) : NULL;
    kr_buf_free(rb);
    size_t bytes = 0;
    for (size_t i = 0; resp != NULL && i < resp->n_inbox; i++)
        bytes += kr__v1__inbox_item__get_packed_size(resp->inbox[i]);
    H_CHECK(resp != NULL && resp->n_referrals > 1 &&
                resp->n_referrals < 1 + S_MORE + S_BIG && bytes >= (4u << 20),
            "referral_list with views of every referral at JGZ: the page "
            "ends at 4 MiB of items (%zu referrals, %zu bytes; rc %d)",
            resp != NULL ? resp->n_referrals : 0, bytes, rc);
    if (resp != NULL)
        kr__v1__local_response__free_unpacked(resp, NULL);

    /* libkr pages on: every one, each as its own view. */
    ok = s_views_match(k, NULL, 0, 1000, &n, why, sizeof(why));
    H_CHECK(ok && n == 1 + S_MORE + S_BIG,
            "kr_referral_views_json at JGZ, id order, limit 1000: %zu "
            "views past the node's cut, each kr_referral_view_json's (%s)",
            n, why);
    ok = s_views_match(k, NULL, 1, 60, &n, why, sizeof(why));
    H_CHECK(ok && n == 1 + S_MORE + S_BIG,
            "kr_referral_views_json at JGZ, change order, pages of 60: %zu "
            "views, each kr_referral_view_json's (%s)",
            n, why);
    /* Taken over, so that the inbox listings of what follows see it. */
    int done = 0;
    for (int i = 0; i < sent; i++)
        done += kr_processed(k, ids_sent[i], err, sizeof(err)) == KR_OK;
    H_CHECK(done == sent, "JGZ marks them processed (%d of %d)", done, sent);
    kr_client_destroy(&k);
}

/* kr_referral_views_json against kr_referral_view_json, at both nodes. */
static void
s_views(struct h_cluster *c, int vl, int jgz)
{
    int nodes[2] = {vl, jgz};
    char why[256] = "";
    size_t n = 0;
    bool ok;

    for (int i = 0; i < 2; i++) {
        const char *who = i == 0 ? "placer" : "performer";
        kr_client_t *k = NULL;
        H_REQUIRE(kr_client_connect(c->nodes[nodes[i]].local, 5000, &k) ==
                      KR_OK,
                  "libkr connects to the %s's node", who);
        /* A record may still move by the broker's receipts between the
         * two reads: looked at until both agree. */
        H_POLL(ok, 20000, s_views_match(k, NULL, 0, 2, &n, why, sizeof(why)));
        H_CHECK(ok && n == S_MORE + 1,
                "kr_referral_views_json at the %s, id order, pages of 2: "
                "%zu views, each kr_referral_view_json's (%s)",
                who, n, why);
        H_POLL(ok, 20000, s_views_match(k, NULL, 1, 3, &n, why, sizeof(why)));
        H_CHECK(ok && n == S_MORE + 1,
                "kr_referral_views_json at the %s, change order, pages of 3: "
                "%zu views, each kr_referral_view_json's (%s)",
                who, n, why);
        H_POLL(ok, 20000,
               s_views_match(k, "requested", 0, 1, &n, why, sizeof(why)));
        H_CHECK(ok && n >= 1,
                "kr_referral_views_json at the %s, state requested, pages "
                "of 1: %zu views, each kr_referral_view_json's (%s)",
                who, n, why);
        char *text = NULL, err[256];
        size_t len = 0;
        int rc = kr_referral_views_json(k, "accepted-ish", 0, NULL, 0, &text,
                                        &len, err, sizeof(err));
        H_CHECK(rc == KR_EINVAL && text == NULL && strstr(err, "state"),
                "kr_referral_views_json of an unknown state: KR_EINVAL (%s)",
                err);
        rc = kr_referral_views_json(k, NULL, 0, NULL, 1001, &text, &len, err,
                                    sizeof(err));
        H_CHECK(rc == KR_EINVAL && text == NULL && strstr(err, "limit"),
                "kr_referral_views_json of limit 1001: KR_EINVAL (%s)", err);
        kr_client_destroy(&k);
    }
    s_views_cut(c, jgz);
}

int
main(void)
{
    static struct h_cluster c;
    char ref[KR_MSG_ID_HEX_LEN] = "", acc[KR_MSG_ID_HEX_LEN] = "";
    int vl, jgz;

    h_init("views", 200);
    h_cluster_init(&c, "views");
    hx_setup(&c, &vl, &jgz);
    /* Two states among the referrals: the example's is accepted. */
    hx_through(&c, vl, jgz, "referral.json", ref);
    hx_through(&c, jgz, vl, "referral-accepted.json", acc);
    s_send_more(&c, vl, jgz);
    s_views(&c, vl, jgz);
    s_views_big(&c, vl, jgz);
    return h_finish(&c);
}
