/*
 * test_fhir_out.c - krfhir's outbound mappers (clients/krfhir/fhir_out*.c)
 * over real inputs: the inbox items and referral records that libkr's JSON
 * layer makes of what a node holds (examples/referral.json and
 * examples/handover.json sent, unpacked and listed as a node lists them;
 * a NodeReferral as kr_referral_json prints it; a broker's escalation
 * notice), element by element, and damaged inputs that must give no
 * resource or a smaller one, never a crash.
 *
 *     test_fhir_out                 the checks
 *     test_fhir_out --write DIR     also writes every resource the
 *                                   gateway returns into DIR (NAME.json), for
 *                                   tests/fhir/run.sh to validate
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

#define S_RID "b0e0a1e2c3d4e5f60718293a4b5c6d7e"
#define S_MSG "b2c50a359e13930c399c9502afba9fe2"
#define S_ACC "5d1c0b6e0e8f4a3b9c2d7e6f8a9b0c1d"
#define S_VL "ura:00001234"
#define S_JGZ "ura:87654321"
/* 2026-12-05T09:12:40.031Z and later. */
#define S_T0 1796461960031ull

static const char *s_write_dir;
static const struct fhir_ctx s_ctx = {S_JGZ, "http://127.0.0.1:8380",
                                      S_T0 + 3600000};

/* 'o' at a dotted path with [i] indices ("a.b[0].c"), or NULL. */
static json_object *
s_at(json_object *o, const char *path)
{
    char buf[256], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t != NULL && o != NULL;
         t = strtok_r(NULL, ".", &save)) {
        char *br = strchr(t, '[');
        if (br != NULL)
            *br = '\0';
        if (!json_object_object_get_ex(o, t, &o))
            return NULL;
        while (br != NULL && o != NULL) {
            long i = strtol(br + 1, &br, 10);
            if (!json_object_is_type(o, json_type_array) || i < 0 ||
                (size_t)i >= json_object_array_length(o))
                return NULL;
            o = json_object_array_get_idx(o, (size_t)i);
            br = strchr(br, '[');
        }
    }
    return o;
}

