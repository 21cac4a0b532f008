/*
 * json_map_out_internal.h - what the protobuf -> JSON files of the JSON
 * layer share (json_map_out.c defines them; json_map_ops.c uses them).
 */
#ifndef KR_JSON_MAP_OUT_INTERNAL_H
#define KR_JSON_MAP_OUT_INTERNAL_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "store.pb-c.h"

/* Add s at key if it is set (not NULL, not empty). */
void jmo_put_str(json_object *o, const char *key, const char *s);
/* Add s at key, or null if it is not set. */
void jmo_put_str_or_null(json_object *o, const char *key, const char *s);
/* Bytes as lower-case hex, or NULL when empty (or out of memory). */
json_object *jmo_hex(const ProtobufCBinaryData *b);
/* Add the bytes as hex at key if there are any. */
void jmo_put_hex(json_object *o, const char *key, const ProtobufCBinaryData *b);
/* A time (ms) as ISO 8601 UTC, or NULL for 0. */
json_object *jmo_time(uint64_t ms);
/* An enum by its name, or null for the zero value. */
json_object *jmo_enum(int v, const char *(*name)(int));
/* A consent scope as the send description writes it, or ('record') with
 * every key of a ledger record. */
json_object *jmo_scope_json(const Kr__V1__ConsentScope *sc, int record);

#endif
