/* gw_node.c - the gateway's only way to the node: libkr.
 *
 * A libkr client is not thread-safe and a connection costs a ZeroMQ
 * handshake, so the requests share a pool of node_clients clients: a
 * request borrows one for its calls and gives it back; when all are out,
 * it waits. A client survives a timeout (libkr opens a fresh socket
 * itself), so none is ever thrown away.
 *
 * A send is answered by the node once it holds the message; whether the
 * broker takes it (consent, the referral's state table, the directory) is
 * known only when the broker answers. A FHIR client wants that answer
 * (an OperationOutcome for "no consent"), so gw_node_send waits for it,
 * up to accept_wait_ms, in the node's outbox_wait: the node answers the
 * moment the message has an outcome. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw.h"
#include "libkr_internal.h"
#include "local.pb-c.h"
#include "log.h"
#include "names.h"
#include "util.h"

/* The pause before asking again when the node answered an ask at once
 * without an outcome (its table of waiting asks was full). */
#define S_ASK_GAP_US 1000

int
gw_node_init(struct gw_node *n, const char *endpoint, int timeout_ms,
             size_t max_clients)
{
    memset(n, 0, sizeof(*n));
    n->endpoint = endpoint;
    n->timeout_ms = timeout_ms;
    n->max = max_clients;
    n->free = xcalloc(max_clients, sizeof(*n->free));
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    return KR_OK;
}

void
gw_node_fini(struct gw_node *n)
{
    for (size_t i = 0; i < n->nfree; i++)
        kr_client_destroy(&n->free[i]);
    free(n->free);
    n->free = NULL;
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
}

int
gw_node_take(struct gw_node *n, kr_client_t **out)
{
    int rc;

    pthread_mutex_lock(&n->mu);
    /* Bounded: every borrower gives its client back after its calls,
     * each bounded by the client's timeout. */
    while (n->nfree == 0 && n->nopen >= n->max)
        pthread_cond_wait(&n->cv, &n->mu);
    if (n->nfree > 0) {
        *out = n->free[--n->nfree];
        pthread_mutex_unlock(&n->mu);
        return KR_OK;
    }
    n->nopen++;
    pthread_mutex_unlock(&n->mu);
    rc = kr_client_connect(n->endpoint, n->timeout_ms, out);
    if (rc != KR_OK) {
        pthread_mutex_lock(&n->mu);
        n->nopen--;
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
    }
    return rc;
}

void
gw_node_give(struct gw_node *n, kr_client_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&n->mu);
    n->free[n->nfree++] = c;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

int
gw_node_org(struct gw_node *n, char out[GW_ORG_MAX])
{
    kr_client_t *c = NULL;
    char *json = NULL, err[256];
    size_t len = 0;
    json_object *o = NULL, *v;
    int rc;

    if (atomic_load(&n->have_org)) {
        memcpy(out, n->org_id, GW_ORG_MAX);
        return KR_OK;
    }
    if ((rc = gw_node_take(n, &c)) != KR_OK)
        return rc;
    rc = kr_status_json(c, &json, &len, err, sizeof(err));
    gw_node_give(n, c);
    if (rc != KR_OK)
        return rc;
    o = json_tokener_parse(json);
    kr_json_free(json);
    if (o == NULL || !json_object_object_get_ex(o, "org_id", &v) ||
        !json_object_is_type(v, json_type_string) ||
        strlen(json_object_get_string(v)) >= GW_ORG_MAX) {
        json_object_put(o);
        return KR_EPROTO;
    }
    pthread_mutex_lock(&n->mu);
    snprintf(n->org_id, sizeof(n->org_id), "%s", json_object_get_string(v));
    atomic_store(&n->have_org, 1);
    pthread_mutex_unlock(&n->mu);
    json_object_put(o);
    memcpy(out, n->org_id, GW_ORG_MAX);
    return KR_OK;
}

static void
s_sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};

    nanosleep(&ts, NULL);
}

/* The broker's answer about msg_id, as the node's outbox holds it, held
 * by the node up to wait_ms until there is one. */
static int
s_fate(kr_client_t *c, const uint8_t id[KR_ID_LEN], uint32_t wait_ms,
       struct gw_sent *out)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__OutboxWait ow = KR__V1__OUTBOX_WAIT__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    uint8_t buf[64], *rbuf = NULL;
    size_t len, rlen = 0;
    int rc;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_OUTBOX_WAIT;
    ow.msg_id.data = (uint8_t *)id;
    ow.msg_id.len = KR_ID_LEN;
    ow.wait_ms = wait_ms;
    req.outbox_wait = &ow;
    len = kr__v1__local_request__pack(&req, buf);
    rc = kr_call(c, buf, len, &rbuf, &rlen);
    if (rc != KR_OK) {
        kr_buf_free(rbuf);
        return rc;
    }
    resp = kr__v1__local_response__unpack(NULL, rlen, rbuf);
    kr_buf_free(rbuf);
    if (resp == NULL)
        return KR_EPROTO;
    const Kr__V1__OutboxItem *it = resp->n_outbox == 1 ? resp->outbox[0] : NULL;
    int oc = it != NULL ? (int)it->outcome : 0;
    if (it == NULL || oc == KR__V1__OUTCOME__OUTCOME_UNSPECIFIED) {
        out->fate = GW_FATE_PENDING;
    } else if (oc == KR__V1__OUTCOME__ACCEPTED ||
               oc == KR__V1__OUTCOME__DELIVERED) {
        out->fate = GW_FATE_OK;
    } else {
        out->fate = GW_FATE_REFUSED;
        snprintf(out->outcome, sizeof(out->outcome), "%s", outcome_name(oc));
        snprintf(out->reason, sizeof(out->reason), "%s",
                 reason_name((int)it->reason));
        snprintf(out->detail, sizeof(out->detail), "%s",
                 it->detail != NULL ? it->detail : "");
    }
    kr__v1__local_response__free_unpacked(resp, NULL);
    return KR_OK;
}