static const char *
s_str(json_object *o, const char *path)
{
    json_object *v = s_at(o, path);
    return v != NULL && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

#define S_EQ(o, path, want)                                                    \
    do {                                                                       \
        const char *v_ = s_str((o), (path));                                   \
        if (v_ == NULL || strcmp(v_, (want)) != 0)                             \
            fail_msg("%s: '%s', want '%s'", (path), v_ ? v_ : "(absent)",      \
                     (want));                                                  \
    } while (0)

static void
s_write(const char *name, json_object *o)
{
    char path[1024];

    if (s_write_dir == NULL || o == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s.json", s_write_dir, name);
    if (json_object_to_file_ext(path, o,
                                JSON_C_TO_STRING_PRETTY |
                                    JSON_C_TO_STRING_NOSLASHESCAPE) != 0)
        fail_msg("cannot write %s", path);
}

/* The mappers' inputs [referral record, inbox item], as seeds for
 * tests/fuzz/fuzz_fhir_out.c (DIR/inputs/NAME). */
static void
s_write_input(const char *name, json_object *ref, json_object *item)
{
    char path[1024];
    json_object *a;

    if (s_write_dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/inputs", s_write_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/inputs/%s", s_write_dir, name);
    a = json_object_new_array();
    json_object_array_add(a, json_object_get(ref));
    json_object_array_add(a, item != NULL ? json_object_get(item) : NULL);
    if (json_object_to_file_ext(path, a, JSON_C_TO_STRING_PLAIN) != 0)
        fail_msg("cannot write %s", path);
    json_object_put(a);
}

static char *
s_read(const char *name)
{
    char path[1024];
    FILE *f;
    long n;
    char *buf;

    snprintf(path, sizeof(path), "%s/examples/%s", KR_SOURCE_DIR, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* An example sent and received: the inbox item, as kr_inbox_json and
 * kr_inbox_get_json give it at the recipient. */
static json_object *
s_item(const char *example, const char *msg_id_hex)
{
    char *text = s_read(example), err[256];
    json_object *in = NULL, *out;
    uint8_t *req = NULL, mid[16];
    size_t len = 0;
    int ok = 0;

    assert_int_equal(
        json_map_parse_text(text, strlen(text), &in, err, sizeof(err)), KR_OK);
    json_object_object_add(in, "msg_id", json_object_new_string(msg_id_hex));
    if (json_map_send_parse(in, util_now_ms(), &req, &len, err, sizeof(err)) !=
        KR_OK)
        fail_msg("%s: %s", example, err);
    Kr__V1__LocalRequest *lr = kr__v1__local_request__unpack(NULL, len, req);
    assert_non_null(lr);
    Kr__V1__SendRequest *s = lr->send;
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    uint8_t pseud[32];
    memset(pseud, 0x5a, sizeof(pseud));
    assert_int_equal(util_unhex(msg_id_hex, mid, 16), KR_OK);
    it.msg_id = (ProtobufCBinaryData){16, mid};
    it.sender = S_VL;
    it.type = s->type;
    it.referral_id = s->referral_id;
    it.case_id = s->case_id;
    it.subject_pseudonym = (ProtobufCBinaryData){32, pseud};
    it.purpose = s->purpose;
    it.created_at_ms = S_T0;
    it.received_at_ms = S_T0 + 8;
    it.content = s->content;
    it.seq = 3;
    it.priority = s->priority;
    it.data_category = s->data_category;
    it.legal_basis = s->legal_basis;
    it.consent_id = s->consent_id;
    out = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 1);
    kr__v1__local_request__free_unpacked(lr, NULL);
    free(req);
    json_object_put(in);
    free(text);
    return out;
}

/* A node's record of the referral, as kr_referral_json gives it: opened
 * by S_MSG at S_T0, then 'to' set by JGZ (S_ACC) 4 s later. */
static json_object *
s_referral(const char *type, const char *to, int cancel_pending,
           int cancel_step, const char *reason, const char *outcome,
           uint32_t escalations, int overdue)
{
    Kr__V1__NodeReferral r = KR__V1__NODE_REFERRAL__INIT;
    Kr__V1__NodeReferralStep s0 = KR__V1__NODE_REFERRAL_STEP__INIT;
    Kr__V1__NodeReferralStep s1 = KR__V1__NODE_REFERRAL_STEP__INIT;
    Kr__V1__NodeReferralStep *steps[2] = {&s0, &s1};
    uint8_t rid[16], m0[16], m1[16], cid[16];
    json_object *o;
    util_unhex(S_RID, rid, 16);
    util_unhex(S_MSG, m0, 16);
    util_unhex(S_ACC, m1, 16);
    memset(cid, 0xca, sizeof(cid));
    r.referral_id = (ProtobufCBinaryData){16, rid};
    r.placer = S_VL;
    r.performer = S_JGZ;
    r.purpose = strcmp(type, "handover") == 0 ? "overdracht-jgz"
                                              : "prenataal-huisbezoek";
    r.type = strcmp(type, "handover") == 0 ? KR__V1__MESSAGE_TYPE__HANDOVER
                                           : KR__V1__MESSAGE_TYPE__REFERRAL;
    if (r.type == KR__V1__MESSAGE_TYPE__HANDOVER)
        r.case_id = (ProtobufCBinaryData){16, cid};
    r.opened_at_ms = S_T0;
    s0.at_ms = S_T0;
    s0.org_id = S_VL;
    s0.to = KR__V1__TASK_STATUS__TASK_REQUESTED;
    s0.msg_id = (ProtobufCBinaryData){16, m0};
    r.history = steps;
    r.n_history = 1;
    r.state = KR__V1__TASK_STATUS__TASK_REQUESTED;
    r.state_at_ms = S_T0;
    if (to != NULL) {
        s1.at_ms = S_T0 + 4000;
        s1.org_id = S_JGZ;
        s1.from = KR__V1__TASK_STATUS__TASK_REQUESTED;
        s1.to = (Kr__V1__TaskStatus)task_status_parse(to);
        s1.cancel_step = (Kr__V1__CancelStep)cancel_step;
        s1.reason = (char *)(reason ? reason : "");
        s1.outcome = (char *)(outcome ? outcome : "");
        s1.msg_id = (ProtobufCBinaryData){16, m1};
        r.n_history = 2;
        r.state = s1.to;
        r.state_at_ms = s1.at_ms;
    }
    r.cancel_pending = cancel_pending;
    r.reason = (char *)(reason ? reason : "");
    r.outcome = (char *)(outcome ? outcome : "");
    r.escalations = escalations;
    if (escalations > 0)
        r.last_escalation_ms =
            overdue ? r.state_at_ms + 1000 : r.state_at_ms - 1000;
    o = json_map_node_referral(&r, 1);
    assert_non_null(o);
    return o;
}

/* The Task at the performer: the record's state and parties, the item's
 * codes, references to its ServiceRequest and Patient. */
static void
test_task_performer(void **state)
{
    json_object *ref =
        s_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *item = s_item("referral.json", S_MSG);
    json_object *t = fhir_out_task(&s_ctx, ref, item);

    (void)state;
    assert_non_null(t);
    S_EQ(t, "resourceType", "Task");
    S_EQ(t, "id", S_RID);
    S_EQ(t, "identifier[0].system", "urn:kansrijk:id:referral");
    S_EQ(t, "identifier[0].value", S_RID);
    S_EQ(t, "status", "accepted");
    S_EQ(t, "intent", "order");
    S_EQ(t, "priority", "routine");
    S_EQ(t, "focus.reference", "ServiceRequest/" S_RID);
    S_EQ(t, "for.reference", "Patient/" S_RID);
    S_EQ(t, "requester.identifier.system", FHIR_SYS_URA);
    S_EQ(t, "requester.identifier.value", "00001234");
    S_EQ(t, "owner.identifier.system", FHIR_SYS_URA);
    S_EQ(t, "owner.identifier.value", "87654321");
    S_EQ(t, "authoredOn", "2026-12-05T09:12:40.031Z");
    S_EQ(t, "lastModified", "2026-12-05T09:12:44.031Z");
    S_EQ(t, "meta.lastUpdated", "2026-12-05T09:12:44.031Z");
    S_EQ(t, "meta.security[0].system", "urn:kansrijk:cs:data-category");
    S_EQ(t, "meta.security[0].code", "medisch");
    S_EQ(t, "meta.security[1].system", "urn:kansrijk:cs:legal-basis");
    S_EQ(t, "meta.security[1].code", "consent");
    assert_null(s_at(t, "businessStatus"));
    assert_null(s_at(t, "statusReason"));
    assert_null(s_at(t, "output"));
    s_write("task-accepted", t);
    s_write_input("referral-accepted", ref, item);
    json_object_put(t);

    /* At the placer the node holds no opened content: no references that
     * would not resolve. */
    t = fhir_out_task(&s_ctx, ref, NULL);
    assert_non_null(t);
    S_EQ(t, "status", "accepted");
    assert_null(s_at(t, "focus"));
    assert_null(s_at(t, "for"));
    assert_null(s_at(t, "meta.security"));
    S_EQ(t, "owner.identifier.value", "87654321");
    s_write("task-placer", t);
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
    r = s_referral("referral", "accepted", 1, 1, "consent-revoked", NULL, 0, 0);
    t = fhir_out_task(&s_ctx, r, NULL);
    S_EQ(t, "businessStatus.coding[0].system",
         "urn:kansrijk:cs:business-status");
    S_EQ(t, "businessStatus.coding[0].code", "cancel-requested");
    S_EQ(t, "statusReason.coding[0].system", "urn:kansrijk:cs:status-reason");
    S_EQ(t, "statusReason.coding[0].code", "consent-revoked");
    s_write("task-cancel-requested", t);
    s_write_input("referral-cancel-requested", r, NULL);
    json_object_put(t);
    json_object_put(r);

    r = s_referral("referral", "cancelled", 0, 2, NULL, NULL, 0, 0);
    t = fhir_out_task(&s_ctx, r, NULL);
    S_EQ(t, "status", "cancelled");
    S_EQ(t, "businessStatus.coding[0].code", "cancel-confirmed");
    json_object_put(t);
    json_object_put(r);

    r = s_referral("referral", "in-progress", 0, 3, NULL, NULL, 0, 0);
    t = fhir_out_task(&s_ctx, r, NULL);
    S_EQ(t, "businessStatus.coding[0].code", "cancel-declined");
    json_object_put(t);
    json_object_put(r);

    r = s_referral("referral", "received", 0, 0, NULL, NULL, 2, 1);
    t = fhir_out_task(&s_ctx, r, NULL);
    S_EQ(t, "businessStatus.coding[0].code", "escalated");
    assert_non_null(strstr(s_str(t, "businessStatus.text"), "2 escalations"));
    s_write("task-escalated", t);
    s_write_input("referral-escalated", r, NULL);
    json_object_put(t);
    json_object_put(r);

    /* Escalated in an earlier state only: not overdue now. */
    r = s_referral("referral", "received", 0, 0, NULL, NULL, 1, 0);
    t = fhir_out_task(&s_ctx, r, NULL);
    assert_null(s_at(t, "businessStatus"));
    json_object_put(t);
    json_object_put(r);

    r = s_referral("referral", "completed", 0, 0, NULL, "visit-done", 0, 0);
    t = fhir_out_task(&s_ctx, r, NULL);
    S_EQ(t, "status", "completed");
    S_EQ(t, "output[0].type.coding[0].system", "urn:kansrijk:cs:output-type");
    S_EQ(t, "output[0].type.coding[0].code", "outcome");
    S_EQ(t, "output[0].valueCodeableConcept.coding[0].system",
         "urn:kansrijk:cs:outcome");
    S_EQ(t, "output[0].valueCodeableConcept.coding[0].code", "visit-done");
    s_write("task-completed", t);
    s_write_input("referral-completed", r, NULL);
    json_object_put(t);
    json_object_put(r);

    r = s_referral("referral", "rejected", 0, 0, "no-capacity", NULL, 0, 0);
    t = fhir_out_task(&s_ctx, r, NULL);
    S_EQ(t, "status", "rejected");
    S_EQ(t, "statusReason.coding[0].code", "no-capacity");
    json_object_put(t);
    json_object_put(r);

    /* Just placed: requested. */
    r = s_referral("referral", NULL, 0, 0, NULL, NULL, 0, 0);
    t = fhir_out_task(&s_ctx, r, NULL);
    S_EQ(t, "status", "requested");
    json_object_put(t);
    json_object_put(r);
}

static void
test_service_request(void **state)
{
    json_object *ref =
        s_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *item = s_item("referral.json", S_MSG);
    struct fhir_error e = {0};
    json_object *sr = fhir_out_service_request(&s_ctx, ref, item, &e);

    (void)state;
    assert_non_null(sr);
    S_EQ(sr, "resourceType", "ServiceRequest");
    S_EQ(sr, "id", S_RID);
    S_EQ(sr, "identifier[0].value", S_RID);
    S_EQ(sr, "status", "active");
    S_EQ(sr, "intent", "order");
    S_EQ(sr, "subject.reference", "Patient/" S_RID);
    S_EQ(sr, "category[0].coding[0].system", "urn:kansrijk:cs:purpose");
    S_EQ(sr, "category[0].coding[0].code", "prenataal-huisbezoek");
    S_EQ(sr, "code.coding[0].system", "urn:kansrijk:cs:service");
    S_EQ(sr, "code.coding[0].code", "prenataal-huisbezoek");
    S_EQ(sr, "reasonCode[0].coding[0].system", "urn:kansrijk:cs:reason");
    S_EQ(sr, "reasonCode[0].coding[0].code", "psychosociaal");
    S_EQ(sr, "reasonCode[1].coding[0].code", "financiele-zorgen");
    assert_null(s_at(sr, "reasonCode[2]"));
    assert_non_null(strstr(s_str(sr, "note[0].text"), "prenataal huisbezoek"));
    S_EQ(sr, "priority", "routine");
    S_EQ(sr, "authoredOn", "2026-12-05T09:12:40.031Z");
    S_EQ(sr, "requester.reference", "#referrer");
    S_EQ(sr, "performer[0].identifier.value", "87654321");
    S_EQ(sr, "contained[0].resourceType", "PractitionerRole");
    S_EQ(sr, "contained[0].id", "referrer");
    S_EQ(sr, "contained[0].practitioner.display", "J. de Proef");
    S_EQ(sr, "contained[0].code[0].text", "verloskundige");
    S_EQ(sr, "contained[0].identifier[0].system", FHIR_SYS_AGB);
    S_EQ(sr, "contained[0].identifier[0].value", "01234567");
    S_EQ(sr, "contained[0].organization.identifier.value", "00001234");
    S_EQ(sr, "contained[0].telecom[0].system", "phone");
    S_EQ(sr, "contained[0].telecom[0].value", "020-1234567");
    S_EQ(sr, "contained[0].telecom[1].system", "email");
    S_EQ(sr, "contained[1].resourceType", "Observation");
    S_EQ(sr, "contained[1].id", "edd");
    S_EQ(sr, "contained[1].code.coding[0].system", "http://loinc.org");
    S_EQ(sr, "contained[1].code.coding[0].code", "11778-8");
    S_EQ(sr, "contained[1].valueDateTime", "2027-02-14");
    S_EQ(sr, "contained[1].subject.reference", "Patient/" S_RID);
    S_EQ(sr, "supportingInfo[0].type", "Consent");
    S_EQ(sr, "supportingInfo[0].identifier.system", "urn:kansrijk:id:consent");
    S_EQ(sr, "supportingInfo[0].identifier.value",
         "c0115e4700000000000000000000a001");
    S_EQ(sr, "supportingInfo[1].reference", "#edd");
    s_write("servicerequest", sr);
    json_object_put(sr);

    /* Final states: what RequestStatus says of the end. */
    json_object *done =
        s_referral("referral", "completed", 0, 0, NULL, "visit-done", 0, 0);
    sr = fhir_out_service_request(&s_ctx, done, item, &e);
    S_EQ(sr, "status", "completed");
    json_object_put(sr);
    json_object_put(done);
    done = s_referral("referral", "cancelled", 0, 0, NULL, NULL, 0, 0);
    sr = fhir_out_service_request(&s_ctx, done, item, &e);
    S_EQ(sr, "status", "revoked");
    json_object_put(sr);
    json_object_put(done);

    /* At the placer: nothing opened here, 404 saying so. */
    memset(&e, 0, sizeof(e));
    assert_null(fhir_out_service_request(&s_ctx, ref, NULL, &e));
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
        s_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *item = s_item("referral.json", S_MSG);
    struct fhir_error e = {0};
    json_object *p = fhir_out_patient(&s_ctx, ref, item, &e);

    (void)state;
    assert_non_null(p);
    S_EQ(p, "resourceType", "Patient");
    S_EQ(p, "id", S_RID);
    S_EQ(p, "identifier[0].system", "http://fhir.nl/fhir/NamingSystem/bsn");
    S_EQ(p, "identifier[0].value", "111222333");
    S_EQ(p, "name[0].family", "Voorbeeld");
    S_EQ(p, "name[0].given[0]", "Anna");
    S_EQ(p, "birthDate", "1994-03-12");
    S_EQ(p, "telecom[0].system", "phone");
    S_EQ(p, "telecom[0].value", "06-12345678");
    S_EQ(p, "address[0].line[0]", "Proefstraat 12a");
    S_EQ(p, "address[0]._line[0].extension[0].url",
         "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName");
    S_EQ(p, "address[0]._line[0].extension[0].valueString", "Proefstraat");
    S_EQ(p, "address[0]._line[0].extension[1].url",
         "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber");
    S_EQ(p, "address[0]._line[0].extension[1].valueString", "12a");
    S_EQ(p, "address[0].postalCode", "1234 AB");
    S_EQ(p, "address[0].city", "Teststad");
    s_write("patient", p);
    json_object_put(p);
    memset(&e, 0, sizeof(e));
    assert_null(fhir_out_patient(&s_ctx, ref, NULL, &e));
    assert_int_equal(e.status, 404);
    json_object_put(item);
    json_object_put(ref);
}

/* A HANDOVER: the same three resources, from its content. */
static void
test_handover(void **state)
{
    json_object *ref =
        s_referral("handover", "received", 0, 0, NULL, NULL, 0, 0);
    json_object *item = s_item("handover.json", S_MSG);
    struct fhir_error e = {0};
    json_object *t, *sr, *p;

    (void)state;
    t = fhir_out_task(&s_ctx, ref, item);
    S_EQ(t, "status", "received");
    S_EQ(t, "identifier[1].system", "urn:kansrijk:id:case");
    S_EQ(t, "identifier[1].value", "cacacacacacacacacacacacacacacaca");
    S_EQ(t, "focus.reference", "ServiceRequest/" S_RID);
    S_EQ(t, "input[0].type.coding[0].system", "urn:kansrijk:cs:handover");
    S_EQ(t, "input[0].type.coding[0].code", "child_given_name");
    S_EQ(t, "input[0].valueString", "Noor");
    S_EQ(t, "input[1].type.coding[0].code", "birth_datetime");
    S_EQ(t, "input[1].valueDateTime", "2027-02-10T04:32:00+01:00");
    S_EQ(t, "input[2].type.coding[0].code", "gestational_age_days");
    assert_int_equal(json_object_get_int(s_at(t, "input[2].valueInteger")),
                     276);
    S_EQ(t, "input[6].type.coding[0].code", "feeding");
    S_EQ(t, "input[6].valueCode", "borstvoeding");
    S_EQ(t, "input[9].type.coding[0].code", "family_situation");
    assert_null(s_at(t, "input[10]"));
    s_write("task-handover", t);
    s_write_input("handover-received", ref, item);
    sr = fhir_out_service_request(&s_ctx, ref, item, &e);
    assert_non_null(sr);
    S_EQ(sr, "category[0].coding[0].code", "overdracht-jgz");
    S_EQ(sr, "reasonCode[0].coding[0].code", "psychosociaal");
    S_EQ(sr, "contained[0].practitioner.display", "J. de Proef");
    assert_null(s_at(sr, "code"));
    assert_non_null(strstr(s_str(sr, "note[0].text"), "Kraamzorg"));
    assert_null(s_at(sr, "note[1]"));
    s_write("servicerequest-handover", sr);
    p = fhir_out_patient(&s_ctx, ref, item, &e);
    S_EQ(p, "identifier[0].value", "111222333");
    s_write("patient-handover", p);
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
        s_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *acc = s_item("referral-accepted.json", S_ACC);
    json_object *other = s_item("referral.json", S_MSG);
    json_object *items = json_object_new_array(), *out = NULL;
    struct fhir_ctx vl = s_ctx;
    struct fhir_error e;

    (void)state;
    vl.org_id = S_VL;
    json_object_object_add(acc, "sender", json_object_new_string(S_JGZ));
    json_object_array_add(items, other); /* not a referral-status */
    json_object_array_add(items, acc);
    json_object *t = fhir_out_task(&vl, ref, NULL);
    fhir_out_task_add_status(&vl, t, items);
    assert_non_null(
        strstr(s_str(t, "note[0].text"), "Prenatal home visit planned"));
    assert_non_null(strstr(s_str(t, "note[0].text"),
                           "Contact: M. Jansen, jeugdverpleegkundige, "
                           "010-5550199, m.jansen@jgz-voorbeeld.example"));
    S_EQ(t, "note[0].time", "2026-12-05T09:12:40.031Z");
    S_EQ(t, "note[0].authorReference.identifier.value", "87654321");
    assert_null(s_at(t, "note[1]"));
    S_EQ(t, "executionPeriod.start", "2027-01-12");
    s_write("task-placer-answered", t);
    s_write_input("placer-answered", ref, acc);
    memset(&e, 0, sizeof(e));
    if (fhir_in_task_update(&vl, ref, t, &out, &e) != KR_OK)
        fail_msg("%s: %s", e.expression, e.diagnostics);
    assert_null(out);
    /* Another referral's items, or none: nothing added. */
    json_object *t2 = fhir_out_task(&vl, ref, NULL);
    json_object_object_add(acc, "referral_id", json_object_new_string(S_MSG));
    fhir_out_task_add_status(&vl, t2, items);
    fhir_out_task_add_status(&vl, t2, NULL);
    assert_null(s_at(t2, "note"));
    assert_null(s_at(t2, "executionPeriod"));
    json_object_put(t2);
    json_object_put(t);
    json_object_put(items);
    json_object_put(ref);
}

/* A broker's escalation notice, as the node lists it. */
static json_object *
s_notice_item(int kind, const char *timer, const char *reason)
{
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__Notice nt = KR__V1__NOTICE__INIT;
    uint8_t id[16], rid[16];
    int ok;

    memset(id, 0xe5, sizeof(id));
    util_unhex(S_RID, rid, 16);
    nt.notice_id = (ProtobufCBinaryData){16, id};
    nt.kind = (Kr__V1__NoticeKind)kind;
    nt.referral_id = (ProtobufCBinaryData){16, rid};
    nt.timer = (char *)(timer ? timer : "");
    nt.step = 1;
    nt.state = KR__V1__TASK_STATUS__TASK_REQUESTED;
    nt.due_at_ms = S_T0 + 60000;
    nt.overdue_ms = 250;
    nt.at_ms = S_T0 + 60250;
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
    json_object *c = fhir_out_notice_communication(&s_ctx, item);

    (void)state;
    assert_non_null(c);
    S_EQ(c, "resourceType", "Communication");
    S_EQ(c, "id", "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5");
    S_EQ(c, "status", "completed");
    S_EQ(c, "category[0].coding[0].system", "urn:kansrijk:cs:business-status");
    S_EQ(c, "category[0].coding[0].code", "escalated");
    S_EQ(c, "about[0].reference", "Task/" S_RID);
    S_EQ(c, "recipient[0].identifier.value", "87654321");
    S_EQ(c, "sent", "2026-12-05T09:13:40.281Z");
    assert_non_null(strstr(s_str(c, "payload[0].contentString"), "ack timer"));
    s_write("communication-escalation", c);
    s_write_input("notice-escalation", item, item);
    json_object_put(c);
    json_object_put(item);

    item = s_notice_item(KR__V1__NOTICE_KIND__NOTICE_CANCEL_REQUEST, NULL,
                         "consent-revoked");
    c = fhir_out_notice_communication(&s_ctx, item);
    S_EQ(c, "category[0].coding[0].code", "cancel-requested");
    S_EQ(c, "reasonCode[0].coding[0].code", "consent-revoked");
    s_write("communication-cancel-request", c);
    json_object_put(c);
    json_object_put(item);

    /* A message is no notice. */
    item = s_item("referral.json", S_MSG);
    assert_null(fhir_out_notice_communication(&s_ctx, item));
    json_object_put(item);
}

static void
test_capability(void **state)
{
    json_object *cs = fhir_out_capability(&s_ctx, "1.2.3");
    json_object *res;
    int task = 0, sr = 0, pat = 0, consent = 0, sub = 0;

    (void)state;
    S_EQ(cs, "resourceType", "CapabilityStatement");
    S_EQ(cs, "fhirVersion", "4.0.1");
    S_EQ(cs, "kind", "instance");
    S_EQ(cs, "status", "active");
    S_EQ(cs, "software.version", "1.2.3");
    S_EQ(cs, "implementation.url", "http://127.0.0.1:8380");
    S_EQ(cs, "format[0]", "json");
    S_EQ(cs, "rest[0].mode", "server");
    S_EQ(cs, "rest[0].operation[0].name", "process-message");
    res = s_at(cs, "rest[0].resource");
    assert_non_null(res);
    for (size_t i = 0; i < json_object_array_length(res); i++) {
        json_object *r = json_object_array_get_idx(res, i);
        const char *type = s_str(r, "type");
        json_object *ia = s_at(r, "interaction");
        char codes[128] = "";
        for (size_t j = 0; j < json_object_array_length(ia); j++) {
            strcat(codes, s_str(json_object_array_get_idx(ia, j), "code"));
            strcat(codes, " ");
        }
        if (strcmp(type, "Task") == 0) {
            task = 1;
            assert_string_equal(codes, "read search-type update patch ");
            S_EQ(r, "searchParam[0].name", "status");
            S_EQ(r, "searchParam[1].name", "_lastUpdated");
            S_EQ(r, "searchParam[2].name", "owner");
            S_EQ(r, "searchParam[3].name", "requester");
            S_EQ(r, "searchParam[4].name", "_wait");
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
    s_write("capabilitystatement", cs);
    json_object_put(cs);
}

static void
test_message_response(void **state)
{
    json_object *ref = s_referral("referral", NULL, 0, 0, NULL, NULL, 0, 0);
    json_object *t = fhir_out_task(&s_ctx, ref, NULL);
    json_object *b = fhir_out_message_response(&s_ctx, "hdr-1", "ok", NULL, t);
    json_object *b2;
    struct fhir_error e = {0};

    (void)state;
    S_EQ(b, "resourceType", "Bundle");
    S_EQ(b, "type", "message");
    S_EQ(b, "entry[0].resource.resourceType", "MessageHeader");
    S_EQ(b, "entry[0].resource.response.identifier", "hdr-1");
    S_EQ(b, "entry[0].resource.response.code", "ok");
    S_EQ(b, "entry[0].resource.source.endpoint", "http://127.0.0.1:8380");
    S_EQ(b, "entry[0].resource.sender.identifier.value", "87654321");
    S_EQ(b, "entry[0].resource.focus[0].reference",
         "http://127.0.0.1:8380/Task/" S_RID);
    S_EQ(b, "entry[1].fullUrl", "http://127.0.0.1:8380/Task/" S_RID);
    S_EQ(b, "entry[1].resource.resourceType", "Task");
    /* The same request answered again: the same ids. */
    b2 = fhir_out_message_response(&s_ctx, "hdr-1", "ok", NULL, NULL);
    S_EQ(b2, "id", s_str(b, "id"));
    S_EQ(b2, "entry[0].fullUrl", s_str(b, "entry[0].fullUrl"));
    s_write("bundle-response-ok", b);
    json_object_put(b);
    json_object_put(b2);

    fhir_error_set(&e, 422, "business-rule", "Bundle.entry[1].resource",
                   "no consent covers this referral");
    b = fhir_out_message_response(&s_ctx, "hdr-2", "fatal-error",
                                  fhir_operation_outcome(&e), NULL);
    S_EQ(b, "entry[0].resource.response.code", "fatal-error");
    S_EQ(b, "entry[0].resource.response.details.reference",
         s_str(b, "entry[1].fullUrl"));
    S_EQ(b, "entry[1].resource.resourceType", "OperationOutcome");
    S_EQ(b, "entry[1].resource.issue[0].code", "business-rule");
    s_write("bundle-response-fatal", b);
    json_object_put(b);

    /* Not a response code, not an id: still a valid Bundle. */
    b = fhir_out_message_response(&s_ctx, "not an id!", "maybe", NULL, NULL);
    S_EQ(b, "entry[0].resource.response.code", "fatal-error");
    S_EQ(b, "entry[0].resource.response.identifier", "unknown");
    s_write("bundle-response-odd", b);
    json_object_put(b);

    b = fhir_out_message_response(&s_ctx, "hdr-3", "transient-error",
                                  fhir_operation_outcome_info("the node is "
                                                              "busy"),
                                  NULL);
    S_EQ(b, "entry[0].resource.response.code", "transient-error");
    json_object_put(b);
    json_object_put(ref);
}

static void
test_searchset(void **state)
{
    json_object *a = json_object_new_array();
    json_object *ref =
        s_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    json_object *item = s_item("referral.json", S_MSG);
    json_object *b;

    (void)state;
    json_object_array_add(a, fhir_out_task(&s_ctx, ref, item));
    json_object_array_add(a, fhir_out_task(&s_ctx, ref, NULL));
    b = fhir_out_searchset(
        &s_ctx, a, 2, "http://127.0.0.1:8380/Task?status=accepted",
        "http://127.0.0.1:8380/Task?status=accepted&_after=" S_RID);
    S_EQ(b, "resourceType", "Bundle");
    S_EQ(b, "type", "searchset");
    assert_int_equal(json_object_get_int(s_at(b, "total")), 2);
    S_EQ(b, "link[0].relation", "self");
    S_EQ(b, "link[1].relation", "next");
    S_EQ(b, "entry[0].fullUrl", "http://127.0.0.1:8380/Task/" S_RID);
    S_EQ(b, "entry[0].search.mode", "match");
    S_EQ(b, "entry[1].resource.status", "accepted");
    s_write("bundle-searchset", b);
    json_object_put(b);

    b = fhir_out_searchset(&s_ctx, json_object_new_array(), 0,
                           "http://127.0.0.1:8380/Task?status=failed", NULL);
    assert_int_equal(json_object_get_int(s_at(b, "total")), 0);
    assert_null(s_at(b, "entry"));
    assert_null(s_at(b, "link[1]"));
    s_write("bundle-searchset-empty", b);
    json_object_put(b);
    json_object_put(item);
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
        "{\"referral_id\": \"" S_RID "\", \"state\": \"weird\"}",
        "{\"referral_id\": \"B0E0A1E2C3D4E5F60718293A4B5C6D7E\", "
        "\"state\": \"accepted\"}",
    };
    struct fhir_error e;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_object *r = json_tokener_parse(bad[i]);
        assert_null(fhir_out_task(&s_ctx, r, NULL));
        assert_null(fhir_out_service_request(&s_ctx, r, r, &e));
        assert_null(fhir_out_patient(&s_ctx, r, r, &e));
        assert_null(fhir_out_notice_communication(&s_ctx, r));
        json_object_put(r);
    }
    /* Wrong types and values everywhere: left out. */
    json_object *r = json_tokener_parse(
        "{\"referral_id\": \"" S_RID "\", \"state\": \"accepted\", "
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
    json_object *t = fhir_out_task(&s_ctx, r, it);
    assert_non_null(t);
    assert_null(s_at(t, "requester"));
    assert_null(s_at(t, "owner"));
    assert_null(s_at(t, "authoredOn"));
    assert_null(s_at(t, "lastModified"));
    assert_null(s_at(t, "statusReason"));
    assert_null(s_at(t, "output"));
    assert_null(s_at(t, "priority"));
    assert_null(s_at(t, "businessStatus"));
    s_write("task-damaged", t);
    json_object *sr = fhir_out_service_request(&s_ctx, r, it, &e);
    assert_non_null(sr);
    assert_null(s_at(sr, "contained[1]"));
    S_EQ(sr, "reasonCode[0].coding[0].code", "ok");
    assert_null(s_at(sr, "reasonCode[1]"));
    s_write("servicerequest-damaged", sr);
    json_object *p = fhir_out_patient(&s_ctx, r, it, &e);
    assert_non_null(p);
    assert_null(s_at(p, "identifier"));
    assert_null(s_at(p, "birthDate"));
    assert_null(s_at(p, "address"));
    s_write("patient-damaged", p);
    json_object_put(t);
    json_object_put(sr);
    json_object_put(p);
    json_object_put(it);
    json_object_put(r);

    /* White space FHIR's strings do not allow (a no-break space, a form
     * feed, a vertical tab) becomes a space; a string of nothing else is
     * absent; a code with it is no code. */
    r = s_referral("referral", "accepted", 0, 0, NULL, NULL, 0, 0);
    it = json_tokener_parse(
        "{\"content\": {\"referral\": {\"mother\": {\"given_name\": "
        "\"Anna\\u00a0Maria\", \"family_name\": \"\\f\\u3000\", "
        "\"phone\": \"06\\u0001123\"}, \"reason_text\": "
        "\"one\\u000btwo\", \"reason_codes\": [\"a\\u00a0b\", "
        "\"psychosociaal\"]}}}");
    p = fhir_out_patient(&s_ctx, r, it, &e);
    S_EQ(p, "name[0].given[0]", "Anna Maria");
    assert_null(s_at(p, "name[0].family"));
    S_EQ(p, "telecom[0].value", "06 123");
    s_write("patient-white-space", p);
    sr = fhir_out_service_request(&s_ctx, r, it, &e);
    S_EQ(sr, "note[0].text", "one two");
    S_EQ(sr, "reasonCode[0].coding[0].code", "psychosociaal");
    assert_null(s_at(sr, "reasonCode[1]"));
    s_write("servicerequest-white-space", sr);
    json_object_put(p);
    json_object_put(sr);
    json_object_put(it);
    json_object_put(r);

    /* A context with nothing usable. */
    struct fhir_ctx odd = {"nobody", "not a url", 0};
    json_object *cs = fhir_out_capability(&odd, "x y  z");
    assert_null(s_at(cs, "implementation.url"));
    assert_null(s_at(cs, "software.version"));
    s_write("capabilitystatement-odd", cs);
    json_object_put(cs);
    json_object *b = fhir_out_searchset(&odd, NULL, 0, NULL, NULL);
    S_EQ(b, "type", "searchset");
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
        s_referral("handover", "received", 0, 0, NULL, NULL, 0, 0);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"content\": {\"handover\": {\"birth_datetime\": "
                 "\"%s\"}}}",
                 cases[i][0]);
        json_object *it = json_tokener_parse(text);
        json_object *t = fhir_out_task(&s_ctx, ref, it);
        S_EQ(t, "input[0].valueDateTime", cases[i][1]);
        json_object_put(t);
        json_object_put(it);
    }
    /* Not a wall clock: left out. */
    json_object *it =
        json_tokener_parse("{\"content\": {\"handover\": {\"birth_datetime\": "
                           "\"2027-02-30T04:32\", \"apgar_1\": 11}}}");
    json_object *t = fhir_out_task(&s_ctx, ref, it);
    assert_null(s_at(t, "input"));
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
        json_object *item = s_item(kinds[k][1], S_MSG);
        json_object *ref =
            s_referral(kinds[k][0], NULL, 0, 0, NULL, NULL, 0, 0);
        for (int placer = 0; placer < 2; placer++) {
            struct fhir_ctx ctx = s_ctx;
            json_object *out = NULL;
            ctx.org_id = placer ? S_VL : S_JGZ;
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
        char *text = s_read("fhir/task-accept-patch.json");
        json_object *patch = json_tokener_parse(text);
        json_object *t = fhir_out_task(&s_ctx, ref, item), *out = NULL;
        free(text);
        assert_int_equal(fhir_json_patch_apply(t, patch, &e), KR_OK);
        if (fhir_in_task_update(&s_ctx, ref, t, &out, &e) != KR_OK)
            fail_msg("%s: %s: %s", kinds[k][0], e.expression, e.diagnostics);
        assert_non_null(out);
        S_EQ(out, "type", "referral-status");
        S_EQ(out, "recipient", S_VL);
        S_EQ(out, "referral_status.status", "accepted");
        S_EQ(out, "referral_status.planned_date", "2027-01-12");
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
        cmocka_unit_test(test_notice_communication),
        cmocka_unit_test(test_capability),
        cmocka_unit_test(test_message_response),
        cmocka_unit_test(test_searchset),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_birth_offset),
        cmocka_unit_test(test_round_trip),
    };

    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        s_write_dir = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: test_fhir_out [--write DIR]\n");
        return 2;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
