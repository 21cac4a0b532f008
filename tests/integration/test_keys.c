/*
 * test_keys.c - the directory's lifecycle through real processes
 * (docs/OPERATIONS.md "Keys and the directory"):
 *
 * remove with messages queued: referrals wait at the broker for a stopped
 * JGZ node; `krctl org remove` withdraws each (the sender's outbox shows
 * them withdrawn), empties its queue, audits it; the removed node's key
 * is refused, its id cannot be added again, and new sends are refused.
 *
 * rekey with messages in flight: referrals sealed to the hospital's old
 * keys wait while its node is stopped, and one the hospital signed with its
 * old keys waits for the stopped maternity care node; `krctl org rekey`; the
 * hospital restarts with its new keys and previous_keys = the old .secret:
 * everything opens and verifies on both sides. A referral sent after the
 * rekey is sealed to the new key: it opens with previous_keys gone.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_ZH_ORG "ura:00009012"
#define S_KZ_ORG "ura:00003456"
#define S_QUEUED 5

static bool
s_outcomes(kr_client_t *kc, int outcome, size_t want)
{
    struct h_outbox_stats st;

    memset(&st, 0, sizeof(st));
    return h_outbox_stats(kc, &st) == KR_OK && st.by_outcome[outcome] == want;
}

static bool
s_inbox_at_least(kr_client_t *kc, size_t want)
{
    size_t n = 0;

    return h_inbox_count(kc, &n) == KR_OK && n >= want;
}

/* Every opened item is one of the harness's referrals. */
static int
s_open_one(const Kr__V1__InboxItem *it, void *arg)
{
    size_t *bad = arg;
    Kr__V1__Content *c =
        kr__v1__content__unpack(NULL, it->content.len, it->content.data);

    if (c == NULL || c->body_case != KR__V1__CONTENT__BODY_REFERRAL)
        (*bad)++;
    if (c != NULL)
        kr__v1__content__free_unpacked(c, NULL);
    return 0;
}

