/*
 * test_spool_map.c - krspool's file mapper (clients/krspool/spool_map.c)
 * and the JSON layer's days relative to today (json_map_relative_parse):
 * names of inbox files and what they stand for, receipts only for final
 * outcomes, which send errors fail a file for good, and kr_json_msg_id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "json_map.h"
#include "kr.h"
#include "spool.h"

static uint8_t s_id[16] = {0xab, 0xcd, 1, 2,  3,  4,  5,  6,
                           7,    8,    9, 10, 11, 12, 13, 14};
#define S_HEX "abcd0102030405060708090a0b0c0d0e"

static void
test_inbox_names(void **state)
{
    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    Kr__V1__Notice nt = KR__V1__NOTICE__INIT;
    char name[SPOOL_NAME_MAX], hex[KR_MSG_ID_HEX_LEN], *text;
    enum spool_kind kind;
    size_t len;

    (void)state;
    it.msg_id = (ProtobufCBinaryData){16, s_id};
    it.sender = "ura:00001234";
    assert_int_equal(spool_map_inbox(&it, name, &text, &len), KR_OK);
    assert_string_equal(name, "msg-" S_HEX ".json");
    assert_non_null(strstr(text, "\"sender\": \"ura:00001234\""));
    assert_int_equal(text[len - 1], '\n');
    free(text);
    assert_int_equal(spool_map_name(name, &kind, hex), KR_OK);
    assert_int_equal(kind, SPOOL_MSG);
    assert_string_equal(hex, S_HEX);

    it.notice = &nt;
    assert_int_equal(spool_map_inbox(&it, name, &text, &len), KR_OK);
    assert_string_equal(name, "notice-" S_HEX ".json");
    free(text);

    /* Without a 16-byte id there is no name. */
    it.msg_id.len = 3;
    assert_int_equal(spool_map_inbox(&it, name, &text, &len), KR_EINVAL);
    assert_null(text);
}

static void
test_other_names(void **state)
{
    static const char *const bad[] = {
        "",
        "msg-.json",
        "msg-" S_HEX ".jso",
        "msg-" S_HEX ".json.tmp",
        ".msg-" S_HEX ".json.tmp",
        "msg-ABCD0102030405060708090a0b0c0d0e.json",
        "msg-abcd0102030405060708090a0b0c0d0.json",
        "mail-" S_HEX ".json",
        "referral.json",
    };
    char hex[KR_MSG_ID_HEX_LEN];
    enum spool_kind kind;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(spool_map_name(bad[i], &kind, hex), KR_EINVAL);
    assert_int_equal(spool_map_name("receipt-" S_HEX ".json", &kind, hex),
                     KR_OK);
    assert_int_equal(kind, SPOOL_RECEIPT);
    assert_true(spool_map_outbox_name_ok("0001-referral.json"));
    assert_false(spool_map_outbox_name_ok(".tmp"));
    assert_false(spool_map_outbox_name_ok(""));
}

static void
test_receipts(void **state)
{
    Kr__V1__OutboxItem it = KR__V1__OUTBOX_ITEM__INIT;
    char name[SPOOL_NAME_MAX], *text;
    size_t len;

    (void)state;
    it.msg_id = (ProtobufCBinaryData){16, s_id};
    it.outcome = KR__V1__OUTCOME__ACCEPTED;
    assert_int_equal(spool_map_receipt(&it, name, &text, &len), KR_ENOTFOUND);
    it.outcome = KR__V1__OUTCOME__REFUSED;
    it.reason = KR__V1__REASON__NO_CONSENT;
    assert_int_equal(spool_map_receipt(&it, name, &text, &len), KR_OK);
    assert_string_equal(name, "receipt-" S_HEX ".json");
    assert_non_null(strstr(text, "\"outcome\": \"refused\""));
    assert_non_null(strstr(text, "\"reason\": \"no-consent\""));
    free(text);
}

