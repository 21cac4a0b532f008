/*
 * harness_box.c - what a node holds, as its adapter reads it through
 * libkr: its status, its whole inbox and outbox page by page, a sent
 * message's fate, and tallies of what a test sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_internal.h"

/* Pages of at most this many items (the node's maximum is 1000). */
#define S_PAGE 500
/* A bound on pages read in one walk: far beyond any test's volume. */
#define S_MAX_PAGES 100000

/* One LocalRequest, its LocalResponse unpacked. */
static int
s_call(kr_client_t *kc, const Kr__V1__LocalRequest *req,
       Kr__V1__LocalResponse **out)
{
    uint8_t *buf, *resp = NULL;
    size_t len = kr__v1__local_request__get_packed_size(req), rlen = 0;
    int rc;

    *out = NULL;
    if ((buf = malloc(len > 0 ? len : 1)) == NULL)
        return KR_ENOMEM;
    kr__v1__local_request__pack(req, buf);
    rc = kr_call(kc, buf, len, &resp, &rlen);
    free(buf);
    if (rc != KR_OK) {
        kr_buf_free(resp);
        return rc;
    }
    *out = kr__v1__local_response__unpack(NULL, rlen, resp);
    kr_buf_free(resp);
    return *out != NULL ? KR_OK : KR_EPROTO;
}

int
h_status(kr_client_t *kc, struct h_status *out)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__LocalResponse *r = NULL;
    int rc;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    req.status = true;
    if ((rc = s_call(kc, &req, &r)) != KR_OK)
        return rc;
    memset(out, 0, sizeof(*out));
    if (r->status == NULL) {
        rc = KR_EPROTO;
    } else {
        out->connected = r->status->connected;
        out->outbox_pending = r->status->outbox_pending;
        out->outbox_open = r->status->outbox_open;
        out->inbox_unprocessed = r->status->inbox_unprocessed;
        snprintf(out->org_id, sizeof(out->org_id), "%s",
                 r->status->org_id ? r->status->org_id : "");
    }
    kr__v1__local_response__free_unpacked(r, NULL);
    return rc;
}

/* Walk one listing; 'inbox' picks the op. Every page is freed before the
 * next is asked for. */
static int
s_walk(kr_client_t *kc, bool inbox, h_inbox_fn *ifn, h_outbox_fn *ofn,
       void *arg)
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    uint64_t after = 0;
    int rc = KR_OK;

    req.version = KR__V1__VERSION__VERSION_1;
    if (inbox) {
        req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
        req.inbox = &lr;
    } else {
        req.op_case = KR__V1__LOCAL_REQUEST__OP_OUTBOX;
        req.outbox = &lr;
    }
    lr.limit = S_PAGE;
    for (int page = 0; page < S_MAX_PAGES; page++) {
        Kr__V1__LocalResponse *r = NULL;
        size_t n;
        bool stop = false;

        lr.after_seq = after;
        if ((rc = s_call(kc, &req, &r)) != KR_OK)
            return rc;
        n = inbox ? r->n_inbox : r->n_outbox;
        for (size_t i = 0; i < n && !stop; i++) {
            uint64_t seq = inbox ? r->inbox[i]->seq : r->outbox[i]->seq;
            if (seq <= after) {
                /* A listing that does not advance would loop forever. */
                rc = KR_EPROTO;
                stop = true;
                break;
            }
            after = seq;
            if (inbox ? ifn(r->inbox[i], arg) : ofn(r->outbox[i], arg))
                stop = true;
        }
        kr__v1__local_response__free_unpacked(r, NULL);
        if (stop || n == 0)
            return rc;
    }
    return KR_ETIMEDOUT;
}

int
h_inbox_foreach_all(kr_client_t *kc, h_inbox_fn *fn, void *arg)
{
    return s_walk(kc, true, fn, NULL, arg);
}

int
h_outbox_foreach_all(kr_client_t *kc, h_outbox_fn *fn, void *arg)
{
    return s_walk(kc, false, NULL, fn, arg);
}

/* Consent messages and the broker's notices are the ledger's traffic, not
 * the referrals a test counts: the plain walkers leave them out. */
static bool
s_is_ledger(int type)
{
    return type == KR__V1__MESSAGE_TYPE__CONSENT_GRANT ||
           type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE;
}

struct s_filter {
    h_inbox_fn *in;
    h_outbox_fn *out;
    void *arg;
};

static int
s_filter_in(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_filter *f = arg;

    if (s_is_ledger(it->type) || it->notice != NULL)
        return 0;
    return f->in(it, f->arg);
}

