/*
 * test_json_oom.c - libkr's JSON layer when memory runs out: it runs in
 * other people's processes, so every failed allocation (its own, json-c's
 * or protobuf-c's) must come back as KR_ENOMEM, never as a crash, a leak
 * (LeakSanitizer in the sanitizer build) or an answer with a part missing.
 *
 * This program replaces malloc, calloc and realloc for the whole process
 * (json-c's calls included); armed, they fail the Nth call. Each call is
 * run with N = 1, 2, ... until one succeeds with no failure injected:
 * every earlier run must have said KR_ENOMEM.
 *
 * One bound, json-c's and not ours: its parser (0.16, Debian 12) does not
 * handle its own failed allocations. It adds a key whose strdup failed
 * (a crash inside json_tokener_parse_ex), and a string that cannot grow
 * is cut short; libkr catches the latter by errno (ENOMEM after the
 * parse) unless a number comes later, for which json-c sets errno to 0.
 * json-c 0.17 reports json_tokener_error_memory instead. The text's sweep
 * therefore fails, in turn, every allocation that libkr and protobuf-c
 * make (the mapping, the packed request), not those of json-c's parser;
 * the records' sweeps fail every allocation, json-c's included.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "content.pb-c.h"
#include "json_map.h"
#include "json_map_oom.h"
#include "kr.h"
#include "libkr_internal.h"
#include "local.pb-c.h"
#include "util.h"

/*
 * Failing allocations
 */

static void *(*s_malloc)(size_t);
static void *(*s_calloc)(size_t, size_t);
static void *(*s_realloc)(void *, size_t);
static unsigned long s_calls, s_fail_at; /* s_fail_at 0: none fail */
/* dlsym may itself allocate before the real functions are known. */
static _Alignas(16) unsigned char s_boot[4096];
static size_t s_boot_used;
static int s_resolving;
static int s_spare_json; /* do not fail json-c's own (or libc's) */

/* In the sanitizer build the real functions are AddressSanitizer's, which
 * calls malloc (dlsym) before it is ready: take them by name, and keep
 * these few functions out of its instrumentation. */
extern void *__interceptor_malloc(size_t) __attribute__((weak));
extern void *__interceptor_calloc(size_t, size_t) __attribute__((weak));
extern void *__interceptor_realloc(void *, size_t) __attribute__((weak));
#define S_RAW __attribute__((no_sanitize("address", "undefined")))

S_RAW static void
s_resolve(void)
{
    if (s_malloc != NULL || s_resolving)
        return;
    if (__interceptor_malloc != NULL && __interceptor_calloc != NULL &&
        __interceptor_realloc != NULL) {
        s_calloc = __interceptor_calloc;
        s_realloc = __interceptor_realloc;
        s_malloc = __interceptor_malloc;
        return;
    }
    s_resolving = 1;
    s_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    s_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    s_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    s_resolving = 0;
}

S_RAW static int
s_fail_now(void *caller)
{
    Dl_info dl;

    if (s_fail_at == 0)
        return 0;
    if (s_spare_json && dladdr(caller, &dl) != 0 && dl.dli_fname != NULL &&
        (strstr(dl.dli_fname, "/libc.so") != NULL ||
         strstr(dl.dli_fname, "/libjson-c.so") != NULL))
        return 0;
    if (++s_calls != s_fail_at)
        return 0;
    errno = ENOMEM;
    return 1;
}

S_RAW static void *
s_boot_alloc(size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;

    if (s_boot_used + need > sizeof(s_boot))
        return NULL;
    void *p = s_boot + s_boot_used;
    s_boot_used += need;
    return p;
}

S_RAW void *
malloc(size_t n)
{
    s_resolve();
    if (s_malloc == NULL)
        return s_boot_alloc(n);
    return s_fail_now(__builtin_return_address(0)) ? NULL : s_malloc(n);
}

