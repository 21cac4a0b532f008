/* gw_routes_task.c - the Task interactions (read, search with its long
 * poll, update by PUT or JSON Patch) and the reads of a referral's
 * content (ServiceRequest, Patient); docs/FHIR.md, "Endpoints". */
#define _GNU_SOURCE /* timegm */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fhir_in.h"
#include "fhir_out.h"
#include "gw.h"
#include "gw_routes_internal.h"
#include "json_map.h"
#include "log.h"
#include "util.h"

/* A search reads the node's referrals this many pages at most per answer:
 * a filter that matches little ends with a next link instead of a scan
 * of everything. */
#define S_SEARCH_PAGES 50

/*
 * Reading a referral.
 */

/* The referral, the inbox item that opened it here (NULL at the placer,
 * which holds no opened content) and, when 'received' is not NULL, the
 * messages of it received here, in one node call. KR_OK, or 'out' set. */
static int
s_load(struct gw *g, const char *id, json_object **ref, json_object **item,
       json_object **received, struct gw_resp *out)
{
    char err[256] = "";
    int rc;

    *ref = *item = NULL;
    if (received != NULL)
        *received = NULL;
    if (!gwr_id_ok(id)) {
        gwr_fail(out, 404, "not-found", NULL,
                 "no such resource: ids here are 32 lower-case hex digits (the "
                 "referral_id)");
        return KR_ENOTFOUND;
    }
    rc = gw_node_referral_view(&g->node, id, ref, item, received, err,
                               sizeof(err));
    if (rc == KR_ENOTFOUND) {
        gwr_fail(out, 404, "not-found", NULL,
                 "the node holds no referral with this id");
        return rc;
    }
    if (rc != KR_OK) {
        gwr_fail(out, 503, "transient", NULL,
                 "reading the referral from the node at %s: %s: %s",
                 g->cfg->node, kr_strerror(rc), err);
        return rc;
    }
    return KR_OK;
}

/* Without a rest-hook, a Task read is the organisation taking over what
 * arrived for it: mark the referral's received messages processed (by
 * the notifier's thread: the answer does not wait for the node's
 * commit). */
