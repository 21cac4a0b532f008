/*
 * admin.c - krctl's requests on the admin socket: the directory and the
 * queues. Each change commits in its own transaction, with its event,
 * before the answer goes out.
 */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "admin.pb-c.h"
#include "admin_referral.h"
#include "broker.h"
#include "bstore.h"
#include "crypto.h"
#include "latency.h"
#include "log.h"
#include "backup.h"
#include "report.h"
#include "metrics.h"
#include "names.h"

static int
s_fail(Kr__V1__AdminResponse *resp, int err, const char *detail)
{
    resp->error = err;
    resp->detail = (char *)detail;
    return err;
}

static int
s_commit(struct broker *b, Kr__V1__AdminResponse *resp)
{
    int rc = bstore_commit(b->txn);

    b->txn = NULL;
    if (rc != 0) {
        bstore_reload_after_abort(b->store);
        return s_fail(resp, rc, "store: commit failed");
    }
    return KR_OK;
}

static int
s_org_add(struct broker *b, const Kr__V1__OrgAdd *req,
          Kr__V1__AdminResponse *resp)
{
    Kr__V1__OrgEntry *e = req->entry;

    if (e == NULL || !util_org_id_valid(e->org_id))
        return s_fail(resp, KR_EINVAL,
                      "org id must be ura:, agb:, kvk: (8 digits at most) "
                      "or oin: (20 digits at most)");
    if (util_category_name(e->category)[0] == 'u')
        return s_fail(resp, KR_EINVAL, "unknown category");
    if (e->name == NULL || e->name[0] == '\0' || strlen(e->name) > 200)
        return s_fail(resp, KR_EINVAL, "name must be 1 to 200 characters");
    if (e->curve_public.len != 32 || e->box_public.len != 32 ||
        e->sign_public.len != 32)
        return s_fail(resp, KR_EINVAL, "each public key must be 32 bytes");
    struct org *had = orgs_find(b, e->org_id);
    if (had != NULL)
        return s_fail(resp, KR_EEXIST,
                      had->removed ? "organisation id was removed from the "
                                     "directory and is not given out again"
                                   : "organisation already in directory");
    if (orgs_find_curve(b, e->curve_public.data) != NULL)
        return s_fail(resp, KR_EEXIST,
                      "transport key already belongs to another organisation");

    Kr__V1__OrgEntry copy = *e;
    copy.suspended = false;
    copy.added_at_ms = copy.changed_at_ms = b->now_ms;
    MDB_txn *txn = broker_txn(b);
    int rc;
    if (txn == NULL)
        return s_fail(resp, KR_ESTORE, "store unavailable");
    if ((rc = bstore_org_put(b->store, txn, &copy)) != 0 ||
        (rc = audit_write(
             b, &(struct audit_ev){.event = "org.added",
                                   .action = 'C',
                                   .object = e->org_id,
                                   .detail = util_category_name(e->category),
                                   .check = "admin socket"})) != 0) {
        bstore_abort(b->txn);
        b->txn = NULL;
        bstore_reload_after_abort(b->store);
        return s_fail(resp, rc, "store: write failed");
    }
    if ((rc = s_commit(b, resp)) != 0)
        return rc;
    orgs_upsert(b, &copy);
    char kid[KR_KEY_ID_LEN];
    kcrypto_key_id(e->sign_public.data, kid);
    log_info("admin: org added org=%s category=%s sign_key=%s", e->org_id,
             util_category_name(e->category), kid);
    return KR_OK;
}

static int
s_org_status(struct broker *b, const char *id, bool suspend,
             Kr__V1__AdminResponse *resp)
{
    Kr__V1__OrgEntry *e = NULL;
    MDB_txn *txn = broker_txn(b);
    int rc;

    if (txn == NULL)
        return s_fail(resp, KR_ESTORE, "store unavailable");
    if ((rc = bstore_org_get(b->store, txn, id, &e)) != 0) {
        bstore_abort(b->txn);
        b->txn = NULL;
        return s_fail(resp, rc,
                      rc == KR_ENOTFOUND ? "no such organisation"
                                         : "store: read failed");
    }
    if (e->removed) {
        bstore_abort(b->txn);
        b->txn = NULL;
        kr__v1__org_entry__free_unpacked(e, NULL);
        return s_fail(resp, KR_EINVAL, "organisation was removed");
    }
    e->suspended = suspend;
    e->changed_at_ms = b->now_ms;
    if ((rc = bstore_org_put(b->store, txn, e)) != 0 ||
        (rc = audit_write(b,
                          &(struct audit_ev){.event = suspend ? "org.suspended"
                                                              : "org.resumed",
                                             .action = 'U',
                                             .object = id,
                                             .check = "admin socket"})) != 0) {
        bstore_abort(b->txn);
        b->txn = NULL;
        bstore_reload_after_abort(b->store);
        kr__v1__org_entry__free_unpacked(e, NULL);
        return s_fail(resp, rc, "store: write failed");
    }
    if ((rc = s_commit(b, resp)) != 0) {
        kr__v1__org_entry__free_unpacked(e, NULL);
        return rc;
    }
    struct org *o = orgs_upsert(b, e);
    kr__v1__org_entry__free_unpacked(e, NULL);
    if (suspend && o->connected) {
        /* libzmq cannot drop one ROUTER peer: tell the node to go, and
         * serve nothing more on that link (loop.c refuses its frames). */
        broker_send_error(b, o->rid, o->rid_len,
                          KR__V1__REASON__SENDER_SUSPENDED,
                          "organisation suspended by the administrator", true);
        o->connected = false;
    }
    log_info("admin: org %s org=%s", suspend ? "suspended" : "resumed", id);
    return KR_OK;
}

