/*
 * fhir_fixture.h - what the unit programs of krfhir's mappers share
 * (fhir_fixture.c): for the outbound ones (test_fhir_out*.c) the inputs a
 * node would hold, element checks and the --write DIR output that
 * tests/fhir/run.sh validates; for the inbound ones (test_fhir_in*.c) the
 * examples parsed and compared with their twins in examples/.
 */
#ifndef KR_FHIR_FIXTURE_H
#define KR_FHIR_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fhir_in.h"
#include "fhir_out.h"

/*
 * Outbound.
 */
#define FX_RID "b0e0a1e2c3d4e5f60718293a4b5c6d7e"
#define FX_MSG "b2c50a359e13930c399c9502afba9fe2"
#define FX_ACC "5d1c0b6e0e8f4a3b9c2d7e6f8a9b0c1d"
#define FX_VL "ura:00001234"
#define FX_JGZ "ura:87654321"
/* 2026-12-05T09:12:40.031Z and later. */
#define FX_T0 1796461960031ull

/* --write DIR, or NULL: where fx_write and fx_write_input write. */
extern const char *fx_write_dir;
/* JGZ's gateway at FX_T0 + 1 h. */
extern const struct fhir_ctx fx_ctx;

/* 'o' at a dotted path with [i] indices ("a.b[0].c"), or NULL. */
json_object *fx_at(json_object *o, const char *path);
/* The string at 'path', or NULL. */
const char *fx_str(json_object *o, const char *path);
#define FX_EQ(o, path, want)                                                   \
    do {                                                                       \
        const char *v_ = fx_str((o), (path));                                  \
        if (v_ == NULL || strcmp(v_, (want)) != 0)                             \
            fail_msg("%s: '%s', want '%s'", (path), v_ ? v_ : "(absent)",      \
                     (want));                                                  \
    } while (0)

/* Write a resource the gateway returns to fx_write_dir/NAME.json (if
 * --write). */
void fx_write(const char *name, json_object *o);
/* The mappers' inputs [referral record, inbox item], as seeds for
 * tests/fuzz/fuzz_fhir_out.c (fx_write_dir/inputs/NAME). */
void fx_write_input(const char *name, json_object *ref, json_object *item);
/* examples/NAME's text (the caller frees it). */
char *fx_read(const char *name);
/* An example sent and received: the inbox item, as kr_inbox_json and
 * kr_inbox_get_json give it at the recipient. */
json_object *fx_item(const char *example, const char *msg_id_hex);
/* A node's record of the referral, as kr_referral_json gives it: opened
 * by FX_MSG at FX_T0, then 'to' set by JGZ (FX_ACC) 4 s later. */
json_object *fx_referral(const char *type, const char *to, int cancel_pending,
                         int cancel_step, const char *reason,
                         const char *outcome, uint32_t escalations,
                         int overdue);
/* The program's main: "PROG [--write DIR]" (2 on other arguments), then
 * the tests. */
int fx_run_out(const char *prog, const struct CMUnitTest *tests, size_t n,
               int argc, char **argv);

/*
 * Inbound.
 */
/* 2026-12-05T00:00:00Z: before every date the examples hold. */
#define FX_NOW_MS 1796428800000ull

/* The practice's and JGZ's gateways at FX_NOW_MS. */
extern const struct fhir_ctx fx_practice, fx_jgz;

/* KR_SOURCE_DIR/REL through fhir_in_parse (the caller puts it). */
json_object *fx_load(const char *rel);
/* A body through fhir_in_parse, or (an array) json-c's parser. */
json_object *fx_json(const char *text);
/* The description passes libkr's own check (as kr_send_json would). */
void fx_valid(json_object *desc);
/* 'got' equals the example 'rel' but for the keys listed (NULL-ended). */
void fx_same(json_object *got, const char *rel, const char *const *skip);

/* One refusal: a JSON Patch (of the example, or of the Task) gives
 * status, code and expression. */
struct fx_cell {
    const char *patch;
    int status;
    const char *code;
    const char *expression;
};

/* A JSON Patch of one operation, and its value. */
#define FX_P(op, path, value)                                                  \
    "[{\"op\":\"" op "\",\"path\":\"" path "\"" value "}]"
#define FX_V(v) ",\"value\":" v

#endif