static void
s_mark_read(struct gw *g, json_object *ref, const char *org)
{
    json_object *hist;

    if (g->cfg->subscription_endpoint[0] != '\0' ||
        !json_object_object_get_ex(ref, "history", &hist) ||
        !json_object_is_type(hist, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(hist) && i < 1000; i++) {
        json_object *h = json_object_array_get_idx(hist, i);
        const char *who = gwr_str(h, "org_id"), *mid = gwr_str(h, "msg_id");
        if (who != NULL && strcmp(who, org) != 0 && gwr_id_ok(mid))
            gw_notify_mark(&g->notify, mid); /* by the notifier, soon */
    }
}

static json_object *
s_task(struct gw *g, const struct fhir_ctx *ctx, const char *id,
       struct gw_resp *out)
{
    json_object *ref, *item, *received, *task;

    if (s_load(g, id, &ref, &item, &received, out) != KR_OK)
        return NULL;
    task = fhir_out_task(ctx, ref, item);
    if (task == NULL) {
        gwr_fail(out, 500, "exception", NULL,
                 "the referral could not be shown as a Task");
    } else {
        /* The other party's status changes: notes, the planned date. */
        fhir_out_task_add_status(ctx, task, received);
        s_mark_read(g, ref, ctx->org_id);
    }
    json_object_put(ref);
    json_object_put(item);
    json_object_put(received);
    return task;
}

void
gwr_task_get(struct gw *g, const struct fhir_ctx *ctx, const char *id,
             struct gw_resp *out)
{
    json_object *task = s_task(g, ctx, id, out);

    if (task != NULL)
        gwr_ok(out, 200, task);
}

/* A Task as the client wants it (PUT, or the current one after a PATCH)
 * made into a status change and sent. Takes 'task'. */
static void
s_task_change(struct gw *g, const struct fhir_ctx *ctx, const char *id,
              json_object *task, struct gw_resp *out)
{
    json_object *ref = NULL, *item = NULL, *kr = NULL;
    struct fhir_error e;
    struct gw_sent sent;
    const char *tid;

    if (!gwr_type_is(task, "Task")) {
        gwr_fail(out, 400, "structure", "resourceType",
                 "the body must be a Task");
        goto done;
    }
    if ((tid = gwr_str(task, "id")) == NULL || strcmp(tid, id) != 0) {
        gwr_fail(out, 400, "invalid", "Task.id",
                 "Task.id must be the id in the URL");
        goto done;
    }
    if (s_load(g, id, &ref, &item, NULL, out) != KR_OK)
        goto done;
    memset(&e, 0, sizeof(e));
    if (fhir_in_task_update(ctx, ref, task, &kr, &e) != KR_OK) {
        if (e.status == 0)
            fhir_error_set(&e, 422, "processing", "Task",
                           "the change could not be read");
        gw_resp_error(out, &e);
        goto done;
    }
    int status = 200;
    if (kr != NULL) {
        if (gwr_send(g, kr, &sent, &e) != KR_OK) {
            gw_resp_error(out, &e);
            goto done;
        }
        if (sent.fate == GW_FATE_PENDING)
            status = 202;
    }
    json_object *now = s_task(g, ctx, id, out);
    if (now != NULL)
        gwr_ok(out, status, now);
done:
    json_object_put(kr);
    json_object_put(ref);
    json_object_put(item);
    json_object_put(task);
}

void
gwr_task_put(struct gw *g, const struct fhir_ctx *ctx, const struct gw_req *r,
             const char *id, struct gw_resp *out)
{
    json_object *task = gwr_body(r, out);

    if (task != NULL)
        s_task_change(g, ctx, id, task, out);
}

void
gwr_task_patch(struct gw *g, const struct fhir_ctx *ctx, const struct gw_req *r,
               const char *id, struct gw_resp *out)
{
    json_object *patch = gwr_body(r, out), *task;
    struct fhir_error e;

    if (patch == NULL)
        return;
    if (!json_object_is_type(patch, json_type_array)) {
        gwr_fail(out, 400, "structure", NULL,
                 "a JSON Patch is an array of operations (RFC 6902)");
        json_object_put(patch);
        return;
    }
    if ((task = s_task(g, ctx, id, out)) == NULL) {
        json_object_put(patch);
        return;
    }
    memset(&e, 0, sizeof(e));
    if (fhir_json_patch_apply(task, patch, &e) != KR_OK) {
        if (e.status == 0)
            fhir_error_set(&e, 422, "processing", NULL,
                           "the patch could not be applied");
        gw_resp_error(out, &e);
        json_object_put(task);
        json_object_put(patch);
        return;
    }
    json_object_put(patch);
    s_task_change(g, ctx, id, task, out);
}

/* An instant or a date of FHIR's forms as ms since the epoch (a date or a
 * partial time: its start). */
static int
s_instant(const char *s, uint64_t *ms)
{
    struct tm tm;
    int y = 0, mo = 1, d = 1, h = 0, mi = 0, sec = 0, frac = 0, n = 0;
    long off = 0;
    const char *p;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d%n", &y, &n) != 1 || n != 4)
        return KR_EINVAL;
    p = s + 4;
    if (*p == '-') {
        if (sscanf(p, "-%2d%n", &mo, &n) != 1 || n != 3)
            return KR_EINVAL;
        p += 3;
        if (*p == '-') {
            if (sscanf(p, "-%2d%n", &d, &n) != 1 || n != 3)
                return KR_EINVAL;
            p += 3;
            if (*p == 'T') {
                if (sscanf(p, "T%2d:%2d%n", &h, &mi, &n) != 2 || n != 6)
                    return KR_EINVAL;
                p += 6;
                if (*p == ':') {
                    if (sscanf(p, ":%2d%n", &sec, &n) != 1 || n != 3)
                        return KR_EINVAL;
                    p += 3;
                    if (*p == '.') {
                        int digits = 0;
                        p++;
                        while (isdigit((unsigned char)*p) && digits < 9) {
                            if (digits < 3)
                                frac = frac * 10 + (*p - '0');
                            digits++;
                            p++;
                        }
                        for (int k = digits; k < 3; k++)
                            frac *= 10;
                        if (digits == 0)
                            return KR_EINVAL;
                    }
                }
                if (*p == 'Z') {
                    p++;
                } else if (*p == '+' || *p == '-') {
                    int oh, om;
                    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
                        return KR_EINVAL;
                    off = (oh * 60L + om) * 60L * (*p == '+' ? 1 : -1);
                    p += 6;
                }
            }
        }
    }
    if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
        h > 23 || mi > 59 || sec > 60)
        return KR_EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || (long)t - off < 0)
        return KR_EINVAL;
    *ms = (uint64_t)((long)t - off) * 1000u + (uint64_t)frac;
    return KR_OK;
}

