/*
 * fhir.h - krfhir's mapping between HL7 FHIR R4 (4.0.1) resources and
 * kansrijk's JSON forms (docs/JSON.md), and the pieces the gateway shares.
 *
 * The mappers are pure: JSON in, JSON out, the clock and the organisation
 * passed in (struct fhir_ctx). They never talk to the node; the gateway
 * (gw_*.c) reads what the node holds through libkr's JSON entry points and
 * hands it to them. docs/FHIR.md documents the mapping element by element.
 *
 * Errors: every function that can refuse fills a struct fhir_error, whose
 * diagnostics name the element (a FHIRPath in 'expression') and never
 * quote a value (it may be a BSN or a name). The gateway turns it into an
 * OperationOutcome with its HTTP status.
 */
#ifndef KR_FHIR_H
#define KR_FHIR_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kr.h"

/* Naming systems (Nictiz / FHIR NL). */
#define FHIR_SYS_BSN "http://fhir.nl/fhir/NamingSystem/bsn"
#define FHIR_SYS_URA "http://fhir.nl/fhir/NamingSystem/ura"
#define FHIR_SYS_AGB "http://fhir.nl/fhir/NamingSystem/agb-z"

/* What every mapper is given. */
struct fhir_ctx {
    const char *org_id;   /* this gateway's organisation: "ura:00001234" */
    const char *base_url; /* "http://127.0.0.1:8380": for fullUrl and
                             absolute references */
    uint64_t now_ms;      /* the clock, for relative checks */
};

/* Why a request was refused: an OperationOutcome's one issue. */
struct fhir_error {
    int status;            /* HTTP status: 400, 404, 409, 413, 415, 422,
                              500, 503 */
    char code[24];         /* IssueType: invalid, structure, required,
                              value, not-found, conflict, business-rule,
                              not-supported, too-long, transient,
                              exception, security, processing */
    char expression[192];  /* FHIRPath of the element ("" if none):
                              "Bundle.entry[2].resource.identifier[0]" */
    char diagnostics[384]; /* why, in words; never a value */
};

/* Set 'e' (printf-style diagnostics). Returns KR_EINVAL for a 4xx status,
 * KR_EUNAVAIL for 503, KR_EIO otherwise, so that callers can write
 * `return fhir_error_set(...)`. */
int fhir_error_set(struct fhir_error *e, int status, const char *code,
                   const char *expression, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* An OperationOutcome with one issue of severity error from 'e'. */
json_object *fhir_operation_outcome(const struct fhir_error *e);
/* An OperationOutcome with one issue of severity information. */
json_object *fhir_operation_outcome_info(const char *diagnostics);

/* A BSN: nine digits that pass the eleven-test (elfproef). */
bool fhir_bsn_valid(const char *s);

/* An organisation identifier (system URA or AGB, value digits) as a
 * kansrijk org_id ("ura:00001234", "agb:01234567") in out[outlen].
 * KR_EINVAL (with 'e' set, naming 'expression') if it is neither. */
int fhir_org_id_from_identifier(json_object *identifier, const char *expression,
                                char *out, size_t outlen, struct fhir_error *e);
/* The FHIR Identifier of a kansrijk org_id, NULL if it is not "ura:" or
 * "agb:" followed by digits. */
json_object *fhir_identifier_from_org_id(const char *org_id);

#endif /* KR_FHIR_H */
