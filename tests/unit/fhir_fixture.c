/*
 * fhir_fixture.c - what the unit programs of krfhir's mappers share: see
 * fhir_fixture.h.
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

#include "fhir_fixture.h"
#include "json_map.h"
#include "kr.h"
#include "local.pb-c.h"
#include "referral_table.h"
#include "util.h"

const char *fx_write_dir;
const struct fhir_ctx fx_ctx = {FX_JGZ, "http://127.0.0.1:8380",
                                FX_T0 + 3600000};

/* 'o' at a dotted path with [i] indices ("a.b[0].c"), or NULL. */
json_object *
fx_at(json_object *o, const char *path)
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

const char *
fx_str(json_object *o, const char *path)
{
    json_object *v = fx_at(o, path);
    return v != NULL && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

void
fx_write(const char *name, json_object *o)
{
    char path[1024];

    if (fx_write_dir == NULL || o == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s.json", fx_write_dir, name);
    if (json_object_to_file_ext(path, o,
                                JSON_C_TO_STRING_PRETTY |
                                    JSON_C_TO_STRING_NOSLASHESCAPE) != 0)
        fail_msg("cannot write %s", path);
}

/* The mappers' inputs [referral record, inbox item], as seeds for
 * tests/fuzz/fuzz_fhir_out.c (DIR/inputs/NAME). */
void
fx_write_input(const char *name, json_object *ref, json_object *item)
{
    char path[1024];
    json_object *a;

    if (fx_write_dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/inputs", fx_write_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/inputs/%s", fx_write_dir, name);
    a = json_object_new_array();
    json_object_array_add(a, json_object_get(ref));
    json_object_array_add(a, item != NULL ? json_object_get(item) : NULL);
    if (json_object_to_file_ext(path, a, JSON_C_TO_STRING_PLAIN) != 0)
        fail_msg("cannot write %s", path);
    json_object_put(a);
}

char *
fx_read(const char *name)
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
json_object *
fx_item(const char *example, const char *msg_id_hex)
{
    char *text = fx_read(example), err[256];
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
    it.sender = FX_VL;
    it.type = s->type;
    it.referral_id = s->referral_id;
    it.case_id = s->case_id;
    it.subject_pseudonym = (ProtobufCBinaryData){32, pseud};
    it.purpose = s->purpose;
    it.created_at_ms = FX_T0;
    it.received_at_ms = FX_T0 + 8;
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
 * by FX_MSG at FX_T0, then 'to' set by JGZ (FX_ACC) 4 s later. */
json_object *
fx_referral(const char *type, const char *to, int cancel_pending,
            int cancel_step, const char *reason, const char *outcome,
            uint32_t escalations, int overdue)
{
    Kr__V1__NodeReferral r = KR__V1__NODE_REFERRAL__INIT;
    Kr__V1__NodeReferralStep s0 = KR__V1__NODE_REFERRAL_STEP__INIT;
    Kr__V1__NodeReferralStep s1 = KR__V1__NODE_REFERRAL_STEP__INIT;
    Kr__V1__NodeReferralStep *steps[2] = {&s0, &s1};
    uint8_t rid[16], m0[16], m1[16], cid[16];
    json_object *o;
    util_unhex(FX_RID, rid, 16);
    util_unhex(FX_MSG, m0, 16);
    util_unhex(FX_ACC, m1, 16);
    memset(cid, 0xca, sizeof(cid));
    r.referral_id = (ProtobufCBinaryData){16, rid};
    r.placer = FX_VL;
    r.performer = FX_JGZ;
    r.purpose = strcmp(type, "handover") == 0 ? "overdracht-jgz"
                                              : "prenataal-huisbezoek";
    r.type = strcmp(type, "handover") == 0 ? KR__V1__MESSAGE_TYPE__HANDOVER
                                           : KR__V1__MESSAGE_TYPE__REFERRAL;
    if (r.type == KR__V1__MESSAGE_TYPE__HANDOVER)
        r.case_id = (ProtobufCBinaryData){16, cid};
    r.opened_at_ms = FX_T0;
    s0.at_ms = FX_T0;
    s0.org_id = FX_VL;
    s0.to = KR__V1__TASK_STATUS__TASK_REQUESTED;
    s0.msg_id = (ProtobufCBinaryData){16, m0};
    r.history = steps;
    r.n_history = 1;
    r.state = KR__V1__TASK_STATUS__TASK_REQUESTED;
    r.state_at_ms = FX_T0;
    if (to != NULL) {
        s1.at_ms = FX_T0 + 4000;
        s1.org_id = FX_JGZ;
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
int
fx_run_out(const char *prog, const struct CMUnitTest *tests, size_t n, int argc,
           char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        fx_write_dir = argv[2];
    else if (argc != 1) {
        fprintf(stderr, "usage: %s [--write DIR]\n", prog);
        return 2;
    }
    return _cmocka_run_group_tests(prog, tests, n, NULL, NULL);
}

const struct fhir_ctx fx_practice = {"ura:00001234", "http://127.0.0.1:8380",
                                     FX_NOW_MS};
const struct fhir_ctx fx_jgz = {"ura:87654321", "http://127.0.0.1:8381",
                                FX_NOW_MS};

json_object *
fx_load(const char *rel)
{
    char path[512], *text = NULL;
    size_t len = 0;
    json_object *o = NULL;
    struct fhir_error e;

    snprintf(path, sizeof(path), "%s/%s", KR_SOURCE_DIR, rel);
    assert_int_equal(util_read_file(path, 1u << 20, &text, &len), 0);
    assert_int_equal(fhir_in_parse(text, len, &o, &e), KR_OK);
    free(text);
    return o;
}

json_object *
fx_json(const char *text)
{
    json_object *o = NULL;
    struct fhir_error e;

    if (fhir_in_parse(text, strlen(text), &o, &e) != KR_OK) {
        /* arrays are not bodies fhir_in_parse takes; tests build them */
        o = json_tokener_parse(text);
    }
    assert_non_null(o);
    return o;
}

/* The description passes libkr's own check (as kr_send_json would). */
void
fx_valid(json_object *desc)
{
    char err[512];
    const char *s =
        json_object_to_json_string_ext(desc, JSON_C_TO_STRING_PLAIN);

    if (kr_check_json(s, strlen(s), err, sizeof(err)) != KR_OK)
        fail_msg("not a valid description: %s", err);
}

/* 'got' equals the example 'rel' but for the keys listed (NULL-ended). */
void
fx_same(json_object *got, const char *rel, const char *const *skip)
{
    json_object *want = fx_load(rel), *g = NULL;

    assert_int_equal(json_object_deep_copy(got, &g, NULL), 0);
    for (size_t i = 0; skip != NULL && skip[i] != NULL; i++) {
        json_object_object_del(g, skip[i]);
        json_object_object_del(want, skip[i]);
    }
    if (!json_object_equal(g, want))
        fail_msg("differs from %s:\n%s\nwant\n%s", rel,
                 json_object_to_json_string_ext(g, JSON_C_TO_STRING_PRETTY),
                 json_object_to_json_string_ext(want, JSON_C_TO_STRING_PRETTY));
    json_object_put(g);
    json_object_put(want);
}