/* An organisation search value: "ura:00001234" or "SYSTEM|VALUE". */
static int
s_org_param(const char *v, char out[GW_ORG_MAX])
{
    const char *bar = strchr(v, '|');

    if (bar == NULL) {
        snprintf(out, GW_ORG_MAX, "%s", v);
        return util_org_id_valid(out) ? KR_OK : KR_EINVAL;
    }
    json_object *id = json_object_new_object();
    char sys[256];
    size_t n = (size_t)(bar - v);
    if (n >= sizeof(sys)) {
        json_object_put(id);
        return KR_EINVAL;
    }
    memcpy(sys, v, n);
    sys[n] = '\0';
    json_object_object_add(id, "system", json_object_new_string(sys));
    json_object_object_add(id, "value", json_object_new_string(bar + 1));
    int rc = fhir_org_id_from_identifier(id, NULL, out, GW_ORG_MAX, NULL);
    json_object_put(id);
    return rc;
}

/* What a Task search asks for. */
struct s_query {
    const char *state;
    char owner[GW_ORG_MAX], requester[GW_ORG_MAX];
    int cmp;        /* _lastUpdated: 0 none, 'g' gt, 'G' ge, 'l' lt, 'L' le */
    uint64_t at_ms; /* its instant */
    uint64_t count; /* _count */
    const char *after;
};

/* When the node last changed a referral ("updated_at"; a node before
 * that field: its state's time): what meta.lastUpdated shows. */
static const char *
s_changed(json_object *ref)
{
    const char *p = gwr_str(ref, "updated_at");

    return p != NULL ? p : gwr_str(ref, "state_at");
}

static bool
s_match(const struct s_query *q, json_object *ref)
{
    const char *p;
    uint64_t at;

    if (q->state != NULL &&
        ((p = gwr_str(ref, "state")) == NULL || strcmp(p, q->state) != 0))
        return false;
    if (q->owner[0] &&
        ((p = gwr_str(ref, "performer")) == NULL || strcmp(p, q->owner) != 0))
        return false;
    if (q->requester[0] &&
        ((p = gwr_str(ref, "placer")) == NULL || strcmp(p, q->requester) != 0))
        return false;
    if (q->cmp != 0) {
        if ((p = s_changed(ref)) == NULL || s_instant(p, &at) != KR_OK)
            return false;
        switch (q->cmp) {
        case 'g':
            return at > q->at_ms;
        case 'G':
            return at >= q->at_ms;
        case 'l':
            return at < q->at_ms;
        default:
            return at <= q->at_ms;
        }
    }
    return true;
}

/* One page of the node's listing, each referral with its view (the
 * whole record, the item that opened it here, the messages received):
 * in the order referrals changed from (since, after) when the search
 * asks for _lastUpdated gt or ge (then it reads only what changed: a long
 * poll costs what is new, not what the node holds), else in referral_id
 * order after 'after'. One node call a page, whatever it holds. */
static int
s_list(struct gw *g, const struct s_query *q, uint64_t since, const char *after,
       uint32_t page, json_object **views, char *err, size_t errlen)
{
    return gw_node_referral_views(&g->node, since != 0 ? NULL : q->state, since,
                                  after[0] ? after : NULL, page, views, err,
                                  errlen);
}

/* One pass of a search: the matching Tasks (an array), and where to page
 * on if there may be more: next (an id, "" if not) and, in change order,
 * *next_at (the ms its _lastUpdated=ge starts at; 0 in id order). KR_OK
 * or 'out' set. */
