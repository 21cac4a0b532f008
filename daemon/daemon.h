/*
 * daemon.h - what krbroker and krnode share to run as a service, and only
 * they (libkr and krctl do not link it): the systemd notification protocol
 * (notify.c), the permissions of their local sockets (sockperm.c), the
 * options every daemon has for these (ops_config.c), the reload on SIGHUP
 * (reload.c) and the HTTP endpoint for metrics and health (http.c).
 *
 * Everything here runs on the daemon's loop thread, except the HTTP
 * handlers, which run on libmicrohttpd's own thread (http.c says what they
 * may touch).
 */
#ifndef KR_DAEMON_H
#define KR_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

/*
 * notify.c - sd_notify(3): READY=1 once the store is open and the sockets
 * are bound, WATCHDOG=1 from the loop at half of WatchdogSec, STOPPING=1
 * when a stop begins. Without NOTIFY_SOCKET (not under systemd) each call
 * does nothing.
 */
void daemon_notify_ready(const char *status);
void daemon_notify_stopping(const char *why);
/* Call often from the loop (every pass or cron tick): sends WATCHDOG=1
 * when half of the watchdog interval has passed since the last one, so
 * that a loop that stops turning is restarted by systemd. */
void daemon_watchdog(uint64_t now_mono_ms);

/*
 * Signals: the daemons' handlers write the signal number into a self-pipe;
 * the loop reads it back with daemon_signal_read().
 */
/* "SIGTERM" for SIGTERM, "signal 12" for one without a name here. */
const char *daemon_signal_name(int sig, char *buf, size_t len);

/*
 * ops_config.c - options every daemon has, besides its own: they are in
 * each daemon's table (DAEMON_OPS_OPTIONS), in a struct daemon_ops inside
 * its config struct.
 */
struct daemon_ops {
    char *log_format;       /* "text" or "json" */
    char *socket_group;     /* group of the local/admin ipc socket; "" = own */
    char *socket_mode;      /* octal mode of that socket, "0600" */
    char *http_listen;      /* "127.0.0.1:9770"; "" = no HTTP endpoint */
    bool http_allow_remote; /* allow a non-loopback http_listen */
};

/* The rows for a config table; 'base' is the offset of the struct
 * daemon_ops in the daemon's config struct. */
/* clang-format off */
#define DAEMON_OPS_OPTIONS(base)                                               \
    {"log_format", CFG_STR, (base) + offsetof(struct daemon_ops, log_format),  \
     "text", 0, 0, 0,                                                          \
     "text (key=value lines) or json (one JSON object a line)"},              \
        {"socket_group", CFG_STR,                                              \
         (base) + offsetof(struct daemon_ops, socket_group), "", 0, 0, 0,      \
         "group given the ipc socket for krctl and adapters (the daemon's "    \
         "user must be a member); empty: the daemon's own group"},            \
        {"socket_mode", CFG_STR,                                               \
         (base) + offsetof(struct daemon_ops, socket_mode), "0600", 0, 0, 0,   \
         "permissions of the ipc socket, octal (0660 lets socket_group "      \
         "in)"},                                                               \
        {"http_listen", CFG_STR,                                               \
         (base) + offsetof(struct daemon_ops, http_listen), "", 0, 0, 0,       \
         "address:port of the HTTP endpoint (/metrics, /healthz, /readyz), "  \
         "e.g. 127.0.0.1:9770; empty: off"},                                   \
        {"http_allow_remote", CFG_BOOL,                                        \
         (base) + offsetof(struct daemon_ops, http_allow_remote), "false", 0,  \
         0, 0,                                                                 \
         "allow http_listen on an address other than loopback (the "          \
         "endpoint has no authentication)"}
/* clang-format on */

/* Check the values (exit 2 on a failure): log_format, socket_mode octal
 * and at most 0777, socket_group a group that exists, http_listen an IP
 * address and port, loopback unless http_allow_remote. */
int daemon_ops_check(const struct daemon_ops *o, char *err, size_t errlen);
/* An endpoint option: "tcp://HOST:PORT" (PORT a number or *) or
 * "ipc://PATH"; "" too if empty_ok. KR_ECONFIG (err names key and value)
 * otherwise: a bad value is exit 2, not a failed bind at start. */
