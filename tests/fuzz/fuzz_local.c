/*
 * fuzz_local.c - the node's handling of adapters' requests on its local
 * socket (send, inbox, outbox, processed, status, inbox_get), through
 * local_handle_request as local_drain calls it, on a real store, with
 * passes that commit and a clock the input moves on.
 *
 * Input: steps, each an opcode byte and its operands:
 *   op % 4 == 0 or 1  a request: a byte choosing the adapter (bit 0) and
 *                     whether it came through REQ (bit 1), then the packed
 *                     kr.v1.LocalRequest (u16 length, bytes)
 *   op % 4 == 2       the pass ends: commit, replies, pump
 *   op % 4 == 3       a byte v: the clocks move v*v*100 ms on; timers run
 *                     (parked sends, inbox waits)
 * At most 64 steps; the pass in progress ends after the last.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "fuzz_node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const rids[2] = {"adapter-0", "adapter-1"};
    struct fz in = {data, size};
    struct node *n = fzn_get();

    for (int step = 0; step < 64 && in.n > 0; step++) {
        uint8_t op = fz_u8(&in);
        switch (op % 4) {
        case 0:
        case 1: {
            uint8_t who = fz_u8(&in);
            size_t len;
            const uint8_t *req = fz_bytes(&in, &len);
            local_handle_request(n, (const uint8_t *)rids[who & 1], 9,
                                 (who & 2) != 0, req, len);
            break;
        }
        case 2:
            fzn_next_pass();
            break;
        default:
            fzn_advance(fz_u8(&in));
            break;
        }
    }
    fzn_next_pass();
    return 0;
}
