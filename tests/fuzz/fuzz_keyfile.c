/*
 * fuzz_keyfile.c - the key-file parsers (common/crypto.c): a secret key
 * file (mode 0600, every public key checked against its secret), a public
 * one, and a coalition key, read from a file as the daemons read them.
 *
 * Input: a selector byte (0 secret, 1 public, 2 coalition), then the
 * file's bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "crypto.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz in = {data, size};
    uint8_t sel = fz_u8(&in);
    char path[512];

    fz_init();
    snprintf(path, sizeof(path), "%s/fuzz.key", fz_dir());
    if (fz_write_file(path, in.p, in.n, 0600) != 0)
        abort();
    switch (sel % 3) {
    case 0: {
        kr_keys_t *k = NULL;
        kcrypto_keys_load(path, &k);
        kcrypto_keys_destroy(&k);
        break;
    }
    case 1: {
        kr_pubkeys_t pub;
        kcrypto_pubkeys_load(path, &pub);
        break;
    }
    default: {
        kr_coalition_key_t *ck = NULL;
        kcrypto_coalition_key_load(path, &ck);
        kcrypto_coalition_key_destroy(&ck);
        break;
    }
    }
    return 0;
}
