/* gw_notify.c - notifications of new and changed Tasks.
 *
 * One thread watches the node's inbox (a long poll through its own libkr
 * client): every item that names a referral (a REFERRAL or HANDOVER that
 * opened it, a REFERRAL_STATUS that moved it, a broker's notice about it)
 * means its Task is new or changed. For each:
 *   - the long polls (GET /Task?...&_wait=) are woken (gen moves);
 *   - with subscription_endpoint set, an id-only rest-hook notification
 *     is POSTed there (R4 Subscription, in the form of the Subscriptions
 *     R5 Backport IG: a history Bundle whose first entry is the
 *     subscription's status and whose second names the Task, without
 *     its content), by gw_hook.c's libcurl client over http or https, on
 *     one connection kept open between notifications. A failed attempt
 *     (no connection, no 2xx within notify_timeout_ms) is retried after
 *     retry_initial_ms, doubling up to retry_max_ms, at most
 *     retry_max_attempts times (0: until it succeeds); later
 *     notifications wait behind it, so that they arrive in order. A 2xx
 *     marks the item processed at the node.
 * The cursor (the inbox seq of the last item done) is written atomically
 * to state_dir/notify.cursor at most every second and at the stop: after
 * a restart the watch goes on from it, so a notification is sent at least
 * once (a crash repeats those of the last second at most; the payload is
 * an id, and the receiver reads the Task again, so a repeat is
 * harmless). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw.h"
#include "libkr_internal.h"
#include "log.h"
#include "util.h"

#define S_QUEUE_MAX 1024
#define S_LIST_WAIT_MS 1000
#define S_READ_EVERY_MS 50
#define S_SAVE_EVERY_MS 1000
#define S_BACKPORT "http://hl7.org/fhir/uv/subscriptions-backport/"

/* One Task to announce. */
struct s_event {
    uint64_t seq;
    char msg_id[KR_MSG_ID_HEX_LEN];
    char task_id[KR_MSG_ID_HEX_LEN];
};

static void
s_cursor_path(const struct gw_config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "%s/notify.cursor", cfg->state_dir);
}

static uint64_t
s_cursor_load(const struct gw_config *cfg)
{
    char path[1024], *text = NULL;
    size_t len = 0;
    uint64_t v = 0;

    s_cursor_path(cfg, path, sizeof(path));
    if (util_read_file(path, 64, &text, &len) != KR_OK)
        return 0;
    text[strcspn(text, "\n")] = '\0';
    if (util_parse_u64(text, 0, UINT64_MAX, &v) != KR_OK) {
        log_warnx("notify: %s does not hold a number: starting from the "
                  "first inbox item",
                  path);
        v = 0;
    }
    free(text);
    return v;
}

static void
s_cursor_save(const struct gw_config *cfg, uint64_t v)
{
    char path[1024], text[32];
    int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)v);

    s_cursor_path(cfg, path, sizeof(path));
    if (util_write_file_atomic(path, text, (size_t)n, 0640) != 0)
        log_warnx("notify: cannot write %s: %s", path, strerror(errno));
}

static void
s_iso_now(char out[48])
{
    uint64_t ms = util_now_ms();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms % 1000));
}

static json_object *
s_param(const char *name, const char *key, json_object *value)
{
    json_object *p = json_object_new_object();

    json_object_object_add(p, "name", json_object_new_string(name));
    json_object_object_add(p, key, value);
    return p;
}

/* A Reference to base_url/type/id. */
static json_object *
s_ref(const char *base_url, const char *type, const char *id)
{
    char buf[GW_URL_MAX + 64];
    json_object *r = json_object_new_object();

    snprintf(buf, sizeof(buf), "%s/%s/%s", base_url, type, id);
    json_object_object_add(r, "reference", json_object_new_string(buf));
    return r;
}

