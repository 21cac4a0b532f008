/*
 * gen_seeds_frames.c - the seeds of broker_frame and node_frame: frames
 * as a node and the broker build them, around envelopes signed by their
 * sender and sealed to their recipient with the fixed keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.pb-c.h"
#include "content.pb-c.h"
#include "crypto.h"
#include "fuzz_common.h"
#include "json_map.h"
#include "local.pb-c.h"
#include "util.h"
#include "wire.pb-c.h"
#include "gen_seeds.h"

/* What varies between the envelopes of the seeds. */
struct s_env {
    int from, to;
    int type;
    uint8_t msg_id[16];
    int legal_basis;
    bool with_consent; /* consent_id = gs_consent_id */
    bool grant;        /* consent_scope for gs_consent_id */
    const char *justification;
};

/* A signed, sealed envelope as a Submit or a Delivery carries it. */
static uint8_t *
s_envelope(const struct s_env *p, size_t *len, uint8_t sig[64])
{
    Kr__V1__Envelope e = KR__V1__ENVELOPE__INIT;
    Kr__V1__Sealed sealed = KR__V1__SEALED__INIT;
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    char sign_id[KR_KEY_ID_LEN], box_from[KR_KEY_ID_LEN], box_to[KR_KEY_ID_LEN];
    uint8_t nonce[KR_NONCE_LEN], shared[KR_KEY_LEN], digest[32];
    static const uint8_t referral_id[16] = {0x7e, 1};
    const char *opaque = "fuzz seed: no person in it";

    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
    c.opaque.data = (uint8_t *)opaque;
    c.opaque.len = strlen(opaque);
    if (p->justification != NULL)
        c.justification = (char *)p->justification;
    size_t plain_len;
    uint8_t *plain = gs_pack(&c.base, &plain_len);
    uint8_t *cipher = xmalloc(plain_len + KR_MAC_LEN);
    memset(nonce, 0x4e, sizeof(nonce));
    nonce[0] = p->msg_id[0];
    kcrypto_shared_key(gs_keys[p->to]->pub.box, gs_keys[p->from]->box_secret,
                       shared);
    kcrypto_seal(shared, plain, plain_len, nonce, cipher);
    kcrypto_key_id(gs_keys[p->from]->pub.sign, sign_id);
    kcrypto_key_id(gs_keys[p->from]->pub.box, box_from);
    kcrypto_key_id(gs_keys[p->to]->pub.box, box_to);
    sealed.alg = KR__V1__SEAL_ALG__BOX_X25519_XSALSA20_POLY1305;
    sealed.sender_key_id = box_from;
    sealed.recipient_key_id = box_to;
    sealed.nonce = (ProtobufCBinaryData){sizeof(nonce), nonce};
    sealed.ciphertext = (ProtobufCBinaryData){plain_len + KR_MAC_LEN, cipher};

    e.version = KR__V1__VERSION__VERSION_1;
    e.msg_id = (ProtobufCBinaryData){16, (uint8_t *)p->msg_id};
    e.type = p->type;
    e.created_at_ms = FZ_NOW_MS - 60000;
    e.sender = (char *)fz_org_ids[p->from];
    e.sender_key_id = sign_id;
    e.recipient = (char *)fz_org_ids[p->to];
    e.referral_id = (ProtobufCBinaryData){16, (uint8_t *)referral_id};
    e.subject_pseudonym = (ProtobufCBinaryData){32, (uint8_t *)gs_subject};
    e.subject_key_version = 1;
    e.purpose = "prenataal-huisbezoek";
    e.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    e.legal_basis = p->legal_basis;
    e.priority = KR__V1__PRIORITY__ROUTINE;
    e.payload = &sealed;
    if (p->with_consent || p->grant)
        e.consent_id = (ProtobufCBinaryData){16, (uint8_t *)gs_consent_id};
    if (p->grant) {
        sc.consent_id = e.consent_id;
        sc.subject_pseudonym = e.subject_pseudonym;
        sc.subject_key_version = 1;
        sc.purpose = e.purpose;
        sc.data_category = e.data_category;
        sc.from_org = (char *)fz_org_ids[p->from];
        sc.to_category = KR__V1__ORG_CATEGORY__JGZ;
        sc.to_org = "";
        sc.from_category = 0;
        /* Valid from a day before the fixed "now" for a year: the
         * targets' clocks are the real ones, moved on. */
        sc.valid_from_ms = 1;
        sc.valid_until_ms = 4000000000000ull;
        sc.grantor = KR__V1__GRANTOR__SELF;
        e.consent_scope = &sc;
    }
    if (p->justification != NULL) {
        kcrypto_hash((const uint8_t *)p->justification,
                     strlen(p->justification), digest);
        e.justification_digest = (ProtobufCBinaryData){32, digest};
    }
    uint8_t *out = gs_pack(&e.base, len);
    kcrypto_sign(gs_keys[p->from], out, *len, sig);
    free(plain);
    free(cipher);
    return out;
}

