/*
 * test_json_map_views.c - krctl's JSON <-> protobuf mapping of what a node
 * lists: inbox and outbox items (a referral, a consent, a broker's
 * notice), consent records and audit records, each field as JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_map.h"
#include "json_map_samples.h"
#include "util.h"
#include "kr.h"
#include "local.pb-c.h"
#include "store.pb-c.h"

static void
test_inbox_item(void **state)
{
    json_object *in = s_load(s_full), *o, *v, *ref;
    Kr__V1__LocalRequest *lr;
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    uint8_t id[16], pseud[32];
    int ok = -1;

    (void)state;
    lr = s_through_bytes(in);
    memset(id, 0xab, sizeof(id));
    memset(pseud, 0x5c, sizeof(pseud));
    it.msg_id = (ProtobufCBinaryData){16, id};
    it.sender = "ura:12345678";
    it.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    it.subject_pseudonym = (ProtobufCBinaryData){32, pseud};
    it.purpose = "prenataal-huisbezoek";
    it.created_at_ms = 1798675200000ull;
    it.received_at_ms = 1798675200123ull;
    it.seq = 7;
    it.priority = KR__V1__PRIORITY__ROUTINE;
    it.content = lr->send->content;

    o = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 1);
    assert_true(json_object_object_get_ex(o, "msg_id", &v));
    assert_string_equal(json_object_get_string(v),
                        "abababababababababababababababab");
    assert_true(json_object_object_get_ex(o, "seq", &v));
    assert_int_equal(json_object_get_uint64(v), 7);
    assert_true(json_object_object_get_ex(o, "type", &v));
    assert_string_equal(json_object_get_string(v), "referral");
    assert_true(json_object_object_get_ex(o, "received_at", &v));
    assert_string_equal(json_object_get_string(v), "2026-12-31T00:00:00.123Z");
    /* Absent fields are present as null: one stable shape. */
    assert_true(json_object_object_get_ex(o, "referral_id", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "legal_basis", &v));
    assert_null(v);
    /* The content is the opened referral, as the sender described it. */
    assert_true(json_object_object_get_ex(o, "content", &v));
    assert_true(json_object_object_get_ex(v, "referral", &ref));
    {
        json_object *want;
        json_object_object_get_ex(in, "referral", &want);
        assert_true(json_object_equal(ref, want));
    }
    json_object_put(o);

    /* Content that is not a kr.v1.Content is reported, not hidden. */
    it.content = (ProtobufCBinaryData){3, (uint8_t *)"\xff\xff\xff"};
    o = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 0);
    assert_true(json_object_object_get_ex(o, "content", &v));
    assert_null(v);
    json_object_put(o);

    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);
}

static void
test_outbox_item(void **state)
{
    Kr__V1__OutboxItem it = KR__V1__OUTBOX_ITEM__INIT;
    uint8_t id[16] = {0};
    json_object *o, *v;

    (void)state;
    it.msg_id = (ProtobufCBinaryData){16, id};
    it.recipient = "ura:87654321";
    it.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    o = json_map_outbox_item(&it);
    assert_true(json_object_object_get_ex(o, "outcome", &v));
    assert_string_equal(json_object_get_string(v), "pending");
    assert_true(json_object_object_get_ex(o, "reason", &v));
    assert_null(v);
    json_object_put(o);

    it.outcome = KR__V1__OUTCOME__REFUSED;
    it.reason = KR__V1__REASON__BAD_SIGNATURE;
    it.detail = "signature does not verify";
    it.final_at_ms = 1798675200000ull;
    o = json_map_outbox_item(&it);
    assert_true(json_object_object_get_ex(o, "outcome", &v));
    assert_string_equal(json_object_get_string(v), "refused");
    assert_true(json_object_object_get_ex(o, "reason", &v));
    assert_string_equal(json_object_get_string(v), "bad-signature");
    assert_true(json_object_object_get_ex(o, "final_at", &v));
    assert_string_equal(json_object_get_string(v), "2026-12-31T00:00:00Z");
    json_object_put(o);
}

