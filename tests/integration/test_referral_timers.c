/*
 * test_referral_timers.c - a referral's timers through the real daemons:
 * a route with timers of one to five seconds: escalations to the placer,
 * then to the coordinator, none after the referral moved on, and exactly
 * one across a kill -9 of the broker at the moment a timer is due; birth
 * and handover: T_handover after a SUBJECT_LINK.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_referral.h"
#include "util.h"
#include "workdays.h"

static int
s_time_parse(const char *s, uint64_t *ms)
{
    int y, mo, d, h, mi, sec, frac = 0, n = 0;

    if (sscanf(s, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return -1;
    if (s[n] == '.')
        frac = (int)strtol(s + n + 1, NULL, 10);
    *ms = ((uint64_t)workdays_days_from_civil(y, mo, d) * 86400 +
           (uint64_t)h * 3600 + (uint64_t)mi * 60 + (uint64_t)sec) *
              1000 +
          (uint64_t)frac;
    return 0;
}

/* Escalation notices in a node's inbox for one referral. */
struct s_esc {
    const uint8_t *rid;
    int n, by_step[8];
};

static int
s_esc_cb(const Kr__V1__InboxItem *it, void *arg)
{
    struct s_esc *e = arg;
    const Kr__V1__Notice *nt = it->notice;

    if (nt == NULL || nt->kind != KR__V1__NOTICE_KIND__NOTICE_ESCALATION ||
        nt->referral_id.len != 16 || memcmp(nt->referral_id.data, e->rid, 16))
        return 0;
    e->n++;
    if (nt->step < 8)
        e->by_step[nt->step]++;
    return 0;
}

static struct s_esc
s_escalations(int node, const uint8_t rid[16])
{
    struct s_esc e = {.rid = rid};

    h_inbox_foreach_all(h_node_client(&hr.c, node), s_esc_cb, &e);
    return e;
}

static void
s_timers(void)
{
    uint8_t r2[16], r4[16], r5[16], r6[16];
    struct s_esc e = {0}, ec = {0};
    struct h_fate f;
    bool ok;

    h_note("== timers: a route with timers of seconds");
    /* R4 moves on at once: its timers stop. */
    hr_open(HR_JGZ, "nu-niet-zwanger", r4);
    f = hr_status(hr.vl, HR_JGZ, r4, "cancelled", "no-longer-needed", NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "R4 cancelled at once");
    json_object *o = hr_broker_referral(r4);
    json_object *t = o ? h_json_path(o, "timers") : NULL;
    H_CHECK(t != NULL && json_object_array_length(t) == 0,
            "R4: no timer left pending once it moved on");
    json_object_put(o);

    /* R2: nobody answers. ack (2 s) and decide (3 s) to the placer, decide
     * at 4 s to the placer and the coordinator. */
    hr_open(HR_JGZ, "nu-niet-zwanger", r2);
    H_POLL(ok, 20000,
           (e = s_escalations(hr.vl, r2)).by_step[1] == 1 &&
               e.by_step[2] == 1 && e.by_step[3] == 1 &&
               (ec = s_escalations(hr.coord, r2)).by_step[3] == 1);
    H_CHECK(ok,
            "R2: the placer is told of ack, decide, decide again, and the "
            "coordinator of the last (vl %d/%d/%d, coordinator %d)",
            e.by_step[1], e.by_step[2], e.by_step[3], ec.by_step[3]);
    H_CHECK(ec.n == 1, "the coordinator got one escalation (%d)", ec.n);
    /* Accepted: T_contact (1 s) runs, then in-progress stops it. */
    hr_status(hr.jgz, HR_VL, r2, "accepted", NULL, NULL);
    H_POLL(ok, 20000, s_escalations(hr.vl, r2).by_step[4] == 1);
    H_CHECK(ok, "R2 accepted and not started: the placer is told (contact)");
    hr_status(hr.jgz, HR_VL, r2, "in-progress", NULL, NULL);
    o = hr_broker_referral(r2);
    H_CHECK(o != NULL &&
                json_object_get_int(h_json_path(o, "escalations")) == 4 &&
                json_object_array_length(h_json_path(o, "timers")) == 0,
            "the broker counts R2's 4 escalations, none pending");
    json_object_put(o);

    /* R5 escalates later than anything of R4 could have: once its
     * coordinator step came, R4 would have had all of its. */
    hr_open(HR_JGZ, "nu-niet-zwanger", r5);
    H_POLL(ok, 20000, s_escalations(hr.coord, r5).by_step[3] == 1);
    H_CHECK(ok, "R5 escalates to the coordinator");
    e = s_escalations(hr.vl, r4);
    H_CHECK(e.n == 0, "R4, moved on, never escalated (%d)", e.n);
    e = s_escalations(hr.vl, r2);
    H_CHECK(e.n == 4, "R2 escalated 4 times in all, not again (%d)", e.n);
    hr_status(hr.vl, HR_JGZ, r5, "entered-in-error", NULL, NULL);

    /* R6: the broker is killed when its ack timer is due, and started
     * again: the escalation comes, once. */
    h_note("== a kill -9 at the moment a timer is due");
    f = hr_open(HR_JGZ, "nu-niet-zwanger", r6);
    o = hr_broker_referral(r6);
    const char *opened = o ? h_json_str(o, "timers.0.due") : NULL;
    uint64_t due = 0;
    H_REQUIRE(opened != NULL && s_time_parse(opened, &due) == 0,
              "R6's first timer has a due time");
    json_object_put(o);
    for (int i = 0; i < 100000 && util_now_ms() < due; i++)
        h_sleep_ms(1);
    h_broker_kill9(&hr.c);
    h_broker_start(&hr.c);
    H_POLL(ok, 30000, s_escalations(hr.vl, r6).by_step[3] == 1);
    H_CHECK(ok, "after the restart R6's escalations come");
    e = s_escalations(hr.vl, r6);
    H_CHECK(e.by_step[1] == 1 && e.by_step[2] == 1 && e.by_step[3] == 1,
            "each of R6's steps came exactly once (ack %d, decide %d, %d)",
            e.by_step[1], e.by_step[2], e.by_step[3]);
    /* The placer's node lists it as overdue, and counts what it got. */
    struct h_run r;
    char hex[33];
    h_krctl(&r, "--node", hr.c.nodes[hr.vl].local, "referrals", "--overdue",
            "--json", NULL);
    o = json_tokener_parse(r.out);
    bool found = false;
    for (size_t i = 0; o != NULL && json_object_is_type(o, json_type_array) &&
                       i < json_object_array_length(o);
         i++) {
        json_object *it = json_object_array_get_idx(o, i);
        const char *id = h_json_str(it, "referral_id");
        if (id != NULL && strcmp(id, h_hex16(r6, hex)) == 0 &&
            json_object_get_int(h_json_path(it, "escalations")) == 3)
            found = true;
        if (id != NULL && strcmp(id, h_hex16(r4, hex)) == 0)
            found = false; /* R4 never escalated: never overdue */
    }
    H_CHECK(r.code == 0 && found,
            "krctl --node referrals --overdue: R6 with its 3 escalations "
            "(exit %d)",
            r.code);
    json_object_put(o);
    h_run_free(&r);
}

