/*
 * test_fhir_out.c - krfhir's outbound mappers (clients/krfhir/fhir_out*.c)
 * for a referral's own resources (Task, ServiceRequest, Patient, at the
 * performer and at the placer, of a referral and a handover) over real
 * inputs: the inbox items and referral records that libkr's JSON layer
 * makes of what a node holds (examples/referral.json and
 * examples/handover.json sent, unpacked and listed as a node lists them;
 * a NodeReferral as kr_referral_json prints it), element by element;
 * damaged inputs that must give no resource or a smaller one, never a
 * crash; the birth's offset; a Task PUT back as shown is no change. The
 * gateway's other answers: test_fhir_out_answers.c; the fixtures:
 * fhir_fixture.c.
 *
 *     test_fhir_out                 the checks
 *     test_fhir_out --write DIR     also writes every resource the
 *                                   gateway returns into DIR (NAME.json), for
 *                                   tests/fhir/run.sh to validate, and the
 *                                   mappers' inputs into DIR/inputs/ (seeds
 *                                   for tests/fuzz/fuzz_fhir_out.c)
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

/* The Task at the performer: the record's state and parties, the item's
 * codes, references to its ServiceRequest and Patient. */
static void
test_task_performer(void **state)
{
    json_object *ref =
        fx_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *item = fx_item("referral.json", FX_MSG);
    json_object *t = fhir_out_task(&fx_ctx, ref, item);

    (void)state;
    assert_non_null(t);
    FX_EQ(t, "resourceType", "Task");
    FX_EQ(t, "id", FX_RID);
    FX_EQ(t, "identifier[0].system", "urn:kansrijk:id:referral");
    FX_EQ(t, "identifier[0].value", FX_RID);
    FX_EQ(t, "status", "accepted");
    FX_EQ(t, "intent", "order");
    FX_EQ(t, "priority", "routine");
    FX_EQ(t, "focus.reference", "ServiceRequest/" FX_RID);
    FX_EQ(t, "for.reference", "Patient/" FX_RID);
    FX_EQ(t, "requester.identifier.system", FHIR_SYS_URA);
    FX_EQ(t, "requester.identifier.value", "00001234");
    FX_EQ(t, "owner.identifier.system", FHIR_SYS_URA);
    FX_EQ(t, "owner.identifier.value", "87654321");
    FX_EQ(t, "authoredOn", "2026-12-05T09:12:40.031Z");
    FX_EQ(t, "lastModified", "2026-12-05T09:12:44.031Z");
    FX_EQ(t, "meta.lastUpdated", "2026-12-05T09:12:44.031Z");
    FX_EQ(t, "meta.security[0].system", "urn:kansrijk:cs:data-category");
    FX_EQ(t, "meta.security[0].code", "medisch");
    FX_EQ(t, "meta.security[1].system", "urn:kansrijk:cs:legal-basis");
    FX_EQ(t, "meta.security[1].code", "consent");
    assert_null(fx_at(t, "businessStatus"));
    assert_null(fx_at(t, "statusReason"));
    assert_null(fx_at(t, "output"));
    fx_write("task-accepted", t);
    fx_write_input("referral-accepted", ref, item);
    json_object_put(t);

    /* At the placer the node holds no opened content: no references that
     * would not resolve. */
    t = fhir_out_task(&fx_ctx, ref, NULL);
    assert_non_null(t);
    FX_EQ(t, "status", "accepted");
    assert_null(fx_at(t, "focus"));
    assert_null(fx_at(t, "for"));
    assert_null(fx_at(t, "meta.security"));
    FX_EQ(t, "owner.identifier.value", "87654321");
    fx_write("task-placer", t);
    json_object_put(t);
    json_object_put(item);
    json_object_put(ref);
}