/* A grant as a recipient's inbox shows it, and a notice from the broker. */
static void
test_inbox_consent_and_notice(void **state)
{
    json_object *in = s_load(s_grant), *o, *v, *n, *w;
    Kr__V1__LocalRequest *lr;
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__Notice nt = KR__V1__NOTICE__INIT;
    uint8_t id[16], cid[16], m1[16], m2[16];
    ProtobufCBinaryData ids[2];
    int ok = -1;

    (void)state;
    lr = s_through_bytes(in);
    memset(id, 0xab, sizeof(id));
    memset(cid, 0xc0, sizeof(cid));
    it.msg_id = (ProtobufCBinaryData){16, id};
    it.sender = "ura:00001234";
    it.type = KR__V1__MESSAGE_TYPE__CONSENT_GRANT;
    it.consent_id = (ProtobufCBinaryData){16, cid};
    it.content = lr->send->content;
    o = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 1);
    assert_true(json_object_object_get_ex(o, "consent_id", &v));
    assert_string_equal(json_object_get_string(v),
                        "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0");
    assert_true(json_object_object_get_ex(o, "notice", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "content", &v));
    assert_true(json_object_object_get_ex(v, "consent_evidence", &v));
    json_object_object_get_ex(in, "consent_evidence", &w);
    assert_true(json_object_equal(v, w));
    json_object_put(o);

    /* A notice: no sender, no content, the revoked consent and the
     * messages received under it. */
    memset(m1, 0x11, sizeof(m1));
    memset(m2, 0x22, sizeof(m2));
    ids[0] = (ProtobufCBinaryData){16, m1};
    ids[1] = (ProtobufCBinaryData){16, m2};
    nt.seq = 9;
    nt.notice_id = (ProtobufCBinaryData){16, id};
    nt.kind = KR__V1__NOTICE_KIND__NOTICE_CONSENT_REVOKED;
    nt.consent_id = (ProtobufCBinaryData){16, cid};
    nt.msg_ids = ids;
    nt.n_msg_ids = 2;
    nt.at_ms = 1798675200000ull;
    nt.revoked_by = "ura:00001234";
    kr__v1__inbox_item__init(&it);
    it.msg_id = nt.notice_id;
    it.type = KR__V1__MESSAGE_TYPE__CONSENT_REVOKE;
    it.consent_id = nt.consent_id;
    it.notice = &nt;
    o = json_map_inbox_item(&it, &ok);
    assert_int_equal(ok, 1);
    assert_true(json_object_object_get_ex(o, "sender", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "type", &v));
    assert_string_equal(json_object_get_string(v), "consent-revoke");
    assert_true(json_object_object_get_ex(o, "content", &v));
    assert_null(v);
    assert_true(json_object_object_get_ex(o, "notice", &n));
    assert_true(json_object_object_get_ex(n, "kind", &v));
    assert_string_equal(json_object_get_string(v), "consent-revoked");
    assert_true(json_object_object_get_ex(n, "consent_id", &v));
    assert_string_equal(json_object_get_string(v),
                        "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0");
    assert_true(json_object_object_get_ex(n, "msg_ids", &v));
    assert_int_equal(json_object_array_length(v), 2);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)),
                        "22222222222222222222222222222222");
    assert_true(json_object_object_get_ex(n, "revoked_by", &v));
    assert_string_equal(json_object_get_string(v), "ura:00001234");
    assert_true(json_object_object_get_ex(n, "at", &v));
    assert_string_equal(json_object_get_string(v), "2026-12-31T00:00:00Z");
    assert_false(json_object_object_get_ex(n, "timer", &v));
    json_object_put(o);

    /* A referral's escalation: its id, timer, step, state and lateness. */
    kr__v1__notice__init(&nt);
    nt.notice_id = (ProtobufCBinaryData){16, id};
    nt.kind = KR__V1__NOTICE_KIND__NOTICE_ESCALATION;
    nt.referral_id = (ProtobufCBinaryData){16, m1};
    nt.timer = "decide";
    nt.step = 2;
    nt.state = KR__V1__TASK_STATUS__TASK_RECEIVED;
    nt.due_at_ms = 1798675200000ull;
    nt.overdue_ms = 1500;
    nt.at_ms = 1798675201500ull;
    it.notice = &nt;
    o = json_map_inbox_item(&it, &ok);
    assert_true(json_object_object_get_ex(o, "notice", &n));
    assert_true(json_object_object_get_ex(n, "kind", &v));
    assert_string_equal(json_object_get_string(v), "escalation");
    assert_true(json_object_object_get_ex(n, "referral_id", &v));
    assert_string_equal(json_object_get_string(v),
                        "11111111111111111111111111111111");
    assert_true(json_object_object_get_ex(n, "timer", &v));
    assert_string_equal(json_object_get_string(v), "decide");
    assert_true(json_object_object_get_ex(n, "step", &v));
    assert_int_equal(json_object_get_int(v), 2);
    assert_true(json_object_object_get_ex(n, "state", &v));
    assert_string_equal(json_object_get_string(v), "received");
    assert_true(json_object_object_get_ex(n, "due", &v));
    assert_string_equal(json_object_get_string(v), "2026-12-31T00:00:00Z");
    assert_true(json_object_object_get_ex(n, "overdue_ms", &v));
    assert_int_equal(json_object_get_int(v), 1500);
    assert_true(json_object_object_get_ex(n, "reason", &v));
    assert_null(v);
    json_object_put(o);

    kr__v1__local_request__free_unpacked(lr, NULL);
    json_object_put(in);
}

