/*
 * report_render.c - the coalition's report as text, JSON, CSV and the
 * HTML page with its SVG charts (report.h). Pure: a report in, bytes
 * out. Every string from a record (purpose, organisation id, code) is
 * escaped for its format, though each is a code from a closed list or a
 * configured name: a peer's odd byte must not break the page.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "report.h"
#include "util.h"

static void
s_time_str(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A duration for people: 850 ms, 12.5 s, 4.0 min, 3.2 h, 2.5 d. */
static void
s_dur_str(uint64_t ms, char out[32])
{
    if (ms < 1000)
        snprintf(out, 32, "%" PRIu64 " ms", ms);
    else if (ms < 60000)
        snprintf(out, 32, "%.1f s", ms / 1000.0);
    else if (ms < 3600000)
        snprintf(out, 32, "%.1f min", ms / 60000.0);
    else if (ms < 48 * 3600000ull)
        snprintf(out, 32, "%.1f h", ms / 3600000.0);
    else
        snprintf(out, 32, "%.1f d", ms / 86400000.0);
}

static void
s_json_str(struct kr_buf *out, const char *s)
{
    kbuf_printf(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            kbuf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            kbuf_printf(out, "\\u%04x", *p);
        else
            kbuf_printf(out, "%c", *p);
    }
    kbuf_printf(out, "\"");
}

static void
s_html_str(struct kr_buf *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '<':
            kbuf_printf(out, "&lt;");
            break;
        case '>':
            kbuf_printf(out, "&gt;");
            break;
        case '&':
            kbuf_printf(out, "&amp;");
            break;
        case '"':
            kbuf_printf(out, "&quot;");
            break;
        case '\'':
            kbuf_printf(out, "&#39;");
            break;
        default:
            if (*p < 0x20)
                kbuf_printf(out, " ");
            else
                kbuf_printf(out, "%c", *p);
        }
    }
}

/* An id for an HTML attribute: [A-Za-z0-9-], others as '-'. */
static void
s_html_id(struct kr_buf *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        kbuf_printf(out, "%c",
                    ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9'))
                        ? *p
                        : '-');
}

static void
s_csv_str(struct kr_buf *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        kbuf_printf(out, "%s", s);
        return;
    }
    kbuf_printf(out, "\"");
    for (const char *p = s; *p; p++)
        kbuf_printf(out, *p == '"' ? "\"\"" : "%c", *p);
    kbuf_printf(out, "\"");
}

/* The cells of one route: [*i, *end). */
static size_t
s_route_end(const struct report *r, size_t i)
{
    size_t e = i + 1;

    while (e < r->n_cells &&
           strcmp(r->cells[e].purpose, r->cells[i].purpose) == 0)
        e++;
    return e;
}

/*
 * Text
 */

static void
s_codes_text(struct kr_buf *out, const char *what, const struct report_code *v,
             size_t n)
{
    if (n == 0)
        return;
    kbuf_printf(out, "           %s:", what);
    for (size_t i = 0; i < n; i++)
        kbuf_printf(out, " %s=%" PRIu64, v[i].code, v[i].n);
    kbuf_printf(out, "\n");
}

