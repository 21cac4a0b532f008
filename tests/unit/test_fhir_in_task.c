/*
 * test_fhir_in_task.c - krfhir's inbound mappers (clients/krfhir/
 * fhir_in_*.c) for changes to a Task: a PUT or JSON Patch becomes the
 * referral-status the referral table expects, or is refused with its
 * status, IssueType and FHIRPath; the Task as the gateway shows it, PUT
 * back, is no change in every state; JSON Patch follows RFC 6902. (What
 * a client POSTs: test_fhir_in.c; the fixtures: fhir_fixture.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fhir_in.h"
#include "fhir_out.h"
#include "kr.h"
#include "util.h"
#include "fhir_fixture.h"

/* The node's record (kr_referral_json) in 'state'. */
static json_object *
s_referral(const char *state, bool cancel_pending, int steps)
{
    char text[2048];
    int n = snprintf(
        text, sizeof(text),
        "{\"referral_id\": \"b0e0a1e2c3d4e5f60718293a4b5c6d7e\", \"type\": "
        "\"referral\", \"case_id\": null, \"placer\": \"ura:00001234\", "
        "\"performer\": \"ura:87654321\", \"purpose\": "
        "\"prenataal-huisbezoek\", \"state\": \"%s\", \"state_at\": "
        "\"2026-12-05T09:12:44.120Z\", \"opened_at\": "
        "\"2026-12-05T09:12:40.031Z\", \"cancel_pending\": %s, \"reason\": "
        "null, \"outcome\": null, \"escalations\": 0, \"last_escalation\": "
        "null, \"overdue\": false, \"history\": [",
        state, cancel_pending ? "true" : "false");
    for (int i = 0; i < steps; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n,
                      "%s{\"at\": \"2026-12-05T09:12:40.031Z\", \"org_id\": "
                      "\"ura:00001234\", \"to\": \"requested\"}",
                      i ? "," : "");
    snprintf(text + n, sizeof(text) - (size_t)n, "]}");
    return fx_json(text);
}

/* The Task as the gateway shows it at 'status'. */
static json_object *
s_task(const char *status)
{
    char text[2048];
    snprintf(
        text, sizeof(text),
        "{\"resourceType\": \"Task\", \"id\": "
        "\"b0e0a1e2c3d4e5f60718293a4b5c6d7e\", \"meta\": {\"security\": "
        "[{\"system\": \"urn:kansrijk:cs:data-category\", \"code\": "
        "\"medisch\"}]}, \"identifier\": [{\"system\": "
        "\"urn:kansrijk:id:referral\", \"value\": "
        "\"b0e0a1e2c3d4e5f60718293a4b5c6d7e\"}], \"status\": \"%s\", "
        "\"intent\": \"order\", \"priority\": \"routine\", \"focus\": "
        "{\"reference\": "
        "\"ServiceRequest/b0e0a1e2c3d4e5f60718293a4b5c6d7e\"}, \"for\": "
        "{\"reference\": "
        "\"http://127.0.0.1:8381/Patient/b0e0a1e2c3d4e5f60718293a4b5c6d7e\"}, "
        "\"authoredOn\": \"2026-12-05T09:12:40.031Z\", \"lastModified\": "
        "\"2026-12-05T09:12:44.120Z\", \"requester\": {\"identifier\": "
        "{\"system\": \"http://fhir.nl/fhir/NamingSystem/ura\", \"value\": "
        "\"00001234\"}}, \"owner\": {\"identifier\": {\"system\": "
        "\"http://fhir.nl/fhir/NamingSystem/ura\", \"value\": "
        "\"87654321\"}}}",
        status);
    return fx_json(text);
}

static void
s_status_is(json_object *out, const char *rel)
{
    static const char *const skip[] = {"msg_id", "data_category", "legal_basis",
                                       "priority", NULL};
    fx_valid(out);
    fx_same(out, rel, skip);
}

