/* test_report.c - the coalition's figures (broker/report.c) from
 * hand-made referral records, cell by cell; the renderings hold the
 * figures and no person's data; the cost per 10k records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "broker.h"
#include "bstore.h"
#include "envelope.pb-c.h"
#include "kr.h"
#include "report.h"
#include "util.h"

#define H 3600000ull
/* 2026-12-01T00:00:00Z and 2026-11-30T23:00:00Z */
#define DEC1 1796083200000ull
#define NOV30_23 (DEC1 - H)

#define ST(x) KR__V1__TASK_STATUS__TASK_##x

/* A record with its steps (to, +ms from opening, reason/outcome). */
struct s_rec {
    Kr__V1__ReferralRecord r;
    Kr__V1__ReferralStep steps[8];
    Kr__V1__ReferralStep *ps[8];
    Kr__V1__ReferralTimer timer;
    Kr__V1__ReferralTimer *pt[1];
};

static void
s_make(struct s_rec *s, const char *purpose, const char *performer,
       uint64_t opened)
{
    memset(s, 0, sizeof(*s));
    kr__v1__referral_record__init(&s->r);
    s->r.type = KR__V1__MESSAGE_TYPE__REFERRAL;
    s->r.purpose = (char *)purpose;
    s->r.placer = "kvk:placer";
    s->r.performer = (char *)performer;
    s->r.opened_at_ms = opened;
    s->r.state = ST(REQUESTED);
    s->r.state_at_ms = opened;
    /* Person data that must never reach a rendering. */
    s->r.subject_pseudonym.data = (uint8_t *)"PSEUDO-SECRET";
    s->r.subject_pseudonym.len = 13;
    s->r.case_id.data = (uint8_t *)"CASE-SECRET";
    s->r.case_id.len = 11;
    s->r.history = s->ps;
}

static void
s_step(struct s_rec *s, int to, uint64_t after_ms, const char *code)
{
    Kr__V1__ReferralStep *st = &s->steps[s->r.n_history];

    kr__v1__referral_step__init(st);
    st->from = s->r.state;
    st->to = to;
    st->at_ms = s->r.opened_at_ms + after_ms;
    st->actor_ref.data = (uint8_t *)"ACTOR-SECRET";
    st->actor_ref.len = 12;
    if (to == ST(COMPLETED))
        s->r.outcome = st->outcome = (char *)code;
    else if (code != NULL)
        s->r.reason = st->reason = (char *)code;
    s->ps[s->r.n_history++] = st;
    s->r.state = to;
    s->r.state_at_ms = st->at_ms;
}

static const struct report_cell *
s_find(const struct report *r, const char *purpose, const char *month)
{
    char m[16];

    for (size_t i = 0; i < r->n_cells; i++) {
        report_month_str(r->cells[i].month, m);
        if (strcmp(r->cells[i].purpose, purpose) == 0 && strcmp(m, month) == 0)
            return &r->cells[i];
    }
    return NULL;
}

static const struct report_org *
s_org(const struct report *r, const char *id)
{
    for (size_t i = 0; i < r->n_orgs; i++)
        if (strcmp(r->orgs[i].org_id, id) == 0)
            return &r->orgs[i];
    return NULL;
}

/* The known set: route "zwangerschap" with four referrals (one opened
 * 30 November, accepted 1 December), route "armoede" with one escalated
 * and overdue, and a subject-link watch that is no referral. */
static struct s_rec s_recs[6];

