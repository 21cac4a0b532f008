/*
 * harness_kr.c - the tests' adapter side: build referrals and consents,
 * send them through libkr, and count ids (what a node's inbox and outbox
 * then hold: harness_box.c).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "harness.h"
#include "harness_internal.h"
#include "util.h"

void
h_referral_default(struct h_referral *r)
{
    memset(r, 0, sizeof(*r));
    r->bsn = "111222333";
    r->given_name = "Fatima";
    r->family_name = "Zwartkruis-Elbaz";
    r->birth_date = "1994-03-17";
    r->street = "Kastanjelaan";
    r->house_number = "12bis";
    r->postal_code = "3511 AB";
    r->city = "Utrecht";
    r->phone = "+31612345678";
    r->expected_delivery_date = "2026-08-01";
    r->reason_codes[0] = "psychosociaal";
    r->reason_codes[1] = "financiele-zorgen";
    r->reason_codes[2] = "eerste-kind";
    r->n_reason_codes = 3;
    r->reason_text = "Zwangere met weinig steun uit het netwerk; wil graag "
                     "een huisbezoek voor de geboorte. Toestemming gegeven.";
    r->requested_service = "prenataal-huisbezoek";
    r->urgency = KR__V1__PRIORITY__ROUTINE;
    r->ref_name = "J. de Vries";
    r->ref_role = "verloskundige";
    r->ref_phone = "+31301234567";
    r->ref_email = "j.devries@dewieg.example";
    r->ref_agb = "02345678";
}

int
h_content_pack(const struct h_referral *r, uint8_t **out, size_t *len)
{
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__Referral ref = KR__V1__REFERRAL__INIT;
    Kr__V1__Person m = KR__V1__PERSON__INIT;
    Kr__V1__Address a = KR__V1__ADDRESS__INIT;
    Kr__V1__Professional p = KR__V1__PROFESSIONAL__INIT;

    a.street = (char *)r->street;
    a.house_number = (char *)r->house_number;
    a.postal_code = (char *)r->postal_code;
    a.city = (char *)r->city;
    m.bsn = (char *)r->bsn;
    m.given_name = (char *)r->given_name;
    m.family_name = (char *)r->family_name;
    m.birth_date = (char *)r->birth_date;
    m.address = &a;
    m.phone = (char *)r->phone;
    p.name = (char *)r->ref_name;
    p.role = (char *)r->ref_role;
    p.phone = (char *)r->ref_phone;
    p.email = (char *)r->ref_email;
    p.agb = (char *)r->ref_agb;
    ref.mother = &m;
    ref.expected_delivery_date = (char *)r->expected_delivery_date;
    ref.reason_codes = (char **)r->reason_codes;
    ref.n_reason_codes = r->n_reason_codes;
    ref.reason_text = (char *)r->reason_text;
    ref.requested_service = (char *)r->requested_service;
    ref.urgency = r->urgency;
    ref.referrer = &p;
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_REFERRAL;
    c.referral = &ref;

    *len = kr__v1__content__get_packed_size(&c);
    if ((*out = malloc(*len > 0 ? *len : 1)) == NULL)
        return KR_ENOMEM;
    kr__v1__content__pack(&c, *out);
    return KR_OK;
}

static int
s_cmp(const char *what, const char *field, const char *got, const char *want)
{
    bool same = got != NULL && want != NULL && strcmp(got, want) == 0;

    /* Never print the values: a failing test's output ends up in CI logs,
     * and these are (test) person data. */
    H_CHECK(same, "%s: %s equals what was sent", what, field);
    return same ? 0 : 1;
}

int
h_content_compare(const uint8_t *content, size_t len,
                  const struct h_referral *r, const char *what)
{
    Kr__V1__Content *c = kr__v1__content__unpack(NULL, len, content);
    int bad = 0;

    if (!H_CHECK(c != NULL && c->body_case == KR__V1__CONTENT__BODY_REFERRAL &&
                     c->referral != NULL && c->referral->mother != NULL &&
                     c->referral->mother->address != NULL &&
                     c->referral->referrer != NULL,
                 "%s: content parses as a referral with mother, address "
                 "and referrer",
                 what)) {
        if (c != NULL)
            kr__v1__content__free_unpacked(c, NULL);
        return 1;
    }
    const Kr__V1__Referral *f = c->referral;
    const Kr__V1__Person *m = f->mother;
    const Kr__V1__Professional *p = f->referrer;
    bad += s_cmp(what, "mother.bsn", m->bsn, r->bsn);
    bad += s_cmp(what, "mother.given_name", m->given_name, r->given_name);
    bad += s_cmp(what, "mother.family_name", m->family_name, r->family_name);
    bad += s_cmp(what, "mother.birth_date", m->birth_date, r->birth_date);
    bad += s_cmp(what, "mother.phone", m->phone, r->phone);
    bad += s_cmp(what, "address.street", m->address->street, r->street);
    bad += s_cmp(what, "address.house_number", m->address->house_number,
                 r->house_number);
    bad += s_cmp(what, "address.postal_code", m->address->postal_code,
                 r->postal_code);
    bad += s_cmp(what, "address.city", m->address->city, r->city);
    bad += s_cmp(what, "expected_delivery_date", f->expected_delivery_date,
                 r->expected_delivery_date);
    bad += s_cmp(what, "reason_text", f->reason_text, r->reason_text);
    bad += s_cmp(what, "requested_service", f->requested_service,
                 r->requested_service);
    bool codes = f->n_reason_codes == r->n_reason_codes;
    for (size_t i = 0; codes && i < f->n_reason_codes; i++)
        codes = strcmp(f->reason_codes[i], r->reason_codes[i]) == 0;
    H_CHECK(codes, "%s: reason_codes equal what was sent (%zu codes)", what,
            f->n_reason_codes);
    bad += codes ? 0 : 1;
    H_CHECK((int)f->urgency == r->urgency, "%s: urgency equals what was sent",
            what);
    bad += (int)f->urgency == r->urgency ? 0 : 1;
    bad += s_cmp(what, "referrer.name", p->name, r->ref_name);
    bad += s_cmp(what, "referrer.role", p->role, r->ref_role);
    bad += s_cmp(what, "referrer.phone", p->phone, r->ref_phone);
    bad += s_cmp(what, "referrer.email", p->email, r->ref_email);
    bad += s_cmp(what, "referrer.agb", p->agb, r->ref_agb);
    kr__v1__content__free_unpacked(c, NULL);
    return bad;
}