/* The steps the broker tracks: cancellation, escalation, reason, outcome. */
static void
test_task_business_status(void **state)
{
    json_object *r, *t;

    (void)state;
    r = fx_referral("referral", "accepted", 1, 1, "consent-revoked", NULL, 0,
                    0);
    t = fhir_out_task(&fx_ctx, r, NULL);
    FX_EQ(t, "businessStatus.coding[0].system",
          "urn:kansrijk:cs:business-status");
    FX_EQ(t, "businessStatus.coding[0].code", "cancel-requested");
    FX_EQ(t, "statusReason.coding[0].system", "urn:kansrijk:cs:status-reason");
    FX_EQ(t, "statusReason.coding[0].code", "consent-revoked");
    fx_write("task-cancel-requested", t);
    fx_write_input("referral-cancel-requested", r, NULL);
    json_object_put(t);
    json_object_put(r);

    r = fx_referral("referral", "cancelled", 0, 2, NULL, NULL, 0, 0);
    t = fhir_out_task(&fx_ctx, r, NULL);
    FX_EQ(t, "status", "cancelled");
    FX_EQ(t, "businessStatus.coding[0].code", "cancel-confirmed");
    json_object_put(t);
    json_object_put(r);

    r = fx_referral("referral", "in-progress", 0, 3, NULL, NULL, 0, 0);
    t = fhir_out_task(&fx_ctx, r, NULL);
    FX_EQ(t, "businessStatus.coding[0].code", "cancel-declined");
    json_object_put(t);
    json_object_put(r);

    r = fx_referral("referral", "received", 0, 0, NULL, NULL, 2, 1);
    t = fhir_out_task(&fx_ctx, r, NULL);
    FX_EQ(t, "businessStatus.coding[0].code", "escalated");
    assert_non_null(strstr(fx_str(t, "businessStatus.text"), "2 escalations"));
    fx_write("task-escalated", t);
    fx_write_input("referral-escalated", r, NULL);
    json_object_put(t);
    json_object_put(r);

    /* Escalated in an earlier state only: not overdue now. */
    r = fx_referral("referral", "received", 0, 0, NULL, NULL, 1, 0);
    t = fhir_out_task(&fx_ctx, r, NULL);
    assert_null(fx_at(t, "businessStatus"));
    json_object_put(t);
    json_object_put(r);

    r = fx_referral("referral", "completed", 0, 0, NULL, "visit-done", 0, 0);
    t = fhir_out_task(&fx_ctx, r, NULL);
    FX_EQ(t, "status", "completed");
    FX_EQ(t, "output[0].type.coding[0].system", "urn:kansrijk:cs:output-type");
    FX_EQ(t, "output[0].type.coding[0].code", "outcome");
    FX_EQ(t, "output[0].valueCodeableConcept.coding[0].system",
          "urn:kansrijk:cs:outcome");
    FX_EQ(t, "output[0].valueCodeableConcept.coding[0].code", "visit-done");
    fx_write("task-completed", t);
    fx_write_input("referral-completed", r, NULL);
    json_object_put(t);
    json_object_put(r);

    r = fx_referral("referral", "rejected", 0, 0, "no-capacity", NULL, 0, 0);
    t = fhir_out_task(&fx_ctx, r, NULL);
    FX_EQ(t, "status", "rejected");
    FX_EQ(t, "statusReason.coding[0].code", "no-capacity");
    json_object_put(t);
    json_object_put(r);

    /* Just placed: requested. */
    r = fx_referral("referral", NULL, 0, 0, NULL, NULL, 0, 0);
    t = fhir_out_task(&fx_ctx, r, NULL);
    FX_EQ(t, "status", "requested");
    json_object_put(t);
    json_object_put(r);
}

