/*
 * gen_seeds.c - writes the seed corpora of the fuzz targets into DIR/<target>/
 * (tests/fuzz/corpus/ in the repository, where its output is committed):
 *   fuzz_gen_seeds DIR [EXAMPLES_DIR]
 *
 * The frames are built as a node and the broker build them, with the fixed
 * keys of fuzz_common.c: envelopes signed by their sender and sealed to
 * their recipient, so that the targets start past the signature checks and
 * the opening of payloads. Each seed is a sequence of steps in the format
 * its target reads (see the comment at the top of each fuzz_*.c).
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

static const char *s_out;
static kr_keys_t *s_keys[FZ_NORGS + 1];

static void
s_write(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/%s", s_out, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", s_out, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void
s_write_steps(const char *target, const char *name, struct fz_out *o)
{
    s_write(target, name, o->data, o->len);
    free(o->data);
    memset(o, 0, sizeof(*o));
}

/* Pack a message into a malloc'd buffer. */
static uint8_t *
s_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(m, p);
    return p;
}

static void
s_put_msg(struct fz_out *o, const ProtobufCMessage *m)
{
    size_t len;
    uint8_t *p = s_pack(m, &len);

    fz_put_bytes(o, p, len);
    free(p);
}

static const uint8_t s_subject[32] = {0x5a, 0x5a, 1, 2, 3};
static const uint8_t s_consent_id[16] = {0xc0, 0x11, 0x5e, 0x47, 1};

/* What varies between the envelopes of the seeds. */
struct s_env {
    int from, to;
    int type;
    uint8_t msg_id[16];
    int legal_basis;
    bool with_consent; /* consent_id = s_consent_id */
    bool grant;        /* consent_scope for s_consent_id */
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
    uint8_t *plain = s_pack(&c.base, &plain_len);
    uint8_t *cipher = xmalloc(plain_len + KR_MAC_LEN);
    memset(nonce, 0x4e, sizeof(nonce));
    nonce[0] = p->msg_id[0];
    kcrypto_shared_key(s_keys[p->to]->pub.box, s_keys[p->from]->box_secret,
                       shared);
    kcrypto_seal(shared, plain, plain_len, nonce, cipher);
    kcrypto_key_id(s_keys[p->from]->pub.sign, sign_id);
    kcrypto_key_id(s_keys[p->from]->pub.box, box_from);
    kcrypto_key_id(s_keys[p->to]->pub.box, box_to);
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
    e.subject_pseudonym = (ProtobufCBinaryData){32, (uint8_t *)s_subject};
    e.subject_key_version = 1;
    e.purpose = "prenataal-huisbezoek";
    e.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    e.legal_basis = p->legal_basis;
    e.priority = KR__V1__PRIORITY__ROUTINE;
    e.payload = &sealed;
    if (p->with_consent || p->grant)
        e.consent_id = (ProtobufCBinaryData){16, (uint8_t *)s_consent_id};
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
    uint8_t *out = s_pack(&e.base, len);
    kcrypto_sign(s_keys[p->from], out, *len, sig);
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
    s_put_msg(o, &f->base);
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

static void
s_step(struct fz_out *o, uint8_t op, int arg)
{
    fz_put_u8(o, op);
    if (arg >= 0)
        fz_put_u8(o, (uint8_t)arg);
}

#define S_END 2
#define S_CLOCK 3

static void
s_broker_seeds(void)
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
    s_step(&o, S_END, -1);
    s_write_steps("broker_frame", "hello", &o);

    /* A directory request. */
    s_b_hello(&o, 1, 1);
    s_frame_init(&f);
    dr.org_ids = ids;
    dr.n_org_ids = 2;
    f.dir_request = &dr;
    s_b_frame(&o, 1, 1, &f);
    s_step(&o, S_END, -1);
    s_write_steps("broker_frame", "dir_request", &o);

    /* Consent, a referral under it, its delivery acknowledged. */
    s_b_hello(&o, 0, 0);
    s_b_hello(&o, 1, 1);
    s_step(&o, S_END, -1);
    s_b_submit(&o, &grant, 0);
    s_step(&o, S_END, -1);
    s_b_submit(&o, &referral, 0);
    s_step(&o, S_END, -1);
    s_b_ack(&o, 1, 1, 1, false);
    s_b_ack(&o, 1, 1, 2, false);
    s_step(&o, S_END, -1);
    s_b_ack(&o, 0, 0, 1, false);
    s_step(&o, S_END, -1);
    s_write_steps("broker_frame", "grant_referral_ack", &o);