struct s_list_arg {
    Kr__V1__AdminResponse *resp;
    size_t cap;
};

static void
s_list_one(const Kr__V1__OrgEntry *e, void *arg)
{
    struct s_list_arg *a = arg;
    Kr__V1__AdminResponse *r = a->resp;

    if (r->n_orgs == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 32;
        r->orgs = xrealloc(r->orgs, a->cap * sizeof(*r->orgs));
    }
    size_t len = protobuf_c_message_get_packed_size(&e->base);
    uint8_t *tmp = xmalloc(len);
    protobuf_c_message_pack(&e->base, tmp);
    r->orgs[r->n_orgs++] = kr__v1__org_entry__unpack(NULL, len, tmp);
    free(tmp);
}

static void
s_queues(struct broker *b, Kr__V1__AdminResponse *resp)
{
    MDB_txn *txn;

    if (bstore_begin(b->store, true, &txn) != 0) {
        s_fail(resp, KR_ESTORE, "store unavailable");
        return;
    }
    resp->queues = xcalloc(b->norgs ? b->norgs : 1, sizeof(*resp->queues));
    ORGS_FOREACH(b, o)
    {
        Kr__V1__QueueStat *q = xmalloc(sizeof(*q));
        kr__v1__queue_stat__init(q);
        uint64_t first = 0;
        q->org_id = o->id;
        bstore_queue_stat(b->store, txn, o->id, &q->depth, &first);
        if (q->depth > 0) {
            const uint8_t *data;
            size_t len;
            if (bstore_queue_get(b->store, txn, o->id, first, &data, &len) ==
                0) {
                Kr__V1__QueueItem *it =
                    kr__v1__queue_item__unpack(NULL, len, data);
                if (it != NULL && it->enqueued_at_ms <= b->now_ms)
                    q->oldest_age_ms = b->now_ms - it->enqueued_at_ms;
                if (it != NULL)
                    kr__v1__queue_item__free_unpacked(it, NULL);
            }
        }
        q->connected = o->connected;
        q->inflight = o->inflight;
        q->early_delivery = o->connected && o->early_ok;
        resp->queues[resp->n_queues++] = q;
    }
    bstore_abort(txn);
}

static void
s_consents(struct broker *b, const Kr__V1__AdminRequest *req,
           Kr__V1__AdminResponse *resp)
{
    MDB_txn *txn;

    if (bstore_begin(b->store, true, &txn) != 0) {
        s_fail(resp, KR_ESTORE, "store unavailable");
        return;
    }
    if (req->op_case == KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW) {
        Kr__V1__ConsentRecord *r;
        if (req->consent_show.len != 16)
            s_fail(resp, KR_EINVAL, "consent id: 16 bytes");
        else if (bstore_consent_get(b->store, txn, req->consent_show.data, NULL,
                                    &r) != 0)
            s_fail(resp, KR_ENOTFOUND, "no such consent");
        else {
            resp->consents = xmalloc(sizeof(*resp->consents));
            resp->consents[0] = r;
            resp->n_consents = 1;
        }
    } else {
        const Kr__V1__ConsentQuery *q = req->consent_list;
        if (q == NULL || q->subject_pseudonym.len != 32)
            s_fail(resp, KR_EINVAL, "subject pseudonym: 32 bytes");
        else if (bstore_consent_by_subject(
                     b->store, txn, q->subject_pseudonym.data, NULL,
                     &resp->consents, &resp->n_consents) != 0)
            s_fail(resp, KR_ESTORE, "consent ledger unreadable");
    }
    bstore_abort(txn);
}

#define S_AUDIT_PAGE 1000