static void
test_service_request(void **state)
{
    json_object *ref =
        fx_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *item = fx_item("referral.json", FX_MSG);
    struct fhir_error e = {0};
    json_object *sr = fhir_out_service_request(&fx_ctx, ref, item, &e);

    (void)state;
    assert_non_null(sr);
    FX_EQ(sr, "resourceType", "ServiceRequest");
    FX_EQ(sr, "id", FX_RID);
    FX_EQ(sr, "identifier[0].value", FX_RID);
    FX_EQ(sr, "status", "active");
    FX_EQ(sr, "intent", "order");
    FX_EQ(sr, "subject.reference", "Patient/" FX_RID);
    FX_EQ(sr, "category[0].coding[0].system", "urn:kansrijk:cs:purpose");
    FX_EQ(sr, "category[0].coding[0].code", "prenataal-huisbezoek");
    FX_EQ(sr, "code.coding[0].system", "urn:kansrijk:cs:service");
    FX_EQ(sr, "code.coding[0].code", "prenataal-huisbezoek");
    FX_EQ(sr, "reasonCode[0].coding[0].system", "urn:kansrijk:cs:reason");
    FX_EQ(sr, "reasonCode[0].coding[0].code", "psychosociaal");
    FX_EQ(sr, "reasonCode[1].coding[0].code", "financiele-zorgen");
    assert_null(fx_at(sr, "reasonCode[2]"));
    assert_non_null(strstr(fx_str(sr, "note[0].text"), "prenataal huisbezoek"));
    FX_EQ(sr, "priority", "routine");
    FX_EQ(sr, "authoredOn", "2026-12-05T09:12:40.031Z");
    FX_EQ(sr, "requester.reference", "#referrer");
    FX_EQ(sr, "performer[0].identifier.value", "87654321");
    FX_EQ(sr, "contained[0].resourceType", "PractitionerRole");
    FX_EQ(sr, "contained[0].id", "referrer");
    FX_EQ(sr, "contained[0].practitioner.display", "J. de Proef");
    FX_EQ(sr, "contained[0].code[0].text", "verloskundige");
    FX_EQ(sr, "contained[0].identifier[0].system", FHIR_SYS_AGB);
    FX_EQ(sr, "contained[0].identifier[0].value", "01234567");
    FX_EQ(sr, "contained[0].organization.identifier.value", "00001234");
    FX_EQ(sr, "contained[0].telecom[0].system", "phone");
    FX_EQ(sr, "contained[0].telecom[0].value", "020-1234567");
    FX_EQ(sr, "contained[0].telecom[1].system", "email");
    FX_EQ(sr, "contained[1].resourceType", "Observation");
    FX_EQ(sr, "contained[1].id", "edd");
    FX_EQ(sr, "contained[1].code.coding[0].system", "http://loinc.org");
    FX_EQ(sr, "contained[1].code.coding[0].code", "11778-8");
    FX_EQ(sr, "contained[1].valueDateTime", "2027-02-14");
    FX_EQ(sr, "contained[1].subject.reference", "Patient/" FX_RID);
    FX_EQ(sr, "supportingInfo[0].type", "Consent");
    FX_EQ(sr, "supportingInfo[0].identifier.system", "urn:kansrijk:id:consent");
    FX_EQ(sr, "supportingInfo[0].identifier.value",
          "c0115e4700000000000000000000a001");
    FX_EQ(sr, "supportingInfo[1].reference", "#edd");
    fx_write("servicerequest", sr);
    json_object_put(sr);

    /* Final states: what RequestStatus says of the end. */
    json_object *done =
        fx_referral("referral", "completed", 0, 0, NULL, "visit-done", 0, 0);
    sr = fhir_out_service_request(&fx_ctx, done, item, &e);
    FX_EQ(sr, "status", "completed");
    json_object_put(sr);
    json_object_put(done);
    done = fx_referral("referral", "cancelled", 0, 0, NULL, NULL, 0, 0);
    sr = fhir_out_service_request(&fx_ctx, done, item, &e);
    FX_EQ(sr, "status", "revoked");
    json_object_put(sr);
    json_object_put(done);

    /* At the placer: nothing opened here, 404 saying so. */
    memset(&e, 0, sizeof(e));
    assert_null(fhir_out_service_request(&fx_ctx, ref, NULL, &e));
    assert_int_equal(e.status, 404);
    assert_string_equal(e.code, "not-found");
    assert_non_null(strstr(e.diagnostics, "no opened content"));
    json_object_put(item);
    json_object_put(ref);
}

