/*
 * test_examples.c - examples/ works as it is (issue 14: no placeholders,
 * dates relative to today):
 *
 *   1. every .json file in examples/ passes `krctl send --check`;
 *   2. between two organisations with the examples' ids (ura:00001234, a
 *      verloskunde practice, and ura:87654321, JGZ) the files go through
 *      a real broker unchanged: the consent (krctl consent grant), the
 *      referral and its supplement sent by examples/adapter.c (libkr's
 *      JSON layer, linked against the shared libkr), JGZ's answer and
 *      question, the revocation; each ends delivered, and arrives;
 *   3. libkr's record readers on that referral, at both nodes:
 *      kr_referral_json (state, parties, history[0].msg_id the REFERRAL),
 *      kr_referrals_json (by state, without history) and
 *      kr_inbox_get_json (the opened REFERRAL at JGZ), kr_referral_view_json
 *      (both at once), and their refusals;
 *   4. kr_referral_views_json on more referrals than a page holds: at both
 *      nodes, in id order, in change order and by state, paged, its views
 *      equal kr_referral_view_json's one by one; the node cuts a page of
 *      views by the bytes of its items (views_bytes; at 4 MiB with 80
 *      large referrals) and libkr pages on to its limit.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "harness.h"
#include "json_map.h"
#include "local.pb-c.h"
#include "util.h"

#define S_ADAPTER KR_BIN_DIR "/clients/libkr/kr_example_adapter"
#define S_EXAMPLES KR_SOURCE_DIR "/examples"
#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:87654321"

static int
s_check_all(void)
{
    struct dirent *e;
    DIR *d = opendir(S_EXAMPLES);
    int n = 0;

    H_REQUIRE(d != NULL, "examples/ can be read");
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char path[H_PATH];
        struct h_run r;

        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", S_EXAMPLES, e->d_name);
        h_krctl(&r, "send", "--check", path, NULL);
        H_CHECK(r.code == 0, "krctl send --check examples/%s (exit %d%s%s)",
                e->d_name, r.code, r.code ? ": " : "", r.code ? r.err : "");
        h_run_free(&r);
        n++;
    }
    closedir(d);
    return n;
}

/* examples/adapter.c: "send" prints the msg_id. */
static bool
s_adapter_send(struct h_cluster *c, int node, const char *file,
               char msg_id[KR_MSG_ID_HEX_LEN])
{
    char path[H_PATH];
    struct h_run r;
    bool ok;

    snprintf(path, sizeof(path), "%s/%s", S_EXAMPLES, file);
    char *argv[] = {S_ADAPTER, "send", c->nodes[node].local, path, NULL};
    h_run(&r, H_RUN_MS, argv);
    ok = r.code == 0 && r.out != NULL && strlen(r.out) >= 32;
    if (ok)
        snprintf(msg_id, KR_MSG_ID_HEX_LEN, "%.32s", r.out);
    H_CHECK(ok, "adapter send examples/%s from %s (exit %d%s%s)", file,
            c->nodes[node].org, r.code, r.code ? ": " : "",
            r.code ? r.err : "");
    h_run_free(&r);
    return ok;
}

/* The adapter's JSON listing ("inbox" or "receipts") holds an item with
 * msg_id and, if 'key' is given, key == value. */
static bool
s_listed(struct h_cluster *c, int node, const char *what, const char *msg_id,
         const char *key, const char *value)
{
    char *argv[] = {S_ADAPTER, (char *)what, c->nodes[node].local, NULL};
    struct h_run r;
    bool found = false;

    h_run(&r, H_RUN_MS, argv);
    json_object *a = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    for (size_t i = 0; a != NULL && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a) && !found;
         i++) {
        json_object *o = json_object_array_get_idx(a, i);
        const char *m = h_json_str(o, "msg_id");
        const char *v = key != NULL ? h_json_str(o, key) : NULL;
        found = m != NULL && strcmp(m, msg_id) == 0 &&
                (key == NULL || (v != NULL && strcmp(v, value) == 0));
    }
    json_object_put(a);
    h_run_free(&r);
    return found;
}

static void
s_through(struct h_cluster *c, int from, int to, const char *file,
          char id[KR_MSG_ID_HEX_LEN])
{
    bool ok;

    if (!s_adapter_send(c, from, file, id))
        return;
    H_POLL(ok, 20000, s_listed(c, to, "inbox", id, NULL, NULL));
    H_CHECK(ok, "examples/%s arrives at %s (adapter inbox)", file,
            c->nodes[to].org);
    H_POLL(ok, 20000,
           s_listed(c, from, "receipts", id, "outcome", "delivered"));
    H_CHECK(ok, "and its receipt says delivered (adapter receipts)");
}

#define S_RID "b0e0a1e2c3d4e5f60718293a4b5c6d7e" /* examples/referral.json */

