/*
 * test_coordinator.c - the coordinator organisation's view of its
 * coalition (issue 13, point 6), through the real daemons: a routes file
 * names a municipality as coordinator of prenataal-huisbezoek; a midwife
 * refers to JGZ on that route; the coordinator's node asks the broker and
 * sees the referral's state and codes, and its answer (the node's raw
 * LocalResponse and `krctl --json`) holds neither the subject pseudonym
 * nor the consent_id; JGZ accepts and the coordinator sees accepted, with
 * the history's codes; paging with --limit and --after; an organisation
 * of category coordinator that no route names is answered with nothing;
 * the midwife asking is refused with a reason that says so, and both are
 * audited; with the broker down the node says so at once.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util.h"

#define S_VL "ura:00001234"
#define S_JGZ "ura:00005678"
#define S_GEM "oin:00000001000000000002" /* coordinator of the route */
#define S_CAT "ura:00009999"             /* category coordinator, no route */

static struct h_cluster s_c;
static int s_vl, s_jgz, s_gem, s_cat;
static struct h_referral s_ref;

/* A referral from the midwife to JGZ: its referral_id. */
static void
s_refer(uint8_t rid[16])
{
    uint8_t msg_id[16];

    H_REQUIRE(h_send_referral(h_node_client(&s_c, s_vl), S_JGZ, &s_ref, NULL,
                              msg_id) == KR_OK,
              "the midwife's node takes the referral");
    struct h_fate o = h_fate_wait(h_node_client(&s_c, s_vl), msg_id);
    H_REQUIRE(o.outcome == KR__V1__OUTCOME__DELIVERED,
              "the referral is delivered (outcome %d)", o.outcome);
    memcpy(rid, o.referral_id, 16);
}

/* JGZ sets a status on the referral. */
static void
s_status(const uint8_t rid[16], const char *status)
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__ReferralStatus rs = KR__V1__REFERRAL_STATUS__INIT;
    uint8_t msg_id[16], *content;
    size_t clen;

    s.type = KR__V1__MESSAGE_TYPE__REFERRAL_STATUS;
    s.recipient = S_VL;
    s.purpose = "prenataal-huisbezoek";
    s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.referral_id = (ProtobufCBinaryData){16, (uint8_t *)rid};
    rs.status = (char *)status;
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_REFERRAL_STATUS;
    c.referral_status = &rs;
    clen = kr__v1__content__get_packed_size(&c);
    content = malloc(clen);
    kr__v1__content__pack(&c, content);
    s.content = (ProtobufCBinaryData){clen, content};
    int rc = h_send_request(h_node_client(&s_c, s_jgz), &s, msg_id);
    free(content);
    H_REQUIRE(rc == KR_OK, "JGZ's node takes status %s", status);
    struct h_fate o = h_fate_wait(h_node_client(&s_c, s_jgz), msg_id);
    H_REQUIRE(o.outcome == KR__V1__OUTCOME__DELIVERED,
              "status %s is delivered (outcome %d)", status, o.outcome);
}

/* The node's raw answer to coalition_referrals: its error and bytes. */
static int
s_raw_query(int node, uint8_t **resp, size_t *len)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__CoalitionQuery q = KR__V1__COALITION_QUERY__INIT;
    size_t rlen;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_COALITION_REFERRALS;
    req.coalition_referrals = &q;
    rlen = kr__v1__local_request__get_packed_size(&req);
    uint8_t *buf = malloc(rlen);
    kr__v1__local_request__pack(&req, buf);
    *resp = NULL;
    *len = 0;
    int rc = kr_call(h_node_client(&s_c, node), buf, rlen, resp, len);
    free(buf);
    return rc;
}

static bool
s_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The coordinator's node, asked with the broker down, says so. */
static bool
s_not_connected(void)
{
    struct h_run r;

    h_krctl(&r, "--node", s_c.nodes[s_gem].local, "referrals", "--coalition",
            NULL);
    bool ok = r.code == 1 && r.err != NULL && strstr(r.err, "not connected");
    h_run_free(&r);
    return ok;
}