S_RAW void *
calloc(size_t n, size_t size)
{
    s_resolve();
    if (s_calloc == NULL)
        return s_boot_alloc(n * size); /* zero: static */
    return s_fail_now(__builtin_return_address(0)) ? NULL : s_calloc(n, size);
}

S_RAW void *
realloc(void *p, size_t n)
{
    s_resolve();
    return s_fail_now(__builtin_return_address(0)) ? NULL : s_realloc(p, n);
}

static void
s_arm(unsigned long n)
{
    s_calls = 0;
    s_fail_at = n;
}

/* Whether the Nth call was reached (and failed) in the armed run. */
static int
s_disarm(void)
{
    int hit = s_fail_at != 0 && s_calls >= s_fail_at;

    s_fail_at = 0;
    return hit;
}

#define S_MAX_N 100000

/*
 * kr_check_json: JSON text -> json-c -> the mapping -> a packed request
 */

static void
s_check_file(const char *name)
{
    char path[512], err[512];
    char *text = NULL;
    size_t len = 0;
    unsigned long n;

    snprintf(path, sizeof(path), "%s/examples/%s", KR_SOURCE_DIR, name);
    assert_int_equal(util_read_file(path, 1u << 20, &text, &len), KR_OK);
    assert_int_equal(kr_check_json(text, len, err, sizeof(err)), KR_OK);
    s_spare_json = 1;
    for (n = 1; n < S_MAX_N; n++) {
        s_arm(n);
        int rc = kr_check_json(text, len, err, sizeof(err));
        int hit = s_disarm();
        if (!hit) {
            assert_int_equal(rc, KR_OK);
            break;
        }
        if (rc != KR_ENOMEM)
            fail_msg("%s: allocation %lu failed: rc %d (%s), not KR_ENOMEM",
                     name, n, rc, err);
        assert_string_equal(err, "out of memory");
    }
    s_spare_json = 0;
    printf("%s: %lu allocations, each failure KR_ENOMEM\n", name, n - 1);
    free(text);
}

static void
test_check_json(void **state)
{
    (void)state;
    s_check_file("referral.json");
    s_check_file("handover.json");
    s_check_file("consent-grant.json");
    s_check_file("referral-accepted.json");
}

/*
 * Records out: built by json_map_out.c, written by libkr (kr_inbox_json,
 * kr_receipts_json and kr_status_json do exactly this)
 */

typedef json_object *(*s_build_fn)(const void *arg);

static int
s_text(s_build_fn build, const void *arg, char **out)
{
    char err[128];

    errno = 0;
    json_object *j = build(arg);
    int rc = libkr_json_text(j, out, NULL, err, sizeof(err));
    json_object_put(j);
    if (rc != KR_OK)
        assert_string_equal(err, "out of memory");
    return rc;
}

static void
s_sweep(const char *what, s_build_fn build, const void *arg)
{
    char *ref = NULL, *got = NULL;
    unsigned long n;

    assert_int_equal(s_text(build, arg, &ref), KR_OK);
    for (n = 1; n < S_MAX_N; n++) {
        s_arm(n);
        int rc = s_text(build, arg, &got);
        int hit = s_disarm();
        if (!hit) {
            assert_int_equal(rc, KR_OK);
            assert_string_equal(got, ref);
            kr_json_free(got);
            break;
        }
        if (rc != KR_ENOMEM)
            fail_msg("%s: allocation %lu failed: rc %d, not KR_ENOMEM%s%s",
                     what, n, rc, rc == KR_OK ? ": " : "",
                     rc == KR_OK ? got : "");
    }
    printf("%s: %lu allocations, each failure KR_ENOMEM\n", what, n - 1);
    kr_json_free(ref);
}

static json_object *
s_inbox(const void *arg)
{
    int ok;

    return json_map_inbox_item(arg, &ok);
}

static json_object *
s_outbox(const void *arg)
{
    return json_map_outbox_item(arg);
}

static json_object *
s_status(const void *arg)
{
    return json_map_status(arg);
}