void
report_text(const struct report *r, struct kr_buf *out)
{
    char t[32], m[16], a[4][32];

    s_time_str(r->now_ms, t);
    kbuf_printf(out, "computed %s from %" PRIu64 " referrals", t, r->records);
    if (r->month != 0) {
        report_month_str(r->month, m);
        kbuf_printf(out, "; month %s", m);
    }
    kbuf_printf(out, "; counted by the month opened\n");
    if (r->n_cells == 0)
        kbuf_printf(out, "\nno referrals\n");
    for (size_t i = 0; i < r->n_cells;) {
        size_t e = s_route_end(r, i);
        kbuf_printf(out, "\nroute %s\n", r->cells[i].purpose);
        kbuf_printf(out, "  %-8s %7s %8s %8s %9s %9s %6s  %-21s %s\n", "month",
                    "opened", "accepted", "rejected", "completed", "escalated",
                    "open", "to accept (med/p90)", "to contact (med/p90)");
        for (; i < e; i++) {
            const struct report_cell *c = &r->cells[i];
            char acc[72], con[72];
            report_month_str(c->month, m);
            s_dur_str(report_pct(&c->to_accept, 50), a[0]);
            s_dur_str(report_pct(&c->to_accept, 90), a[1]);
            s_dur_str(report_pct(&c->to_contact, 50), a[2]);
            s_dur_str(report_pct(&c->to_contact, 90), a[3]);
            snprintf(acc, sizeof(acc), "%s / %s", a[0], a[1]);
            snprintf(con, sizeof(con), "%s / %s", a[2], a[3]);
            kbuf_printf(out,
                        "  %-8s %7" PRIu64 " %8" PRIu64 " %8" PRIu64
                        " %9" PRIu64 " %9" PRIu64 " %6" PRIu64 "  %-21s %s\n",
                        m, c->opened, c->accepted, c->rejected, c->completed,
                        c->escalated, c->open, c->to_accept.n ? acc : "-",
                        c->to_contact.n ? con : "-");
            s_codes_text(out, "rejected", c->rejected_by, c->n_rejected_by);
            s_codes_text(out, "completed", c->completed_by, c->n_completed_by);
        }
    }
    kbuf_printf(out, "\norganisations\n  %-32s %7s %12s %6s %8s\n", "org_id",
                "queue", "oldest", "open", "overdue");
    for (size_t i = 0; i < r->n_orgs; i++) {
        const struct report_org *o = &r->orgs[i];
        s_dur_str(o->queue_oldest_ms, a[0]);
        kbuf_printf(out,
                    "  %-32s %7" PRIu64 " %12s %6" PRIu64 " %8" PRIu64 "\n",
                    o->org_id, o->queue_depth, o->queue_depth ? a[0] : "-",
                    o->open, o->overdue);
    }
}

/*
 * JSON
 */

static void
s_codes_json(struct kr_buf *out, const struct report_code *v, size_t n)
{
    kbuf_printf(out, "{");
    for (size_t i = 0; i < n; i++) {
        kbuf_printf(out, i ? "," : "");
        s_json_str(out, v[i].code);
        kbuf_printf(out, ":%" PRIu64, v[i].n);
    }
    kbuf_printf(out, "}");
}

static void
s_durs_json(struct kr_buf *out, const struct report_durs *d)
{
    kbuf_printf(out,
                "{\"n\":%zu,\"median_ms\":%" PRIu64 ",\"p90_ms\":%" PRIu64 "}",
                d->n, report_pct(d, 50), report_pct(d, 90));
}

void
report_json(const struct report *r, struct kr_buf *out)
{
    char t[32], m[16];

    s_time_str(r->now_ms, t);
    kbuf_printf(
        out, "{\"computed_at\":\"%s\",\"referrals\":%" PRIu64 ",\"month\":", t,
        r->records);
    if (r->month != 0) {
        report_month_str(r->month, m);
        kbuf_printf(out, "\"%s\"", m);
    } else
        kbuf_printf(out, "null");
    kbuf_printf(out, ",\"routes\":[");
    for (size_t i = 0; i < r->n_cells;) {
        size_t e = s_route_end(r, i);
        kbuf_printf(out, "%s\n {\"purpose\":", i ? "," : "");
        s_json_str(out, r->cells[i].purpose);
        kbuf_printf(out, ",\"months\":[");
        for (size_t first = i; i < e; i++) {
            const struct report_cell *c = &r->cells[i];
            report_month_str(c->month, m);
            kbuf_printf(out,
                        "%s\n  {\"month\":\"%s\",\"opened\":%" PRIu64
                        ",\"accepted\":%" PRIu64 ",\"rejected\":%" PRIu64
                        ",\"rejected_by\":",
                        i > first ? "," : "", m, c->opened, c->accepted,
                        c->rejected);
            s_codes_json(out, c->rejected_by, c->n_rejected_by);
            kbuf_printf(out, ",\"completed\":%" PRIu64 ",\"completed_by\":",
                        c->completed);
            s_codes_json(out, c->completed_by, c->n_completed_by);
            kbuf_printf(out,
                        ",\"escalated\":%" PRIu64 ",\"cancelled\":%" PRIu64
                        ",\"failed\":%" PRIu64 ",\"open\":%" PRIu64
                        ",\"to_acceptance\":",
                        c->escalated, c->cancelled, c->failed, c->open);
            s_durs_json(out, &c->to_accept);
            kbuf_printf(out, ",\"to_first_contact\":");
            s_durs_json(out, &c->to_contact);
            kbuf_printf(out, "}");
        }
        kbuf_printf(out, "]}");
    }
    kbuf_printf(out, "],\n\"organisations\":[");
    for (size_t i = 0; i < r->n_orgs; i++) {
        const struct report_org *o = &r->orgs[i];
        kbuf_printf(out, "%s\n {\"org_id\":", i ? "," : "");
        s_json_str(out, o->org_id);
        kbuf_printf(out,
                    ",\"queue_depth\":%" PRIu64
                    ",\"queue_oldest_age_ms\":%" PRIu64 ",\"open\":%" PRIu64
                    ",\"overdue\":%" PRIu64 "}",
                    o->queue_depth, o->queue_oldest_ms, o->open, o->overdue);
    }
    kbuf_printf(out, "]}\n");
}

