/*
 * log.h - one line per event, key=value, to stderr.
 *
 * Lines read "time level prog: module: subject: what: why key=value ...".
 * Never log a payload, a secret key or a BSN: log organisations by their id
 * and messages by their msg_id.
 */
#ifndef KR_LOG_H
#define KR_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR
};

/* Set the program name shown on each line and the lowest level printed. */
void log_init(const char *prog, enum log_level level);
/* Parse "debug", "info", "warn" or "error"; -1 if it is none of them. */
int log_level_parse(const char *s);
int log_enabled(enum log_level level);

void log_emit(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Like log_emit at error level, then exit(1). For daemon start-up only. */
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * A condition that repeats (a full disk fails every pass until an operator
 * acts) is logged once when it begins, then at most once every 'every_ms'
 * with how often it happened meanwhile, and once when it ends ("recovered
 * after ..."). The caller owns the state and gives the clock (monotonic
 * ms), so that the decision can be tested without one.
 */
struct log_every {
    uint64_t since_ms; /* when the condition began; 0: not active */
    uint64_t last_ms;  /* the last line written about it */
    uint64_t count;    /* times it happened since it began */
    uint64_t unlogged; /* times since the last line */
};

/* The condition happened at now_ms. True when a line is due now (the
 * first time, then once every every_ms); *unlogged then gets how many
 * times it happened since the last line, this one not counted. */
bool log_every_hit(struct log_every *e, uint64_t now_ms, uint64_t every_ms,
                   uint64_t *unlogged);
/* The condition ended at now_ms. True if it was active: *for_ms gets how
 * long it lasted and *count how often it happened; the state is reset. */
bool log_every_clear(struct log_every *e, uint64_t now_ms, uint64_t *for_ms,
                     uint64_t *count);
bool log_every_active(const struct log_every *e);

#define log_debug(...)                                                         \
    do {                                                                       \
        if (log_enabled(LOG_LEVEL_DEBUG))                                      \
            log_emit(LOG_LEVEL_DEBUG, __VA_ARGS__);                            \
    } while (0)
#define log_info(...)                                                          \
    do {                                                                       \
        if (log_enabled(LOG_LEVEL_INFO))                                       \
            log_emit(LOG_LEVEL_INFO, __VA_ARGS__);                             \
    } while (0)
#define log_warnx(...) log_emit(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_errorx(...) log_emit(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
