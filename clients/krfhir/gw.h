/*
 * gw.h - krfhir's gateway: the HTTP server, its routes, the node and the
 * notifications (docs/FHIR.md, "The gateway"). The mappers (fhir_in.h,
 * fhir_out.h) turn FHIR into kansrijk's JSON and back; everything here
 * moves that JSON between HTTP and the node through libkr. Nothing is
 * stored twice: every read asks the node.
 *
 *   gw_config.c  the options (one table: file, flags, --help, sample)
 *   gw_http.c    libmicrohttpd: methods, bodies, limits, negotiation
 *   gw_routes.c  the FHIR interactions: the dispatcher, the helpers,
 *                metadata and Subscription; gw_routes_task.c (Task read,
 *                search, update; ServiceRequest, Patient) and
 *                gw_routes_message.c ($process-message, Consent)
 *   gw_node.c    libkr: a pool of clients, sends that wait for the
 *                broker's answer, reads
 *   gw_notify.c  the inbox watcher: rest-hook notifications with
 *                retries, a persisted cursor, and the long poll's wake-up
 *   gw_hook.c    libcurl: the rest-hook's HTTP(S) client, one kept
 *                connection
 */
#ifndef KR_FHIR_GW_H
#define KR_FHIR_GW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "config.h"
#include "fhir.h"
#include "kr.h"

/* A request body is JSON of a few kilobytes; the limit is configurable. */
#define GW_ORG_MAX 64
#define GW_URL_MAX 512
#define GW_MARKS_MAX 256
#define GW_MARKERS 4
/* A mark waits this long for others to share the node's commit with it
 * (and to keep out of the way of the Task read its notification causes). */
#define GW_MARK_DELAY_MS 50

struct gw_config {
    char *node;                  /* the krnode's local endpoint */
    char *listen;                /* ADDRESS:PORT, loopback unless
                                    allow_remote */
    bool allow_remote;           /* let listen be a non-loopback address */
    char *base_url;              /* the base in fullUrl and links; "":
                                    http://<listen> */
    char *port_file;             /* "": none; else the bound port is
                                    written here (listen port 0) */
    uint64_t max_body_bytes;     /* larger bodies: 413 */
    uint64_t max_connections;    /* open at once; more are refused */
    uint64_t idle_timeout_s;     /* a connection silent this long is cut */
    uint64_t request_timeout_ms; /* a request's body must arrive within */
    uint64_t node_timeout_ms;    /* bound on each call to the node */
    uint64_t node_clients;       /* libkr clients in the pool */
    uint64_t accept_wait_ms;     /* wait for the broker's answer to a send */
    uint64_t search_max;         /* most Tasks a search returns at once */
    uint64_t long_poll_max_s;    /* bound on _wait */
    char *subscription_endpoint; /* rest-hook URL (http:// or https://),
                                    "": none */
    char *subscription_header;   /* one "Name: value" header sent with
                                    each notification, "": none */
    char *subscription_ca_file;  /* PEM CAs trusted for an https
                                    endpoint instead of the system's,
                                    "": the system's */
    uint64_t notify_timeout_ms;  /* one notification's HTTP exchange */
    uint64_t retry_initial_ms;   /* first wait after a failed notification */
    uint64_t retry_max_ms;       /* the waits double up to this */
    uint64_t retry_max_attempts; /* give up on one notification after
                                    this many (0: never) */
    bool mark_processed;         /* mark announced (or read) inbox items
                                    processed at the node */
    char *state_dir;             /* the notification cursor lives here */
    char *log_level;
};

extern const struct cfg_option gw_config_options[];
/* Check the values that the table's bounds cannot: KR_ECONFIG with 'err'
 * naming the option. */
int gw_config_check(struct gw_config *cfg, char *err, size_t errlen);
/* Split "ADDRESS:PORT" ("[::1]:8380" for IPv6); KR_ECONFIG if malformed. */
int gw_split_listen(const char *listen, char *host, size_t hostlen,
                    unsigned *port);
/* Whether 'host' (a numeric address) is a loopback address. */
bool gw_host_loopback(const char *host);

/*
 * The node (gw_node.c).
 */

struct gw_node {
    const char *endpoint;
    int timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    kr_client_t **free; /* idle clients */
    size_t nfree, nopen, max;
    char org_id[GW_ORG_MAX]; /* the node's organisation, once known */
    atomic_int have_org;
};

