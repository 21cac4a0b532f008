/*
 * pcbroker.c - the broker scenario of the power-cut harness (pcrun.h,
 * README.md here): a raw wire client submits for vl while JGZ is offline,
 * the broker is cut, and each image must hold every ACCEPTED message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "pcrun.h"
#include "util.h"

/*
 * The broker scenario: a raw wire client submits for vl, JGZ is offline
 * (its queue grows), the broker is cut.
 */

static void
s_broker_setup(void)
{
    char pub[2 * H_PATH];
    struct h_referral ref;

    pct.vl = h_org_add(&pct.c, "vl", PCR_VL_ORG, "verloskunde", "De Wieg");
    pct.jgz = h_org_add(&pct.c, "jgz", PCR_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_set(&pct.c, pct.jgz, "prefill_mb", "1");
    h_secret_path(pct.c.nodes[pct.vl].keys, pct.vl_secret,
                  sizeof(pct.vl_secret));
    h_public_path(pct.c.broker_keys, pct.broker_public,
                  sizeof(pct.broker_public));
    h_public_path(pct.c.nodes[pct.jgz].keys, pub, sizeof(pub));
    H_ENSURE(kcrypto_pubkeys_load(pub, &pct.jgz_pub) == KR_OK,
             "load jgz.public");
    h_referral_default(&ref);
    ref.reason_text = "power cut";
    H_ENSURE(h_content_pack(&ref, &pct.content, &pct.content_len) == KR_OK,
             "pack a content");
}

/* Submit for 'ms' with a random window; return how many were sent. */
static size_t
s_broker_load(struct h_wire *w, int ms, unsigned window)
{
    struct h_env_spec spec = {.sender = PCR_VL_ORG,
                              .recipient = PCR_JGZ_ORG,
                              .rcpt = &pct.jgz_pub,
                              .content = pct.content,
                              .content_len = pct.content_len};
    uint64_t end = h_mono_ms() + (uint64_t)ms;
    size_t sent = 0, answered = 0, scanned = 0;

    for (long i = 0; i < 10000000L && h_mono_ms() < end; i++) {
        /* Answers to submits have no queue seq; DELIVERED receipts do. */
        for (; scanned < w->nreceipts; scanned++)
            answered += w->receipts[scanned].seq == 0;
        while (sent - answered < window && h_mono_ms() < end) {
            uint8_t id[16], *env = NULL, sig[KR_SIG_LEN];
            size_t len = 0;
            H_ENSURE(h_envelope_build(w->keys, &spec, id, &env, &len, sig) ==
                         KR_OK,
                     "build an envelope");
            int rc = h_wire_send_submit(w, env, len, sig, sizeof(sig));
            free(env);
            if (rc != KR_OK)
                break;
            sent++;
        }
        h_wire_pump(w, 1);
    }
    return sent;
}

static void
s_broker_check_image(int cut, enum pc_variant v)
{
    char why[512], first[33] = "-";
    size_t missing = 0;
    struct h_audit_verify av;

    enum pcr_start s = pcr_try_start(&pct.c.broker, "krbroker", H_KRBROKER,
                                     pct.c.broker_conf, pct.c.broker_log,
                                     pcr_broker_up, &pct.c, why, sizeof(why));
    pct.images_checked++;
    if (s != PCR_UP) {
        pcr_refused(cut, "broker", v, s, why, pct.c.broker_log);
        return;
    }
    if (pcr_walk(pct.c.broker_dir, false, &pct.accepted, &missing, first, why,
                 sizeof(why)) != 0)
        H_REQUIRE(false,
                  "cut %d, broker, %s image: every tree of the store reads "
                  "(%s; replay with --seed %" PRIu64 ")",
                  cut + 1, pc_variant_name(v), why, pct.seed);
    H_REQUIRE(h_audit_verify(&pct.c, &av) == KR_OK && av.ok,
              "cut %d, broker, %s image: the audit chain verifies (%" PRIu64
              " records; %s)",
              cut + 1, pc_variant_name(v), av.checked, av.detail);
    if (missing > 0)
        pcr_loss(cut, "broker", v, missing, pct.accepted.n, first);
    pcr_stop_checked(&pct.c.broker);
}

void
pcr_broker_cut(int k)
{
    char log_path[2 * H_PATH], base[2 * H_PATH], next[2 * H_PATH];
    char store[2 * H_PATH];
    struct h_wire w;
    bool have_base = k > 0;

    snprintf(log_path, sizeof(log_path), "%s/broker-%d.log", pct.dir, k);
    snprintf(base, sizeof(base), "%s/broker-base-%d.mdb", pct.dir, k);
    snprintf(next, sizeof(next), "%s/broker-base-%d.mdb", pct.dir, k + 1);
    snprintf(store, sizeof(store), "%s/data.mdb", pct.c.broker_dir);

    /* The store as the last cut left it, recorded from here. */
    pcr_fresh_dir(pct.c.broker_dir);
    if (have_base)
        H_ENSURE(pcr_copy(base, store) == 0, "copy the base into the store");
    pcr_rec_on(pct.c.broker_dir, "data.mdb", log_path);
    h_broker_start(&pct.c);
    pcr_rec_off();
    if (k == 0)
        s_broker_setup();
    /* JGZ's node takes the deliveries, so that the broker also deletes
     * payloads and reuses their pages: the writes a torn image tears. */
    h_node_start(&pct.c, pct.jgz);

    H_ENSURE(h_wire_open(&w, pct.c.listen, pct.vl_secret, pct.broker_public,
                         PCR_VL_ORG) == KR_OK &&
                 h_wire_send_hello(&w, PCR_VL_ORG, 64) == KR_OK,
             "open the raw wire client");
    unsigned window = 1u << pcr_rand(9); /* 1 .. 256 */
    int ms = 40 + (int)pcr_rand(400);
    size_t sent = s_broker_load(&w, ms, window);
    h_broker_kill9(&pct.c);
    /* Receipts already on their way left the broker before it died. */
    h_wire_pump(&w, 200);
    /* JGZ's node stays down while the images are checked: none of them
     * may change what it holds before the next. */
    H_REQUIRE(h_node_stop(&pct.c, pct.jgz), "JGZ's node stops");
    size_t acc = 0, dlv = 0;
    for (size_t i = 0; i < w.nreceipts; i++) {
        if (w.receipts[i].outcome == KR__V1__OUTCOME__ACCEPTED &&
            w.receipts[i].has_id) {
            pcr_ids_add(&pct.accepted, w.receipts[i].msg_id);
            acc++;
        }
        dlv += w.receipts[i].outcome == KR__V1__OUTCOME__DELIVERED;
    }
    h_wire_close(&w);
    h_note("cut %d: window %u, %d ms: %zu submitted, %zu accepted "
           "(%zu in all so far), %zu delivered receipts",
           k + 1, window, ms, sent, acc, pct.accepted.n, dlv);

    struct pc_log *log = pcr_load_log(log_path);
    struct pc_image_stats st;
    for (int v = 0; v < pct.images; v++) {
        pcr_fresh_dir(pct.c.broker_dir);
        pcr_build(log, "data.mdb", have_base ? base : NULL, store,
                  (enum pc_variant)v, &st);
        h_note("cut %d: %s image: %" PRIu64 " durable writes, %" PRIu64
               " later, %" PRIu64 " of them in it, %" PRIu64
               " pieces torn off, %" PRIu64 " bytes",
               k + 1, pc_variant_name((enum pc_variant)v), st.durable, st.later,
               st.later_taken, st.pieces_torn, st.size);
        s_broker_check_image(k, (enum pc_variant)v);
        if (pct.loss_cut >= 0)
            break;
    }
    pcr_build(log, "data.mdb", have_base ? base : NULL, next, PC_IMG_DURABLE,
              &st);
    pc_log_free(&log);
    unlink(log_path);
    if (have_base)
        unlink(base);
}
