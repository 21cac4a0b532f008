/* json_map_send.c - a send description (see `krctl send --help`) into a
 * kr.v1.LocalRequest: the clear envelope fields, the sealed referral,
 * referral_status or opaque content, a consent-grant's scope and evidence,
 * and the meldrecht's justification. See json_map.h. The content's
 * builders are in json_map_send_content.c, the consent-grant's in
 * json_map_send_consent.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "json_map_internal.h"
#include "json_map_send_internal.h"
#include "names.h"
#include "util.h"

/*
 * Description -> protobuf
 */

/* libkr runs in other people's processes: out of memory is an answer. */
int
jm_send_oom(char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    return KR_ENOMEM;
}

/* The clear envelope fields of the description. */
static int
s_parse_envelope(json_object *in, uint64_t now_ms, struct jm_send *b, char *err,
                 size_t errlen)
{
    Kr__V1__SendRequest *sr = &b->send;
    const char *s;
    int rc, e;

    e = KR__V1__MESSAGE_TYPE__REFERRAL;
    if ((rc = jm_get_enum(in, "", "type", 0, message_type_parse,
                          "referral, referral-status, supplement, handover, "
                          "subject-link, signal, communication, "
                          "consent-grant, consent-revoke, erasure-request",
                          &e, err, errlen)) != KR_OK)
        return rc;
    sr->type = (Kr__V1__MessageType)e;

    s = NULL;
    if ((rc = jm_get_str(in, "", "recipient", 1, KR_ORG_ID_MAX, &s, err,
                         errlen)) != KR_OK)
        return rc;
    if (!util_org_id_valid(s))
        return jm_fail(err, errlen, "", "recipient",
                       "not an organisation id (ura:, agb:, kvk: or oin: "
                       "and digits)");
    sr->recipient = (char *)s;

    if ((rc = jm_get_id(in, "", "msg_id", b->msg_id, &sr->msg_id, err,
                        errlen)) != KR_OK ||
        (rc = jm_get_id(in, "", "referral_id", b->referral_id, &sr->referral_id,
                        err, errlen)) != KR_OK ||
        (rc = jm_get_id(in, "", "case_id", b->case_id, &sr->case_id, err,
                        errlen)) != KR_OK ||
        (rc = jm_get_id(in, "", "in_reply_to", b->in_reply_to, &sr->in_reply_to,
                        err, errlen)) != KR_OK)
        return rc;

    s = NULL;
    if ((rc = jm_get_str(in, "", "subject_bsn", 0, 9, &s, err, errlen)) !=
        KR_OK)
        return rc;
    if (s != NULL && !kcrypto_bsn_valid(s))
        return jm_fail(err, errlen, "", "subject_bsn",
                       "not a BSN (9 digits that pass the eleven-test)");
    if (s != NULL)
        sr->subject_bsn = (char *)s;

    s = NULL;
    if ((rc = jm_get_code(in, "", "purpose", 0, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL)
        sr->purpose = (char *)s;
    e = 0;
    if ((rc = jm_get_enum(in, "", "data_category", 0, data_category_parse,
                          "medisch, sociaal", &e, err, errlen)) != KR_OK)
        return rc;
    sr->data_category = (Kr__V1__DataCategory)e;
    e = 0;
    if ((rc = jm_get_enum(in, "", "legal_basis", 0, legal_basis_parse,
                          "consent, meldrecht", &e, err, errlen)) != KR_OK)
        return rc;
    sr->legal_basis = (Kr__V1__LegalBasis)e;

    if ((rc = jm_get_id(in, "", "consent_id", b->consent_id, &sr->consent_id,
                        err, errlen)) != KR_OK)
        return rc;

    e = 0;
    if ((rc = jm_get_enum(in, "", "priority", 0, priority_parse,
                          "routine, urgent", &e, err, errlen)) != KR_OK)
        return rc;
    sr->priority = (Kr__V1__Priority)e;

    s = NULL;
    if ((rc = jm_get_str(in, "", "not_after", 0, 32, &s, err, errlen)) != KR_OK)
        return rc;
    if (s != NULL) {
        rc = json_map_relative_parse(s, now_ms, 0, &sr->not_after_ms);
        if (rc == KR_ENOTFOUND)
            rc = json_map_time_parse(s, &sr->not_after_ms);
        if (rc != KR_OK)
            return jm_fail(err, errlen, "", "not_after",
                           "not an ISO 8601 UTC time such as "
                           "2026-12-31T00:00:00Z, nor a day relative to "
                           "today (today+90d)");
        if (sr->not_after_ms <= now_ms)
            return jm_fail(err, errlen, "", "not_after", "lies in the past");
    }

    s = NULL;
    if ((rc = jm_get_str(in, "", "actor_ref", 0, JM_ACTOR_REF_MAX, &s, err,
                         errlen)) != KR_OK)
        return rc;
    if (s != NULL) {
        sr->actor_ref.data = (uint8_t *)s;
        sr->actor_ref.len = strlen(s);
    }
    return KR_OK;
}

/* The meldrecht's sealed justification: required with that legal basis,
 * and only there (elsewhere it would be sealed text nobody asked for). */
static int
s_parse_justification(json_object *in, struct jm_send *b, char *err,
                      size_t errlen)
{
    const char *s = NULL;
    int rc;

    if ((rc = jm_get_str(in, "", "justification", 0, JM_TEXT_MAX, &s, err,
                         errlen)) != KR_OK)
        return rc;
    if (b->send.legal_basis != KR__V1__LEGAL_BASIS__MELDRECHT) {
        if (s != NULL)
            return jm_fail(err, errlen, "", "justification",
                           "only with legal_basis meldrecht");
        return KR_OK;
    }
    if (s == NULL || *s == '\0')
        return jm_fail(err, errlen, "", "justification",
                       s == NULL ? "missing (meldrecht needs one)"
                                 : "empty (meldrecht needs one)");
    b->content.justification = (char *)s;
    return KR_OK;
}

int
json_map_send_parse(json_object *in, uint64_t now_ms, uint8_t **req,
                    size_t *req_len, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",
                                       "recipient",
                                       "msg_id",
                                       "referral_id",
                                       "case_id",
                                       "in_reply_to",
                                       "subject_bsn",
                                       "purpose",
                                       "data_category",
                                       "legal_basis",
                                       "consent_id",
                                       "priority",
                                       "not_after",
                                       "actor_ref",
                                       "referral",
                                       "opaque",
                                       "referral_status",
                                       "handover",
                                       "consent_scope",
                                       "consent_evidence",
                                       "justification",
                                       NULL};
    struct jm_send *b;
    int rc;

    *req = NULL;
    *req_len = 0;
    if (in == NULL || !json_object_is_type(in, json_type_object))
        return jm_fail(err, errlen, NULL, NULL,
                       "wrong type: expected an object, got %s",
                       in == NULL ? "null" : jm_type_name(in));
    if ((b = calloc(1, sizeof(*b))) == NULL)
        return jm_send_oom(err, errlen);
    kr__v1__local_request__init(&b->lreq);
    kr__v1__send_request__init(&b->send);
    kr__v1__content__init(&b->content);
    kr__v1__referral__init(&b->referral);
    kr__v1__person__init(&b->mother);
    kr__v1__address__init(&b->address);
    kr__v1__professional__init(&b->referrer);
    kr__v1__referral_status__init(&b->status);
    kr__v1__professional__init(&b->contact);
    kr__v1__handover__init(&b->handover);
    kr__v1__professional__init(&b->responsible);
    kr__v1__consent_scope__init(&b->scope);
    kr__v1__consent_evidence__init(&b->evidence);

    if ((rc = jm_check_keys(in, "", keys, err, errlen)) != KR_OK ||
        (rc = s_parse_envelope(in, now_ms, b, err, errlen)) != KR_OK ||
        (rc = jm_send_grant(in, now_ms, b, err, errlen)) != KR_OK ||
        (rc = jm_send_content(in, b, err, errlen)) != KR_OK ||
        (rc = s_parse_justification(in, b, err, errlen)) != KR_OK)
        goto done;
    if (b->send.type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE &&
        b->send.consent_id.len == 0) {
        rc = jm_fail(err, errlen, "", "consent_id",
                     "missing (a consent-revoke names the consent)");
        goto done;
    }
    /* A referral is what consent is checked against: without purpose,
     * category and basis the broker can only refuse it. Say so now. */
    if (b->send.type == KR__V1__MESSAGE_TYPE__REFERRAL) {
        if (b->send.purpose == NULL || *b->send.purpose == '\0')
            rc = jm_fail(err, errlen, "", "purpose",
                         "missing (a referral needs one)");
        else if (b->send.data_category == 0)
            rc = jm_fail(err, errlen, "", "data_category",
                         "missing (a referral needs one)");
        else if (b->send.legal_basis == 0)
            rc = jm_fail(err, errlen, "", "legal_basis",
                         "missing (a referral needs one)");
        if (rc != KR_OK)
            goto done;
    }

    /* A revocation needs no words: its content may be just the version
     * (the node refuses empty content, which would seal nothing). */
    if (b->content.body_case != KR__V1__CONTENT__BODY__NOT_SET ||
        *b->content.justification != '\0' ||
        b->send.type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE) {
        b->content.version = KR__V1__VERSION__VERSION_1;
        b->content_len = kr__v1__content__get_packed_size(&b->content);
        b->content_buf = malloc(b->content_len > 0 ? b->content_len : 1);
        if (b->content_buf == NULL) {
            rc = jm_send_oom(err, errlen);
            goto done;
        }
        kr__v1__content__pack(&b->content, b->content_buf);
        b->send.content.data = b->content_buf;
        b->send.content.len = b->content_len;
    }
    b->lreq.version = KR__V1__VERSION__VERSION_1;
    b->lreq.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    b->lreq.send = &b->send;
    *req_len = kr__v1__local_request__get_packed_size(&b->lreq);
    if ((*req = malloc(*req_len > 0 ? *req_len : 1)) == NULL) {
        *req_len = 0;
        rc = jm_send_oom(err, errlen);
        goto done;
    }
    kr__v1__local_request__pack(&b->lreq, *req);
    rc = KR_OK;
done:
    if (b->content_buf != NULL) {
        /* It holds the BSN and the rest in plain text. */
        explicit_bzero(b->content_buf, b->content_len);
        free(b->content_buf);
    }
    free(b->reason_codes);
    free(b);
    return rc;
}