static void
test_task_update(void **state)
{
    json_object *ref = s_referral("requested", false, 1), *task, *out, *o2;
    json_object *patch = fx_load("examples/fhir/task-accept-patch.json");
    json_object *st, *v, *want, *ws;
    struct fhir_error e;

    (void)state;
    /* The Task as read: nothing to send. */
    task = s_task("requested");
    out = (json_object *)1;
    assert_int_equal(fhir_in_task_update(&fx_jgz, ref, task, &out, &e), KR_OK);
    assert_null(out);

    /* JGZ's PATCH to accepted: examples/referral-accepted.json but the
     * contact (not carried by a Task) and the clear codes the referral
     * already has. */
    assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
    assert_int_equal(fhir_in_task_update(&fx_jgz, ref, task, &out, &e), KR_OK);
    assert_non_null(out);
    fx_valid(out);
    want = fx_load("examples/referral-accepted.json");
    json_object_object_get_ex(want, "referral_status", &ws);
    json_object_object_del(ws, "contact");
    json_object_object_get_ex(out, "referral_status", &st);
    assert_true(json_object_equal(st, ws));
    json_object_put(want);
    json_object_object_get_ex(out, "recipient", &v);
    assert_string_equal(json_object_get_string(v), "ura:00001234");

    /* A retried PUT is the same message; after another step, another. */
    assert_int_equal(fhir_in_task_update(&fx_jgz, ref, task, &o2, &e), KR_OK);
    assert_true(json_object_equal(out, o2));
    json_object_put(o2);
    json_object *ref3 = s_referral("requested", false, 3);
    assert_int_equal(fhir_in_task_update(&fx_jgz, ref3, task, &o2, &e), KR_OK);
    json_object *m1, *m2;
    json_object_object_get_ex(out, "msg_id", &m1);
    json_object_object_get_ex(o2, "msg_id", &m2);
    assert_string_not_equal(json_object_get_string(m1),
                            json_object_get_string(m2));
    json_object_put(o2);
    json_object_put(ref3);
    json_object_put(out);
    json_object_put(task);
    json_object_put(ref);
    json_object_put(patch);

    /* The placer asks to cancel work in progress. */
    ref = s_referral("in-progress", false, 4);
    task = s_task("in-progress");
    patch = fx_json(
        "[{\"op\":\"add\",\"path\":\"/businessStatus\",\"value\":{\"coding\":"
        "[{\"system\":\"urn:kansrijk:cs:business-status\",\"code\":\"cancel-"
        "requested\"}]}},{\"op\":\"add\",\"path\":\"/statusReason\","
        "\"value\":{\"coding\":[{\"system\":\"urn:kansrijk:cs:status-"
        "reason\",\"code\":\"consent-revoked\"}]}},{\"op\":\"add\",\"path\":"
        "\"/note\",\"value\":[{\"text\":\"earlier\",\"time\":\"2026-12-05T09:"
        "12:44Z\"},{\"text\":\"The client withdrew her consent; please "
        "stop.\"}]}]");
    assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
    assert_int_equal(fhir_in_task_update(&fx_practice, ref, task, &out, &e),
                     KR_OK);
    s_status_is(out, "examples/referral-cancel-requested.json");
    json_object_put(out);
    json_object_put(ref);
    json_object_put(patch);

    /* JGZ, with the request open: cancelled confirms it, businessStatus
     * cancel-declined declines it; the statusReason still shown from the
     * request is not sent with a step that takes none. */
    ref = s_referral("in-progress", true, 5);
    json_object_object_add(task, "status", json_object_new_string("cancelled"));
    json_object_object_del(task, "businessStatus");
    json_object_object_del(task, "note");
    assert_int_equal(fhir_in_task_update(&fx_jgz, ref, task, &out, &e), KR_OK);
    fx_valid(out);
    json_object_object_get_ex(out, "referral_status", &st);
    assert_string_equal(
        json_object_get_string(json_object_object_get(st, "status")),
        "cancel-confirmed");
    assert_null(json_object_object_get(st, "status_reason"));
    json_object_put(out);
    json_object_object_add(task, "status",
                           json_object_new_string("in-progress"));
    patch = fx_json("[{\"op\":\"add\",\"path\":\"/businessStatus\",\"value\":{"
                    "\"coding\":[{\"system\":\"urn:kansrijk:cs:business-"
                    "status\",\"code\":\"cancel-declined\"}]}}]");
    assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
    assert_int_equal(fhir_in_task_update(&fx_jgz, ref, task, &out, &e), KR_OK);
    json_object_object_get_ex(out, "referral_status", &st);
    assert_string_equal(
        json_object_get_string(json_object_object_get(st, "status")),
        "cancel-declined");
    json_object_put(out);
    json_object_put(patch);
    json_object_put(ref);

    /* Completed with its outcome: examples/referral-completed.json. */
    ref = s_referral("in-progress", false, 6);
    json_object_object_del(task, "businessStatus");
    patch = fx_json(
        "[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"completed\"},"
        "{\"op\":\"add\",\"path\":\"/output\",\"value\":[{\"type\":{\"coding\""
        ":[{\"system\":\"urn:kansrijk:cs:output-type\",\"code\":\"outcome\"}]"
        "},\"valueCodeableConcept\":{\"coding\":[{\"system\":\"urn:kansrijk:"
        "cs:outcome\",\"code\":\"visit-done\"}]}}]},{\"op\":\"add\",\"path\":"
        "\"/note\",\"value\":[{\"text\":\"Prenatal home visit done; follow-up "
        "by JGZ after birth.\"}]}]");
    assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
    assert_int_equal(fhir_in_task_update(&fx_jgz, ref, task, &out, &e), KR_OK);
    s_status_is(out, "examples/referral-completed.json");
    json_object_put(out);
    json_object_put(patch);
    json_object_put(ref);
    json_object_put(task);
}

