/*
 * test_fhir_out_answers.c - krfhir's outbound mappers
 * (clients/krfhir/fhir_out*.c) for the gateway's answers beyond a
 * referral's own resources: the Communication a broker's notice becomes
 * (escalation, cancel request), the CapabilityStatement, the
 * $process-message response Bundles, and the searchset; element by
 * element, over the inputs of fhir_fixture.c. (A referral's resources:
 * test_fhir_out.c.)
 *
 *     test_fhir_out_answers                 the checks
 *     test_fhir_out_answers --write DIR     also writes every resource
 *                                           into DIR (NAME.json), for
 *                                           tests/fhir/run.sh to validate
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fhir_in.h"
#include "fhir_out.h"
#include "json_map.h"
#include "kr.h"
#include "local.pb-c.h"
#include "referral_table.h"
#include "util.h"
#include "fhir_fixture.h"

/* A broker's escalation notice, as the node lists it. */
static json_object *
s_notice_item(int kind, const char *timer, const char *reason)
{
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__Notice nt = KR__V1__NOTICE__INIT;
    uint8_t id[16], rid[16];
    int ok;

    memset(id, 0xe5, sizeof(id));
    util_unhex(FX_RID, rid, 16);
    nt.notice_id = (ProtobufCBinaryData){16, id};
    nt.kind = (Kr__V1__NoticeKind)kind;
    nt.referral_id = (ProtobufCBinaryData){16, rid};
    nt.timer = (char *)(timer ? timer : "");
    nt.step = 1;
    nt.state = KR__V1__TASK_STATUS__TASK_REQUESTED;
    nt.due_at_ms = FX_T0 + 60000;
    nt.overdue_ms = 250;
    nt.at_ms = FX_T0 + 60250;
    nt.reason = (char *)(reason ? reason : "");
    it.msg_id = nt.notice_id;
    it.type = KR__V1__MESSAGE_TYPE__ESCALATION;
    it.referral_id = nt.referral_id;
    it.created_at_ms = nt.at_ms;
    it.received_at_ms = nt.at_ms + 5;
    it.seq = 9;
    it.notice = &nt;
    return json_map_inbox_item(&it, &ok);
}

static void
test_notice_communication(void **state)
{
    json_object *item =
        s_notice_item(KR__V1__NOTICE_KIND__NOTICE_ESCALATION, "ack", NULL);
    json_object *c = fhir_out_notice_communication(&fx_ctx, item);

    (void)state;
    assert_non_null(c);
    FX_EQ(c, "resourceType", "Communication");
    FX_EQ(c, "id", "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5");
    FX_EQ(c, "status", "completed");
    FX_EQ(c, "category[0].coding[0].system", "urn:kansrijk:cs:business-status");
    FX_EQ(c, "category[0].coding[0].code", "escalated");
    FX_EQ(c, "about[0].reference", "Task/" FX_RID);
    FX_EQ(c, "recipient[0].identifier.value", "87654321");
    FX_EQ(c, "sent", "2026-12-05T09:13:40.281Z");
    assert_non_null(strstr(fx_str(c, "payload[0].contentString"), "ack timer"));
    fx_write("communication-escalation", c);
    fx_write_input("notice-escalation", item, item);
    json_object_put(c);
    json_object_put(item);

    item = s_notice_item(KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST, NULL,
                         "consent-revoked");
    c = fhir_out_notice_communication(&fx_ctx, item);
    FX_EQ(c, "category[0].coding[0].code", "cancel-requested");
    FX_EQ(c, "reasonCode[0].coding[0].code", "consent-revoked");
    fx_write("communication-cancel-request", c);
    json_object_put(c);
    json_object_put(item);

    /* A message is no notice. */
    item = fx_item("referral.json", FX_MSG);
    assert_null(fhir_out_notice_communication(&fx_ctx, item));
    json_object_put(item);
}

static void
test_capability(void **state)
{
    json_object *cs = fhir_out_capability(&fx_ctx, "1.2.3");
    json_object *res;
    int task = 0, sr = 0, pat = 0, consent = 0, sub = 0;

    (void)state;
    FX_EQ(cs, "resourceType", "CapabilityStatement");
    FX_EQ(cs, "fhirVersion", "4.0.1");
    FX_EQ(cs, "kind", "instance");
    FX_EQ(cs, "status", "active");
    FX_EQ(cs, "software.version", "1.2.3");
    FX_EQ(cs, "implementation.url", "http://127.0.0.1:8380");
    FX_EQ(cs, "format[0]", "json");
    FX_EQ(cs, "rest[0].mode", "server");
    FX_EQ(cs, "rest[0].operation[0].name", "process-message");
    res = fx_at(cs, "rest[0].resource");
    assert_non_null(res);
    for (size_t i = 0; i < json_object_array_length(res); i++) {
        json_object *r = json_object_array_get_idx(res, i);
        const char *type = fx_str(r, "type");
        json_object *ia = fx_at(r, "interaction");
        char codes[128] = "";
        for (size_t j = 0; j < json_object_array_length(ia); j++) {
            strcat(codes, fx_str(json_object_array_get_idx(ia, j), "code"));
            strcat(codes, " ");
        }
        if (strcmp(type, "Task") == 0) {
            task = 1;
            assert_string_equal(codes, "read search-type update patch ");
            FX_EQ(r, "searchParam[0].name", "status");
            FX_EQ(r, "searchParam[1].name", "_lastUpdated");
            FX_EQ(r, "searchParam[2].name", "owner");
            FX_EQ(r, "searchParam[3].name", "requester");
            FX_EQ(r, "searchParam[4].name", "_wait");
        } else if (strcmp(type, "ServiceRequest") == 0) {
            sr = strcmp(codes, "read ") == 0;
        } else if (strcmp(type, "Patient") == 0) {
            pat = strcmp(codes, "read ") == 0;
        } else if (strcmp(type, "Consent") == 0) {
            consent = strcmp(codes, "create update ") == 0;
        } else if (strcmp(type, "Subscription") == 0) {
            sub = strcmp(codes, "read search-type ") == 0;
        }
    }
    assert_true(task && sr && pat && consent && sub);
    fx_write("capabilitystatement", cs);
    json_object_put(cs);
}

