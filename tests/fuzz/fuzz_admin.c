/*
 * fuzz_admin.c - the broker's admin requests (broker/admin.c: directory,
 * queues, stats, consents, audit), through admin_handle_request as the
 * admin socket's handler calls it, on a fresh real store per input.
 * The admin socket is the operator's (file permissions guard it), but its
 * requests are still bytes that must not crash the broker.
 *
 * Input: requests, each a packed kr.v1.AdminRequest (u16 length, bytes),
 * at most 16; each answer must parse as a kr.v1.AdminResponse.
 */
#include <stdio.h>
#include <stdlib.h>

#include "admin.pb-c.h"
#include "fuzz_broker.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kr_buf out;
    struct fz in = {data, size};
    struct broker *b = fzb_get();

    fzb_reset();
    for (int i = 0; i < 16 && in.n > 0; i++) {
        size_t len;
        const uint8_t *req = fz_bytes(&in, &len);
        bool deferred = false;
        admin_handle_request(b, req, len, NULL, 0, &out, &deferred);
        Kr__V1__AdminResponse *r =
            kr__v1__admin_response__unpack(NULL, out.len, out.data);
        if (r == NULL) {
            fprintf(stderr, "fuzz_admin: an answer that does not parse\n");
            abort();
        }
        kr__v1__admin_response__free_unpacked(r, NULL);
    }
    return 0;
}
