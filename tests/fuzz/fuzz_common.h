/*
 * fuzz_common.h - what the libFuzzer targets (tests/fuzz/fuzz_*.c) share:
 * reading an input as a sequence of steps, a temporary directory, the
 * fixed key sets of the organisations they play, and the broker and node
 * they drive through the entries their loops use (broker_handle_frame,
 * node_handle_broker_frame, ...), on real stores.
 *
 * The same fixed keys are used by gen_seeds.c, so that the seed corpora
 * hold frames that are signed and sealed as a real node's would be, and
 * the fuzzer starts past the signature checks.
 */
#ifndef KR_FUZZ_COMMON_H
#define KR_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "envelope.pb-c.h"
#include "wire.pb-c.h"

/* The organisations the targets play: a midwife practice, a JGZ
 * organisation, Veilig Thuis, and one that is suspended. FZ_NODE_ORG is
 * the one the node target runs as. */
#define FZ_NORGS 4
#define FZ_NODE_ORG 1
extern const char *const fz_org_ids[FZ_NORGS];
extern const int fz_org_categories[FZ_NORGS];
/* A fixed "now" for inputs that need one to be the same on every run. */
#define FZ_NOW_MS 1800000000000ull

/* An input read front to back; reads past its end give zeros. */
struct fz {
    const uint8_t *p;
    size_t n;
};
uint8_t fz_u8(struct fz *in);
uint16_t fz_u16(struct fz *in);
/* A length (u16, little-endian) and that many bytes (fewer at the end). */
const uint8_t *fz_bytes(struct fz *in, size_t *len);

/* Writers of the same format, for gen_seeds.c. */
struct fz_out {
    uint8_t *data;
    size_t len, cap;
};
void fz_put_u8(struct fz_out *o, uint8_t v);
void fz_put_bytes(struct fz_out *o, const void *p, size_t len);

/* Once per process: logging at error level only (FUZZ_LOG=debug for
 * all), libsodium started, and a temporary directory removed at exit. */
void fz_init(void);
const char *fz_dir(void);
/* rm -rf of a directory's contents (one level of subdirectories). */
void fz_clear_dir(const char *dir);
/* Write a file with a mode. 0 or -1. */
int fz_write_file(const char *path, const void *data, size_t len,
                  unsigned mode);

/* Organisation i's keys, the same in every run (sodium_malloc'd; free
 * with kcrypto_keys_destroy). The broker's keys are i = FZ_NORGS. */
kr_keys_t *fz_keys(int i);
/* Its directory entry; the strings and keys live in static storage, one
 * set per i. */
const Kr__V1__OrgEntry *fz_org_entry(int i);

#endif
