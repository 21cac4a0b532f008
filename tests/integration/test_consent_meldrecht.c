/*
 * test_consent_meldrecht.c - meldrecht: towards Veilig Thuis with a
 * justification it passes without consent (audited noodknop); towards JGZ, or
 * without a justification, it is refused (by the node, and by the broker for a
 * raw envelope).
 *
 * Each test of the consent gate (harness_consent.h) runs in a fresh
 * cluster of its own, with subjects (BSNs) of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_consent.h"
#include "names.h"
#include "util.h"

/*
 * Meldrecht.
 */

static const char s_justif[] =
    "Acute zorgen over de veiligheid van moeder en kind; overleg met "
    "aandachtsfunctionaris gevoerd, toestemming vragen brengt hen in gevaar.";

static void
s_part_meldrecht(void)
{
    char bsn[10];
    uint8_t id[16];
    struct hc_in in;
    int rc;

    h_note("== meldrecht towards Veilig Thuis");
    h_bsn(6, bsn); /* a subject without any consent */
    kr_client_t *kv = h_node_client(&hc.c, hc.vl);
    struct hc_send s = {.to = HC_VT_ORG,
                        .bsn = bsn,
                        .legal_basis = KR__V1__LEGAL_BASIS__MELDRECHT,
                        .justif = s_justif,
                        .text = "melding"};
    rc = hc_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK,
              "the node takes a meldrecht referral with a "
              "justification (%s)",
              kr_strerror(rc));
    hc_expect(hc.vl, id, KR__V1__OUTCOME__DELIVERED, 0, NULL,
              "meldrecht to Veilig Thuis without consent");
    unsigned n = hc_in_count(hc.vt, id, &in);
    H_CHECK(n == 1 && in.legal_basis == KR__V1__LEGAL_BASIS__MELDRECHT &&
                strcmp(in.justif, s_justif) == 0,
            "Veilig Thuis holds it once, legal basis meldrecht, with the "
            "justification as written (%u)",
            n);
    struct hc_aud a;
    memset(&a, 0, sizeof(a));
    a.msg_id = id;
    rc = h_audit_foreach(&hc.c, 0, hc_aud_one, &a);
    H_CHECK(rc == KR_OK && a.found && a.noodknop &&
                a.legal_basis == KR__V1__LEGAL_BASIS__MELDRECHT,
            "audit: message.accepted with noodknop=true, legal basis "
            "meldrecht (found %d, noodknop %d, check \"%s\")",
            a.found, a.noodknop, a.check);

    /* Towards JGZ the meldrecht does not apply, consent or not. */
    s.to = HC_JGZ_ORG;
    rc = hc_send(kv, &s, id);
    H_REQUIRE(rc == KR_OK, "the node takes a meldrecht referral to JGZ (%s)",
              kr_strerror(rc));
    hc_expect(hc.vl, id, KR__V1__OUTCOME__REFUSED, KR__V1__REASON__NO_CONSENT,
              "veilig-thuis", "meldrecht to JGZ");
    H_CHECK(hc_in_count(hc.jgz, id, &in) == 0,
            "meldrecht to JGZ: nothing reached JGZ");

    /* Without a justification the node refuses the send itself. */
    uint8_t want[16];
    util_random_id(want);
    s.to = HC_VT_ORG;
    s.justif = NULL;
    s.msg_id_in = want;
    rc = hc_send(kv, &s, id);
    H_CHECK(rc == KR_EINVAL,
            "meldrecht without a justification: the node refuses the send "
            "(%s)",
            kr_strerror(rc));
    struct hc_out o;
    H_CHECK(!hc_out_get(hc.vl, want, &o),
            "and keeps nothing of it in its outbox (%u)", o.n);

    /* A raw envelope without the digest: the broker refuses it. */
    struct h_wire w;
    kr_pubkeys_t vt_pub;
    char pub[H_PATH + 32];
    uint8_t *content = NULL, digest[32], pseudo[32];
    size_t clen = 0;
    kr_coalition_key_t *ck = NULL;
    H_ENSURE(kcrypto_pubkeys_load(
                 h_public_path(hc.c.nodes[hc.vt].keys, pub, sizeof(pub)),
                 &vt_pub) == KR_OK,
             "load Veilig Thuis's public keys");
    H_ENSURE(kcrypto_coalition_key_load(hc.c.coalition, &ck) == KR_OK &&
                 kcrypto_pseudonym(ck, bsn, pseudo) == KR_OK,
             "the subject's pseudonym");
    kcrypto_coalition_key_destroy(&ck);
    struct hc_send sc = {.bsn = bsn, .justif = s_justif, .text = "rauw"};
    H_ENSURE(hc_content(&sc, &content, &clen) == KR_OK, "content");
    kcrypto_hash((const uint8_t *)s_justif, strlen(s_justif), digest);
    hc_wire_open(&w, "meldrecht");
    struct h_env_spec spec = {.sender = HC_TESTER_ORG,
                              .recipient = HC_VT_ORG,
                              .rcpt = &vt_pub,
                              .content = content,
                              .content_len = clen,
                              .type = KR__V1__MESSAGE_TYPE__REFERRAL,
                              .legal_basis = KR__V1__LEGAL_BASIS__MELDRECHT,
                              .subject_pseudonym = pseudo};
    const struct h_wire_receipt *r =
        hc_wire_submit(&w, &spec, HC_ANY_OUTCOME, id);
    H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__REFUSED &&
                r->reason == KR__V1__REASON__NO_CONSENT,
            "raw meldrecht envelope without justification_digest: refused "
            "no-consent (got %s %s)",
            r ? outcome_name(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "");
    H_CHECK(r != NULL && strstr(r->detail, "justification") != NULL,
            "its detail says why: \"%s\"", r ? r->detail : "");
    /* The control: the same with the digest passes, so the refusal above
     * was the missing digest's. */
    spec.justification_digest = digest;
    r = hc_wire_submit(&w, &spec,
                       (1u << KR__V1__OUTCOME__ACCEPTED) |
                           (1u << KR__V1__OUTCOME__REFUSED),
                       id);
    H_CHECK(r != NULL && r->outcome == KR__V1__OUTCOME__ACCEPTED,
            "control: the same envelope with the digest is accepted (got "
            "%s %s %s)",
            r ? outcome_name(r->outcome) : "no receipt",
            r ? reason_name(r->reason) : "", r ? r->detail : "");
    int i = h_wire_wait_receipt(&w, id, HC_FINAL_MASK, HC_FINAL_MS);
    H_CHECK(i >= 0 && w.receipts[i].outcome == KR__V1__OUTCOME__DELIVERED,
            "control: and delivered to Veilig Thuis, which checks the "
            "digest against the sealed justification (got %s %s)",
            i >= 0 ? outcome_name(w.receipts[i].outcome) : "nothing",
            i >= 0 ? reason_name(w.receipts[i].reason) : "");
    h_wire_close(&w);
    free(content);
}

int
main(void)
{
    hc_setup("test_consent_meldrecht", 180);
    s_part_meldrecht();
    return hc_finish();
}