static void
s_frame_init(Kr__V1__Frame *f)
{
    kr__v1__frame__init(f);
    f->version = KR__V1__VERSION__VERSION_1;
}

/* broker_frame: step "frame" from org 'who' on connection 'conn'. */
static void
s_b_frame(struct fz_out *o, int who, int conn, const Kr__V1__Frame *f)
{
    fz_put_u8(o, 0);
    fz_put_u8(o, (uint8_t)(who | conn << 3));
    gs_put_msg(o, &f->base);
}

static void
s_b_hello(struct fz_out *o, int who, int conn)
{
    Kr__V1__Frame f;
    Kr__V1__Hello h = KR__V1__HELLO__INIT;

    s_frame_init(&f);
    h.org_id = (char *)fz_org_ids[who & 3];
    h.window = 16;
    h.want_directory = 1;
    h.early_delivery = 1;
    f.hello = &h;
    s_b_frame(o, who, conn, &f);
}

static void
s_b_submit(struct fz_out *o, const struct s_env *p, int conn)
{
    Kr__V1__Frame f;
    Kr__V1__Submit s = KR__V1__SUBMIT__INIT, *sp = &s;
    uint8_t sig[64];
    size_t len;
    uint8_t *env = s_envelope(p, &len, sig);

    s_frame_init(&f);
    s.envelope = (ProtobufCBinaryData){len, env};
    s.signature = (ProtobufCBinaryData){64, sig};
    f.submit = &sp;
    f.n_submit = 1;
    s_b_frame(o, p->from, conn, &f);
    free(env);
}

static void
s_b_ack(struct fz_out *o, int who, int conn, uint64_t seq, bool refused)
{
    Kr__V1__Frame f;
    Kr__V1__Ack a = KR__V1__ACK__INIT, *ap = &a;

    s_frame_init(&f);
    a.seq = seq;
    a.refused = refused;
    a.reason = refused ? KR__V1__REASON__BAD_SIGNATURE : 0;
    f.ack = &ap;
    f.n_ack = 1;
    s_b_frame(o, who, conn, &f);
}