static void
s_known(struct report *r, int month, uint64_t now)
{
    struct s_rec *s = s_recs;

    s_make(&s[0], "zwangerschap", "kvk:ggd", DEC1 + 10 * H);
    s_step(&s[0], ST(RECEIVED), 60000, NULL);
    s_step(&s[0], ST(ACCEPTED), 1 * H, NULL);
    s_step(&s[0], ST(IN_PROGRESS), 3 * H, NULL);
    s_step(&s[0], ST(COMPLETED), 5 * H, "visit-done");
    s_make(&s[1], "zwangerschap", "kvk:ggd", DEC1 + 11 * H);
    s_step(&s[1], ST(REJECTED), 2 * H, "no-capacity");
    /* Opened in November, accepted in December: counts in November. */
    s_make(&s[2], "zwangerschap", "kvk:wijkteam", NOV30_23);
    s_step(&s[2], ST(ACCEPTED), 2 * H, NULL);
    /* On hold, then straight to in-progress: accepted too. */
    s_make(&s[3], "zwangerschap", "kvk:ggd", DEC1 + 12 * H);
    s_step(&s[3], ST(ON_HOLD), 1 * H, NULL);
    s_step(&s[3], ST(IN_PROGRESS), 4 * H, NULL);
    /* Escalated, its timer run out: overdue at kvk:wijkteam. */
    s_make(&s[4], "armoede", "kvk:wijkteam", DEC1 + 13 * H);
    s[4].r.escalations = 1;
    s[4].timer.due_at_ms = DEC1 + 14 * H;
    s[4].pt[0] = &s[4].timer;
    s[4].r.timers = s[4].pt;
    s[4].r.n_timers = 1;
    s_make(&s[5], "zwangerschap", "kvk:ggd", DEC1);
    s[5].r.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK;
    report_init(r, month, now);
    for (int i = 0; i < 6; i++)
        report_add(r, &s[i].r);
    report_queue(r, "kvk:ggd", 3, 5000);
    report_finish(r);
}

static void
test_cells(void **state)
{
    struct report r;
    const struct report_cell *c;
    const struct report_org *o;

    (void)state;
    s_known(&r, 0, DEC1 + 20 * H);
    assert_int_equal(r.records, 5);
    assert_int_equal(r.n_cells, 3);
    /* Sorted: armoede first, then zwangerschap by month. */
    assert_string_equal(r.cells[0].purpose, "armoede");
    assert_non_null(c = s_find(&r, "zwangerschap", "2026-12"));
    assert_int_equal(c->opened, 3);
    assert_int_equal(c->accepted, 2); /* s0 and s3 (from on-hold) */
    assert_int_equal(c->rejected, 1);
    assert_int_equal(c->n_rejected_by, 1);
    assert_string_equal(c->rejected_by[0].code, "no-capacity");
    assert_int_equal(c->rejected_by[0].n, 1);
    assert_int_equal(c->completed, 1);
    assert_string_equal(c->completed_by[0].code, "visit-done");
    assert_int_equal(c->escalated, 0);
    assert_int_equal(c->open, 1);
    /* To acceptance: 1 h and 4 h; to first contact: 3 h and 4 h. */
    assert_int_equal(c->to_accept.n, 2);
    assert_int_equal(report_pct(&c->to_accept, 50), 1 * H);
    assert_int_equal(report_pct(&c->to_accept, 90), 4 * H);
    assert_int_equal(c->to_contact.n, 2);
    assert_int_equal(report_pct(&c->to_contact, 50), 3 * H);
    assert_int_equal(report_pct(&c->to_contact, 90), 4 * H);
    /* November: the one opened then, though accepted in December. */
    assert_non_null(c = s_find(&r, "zwangerschap", "2026-11"));
    assert_int_equal(c->opened, 1);
    assert_int_equal(c->accepted, 1);
    assert_int_equal(report_pct(&c->to_accept, 50), 2 * H);
    assert_int_equal(c->to_contact.n, 0);
    assert_non_null(c = s_find(&r, "armoede", "2026-12"));
    assert_int_equal(c->opened, 1);
    assert_int_equal(c->escalated, 1);
    assert_int_equal(c->open, 1);
    assert_int_equal(c->accepted, 0);
    /* Organisations: open referrals they perform, overdue, queues. */
    assert_non_null(o = s_org(&r, "kvk:wijkteam"));
    assert_int_equal(o->open, 2);
    assert_int_equal(o->overdue, 1);
    assert_non_null(o = s_org(&r, "kvk:ggd"));
    assert_int_equal(o->open, 1);
    assert_int_equal(o->overdue, 0);
    assert_int_equal(o->queue_depth, 3);
    assert_int_equal(o->queue_oldest_ms, 5000);
    report_free(&r);

    /* Before its timer runs out and without an escalation: not overdue. */
    s_known(&r, 0, DEC1 + 13 * H + 1);
    assert_int_equal(s_org(&r, "kvk:wijkteam")->overdue, 0);
    report_free(&r);
}

