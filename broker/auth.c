/*
 * auth.c - the ZAP handler: which CURVE keys may connect.
 *
 * libzmq asks, during each CURVE handshake, over inproc://zeromq.zap.01
 * (RFC 27). We admit a key only if it is the transport key of an
 * organisation in the directory that is not suspended, and we name that
 * organisation as the connection's User-Id, so that every frame the broker
 * reads carries the organisation that sent it.
 */
#include <string.h>
#include <zmq.h>

#include "broker.h"
#include "crypto.h"
#include "log.h"
#include "metrics.h"

#define S_ZAP_PARTS 7

void
auth_handle(struct broker *b)
{
    for (int budget = 0; budget < 64; budget++) {
        zmq_msg_t parts[S_ZAP_PARTS];
        int n = 0, more = 1;

        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, b->zap, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                if (n == 0)
                    return; /* nothing (more) to handle */
                break;
            }
            more = zmq_msg_more(&m);
            if (n < S_ZAP_PARTS)
                parts[n++] = m;
            else
                zmq_msg_close(&m);
        }
        /* Request: version, request id, domain, address, identity,
         * mechanism, credentials (the client's 32-byte CURVE key). */
        const char *status = "400", *text = "unknown key";
        const char *user = "";
        char kid[KR_KEY_ID_LEN] = "-";
        if (n == S_ZAP_PARTS && zmq_msg_size(&parts[5]) == 5 &&
            memcmp(zmq_msg_data(&parts[5]), "CURVE", 5) == 0 &&
            zmq_msg_size(&parts[6]) == 32) {
            const uint8_t *key = zmq_msg_data(&parts[6]);
            struct org *o = orgs_find_curve(b, key);
            kcrypto_key_id(key, kid);
            if (o != NULL && !o->suspended) {
                status = "200";
                text = "OK";
                user = o->id;
            } else if (o != NULL) {
                text = o->removed ? "organisation removed"
                                  : "organisation suspended";
            }
        } else {
            text = "CURVE required";
        }
        if (strcmp(status, "200") != 0) {
            log_warnx("auth: refused key=%s reason=\"%s\"", kid, text);
            metrics_auth_failed();
        } else {
            log_info("auth: admitted org=%s key=%s", user, kid);
        }

        /* Reply: version, request id, status code, text, user id, meta.
         * Every request gets one, even one too short to have a request
         * id (answered with an empty one): a REP socket that does not
         * reply refuses every later request, and with it every later
         * handshake. */
        zmq_send(b->zap, "1.0", 3, ZMQ_SNDMORE);
        if (n >= 2)
            zmq_send(b->zap, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]),
                     ZMQ_SNDMORE);
        else
            zmq_send(b->zap, "", 0, ZMQ_SNDMORE);
        zmq_send(b->zap, status, 3, ZMQ_SNDMORE);
        zmq_send(b->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(b->zap, user, strlen(user), ZMQ_SNDMORE);
        zmq_send(b->zap, "", 0, 0);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
}
