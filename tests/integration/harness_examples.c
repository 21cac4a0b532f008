/*
 * harness_examples.c - examples/ between two organisations with the
 * examples' ids, as test_examples and test_views use them: the cluster
 * with the consent of examples/consent-grant.json at the broker, and
 * examples/adapter.c (libkr's JSON layer) sending and listing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "harness.h"
#include "harness_examples.h"

void
hx_setup(struct h_cluster *c, int *vl, int *jgz)
{
    struct h_run r;
    char path[H_PATH];
    bool ok;

    h_broker_start(c);
    *vl = h_org_add(c, "vl", HX_VL_ORG, "verloskunde", "Praktijk De Wieg");
    *jgz = h_org_add(c, "jgz", HX_JGZ_ORG, "jgz", "JGZ Voorbeeld");
    h_node_start(c, *vl);
    h_node_start(c, *jgz);
    if (!h_node_wait_connected(c, *vl, H_CONNECT_MS) ||
        !h_node_wait_connected(c, *jgz, H_CONNECT_MS))
        h_abort();

    snprintf(path, sizeof(path), "%s/consent-grant.json", HX_EXAMPLES);
    h_krctl(&r, "--node", c->nodes[*vl].local, "consent", "grant", path, NULL);
    json_object *g = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    const char *gid = g != NULL ? h_json_str(g, "msg_id") : NULL;
    char grant[KR_MSG_ID_HEX_LEN] = "";
    if (gid != NULL)
        snprintf(grant, sizeof(grant), "%s", gid);
    H_CHECK(r.code == 0 && grant[0] != '\0',
            "krctl consent grant examples/consent-grant.json (exit %d)",
            r.code);
    json_object_put(g);
    h_run_free(&r);
    /* The grant must be at the broker before what relies on it. */
    H_POLL(ok, 20000,
           hx_listed(c, *vl, "receipts", grant, "outcome", "accepted") ||
               hx_listed(c, *vl, "receipts", grant, "outcome", "delivered"));
    H_CHECK(ok, "the broker accepted the consent");
}

/* examples/adapter.c: "send" prints the msg_id. */
bool
hx_adapter_send(struct h_cluster *c, int node, const char *file,
                char msg_id[KR_MSG_ID_HEX_LEN])
{
    char path[H_PATH];
    struct h_run r;
    bool ok;

    snprintf(path, sizeof(path), "%s/%s", HX_EXAMPLES, file);
    char *argv[] = {HX_ADAPTER, "send", c->nodes[node].local, path, NULL};
    h_run(&r, H_RUN_MS, argv);
    ok = r.code == 0 && r.out != NULL && strlen(r.out) >= 32;
    if (ok)
        snprintf(msg_id, KR_MSG_ID_HEX_LEN, "%.32s", r.out);
    H_CHECK(ok, "adapter send examples/%s from %s (exit %d%s%s)", file,
            c->nodes[node].org, r.code, r.code ? ": " : "",
            r.code ? r.err : "");
    h_run_free(&r);
    return ok;
}

/* The adapter's JSON listing ("inbox" or "receipts") holds an item with
 * msg_id and, if 'key' is given, key == value. */
bool
hx_listed(struct h_cluster *c, int node, const char *what, const char *msg_id,
          const char *key, const char *value)
{
    char *argv[] = {HX_ADAPTER, (char *)what, c->nodes[node].local, NULL};
    struct h_run r;
    bool found = false;

    h_run(&r, H_RUN_MS, argv);
    json_object *a = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    for (size_t i = 0; a != NULL && json_object_is_type(a, json_type_array) &&
                       i < json_object_array_length(a) && !found;
         i++) {
        json_object *o = json_object_array_get_idx(a, i);
        const char *m = h_json_str(o, "msg_id");
        const char *v = key != NULL ? h_json_str(o, key) : NULL;
        found = m != NULL && strcmp(m, msg_id) == 0 &&
                (key == NULL || (v != NULL && strcmp(v, value) == 0));
    }
    json_object_put(a);
    h_run_free(&r);
    return found;
}

void
hx_through(struct h_cluster *c, int from, int to, const char *file,
           char id[KR_MSG_ID_HEX_LEN])
{
    bool ok;

    if (!hx_adapter_send(c, from, file, id))
        return;
    H_POLL(ok, 20000, hx_listed(c, to, "inbox", id, NULL, NULL));
    H_CHECK(ok, "examples/%s arrives at %s (adapter inbox)", file,
            c->nodes[to].org);
    H_POLL(ok, 20000,
           hx_listed(c, from, "receipts", id, "outcome", "delivered"));
    H_CHECK(ok, "and its receipt says delivered (adapter receipts)");
}
