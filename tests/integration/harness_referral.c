/*
 * harness_referral.c - what the referral tests share (harness_referral.h).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_referral.h"
#include "util.h"

struct hr_test hr;

static void
s_consents(void)
{
    static const char *const purposes[] = {
        "prenataal-huisbezoek", "nu-niet-zwanger", "opvoedondersteuning",
        "overdracht-jgz"};
    uint64_t now = util_now_ms();

    for (size_t i = 0; i < 4; i++) {
        struct h_consent g = {0};
        uint8_t msg_id[16];
        bool ok;
        g.recipient = HR_JGZ;
        g.bsn = hr.ref.bsn;
        g.purpose = purposes[i];
        g.from_org = HR_VL;
        g.to_category = KR__V1__ORG_CATEGORY__JGZ;
        g.from_ms = now - 3600000;
        g.until_ms = now + 365ull * 86400000;
        H_REQUIRE(h_send_consent(h_node_client(&hr.c, hr.vl), &g,
                                 i == 0 ? hr.cid_phb : NULL, msg_id) == KR_OK,
                  "consent for %s", purposes[i]);
        H_POLL(ok, 20000,
               h_outcome(h_node_client(&hr.c, hr.vl), msg_id) >=
                   KR__V1__OUTCOME__ACCEPTED);
        H_REQUIRE(ok, "the broker accepts the consent for %s", purposes[i]);
    }
}

void
hr_setup(const char *name, int budget_s)
{
    char routes[H_PATH + 32], text[1024];

    h_init(name, budget_s);
    h_referral_default(&hr.ref);
    h_cluster_init(&hr.c, name);
    snprintf(routes, sizeof(routes), "%s/routes.ini", hr.c.tmp);
    snprintf(text, sizeof(text),
             "# routes of a test coalition\n"
             "[route prenataal-huisbezoek]\n"
             "from = verloskunde\n"
             "to = jgz\n"
             "data_category = medisch\n"
             "coordinator = %s\n"
             "\n"
             "[route nu-niet-zwanger]\n"
             "from = verloskunde\n"
             "to = jgz\n"
             "coordinator = %s\n"
             "t_ack = 2 seconds\n"
             "t_decide = 3 seconds, 4 seconds\n"
             "t_contact = 1 second\n"
             "\n"
             "[route overdracht-jgz]\n"
             "from = verloskunde\n"
             "to = jgz\n"
             "coordinator = %s\n"
             "t_handover = 8 seconds, 9 seconds, 10 seconds\n",
             HR_COORD, HR_COORD, HR_COORD);
    H_REQUIRE(h_write_file(routes, text, 0600) == KR_OK, "write routes");
    h_broker_set(&hr.c, "routes", routes);
    h_broker_start(&hr.c);
    hr.vl = h_org_add(&hr.c, "vl", HR_VL, "verloskunde", "Praktijk De Wieg");
    hr.jgz = h_org_add(&hr.c, "jgz", HR_JGZ, "jgz", "JGZ Utrecht");
    h_org_add(&hr.c, "jgz2", HR_JGZ2, "jgz", "JGZ Elders");
    hr.coord = h_org_add(&hr.c, "coord", HR_COORD, "coordinator", "Coalitie");
    hr.wt = h_org_add(&hr.c, "wt", HR_WT, "wijkteam", "Wijkteam Noord");
    int nodes[] = {hr.vl, hr.jgz, hr.coord, hr.wt};
    for (size_t i = 0; i < 4; i++)
        h_node_start(&hr.c, nodes[i]);
    for (size_t i = 0; i < 4; i++)
        if (!h_node_wait_connected(&hr.c, nodes[i], H_CONNECT_MS))
            h_abort();
    s_consents();
}

int
hr_send(kr_client_t *kc, const struct hr_msg *m, uint8_t msg_id[16])
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__ReferralStatus rs = KR__V1__REFERRAL_STATUS__INIT;
    uint8_t *content = NULL;
    size_t clen = 0;
    int rc;

    s.type = m->type;
    s.recipient = (char *)m->to;
    s.purpose = (char *)(m->purpose ? m->purpose : "prenataal-huisbezoek");
    s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.priority = KR__V1__PRIORITY__ROUTINE;
    if (m->referral_id != NULL)
        s.referral_id = (ProtobufCBinaryData){16, (uint8_t *)m->referral_id};
    if (m->case_id != NULL)
        s.case_id = (ProtobufCBinaryData){16, (uint8_t *)m->case_id};
    c.version = KR__V1__VERSION__VERSION_1;
    if (m->type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        if ((rc = h_content_pack(&hr.ref, &content, &clen)) != KR_OK)
            return rc;
        s.subject_bsn = (char *)hr.ref.bsn;
    } else {
        if (m->type == KR__V1__MESSAGE_TYPE__REFERRAL_STATUS) {
            rs.status = (char *)(m->status ? m->status : "");
            rs.status_reason = (char *)(m->reason ? m->reason : "");
            rs.outcome = (char *)(m->outcome ? m->outcome : "");
            rs.note = "Fictief: de verpleegkundige belt eerst.";
            c.body_case = KR__V1__CONTENT__BODY_REFERRAL_STATUS;
            c.referral_status = &rs;
            s.task_status = m->raw_task_status;
        } else {
            c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
            c.opaque = (ProtobufCBinaryData){5, (uint8_t *)"extra"};
            s.subject_bsn = (char *)hr.ref.bsn;
        }
        clen = kr__v1__content__get_packed_size(&c);
        content = malloc(clen);
        kr__v1__content__pack(&c, content);
    }
    s.content = (ProtobufCBinaryData){clen, content};
    rc = h_send_request(kc, &s, msg_id);
    free(content);
    return rc;
}

/* Send and wait for delivered or refused; the fate. */
struct h_fate
hr_do(int node, const struct hr_msg *m, uint8_t msg_id[16])
{
    kr_client_t *kc = h_node_client(&hr.c, node);

    int rc = hr_send(kc, m, msg_id);
    H_REQUIRE(rc == KR_OK, "the node takes the message (%s)", kr_strerror(rc));
    return h_fate_wait(kc, msg_id);
}

