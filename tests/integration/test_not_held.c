/*
 * test_not_held.c - a send that left ahead of the node's commit, when the
 * node dies before that commit (PROTOCOL.md, "Sending ahead").
 *
 * The broker has the message and delivers it; the sending node has no
 * record of it and its adapter never got the msg_id. The node keeps the
 * broker's receipts anyway, as an outbox item marked not_held, so that an
 * adapter or operator sees that the message went (`krctl receipts`); an
 * adapter that sends it again with the same msg_id gets the message's id
 * and fate, and the recipient holds it exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <json-c/json.h>

#include "harness.h"
#include "util.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"

struct s_find {
    uint8_t id[16];
    unsigned n;
    bool not_held;
    int outcome;
    char recipient[64];
};

static int
s_outbox_find(const Kr__V1__OutboxItem *it, void *arg)
{
    struct s_find *f = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, f->id, 16) == 0) {
        f->n++;
        f->not_held = it->not_held;
        f->outcome = it->outcome;
        snprintf(f->recipient, sizeof(f->recipient), "%s", it->recipient);
    }
    return 0;
}

static int
s_inbox_find(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_find *f = arg;

    if (it->msg_id.len == 16 && memcmp(it->msg_id.data, f->id, 16) == 0)
        f->n++;
    return 0;
}

static bool
s_outbox_says(kr_client_t *kc, const uint8_t id[16], int outcome, bool not_held,
              struct s_find *f)
{
    memset(f, 0, sizeof(*f));
    memcpy(f->id, id, 16);
    return h_outbox_foreach_all(kc, s_outbox_find, f) == KR_OK && f->n == 1 &&
           f->outcome == outcome && f->not_held == not_held;
}

static unsigned
s_inbox_count(kr_client_t *kc, const uint8_t id[16])
{
    struct s_find f = {.n = 0};

    memcpy(f.id, id, 16);
    if (h_inbox_foreach_all(kc, s_inbox_find, &f) != KR_OK)
        return 0;
    return f.n;
}

int
main(void)
{
    static struct h_cluster c;
    struct h_referral ref;
    struct s_find f;
    uint8_t id[16], got[16];
    char hex[33];
    int status;
    bool ok;

    h_init("not_held", 120);
    h_cluster_init(&c, "not_held");
    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde",
                       "Verloskundigenpraktijk De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    h_node_start(&c, vl);
    h_node_start(&c, jgz);
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS) ||
        !h_node_wait_connected(&c, jgz, H_CONNECT_MS))
        h_abort();
    H_REQUIRE(h_consent_default(&c, vl, jgz), "consent recorded");
    /* A first roundtrip: the node knows JGZ's keys, so that the next
     * named send may leave ahead of its commit. */
    h_roundtrip(&c, vl, jgz, "before the fault", 20000);

    h_note("== the midwife's node dies between its send ahead and its "
           "commit");
    H_REQUIRE(h_node_stop(&c, vl), "the midwife's node stops cleanly");
    setenv("KRNODE_TEST_EXIT_AFTER_AHEAD", "1", 1);
    h_node_start(&c, vl);
    unsetenv("KRNODE_TEST_EXIT_AFTER_AHEAD");
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS))
        h_abort();
    h_referral_default(&ref);
    ref.reason_text = "verstuurd vlak voor de stroomstoring";
    util_random_id(id);
    kr_client_t *once = NULL;
    H_REQUIRE(kr_client_connect(c.nodes[vl].local, 3000, &once) == KR_OK,
              "an adapter with a short timeout");
    int rc = h_send_referral(once, S_JGZ_ORG, &ref, id, got);
    kr_client_destroy(&once);
    H_CHECK(rc != KR_OK, "the adapter gets no msg_id: the node died (%s)",
            kr_strerror(rc));
    H_REQUIRE(h_proc_wait(&c.nodes[vl].proc, 20000, &status) == KR_OK &&
                  WIFEXITED(status) && WEXITSTATUS(status) == 70,
              "the node died after its submit, before its commit");
    c.nodes[vl].proc.expected = false;

    kr_client_t *kj = h_node_client(&c, jgz);
    H_POLL(ok, 20000, s_inbox_count(kj, id) == 1);
    H_CHECK(ok, "the broker had it and JGZ received it");

    h_node_start(&c, vl);
    kr_client_t *kv = h_node_client(&c, vl);
    H_POLL(ok, 20000,
           s_outbox_says(kv, id, KR__V1__OUTCOME__DELIVERED, true, &f));
    s_outbox_says(kv, id, KR__V1__OUTCOME__DELIVERED, true, &f);
    H_CHECK(ok,
            "the restarted node keeps the broker's receipt: delivered, "
            "not_held (found %u, outcome %d, not_held %d)",
            f.n, f.outcome, f.not_held);
    H_CHECK(h_log_contains(c.nodes[vl].log, "kept as not_held"),
            "and says so in its log");

    /* The operator's view. */
    struct h_run r;
    h_krctl(&r, "--node", c.nodes[vl].local, "receipts", NULL);
    json_object *arr = json_tokener_parse(r.out);
    bool listed = false;
    util_hex(id, 16, hex);
    for (size_t i = 0;
         arr != NULL && json_object_is_type(arr, json_type_array) &&
         i < json_object_array_length(arr);
         i++) {
        json_object *o = json_object_array_get_idx(arr, i);
        const char *m = h_json_str(o, "msg_id");
        json_object *nh = h_json_path(o, "not_held");
        if (m != NULL && strcmp(m, hex) == 0 && nh != NULL &&
            json_object_get_boolean(nh))
            listed = true;
    }
    H_CHECK(r.code == 0 && listed,
            "krctl receipts lists it with \"not_held\": true (exit %d)",
            r.code);
    json_object_put(arr);
    h_run_free(&r);

    h_note("== the adapter sends it again with the same msg_id");
    rc = h_send_referral(kv, S_JGZ_ORG, &ref, id, got);
    H_CHECK(rc == KR_OK && memcmp(got, id, 16) == 0,
            "the retry is taken, under the same msg_id (%s)", kr_strerror(rc));
    /* The values are read before the check: the order in which a call's
     * arguments are evaluated is not defined. */
    ok = s_outbox_says(kv, id, KR__V1__OUTCOME__DELIVERED, false, &f) &&
         strcmp(f.recipient, S_JGZ_ORG) == 0;
    H_CHECK(ok,
            "the outbox holds it once, delivered, now with its recipient "
            "(found %u, outcome %d, not_held %d, recipient '%s')",
            f.n, f.outcome, f.not_held, f.recipient);
    /* Anything sent after the retry arrives after it would have. */
    h_roundtrip(&c, vl, jgz, "after the retry", 20000);
    H_CHECK(s_inbox_count(kj, id) == 1, "JGZ holds the message exactly once");

    h_note("== retention purges not-held records once final, like others");
    uint8_t id2[16];
    H_REQUIRE(h_node_stop(&c, vl), "the midwife's node stops cleanly");
    h_node_set(&c, vl, "retention_s", "2");
    setenv("KRNODE_TEST_EXIT_AFTER_AHEAD", "1", 1);
    h_node_start(&c, vl);
    unsetenv("KRNODE_TEST_EXIT_AFTER_AHEAD");
    if (!h_node_wait_connected(&c, vl, H_CONNECT_MS))
        h_abort();
    util_random_id(id2);
    H_REQUIRE(kr_client_connect(c.nodes[vl].local, 3000, &once) == KR_OK,
              "an adapter with a short timeout");
    rc = h_send_referral(once, S_JGZ_ORG, &ref, id2, got);
    kr_client_destroy(&once);
    H_REQUIRE(h_proc_wait(&c.nodes[vl].proc, 20000, &status) == KR_OK &&
                  WIFEXITED(status) && WEXITSTATUS(status) == 70,
              "the node died again after its submit, before its commit");
    c.nodes[vl].proc.expected = false;
    h_node_start(&c, vl);
    kv = h_node_client(&c, vl);
    H_POLL(ok, 20000,
           s_outbox_says(kv, id2, KR__V1__OUTCOME__DELIVERED, true, &f));
    H_CHECK(ok, "a second not-held record, delivered");
    /* The newest record of the outbox stays until a newer one comes. */
    h_roundtrip(&c, vl, jgz, "after the second not-held record", 20000);
    H_POLL(ok, 30000,
           (s_outbox_says(kv, id2, KR__V1__OUTCOME__DELIVERED, true, &f),
            f.n == 0) &&
               (s_outbox_says(kv, id, KR__V1__OUTCOME__DELIVERED, false, &f),
                f.n == 0));
    H_CHECK(ok,
            "retention_s after their outcome both the not-held record and "
            "the one a retry took over are purged (%u left)",
            f.n);
    return h_finish(&c);
}
