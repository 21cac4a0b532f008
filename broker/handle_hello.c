/* handle_hello.c - a node announces itself; directory look-ups. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "bstore.h"
#include "log.h"
#include "names.h"

struct s_dir_arg {
    Kr__V1__OrgEntry **entries;
    size_t n, cap;
};

static void
s_collect(const Kr__V1__OrgEntry *e, void *arg)
{
    struct s_dir_arg *a = arg;

    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->entries = xrealloc(a->entries, a->cap * sizeof(*a->entries));
    }
    /* Copy through pack/unpack: the entry is freed after this returns. */
    size_t len = protobuf_c_message_get_packed_size(&e->base);
    uint8_t *tmp = xmalloc(len);
    protobuf_c_message_pack(&e->base, tmp);
    a->entries[a->n++] = kr__v1__org_entry__unpack(NULL, len, tmp);
    free(tmp);
}

static void
s_send_directory(struct broker *b, const uint8_t *rid, size_t rid_len,
                 char **ids, size_t nids)
{
    Kr__V1__Frame f = KR__V1__FRAME__INIT;
    Kr__V1__DirectoryResponse resp = KR__V1__DIRECTORY_RESPONSE__INIT;
    struct s_dir_arg a = {NULL, 0, 0};
    MDB_txn *txn;
    char **unknown = NULL;
    size_t nunknown = 0;

    if (bstore_begin(b->store, true, &txn) != 0)
        return;
    if (nids == 0) {
        bstore_org_foreach(b->store, txn, s_collect, &a);
    } else {
        unknown = xcalloc(nids, sizeof(*unknown));
        for (size_t i = 0; i < nids && i < 1024; i++) {
            Kr__V1__OrgEntry *e;
            if (bstore_org_get(b->store, txn, ids[i], &e) == 0) {
                s_collect(e, &a);
                kr__v1__org_entry__free_unpacked(e, NULL);
            } else {
                unknown[nunknown++] = ids[i];
            }
        }
    }
    bstore_abort(txn);
    f.version = KR__V1__VERSION__VERSION_1;
    resp.entries = a.entries;
    resp.n_entries = a.n;
    resp.unknown = unknown;
    resp.n_unknown = nunknown;
    f.dir_response = &resp;
    broker_send_frame(b, rid, rid_len, &f);
    for (size_t i = 0; i < a.n; i++)
        kr__v1__org_entry__free_unpacked(a.entries[i], NULL);
    free(a.entries);
    free(unknown);
}

void
handle_hello(struct broker *b, struct org *o, const uint8_t *rid,
             size_t rid_len, const Kr__V1__Hello *h)
{
    if (h->org_id == NULL || strcmp(h->org_id, o->id) != 0) {
        log_warnx("hello: org=%s: hello names org=%s", o->id,
                  h->org_id ? h->org_id : "");
        broker_send_error(b, rid, rid_len, KR__V1__REASON__SENDER_MISMATCH,
                          "hello names another organisation than the key",
                          false);
        return;
    }
    /* Every Hello is answered by one DirectoryResponse, before anything
     * else on this connection (empty unless want_directory): a node that
     * holds early deliveries knows from it that its Hello was answered
     * (PROTOCOL.md, "Early delivery", rule 4). */
    if (h->want_directory) {
        s_send_directory(b, rid, rid_len, NULL, 0);
    } else {
        Kr__V1__Frame f = KR__V1__FRAME__INIT;
        Kr__V1__DirectoryResponse empty = KR__V1__DIRECTORY_RESPONSE__INIT;
        f.version = KR__V1__VERSION__VERSION_1;
        f.dir_response = &empty;
        broker_send_frame(b, rid, rid_len, &f);
    }
    /* A new link (or the same one again): everything unacknowledged is
     * sent again from the head of the queue; the node deduplicates. */
    memcpy(o->rid, rid, rid_len);
    o->rid_len = rid_len;
    o->connected = true;
    o->window =
        h->window == 0
            ? (uint32_t)b->cfg.window
            : (h->window < b->cfg.window ? h->window : (uint32_t)b->cfg.window);
    deliver_rewind(o);
    /* A node that connects drops what it got early and was not told
     * about: a result owed to the old link is news to nobody. Only a node
     * that says it holds early deliveries gets any. */
    o->result_pass = 0;
    o->early_ok = h->early_delivery && b->cfg.early_delivery;
    o->resend_attempt = 0;
    log_info("hello: org=%s connected window=%u early_delivery=%s", o->id,
             o->window, o->early_ok ? "yes" : "no");
}

void
handle_dir_request(struct broker *b, const uint8_t *rid, size_t rid_len,
                   const Kr__V1__DirectoryRequest *r)
{
    s_send_directory(b, rid, rid_len, r->org_ids, r->n_org_ids);
}
