/*
 * fuzz_fhir_out.c - krfhir's outbound mappers (clients/krfhir/fhir_out*.c)
 * on what they are given: the node's referral record (kr_referral_json)
 * and inbox items (kr_inbox_get_json, kr_inbox_json), here any JSON.
 *
 * Input: JSON text, parsed as the gateway parses libkr's answers
 * (json_map_parse_text: strict, valid UTF-8). An array [R, I] gives the
 * referral record R and the inbox item I; anything else is both. Every
 * mapper runs on it (Task with and without the item, ServiceRequest,
 * Patient, Communication, CapabilityStatement, the other party's steps
 * onto a Task (fhir_out_task_add_status, the input's values as the
 * items), the $process-message
 * response and a searchset Bundle of the results).
 *
 * What comes out must be what FHIR's JSON allows, or the mapper is wrong
 * (abort): no null, no empty object, array or string (nor one of white
 * space only, nor white space but space, tab, CR and LF, nor a control
 * character), every id a FHIR id, every code-valued element a FHIR code
 * (or uri), and a refusal is a 404 that says why.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_out.h"
#include "fhir_out_internal.h"
#include "fuzz_common.h"
#include "json_map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fhir_ctx s_jgz = {"ura:87654321", "http://127.0.0.1:8381",
                                      FZ_NOW_MS};

/* Elements whose value is a FHIR code (or id) wherever they appear. */
static const char *const s_code_keys[] = {
    "status", "intent", "priority", "code",     "system", "mode",
    "kind",   "type",   "relation", "severity", "use",    NULL};

static int
s_is_code_key(const char *k)
{
    for (size_t i = 0; s_code_keys[i] != NULL; i++)
        if (strcmp(k, s_code_keys[i]) == 0)
            return 1;
    return 0;
}

/* What broke the rule, for the one who reproduces the crash. */
static void
s_fail(const char *why, const char *key, const char *s)
{
    fprintf(stderr, "fuzz_fhir_out: %s at \"%s\": \"%s\"\n", why,
            key != NULL ? key : "(top)", s != NULL ? s : "");
    abort();
}

/* FHIR's JSON rules on one value (depth-bounded by json-c's parser). */
static void
s_check(json_object *v, const char *key)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        abort(); /* FHIR JSON has no nulls */
    case json_type_object: {
        int n = 0;
        json_object_object_foreach(v, k, c)
        {
            s_check(c, k);
            n++;
        }
        if (n == 0)
            abort();
        break;
    }
    case json_type_array: {
        size_t n = json_object_array_length(v);
        if (n == 0)
            abort();
        for (size_t i = 0; i < n; i++)
            s_check(json_object_array_get_idx(v, i), key);
        break;
    }
    case json_type_string: {
        const char *s = json_object_get_string(v);
        /* FHIR's string: something not white space, and of white space
         * and control characters only space, tab, CR and LF. */
        if (!fo_is_string(s))
            s_fail("a blank string", key, s);
        for (const char *p = s; *p != '\0'; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
                c == 0x7f || (fo_ws_len(p) > 0 && c >= 0x80))
                s_fail("a character a FHIR string does not allow", key, s);
        }
        if (key != NULL && strcmp(key, "id") == 0 && !fo_is_id(s))
            s_fail("not a FHIR id", key, s);
        if (key != NULL && s_is_code_key(key) && !fo_is_code(s) &&
            !fo_is_uri(s))
            s_fail("not a FHIR code", key, s);
        break;
    }
    default:
        break;
    }
}

/* A resource: checked, printed, kept for the searchset (or freed). */
static void
s_take(json_object *r, json_object *all)
{
    if (r == NULL)
        return;
    s_check(r, NULL);
    if (json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN) == NULL)
        abort();
    json_object_array_add(all, r);
}

static void
s_refused(json_object *r, const struct fhir_error *e, json_object *all)
{
    if (r != NULL) {
        s_take(r, all);
        return;
    }
    if (e->status != 404 || e->code[0] == '\0' || e->diagnostics[0] == '\0')
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_object *in = NULL, *ref, *item, *all, *t;
    struct fhir_error e;
    char err[256];

    fz_init();
    if (json_map_parse_text((const char *)data, size, &in, err, sizeof(err)) !=
        0)
        return 0;
    if (json_object_is_type(in, json_type_array) &&
        json_object_array_length(in) == 2) {
        ref = json_object_array_get_idx(in, 0);
        item = json_object_array_get_idx(in, 1);
    } else {
        ref = item = in;
    }
    all = json_object_new_array();
    s_take(fhir_out_task(&s_jgz, ref, item), all);
    s_take(fhir_out_task(&s_jgz, ref, NULL), all);
    /* The other party's steps onto it: the input's items (an array), or
     * the item alone. */
    t = fhir_out_task(&s_jgz, ref, NULL);
    if (t != NULL) {
        json_object *items = json_object_new_array();
        if (json_object_is_type(in, json_type_array))
            for (size_t i = 0; i < json_object_array_length(in); i++)
                json_object_array_add(
                    items, json_object_get(json_object_array_get_idx(in, i)));
        else
            json_object_array_add(items, json_object_get(in));
        fhir_out_task_add_status(&s_jgz, t, items);
        json_object_put(items);
        s_take(t, all);
    }
    memset(&e, 0, sizeof(e));
    s_refused(fhir_out_service_request(&s_jgz, ref, item, &e), &e, all);
    memset(&e, 0, sizeof(e));
    s_refused(fhir_out_patient(&s_jgz, ref, item, &e), &e, all);
    s_take(fhir_out_notice_communication(&s_jgz, item), all);
    s_take(fhir_out_notice_communication(&s_jgz, ref), all);

    /* The gateway's own: a response naming what the input calls its id,
     * with the first resource as its focus; a searchset of them all. */
    json_object *idv = NULL;
    const char *hid = json_object_is_type(in, json_type_object) &&
                              json_object_object_get_ex(in, "msg_id", &idv) &&
                              json_object_is_type(idv, json_type_string)
                          ? json_object_get_string(idv)
                          : NULL;
    s_take(fhir_out_capability(&s_jgz, hid), all);
    t = json_object_array_length(all) > 0
            ? json_object_get(json_object_array_get_idx(all, 0))
            : NULL;
    json_object *resp = fhir_out_message_response(
        &s_jgz, hid,
        size % 4 == 0   ? "ok"
        : size % 4 == 1 ? "fatal-error"
                        : hid,
        size % 2 ? fhir_operation_outcome_info("fuzz") : NULL, t);
    s_check(resp, NULL);
    json_object_put(resp);
    size_t n = json_object_array_length(all);
    json_object *b = fhir_out_searchset(&s_jgz, all, n, hid, hid);
    s_check(b, NULL);
    if (json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN) == NULL)
        abort();
    json_object_put(b);
    json_object_put(in);
    return 0;
}
