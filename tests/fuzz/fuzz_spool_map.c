/*
 * fuzz_spool_map.c - krspool's file mapper (clients/krspool/spool_map.c)
 * and the path a spool file takes to a request: a file's bytes as the
 * description kr_send_json() maps (JSON text parsed strictly, the msg_id
 * derived from the organisation and the bytes when the file names none,
 * then the mapping, with "today+Nd" dates against a fixed now); inbox and
 * outbox items from the node as the files krspool writes; names found in
 * inbox/cur as what they stand for.
 *
 * Input: a selector byte, then the bytes:
 *   0  an outbox file (JSON text)
 *   1  a kr.v1.InboxItem: its file name and text; the name must map back
 *      to the item's kind and msg_id
 *   2  a kr.v1.OutboxItem: its receipt file, if final
 *   3  a file name in inbox/cur or outbox/new (text)
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "json_map.h"
#include "kr.h"
#include "spool.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_outbox_file(const uint8_t *data, size_t size)
{
    json_object *in = NULL, *v;
    char err[512], hex[KR_MSG_ID_HEX_LEN];
    uint8_t *req = NULL;
    size_t req_len = 0;

    if (json_map_parse_text((const char *)data, size, &in, err, sizeof(err)) !=
        KR_OK)
        return;
    if (json_object_is_type(in, json_type_object) &&
        !json_object_object_get_ex(in, "msg_id", &v)) {
        if (kr_json_msg_id(fz_org_ids[0], (const char *)data, size, hex) !=
                KR_OK ||
            strlen(hex) != 32)
            abort();
        json_object_object_add(in, "msg_id", json_object_new_string(hex));
    }
    if (json_map_send_parse(in, FZ_NOW_MS, &req, &req_len, err, sizeof(err)) ==
        KR_OK) {
        Kr__V1__LocalRequest *lr =
            kr__v1__local_request__unpack(NULL, req_len, req);
        if (lr == NULL || lr->send == NULL || lr->send->msg_id.len != 16)
            abort();
        kr__v1__local_request__free_unpacked(lr, NULL);
    }
    free(req);
    json_object_put(in);
}

static void
s_inbox_item(const uint8_t *data, size_t size)
{
    Kr__V1__InboxItem *it = kr__v1__inbox_item__unpack(NULL, size, data);
    char name[SPOOL_NAME_MAX], hex[KR_MSG_ID_HEX_LEN], want[KR_ID_HEX_LEN];
    enum spool_kind kind;
    char *text = NULL;
    size_t len = 0;

    if (it == NULL)
        return;
    if (spool_map_inbox(it, name, &text, &len) == KR_OK) {
        /* What krspool writes is whole JSON, and its name stands for the
         * item: that is how a move into cur/ reaches the right one. */
        json_object *o = json_tokener_parse(text);
        if (o == NULL || text[len - 1] != '\n' ||
            spool_map_name(name, &kind, hex) != KR_OK ||
            kind != (it->notice != NULL ? SPOOL_NOTICE : SPOOL_MSG) ||
            strcmp(hex, util_hex(it->msg_id.data, KR_ID_LEN, want)) != 0)
            abort();
        json_object_put(o);
    } else if (it->msg_id.len == KR_ID_LEN) {
        abort();
    }
    free(text);
    kr__v1__inbox_item__free_unpacked(it, NULL);
}

static void
s_outbox_item(const uint8_t *data, size_t size)
{
    Kr__V1__OutboxItem *it = kr__v1__outbox_item__unpack(NULL, size, data);
    char name[SPOOL_NAME_MAX], hex[KR_MSG_ID_HEX_LEN];
    enum spool_kind kind;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (it == NULL)
        return;
    rc = spool_map_receipt(it, name, &text, &len);
    if (rc == KR_OK) {
        json_object *o = json_tokener_parse(text);
        if (o == NULL || !spool_map_final(it) ||
            spool_map_name(name, &kind, hex) != KR_OK || kind != SPOOL_RECEIPT)
            abort();
        json_object_put(o);
    } else if (rc == KR_ENOTFOUND && spool_map_final(it)) {
        abort();
    }
    free(text);
    kr__v1__outbox_item__free_unpacked(it, NULL);
}

static void
s_name(const uint8_t *data, size_t size)
{
    char name[SPOOL_NAME_MAX + 1], hex[KR_MSG_ID_HEX_LEN];
    enum spool_kind kind;
    uint64_t ms;

    if (size > SPOOL_NAME_MAX)
        size = SPOOL_NAME_MAX;
    memcpy(name, data, size);
    name[size] = '\0';
    if (spool_map_name(name, &kind, hex) == KR_OK && strlen(hex) != 32)
        abort();
    (void)spool_map_outbox_name_ok(name);
    (void)json_map_relative_parse(name, FZ_NOW_MS, size & 1, &ms);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case 0:
        s_outbox_file(data + 1, size - 1);
        break;
    case 1:
        s_inbox_item(data + 1, size - 1);
        break;
    case 2:
        s_outbox_item(data + 1, size - 1);
        break;
    default:
        s_name(data + 1, size - 1);
        break;
    }
    return 0;
}
