/* latency.c - see latency.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "latency.h"

uint64_t
latency_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
latency_add(struct latency *l, uint64_t us)
{
    l->us[l->next] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    l->next = (l->next + 1) % LATENCY_WINDOW;
    if (l->n < LATENCY_WINDOW)
        l->n++;
    l->count++;
    l->total_us += us;
}

static int
s_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

void
latency_summarise(const struct latency *l, struct latency_summary *out)
{
    uint32_t sorted[LATENCY_WINDOW];

    memset(out, 0, sizeof(*out));
    out->count = l->count;
    out->total_us = l->total_us;
    out->window = l->n;
    if (l->n == 0)
        return;
    /* Asked for now and then by an operator: a sort of 4 KiB is fine. */
    memcpy(sorted, l->us, l->n * sizeof(sorted[0]));
    qsort(sorted, l->n, sizeof(sorted[0]), s_cmp);
    out->p50_us = sorted[(l->n - 1) / 2];
    out->p99_us = sorted[(uint32_t)((uint64_t)(l->n - 1) * 99 / 100)];
    out->max_us = sorted[l->n - 1];
}