static bool
s_has(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    return m > 0 && memmem(hay, n, needle, m) != NULL;
}

/* `krctl --node N referrals --coalition ARGS --json`, parsed. */
static json_object *
s_krctl_coalition(int node, const char *a1, const char *a2, const char *a3,
                  struct h_run *r)
{
    h_krctl(r, "--node", s_c.nodes[node].local, "referrals", "--coalition",
            "--json", a1, a2, a3, NULL);
    return r->code == 0 ? json_tokener_parse(r->out) : NULL;
}

static const char *
s_find_state(json_object *a, const char *hex)
{
    for (size_t i = 0; a != NULL && i < json_object_array_length(a); i++) {
        json_object *e = json_object_array_get_idx(a, i);
        const char *id = h_json_str(e, "referral_id");
        if (id != NULL && strcmp(id, hex) == 0)
            return h_json_str(e, "state");
    }
    return NULL;
}

int
main(void)
{
    char routes[H_PATH + 32], text[512], hex[33], hex2[33];
    uint8_t rid[16], rid2[16], pseudo[32], cid[16];
    struct h_run r;
    bool ok;

    h_init("coordinator", 180);
    h_referral_default(&s_ref);
    h_cluster_init(&s_c, "coordinator");
    snprintf(routes, sizeof(routes), "%s/routes.ini", s_c.tmp);
    snprintf(text, sizeof(text),
             "[route prenataal-huisbezoek]\n"
             "from = verloskunde\n"
             "to = jgz\n"
             "coordinator = %s\n"
             "t_ack = 5 days\n",
             S_GEM);
    H_REQUIRE(h_write_file(routes, text, 0600) == KR_OK, "write routes");
    h_broker_set(&s_c, "routes", routes);
    h_broker_start(&s_c);
    s_vl = h_org_add(&s_c, "vl", S_VL, "verloskunde", "Praktijk De Wieg");
    s_jgz = h_org_add(&s_c, "jgz", S_JGZ, "jgz", "JGZ Utrecht");
    s_gem = h_org_add(&s_c, "gem", S_GEM, "gemeente", "Gemeente Utrecht");
    s_cat = h_org_add(&s_c, "cat", S_CAT, "coordinator", "Coalitie Elders");
    int nodes[] = {s_vl, s_jgz, s_gem, s_cat};
    for (size_t i = 0; i < 4; i++)
        h_node_start(&s_c, nodes[i]);
    for (size_t i = 0; i < 4; i++)
        if (!h_node_wait_connected(&s_c, nodes[i], H_CONNECT_MS))
            h_abort();

    struct h_consent g = {.recipient = S_JGZ,
                          .bsn = s_ref.bsn,
                          .from_org = S_VL,
                          .to_category = KR__V1__ORG_CATEGORY__JGZ};
    uint8_t gmsg[16];
    g.from_ms = util_now_ms() - 3600000;
    g.until_ms = util_now_ms() + 365ull * 86400000;
    H_REQUIRE(h_send_consent(h_node_client(&s_c, s_vl), &g, cid, gmsg) == KR_OK,
              "consent for prenataal-huisbezoek");
    H_POLL(ok, 20000,
           h_outcome(h_node_client(&s_c, s_vl), gmsg) >=
               KR__V1__OUTCOME__ACCEPTED);
    H_REQUIRE(ok, "the broker accepts the consent");

    s_refer(rid);
    h_hex16(rid, hex);

    /* What the broker keeps that the coordinator must not get. */
    h_krctl(&r, "--admin", s_c.admin, "referral", "show", hex, "--json", NULL);
    json_object *rec = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    const char *ph = rec ? h_json_str(rec, "subject_pseudonym") : NULL;
    H_REQUIRE(ph != NULL && strlen(ph) == 64 &&
                  util_unhex(ph, pseudo, 32) == KR_OK,
              "the broker's record has the subject pseudonym");
    char pseudo_hex[65], cid_hex[33];
    snprintf(pseudo_hex, sizeof(pseudo_hex), "%s", ph);
    h_hex16(cid, cid_hex);
    json_object_put(rec);
    h_run_free(&r);

    h_note("== the coordinator asks");
    uint8_t *raw;
    size_t rawlen;
    int rc = s_raw_query(s_gem, &raw, &rawlen);
    Kr__V1__LocalResponse *resp =
        rc == KR_OK ? kr__v1__local_response__unpack(NULL, rawlen, raw) : NULL;
    const Kr__V1__ReferralStates *st = resp ? resp->coalition : NULL;
    H_CHECK(
        st != NULL && st->n_referrals == 1 &&
            memcmp(st->referrals[0]->referral_id.data, rid, 16) == 0 &&
            st->referrals[0]->state == KR__V1__TASK_STATUS__TASK_REQUESTED &&
            strcmp(st->referrals[0]->placer, S_VL) == 0 &&
            strcmp(st->referrals[0]->performer, S_JGZ) == 0 &&
            strcmp(st->referrals[0]->coordinator, S_GEM) == 0 &&
            st->referrals[0]->n_timers >= 1 && st->referrals[0]->n_history == 1,
        "the coordinator's node answers: one referral, requested, "
        "placer, performer, coordinator, its timers and first step "
        "(rc %d, n %zu, timers %zu, history %zu)",
        rc, st ? st->n_referrals : 0,
        st && st->n_referrals ? st->referrals[0]->n_timers : 0,
        st && st->n_referrals ? st->referrals[0]->n_history : 0);
    H_CHECK(raw != NULL && !s_has(raw, rawlen, pseudo, 32) &&
                !s_has(raw, rawlen, cid, 16),
            "the raw LocalResponse holds neither the subject pseudonym nor "
            "the consent_id");
    if (resp)
        kr__v1__local_response__free_unpacked(resp, NULL);
    kr_buf_free(raw);

    json_object *a = s_krctl_coalition(s_gem, NULL, NULL, NULL, &r);
    const char *s = s_find_state(a, hex);
    H_CHECK(
        a != NULL && json_object_array_length(a) == 1 && s_eq(s, "requested") &&
            s_eq(h_json_str(json_object_array_get_idx(a, 0), "timers.0.timer"),
                 "ack"),
        "krctl referrals --coalition --json: requested, the ack timer "
        "(%s)",
        r.code == 0 ? r.out : r.err);
    H_CHECK(r.out != NULL && strstr(r.out, pseudo_hex) == NULL &&
                strstr(r.out, cid_hex) == NULL &&
                strstr(r.out, "subject") == NULL &&
                strstr(r.out, "case_id") == NULL &&
                strstr(r.out, "actor") == NULL,
            "krctl's JSON: no pseudonym, consent, case or actor");
    json_object_put(a);
    h_run_free(&r);

    h_note("== JGZ accepts");
    s_status(rid, "received");
    s_status(rid, "accepted");
    a = s_krctl_coalition(s_gem, "--state", "accepted", NULL, &r);
    s = s_find_state(a, hex);
    json_object *e0 = a && json_object_array_length(a) == 1
                          ? json_object_array_get_idx(a, 0)
                          : NULL;
    H_CHECK(s_eq(s, "accepted") && e0 != NULL &&
                s_eq(h_json_str(e0, "history.2.to"), "accepted") &&
                s_eq(h_json_str(e0, "history.2.org"), S_JGZ),
            "the coordinator sees accepted, set by JGZ, with --state "
            "accepted (%s)",
            r.code == 0 ? r.out : r.err);
    json_object_put(a);
    h_run_free(&r);
    a = s_krctl_coalition(s_gem, "--state", "requested", NULL, &r);
    H_CHECK(a != NULL && json_object_array_length(a) == 0,
            "--state requested: none");
    json_object_put(a);
    h_run_free(&r);

    h_note("== paging");
    s_refer(rid2);
    h_hex16(rid2, hex2);
    a = s_krctl_coalition(s_gem, "--limit", "1", NULL, &r);
    const char *first =
        a && json_object_array_length(a) == 1
            ? h_json_str(json_object_array_get_idx(a, 0), "referral_id")
            : NULL;
    const char *more = r.err ? strstr(r.err, "--after ") : NULL;
    char after[33] = "";
    if (more != NULL)
        snprintf(after, sizeof(after), "%.32s", more + 8);
    H_CHECK(s_eq(first, hex) && more != NULL,
            "--limit 1: the first referral, and krctl names the next page "
            "(%s)",
            r.err ? r.err : "");
    json_object_put(a);
    h_run_free(&r);
    a = s_krctl_coalition(s_gem, "--after", after, NULL, &r);
    H_CHECK(a != NULL && json_object_array_length(a) == 1 &&
                s_eq(s_find_state(a, hex2), "requested"),
            "--after: the second referral (%s)", r.code == 0 ? r.out : r.err);
    json_object_put(a);
    h_run_free(&r);

    h_note("== others");
    a = s_krctl_coalition(s_cat, NULL, NULL, NULL, &r);
    H_CHECK(a != NULL && json_object_array_length(a) == 0,
            "a coordinator that no route names: answered, with nothing "
            "(%s)",
            r.code == 0 ? r.out : r.err);
    json_object_put(a);
    h_run_free(&r);

    rc = s_raw_query(s_vl, &raw, &rawlen);
    resp = raw ? kr__v1__local_response__unpack(NULL, rawlen, raw) : NULL;
    H_CHECK(rc == KR_EPERM && resp != NULL && resp->coalition != NULL &&
                resp->coalition->reason == KR__V1__REASON__NOT_AUTHORISED &&
                resp->coalition->n_referrals == 0 && resp->detail != NULL &&
                strstr(resp->detail, "not a coordinator") != NULL,
            "the midwife asking: KR_EPERM, NOT_AUTHORISED, no referrals "
            "(rc %d: %s)",
            rc, resp ? resp->detail : "");
    if (resp)
        kr__v1__local_response__free_unpacked(resp, NULL);
    kr_buf_free(raw);
    a = s_krctl_coalition(s_vl, NULL, NULL, NULL, &r);
    H_CHECK(a == NULL && r.code == 1 && r.err != NULL &&
                strstr(r.err, S_VL " is not a coordinator") != NULL,
            "krctl at the midwife's node: exit 1, 'not a coordinator' (%d "
            "%s)",
            r.code, r.err ? r.err : "");
    h_run_free(&r);

    h_krctl(&r, "--admin", s_c.admin, "audit", "tail", "-n", "200", NULL);
    int refused = 0, served = 0;
    for (char *line = r.out; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        if (strstr(line, "\"coalition.query\"") != NULL) {
            if (strstr(line, S_VL) && strstr(line, "\"refused\""))
                refused++;
            if (strstr(line, S_GEM) && strstr(line, "\"success\""))
                served++;
        }
        line = nl ? nl + 1 : NULL;
    }
    H_CHECK(refused == 2 && served == 6,
            "audited: the midwife's 2 refused queries, the coordinator's 6 "
            "(%d, %d)",
            refused, served);
    h_run_free(&r);

    h_note("== no broker");
    H_REQUIRE(h_broker_stop(&s_c), "the broker stops");
    H_POLL(ok, 20000, s_not_connected());
    H_CHECK(ok, "with the broker down the node says it is not connected");
    h_broker_start(&s_c);
    for (size_t i = 0; i < 4; i++)
        h_node_wait_connected(&s_c, nodes[i], H_CONNECT_MS);
    return h_finish(&s_c);
}
