/*
 * json_map_internal.h - what the files of the json_map module share, and
 * nothing outside it uses: the bounds of a description, the error messages
 * that name a path, and the checked getters that read a description's keys
 * (json_map_util.c). The module's interface is json_map.h.
 *
 *   json_map_util.c  these helpers, dates and times, JSON text
 *   json_map_send.c  a send description -> kr.v1.LocalRequest
 *     json_map_send_content.c  its sealed content
 *     json_map_send_consent.c  a consent-grant's scope and evidence
 *   json_map_out.c   protobuf -> JSON for krctl's output
 */
#ifndef KRCTL_JSON_MAP_INTERNAL_H
#define KRCTL_JSON_MAP_INTERNAL_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "json_map.h"
#include "util.h"

/* Bounds on what a description may hold. They keep a mistaken file (a
 * whole letter pasted into a name) from becoming a message, and keep the
 * sealed content well below the broker's envelope limit. */
#define JM_SHORT_MAX 256        /* names, streets, roles, ... */
#define JM_CODE_MAX 64          /* purpose, reason codes */
#define JM_TEXT_MAX (64 * 1024) /* free text */
#define JM_OPAQUE_MAX (512 * 1024)
#define JM_REASON_CODES_MAX 64
#define JM_ACTOR_REF_MAX 128 /* bytes */
#define JM_PATH_MAX 128

/*
 * Errors
 */

/* "<path>.<key>" (or just "<key>" at the top level) into out. */
void jm_join(char out[JM_PATH_MAX], const char *path, const char *key);
/* "<path>.<key>: <message>" into err; returns KR_EINVAL. */
int jm_fail(char *err, size_t errlen, const char *path, const char *key,
            const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* "a string", "an object", ...: what a value is, for an error message. */
const char *jm_type_name(json_object *v);
/* Every key of 'o' must be in 'allowed' (NULL-terminated). The key is
 * named in the error, cut short and with anything unprintable replaced:
 * it is structure, not data, but it came from the file. */
int jm_check_keys(json_object *o, const char *path, const char *const *allowed,
                  char *err, size_t errlen);

/*
 * Reading values. Each jm_get_* looks 'key' up in 'o': absent or null
 * leaves *out untouched and is an error only if 'required'.
 */

/* A value of type 'want' ('want_name' says it in the error). */
int jm_get(json_object *o, const char *path, const char *key, json_type want,
           const char *want_name, int required, json_object **out, char *err,
           size_t errlen);
/* A string of at most 'max' bytes, without NUL characters (they would cut
 * the protobuf string short). A required string must not be empty. */
int jm_check_str(json_object *v, const char *path, const char *key,
                 int required, size_t max, const char **out, char *err,
                 size_t errlen);
int jm_get_str(json_object *o, const char *path, const char *key, int required,
               size_t max, const char **out, char *err, size_t errlen);
int jm_get_obj(json_object *o, const char *path, const char *key, int required,
               json_object **out, char *err, size_t errlen);
/* A code in the clear envelope: lower-case letters, digits, '-' and '.',
 * starting with a letter or digit. The restriction keeps free text, and
 * with it person data, out of the fields the broker reads. */
int jm_get_code(json_object *o, const char *path, const char *key, int required,
                const char **out, char *err, size_t errlen);
/* A name from one of the tables of names.h. */
int jm_get_enum(json_object *o, const char *path, const char *key, int required,
                int (*parse)(const char *), const char *choices, int *out,
                char *err, size_t errlen);
/* Exactly 32 hex digits, into 16 bytes. */
int jm_get_id(json_object *o, const char *path, const char *key,
              uint8_t id[KR_ID_LEN], ProtobufCBinaryData *out, char *err,
              size_t errlen);
/* A calendar date "YYYY-MM-DD" (json_map_date_valid()). */
int jm_get_date(json_object *o, const char *path, const char *key,
                const char **out, char *err, size_t errlen);
/* An optional string or date: sets *field only if the key is there, so
 * that absent keys keep protobuf's empty default. */
int jm_take_str(json_object *o, const char *path, const char *key, size_t max,
                char **field, char *err, size_t errlen);
int jm_take_date(json_object *o, const char *path, const char *key,
                 char **field, char *err, size_t errlen);

/*
 * Numbers
 */

/* 'n' decimal digits at s into *out; 0 if any is not a digit. */
int jm_digits(const char *s, int n, int *out);

#endif
