/*
 * latency.h - the latencies of an operation over its last LATENCY_WINDOW
 * occurrences (the daemons' commits), for operators: exact quantiles of a
 * recent window rather than a histogram since start, so that a disk that
 * became slow an hour ago shows now. Fixed size, no allocation.
 */
#ifndef KR_LATENCY_H
#define KR_LATENCY_H

#include <stdint.h>

#define LATENCY_WINDOW 1024

struct latency {
    uint32_t us[LATENCY_WINDOW]; /* the last ones, a ring */
    uint32_t n;                  /* how many of us[] hold a value */
    uint32_t next;               /* where the next one goes */
    uint64_t count;              /* every one since start */
    uint64_t total_us;           /* their sum since start */
};

struct latency_summary {
    uint32_t p50_us, p99_us, max_us; /* over the window */
    uint32_t window;                 /* how many the window holds */
    uint64_t count;
    uint64_t total_us; /* every one since start, summed: the time spent */
};

/* Microseconds on the monotonic clock, for timing. */
uint64_t latency_now_us(void);
void latency_add(struct latency *l, uint64_t us);
void latency_summarise(const struct latency *l, struct latency_summary *out);

#endif