static void
s_remove(struct h_cluster *c, int vl, int jgz, int zh)
{
    struct h_referral ref;
    struct h_run r;
    uint8_t id[16];
    bool ok;

    h_referral_default(&ref);
    /* What JGZ sent before its removal waits for the stopped hospital: it
     * was accepted, and stays. */
    H_REQUIRE(h_consent_default(c, jgz, zh), "consent jgz -> zh recorded");
    H_REQUIRE(h_node_stop(c, zh), "the hospital's node stops");
    kr_client_t *kj = h_node_client(c, jgz);
    H_REQUIRE(h_send_referral(kj, S_ZH_ORG, &ref, NULL, id) == KR_OK,
              "a referral from JGZ to the stopped hospital handed over");
    H_POLL(ok, 30000, s_outcomes(kj, KR__V1__OUTCOME__ACCEPTED, 1));
    H_REQUIRE(ok, "it waits at the broker");
    H_REQUIRE(h_consent_default(c, vl, jgz), "consent vl -> jgz recorded");
    H_REQUIRE(h_node_stop(c, jgz), "the JGZ node stops");
    kr_client_t *kv = h_node_client(c, vl);
    for (int i = 0; i < S_QUEUED; i++)
        H_REQUIRE(h_send_referral(kv, S_JGZ_ORG, &ref, NULL, id) == KR_OK,
                  "referral %d to JGZ handed to the node", i);
    H_POLL(ok, 30000, s_outcomes(kv, KR__V1__OUTCOME__ACCEPTED, S_QUEUED));
    H_REQUIRE(ok, "the broker accepts the %d referrals", S_QUEUED);
    H_CHECK(h_krctl_queue(c, S_JGZ_ORG, "depth") == S_QUEUED,
            "JGZ's queue holds %d", S_QUEUED);

    h_krctl(&r, "--admin", c->admin, "org", "remove", S_JGZ_ORG, NULL);
    H_CHECK(r.code == 0 && strstr(r.out, "5 messages withdrawn") != NULL,
            "krctl org remove exits 0 and says 5 withdrawn (%d: %s%s)", r.code,
            r.out, r.err);
    h_run_free(&r);
    H_POLL(ok, 30000, s_outcomes(kv, KR__V1__OUTCOME__WITHDRAWN, S_QUEUED));
    H_CHECK(ok, "the sender's outbox shows the %d withdrawn", S_QUEUED);
    H_CHECK(h_krctl_queue(c, S_JGZ_ORG, "depth") == 0,
            "JGZ's queue is empty after the remove");

    h_krctl(&r, "--admin", c->admin, "audit", "tail", "-n", "30", NULL);
    H_CHECK(r.code == 0 && strstr(r.out, "org.removed") != NULL &&
                strstr(r.out, "message.withdrawn") != NULL &&
                strstr(r.out, "recipient-removed") != NULL,
            "the audit holds org.removed and message.withdrawn with reason "
            "recipient-removed");
    h_run_free(&r);
    h_krctl(&r, "--admin", c->admin, "audit", "verify", NULL);
    H_CHECK(r.code == 0, "the audit chain verifies (%d: %s)", r.code, r.err);
    h_run_free(&r);

    h_krctl(&r, "--admin", c->admin, "org", "list", NULL);
    H_CHECK(r.code == 0 && strstr(r.out, "removed") != NULL,
            "krctl org list shows it removed");
    h_run_free(&r);

    /* Twice, a new key for the id, a resume: all refused. */
    h_krctl(&r, "--admin", c->admin, "org", "remove", S_JGZ_ORG, NULL);
    H_CHECK(r.code == 1, "a second remove is refused (%d)", r.code);
    h_run_free(&r);
    h_krctl(&r, "--admin", c->admin, "org", "resume", S_JGZ_ORG, NULL);
    H_CHECK(r.code == 1 && strstr(r.err, "removed") != NULL,
            "resume of a removed org is refused (%d: %s)", r.code, r.err);
    h_run_free(&r);
    char pub[H_PATH + 32];
    h_krctl(&r, "--admin", c->admin, "org", "add", "--id", S_JGZ_ORG,
            "--category", "jgz", "--name", "Another JGZ", "--keys",
            h_public_path(c->nodes[vl].keys, pub, sizeof(pub)), NULL);
    H_CHECK(r.code == 1 && strstr(r.err, "removed") != NULL,
            "its id cannot be added again (%d: %s)", r.code, r.err);
    h_run_free(&r);

    /* A new send to it is refused, with the reason of its own. */
    H_REQUIRE(h_send_referral(kv, S_JGZ_ORG, &ref, NULL, id) == KR_OK,
              "a referral to the removed JGZ handed to the node");
    H_POLL(ok, 30000, s_outcomes(kv, KR__V1__OUTCOME__REFUSED, 1));
    H_CHECK(ok, "the broker refuses it");
    h_node_start(c, jgz);
    H_POLL(ok, 20000,
           h_log_contains(c->broker_log, "reason=\"organisation removed\""));
    H_CHECK(ok, "the removed node's handshake is refused by ZAP");
    h_node_stop(c, jgz);

    h_node_start(c, zh);
    H_POLL(ok, 30000, s_inbox_at_least(h_node_client(c, zh), 1));
    H_CHECK(ok, "what JGZ sent before its removal is still delivered, its "
                "signature verified with the kept entry");
    H_CHECK(!h_log_contains(c->nodes[zh].log, "inbox: refused"),
            "the hospital refused nothing");
}