json_object *
gw_notify_bundle(const char *base_url, const char *task_id,
                 uint64_t event_number)
{
    json_object *b = json_object_new_object(), *entries, *e, *params, *ps,
                *part, *req, *resp, *meta, *prof;
    char ts[48], num[24], url[GW_URL_MAX + 64], uuid[48];
    uint8_t rnd[16];

    s_iso_now(ts);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)event_number);
    util_random_id(rnd);
    rnd[6] = (uint8_t)((rnd[6] & 0x0f) | 0x40);
    rnd[8] = (uint8_t)((rnd[8] & 0x3f) | 0x80);
    snprintf(uuid, sizeof(uuid),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7],
             rnd[8], rnd[9], rnd[10], rnd[11], rnd[12], rnd[13], rnd[14],
             rnd[15]);
    json_object_object_add(b, "resourceType", json_object_new_string("Bundle"));
    json_object_object_add(b, "type", json_object_new_string("history"));
    json_object_object_add(b, "timestamp", json_object_new_string(ts));
    entries = json_object_new_array();

    /* The subscription's status: which subscription, which event. */
    params = json_object_new_object();
    json_object_object_add(params, "resourceType",
                           json_object_new_string("Parameters"));
    meta = json_object_new_object();
    prof = json_object_new_array();
    json_object_array_add(
        prof, json_object_new_string(S_BACKPORT "StructureDefinition/"
                                                "backport-subscription-status-"
                                                "r4"));
    json_object_object_add(meta, "profile", prof);
    json_object_object_add(params, "meta", meta);
    ps = json_object_new_array();
    json_object_array_add(ps,
                          s_param("subscription", "valueReference",
                                  s_ref(base_url, "Subscription", "krfhir")));
    json_object_array_add(
        ps, s_param("topic", "valueCanonical",
                    json_object_new_string("urn:kansrijk:topic:task-changed")));
    json_object_array_add(
        ps, s_param("status", "valueCode", json_object_new_string("active")));
    json_object_array_add(
        ps, s_param("type", "valueCode",
                    json_object_new_string("event-notification")));
    json_object_array_add(ps,
                          s_param("events-since-subscription-start",
                                  "valueString", json_object_new_string(num)));
    part = json_object_new_array();
    json_object_array_add(part, s_param("event-number", "valueString",
                                        json_object_new_string(num)));
    json_object_array_add(part, s_param("focus", "valueReference",
                                        s_ref(base_url, "Task", task_id)));
    json_object *ne = json_object_new_object();
    json_object_object_add(ne, "name",
                           json_object_new_string("notification-event"));
    json_object_object_add(ne, "part", part);
    json_object_array_add(ps, ne);
    json_object_object_add(params, "parameter", ps);
    e = json_object_new_object();
    snprintf(url, sizeof(url), "urn:uuid:%s", uuid);
    json_object_object_add(e, "fullUrl", json_object_new_string(url));
    json_object_object_add(e, "resource", params);
    req = json_object_new_object();
    json_object_object_add(req, "method", json_object_new_string("GET"));
    snprintf(url, sizeof(url), "%s/Subscription/krfhir/$status", base_url);
    json_object_object_add(req, "url", json_object_new_string(url));
    json_object_object_add(e, "request", req);
    resp = json_object_new_object();
    json_object_object_add(resp, "status", json_object_new_string("200"));
    json_object_object_add(e, "response", resp);
    json_object_array_add(entries, e);

    /* id-only: the Task's address, not its content. */
    e = json_object_new_object();
    snprintf(url, sizeof(url), "%s/Task/%s", base_url, task_id);
    json_object_object_add(e, "fullUrl", json_object_new_string(url));
    req = json_object_new_object();
    json_object_object_add(req, "method", json_object_new_string("PUT"));
    snprintf(url, sizeof(url), "Task/%s", task_id);
    json_object_object_add(req, "url", json_object_new_string(url));
    json_object_object_add(e, "request", req);
    resp = json_object_new_object();
    json_object_object_add(resp, "status", json_object_new_string("200"));
    json_object_object_add(e, "response", resp);
    json_object_array_add(entries, e);
    json_object_object_add(b, "entry", entries);
    return b;
}