static void
s_audit(struct broker *b, const Kr__V1__AdminRequest *req,
        Kr__V1__AdminResponse *resp)
{
    MDB_txn *txn;
    uint64_t after = 0;
    size_t max = S_AUDIT_PAGE;

    if (bstore_begin(b->store, true, &txn) != 0) {
        s_fail(resp, KR_ESTORE, "store unavailable");
        return;
    }
    switch (req->op_case) {
    case KR__V1__ADMIN_REQUEST__OP_AUDIT_VERIFY: {
        static char why[160];
        Kr__V1__AuditVerifyResult *v = xmalloc(sizeof(*v));
        kr__v1__audit_verify_result__init(v);
        why[0] = '\0';
        int rc = bstore_audit_verify(b->store, txn, &v->checked,
                                     &v->first_bad_seq, why, sizeof(why));
        v->ok = rc == KR_OK;
        v->detail = why;
        resp->verify = v;
        if (rc != KR_OK && rc != KR_ECRYPTO)
            s_fail(resp, rc, "audit trail unreadable");
        log_info("admin: audit verify: %s checked=%llu%s%s",
                 v->ok ? "intact" : "BROKEN", (unsigned long long)v->checked,
                 why[0] ? " " : "", why);
        break;
    }
    case KR__V1__ADMIN_REQUEST__OP_AUDIT_TAIL: {
        uint64_t last = bstore_audit_last(b->store);
        size_t n = req->audit_tail ? req->audit_tail : 20;
        if (n > S_AUDIT_PAGE)
            n = S_AUDIT_PAGE;
        after = last > n ? last - n : 0;
        max = n;
        goto range;
    }
    case KR__V1__ADMIN_REQUEST__OP_AUDIT_EXPORT:
        after = req->audit_export ? req->audit_export->after_seq : 0;
        if (req->audit_export && req->audit_export->limit > 0 &&
            req->audit_export->limit < S_AUDIT_PAGE)
            max = req->audit_export->limit;
    range:
        resp->audit = xcalloc(max, sizeof(*resp->audit));
        if (bstore_audit_range(b->store, txn, after, max, resp->audit,
                               &resp->n_audit) != 0)
            s_fail(resp, KR_ESTORE, "audit trail unreadable");
        break;
    default:
        break;
    }
    bstore_abort(txn);
}

static void
s_stats(struct broker *b, Kr__V1__BrokerStats *st)
{
    struct latency_summary c;

    bstore_commit_latency(b->store, &c);
    st->uptime_ms = util_mono_ms() - b->started_mono_ms;
    st->commits = c.count;
    st->commits_failed = b->commits_failed;
    st->commit_p50_us = c.p50_us;
    st->commit_p99_us = c.p99_us;
    st->commit_max_us = c.max_us;
    st->commit_window = c.window;
    st->commit_total_us = c.total_us;
    st->early_deliveries = b->early_deliveries;
    st->early_passes_failed = b->early_passes_failed;
    st->disk_full = full_disk_now(b);
    st->disk_free_bytes = b->disk_free;
    st->store_file_bytes = b->store_file_bytes;
    st->store_room_bytes = b->store_free_est > b->store_reserve
                               ? b->store_free_est - b->store_reserve
                               : 0;
    st->refused_full = b->refused_full;
}

/* krctl report: computed here, on the loop, from one read transaction
 * (broker/report_page.c); its cost is in docs/OPERATIONS.md. */
static void
s_report(struct broker *b, const Kr__V1__ReportQuery *q,
         Kr__V1__AdminResponse *resp, struct kr_buf *text)
{
    struct report r;
    int month = 0;

    if (q == NULL || q->month == NULL)
        ;
    else if (q->month[0] != '\0' && report_month_parse(q->month, &month) != 0) {
        s_fail(resp, KR_EINVAL, "report: month: not YYYY-MM");
        return;
    }
    if (report_compute(b, month, &r) != 0) {
        report_free(&r);
        s_fail(resp, KR_ESTORE, "report: referrals unreadable");
        return;
    }
    switch (q != NULL ? q->format : KR__V1__REPORT_FORMAT__REPORT_TEXT) {
    case KR__V1__REPORT_FORMAT__REPORT_JSON:
        report_json(&r, text);
        break;
    case KR__V1__REPORT_FORMAT__REPORT_CSV:
        report_csv(&r, text);
        break;
    default:
        report_text(&r, text);
        break;
    }
    report_free(&r);
    buf_reserve(text, text->len + 1);
    text->data[text->len] = '\0';
    resp->report = (char *)text->data;
}

