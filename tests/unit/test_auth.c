/* test_auth.c - the broker's ZAP handler (broker/auth.c) on a real REP
 * socket, as libzmq reaches it: every request is answered, a malformed one
 * too, so that the socket goes on answering the next handshakes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

#include <cmocka.h>

#include "broker.h"

#define S_ZAP "inproc://test-auth-zap"

struct s_fix {
    struct broker b;
    void *client; /* DEALER: sends requests as a REQ would */
};

static int
s_setup(void **state)
{
    static struct s_fix fx;
    int linger = 0, tmo = 5000;

    memset(&fx, 0, sizeof(fx));
    fx.b.zctx = zmq_ctx_new();
    fx.b.zap = zmq_socket(fx.b.zctx, ZMQ_REP);
    assert_int_equal(zmq_bind(fx.b.zap, S_ZAP), 0);
    fx.client = zmq_socket(fx.b.zctx, ZMQ_DEALER);
    zmq_setsockopt(fx.client, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(fx.client, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
    zmq_setsockopt(fx.b.zap, ZMQ_LINGER, &linger, sizeof(linger));
    assert_int_equal(zmq_connect(fx.client, S_ZAP), 0);

    /* One organisation, with a transport key of 0x11 bytes. */
    uint8_t curve[32], box[32], sign[32];
    memset(curve, 0x11, 32);
    memset(box, 0x22, 32);
    memset(sign, 0x33, 32);
    Kr__V1__OrgEntry e = KR__V1__ORG_ENTRY__INIT;
    e.org_id = "ura:00001234";
    e.category = KR__V1__ORG_CATEGORY__VERLOSKUNDE;
    e.curve_public = (ProtobufCBinaryData){32, curve};
    e.box_public = (ProtobufCBinaryData){32, box};
    e.sign_public = (ProtobufCBinaryData){32, sign};
    orgs_upsert(&fx.b, &e);
    *state = &fx;
    return 0;
}

static int
s_teardown(void **state)
{
    struct s_fix *fx = *state;

    zmq_close(fx->client);
    zmq_close(fx->b.zap);
    zmq_ctx_term(fx->b.zctx);
    orgs_free(&fx->b);
    return 0;
}

/* Send the parts of a request (after REQ's empty delimiter). */
static void
s_request(struct s_fix *fx, const char *const *parts, const size_t *lens, int n)
{
    assert_int_equal(zmq_send(fx->client, "", 0, ZMQ_SNDMORE), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(zmq_send(fx->client, parts[i], lens[i],
                                  i + 1 < n ? ZMQ_SNDMORE : 0),
                         (int)lens[i]);
}

/* Let the handler run until the request has reached it and been answered,
 * and read the reply: its status code and user id. */
static void
s_reply(struct s_fix *fx, char status[4], char user[64])
{
    char part[256];
    int n = 0, more = 1, len;
    zmq_pollitem_t it = {fx->b.zap, 0, ZMQ_POLLIN, 0};

    /* The request crosses an inproc pipe: wait for it (with a deadline)
     * before handling, as the broker's loop does. */
    assert_true(zmq_poll(&it, 1, 5000) == 1);
    auth_handle(&fx->b);
    while (more) {
        len = zmq_recv(fx->client, part, sizeof(part) - 1, 0);
        assert_true(len >= 0);
        part[len < (int)sizeof(part) ? len : (int)sizeof(part) - 1] = '\0';
        /* delimiter, version, request id, status, text, user, meta */
        if (n == 1)
            assert_string_equal(part, "1.0");
        if (n == 3) {
            assert_int_equal(len, 3);
            memcpy(status, part, 4);
        }
        if (n == 5) {
            assert_true(len < 64);
            memcpy(user, part, (size_t)len + 1);
        }
        int m = 0;
        size_t msz = sizeof(m);
        zmq_getsockopt(fx->client, ZMQ_RCVMORE, &m, &msz);
        more = m;
        n++;
    }
    assert_int_equal(n, 7);
}

static void
test_known_key_admitted(void **state)
{
    struct s_fix *fx = *state;
    char key[32], status[4], user[64];
    memset(key, 0x11, 32);
    const char *parts[] = {"1.0", "7",     "kansrijk", "127.0.0.1",
                           "",    "CURVE", key};
    const size_t lens[] = {3, 1, 8, 9, 0, 5, 32};

    s_request(fx, parts, lens, 7);
    s_reply(fx, status, user);
    assert_string_equal(status, "200");
    assert_string_equal(user, "ura:00001234");
}

/* A request of one part has no request id. It used to get no reply at
 * all, and the REP socket then refused every later request: no node
 * could connect any more. */
static void
test_short_request_answered_and_socket_usable(void **state)
{
    struct s_fix *fx = *state;
    char key[32], status[4], user[64];
    const char *one[] = {"1.0"};
    const size_t one_len[] = {3};
    memset(key, 0x11, 32);
    const char *full[] = {"1.0", "8",     "kansrijk", "127.0.0.1",
                          "",    "CURVE", key};
    const size_t full_lens[] = {3, 1, 8, 9, 0, 5, 32};

    s_request(fx, one, one_len, 1);
    s_reply(fx, status, user);
    assert_string_equal(status, "400");
    assert_string_equal(user, "");
    /* The next, well-formed request is answered. */
    s_request(fx, full, full_lens, 7);
    s_reply(fx, status, user);
    assert_string_equal(status, "200");
}

static void
test_unknown_key_and_wrong_mechanism_refused(void **state)
{
    struct s_fix *fx = *state;
    char key[32], status[4], user[64];
    memset(key, 0x99, 32);
    const char *unknown[] = {"1.0", "9",     "kansrijk", "127.0.0.1",
                             "",    "CURVE", key};
    const size_t lens[] = {3, 1, 8, 9, 0, 5, 32};
    const char *plain[] = {"1.0", "10",    "kansrijk", "127.0.0.1",
                           "",    "PLAIN", "user",     "pass"};
    const size_t plens[] = {3, 2, 8, 9, 0, 5, 4, 4};

    s_request(fx, unknown, lens, 7);
    s_reply(fx, status, user);
    assert_string_equal(status, "400");
    s_request(fx, plain, plens, 8);
    s_reply(fx, status, user);
    assert_string_equal(status, "400");
    assert_string_equal(user, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_key_admitted),
        cmocka_unit_test(test_short_request_answered_and_socket_usable),
        cmocka_unit_test(test_unknown_key_and_wrong_mechanism_refused),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
