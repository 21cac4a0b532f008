/*
 * cmd_referral.h - what the referral commands share (cmd_referral.c,
 * cmd_referral_coalition.c, cmd_routes.c, cmd_escalations.c): JSON of
 * the fields the broker keeps. Not for use outside them.
 */
#ifndef KRCTL_CMD_REFERRAL_H
#define KRCTL_CMD_REFERRAL_H

#include <json-c/json.h>
#include <stdbool.h>

#include "krctl.h"

/* An id as hex; NULL (JSON null) when empty or longer than 64 bytes. */
json_object *krctl_referral_hex(const ProtobufCBinaryData *b);
/* A time in ms as JSON's time format; NULL when 0. */
json_object *krctl_referral_time(uint64_t ms);
/* A string; NULL when empty. */
json_object *krctl_referral_str(const char *s);
/* The name of a referral timer's step ("ack", "decide", ...). */
const char *krctl_referral_timer_name(uint32_t step);
/* 0, or the usage error that there is no broker admin socket. */
int krctl_need_admin(struct krctl *k);
/* `krctl referrals --coalition` (cmd_referral_coalition.c). */
int krctl_referral_coalition(struct krctl *k, Kr__V1__CoalitionQuery *q,
                             bool json);

#endif
