/*
 * soak.c - kill -9 soak (issue 17, point 3; not in CI: scripts/soak.sh).
 *
 * A sender process sends referrals at a steady rate through the sending
 * node, each with its own msg_id (repeated, same id, until the node takes
 * it). Meanwhile a random daemon (the broker, the sending node or the
 * receiving node) is killed with SIGKILL after a random 0.2-2 s and
 * restarted with the same directory and port, --kills times. Then the
 * sender stops, everything drains, and the soak checks that every message
 * is in the recipient's inbox exactly once, has exactly one final outcome
 * (delivered) at its sender, and that the broker's audit chain verifies.
 *
 *   soak [--kills N] [--seed S] [--rate MSG_PER_S]
 *
 * The figures are printed at the end ("soak: ..." lines). Exit 0 when all
 * checks hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "harness.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_SEND_DEADLINE_MS 180000 /* one message, across many crashes */

struct s_soak {
    struct h_cluster c;
    int vl, jgz;
    unsigned seed;
    unsigned rate;
    char stop_file[H_PATH + 32];  /* the sender stops when it exists */
    char count_file[H_PATH + 32]; /* where it writes how many it sent */
};

/* Message i's id: derived from the seed, so that the checker knows every
 * id without being told. */
static void
s_id(unsigned seed, uint64_t i, uint8_t out[16])
{
    uint8_t a[12], h[32];

    memcpy(a, &seed, 4);
    memcpy(a + 4, &i, 8);
    kcrypto_hash2((const uint8_t *)"kr soak", 7, a, sizeof(a), h);
    memcpy(out, h, 16);
}

static int
s_sender(void *arg)
{
    struct s_soak *s = arg;
    struct h_referral ref;
    kr_client_t *kc = NULL;
    char text[64];
    uint8_t id[16], got[16];
    uint64_t i, repeats = 0, t0 = h_mono_ms();
    int result = 0;

    h_referral_default(&ref);
    for (i = 0; access(s->stop_file, F_OK) != 0; i++) {
        /* Steady load: message i leaves no earlier than i / rate. */
        uint64_t due = t0 + i * 1000 / s->rate, now = h_mono_ms();
        if (due > now)
            h_sleep_ms((int)(due - now));
        s_id(s->seed, i, id);
        snprintf(text, sizeof(text), "soak seq=%08llu", (unsigned long long)i);
        ref.reason_text = text;
        uint64_t deadline = h_mono_ms() + S_SEND_DEADLINE_MS;
        int rc = KR_EUNAVAIL;
        for (long attempt = 0; attempt < 1000000; attempt++) {
            if (kc == NULL &&
                kr_client_connect(s->c.nodes[s->vl].local, 2000, &kc) != KR_OK)
                kc = NULL;
            if (kc != NULL)
                rc = h_send_referral(kc, S_JGZ_ORG, &ref, id, got);
            if (rc == KR_OK)
                break;
            repeats++;
            if (rc == KR_ETIMEDOUT || rc == KR_EUNAVAIL)
                kr_client_destroy(&kc);
            if (h_mono_ms() >= deadline)
                break;
            h_sleep_ms(H_POLL_MS);
        }
        if (rc != KR_OK || memcmp(got, id, 16) != 0) {
            printf("sender: message %llu not taken in %d s: %s\n",
                   (unsigned long long)i, S_SEND_DEADLINE_MS / 1000,
                   kr_strerror(rc));
            result = 1;
            i++; /* it may have been taken: the checker looks for it */
            break;
        }
    }
    kr_client_destroy(&kc);
    FILE *f = fopen(s->count_file, "w");
    if (f == NULL)
        return 1;
    fprintf(f, "%llu %llu\n", (unsigned long long)i,
            (unsigned long long)repeats);
    fclose(f);
    printf("sender: %llu sent, %llu attempts repeated\n", (unsigned long long)i,
           (unsigned long long)repeats);
    return result;
}

struct s_inbox {
    struct h_idset seen;
    const struct h_idset *sent;
    size_t n, foreign;
};

static int
s_inbox_one(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_inbox *in = arg;

    in->n++;
    if (it->msg_id.len != 16 || h_idset_count(in->sent, it->msg_id.data) == 0)
        in->foreign++;
    else
        h_idset_add(&in->seen, it->msg_id.data);
    return 0;
}

struct s_outbox {
    struct h_idset seen;
    const struct h_idset *sent;
    size_t n, foreign, delivered, refused, other_final, not_final;
};

