/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *s_prog = "kansrijk";
/* Read by every thread that logs (the prefill and HTTP helpers too),
 * changed by the loop at a reload: atomic, so that a change is seen
 * without a lock and without a torn read. */
static _Atomic int s_level = LOG_LEVEL_INFO;
static _Atomic int s_json;

void
log_init(const char *prog, enum log_level level)
{
    s_prog = prog;
    s_level = level;
}

void
log_set_level(enum log_level level)
{
    s_level = (int)level;
}

void
log_set_json(int on)
{
    s_json = on != 0;
}

int
log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};

    for (int i = 0; i < 4; i++)
        if (s != NULL && strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

int
log_enabled(enum log_level level)
{
    return (int)level >= s_level;
}

/* Append 's' to out as the inside of a JSON string (n bytes of s). */
static size_t
s_json_str(char *out, size_t room, size_t at, const char *s, size_t n)
{
    for (size_t i = 0; i < n && at + 8 < room; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[at++] = '\\';
            out[at++] = (char)c;
        } else if (c < 0x20) {
            at += (size_t)snprintf(out + at, room - at, "\\u%04x", c);
        } else {
            out[at++] = (char)c;
        }
    }
    return at;
}

/* The key=value fields of a text line as JSON members: a key is
 * [a-z0-9_]+ after a space, a value runs to the next space, or is quoted
 * ("..."). */
static size_t
s_json_fields(char *out, size_t room, size_t at, const char *msg)
{
    for (const char *p = msg; *p != '\0'; p++) {
        if (p != msg && p[-1] != ' ')
            continue;
        size_t kl = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (kl == 0 || p[kl] != '=')
            continue;
        const char *v = p + kl + 1, *end;
        if (*v == '"') {
            v++;
            end = strchr(v, '"');
            if (end == NULL)
                end = v + strlen(v);
        } else {
            end = v + strcspn(v, " ");
        }
        static const char *const taken[] = {"ts", "level", "prog", "msg"};
        bool dup = false;
        for (size_t i = 0; i < 4; i++)
            dup |= strlen(taken[i]) == kl && strncmp(taken[i], p, kl) == 0;
        if (dup || at + kl + 16 >= room)
            continue;
        at += (size_t)snprintf(out + at, room - at, ",\"%.*s\":\"", (int)kl, p);
        at = s_json_str(out, room, at, v, (size_t)(end - v));
        if (at + 2 < room)
            out[at++] = '"';
        p = end[0] != '\0' ? end : end - 1;
    }
    return at;
}

static void
s_vemit_json(const char *when, long ms, enum log_level level, const char *fmt,
             va_list ap)
{
    static const char *tags[] = {"debug", "info", "warn", "error"};
    char msg[2048], line[6144];
    size_t at;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    at = (size_t)snprintf(line, sizeof(line),
                          "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"prog\":"
                          "\"%s\",\"msg\":\"",
                          when, ms, tags[level], s_prog);
    at = s_json_str(line, sizeof(line), at, msg, strlen(msg));
    line[at++] = '"';
    at = s_json_fields(line, sizeof(line) - 2, at, msg);
    line[at++] = '}';
    line[at] = '\0';
    fprintf(stderr, "%s\n", line);
}

static void
s_vemit(enum log_level level, const char *fmt, va_list ap)
{
    static const char *tags[] = {"debug", "info", "warn", "error"};
    struct timespec ts;
    struct tm tm;
    char when[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    if (s_json) {
        s_vemit_json(when, ts.tv_nsec / 1000000, level, fmt, ap);
        return;
    }
    /* One fprintf per part, but stderr is unbuffered; build the line first
     * so that concurrent writers do not interleave within a line. */
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s: ", when,
                     ts.tv_nsec / 1000000, tags[level], s_prog);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    fprintf(stderr, "%s\n", line);
}

void
log_emit(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!log_enabled(level))
        return;
    va_start(ap, fmt);
    s_vemit(level, fmt, ap);
    va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    s_vemit(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}

bool
log_every_hit(struct log_every *e, uint64_t now_ms, uint64_t every_ms,
              uint64_t *unlogged)
{
    e->count++;
    if (e->since_ms == 0) {
        /* 0 means "not active": a clock at 0 would look like one. */
        e->since_ms = now_ms != 0 ? now_ms : 1;
        e->last_ms = now_ms;
        e->unlogged = 0;
        *unlogged = 0;
        return true;
    }
    if (now_ms - e->last_ms >= every_ms) {
        *unlogged = e->unlogged;
        e->unlogged = 0;
        e->last_ms = now_ms;
        return true;
    }
    e->unlogged++;
    return false;
}

bool
log_every_clear(struct log_every *e, uint64_t now_ms, uint64_t *for_ms,
                uint64_t *count)
{
    if (e->since_ms == 0)
        return false;
    *for_ms = now_ms > e->since_ms ? now_ms - e->since_ms : 0;
    *count = e->count;
    e->since_ms = 0;
    e->last_ms = 0;
    e->count = 0;
    e->unlogged = 0;
    return true;
}

bool
log_every_active(const struct log_every *e)
{
    return e->since_ms != 0;
}