void
admin_handle_request(struct broker *b, const uint8_t *bytes, size_t len,
                     const uint8_t *rid, size_t rid_len, struct kr_buf *out,
                     bool *deferred)
{
    Kr__V1__AdminResponse resp = KR__V1__ADMIN_RESPONSE__INIT;
    char berr[512] = ""; /* lives until the answer is packed */
    Kr__V1__BrokerStats stats = KR__V1__BROKER_STATS__INIT;
    struct s_list_arg la = {&resp, 0};
    struct kr_buf report = {NULL, 0, 0};
    Kr__V1__AdminRequest *req = kr__v1__admin_request__unpack(NULL, len, bytes);

    b->now_ms = util_now_ms();
    if (req == NULL) {
        s_fail(&resp, KR_EPROTO, "request does not parse");
    } else {
        switch (req->op_case) {
        case KR__V1__ADMIN_REQUEST__OP_ORG_ADD:
            s_org_add(b, req->org_add, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_ORG_LIST: {
            MDB_txn *txn;
            if (bstore_begin(b->store, true, &txn) == 0) {
                bstore_org_foreach(b->store, txn, s_list_one, &la);
                bstore_abort(txn);
            }
            break;
        }
        case KR__V1__ADMIN_REQUEST__OP_ORG_SUSPEND:
            s_org_status(b, req->org_suspend, true, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_ORG_RESUME:
            s_org_status(b, req->org_resume, false, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_QUEUES:
            s_queues(b, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_ORG_REMOVE:
            admin_org_remove(b, req->org_remove, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_ORG_REKEY:
            admin_org_rekey(b, req->org_rekey, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_REFERRAL_SHOW:
        case KR__V1__ADMIN_REQUEST__OP_REFERRAL_LIST:
            admin_referrals(b, req, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_ROUTES:
            admin_routes(b, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_STATS:
            s_stats(b, &stats);
            admin_referral_stats(b, &stats);
            admin_signal_stats(b, &stats);
            resp.stats = &stats;
            break;
        case KR__V1__ADMIN_REQUEST__OP_BACKUP: {
            /* Only through the admin socket: the answer goes to its
             * requester when the copy is done (backup_cron). */
            int rc = rid == NULL ? KR_EINVAL
                                 : backup_start(b, req->backup, rid, rid_len,
                                                berr, sizeof(berr));
            if (rc == KR_OK)
                *deferred = true;
            else
                s_fail(&resp, rc, rid == NULL ? "backup: no requester" : berr);
            break;
        }
        case KR__V1__ADMIN_REQUEST__OP_REPORT:
            s_report(b, req->report, &resp, &report);
            break;
        case KR__V1__ADMIN_REQUEST__OP_SET_LOG_LEVEL:
            if (broker_set_log_level(b, req->set_log_level) != 0)
                s_fail(&resp, KR_EINVAL,
                       "log level: not debug, info, warn or error");
            break;
        case KR__V1__ADMIN_REQUEST__OP_CONSENT_LIST:
        case KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW:
            s_consents(b, req, &resp);
            break;
        case KR__V1__ADMIN_REQUEST__OP_AUDIT_TAIL:
        case KR__V1__ADMIN_REQUEST__OP_AUDIT_VERIFY:
        case KR__V1__ADMIN_REQUEST__OP_AUDIT_EXPORT:
            s_audit(b, req, &resp);
            break;
        default:
            s_fail(&resp, KR_EINVAL, "unknown admin operation");
            break;
        }
    }
    buf_pack(out, &resp.base);
    for (size_t i = 0; i < resp.n_orgs; i++)
        kr__v1__org_entry__free_unpacked(resp.orgs[i], NULL);
    free(resp.orgs);
    for (size_t i = 0; i < resp.n_queues; i++)
        free(resp.queues[i]);
    free(resp.queues);
    for (size_t i = 0; i < resp.n_consents; i++)
        kr__v1__consent_record__free_unpacked(resp.consents[i], NULL);
    free(resp.consents);
    for (size_t i = 0; i < resp.n_audit; i++)
        kr__v1__audit_record__free_unpacked(resp.audit[i], NULL);
    free(resp.audit);
    free(resp.verify);
    admin_referral_free(&resp);
    buf_free(&report);
    if (req != NULL)
        kr__v1__admin_request__free_unpacked(req, NULL);
}

void
admin_handle(struct broker *b)
{
    struct kr_buf out = {NULL, 0, 0};

    for (int budget = 0; budget < 16; budget++) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&rid, b->admin, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
            break;
        }
        if (!zmq_msg_more(&rid) ||
            zmq_msg_recv(&body, b->admin, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
            continue;
        }
        bool deferred = false;
        admin_handle_request(b, zmq_msg_data(&body), zmq_msg_size(&body),
                             zmq_msg_data(&rid), zmq_msg_size(&rid), &out,
                             &deferred);
        if (!deferred) { /* else backup_cron answers */
            zmq_send(b->admin, zmq_msg_data(&rid), zmq_msg_size(&rid),
                     ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send(b->admin, out.data, out.len, ZMQ_DONTWAIT);
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
    }
    buf_free(&out);
}
