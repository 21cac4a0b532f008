/* test_peers.c - unit tests for clients/krnode/peers.c's view of a rekey:
 * an entry's previous keys are taken and dropped with the entry, and an
 * envelope naming them is honoured only before the grace period ends and
 * only when both of its key ids are the previous ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "crypto.h"
#include "log.h"
#include "node.h"

static uint8_t s_new_box[32], s_new_sign[32], s_old_box[32], s_old_sign[32];

static void
s_entry(Kr__V1__OrgEntry *e, bool with_prev, uint64_t until)
{
    kr__v1__org_entry__init(e);
    e->org_id = "ura:00009012";
    e->box_public = (ProtobufCBinaryData){32, s_new_box};
    e->sign_public = (ProtobufCBinaryData){32, s_new_sign};
    if (with_prev) {
        e->previous_box_public = (ProtobufCBinaryData){32, s_old_box};
        e->previous_sign_public = (ProtobufCBinaryData){32, s_old_sign};
        e->previous_until_ms = until;
    }
}

static void
test_prev_keys_grace(void **state)
{
    (void)state;
    struct peers ps;
    Kr__V1__OrgEntry e;
    Kr__V1__Envelope env = KR__V1__ENVELOPE__INIT;
    Kr__V1__Sealed sealed = KR__V1__SEALED__INIT;
    char old_sign_id[KR_KEY_ID_LEN], old_box_id[KR_KEY_ID_LEN],
        new_box_id[KR_KEY_ID_LEN], new_sign_id[KR_KEY_ID_LEN];

    memset(s_new_box, 1, 32);
    memset(s_new_sign, 2, 32);
    memset(s_old_box, 3, 32);
    memset(s_old_sign, 4, 32);
    kcrypto_key_id(s_old_sign, old_sign_id);
    kcrypto_key_id(s_old_box, old_box_id);
    kcrypto_key_id(s_new_box, new_box_id);
    kcrypto_key_id(s_new_sign, new_sign_id);
    peers_init(&ps);
    s_entry(&e, true, 1000);
    assert_int_equal(peers_update(&ps, &e, 1), KR_OK);
    struct peer *p = peers_find(&ps, "ura:00009012");
    assert_non_null(p);
    assert_true(p->has_prev);

    env.sender_key_id = old_sign_id;
    sealed.sender_key_id = old_box_id;
    env.payload = &sealed;
    assert_true(peers_prev_keys(p, &env, 999));   /* in the grace period */
    assert_false(peers_prev_keys(p, &env, 1000)); /* ended */
    sealed.sender_key_id = new_box_id; /* a mix is no envelope of before */
    assert_false(peers_prev_keys(p, &env, 10));
    sealed.sender_key_id = "";
    assert_true(peers_prev_keys(p, &env, 10));
    env.sender_key_id = new_sign_id; /* the current key is not "previous" */
    assert_false(peers_prev_keys(p, &env, 10));

    /* An entry without previous keys (a later directory) drops them. */
    env.sender_key_id = old_sign_id;
    s_entry(&e, false, 0);
    assert_int_equal(peers_update(&ps, &e, 2), KR_OK);
    assert_false(p->has_prev);
    assert_false(peers_prev_keys(p, &env, 10));
    peers_fini(&ps);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prev_keys_grace),
    };

    log_init("test_peers", LOG_LEVEL_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