    /* The same, then a revoke while the referral waits, unacknowledged:
     * the resend timer runs first. */
    s_b_hello(&o, 0, 0);
    s_b_hello(&o, 1, 1);
    s_b_submit(&o, &grant, 0);
    s_step(&o, S_END, -1);
    s_b_submit(&o, &referral, 0);
    s_step(&o, S_END, -1);
    s_step(&o, S_CLOCK, 20);
    s_step(&o, S_END, -1);
    s_b_submit(&o, &revoke, 0);
    s_step(&o, S_END, -1);
    s_b_ack(&o, 1, 1, 1, true);
    s_step(&o, S_END, -1);
    s_write_steps("broker_frame", "grant_referral_revoke", &o);

    /* A meldrecht signal to Veilig Thuis, delivered; a resend later. */
    s_b_hello(&o, 0, 0);
    s_b_hello(&o, 2, 1);
    s_b_submit(&o, &signal, 0);
    s_step(&o, S_END, -1);
    s_step(&o, S_CLOCK, 40);
    s_step(&o, S_END, -1);
    s_write_steps("broker_frame", "meldrecht", &o);

    /* A referral without consent (refused), a suspended organisation and
     * a connection without one. */
    s_b_hello(&o, 0, 0);
    s_b_submit(&o, &referral, 0);
    s_b_hello(&o, 3, 1);
    s_b_hello(&o, 4, 1);
    s_step(&o, S_END, -1);
    s_write_steps("broker_frame", "refusals", &o);

    /* A referral whose consent expires while it waits: expiry runs. */
    s_b_hello(&o, 0, 0);
    s_b_submit(&o, &grant, 0);
    s_b_submit(&o, &referral, 0);
    s_step(&o, S_END, -1);
    s_step(&o, S_CLOCK, 255);
    s_step(&o, S_CLOCK, 255);
    s_step(&o, S_END, -1);
    s_write_steps("broker_frame", "expiry", &o);

    /* Coalition queries (handle_referral_query.c) after a referral: from
     * an organisation that coordinates nothing (refused, audited), and
     * one without a query_id (malformed). */
    Kr__V1__CoalitionQuery cq = KR__V1__COALITION_QUERY__INIT;
    s_b_hello(&o, 0, 0);
    s_b_submit(&o, &grant, 0);
    s_b_submit(&o, &referral, 0);
    s_step(&o, S_END, -1);
    s_frame_init(&f);
    cq.query_id = (ProtobufCBinaryData){4, (uint8_t *)"qid1"};
    cq.limit = 5;
    f.coalition_query = &cq;
    s_b_frame(&o, 0, 0, &f);
    cq.query_id = (ProtobufCBinaryData){0, NULL};
    s_b_frame(&o, 1, 1, &f);
    s_step(&o, S_END, -1);
    s_write_steps("broker_frame", "coalition_query", &o);
}

/* node_frame: a frame from the broker. */
static void
s_n_frame(struct fz_out *o, const Kr__V1__Frame *f)
{
    fz_put_u8(o, 0);
    s_put_msg(o, &f->base);
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

static void
s_node_seeds(void)
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
    s_step(&o, S_END, -1);
    s_write_steps("node_frame", "deliveries", &o);

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
        s_step(&o, S_END, -1);
        s_write_steps("node_frame", "two_deliveries", &o);
        free(env[0]);
        free(env[1]);
    }

    /* A delivery sent early, then its pass result; and one whose result
     * never comes (the hold times out). */
    s_n_delivery(&o, &referral, 3, 77);
    s_step(&o, S_END, -1);
    {
        Kr__V1__PassResult r = KR__V1__PASS_RESULT__INIT, *rp = &r;
        s_frame_init(&f);
        r.pass = 77;
        r.committed = 1;
        f.pass_result = &rp;
        f.n_pass_result = 1;
        s_n_frame(&o, &f);
    }
    s_step(&o, S_END, -1);
    struct s_env e3 = referral;
    e3.msg_id[1] = 0x33;
    s_n_delivery(&o, &e3, 4, 78);
    s_step(&o, S_END, -1);
    s_step(&o, S_CLOCK, 200);
    s_write_steps("node_frame", "early_delivery", &o);

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
        nt.consent_id = (ProtobufCBinaryData){16, (uint8_t *)s_consent_id};
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
        s_step(&o, S_END, -1);
        s_frame_init(&f);
        fe.reason = KR__V1__REASON__MALFORMED;
        fe.detail = "a message must be one frame";
        f.error = &fe;
        s_n_frame(&o, &f);
        fe.fatal = 1;
        fe.reason = KR__V1__REASON__SENDER_SUSPENDED;
        s_n_frame(&o, &f);
        s_step(&o, S_END, -1);
        s_write_steps("node_frame", "receipt_notice_directory_error", &o);
    }
}

