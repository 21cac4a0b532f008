/*
 * sc_fhir_setup.c - the FHIR scenario's setting (sc_fhir.h): the rest-hook's
 * socket, the two krfhir gateways, the consent, and the messages made
 * before the clock.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fhir_in.h"
#include "sc_fhir.h"
#include "util.h"

/* The rest-hook's socket: krbench listens where B's krfhir notifies. */
int
fhir_hook_listen(struct s_run *r, char *url, size_t urllen, char *why,
                 size_t len)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        snprintf(why, len, "the rest-hook's socket: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return KR_ESYS;
    }
    r->hook_fd = fd;
    snprintf(url, urllen, "http://127.0.0.1:%d/notify", ntohs(a.sin_port));
    return KR_OK;
}

/* krfhir of one organisation, on a free port it writes to a file. */
int
fhir_gw_start(struct cluster *c, int i, const char *bin, const char *hook,
              struct s_gw *g, char *why, size_t len)
{
    char name[64], *text = NULL;
    size_t tl;

    snprintf(g->dir, sizeof(g->dir), "%s/fhir-%s", c->tmp, c->orgs[i].label);
    snprintf(g->port_file, sizeof(g->port_file), "%s/port", g->dir);
    snprintf(g->log, sizeof(g->log), "%s/krfhir-%s.log", c->tmp,
             c->orgs[i].label);
    char *argv[] = {(char *)bin,
                    "--node",
                    c->orgs[i].local,
                    "--listen",
                    "127.0.0.1:0",
                    "--port_file",
                    g->port_file,
                    "--state_dir",
                    g->dir,
                    "--log_level",
                    (char *)c->opts->log_level,
                    hook != NULL ? "--subscription_endpoint" : NULL,
                    (char *)hook,
                    NULL};
    snprintf(name, sizeof(name), "krfhir %s", c->orgs[i].label);
    if (bproc_spawn(&g->proc, name, g->log, argv) != KR_OK) {
        snprintf(why, len, "cannot start %s (%s)", name, bin);
        return KR_ESYS;
    }
    uint64_t deadline = bench_now_ns() + 15000000000ull;
    while (bench_now_ns() < deadline) {
        if (util_read_file(g->port_file, 64, &text, &tl) == KR_OK) {
            long v = strtol(text, NULL, 10);
            free(text);
            if (v > 0 && v <= 65535) { /* else not yet written whole */
                g->port = (int)v;
                return KR_OK;
            }
        }
        if (!bproc_alive(&g->proc))
            break;
        bench_sleep_ns(10000000);
    }
    snprintf(why, len, "%s did not start (see %s)", name, g->log);
    return KR_ETIMEDOUT;
}

/* The consent (examples/consent-grant.json) through A, accepted by the
 * broker; to 'to_org' under 'consent_id' when they are not NULL. */
int
fhir_consent(const char *node_a, const char *to_org, const char *consent_id,
             char *why, size_t len)
{
    kr_client_t *kc = NULL;
    char *text = NULL, err[256], mid[KR_MSG_ID_HEX_LEN];
    size_t tl = 0;
    json_object *g = NULL, *scope;
    int rc;

    if ((rc = util_read_file(S_CONSENT, 1 << 20, &text, &tl)) != KR_OK ||
        (g = json_tokener_parse(text)) == NULL ||
        !json_object_object_get_ex(g, "consent_scope", &scope)) {
        snprintf(why, len, "consent: cannot read %s", S_CONSENT);
        rc = KR_EIO;
        goto done;
    }
    if (to_org != NULL) {
        json_object_object_add(g, "recipient", json_object_new_string(to_org));
        json_object_object_add(scope, "to_org", json_object_new_string(to_org));
    }
    if (consent_id != NULL)
        json_object_object_add(scope, "consent_id",
                               json_object_new_string(consent_id));
    free(text);
    text = xstrdup(json_object_to_json_string(g));
    tl = strlen(text);
    if ((rc = kr_client_connect(node_a, S_CLIENT_MS, &kc)) != KR_OK ||
        (rc = kr_send_json(kc, text, tl, mid, err, sizeof(err))) != KR_OK) {
        snprintf(why, len, "consent: %s", kr_strerror(rc));
        goto done;
    }
    rc = KR_ETIMEDOUT;
    uint64_t deadline = bench_now_ns() + 30000000000ull;
    while (bench_now_ns() < deadline) {
        char *json = NULL;
        size_t jl = 0;
        if (kr_receipts_json(kc, 0, 0, &json, &jl, err, sizeof(err)) == KR_OK &&
            strstr(json, mid) != NULL) {
            json_object *arr = json_tokener_parse(json), *v;
            for (size_t k = 0; arr != NULL && k < json_object_array_length(arr);
                 k++) {
                json_object *it = json_object_array_get_idx(arr, k);
                if (json_object_object_get_ex(it, "msg_id", &v) &&
                    strcmp(json_object_get_string(v), mid) == 0 &&
                    json_object_object_get_ex(it, "outcome", &v) &&
                    strcmp(json_object_get_string(v), "pending") != 0)
                    rc = strcmp(json_object_get_string(v), "refused") == 0
                             ? KR_EREFUSED
                             : KR_OK;
            }
            json_object_put(arr);
        }
        kr_json_free(json);
        if (rc != KR_ETIMEDOUT)
            break;
        bench_sleep_ns(10000000);
    }
    if (rc != KR_OK)
        snprintf(why, len, "consent not accepted: %s", kr_strerror(rc));
done:
    json_object_put(g);
    free(text);
    kr_client_destroy(&kc);
    return rc;
}

