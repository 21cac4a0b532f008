/* erasure.c - erasure requests and the erasure register; see erasure.h. */
#include "erasure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bstore.h"
#include "bstore_erasure.h"
#include "bstore_retention.h"
#include "bstore_signal.h"
#include "crypto.h"
#include "erasure_records.h"
#include "log.h"

#define S_SCAN_MAX 256
#define S_REGISTER_MAX                                                         \
    100000 /* lines read at start: a bound, not a limit                        \
              a coalition reaches */

static bool s_reapplied;

static void
s_register_path(const struct broker *b, char *out, size_t len)
{
    if (b->cfg.erasure_register != NULL && b->cfg.erasure_register[0] != '\0')
        snprintf(out, len, "%s", b->cfg.erasure_register);
    else
        snprintf(out, len, "%s/erasure-register", b->cfg.data_dir);
}

/* What the broker holds about a subject, to decide and to tell. */
struct s_held {
    Kr__V1__SignalRecord *sig[S_SCAN_MAX];
    size_t nsig;
    Kr__V1__ConsentRecord **cons;
    size_t ncons;
    uint8_t links[16][32];
    size_t nlinks;
};

static int
s_sig_cb(Kr__V1__SignalRecord *r, void *arg)
{
    struct s_held *h = arg;

    if (h->nsig == S_SCAN_MAX)
        return 1;
    h->sig[h->nsig++] = r;
    return 0;
}

static int
s_held(struct broker *b, const uint8_t subject[32], struct s_held *h)
{
    MDB_txn *txn = broker_txn(b);
    int rc;

    memset(h, 0, sizeof(*h));
    if (txn == NULL)
        return KR_ESTORE;
    if ((rc = bstore_signal_scan(b->store, txn, subject, S_SCAN_MAX,
                                 arena_allocator(&b->pb), s_sig_cb, h)) != 0 ||
        (rc = bstore_consent_by_subject(b->store, txn, subject,
                                        arena_allocator(&b->pb), &h->cons,
                                        &h->ncons)) != 0 ||
        (rc = bstore_link_list(b->store, txn, subject, 16, h->links,
                               &h->nlinks)) != 0)
        return rc;
    return KR_OK;
}

int
erasure_check(struct broker *b, struct org *o, struct org *to,
              const Kr__V1__Envelope *env, const char **why)
{
    struct s_held *h = arena_alloc(&b->pb, sizeof(*h));

    if (to != o) {
        *why = "an erasure request is addressed to its own sender (the "
               "broker acts on it; nothing is delivered)";
        return KR__V1__REASON__BAD_SIGNAL;
    }
    if (env->subject_pseudonym.len != 32) {
        *why = "an erasure request names its subject (subject_pseudonym, "
               "32 bytes)";
        return KR__V1__REASON__MISSING_FIELD;
    }
    if (s_held(b, env->subject_pseudonym.data, h) != KR_OK) {
        *why = "store unavailable; retry later";
        return KR__V1__REASON__INTERNAL;
    }
    uint8_t rid[1][16];
    size_t nref = 0;
    if (h->nsig == 0 && h->ncons == 0 && h->nlinks == 0 &&
        bstore_referrals_about(b->store, broker_txn(b),
                               env->subject_pseudonym.data, 1, rid,
                               &nref) != KR_OK) {
        *why = "store unavailable; retry later";
        return KR__V1__REASON__INTERNAL;
    }
    if (h->nsig == 0 && h->ncons == 0 && h->nlinks == 0 && nref == 0) {
        *why = "the broker holds nothing about this subject (no signal, "
               "consent, link or referral): nothing to erase";
        return KR__V1__REASON__UNKNOWN_SUBJECT;
    }
    *why = "erasure request (AVG art. 17)";
    return 0;
}

/* Remove what is held about subject and made at or before 'upto'. The
 * counts of what went and what stayed go to *gone / *kept. */
static int
s_erase(struct broker *b, const uint8_t subject[32], uint64_t upto,
        struct s_held *h, unsigned *gone_sig, unsigned *gone_cons,
        unsigned *kept_cons, size_t *gone_links)
{
    MDB_txn *txn = broker_txn(b);
    int rc;

    *gone_sig = *gone_cons = *kept_cons = 0;
    *gone_links = 0;
    for (size_t i = 0; i < h->nsig; i++) {
        if (h->sig[i]->made_at_ms > upto)
            continue; /* made after the erasure: a new involvement */
        if ((rc = bstore_signal_del(b->store, txn, h->sig[i])) != 0)
            return rc;
        (*gone_sig)++;
    }
    for (size_t i = 0; i < h->ncons; i++) {
        Kr__V1__ConsentRecord *c = h->cons[i];
        bool ended = c->status != KR__V1__CONSENT_STATUS__CONSENT_ACTIVE ||
                     (c->scope != NULL && c->scope->valid_until_ms < b->now_ms);
        if (c->scope == NULL || c->scope->consent_id.len != 16 ||
            c->recorded_at_ms > upto)
            continue;
        if (!ended) {
            (*kept_cons)++;
            continue;
        }
        if ((rc = bstore_consent_del(b->store, txn, c->scope->consent_id.data,
                                     subject)) != 0)
            return rc;
        (*gone_cons)++;
    }
    return bstore_link_del_all(b->store, txn, subject, gone_links);
}