/* local: a request from adapter 0 through REQ. */
static void
s_l_request(struct fz_out *o, const Kr__V1__LocalRequest *r)
{
    fz_put_u8(o, 0);
    fz_put_u8(o, 2);
    s_put_msg(o, &r->base);
}

/* A send request from an example's JSON, addressed to 'to'. */
static bool
s_l_send_json(struct fz_out *o, const char *examples, const char *name, int to)
{
    char path[1024], err[512];
    char *text = NULL;
    size_t len, req_len;
    json_object *in = NULL;
    uint8_t *req = NULL;

    snprintf(path, sizeof(path), "%s/%s", examples, name);
    if (util_read_file(path, 1 << 20, &text, &len) != 0)
        return false;
    {
        /* Selector 0 and the text: the json_map seed. */
        uint8_t *seed = xmalloc(len + 1);
        seed[0] = 0;
        memcpy(seed + 1, text, len);
        s_write("json_map", name, seed, len + 1);
        free(seed);
    }
    bool ok = json_map_parse_text(text, len, &in, err, sizeof(err)) == 0 &&
              json_map_send_parse(in, util_now_ms(), &req, &req_len, err,
                                  sizeof(err)) == 0;
    if (!ok)
        fprintf(stderr, "gen_seeds: %s: %s\n", name, err);
    if (ok) {
        Kr__V1__LocalRequest *r =
            kr__v1__local_request__unpack(NULL, req_len, req);
        if (r != NULL && r->send != NULL) {
            char *old = r->send->recipient;
            r->send->recipient = (char *)fz_org_ids[to];
            s_l_request(o, r);
            r->send->recipient = old;
        }
        kr__v1__local_request__free_unpacked(r, NULL);
    }
    free(req);
    json_object_put(in);
    free(text);
    return ok;
}

static void
s_local_seeds(const char *examples)
{
    struct fz_out o = {0};
    Kr__V1__LocalRequest r;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    static uint8_t mid[16] = {0x12, 0x12};

    /* Listings and status. */
    kr__v1__local_request__init(&r);
    r.version = KR__V1__VERSION__VERSION_1;
    r.op_case = KR__V1__LOCAL_REQUEST__OP_STATUS;
    r.status = 1;
    s_l_request(&o, &r);
    r.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    lr.limit = 10;
    r.inbox = &lr;
    s_l_request(&o, &r);
    r.op_case = KR__V1__LOCAL_REQUEST__OP_OUTBOX;
    r.outbox = &lr;
    s_l_request(&o, &r);
    r.op_case = KR__V1__LOCAL_REQUEST__OP_PROCESSED;
    r.processed = (ProtobufCBinaryData){16, mid};
    s_l_request(&o, &r);
    r.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX_GET;
    r.inbox_get = (ProtobufCBinaryData){16, mid};
    s_l_request(&o, &r);
    s_step(&o, S_END, -1);
    s_write_steps("local", "list_status_processed", &o);

    /* An inbox request that waits, then its deadline. */
    kr__v1__local_request__init(&r);
    r.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    lr.wait_ms = 2000;
    lr.after_seq = 1000000;
    r.inbox = &lr;
    s_l_request(&o, &r);
    s_step(&o, S_END, -1);
    s_step(&o, S_CLOCK, 10);
    s_write_steps("local", "inbox_wait", &o);

    /* Sends from the examples: to a known peer, to an unknown one (the
     * send is parked until its deadline). */
    const char *names[] = {"consent-grant.json", "referral.json",
                           "referral-accepted.json",
                           "veilig-thuis-melding.json"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int to = strstr(names[i], "veilig") ? 2 : 0;
        if (s_l_send_json(&o, examples, names[i], to)) {
            s_step(&o, S_END, -1);
            char name[128];
            snprintf(name, sizeof(name), "send_%s", names[i]);
            *strrchr(name, '.') = '\0';
            s_write_steps("local", name, &o);
        }
        free(o.data);
        memset(&o, 0, sizeof(o));
    }
}