static void
test_month_filter(void **state)
{
    struct report r;
    int m;

    (void)state;
    assert_int_equal(report_month_parse("2026-12", &m), 0);
    s_known(&r, m, DEC1 + 20 * H);
    assert_int_equal(r.n_cells, 2);
    assert_null(s_find(&r, "zwangerschap", "2026-11"));
    /* The organisations' figures are now's, whatever the month. */
    assert_int_equal(s_org(&r, "kvk:wijkteam")->open, 2);
    report_free(&r);
    assert_int_equal(report_month_parse("2026-13", &m), KR_EINVAL);
    assert_int_equal(report_month_parse("2026-1", &m), KR_EINVAL);
    assert_int_equal(report_month_parse("2026-01x", &m), KR_EINVAL);
    assert_int_equal(report_month_parse("", &m), KR_EINVAL);
    assert_int_equal(report_month_of(NOV30_23), 2026 * 12 + 10);
    assert_int_equal(report_month_of(DEC1), 2026 * 12 + 11);
}

static void
test_pct(void **state)
{
    uint64_t v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    struct report_durs d = {v, 10, 10};

    (void)state;
    assert_int_equal(report_pct(&d, 50), 5);
    assert_int_equal(report_pct(&d, 90), 9);
    d.n = 1;
    assert_int_equal(report_pct(&d, 50), 1);
    assert_int_equal(report_pct(&d, 90), 1);
    d.n = 0;
    assert_int_equal(report_pct(&d, 90), 0);
}

static void
test_render(void **state)
{
    struct report r;
    struct kr_buf b[4] = {{0}};

    (void)state;
    s_known(&r, 0, DEC1 + 20 * H);
    report_text(&r, &b[0]);
    report_json(&r, &b[1]);
    report_csv(&r, &b[2]);
    report_html(&r, &b[3]);
    for (int i = 0; i < 4; i++) {
        buf_reserve(&b[i], b[i].len + 1);
        b[i].data[b[i].len] = '\0';
        const char *s = (const char *)b[i].data;
        assert_null(strstr(s, "SECRET"));
        assert_non_null(strstr(s, "zwangerschap"));
        assert_non_null(strstr(s, "no-capacity"));
        assert_non_null(strstr(s, "kvk:wijkteam"));
    }
    assert_non_null(strstr((char *)b[1].data,
                           "{\"month\":\"2026-12\",\"opened\":3,\"accepted\":2,"
                           "\"rejected\":1,\"rejected_by\":{\"no-capacity\":1},"
                           "\"completed\":1,\"completed_by\":{\"visit-done\":1}"
                           ",\"escalated\":0,\"cancelled\":0,\"failed\":0,"
                           "\"open\":1,\"to_acceptance\":{\"n\":2,\"median_ms"
                           "\":3600000,\"p90_ms\":14400000}"));
    assert_non_null(
        strstr((char *)b[2].data,
               "route,zwangerschap,2026-12,rejected:no-capacity,1\n"));
    assert_non_null(
        strstr((char *)b[2].data, "organisation,kvk:wijkteam,,overdue,1\n"));
    const char *h = (const char *)b[3].data;
    assert_non_null(strstr(h, "<section class=\"route\" id=\"route-"
                              "zwangerschap\""));
    assert_non_null(strstr(h, "<td class=\"opened\">3</td>"));
    assert_non_null(strstr(h, "<svg class=\"chart counts\""));
    assert_null(strstr(h, "<script"));
    for (int i = 0; i < 4; i++)
        buf_free(&b[i]);
    report_free(&r);
}

/* A purpose with markup in it is escaped on the page. */
static void
test_escape(void **state)
{
    struct report r;
    struct s_rec s;
    struct kr_buf b = {0};

    (void)state;
    s_make(&s, "<b>x\"", "kvk:a", DEC1);
    report_init(&r, 0, DEC1);
    report_add(&r, &s.r);
    report_finish(&r);
    report_html(&r, &b);
    buf_reserve(&b, b.len + 1);
    b.data[b.len] = '\0';
    assert_null(strstr((char *)b.data, "<b>x"));
    assert_non_null(strstr((char *)b.data, "&lt;b&gt;x&quot;"));
    buf_free(&b);
    report_free(&r);
}

/* The cost the loop pays per 10k referral records: unpack and count
 * (the LMDB read itself is a memory map walk on top). */
