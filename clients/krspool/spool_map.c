/*
 * spool_map.c - krspool's file mapper: which file an inbox item or a
 * receipt becomes (its name and JSON text, in the forms of docs/JSON.md),
 * what a name in inbox/ stands for, and which send errors are final.
 * Pure functions, so that the fuzz target (tests/fuzz/fuzz_spool_map.c)
 * and the unit test reach every rule.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_map.h"
#include "spool.h"
#include "util.h"

static const char *const s_prefix[] = {
    [SPOOL_MSG] = "msg-",
    [SPOOL_NOTICE] = "notice-",
    [SPOOL_RECEIPT] = "receipt-",
};

#define S_SUFFIX ".json"

/* The JSON text of a record, pretty and ending in a newline, as krctl
 * prints it. */
static int
s_text(json_object *o, char **text, size_t *len)
{
    const char *s = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
               JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t n;

    if (s == NULL || (*text = malloc((n = strlen(s)) + 2)) == NULL)
        return KR_ENOMEM;
    memcpy(*text, s, n);
    (*text)[n] = '\n';
    (*text)[n + 1] = '\0';
    *len = n + 1;
    return KR_OK;
}

static int
s_name(enum spool_kind kind, const ProtobufCBinaryData *id,
       char name[SPOOL_NAME_MAX])
{
    char hex[KR_ID_HEX_LEN];

    if (id->len != KR_ID_LEN)
        return KR_EINVAL;
    snprintf(name, SPOOL_NAME_MAX, "%s%s%s", s_prefix[kind],
             util_hex(id->data, KR_ID_LEN, hex), S_SUFFIX);
    return KR_OK;
}

int
spool_map_inbox(const Kr__V1__InboxItem *it, char name[SPOOL_NAME_MAX],
                char **text, size_t *len)
{
    json_object *o;
    int rc, ok;

    *text = NULL;
    *len = 0;
    if ((rc = s_name(it->notice != NULL ? SPOOL_NOTICE : SPOOL_MSG, &it->msg_id,
                     name)) != KR_OK)
        return rc;
    /* An item whose content does not parse is still written, with
     * "content": null: the adapter sees that it came, and from whom. */
    o = json_map_inbox_item(it, &ok);
    rc = s_text(o, text, len);
    json_object_put(o);
    return rc;
}

int
spool_map_final(const Kr__V1__OutboxItem *it)
{
    switch (it->outcome) {
    case KR__V1__OUTCOME__DELIVERED:
    case KR__V1__OUTCOME__REFUSED:
    case KR__V1__OUTCOME__EXPIRED_OUTCOME:
    case KR__V1__OUTCOME__WITHDRAWN:
        return 1;
    default:
        return 0;
    }
}

int
spool_map_receipt(const Kr__V1__OutboxItem *it, char name[SPOOL_NAME_MAX],
                  char **text, size_t *len)
{
    json_object *o;
    int rc;

    *text = NULL;
    *len = 0;
    if ((rc = s_name(SPOOL_RECEIPT, &it->msg_id, name)) != KR_OK)
        return rc;
    if (!spool_map_final(it))
        return KR_ENOTFOUND;
    o = json_map_outbox_item(it);
    rc = s_text(o, text, len);
    json_object_put(o);
    return rc;
}

int
spool_map_name(const char *name, enum spool_kind *kind,
               char msg_id_hex[KR_MSG_ID_HEX_LEN])
{
    for (size_t k = 0; k < sizeof(s_prefix) / sizeof(s_prefix[0]); k++) {
        size_t pl = strlen(s_prefix[k]);
        const char *hex = name + pl;

        if (strncmp(name, s_prefix[k], pl) != 0)
            continue;
        /* Exactly: prefix, 32 lower-case hex digits, ".json". */
        if (strlen(hex) != 2 * KR_ID_LEN + strlen(S_SUFFIX) ||
            strcmp(hex + 2 * KR_ID_LEN, S_SUFFIX) != 0)
            return KR_EINVAL;
        for (size_t i = 0; i < 2 * KR_ID_LEN; i++)
            if (strchr("0123456789abcdef", hex[i]) == NULL || hex[i] == '\0')
                return KR_EINVAL;
        memcpy(msg_id_hex, hex, 2 * KR_ID_LEN);
        msg_id_hex[2 * KR_ID_LEN] = '\0';
        *kind = (enum spool_kind)k;
        return KR_OK;
    }
    return KR_EINVAL;
}

int
spool_map_outbox_name_ok(const char *name)
{
    size_t n = strlen(name);

    return n > 0 && n <= SPOOL_NAME_MAX - 16 && name[0] != '.' &&
           strchr(name, '/') == NULL;
}

int
spool_map_permanent(int err)
{
    switch (err) {
    case KR_EINVAL:   /* the description is invalid */
    case KR_EEXIST:   /* its msg_id belongs to another message */
    case KR_ENOKEY:   /* the recipient is not in the directory */
    case KR_EREFUSED: /* the node refused it */
    case KR_EPERM:
    case KR_ECRYPTO:
    case KR_ENOTFOUND:
    case KR_ECONFIG: /* e.g. subject_bsn and no coalition key: the node's
                        configuration must change, not the file's try */
        return 1;
    default: /* unavailable, timed out, full, I/O, store, protocol */
        return 0;
    }
}