static void
s_rekey(struct h_cluster *c, int vl, int zh, int kz)
{
    struct h_referral ref;
    struct h_run r;
    char old_secret[H_PATH + 32], newp[H_PATH], pub[H_PATH + 32],
        secret[H_PATH + 32];
    uint8_t id[16];
    size_t bad = 0;
    bool ok;

    h_referral_default(&ref);
    H_REQUIRE(h_consent_default(c, vl, zh), "consent vl -> zh recorded");
    H_REQUIRE(h_consent_default(c, zh, kz), "consent zh -> kz recorded");
    kr_client_t *kv = h_node_client(c, vl);
    kr_client_t *kz_c = NULL;
    kr_client_t *kzh = h_node_client(c, zh);
    /* In flight from the hospital: signed and sealed with its old keys,
     * waiting for the stopped maternity care node. */
    H_REQUIRE(h_node_stop(c, kz), "the maternity care node stops");
    H_REQUIRE(h_send_referral(kzh, S_KZ_ORG, &ref, NULL, id) == KR_OK,
              "a referral from the hospital, old keys, handed to its node");
    H_POLL(ok, 30000, s_outcomes(kzh, KR__V1__OUTCOME__ACCEPTED, 1));
    H_REQUIRE(ok, "it waits at the broker for maternity care");
    /* In flight to the hospital: sealed to its old box key. */
    H_REQUIRE(h_node_stop(c, zh), "the hospital's node stops");
    for (int i = 0; i < 3; i++)
        H_REQUIRE(h_send_referral(kv, S_ZH_ORG, &ref, NULL, id) == KR_OK,
                  "referral %d to the stopped hospital handed over", i);
    H_POLL(ok, 30000, s_outcomes(kv, KR__V1__OUTCOME__ACCEPTED, 3));
    H_REQUIRE(ok, "3 sealed to the old keys wait for the hospital");
    struct h_outbox_stats st0;
    memset(&st0, 0, sizeof(st0));
    h_outbox_stats(kv, &st0);
    size_t acc0 = st0.by_outcome[KR__V1__OUTCOME__DELIVERED];

    /* The rekey. */
    snprintf(newp, sizeof(newp), "%s/keys/zh-2027", c->tmp);
    h_krctl(&r, "keygen", "--out", newp, NULL);
    H_REQUIRE(r.code == 0, "krctl keygen for the new keys");
    h_run_free(&r);
    h_secret_path(c->nodes[zh].keys, old_secret, sizeof(old_secret));
    h_krctl(&r, "--admin", c->admin, "org", "rekey", S_ZH_ORG, "--keys",
            h_public_path(newp, pub, sizeof(pub)), "--grace", "7", NULL);
    H_CHECK(r.code == 0, "krctl org rekey exits 0 (%d: %s)", r.code, r.err);
    h_run_free(&r);
    h_krctl(&r, "--admin", c->admin, "org", "list", "--json", NULL);
    H_CHECK(r.code == 0 && strstr(r.out, "previous_until") != NULL,
            "krctl org list --json shows the grace period");
    h_run_free(&r);
    h_krctl(&r, "--admin", c->admin, "org", "rekey", S_ZH_ORG, "--keys", pub,
            NULL);
    H_CHECK(r.code == 1, "the same keys again are refused (%d)", r.code);
    h_run_free(&r);

    /* Restarted with the new keys: all 5 in flight open. */
    h_node_set(c, zh, "keys", h_secret_path(newp, secret, sizeof(secret)));
    h_node_set(c, zh, "previous_keys", old_secret);
    h_node_start(c, zh);
    H_REQUIRE(h_node_wait_connected(c, zh, H_CONNECT_MS),
              "the hospital connects with its new keys");
    kzh = h_node_client(c, zh);
    H_POLL(ok, 30000, s_inbox_at_least(kzh, 4));
    H_CHECK(ok, "the hospital opens all 3 sealed to its old keys (and "
                "JGZ's one)");
    h_inbox_foreach(kzh, s_open_one, &bad);
    H_CHECK(bad == 0, "each is a referral that opened (%zu bad)", bad);
    H_POLL(ok, 30000, s_outcomes(kv, KR__V1__OUTCOME__DELIVERED, acc0 + 3));
    H_CHECK(ok, "the midwife's outbox shows them delivered");
    /* Maternity care comes back: the hospital's old signature verifies
     * (the directory it gets at its handshake names the previous keys). */
    h_node_start(c, kz);
    kz_c = h_node_client(c, kz);
    H_POLL(ok, 30000, s_inbox_at_least(kz_c, 1));
    H_CHECK(ok, "maternity care opens the one the hospital signed and "
                "sealed with its old keys");
    H_CHECK(!h_log_contains(c->nodes[kz].log, "inbox: refused"),
            "maternity care refused nothing");

    /* After the rekey senders seal to the new key: without previous_keys
     * it still opens. */
    H_REQUIRE(h_node_stop(c, zh), "the hospital's node stops");
    h_node_set(c, zh, "previous_keys", "");
    h_node_start(c, zh);
    H_REQUIRE(h_node_wait_connected(c, zh, H_CONNECT_MS), "zh reconnects");
    kzh = h_node_client(c, zh);
    H_REQUIRE(h_send_referral(kv, S_ZH_ORG, &ref, NULL, id) == KR_OK,
              "a referral after the rekey handed over");
    H_POLL(ok, 30000, s_inbox_at_least(kzh, 5));
    H_CHECK(ok, "it opens with the new keys alone");
    H_POLL(ok, 30000, s_outcomes(kv, KR__V1__OUTCOME__DELIVERED, acc0 + 4));
    H_CHECK(ok, "and is delivered");
    H_CHECK(!h_log_contains(c->nodes[zh].log, "inbox: refused"),
            "the hospital refused nothing");
    H_CHECK(!h_log_contains(c->nodes[vl].log, "inbox: refused"),
            "the midwife refused nothing");
}

