/*
 * table.c - what krbench prints at the end: the table of figures (median,
 * spread, target, met) with a machine-readable line per figure, and with
 * --compare the B/A table, paired run by run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const char *
s_fmt(const struct figure *f, double v, char *buf, size_t len)
{
    if (strcmp(f->unit, "msg/s") == 0)
        snprintf(buf, len, "%.0f", v);
    else if (strcmp(f->unit, "ms") == 0)
        snprintf(buf, len, "%.3f", v);
    else if (strcmp(f->unit, "ns") == 0)
        snprintf(buf, len, "%.2f", v);
    else
        snprintf(buf, len, "%.1f", v);
    return buf;
}

void
bench_table(size_t size)
{
    char med[32], lo[32], hi[32], range[72], target[64];

    printf("\n%-36s %10s  %-23s %-6s %-10s %s\n", "figure", "median",
           "min..max", "unit", "target", "met");
    for (size_t i = 0; i < figures_count(); i++) {
        const struct figure *f = figures_at(i);
        double m, a, b;
        figure_summary(f, &m, &a, &b);
        const char *met = figure_met(f, target, sizeof(target));
        snprintf(range, sizeof(range), "%s..%s", s_fmt(f, a, lo, sizeof(lo)),
                 s_fmt(f, b, hi, sizeof(hi)));
        printf("%-36s %10s  %-23s %-6s %-10s %s\n", f->name,
               s_fmt(f, m, med, sizeof(med)), range, f->unit, target, met);
    }
    printf("\n");
    for (size_t i = 0; i < figures_count(); i++) {
        const struct figure *f = figures_at(i);
        double m, a, b;
        figure_summary(f, &m, &a, &b);
        const char *met = figure_met(f, target, sizeof(target));
        printf("krbench figure=%s median=%.6g min=%.6g max=%.6g runs=%d "
               "unit=%s size=%zu n=%llu target=%s met=%s\n",
               f->name, m, a, b, f->nvals, f->unit, size,
               (unsigned long long)f->n, target, met);
    }
    fflush(stdout);
}

static int
s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* --compare: figure i of A and its B twin: the medians and B/A paired
 * run by run (the runs were interleaved, so run k of A and run k of B saw
 * the same hour). False if the figure has no twin or no pair. */
static bool
s_pair(size_t i, const struct figure **fa, double *am, double *bm,
       double *ratio, double *rmin, double *rmax, int *pairs)
{
    const struct figure *a = figures_at(i), *b;
    size_t nl = strlen(a->name), sl = strlen(BENCH_SIDE_B);
    char name_b[80];
    double r[BENCH_MAX_RUNS], lo, hi;
    int n = 0;

    if (nl >= sl && strcmp(a->name + nl - sl, BENCH_SIDE_B) == 0)
        return false;
    snprintf(name_b, sizeof(name_b), "%s%s", a->name, BENCH_SIDE_B);
    if ((b = figures_find(name_b)) == NULL)
        return false;
    for (int k = 0; k < a->nvals && k < b->nvals; k++)
        if (a->vals[k] != 0)
            r[n++] = b->vals[k] / a->vals[k];
    if (n == 0)
        return false;
    qsort(r, (size_t)n, sizeof(r[0]), s_cmp_double);
    figure_summary(a, am, &lo, &hi);
    figure_summary(b, bm, &lo, &hi);
    *fa = a;
    *ratio = n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
    *rmin = r[0];
    *rmax = r[n - 1];
    *pairs = n;
    return true;
}

void
bench_compare_table(void)
{
    const struct figure *a;
    double am, bm, ratio, lo, hi;
    char ma[32], mb[32];
    int n;

    printf("B/A, paired by run (B: --compare; below 1: B's figure is "
           "lower)\n%-36s %10s %10s  %-7s %s\n",
           "figure", "A", "B", "B/A", "min..max");
    for (size_t i = 0; i < figures_count(); i++)
        if (s_pair(i, &a, &am, &bm, &ratio, &lo, &hi, &n))
            printf("%-36s %10s %10s  %-7.3f %.3f..%.3f\n", a->name,
                   s_fmt(a, am, ma, sizeof(ma)), s_fmt(a, bm, mb, sizeof(mb)),
                   ratio, lo, hi);
    printf("\n");
    for (size_t i = 0; i < figures_count(); i++)
        if (s_pair(i, &a, &am, &bm, &ratio, &lo, &hi, &n))
            printf("krbench compare figure=%s a=%.6g b=%.6g ratio=%.4f "
                   "ratio_min=%.4f ratio_max=%.4f pairs=%d\n",
                   a->name, am, bm, ratio, lo, hi, n);
    fflush(stdout);
}
