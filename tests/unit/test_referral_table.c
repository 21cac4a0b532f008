/* test_referral_table.c - every cell of the referral table
 * (common/referral_table.c), for each role, allowed and refused, against
 * the table of DESIGN.md written out here a second time by hand; and
 * PROTOCOL.md shows the table the code decides by. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.pb-c.h"
#include "referral_table.h"
#include "util.h"
#include "wire.pb-c.h"

/* What each role may do from each non-final state, by name: the table of
 * DESIGN.md "Referral state", independent of the code's rows. */
struct s_expect {
    const char *from;
    const char *placer; /* space-separated actions */
    const char *performer;
};

static const struct s_expect s_expected[] = {
    {"requested", "cancelled entered-in-error", "received accepted rejected"},
    {"received", "cancelled entered-in-error", "accepted rejected on-hold"},
    {"accepted", "cancelled entered-in-error", "in-progress on-hold failed"},
    {"on-hold", "cancelled entered-in-error",
     "accepted in-progress rejected failed"},
    {"in-progress", "cancel-requested",
     "on-hold completed failed cancel-confirmed cancel-declined"},
};

static bool
s_listed(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static const char *
s_allowed(int state, int role)
{
    for (size_t i = 0; i < sizeof(s_expected) / sizeof(s_expected[0]); i++)
        if (strcmp(s_expected[i].from, task_status_name(state)) == 0)
            return role == RT_PLACER ? s_expected[i].placer
                                     : s_expected[i].performer;
    return NULL; /* final */
}

/* The codes a correct message gives for an action. */
static void
s_codes(int action, const char **reason, const char **outcome)
{
    *reason = NULL;
    *outcome = NULL;
    switch (action) {
    case KR__V1__TASK_STATUS__TASK_REJECTED:
        *reason = "no-capacity";
        break;
    case KR__V1__TASK_STATUS__TASK_FAILED:
        *reason = "not-reached";
        break;
    case KR__V1__TASK_STATUS__TASK_CANCELLED:
    case RT_CANCEL_REQUEST:
        *reason = "no-longer-needed";
        break;
    case KR__V1__TASK_STATUS__TASK_COMPLETED:
        *outcome = "visit-done";
        break;
    default:
        break;
    }
}

static int s_actions[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 101, 102, 103};

static void
test_every_cell(void **state)
{
    (void)state;
    size_t allowed = 0, refused = 0;

    for (int st = 1; st <= 10; st++) {
        for (int role = RT_PLACER; role <= RT_PERFORMER; role++) {
            for (size_t a = 0; a < sizeof(s_actions) / sizeof(int); a++) {
                for (int pending = 0; pending < 2; pending++) {
                    int act = s_actions[a];
                    const char *mine = s_allowed(st, role);
                    const char *theirs = s_allowed(
                        st, role == RT_PLACER ? RT_PERFORMER : RT_PLACER);
                    const char *name = rt_action_name(act);
                    struct rt_query q = {st,   role, act,
                                         NULL, NULL, pending != 0};
                    struct rt_decision d;
                    s_codes(act, &q.reason, &q.outcome);
                    rt_decide(&q, &d);
                    int want;
                    if (act == KR__V1__TASK_STATUS__TASK_REQUESTED)
                        want = KR__V1__REASON__BAD_TRANSITION;
                    else if (mine == NULL)
                        want = KR__V1__REASON__REFERRAL_CLOSED;
                    else if (s_listed(mine, name)) {
                        want = 0;
                        if ((act == RT_CANCEL_CONFIRM ||
                             act == RT_CANCEL_DECLINE) &&
                            !pending)
                            want = KR__V1__REASON__NO_CANCEL_REQUEST;
                        if (act == RT_CANCEL_REQUEST && pending)
                            want = KR__V1__REASON__BAD_TRANSITION;
                    } else if (s_listed(theirs, name))
                        want = KR__V1__REASON__NOT_REFERRAL_PARTY;
                    else
                        want = KR__V1__REASON__BAD_TRANSITION;
                    if (d.reason != want)
                        fail_msg("from %s, %s asks %s (pending %d): got %d "
                                 "(%s), want %d",
                                 task_status_name(st),
                                 role == RT_PLACER ? "placer" : "performer",
                                 name, pending, d.reason, d.why, want);
                    if (want != 0) {
                        refused++;
                        continue;
                    }
                    allowed++;
                    /* Where it goes. */
                    int to = act;
                    if (act == RT_CANCEL_CONFIRM)
                        to = KR__V1__TASK_STATUS__TASK_CANCELLED;
                    else if (act == RT_CANCEL_REQUEST ||
                             act == RT_CANCEL_DECLINE)
                        to = st;
                    assert_int_equal(d.to, to);
                    assert_int_equal(d.cancel_pending,
                                     act == RT_CANCEL_REQUEST ||
                                         (pending && !rt_final(to) &&
                                          act != RT_CANCEL_DECLINE));
                }
            }
        }
    }
    /* 27 rows; the confirm/decline and request rows hold for one value
     * of 'pending' only. */
    assert_int_equal(allowed, 27 * 2 - 3);
    assert_int_equal(allowed + refused, 10 * 2 * 13 * 2);
}

/* Reasons and outcomes: required where the row names a list, from that
 * list, and refused where it names none. */
static void
test_codes(void **state)
{
    (void)state;
    size_t n;
    const struct rt_row *rows = rt_rows(&n);

    assert_int_equal(n, 27);
    for (size_t i = 0; i < n; i++) {
        const struct rt_row *r = &rows[i];
        struct rt_query q = {r->from, r->role, r->action,
                             NULL,    NULL,    r->needs_request};
        struct rt_decision d;
        const char *reason, *outcome;
        s_codes(r->action, &reason, &outcome);
        /* Missing. */
        rt_decide(&q, &d);
        if (reason != NULL)
            assert_int_equal(d.reason, KR__V1__REASON__BAD_STATUS_REASON);
        else if (outcome != NULL)
            assert_int_equal(d.reason, KR__V1__REASON__BAD_OUTCOME);
        else
            assert_int_equal(d.reason, 0);
        /* Not in the list, or given where none is expected. */
        q.reason = "made-up";
        q.outcome = outcome;
        rt_decide(&q, &d);
        assert_int_equal(d.reason, KR__V1__REASON__BAD_STATUS_REASON);
        q.reason = reason;
        q.outcome = "made-up";
        rt_decide(&q, &d);
        assert_int_equal(d.reason, KR__V1__REASON__BAD_OUTCOME);
        /* Each code of the list is taken. */
        const char *const *list = r->reasons ? r->reasons : r->outcomes;
        for (size_t k = 0; list != NULL && list[k] != NULL; k++) {
            q.reason = r->reasons ? list[k] : NULL;
            q.outcome = r->outcomes ? list[k] : NULL;
            rt_decide(&q, &d);
            assert_int_equal(d.reason, 0);
        }
    }
    /* A reason from another status's list is refused. */
    struct rt_query q = {KR__V1__TASK_STATUS__TASK_RECEIVED,
                         RT_PERFORMER,
                         KR__V1__TASK_STATUS__TASK_REJECTED,
                         "client-moved",
                         NULL,
                         false};
    struct rt_decision d;
    rt_decide(&q, &d);
    assert_int_equal(d.reason, KR__V1__REASON__BAD_STATUS_REASON);
}

static void
test_bad_actions(void **state)
{
    (void)state;
    static const int bad[] = {0, -1, 11, 99, 100, 104, 1000};
    struct rt_decision d;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rt_query q = {KR__V1__TASK_STATUS__TASK_REQUESTED,
                             RT_PERFORMER,
                             bad[i],
                             NULL,
                             NULL,
                             false};
        rt_decide(&q, &d);
        assert_int_equal(d.reason, KR__V1__REASON__BAD_STATUS);
    }
    /* Neither or both of status and cancel step. */
    assert_int_equal(rt_action(0, 0), 0);
    assert_int_equal(rt_action(3, 1), 0);
    assert_int_equal(rt_action(3, 0), 3);
    assert_int_equal(rt_action(0, 2), RT_CANCEL_CONFIRM);
    /* A role that is neither. */
    struct rt_query q = {KR__V1__TASK_STATUS__TASK_REQUESTED,
                         0,
                         KR__V1__TASK_STATUS__TASK_RECEIVED,
                         NULL,
                         NULL,
                         false};
    rt_decide(&q, &d);
    assert_int_equal(d.reason, KR__V1__REASON__NOT_REFERRAL_PARTY);
}

