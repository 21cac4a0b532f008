/* test_broker_pass.c - one pass of the broker's loop (broker/loop.c) with
 * more receipts than its reply array first holds: the shape of a broker
 * just restarted while a node resubmits hundreds of pending messages.
 *
 * The array of a pass's receipts grows (xrealloc) past 256 in the first
 * such pass of a process. Receipts queued before it moved once pointed
 * into the freed array (msg_id, detail), and the flush packed them: strlen
 * of freed memory sized the frame, the packbuf's realloc could reuse that
 * memory, and pack then wrote past what it had sized (krbroker died in
 * protobuf_c_message_pack after a kill -9 restart in test_crash). Here
 * every receipt must arrive with its own msg_id and detail; under ASan
 * the old code is a heap-use-after-free. And the pump's frames when a
 * queued delivery has lost its payload (test_pump_missing_payload). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "broker.h"
#include "bstore.h"
#include "log.h"
#include "util.h"

#define S_ORG "ura:00001234"
#define S_RID "node-vl"

struct s_env {
    char dir[64];
    struct broker b;
    void *peer;
};

static int
s_setup(void **state)
{
    static struct s_env e;
    char err[256];
    int one = 1, zero = 0;
    uint8_t key[32] = {1};
    MDB_txn *txn;

    memset(&e, 0, sizeof(e));
    log_init("test_broker_pass", LOG_LEVEL_WARN);
    snprintf(e.dir, sizeof(e.dir), "/tmp/kr-test-pass.XXXXXX");
    assert_non_null(mkdtemp(e.dir));
    struct broker *b = &e.b;
    arena_init(&b->pb, 256u << 10);
    assert_int_equal(
        cfg_defaults(broker_config_options, &b->cfg, err, sizeof(err)), 0);
    assert_int_equal(bstore_open(e.dir, 64, true, &b->store), 0);
    b->zctx = zmq_ctx_new();
    b->router = zmq_socket(b->zctx, ZMQ_ROUTER);
    zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    zmq_setsockopt(b->router, ZMQ_LINGER, &zero, sizeof(zero));
    assert_int_equal(zmq_bind(b->router, "inproc://test-broker-pass"), 0);
    e.peer = zmq_socket(b->zctx, ZMQ_DEALER);
    zmq_setsockopt(e.peer, ZMQ_ROUTING_ID, S_RID, strlen(S_RID));
    zmq_setsockopt(e.peer, ZMQ_LINGER, &zero, sizeof(zero));
    assert_int_equal(zmq_connect(e.peer, "inproc://test-broker-pass"), 0);

    Kr__V1__OrgEntry oe = KR__V1__ORG_ENTRY__INIT;
    oe.org_id = S_ORG;
    oe.category = KR__V1__ORG_CATEGORY__VERLOSKUNDE;
    oe.name = "De Wieg";
    oe.curve_public = oe.box_public = oe.sign_public =
        (ProtobufCBinaryData){32, key};
    assert_int_equal(bstore_begin(b->store, false, &txn), 0);
    assert_int_equal(bstore_org_put(b->store, txn, &oe), 0);
    assert_int_equal(bstore_commit(txn), 0);
    assert_int_equal(orgs_load(b), 0);
    b->ack_limit = 1u << 20;
    b->pass_id = 1;
    b->now_ms = util_now_ms();
    deliver_cron(b); /* as broker_run starts */
    broker_end_pass(b);
    *state = &e;
    return 0;
}

static int
s_teardown(void **state)
{
    struct s_env *e = *state;
    char cmd[128];

    broker_reset();
    deliver_reset();
    zmq_close(e->peer);
    zmq_close(e->b.router);
    zmq_ctx_term(e->b.zctx);
    orgs_free(&e->b);
    bstore_close(&e->b.store);
    arena_fini(&e->b.pb);
    buf_free(&e->b.packbuf);
    cfg_free(broker_config_options, &e->b.cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* msg_id of submit i: its number in the first bytes. */
static void
s_id(uint8_t id[16], uint32_t i)
{
    memset(id, 0xa5, 16);
    memcpy(id, &i, sizeof(i));
}

/* A frame of n submits from i0 on, each an envelope with a msg_id and
 * nothing else: refused missing-field, with a detail. */
static void
s_frame(uint32_t i0, uint32_t n, struct kr_buf *out)
{
    Kr__V1__Submit *subs = calloc(n, sizeof(*subs));
    Kr__V1__Submit **ptrs = calloc(n, sizeof(*ptrs));
    uint8_t(*envs)[64] = calloc(n, sizeof(*envs));
    uint8_t(*ids)[16] = calloc(n, sizeof(*ids));

    assert_true(subs && ptrs && envs && ids);
    for (uint32_t i = 0; i < n; i++) {
        Kr__V1__Envelope env = KR__V1__ENVELOPE__INIT;
        s_id(ids[i], i0 + i);
        env.version = KR__V1__VERSION__VERSION_1;
        env.msg_id = (ProtobufCBinaryData){16, ids[i]};
        size_t len = kr__v1__envelope__get_packed_size(&env);
        assert_true(len <= sizeof(envs[i]));
        kr__v1__envelope__pack(&env, envs[i]);
        kr__v1__submit__init(&subs[i]);
        subs[i].envelope = (ProtobufCBinaryData){len, envs[i]};
        ptrs[i] = &subs[i];
    }
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    f.version = KR__V1__VERSION__VERSION_1;
    f.submit = ptrs;
    f.n_submit = n;
    buf_pack(out, &f.base);
    free(subs);
    free(ptrs);
    free(envs);
    free(ids);
}

/* The receipts one pass sends back: every one, its own msg_id and detail,
 * in the order submitted. */
static void
s_expect_receipts(struct s_env *e, uint32_t i0, uint32_t n)
{
    uint32_t got = 0;

    while (got < n) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, e->peer, ZMQ_DONTWAIT) >= 0);
        Kr__V1__Frame *f =
            kr__v1__frame__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        assert_non_null(f);
        assert_true(f->n_receipt > 0);
        for (size_t k = 0; k < f->n_receipt; k++, got++) {
            const Kr__V1__Receipt *r = f->receipt[k];
            uint8_t id[16];
            s_id(id, i0 + got);
            assert_int_equal(r->msg_id.len, 16);
            assert_memory_equal(r->msg_id.data, id, 16);
            assert_int_equal(r->outcome, KR__V1__OUTCOME__REFUSED);
            assert_int_equal(r->reason, KR__V1__REASON__MISSING_FIELD);
            assert_string_equal(r->detail, "missing or invalid: type");
        }
        kr__v1__frame__free_unpacked(f, NULL);
    }
    assert_int_equal(got, n);
    char c;
    assert_true(zmq_recv(e->peer, &c, 1, ZMQ_DONTWAIT) < 0);
}