/* Notices of a kind about one referral in a node's inbox. */

static void
s_handover(void)
{
    uint8_t c1[16], c2[16], id[16], h2[16];
    struct s_esc e = {0}, ec = {0};
    struct h_fate f;
    bool ok;

    h_note("== birth and handover: T_handover after a SUBJECT_LINK");
    util_time_ordered_id(c2);
    util_time_ordered_id(c1);
    /* C2: the link, then a HANDOVER that JGZ accepts at once (well
     * within the 8 seconds of the test route's first step, also in a
     * sanitizer build on a loaded machine: 3 seconds were not). C1 comes after
     * it: once C1 has escalated at its last step, C2 would have had all of its.
     */
    struct hr_msg m = {.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK,
                       .to = HR_JGZ,
                       .purpose = "overdracht-jgz",
                       .case_id = c2};
    f = hr_do(hr.vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the subject link of case C2 is delivered (%s)", f.detail);
    m.type = KR__V1__MESSAGE_TYPE__HANDOVER;
    f = hr_do(hr.vl, &m, id);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED,
            "the handover of case C2 is delivered (%s)", f.detail);
    memcpy(h2, f.referral_id, 16);
    hr_expect_state(h2, "requested", 1, "the handover is a referral");
    f = hr_status(hr.jgz, HR_VL, h2, "accepted", NULL, NULL);
    H_CHECK(f.outcome == KR__V1__OUTCOME__DELIVERED, "JGZ accepts it");
    json_object *o = hr_broker_referral(c2);
    H_CHECK(o != NULL && strcmp(h_json_str(o, "state"), "completed") == 0 &&
                json_object_array_length(h_json_path(o, "timers")) == 0,
            "C2's watch is completed, no timer pending");
    json_object_put(o);
    /* C1: a link and no handover. */
    m = (struct hr_msg){.type = KR__V1__MESSAGE_TYPE__SUBJECT_LINK,
                        .to = HR_JGZ,
                        .purpose = "overdracht-jgz",
                        .case_id = c1};
    f = hr_do(hr.vl, &m, id);
    H_POLL(ok, 20000,
           (e = s_escalations(hr.vl, c1)).by_step[5] == 1 &&
               e.by_step[6] == 1 && e.by_step[7] == 1 &&
               (ec = s_escalations(hr.coord, c1)).by_step[7] == 1);
    H_CHECK(ok,
            "C1 without a handover: the link's sender is told three times, "
            "the coordinator at the last (vl %d/%d/%d, coordinator %d)",
            e.by_step[5], e.by_step[6], e.by_step[7], ec.by_step[7]);
    e = s_escalations(hr.vl, c2);
    H_CHECK(e.n == 0, "C2, handed over, stayed quiet (%d)", e.n);
    /* A link without its case is refused. */
    m.case_id = NULL;
    f = hr_do(hr.vl, &m, id);
    h_expect_refused(f, KR__V1__REASON__MISSING_FIELD,
                     "a subject link without case_id");
}

int
main(void)
{
    hr_setup("referral_timers", 240);
    s_timers();
    s_handover();
    return h_finish(&hr.c);
}
