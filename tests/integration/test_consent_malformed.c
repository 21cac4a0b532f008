/*
 * test_consent_malformed.c - malformed consent messages are refused with the
 * reason and a detail that says what is wrong; a grant whose envelope
 * names another subject, key version or purpose than its scope (or none)
 * is refused invalid-scope and records nothing; the consent.granted record
 * of one that agrees names the scope's subject, purpose and category.
 *
 * Each test of the consent gate (harness_consent.h) runs in a fresh
 * cluster of its own, with subjects (BSNs) of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "harness_consent.h"
#include "names.h"
#include "util.h"

/*
 * Malformed consent messages.
 */

static void
s_part_malformed(void)
{
    char bsn[10];
    uint8_t cid[16], gid[16], id[16], rid[16];
    struct h_consent g = {0};
    int rc;

    h_note("== malformed consent messages");
    h_bsn(7, bsn);
    kr_client_t *kv = h_node_client(&hc.c, hc.vl);
    uint64_t now = util_now_ms();

    /* Missing scope: the node refuses to send it at all. */
    {
        Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
        Kr__V1__SendRequest sr = KR__V1__SEND_REQUEST__INIT;
        Kr__V1__Content c = KR__V1__CONTENT__INIT;
        Kr__V1__ConsentEvidence ev = KR__V1__CONSENT_EVIDENCE__INIT;
        uint8_t content[256], buf[1024];
        ev.given_on = "2026-11-23";
        c.version = KR__V1__VERSION__VERSION_1;
        c.body_case = KR__V1__CONTENT__BODY_CONSENT_EVIDENCE;
        c.consent_evidence = &ev;
        sr.type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT;
        sr.recipient = HC_JGZ_ORG;
        sr.subject_bsn = bsn;
        sr.content.data = content;
        sr.content.len = kr__v1__content__pack(&c, content);
        req.version = KR__V1__VERSION__VERSION_1;
        req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
        req.send = &sr;
        size_t len = kr__v1__local_request__pack(&req, buf);
        rc = kr_send(kv, buf, len, id);
        H_CHECK(rc == KR_EINVAL,
                "consent grant without a scope: the node refuses it (%s)",
                kr_strerror(rc));
    }
    /* ... and a raw one reaches the broker, which refuses it. */
    {
        struct h_wire w;
        kr_pubkeys_t jgz_pub;
        char pub[H_PATH + 32];
        uint8_t content[64], wid[16], wcid[16];
        Kr__V1__Content c = KR__V1__CONTENT__INIT;
        static const char note[] = "consent";
        c.version = KR__V1__VERSION__VERSION_1;
        c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
        c.opaque.data = (uint8_t *)note;
        c.opaque.len = sizeof(note) - 1;
        size_t clen = kr__v1__content__pack(&c, content);
        H_ENSURE(kcrypto_pubkeys_load(
                     h_public_path(hc.c.nodes[hc.jgz].keys, pub, sizeof(pub)),
                     &jgz_pub) == KR_OK,
                 "load JGZ's public keys");
        util_random_id(wcid);
        hc_wire_open(&w, "grant without scope");
        struct h_env_spec spec = {.sender = HC_TESTER_ORG,
                                  .recipient = HC_JGZ_ORG,
                                  .rcpt = &jgz_pub,
                                  .content = content,
                                  .content_len = clen,
                                  .type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT,
                                  .consent_id = wcid};
        const struct h_wire_receipt *r =
            hc_wire_submit(&w, &spec, HC_ANY_OUTCOME, wid);
        H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__REFUSED &&
                    r->reason == KR__V1__REASON__MISSING_FIELD &&
                    strstr(r->detail, "consent_scope") != NULL,
                "raw consent grant without consent_scope: refused "
                "missing-field, \"%s\" (got %s %s)",
                r ? r->detail : "", r ? outcome_name(r->outcome) : "nothing",
                r ? reason_name(r->reason) : "");
        h_wire_close(&w);
    }

    /* valid_until before valid_from. */
    g.recipient = HC_JGZ_ORG;
    g.bsn = bsn;
    g.from_org = HC_VL_ORG;
    g.to_org = HC_JGZ_ORG;
    g.from_ms = now + HC_DAY_MS;
    g.until_ms = now - HC_DAY_MS;
    rc = h_send_consent(kv, &g, cid, gid);
    H_REQUIRE(rc == KR_OK,
              "the node sends a grant whose period ends "
              "before it begins (%s)",
              kr_strerror(rc));
    hc_expect(hc.vl, gid, KR__V1__OUTCOME__REFUSED,
              KR__V1__REASON__INVALID_SCOPE, "valid_until",
              "until before from");

    /* An organisation category that does not exist. */
    g.to_org = NULL;
    g.to_category = 99;
    g.from_ms = now - 3600 * 1000ull;
    g.until_ms = now + HC_DAY_MS;
    rc = h_send_consent(kv, &g, cid, gid);
    if (rc == KR_EINVAL) {
        H_CHECK(true, "unknown category 99: the node refuses the grant (%s)",
                kr_strerror(rc));
    } else {
        H_REQUIRE(rc == KR_OK, "the node sends a grant to category 99 (%s)",
                  kr_strerror(rc));
        hc_expect(hc.vl, gid, KR__V1__OUTCOME__REFUSED,
                  KR__V1__REASON__INVALID_SCOPE, "category",
                  "unknown category 99");
    }

    /* A revoke for a consent that does not exist. */
    util_random_id(cid);
    rc = h_send_revoke(kv, HC_JGZ_ORG, cid, rid);
    H_REQUIRE(rc == KR_OK,
              "the node sends a revoke of an unknown consent "
              "(%s)",
              kr_strerror(rc));
    hc_expect(hc.vl, rid, KR__V1__OUTCOME__REFUSED,
              KR__V1__REASON__UNKNOWN_CONSENT, "no such consent",
              "revoke of an unknown consent");

    /* A revoke by an organisation that is no party to the consent. */
    g.to_org = HC_JGZ_ORG;
    g.to_category = 0;
    rc = h_send_consent(kv, &g, cid, gid);
    H_REQUIRE(rc == KR_OK, "record a consent vl -> jgz (%s)", kr_strerror(rc));
    hc_expect(hc.vl, gid, KR__V1__OUTCOME__DELIVERED, 0, NULL, "its grant");
    rc = h_send_revoke(h_node_client(&hc.c, hc.wt), HC_JGZ_ORG, cid, rid);
    H_REQUIRE(rc == KR_OK, "the wijkteam's node sends a revoke of it (%s)",
              kr_strerror(rc));
    hc_expect(hc.wt, rid, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__NOT_PARTY,
              "not a party", "revoke by a third organisation");

    /* The consent still stands and still covers. */
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW;
    req.consent_show.data = cid;
    req.consent_show.len = 16;
    rc = h_admin(&hc.c, &req, &resp);
    H_CHECK(rc == KR_OK && resp->n_consents == 1 &&
                resp->consents[0]->status ==
                    KR__V1__CONSENT_STATUS__CONSENT_ACTIVE,
            "after the refused revoke the consent is still active (%s)",
            kr_strerror(rc));
    if (resp != NULL)
        kr__v1__admin_response__free_unpacked(resp, NULL);
    struct hc_send s = {.to = HC_JGZ_ORG, .bsn = bsn, .text = "nog geldig"};
    rc = hc_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "send under it (%s)", kr_strerror(rc));
    hc_expect(hc.vl, id, KR__V1__OUTCOME__DELIVERED, 0, NULL,
              "a referral under the consent that a third party tried to "
              "revoke");
}