static void
test_receipts_past_the_first_array(void **state)
{
    struct s_env *e = *state;
    struct broker *b = &e->b;
    struct kr_buf buf = {0};
    uint32_t next = 0;

    /* Passes of 100, 300 and 1000 receipts, in frames of 100 as a node's
     * resubmits come: the array moves at 257 and again at 513 in the
     * passes that reach them, with receipts queued before each move. */
    static const uint32_t passes[] = {100, 300, 1000};
    for (size_t p = 0; p < sizeof(passes) / sizeof(passes[0]); p++) {
        b->now_ms = util_now_ms();
        for (uint32_t done = 0; done < passes[p]; done += 100) {
            s_frame(next + done, 100, &buf);
            broker_handle_frame(b, S_ORG, (const uint8_t *)S_RID, strlen(S_RID),
                                buf.data, buf.len);
        }
        broker_end_pass(b);
        s_expect_receipts(e, next, passes[p]);
        next += passes[p];
    }
    buf_free(&buf);
}

/* The pump's frames hold at most 64 items. A delivery whose payload is
 * missing (an error logged, nothing sent) was counted as one of them all
 * the same: when it was the 64th the flush never came, and the items
 * that followed ran off the pump's arrays into its counters, which the
 * frame was then packed from. Here it is the 64th of 200 queue items:
 * the node gets the other 199, in frames of at most 64, in order. */
static void
test_pump_missing_payload(void **state)
{
    struct s_env *e = *state;
    struct broker *b = &e->b;
    struct org *o = orgs_find(b, S_ORG);
    enum { N = 200, MISSING = 63 };

    assert_non_null(o);
    o->connected = true;
    memcpy(o->rid, S_RID, strlen(S_RID));
    o->rid_len = strlen(S_RID);
    o->window = 256;
    b->now_ms = util_now_ms();
    for (uint32_t i = 0; i < N; i++) {
        Kr__V1__QueueItem item = KR__V1__QUEUE_ITEM__INIT;
        Kr__V1__Receipt r = KR__V1__RECEIPT__INIT;
        uint8_t id[16];
        s_id(id, i);
        item.msg_id = (ProtobufCBinaryData){16, id};
        if (i != MISSING) {
            r.msg_id = item.msg_id;
            r.outcome = KR__V1__OUTCOME__DELIVERED;
            item.is_receipt = true;
            item.receipt = &r;
        }
        assert_int_equal(deliver_enqueue(b, o, &item, NULL), KR_OK);
    }
    broker_end_pass(b);

    uint32_t got = 0, next = 0;
    for (int frames = 0; frames < N && got < N - 1; frames++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, e->peer, ZMQ_DONTWAIT) >= 0);
        Kr__V1__Frame *f =
            kr__v1__frame__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
        zmq_msg_close(&m);
        assert_non_null(f);
        assert_int_equal(f->n_delivery, 0);
        assert_true(f->n_receipt > 0 && f->n_receipt <= 64);
        for (size_t k = 0; k < f->n_receipt; k++, got++, next++) {
            uint8_t id[16];
            if (next == MISSING)
                next++;
            s_id(id, next);
            assert_int_equal(f->receipt[k]->msg_id.len, 16);
            assert_memory_equal(f->receipt[k]->msg_id.data, id, 16);
            assert_int_equal(f->receipt[k]->outcome,
                             KR__V1__OUTCOME__DELIVERED);
        }
        kr__v1__frame__free_unpacked(f, NULL);
    }
    assert_int_equal(got, N - 1);
    assert_int_equal(o->inflight, N - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_receipts_past_the_first_array,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_pump_missing_payload, s_setup,
                                        s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
