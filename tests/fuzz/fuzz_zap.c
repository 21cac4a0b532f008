/*
 * fuzz_zap.c - the broker's ZAP handler (broker/auth.c) on its real REP
 * socket, as libzmq reaches it during a CURVE handshake: the input is a
 * request of any number of parts. Every request must be answered with a
 * reply of six parts: a REP socket that leaves one unanswered refuses all
 * later ones, and with them every node's handshake. A request without its
 * answer aborts the target.
 *
 * Input: parts, each a length byte and that many bytes, at most 12 (at
 * least one, possibly empty). A part that the input's end cuts short is
 * sent as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fuzz_common.h"
#include "fuzz_broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct broker s_b;
static void *s_client;

static void
s_open(void)
{
    int zero = 0;

    fz_init();
    s_b.zctx = zmq_ctx_new();
    s_b.zap = zmq_socket(s_b.zctx, ZMQ_REP);
    zmq_setsockopt(s_b.zap, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_bind(s_b.zap, "inproc://zeromq.zap.01") != 0)
        abort();
    s_client = zmq_socket(s_b.zctx, ZMQ_DEALER);
    zmq_setsockopt(s_client, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_connect(s_client, "inproc://zeromq.zap.01") != 0)
        abort();
    /* The directory: transport keys of every organisation, one of them
     * suspended. */
    for (int i = 0; i < FZ_NORGS; i++)
        orgs_upsert(&s_b, fz_org_entry(i));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz in = {data, size};
    zmq_pollitem_t it;
    uint8_t part[256];
    int nparts = 0;

    if (s_b.zctx == NULL)
        s_open();
    /* As a REQ socket sends: an empty delimiter first. */
    zmq_send(s_client, "", 0, ZMQ_SNDMORE);
    do {
        size_t len = fz_u8(&in);
        if (len > in.n)
            len = in.n;
        if (len > 0)
            memcpy(part, in.p, len);
        in.p += len;
        in.n -= len;
        nparts++;
        bool last = in.n == 0 || nparts == 12;
        if (zmq_send(s_client, part, len, last ? 0 : ZMQ_SNDMORE) < 0)
            abort();
    } while (in.n > 0 && nparts < 12);

    it = (zmq_pollitem_t){s_b.zap, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 5000) != 1) {
        fprintf(stderr, "fuzz_zap: the request did not reach the handler\n");
        abort();
    }
    auth_handle(&s_b);
    /* The reply: delimiter, version, request id, status, text, user,
     * metadata. */
    it = (zmq_pollitem_t){s_client, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 5000) != 1) {
        fprintf(stderr, "fuzz_zap: a request of %d parts got no reply\n",
                nparts);
        abort();
    }
    int got = 0, more = 1;
    while (more) {
        size_t msz = sizeof(more);
        if (zmq_recv(s_client, part, sizeof(part), 0) < 0)
            abort();
        zmq_getsockopt(s_client, ZMQ_RCVMORE, &more, &msz);
        got++;
    }
    if (got != 7) {
        fprintf(stderr, "fuzz_zap: a reply of %d parts\n", got - 1);
        abort();
    }
    return 0;
}