static void
test_patient(void **state)
{
    json_object *ref =
        fx_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *item = fx_item("referral.json", FX_MSG);
    struct fhir_error e = {0};
    json_object *p = fhir_out_patient(&fx_ctx, ref, item, &e);

    (void)state;
    assert_non_null(p);
    FX_EQ(p, "resourceType", "Patient");
    FX_EQ(p, "id", FX_RID);
    FX_EQ(p, "identifier[0].system", "http://fhir.nl/fhir/NamingSystem/bsn");
    FX_EQ(p, "identifier[0].value", "111222333");
    FX_EQ(p, "name[0].family", "Voorbeeld");
    FX_EQ(p, "name[0].given[0]", "Anna");
    FX_EQ(p, "birthDate", "1994-03-12");
    FX_EQ(p, "telecom[0].system", "phone");
    FX_EQ(p, "telecom[0].value", "06-12345678");
    FX_EQ(p, "address[0].line[0]", "Proefstraat 12a");
    FX_EQ(p, "address[0]._line[0].extension[0].url",
          "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName");
    FX_EQ(p, "address[0]._line[0].extension[0].valueString", "Proefstraat");
    FX_EQ(p, "address[0]._line[0].extension[1].url",
          "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber");
    FX_EQ(p, "address[0]._line[0].extension[1].valueString", "12a");
    FX_EQ(p, "address[0].postalCode", "1234 AB");
    FX_EQ(p, "address[0].city", "Teststad");
    fx_write("patient", p);
    json_object_put(p);
    memset(&e, 0, sizeof(e));
    assert_null(fhir_out_patient(&fx_ctx, ref, NULL, &e));
    assert_int_equal(e.status, 404);
    json_object_put(item);
    json_object_put(ref);
}

/* A HANDOVER: the same three resources, from its content. */
static void
test_handover(void **state)
{
    json_object *ref =
        fx_referral("handover", "received", 0, 0, NULL, NULL, 0, 0);
    json_object *item = fx_item("handover.json", FX_MSG);
    struct fhir_error e = {0};
    json_object *t, *sr, *p;

    (void)state;
    t = fhir_out_task(&fx_ctx, ref, item);
    FX_EQ(t, "status", "received");
    FX_EQ(t, "identifier[1].system", "urn:kansrijk:id:case");
    FX_EQ(t, "identifier[1].value", "cacacacacacacacacacacacacacacaca");
    FX_EQ(t, "focus.reference", "ServiceRequest/" FX_RID);
    FX_EQ(t, "input[0].type.coding[0].system", "urn:kansrijk:cs:handover");
    FX_EQ(t, "input[0].type.coding[0].code", "child_given_name");
    FX_EQ(t, "input[0].valueString", "Noor");
    FX_EQ(t, "input[1].type.coding[0].code", "birth_datetime");
    FX_EQ(t, "input[1].valueDateTime", "2027-02-10T04:32:00+01:00");
    FX_EQ(t, "input[2].type.coding[0].code", "gestational_age_days");
    assert_int_equal(json_object_get_int(fx_at(t, "input[2].valueInteger")),
                     276);
    FX_EQ(t, "input[6].type.coding[0].code", "feeding");
    FX_EQ(t, "input[6].valueCode", "borstvoeding");
    FX_EQ(t, "input[9].type.coding[0].code", "family_situation");
    assert_null(fx_at(t, "input[10]"));
    fx_write("task-handover", t);
    fx_write_input("handover-received", ref, item);
    sr = fhir_out_service_request(&fx_ctx, ref, item, &e);
    assert_non_null(sr);
    FX_EQ(sr, "category[0].coding[0].code", "overdracht-jgz");
    FX_EQ(sr, "reasonCode[0].coding[0].code", "psychosociaal");
    FX_EQ(sr, "contained[0].practitioner.display", "J. de Proef");
    assert_null(fx_at(sr, "code"));
    assert_non_null(strstr(fx_str(sr, "note[0].text"), "Kraamzorg"));
    assert_null(fx_at(sr, "note[1]"));
    fx_write("servicerequest-handover", sr);
    p = fhir_out_patient(&fx_ctx, ref, item, &e);
    FX_EQ(p, "identifier[0].value", "111222333");
    fx_write("patient-handover", p);
    json_object_put(t);
    json_object_put(sr);
    json_object_put(p);
    json_object_put(item);
    json_object_put(ref);
}