static void
test_task_refusals(void **state)
{
    static const struct fx_cell cells[] = {
        {FX_P("replace", "/owner/identifier/value", FX_V("\"00005678\"")), 422,
         "not-supported", "Task.owner"},
        {FX_P("replace", "/requester/identifier/value", FX_V("\"00005678\"")),
         422, "not-supported", "Task.requester"},
        {FX_P("replace", "/for/reference", FX_V("\"Patient/other\"")), 422,
         "not-supported", "Task.for.reference"},
        {FX_P("replace", "/focus/reference", FX_V("\"ServiceRequest/x\"")), 422,
         "not-supported", "Task.focus.reference"},
        {FX_P("add", "/description", FX_V("\"x\"")), 422, "not-supported",
         "Task.description"},
        {FX_P("add", "/code", FX_V("{\"text\":\"x\"}")), 422, "not-supported",
         "Task.code"},
        {FX_P("replace", "/id", FX_V("\"other\"")), 400, "invalid", "Task.id"},
        {FX_P("replace", "/identifier/0/value",
              FX_V("\"00000000000000000000000000000000\"")),
         422, "not-supported", "Task.identifier[0].value"},
        {FX_P("replace", "/intent", FX_V("\"plan\"")), 422, "not-supported",
         "Task.intent"},
        {FX_P("replace", "/status", FX_V("\"ready\"")), 422, "value",
         "Task.status"},
        {FX_P("remove", "/status", ""), 400, "required", "Task.status"},
        {FX_P("add", "/businessStatus",
              FX_V("{\"coding\":[{\"system\":\"urn:kansrijk:cs:business-"
                   "status\",\"code\":\"paused\"}]}")),
         422, "value", "Task.businessStatus"},
        {"[{\"op\":\"add\",\"path\":\"/businessStatus\",\"value\":{\"coding\":"
         "[{\"system\":\"urn:kansrijk:cs:business-status\",\"code\":\"cancel-"
         "requested\"}]}},{\"op\":\"replace\",\"path\":\"/status\",\"value\":"
         "\"cancelled\"}]",
         422, "business-rule", "Task.businessStatus"},
        {FX_P("add", "/output",
              FX_V("[{\"type\":{\"coding\":[{\"system\":\"urn:kansrijk:cs:"
                   "output-type\",\"code\":\"report\"}]}}]")),
         422, "not-supported", "Task.output[0].type"},
        {"[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"accepted\"},"
         "{\"op\":\"add\",\"path\":\"/executionPeriod\",\"value\":{\"start\":"
         "\"2027\"}}]",
         422, "value", "Task.executionPeriod.start"},
        {"[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"rejected\"},"
         "{\"op\":\"add\",\"path\":\"/statusReason\",\"value\":{\"coding\":[{"
         "\"system\":\"urn:kansrijk:cs:status-reason\",\"code\":\"\"}]}}]",
         400, "structure", "Task.statusReason.coding[0].code"},
        {FX_P("replace", "/resourceType", FX_V("\"ServiceRequest\"")), 400,
         "structure", "resourceType"},
    };
    json_object *ref = s_referral("in-progress", false, 4);

    (void)state;
    for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
        json_object *task = s_task("in-progress"),
                    *patch = fx_json(cells[i].patch);
        json_object *out = (json_object *)1;
        struct fhir_error e, pe;

        memset(&e, 0, sizeof(e));
        if (fhir_json_patch_apply(task, patch, &pe) != KR_OK)
            fail_msg("cell %zu: the patch does not apply", i);
        if (fhir_in_task_update(&fx_jgz, ref, task, &out, &e) == KR_OK)
            fail_msg("cell %zu (%s): accepted", i, cells[i].patch);
        assert_null(out);
        if (e.status != cells[i].status || strcmp(e.code, cells[i].code) != 0 ||
            strcmp(e.expression, cells[i].expression) != 0)
            fail_msg("cell %zu (%s): got %d %s %s (%s)", i, cells[i].patch,
                     e.status, e.code, e.expression, e.diagnostics);
        json_object_put(patch);
        json_object_put(task);
    }
    /* An organisation that is neither party. */
    static const struct fhir_ctx other = {"ura:00005678", "", FX_NOW_MS};
    json_object *task = s_task("completed"), *out;
    struct fhir_error e;
    assert_int_equal(fhir_in_task_update(&other, ref, task, &out, &e),
                     KR_EINVAL);
    assert_int_equal(e.status, 403);
    assert_string_equal(e.code, "security");
    json_object_put(task);
    json_object_put(ref);
}