/*
 * CSV: one figure a row (kind,name,month,figure,value), so that one
 * file holds routes and organisations and a spreadsheet pivots it.
 */

static void
s_csv_row(struct kr_buf *out, const char *kind, const char *name,
          const char *month, const char *figure, const char *code, uint64_t v)
{
    kbuf_printf(out, "%s,", kind);
    s_csv_str(out, name);
    kbuf_printf(out, ",%s,%s", month, figure);
    if (code != NULL) {
        kbuf_printf(out, ":");
        s_csv_str(out, code); /* a code with a comma is quoted on its own */
    }
    kbuf_printf(out, ",%" PRIu64 "\n", v);
}

void
report_csv(const struct report *r, struct kr_buf *out)
{
    char m[16];

    kbuf_printf(out, "kind,name,month,figure,value\n");
    for (size_t i = 0; i < r->n_cells; i++) {
        const struct report_cell *c = &r->cells[i];
        const char *p = c->purpose;
        report_month_str(c->month, m);
        s_csv_row(out, "route", p, m, "opened", NULL, c->opened);
        s_csv_row(out, "route", p, m, "accepted", NULL, c->accepted);
        s_csv_row(out, "route", p, m, "rejected", NULL, c->rejected);
        for (size_t k = 0; k < c->n_rejected_by; k++)
            s_csv_row(out, "route", p, m, "rejected", c->rejected_by[k].code,
                      c->rejected_by[k].n);
        s_csv_row(out, "route", p, m, "completed", NULL, c->completed);
        for (size_t k = 0; k < c->n_completed_by; k++)
            s_csv_row(out, "route", p, m, "completed", c->completed_by[k].code,
                      c->completed_by[k].n);
        s_csv_row(out, "route", p, m, "escalated", NULL, c->escalated);
        s_csv_row(out, "route", p, m, "cancelled", NULL, c->cancelled);
        s_csv_row(out, "route", p, m, "failed", NULL, c->failed);
        s_csv_row(out, "route", p, m, "open", NULL, c->open);
        s_csv_row(out, "route", p, m, "to_acceptance_n", NULL, c->to_accept.n);
        s_csv_row(out, "route", p, m, "to_acceptance_median_ms", NULL,
                  report_pct(&c->to_accept, 50));
        s_csv_row(out, "route", p, m, "to_acceptance_p90_ms", NULL,
                  report_pct(&c->to_accept, 90));
        s_csv_row(out, "route", p, m, "to_first_contact_n", NULL,
                  c->to_contact.n);
        s_csv_row(out, "route", p, m, "to_first_contact_median_ms", NULL,
                  report_pct(&c->to_contact, 50));
        s_csv_row(out, "route", p, m, "to_first_contact_p90_ms", NULL,
                  report_pct(&c->to_contact, 90));
    }
    for (size_t i = 0; i < r->n_orgs; i++) {
        const struct report_org *o = &r->orgs[i];
        s_csv_row(out, "organisation", o->org_id, "", "queue_depth", NULL,
                  o->queue_depth);
        s_csv_row(out, "organisation", o->org_id, "", "queue_oldest_age_ms",
                  NULL, o->queue_oldest_ms);
        s_csv_row(out, "organisation", o->org_id, "", "open", NULL, o->open);
        s_csv_row(out, "organisation", o->org_id, "", "overdue", NULL,
                  o->overdue);
    }
}

