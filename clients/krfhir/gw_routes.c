/* gw_routes.c - the FHIR interactions krfhir serves (docs/FHIR.md,
 * "Endpoints"): the dispatcher, the helpers the handlers share, and the
 * small handlers (metadata, Subscription). Task and the content reads are
 * in gw_routes_task.c, $process-message and Consent in
 * gw_routes_message.c.
 *
 *   GET   /metadata                 the CapabilityStatement
 *   POST  /$process-message         a message Bundle: one kansrijk message
 *   GET   /Task/{id}                a referral as a Task
 *   PUT   /Task/{id}                a status change (REFERRAL_STATUS)
 *   PATCH /Task/{id}                the same as a JSON Patch on the Task
 *   GET   /Task?status=&_lastUpdated=&owner=&requester=&_count=&_wait=
 *   GET   /ServiceRequest/{id}      the referral's request (the performer)
 *   GET   /Patient/{id}             its patient (the performer)
 *   POST  /Consent                  a consent grant
 *   PUT   /Consent/{id}             status inactive: its revocation
 *   GET   /Subscription[/{id}]      the configured rest-hook
 *
 * Each handler reads the node through gw_node.c, maps with the mappers and
 * fills a gw_resp; nothing is kept between requests.
 *
 * What marks an inbox item processed (the organisation has taken it
 * over): with a rest-hook configured, the endpoint's 2xx answer to the
 * notification naming it (gw_notify.c); without one, a GET of its Task
 * that answered 200. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhir_in.h"
#include "fhir_out.h"
#include "gw.h"
#include "gw_routes_internal.h"
#include "log.h"
#include "util.h"

void
gwr_fail(struct gw_resp *out, int status, const char *code, const char *expr,
         const char *fmt, ...)
{
    struct fhir_error e;
    char text[sizeof(e.diagnostics)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    fhir_error_set(&e, status, code, expr, "%s", text);
    gw_resp_error(out, &e);
}

void
gwr_ok(struct gw_resp *out, int status, json_object *body)
{
    if (out->body != NULL)
        json_object_put(out->body);
    out->status = status;
    out->body = body;
}

bool
gwr_id_ok(const char *id)
{
    if (id == NULL || strlen(id) != GWR_ID_LEN)
        return false;
    for (size_t i = 0; i < GWR_ID_LEN; i++)
        if (!isdigit((unsigned char)id[i]) && !(id[i] >= 'a' && id[i] <= 'f'))
            return false;
    return true;
}

/* The node is down: 503 naming its endpoint, so that an operator sees
 * which socket. */
void
gwr_node_down(struct gw *g, struct gw_resp *out, int rc)
{
    gwr_fail(out, 503, "transient", NULL,
             "the node at %s does not answer (%s): try again later",
             g->cfg->node, kr_strerror(rc));
}

/* The mappers' context without the organisation (NULL): the base URL and
 * the clock. */
void
gwr_ctx_base(struct gw *g, struct fhir_ctx *ctx)
{
    ctx->org_id = NULL;
    ctx->base_url = g->base_url;
    ctx->now_ms = util_now_ms();
}

/* The mappers' context: this organisation (asked of the node once, then
 * remembered by gw_node_org: it never changes for a node), the base URL
 * and the clock. */
bool
gwr_ctx(struct gw *g, struct fhir_ctx *ctx, char org[GW_ORG_MAX],
        struct gw_resp *out)
{
    int rc = gw_node_org(&g->node, org);

    if (rc != KR_OK) {
        gwr_node_down(g, out, rc);
        return false;
    }
    gwr_ctx_base(g, ctx);
    ctx->org_id = org;
    return true;
}

