/*
 * rpc.c - one request to a daemon and its answer, for every command: the
 * broker's admin socket (AdminRequest/AdminResponse) and the node's local
 * socket (LocalRequest/LocalResponse). The transport is libkr's
 * kr_call_raw(); this file turns its errors and the responses' error
 * fields into messages and exit codes, once for all commands.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kr.h"
#include "krctl.h"
#include "util.h"

/* Send 'req' (len bytes) to 'endpoint' and return the reply bytes. 'who'
 * names the daemon in messages ("broker", "krnode"). */
static int
s_roundtrip(struct krctl *k, const char *who, const char *endpoint,
            const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len)
{
    kr_client_t *c = NULL;
    int rc, ret;

    /* A socket file that is not there will not appear by waiting for it:
     * say so at once, not after --timeout. */
    if (strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6] != '@' &&
        access(endpoint + 6, F_OK) != 0) {
        krctl_err(k,
                  "cannot reach the %s at %s: %s: %s (is it running? is "
                  "the endpoint right?)",
                  who, endpoint, endpoint + 6, strerror(errno));
        return KRCTL_EXIT_UNREACHABLE;
    }
    if ((rc = kr_client_connect(endpoint, k->timeout_ms, &c)) != KR_OK) {
        if (rc == KR_EINVAL)
            return krctl_usage_err(k, "'%s' is not a ZeroMQ endpoint",
                                   endpoint);
        krctl_err(k, "%s at %s: %s", who, endpoint, kr_strerror(rc));
        return KRCTL_EXIT_FAIL;
    }
    rc = kr_call_raw(c, req, len, resp, resp_len);
    k->maybe_done = rc == KR_ETIMEDOUT;
    switch (rc) {
    case KR_OK:
        ret = KRCTL_EXIT_OK;
        break;
    case KR_EUNAVAIL:
        krctl_err(k, "cannot reach the %s at %s: no connection within %d ms",
                  who, endpoint, k->timeout_ms);
        ret = KRCTL_EXIT_UNREACHABLE;
        break;
    case KR_ETIMEDOUT:
        krctl_err(k, "no answer from the %s at %s within %d ms", who, endpoint,
                  k->timeout_ms);
        ret = KRCTL_EXIT_UNREACHABLE;
        break;
    default:
        krctl_err(k, "%s at %s: %s", who, endpoint, kr_strerror(rc));
        ret = KRCTL_EXIT_FAIL;
        break;
    }
    kr_client_destroy(&c);
    return ret;
}

static uint8_t *
s_pack(const ProtobufCMessage *m, size_t *len)
{
    uint8_t *buf;

    *len = protobuf_c_message_get_packed_size(m);
    buf = xmalloc(*len > 0 ? *len : 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/* Report a response's error: "<cmd>: <error>: <detail>". */
static int
s_refused(struct krctl *k, int err, const char *detail)
{
    const char *what =
        err < 0 && err > KR_EMAX_ ? kr_strerror(err) : "unknown error";

    if (detail != NULL && *detail != '\0')
        krctl_err(k, "%s: %s", what, detail);
    else
        krctl_err(k, "%s", what);
    return KRCTL_EXIT_FAIL;
}

int
krctl_admin(struct krctl *k, const Kr__V1__AdminRequest *req,
            Kr__V1__AdminResponse **out)
{
    Kr__V1__AdminResponse *r;
    uint8_t *buf = NULL, *rb = NULL;
    size_t len, rlen = 0;
    int rc;

    *out = NULL;
    if (k->admin == NULL)
        return krctl_usage_err(k, "no broker admin socket: use --admin "
                                  "ENDPOINT or set KR_ADMIN");
    buf = s_pack(&req->base, &len);
    rc = s_roundtrip(k, "broker", k->admin, buf, len, &rb, &rlen);
    free(buf);
    if (rc != KRCTL_EXIT_OK)
        return rc;
    r = kr__v1__admin_response__unpack(NULL, rlen, rb);
    kr_buf_free(rb);
    if (r == NULL) {
        krctl_err(k, "the broker at %s sent an answer that does not parse",
                  k->admin);
        return KRCTL_EXIT_FAIL;
    }
    if (r->error != 0) {
        rc = s_refused(k, r->error, r->detail);
        kr__v1__admin_response__free_unpacked(r, NULL);
        return rc;
    }
    *out = r;
    return KRCTL_EXIT_OK;
}

int
krctl_node_packed(struct krctl *k, const uint8_t *req, size_t len,
                  Kr__V1__LocalResponse **out)
{
    Kr__V1__LocalResponse *r;
    uint8_t *rb = NULL;
    size_t rlen = 0;
    int rc;

    *out = NULL;
    if (k->node == NULL)
        return krctl_usage_err(k, "no krnode socket: use --node ENDPOINT "
                                  "or set KR_NODE");
    if ((rc = s_roundtrip(k, "krnode", k->node, req, len, &rb, &rlen)) !=
        KRCTL_EXIT_OK)
        return rc;
    r = kr__v1__local_response__unpack(NULL, rlen, rb);
    /* An inbox listing holds opened content: wipe it before freeing. */
    explicit_bzero(rb, rlen);
    kr_buf_free(rb);
    if (r == NULL) {
        krctl_err(k, "krnode at %s sent an answer that does not parse",
                  k->node);
        return KRCTL_EXIT_FAIL;
    }
    if (r->error != 0) {
        rc = s_refused(k, r->error, r->detail);
        kr__v1__local_response__free_unpacked(r, NULL);
        return rc;
    }
    *out = r;
    return KRCTL_EXIT_OK;
}

int
krctl_node(struct krctl *k, const Kr__V1__LocalRequest *req,
           Kr__V1__LocalResponse **out)
{
    uint8_t *buf;
    size_t len;
    int rc;

    buf = s_pack(&req->base, &len);
    rc = krctl_node_packed(k, buf, len, out);
    free(buf);
    return rc;
}
