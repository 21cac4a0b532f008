/*
 * libkr_internal.h - what libkr's files share beyond kr.h: the JSON entry
 * points (kr_json.c) stretch a client's timeout around a long poll.
 */
#ifndef LIBKR_INTERNAL_H
#define LIBKR_INTERNAL_H

#include "kr.h"

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

#endif