int gw_node_init(struct gw_node *n, const char *endpoint, int timeout_ms,
                 size_t max_clients);
void gw_node_fini(struct gw_node *n);
/* Borrow a client (waits while all are in use); give it back after. */
int gw_node_take(struct gw_node *n, kr_client_t **out);
void gw_node_give(struct gw_node *n, kr_client_t *c);
/* The organisation of the node (asked once, then remembered). */
int gw_node_org(struct gw_node *n, char out[GW_ORG_MAX]);

/* What the broker said of a message the node sent. */
enum gw_fate {
    GW_FATE_OK,      /* accepted or delivered */
    GW_FATE_PENDING, /* the node holds it; no answer within the wait */
    GW_FATE_REFUSED, /* refused, expired or withdrawn: see reason */
};

struct gw_sent {
    char msg_id[KR_MSG_ID_HEX_LEN];
    enum gw_fate fate;
    char outcome[24]; /* "refused", "expired", "withdrawn" */
    char reason[40];  /* "no-consent", "bad-transition", ... */
    char detail[256]; /* the broker's words */
};

/* Send a description and wait up to wait_ms for the broker's answer.
 * A negative KR_E* with 'err' set if the node would not take it. */
int gw_node_send(struct gw_node *n, const char *json, size_t len,
                 uint64_t wait_ms, struct gw_sent *out, char *err,
                 size_t errlen);
/* JSON reads (the caller puts the objects): kr_referral_json; the views
 * as libkr builds them, not read back from its text
 * (libkr_internal.h). */
int gw_node_referral(struct gw_node *n, const char *referral_id,
                     json_object **out, char *err, size_t errlen);
/* The referral, the inbox item that opened it here (*item NULL at the
 * placer) and (received, when not NULL) every message of its history in
 * this inbox, in one call: one snapshot of the node. */
int gw_node_referral_view(struct gw_node *n, const char *referral_id,
                          json_object **ref, json_object **item,
                          json_object **received, char *err, size_t errlen);
/* A page of the listing with each referral's view, as one array of
 * {"referral", "item", "received"} (kr_referral_views_json): in
 * referral_id order after 'after' (since_ms 0, 'state' NULL: every one),
 * or changed at or after since_ms, in the order they changed; at most
 * 'limit', fewer only at the listing's end. One node call. */
int gw_node_referral_views(struct gw_node *n, const char *state,
                           uint64_t since_ms, const char *after, uint32_t limit,
                           json_object **out, char *err, size_t errlen);

/*
 * Notifications (gw_notify.c).
 */

struct gw_notify {
    const struct gw_config *cfg;
    struct gw_node *node;
    const char *base_url;
    pthread_t th;                  /* the notifier */
    pthread_t mark_th[GW_MARKERS]; /* the markers */
    bool started;
    int nmarkers;
    atomic_int stop;
    int wake_fd;          /* readable once krfhir stops */
    pthread_mutex_t mu;   /* guards gen and the fields below */
    pthread_cond_t cv;    /* broadcast when gen moves */
    uint64_t gen;         /* counts changes seen: the long poll waits on
                             it */
    uint64_t cursor;      /* last inbox seq notified (or skipped) */
    uint64_t delivered;   /* notifications answered 2xx */
    uint64_t failures;    /* attempts that failed */
    char last_error[160]; /* why the last attempt failed, "" if ok */
    /* Inbox items to mark processed (gw_notify_mark), done by the thread
     * so that no request waits for the node's commit of a mark. */
    char marks[GW_MARKS_MAX][KR_MSG_ID_HEX_LEN];
    size_t nmarks;
    uint64_t marks_since_ms; /* when the oldest queued mark came (mono) */
    pthread_cond_t mark_cv;  /* signalled when a mark is queued */
};

int gw_notify_start(struct gw_notify *nt, const struct gw_config *cfg,
                    struct gw_node *node, const char *base_url, int wake_fd);
void gw_notify_stop(struct gw_notify *nt);
/* Something changed (a send of our own): wake the long polls. */
void gw_notify_bump(struct gw_notify *nt);
uint64_t gw_notify_gen(struct gw_notify *nt);
/* Wait until gen differs from 'gen' or 'deadline_ms' (monotonic) passes;
 * returns the gen then. */
