/*
 * referrals.c - the node's side of the referral state: the clear codes a
 * REFERRAL_STATUS carries for the broker.
 */
#include <string.h>

#include "node.h"
#include "referral_table.h"

static bool
s_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int
referrals_send_codes(const Kr__V1__SendRequest *sr,
                     const Kr__V1__Content *c, struct seal_fields *f,
                     const char **why)
{
    const Kr__V1__ReferralStatus *rs =
        c != NULL && c->body_case == KR__V1__CONTENT__BODY_REFERRAL_STATUS
            ? c->referral_status
            : NULL;

    f->task_status = sr->task_status;
    f->cancel_step = sr->cancel_step;
    f->status_reason = sr->status_reason;
    f->status_outcome = sr->status_outcome;
    if (sr->type != KR__V1__MESSAGE_TYPE__REFERRAL_STATUS) {
        if (f->task_status != 0 || f->cancel_step != 0 ||
            s_set(f->status_reason) || s_set(f->status_outcome)) {
            *why = "task_status, cancel_step, status_reason and "
                   "status_outcome are for referral-status only";
            return KR_EINVAL;
        }
        return KR_OK;
    }
    /* The adapter named the codes itself: they go as given (the broker
     * judges them). Otherwise they come from the sealed status. */
    if (f->task_status != 0 || f->cancel_step != 0 || rs == NULL)
        return KR_OK;
    int st = task_status_parse(rs->status);
    int cs = st < 0 ? cancel_step_parse(rs->status) : -1;
    if (st < 0 && cs < 0) {
        *why = "referral_status.status is neither a FHIR Task status nor a "
               "cancellation step";
        return KR_EINVAL;
    }
    f->task_status = st > 0 ? st : 0;
    f->cancel_step = cs > 0 ? cs : 0;
    if (!s_set(f->status_reason))
        f->status_reason = rs->status_reason;
    if (!s_set(f->status_outcome))
        f->status_outcome = rs->outcome;
    return KR_OK;
}