static void
test_cost(void **state)
{
    enum { N = 10000 };
    struct s_rec s;
    struct report r;
    uint8_t *packed[4];
    size_t len[4];
    struct timespec t0, t1;

    (void)state;
    for (int k = 0; k < 4; k++) {
        s_make(&s, k % 2 ? "armoede" : "zwangerschap", "kvk:ggd",
               DEC1 - (uint64_t)k * 40 * 24 * H);
        s_step(&s, ST(RECEIVED), 60000, NULL);
        s_step(&s, ST(ACCEPTED), H, NULL);
        s_step(&s, ST(IN_PROGRESS), 3 * H, NULL);
        if (k < 2)
            s_step(&s, ST(COMPLETED), 5 * H, "visit-done");
        len[k] = protobuf_c_message_get_packed_size(&s.r.base);
        packed[k] = malloc(len[k]);
        protobuf_c_message_pack(&s.r.base, packed[k]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    report_init(&r, 0, DEC1);
    for (int i = 0; i < N; i++) {
        Kr__V1__ReferralRecord *rec =
            kr__v1__referral_record__unpack(NULL, len[i % 4], packed[i % 4]);
        assert_non_null(rec);
        report_add(&r, rec);
        kr__v1__referral_record__free_unpacked(rec, NULL);
    }
    report_finish(&r);
    struct kr_buf html = {0};
    report_html(&r, &html);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("report: %d records unpacked, counted and rendered in %.1f ms\n", N,
           ms);
    assert_int_equal(r.records, N);
    buf_free(&html);
    report_free(&r);
    for (int k = 0; k < 4; k++)
        free(packed[k]);
}

/* The same through the store, as the loop does it (report_compute):
 * 10k records in an LMDB store, one read transaction, every record. */
static void
test_store_cost(void **state)
{
    enum { N = 10000 };
    char dir[] = "/tmp/kr-test-report.XXXXXX";
    struct broker b;
    struct report r;
    struct s_rec s;
    MDB_txn *txn;

    (void)state;
    assert_non_null(mkdtemp(dir));
    memset(&b, 0, sizeof(b));
    assert_int_equal(bstore_open(dir, 256, true, &b.store), 0);
    assert_int_equal(bstore_begin(b.store, false, &txn), 0);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t id[16] = {0};
        s_make(&s, i % 3 ? "zwangerschap" : "armoede", "kvk:ggd",
               DEC1 - (uint64_t)(i % 5) * 31 * 24 * H);
        s_step(&s, ST(RECEIVED), 60000 + i, NULL);
        s_step(&s, ST(ACCEPTED), H + i * 1000ull, NULL);
        if (i % 2)
            s_step(&s, ST(IN_PROGRESS), 3 * H + i * 1000ull, NULL);
        memcpy(id, &i, sizeof(i));
        s.r.referral_id = (ProtobufCBinaryData){16, id};
        assert_int_equal(bstore_referral_put(b.store, txn, &s.r), 0);
    }
    assert_int_equal(bstore_commit(txn), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(report_compute(&b, 0, &r), 0);
    struct kr_buf html = {0};
    report_html(&r, &html);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("report: %d records read from LMDB, counted and rendered in "
           "%.1f ms\n",
           N, ms);
    assert_int_equal(r.records, N);
    assert_int_equal(r.n_cells, 10);
    buf_free(&html);
    report_free(&r);

    /* The page, as the loop's cron computes it: in slices of 5000, one
     * a tick. Not before it is asked for; then 5000, 5000, the end. */
    struct kr_buf page = {0};
    report_page_cron(&b);
    assert_int_equal(report_page_http(NULL, &page), 503); /* asks, 1 s */
    page.len = 0;
    report_page_cron(&b);
    report_page_cron(&b);
    assert_int_equal(report_page_http(NULL, &page), 503); /* not done */
    page.len = 0;
    report_page_cron(&b);
    assert_int_equal(report_page_http(NULL, &page), 200);
    buf_reserve(&page, page.len + 1);
    page.data[page.len] = '\0';
    assert_non_null(strstr((char *)page.data, "<span id=\"records\">10000<"));
    buf_free(&page);
    bstore_close(&b.store);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells),      cmocka_unit_test(test_month_filter),
        cmocka_unit_test(test_pct),        cmocka_unit_test(test_render),
        cmocka_unit_test(test_escape),     cmocka_unit_test(test_cost),
        cmocka_unit_test(test_store_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