static int
s_search_once(struct gw *g, const struct fhir_ctx *ctx, const struct s_query *q,
              json_object **tasks, char next[GWR_ID_LEN + 1], uint64_t *next_at,
              struct gw_resp *out)
{
    char after[GWR_ID_LEN + 1] = "", err[256];
    uint32_t page = (uint32_t)g->cfg->search_max;
    uint64_t since = 0;

    *tasks = json_object_new_array();
    next[0] = '\0';
    *next_at = 0;
    if (q->cmp == 'g' || q->cmp == 'G')
        since = q->at_ms + (q->cmp == 'g' ? 1 : 0);
    if (since == 0 && q->cmp != 0)
        since = 1; /* ge 1970-01-01: every one, in change order */
    if (q->after != NULL)
        snprintf(after, sizeof(after), "%s", q->after);
    for (int pg = 0; pg < S_SEARCH_PAGES; pg++) {
        json_object *views = NULL;
        int rc = s_list(g, q, since, after, page, &views, err, sizeof(err));
        if (rc != KR_OK) {
            gwr_fail(out, 503, "transient", NULL,
                     "listing the referrals of the node at %s: %s: %s",
                     g->cfg->node, kr_strerror(rc), err);
            json_object_put(*tasks);
            *tasks = NULL;
            return rc;
        }
        size_t n = json_object_array_length(views);
        for (size_t i = 0; i < n; i++) {
            json_object *view = json_object_array_get_idx(views, i), *ref,
                        *item, *rcv, *task;
            if (!json_object_object_get_ex(view, "referral", &ref) ||
                !json_object_is_type(ref, json_type_object))
                continue;
            const char *rid = gwr_str(ref, "referral_id"), *ch;
            uint64_t at = 0;
            if (rid == NULL || !gwr_id_ok(rid))
                continue;
            snprintf(after, sizeof(after), "%s", rid);
            if (since != 0 && (ch = gwr_str(ref, "updated_at")) != NULL &&
                s_instant(ch, &at) == KR_OK)
                since = at; /* the next page goes on from here */
            if (!s_match(q, ref))
                continue;
            /* The view holds what GET /Task/{id} shows the Task from. */
            if (!json_object_object_get_ex(view, "item", &item) ||
                !json_object_is_type(item, json_type_object))
                item = NULL;
            if (!json_object_object_get_ex(view, "received", &rcv) ||
                !json_object_is_type(rcv, json_type_array))
                rcv = NULL;
            if ((task = fhir_out_task(ctx, ref, item)) != NULL)
                fhir_out_task_add_status(ctx, task, rcv);
            if (task != NULL)
                json_object_array_add(*tasks, task);
            if (json_object_array_length(*tasks) >= q->count) {
                if (i + 1 < n || n == page) {
                    snprintf(next, GWR_ID_LEN + 1, "%s", after);
                    *next_at = since;
                }
                json_object_put(views);
                return KR_OK;
            }
        }
        json_object_put(views);
        if (n < page)
            return KR_OK; /* the end of the node's list */
    }
    snprintf(next, GWR_ID_LEN + 1, "%s", after);
    *next_at = since;
    return KR_OK;
}

/* Append val percent-encoded to buf at *n (a query value: what is not
 * unreserved or ':' is encoded); stops at the end of buf. */
static void
s_encode(char *buf, size_t size, int *n, const char *val)
{
    static const char hex[] = "0123456789ABCDEF";

    /* Bounded by val and by buf. */
    for (const char *c = val; *c && *n >= 0 && (size_t)*n + 4 < size; c++) {
        if (isalnum((unsigned char)*c) || strchr("-._~:", *c)) {
            buf[(*n)++] = *c;
        } else {
            buf[(*n)++] = '%';
            buf[(*n)++] = hex[(unsigned char)*c >> 4];
            buf[(*n)++] = hex[(unsigned char)*c & 15];
        }
    }
    if (*n >= 0 && (size_t)*n < size)
        buf[*n] = '\0';
}

