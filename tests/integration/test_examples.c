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
 * (kr_referral_views_json, on more referrals than a page holds:
 * test_views.)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "harness.h"
#include "harness_examples.h"

static int
s_check_all(void)
{
    struct dirent *e;
    DIR *d = opendir(HX_EXAMPLES);
    int n = 0;

    H_REQUIRE(d != NULL, "examples/ can be read");
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char path[H_PATH];
        struct h_run r;

        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", HX_EXAMPLES, e->d_name);
        h_krctl(&r, "send", "--check", path, NULL);
        H_CHECK(r.code == 0, "krctl send --check examples/%s (exit %d%s%s)",
                e->d_name, r.code, r.code ? ": " : "", r.code ? r.err : "");
        h_run_free(&r);
        n++;
    }
    closedir(d);
    return n;
}

#define S_RID HX_RID

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
                    s_eq(o, "placer", HX_VL_ORG) &&
                    s_eq(o, "performer", HX_JGZ_ORG) &&
                    s_eq(o, "purpose", "prenataal-huisbezoek") &&
                    h_json_str(o, "opened_at") != NULL &&
                    h_json_str(o, "state_at") != NULL,
                "kr_referral_json at the %s: id, type, parties, purpose, "
                "times",
                who);
        H_CHECK(m0 != NULL && strcmp(m0, ref) == 0 && ml != NULL &&
                    strcmp(ml, acc) == 0 && to != NULL &&
                    strcmp(to, "accepted") == 0 && org != NULL &&
                    strcmp(org, HX_JGZ_ORG) == 0,
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
            s_eq(it, "sender", HX_VL_ORG) && s_eq(it, "referral_id", S_RID) &&
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

int
main(void)
{
    static struct h_cluster c;

    h_init("examples", 200);
    h_cluster_init(&c, "examples");
    int n = s_check_all();
    H_CHECK(n >= 10, "one example per message type (%d files)", n);

    int vl, jgz;
    hx_setup(&c, &vl, &jgz);

    char ref[KR_MSG_ID_HEX_LEN] = "", acc[KR_MSG_ID_HEX_LEN] = "";
    char id[KR_MSG_ID_HEX_LEN];
    hx_through(&c, vl, jgz, "referral.json", ref);
    hx_through(&c, jgz, vl, "referral-accepted.json", acc);
    s_records(&c, vl, jgz, ref, acc);
    hx_through(&c, vl, jgz, "supplement.json", id);
    hx_through(&c, jgz, vl, "communication.json", id);
    hx_through(&c, vl, jgz, "consent-revoke.json", id);
    return h_finish(&c);
}