int
gw_node_send(struct gw_node *n, const char *json, size_t len, uint64_t wait_ms,
             struct gw_sent *out, char *err, size_t errlen)
{
    kr_client_t *c = NULL;
    uint8_t id[KR_ID_LEN];
    int rc;

    memset(out, 0, sizeof(*out));
    out->fate = GW_FATE_PENDING;
    if ((rc = gw_node_take(n, &c)) != KR_OK) {
        snprintf(err, errlen, "the node does not answer: %s", kr_strerror(rc));
        return rc;
    }
    rc = kr_send_json(c, json, len, out->msg_id, err, errlen);
    if (rc != KR_OK || util_unhex(out->msg_id, id, KR_ID_LEN) != 0)
        goto done;
    uint64_t deadline = util_mono_ms() + wait_ms;
    /* The node holds each ask until the message has an outcome or the
     * ask's wait is over (outbox_wait), each at most half the client's
     * timeout. Bounded by the deadline; a node whose wait table is full
     * answers at once, and then the next ask comes a millisecond later. */
    for (unsigned i = 0; i < 1000000; i++) {
        uint64_t t0 = util_mono_ms();
        uint64_t w = t0 < deadline ? deadline - t0 : 0;
        if (w > (uint64_t)n->timeout_ms / 2)
            w = (uint64_t)n->timeout_ms / 2;
        if ((rc = s_fate(c, id, (uint32_t)w, out)) != KR_OK) {
            snprintf(err, errlen, "asking the node about the message: %s",
                     kr_strerror(rc));
            goto done;
        }
        if (out->fate != GW_FATE_PENDING || util_mono_ms() >= deadline)
            break;
        if (util_mono_ms() - t0 < w / 2)
            s_sleep_us(S_ASK_GAP_US);
    }
done:
    gw_node_give(n, c);
    return rc;
}

/* A JSON text from the node as an object; KR_EPROTO if it does not
 * parse. */
static int
s_parse(char *json, json_object **out)
{
    *out = json != NULL ? json_tokener_parse(json) : NULL;
    kr_json_free(json);
    return *out != NULL ? KR_OK : KR_EPROTO;
}

int
gw_node_referral(struct gw_node *n, const char *referral_id, json_object **out,
                 char *err, size_t errlen)
{
    kr_client_t *c = NULL;
    char *json = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if ((rc = gw_node_take(n, &c)) != KR_OK)
        return rc;
    rc = kr_referral_json(c, referral_id, &json, &len, err, errlen);
    gw_node_give(n, c);
    return rc == KR_OK ? s_parse(json, out) : rc;
}

int
gw_node_referral_view(struct gw_node *n, const char *referral_id,
                      json_object **ref, json_object **item,
                      json_object **received, char *err, size_t errlen)
{
    kr_client_t *c = NULL;
    json_object *o = NULL, *r, *it;
    int rc;

    *ref = *item = NULL;
    if (received != NULL)
        *received = NULL;
    if ((rc = gw_node_take(n, &c)) != KR_OK)
        return rc;
    rc = libkr_referral_view_obj(c, referral_id, &o, err, errlen);
    gw_node_give(n, c);
    if (rc != KR_OK)
        return rc;
    if (!json_object_object_get_ex(o, "referral", &r) ||
        !json_object_is_type(r, json_type_object)) {
        json_object_put(o);
        return KR_EPROTO;
    }
    *ref = json_object_get(r);
    if (json_object_object_get_ex(o, "item", &it) &&
        json_object_is_type(it, json_type_object))
        *item = json_object_get(it);
    if (received != NULL && json_object_object_get_ex(o, "received", &it) &&
        json_object_is_type(it, json_type_array))
        *received = json_object_get(it);
    json_object_put(o);
    return KR_OK;
}

int
gw_node_referral_views(struct gw_node *n, const char *state, uint64_t since_ms,
                       const char *after, uint32_t limit, json_object **out,
                       char *err, size_t errlen)
{
    kr_client_t *c = NULL;
    int rc;

    *out = NULL;
    if ((rc = gw_node_take(n, &c)) != KR_OK)
        return rc;
    rc = libkr_referral_views_obj(c, state, since_ms, after, limit, out, err,
                                  errlen);
    gw_node_give(n, c);
    return rc;
}
