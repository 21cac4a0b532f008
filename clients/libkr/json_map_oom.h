/*
 * json_map_oom.h - json-c's two adders, made safe where memory runs out.
 * libkr runs in other people's processes: out of memory is KR_ENOMEM
 * there, never a crash, a leak or a record with a value silently missing.
 *
 * Included after json-c by the files that build JSON for libkr's callers
 * (json_map_out.c, kr_json.c), it turns json_object_object_add and
 * json_object_array_add into jm_object_add and jm_array_add. These take
 * the value in every case (put if it could not be added), accept a NULL
 * container (whose creation failed) and leave errno at ENOMEM when
 * anything failed. A value that json-c could not create is a NULL, added
 * as JSON null, and its malloc left errno at ENOMEM too. So the one check
 * that a built record is whole: errno cleared before building it, and not
 * ENOMEM after serialising it (json-c's printbuf sets it as well).
 */
#ifndef KRCTL_JSON_MAP_OOM_H
#define KRCTL_JSON_MAP_OOM_H

#include <json-c/json.h>

/* 0, or -1 with errno ENOMEM (v put). */
int jm_object_add(json_object *o, const char *key, json_object *v);
int jm_array_add(json_object *a, json_object *v);

#define json_object_object_add(o, k, v) jm_object_add((o), (k), (v))
#define json_object_array_add(a, v) jm_array_add((a), (v))

#endif