/*
 * HTML and SVG: horizontal grouped bars, one group a row (a month, an
 * organisation), one bar a series, its value written beside it.
 */

#define S_SERIES_MAX 6
#define S_W 760
#define S_LABEL_W 120
#define S_BAR_W 520
#define S_BAR_H 14
#define S_GAP 10

static const char *const s_colors[S_SERIES_MAX] = {
    "#4c72b0", "#55a868", "#c44e52", "#8172b2", "#dd8452", "#937860"};

struct s_chart {
    const char *title;
    const char *cls; /* class of the <svg> */
    size_t n_series;
    const char *series[S_SERIES_MAX];
    bool durations; /* values are ms */
    size_t n_groups;
    const char *const *groups;
    const uint64_t *v; /* [group][series] */
};

static void
s_svg(struct kr_buf *out, const struct s_chart *ch)
{
    uint64_t max = 1;
    size_t group_h = ch->n_series * S_BAR_H + S_GAP;
    size_t h = 40 + ch->n_groups * group_h + 10;

    for (size_t i = 0; i < ch->n_groups * ch->n_series; i++)
        if (ch->v[i] > max)
            max = ch->v[i];
    kbuf_printf(out,
                "<svg class=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
                "width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\" "
                "role=\"img\" aria-label=\"",
                ch->cls, S_W, h, S_W, h);
    s_html_str(out, ch->title);
    kbuf_printf(out, "\">\n<title>");
    s_html_str(out, ch->title);
    kbuf_printf(out, "</title>\n");
    /* The legend. */
    for (size_t s = 0; s < ch->n_series; s++) {
        size_t x = S_LABEL_W + s * 110;
        kbuf_printf(out,
                    "<rect x=\"%zu\" y=\"8\" width=\"12\" height=\"12\" "
                    "fill=\"%s\"/><text x=\"%zu\" y=\"18\" "
                    "font-size=\"12\">%s</text>\n",
                    x, s_colors[s], x + 16, ch->series[s]);
    }
    for (size_t g = 0; g < ch->n_groups; g++) {
        size_t y0 = 32 + g * group_h;
        kbuf_printf(out,
                    "<text x=\"%d\" y=\"%zu\" font-size=\"12\" "
                    "text-anchor=\"end\">",
                    S_LABEL_W - 8, y0 + (ch->n_series * S_BAR_H) / 2 + 4);
        s_html_str(out, ch->groups[g]);
        kbuf_printf(out, "</text>\n");
        for (size_t s = 0; s < ch->n_series; s++) {
            uint64_t v = ch->v[g * ch->n_series + s];
            double w = (double)v * S_BAR_W / (double)max;
            char val[32];
            if (ch->durations)
                s_dur_str(v, val);
            else
                snprintf(val, sizeof(val), "%" PRIu64, v);
            size_t y = y0 + s * S_BAR_H;
            kbuf_printf(out,
                        "<rect class=\"bar\" x=\"%d\" y=\"%zu\" "
                        "width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                        "<title>%s: %s</title></rect>"
                        "<text x=\"%.1f\" y=\"%zu\" font-size=\"11\">%s"
                        "</text>\n",
                        S_LABEL_W, y, w, S_BAR_H - 2, s_colors[s],
                        ch->series[s], val, S_LABEL_W + w + 4, y + S_BAR_H - 3,
                        val);
        }
    }
    kbuf_printf(out, "</svg>\n");
}

static void
s_codes_html(struct kr_buf *out, const struct report_code *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kbuf_printf(out, "%s<span class=\"code\" data-code=\"", i ? ", " : "");
        s_html_str(out, v[i].code);
        kbuf_printf(out, "\">");
        s_html_str(out, v[i].code);
        kbuf_printf(out, " %" PRIu64 "</span>", v[i].n);
    }
}

