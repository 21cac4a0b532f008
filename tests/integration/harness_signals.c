/*
 * harness_signals.c - what the signal tests share (harness_signals.h).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_signals.h"
#include "util.h"

struct hs_test hs;

void
hs_setup(const char *name, int budget_s)
{
    char routes[H_PATH + 32], text[1024];

    h_init(name, budget_s);
    h_cluster_init(&hs.c, name);
    snprintf(routes, sizeof(routes), "%s/routes.ini", hs.c.tmp);
    snprintf(text, sizeof(text),
             "[route signaal]\n"
             "from = jgz, wijkteam, verloskunde\n"
             "to = coordinator\n"
             "coordinator = %s\n"
             "signal_basis = route\n"
             "match_coordinator = yes\n"
             "\n"
             "[route signaal-kort]\n"
             "from = jgz, wijkteam\n"
             "to = coordinator\n"
             "signal_basis = route\n"
             "signal_lifetime = 3 seconds\n"
             "\n"
             "[route signaal-toestemming]\n"
             "from = jgz, wijkteam\n"
             "to = coordinator\n"
             "\n"
             "[route overdracht-jgz]\n"
             "from = verloskunde\n"
             "to = jgz\n",
             HS_COORD);
    H_REQUIRE(h_write_file(routes, text, 0600) == KR_OK, "write routes");
    h_broker_set(&hs.c, "routes", routes);
    h_broker_start(&hs.c);
    hs.vl = h_org_add(&hs.c, "vl", HS_VL, "verloskunde", "Praktijk De Wieg");
    hs.jgz = h_org_add(&hs.c, "jgz", HS_JGZ, "jgz", "JGZ Utrecht");
    hs.coord = h_org_add(&hs.c, "coord", HS_COORD, "coordinator", "Coalitie");
    hs.wt = h_org_add(&hs.c, "wt", HS_WT, "wijkteam", "Wijkteam Noord");
    int nodes[] = {hs.vl, hs.jgz, hs.coord, hs.wt};
    for (size_t i = 0; i < 4; i++)
        h_node_start(&hs.c, nodes[i]);
    for (size_t i = 0; i < 4; i++)
        if (!h_node_wait_connected(&hs.c, nodes[i], H_CONNECT_MS))
            h_abort();
}

void
hs_consent(const char *bsn, bool delivered, const char *what, uint8_t cid[16])
{
    kr_client_t *kc = h_node_client(&hs.c, hs.vl);
    uint64_t now = util_now_ms();
    struct h_consent g = {0};
    int o = -1;
    bool ok;

    g.recipient = HS_JGZ;
    g.bsn = bsn;
    g.purpose = "overdracht-jgz";
    g.from_org = HS_VL;
    g.to_category = KR__V1__ORG_CATEGORY__JGZ;
    g.from_ms = now - 3600000;
    g.until_ms = now + 365ull * 86400000;
    H_REQUIRE(h_send_consent(kc, &g, NULL, cid) == KR_OK,
              "%s: the practice's node takes it", what);
    H_POLL(ok, 20000,
           (o = h_outcome(kc, cid)) == KR__V1__OUTCOME__DELIVERED ||
               (!delivered && o == KR__V1__OUTCOME__ACCEPTED));
    H_REQUIRE(ok, "%s: %s (outcome %d)", what,
              delivered ? "recorded and delivered" : "the broker accepts it",
              o);
}

int
hs_send(int node, const struct hs_msg *m, uint8_t msg_id[16])
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    uint8_t content[64];
    int rc;

    s.type = m->type;
    s.recipient = (char *)(m->to ? m->to : hs.c.nodes[node].org);
    s.purpose = (char *)m->purpose;
    s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.priority = KR__V1__PRIORITY__ROUTINE;
    s.subject_bsn = (char *)(m->bsn ? m->bsn : "");
    s.actor_ref = (ProtobufCBinaryData){6, (uint8_t *)"emp-17"};
    if (m->case_id != NULL)
        s.case_id = (ProtobufCBinaryData){16, (uint8_t *)m->case_id};
    s.signal_withdraw = m->withdraw;
    if (m->signal_id != NULL)
        s.signal_id = (ProtobufCBinaryData){16, (uint8_t *)m->signal_id};
    /* A signal's content is nothing but a marker: the contact stays with
     * the sender (actor_ref). */
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
    c.opaque = (ProtobufCBinaryData){1, (uint8_t *)"-"};
    s.content.len = kr__v1__content__pack(&c, content);
    s.content.data = content;
    rc = h_send_request(h_node_client(&hs.c, node), &s, msg_id);
    return rc;
}

struct h_fate
hs_do(int node, const struct hs_msg *m, uint8_t msg_id[16])
{
    kr_client_t *kc = h_node_client(&hs.c, node);

    int rc = hs_send(node, m, msg_id);
    H_REQUIRE(rc == KR_OK, "the node takes the message (%s)", kr_strerror(rc));
    return h_fate_wait(kc, msg_id);
}

struct h_fate
hs_signal(int node, const char *bsn, const char *purpose, uint8_t id[16])
{
    struct hs_msg m = {.type = KR__V1__MESSAGE_TYPE__SIGNAL,
                       .bsn = bsn,
                       .purpose = purpose ? purpose : "signaal"};
    return hs_do(node, &m, id);
}

static int
s_match_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct hs_matches *m = arg;
    const Kr__V1__Notice *nt = it->notice;

    if (nt == NULL || nt->kind != KR__V1__NOTICE_KIND__NOTICE_MATCH)
        return 0;
    if (m->with != NULL && strcmp(nt->match_org, m->with) != 0 &&
        strcmp(nt->match_with, m->with) != 0)
        return 0;
    m->n++;
    if (nt->family_match)
        m->family++;
    m->fields_ok = it->type == KR__V1__MESSAGE_TYPE__SIGNAL &&
                   nt->match_since_ms > 0 &&
                   nt->match_other_subject.len == 32 && nt->match_category != 0;
    snprintf(m->coord_with, sizeof(m->coord_with), "%s", nt->match_with);
    return 0;
}

struct hs_matches
hs_matches(int node, const char *with)
{
    struct hs_matches m = {.with = with};

    h_inbox_foreach_all(h_node_client(&hs.c, node), s_match_cb, &m);
    return m;
}

int
hs_total(int node)
{
    return hs_matches(node, NULL).n;
}

/* An event among the broker's last audit records. */
bool
hs_audit_has(const char *event)
{
    struct h_run r;
    char needle[96];

    snprintf(needle, sizeof(needle), "\"%s\"", event);
    h_krctl(&r, "--admin", hs.c.admin, "audit", "tail", "-n", "100", NULL);
    bool found = r.code == 0 && r.out != NULL && strstr(r.out, needle) != NULL;
    h_run_free(&r);
    return found;
}