static int
s_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void
s_rollover(struct h_cluster *c, int vl, int kz)
{
    char next[H_PATH], next_secret[H_PATH + 32], next_pub[H_PATH + 32],
        next_listen[64];
    struct h_run r;

    snprintf(next, sizeof(next), "%s/keys/broker-next", c->tmp);
    h_krctl(&r, "keygen", "--out", next, NULL);
    H_REQUIRE(r.code == 0, "krctl keygen for the broker's next key");
    h_run_free(&r);
    h_secret_path(next, next_secret, sizeof(next_secret));
    h_public_path(next, next_pub, sizeof(next_pub));
    int port = s_free_port();
    H_REQUIRE(port > 0, "a free port for next_listen");
    snprintf(next_listen, sizeof(next_listen), "tcp://127.0.0.1:%d", port);

    H_REQUIRE(h_broker_stop(c), "the broker stops for the rollover");
    h_broker_set(c, "next_keys", next_secret);
    h_broker_set(c, "next_listen", next_listen);
    h_broker_start(c);
    H_CHECK(h_log_contains(c->broker_log, "rollover: also listening"),
            "the broker serves its next key on next_listen");
    H_REQUIRE(h_node_stop(c, kz), "maternity care stops to move");
    h_node_set(c, kz, "broker", next_listen);
    h_node_set(c, kz, "broker_key", next_pub);
    h_node_start(c, kz);
    H_CHECK(h_node_wait_connected(c, kz, H_CONNECT_MS),
            "maternity care connects with the next broker key");
    H_CHECK(h_node_wait_connected(c, vl, H_CONNECT_MS),
            "the midwife stays on the old key");
    H_REQUIRE(h_consent_default(c, vl, kz), "consent vl -> kz recorded");
    H_CHECK(h_roundtrip(c, vl, kz, "old key to next key", 30000),
            "a referral from the old key's node reaches the next key's");

    /* Cut-over: the next key alone, on the old endpoint. */
    H_REQUIRE(h_broker_stop(c), "the broker stops for the cut-over");
    h_broker_set(c, "keys", next_secret);
    h_broker_set(c, "next_keys", "");
    h_broker_set(c, "next_listen", "");
    h_broker_start(c);
    H_REQUIRE(h_node_stop(c, vl) && h_node_stop(c, kz), "both nodes stop");
    h_node_set(c, vl, "broker_key", next_pub);
    h_node_set(c, kz, "broker", c->listen);
    h_node_start(c, vl);
    h_node_start(c, kz);
    H_CHECK(h_node_wait_connected(c, vl, H_CONNECT_MS) &&
                h_node_wait_connected(c, kz, H_CONNECT_MS),
            "after the cut-over both connect with the new broker key");
    H_CHECK(h_roundtrip(c, vl, kz, "after the cut-over", 30000),
            "a referral goes through after the cut-over");
}

static int
s_pseudonyms(const Kr__V1__InboxItem *it, void *arg)
{
    size_t *both = arg;

    if (it->subject_pseudonym.len == 32 &&
        it->previous_subject_pseudonym.len == 32 &&
        memcmp(it->subject_pseudonym.data, it->previous_subject_pseudonym.data,
               32) != 0)
        (*both)++;
    return 0;
}

/* Coalition-key rotation: the consent vl -> kz was recorded under version
 * 1. A node on version 2 alone is refused (the pseudonym differs); with
 * previous_coalition_key it is let through by the old pseudonym. */
