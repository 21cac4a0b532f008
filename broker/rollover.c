/*
 * rollover.c - a broker key rollover (docs/OPERATIONS.md "Broker key
 * rollover"): with next_keys and next_listen set, the one ROUTER socket
 * also listens on next_listen with the next CURVE key, so that nodes move
 * to the new broker_key one by one while the others stay on the old one.
 *
 * libzmq copies a socket's options into each listener when it binds: the
 * secret key set between the two binds is the second endpoint's only. One
 * socket, so the loop and its hot path are the same with or without it.
 */
#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "broker.h"
#include "crypto.h"
#include "log.h"

int
rollover_listen(struct broker *b, const kr_keys_t *current)
{
    kr_keys_t *next = NULL;
    char kid[KR_KEY_ID_LEN];
    int rc;

    if (b->cfg.next_keys == NULL || b->cfg.next_keys[0] == '\0')
        return KR_OK;
    if (b->cfg.next_listen == NULL || b->cfg.next_listen[0] == '\0') {
        log_errorx("main: next_keys is set but next_listen is not: the next "
                   "key needs an endpoint of its own");
        return KR_ECONFIG;
    }
    if (strcmp(b->cfg.next_listen, b->cfg.listen) == 0) {
        log_errorx("main: next_listen must differ from listen");
        return KR_ECONFIG;
    }
    if (daemon_keys_is_public(b->cfg.next_keys)) {
        log_errorx("main: next_keys %s is the PUBLIC key file: give the "
                   ".secret file",
                   b->cfg.next_keys);
        return KR_EINVAL;
    }
    if ((rc = kcrypto_keys_load(b->cfg.next_keys, &next)) != KR_OK) {
        log_errorx("main: next_keys %s: %s", b->cfg.next_keys, kr_strerror(rc));
        return rc;
    }
    rc = KR_OK;
    if (zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY, next->curve_secret,
                       32) != 0 ||
        zmq_bind(b->router, b->cfg.next_listen) != 0) {
        log_errorx("main: next_listen %s: %s", b->cfg.next_listen,
                   zmq_strerror(errno));
        rc = KR_ESYS;
    }
    /* Whatever binds later gets the current key again. */
    zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY, current->curve_secret, 32);
    if (rc == KR_OK) {
        kcrypto_key_id(next->pub.curve, kid);
        log_info("main: rollover: also listening on %s with the next key "
                 "curve_key=%s",
                 b->cfg.next_listen, kid);
    }
    kcrypto_keys_destroy(&next);
    return rc;
}
