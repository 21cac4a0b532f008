/*
 * stats.c - clocks, percentiles, and the figures: every figure keeps the
 * value of each run, so that the table can show the median and the spread
 * rather than one lucky (or unlucky) run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define S_MAX_FIGURES 128

static struct figure *s_figs[S_MAX_FIGURES];
static size_t s_nfigs;

uint64_t
bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double
bench_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n > 0 ? (double)n : 1.0;
}

void
bench_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull),
                          (long)(ns % 1000000000ull)};

    /* An interrupted sleep is only a shorter wait: every caller loops. */
    nanosleep(&ts, NULL);
}

void
bench_sleep_until_ns(uint64_t until_ns)
{
    struct timespec ts = {(time_t)(until_ns / 1000000000ull),
                          (long)(until_ns % 1000000000ull)};

    /* Absolute: a pacing loop does not drift by the time its work took. */
    for (int i = 0; i < 100; i++)
        if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != EINTR)
            return;
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

double
stats_percentile(uint64_t *v, size_t n, double p)
{
    size_t rank;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), s_cmp_u64);
    /* Nearest rank: the smallest value with at least p% at or below it. */
    rank = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1];
}

const struct figure *
figures_find(const char *name)
{
    for (size_t i = 0; i < s_nfigs; i++)
        if (strcmp(s_figs[i]->name, name) == 0)
            return s_figs[i];
    return NULL;
}

const char *bench_figure_side = "";

void
figures_add(const char *name, const char *unit, uint64_t n,
            enum target_kind kind, double target, const char *ref, double value)
{
    char full[sizeof(((struct figure *)0)->name)];
    char full_ref[sizeof(((struct figure *)0)->ref)];

    /* With --compare, the other build's figures are kept apart under the
     * same names with its side appended ("@b"), their references too. */
    snprintf(full, sizeof(full), "%s%s", name, bench_figure_side);
    snprintf(full_ref, sizeof(full_ref), "%s%s", ref != NULL ? ref : "",
             ref != NULL && ref[0] != '\0' ? bench_figure_side : "");
    name = full;
    ref = full_ref;
    struct figure *f = (struct figure *)figures_find(name);

    if (f == NULL) {
        if (s_nfigs == S_MAX_FIGURES) {
            fprintf(stderr, "krbench: more than %d figures: %s dropped\n",
                    S_MAX_FIGURES, name);
            return;
        }
        f = xcalloc(1, sizeof(*f));
        snprintf(f->name, sizeof(f->name), "%s", name);
        snprintf(f->unit, sizeof(f->unit), "%s", unit);
        snprintf(f->ref, sizeof(f->ref), "%s", ref != NULL ? ref : "");
        f->kind = kind;
        f->target = target;
        f->n = n;
        s_figs[s_nfigs++] = f;
    }
    if (f->nvals < BENCH_MAX_RUNS)
        f->vals[f->nvals++] = value;
}

size_t
figures_count(void)
{
    return s_nfigs;
}

const struct figure *
figures_at(size_t i)
{
    return i < s_nfigs ? s_figs[i] : NULL;
}

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

