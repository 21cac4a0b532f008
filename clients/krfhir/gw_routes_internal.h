/* gw_routes_internal.h - what the route files share (gw_routes.c: the
 * dispatcher and the helpers; gw_routes_task.c: Task read, search and
 * update, and the ServiceRequest and Patient reads; gw_routes_message.c:
 * $process-message and Consent). Not for the rest of krfhir: gw.h is. */
#ifndef KR_FHIR_GW_ROUTES_INTERNAL_H
#define KR_FHIR_GW_ROUTES_INTERNAL_H

#include <stdbool.h>

#include <json-c/json.h>

#include "fhir.h"
#include "gw.h"

/* Referral and consent ids: 32 lower-case hex digits. */
#define GWR_ID_LEN 32

/* 'out' becomes an OperationOutcome (printf-style diagnostics). */
void gwr_fail(struct gw_resp *out, int status, const char *code,
              const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 'out' becomes 'status' with 'body' (taken). */
void gwr_ok(struct gw_resp *out, int status, json_object *body);
/* Whether 'id' is 32 lower-case hex digits. */
bool gwr_id_ok(const char *id);
/* 503 naming the node's endpoint. */
void gwr_node_down(struct gw *g, struct gw_resp *out, int rc);
/* The mappers' context without the organisation (NULL). */
void gwr_ctx_base(struct gw *g, struct fhir_ctx *ctx);
/* The mappers' context with the organisation (asked of the node once);
 * false with 'out' set (503) if the node does not answer. */
bool gwr_ctx(struct gw *g, struct fhir_ctx *ctx, char org[GW_ORG_MAX],
             struct gw_resp *out);
/* The body as one JSON value, strictly; NULL with 'out' set. */
json_object *gwr_body(const struct gw_req *r, struct gw_resp *out);
/* o[key] if a string, else NULL. */
const char *gwr_str(json_object *o, const char *key);
/* Whether o's resourceType is 'type'. */
bool gwr_type_is(json_object *o, const char *type);
/* Send a mapped description: KR_OK with *s filled (fate OK or PENDING),
 * or an error with 'e' set (nothing delivered). */
int gwr_send(struct gw *g, json_object *kr, struct gw_sent *s,
             struct fhir_error *e);

/* The handlers (gw_route has checked the method and the id's form). */
void gwr_process_message(struct gw *g, const struct gw_req *r,
                         struct gw_resp *out);
void gwr_consent(struct gw *g, const struct gw_req *r, const char *id,
                 struct gw_resp *out);
void gwr_task_get(struct gw *g, const struct fhir_ctx *ctx, const char *id,
                  struct gw_resp *out);
void gwr_task_put(struct gw *g, const struct fhir_ctx *ctx,
                  const struct gw_req *r, const char *id, struct gw_resp *out);
void gwr_task_patch(struct gw *g, const struct fhir_ctx *ctx,
                    const struct gw_req *r, const char *id,
                    struct gw_resp *out);
void gwr_task_search(struct gw *g, const struct fhir_ctx *ctx,
                     const struct gw_req *r, struct gw_resp *out);
void gwr_content_get(struct gw *g, const struct fhir_ctx *ctx, const char *type,
                     const char *id, struct gw_resp *out);

#endif /* KR_FHIR_GW_ROUTES_INTERNAL_H */