void
gs_broker_seeds(void)
{
    struct fz_out o = {0};
    struct s_env grant = {.from = 0,
                          .to = 1,
                          .type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT,
                          .msg_id = {0x01, 0x01},
                          .legal_basis = KR__V1__LEGAL_BASIS__CONSENT,
                          .grant = true};
    struct s_env referral = {.from = 0,
                             .to = 1,
                             .type = KR__V1__MESSAGE_TYPE__REFERRAL,
                             .msg_id = {0x02, 0x02},
                             .legal_basis = KR__V1__LEGAL_BASIS__CONSENT,
                             .with_consent = true};
    struct s_env revoke = {.from = 0,
                           .to = 1,
                           .type = KR__V1__MESSAGE_TYPE__CONSENT_REVOKE,
                           .msg_id = {0x03, 0x03},
                           .legal_basis = KR__V1__LEGAL_BASIS__CONSENT,
                           .with_consent = true};
    struct s_env signal = {.from = 0,
                           .to = 2,
                           .type = KR__V1__MESSAGE_TYPE__SIGNAL,
                           .msg_id = {0x04, 0x04},
                           .legal_basis = KR__V1__LEGAL_BASIS__MELDRECHT,
                           .justification = "fuzz: ernstig vermoeden"};
    Kr__V1__Frame f;
    Kr__V1__DirectoryRequest dr = KR__V1__DIRECTORY_REQUEST__INIT;
    char *ids[] = {(char *)fz_org_ids[2], "ura:99999999"};

    /* A node says Hello. */
    s_b_hello(&o, 0, 0);
    gs_step(&o, GS_END, -1);
    gs_write_steps("broker_frame", "hello", &o);

    /* A directory request. */
    s_b_hello(&o, 1, 1);
    s_frame_init(&f);
    dr.org_ids = ids;
    dr.n_org_ids = 2;
    f.dir_request = &dr;
    s_b_frame(&o, 1, 1, &f);
    gs_step(&o, GS_END, -1);
    gs_write_steps("broker_frame", "dir_request", &o);

    /* Consent, a referral under it, its delivery acknowledged. */
    s_b_hello(&o, 0, 0);
    s_b_hello(&o, 1, 1);
    gs_step(&o, GS_END, -1);
    s_b_submit(&o, &grant, 0);
    gs_step(&o, GS_END, -1);
    s_b_submit(&o, &referral, 0);
    gs_step(&o, GS_END, -1);
    s_b_ack(&o, 1, 1, 1, false);
    s_b_ack(&o, 1, 1, 2, false);
    gs_step(&o, GS_END, -1);
    s_b_ack(&o, 0, 0, 1, false);
    gs_step(&o, GS_END, -1);
    gs_write_steps("broker_frame", "grant_referral_ack", &o);

    /* The same, then a revoke while the referral waits, unacknowledged:
     * the resend timer runs first. */
    s_b_hello(&o, 0, 0);
    s_b_hello(&o, 1, 1);
    s_b_submit(&o, &grant, 0);
    gs_step(&o, GS_END, -1);
    s_b_submit(&o, &referral, 0);
    gs_step(&o, GS_END, -1);
    gs_step(&o, GS_CLOCK, 20);
    gs_step(&o, GS_END, -1);
    s_b_submit(&o, &revoke, 0);
    gs_step(&o, GS_END, -1);
    s_b_ack(&o, 1, 1, 1, true);
    gs_step(&o, GS_END, -1);
    gs_write_steps("broker_frame", "grant_referral_revoke", &o);

    /* A meldrecht signal to Veilig Thuis, delivered; a resend later. */
    s_b_hello(&o, 0, 0);
    s_b_hello(&o, 2, 1);
    s_b_submit(&o, &signal, 0);
    gs_step(&o, GS_END, -1);
    gs_step(&o, GS_CLOCK, 40);
    gs_step(&o, GS_END, -1);
    gs_write_steps("broker_frame", "meldrecht", &o);

    /* A referral without consent (refused), a suspended organisation and
     * a connection without one. */
    s_b_hello(&o, 0, 0);
    s_b_submit(&o, &referral, 0);
    s_b_hello(&o, 3, 1);
    s_b_hello(&o, 4, 1);
    gs_step(&o, GS_END, -1);
    gs_write_steps("broker_frame", "refusals", &o);

    /* A referral whose consent expires while it waits: expiry runs. */
    s_b_hello(&o, 0, 0);
    s_b_submit(&o, &grant, 0);
    s_b_submit(&o, &referral, 0);
    gs_step(&o, GS_END, -1);
    gs_step(&o, GS_CLOCK, 255);
    gs_step(&o, GS_CLOCK, 255);
    gs_step(&o, GS_END, -1);
    gs_write_steps("broker_frame", "expiry", &o);

    /* Coalition queries (handle_referral_query.c) after a referral: from
     * an organisation that coordinates nothing (refused, audited), and
     * one without a query_id (malformed). */
    Kr__V1__CoalitionQuery cq = KR__V1__COALITION_QUERY__INIT;
    s_b_hello(&o, 0, 0);
    s_b_submit(&o, &grant, 0);
    s_b_submit(&o, &referral, 0);
    gs_step(&o, GS_END, -1);
    s_frame_init(&f);
    cq.query_id = (ProtobufCBinaryData){4, (uint8_t *)"qid1"};
    cq.limit = 5;
    f.coalition_query = &cq;
    s_b_frame(&o, 0, 0, &f);
    cq.query_id = (ProtobufCBinaryData){0, NULL};
    s_b_frame(&o, 1, 1, &f);
    gs_step(&o, GS_END, -1);
    gs_write_steps("broker_frame", "coalition_query", &o);
}

/* node_frame: a frame from the broker. */
static void
s_n_frame(struct fz_out *o, const Kr__V1__Frame *f)
{
    fz_put_u8(o, 0);
    gs_put_msg(o, &f->base);
}

static void
s_n_delivery(struct fz_out *o, const struct s_env *p, uint64_t seq,
             uint64_t pass)
{
    Kr__V1__Frame f;
    Kr__V1__Delivery d = KR__V1__DELIVERY__INIT, *dp = &d;
    uint8_t sig[64];
    size_t len;
    uint8_t *env = s_envelope(p, &len, sig);

    s_frame_init(&f);
    d.seq = seq;
    d.envelope = (ProtobufCBinaryData){len, env};
    d.signature = (ProtobufCBinaryData){64, sig};
    d.provisional_pass = pass;
    f.delivery = &dp;
    f.n_delivery = 1;
    s_n_frame(o, &f);
    free(env);
}