/* At the placer: JGZ's answer (examples/referral-accepted.json) onto the
 * Task, its note and contact with time and author, its planned date; PUT
 * back as read it is no change. */
static void
test_task_status_items(void **state)
{
    json_object *ref =
        fx_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *acc = fx_item("referral-accepted.json", FX_ACC);
    json_object *other = fx_item("referral.json", FX_MSG);
    json_object *items = json_object_new_array(), *out = NULL;
    struct fhir_ctx vl = fx_ctx;
    struct fhir_error e;

    (void)state;
    vl.org_id = FX_VL;
    json_object_object_add(acc, "sender", json_object_new_string(FX_JGZ));
    json_object_array_add(items, other); /* not a referral-status */
    json_object_array_add(items, acc);
    json_object *t = fhir_out_task(&vl, ref, NULL);
    fhir_out_task_add_status(&vl, t, items);
    assert_non_null(
        strstr(fx_str(t, "note[0].text"), "Prenatal home visit planned"));
    assert_non_null(strstr(fx_str(t, "note[0].text"),
                           "Contact: M. Jansen, jeugdverpleegkundige, "
                           "010-5550199, m.jansen@jgz-voorbeeld.example"));
    FX_EQ(t, "note[0].time", "2026-12-05T09:12:40.031Z");
    FX_EQ(t, "note[0].authorReference.identifier.value", "87654321");
    assert_null(fx_at(t, "note[1]"));
    FX_EQ(t, "executionPeriod.start", "2027-01-12");
    fx_write("task-placer-answered", t);
    fx_write_input("placer-answered", ref, acc);
    memset(&e, 0, sizeof(e));
    if (fhir_in_task_update(&vl, ref, t, &out, &e) != KR_OK)
        fail_msg("%s: %s", e.expression, e.diagnostics);
    assert_null(out);
    /* Another referral's items, or none: nothing added. */
    json_object *t2 = fhir_out_task(&vl, ref, NULL);
    json_object_object_add(acc, "referral_id", json_object_new_string(FX_MSG));
    fhir_out_task_add_status(&vl, t2, items);
    fhir_out_task_add_status(&vl, t2, NULL);
    assert_null(fx_at(t2, "note"));
    assert_null(fx_at(t2, "executionPeriod"));
    json_object_put(t2);
    json_object_put(t);
    json_object_put(items);
    json_object_put(ref);
}

/* Damaged inputs: no resource, or a smaller one; never a crash, never a
 * value that does not fit its element. */
