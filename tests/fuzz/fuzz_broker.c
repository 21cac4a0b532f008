/* fuzz_broker.c - see fuzz_broker.h. */
#include "fuzz_broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bstore.h"
#include "erasure_records.h"
#include "fuzz_common.h"
#include "log.h"

const char *const fzb_peer_ids[FZB_NPEERS] = {"peer-0", "peer-1"};

static struct broker s_b;
static void *s_peers[FZB_NPEERS];
static char s_store_dir[512];
static bool s_open;

static void
s_open_once(void)
{
    char err[256];
    int one = 1, zero = 0;

    fz_init();
    memset(&s_b, 0, sizeof(s_b));
    arena_init(&s_b.pb, 256u << 10);
    if (cfg_defaults(broker_config_options, &s_b.cfg, err, sizeof(err)) != 0)
        abort();
    snprintf(s_store_dir, sizeof(s_store_dir), "%s/broker", fz_dir());
    s_b.cfg.map_size_mb = 64;
    s_b.cfg.prefill_mb = 0;
    s_b.cfg.unsafe_nosync = true; /* a memory file system anyway */
    s_b.cfg.resend_ms = 1000;
    s_b.cfg.window = 16;
    s_b.zctx = zmq_ctx_new();
    s_b.router = zmq_socket(s_b.zctx, ZMQ_ROUTER);
    zmq_setsockopt(s_b.router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    zmq_setsockopt(s_b.router, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_bind(s_b.router, "inproc://fuzz-broker") != 0)
        abort();
    for (int i = 0; i < FZB_NPEERS; i++) {
        s_peers[i] = zmq_socket(s_b.zctx, ZMQ_DEALER);
        zmq_setsockopt(s_peers[i], ZMQ_ROUTING_ID, fzb_peer_ids[i],
                       strlen(fzb_peer_ids[i]));
        zmq_setsockopt(s_peers[i], ZMQ_LINGER, &zero, sizeof(zero));
        if (zmq_connect(s_peers[i], "inproc://fuzz-broker") != 0)
            abort();
    }
    s_open = true;
}

struct broker *
fzb_get(void)
{
    if (!s_open)
        s_open_once();
    return &s_b;
}

void
fzb_drain(void)
{
    char buf[64];

    for (int i = 0; i < FZB_NPEERS; i++)
        while (zmq_recv(s_peers[i], buf, sizeof(buf), ZMQ_DONTWAIT) >= 0)
            continue;
}

void
fzb_begin_pass(void)
{
    s_b.now_ms = util_now_ms();
}

void
fzb_reset(void)
{
    struct broker *b = fzb_get();
    MDB_txn *txn;

    if (b->txn != NULL)
        bstore_abort(b->txn);
    b->txn = NULL;
    orgs_free(b);
    deliver_reset();
    broker_reset();
    erasure_set_clear();
    fzb_drain();
    b->store_full_until = b->store_free_est = b->store_reserve = 0;
    b->acks_in_pass = 0;
    b->items_in_pass = b->new_in_pass = 0;
    b->ack_limit = 1u << 20;
    b->pass_id = 1;
    b->commits_failed = b->early_deliveries = b->early_passes_failed = 0;
    b->started_mono_ms = util_mono_ms();
    /* One environment for the process, emptied for each input. */
    if (b->store == NULL &&
        bstore_open(s_store_dir, b->cfg.map_size_mb, true, &b->store) != 0)
        abort();
    if (bstore_clear(b->store) != 0)
        abort();
    if (bstore_begin(b->store, false, &txn) != 0)
        abort();
    for (int i = 0; i < FZ_NORGS; i++)
        if (bstore_org_put(b->store, txn, fz_org_entry(i)) != 0)
            abort();
    if (bstore_commit(txn) != 0 || orgs_load(b) != 0)
        abort();
    fzb_begin_pass();
    /* As broker_run starts: the cron measures the store's free space. */
    deliver_cron(b);
    broker_end_pass(b);
    fzb_begin_pass();
}