static int
s_outbox_one(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_outbox *out = arg;

    out->n++;
    if (it->msg_id.len != 16 ||
        h_idset_count(out->sent, it->msg_id.data) == 0) {
        out->foreign++;
        return 0;
    }
    h_idset_add(&out->seen, it->msg_id.data);
    switch (it->outcome) {
    case KR__V1__OUTCOME__DELIVERED:
        out->delivered++;
        break;
    case KR__V1__OUTCOME__REFUSED:
        out->refused++;
        break;
    case KR__V1__OUTCOME__EXPIRED_OUTCOME:
    case KR__V1__OUTCOME__WITHDRAWN:
        out->other_final++;
        break;
    default:
        out->not_final++;
    }
    return 0;
}

static size_t
s_inbox_count(struct s_soak *s)
{
    size_t n = 0;

    if (h_inbox_count(h_node_client(&s->c, s->jgz), &n) != KR_OK)
        return 0;
    return n;
}

static bool
s_all_final(struct s_soak *s, size_t sent)
{
    struct h_outbox_stats st;

    return h_outbox_stats(h_node_client(&s->c, s->vl), &st) == KR_OK &&
           st.by_outcome[KR__V1__OUTCOME__DELIVERED] +
                   st.by_outcome[KR__V1__OUTCOME__REFUSED] +
                   st.by_outcome[KR__V1__OUTCOME__EXPIRED_OUTCOME] +
                   st.by_outcome[KR__V1__OUTCOME__WITHDRAWN] >=
               sent;
}

static void
s_usage(void)
{
    fprintf(stderr, "usage: soak [--kills N] [--seed S] [--rate MSG_PER_S]\n");
    exit(2);
}

static unsigned long
s_num(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        s_usage();
    return v;
}