uint64_t gw_notify_wait(struct gw_notify *nt, uint64_t gen,
                        uint64_t deadline_ms);
/* Mark an inbox item processed, soon (by the notifier's thread; a mark
 * that finds the queue full is dropped: the next read marks it again). */
void gw_notify_mark(struct gw_notify *nt, const char *msg_id);
/* The configured subscription as an R4 Subscription (NULL if none). */
json_object *gw_notify_subscription(struct gw_notify *nt);
/* The notification Bundle for one Task (pure; exposed for tests). */
json_object *gw_notify_bundle(const char *base_url, const char *task_id,
                              uint64_t event_number);
/* POST 'body' to an http:// or https:// URL within timeout_ms, on a
 * connection of its own (gw_hook_post keeps one). The HTTP status, or a
 * negative KR_E* with 'err' saying why. */
int gw_http_post(const char *url, const char *header, const char *body,
                 size_t len, int timeout_ms, char *err, size_t errlen);

/*
 * The rest-hook's HTTP client (gw_hook.c, libcurl).
 */

struct gw_hook;
/* Once at start, before any thread (curl_global_init). KR_OK or
 * KR_ESYS, said on stderr. */
int gw_hook_global_init(void);
/* At the end, after every thread (curl_global_cleanup). */
void gw_hook_global_fini(void);
/* Whether 'url' is an http:// or https:// URL with a host: KR_OK, or
 * KR_ECONFIG with 'err' saying what is wrong. */
int gw_hook_check_url(const char *url, char *err, size_t errlen);
/* A client for one endpoint: 'header' ("Name: value", "": none) sent with
 * each post as is, 'ca_file' (PEM; "": the system's CAs) the CAs an https
 * endpoint's certificate must chain to, 'timeout_ms' the bound on one
 * exchange. Peer and host are always verified; redirects are not
 * followed. Used by one thread at a time. KR_OK with *out set, or a
 * negative KR_E* with 'err' set. */
int gw_hook_new(const char *url, const char *header, const char *ca_file,
                int timeout_ms, struct gw_hook **out, char *err, size_t errlen);
/* POST 'body' (application/fhir+json), on the connection kept from the
 * last post when the endpoint kept it open. The HTTP status (any: a 3xx
 * is not followed), or a negative KR_E* with 'err' naming the cause
 * ("connect: Connection refused", "no answer within 5000 ms", "TLS: SSL
 * certificate problem: ..."). The answer's body is dropped. */
int gw_hook_post(struct gw_hook *h, const char *body, size_t len, char *err,
                 size_t errlen);
/* Close the connection and free the client; *hp becomes NULL. */
void gw_hook_destroy(struct gw_hook **hp);

/*
 * HTTP (gw_http.c) and routes (gw_routes.c).
 */

struct gw;

/* One request as the routes see it. */
struct gw_req {
    void *conn; /* struct MHD_Connection */
    const char *method;
    const char *path;
    const char *body; /* NUL-terminated; "" if none */
    size_t body_len;
};

/* One answer: a status, a JSON body (owned), headers. */
struct gw_resp {
    int status;
    json_object *body;
    char location[GW_URL_MAX + 80];
    char ctype[48]; /* "" : application/fhir+json */
    char allow[48]; /* a 405's Allow header: "GET, PUT, PATCH" */
};

/* A query parameter, NULL if absent. */
const char *gw_req_arg(const struct gw_req *r, const char *key);
const char *gw_req_header(const struct gw_req *r, const char *key);

/* Fill 'out' for the request (gw_routes.c). */
void gw_route(struct gw *g, const struct gw_req *r, struct gw_resp *out);

struct gw_server;
int gw_http_start(struct gw *g, struct gw_server **out);
void gw_http_stop(struct gw_server **sp);

/* The gateway: what every route needs. */
struct gw {
    struct gw_config *cfg;
    struct gw_node node;
    struct gw_notify notify;
    char base_url[GW_URL_MAX];
    const char *version;
    atomic_ulong requests;
};

/* An answer that is an OperationOutcome for 'e'. */
void gw_resp_error(struct gw_resp *out, const struct fhir_error *e);

#endif /* KR_FHIR_GW_H */