static void
test_message_response(void **state)
{
    json_object *ref = fx_referral("referral", NULL, 0, 0, NULL, NULL, 0, 0);
    json_object *t = fhir_out_task(&fx_ctx, ref, NULL);
    json_object *b = fhir_out_message_response(&fx_ctx, "hdr-1", "ok", NULL, t);
    json_object *b2;
    struct fhir_error e = {0};

    (void)state;
    FX_EQ(b, "resourceType", "Bundle");
    FX_EQ(b, "type", "message");
    FX_EQ(b, "entry[0].resource.resourceType", "MessageHeader");
    FX_EQ(b, "entry[0].resource.response.identifier", "hdr-1");
    FX_EQ(b, "entry[0].resource.response.code", "ok");
    FX_EQ(b, "entry[0].resource.source.endpoint", "http://127.0.0.1:8380");
    FX_EQ(b, "entry[0].resource.sender.identifier.value", "87654321");
    FX_EQ(b, "entry[0].resource.focus[0].reference",
          "http://127.0.0.1:8380/Task/" FX_RID);
    FX_EQ(b, "entry[1].fullUrl", "http://127.0.0.1:8380/Task/" FX_RID);
    FX_EQ(b, "entry[1].resource.resourceType", "Task");
    /* The same request answered again: the same ids. */
    b2 = fhir_out_message_response(&fx_ctx, "hdr-1", "ok", NULL, NULL);
    FX_EQ(b2, "id", fx_str(b, "id"));
    FX_EQ(b2, "entry[0].fullUrl", fx_str(b, "entry[0].fullUrl"));
    fx_write("bundle-response-ok", b);
    json_object_put(b);
    json_object_put(b2);

    fhir_error_set(&e, 422, "business-rule", "Bundle.entry[1].resource",
                   "no consent covers this referral");
    b = fhir_out_message_response(&fx_ctx, "hdr-2", "fatal-error",
                                  fhir_operation_outcome(&e), NULL);
    FX_EQ(b, "entry[0].resource.response.code", "fatal-error");
    FX_EQ(b, "entry[0].resource.response.details.reference",
          fx_str(b, "entry[1].fullUrl"));
    FX_EQ(b, "entry[1].resource.resourceType", "OperationOutcome");
    FX_EQ(b, "entry[1].resource.issue[0].code", "business-rule");
    fx_write("bundle-response-fatal", b);
    json_object_put(b);

    /* Not a response code, not an id: still a valid Bundle. */
    b = fhir_out_message_response(&fx_ctx, "not an id!", "maybe", NULL, NULL);
    FX_EQ(b, "entry[0].resource.response.code", "fatal-error");
    FX_EQ(b, "entry[0].resource.response.identifier", "unknown");
    fx_write("bundle-response-odd", b);
    json_object_put(b);

    b = fhir_out_message_response(&fx_ctx, "hdr-3", "transient-error",
                                  fhir_operation_outcome_info("the node is "
                                                              "busy"),
                                  NULL);
    FX_EQ(b, "entry[0].resource.response.code", "transient-error");
    json_object_put(b);
    json_object_put(ref);
}

static void
test_searchset(void **state)
{
    json_object *a = json_object_new_array();
    json_object *ref =
        fx_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *item = fx_item("referral.json", FX_MSG);
    json_object *b;

    (void)state;
    json_object_array_add(a, fhir_out_task(&fx_ctx, ref, item));
    json_object_array_add(a, fhir_out_task(&fx_ctx, ref, NULL));
    b = fhir_out_searchset(
        &fx_ctx, a, 2, "http://127.0.0.1:8380/Task?status=accepted",
        "http://127.0.0.1:8380/Task?status=accepted&_after=" FX_RID);
    FX_EQ(b, "resourceType", "Bundle");
    FX_EQ(b, "type", "searchset");
    assert_int_equal(json_object_get_int(fx_at(b, "total")), 2);
    FX_EQ(b, "link[0].relation", "self");
    FX_EQ(b, "link[1].relation", "next");
    FX_EQ(b, "entry[0].fullUrl", "http://127.0.0.1:8380/Task/" FX_RID);
    FX_EQ(b, "entry[0].search.mode", "match");
    FX_EQ(b, "entry[1].resource.status", "accepted");
    fx_write("bundle-searchset", b);
    json_object_put(b);

    b = fhir_out_searchset(&fx_ctx, json_object_new_array(), 0,
                           "http://127.0.0.1:8380/Task?status=failed", NULL);
    assert_int_equal(json_object_get_int(fx_at(b, "total")), 0);
    assert_null(fx_at(b, "entry"));
    assert_null(fx_at(b, "link[1]"));
    fx_write("bundle-searchset-empty", b);
    json_object_put(b);
    json_object_put(item);
    json_object_put(ref);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notice_communication),
        cmocka_unit_test(test_capability),
        cmocka_unit_test(test_message_response),
        cmocka_unit_test(test_searchset),
    };

    return fx_run_out("test_fhir_out_answers", tests,
                      sizeof(tests) / sizeof(tests[0]), argc, argv);
}