static void
test_names(void **state)
{
    (void)state;
    for (int i = 1; i <= 10; i++)
        assert_int_equal(task_status_parse(task_status_name(i)), i);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(cancel_step_parse(cancel_step_name(i)), i);
    assert_int_equal(task_status_parse("unspecified"), -1);
    assert_int_equal(task_status_parse("done"), -1);
    assert_string_equal(task_status_name(42), "unknown");
}

/* PROTOCOL.md shows the table between its markers, as rt_markdown prints
 * it from the rows: a change of the rows without the doc fails here (run
 * with --print to get the text). */
static void
test_doc_is_current(void **state)
{
    (void)state;
    char *doc = NULL, *want;
    size_t len, need = rt_markdown(NULL, 0);
    static const char begin[] = "<!-- referral-table begin -->\n";
    static const char end[] = "<!-- referral-table end -->";

    want = malloc(need + 1);
    assert_non_null(want);
    rt_markdown(want, need + 1);
    assert_int_equal(
        util_read_file(KR_SOURCE_DIR "/docs/PROTOCOL.md", 1u << 20, &doc, &len),
        KR_OK);
    char *b = strstr(doc, begin), *e = b ? strstr(b, end) : NULL;
    if (b == NULL || e == NULL)
        fail_msg("docs/PROTOCOL.md: no referral-table markers");
    b += strlen(begin);
    if ((size_t)(e - b) != need || memcmp(b, want, need) != 0)
        fail_msg("docs/PROTOCOL.md: the referral table is not what the code "
                 "decides by; test_referral_table --print gives it:\n%s",
                 want);
    free(doc);
    free(want);
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--print") == 0) {
        size_t need = rt_markdown(NULL, 0);
        char *t = malloc(need + 1);
        rt_markdown(t, need + 1);
        fputs(t, stdout);
        free(t);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cell),     cmocka_unit_test(test_codes),
        cmocka_unit_test(test_bad_actions),    cmocka_unit_test(test_names),
        cmocka_unit_test(test_doc_is_current),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