static void
test_permanent(void **state)
{
    (void)state;
    assert_true(spool_map_permanent(KR_EINVAL));
    assert_true(spool_map_permanent(KR_ENOKEY));
    assert_true(spool_map_permanent(KR_EEXIST));
    assert_false(spool_map_permanent(KR_EUNAVAIL));
    assert_false(spool_map_permanent(KR_ETIMEDOUT));
    assert_false(spool_map_permanent(KR_EFULL));
    assert_false(spool_map_permanent(KR_EDISKFULL));
}

static void
test_relative(void **state)
{
    /* 2026-12-04T13:00:00Z */
    const uint64_t now = 1796389200000ull, day = 86400000ull;
    const uint64_t today = now / day * day;
    uint64_t ms = 0;

    (void)state;
    assert_int_equal(json_map_relative_parse("today", now, 0, &ms), KR_OK);
    assert_int_equal(ms, today);
    assert_int_equal(json_map_relative_parse("today", now, 1, &ms), KR_OK);
    assert_int_equal(ms, today + day - 1);
    assert_int_equal(json_map_relative_parse("today+365d", now, 1, &ms), KR_OK);
    assert_int_equal(ms, today + 366 * day - 1);
    assert_int_equal(json_map_relative_parse("today-1d", now, 0, &ms), KR_OK);
    assert_int_equal(ms, today - day);
    assert_int_equal(json_map_relative_parse("2026-12-04", now, 0, &ms),
                     KR_ENOTFOUND);
    assert_int_equal(json_map_relative_parse("today+", now, 0, &ms), KR_EINVAL);
    assert_int_equal(json_map_relative_parse("today+3", now, 0, &ms),
                     KR_EINVAL);
    assert_int_equal(json_map_relative_parse("today+123456d", now, 0, &ms),
                     KR_EINVAL);
    assert_int_equal(json_map_relative_parse("todayx", now, 0, &ms), KR_EINVAL);
    assert_int_equal(json_map_relative_parse("today-99999d", 0, 0, &ms),
                     KR_EINVAL);
}

static void
test_msg_id(void **state)
{
    char a[KR_MSG_ID_HEX_LEN], b[KR_MSG_ID_HEX_LEN], c[KR_MSG_ID_HEX_LEN];

    (void)state;
    assert_int_equal(kr_json_msg_id("ura:00001234", "{}", 2, a), KR_OK);
    assert_int_equal(kr_json_msg_id("ura:00001234", "{}", 2, b), KR_OK);
    assert_int_equal(kr_json_msg_id("ura:00005678", "{}", 2, c), KR_OK);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(kr_json_msg_id("ura:00001234", "{} ", 3, b), KR_OK);
    assert_string_not_equal(a, b);
    assert_int_equal(kr_json_msg_id("", "{}", 2, b), KR_EINVAL);
}

static void
test_check_json(void **state)
{
    static const char good[] = "{\"type\": \"supplement\", \"recipient\": "
                               "\"ura:87654321\", \"opaque\": \"x\"}";
    static const char bad[] = "{\"type\": \"supplement\", \"recipient\": "
                              "\"ura:87654321\", \"colour\": \"blue\"}";
    char err[256];

    (void)state;
    assert_int_equal(kr_check_json(good, strlen(good), err, sizeof(err)),
                     KR_OK);
    assert_string_equal(err, "");
    assert_int_equal(kr_check_json(bad, strlen(bad), err, sizeof(err)),
                     KR_EINVAL);
    assert_non_null(strstr(err, "colour"));
    assert_int_equal(kr_check_json("{", 1, err, sizeof(err)), KR_EINVAL);
    assert_non_null(strstr(err, "line 1"));
    assert_int_equal(kr_check_json(good, strlen(good), NULL, 0), KR_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbox_names), cmocka_unit_test(test_other_names),
        cmocka_unit_test(test_receipts),    cmocka_unit_test(test_permanent),
        cmocka_unit_test(test_relative),    cmocka_unit_test(test_msg_id),
        cmocka_unit_test(test_check_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
