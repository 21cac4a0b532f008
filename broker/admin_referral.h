/* admin_referral.h - the admin socket's referral and route requests. */
#ifndef KR_BROKER_ADMIN_REFERRAL_H
#define KR_BROKER_ADMIN_REFERRAL_H

#include <stdbool.h>

#include "admin.pb-c.h"
#include "broker.h"

/* referral_show and referral_list into resp. */
void admin_referrals(struct broker *b, const Kr__V1__AdminRequest *req,
                     Kr__V1__AdminResponse *resp);
/* The routes as loaded. */
void admin_routes(struct broker *b, Kr__V1__AdminResponse *resp);
/* The timers' figures into the broker's stats. */
void admin_referral_stats(struct broker *b, Kr__V1__BrokerStats *st);
/* admin_signal.c: signals, matches and retention for krctl stats. */
void admin_signal_stats(struct broker *b, Kr__V1__BrokerStats *st);
/* Free what the three put in resp (after it is sent). */
void admin_referral_free(Kr__V1__AdminResponse *resp);
/* Escalated in its current state and not final. */
bool admin_referral_overdue(const Kr__V1__ReferralRecord *r);

#endif