int daemon_endpoint_check(const char *key, const char *value, bool empty_ok,
                          char *err, size_t errlen);
/* After a secret key file would not load: whether 'path' is a public key
 * file (then the operator gave the wrong one of the pair). */
bool daemon_keys_is_public(const char *path);
/* Apply log_format (log.c). */
void daemon_ops_apply_log(const struct daemon_ops *o);

/*
 * sockperm.c - after the bind of an ipc:// endpoint: chown it to
 * socket_group and chmod it to socket_mode, so that krctl and adapters need
 * not run as the daemon's user. Other transports are left alone. Returns
 * KR_ESYS (logged, naming the path and the cause) if it cannot.
 */
int daemon_socket_perms(const char *endpoint, const struct daemon_ops *o);

/*
 * reload.c - SIGHUP. The configuration is read again the way it was read
 * at start (the same file and flags); an invalid one is logged and the
 * running one kept. Options named 'live' take their new value and each is
 * logged ("reload: log_level: info -> debug"); any other option that
 * changed is logged as needing a restart. Then every hook runs, in order,
 * to apply the new values.
 *
 * A hook is one row: routes, when they come, are one more row in a
 * daemon's table ({"routes", s_reload_routes}).
 */
struct reload_hook {
    const char *name;
    /* Apply the (already swapped) configuration; 0 or a KR_E* code,
     * logged. */
    int (*apply)(void *ctx);
};

/* Keep argv for daemon_reload() (main() calls it once). */
void daemon_args_keep(int argc, char **argv);
/* Read the configuration again into 'cur' (a config struct of 'size'
 * bytes described by 'opts'), then run the hooks. 'check' validates the
 * new configuration as at start. Returns how many options changed, or
 * KR_ECONFIG if the new configuration was refused (nothing changed). */
int daemon_reload(const char *section, const struct cfg_option *opts, void *cur,
                  size_t size, const char *const *live,
                  int (*check)(const void *cfg, char *err, size_t errlen),
                  const struct reload_hook *hooks, size_t nhooks, void *ctx);

/*
 * http.c - the HTTP endpoint (libmicrohttpd, on its own thread). A table of
 * routes maps a path to a handler that fills a buffer. Handlers run on the
 * HTTP thread: they read only atomics and snapshots that the loop
 * publishes under a lock, never the loop's LMDB transaction or its
 * in-memory state. Connections are limited in number and time, so that a
 * slow client cannot hold the endpoint, and the loop never waits on it.
 */
struct http_route {
    const char *path; /* exact: "/metrics" */
    const char *content_type;
    /* Fill 'out'; returns the HTTP status (200, 503). */
    int (*fn)(void *ctx, struct kr_buf *out);
};

struct http_server;

/* Start serving 'routes' on 'listen' (checked by daemon_ops_check). The
 * port actually bound (for ":0") is written to 'port_file' if not NULL.
 * KR_ESYS if it cannot bind, logged. */
int http_start(const char *listen, const struct http_route *routes,
               size_t nroutes, void *ctx, const char *port_file,
               struct http_server **out);
void http_stop(struct http_server **sp);

/* Prometheus text format helpers: "# HELP" and "# TYPE" lines, then
 * samples. Label values are ours (codes, categories), never a person's. */
void prom_head(struct kr_buf *b, const char *name, const char *type,
               const char *help);
void prom_u64(struct kr_buf *b, const char *name, const char *labels,
              uint64_t v);
void prom_f64(struct kr_buf *b, const char *name, const char *labels, double v);
/* A histogram of durations in microseconds, shown in seconds. The bucket
 * bounds are DAEMON_HIST_BOUNDS_US; counts[i] counts observations at or
 * below bound i (not cumulative), counts[DAEMON_HIST_N] those above. */
#define DAEMON_HIST_N 12
extern const uint64_t daemon_hist_bounds_us[DAEMON_HIST_N];
struct daemon_hist {
    uint64_t counts[DAEMON_HIST_N + 1];
    uint64_t sum_us;
};
/* Find the bucket of 'us' (lock-free callers use atomics on the fields). */
size_t daemon_hist_bucket(uint64_t us);
void prom_hist(struct kr_buf *b, const char *name, const char *help,
               const struct daemon_hist *h);
/* printf into a growing buffer. */
void kbuf_printf(struct kr_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
