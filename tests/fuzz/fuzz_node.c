/* fuzz_node.c - see fuzz_node.h. */
#include "fuzz_node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "util.h"

static struct node_config s_cfg;
static struct node *s_n;

static void
s_set(const char *key, const char *value)
{
    char err[256];

    if (cfg_set(node_config_options, &s_cfg, key, value, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "fuzz: node config %s: %s\n", key, err);
        abort();
    }
}

static void
s_open(void)
{
    char err[256], path[512], prefix[512];
    kr_keys_t *k;

    fz_init();
    if (cfg_defaults(node_config_options, &s_cfg, err, sizeof(err)) != 0)
        abort();
    snprintf(prefix, sizeof(prefix), "%s/node-keys", fz_dir());
    k = fz_keys(FZ_NODE_ORG);
    if (kcrypto_keys_save(k, prefix) != 0)
        abort();
    kcrypto_keys_destroy(&k);
    snprintf(prefix, sizeof(prefix), "%s/broker-keys", fz_dir());
    k = fz_keys(FZ_NORGS);
    if (kcrypto_keys_save(k, prefix) != 0)
        abort();
    kcrypto_keys_destroy(&k);
    /* A fixed coalition key: the same pseudonyms on every run. */
    static const char coalition[] =
        "version = 1\n"
        "key = 0101010101010101010101010101010101010101010101010101010101010101"
        "\n";
    snprintf(path, sizeof(path), "%s/coalition.key", fz_dir());
    if (fz_write_file(path, coalition, sizeof(coalition) - 1, 0600) != 0)
        abort();
    s_set("coalition_key", path);
    s_set("org", fz_org_ids[FZ_NODE_ORG]);
    snprintf(path, sizeof(path), "%s/node", fz_dir());
    s_set("data_dir", path);
    snprintf(path, sizeof(path), "%s/node-keys.secret", fz_dir());
    s_set("keys", path);
    snprintf(path, sizeof(path), "%s/broker-keys.public", fz_dir());
    s_set("broker_key", path);
    /* Nobody listens there: the link never connects, and we say it did. */
    snprintf(path, sizeof(path), "ipc://%s/no-broker.sock", fz_dir());
    s_set("broker", path);
    s_set("local", "inproc://fuzz-node-local");
    s_set("map_size_mb", "256");
    s_set("prefill_mb", "0");
    s_set("window", "16");
    s_set("resend_ms", "1000");
    if (node_open(&s_cfg, &s_n) != KR_OK)
        abort();
    s_n->link.connected = true;
    s_n->link.hello_due = false;
    s_n->link.hello_unanswered = false;

    /* The directory, as the broker answers a Hello. */
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__DirectoryResponse dr = KR__V1__DIRECTORY_RESPONSE__INIT;
    Kr__V1__OrgEntry *entries[FZ_NORGS];
    for (int i = 0; i < FZ_NORGS; i++)
        entries[i] = (Kr__V1__OrgEntry *)fz_org_entry(i);
    dr.entries = entries;
    dr.n_entries = FZ_NORGS;
    f.version = KR__V1__VERSION__VERSION_1;
    f.dir_response = &dr;
    size_t len = protobuf_c_message_get_packed_size(&f.base);
    uint8_t *buf = xmalloc(len);
    protobuf_c_message_pack(&f.base, buf);
    node_pass_begin(s_n);
    node_handle_broker_frame(s_n, buf, len);
    free(buf);
    fzn_next_pass();
}

struct node *
fzn_get(void)
{
    if (s_n == NULL)
        s_open();
    return s_n;
}

void
fzn_next_pass(void)
{
    node_pass_end(s_n, false);
    node_pass_begin(s_n);
}

void
fzn_advance(uint8_t v)
{
    util_clock_advance((uint64_t)v * v * 100);
    fzn_next_pass();
    prov_timers(s_n);
    local_timers(s_n);
}