int
h_send_referral(kr_client_t *kc, const char *recipient,
                const struct h_referral *r, const uint8_t *msg_id_in,
                uint8_t msg_id[16])
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    uint8_t *content = NULL;
    size_t clen = 0;
    int rc;

    if ((rc = h_content_pack(r, &content, &clen)) != KR_OK)
        return rc;
    s.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    s.recipient = (char *)recipient;
    if (msg_id_in != NULL) {
        s.msg_id.data = (uint8_t *)msg_id_in;
        s.msg_id.len = 16;
    }
    s.subject_bsn = (char *)r->bsn;
    s.purpose = (char *)"prenataal-huisbezoek";
    s.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.priority = KR__V1__PRIORITY__ROUTINE;
    s.content.data = content;
    s.content.len = clen;
    rc = h_send_request(kc, &s, msg_id);
    free(content);
    return rc;
}

/*
 * Id sets: open addressing on the id's first bytes (they are random).
 */

struct h_idset_slot {
    uint8_t id[16];
    unsigned count; /* 0: free */
};

void
h_idset_init(struct h_idset *s)
{
    memset(s, 0, sizeof(*s));
}

void
h_idset_free(struct h_idset *s)
{
    free(s->slots);
    memset(s, 0, sizeof(*s));
}

static size_t
s_hash(const uint8_t id[16])
{
    size_t h = 1469598103u;

    for (int i = 0; i < 16; i++)
        h = (h ^ id[i]) * 16777619u;
    return h;
}

static struct h_idset_slot *
s_slot(const struct h_idset *s, const uint8_t id[16])
{
    size_t i = s_hash(id) & (s->cap - 1);

    for (size_t k = 0; k < s->cap; k++, i = (i + 1) & (s->cap - 1))
        if (s->slots[i].count == 0 || memcmp(s->slots[i].id, id, 16) == 0)
            return &s->slots[i];
    return NULL;
}

unsigned
h_idset_add(struct h_idset *s, const uint8_t id[16])
{
    struct h_idset_slot *sl;

    if (2 * (s->n + 1) > s->cap) {
        struct h_idset old = *s;
        s->cap = s->cap ? 2 * s->cap : 64;
        s->slots = calloc(s->cap, sizeof(*s->slots));
        H_ENSURE(s->slots != NULL, "memory for an id set");
        s->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i].count != 0) {
                sl = s_slot(s, old.slots[i].id);
                *sl = old.slots[i];
                s->n++;
            }
        free(old.slots);
    }
    sl = s_slot(s, id);
    if (sl->count == 0) {
        memcpy(sl->id, id, 16);
        s->n++;
    }
    return ++sl->count;
}

unsigned
h_idset_count(const struct h_idset *s, const uint8_t id[16])
{
    const struct h_idset_slot *sl;

    if (s->cap == 0)
        return 0;
    sl = s_slot(s, id);
    return sl != NULL ? sl->count : 0;
}

const char *
h_hex16(const uint8_t id[16], char buf[33])
{
    return util_hex(id, 16, buf);
}

json_object *
h_json_path(json_object *o, const char *path)
{
    char buf[256], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k != NULL && o != NULL;
         k = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array)) {
            char *end;
            long i = strtol(k, &end, 10);
            if (*end != '\0' || i < 0 ||
                (size_t)i >= json_object_array_length(o))
                return NULL;
            o = json_object_array_get_idx(o, (size_t)i);
        } else if (!json_object_object_get_ex(o, k, &o)) {
            return NULL;
        }
    }
    return o;
}

