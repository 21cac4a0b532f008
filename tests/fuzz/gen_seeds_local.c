/*
 * gen_seeds_local.c - the seeds of the adapters' and operators' inputs:
 * local requests (some from examples/), admin requests, ZAP requests, the
 * text files (config, key files, spool and FHIR documents) and the JSON
 * layer's records.
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

/* local: a request from adapter 0 through REQ. */
static void
s_l_request(struct fz_out *o, const Kr__V1__LocalRequest *r)
{
    fz_put_u8(o, 0);
    fz_put_u8(o, 2);
    gs_put_msg(o, &r->base);
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
        gs_write("json_map", name, seed, len + 1);
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

void
gs_local_seeds(const char *examples)
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
    gs_step(&o, GS_END, -1);
    gs_write_steps("local", "list_status_processed", &o);

    /* An inbox request that waits, then its deadline. */
    kr__v1__local_request__init(&r);
    r.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    lr.wait_ms = 2000;
    lr.after_seq = 1000000;
    r.inbox = &lr;
    s_l_request(&o, &r);
    gs_step(&o, GS_END, -1);
    gs_step(&o, GS_CLOCK, 10);
    gs_write_steps("local", "inbox_wait", &o);

    /* Sends from the examples: to a known peer, to an unknown one (the
     * send is parked until its deadline). */
    const char *names[] = {"consent-grant.json", "referral.json",
                           "referral-accepted.json",
                           "veilig-thuis-melding.json"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int to = strstr(names[i], "veilig") ? 2 : 0;
        if (s_l_send_json(&o, examples, names[i], to)) {
            gs_step(&o, GS_END, -1);
            char name[128];
            snprintf(name, sizeof(name), "send_%s", names[i]);
            *strrchr(name, '.') = '\0';
            gs_write_steps("local", name, &o);
        }
        free(o.data);
        memset(&o, 0, sizeof(o));
    }
}

void
gs_admin_seeds(void)
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
        gs_put_msg(&o, &r.base);                                               \
    } while (0)
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_ADD, r.org_add = &add));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_LIST, r.org_list = 1));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_SUSPEND,
           r.org_suspend = "agb:12345678"));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_ORG_RESUME,
           r.org_resume = "agb:12345678"));
    gs_write_steps("admin", "org_add_list_suspend_resume", &o);
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_QUEUES, r.queues = 1));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_STATS, r.stats = 1));
    q.subject_pseudonym = (ProtobufCBinaryData){32, (uint8_t *)gs_subject};
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_LIST,
           r.consent_list = &q));
    S_REQ(
        (r.op_case = KR__V1__ADMIN_REQUEST__OP_CONSENT_SHOW,
         r.consent_show = (ProtobufCBinaryData){16, (uint8_t *)gs_consent_id}));
    gs_write_steps("admin", "queues_stats_consents", &o);
    S_REQ(
        (r.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_TAIL, r.audit_tail = 10));
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_VERIFY,
           r.audit_verify = 1));
    ar.limit = 5;
    S_REQ((r.op_case = KR__V1__ADMIN_REQUEST__OP_AUDIT_EXPORT,
           r.audit_export = &ar));
    gs_write_steps("admin", "audit", &o);
#undef S_REQ
}

void
gs_zap_seeds(void)
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
        gs_write_steps("zap", k == 0 ? "admitted" : "suspended", &o);
    }
    fz_put_u8(&o, 3);
    fz_put_u8(&o, '1');
    fz_put_u8(&o, '.');
    fz_put_u8(&o, '0');
    gs_write_steps("zap", "one_part", &o);
}

static void
s_text_seed(const char *target, const char *name, uint8_t sel, const char *text)
{
    size_t n = strlen(text);
    uint8_t *p = xmalloc(n + 1);

    p[0] = sel;
    memcpy(p + 1, text, n);
    gs_write(target, name, p, n + 1);
    free(p);
}

void
gs_file_seeds(void)
{
    char z85[KR_Z85_KEY_LEN];
    char text[2048];
    size_t n = 0;
    kr_keys_t *k = gs_keys[0];
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
    gs_write("config", "broker_args", buf, sizeof(argv_b));
    buf[0] = 3;
    memcpy(buf + 1, argv_n, sizeof(argv_n) - 1);
    gs_write("config", "node_args", buf, sizeof(argv_n));

    s_text_seed("json_map", "time", 7, "2026-12-31T23:59:59.123Z");
    s_text_seed("json_map", "date", 7, "2027-02-14");
}

/* json_map: protobuf records as krctl prints them. */
void
gs_json_records(void)
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
        p = gs_pack(&(msg).base, &len);                                        \
        seed = xmalloc(len + 1);                                               \
        seed[0] = (sel);                                                       \
        memcpy(seed + 1, p, len);                                              \
        gs_write("json_map", (name), seed, len + 1);                           \
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
    uint8_t *cbytes = gs_pack(&c.base, &clen);
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