static int
s_filter_out(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_filter *f = arg;

    if (s_is_ledger(it->type))
        return 0;
    return f->out(it, f->arg);
}

int
h_inbox_foreach(kr_client_t *kc, h_inbox_fn *fn, void *arg)
{
    struct s_filter f = {fn, NULL, arg};

    return s_walk(kc, true, s_filter_in, NULL, &f);
}

int
h_outbox_foreach(kr_client_t *kc, h_outbox_fn *fn, void *arg)
{
    struct s_filter f = {NULL, fn, arg};

    return s_walk(kc, false, NULL, s_filter_out, &f);
}

static int
s_stat_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct h_outbox_stats *s = arg;

    s->total++;
    if (it->outcome >= 0 && (size_t)it->outcome < 8)
        s->by_outcome[it->outcome]++;
    if (it->reason >= 0 && (size_t)it->reason < 32)
        s->by_reason[it->reason]++;
    return 0;
}

int
h_outbox_stats(kr_client_t *kc, struct h_outbox_stats *out)
{
    memset(out, 0, sizeof(*out));
    return h_outbox_foreach(kc, s_stat_one, out);
}

static int
s_count_one(const Kr__V1__InboxItem *it, void *arg)
{
    (void)it;
    (*(size_t *)arg)++;
    return 0;
}

int
h_inbox_count(kr_client_t *kc, size_t *n)
{
    *n = 0;
    return h_inbox_foreach(kc, s_count_one, n);
}

static int
s_fate_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct h_fate *f = arg;

    if (it->msg_id.len != 16 || memcmp(it->msg_id.data, f->id, 16) != 0)
        return 0;
    f->outcome = (int)it->outcome;
    f->reason = (int)it->reason;
    snprintf(f->detail, sizeof(f->detail), "%s", it->detail ? it->detail : "");
    if (it->referral_id.len == 16)
        memcpy(f->referral_id, it->referral_id.data, 16);
    return 1;
}

/* The fate of f->id, read from the outbox: false if the outbox cannot be
 * read (f->outcome stays -1 while the message is not in it). */
static bool
s_fate_read(kr_client_t *kc, struct h_fate *f)
{
    f->outcome = -1;
    f->reason = 0;
    f->detail[0] = '\0';
    return h_outbox_foreach_all(kc, s_fate_one, f) == KR_OK;
}

int
h_outcome(kr_client_t *kc, const uint8_t msg_id[16])
{
    struct h_fate f = {.id = msg_id};

    return s_fate_read(kc, &f) ? f.outcome : -1;
}

bool
h_fate_final(kr_client_t *kc, struct h_fate *f)
{
    return s_fate_read(kc, f) && (f->outcome == KR__V1__OUTCOME__DELIVERED ||
                                  f->outcome == KR__V1__OUTCOME__REFUSED);
}

struct h_fate
h_fate_wait(kr_client_t *kc, const uint8_t msg_id[16])
{
    struct h_fate f = {.id = msg_id, .outcome = -1};
    bool ok;

    H_POLL(ok, 20000, h_fate_final(kc, &f));
    H_REQUIRE(ok, "the message ends delivered or refused (outcome %d)",
              f.outcome);
    return f;
}

void
h_expect_refused(struct h_fate f, int reason, const char *what)
{
    H_CHECK(f.outcome == KR__V1__OUTCOME__REFUSED && f.reason == reason,
            "%s: refused, reason %d (outcome %d, reason %d: %s)", what, reason,
            f.outcome, f.reason, f.detail);
}

struct s_tally {
    const struct h_idset *sent;
    struct h_idset seen;
    struct h_tally *t;
};

static int
s_tally_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_tally *a = arg;

    a->t->n++;
    if (it->msg_id.len != 16 || h_idset_count(a->sent, it->msg_id.data) == 0) {
        a->t->foreign++;
        return 0;
    }
    if (h_idset_add(&a->seen, it->msg_id.data) == 1)
        a->t->distinct++;
    if (it->outcome == KR__V1__OUTCOME__DELIVERED)
        a->t->delivered++;
    return 0;
}

int
h_outbox_tally(kr_client_t *kc, const struct h_idset *sent, struct h_tally *out)
{
    struct s_tally a = {sent, {0}, out};
    int rc;

    memset(out, 0, sizeof(*out));
    h_idset_init(&a.seen);
    rc = h_outbox_foreach(kc, s_tally_one, &a);
    h_idset_free(&a.seen);
    return rc;
}