static int
s_notice(struct broker *b, const char *to_id, const uint8_t subject[32],
         const char *by)
{
    struct org *to = orgs_find(b, to_id);
    Kr__V1__Notice n = KR__V1__NOTICE__INIT;
    Kr__V1__QueueItem item = KR__V1__QUEUE_ITEM__INIT;
    uint8_t id[16];

    if (to == NULL)
        return KR_OK;
    util_time_ordered_id(id);
    n.notice_id = (ProtobufCBinaryData){16, id};
    n.kind = KR__V1__NOTICE_KIND__NOTICE_ERASURE;
    n.at_ms = b->now_ms;
    n.erased_subject = (ProtobufCBinaryData){32, (uint8_t *)subject};
    n.erased_by = (char *)by;
    item.msg_id = n.notice_id;
    item.notice = &n;
    return deliver_enqueue(b, to, &item, NULL);
}

/* Append the erasure to the register and fsync it, before the commit: an
 * erasure whose commit then fails is applied at the next start anyway
 * (and the request, resent, again): erasing twice is harmless, never
 * erasing is not. */
static int
s_register(struct broker *b, const uint8_t subject[32], const char *by)
{
    char path[1024], line[256], hex[65];
    int fd;

    s_register_path(b, path, sizeof(path));
    util_hex(subject, 32, hex);
    int n = snprintf(line, sizeof(line), "%s %llu %s\n", hex,
                     (unsigned long long)b->now_ms, by);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) <
        0) {
        log_errorx("erasure: register %s: %s", path, strerror(errno));
        return KR_EIO;
    }
    bool ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    if (!ok)
        log_errorx("erasure: register %s: write: %s", path, strerror(errno));
    close(fd);
    return ok ? KR_OK : KR_EIO;
}

int
erasure_accept(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
               const Kr__V1__Submit *s)
{
    MDB_txn *txn = broker_txn(b);
    struct s_held *h = arena_alloc(&b->pb, sizeof(*h));
    struct erasure_holders hs = {.n = 0};
    size_t gl;
    unsigned gs, gc, kc, gr, gq;
    char detail[640];
    uint8_t hash[32];
    int rc;

    if (txn == NULL)
        return KR_ESTORE;
    const uint8_t *subject = env->subject_pseudonym.data;
    if ((rc = s_held(b, subject, h)) != 0)
        return rc;
    /* The requester is told too: its own node holds the messages it sent
     * and received about the subject, and removes them like any other. */
    erasure_holder_add(b, &hs, o->id);
    for (size_t i = 0; i < h->nsig; i++)
        erasure_holder_add(b, &hs, h->sig[i]->org_id);
    for (size_t i = 0; i < h->ncons; i++) {
        erasure_holder_add(b, &hs, h->cons[i]->recorded_by);
        if (h->cons[i]->scope != NULL) {
            erasure_holder_add(b, &hs, h->cons[i]->scope->from_org);
            erasure_holder_add(b, &hs, h->cons[i]->scope->to_org);
        }
    }
    if ((rc = s_register(b, subject, o->id)) != 0)
        return rc;
    erasure_set_add(subject, b->now_ms);
    if ((rc = s_erase(b, subject, b->now_ms, h, &gs, &gc, &kc, &gl)) != 0 ||
        (rc = erasure_referrals(b, subject, b->now_ms, &hs, &gr)) != 0 ||
        (rc = erasure_queued(b, o->id, subject, b->now_ms, &hs, &gq)) != 0)
        return rc;
    for (size_t i = 0; i < hs.n; i++)
        if ((rc = s_notice(b, hs.v[i], subject, o->id)) != 0)
            return rc;
    /* The request's own record: final at once, no payload kept. */
    Kr__V1__StoredMessage m = KR__V1__STORED_MESSAGE__INIT;
    kcrypto_hash(s->envelope.data, s->envelope.len, hash);
    m.envelope_hash = (ProtobufCBinaryData){32, hash};
    m.signature = s->signature;
    m.sender = o->id;
    m.recipient = o->id;
    m.state = KR__V1__MESSAGE_STATE__STATE_DELIVERED;
    m.accepted_at_ms = m.final_at_ms = b->now_ms;
    m.type = env->type;
    if ((rc = bstore_msg_put(b->store, txn, env->msg_id.data, &m)) != 0 ||
        (rc = bstore_final_put(b->store, txn, b->now_ms, env->msg_id.data)) !=
            0 ||
        (rc = deliver_final_receipt(b, o->id, env->msg_id.data,
                                    KR__V1__OUTCOME__DELIVERED, 0,
                                    "erasure executed")) != 0)
        return rc;
    snprintf(detail, sizeof(detail),
             "removed: signals=%u links=%zu consents(ended)=%u "
             "referral_pseudonyms=%u withdrawn(not final)=%u; notified=%zu",
             gs, gl, gc, gr, gq, hs.n);
    log_info("erasure: by=%s %s", o->id, detail);
    if ((rc = audit_write(b, &(struct audit_ev){.event = "erasure.executed",
                                                .action = 'D',
                                                .org_id = o->id,
                                                .env = env,
                                                .check = "AVG art. 17",
                                                .detail = detail})) != 0)
        return rc;
    for (size_t i = 0; i < hs.n; i++)
        if ((rc = audit_write(b,
                              &(struct audit_ev){
                                  .event = "erasure.notified",
                                  .action = 'E',
                                  .org_id = o->id,
                                  .env = env,
                                  .object = hs.v[i],
                                  .check = "holds data on the subject"})) != 0)
            return rc;
    snprintf(detail, sizeof(detail),
             "kept: the audit trail (art. 17(3)(b), (e): NEN 7513 duty); "
             "active consents=%u (art. 17(3)(b): the basis of what was "
             "shared); referral records=%u without the pseudonym: state, "
             "parties, codes and times (art. 17(3)(b): the coalition's "
             "accountability for its referrals; they name no one); "
             "message records hold no subject and go by retention",
             kc, gr);
    return audit_write(b, &(struct audit_ev){.event = "erasure.kept",
                                             .action = 'R',
                                             .org_id = o->id,
                                             .env = env,
                                             .check = "AVG art. 17(3)",
                                             .detail = detail});
}

