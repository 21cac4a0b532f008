/* gw_config.c - krfhir's options: one table for the file, the flags,
 * --help and --sample-config, as for the other daemons (common/config.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw.h"
#include "log.h"
#include "util.h"

/* A bundle of CAs is some hundred kilobytes (the system's is 200). */
#define S_CA_FILE_MAX (8 << 20)

#define S_OPT(k, t, f, d, lo, hi, req, h)                                      \
    {                                                                          \
        k, t, offsetof(struct gw_config, f), d, lo, hi, req, h                 \
    }

const struct cfg_option gw_config_options[] = {
    S_OPT("node", CFG_STR, node, NULL, 0, 0, 1,
          "the krnode's local endpoint, e.g. ipc:///var/lib/krnode/node.sock"),
    S_OPT("listen", CFG_STR, listen, "127.0.0.1:8380", 0, 0, 0,
          "ADDRESS:PORT of the FHIR endpoint (port 0: any free port)"),
    S_OPT("allow_remote", CFG_BOOL, allow_remote, "false", 0, 0, 0,
          "let listen be a non-loopback address (put TLS and "
          "authentication in front of it)"),
    S_OPT("base_url", CFG_STR, base_url, "", 0, 0, 0,
          "the base URL clients use, for fullUrl and links (empty: "
          "http://LISTEN)"),
    S_OPT("port_file", CFG_STR, port_file, "", 0, 0, 0,
          "write the bound port to this file at start (empty: none)"),
    S_OPT("max_body_bytes", CFG_U64, max_body_bytes, "1048576", 1024, 67108864,
          0, "larger request bodies are refused (413)"),
    S_OPT("max_connections", CFG_U64, max_connections, "64", 1, 4096, 0,
          "connections open at once; more are refused"),
    S_OPT("idle_timeout_s", CFG_U64, idle_timeout_s, "10", 1, 3600, 0,
          "a connection that sends nothing this long is closed"),
    S_OPT("request_timeout_ms", CFG_U64, request_timeout_ms, "30000", 100,
          3600000, 0,
          "a request's body must have arrived this long after its "
          "headers, or the connection is closed"),
    S_OPT("node_timeout_ms", CFG_U64, node_timeout_ms, "10000", 100, 600000, 0,
          "bound on each call to the node"),
    S_OPT("node_clients", CFG_U64, node_clients, "8", 1, 256, 0,
          "connections to the node, shared by the requests"),
    S_OPT("accept_wait_ms", CFG_U64, accept_wait_ms, "5000", 0, 600000, 0,
          "how long a write waits for the broker's answer (accepted or "
          "refused) before it answers 202"),
    S_OPT("search_max", CFG_U64, search_max, "100", 1, 1000, 0,
          "most Tasks one search answer holds (_count)"),
    S_OPT("long_poll_max_s", CFG_U64, long_poll_max_s, "60", 0, 600, 0,
          "bound on a search's _wait (the long poll)"),
    S_OPT("subscription_endpoint", CFG_STR, subscription_endpoint, "", 0, 0, 0,
          "http:// or https:// URL that gets an id-only notification "
          "(rest-hook) per new or changed Task (empty: none)"),
    S_OPT("subscription_header", CFG_STR, subscription_header, "", 0, 0, 0,
          "one 'Name: value' header sent with every notification (e.g. "
          "Authorization)"),
    S_OPT("subscription_ca_file", CFG_STR, subscription_ca_file, "", 0, 0, 0,
          "PEM file of the CAs an https subscription_endpoint's certificate "
          "must chain to, instead of the system's (empty: the system's); "
          "the certificate and its host name are always verified"),
    S_OPT("notify_timeout_ms", CFG_U64, notify_timeout_ms, "5000", 100, 600000,
          0, "bound on one notification's HTTP exchange"),
    S_OPT("retry_initial_ms", CFG_U64, retry_initial_ms, "500", 10, 3600000, 0,
          "wait after a failed notification; it doubles each time"),
    S_OPT("retry_max_ms", CFG_U64, retry_max_ms, "60000", 10, 86400000, 0,
          "the longest wait between attempts"),
    S_OPT("retry_max_attempts", CFG_U64, retry_max_attempts, "0", 0, 1000000, 0,
          "give up on one notification after this many attempts (0: "
          "never; later ones wait behind it)"),
    S_OPT("mark_processed", CFG_BOOL, mark_processed, "true", 0, 0, 0,
          "mark what arrived processed at the node once the rest-hook "
          "announced it (without one: once its Task was read); false: "
          "the organisation marks it (krctl processed, libkr)"),
    S_OPT("state_dir", CFG_STR, state_dir, NULL, 0, 0, 1,
          "directory of the notification cursor (notify.cursor)"),
    S_OPT("log_level", CFG_STR, log_level, "info", 0, 0, 0,
          "debug, info, warn or error"),
    {NULL, CFG_STR, 0, NULL, 0, 0, 0, NULL},
};

