/*
 * json_map_send_internal.h - what the parts of the send description's
 * parse share (json_map_send*.c). Not for use outside them.
 */
#ifndef KR_JSON_MAP_SEND_INTERNAL_H
#define KR_JSON_MAP_SEND_INTERNAL_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "json_map.h"

/* Everything the protobuf structures of one send point to. Strings are
 * borrowed from the JSON object, which outlives the packing. */
struct jm_send {
    Kr__V1__LocalRequest lreq;
    Kr__V1__SendRequest send;
    Kr__V1__Content content;
    Kr__V1__Referral referral;
    Kr__V1__Person mother;
    Kr__V1__Address address;
    Kr__V1__Professional referrer;
    Kr__V1__ReferralStatus status;
    Kr__V1__Professional contact;
    Kr__V1__ConsentScope scope;
    Kr__V1__ConsentEvidence evidence;
    Kr__V1__Handover handover;
    Kr__V1__Professional responsible;
    uint8_t msg_id[KR_ID_LEN];
    uint8_t referral_id[KR_ID_LEN];
    uint8_t case_id[KR_ID_LEN];
    uint8_t in_reply_to[KR_ID_LEN];
    uint8_t consent_id[KR_ID_LEN];
    uint8_t scope_consent_id[KR_ID_LEN];
    uint8_t supersedes[KR_ID_LEN];
    char **reason_codes;  /* malloc'd array of borrowed strings */
    uint8_t *content_buf; /* the packed Content, holds the BSN */
    size_t content_len;
};

/* Out of memory: KR_ENOMEM, said in err. */
int jm_send_oom(char *err, size_t errlen);
/* The sealed part: "referral", "handover", "referral_status" or "opaque",
 * and the subject's BSN (json_map_send_content.c). */
int jm_send_content(json_object *in, struct jm_send *b, char *err,
                    size_t errlen);
/* A consent-grant's scope and evidence; for other types, that there are
 * none (json_map_send_consent.c). */
int jm_send_grant(json_object *in, uint64_t now_ms, struct jm_send *b,
                  char *err, size_t errlen);

#endif