static bool
s_erased_since(ProtobufCBinaryData d, uint64_t made)
{
    uint64_t at = d.len == 32 ? erasure_set_find(d.data) : 0;
    return at != 0 && made <= at;
}

int
erasure_refusal(const Kr__V1__Envelope *env, const char **why)
{
    if (env->type == KR__V1__MESSAGE_TYPE__ERASURE_REQUEST ||
        env->type == KR__V1__MESSAGE_TYPE__CONSENT_REVOKE)
        return 0;
    if (s_erased_since(env->subject_pseudonym, env->created_at_ms) ||
        s_erased_since(env->previous_subject_pseudonym, env->created_at_ms)) {
        *why = "its subject was erased after it was made (AVG art. 17): "
               "a node held it until now";
        return KR__V1__REASON__ERASED;
    }
    return 0;
}

void
erasure_cron(struct broker *b)
{
    char path[1024], line[256];
    unsigned total = 0;
    FILE *f;

    if (s_reapplied)
        return;
    s_reapplied = true;
    s_register_path(b, path, sizeof(path));
    if ((f = fopen(path, "r")) == NULL) {
        if (errno != ENOENT)
            log_errorx("erasure: register %s: %s", path, strerror(errno));
        return;
    }
    struct arena_mark mark = arena_mark(&b->pb);
    for (unsigned n = 0; n < S_REGISTER_MAX && fgets(line, sizeof(line), f);
         n++) {
        char hex[65], by[KR_ORG_ID_MAX];
        unsigned long long at;
        uint8_t subject[32];
        if (sscanf(line, "%64s %llu %63s", hex, &at, by) != 3 ||
            util_unhex(hex, subject, 32) != KR_OK) {
            log_warnx("erasure: register %s: line %u unreadable: skipped", path,
                      n + 1);
            continue;
        }
        erasure_set_add(subject, at);
        struct s_held *h = arena_alloc(&b->pb, sizeof(*h));
        unsigned gs, gc, kc, gr, gq;
        size_t gl;
        struct erasure_holders hs = {.n = 0};
        if (s_held(b, subject, h) != 0 ||
            s_erase(b, subject, at, h, &gs, &gc, &kc, &gl) != 0 ||
            erasure_referrals(b, subject, at, &hs, &gr) != 0 ||
            erasure_queued(b, "", subject, at, &hs, &gq) != 0)
            break; /* the commit fails; the next start tries again */
        if (gs + gc + gl + gr + gq == 0)
            continue;
        total += gs + gc + (unsigned)gl + gr + gq;
        char detail[320];
        Kr__V1__Envelope e = KR__V1__ENVELOPE__INIT;
        e.subject_pseudonym = (ProtobufCBinaryData){32, subject};
        e.type = KR__V1__MESSAGE_TYPE__ERASURE_REQUEST;
        snprintf(detail, sizeof(detail),
                 "erasure of %llu by %s applied again: signals=%u links=%zu "
                 "consents(ended)=%u referral_pseudonyms=%u withdrawn=%u",
                 at, by, gs, gl, gc, gr, gq);
        audit_write(b, &(struct audit_ev){.event = "erasure.reapplied",
                                          .action = 'D',
                                          .org_id = "",
                                          .env = &e,
                                          .check = "erasure register",
                                          .detail = detail});
    }
    fclose(f);
    arena_release(&b->pb, mark);
    if (total > 0)
        log_warnx("erasure: the register removed %u records the store held "
                  "again (a restore from backup?)",
                  total);
}
