/*
 * test_handoff.c - one referral from a midwife practice to JGZ, end to end
 * through the real daemons and the command line: `krctl send` at the
 * verloskunde node, the broker, the JGZ node; the opened content must equal
 * what was sent, field by field; the sender must see "delivered" exactly
 * once; the subject travels as a keyed pseudonym, never as the BSN. And an
 * adapter that waits on the inbox (ListRequest.wait_ms) instead of polling
 * is answered when something arrives, or with nothing at its deadline.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"

/* The description `krctl send` reads, with the harness's known referral.
 * 'msg_id' (32 hex digits) or NULL. */
static char *
s_referral_json(const struct h_referral *r, const char *msg_id)
{
    json_object *o = json_object_new_object(), *ref = json_object_new_object();
    json_object *m = json_object_new_object(), *a = json_object_new_object();
    json_object *p = json_object_new_object(), *codes = json_object_new_array();

    json_object_object_add(o, "type", json_object_new_string("referral"));
    json_object_object_add(o, "recipient", json_object_new_string(S_JGZ_ORG));
    if (msg_id != NULL)
        json_object_object_add(o, "msg_id", json_object_new_string(msg_id));
    json_object_object_add(o, "purpose",
                           json_object_new_string("prenataal-huisbezoek"));
    json_object_object_add(o, "data_category",
                           json_object_new_string("medisch"));
    json_object_object_add(o, "legal_basis", json_object_new_string("consent"));
    json_object_object_add(o, "priority", json_object_new_string("routine"));
    json_object_object_add(a, "street", json_object_new_string(r->street));
    json_object_object_add(a, "house_number",
                           json_object_new_string(r->house_number));
    json_object_object_add(a, "postal_code",
                           json_object_new_string(r->postal_code));
    json_object_object_add(a, "city", json_object_new_string(r->city));
    json_object_object_add(m, "bsn", json_object_new_string(r->bsn));
    json_object_object_add(m, "given_name",
                           json_object_new_string(r->given_name));
    json_object_object_add(m, "family_name",
                           json_object_new_string(r->family_name));
    json_object_object_add(m, "birth_date",
                           json_object_new_string(r->birth_date));
    json_object_object_add(m, "address", a);
    json_object_object_add(m, "phone", json_object_new_string(r->phone));
    json_object_object_add(ref, "mother", m);
    json_object_object_add(ref, "expected_delivery_date",
                           json_object_new_string(r->expected_delivery_date));
    for (size_t i = 0; i < r->n_reason_codes; i++)
        json_object_array_add(codes,
                              json_object_new_string(r->reason_codes[i]));
    json_object_object_add(ref, "reason_codes", codes);
    json_object_object_add(ref, "reason_text",
                           json_object_new_string(r->reason_text));
    json_object_object_add(ref, "requested_service",
                           json_object_new_string(r->requested_service));
    json_object_object_add(ref, "urgency", json_object_new_string("routine"));
    json_object_object_add(p, "name", json_object_new_string(r->ref_name));
    json_object_object_add(p, "role", json_object_new_string(r->ref_role));
    json_object_object_add(p, "phone", json_object_new_string(r->ref_phone));
    json_object_object_add(p, "email", json_object_new_string(r->ref_email));
    json_object_object_add(p, "agb", json_object_new_string(r->ref_agb));
    json_object_object_add(ref, "referrer", p);
    json_object_object_add(o, "referral", ref);
    char *text = strdup(json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return text;
}

/* `krctl send FILE`: the printed msg_id, or an empty string. */
static void
s_krctl_send(struct h_cluster *c, int node, const char *file, char out[33])
{
    struct h_run r;

    out[0] = '\0';
    h_krctl(&r, "--node", c->nodes[node].local, "send", file, NULL);
    size_t n = strcspn(r.out, "\n");
    bool ok = r.code == 0 && n == 32 && strspn(r.out, "0123456789abcdef") == 32;
    H_CHECK(ok,
            "krctl send %s exits 0 and prints a 32-hex-digit msg_id "
            "(exit %d, stderr: %.200s)",
            strrchr(file, '/') + 1, r.code, r.err);
    if (ok)
        snprintf(out, 33, "%.32s", r.out);
    h_run_free(&r);
}

struct s_find {
    uint8_t id[16];
    unsigned n;  /* items with this msg_id */
    int outcome; /* outbox: its outcome */
    int reason;
    uint8_t pseudonym[KR_PSEUDONYM_LEN];
    size_t pseudonym_len;
    uint8_t *content; /* inbox: a copy of the opened content */
    size_t content_len;
    char sender[64];
};

static int
s_find_in(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_find *f = arg;

    if (it->msg_id.len != 16 || memcmp(it->msg_id.data, f->id, 16) != 0)
        return 0;
    f->n++;
    f->pseudonym_len = it->subject_pseudonym.len;
    if (it->subject_pseudonym.len <= sizeof(f->pseudonym))
        memcpy(f->pseudonym, it->subject_pseudonym.data,
               it->subject_pseudonym.len);
    free(f->content);
    f->content = malloc(it->content.len + 1);
    if (f->content != NULL)
        memcpy(f->content, it->content.data, it->content.len);
    f->content_len = it->content.len;
    snprintf(f->sender, sizeof(f->sender), "%s", it->sender ? it->sender : "");
    return 0;
}

static int
s_find_out(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_find *f = arg;

    if (it->msg_id.len != 16 || memcmp(it->msg_id.data, f->id, 16) != 0)
        return 0;
    f->n++;
    f->outcome = it->outcome;
    f->reason = it->reason;
    return 0;
}

static bool
s_in_inbox(kr_client_t *kc, struct s_find *f)
{
    f->n = 0;
    return h_inbox_foreach(kc, s_find_in, f) == KR_OK && f->n > 0;
}

static bool
s_delivered(kr_client_t *kc, struct s_find *f)
{
    f->n = 0;
    return h_outbox_foreach(kc, s_find_out, f) == KR_OK && f->n > 0 &&
           f->outcome == KR__V1__OUTCOME__DELIVERED;
}

/* The one element of a krctl JSON array with this msg_id; counts them. */
static json_object *
s_by_msg_id(json_object *arr, const char *hex, int *count)
{
    json_object *found = NULL;

    *count = 0;
    if (arr == NULL || !json_object_is_type(arr, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        const char *id = h_json_str(it, "msg_id");
        if (id != NULL && strcmp(id, hex) == 0) {
            (*count)++;
            found = it;
        }
    }
    return found;
}

/* A long poll on an inbox: the node's answer, and how long it took. */
struct s_wait {
    const char *endpoint;
    uint64_t after;
    uint32_t wait_ms;
    int rc;
    Kr__V1__LocalResponse *resp;
    uint64_t took_ms;
};

static void *
s_wait_inbox(void *arg)
{
    struct s_wait *w = arg;
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    kr_client_t *kc = NULL;
    uint8_t buf[64], *out = NULL;
    size_t len, olen = 0;
    uint64_t t0 = h_mono_ms();

    w->resp = NULL;
    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_INBOX;
    req.inbox = &lr;
    lr.after_seq = w->after;
    lr.wait_ms = w->wait_ms;
    len = kr__v1__local_request__pack(&req, buf);
    /* The client's own bound lies past the wait: the node must answer. */
    w->rc = kr_client_connect(w->endpoint, (int)w->wait_ms + 10000, &kc);
    if (w->rc == KR_OK)
        w->rc = kr_call(kc, buf, len, &out, &olen);
    if (w->rc == KR_OK) {
        w->resp = kr__v1__local_response__unpack(NULL, olen, out);
        if (w->resp == NULL)
            w->rc = KR_EPROTO;
    }
    kr_buf_free(out);
    kr_client_destroy(&kc);
    w->took_ms = h_mono_ms() - t0;
    return NULL;
}

static int
s_max_seq(const Kr__V1__InboxItem *it, void *arg)
{
    uint64_t *max = arg;

    if (it->seq > *max)
        *max = it->seq;
    return 0;
}

/* ListRequest.wait_ms, through libkr and krctl. */
static void
s_long_poll(struct h_cluster *c, int vl, int jgz, kr_client_t *kj,
            const char *file)
{
    struct s_wait w = {.endpoint = c->nodes[jgz].local, .wait_ms = 300};
    struct h_run r;
    char hex[33], after[24];
    pthread_t th;

    h_note("== an adapter waits on the inbox instead of polling");
    H_REQUIRE(h_inbox_foreach_all(kj, s_max_seq, &w.after) == KR_OK,
              "JGZ's last arrival number");
    /* Nothing comes: an empty page, at the deadline and not before. */
    s_wait_inbox(&w);
    H_CHECK(w.rc == KR_OK && w.resp != NULL && w.resp->error == 0 &&
                w.resp->n_inbox == 0 && w.took_ms >= 250 && w.took_ms < 5000,
            "wait_ms 300 with nothing new: an empty page after %llu ms "
            "(%s)",
            (unsigned long long)w.took_ms, kr_strerror(w.rc));
    if (w.resp != NULL)
        kr__v1__local_response__free_unpacked(w.resp, NULL);

    /* Something comes: the waiting request is answered with it, long
     * before its deadline. */
    w.wait_ms = 20000;
    H_REQUIRE(pthread_create(&th, NULL, s_wait_inbox, &w) == 0,
              "start the waiting adapter");
    s_krctl_send(c, vl, file, hex);
    pthread_join(th, NULL);
    char got[33] = "";
    if (w.resp != NULL && w.resp->n_inbox == 1 &&
        w.resp->inbox[0]->msg_id.len == 16)
        util_hex(w.resp->inbox[0]->msg_id.data, 16, got);
    H_CHECK(w.rc == KR_OK && w.resp != NULL && w.resp->n_inbox == 1 &&
                strcmp(got, hex) == 0 && w.took_ms < 15000,
            "wait_ms 20000: answered with the new referral after %llu ms "
            "(%s, %zu items)",
            (unsigned long long)w.took_ms, kr_strerror(w.rc),
            w.resp != NULL ? w.resp->n_inbox : 0);
    if (w.resp != NULL)
        kr__v1__local_response__free_unpacked(w.resp, NULL);

    /* The same from the command line. */
    w.after = 0;
    H_REQUIRE(h_inbox_foreach_all(kj, s_max_seq, &w.after) == KR_OK,
              "JGZ's last arrival number");
    snprintf(after, sizeof(after), "%llu", (unsigned long long)w.after);
    uint64_t t0 = h_mono_ms();
    h_krctl(&r, "--node", c->nodes[jgz].local, "inbox", "--after", after,
            "--wait", "200", NULL);
    uint64_t took = h_mono_ms() - t0;
    H_CHECK(r.code == 0 && strncmp(r.out, "[", 1) == 0 &&
                strspn(r.out + 1, " \n") + 1 == strcspn(r.out, "]") &&
                took >= 150,
            "krctl inbox --wait 200 with nothing new: [] after %llu ms "
            "(exit %d)",
            (unsigned long long)took, r.code);
    h_run_free(&r);
    h_krctl(&r, "--node", c->nodes[vl].local, "receipts", "--wait", "5", NULL);
    H_CHECK(r.code == 2, "krctl receipts --wait: a usage error (exit %d)",
            r.code);
    h_run_free(&r);
}

static void
s_check_json_str(json_object *o, const char *path, const char *want)
{
    const char *got = h_json_str(o, path);

    /* Values are test person data: named, not printed. */
    H_CHECK(got != NULL && strcmp(got, want) == 0,
            "krctl inbox: %s equals what was sent", path);
}

/* The size of a file, 0 if it is not there. */
static uint64_t
s_file_size(const char *dir, const char *name)
{
    char path[H_PATH + 32];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

int
main(void)
{
    struct h_cluster c;
    struct h_referral ref;
    struct h_run r;
    struct s_find in, out;
    char file[H_PATH + 32], file2[H_PATH + 32], hex[33], hex2[33], hex3[33];
    bool ok;

    h_init("handoff", 120);
    h_referral_default(&ref);
    h_cluster_init(&c, "handoff");
    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde",
                       "Verloskundigenpraktijk De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_set(&c, jgz, "prefill_mb", "4");
    h_node_start(&c, vl);
    h_node_start(&c, jgz);
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, jgz, H_CONNECT_MS))
        h_abort();
    /* Deny by default: the woman's consent comes first. */
    H_REQUIRE(h_consent_default(&c, vl, jgz), "consent recorded");

    /* The store files are written ahead of use: the defaults (broker 64
     * MiB, node 16 MiB) and a node's own prefill_mb. */
    H_POLL(ok, H_CONNECT_MS,
           s_file_size(c.broker_dir, "data.mdb") >= (64u << 20) &&
               s_file_size(c.nodes[vl].dir, "node.mdb") >= (16u << 20) &&
               s_file_size(c.nodes[jgz].dir, "node.mdb") >= (4u << 20));
    H_CHECK(ok, "store files written ahead: broker %llu, vl %llu, jgz %llu",
            (unsigned long long)s_file_size(c.broker_dir, "data.mdb"),
            (unsigned long long)s_file_size(c.nodes[vl].dir, "node.mdb"),
            (unsigned long long)s_file_size(c.nodes[jgz].dir, "node.mdb"));
    H_CHECK(s_file_size(c.nodes[jgz].dir, "node.mdb") < (8u << 20),
            "jgz's prefill_mb = 4 holds: node.mdb is %llu bytes",
            (unsigned long long)s_file_size(c.nodes[jgz].dir, "node.mdb"));

    /* The directory as the administrator sees it. */
    h_krctl(&r, "--admin", c.admin, "org", "list", "--json", NULL);
    json_object *orgs = json_tokener_parse(r.out);
    H_CHECK(r.code == 0 && orgs != NULL &&
                json_object_is_type(orgs, json_type_array) &&
                json_object_array_length(orgs) == 2,
            "krctl org list --json: exit 0, an array of 2 organisations "
            "(exit %d)",
            r.code);
    bool seen_vl = false, seen_jgz = false;
    for (size_t i = 0;
         orgs != NULL && json_object_is_type(orgs, json_type_array) &&
         i < json_object_array_length(orgs);
         i++) {
        json_object *o = json_object_array_get_idx(orgs, i);
        const char *id = h_json_str(o, "org_id");
        const char *cat = h_json_str(o, "category");
        if (id && cat && !strcmp(id, S_VL_ORG) && !strcmp(cat, "verloskunde"))
            seen_vl = true;
        if (id && cat && !strcmp(id, S_JGZ_ORG) && !strcmp(cat, "jgz"))
            seen_jgz = true;
    }
    H_CHECK(seen_vl && seen_jgz,
            "org list names both organisations with their categories");
    json_object_put(orgs);
    h_run_free(&r);

    /* The referral, through the command line. */
    snprintf(file, sizeof(file), "%s/referral.json", c.tmp);
    char *text = s_referral_json(&ref, NULL);
    H_REQUIRE(text != NULL && h_write_file(file, text, 0600) == KR_OK,
              "write %s", file);
    free(text);
    s_krctl_send(&c, vl, file, hex);
    H_REQUIRE(hex[0] != '\0', "a msg_id to follow");
    memset(&in, 0, sizeof(in));
    memset(&out, 0, sizeof(out));
    H_REQUIRE(util_unhex(hex, in.id, 16) == KR_OK, "msg_id is hex");
    memcpy(out.id, in.id, 16);

    kr_client_t *kj = h_node_client(&c, jgz), *kv = h_node_client(&c, vl);
    H_POLL(ok, 20000, s_in_inbox(kj, &in));
    H_REQUIRE(ok, "the referral arrives in JGZ's inbox");
    H_CHECK(in.n == 1, "it is there exactly once (%u)", in.n);
    H_CHECK(strcmp(in.sender, S_VL_ORG) == 0, "its sender is %s", S_VL_ORG);
    h_content_compare(in.content, in.content_len, &ref, "libkr inbox");

    /* The subject: a keyed pseudonym of 32 bytes, not the BSN. */
    kr_coalition_key_t *ck = NULL;
    uint8_t want[KR_PSEUDONYM_LEN];
    H_REQUIRE(kcrypto_coalition_key_load(c.coalition, &ck) == KR_OK,
              "load the coalition key");
    H_REQUIRE(kcrypto_pseudonym(ck, ref.bsn, want) == KR_OK,
              "compute the expected pseudonym");
    kcrypto_coalition_key_destroy(&ck);
    H_CHECK(in.pseudonym_len == KR_PSEUDONYM_LEN,
            "subject_pseudonym is 32 bytes (%zu)", in.pseudonym_len);
    H_CHECK(memmem(in.pseudonym, in.pseudonym_len, ref.bsn, strlen(ref.bsn)) ==
                    NULL &&
                memcmp(in.pseudonym, want, sizeof(want)) == 0,
            "subject_pseudonym is HMAC(coalition key, \"nl:bsn:\" || BSN), "
            "not the BSN");

    /* The same message as the JGZ operator reads it. */
    h_krctl(&r, "--node", c.nodes[jgz].local, "inbox", "--all", NULL);
    json_object *inbox = json_tokener_parse(r.out);
    int count = 0;
    json_object *item = s_by_msg_id(inbox, hex, &count);
    H_CHECK(r.code == 0 && item != NULL && count == 1,
            "krctl inbox --all: exit 0 and the msg_id exactly once (exit %d, "
            "found %d)",
            r.code, count);
    if (item != NULL) {
        const char *ps = h_json_str(item, "subject_pseudonym");
        H_CHECK(ps != NULL && strlen(ps) == 64 && strstr(ps, ref.bsn) == NULL,
                "krctl inbox: subject_pseudonym is 64 hex digits, not the "
                "BSN");
        s_check_json_str(item, "sender", S_VL_ORG);
        s_check_json_str(item, "type", "referral");
        s_check_json_str(item, "purpose", "prenataal-huisbezoek");
        s_check_json_str(item, "data_category", "medisch");
        s_check_json_str(item, "legal_basis", "consent");
        s_check_json_str(item, "content.referral.mother.bsn", ref.bsn);
        s_check_json_str(item, "content.referral.mother.given_name",
                         ref.given_name);
        s_check_json_str(item, "content.referral.mother.family_name",
                         ref.family_name);
        s_check_json_str(item, "content.referral.mother.birth_date",
                         ref.birth_date);
        s_check_json_str(item, "content.referral.mother.phone", ref.phone);
        s_check_json_str(item, "content.referral.mother.address.street",
                         ref.street);
        s_check_json_str(item, "content.referral.mother.address.house_number",
                         ref.house_number);
        s_check_json_str(item, "content.referral.mother.address.postal_code",
                         ref.postal_code);
        s_check_json_str(item, "content.referral.mother.address.city",
                         ref.city);
        s_check_json_str(item, "content.referral.expected_delivery_date",
                         ref.expected_delivery_date);
        s_check_json_str(item, "content.referral.reason_codes.0",
                         ref.reason_codes[0]);
        s_check_json_str(item, "content.referral.reason_codes.1",
                         ref.reason_codes[1]);
        s_check_json_str(item, "content.referral.reason_codes.2",
                         ref.reason_codes[2]);
        json_object *codes = h_json_path(item, "content.referral.reason_codes");
        H_CHECK(codes != NULL && json_object_is_type(codes, json_type_array) &&
                    json_object_array_length(codes) == ref.n_reason_codes,
                "krctl inbox: exactly %zu reason codes", ref.n_reason_codes);
        s_check_json_str(item, "content.referral.reason_text", ref.reason_text);
        s_check_json_str(item, "content.referral.requested_service",
                         ref.requested_service);
        s_check_json_str(item, "content.referral.urgency", "routine");
        s_check_json_str(item, "content.referral.referrer.name", ref.ref_name);
        s_check_json_str(item, "content.referral.referrer.role", ref.ref_role);
        s_check_json_str(item, "content.referral.referrer.phone",
                         ref.ref_phone);
        s_check_json_str(item, "content.referral.referrer.email",
                         ref.ref_email);
        s_check_json_str(item, "content.referral.referrer.agb", ref.ref_agb);
    }
    json_object_put(inbox);
    h_run_free(&r);

    /* The sender learns the outcome: delivered, once. */
    H_POLL(ok, 20000, s_delivered(kv, &out));
    H_CHECK(ok, "the sender's outbox says delivered (outcome %d)", out.outcome);
    h_krctl(&r, "--node", c.nodes[vl].local, "receipts", NULL);
    json_object *rec = json_tokener_parse(r.out);
    item = s_by_msg_id(rec, hex, &count);
    const char *outcome = item ? h_json_str(item, "outcome") : NULL;
    H_CHECK(r.code == 0 && count == 1 && outcome != NULL &&
                strcmp(outcome, "delivered") == 0,
            "krctl receipts: the msg_id once, outcome \"delivered\" (exit %d, "
            "found %d, outcome %s)",
            r.code, count, outcome ? outcome : "(none)");
    const char *rcpt = item ? h_json_str(item, "recipient") : NULL;
    H_CHECK(rcpt != NULL && strcmp(rcpt, S_JGZ_ORG) == 0,
            "krctl receipts: recipient is %s", S_JGZ_ORG);
    json_object_put(rec);
    h_run_free(&r);

    /* A send repeated with its own msg_id is one message, not two. */
    struct h_referral ref2 = ref;
    ref2.reason_text = "Tweede verwijzing, met een eigen msg_id.";
    uint8_t id2[16];
    util_random_id(id2);
    util_hex(id2, 16, hex2);
    snprintf(file2, sizeof(file2), "%s/referral-id.json", c.tmp);
    text = s_referral_json(&ref2, hex2);
    H_REQUIRE(text != NULL && h_write_file(file2, text, 0600) == KR_OK,
              "write %s", file2);
    free(text);
    s_krctl_send(&c, vl, file2, hex3);
    H_CHECK(strcmp(hex3, hex2) == 0, "krctl send prints the given msg_id");
    struct s_find in2, out2;
    memset(&in2, 0, sizeof(in2));
    memset(&out2, 0, sizeof(out2));
    memcpy(in2.id, id2, 16);
    memcpy(out2.id, id2, 16);
    H_POLL(ok, 20000, s_delivered(kv, &out2));
    H_CHECK(ok, "the second referral is delivered");
    s_krctl_send(&c, vl, file2, hex3);
    H_CHECK(strcmp(hex3, hex2) == 0,
            "repeating the send returns the same msg_id");
    /* Give a wrongly duplicated message every chance to arrive: the
     * sender's node has nothing pending or open any more. */
    struct h_status st;
    H_POLL(ok, 10000,
           h_status(kv, &st) == KR_OK && st.outbox_pending == 0 &&
               st.outbox_open == 0);
    H_CHECK(ok, "the sender has nothing pending or open");
    s_in_inbox(kj, &in2);
    H_CHECK(in2.n == 1, "JGZ holds the repeated send exactly once (%u)", in2.n);
    h_content_compare(in2.content, in2.content_len, &ref2, "second referral");
    s_delivered(kv, &out2);
    H_CHECK(out2.n == 1, "the sender's outbox holds it once (%u)", out2.n);
    size_t total = 0;
    int rc = h_inbox_count(kj, &total);
    H_CHECK(rc == KR_OK && total == 2,
            "JGZ's inbox holds exactly 2 messages (%zu)", total);

    /* The first description has no msg_id: krctl derives it from the
     * file, so running the same send again is the same message. */
    s_krctl_send(&c, vl, file, hex3);
    H_CHECK(strcmp(hex3, hex) == 0,
            "krctl send of the same file again prints the first msg_id "
            "(%s, %s)",
            hex3, hex);
    {
        struct h_run rn;
        h_krctl(&rn, "--node", c.nodes[vl].local, "send", "--new", file, NULL);
        H_CHECK(rn.code == 0 && strncmp(rn.out, hex, 32) != 0,
                "krctl send --new of that file is a new message (exit %d)",
                rn.code);
        h_run_free(&rn);
    }
    H_POLL(ok, 10000,
           h_status(kv, &st) == KR_OK && st.outbox_pending == 0 &&
               st.outbox_open == 0);
    rc = h_inbox_count(kj, &total);
    H_CHECK(rc == KR_OK && total == 3,
            "JGZ's inbox holds 3 messages: the re-run was not sent twice, "
            "--new was sent (%zu)",
            total);

    /* A new description for the long poll: a new message. */
    struct h_referral ref3 = ref;
    ref3.reason_text = "Derde verwijzing, voor de long poll.";
    snprintf(file2, sizeof(file2), "%s/referral-poll.json", c.tmp);
    text = s_referral_json(&ref3, NULL);
    H_REQUIRE(text != NULL && h_write_file(file2, text, 0600) == KR_OK,
              "write %s", file2);
    free(text);
    s_long_poll(&c, vl, jgz, kj, file2);

    /* Status through the command line. */
    h_krctl(&r, "--node", c.nodes[jgz].local, "status", NULL);
    json_object *sj = json_tokener_parse(r.out);
    json_object *conn = h_json_path(sj, "connected");
    H_CHECK(r.code == 0 && conn != NULL && json_object_get_boolean(conn),
            "krctl status: exit 0, connected true");
    json_object_put(sj);
    h_run_free(&r);

    free(in.content);
    free(in2.content);
    return h_finish(&c);
}