json_object *
gw_notify_subscription(struct gw_notify *nt)
{
    json_object *s, *ch, *meta, *prof, *pext, *ext, *x;
    char err[sizeof(nt->last_error)];

    if (nt->cfg->subscription_endpoint[0] == '\0')
        return NULL;
    pthread_mutex_lock(&nt->mu);
    snprintf(err, sizeof(err), "%s", nt->last_error);
    pthread_mutex_unlock(&nt->mu);
    s = json_object_new_object();
    json_object_object_add(s, "resourceType",
                           json_object_new_string("Subscription"));
    json_object_object_add(s, "id", json_object_new_string("krfhir"));
    meta = json_object_new_object();
    prof = json_object_new_array();
    json_object_array_add(
        prof, json_object_new_string(S_BACKPORT "StructureDefinition/"
                                                "backport-subscription"));
    json_object_object_add(meta, "profile", prof);
    json_object_object_add(s, "meta", meta);
    json_object_object_add(s, "status",
                           json_object_new_string(err[0] ? "error" : "active"));
    json_object_object_add(
        s, "reason",
        json_object_new_string("Tasks new or changed at this organisation "
                               "(configured in krfhir.ini)"));
    json_object_object_add(s, "criteria", json_object_new_string("Task?"));
    if (err[0])
        json_object_object_add(s, "error", json_object_new_string(err));
    ch = json_object_new_object();
    json_object_object_add(ch, "type", json_object_new_string("rest-hook"));
    json_object_object_add(
        ch, "endpoint", json_object_new_string(nt->cfg->subscription_endpoint));
    json_object_object_add(ch, "payload",
                           json_object_new_string("application/fhir+json"));
    pext = json_object_new_object();
    ext = json_object_new_array();
    x = json_object_new_object();
    json_object_object_add(
        x, "url",
        json_object_new_string(S_BACKPORT
                               "StructureDefinition/backport-payload-content"));
    json_object_object_add(x, "valueCode", json_object_new_string("id-only"));
    json_object_array_add(ext, x);
    json_object_object_add(pext, "extension", ext);
    json_object_object_add(ch, "_payload", pext);
    /* The header is not shown: it may be a secret (Authorization). */
    json_object_object_add(s, "channel", ch);
    return s;
}

/*
 * The thread.
 */

void
gw_notify_bump(struct gw_notify *nt)
{
    pthread_mutex_lock(&nt->mu);
    nt->gen++;
    pthread_cond_broadcast(&nt->cv);
    pthread_mutex_unlock(&nt->mu);
}

uint64_t
gw_notify_gen(struct gw_notify *nt)
{
    uint64_t g;

    pthread_mutex_lock(&nt->mu);
    g = nt->gen;
    pthread_mutex_unlock(&nt->mu);
    return g;
}