struct h_fate
hr_status(int node, const char *to, const uint8_t rid[16], const char *status,
          const char *reason, const char *outcome)
{
    uint8_t id[16];
    struct hr_msg m = {.type = KR__V1__MESSAGE_TYPE__REFERRAL_STATUS,
                       .to = to,
                       .referral_id = rid,
                       .status = status,
                       .reason = reason,
                       .outcome = outcome};
    return hr_do(node, &m, id);
}

/* `krctl referral show ID --json` at the broker, parsed (NULL if none). */
json_object *
hr_broker_referral(const uint8_t rid[16])
{
    struct h_run r;
    char hex[33];

    h_krctl(&r, "--admin", hr.c.admin, "referral", "show", h_hex16(rid, hex),
            "--json", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    h_run_free(&r);
    return o;
}

const char *
hr_broker_state(const uint8_t rid[16], char *buf, size_t len)
{
    json_object *o = hr_broker_referral(rid);
    const char *s = o ? h_json_str(o, "state") : NULL;

    snprintf(buf, len, "%s", s ? s : "(none)");
    json_object_put(o);
    return buf;
}

/* The referral's state as a node keeps it (`krctl --node ... referral
 * show --json`), into buf ("(none)" if it has none). */
const char *
hr_node_state(int node, const uint8_t rid[16], char *buf, size_t len)
{
    struct h_run r;
    char hex[33];

    h_krctl(&r, "--node", hr.c.nodes[node].local, "referral", "show",
            h_hex16(rid, hex), "--json", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    const char *st = o ? h_json_str(o, "state") : NULL;
    snprintf(buf, len, "%s", st ? st : "(none)");
    json_object_put(o);
    h_run_free(&r);
    return buf;
}

void
hr_expect_state(const uint8_t rid[16], const char *want, size_t history,
                const char *what)
{
    char a[32] = "", b[32] = "";
    bool same;

    /* Both nodes keep the same state: the sender's from the broker's
     * ACCEPTED, the recipient's from the delivery (and notices, which may
     * still be on their way: hence the wait). */
    H_POLL(same, 10000,
           strcmp(hr_node_state(hr.vl, rid, a, sizeof(a)), want) == 0 &&
               strcmp(hr_node_state(hr.jgz, rid, b, sizeof(b)), want) == 0);
    H_CHECK(same, "%s: both nodes say %s (vl %s, jgz %s)", what, want, a, b);
    json_object *o = hr_broker_referral(rid);
    const char *st = o ? h_json_str(o, "state") : NULL;
    json_object *h = o ? h_json_path(o, "history") : NULL;
    size_t n = h ? json_object_array_length(h) : 0;

    H_CHECK(st != NULL && strcmp(st, want) == 0 && n == history,
            "%s: the broker's record says %s with %zu steps (%s, %zu)", what,
            want, history, st ? st : "none", n);
    json_object_put(o);
}

/* A new referral from vl to 'to' under 'purpose': its referral_id. */
struct h_fate
hr_open(const char *to, const char *purpose, uint8_t rid[16])
{
    uint8_t id[16];
    struct hr_msg m = {
        .type = KR__V1__MESSAGE_TYPE__REFERRAL, .to = to, .purpose = purpose};
    struct h_fate f = hr_do(hr.vl, &m, id);
    memcpy(rid, f.referral_id, 16);
    return f;
}