void
gwr_task_search(struct gw *g, const struct fhir_ctx *ctx,
                const struct gw_req *r, struct gw_resp *out)
{
    struct s_query q;
    const char *v;
    uint64_t wait_s = 0;
    static const char *const states[] = {
        "draft",    "requested", "received",  "accepted",
        "rejected", "ready",     "cancelled", "in-progress",
        "on-hold",  "failed",    "completed", "entered-in-error"};

    memset(&q, 0, sizeof(q));
    q.count = g->cfg->search_max;
    if ((v = gw_req_arg(r, "status")) != NULL) {
        bool known = false;
        for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
            known |= strcmp(v, states[i]) == 0;
        if (!known) {
            gwr_fail(out, 400, "value", "status",
                     "status: not a FHIR TaskStatus code");
            return;
        }
        q.state = v;
    }
    if ((v = gw_req_arg(r, "owner")) != NULL ||
        (v = gw_req_arg(r, "owner:identifier")) != NULL) {
        if (s_org_param(v, q.owner) != KR_OK) {
            gwr_fail(out, 400, "value", "owner",
                     "owner: not an organisation (ura:NNNNNNNN, or "
                     "SYSTEM|VALUE with the URA or AGB system)");
            return;
        }
    }
    if ((v = gw_req_arg(r, "requester")) != NULL ||
        (v = gw_req_arg(r, "requester:identifier")) != NULL) {
        if (s_org_param(v, q.requester) != KR_OK) {
            gwr_fail(out, 400, "value", "requester",
                     "requester: not an organisation (ura:NNNNNNNN, or "
                     "SYSTEM|VALUE with the URA or AGB system)");
            return;
        }
    }
    if ((v = gw_req_arg(r, "_lastUpdated")) != NULL) {
        const char *t = v;
        q.cmp = 'G';
        if (strncmp(v, "gt", 2) == 0)
            q.cmp = 'g', t = v + 2;
        else if (strncmp(v, "ge", 2) == 0)
            q.cmp = 'G', t = v + 2;
        else if (strncmp(v, "lt", 2) == 0)
            q.cmp = 'l', t = v + 2;
        else if (strncmp(v, "le", 2) == 0)
            q.cmp = 'L', t = v + 2;
        else if (strncmp(v, "eq", 2) == 0)
            q.cmp = 'G', t = v + 2;
        if (s_instant(t, &q.at_ms) != KR_OK) {
            gwr_fail(out, 400, "value", "_lastUpdated",
                     "_lastUpdated: not gt, ge, lt or le followed by a FHIR "
                     "instant or date (2026-12-05T10:00:00Z)");
            return;
        }
    }
    if ((v = gw_req_arg(r, "_count")) != NULL &&
        util_parse_u64(v, 1, g->cfg->search_max, &q.count) != KR_OK) {
        gwr_fail(out, 400, "value", "_count",
                 "_count: not a number from 1 to %llu (search_max)",
                 (unsigned long long)g->cfg->search_max);
        return;
    }
    if ((v = gw_req_arg(r, "_wait")) != NULL &&
        util_parse_u64(v, 0, g->cfg->long_poll_max_s, &wait_s) != KR_OK) {
        gwr_fail(out, 400, "value", "_wait",
                 "_wait: not a number of seconds from 0 to %llu "
                 "(long_poll_max_s)",
                 (unsigned long long)g->cfg->long_poll_max_s);
        return;
    }
    if ((v = gw_req_arg(r, "_page_after")) != NULL) {
        if (!gwr_id_ok(v)) {
            gwr_fail(out, 400, "value", "_page_after",
                     "_page_after: not a Task id (from a next link)");
            return;
        }
        q.after = v;
    }

    /* The long poll: search; while nothing matches, wait for a change the
     * inbox watcher or a send of our own announces (at most a second at a
     * time: a referral's state also moves by the broker's receipts, which
     * the inbox does not show), and search again. */
    uint64_t deadline = util_mono_ms() + wait_s * 1000u;
    json_object *tasks = NULL;
    char next[GWR_ID_LEN + 1];
    uint64_t next_at = 0;
    for (unsigned pass = 0; pass < 100000; pass++) {
        uint64_t gen = gw_notify_gen(&g->notify);
        if (s_search_once(g, ctx, &q, &tasks, next, &next_at, out) != KR_OK)
            return;
        uint64_t now = util_mono_ms();
        if (json_object_array_length(tasks) > 0 || now >= deadline)
            break;
        json_object_put(tasks);
        tasks = NULL;
        gw_notify_wait(&g->notify, gen,
                       deadline - now > 1000 ? now + 1000 : deadline);
    }
    if (tasks == NULL)
        tasks = json_object_new_array();

    /* The self link repeats the query as asked; next pages on. */
    char self[1024], nextu[1200]; /* self or base, and 84 more */
    int n = snprintf(self, sizeof(self), "%s/Task?", g->base_url);
    const char *keys[] = {"status",
                          "owner",
                          "owner:identifier",
                          "requester",
                          "requester:identifier",
                          "_lastUpdated",
                          "_count"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *val = gw_req_arg(r, keys[i]);
        if (val == NULL || n >= (int)sizeof(self))
            continue;
        n += snprintf(self + n, sizeof(self) - (size_t)n,
                      "%s%s=", self[n - 1] == '?' ? "" : "&", keys[i]);
        s_encode(self, sizeof(self), &n, val);
    }
    if (n > 0 && n < (int)sizeof(self) &&
        (self[n - 1] == '?' || self[n - 1] == '&'))
        self[n - 1] = '\0';
    if (next[0] != '\0' && next_at != 0) {
        /* In change order the next page starts at the last one's time:
         * the self link with _lastUpdated=ge that instant. */
        char inst[JSON_MAP_TIME_LEN], base[1024];
        int m = snprintf(base, sizeof(base), "%s/Task?", g->base_url);
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            const char *val = gw_req_arg(r, keys[i]);
            if (val == NULL || strcmp(keys[i], "_lastUpdated") == 0 ||
                m >= (int)sizeof(base))
                continue;
            m += snprintf(base + m, sizeof(base) - (size_t)m, "%s=", keys[i]);
            s_encode(base, sizeof(base), &m, val);
            if (m < (int)sizeof(base))
                base[m++] = '&', base[m] = '\0';
        }
        if (json_map_time_format(next_at, inst) == 0 && m < (int)sizeof(base))
            snprintf(nextu, sizeof(nextu), "%s_lastUpdated=ge%s&_page_after=%s",
                     base, inst, next);
        else
            next[0] = '\0';
    } else if (next[0] != '\0') {
        snprintf(nextu, sizeof(nextu), "%s%s_page_after=%s", self,
                 strchr(self, '?') != NULL ? "&" : "?", next);
    }
    size_t total = json_object_array_length(tasks);
    json_object *b = fhir_out_searchset(ctx, tasks, total, self,
                                        next[0] != '\0' ? nextu : NULL);
    if (b == NULL)
        gwr_fail(out, 500, "exception", NULL, "no searchset");
    else
        gwr_ok(out, 200, b);
}

void
gwr_content_get(struct gw *g, const struct fhir_ctx *ctx, const char *type,
                const char *id, struct gw_resp *out)
{
    json_object *ref, *item, *res;
    struct fhir_error e;

    if (s_load(g, id, &ref, &item, NULL, out) != KR_OK)
        return;
    memset(&e, 0, sizeof(e));
    if (item == NULL) {
        gwr_fail(out, 404, "not-found", NULL,
                 "this organisation holds no opened content of the referral "
                 "(it placed it: the content is in its own system)");
        json_object_put(ref);
        return;
    }
    if (strcmp(type, "ServiceRequest") == 0)
        res = fhir_out_service_request(ctx, ref, item, &e);
    else
        res = fhir_out_patient(ctx, ref, item, &e);
    if (res == NULL) {
        if (e.status == 0)
            fhir_error_set(&e, 404, "not-found", NULL,
                           "the referral's message holds no %s", type);
        gw_resp_error(out, &e);
    } else {
        gwr_ok(out, 200, res);
    }
    json_object_put(ref);
    json_object_put(item);
}