static void
s_dur_td(struct kr_buf *out, const char *cls, const struct report_durs *d,
         int pct)
{
    char s[32];

    s_dur_str(report_pct(d, pct), s);
    kbuf_printf(out, "<td class=\"%s\" data-ms=\"%" PRIu64 "\">%s</td>", cls,
                report_pct(d, pct), d->n ? s : "-");
}

static void
s_route_html(const struct report *r, size_t i, size_t e, struct kr_buf *out)
{
    size_t n = e - i;
    char(*months)[16] = xcalloc(n, sizeof(*months));
    const char **labels = xcalloc(n, sizeof(*labels));
    uint64_t *counts = xcalloc(n * 5, sizeof(*counts));
    uint64_t *times = xcalloc(n * 4, sizeof(*times));
    bool any_time = false;

    for (size_t k = 0; k < n; k++) {
        const struct report_cell *c = &r->cells[i + k];
        report_month_str(c->month, months[k]);
        labels[k] = months[k];
        uint64_t *v = &counts[k * 5];
        v[0] = c->opened, v[1] = c->accepted, v[2] = c->rejected;
        v[3] = c->completed, v[4] = c->escalated;
        uint64_t *t = &times[k * 4];
        t[0] = report_pct(&c->to_accept, 50);
        t[1] = report_pct(&c->to_accept, 90);
        t[2] = report_pct(&c->to_contact, 50);
        t[3] = report_pct(&c->to_contact, 90);
        any_time = any_time || c->to_accept.n > 0 || c->to_contact.n > 0;
    }
    kbuf_printf(out, "<section class=\"route\" id=\"route-");
    s_html_id(out, r->cells[i].purpose);
    kbuf_printf(out, "\" data-purpose=\"");
    s_html_str(out, r->cells[i].purpose);
    kbuf_printf(out, "\">\n<h2>Route: ");
    s_html_str(out, r->cells[i].purpose);
    kbuf_printf(out, "</h2>\n");
    struct s_chart cc = {
        "Referrals by month opened",
        "chart counts",
        5,
        {"opened", "accepted", "rejected", "completed", "escalated"},
        false,
        n,
        labels,
        counts};
    s_svg(out, &cc);
    struct s_chart tc = {
        "Time from referral (median, 90th percentile)",
        "chart times",
        4,
        {"accept med", "accept p90", "contact med", "contact p90"},
        true,
        n,
        labels,
        times};
    /* No referral of the route accepted yet: no times to draw. */
    if (any_time)
        s_svg(out, &tc);
    kbuf_printf(out,
                "<table class=\"figures\">\n<tr><th>month</th><th>opened</th>"
                "<th>accepted</th><th>rejected</th><th>by reason</th>"
                "<th>completed</th><th>by outcome</th><th>escalated</th>"
                "<th>open</th><th>to acceptance<br>median</th><th>p90</th>"
                "<th>to first contact<br>median</th><th>p90</th></tr>\n");
    for (size_t k = 0; k < n; k++) {
        const struct report_cell *c = &r->cells[i + k];
        kbuf_printf(out,
                    "<tr data-month=\"%s\"><td>%s</td>"
                    "<td class=\"opened\">%" PRIu64 "</td>"
                    "<td class=\"accepted\">%" PRIu64 "</td>"
                    "<td class=\"rejected\">%" PRIu64 "</td>"
                    "<td class=\"rejected-by\">",
                    months[k], months[k], c->opened, c->accepted, c->rejected);
        s_codes_html(out, c->rejected_by, c->n_rejected_by);
        kbuf_printf(out,
                    "</td><td class=\"completed\">%" PRIu64 "</td>"
                    "<td class=\"completed-by\">",
                    c->completed);
        s_codes_html(out, c->completed_by, c->n_completed_by);
        kbuf_printf(out,
                    "</td><td class=\"escalated\">%" PRIu64 "</td>"
                    "<td class=\"open\">%" PRIu64 "</td>",
                    c->escalated, c->open);
        s_dur_td(out, "accept-median", &c->to_accept, 50);
        s_dur_td(out, "accept-p90", &c->to_accept, 90);
        s_dur_td(out, "contact-median", &c->to_contact, 50);
        s_dur_td(out, "contact-p90", &c->to_contact, 90);
        kbuf_printf(out, "</tr>\n");
    }
    kbuf_printf(out, "</table>\n</section>\n");
    free(months);
    free(labels);
    free(counts);
    free(times);
}