static void
s_expect_str(json_object *o, const char *key, const char *want)
{
    json_object *v;

    if (!json_object_object_get_ex(o, key, &v))
        fail_msg("no key %s", key);
    if (want == NULL) {
        if (v != NULL)
            fail_msg("%s: want null, got %s", key, json_object_get_string(v));
        return;
    }
    if (v == NULL)
        fail_msg("%s: want \"%s\", got null", key, want);
    assert_string_equal(json_object_get_string(v), want);
}

static void
test_consent_record(void **state)
{
    Kr__V1__ConsentRecord r = KR__V1__CONSENT_RECORD__INIT;
    Kr__V1__ConsentScope sc = KR__V1__CONSENT_SCOPE__INIT;
    uint8_t cid[16], subj[32], next[16], gm[16];
    json_object *o, *v;

    (void)state;
    memset(cid, 0xc0, sizeof(cid));
    memset(subj, 0x5c, sizeof(subj));
    memset(next, 0xc1, sizeof(next));
    memset(gm, 0x01, sizeof(gm));
    sc.consent_id = (ProtobufCBinaryData){16, cid};
    sc.subject_pseudonym = (ProtobufCBinaryData){32, subj};
    sc.subject_key_version = 3;
    sc.purpose = "prenataal-huisbezoek";
    sc.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    sc.from_org = "ura:00001234";
    sc.to_category = KR__V1__ORG_CATEGORY__JGZ;
    sc.valid_from_ms = 1795132800000ull;
    sc.valid_until_ms = 1826668799999ull;
    sc.grantor = KR__V1__GRANTOR__SELF;
    r.scope = &sc;
    r.status = KR__V1__CONSENT_STATUS__CONSENT_SUPERSEDED;
    r.recorded_by = "ura:00001234";
    r.recorded_at_ms = 1795132800123ull;
    r.grant_msg_id = (ProtobufCBinaryData){16, gm};
    r.ended_at_ms = 1798675200000ull;
    r.superseded_by = (ProtobufCBinaryData){16, next};

    o = json_map_consent_record(&r);
    s_expect_str(o, "consent_id", "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0");
    s_expect_str(o, "subject_pseudonym",
                 "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"
                 "5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c");
    assert_true(json_object_object_get_ex(o, "key_version", &v));
    assert_int_equal(json_object_get_int(v), 3);
    s_expect_str(o, "purpose", "prenataal-huisbezoek");
    s_expect_str(o, "data_category", "medisch");
    s_expect_str(o, "from", "ura:00001234");
    s_expect_str(o, "to", "jgz");
    s_expect_str(o, "valid_from", "2026-11-20T00:00:00Z");
    s_expect_str(o, "valid_until", "2027-11-19T23:59:59.999Z");
    s_expect_str(o, "grantor", "self");
    s_expect_str(o, "supersedes", NULL);
    s_expect_str(o, "status", "superseded");
    s_expect_str(o, "recorded_by", "ura:00001234");
    s_expect_str(o, "recorded_at", "2026-11-20T00:00:00.123Z");
    s_expect_str(o, "ended_at", "2026-12-31T00:00:00Z");
    s_expect_str(o, "ended_by", NULL);
    s_expect_str(o, "superseded_by", "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1");
    json_object_put(o);

    /* A record without a scope (a broker bug) still prints, all null. */
    r.scope = NULL;
    o = json_map_consent_record(&r);
    s_expect_str(o, "consent_id", NULL);
    s_expect_str(o, "from", NULL);
    json_object_put(o);
}

