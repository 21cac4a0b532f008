/* ops_config.c - the options every daemon has (daemon.h). */
#include <arpa/inet.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "daemon_internal.h"
#include "crypto.h"
#include "kr.h"
#include "log.h"
#include "util.h"

/* "0660" -> 0660; -1 unless 1 to 4 octal digits, at most 0777. */
static long
s_parse_mode(const char *s)
{
    char *end;
    long v;

    if (s == NULL || s[0] == '\0' || strlen(s) > 4 ||
        strspn(s, "01234567") != strlen(s))
        return -1;
    v = strtol(s, &end, 8);
    return *end == '\0' && v >= 0 && v <= 0777 ? v : -1;
}

int
daemon_http_split(const char *listen, char *host, size_t hostlen,
                  unsigned *port)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t hl;
    char *end;
    unsigned long p;

    if (colon == NULL || colon == listen)
        return KR_EINVAL;
    hl = (size_t)(colon - listen);
    if (h[0] == '[') { /* [::1]:9770 */
        if (hl < 3 || h[hl - 1] != ']')
            return KR_EINVAL;
        h++;
        hl -= 2;
    }
    if (hl >= hostlen)
        return KR_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    p = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || p > 65535)
        return KR_EINVAL;
    *port = (unsigned)p;
    return KR_OK;
}

static int
s_check_http(const struct daemon_ops *o, char *err, size_t errlen)
{
    char host[64];
    unsigned port;
    struct in_addr a4;
    struct in6_addr a6;
    bool loopback;

    if (o->http_listen[0] == '\0')
        return KR_OK;
    if (daemon_http_split(o->http_listen, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen,
                 "http_listen: '%s' is not ADDRESS:PORT (e.g. "
                 "127.0.0.1:9770 or [::1]:9770)",
                 o->http_listen);
        return KR_ECONFIG;
    }
    if (inet_pton(AF_INET, host, &a4) == 1)
        loopback = (ntohl(a4.s_addr) >> 24) == 127;
    else if (inet_pton(AF_INET6, host, &a6) == 1)
        loopback = IN6_IS_ADDR_LOOPBACK(&a6);
    else {
        snprintf(err, errlen,
                 "http_listen: '%s' is not an IP address (host names are "
                 "not resolved)",
                 host);
        return KR_ECONFIG;
    }
    if (!loopback && !o->http_allow_remote) {
        snprintf(err, errlen,
                 "http_listen: %s is not a loopback address; the endpoint "
                 "has no authentication: set http_allow_remote = true to "
                 "serve it there (behind a firewall)",
                 host);
        return KR_ECONFIG;
    }
    return KR_OK;
}

int
daemon_ops_check(const struct daemon_ops *o, char *err, size_t errlen)
{
    if (strcmp(o->log_format, "text") != 0 &&
        strcmp(o->log_format, "json") != 0) {
        snprintf(err, errlen, "log_format: '%s' is not text or json",
                 o->log_format);
        return KR_ECONFIG;
    }
    if (s_parse_mode(o->socket_mode) < 0) {
        snprintf(err, errlen,
                 "socket_mode: '%s' is not an octal mode from 0000 to 0777",
                 o->socket_mode);
        return KR_ECONFIG;
    }
    if (o->socket_group[0] != '\0' && getgrnam(o->socket_group) == NULL) {
        snprintf(err, errlen, "socket_group: no group '%s' on this machine",
                 o->socket_group);
        return KR_ECONFIG;
    }
    return s_check_http(o, err, errlen);
}

int
daemon_endpoint_check(const char *key, const char *value, bool empty_ok,
                      char *err, size_t errlen)
{
    const char *colon;

    if (value[0] == '\0' && empty_ok)
        return KR_OK;
    if (strncmp(value, "ipc://", 6) == 0 && value[6] != '\0')
        return KR_OK;
    if (strncmp(value, "tcp://", 6) == 0 &&
        (colon = strrchr(value + 6, ':')) != NULL && colon > value + 6 &&
        (strcmp(colon + 1, "*") == 0 ||
         (colon[1] != '\0' &&
          strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
          strlen(colon + 1) <= 5 && strtoul(colon + 1, NULL, 10) <= 65535)))
        return KR_OK;
    snprintf(err, errlen,
             "%s: '%s' is not an endpoint: use tcp://ADDRESS:PORT (e.g. "
             "tcp://127.0.0.1:7700) or ipc:///path/to/socket",
             key, value);
    return KR_ECONFIG;
}

bool
daemon_keys_is_public(const char *path)
{
    kr_pubkeys_t pub;
    char *text = NULL;
    size_t len;
    bool secret;

    /* Looked at before the secret key loader, whose complaint about a
     * public file's mode (0644) would send the operator to chmod it. */
    if (util_read_file(path, 64 * 1024, &text, &len) != KR_OK)
        return false;
    secret = strstr(text, "_secret") != NULL;
    free(text);
    return !secret && kcrypto_pubkeys_load(path, &pub) == KR_OK;
}

void
daemon_ops_apply_log(const struct daemon_ops *o)
{
    log_set_json(strcmp(o->log_format, "json") == 0);
}

long
daemon_socket_mode(const struct daemon_ops *o)
{
    return s_parse_mode(o->socket_mode);
}