/* The body as one JSON value, strictly (RFC 8259). */
json_object *
gwr_body(const struct gw_req *r, struct gw_resp *out)
{
    struct json_tokener *tok;
    json_object *o;

    if (r->body_len == 0) {
        gwr_fail(out, 400, "structure", NULL, "the request has no body");
        return NULL;
    }
    if (strlen(r->body) != r->body_len) {
        gwr_fail(out, 400, "structure", NULL, "the body holds a NUL byte");
        return NULL;
    }
    tok = json_tokener_new_ex(64);
    if (tok == NULL) {
        gwr_fail(out, 500, "exception", NULL, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    if (o == NULL || jerr != json_tokener_success) {
        gwr_fail(out, 400, "structure", NULL,
                 "the body is not JSON: %s near byte %zu",
                 jerr == json_tokener_continue ? "it ends too early"
                                               : json_tokener_error_desc(jerr),
                 used);
        json_object_put(o);
        o = NULL;
    } else {
        while (used < r->body_len && isspace((unsigned char)r->body[used]))
            used++;
        if (used != r->body_len) {
            gwr_fail(out, 400, "structure", NULL,
                     "the body holds more than one JSON value (from byte %zu)",
                     used);
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    return o;
}

const char *
gwr_str(json_object *o, const char *key)
{
    json_object *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

bool
gwr_type_is(json_object *o, const char *type)
{
    const char *t = gwr_str(o, "resourceType");

    return t != NULL && strcmp(t, type) == 0;
}

/*
 * Sends and the node's refusals.
 */

/* The OperationOutcome for a send that did not go through: a refusal by
 * the node (rc) or by the broker (s->fate). */
static void
s_send_error(const char *node, const struct gw_sent *s, int rc, const char *err,
             struct fhir_error *e)
{
    if (rc != KR_OK) {
        switch (rc) {
        case KR_EINVAL:
            fhir_error_set(e, 422, "processing", NULL,
                           "kansrijk refused the message: %s", err);
            break;
        case KR_ENOKEY:
            fhir_error_set(e, 422, "business-rule", NULL,
                           "the recipient is not in the coalition's "
                           "directory: %s",
                           err);
            break;
        case KR_EEXIST:
            fhir_error_set(e, 409, "duplicate", NULL,
                           "another message was sent under the same id "
                           "(the same Bundle.id with other content): %s",
                           err);
            break;
        case KR_EREFUSED:
        case KR_EPERM:
            fhir_error_set(e, 422, "business-rule", NULL,
                           "the node refused the message: %s", err);
            break;
        case KR_EFULL:
        case KR_EDISKFULL:
        case KR_EUNAVAIL:
        case KR_ETIMEDOUT:
            fhir_error_set(e, 503, "transient", NULL,
                           "the node at %s cannot take the message now "
                           "(%s): send it again later, it is then sent "
                           "once: %s",
                           node, kr_strerror(rc), err);
            break;
        default:
            fhir_error_set(e, 500, "exception", NULL, "the node failed: %s: %s",
                           kr_strerror(rc), err);
            break;
        }
        return;
    }
    /* The broker's reasons (docs/PROTOCOL.md): what the client can change
     * (422), what conflicts with the referral's state (409), what will
     * pass later (503). */
    static const struct {
        const char *reason;
        int status;
        const char *code;
    } map[] = {
        {"no-consent", 422, "business-rule"},
        {"unknown-consent", 422, "business-rule"},
        {"not-party", 422, "business-rule"},
        {"invalid-scope", 422, "business-rule"},
        {"missing-justification", 422, "business-rule"},
        {"unknown-recipient", 422, "business-rule"},
        {"recipient-suspended", 422, "business-rule"},
        {"recipient-removed", 422, "business-rule"},
        {"no-route", 422, "business-rule"},
        {"unknown-referral", 404, "not-found"},
        {"not-referral-party", 403, "forbidden"},
        {"bad-transition", 409, "conflict"},
        {"referral-closed", 409, "conflict"},
        {"no-cancel-request", 409, "conflict"},
        {"referral-conflict", 409, "conflict"},
        {"bad-status", 422, "value"},
        {"bad-status-reason", 422, "value"},
        {"bad-outcome", 422, "value"},
        {"store-full", 503, "transient"},
        {"disk-full", 503, "transient"},
        {"internal", 503, "transient"},
    };
    int status = 422;
    const char *code = "processing";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(s->reason, map[i].reason) == 0) {
            status = map[i].status;
            code = map[i].code;
        }
    if (strcmp(s->outcome, "withdrawn") == 0) {
        status = 409;
        code = "conflict";
    }
    fhir_error_set(e, status, code, NULL, "the broker %s the message: %s%s%s",
                   s->outcome, s->reason, s->detail[0] ? ": " : "", s->detail);
}

/* Send a mapped description. KR_OK with *s filled (fate OK or PENDING),
 * or an error with 'e' set (nothing delivered). */
int
gwr_send(struct gw *g, json_object *kr, struct gw_sent *s, struct fhir_error *e)
{
    char err[512] = "";
    const char *text = json_object_to_json_string_ext(
        kr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = gw_node_send(&g->node, text, strlen(text), g->cfg->accept_wait_ms,
                          s, err, sizeof(err));

    if (rc != KR_OK || s->fate == GW_FATE_REFUSED) {
        s_send_error(g->cfg->node, s, rc, err, e);
        log_info("send: msg_id=%s not taken: %s",
                 s->msg_id[0] ? s->msg_id : "-", e->diagnostics);
        return rc != KR_OK ? rc : KR_EREFUSED;
    }
    log_info("send: msg_id=%s %s", s->msg_id,
             s->fate == GW_FATE_OK ? "accepted by the broker"
                                   : "held by the node, no answer yet");
    gw_notify_bump(&g->notify);
    return KR_OK;
}

/*
 * The handlers.
 */

static void
s_metadata(struct gw *g, const struct fhir_ctx *ctx, const struct gw_req *r,
           struct gw_resp *out)
{
    json_object *cs = fhir_out_capability(ctx, g->version);

    (void)r;
    if (cs == NULL)
        gwr_fail(out, 500, "exception", NULL, "no CapabilityStatement");
    else
        gwr_ok(out, 200, cs);
}

static void
s_subscription(struct gw *g, const struct fhir_ctx *ctx, const char *id,
               struct gw_resp *out)
{
    json_object *sub = gw_notify_subscription(&g->notify);

    if (id != NULL) {
        if (sub == NULL || strcmp(id, "krfhir") != 0) {
            json_object_put(sub);
            gwr_fail(out, 404, "not-found", NULL,
                     "the only Subscription is 'krfhir', and only when "
                     "subscription_endpoint is set");
            return;
        }
        gwr_ok(out, 200, sub);
        return;
    }
    json_object *arr = json_object_new_array();
    if (sub != NULL)
        json_object_array_add(arr, sub);
    char self[GW_URL_MAX + 32];
    snprintf(self, sizeof(self), "%s/Subscription", g->base_url);
    gwr_ok(out, 200,
           fhir_out_searchset(ctx, arr, json_object_array_length(arr), self,
                              NULL));
}

/* The resource types a FHIR client may try; any other is not FHIR. */
static bool
s_fhir_type(const char *t)
{
    static const char *const types[] = {"Task",          "ServiceRequest",
                                        "Patient",       "Consent",
                                        "Subscription",  "Bundle",
                                        "MessageHeader", "Organization",
                                        "Practitioner",  "PractitionerRole",
                                        "Observation",   "Communication",
                                        "Flag",          "Encounter",
                                        "Condition",     "DocumentReference",
                                        "CarePlan",      "Appointment",
                                        "RelatedPerson", "EpisodeOfCare"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t, types[i]) == 0)
            return true;
    return false;
}

/* 405 with the Allow header (RFC 9110) and the same list in words. */
static void
s_not_allowed(struct gw_resp *out, const char *method, const char *allowed,
              const char *what)
{
    gwr_fail(out, 405, "not-supported", NULL,
             "%s is not allowed here: only %s (%s)", method, allowed, what);
    snprintf(out->allow, sizeof(out->allow), "%s", allowed);
}

/* What a route serves: the methods (the Allow header) and, in words,
 * what they do. */
struct s_route {
    const char *type;
    bool has_id;
    const char *allow;
    const char *what;
    bool id_is_referral; /* the id is a referral_id (or a consent_id) */
};

static const struct s_route s_routes[] = {
    {"$process-message", false, "POST", "a message Bundle", false},
    {"Task", false, "GET", "a search", false},
    {"Task", true, "GET, PUT, PATCH", "a read or a status change", true},
    {"ServiceRequest", true, "GET", "a read", true},
    {"Patient", true, "GET", "a read", true},
    {"Consent", false, "POST", "a grant", false},
    {"Consent", true, "PUT", "a revocation", true},
    {"Subscription", false, "GET", "a read", false},
    {"Subscription", true, "GET", "a read", false},
};

static bool
s_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);

    for (const char *p = allow; (p = strstr(p, method)) != NULL; p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

void
gw_route(struct gw *g, const struct gw_req *r, struct gw_resp *out)
{
    struct fhir_ctx ctx;
    char org[GW_ORG_MAX], type[40] = "", id[GWR_ID_LEN + 8] = "";
    const char *p = r->path, *m = r->method;
    bool get = strcmp(m, "GET") == 0;

    /* /Type or /Type/id (no deeper path is served). */
    if (p[0] != '/') {
        gwr_fail(out, 404, "not-found", NULL, "this path is not served");
        return;
    }
    size_t tl = strcspn(p + 1, "/");
    if (tl >= sizeof(type)) {
        gwr_fail(out, 404, "not-found", NULL, "this path is not served");
        return;
    }
    memcpy(type, p + 1, tl);
    type[tl] = '\0';
    const char *rest = p + 1 + tl;
    bool has_id = false;
    if (*rest == '/') {
        rest++;
        size_t il = strlen(rest);
        if (il == 0 || il >= sizeof(id) || strchr(rest, '/') != NULL) {
            gwr_fail(out, 404, "not-found", NULL, "this path is not served");
            return;
        }
        memcpy(id, rest, il + 1);
        has_id = true;
    }

    if (strcmp(type, "metadata") == 0 && !has_id) {
        /* What the gateway serves does not depend on the node. */
        if (gw_node_org(&g->node, org) != KR_OK)
            org[0] = '\0';
        ctx.org_id = org;
        ctx.base_url = g->base_url;
        ctx.now_ms = util_now_ms();
        if (!get)
            s_not_allowed(out, m, "GET", "a read");
        else
            s_metadata(g, &ctx, r, out);
        return;
    }
    static const char *const served[] = {"$process-message", "Task",
                                         "ServiceRequest",   "Patient",
                                         "Consent",          "Subscription"};
    bool known = false;
    for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++)
        known |= strcmp(type, served[i]) == 0;
    if (!known) {
        if (s_fhir_type(type))
            gwr_fail(out, 404, "not-supported", NULL,
                     "%s is not served here (GET /metadata lists what is)",
                     type);
        else
            gwr_fail(out, 404, "not-found", NULL,
                     "not a resource type this gateway knows (GET /metadata "
                     "lists what it serves)");
        return;
    }

    /* What needs no node is answered without it: the route, the method,
     * the form of the id (a node that is down does not turn these into
     * 503s). */
    const struct s_route *rt = NULL;
    for (size_t i = 0; i < sizeof(s_routes) / sizeof(s_routes[0]); i++)
        if (strcmp(type, s_routes[i].type) == 0 && s_routes[i].has_id == has_id)
            rt = &s_routes[i];
    if (rt == NULL) {
        gwr_fail(out, 404, "not-found", NULL,
                 "this path is not served (GET /metadata lists what is)");
        return;
    }
    if (!s_allowed(rt->allow, m)) {
        s_not_allowed(out, m, rt->allow, rt->what);
        return;
    }
    if (rt->id_is_referral && !gwr_id_ok(id)) {
        /* The id is not quoted: a client may have put a BSN there. */
        gwr_fail(out, 404, "not-found", NULL,
                 "no such %s: the id is not a %s id (32 lower-case hex "
                 "digits)",
                 type, strcmp(type, "Consent") == 0 ? "consent" : "referral");
        return;
    }
    if (strcmp(type, "$process-message") == 0) {
        gwr_process_message(g, r, out);
        return;
    }
    if (strcmp(type, "Consent") == 0) {
        gwr_consent(g, r, has_id ? id : NULL, out);
        return;
    }
    if (!gwr_ctx(g, &ctx, org, out))
        return;
    if (strcmp(type, "Task") == 0) {
        if (!has_id)
            gwr_task_search(g, &ctx, r, out);
        else if (get)
            gwr_task_get(g, &ctx, id, out);
        else if (strcmp(m, "PUT") == 0)
            gwr_task_put(g, &ctx, r, id, out);
        else
            gwr_task_patch(g, &ctx, r, id, out);
        return;
    }
    if (strcmp(type, "Subscription") == 0) {
        s_subscription(g, &ctx, has_id ? id : NULL, out);
        return;
    }
    gwr_content_get(g, &ctx, type, id, out);
}