void
gs_node_seeds(void)
{
    struct fz_out o = {0};
    struct s_env referral = {.from = 0,
                             .to = FZ_NODE_ORG,
                             .type = KR__V1__MESSAGE_TYPE__REFERRAL,
                             .msg_id = {0x12, 0x12},
                             .legal_basis = KR__V1__LEGAL_BASIS__CONSENT,
                             .with_consent = true};
    struct s_env grant = {.from = 0,
                          .to = FZ_NODE_ORG,
                          .type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT,
                          .msg_id = {0x11, 0x11},
                          .legal_basis = KR__V1__LEGAL_BASIS__CONSENT,
                          .grant = true};
    Kr__V1__Frame f;

    /* Deliveries, stored and acknowledged. */
    s_n_delivery(&o, &grant, 1, 0);
    s_n_delivery(&o, &referral, 2, 0);
    gs_step(&o, GS_END, -1);
    gs_write_steps("node_frame", "deliveries", &o);

    /* Two deliveries in one frame (their signatures checked together). */
    {
        Kr__V1__Delivery d[2], *dp[2] = {&d[0], &d[1]};
        uint8_t sig[2][64];
        size_t len[2];
        uint8_t *env[2];
        struct s_env e2 = referral;
        e2.msg_id[1] = 0x99;
        env[0] = s_envelope(&referral, &len[0], sig[0]);
        env[1] = s_envelope(&e2, &len[1], sig[1]);
        s_frame_init(&f);
        for (int i = 0; i < 2; i++) {
            kr__v1__delivery__init(&d[i]);
            d[i].seq = 10 + (uint64_t)i;
            d[i].envelope = (ProtobufCBinaryData){len[i], env[i]};
            d[i].signature = (ProtobufCBinaryData){64, sig[i]};
        }
        f.delivery = dp;
        f.n_delivery = 2;
        s_n_frame(&o, &f);
        gs_step(&o, GS_END, -1);
        gs_write_steps("node_frame", "two_deliveries", &o);
        free(env[0]);
        free(env[1]);
    }

    /* A delivery sent early, then its pass result; and one whose result
     * never comes (the hold times out). */
    s_n_delivery(&o, &referral, 3, 77);
    gs_step(&o, GS_END, -1);
    {
        Kr__V1__PassResult r = KR__V1__PASS_RESULT__INIT, *rp = &r;
        s_frame_init(&f);
        r.pass = 77;
        r.committed = 1;
        f.pass_result = &rp;
        f.n_pass_result = 1;
        s_n_frame(&o, &f);
    }
    gs_step(&o, GS_END, -1);
    struct s_env e3 = referral;
    e3.msg_id[1] = 0x33;
    s_n_delivery(&o, &e3, 4, 78);
    gs_step(&o, GS_END, -1);
    gs_step(&o, GS_CLOCK, 200);
    gs_write_steps("node_frame", "early_delivery", &o);

    /* Receipts for messages of the outbox (none here), a notice, a
     * directory answer, a non-fatal and a fatal error. */
    {
        Kr__V1__Receipt r = KR__V1__RECEIPT__INIT, *rp = &r;
        Kr__V1__Notice nt = KR__V1__NOTICE__INIT, *np = &nt;
        Kr__V1__DirectoryResponse dr = KR__V1__DIRECTORY_RESPONSE__INIT;
        Kr__V1__FrameError fe = KR__V1__FRAME_ERROR__INIT;
        Kr__V1__OrgEntry *entries[1] = {(Kr__V1__OrgEntry *)fz_org_entry(2)};
        char *unknown[1] = {"ura:99999999"};
        uint8_t nid[16] = {0x70, 0x71};
        ProtobufCBinaryData mids[1] = {{16, referral.msg_id}};

        s_frame_init(&f);
        r.msg_id = (ProtobufCBinaryData){16, referral.msg_id};
        r.outcome = KR__V1__OUTCOME__DELIVERED;
        r.seq = 5;
        f.receipt = &rp;
        f.n_receipt = 1;
        nt.seq = 6;
        nt.notice_id = (ProtobufCBinaryData){16, nid};
        nt.kind = KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED;
        nt.consent_id = (ProtobufCBinaryData){16, (uint8_t *)gs_consent_id};
        nt.msg_ids = mids;
        nt.n_msg_ids = 1;
        nt.at_ms = FZ_NOW_MS;
        nt.revoked_by = (char *)fz_org_ids[0];
        f.notice = &np;
        f.n_notice = 1;
        dr.entries = entries;
        dr.n_entries = 1;
        dr.unknown = unknown;
        dr.n_unknown = 1;
        f.dir_response = &dr;
        s_n_frame(&o, &f);
        gs_step(&o, GS_END, -1);
        s_frame_init(&f);
        fe.reason = KR__V1__REASON__MALFORMED;
        fe.detail = "a message must be one frame";
        f.error = &fe;
        s_n_frame(&o, &f);
        fe.fatal = 1;
        fe.reason = KR__V1__REASON__SENDER_SUSPENDED;
        s_n_frame(&o, &f);
        gs_step(&o, GS_END, -1);
        gs_write_steps("node_frame", "receipt_notice_directory_error", &o);
    }
}
