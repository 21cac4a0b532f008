/*
 * gen_seeds.c - writes the seed corpora of the fuzz targets into DIR/<target>/
 * (tests/fuzz/corpus/ in the repository, where its output is committed):
 *   fuzz_gen_seeds DIR [EXAMPLES_DIR]
 *
 * The frames are built as a node and the broker build them, with the fixed
 * keys of fuzz_common.c: envelopes signed by their sender and sealed to
 * their recipient, so that the targets start past the signature checks and
 * the opening of payloads. Each seed is a sequence of steps in the format
 * its target reads (see the comment at the top of each fuzz_*.c). The
 * frames' seeds are in gen_seeds_frames.c, those of the adapters' and
 * operators' inputs in gen_seeds_local.c; here the writing they share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen_seeds.h"
#include "util.h"

const char *gs_out;
kr_keys_t *gs_keys[FZ_NORGS + 1];

void
gs_write(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/%s", gs_out, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", gs_out, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

void
gs_write_steps(const char *target, const char *name, struct fz_out *o)
{
    gs_write(target, name, o->data, o->len);
    free(o->data);
    memset(o, 0, sizeof(*o));
}

/* Pack a message into a malloc'd buffer. */
uint8_t *
gs_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(m, p);
    return p;
}

void
gs_put_msg(struct fz_out *o, const ProtobufCMessage *m)
{
    size_t len;
    uint8_t *p = gs_pack(m, &len);

    fz_put_bytes(o, p, len);
    free(p);
}

const uint8_t gs_subject[32] = {0x5a, 0x5a, 1, 2, 3};
const uint8_t gs_consent_id[16] = {0xc0, 0x11, 0x5e, 0x47, 1};

void
gs_step(struct fz_out *o, uint8_t op, int arg)
{
    fz_put_u8(o, op);
    if (arg >= 0)
        fz_put_u8(o, (uint8_t)arg);
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_gen_seeds DIR [EXAMPLES_DIR]\n");
        return 2;
    }
    gs_out = argv[1];
    fz_init();
    for (int i = 0; i <= FZ_NORGS; i++)
        gs_keys[i] = fz_keys(i);
    gs_broker_seeds();
    gs_node_seeds();
    gs_local_seeds(argc > 2 ? argv[2] : "examples");
    gs_admin_seeds();
    gs_zap_seeds();
    gs_file_seeds();
    gs_json_records();
    for (int i = 0; i <= FZ_NORGS; i++)
        kcrypto_keys_destroy(&gs_keys[i]);
    return 0;
}
