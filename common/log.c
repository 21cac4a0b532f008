/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

static const char *s_prog = "kansrijk";
static enum log_level s_level = LOG_LEVEL_INFO;

void
log_init(const char *prog, enum log_level level)
{
    s_prog = prog;
    s_level = level;
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
    return level >= s_level;
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