static void
s_admin_seeds(void)
{
    struct fz_out o = {0};
    Kr__V1__AdminRequest r;
    Kr__V1__OrgAdd add = KR__V1__ORG_ADD__INIT;
    Kr__V1__OrgEntry e;
    Kr__V1__ConsentQuery q = KR__V1__CONSENT_QUERY__INIT;
    Kr__V1__AuditRange ar = KR__V1__AUDIT_RANGE__INIT;
    uint8_t key[3][32];

    memset(key[0], 0x61, 32);
    memset(key[1], 0x62, 32);
    memset(key[2], 0x63, 32);
    e = *fz_org_entry(0);
    e.org_id = "agb:12345678";
    e.curve_public = (ProtobufCBinaryData){32, key[0]};
    e.box_public = (ProtobufCBinaryData){32, key[1]};
    e.sign_public = (ProtobufCBinaryData){32, key[2]};
    add.entry = &e;
#define S_REQ(setup)                                                           \
    do {                                                                       \
        kr__v1__admin_request__init(&r);                                       \
        r.version = KR__V1__VERSION__VERSION_1;                                \
        setup;                                                                 \
        s_put_msg(&o, &r.base);                                                \
    } while (0)
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_ADD, r.org_add = &add));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_LIST, r.org_list = 1));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_SUSPEND,
           r.org_suspend = "agb:12345678"));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_RESUME,
           r.org_resume = "agb:12345678"));
    s_write_steps("admin", "org_add_list_suspend_resume", &o);
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_QUEUES, r.queues = 1));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_STATS, r.stats = 1));
    q.subject_pseudonym = (ProtobufCBinaryData){32, (uint8_t *)s_subject};
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_LIST,
           r.consent_list = &q));
    S_REQ(
        (r.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW,
         r.consent_show = (ProtobufCBinaryData){16, (uint8_t *)s_consent_id}));
    s_write_steps("admin", "queues_stats_consents", &o);
    S_REQ(
        (r.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_TAIL, r.audit_tail = 10));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_VERIFY,
           r.audit_verify = 1));
    ar.limit = 5;
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_EXPORT,
           r.audit_export = &ar));
    s_write_steps("admin", "audit", &o);
#undef S_REQ
}

static void
s_zap_seeds(void)
{
    struct fz_out o = {0};
    const char *parts[] = {"1.0", "1", "kansrijk", "127.0.0.1", "", "CURVE"};
    const Kr__V1__OrgEntry *e[2] = {fz_org_entry(0), fz_org_entry(3)};

    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 6; i++) {
            size_t n = strlen(parts[i]);
            fz_put_u8(&o, (uint8_t)n);
            for (size_t j = 0; j < n; j++)
                fz_put_u8(&o, (uint8_t)parts[i][j]);
        }
        fz_put_u8(&o, 32);
        for (int j = 0; j < 32; j++)
            fz_put_u8(&o, e[k]->curve_public.data[j]);
        s_write_steps("zap", k == 0 ? "admitted" : "suspended", &o);
    }
    fz_put_u8(&o, 3);
    fz_put_u8(&o, '1');
    fz_put_u8(&o, '.');
    fz_put_u8(&o, '0');
    s_write_steps("zap", "one_part", &o);
}

static void
s_text_seed(const char *target, const char *name, uint8_t sel, const char *text)
{
    size_t n = strlen(text);
    uint8_t *p = xmalloc(n + 1);

    p[0] = sel;
    memcpy(p + 1, text, n);
    s_write(target, name, p, n + 1);
    free(p);
}