const char *
h_json_str(json_object *o, const char *path)
{
    json_object *v = h_json_path(o, path);

    return v != NULL && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

int
h_send_request(kr_client_t *kc, Kr__V1__SendRequest *s, uint8_t msg_id[16])
{
    Kr__V1__LocalRequest req = KR__V1__LOCAL_REQUEST__INIT;
    uint8_t *buf;
    size_t len;
    int rc;

    req.version = KR__V1__VERSION__VERSION_1;
    req.op_case = KR__V1__LOCAL_REQUEST__OP_SEND;
    req.send = s;
    len = kr__v1__local_request__get_packed_size(&req);
    if ((buf = malloc(len)) == NULL)
        return KR_ENOMEM;
    kr__v1__local_request__pack(&req, buf);
    rc = kr_send(kc, buf, len, msg_id);
    free(buf);
    return rc;
}

int
h_send_consent(kr_client_t *kc, const struct h_consent *g,
               uint8_t consent_out[16], uint8_t msg_id[16])
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__ConsentEvidence ev = KR__V1__CONSENT_EVIDENCE__INIT;
    uint8_t cid[16], *content;
    size_t clen;
    int rc;

    if (g->consent_id != NULL)
        memcpy(cid, g->consent_id, 16);
    else
        util_random_id(cid);
    if (consent_out != NULL)
        memcpy(consent_out, cid, 16);
    sc.consent_id.data = cid;
    sc.consent_id.len = 16;
    sc.purpose = (char *)(g->purpose ? g->purpose : "prenataal-huisbezoek");
    sc.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    sc.from_org = (char *)g->from_org;
    if (g->to_org != NULL)
        sc.to_org = (char *)g->to_org;
    else
        sc.to_category = g->to_category;
    sc.valid_from_ms = g->from_ms;
    sc.valid_until_ms = g->until_ms;
    sc.grantor = KR__V1__GRANTOR__SELF;
    if (g->supersedes != NULL) {
        sc.supersedes.data = (uint8_t *)g->supersedes;
        sc.supersedes.len = 16;
    }
    /* The evidence is sealed: fictional, and never seen by the broker. */
    ev.given_on = "2026-11-23";
    ev.given_by_name = "A. Voorbeeld";
    ev.given_by_role = "zwangere";
    ev.form_reference = "epd:toestemming/0001";
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_CONSENT_EVIDENCE;
    c.consent_evidence = &ev;
    clen = kr__v1__content__get_packed_size(&c);
    if ((content = malloc(clen)) == NULL)
        return KR_ENOMEM;
    kr__v1__content__pack(&c, content);
    s.type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT;
    s.recipient = (char *)g->recipient;
    s.subject_bsn = (char *)g->bsn;
    s.purpose = sc.purpose;
    s.data_category = sc.data_category;
    s.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    s.consent_id = sc.consent_id;
    s.consent_scope = &sc;
    s.content.data = content;
    s.content.len = clen;
    rc = h_send_request(kc, &s, msg_id);
    free(content);
    return rc;
}

int
h_send_revoke(kr_client_t *kc, const char *recipient,
              const uint8_t consent_id[16], uint8_t msg_id[16])
{
    Kr__V1__SendRequest s = KR__V1__SEND_REQUEST__INIT;
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    uint8_t content[64];
    static const char note[] = "revoked at the woman's request";

    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_OPAQUE;
    c.opaque.data = (uint8_t *)note;
    c.opaque.len = sizeof(note) - 1;
    s.type = KR__V1__MESSAGE_TYPE__CONSENT_REVOKE;
    s.recipient = (char *)recipient;
    s.consent_id.data = (uint8_t *)consent_id;
    s.consent_id.len = 16;
    s.content.data = content;
    s.content.len = kr__v1__content__pack(&c, content);
    return h_send_request(kc, &s, msg_id);
}

void
h_bsn(int n, char out[10])
{
    for (int k = 0; k < 1000; k++) {
        unsigned base = 23456700u + (unsigned)(n * 1000 + k) * 7u;
        int sum = 0, d9;
        snprintf(out, 10, "%08u", base % 100000000u);
        for (int i = 0; i < 8; i++)
            sum += (9 - i) * (out[i] - '0');
        d9 = sum % 11;
        if (d9 > 9)
            continue;
        out[8] = (char)('0' + d9);
        out[9] = '\0';
        if (kcrypto_bsn_valid(out))
            return;
    }
    H_ENSURE(false, "a valid BSN for %d", n);
}

long long
h_krctl_queue(struct h_cluster *c, const char *org, const char *key)
{
    struct h_run r;
    long long v = -1;

    h_krctl(&r, "--admin", c->admin, "queues", "--json", NULL);
    json_object *q = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    for (size_t i = 0; q != NULL && json_object_is_type(q, json_type_array) &&
                       i < json_object_array_length(q);
         i++) {
        json_object *e = json_object_array_get_idx(q, i);
        const char *id = h_json_str(e, "org_id");
        json_object *x = h_json_path(e, key);
        if (id != NULL && strcmp(id, org) == 0 && x != NULL)
            v = (long long)json_object_get_int64(x);
    }
    json_object_put(q);
    h_run_free(&r);
    return v;
}