static void
s_orgs_html(const struct report *r, struct kr_buf *out)
{
    size_t n = r->n_orgs;
    const char **labels = xcalloc(n ? n : 1, sizeof(*labels));
    uint64_t *v = xcalloc(n ? n * 3 : 1, sizeof(*v));

    for (size_t k = 0; k < n; k++) {
        labels[k] = r->orgs[k].org_id;
        v[k * 3] = r->orgs[k].queue_depth;
        v[k * 3 + 1] = r->orgs[k].open;
        v[k * 3 + 2] = r->orgs[k].overdue;
    }
    kbuf_printf(out, "<section id=\"organisations\">\n<h2>Organisations"
                     "</h2>\n");
    struct s_chart ch = {"Queues and open referrals by organisation",
                         "chart orgs",
                         3,
                         {"queue", "open", "overdue"},
                         false,
                         n,
                         labels,
                         v};
    if (n > 0)
        s_svg(out, &ch);
    kbuf_printf(out, "<table class=\"figures\">\n<tr><th>organisation</th>"
                     "<th>queue</th><th>oldest waiting</th><th>open referrals"
                     "</th><th>overdue</th></tr>\n");
    for (size_t k = 0; k < n; k++) {
        const struct report_org *o = &r->orgs[k];
        char age[32];
        s_dur_str(o->queue_oldest_ms, age);
        kbuf_printf(out, "<tr class=\"org\" data-org=\"");
        s_html_str(out, o->org_id);
        kbuf_printf(out, "\"><td>");
        s_html_str(out, o->org_id);
        kbuf_printf(out,
                    "</td><td class=\"queue\">%" PRIu64 "</td>"
                    "<td class=\"oldest\">%s</td><td class=\"open\">%" PRIu64
                    "</td><td class=\"overdue\">%" PRIu64 "</td></tr>\n",
                    o->queue_depth, o->queue_depth ? age : "-", o->open,
                    o->overdue);
    }
    kbuf_printf(out, "</table>\n</section>\n");
    free(labels);
    free(v);
}

void
report_html(const struct report *r, struct kr_buf *out)
{
    char t[32];

    s_time_str(r->now_ms, t);
    kbuf_printf(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
        "\n<title>Kansrijke Start: referrals of the coalition</title>\n"
        "<style>\nbody{font-family:sans-serif;margin:2em;color:#222;"
        "max-width:1100px}\nh1{font-size:1.5em}h2{font-size:1.2em;"
        "border-bottom:1px solid #ccc;padding-top:1em}\n"
        "table.figures{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
        "\ntable.figures th,table.figures td{border:1px solid #ccc;"
        "padding:3px 8px;text-align:right}\ntable.figures th{background:"
        "#f0f0f0}\ntable.figures td:first-child{text-align:left}\n"
        "svg.chart{display:block;margin:0.5em 0}\n.meta{color:#555}\n"
        "</style>\n</head>\n<body>\n"
        "<h1>Kansrijke Start: referrals of the coalition</h1>\n"
        "<p class=\"meta\">Computed <span id=\"computed-at\">%s</span> from "
        "<span id=\"records\">%" PRIu64 "</span> referrals. Each referral "
        "counts in the month it was opened; accepted, rejected, completed "
        "and escalated say what became of those. Times run from the "
        "referral to its acceptance and to its first contact "
        "(in-progress). Routes, organisations, codes, counts and times "
        "only: no person's data.</p>\n",
        t, r->records);
    if (r->n_cells == 0)
        kbuf_printf(out, "<p id=\"no-referrals\">No referrals yet.</p>\n");
    for (size_t i = 0; i < r->n_cells;) {
        size_t e = s_route_end(r, i);
        s_route_html(r, i, e, out);
        i = e;
    }
    s_orgs_html(r, out);
    kbuf_printf(out, "</body>\n</html>\n");
}
