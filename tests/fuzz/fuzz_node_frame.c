/*
 * fuzz_node_frame.c - the node's handling of frames from the broker
 * (deliveries, receipts, notices, pass results, directory answers,
 * errors), through node_handle_broker_frame as link_drain calls it, on a
 * real store, with passes that commit and a clock the input moves on.
 *
 * Input: steps, each an opcode byte and its operands:
 *   op % 4 == 0 or 1  a frame from the broker (u16 length, bytes)
 *   op % 4 == 2       the pass ends: commit, acks, replies, pump
 *   op % 4 == 3       a byte v: the clocks move v*v*100 ms on; timers run
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
    struct fz in = {data, size};
    struct node *n = fzn_get();

    for (int step = 0; step < 64 && in.n > 0; step++) {
        uint8_t op = fz_u8(&in);
        switch (op % 4) {
        case 0:
        case 1: {
            size_t len;
            const uint8_t *frame = fz_bytes(&in, &len);
            node_handle_broker_frame(n, frame, len);
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
    /* A fatal FrameError disconnects: the next input finds it connected
     * again, as after a new handshake. */
    fzn_next_pass();
    n->link.connected = true;
    n->link.hello_due = false;
    return 0;
}