/* The list kr_inbox_json writes: an array of items. */
static json_object *
s_inbox_list(const void *arg)
{
    json_object *a = json_object_new_array();
    int ok;

    for (int i = 0; i < 3; i++)
        if (json_object_array_add(a, json_map_inbox_item(arg, &ok)) != 0)
            break;
    return a;
}

static void
test_records(void **state)
{
    static uint8_t id[16] = {0x11, 0x22}, ref[16] = {0x33}, subj[32] = {7};
    Kr__V1__Content c = KR__V1__CONTENT__INIT;
    Kr__V1__Referral r = KR__V1__REFERRAL__INIT;
    Kr__V1__Person m = KR__V1__PERSON__INIT;
    char *codes[] = {"psychosociaal", "financiele-zorgen"};
    uint8_t content[1024];

    (void)state;
    m.bsn = "111222333";
    m.given_name = "Anna";
    m.family_name = "Voorbeeld";
    m.birth_date = "1994-03-12";
    r.mother = &m;
    r.reason_codes = codes;
    r.n_reason_codes = 2;
    r.reason_text = "Fictief voorbeeld: een tekst van enige lengte, zodat "
                    "json-c's printbuf moet groeien om hem te schrijven.";
    c.version = KR__V1__VERSION__VERSION_1;
    c.body_case = KR__V1__CONTENT__BODY_REFERRAL;
    c.referral = &r;
    size_t clen = kr__v1__content__get_packed_size(&c);
    assert_true(clen <= sizeof(content));
    kr__v1__content__pack(&c, content);

    Kr__V1__InboxItem it = KR__V1__INBOX_ITEM__INIT;
    it.msg_id = (ProtobufCBinaryData){16, id};
    it.seq = 42;
    it.sender = "ura:00001234";
    it.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    it.referral_id = (ProtobufCBinaryData){16, ref};
    it.subject_pseudonym = (ProtobufCBinaryData){32, subj};
    it.purpose = "prenataal-huisbezoek";
    it.data_category = KR__V1__DATA_CATEGORY__MEDISCH;
    it.legal_basis = KR__V1__LEGAL_BASIS__CONSENT;
    it.created_at_ms = 1793491200000ull;
    it.received_at_ms = 1793491200123ull;
    it.content = (ProtobufCBinaryData){clen, content};
    s_sweep("inbox item", s_inbox, &it);
    s_sweep("inbox list", s_inbox_list, &it);

    Kr__V1__Notice nt = KR__V1__NOTICE__INIT;
    ProtobufCBinaryData ids[2] = {{16, id}, {16, ref}};
    nt.kind = 1;
    nt.consent_id = (ProtobufCBinaryData){16, ref};
    nt.msg_ids = ids;
    nt.n_msg_ids = 2;
    nt.revoked_by = "ura:00001234";
    nt.at_ms = 1793491200000ull;
    Kr__V1__InboxItem notice = it;
    notice.notice = &nt;
    s_sweep("inbox notice", s_inbox, &notice);

    Kr__V1__OutboxItem ob = KR__V1__OUTBOX_ITEM__INIT;
    ob.msg_id = (ProtobufCBinaryData){16, id};
    ob.seq = 7;
    ob.recipient = "ura:00005678";
    ob.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    ob.outcome = KR__V1__OUTCOME__REFUSED;
    ob.reason = KR__V1__REASON__NO_CONSENT;
    ob.detail = "no consent recorded for this subject";
    ob.accepted_at_ms = 1793491200000ull;
    s_sweep("outbox item", s_outbox, &ob);

    Kr__V1__NodeStatus st = KR__V1__NODE_STATUS__INIT;
    st.org_id = "ura:00001234";
    st.connected = 1;
    st.outbox_pending = 3;
    st.broker_refusing = KR__V1__REASON__STORE_FULL;
    st.last_link_error = "connection closed";
    s_sweep("status", s_status, &st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_json),
        cmocka_unit_test(test_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
