/*
 * fhir_common.c - what every FHIR mapper shares: refusals as
 * OperationOutcome, the BSN's eleven-test, organisation identifiers.
 */
#include "fhir.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

int
fhir_error_set(struct fhir_error *e, int status, const char *code,
               const char *expression, const char *fmt, ...)
{
    if (e != NULL) {
        va_list ap;
        e->status = status;
        snprintf(e->code, sizeof(e->code), "%s", code ? code : "exception");
        snprintf(e->expression, sizeof(e->expression), "%s",
                 expression ? expression : "");
        va_start(ap, fmt);
        vsnprintf(e->diagnostics, sizeof(e->diagnostics), fmt, ap);
        va_end(ap);
    }
    if (status >= 400 && status < 500)
        return KR_EINVAL;
    return status == 503 ? KR_EUNAVAIL : KR_EIO;
}

static json_object *
s_outcome(const char *severity, const char *code, const char *expression,
          const char *diagnostics)
{
    json_object *oo = json_object_new_object();
    json_object *issue = json_object_new_object();
    json_object *issues = json_object_new_array();

    json_object_object_add(oo, "resourceType",
                           json_object_new_string("OperationOutcome"));
    json_object_object_add(issue, "severity", json_object_new_string(severity));
    json_object_object_add(issue, "code", json_object_new_string(code));
    if (diagnostics != NULL && diagnostics[0] != '\0')
        json_object_object_add(issue, "diagnostics",
                               json_object_new_string(diagnostics));
    if (expression != NULL && expression[0] != '\0') {
        json_object *ex = json_object_new_array();
        json_object_array_add(ex, json_object_new_string(expression));
        json_object_object_add(issue, "expression", ex);
    }
    json_object_array_add(issues, issue);
    json_object_object_add(oo, "issue", issues);
    return oo;
}

json_object *
fhir_operation_outcome(const struct fhir_error *e)
{
    return s_outcome(e->status >= 500 ? "fatal" : "error",
                     e->code[0] ? e->code : "exception", e->expression,
                     e->diagnostics);
}

json_object *
fhir_operation_outcome_info(const char *diagnostics)
{
    return s_outcome("information", "informational", NULL, diagnostics);
}

/* The eleven-test: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11
 * (and not all zeros, which passes arithmetically but is no BSN). */
bool
fhir_bsn_valid(const char *s)
{
    long sum = 0;
    bool nonzero = false;

    if (s == NULL || strlen(s) != 9)
        return false;
    for (int i = 0; i < 9; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        int d = s[i] - '0';
        nonzero |= d != 0;
        sum += i < 8 ? (long)(9 - i) * d : -(long)d;
    }
    return nonzero && sum % 11 == 0;
}

int
fhir_org_id_from_identifier(json_object *identifier, const char *expression,
                            char *out, size_t outlen, struct fhir_error *e)
{
    json_object *sys, *val;
    const char *scheme;

    if (!json_object_is_type(identifier, json_type_object))
        return fhir_error_set(e, 400, "structure", expression,
                              "an organisation identifier must be an object "
                              "with system and value");
    if (!json_object_object_get_ex(identifier, "system", &sys) ||
        !json_object_is_type(sys, json_type_string))
        return fhir_error_set(e, 400, "required", expression,
                              "identifier.system is missing: an organisation "
                              "is named by its URA (%s) or AGB (%s)",
                              FHIR_SYS_URA, FHIR_SYS_AGB);
    if (strcmp(json_object_get_string(sys), FHIR_SYS_URA) == 0)
        scheme = "ura";
    else if (strcmp(json_object_get_string(sys), FHIR_SYS_AGB) == 0)
        scheme = "agb";
    else
        return fhir_error_set(e, 422, "value", expression,
                              "identifier.system is neither URA (%s) nor AGB "
                              "(%s)",
                              FHIR_SYS_URA, FHIR_SYS_AGB);
    if (!json_object_object_get_ex(identifier, "value", &val) ||
        !json_object_is_type(val, json_type_string))
        return fhir_error_set(e, 400, "required", expression,
                              "identifier.value is missing");
    if ((size_t)snprintf(out, outlen, "%s:%s", scheme,
                         json_object_get_string(val)) >= outlen ||
        !util_org_id_valid(out))
        return fhir_error_set(e, 422, "value", expression,
                              "identifier.value is not a %s number (1 to 8 "
                              "digits)",
                              scheme[0] == 'u' ? "URA" : "AGB");
    return KR_OK;
}

json_object *
fhir_identifier_from_org_id(const char *org_id)
{
    const char *sys;
    json_object *id;

    if (org_id == NULL || !util_org_id_valid(org_id))
        return NULL;
    if (strncmp(org_id, "ura:", 4) == 0)
        sys = FHIR_SYS_URA;
    else if (strncmp(org_id, "agb:", 4) == 0)
        sys = FHIR_SYS_AGB;
    else
        return NULL;
    id = json_object_new_object();
    json_object_object_add(id, "system", json_object_new_string(sys));
    json_object_object_add(id, "value", json_object_new_string(org_id + 4));
    return id;
}
