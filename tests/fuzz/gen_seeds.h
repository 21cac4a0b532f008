/*
 * gen_seeds.h - what the seed generator's files share (gen_seeds.c): where
 * the seeds go, the fixed keys, and the writing of a seed.
 */
#ifndef KR_GEN_SEEDS_H
#define KR_GEN_SEEDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "crypto.h"
#include "fuzz_common.h"

/* The steps every stepped target reads: the end of a seed, and a clock
 * step (see fuzz_broker.c and fuzz_node.c). */
#define GS_END 2
#define GS_CLOCK 3

extern const char *gs_out;
extern kr_keys_t *gs_keys[FZ_NORGS + 1];
/* The subject and the consent the envelopes and requests name. */
extern const uint8_t gs_subject[32];
extern const uint8_t gs_consent_id[16];

/* DIR/target/name holds data (the program ends on failure). */
void gs_write(const char *target, const char *name, const void *data,
              size_t len);
/* The steps in *o as DIR/target/name; *o emptied. */
void gs_write_steps(const char *target, const char *name, struct fz_out *o);
/* A message packed into a malloc'd buffer. */
uint8_t *gs_pack(const ProtobufCMessage *m, size_t *len);
/* A message as a bytes step. */
void gs_put_msg(struct fz_out *o, const ProtobufCMessage *m);
/* An op step, and its argument when arg >= 0. */
void gs_step(struct fz_out *o, uint8_t op, int arg);

/* gen_seeds_frames.c */
void gs_broker_seeds(void);
void gs_node_seeds(void);
/* gen_seeds_local.c */
void gs_local_seeds(const char *examples);
void gs_admin_seeds(void);
void gs_zap_seeds(void);
void gs_file_seeds(void);
void gs_json_records(void);

#endif