uint64_t
gw_notify_wait(struct gw_notify *nt, uint64_t gen, uint64_t deadline_ms)
{
    uint64_t now = util_mono_ms(), g;
    struct timespec ts;

    if (deadline_ms <= now)
        return gw_notify_gen(nt);
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (deadline_ms - now) * 1000000u;
    ts.tv_sec += (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    pthread_mutex_lock(&nt->mu);
    /* Bounded by the deadline: a timed wait returns at the latest then. */
    while (nt->gen == gen && !atomic_load(&nt->stop))
        if (pthread_cond_timedwait(&nt->cv, &nt->mu, &ts) != 0)
            break;
    g = nt->gen;
    pthread_mutex_unlock(&nt->mu);
    return g;
}

void
gw_notify_mark(struct gw_notify *nt, const char *msg_id)
{
    if (!nt->cfg->mark_processed)
        return;
    pthread_mutex_lock(&nt->mu);
    if (nt->nmarks == 0)
        nt->marks_since_ms = util_mono_ms();
    if (nt->nmarks < GW_MARKS_MAX && strlen(msg_id) == KR_MSG_ID_HEX_LEN - 1)
        memcpy(nt->marks[nt->nmarks++], msg_id, KR_MSG_ID_HEX_LEN);
    pthread_cond_broadcast(&nt->mark_cv);
    pthread_mutex_unlock(&nt->mu);
}

/* The markers: threads of their own, each with its own client, because a
 * mark waits for the node's commit (a flush): done in the notifier's
 * thread, the marks of a busy inbox would hold back the notifications;
 * and several, so that their marks share the node's commits instead of
 * taking one each. Marks wait GW_MARK_DELAY_MS from the oldest queued
 * one (or until the queue is half full) and then go together: at 100
 * notifications a second that is one node commit for five marks instead
 * of five, and none of them lands on the node while it answers the Task
 * read that the notification just caused. A mark not made before a stop
 * or crash is made again: the notification is repeated (id-only). */
static void *
s_mark_run(void *arg)
{
    struct gw_notify *nt = arg;
    char todo[KR_MSG_ID_HEX_LEN], err[128];
    kr_client_t *c = NULL;

    /* Bounded by the stop flag: each wait ends within a second. */
    while (!atomic_load(&nt->stop)) {
        struct timespec ts;
        bool have = false;
        uint64_t now = util_mono_ms(), wait_ms = 1000;
        pthread_mutex_lock(&nt->mu);
        if (nt->nmarks > 0 && nt->nmarks < GW_MARKS_MAX / 2) {
            uint64_t due = nt->marks_since_ms + GW_MARK_DELAY_MS;
            wait_ms = due > now ? due - now : 0;
        } else if (nt->nmarks > 0) {
            wait_ms = 0;
        }
        if (wait_ms > 0 && !atomic_load(&nt->stop)) {
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&nt->mark_cv, &nt->mu, &ts);
            pthread_mutex_unlock(&nt->mu);
            continue; /* look again: more came, or it is due */
        }
        if (nt->nmarks > 0) {
            /* One at a time, oldest first: the markers' calls meet in
             * the node's passes, which commit them together. */
            memcpy(todo, nt->marks[0], sizeof(todo));
            memmove(nt->marks[0], nt->marks[1],
                    (--nt->nmarks) * sizeof(nt->marks[0]));
            have = true;
        }
        pthread_mutex_unlock(&nt->mu);
        if (!have)
            continue;
        if (c == NULL &&
            kr_client_connect(nt->cfg->node, (int)nt->cfg->node_timeout_ms,
                              &c) != KR_OK)
            continue; /* dropped: the next read or notification marks again */
        kr_processed(c, todo, err, sizeof(err)); /* idempotent */
    }
    kr_client_destroy(&c);
    return NULL;
}

/* Read what arrived after 'watch' into the queue. Returns items read.
 * Read as the node answers it, not as JSON: only the seq and the two ids
 * are wanted, and the listing holds the messages' content. */
static int
s_read(struct gw_notify *nt, kr_client_t *c, uint64_t *watch, struct s_event *q,
       size_t *nq, uint32_t wait_ms)
{
    Kr__V1__ListRequest lr = KR__V1__LIST_REQUEST__INIT;
    Kr__V1__LocalResponse *resp = NULL;
    char err[256];
    int rc, got = 0;

    lr.after_seq = *watch;
    lr.limit = (uint32_t)(S_QUEUE_MAX - *nq);
    lr.wait_ms = wait_ms;
    lr.unprocessed_only = false;
    if ((rc = libkr_inbox_list(c, &lr, &resp, err, sizeof(err))) != KR_OK)
        return rc;
    for (size_t i = 0; i < resp->n_inbox; i++) {
        const Kr__V1__InboxItem *it = resp->inbox[i];
        if (it->seq <= *watch)
            continue;
        *watch = it->seq;
        got++;
        if (it->referral_id.len != KR_ID_LEN || it->msg_id.len != KR_ID_LEN ||
            *nq >= S_QUEUE_MAX)
            continue;
        struct s_event *e = &q[(*nq)++];
        e->seq = it->seq;
        util_hex(it->msg_id.data, KR_ID_LEN, e->msg_id);
        util_hex(it->referral_id.data, KR_ID_LEN, e->task_id);
    }
    kr__v1__local_response__free_unpacked(resp, NULL);
    if (got > 0)
        gw_notify_bump(nt);
    return got;
}

/* Try to notify the head of the queue through *hookp, the thread's
 * client, whose connection stays open between notifications (made here
 * the first time; a failure to make it is a failed attempt). true once
 * it is done with (sent, or given up on). */