int
main(int argc, char **argv)
{
    static struct s_soak s;
    unsigned long kills = 1000;
    bool ok;

    s.seed = (unsigned)time(NULL);
    s.rate = 100;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--kills") == 0)
            kills = s_num(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0)
            s.seed = (unsigned)s_num(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--rate") == 0)
            s.rate = (unsigned)s_num(argv[++i]);
        else
            s_usage();
    }
    if (s.rate == 0 || s.rate > 10000 || kills > 1000000)
        s_usage();
    /* A kill and its restart take 0.2-2 s and the restart's wait; then
     * the drain. */
    h_init("soak", (int)(kills * 8 + 900));
    h_note("soak: kills=%lu seed=%u rate=%u msg/s", kills, s.seed, s.rate);
    srand(s.seed);

    h_cluster_init(&s.c, "soak");
    h_broker_set(&s.c, "resend_ms", "500");
    h_broker_start(&s.c);
    s.vl = h_org_add(&s.c, "vl", S_VL_ORG, "verloskunde",
                     "Verloskundigenpraktijk De Wieg");
    s.jgz = h_org_add(&s.c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_set(&s.c, s.vl, "resend_ms", "500");
    h_node_set(&s.c, s.jgz, "resend_ms", "500");
    h_node_start(&s.c, s.vl);
    h_node_start(&s.c, s.jgz);
    if (!h_node_wait_connected(&s.c, s.vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&s.c, s.jgz, H_CONNECT_MS))
        h_abort();
    H_REQUIRE(h_consent_default(&s.c, s.vl, s.jgz), "consent recorded");

    snprintf(s.stop_file, sizeof(s.stop_file), "%s/sender.stop", s.c.tmp);
    snprintf(s.count_file, sizeof(s.count_file), "%s/sender.count", s.c.tmp);
    char log[H_PATH + 32];
    struct h_proc sender;
    snprintf(log, sizeof(log), "%s/sender.log", s.c.tmp);
    uint64_t t0 = h_mono_ms();
    /* No libkr client of ours lives across the fork (h_proc_fork). */
    h_clients_close(&s.c);
    H_ENSURE(h_proc_fork(&sender, "sender", log, s_sender, &s) == KR_OK,
             "fork the sender");

    unsigned long per[3] = {0, 0, 0};
    for (unsigned long k = 0; k < kills; k++) {
        h_sleep_ms(200 + rand() % 1801);
        if (!h_proc_alive(&sender)) {
            h_note("the sender stopped early (see %s)", log);
            break;
        }
        int v = rand() % 3;
        per[v]++;
        if (v == 0) {
            h_broker_kill9(&s.c);
            h_broker_start(&s.c);
        } else {
            int i = v == 1 ? s.vl : s.jgz;
            h_node_kill9(&s.c, i);
            h_node_start(&s.c, i);
        }
        if ((k + 1) % 50 == 0)
            h_note("soak: %lu kills, %llu s", k + 1,
                   (unsigned long long)(h_mono_ms() - t0) / 1000);
    }
    uint64_t kill_ms = h_mono_ms() - t0;

    /* Stop the load; the sender finishes the message it is at. */
    H_ENSURE(h_write_file(s.stop_file, "stop\n", 0600) == KR_OK,
             "write the stop file");
    int status;
    H_CHECK(h_proc_wait(&sender, S_SEND_DEADLINE_MS + 30000, &status) ==
                    KR_OK &&
                WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the sender handed every message to its node, repeating what a "
            "crash cut off");
    unsigned long long nsent = 0, repeats = 0;
    FILE *f = fopen(s.count_file, "r");
    H_REQUIRE(f != NULL && fscanf(f, "%llu %llu", &nsent, &repeats) == 2,
              "read the sender's count");
    fclose(f);

    struct h_idset sent;
    h_idset_init(&sent);
    for (uint64_t i = 0; i < nsent; i++) {
        uint8_t id[16];
        s_id(s.seed, i, id);
        h_idset_add(&sent, id);
    }

    /* The drain: no more kills. */
    uint64_t t1 = h_mono_ms();
    H_POLL(ok, 300000, s_inbox_count(&s) >= nsent);
    H_CHECK(ok, "the recipient's inbox reaches %llu (%zu)", nsent,
            s_inbox_count(&s));
    H_POLL(ok, 300000, s_all_final(&s, nsent));
    H_CHECK(ok, "the sender sees a final outcome for each of %llu", nsent);
    uint64_t drain_ms = h_mono_ms() - t1;

    struct s_inbox in = {.sent = &sent};
    h_idset_init(&in.seen);
    int rc = h_inbox_foreach(h_node_client(&s.c, s.jgz), s_inbox_one, &in);
    H_CHECK(rc == KR_OK, "walk the recipient's inbox (%s)", kr_strerror(rc));
    size_t lost = nsent - in.seen.n, doubled = in.n - in.foreign - in.seen.n;
    H_CHECK(lost == 0 && doubled == 0 && in.foreign == 0,
            "every message in the recipient's inbox exactly once (lost %zu, "
            "doubled %zu, foreign %zu)",
            lost, doubled, in.foreign);

    struct s_outbox out = {.sent = &sent};
    h_idset_init(&out.seen);
    rc = h_outbox_foreach(h_node_client(&s.c, s.vl), s_outbox_one, &out);
    H_CHECK(rc == KR_OK, "walk the sender's outbox (%s)", kr_strerror(rc));
    size_t out_dup = out.n - out.foreign - out.seen.n;
    H_CHECK(out.seen.n == nsent && out_dup == 0 && out.delivered == nsent,
            "every message has exactly one final outcome at its sender, "
            "delivered (%zu of %llu, %zu twice, %zu delivered, %zu refused, "
            "%zu other final, %zu not final)",
            out.seen.n, nsent, out_dup, out.delivered, out.refused,
            out.other_final, out.not_final);

    struct h_run r;
    h_krctl(&r, "--admin", s.c.admin, "audit", "verify", NULL);
    bool audit_ok = r.code == 0;
    H_CHECK(audit_ok, "krctl audit verify: the chain verifies (exit %d: %s)",
            r.code, r.out ? r.out : "");
    char verify[256] = "";
    if (r.out != NULL) {
        snprintf(verify, sizeof(verify), "%s", r.out);
        verify[strcspn(verify, "\n")] = '\0';
    }
    h_run_free(&r);

    printf("soak: seed=%u rate=%u msg/s kills=%lu (broker %lu, sending node "
           "%lu, receiving node %lu) in %llu s\n",
           s.seed, s.rate, per[0] + per[1] + per[2], per[0], per[1], per[2],
           (unsigned long long)kill_ms / 1000);
    printf("soak: messages sent=%llu (attempts repeated after a crash %llu); "
           "drain after the last kill %llu ms\n",
           nsent, repeats, (unsigned long long)drain_ms);
    printf("soak: recipient inbox items=%zu distinct=%zu lost=%zu "
           "doubled=%zu foreign=%zu\n",
           in.n, in.seen.n, lost, doubled, in.foreign);
    printf("soak: sender final outcomes: delivered=%zu refused=%zu "
           "other=%zu not_final=%zu twice=%zu\n",
           out.delivered, out.refused, out.other_final, out.not_final, out_dup);
    printf("soak: audit verify: %s (%s)\n", audit_ok ? "ok" : "FAILED", verify);
    h_idset_free(&sent);
    h_idset_free(&in.seen);
    h_idset_free(&out.seen);
    return h_finish(&s.c);
}
