/*
 * libkr_internal.h - what libkr's files share beyond kr.h: the JSON entry
 * points (kr_json.c, kr_json_referral.c) stretch a client's timeout around
 * a long poll and share the calling of the node; and what programs of
 * this tree linked with libkr statically (the FHIR gateway) use beyond
 * the public API: the referral views as json-c values.
 */
#ifndef LIBKR_INTERNAL_H
#define LIBKR_INTERNAL_H

#include <stdint.h>

#include "kr.h"
#include "local.pb-c.h"

/* Set the bound on c's calls to 'timeout_ms' (> 0); returns the old one. */
int libkr_timeout_set(kr_client_t *c, int timeout_ms);

/* The node's organisation as it last told this client ("" if not known
 * since the socket was made), and remembering it (at most KR_ORG_ID_MAX
 * characters). */
const char *libkr_org(const kr_client_t *c);
void libkr_org_remember(kr_client_t *c, const char *org);

/* A record built by json_map_out.c as text for the caller (kr_json_free):
 * KR_ENOMEM if memory ran out while it was built (errno cleared before
 * building it: json_map_oom.h) or written. */
struct json_object;
int libkr_json_text(struct json_object *j, char **json, size_t *json_len,
                    char *err, size_t errlen);

/* err set from fmt, when err is not NULL and errlen > 0. */
void libkr_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One LocalRequest to the node and its unpacked answer (the caller frees
 * it). A refusal is returned as its code, with the node's detail in err;
 * errno is 0 on success, for what the caller builds (json_map_oom.h). */
int libkr_call(kr_client_t *c, const Kr__V1__LocalRequest *req,
               Kr__V1__LocalResponse **out, char *err, size_t errlen);
/* 32 hex digits into id[16]; KR_EINVAL with 'what' named otherwise. */
int libkr_id(const char *hex, const char *what, uint8_t id[16], char *err,
             size_t errlen);
/* A read of one thing by its id (inbox_get, referral_get or
 * referral_view): the id checked ('what' names it in the error), the
 * request made and answered into *resp. */
int libkr_get_by_id(kr_client_t *c, Kr__V1__LocalRequest__OpCase op,
                    const char *hex, const char *what,
                    Kr__V1__LocalResponse **resp, char *err, size_t errlen);

/* An inbox listing (kr_inbox_json() without the JSON), the call's bound
 * stretched by lr->wait_ms, as the node may hold it that long. */
int libkr_inbox_list(kr_client_t *c, const Kr__V1__ListRequest *lr,
                     Kr__V1__LocalResponse **out, char *err, size_t errlen);

/* kr_referral_view_json() and kr_referral_views_json() without the text:
 * the value itself in *out (the caller puts it), as the gateway maps it
 * to FHIR at once. */
int libkr_referral_view_obj(kr_client_t *c, const char *referral_id_hex,
                            struct json_object **out, char *err, size_t errlen);
int libkr_referral_views_obj(kr_client_t *c, const char *state,
                             uint64_t changed_since_ms, const char *after_hex,
                             uint32_t limit, struct json_object **out,
                             char *err, size_t errlen);

/* The libkr clients of this process that hold its ZeroMQ context (0 when
 * none is open, or the context is a parent's, inherited across fork). The
 * integration harness refuses to fork while it is not 0: the context's
 * I/O thread may hold a lock at the fork (the sanitizer allocator's) that
 * the child then waits for forever. Not exported from libkr.so (libkr.map
 * exports kr_* only); the harness links kr_static. */
size_t libkr_ctx_users(void);

#endif