static void
test_damaged(void **state)
{
    static const char *const bad[] = {
        "null",
        "[]",
        "{}",
        "{\"referral_id\": 5, \"state\": \"accepted\"}",
        "{\"referral_id\": \"" FX_RID "\", \"state\": \"weird\"}",
        "{\"referral_id\": \"B0E0A1E2C3D4E5F60718293A4B5C6D7E\", "
        "\"state\": \"accepted\"}",
    };
    struct fhir_error e;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_object *r = json_tokener_parse(bad[i]);
        assert_null(fhir_out_task(&fx_ctx, r, NULL));
        assert_null(fhir_out_service_request(&fx_ctx, r, r, &e));
        assert_null(fhir_out_patient(&fx_ctx, r, r, &e));
        assert_null(fhir_out_notice_communication(&fx_ctx, r));
        json_object_put(r);
    }
    /* Wrong types and values everywhere: left out. */
    json_object *r = json_tokener_parse(
        "{\"referral_id\": \"" FX_RID "\", \"state\": \"accepted\", "
        "\"placer\": \"nobody\", \"performer\": 7, \"opened_at\": "
        "\"yesterday\", \"state_at\": \"2026-13-45T99:00:00Z\", "
        "\"reason\": \" padded \", \"outcome\": \"two  spaces\", "
        "\"cancel_pending\": \"yes\", \"history\": [7, null, {}]}");
    json_object *it = json_tokener_parse(
        "{\"priority\": \"whenever\", \"data_category\": [], "
        "\"content\": {\"referral\": {\"mother\": {\"bsn\": \"   \", "
        "\"birth_date\": \"12-03-1994\", \"address\": {\"street\": "
        "\"\"}}, \"expected_delivery_date\": \"soon\", \"reason_codes\": "
        "[1, \"ok\", \"not ok \"], \"referrer\": {}}}}");
    json_object *t = fhir_out_task(&fx_ctx, r, it);
    assert_non_null(t);
    assert_null(fx_at(t, "requester"));
    assert_null(fx_at(t, "owner"));
    assert_null(fx_at(t, "authoredOn"));
    assert_null(fx_at(t, "lastModified"));
    assert_null(fx_at(t, "statusReason"));
    assert_null(fx_at(t, "output"));
    assert_null(fx_at(t, "priority"));
    assert_null(fx_at(t, "businessStatus"));
    fx_write("task-damaged", t);
    json_object *sr = fhir_out_service_request(&fx_ctx, r, it, &e);
    assert_non_null(sr);
    assert_null(fx_at(sr, "contained[1]"));
    FX_EQ(sr, "reasonCode[0].coding[0].code", "ok");
    assert_null(fx_at(sr, "reasonCode[1]"));
    fx_write("servicerequest-damaged", sr);
    json_object *p = fhir_out_patient(&fx_ctx, r, it, &e);
    assert_non_null(p);
    assert_null(fx_at(p, "identifier"));
    assert_null(fx_at(p, "birthDate"));
    assert_null(fx_at(p, "address"));
    fx_write("patient-damaged", p);
    json_object_put(t);
    json_object_put(sr);
    json_object_put(p);
    json_object_put(it);
    json_object_put(r);

    /* White space FHIR's strings do not allow (a no-break space, a form
     * feed, a vertical tab) becomes a space; a string of nothing else is
     * absent; a code with it is no code. */
    r = fx_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    it = json_tokener_parse(
        "{\"content\": {\"referral\": {\"mother\": {\"given_name\": "
        "\"Anna\\u00a0Maria\", \"family_name\": \"\\f\\u3000\", "
        "\"phone\": \"06\\u0001123\"}, \"reason_text\": "
        "\"one\\u000btwo\", \"reason_codes\": [\"a\\u00a0b\", "
        "\"psychosociaal\"]}}}");
    p = fhir_out_patient(&fx_ctx, r, it, &e);
    FX_EQ(p, "name[0].given[0]", "Anna Maria");
    assert_null(fx_at(p, "name[0].family"));
    FX_EQ(p, "telecom[0].value", "06 123");
    fx_write("patient-white-space", p);
    sr = fhir_out_service_request(&fx_ctx, r, it, &e);
    FX_EQ(sr, "note[0].text", "one two");
    FX_EQ(sr, "reasonCode[0].coding[0].code", "psychosociaal");
    assert_null(fx_at(sr, "reasonCode[1]"));
    fx_write("servicerequest-white-space", sr);
    json_object_put(p);
    json_object_put(sr);
    json_object_put(it);
    json_object_put(r);

    /* A context with nothing usable. */
    struct fhir_ctx odd = {"nobody", "not a url", 0};
    json_object *cs = fhir_out_capability(&odd, "x y  z");
    assert_null(fx_at(cs, "implementation.url"));
    assert_null(fx_at(cs, "software.version"));
    fx_write("capabilitystatement-odd", cs);
    json_object_put(cs);
    json_object *b = fhir_out_searchset(&odd, NULL, 0, NULL, NULL);
    FX_EQ(b, "type", "searchset");
    json_object_put(b);
    assert_null(fhir_out_task(NULL, NULL, NULL));
}