int
gw_split_listen(const char *listen, char *host, size_t hostlen, unsigned *port)
{
    const char *colon, *h = listen;
    size_t hlen;
    uint64_t p;

    if (listen == NULL)
        return KR_ECONFIG;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (close == NULL || close[1] != ':')
            return KR_ECONFIG;
        h = listen + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL)
            return KR_ECONFIG;
        hlen = (size_t)(colon - listen);
    }
    if (hlen == 0 || hlen >= hostlen)
        return KR_ECONFIG;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (util_parse_u64(colon + 1, 0, 65535, &p) != KR_OK)
        return KR_ECONFIG;
    *port = (unsigned)p;
    return KR_OK;
}

bool
gw_host_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/* Whether 'path' can be read and holds a PEM certificate: checked here,
 * so that a wrong path stops the start instead of failing every
 * notification later. */
static int
s_check_pem(const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    errno = 0;
    if ((rc = util_read_file(path, S_CA_FILE_MAX, &text, &len)) != KR_OK) {
        if (rc == KR_EINVAL)
            snprintf(err, errlen,
                     "subscription_ca_file: %s is over %d bytes: not a file "
                     "of CAs",
                     path, S_CA_FILE_MAX);
        else
            snprintf(err, errlen, "subscription_ca_file: cannot read %s: %s",
                     path, errno != 0 ? strerror(errno) : kr_strerror(rc));
        return KR_ECONFIG;
    }
    rc = strstr(text, "-----BEGIN CERTIFICATE-----") != NULL ? KR_OK
                                                             : KR_ECONFIG;
    if (rc != KR_OK)
        snprintf(err, errlen,
                 "subscription_ca_file: %s holds no PEM certificate "
                 "(-----BEGIN CERTIFICATE-----)",
                 path);
    free(text);
    return rc;
}

int
gw_config_check(struct gw_config *cfg, char *err, size_t errlen)
{
    char host[64];
    unsigned port;
    struct in_addr a4;
    struct in6_addr a6;

    if (log_level_parse(cfg->log_level) < 0) {
        snprintf(err, errlen,
                 "log_level: '%s' is not debug, info, warn or error",
                 cfg->log_level);
        return KR_ECONFIG;
    }
    if (cfg->node[0] == '\0') {
        snprintf(err, errlen, "node: an endpoint is required");
        return KR_ECONFIG;
    }
    if (cfg->state_dir[0] == '\0') {
        snprintf(err, errlen, "state_dir: a directory is required");
        return KR_ECONFIG;
    }
    if (gw_split_listen(cfg->listen, host, sizeof(host), &port) != KR_OK ||
        (inet_pton(AF_INET, host, &a4) != 1 &&
         inet_pton(AF_INET6, host, &a6) != 1)) {
        snprintf(err, errlen,
                 "listen: '%s' is not ADDRESS:PORT with a numeric address "
                 "(127.0.0.1:8380, [::1]:8380)",
                 cfg->listen);
        return KR_ECONFIG;
    }
    if (!gw_host_loopback(host) && !cfg->allow_remote) {
        snprintf(err, errlen,
                 "listen: %s is not a loopback address; the gateway has no "
                 "TLS and no authentication of its own: put a proxy that "
                 "has them in front and set allow_remote = true",
                 cfg->listen);
        return KR_ECONFIG;
    }
    if (cfg->base_url[0] != '\0' && strncmp(cfg->base_url, "http://", 7) != 0 &&
        strncmp(cfg->base_url, "https://", 8) != 0) {
        snprintf(err, errlen,
                 "base_url: '%s' does not start with http:// or https://",
                 cfg->base_url);
        return KR_ECONFIG;
    }
    if (strlen(cfg->base_url) >= GW_URL_MAX - 64) {
        snprintf(err, errlen, "base_url: longer than %d bytes",
                 GW_URL_MAX - 64);
        return KR_ECONFIG;
    }
    if (cfg->subscription_endpoint[0] != '\0') {
        char why[GW_URL_MAX + 64];
        if (gw_hook_check_url(cfg->subscription_endpoint, why, sizeof(why)) !=
            KR_OK) {
            snprintf(err, errlen, "subscription_endpoint: %s", why);
            return KR_ECONFIG;
        }
    }
    if (cfg->subscription_ca_file[0] != '\0') {
        if (strncasecmp(cfg->subscription_endpoint, "https://", 8) != 0) {
            snprintf(err, errlen,
                     "subscription_ca_file: set, but subscription_endpoint "
                     "('%s') is not an https:// URL",
                     cfg->subscription_endpoint);
            return KR_ECONFIG;
        }
        if (s_check_pem(cfg->subscription_ca_file, err, errlen) != KR_OK)
            return KR_ECONFIG;
    }
    if (cfg->subscription_header[0] != '\0') {
        const char *c = strchr(cfg->subscription_header, ':');
        if (c == NULL || c == cfg->subscription_header ||
            strpbrk(cfg->subscription_header, "\r\n") != NULL) {
            snprintf(err, errlen,
                     "subscription_header: not one 'Name: value' line");
            return KR_ECONFIG;
        }
    }
    if (cfg->retry_max_ms < cfg->retry_initial_ms) {
        snprintf(err, errlen,
                 "retry_max_ms: %llu is less than retry_initial_ms (%llu)",
                 (unsigned long long)cfg->retry_max_ms,
                 (unsigned long long)cfg->retry_initial_ms);
        return KR_ECONFIG;
    }
    return KR_OK;
}
