/* gw_routes.c - the FHIR interactions krfhir serves, one handler each
 * (docs/FHIR.md, "Endpoints"):
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
#define _GNU_SOURCE /* timegm */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fhir_in.h"
#include "fhir_out.h"
#include "gw.h"
#include "log.h"
#include "util.h"

#define S_ID_LEN 32
/* A search reads the node's referrals this many pages at most per answer:
 * a filter that matches little ends with a next link instead of a scan
 * of everything. */
#define S_SEARCH_PAGES 50

static void s_fail(struct gw_resp *out, int status, const char *code,
                   const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
s_fail(struct gw_resp *out, int status, const char *code, const char *expr,
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

static void
s_ok(struct gw_resp *out, int status, json_object *body)
{
    if (out->body != NULL)
        json_object_put(out->body);
    out->status = status;
    out->body = body;
}

static bool
s_id_ok(const char *id)
{
    if (id == NULL || strlen(id) != S_ID_LEN)
        return false;
    for (size_t i = 0; i < S_ID_LEN; i++)
        if (!isdigit((unsigned char)id[i]) && !(id[i] >= 'a' && id[i] <= 'f'))
            return false;
    return true;
}

/* The node is down: 503 naming its endpoint, so that an operator sees
 * which socket. */
static void
s_node_down(struct gw *g, struct gw_resp *out, int rc)
{
    s_fail(out, 503, "transient", NULL,
           "the node at %s does not answer (%s): try again later",
           g->cfg->node, kr_strerror(rc));
}

/* The mappers' context without the organisation (NULL): the base URL and
 * the clock. */
static void
s_ctx_base(struct gw *g, struct fhir_ctx *ctx)
{
    ctx->org_id = NULL;
    ctx->base_url = g->base_url;
    ctx->now_ms = util_now_ms();
}

/* The mappers' context: this organisation (asked of the node once, then
 * remembered by gw_node_org: it never changes for a node), the base URL
 * and the clock. */
static bool
s_ctx(struct gw *g, struct fhir_ctx *ctx, char org[GW_ORG_MAX],
      struct gw_resp *out)
{
    int rc = gw_node_org(&g->node, org);

    if (rc != KR_OK) {
        s_node_down(g, out, rc);
        return false;
    }
    s_ctx_base(g, ctx);
    ctx->org_id = org;
    return true;
}

/* The body as one JSON value, strictly (RFC 8259). */
static json_object *
s_body(const struct gw_req *r, struct gw_resp *out)
{
    struct json_tokener *tok;
    json_object *o;

    if (r->body_len == 0) {
        s_fail(out, 400, "structure", NULL, "the request has no body");
        return NULL;
    }
    if (strlen(r->body) != r->body_len) {
        s_fail(out, 400, "structure", NULL, "the body holds a NUL byte");
        return NULL;
    }
    tok = json_tokener_new_ex(64);
    if (tok == NULL) {
        s_fail(out, 500, "exception", NULL, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    o = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    if (o == NULL || jerr != json_tokener_success) {
        s_fail(out, 400, "structure", NULL,
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
            s_fail(out, 400, "structure", NULL,
                   "the body holds more than one JSON value (from byte %zu)",
                   used);
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    return o;
}

static const char *
s_str(json_object *o, const char *key)
{
    json_object *v;

    if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool
s_type_is(json_object *o, const char *type)
{
    const char *t = s_str(o, "resourceType");

    return t != NULL && strcmp(t, type) == 0;
}

/*
 * Sends and the node's refusals.
 */

/* The OperationOutcome for a send that did not go through: a refusal by
 * the node (rc) or by the broker (s->fate). */
static void
s_send_error(const char *node, const struct gw_sent *s, int rc,
             const char *err, struct fhir_error *e)
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
static int
s_send(struct gw *g, json_object *kr, struct gw_sent *s, struct fhir_error *e)
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
 * Reading a referral.
 */

/* The referral and the inbox item that opened it here (NULL at the
 * placer, which holds no opened content). KR_OK, or 'out' set. */
static int
s_load(struct gw *g, const char *id, json_object **ref, json_object **item,
       struct gw_resp *out)
{
    char err[256] = "";
    json_object *hist, *h0;
    const char *mid;
    int rc;

    *ref = *item = NULL;
    if (!s_id_ok(id)) {
        s_fail(out, 404, "not-found", NULL,
               "no such resource: ids here are 32 lower-case hex digits (the "
               "referral_id)");
        return KR_ENOTFOUND;
    }
    rc = gw_node_referral(&g->node, id, ref, err, sizeof(err));
    if (rc == KR_ENOTFOUND) {
        s_fail(out, 404, "not-found", NULL,
               "the node holds no referral with this id");
        return rc;
    }
    if (rc != KR_OK) {
        s_fail(out, 503, "transient", NULL,
               "reading the referral from the node at %s: %s: %s",
               g->cfg->node, kr_strerror(rc), err);
        return rc;
    }
    if (json_object_object_get_ex(*ref, "history", &hist) &&
        json_object_is_type(hist, json_type_array) &&
        json_object_array_length(hist) > 0 &&
        (h0 = json_object_array_get_idx(hist, 0)) != NULL &&
        (mid = s_str(h0, "msg_id")) != NULL && s_id_ok(mid)) {
        rc = gw_node_inbox_item(&g->node, mid, item, err, sizeof(err));
        if (rc != KR_OK && rc != KR_ENOTFOUND) {
            json_object_put(*ref);
            *ref = NULL;
            s_fail(out, 503, "transient", NULL,
                   "reading the referral's message from the node at %s: "
                   "%s: %s",
                   g->cfg->node, kr_strerror(rc), err);
            return rc;
        }
    }
    return KR_OK;
}

/* Without a rest-hook, a Task read is the organisation taking over what
 * arrived for it: mark the referral's received messages processed (by
 * the notifier's thread: the answer does not wait for the node's
 * commit). */
static void
s_mark_read(struct gw *g, json_object *ref, const char *org)
{
    json_object *hist;

    if (g->cfg->subscription_endpoint[0] != '\0' ||
        !json_object_object_get_ex(ref, "history", &hist) ||
        !json_object_is_type(hist, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(hist) && i < 1000; i++) {
        json_object *h = json_object_array_get_idx(hist, i);
        const char *who = s_str(h, "org_id"), *mid = s_str(h, "msg_id");
        if (who != NULL && strcmp(who, org) != 0 && s_id_ok(mid))
            gw_notify_mark(&g->notify, mid); /* by the notifier, soon */
    }
}

static json_object *
s_task(struct gw *g, const struct fhir_ctx *ctx, const char *id,
       struct gw_resp *out)
{
    json_object *ref, *item, *task;

    if (s_load(g, id, &ref, &item, out) != KR_OK)
        return NULL;
    task = fhir_out_task(ctx, ref, item);
    if (task == NULL)
        s_fail(out, 500, "exception", NULL,
               "the referral could not be shown as a Task");
    else
        s_mark_read(g, ref, ctx->org_id);
    json_object_put(ref);
    json_object_put(item);
    return task;
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
        s_fail(out, 500, "exception", NULL, "no CapabilityStatement");
    else
        s_ok(out, 200, cs);
}

/* The MessageHeader's id, if entry[0] is one ("" if it has no id). */
static const char *
s_header_id(json_object *bundle)
{
    json_object *entries, *e0, *res;

    if (!json_object_object_get_ex(bundle, "entry", &entries) ||
        !json_object_is_type(entries, json_type_array) ||
        json_object_array_length(entries) == 0 ||
        (e0 = json_object_array_get_idx(entries, 0)) == NULL ||
        !json_object_object_get_ex(e0, "resource", &res) ||
        !s_type_is(res, "MessageHeader"))
        return NULL;
    const char *id = s_str(res, "id");
    return id != NULL ? id : "";
}

static void
s_process_message(struct gw *g, const struct gw_req *r, struct gw_resp *out)
{
    json_object *bundle = s_body(r, out), *kr = NULL, *focus = NULL;
    const char *kind = NULL, *hdr;
    struct fhir_ctx cx, *ctx = &cx;
    char org[GW_ORG_MAX];
    struct fhir_error e;
    struct gw_sent sent;

    if (bundle == NULL)
        return;
    /* Another resource is not what the operation takes: the request's
     * form, 400, as for a body that is not JSON (docs/FHIR.md). */
    if (!s_type_is(bundle, "Bundle")) {
        s_fail(out, 400, "structure", "resourceType",
               "$process-message takes a Bundle of type message");
        goto done;
    }
    /* The mapper needs this organisation. While the node has not yet
     * told it, the mapper first checks the Bundle with the sender standing
     * for it (fhir_in.h): a malformed Bundle is refused at once, whether
     * the node is up or not, and only a good one waits for the node. */
    memset(&e, 0, sizeof(e));
    if (!atomic_load(&g->node.have_org)) {
        s_ctx_base(g, ctx);
        if (fhir_in_message(ctx, bundle, &kr, &kind, &e) != KR_OK)
            goto refused;
        json_object_put(kr);
        kr = NULL;
    }
    if (!s_ctx(g, ctx, org, out))
        goto done;
    /* A message the mapper refuses is not processed at all: a plain
     * OperationOutcome, as for any invalid request. */
    if (fhir_in_message(ctx, bundle, &kr, &kind, &e) != KR_OK)
        goto refused;
    hdr = s_header_id(bundle);
    /* A message that is read but refused by the node or the broker is
     * answered as FHIR messaging says: a response message whose code says
     * whether to try again. */
    if (s_send(g, kr, &sent, &e) != KR_OK) {
        bool transient = e.status == 503;
        json_object *resp = fhir_out_message_response(
            ctx, hdr != NULL ? hdr : "",
            transient ? "transient-error" : "fatal-error",
            fhir_operation_outcome(&e), NULL);
        s_ok(out, e.status, resp);
        goto done;
    }
    const char *rid = s_str(kr, "referral_id");
    if (rid != NULL && s_id_ok(rid)) {
        json_object *ref = NULL;
        char err[256];
        if (gw_node_referral(&g->node, rid, &ref, err, sizeof(err)) == KR_OK) {
            focus = fhir_out_task(ctx, ref, NULL);
            json_object_put(ref);
        }
    }
    if (sent.fate == GW_FATE_PENDING) {
        char text[256];
        snprintf(text, sizeof(text),
                 "the node holds message %s and sends it when the broker is "
                 "reachable; the broker has not answered yet: POST the same "
                 "Bundle again to learn its fate (it is sent once)",
                 sent.msg_id);
        s_ok(out, 202,
             fhir_out_message_response(
                 ctx, hdr != NULL ? hdr : "", "transient-error",
                 fhir_operation_outcome_info(text), focus));
    } else {
        s_ok(out, 200,
             fhir_out_message_response(ctx, hdr != NULL ? hdr : "", "ok", NULL,
                                       focus));
    }
    log_info("process-message: %s msg_id=%s", kind != NULL ? kind : "?",
             sent.msg_id);
    goto done;
refused:
    if (e.status == 0)
        fhir_error_set(&e, 422, "processing", NULL,
                       "the message could not be read");
    gw_resp_error(out, &e);
done:
    json_object_put(kr);
    json_object_put(bundle);
}

static void
s_task_get(struct gw *g, const struct fhir_ctx *ctx, const char *id,
           struct gw_resp *out)
{
    json_object *task = s_task(g, ctx, id, out);

    if (task != NULL)
        s_ok(out, 200, task);
}

/* A Task as the client wants it (PUT, or the current one after a PATCH)
 * made into a status change and sent. Takes 'task'. */
static void
s_task_change(struct gw *g, const struct fhir_ctx *ctx, const char *id,
              json_object *task, struct gw_resp *out)
{
    json_object *ref = NULL, *item = NULL, *kr = NULL;
    struct fhir_error e;
    struct gw_sent sent;
    const char *tid;

    if (!s_type_is(task, "Task")) {
        s_fail(out, 400, "structure", "resourceType",
               "the body must be a Task");
        goto done;
    }
    if ((tid = s_str(task, "id")) == NULL || strcmp(tid, id) != 0) {
        s_fail(out, 400, "invalid", "Task.id",
               "Task.id must be the id in the URL");
        goto done;
    }
    if (s_load(g, id, &ref, &item, out) != KR_OK)
        goto done;
    memset(&e, 0, sizeof(e));
    if (fhir_in_task_update(ctx, ref, task, &kr, &e) != KR_OK) {
        if (e.status == 0)
            fhir_error_set(&e, 422, "processing", "Task",
                           "the change could not be read");
        gw_resp_error(out, &e);
        goto done;
    }
    int status = 200;
    if (kr != NULL) {
        if (s_send(g, kr, &sent, &e) != KR_OK) {
            gw_resp_error(out, &e);
            goto done;
        }
        if (sent.fate == GW_FATE_PENDING)
            status = 202;
    }
    json_object *now = s_task(g, ctx, id, out);
    if (now != NULL)
        s_ok(out, status, now);
done:
    json_object_put(kr);
    json_object_put(ref);
    json_object_put(item);
    json_object_put(task);
}

static void
s_task_put(struct gw *g, const struct fhir_ctx *ctx, const struct gw_req *r,
           const char *id, struct gw_resp *out)
{
    json_object *task = s_body(r, out);

    if (task != NULL)
        s_task_change(g, ctx, id, task, out);
}

static void
s_task_patch(struct gw *g, const struct fhir_ctx *ctx, const struct gw_req *r,
             const char *id, struct gw_resp *out)
{
    json_object *patch = s_body(r, out), *task;
    struct fhir_error e;

    if (patch == NULL)
        return;
    if (!json_object_is_type(patch, json_type_array)) {
        s_fail(out, 400, "structure", NULL,
               "a JSON Patch is an array of operations (RFC 6902)");
        json_object_put(patch);
        return;
    }
    if ((task = s_task(g, ctx, id, out)) == NULL) {
        json_object_put(patch);
        return;
    }
    memset(&e, 0, sizeof(e));
    if (fhir_json_patch_apply(task, patch, &e) != KR_OK) {
        if (e.status == 0)
            fhir_error_set(&e, 422, "processing", NULL,
                           "the patch could not be applied");
        gw_resp_error(out, &e);
        json_object_put(task);
        json_object_put(patch);
        return;
    }
    json_object_put(patch);
    s_task_change(g, ctx, id, task, out);
}

/* An instant or a date of FHIR's forms as ms since the epoch (a date or a
 * partial time: its start). */
static int
s_instant(const char *s, uint64_t *ms)
{
    struct tm tm;
    int y = 0, mo = 1, d = 1, h = 0, mi = 0, sec = 0, frac = 0, n = 0;
    long off = 0;
    const char *p;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d%n", &y, &n) != 1 || n != 4)
        return KR_EINVAL;
    p = s + 4;
    if (*p == '-') {
        if (sscanf(p, "-%2d%n", &mo, &n) != 1 || n != 3)
            return KR_EINVAL;
        p += 3;
        if (*p == '-') {
            if (sscanf(p, "-%2d%n", &d, &n) != 1 || n != 3)
                return KR_EINVAL;
            p += 3;
            if (*p == 'T') {
                if (sscanf(p, "T%2d:%2d%n", &h, &mi, &n) != 2 || n != 6)
                    return KR_EINVAL;
                p += 6;
                if (*p == ':') {
                    if (sscanf(p, ":%2d%n", &sec, &n) != 1 || n != 3)
                        return KR_EINVAL;
                    p += 3;
                    if (*p == '.') {
                        int digits = 0;
                        p++;
                        while (isdigit((unsigned char)*p) && digits < 9) {
                            if (digits < 3)
                                frac = frac * 10 + (*p - '0');
                            digits++;
                            p++;
                        }
                        for (int k = digits; k < 3; k++)
                            frac *= 10;
                        if (digits == 0)
                            return KR_EINVAL;
                    }
                }
                if (*p == 'Z') {
                    p++;
                } else if (*p == '+' || *p == '-') {
                    int oh, om;
                    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
                        return KR_EINVAL;
                    off = (oh * 60L + om) * 60L * (*p == '+' ? 1 : -1);
                    p += 6;
                }
            }
        }
    }
    if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h > 23 || mi > 59 || sec > 60)
        return KR_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || (long)t - off < 0)
        return KR_EINVAL;
    *ms = (uint64_t)((long)t - off) * 1000u + (uint64_t)frac;
    return KR_OK;
}

/* An organisation search value: "ura:00001234" or "SYSTEM|VALUE". */
static int
s_org_param(const char *v, char out[GW_ORG_MAX])
{
    const char *bar = strchr(v, '|');

    if (bar == NULL) {
        snprintf(out, GW_ORG_MAX, "%s", v);
        return util_org_id_valid(out) ? KR_OK : KR_EINVAL;
    }
    json_object *id = json_object_new_object();
    char sys[256];
    size_t n = (size_t)(bar - v);
    if (n >= sizeof(sys)) {
        json_object_put(id);
        return KR_EINVAL;
    }
    memcpy(sys, v, n);
    sys[n] = '\0';
    json_object_object_add(id, "system", json_object_new_string(sys));
    json_object_object_add(id, "value", json_object_new_string(bar + 1));
    int rc = fhir_org_id_from_identifier(id, NULL, out, GW_ORG_MAX, NULL);
    json_object_put(id);
    return rc;
}

/* What a Task search asks for. */
struct s_query {
    const char *state;
    char owner[GW_ORG_MAX], requester[GW_ORG_MAX];
    int cmp;        /* _lastUpdated: 0 none, 'g' gt, 'G' ge, 'l' lt, 'L' le */
    uint64_t at_ms; /* its instant */
    uint64_t count; /* _count */
    const char *after;
};

static bool
s_match(const struct s_query *q, json_object *ref)
{
    const char *p;
    uint64_t at;

    if (q->owner[0] &&
        ((p = s_str(ref, "performer")) == NULL || strcmp(p, q->owner) != 0))
        return false;
    if (q->requester[0] &&
        ((p = s_str(ref, "placer")) == NULL || strcmp(p, q->requester) != 0))
        return false;
    if (q->cmp != 0) {
        if ((p = s_str(ref, "state_at")) == NULL || s_instant(p, &at) != KR_OK)
            return false;
        switch (q->cmp) {
        case 'g':
            return at > q->at_ms;
        case 'G':
            return at >= q->at_ms;
        case 'l':
            return at < q->at_ms;
        default:
            return at <= q->at_ms;
        }
    }
    return true;
}

/* One pass of a search: the matching Tasks (an array), and the id to
 * page on if there may be more ("" if not). KR_OK or 'out' set. */
static int
s_search_once(struct gw *g, const struct fhir_ctx *ctx, const struct s_query *q,
              json_object **tasks, char next[S_ID_LEN + 1], struct gw_resp *out)
{
    char after[S_ID_LEN + 1] = "", err[256];
    uint32_t page = (uint32_t)g->cfg->search_max;

    *tasks = json_object_new_array();
    next[0] = '\0';
    if (q->after != NULL)
        snprintf(after, sizeof(after), "%s", q->after);
    for (int pg = 0; pg < S_SEARCH_PAGES; pg++) {
        json_object *refs = NULL;
        int rc = gw_node_referrals(&g->node, q->state, after[0] ? after : NULL,
                                   page, &refs, err, sizeof(err));
        if (rc != KR_OK) {
            s_fail(out, 503, "transient", NULL,
                   "listing the referrals of the node at %s: %s: %s",
                   g->cfg->node, kr_strerror(rc), err);
            json_object_put(*tasks);
            *tasks = NULL;
            return rc;
        }
        size_t n = json_object_is_type(refs, json_type_array)
                       ? json_object_array_length(refs)
                       : 0;
        for (size_t i = 0; i < n; i++) {
            json_object *ref = json_object_array_get_idx(refs, i);
            const char *rid = s_str(ref, "referral_id");
            if (rid == NULL || !s_id_ok(rid))
                continue;
            snprintf(after, sizeof(after), "%s", rid);
            if (!s_match(q, ref))
                continue;
            /* The list holds no history: the whole record, and the item
             * that opened it, come one referral at a time. */
            json_object *full = NULL, *item = NULL, *task = NULL;
            struct gw_resp scratch;
            memset(&scratch, 0, sizeof(scratch));
            if (s_load(g, rid, &full, &item, &scratch) == KR_OK)
                task = fhir_out_task(ctx, full, item);
            json_object_put(scratch.body);
            json_object_put(full);
            json_object_put(item);
            if (task != NULL)
                json_object_array_add(*tasks, task);
            if (json_object_array_length(*tasks) >= q->count) {
                if (i + 1 < n || n == page)
                    snprintf(next, S_ID_LEN + 1, "%s", after);
                json_object_put(refs);
                return KR_OK;
            }
        }
        json_object_put(refs);
        if (n < page)
            return KR_OK; /* the end of the node's list */
    }
    snprintf(next, S_ID_LEN + 1, "%s", after);
    return KR_OK;
}

static void
s_task_search(struct gw *g, const struct fhir_ctx *ctx, const struct gw_req *r,
              struct gw_resp *out)
{
    struct s_query q;
    const char *v;
    uint64_t wait_s = 0;
    static const char *const states[] = {
        "draft",    "requested", "received",  "accepted",
        "rejected", "ready",     "cancelled", "in-progress",
        "on-hold",  "failed",    "completed", "entered-in-error"};

    memset(&q, 0, sizeof(q));
    q.count = g->cfg->search_max;
    if ((v = gw_req_arg(r, "status")) != NULL) {
        bool known = false;
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
            known |= strcmp(v, states[i]) == 0;
        if (!known) {
            s_fail(out, 400, "value", "status",
                   "status: not a FHIR TaskStatus code");
            return;
        }
        q.state = v;
    }
    if ((v = gw_req_arg(r, "owner")) != NULL ||
        (v = gw_req_arg(r, "owner:identifier")) != NULL) {
        if (s_org_param(v, q.owner) != KR_OK) {
            s_fail(out, 400, "value", "owner",
                   "owner: not an organisation (ura:NNNNNNNN, or "
                   "SYSTEM|VALUE with the URA or AGB system)");
            return;
        }
    }
    if ((v = gw_req_arg(r, "requester")) != NULL ||
        (v = gw_req_arg(r, "requester:identifier")) != NULL) {
        if (s_org_param(v, q.requester) != KR_OK) {
            s_fail(out, 400, "value", "requester",
                   "requester: not an organisation (ura:NNNNNNNN, or "
                   "SYSTEM|VALUE with the URA or AGB system)");
            return;
        }
    }
    if ((v = gw_req_arg(r, "_lastUpdated")) != NULL) {
        const char *t = v;
        q.cmp = 'G';
        if (strncmp(v, "gt", 2) == 0)
            q.cmp = 'g', t = v + 2;
        else if (strncmp(v, "ge", 2) == 0)
            q.cmp = 'G', t = v + 2;
        else if (strncmp(v, "lt", 2) == 0)
            q.cmp = 'l', t = v + 2;
        else if (strncmp(v, "le", 2) == 0)
            q.cmp = 'L', t = v + 2;
        else if (strncmp(v, "eq", 2) == 0)
            q.cmp = 'G', t = v + 2;
        if (s_instant(t, &q.at_ms) != KR_OK) {
            s_fail(out, 400, "value", "_lastUpdated",
                   "_lastUpdated: not gt, ge, lt or le followed by a FHIR "
                   "instant or date (2026-12-05T10:00:00Z)");
            return;
        }
    }
    if ((v = gw_req_arg(r, "_count")) != NULL &&
        util_parse_u64(v, 1, g->cfg->search_max, &q.count) != KR_OK) {
        s_fail(out, 400, "value", "_count",
               "_count: not a number from 1 to %llu (search_max)",
               (unsigned long long)g->cfg->search_max);
        return;
    }
    if ((v = gw_req_arg(r, "_wait")) != NULL &&
        util_parse_u64(v, 0, g->cfg->long_poll_max_s, &wait_s) != KR_OK) {
        s_fail(out, 400, "value", "_wait",
               "_wait: not a number of seconds from 0 to %llu "
               "(long_poll_max_s)",
               (unsigned long long)g->cfg->long_poll_max_s);
        return;
    }
    if ((v = gw_req_arg(r, "_page_after")) != NULL) {
        if (!s_id_ok(v)) {
            s_fail(out, 400, "value", "_page_after",
                   "_page_after: not a Task id (from a next link)");
            return;
        }
        q.after = v;
    }

    /* The long poll: search; while nothing matches, wait for a change the
     * inbox watcher or a send of our own announces (at most a second at a
     * time: a referral's state also moves by the broker's receipts, which
     * the inbox does not show), and search again. */
    uint64_t deadline = util_mono_ms() + wait_s * 1000u;
    json_object *tasks = NULL;
    char next[S_ID_LEN + 1];
    for (unsigned pass = 0; pass < 100000; pass++) {
        uint64_t gen = gw_notify_gen(&g->notify);
        if (s_search_once(g, ctx, &q, &tasks, next, out) != KR_OK)
            return;
        uint64_t now = util_mono_ms();
        if (json_object_array_length(tasks) > 0 || now >= deadline)
            break;
        json_object_put(tasks);
        tasks = NULL;
        gw_notify_wait(&g->notify, gen,
                       deadline - now > 1000 ? now + 1000 : deadline);
    }
    if (tasks == NULL)
        tasks = json_object_new_array();

    /* The self link repeats the query as asked; next pages on. */
    char self[1024], nextu[1100];
    int n = snprintf(self, sizeof(self), "%s/Task?", g->base_url);
    const char *keys[] = {"status",
                          "owner",
                          "owner:identifier",
                          "requester",
                          "requester:identifier",
                          "_lastUpdated",
                          "_count"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *val = gw_req_arg(r, keys[i]);
        if (val == NULL || n >= (int)sizeof(self))
            continue;
        char *enc = NULL;
        size_t el = strlen(val) * 3 + 1;
        enc = xmalloc(el);
        size_t k = 0;
        for (const char *c = val; *c; c++) {
            if (isalnum((unsigned char)*c) || strchr("-._~:", *c))
                enc[k++] = *c;
            else
                k += (size_t)sprintf(enc + k, "%%%02X", (unsigned char)*c);
        }
        enc[k] = '\0';
        n += snprintf(self + n, sizeof(self) - (size_t)n, "%s%s=%s",
                      self[n - 1] == '?' ? "" : "&", keys[i], enc);
        free(enc);
    }
    if (n > 0 && n < (int)sizeof(self) &&
        (self[n - 1] == '?' || self[n - 1] == '&'))
        self[n - 1] = '\0';
    if (next[0] != '\0')
        snprintf(nextu, sizeof(nextu), "%s%s_page_after=%s", self,
                 strchr(self, '?') != NULL ? "&" : "?", next);
    size_t total = json_object_array_length(tasks);
    json_object *b = fhir_out_searchset(ctx, tasks, total, self,
                                        next[0] != '\0' ? nextu : NULL);
    if (b == NULL)
        s_fail(out, 500, "exception", NULL, "no searchset");
    else
        s_ok(out, 200, b);
}

static void
s_content_get(struct gw *g, const struct fhir_ctx *ctx, const char *type,
              const char *id, struct gw_resp *out)
{
    json_object *ref, *item, *res;
    struct fhir_error e;

    if (s_load(g, id, &ref, &item, out) != KR_OK)
        return;
    memset(&e, 0, sizeof(e));
    if (item == NULL) {
        s_fail(out, 404, "not-found", NULL,
               "this organisation holds no opened content of the referral "
               "(it placed it: the content is in its own system)");
        json_object_put(ref);
        return;
    }
    if (strcmp(type, "ServiceRequest") == 0)
        res = fhir_out_service_request(ctx, ref, item, &e);
    else
        res = fhir_out_patient(ctx, ref, item, &e);
    if (res == NULL) {
        if (e.status == 0)
            fhir_error_set(&e, 404, "not-found", NULL,
                           "the referral's message holds no %s", type);
        gw_resp_error(out, &e);
    } else {
        s_ok(out, 200, res);
    }
    json_object_put(ref);
    json_object_put(item);
}

static void
s_consent(struct gw *g, const struct gw_req *r, const char *id,
          struct gw_resp *out)
{
    json_object *c = s_body(r, out), *kr = NULL;
    struct fhir_ctx cx, *ctx = &cx;
    char org[GW_ORG_MAX];
    struct fhir_error e;
    struct gw_sent sent;
    const char *cid;

    if (c == NULL)
        return;
    if (!s_type_is(c, "Consent")) {
        s_fail(out, 400, "structure", "resourceType",
               "the body must be a Consent");
        goto done;
    }
    if (id != NULL &&
        ((cid = s_str(c, "id")) == NULL || strcmp(cid, id) != 0)) {
        s_fail(out, 400, "invalid", "Consent.id",
               "Consent.id must be the id in the URL");
        goto done;
    }
    if (!s_ctx(g, ctx, org, out))
        goto done;
    memset(&e, 0, sizeof(e));
    if (fhir_in_consent(ctx, c, &kr, &e) != KR_OK) {
        if (e.status == 0)
            fhir_error_set(&e, 422, "processing", "Consent",
                           "the Consent could not be read");
        gw_resp_error(out, &e);
        goto done;
    }
    if (s_send(g, kr, &sent, &e) != KR_OK) {
        gw_resp_error(out, &e);
        goto done;
    }
    /* The Consent as the node now holds it: the client's resource with
     * the consent's id (the grant's consent_id, which a revocation
     * names). */
    cid = s_str(kr, "consent_id");
    json_object *scope;
    if (cid == NULL && json_object_object_get_ex(kr, "consent_scope", &scope))
        cid = s_str(scope, "consent_id");
    if (cid != NULL)
        json_object_object_add(c, "id", json_object_new_string(cid));
    if (cid != NULL && id == NULL)
        snprintf(out->location, sizeof(out->location), "%s/Consent/%s",
                 g->base_url, cid);
    s_ok(out, sent.fate == GW_FATE_PENDING ? 202 : id == NULL ? 201 : 200, c);
    c = NULL;
done:
    json_object_put(kr);
    json_object_put(c);
}

static void
s_subscription(struct gw *g, const struct fhir_ctx *ctx, const char *id,
               struct gw_resp *out)
{
    json_object *sub = gw_notify_subscription(&g->notify);

    if (id != NULL) {
        if (sub == NULL || strcmp(id, "krfhir") != 0) {
            json_object_put(sub);
            s_fail(out, 404, "not-found", NULL,
                   "the only Subscription is 'krfhir', and only when "
                   "subscription_endpoint is set");
            return;
        }
        s_ok(out, 200, sub);
        return;
    }
    json_object *arr = json_object_new_array();
    if (sub != NULL)
        json_object_array_add(arr, sub);
    char self[GW_URL_MAX + 32];
    snprintf(self, sizeof(self), "%s/Subscription", g->base_url);
    s_ok(out, 200,
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
    s_fail(out, 405, "not-supported", NULL,
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
    char org[GW_ORG_MAX], type[40] = "", id[S_ID_LEN + 8] = "";
    const char *p = r->path, *m = r->method;
    bool get = strcmp(m, "GET") == 0;

    /* /Type or /Type/id (no deeper path is served). */
    if (p[0] != '/') {
        s_fail(out, 404, "not-found", NULL, "this path is not served");
        return;
    }
    size_t tl = strcspn(p + 1, "/");
    if (tl >= sizeof(type)) {
        s_fail(out, 404, "not-found", NULL, "this path is not served");
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
            s_fail(out, 404, "not-found", NULL, "this path is not served");
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
            s_fail(out, 404, "not-supported", NULL,
                   "%s is not served here (GET /metadata lists what is)", type);
        else
            s_fail(out, 404, "not-found", NULL,
                   "not a resource type this gateway knows (GET /metadata "
                   "lists what it serves)");
        return;
    }

    /* What needs no node is answered without it: the route, the method,
     * the form of the id (a node that is down does not turn these into
     * 503s). */
    const struct s_route *rt = NULL;
    for (size_t i = 0; i < sizeof(s_routes) / sizeof(s_routes[0]); i++)
        if (strcmp(type, s_routes[i].type) == 0 &&
            s_routes[i].has_id == has_id)
            rt = &s_routes[i];
    if (rt == NULL) {
        s_fail(out, 404, "not-found", NULL,
               "this path is not served (GET /metadata lists what is)");
        return;
    }
    if (!s_allowed(rt->allow, m)) {
        s_not_allowed(out, m, rt->allow, rt->what);
        return;
    }
    if (rt->id_is_referral && !s_id_ok(id)) {
        /* The id is not quoted: a client may have put a BSN there. */
        s_fail(out, 404, "not-found", NULL,
               "no such %s: the id is not a %s id (32 lower-case hex "
               "digits)",
               type, strcmp(type, "Consent") == 0 ? "consent" : "referral");
        return;
    }
    if (strcmp(type, "$process-message") == 0) {
        s_process_message(g, r, out);
        return;
    }
    if (strcmp(type, "Consent") == 0) {
        s_consent(g, r, has_id ? id : NULL, out);
        return;
    }
    if (!s_ctx(g, &ctx, org, out))
        return;
    if (strcmp(type, "Task") == 0) {
        if (!has_id)
            s_task_search(g, &ctx, r, out);
        else if (get)
            s_task_get(g, &ctx, id, out);
        else if (strcmp(m, "PUT") == 0)
            s_task_put(g, &ctx, r, id, out);
        else
            s_task_patch(g, &ctx, r, id, out);
        return;
    }
    if (strcmp(type, "Subscription") == 0) {
        s_subscription(g, &ctx, has_id ? id : NULL, out);
        return;
    }
    s_content_get(g, &ctx, type, id, out);
}
