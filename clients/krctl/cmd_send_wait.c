/*
 * cmd_send_wait.c - `krctl send --wait`: after the node has the message,
 * ask it for that one message until the broker has accepted or refused
 * it (LocalRequest.outbox_wait: the node answers right after the commit
 * that sets the outcome), so that a refusal is an exit status and not a
 * line to look for in `krctl receipts` later.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "krctl.h"
#include "names.h"
#include "util.h"

#define S_POLL_MS 100

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

int
krctl_send_wait(struct krctl *k, const uint8_t msg_id[16])
{
    uint64_t deadline = util_mono_ms() + (uint64_t)k->timeout_ms;
    char hex[KR_ID_HEX_LEN];
    int rc;

    util_hex(msg_id, KR_ID_LEN, hex);
    /* Bounded by the deadline: the node holds each ask until the outcome
     * or three quarters of the time left (the rest is this call's margin
     * within the client's own timeout); one that comes back early (the
     * node's wait table is full) is asked again S_POLL_MS later. */
    for (uint64_t i = 0; i <= (uint64_t)k->timeout_ms / S_POLL_MS + 1; i++) {
        Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
        Kr__V1__OutboxWait ow = KR__V1__OUTBOX_WAIT__INIT;
        Kr__V1__LocalResponse *resp = NULL;
        uint64_t t0 = util_mono_ms();

        req.version = KR__V1__VERSION__VERSION_1;
        req.op_case = KR__V1__LOCAL_REQUEST__OP_OUTBOX_WAIT;
        ow.msg_id.data = (uint8_t *)msg_id;
        ow.msg_id.len = KR_ID_LEN;
        ow.wait_ms = t0 < deadline ? (uint32_t)((deadline - t0) * 3 / 4) : 0;
        req.outbox_wait = &ow;
        if ((rc = krctl_node(k, &req, &resp)) != KRCTL_EXIT_OK)
            return rc;
        const Kr__V1__OutboxItem *it =
            resp->n_outbox == 1 ? resp->outbox[0] : NULL;
        int outcome = it != NULL ? (int)it->outcome : 0;
        if (it != NULL && outcome != KR__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
            bool ok = outcome == KR__V1__OUTCOME__ACCEPTED ||
                      outcome == KR__V1__OUTCOME__DELIVERED;
            if (ok) {
                fprintf(stderr, "krctl: send: msg_id %s: %s\n", hex,
                        outcome_name(outcome));
                rc = KRCTL_EXIT_OK;
            } else {
                krctl_err(k, "msg_id %s: %s by the broker: %s%s%s", hex,
                          outcome_name(outcome), reason_name((int)it->reason),
                          it->detail != NULL && it->detail[0] != '\0' ? ": "
                                                                      : "",
                          it->detail != NULL ? it->detail : "");
                rc = KRCTL_EXIT_FAIL;
            }
            kr__v1__local_response__free_unpacked(resp, NULL);
            return rc;
        }
        kr__v1__local_response__free_unpacked(resp, NULL);
        if (util_mono_ms() >= deadline)
            break;
        if (util_mono_ms() - t0 < ow.wait_ms / 2)
            s_sleep_ms(S_POLL_MS);
    }
    krctl_err(k,
              "msg_id %s: no answer from the broker within %d ms; the node "
              "keeps it and sends it when it can ('krctl receipts' shows "
              "its fate)",
              hex, k->timeout_ms);
    return KRCTL_EXIT_UNREACHABLE;
}
