/*
 * util.h - small helpers shared by the daemons and tools: clocks, hex,
 * checked number parsing, organisation ids, whole-file I/O, and the
 * out-of-memory policy of the daemons.
 */
#ifndef KR_UTIL_H
#define KR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kr.h"

#define KR_ID_LEN 16     /* msg_id, referral_id, case_id, trace_id */
#define KR_ID_HEX_LEN 33 /* 32 hex digits and a NUL */
#define KR_ORG_ID_MAX 64 /* longest "scheme:value" accepted */

/* Wall clock and monotonic clock in milliseconds. */
uint64_t util_now_ms(void);
uint64_t util_mono_ms(void);
/* Tests only (the fuzz targets): move both clocks forward by 'ms', so that
 * resend, expiry and timer paths run without waiting. The daemons never
 * call it; the clocks then cost one addition of zero. */
void util_clock_advance(uint64_t ms);

/* Lower-case hex of len bytes into out (2*len+1 bytes). Returns out. */
char *util_hex(const uint8_t *in, size_t len, char *out);
/* Parse exactly 2*len hex digits. KR_EINVAL on anything else. */
int util_unhex(const char *hex, uint8_t *out, size_t len);
/* A fresh random 16-byte id. */
void util_random_id(uint8_t id[KR_ID_LEN]);
/* A fresh 16-byte id that sorts by creation time: the Unix time in ms
 * (48 bits, big-endian), then 80 random bits. Stores keyed by id then
 * take new ids at the right edge of their B-trees instead of scattering
 * copy-on-write over the whole tree (the idea of UUIDv7). */
void util_time_ordered_id(uint8_t id[KR_ID_LEN]);

/* Checked parsing: the whole string must be a number within [min, max]. */
int util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int util_parse_bool(const char *s, bool *out);

/* "scheme:value" with scheme ura, agb, oin or kvk and a value of digits
 * (and, for oin, at most 20 of them). Returns true if valid. */
bool util_org_id_valid(const char *org_id);

/* Category names as used in config, JSON and krctl ("verloskunde", "jgz",
 * "veilig-thuis" ...). 'cat' is a kr.v1.OrgCategory value. */
const char *util_category_name(int cat);
int util_category_parse(const char *name); /* -1 if unknown */

/* Read a whole file (at most max bytes) into a malloc'd, NUL-terminated
 * buffer. */
int util_read_file(const char *path, size_t max, char **out, size_t *len);
/* Write a file atomically: a temporary file in the same directory, fsync,
 * rename, fsync of the directory. 'mode' as for open(2). */
int util_write_file_atomic(const char *path, const void *data, size_t len,
                           unsigned mode);

/* The daemons' memory policy, called once at the start of main: freed
 * memory stays with the process (up to 64 MiB above what is in use) and
 * blocks up to 8 MiB come from the heap, not from mmap. glibc otherwise
 * hands a thread arena's top back with madvise(MADV_DONTNEED) whenever a
 * large block at its end is freed: a ZeroMQ I/O thread allocates every
 * received frame, the loop thread frees it, and each such free cost a
 * TLB shootdown on every CPU plus page faults to take the memory again
 * (perf: ~9% of the broker's samples at window 256). Never called by
 * libkr, which lives in other people's processes. */
void util_malloc_keep(void);

/* The daemons' out-of-memory policy: abort with a log line. libkr never
 * uses these; it returns KR_ENOMEM instead. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
