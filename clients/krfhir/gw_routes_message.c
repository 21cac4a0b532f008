/* gw_routes_message.c - the writes that are messages: POST
 * $process-message (a message Bundle) and the Consent grant and
 * revocation; docs/FHIR.md, "Endpoints". */
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
        !gwr_type_is(res, "MessageHeader"))
        return NULL;
    const char *id = gwr_str(res, "id");
    return id != NULL ? id : "";
}

void
gwr_process_message(struct gw *g, const struct gw_req *r, struct gw_resp *out)
{
    json_object *bundle = gwr_body(r, out), *kr = NULL, *focus = NULL;
    const char *kind = NULL, *hdr;
    struct fhir_ctx cx, *ctx = &cx;
    char org[GW_ORG_MAX];
    struct fhir_error e;
    struct gw_sent sent;

    if (bundle == NULL)
        return;
    /* Another resource is not what the operation takes: the request's
     * form, 400, as for a body that is not JSON (docs/FHIR.md). */
    if (!gwr_type_is(bundle, "Bundle")) {
        gwr_fail(out, 400, "structure", "resourceType",
                 "$process-message takes a Bundle of type message");
        goto done;
    }
    /* The mapper needs this organisation. While the node has not yet
     * told it, the mapper first checks the Bundle with the sender standing
     * for it (fhir_in.h): a malformed Bundle is refused at once, whether
     * the node is up or not, and only a good one waits for the node. */
    memset(&e, 0, sizeof(e));
    if (!atomic_load(&g->node.have_org)) {
        gwr_ctx_base(g, ctx);
        if (fhir_in_message(ctx, bundle, &kr, &kind, &e) != KR_OK)
            goto refused;
        json_object_put(kr);
        kr = NULL;
    }
    if (!gwr_ctx(g, ctx, org, out))
        goto done;
    /* A message the mapper refuses is not processed at all: a plain
     * OperationOutcome, as for any invalid request. */
    if (fhir_in_message(ctx, bundle, &kr, &kind, &e) != KR_OK)
        goto refused;
    hdr = s_header_id(bundle);
    /* A message that is read but refused by the node or the broker is
     * answered as FHIR messaging says: a response message whose code says
     * whether to try again. */
    if (gwr_send(g, kr, &sent, &e) != KR_OK) {
        bool transient = e.status == 503;
        json_object *resp = fhir_out_message_response(
            ctx, hdr != NULL ? hdr : "",
            transient ? "transient-error" : "fatal-error",
            fhir_operation_outcome(&e), NULL);
        gwr_ok(out, e.status, resp);
        goto done;
    }
    const char *rid = gwr_str(kr, "referral_id");
    if (rid != NULL && gwr_id_ok(rid)) {
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
        gwr_ok(out, 202,
               fhir_out_message_response(
                   ctx, hdr != NULL ? hdr : "", "transient-error",
                   fhir_operation_outcome_info(text), focus));
    } else {
        gwr_ok(out, 200,
               fhir_out_message_response(ctx, hdr != NULL ? hdr : "", "ok",
                                         NULL, focus));
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

void
gwr_consent(struct gw *g, const struct gw_req *r, const char *id,
            struct gw_resp *out)
{
    json_object *c = gwr_body(r, out), *kr = NULL;
    struct fhir_ctx cx, *ctx = &cx;
    char org[GW_ORG_MAX];
    struct fhir_error e;
    struct gw_sent sent;
    const char *cid;

    if (c == NULL)
        return;
    if (!gwr_type_is(c, "Consent")) {
        gwr_fail(out, 400, "structure", "resourceType",
                 "the body must be a Consent");
        goto done;
    }
    if (id != NULL &&
        ((cid = gwr_str(c, "id")) == NULL || strcmp(cid, id) != 0)) {
        gwr_fail(out, 400, "invalid", "Consent.id",
                 "Consent.id must be the id in the URL");
        goto done;
    }
    if (!gwr_ctx(g, ctx, org, out))
        goto done;
    memset(&e, 0, sizeof(e));
    if (fhir_in_consent(ctx, c, &kr, &e) != KR_OK) {
        if (e.status == 0)
            fhir_error_set(&e, 422, "processing", "Consent",
                           "the Consent could not be read");
        gw_resp_error(out, &e);
        goto done;
    }
    if (gwr_send(g, kr, &sent, &e) != KR_OK) {
        gw_resp_error(out, &e);
        goto done;
    }
    /* The Consent as the node now holds it: the client's resource with
     * the consent's id (the grant's consent_id, which a revocation
     * names). */
    cid = gwr_str(kr, "consent_id");
    json_object *scope;
    if (cid == NULL && json_object_object_get_ex(kr, "consent_scope", &scope))
        cid = gwr_str(scope, "consent_id");
    if (cid != NULL)
        json_object_object_add(c, "id", json_object_new_string(cid));
    if (cid != NULL && id == NULL)
        snprintf(out->location, sizeof(out->location), "%s/Consent/%s",
                 g->base_url, cid);
    gwr_ok(out, sent.fate == GW_FATE_PENDING ? 202 : id == NULL ? 201 : 200, c);
    c = NULL;
done:
    json_object_put(kr);
    json_object_put(c);
}