/* The Task as the gateway shows it (fhir_out_task), PUT back unchanged,
 * is no change, in every state, with a cancellation request open or
 * answered, escalated; and the example PATCH on it accepts. */
static void
test_task_as_shown(void **state)
{
    static const char *const states[] = {
        "requested", "received",        "accepted",    "rejected",
        "cancelled", "on-hold",         "in-progress", "completed",
        "failed",    "entered-in-error"};
    static const char *const steps[] = {NULL, "cancel-requested",
                                        "cancel-declined"};
    struct fhir_error e;

    (void)state;
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        for (size_t k = 0; k < 3; k++) {
            char text[1536];
            const char *step = steps[k];
            snprintf(
                text, sizeof(text),
                "{\"referral_id\": \"b0e0a1e2c3d4e5f60718293a4b5c6d7e\", "
                "\"type\": \"referral\", \"case_id\": null, \"placer\": "
                "\"ura:00001234\", \"performer\": \"ura:87654321\", "
                "\"purpose\": \"prenataal-huisbezoek\", \"state\": \"%s\", "
                "\"state_at\": \"2026-12-05T09:12:44.120Z\", \"opened_at\": "
                "\"2026-12-05T09:12:40.031Z\", \"cancel_pending\": %s, "
                "\"reason\": %s, \"outcome\": %s, \"escalations\": 1, "
                "\"last_escalation\": \"2026-12-06T09:00:00Z\", "
                "\"overdue\": true, \"history\": [{\"at\": "
                "\"2026-12-05T09:12:44.120Z\", \"org_id\": "
                "\"ura:00001234\", \"to\": \"%s\", \"cancel_step\": "
                "%s%s%s}]}",
                states[i], k == 1 ? "true" : "false",
                k > 0 ? "\"consent-revoked\"" : "null",
                strcmp(states[i], "completed") == 0 ? "\"visit-done\"" : "null",
                states[i], step ? "\"" : "", step ? step : "null",
                step ? "\"" : "");
            json_object *ref = fx_json(text);
            json_object *task = fhir_out_task(&fx_jgz, ref, NULL), *out;
            assert_non_null(task);
            for (int who = 0; who < 2; who++) {
                out = (json_object *)1;
                if (fhir_in_task_update(who ? &fx_practice : &fx_jgz, ref, task,
                                        &out, &e) != KR_OK)
                    fail_msg("%s step %zu: %s %s", states[i], k, e.expression,
                             e.diagnostics);
                if (out != NULL)
                    fail_msg("%s step %zu: a change: %s", states[i], k,
                             json_object_to_json_string(out));
            }
            if (strcmp(states[i], "requested") == 0 && k == 0) {
                json_object *patch =
                    fx_load("examples/fhir/task-accept-patch.json");
                assert_int_equal(fhir_json_patch_apply(task, patch, &e), KR_OK);
                assert_int_equal(
                    fhir_in_task_update(&fx_jgz, ref, task, &out, &e), KR_OK);
                assert_non_null(out);
                fx_valid(out);
                json_object_put(out);
                json_object_put(patch);
            }
            json_object_put(task);
            json_object_put(ref);
        }
    }
}

/* RFC 6902: what each operation does, and that a refused patch leaves
 * the document as it was. */