/* The audit lookup: the consent.granted record of one consent. */
struct s_granted {
    const uint8_t *cid;
    bool found;
    uint8_t pseudonym[32];
    size_t pseudonym_len;
    char purpose[64];
    int data_category;
};

static int
s_find_granted(const Kr__V1__AuditRecord *r, void *arg)
{
    struct s_granted *g = arg;

    if (strcmp(r->event, "consent.granted") != 0 || r->consent_id.len != 16 ||
        memcmp(r->consent_id.data, g->cid, 16) != 0)
        return 0;
    g->found = true;
    g->pseudonym_len = r->subject_pseudonym.len;
    if (r->subject_pseudonym.len == 32)
        memcpy(g->pseudonym, r->subject_pseudonym.data, 32);
    snprintf(g->purpose, sizeof(g->purpose), "%s", r->purpose);
    g->data_category = r->data_category;
    return 0;
}

/* Is consent 'cid' recorded at the broker? */
static bool
s_consent_recorded(const uint8_t cid[16])
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *resp = NULL;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW;
    req.consent_show.data = (uint8_t *)cid;
    req.consent_show.len = 16;
    int rc = h_admin(&hc.c, &req, &resp);
    bool found = rc == KR_OK && resp != NULL && resp->n_consents == 1;
    if (resp != NULL)
        kr__v1__admin_response__free_unpacked(resp, NULL);
    return found;
}