void
figure_summary(const struct figure *f, double *median, double *min, double *max)
{
    double v[BENCH_MAX_RUNS];
    int n = f->nvals;

    *median = *min = *max = 0;
    if (n == 0)
        return;
    memcpy(v, f->vals, (size_t)n * sizeof(v[0]));
    qsort(v, (size_t)n, sizeof(v[0]), s_cmp_double);
    *min = v[0];
    *max = v[n - 1];
    /* An even count takes the mean of the middle two. */
    *median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

const char *
figure_met(const struct figure *f, char *target_text, size_t len)
{
    double med, lo, hi, goal = f->target;

    figure_summary(f, &med, &lo, &hi);
    switch (f->kind) {
    case TARGET_NONE:
        snprintf(target_text, len, "-");
        return "-";
    case TARGET_GE:
        snprintf(target_text, len, ">=%g", f->target);
        return f->nvals == 0 ? "n/a" : med >= goal ? "yes" : "no";
    case TARGET_LE:
        snprintf(target_text, len, "<=%g", f->target);
        return f->nvals == 0 ? "n/a" : med <= goal ? "yes" : "no";
    case TARGET_LT:
        snprintf(target_text, len, "<%g", f->target);
        return f->nvals == 0 ? "n/a" : med < goal ? "yes" : "no";
    case TARGET_GE_REF: {
        const struct figure *r = figures_find(f->ref);
        double rmed, rlo, rhi;
        if (r == NULL || r->nvals == 0 || f->nvals == 0) {
            snprintf(target_text, len, ">=%g*%s", f->target, f->ref);
            return "n/a";
        }
        figure_summary(r, &rmed, &rlo, &rhi);
        goal = f->target * rmed;
        snprintf(target_text, len, ">=%.0f", goal);
        return med >= goal ? "yes" : "no";
    }
    }
    return "n/a";
}

void
figures_free(void)
{
    for (size_t i = 0; i < s_nfigs; i++)
        free(s_figs[i]);
    s_nfigs = 0;
}

const char *
bench_count_label(uint64_t n, char *buf, size_t len)
{
    if (n >= 1000000 && n % 1000000 == 0)
        snprintf(buf, len, "%lluM", (unsigned long long)(n / 1000000));
    else if (n >= 1000 && n % 1000 == 0)
        snprintf(buf, len, "%lluk", (unsigned long long)(n / 1000));
    else
        snprintf(buf, len, "%llu", (unsigned long long)n);
    return buf;
}

/*
 * Message ids (bench.h).
 */

bool bench_scatter_ids;
const char *bench_dir = "/tmp";

#define S_ID_MUL 0x9E3779B1u /* odd: a bijection mod 2^32 */

static uint32_t
s_id_mul_inverse(void)
{
    /* Newton's iteration for the inverse mod 2^32: each step doubles the
     * correct low bits (3 -> 6 -> 12 -> 24 -> 48). */
    uint32_t x = S_ID_MUL;
    for (int i = 0; i < 4; i++)
        x *= 2u - S_ID_MUL * x;
    return x;
}

static void
s_be32(uint32_t v, uint8_t out[4])
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

static uint32_t
s_unbe32(const uint8_t in[4])
{
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
           (uint32_t)in[2] << 8 | in[3];
}

void
bench_msg_id(const uint8_t prefix[12], uint64_t index, uint8_t id[16])
{
    if (bench_scatter_ids) {
        s_be32((uint32_t)index * S_ID_MUL, id);
        memcpy(id + 4, prefix, 12);
    } else {
        memcpy(id, prefix, 12);
        s_be32((uint32_t)index, id + 12);
    }
}

bool
bench_msg_index(const uint8_t prefix[12], const uint8_t *id, size_t len,
                uint64_t *index)
{
    if (len != 16)
        return false;
    if (bench_scatter_ids) {
        if (memcmp(id + 4, prefix, 12) != 0)
            return false;
        *index = (uint32_t)(s_unbe32(id) * s_id_mul_inverse());
    } else {
        if (memcmp(id, prefix, 12) != 0)
            return false;
        *index = s_unbe32(id + 12);
    }
    return true;
}

void
bench_commit_figures(const char *prefix, uint64_t n,
                     const struct commit_stats *a, const struct commit_stats *b,
                     uint64_t wall_ns)
{
    char name[96];

    if (wall_ns == 0 || b->count < a->count || b->p50_us == 0)
        return;
    snprintf(name, sizeof(name), "%s_commit_pct", prefix);
    figures_add(name, "%", n, TARGET_NONE, 0, NULL,
                100.0 * (double)(b->total_us - a->total_us) * 1e3 /
                    (double)wall_ns);
    snprintf(name, sizeof(name), "%s_commits_per_s", prefix);
    figures_add(name, "1/s", n, TARGET_NONE, 0, NULL,
                (double)(b->count - a->count) * 1e9 / (double)wall_ns);
    snprintf(name, sizeof(name), "%s_commit_p50_ms", prefix);
    figures_add(name, "ms", n, TARGET_NONE, 0, NULL, b->p50_us / 1e3);
    snprintf(name, sizeof(name), "%s_commit_p99_ms", prefix);
    figures_add(name, "ms", n, TARGET_NONE, 0, NULL, b->p99_us / 1e3);
}