/* o's string at 'path' equals 'want' (false if absent). */
static bool
s_eq(json_object *o, const char *path, const char *want)
{
    const char *v = h_json_str(o, path);
    return v != NULL && strcmp(v, want) == 0;
}

/* kr_referral_json at 'node': the record, parsed (NULL if the call
 * failed), its state into st. */
static json_object *
s_referral(struct h_cluster *c, int node, char *st, size_t stlen)
{
    kr_client_t *k = NULL;
    char *text = NULL, err[256];
    size_t len = 0;
    json_object *o = NULL;

    snprintf(st, stlen, "(none)");
    if (kr_client_connect(c->nodes[node].local, 5000, &k) != KR_OK)
        return NULL;
    if (kr_referral_json(k, S_RID, &text, &len, err, sizeof(err)) == KR_OK &&
        strlen(text) == len)
        o = json_tokener_parse(text);
    kr_json_free(text);
    kr_client_destroy(&k);
    const char *s = o != NULL ? h_json_str(o, "state") : NULL;
    if (s != NULL)
        snprintf(st, stlen, "%s", s);
    return o;
}

/* The record readers of libkr on examples/referral.json (sent as 'ref',
 * accepted by JGZ's 'acc'), at the placer 'vl' and the performer 'jgz'. */
static void
s_records(struct h_cluster *c, int vl, int jgz, const char *ref,
          const char *acc)
{
    int nodes[2] = {vl, jgz};
    char st[32], err[256], *text = NULL;
    size_t len = 0;
    kr_client_t *k = NULL;
    bool ok;

    if (ref[0] == '\0' || acc[0] == '\0')
        return;
    for (int i = 0; i < 2; i++) {
        const char *who = i == 0 ? "placer" : "performer";
        json_object *o = NULL;
        /* The placer's node learns the answer from its delivery. */
        H_POLL(ok, 20000,
               (json_object_put(o), o = s_referral(c, nodes[i], st, sizeof(st)),
                strcmp(st, "accepted") == 0));
        H_CHECK(ok, "kr_referral_json at the %s: accepted (%s)", who, st);
        json_object *h = o != NULL ? h_json_path(o, "history") : NULL;
        json_object *h0 = h != NULL && json_object_is_type(h, json_type_array)
                              ? json_object_array_get_idx(h, 0)
                              : NULL;
        json_object *hl =
            h != NULL && json_object_is_type(h, json_type_array)
                ? json_object_array_get_idx(h, json_object_array_length(h) - 1)
                : NULL;
        const char *m0 = h0 != NULL ? h_json_str(h0, "msg_id") : NULL;
        const char *ml = hl != NULL ? h_json_str(hl, "msg_id") : NULL;
        const char *to = hl != NULL ? h_json_str(hl, "to") : NULL;
        const char *org = hl != NULL ? h_json_str(hl, "org_id") : NULL;
        H_CHECK(o != NULL && s_eq(o, "referral_id", S_RID) &&
                    s_eq(o, "type", "referral") &&
                    s_eq(o, "placer", S_VL_ORG) &&
                    s_eq(o, "performer", S_JGZ_ORG) &&
                    s_eq(o, "purpose", "prenataal-huisbezoek") &&
                    h_json_str(o, "opened_at") != NULL &&
                    h_json_str(o, "state_at") != NULL,
                "kr_referral_json at the %s: id, type, parties, purpose, "
                "times",
                who);
        H_CHECK(m0 != NULL && strcmp(m0, ref) == 0 && ml != NULL &&
                    strcmp(ml, acc) == 0 && to != NULL &&
                    strcmp(to, "accepted") == 0 && org != NULL &&
                    strcmp(org, S_JGZ_ORG) == 0,
                "kr_referral_json at the %s: history[0].msg_id is the "
                "REFERRAL, the last step JGZ's accepted",
                who);
        json_object_put(o);
    }

    /* The listing, by state. */
    H_REQUIRE(kr_client_connect(c->nodes[jgz].local, 5000, &k) == KR_OK,
              "libkr connects to JGZ's node");
    int rc = kr_referrals_json(k, "accepted", 0, NULL, 0, &text, &len, err,
                               sizeof(err));
    json_object *a = rc == KR_OK ? json_tokener_parse(text) : NULL;
    json_object *e = a != NULL && json_object_is_type(a, json_type_array) &&
                             json_object_array_length(a) == 1
                         ? json_object_array_get_idx(a, 0)
                         : NULL;
    H_CHECK(e != NULL && s_eq(e, "referral_id", S_RID) &&
                s_eq(e, "state", "accepted") &&
                !json_object_object_get_ex(e, "history", NULL),
            "kr_referrals_json(accepted) at JGZ: the one referral, no "
            "history (rc %d: %s)",
            rc, err);
    json_object_put(a);
    kr_json_free(text);
    text = NULL;
    rc = kr_referrals_json(k, "rejected", 0, NULL, 0, &text, &len, err,
                           sizeof(err));
    H_CHECK(rc == KR_OK && strcmp(text, "[]") == 0,
            "kr_referrals_json(rejected) at JGZ: [] (rc %d)", rc);
    kr_json_free(text);
    text = NULL;
    rc =
        kr_referrals_json(k, NULL, 0, S_RID, 10, &text, &len, err, sizeof(err));
    H_CHECK(rc == KR_OK && strcmp(text, "[]") == 0,
            "kr_referrals_json after the last one: [] (rc %d)", rc);
    kr_json_free(text);
    text = NULL;

    /* One inbox item: the opened REFERRAL, with its content. */
    rc = kr_inbox_get_json(k, ref, &text, &len, err, sizeof(err));
    json_object *it = rc == KR_OK ? json_tokener_parse(text) : NULL;
    json_object *mo =
        it != NULL ? h_json_path(it, "content.referral.mother") : NULL;
    const char *bsn = mo != NULL ? h_json_str(mo, "bsn") : NULL;
    H_CHECK(
        it != NULL && s_eq(it, "msg_id", ref) && s_eq(it, "type", "referral") &&
            s_eq(it, "sender", S_VL_ORG) && s_eq(it, "referral_id", S_RID) &&
            bsn != NULL && strcmp(bsn, "111222333") == 0,
        "kr_inbox_get_json at JGZ: the REFERRAL, opened (rc %d: %s)", rc, err);
    json_object_put(it);
    kr_json_free(text);
    text = NULL;

    /* What changed since a moment, in the order it changed. */
    rc =
        kr_referrals_changed_json(k, 1, NULL, 0, &text, &len, err, sizeof(err));
    json_object *ch = rc == KR_OK ? json_tokener_parse(text) : NULL;
    json_object *c0 = ch != NULL && json_object_array_length(ch) > 0
                          ? json_object_array_get_idx(ch, 0)
                          : NULL;
    H_CHECK(c0 != NULL && s_eq(c0, "referral_id", S_RID) &&
                h_json_str(c0, "updated_at") != NULL,
            "kr_referrals_changed_json since 1970: the referral, with its "
            "updated_at (rc %d: %s)",
            rc, err);
    json_object_put(ch);
    kr_json_free(text);
    text = NULL;
    rc = kr_referrals_changed_json(k, 253402300799000ull, NULL, 0, &text, &len,
                                   err, sizeof(err));
    H_CHECK(rc == KR_OK && strcmp(text, "[]") == 0,
            "kr_referrals_changed_json since 9999: [] (rc %d)", rc);
    kr_json_free(text);
    text = NULL;
    rc =
        kr_referrals_changed_json(k, 0, NULL, 0, &text, &len, err, sizeof(err));
    H_CHECK(rc == KR_EINVAL && text == NULL && strstr(err, "since_ms"),
            "kr_referrals_changed_json since 0: KR_EINVAL naming since_ms "
            "(%s)",
            err);

    /* The referral and its opening item in one answer. */
    rc = kr_referral_view_json(k, S_RID, &text, &len, err, sizeof(err));
    json_object *vw = rc == KR_OK ? json_tokener_parse(text) : NULL;
    json_object *vr = vw != NULL ? h_json_path(vw, "referral") : NULL;
    json_object *vi = vw != NULL ? h_json_path(vw, "item") : NULL;
    H_CHECK(vr != NULL && s_eq(vr, "referral_id", S_RID) && vi != NULL &&
                s_eq(vi, "msg_id", ref) && s_eq(vi, "type", "referral") &&
                h_json_path(vi, "content.referral.mother") != NULL,
            "kr_referral_view_json at JGZ: the record and the REFERRAL that "
            "opened it (rc %d: %s)",
            rc, err);
    json_object_put(vw);
    kr_json_free(text);
    text = NULL;
    rc = kr_referral_view_json(k, "00000000000000000000000000000001", &text,
                               &len, err, sizeof(err));
    H_CHECK(rc == KR_ENOTFOUND && text == NULL,
            "kr_referral_view_json of an unknown referral: KR_ENOTFOUND "
            "(%d: %s)",
            rc, err);

    /* Refusals: clear codes, nothing returned. */
    rc = kr_inbox_get_json(k, "00000000000000000000000000000001", &text, &len,
                           err, sizeof(err));
    H_CHECK(rc == KR_ENOTFOUND && text == NULL && strstr(err, "no message"),
            "kr_inbox_get_json of an unknown id: KR_ENOTFOUND (%d: %s)", rc,
            err);
    rc = kr_referral_json(k, "00000000000000000000000000000001", &text, &len,
                          err, sizeof(err));
    H_CHECK(rc == KR_ENOTFOUND && text == NULL,
            "kr_referral_json of an unknown referral: KR_ENOTFOUND (%d: %s)",
            rc, err);
    rc = kr_referral_json(k, "b0e0", &text, &len, err, sizeof(err));
    H_CHECK(rc == KR_EINVAL && text == NULL && strstr(err, "referral_id"),
            "kr_referral_json of a short id: KR_EINVAL naming it (%s)", err);
    rc = kr_referrals_json(k, "accepted-ish", 0, NULL, 0, &text, &len, err,
                           sizeof(err));
    H_CHECK(rc == KR_EINVAL && text == NULL && strstr(err, "state"),
            "kr_referrals_json of an unknown state: KR_EINVAL (%s)", err);
    /* At the placer the REFERRAL is in the outbox, not the inbox. */
    kr_client_destroy(&k);
    H_REQUIRE(kr_client_connect(c->nodes[vl].local, 5000, &k) == KR_OK,
              "libkr connects to the practice's node");
    rc = kr_inbox_get_json(k, ref, &text, &len, err, sizeof(err));
    H_CHECK(rc == KR_ENOTFOUND,
            "kr_inbox_get_json of the REFERRAL at its sender: KR_ENOTFOUND "
            "(%d)",
            rc);
    rc = kr_referral_view_json(k, S_RID, &text, &len, err, sizeof(err));
    vw = rc == KR_OK ? json_tokener_parse(text) : NULL;
    H_CHECK(vw != NULL && h_json_path(vw, "referral") != NULL &&
                h_json_path(vw, "item") == NULL,
            "kr_referral_view_json at the placer: the record, no item (rc "
            "%d: %s)",
            rc, err);
    json_object_put(vw);
    kr_json_free(text);
    text = NULL;
    rc = kr_inbox_get_json(k, acc, &text, &len, err, sizeof(err));
    it = rc == KR_OK ? json_tokener_parse(text) : NULL;
    H_CHECK(it != NULL && s_eq(it, "type", "referral-status") &&
                h_json_path(it, "content.referral_status") != NULL,
            "kr_inbox_get_json of JGZ's answer at the practice (rc %d)", rc);
    json_object_put(it);
    kr_json_free(text);
    kr_client_destroy(&k);
}

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

    snprintf(path, sizeof(path), "%s/referral.json", S_EXAMPLES);
    char *text = NULL;
    H_REQUIRE(util_read_file(path, 1u << 20, &text, &len) == KR_OK,
              "examples/referral.json can be read");
    char *at = strstr(text, S_RID);
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
        H_POLL(ok, 20000, s_listed(c, jgz, "inbox", id, NULL, NULL));
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

    snprintf(path, sizeof(path), "%s/referral.json", S_EXAMPLES);
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
    struct h_run r;
    char path[H_PATH];
    bool ok;

    h_init("examples", 200);
    h_cluster_init(&c, "examples");
    int n = s_check_all();
    H_CHECK(n >= 10, "one example per message type (%d files)", n);

    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde", "Praktijk De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Voorbeeld");
    h_node_start(&c, vl);
    h_node_start(&c, jgz);
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, jgz, H_CONNECT_MS))
        h_abort();

    snprintf(path, sizeof(path), "%s/consent-grant.json", S_EXAMPLES);
    h_krctl(&r, "--node", c.nodes[vl].local, "consent", "grant", path, NULL);
    json_object *g = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    const char *gid = g != NULL ? h_json_str(g, "msg_id") : NULL;
    char grant[KR_MSG_ID_HEX_LEN] = "";
    if (gid != NULL)
        snprintf(grant, sizeof(grant), "%s", gid);
    H_CHECK(r.code == 0 && grant[0] != '\0',
            "krctl consent grant examples/consent-grant.json (exit %d)",
            r.code);
    json_object_put(g);
    h_run_free(&r);
    /* The grant must be at the broker before what relies on it. */
    H_POLL(ok, 20000,
           s_listed(&c, vl, "receipts", grant, "outcome", "accepted") ||
               s_listed(&c, vl, "receipts", grant, "outcome", "delivered"));
    H_CHECK(ok, "the broker accepted the consent");

    char ref[KR_MSG_ID_HEX_LEN] = "", acc[KR_MSG_ID_HEX_LEN] = "";
    char id[KR_MSG_ID_HEX_LEN];
    s_through(&c, vl, jgz, "referral.json", ref);
    s_through(&c, jgz, vl, "referral-accepted.json", acc);
    s_records(&c, vl, jgz, ref, acc);
    s_send_more(&c, vl, jgz);
    s_views(&c, vl, jgz);
    s_views_big(&c, vl, jgz);
    s_through(&c, vl, jgz, "supplement.json", id);
    s_through(&c, jgz, vl, "communication.json", id);
    s_through(&c, vl, jgz, "consent-revoke.json", id);
    return h_finish(&c);
}