static void
s_part_grant_envelope(void)
{
    struct h_wire w;
    kr_pubkeys_t jgz_pub;
    char pub[H_PATH + 32];
    uint8_t content[64], id[16], cid[16], p_scope[32], p_other[32];
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    static const char note[] = "evidence";
    const unsigned mask =
        (1u << KR__V1__OUTCOME__ACCEPTED) | (1u << KR__V1__OUTCOME__REFUSED);
    uint64_t now = util_now_ms();

    h_note("== a grant's envelope must agree with its scope");
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
    c.opaque.data = (uint8_t *)note;
    c.opaque.len = sizeof(note) - 1;
    size_t clen = kr__v1__content__pack(&c, content);
    H_ENSURE(kcrypto_pubkeys_load(
                 h_public_path(hc.c.nodes[hc.jgz].keys, pub, sizeof(pub)),
                 &jgz_pub) == KR_OK,
             "load JGZ's public keys");
    randombytes_buf(p_scope, sizeof(p_scope));
    randombytes_buf(p_other, sizeof(p_other));
    sc.subject_pseudonym.data = p_scope;
    sc.subject_pseudonym.len = 32;
    sc.subject_key_version = 1;
    sc.purpose = "prenataal-huisbezoek";
    sc.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    sc.from_org = HC_TESTER_ORG;
    sc.to_org = HC_JGZ_ORG;
    sc.valid_from_ms = now - 3600 * 1000ull;
    sc.valid_until_ms = now + HC_DAY_MS;
    sc.grantor = KR__V1__GRANTOR__SELF;
    hc_wire_open(&w, "grant envelope");

    struct {
        const char *what;
        const uint8_t *pseudonym;
        uint32_t key_version;
        const char *purpose;
        const char *field; /* in the refusal's detail, or NULL: accepted */
    } cases[] = {
        {"another subject in the envelope", p_other, 1, NULL,
         "subject_pseudonym"},
        {"no subject in the envelope", NULL, 0, NULL, "subject_pseudonym"},
        {"another key version", p_scope, 2, NULL, "subject_key_version"},
        {"another purpose", p_scope, 1, "nu-niet-zwanger", "purpose"},
        {"envelope and scope agree", p_scope, 1, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        util_random_id(cid);
        sc.consent_id.data = cid;
        sc.consent_id.len = 16;
        struct h_env_spec spec = {.sender = HC_TESTER_ORG,
                                  .recipient = HC_JGZ_ORG,
                                  .rcpt = &jgz_pub,
                                  .content = content,
                                  .content_len = clen,
                                  .type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT,
                                  .consent_id = cid,
                                  .scope = &sc,
                                  .subject_pseudonym = cases[i].pseudonym,
                                  .subject_key_version = cases[i].key_version,
                                  .purpose = cases[i].purpose};
        const struct h_wire_receipt *r = hc_wire_submit(&w, &spec, mask, id);
        if (cases[i].field != NULL) {
            H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__REFUSED &&
                        r->reason == KR__V1__REASON__INVALID_SCOPE &&
                        strstr(r->detail, cases[i].field) != NULL,
                    "grant with %s: refused invalid-scope naming %s "
                    "(got %s %s \"%s\")",
                    cases[i].what, cases[i].field,
                    r ? outcome_name(r->outcome) : "nothing",
                    r ? reason_name(r->reason) : "", r ? r->detail : "");
            H_CHECK(!s_consent_recorded(cid), "grant with %s: nothing recorded",
                    cases[i].what);
            continue;
        }
        H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__ACCEPTED,
                "grant with %s: accepted (got %s %s \"%s\")", cases[i].what,
                r ? outcome_name(r->outcome) : "nothing",
                r ? reason_name(r->reason) : "", r ? r->detail : "");
        H_CHECK(s_consent_recorded(cid), "grant with %s: recorded",
                cases[i].what);
        struct s_granted g = {.cid = cid};
        H_CHECK(h_audit_foreach(&hc.c, 0, s_find_granted, &g) == KR_OK &&
                    g.found && g.pseudonym_len == 32 &&
                    memcmp(g.pseudonym, p_scope, 32) == 0 &&
                    strcmp(g.purpose, sc.purpose) == 0 &&
                    g.data_category == (int)sc.data_category,
                "consent.granted audit record names the scope's subject, "
                "purpose and category (found %d, purpose '%s')",
                g.found, g.purpose);
    }
    h_wire_close(&w);
}

int
main(void)
{
    hc_setup("test_consent_malformed", 180);
    s_part_malformed();
    s_part_grant_envelope();
    return hc_finish();
}