static void
test_audit_record(void **state)
{
    Kr__V1__AuditRecord r = KR__V1__AUDIT_RECORD__INIT;
    uint8_t prev[32], hash[32], msg[16];
    json_object *o, *v;
    size_t n = 0;

    (void)state;
    memset(prev, 0x00, sizeof(prev));
    memset(hash, 0xee, sizeof(hash));
    memset(msg, 0x42, sizeof(msg));
    r.seq = 77;
    r.at_ms = 1798675200000ull;
    r.event = "message.refused";
    r.action = "C";
    r.result = "refused";
    r.check = "consent";
    r.org_id = "ura:00001234";
    r.msg_id = (ProtobufCBinaryData){16, msg};
    r.object = "ura:00009876";
    r.purpose = "melding-veilig-thuis";
    r.legal_basis = KR__V1__LEGAL_BASIS__MELDRECHT;
    r.noodknop = 1;
    r.reason = KR__V1__REASON__MISSING_JUSTIFICATION;
    r.instance = "broker-1";
    r.message_type = KR__V1__MESSAGE_TYPE__SIGNAL;
    r.data_category = KR__V1__DATA_CATEGORY__SOCIAAL;
    r.prev_hash = (ProtobufCBinaryData){32, prev};
    r.hash = (ProtobufCBinaryData){32, hash};

    o = json_map_audit_record(&r);
    assert_true(json_object_object_get_ex(o, "seq", &v));
    assert_int_equal(json_object_get_uint64(v), 77);
    s_expect_str(o, "at", "2026-12-31T00:00:00Z");
    s_expect_str(o, "event", "message.refused");
    s_expect_str(o, "action", "C");
    s_expect_str(o, "result", "refused");
    s_expect_str(o, "check", "consent");
    s_expect_str(o, "org_id", "ura:00001234");
    s_expect_str(o, "actor_ref", NULL);
    s_expect_str(o, "msg_id", "42424242424242424242424242424242");
    s_expect_str(o, "referral_id", NULL);
    s_expect_str(o, "consent_id", NULL);
    s_expect_str(o, "subject_pseudonym", NULL);
    s_expect_str(o, "object", "ura:00009876");
    s_expect_str(o, "purpose", "melding-veilig-thuis");
    s_expect_str(o, "legal_basis", "meldrecht");
    assert_true(json_object_object_get_ex(o, "noodknop", &v));
    assert_true(json_object_get_boolean(v));
    s_expect_str(o, "reason", "missing-justification");
    s_expect_str(o, "detail", NULL);
    s_expect_str(o, "instance", "broker-1");
    s_expect_str(o, "message_type", "signal");
    s_expect_str(o, "data_category", "sociaal");
    s_expect_str(o, "prev_hash",
                 "00000000000000000000000000000000"
                 "00000000000000000000000000000000");
    s_expect_str(o, "hash",
                 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
                 "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
    /* One stable shape: every field of the record, always. */
    json_object_object_foreach(o, key, val)
    {
        (void)key;
        (void)val;
        n++;
    }
    assert_int_equal(n, 23);
    json_object_put(o);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbox_item),
        cmocka_unit_test(test_outbox_item),
        cmocka_unit_test(test_inbox_consent_and_notice),
        cmocka_unit_test(test_consent_record),
        cmocka_unit_test(test_audit_record),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
