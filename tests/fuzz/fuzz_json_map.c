/*
 * fuzz_json_map.c - krctl's JSON mapping (clients/krctl/json_map_*.c):
 * from JSON text to a packed kr.v1.LocalRequest, as `krctl send` does, and
 * back to JSON; and from protobuf bytes that come from other organisations
 * (an opened Content, an inbox item) or from the broker (consent and audit
 * records, directory entries) to JSON, as krctl prints them.
 *
 * Input: a selector byte, then the bytes:
 *   0  JSON text: parsed strictly, mapped to a SendRequest; if that
 *      succeeds, the request unpacked and mapped back to JSON
 *   1  a kr.v1.Content      2  a kr.v1.InboxItem   3  a kr.v1.OutboxItem
 *   4  a kr.v1.ConsentRecord 5  a kr.v1.AuditRecord 6  a kr.v1.OrgEntry
 *   7  text: a time, a period end, a date
 */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "json_map.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_print(json_object *o)
{
    if (o != NULL) {
        /* The printing is part of the path: every string it holds is
         * escaped and written out. */
        const char *s = json_object_to_json_string_ext(
            o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (s == NULL)
            abort();
        json_object_put(o);
    }
}

static void
s_send(const uint8_t *data, size_t size)
{
    char err[512];
    json_object *in = NULL;
    uint8_t *req = NULL;
    size_t req_len = 0;

    if (json_map_parse_text((const char *)data, size, &in, err, sizeof(err)) !=
        0)
        return;
    if (json_map_send_parse(in, FZ_NOW_MS, &req, &req_len, err, sizeof(err)) ==
        0) {
        Kr__V1__LocalRequest *lr =
            kr__v1__local_request__unpack(NULL, req_len, req);
        /* What the mapping packed must unpack. */
        if (lr == NULL || lr->send == NULL)
            abort();
        s_print(json_map_send_to_json(lr->send, err, sizeof(err)));
        kr__v1__local_request__free_unpacked(lr, NULL);
    }
    free(req);
    json_object_put(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz in = {data, size};
    uint8_t sel = fz_u8(&in);
    int ok;

    fz_init();
    switch (sel % 8) {
    case 0:
        s_send(in.p, in.n);
        break;
    case 1: {
        Kr__V1__Content *c = kr__v1__content__unpack(NULL, in.n, in.p);
        if (c != NULL) {
            s_print(json_map_content_to_json(c));
            kr__v1__content__free_unpacked(c, NULL);
        }
        break;
    }
    case 2: {
        Kr__V1__InboxItem *it = kr__v1__inbox_item__unpack(NULL, in.n, in.p);
        if (it != NULL) {
            s_print(json_map_inbox_item(it, &ok));
            kr__v1__inbox_item__free_unpacked(it, NULL);
        }
        break;
    }
    case 3: {
        Kr__V1__OutboxItem *it = kr__v1__outbox_item__unpack(NULL, in.n, in.p);
        if (it != NULL) {
            s_print(json_map_outbox_item(it));
            kr__v1__outbox_item__free_unpacked(it, NULL);
        }
        break;
    }
    case 4: {
        Kr__V1__ConsentRecord *r =
            kr__v1__consent_record__unpack(NULL, in.n, in.p);
        if (r != NULL) {
            s_print(json_map_consent_record(r));
            kr__v1__consent_record__free_unpacked(r, NULL);
        }
        break;
    }
    case 5: {
        Kr__V1__AuditRecord *r = kr__v1__audit_record__unpack(NULL, in.n, in.p);
        if (r != NULL) {
            s_print(json_map_audit_record(r));
            kr__v1__audit_record__free_unpacked(r, NULL);
        }
        break;
    }
    case 6: {
        Kr__V1__OrgEntry *e = kr__v1__org_entry__unpack(NULL, in.n, in.p);
        if (e != NULL) {
            s_print(json_map_org(e));
            kr__v1__org_entry__free_unpacked(e, NULL);
        }
        break;
    }
    default: {
        char *s = xmalloc(in.n + 1);
        uint64_t ms;
        char out[JSON_MAP_TIME_LEN];
        memcpy(s, in.p, in.n);
        s[in.n] = '\0';
        if (json_map_time_parse(s, &ms) == 0)
            json_map_time_format(ms, out);
        json_map_period_parse(s, 0, &ms);
        json_map_period_parse(s, 1, &ms);
        json_map_date_valid(s);
        free(s);
        break;
    }
    }
    return 0;
}