/* The Bundles (each its own Bundle.id and referral_id) and the
 * descriptions the mapper makes of them. */
int
fhir_messages(struct s_run *r, const char *org_a, char *why, size_t len)
{
    char *text = NULL;
    size_t tl = 0;
    json_object *ex;
    uint8_t run[16];

    if (util_read_file(S_EXAMPLE, 1 << 20, &text, &tl) != KR_OK ||
        (ex = json_tokener_parse(text)) == NULL) {
        free(text);
        snprintf(why, len, "cannot read %s", S_EXAMPLE);
        return KR_EIO;
    }
    free(text);
    util_random_id(run);
    for (int p = 0; p < S_PATHS; p++) {
        uint8_t pfx[16];
        util_random_id(pfx);
        memcpy(r->prefix[p], pfx, sizeof(r->prefix[p]));
    }
    for (uint64_t i = 0; i < r->n; i++) {
        json_object *b = json_tokener_parse(json_object_to_json_string(ex));
        json_object *entries, *task = NULL, *kr = NULL, *v;
        struct fhir_ctx ctx = {org_a, "http://127.0.0.1", util_now_ms()};
        struct fhir_error e;
        uint8_t rid[16];
        char bid[64];

        json_object_object_get_ex(b, "entry", &entries);
        for (size_t k = 0; k < json_object_array_length(entries); k++) {
            json_object *res;
            if (json_object_object_get_ex(json_object_array_get_idx(entries, k),
                                          "resource", &res) &&
                json_object_object_get_ex(res, "resourceType", &v) &&
                strcmp(json_object_get_string(v), "Task") == 0)
                task = res;
        }
        /* The gateway's paths: the same Bundle under their own Bundle.id
         * and referral_id each (the last, [1], stays in b for the
         * mapper). */
        for (int p = S_PATHS - 1; p >= 1; p--) {
            snprintf(bid, sizeof(bid), "bench-%02x%02x%02x%02x-%d-%llu", run[0],
                     run[1], run[2], run[3], p, (unsigned long long)i);
            json_object_object_add(b, "id", json_object_new_string(bid));
            bench_msg_id(r->prefix[p], i, rid);
            util_hex(rid, 16, r->rids[p][i]);
            if (task != NULL &&
                json_object_object_get_ex(task, "identifier", &v) &&
                json_object_array_length(v) > 0)
                json_object_object_add(json_object_array_get_idx(v, 0), "value",
                                       json_object_new_string(r->rids[p][i]));
            r->bundles[p][i] = xstrdup(json_object_to_json_string_ext(
                b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        }
        memset(&e, 0, sizeof(e));
        if (fhir_in_message(&ctx, b, &kr, NULL, &e) != KR_OK) {
            snprintf(why, len, "the mapper refuses the example: %s",
                     e.diagnostics);
            json_object_put(b);
            json_object_put(ex);
            return KR_EINVAL;
        }
        /* The libkr path sends the same message under another msg_id and
         * referral_id, to C under C's consent: it must not be taken for
         * the Bundle's. */
        bench_msg_id(r->prefix[0], i, rid);
        util_hex(rid, 16, r->rids[0][i]);
        json_object_object_del(kr, "msg_id");
        json_object_object_add(kr, "recipient",
                               json_object_new_string(S_ORG_C));
        json_object_object_add(kr, "consent_id",
                               json_object_new_string(S_CONSENT_C));
        json_object_object_add(kr, "referral_id",
                               json_object_new_string(r->rids[0][i]));
        r->descs[i] = xstrdup(json_object_to_json_string_ext(
            kr, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(kr);
        json_object_put(b);
    }
    json_object_put(ex);
    return KR_OK;
}
