/*
 * fuzz_broker_frame.c - the broker's handling of frames from
 * authenticated nodes (hello, submit, ack, directory request), through
 * broker_handle_frame as the loop calls it, on a real store, with passes
 * that commit and pump and a clock that the input moves forward.
 *
 * Input: steps, each an opcode byte and its operands:
 *   op % 4 == 0 or 1  a frame: a byte choosing the sending organisation
 *                     (bits 0-1: fz_org_ids[], bit 2: none, as for a
 *                     connection without ZAP's User-Id) and the connection
 *                     (bit 3), then the frame's bytes (u16 length first)
 *   op % 4 == 2       the pass ends: commit, receipts, pump
 *   op % 4 == 3       a byte v: the clocks move v*v*100 ms on and the cron
 *                     runs (resends, expiry, withdrawals)
 * At most 64 steps; the pass in progress ends after the last.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_broker.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz in = {data, size};
    struct broker *b = fzb_get();

    fzb_reset();
    for (int step = 0; step < 64 && in.n > 0; step++) {
        uint8_t op = fz_u8(&in);
        switch (op % 4) {
        case 0:
        case 1: {
            uint8_t who = fz_u8(&in);
            const char *org = who & 4 ? NULL : fz_org_ids[who & 3];
            const char *rid = fzb_peer_ids[(who >> 3) & 1];
            size_t len;
            const uint8_t *frame = fz_bytes(&in, &len);
            broker_handle_frame(b, org, (const uint8_t *)rid, strlen(rid),
                                frame, len);
            break;
        }
        case 2:
            broker_end_pass(b);
            fzb_drain();
            fzb_begin_pass();
            break;
        default: {
            uint64_t v = fz_u8(&in);
            util_clock_advance(v * v * 100);
            fzb_begin_pass();
            deliver_cron(b);
            break;
        }
        }
    }
    broker_end_pass(b);
    fzb_drain();
    return 0;
}
