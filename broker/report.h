/*
 * report.h - the coalition's figures (issue 15.8): per route (purpose)
 * and per month, referrals opened, accepted, rejected by reason,
 * completed by outcome, escalated, and the time from referral to
 * acceptance and to first contact; per organisation its queue and its
 * overdue referrals. Shown on the broker's page (/coalition) and by
 * `krctl report`.
 *
 * report_add is a pure function of one referral record and 'now': the
 * caller (report_page.c, on the loop thread, in a read transaction)
 * feeds it every record. Only codes, purposes, organisation ids, counts
 * and durations go in: never a pseudonym, a case_id or an actor_ref.
 *
 * A referral counts in the month (UTC) it was OPENED, whatever month
 * it was later accepted, rejected or completed in: a month's row is a
 * cohort, so its acceptance rate and its times stay comparable and a
 * month's figures only grow while its referrals are still moving.
 */
#ifndef KR_BROKER_REPORT_H
#define KR_BROKER_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.pb-c.h"

#define REPORT_CODE_MAX 48 /* a status_reason/outcome code, truncated */
#define REPORT_CODES 16    /* distinct codes per cell; more go to "other" */
#define REPORT_PURPOSE_MAX 64

struct report_code {
    char code[REPORT_CODE_MAX];
    uint64_t n;
};

/* Durations in ms; sorted by report_finish. */
struct report_durs {
    uint64_t *v;
    size_t n, cap;
};

/* One route, one month (of opening). */
struct report_cell {
    char purpose[REPORT_PURPOSE_MAX];
    int month; /* year * 12 + month - 1 */
    uint64_t opened;
    uint64_t accepted;          /* ever accepted (or taken in progress) */
    uint64_t rejected;          /* now rejected */
    uint64_t completed;         /* now completed */
    uint64_t cancelled, failed; /* now cancelled, failed or in error */
    uint64_t open;              /* not final yet */
    uint64_t escalated;         /* at least one escalation sent */
    struct report_code rejected_by[REPORT_CODES];
    size_t n_rejected_by;
    struct report_code completed_by[REPORT_CODES];
    size_t n_completed_by;
    struct report_durs to_accept;  /* opened -> accepted */
    struct report_durs to_contact; /* opened -> in-progress (first contact) */
};

/* One organisation. */
struct report_org {
    char org_id[64];
    uint64_t queue_depth;     /* deliveries and receipts waiting */
    uint64_t queue_oldest_ms; /* age of the oldest */
    uint64_t open;            /* open referrals it is the performer of */
    uint64_t overdue;         /* of those, with a timer run out */
};

struct report {
    uint64_t now_ms;           /* computed at */
    int month;                 /* only this month (0: every month) */
    uint64_t records;          /* referral records read */
    struct report_cell *cells; /* by purpose, then month (report_finish) */
    size_t n_cells, cap_cells;
    struct report_org *orgs; /* by org_id (report_finish) */
    size_t n_orgs, cap_orgs;
};

void report_init(struct report *r, int month, uint64_t now_ms);
/* Count one record (REFERRAL and HANDOVER records; others are skipped). */
void report_add(struct report *r, const Kr__V1__ReferralRecord *rec);
/* An organisation's queue (the loop reads it as `krctl queues` does). */
void report_queue(struct report *r, const char *org_id, uint64_t depth,
                  uint64_t oldest_ms);
/* Sort cells, organisations and durations. */
void report_finish(struct report *r);
void report_free(struct report *r);

/* Nearest-rank percentile (50: median, 90) of sorted durations; 0 if none. */
uint64_t report_pct(const struct report_durs *d, int pct);
/* "YYYY-MM" <-> year * 12 + month - 1; parse: KR_EINVAL if malformed. */
int report_month_parse(const char *s, int *month);
void report_month_str(int month, char out[16]);
/* The month of a time (UTC). */
int report_month_of(uint64_t ms);

/* Renderings (report_render.c), appended to 'out'. */
void report_text(const struct report *r, struct kr_buf *out);
void report_json(const struct report *r, struct kr_buf *out);
void report_csv(const struct report *r, struct kr_buf *out);
/* The page: one HTML document, inline SVG charts, no script. */
void report_html(const struct report *r, struct kr_buf *out);

/* report_page.c: the loop's side. */
struct broker;
/* The whole report into 'r' from a read transaction (loop thread). */
int report_compute(struct broker *b, int month, struct report *r);
/* From the loop's cron: recompute the page if it was asked for lately. */
void report_page_cron(struct broker *b);
/* The HTTP thread: the page (waits a little for a fresh one). */
int report_page_http(void *ctx, struct kr_buf *out);

#endif