static void
s_file_seeds(void)
{
    char z85[KR_Z85_KEY_LEN];
    char text[2048];
    size_t n = 0;
    kr_keys_t *k = s_keys[0];
    const struct {
        const char *name;
        const uint8_t *key;
    } fields[] = {
        {"curve_public", k->pub.curve}, {"curve_secret", k->curve_secret},
        {"box_public", k->pub.box},     {"box_secret", k->box_secret},
        {"sign_public", k->pub.sign},
    };

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        kcrypto_z85_encode(fields[i].key, z85);
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n",
                              fields[i].name, z85);
    }
    kcrypto_z85_encode(k->sign_secret, z85); /* the seed half */
    n +=
        (size_t)snprintf(text + n, sizeof(text) - n, "sign_secret = %s\n", z85);
    s_text_seed("keyfile", "secret", 0, text);
    n = 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i += 2) {
        kcrypto_z85_encode(fields[i].key, z85);
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n",
                              fields[i].name, z85);
    }
    s_text_seed("keyfile", "public", 1, text);
    s_text_seed("keyfile", "coalition", 2,
                "version = 3\nkey = "
                "0101010101010101010101010101010101010101010101010101010101"
                "010101\n");

    s_text_seed("config", "broker_file", 0,
                "# krbroker\n[broker]\ndata_dir = /var/lib/krbroker\n"
                "keys = /etc/kansrijk/broker.secret\n"
                "listen = tcp://127.0.0.1:7700\nmap_size_mb = 4096\n"
                "window = 256\nearly_delivery = yes\n");
    s_text_seed("config", "node_file", 1,
                "[node]\norg = ura:00001234\ndata_dir = /var/lib/krnode\n"
                "keys = /etc/kansrijk/praktijk.secret\n"
                "broker = tcp://broker.example:7700\n"
                "broker_key = /etc/kansrijk/broker.public\n"
                "coalition_key = /etc/kansrijk/coalition.key\n"
                "resend_ms = 5000\nlog_level = warn\n");
    static const char argv_b[] = "--data_dir\0/tmp/b\0--keys=/tmp/k\0"
                                 "--window\0"
                                 "64\0--unsafe_nosync\0true";
    static const char argv_n[] = "-c\0/nonexistent.ini\0--org\0ura:1";
    uint8_t buf[256];
    buf[0] = 2;
    memcpy(buf + 1, argv_b, sizeof(argv_b) - 1);
    s_write("config", "broker_args", buf, sizeof(argv_b));
    buf[0] = 3;
    memcpy(buf + 1, argv_n, sizeof(argv_n) - 1);
    s_write("config", "node_args", buf, sizeof(argv_n));

    s_text_seed("json_map", "time", 7, "2026-12-31T23:59:59.123Z");
    s_text_seed("json_map", "date", 7, "2027-02-14");
}

/* json_map: protobuf records as krctl prints them. */
static void
s_json_records(void)
{
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__Referral ref = KR__V1__REFERRAL__INIT;
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__ConsentRecord cr = KR__V1__CONSENT_RECORD__INIT;
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    Kr__V1__AuditRecord ar = KR__V1__AUDIT_RECORD__INIT;
    uint8_t id[16] = {1, 2, 3};
    char *codes[] = {"psychosociaal"};
    size_t len;
    uint8_t *p, *seed;

#define S_REC(name, sel, msg)                                                  \
    do {                                                                       \
        p = s_pack(&(msg).base, &len);                                         \
        seed = xmalloc(len + 1);                                               \
        seed[0] = (sel);                                                       \
        memcpy(seed + 1, p, len);                                              \
        s_write("json_map", (name), seed, len + 1);                            \
        free(seed);                                                            \
        free(p);                                                               \
    } while (0)
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_REFERRAL;
    ref.expected_delivery_date = "2027-02-14";
    ref.reason_codes = codes;
    ref.n_reason_codes = 1;
    ref.requested_service = "prenataal-huisbezoek";
    c.referral = &ref;
    c.justification = "fuzz";
    S_REC("content", 1, c);
    size_t clen;
    uint8_t *cbytes = s_pack(&c.base, &clen);
    it.msg_id = (ProtobufCBinaryData){16, id};
    it.sender = (char *)fz_org_ids[0];
    it.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    it.content = (ProtobufCBinaryData){clen, cbytes};
    it.received_at_ms = FZ_NOW_MS;
    S_REC("inbox_item", 2, it);
    free(cbytes);
    sc.consent_id = (ProtobufCBinaryData){16, id};
    sc.purpose = "prenataal-huisbezoek";
    sc.from_org = (char *)fz_org_ids[0];
    sc.to_category = KR__V1__ORG_CATEGORY__JGZ;
    sc.valid_from_ms = FZ_NOW_MS;
    sc.valid_until_ms = FZ_NOW_MS + 86400000;
    cr.scope = &sc;
    cr.status = KR__V1__CONSENT_STATUS__CONSENT_ACTIVE;
    S_REC("consent_record", 4, cr);
    ar.seq = 7;
    ar.event = "message.accepted";
    ar.at_ms = FZ_NOW_MS;
    S_REC("audit_record", 5, ar);
    S_REC("org_entry", 6, *fz_org_entry(2));
#undef S_REC
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fuzz_gen_seeds DIR [EXAMPLES_DIR]\n");
        return 2;
    }
    s_out = argv[1];
    fz_init();
    for (int i = 0; i <= FZ_NORGS; i++)
        s_keys[i] = fz_keys(i);
    s_broker_seeds();
    s_node_seeds();
    s_local_seeds(argc > 2 ? argv[2] : "examples");
    s_admin_seeds();
    s_zap_seeds();
    s_file_seeds();
    s_json_records();
    for (int i = 0; i <= FZ_NORGS; i++)
        kcrypto_keys_destroy(&s_keys[i]);
    return 0;
}