static void
test_json_patch(void **state)
{
    static const struct {
        const char *doc, *patch, *want;
        int status;
    } cases[] = {
        {"{\"foo\":\"bar\"}",
         "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":"
         "\"qux\"}]",
         "{\"foo\":\"bar\",\"baz\":\"qux\"}", 0},
        {"{\"foo\":[\"bar\",\"baz\"]}",
         "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
         "{\"foo\":[\"bar\",\"qux\",\"baz\"]}", 0},
        {"{\"foo\":[\"bar\"]}",
         "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\"]}]",
         "{\"foo\":[\"bar\",[\"abc\"]]}", 0},
        {"{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
         "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
         "{\"foo\":[\"bar\",\"baz\"]}", 0},
        {"{\"baz\":\"qux\",\"foo\":\"bar\"}",
         "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
         "{\"baz\":\"boo\",\"foo\":\"bar\"}", 0},
        {"{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":"
         "\"grault\"}}",
         "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
         "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":"
         "\"fred\"}}",
         0},
        {"{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
         "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
         "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}", 0},
        {"{\"a\":{\"b\":1}}",
         "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]",
         "{\"a\":{\"b\":1},\"c\":{\"b\":1}}", 0},
        {"{\"a/b\":1,\"m~n\":2}",
         "[{\"op\":\"test\",\"path\":\"/a~1b\",\"value\":1},{\"op\":\"remove\","
         "\"path\":\"/m~0n\"}]",
         "{\"a/b\":1}", 0},
        {"{\"a\":null}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]",
         "{\"a\":null}", 0},
        /* Refusals: the document stays as it was. */
        {"{\"baz\":\"qux\"}",
         "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"x\"},{\"op\":"
         "\"test\",\"path\":\"/baz\",\"value\":\"qux\"}]",
         NULL, 409},
        {"{\"foo\":\"bar\"}",
         "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1},{\"op\":\"add\","
         "\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
         NULL, 422},
        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/01\",\"value\":2}]",
         NULL, 422},
        {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/2\",\"value\":2}]",
         NULL, 422},
        {"{\"foo\":[1]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", NULL,
         422},
        {"{\"foo\":1}", "[{\"op\":\"remove\",\"path\":\"/bar\"}]", NULL, 422},
        {"{\"foo\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", NULL, 422},
        {"{\"foo\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[]}]",
         NULL, 422},
        {"{\"foo\":{\"a\":1}}",
         "[{\"op\":\"move\",\"from\":\"/foo\",\"path\":\"/foo/a/b\"}]", NULL,
         422},
        {"{\"foo\":1}", "[{\"op\":\"jump\",\"path\":\"/foo\"}]", NULL, 400},
        {"{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"/foo\"}]", NULL, 400},
        {"{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"foo\",\"value\":1}]", NULL,
         400},
        {"{\"foo\":1}", "[{\"op\":\"add\",\"path\":\"/~2\",\"value\":1}]", NULL,
         400},
        {"{\"foo\":1}", "{\"op\":\"add\"}", NULL, 400},
        {"{\"foo\":1}", "[3]", NULL, 400},
        {"{\"foo\":1}", "[{\"path\":\"/foo\"}]", NULL, 400},
    };
    struct fhir_error e;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *doc = fx_json(cases[i].doc),
                    *patch = fx_json(cases[i].patch);
        json_object *before = fx_json(cases[i].doc);
        int rc = fhir_json_patch_apply(doc, patch, &e);
        if (cases[i].status == 0) {
            json_object *want = fx_json(cases[i].want);
            if (rc != KR_OK || !json_object_equal(doc, want))
                fail_msg("case %zu: rc %d %s: %s", i, rc, e.diagnostics,
                         json_object_to_json_string(doc));
            json_object_put(want);
        } else {
            if (rc == KR_OK || e.status != cases[i].status)
                fail_msg("case %zu: rc %d status %d", i, rc, e.status);
            assert_true(json_object_equal(doc, before));
        }
        json_object_put(before);
        json_object_put(patch);
        json_object_put(doc);
    }
    /* Bounded: more operations than a Task change needs is refused. */
    json_object *doc = fx_json("{\"a\":1}"), *many = json_object_new_array();
    for (int i = 0; i < 200; i++)
        json_object_array_add(
            many, fx_json("{\"op\":\"test\",\"path\":\"/a\",\"value\":1}"));
    assert_int_equal(fhir_json_patch_apply(doc, many, &e), KR_EINVAL);
    assert_string_equal(e.code, "too-long");
    json_object_put(many);
    json_object_put(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_update),
        cmocka_unit_test(test_task_refusals),
        cmocka_unit_test(test_task_as_shown),
        cmocka_unit_test(test_json_patch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
