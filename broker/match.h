/*
 * match.h - when two signals make a match: one pure decision, tested cell
 * by cell (tests/unit/test_match.c). No LMDB, no clock: signal.c reads the
 * signals on a subject and on its linked mother or child, and asks this
 * function about each one it found.
 */
#ifndef KR_BROKER_MATCH_H
#define KR_BROKER_MATCH_H

#include <stdbool.h>
#include <stdint.h>

/* A stored signal, as the matcher sees it. */
struct match_sig {
    const char *org;        /* who signalled */
    uint64_t expires_at_ms; /* 0: never (not made by this broker) */
    bool linked;            /* on the linked mother or child, not the
                               subject itself */
};

enum match_result {
    MATCH_NONE_SAME_ORG = 0, /* our own signal: no match with ourselves */
    MATCH_NONE_EXPIRED,      /* past its lifetime, not yet swept */
    MATCH_NONE_KNOWN,        /* our organisation already had an active
                                signal in this family: the pair matched
                                when the later of the two came */
    MATCH_CLIENT,            /* another organisation, the same subject */
    MATCH_FAMILY,            /* another organisation, the linked subject */
};

/* Does a new signal by new_org match 'other'? known: new_org already has
 * an active signal on the subject or a linked one (made before this one).
 * now: the pass's time. Pure. */
enum match_result match_decide(const char *new_org, bool known,
                               const struct match_sig *other, uint64_t now);
/* A SUBJECT_LINK joins mother and child after signals were made on both:
 * does signal a (on one side of the new link) match signal b (on the
 * other)? already: the two organisations both had an active signal in
 * the mother's family, or both in the child's, before the link (they
 * matched then). MATCH_FAMILY or a MATCH_NONE_*. Pure. */
enum match_result match_decide_link(const struct match_sig *a,
                                    const struct match_sig *b, bool already,
                                    uint64_t now);
const char *match_result_name(enum match_result r);

#endif