/* The birth's wall clock with the Dutch offset of its moment. */
static void
test_birth_offset(void **state)
{
    static const char *const cases[][2] = {
        {"2027-02-10T04:32", "2027-02-10T04:32:00+01:00"},
        {"2027-07-01T12:00", "2027-07-01T12:00:00+02:00"},
        {"2027-03-28T01:59", "2027-03-28T01:59:00+01:00"},
        {"2027-03-28T03:00", "2027-03-28T03:00:00+02:00"},
        {"2027-10-31T02:30", "2027-10-31T02:30:00+02:00"},
        {"2027-10-31T03:00", "2027-10-31T03:00:00+01:00"},
        {"2026-03-29T12:00", "2026-03-29T12:00:00+02:00"},
        {"2026-03-28T12:00", "2026-03-28T12:00:00+01:00"},
    };
    json_object *ref =
        fx_referral("handover", "received", 0, 0, NULL, NULL, 0, 0);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"content\": {\"handover\": {\"birth_datetime\": "
                 "\"%s\"}}}",
                 cases[i][0]);
        json_object *it = json_tokener_parse(text);
        json_object *t = fhir_out_task(&fx_ctx, ref, it);
        FX_EQ(t, "input[0].valueDateTime", cases[i][1]);
        json_object_put(t);
        json_object_put(it);
    }
    /* Not a wall clock: left out. */
    json_object *it =
        json_tokener_parse("{\"content\": {\"handover\": {\"birth_datetime\": "
                           "\"2027-02-30T04:32\", \"apgar_1\": 11}}}");
    json_object *t = fhir_out_task(&fx_ctx, ref, it);
    assert_null(fx_at(t, "input"));
    json_object_put(t);
    json_object_put(it);
    json_object_put(ref);
}

/* What this side shows, the inbound side reads back: a Task PUT back as it
 * was read changes nothing, at the performer and at the placer, for a
 * referral and a handover; the example PATCH applied to it accepts. */
static void
test_round_trip(void **state)
{
    const char *kinds[][2] = {{"referral", "referral.json"},
                              {"handover", "handover.json"}};
    struct fhir_error e;

    (void)state;
    for (size_t k = 0; k < 2; k++) {
        json_object *item = fx_item(kinds[k][1], FX_MSG);
        json_object *ref =
            fx_referral(kinds[k][0], NULL, 0, 0, NULL, NULL, 0, 0);
        for (int placer = 0; placer < 2; placer++) {
            struct fhir_ctx ctx = fx_ctx;
            json_object *out = NULL;
            ctx.org_id = placer ? FX_VL : FX_JGZ;
            json_object *t = fhir_out_task(&ctx, ref, placer ? NULL : item);
            memset(&e, 0, sizeof(e));
            int rc = fhir_in_task_update(&ctx, ref, t, &out, &e);
            if (rc != KR_OK)
                fail_msg("%s at the %s: %s: %s", kinds[k][0],
                         placer ? "placer" : "performer", e.expression,
                         e.diagnostics);
            assert_null(out);
            json_object_put(t);
        }
        /* JGZ accepts with examples/fhir/task-accept-patch.json. */
        char *text = fx_read("fhir/task-accept-patch.json");
        json_object *patch = json_tokener_parse(text);
        json_object *t = fhir_out_task(&fx_ctx, ref, item), *out = NULL;
        free(text);
        assert_int_equal(fhir_json_patch_apply(t, patch, &e), KR_OK);
        if (fhir_in_task_update(&fx_ctx, ref, t, &out, &e) != KR_OK)
            fail_msg("%s: %s: %s", kinds[k][0], e.expression, e.diagnostics);
        assert_non_null(out);
        FX_EQ(out, "type", "referral-status");
        FX_EQ(out, "recipient", FX_VL);
        FX_EQ(out, "referral_status.status", "accepted");
        FX_EQ(out, "referral_status.planned_date", "2027-01-12");
        json_object_put(out);
        json_object_put(t);
        json_object_put(patch);
        json_object_put(ref);
        json_object_put(item);
    }
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_performer),
        cmocka_unit_test(test_task_business_status),
        cmocka_unit_test(test_service_request),
        cmocka_unit_test(test_patient),
        cmocka_unit_test(test_handover),
        cmocka_unit_test(test_task_status_items),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_birth_offset),
        cmocka_unit_test(test_round_trip),
    };

    return fx_run_out("test_fhir_out", tests, sizeof(tests) / sizeof(tests[0]),
                      argc, argv);
}
