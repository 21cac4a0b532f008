/* match.c - the match decision; see match.h. */
#include "match.h"

#include <string.h>

enum match_result
match_decide(const char *new_org, bool known, const struct match_sig *other,
             uint64_t now)
{
    /* In order from the most to the least telling, like the consent gate:
     * an organisation never matches itself, a signal past its lifetime is
     * gone even if the cron has not swept it yet, and a pair matches once
     * (when the first signal of the later organisation comes). */
    if (strcmp(new_org, other->org) == 0)
        return MATCH_NONE_SAME_ORG;
    if (other->expires_at_ms != 0 && other->expires_at_ms <= now)
        return MATCH_NONE_EXPIRED;
    if (known)
        return MATCH_NONE_KNOWN;
    return other->linked ? MATCH_FAMILY : MATCH_CLIENT;
}

enum match_result
match_decide_link(const struct match_sig *a, const struct match_sig *b,
                  bool already, uint64_t now)
{
    /* The same order as match_decide: the link makes a family of the two
     * sides, so a pair not matched before matches now, once. */
    if (strcmp(a->org, b->org) == 0)
        return MATCH_NONE_SAME_ORG;
    if ((a->expires_at_ms != 0 && a->expires_at_ms <= now) ||
        (b->expires_at_ms != 0 && b->expires_at_ms <= now))
        return MATCH_NONE_EXPIRED;
    if (already)
        return MATCH_NONE_KNOWN;
    return MATCH_FAMILY;
}

const char *
match_result_name(enum match_result r)
{
    switch (r) {
    case MATCH_NONE_SAME_ORG:
        return "same-org";
    case MATCH_NONE_EXPIRED:
        return "expired";
    case MATCH_NONE_KNOWN:
        return "known";
    case MATCH_CLIENT:
        return "client";
    case MATCH_FAMILY:
        return "family";
    }
    return "unknown";
}