static bool
s_deliver(struct gw_notify *nt, struct gw_hook **hookp, const struct s_event *e,
          unsigned *attempts)
{
    const struct gw_config *cfg = nt->cfg;
    json_object *b = gw_notify_bundle(nt->base_url, e->task_id, e->seq);
    const char *text = json_object_to_json_string_ext(
        b, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char err[160] = "";
    int rc = KR_OK;

    if (*hookp == NULL)
        rc = gw_hook_new(cfg->subscription_endpoint, cfg->subscription_header,
                         cfg->subscription_ca_file, (int)cfg->notify_timeout_ms,
                         hookp, err, sizeof(err));
    if (rc == KR_OK)
        rc = gw_hook_post(*hookp, text, strlen(text), err, sizeof(err));

    json_object_put(b);
    if (rc >= 200 && rc < 300) {
        gw_notify_mark(nt, e->msg_id);
        pthread_mutex_lock(&nt->mu);
        nt->delivered++;
        nt->last_error[0] = '\0';
        pthread_mutex_unlock(&nt->mu);
        log_debug("notify: Task %s announced (event %llu)", e->task_id,
                  (unsigned long long)e->seq);
        *attempts = 0;
        return true;
    }
    if (rc > 0)
        snprintf(err, sizeof(err), "the endpoint answered %d", rc);
    (*attempts)++;
    pthread_mutex_lock(&nt->mu);
    nt->failures++;
    snprintf(nt->last_error, sizeof(nt->last_error), "%s", err);
    pthread_mutex_unlock(&nt->mu);
    if (cfg->retry_max_attempts != 0 && *attempts >= cfg->retry_max_attempts) {
        log_warnx("notify: gave up on Task %s (event %llu) after %u "
                  "attempts: %s",
                  e->task_id, (unsigned long long)e->seq, *attempts, err);
        *attempts = 0;
        return true;
    }
    log_info("notify: attempt %u for event %llu failed: %s", *attempts,
             (unsigned long long)e->seq, err);
    return false;
}

static void *
s_run(void *arg)
{
    struct gw_notify *nt = arg;
    const struct gw_config *cfg = nt->cfg;
    bool hook = cfg->subscription_endpoint[0] != '\0';
    struct s_event *q = xcalloc(S_QUEUE_MAX, sizeof(*q));
    size_t nq = 0;
    kr_client_t *c = NULL;
    struct gw_hook *client = NULL; /* the rest-hook's, kept open */
    uint64_t watch, saved, done, next_try = 0, backoff = cfg->retry_initial_ms;
    uint64_t last_read = 0, last_save = 0;
    unsigned attempts = 0;

    pthread_mutex_lock(&nt->mu);
    watch = saved = done = nt->cursor;
    pthread_mutex_unlock(&nt->mu);
    /* Bounded by the stop flag; every pass waits at most a second. */
    while (!atomic_load(&nt->stop)) {
        uint64_t now = util_mono_ms();
        if (c == NULL && kr_client_connect(cfg->node, (int)cfg->node_timeout_ms,
                                           &c) != KR_OK) {
            struct pollfd pf = {nt->wake_fd, POLLIN, 0};
            poll(&pf, 1, S_LIST_WAIT_MS);
            continue;
        }
        /* Read on while there is room: a long poll while nothing waits
         * to be notified; while notifications wait, a quick look at most
         * every S_READ_EVERY_MS (the long polls want to hear of arrivals)
         * or a wait until the next attempt is due. */
        bool due = nq > 0 && now >= next_try;
        if (nq < S_QUEUE_MAX &&
            (nq == 0 || !due || now - last_read >= S_READ_EVERY_MS)) {
            uint32_t wait = S_LIST_WAIT_MS;
            if (nq > 0)
                wait = due ? 0
                           : (uint32_t)(next_try - now < wait ? next_try - now
                                                              : wait);
            int rc = s_read(nt, c, &watch, q, &nq, wait);
            last_read = util_mono_ms();
            if (rc < 0) {
                log_info("notify: reading the inbox: %s", kr_strerror(rc));
                struct pollfd pf = {nt->wake_fd, POLLIN, 0};
                poll(&pf, 1, S_LIST_WAIT_MS);
                continue;
            }
            if (!hook)
                nq = 0; /* only the long polls are told */
        } else if (nq > 0 && !due) {
            struct pollfd pf = {nt->wake_fd, POLLIN, 0};
            uint64_t w = next_try - now;
            poll(&pf, 1, (int)(w < S_LIST_WAIT_MS ? w : S_LIST_WAIT_MS));
            continue;
        }
        /* Deliver what is due, a bounded batch per pass. */
        for (int k = 0; k < 64 && hook && nq > 0 && !atomic_load(&nt->stop) &&
                        util_mono_ms() >= next_try;
             k++) {
            if (s_deliver(nt, &client, &q[0], &attempts)) {
                memmove(q, q + 1, (nq - 1) * sizeof(*q));
                nq--;
                backoff = cfg->retry_initial_ms;
                next_try = 0;
            } else {
                next_try = util_mono_ms() + backoff;
                backoff = backoff * 2 > cfg->retry_max_ms ? cfg->retry_max_ms
                                                          : backoff * 2;
            }
        }
        /* Done with everything before the queue's head (or all that was
         * read, if the queue is empty). Written at most every
         * S_SAVE_EVERY_MS (each write is two flushes) and at the stop: a
         * crash repeats at most that much, which id-only notifications
         * allow. */
        done = nq > 0 ? q[0].seq - 1 : watch;
        if (done != saved && util_mono_ms() - last_save >= S_SAVE_EVERY_MS) {
            s_cursor_save(cfg, done);
            saved = done;
            last_save = util_mono_ms();
        }
        pthread_mutex_lock(&nt->mu);
        nt->cursor = done;
        pthread_mutex_unlock(&nt->mu);
    }
    if (done != saved)
        s_cursor_save(cfg, done);
    gw_hook_destroy(&client);
    kr_client_destroy(&c);
    free(q);
    return NULL;
}

int
gw_notify_start(struct gw_notify *nt, const struct gw_config *cfg,
                struct gw_node *node, const char *base_url, int wake_fd)
{
    memset(nt, 0, sizeof(*nt));
    nt->cfg = cfg;
    nt->node = node;
    nt->base_url = base_url;
    nt->wake_fd = wake_fd;
    pthread_mutex_init(&nt->mu, NULL);
    pthread_cond_init(&nt->cv, NULL);
    pthread_cond_init(&nt->mark_cv, NULL);
    if (mkdir(cfg->state_dir, 0750) != 0 && errno != EEXIST) {
        log_errorx("state_dir %s: %s", cfg->state_dir, strerror(errno));
        return KR_ESYS;
    }
    nt->cursor = s_cursor_load(cfg);
    if (pthread_create(&nt->th, NULL, s_run, nt) != 0) {
        log_errorx("notify: a thread: %s", strerror(errno));
        return KR_ESYS;
    }
    nt->started = true;
    for (int k = 0; k < GW_MARKERS; k++) {
        if (pthread_create(&nt->mark_th[k], NULL, s_mark_run, nt) != 0) {
            log_errorx("notify: a thread: %s", strerror(errno));
            return KR_ESYS;
        }
        nt->nmarkers++;
    }
    log_info("notify: %s%s, from inbox seq %llu",
             cfg->subscription_endpoint[0] ? "rest-hook to "
                                           : "no rest-hook (long poll only)",
             cfg->subscription_endpoint, (unsigned long long)nt->cursor);
    return KR_OK;
}

void
gw_notify_stop(struct gw_notify *nt)
{
    atomic_store(&nt->stop, 1);
    pthread_mutex_lock(&nt->mu);
    pthread_cond_broadcast(&nt->cv);
    pthread_cond_broadcast(&nt->mark_cv);
    pthread_mutex_unlock(&nt->mu);
    if (nt->started)
        pthread_join(nt->th, NULL);
    for (int k = 0; k < nt->nmarkers; k++)
        pthread_join(nt->mark_th[k], NULL);
    nt->nmarkers = 0;
    nt->started = false;
}
