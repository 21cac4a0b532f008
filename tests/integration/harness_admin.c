/*
 * harness_admin.c - the broker as its administrator and its auditor see
 * it: requests on the admin socket (audit export and verify), and its
 * LMDB store opened read-only, to check what the broker keeps on disk
 * rather than what it says it keeps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_internal.h"

/* A page of the audit export: the broker's own maximum. */
#define S_AUDIT_PAGE 1000
/* A bound on pages in one walk: far beyond any test's trail. */
#define S_MAX_PAGES 100000

int
h_admin(struct h_cluster *c, const Kr__V1__AdminRequest *req,
        Kr__V1__AdminResponse **out)
{
    kr_client_t *kc = NULL;
    uint8_t *buf, *resp = NULL;
    size_t len = kr__v1__admin_request__get_packed_size(req), rlen = 0;
    int rc;

    *out = NULL;
    if ((buf = malloc(len > 0 ? len : 1)) == NULL)
        return KR_ENOMEM;
    kr__v1__admin_request__pack(req, buf);
    /* A client per call: the broker may have been restarted since. */
    rc = kr_client_connect(c->admin, h_scale(10000), &kc);
    if (rc == KR_OK)
        rc = kr_call_raw(kc, buf, len, &resp, &rlen);
    kr_client_destroy(&kc);
    free(buf);
    if (rc != KR_OK) {
        kr_buf_free(resp);
        return rc;
    }
    *out = kr__v1__admin_response__unpack(NULL, rlen, resp);
    kr_buf_free(resp);
    if (*out == NULL)
        return KR_EPROTO;
    return (*out)->error;
}

int
h_audit_foreach(struct h_cluster *c, uint64_t after, h_audit_fn *fn, void *arg)
{
    for (int page = 0; page < S_MAX_PAGES; page++) {
        Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
        Kr__V1__AuditRange range = KR__V1__AUDIT_RANGE__INIT;
        Kr__V1__AdminResponse *r = NULL;
        bool stop = false;
        int rc;

        range.after_seq = after;
        range.limit = S_AUDIT_PAGE;
        req.version = KR__V1__VERSION__VERSION_1;
        req.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_EXPORT;
        req.audit_export = &range;
        if ((rc = h_admin(c, &req, &r)) != KR_OK) {
            if (r != NULL)
                kr__v1__admin_response__free_unpacked(r, NULL);
            return rc;
        }
        size_t n = r->n_audit;
        for (size_t i = 0; i < n && !stop; i++) {
            if (r->audit[i]->seq <= after) {
                /* An export that does not advance would loop forever. */
                rc = KR_EPROTO;
                stop = true;
                break;
            }
            after = r->audit[i]->seq;
            if (fn(r->audit[i], arg))
                stop = true;
        }
        kr__v1__admin_response__free_unpacked(r, NULL);
        if (stop || n == 0)
            return rc;
    }
    return KR_ETIMEDOUT;
}

int
h_audit_verify(struct h_cluster *c, struct h_audit_verify *out)
{
    Kr__V1__AdminRequest req = KR__V1__ADMIN_REQUEST__INIT;
    Kr__V1__AdminResponse *r = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_VERIFY;
    req.audit_verify = true;
    rc = h_admin(c, &req, &r);
    if (rc == KR_OK && r->verify == NULL)
        rc = KR_EPROTO;
    if (rc == KR_OK) {
        out->ok = r->verify->ok;
        out->checked = r->verify->checked;
        out->first_bad_seq = r->verify->first_bad_seq;
        snprintf(out->detail, sizeof(out->detail), "%s",
                 r->verify->detail ? r->verify->detail : "");
    }
    if (r != NULL)
        kr__v1__admin_response__free_unpacked(r, NULL);
    return rc;
}

int
h_store_open(struct h_cluster *c, struct h_store *s)
{
    int rc;

    memset(s, 0, sizeof(*s));
    if ((rc = mdb_env_create(&s->env)) != 0)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(s->env, 16)) != 0)
        goto fail;
    if ((rc = mdb_env_open(s->env, c->broker_dir, MDB_RDONLY, 0600)) != 0)
        goto fail;
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->txn)) != 0)
        goto fail;
    return KR_OK;
fail:
    h_note("store: open %s read-only: %s", c->broker_dir, mdb_strerror(rc));
    h_store_close(s);
    return KR_ESTORE;
}

int
h_store_dbi(struct h_store *s, const char *name, MDB_dbi *dbi)
{
    int rc = mdb_dbi_open(s->txn, name, 0, dbi);

    if (rc != 0) {
        h_note("store: open database %s: %s", name, mdb_strerror(rc));
        return KR_ESTORE;
    }
    return KR_OK;
}

void
h_store_close(struct h_store *s)
{
    if (s->txn != NULL)
        mdb_txn_abort(s->txn);
    if (s->env != NULL)
        mdb_env_close(s->env);
    memset(s, 0, sizeof(*s));
}