static void
s_coalition(struct h_cluster *c, int vl, int kz)
{
    char v2[H_PATH];
    struct h_referral ref;
    struct h_run r;
    uint8_t id[16];
    size_t both = 0, refused0, delivered0;
    struct h_outbox_stats st;
    bool ok;

    h_referral_default(&ref);
    snprintf(v2, sizeof(v2), "%s/keys/coalition-v2.key", c->tmp);
    h_krctl(&r, "keygen", "--coalition", v2, "--key-version", "2", NULL);
    H_REQUIRE(r.code == 0, "krctl keygen --coalition --key-version 2 (%s)",
              r.err);
    h_run_free(&r);
    H_REQUIRE(h_node_stop(c, vl), "the midwife's node stops");
    h_node_set(c, vl, "coalition_key", v2);
    h_node_start(c, vl);
    H_REQUIRE(h_node_wait_connected(c, vl, H_CONNECT_MS), "vl on version 2");
    kr_client_t *kv = h_node_client(c, vl);
    memset(&st, 0, sizeof(st));
    h_outbox_stats(kv, &st);
    refused0 = st.by_outcome[KR__V1__OUTCOME__REFUSED];
    delivered0 = st.by_outcome[KR__V1__OUTCOME__DELIVERED];
    H_REQUIRE(h_send_referral(kv, S_KZ_ORG, &ref, NULL, id) == KR_OK,
              "a referral under version 2 alone handed over");
    H_POLL(ok, 30000, s_outcomes(kv, KR__V1__OUTCOME__REFUSED, refused0 + 1));
    H_CHECK(ok, "version 2 alone: refused, the consent is under version 1");

    H_REQUIRE(h_node_stop(c, vl), "the midwife's node stops");
    h_node_set(c, vl, "previous_coalition_key", c->coalition);
    h_node_start(c, vl);
    H_REQUIRE(h_node_wait_connected(c, vl, H_CONNECT_MS),
              "vl on version 2 with version 1 as previous");
    kv = h_node_client(c, vl);
    H_REQUIRE(h_send_referral(kv, S_KZ_ORG, &ref, NULL, id) == KR_OK,
              "a referral with both pseudonyms handed over");
    H_POLL(ok, 30000,
           s_outcomes(kv, KR__V1__OUTCOME__DELIVERED, delivered0 + 1));
    H_CHECK(ok, "the old pseudonym still matches: delivered under the "
                "version 1 consent");
    h_inbox_foreach(h_node_client(c, kz), s_pseudonyms, &both);
    H_CHECK(both == 1,
            "the recipient's inbox item carries both pseudonyms "
            "(%zu)",
            both);
}

/* A connected node: a rekey tells it to go and its old transport key is
 * refused from then on; a remove of a connected node does the same. */
static void
s_connected(struct h_cluster *c, int wt)
{
    char newp[H_PATH], pub[H_PATH + 32];
    struct h_run r;
    bool ok;

    H_REQUIRE(h_node_wait_connected(c, wt, H_CONNECT_MS), "wt connected");
    snprintf(newp, sizeof(newp), "%s/keys/wt-2027", c->tmp);
    h_krctl(&r, "keygen", "--out", newp, NULL);
    H_REQUIRE(r.code == 0, "krctl keygen for wt's new keys");
    h_run_free(&r);
    h_krctl(&r, "--admin", c->admin, "org", "rekey", c->nodes[wt].org, "--keys",
            h_public_path(newp, pub, sizeof(pub)), NULL);
    H_CHECK(r.code == 0, "rekey of a connected organisation (%d: %s)", r.code,
            r.err);
    h_run_free(&r);
    H_POLL(ok, 20000,
           h_log_contains(c->nodes[wt].log, "organisation rekeyed: restart"));
    H_CHECK(ok, "its node is told to restart with its new keys");
    kr_pubkeys_t old;
    char kid[KR_KEY_ID_LEN], needle[64];
    H_REQUIRE(
        kcrypto_pubkeys_load(h_public_path(c->nodes[wt].keys, pub, sizeof(pub)),
                             &old) == KR_OK,
        "wt's old public keys load");
    kcrypto_key_id(old.curve, kid);
    snprintf(needle, sizeof(needle), "auth: refused key=%s", kid);
    H_POLL(ok, 20000, h_log_contains(c->broker_log, needle));
    H_CHECK(ok, "its old transport key is refused at the next handshake");
    h_krctl(&r, "--admin", c->admin, "org", "remove", c->nodes[wt].org, NULL);
    H_CHECK(r.code == 0, "remove after the rekey (%d: %s)", r.code, r.err);
    h_run_free(&r);
    h_node_stop(c, wt);
}

int
main(void)
{
    struct h_cluster c;

    h_init("keys", 280);
    h_cluster_init(&c, "keys");
    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde",
                       "Verloskundigenpraktijk De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    int zh = h_org_add(&c, "zh", S_ZH_ORG, "ziekenhuis", "Ziekenhuis Oost");
    int kz = h_org_add(&c, "kz", S_KZ_ORG, "kraamzorg", "Kraamzorg Noord");
    int wt = h_org_add(&c, "wt", "ura:00007890", "wijkteam", "Wijkteam West");
    h_node_start(&c, wt);
    h_node_start(&c, kz);
    h_node_start(&c, vl);
    h_node_start(&c, jgz);
    h_node_start(&c, zh);
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, jgz, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, zh, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, kz, H_CONNECT_MS))
        h_abort();
    s_remove(&c, vl, jgz, zh);
    s_connected(&c, wt);
    s_rekey(&c, vl, zh, kz);
    s_rollover(&c, vl, kz);
    s_coalition(&c, vl, kz);
    return h_finish(&c);
}
