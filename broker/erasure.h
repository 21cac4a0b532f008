/*
 * erasure.h - ERASURE_REQUEST (AVG art. 17), PROTOCOL.md "Erasure".
 *
 * An organisation asks, on the person's justified request, that what the
 * coalition holds about a subject be erased. Like a signal the request is
 * addressed to its own sender: the broker acts on it and delivers
 * nothing. It removes the subject's signals, its mother-child links and
 * the consent records that are no longer needed (revoked, superseded or
 * past their period), keeps what the law requires (the audit trail, art.
 * 17(3)(b) and (e); active consents, the basis of what was shared), sends
 * every other organisation that held something a NOTICE_ERASURE, and
 * audits the request, each removal and what it kept. The erasure is
 * appended to the erasure register (a file, fsynced) and applied again at
 * every start: a store restored from a backup made before the erasure
 * loses again what it brought back.
 */
#ifndef KR_BROKER_ERASURE_H
#define KR_BROKER_ERASURE_H

#include "broker.h"

/* 0, or a kr.v1.Reason with *why (BAD_SIGNAL when not addressed to its
 * sender or without a subject, UNKNOWN_SUBJECT). Reads only. */
int erasure_check(struct broker *b, struct org *o, struct org *to,
                  const Kr__V1__Envelope *env, const char **why);
/* Execute it in the pass's transaction, with its message record and the
 * sender's DELIVERED receipt; the register first. 0 or KR_E*. */
int erasure_accept(struct broker *b, struct org *o, const Kr__V1__Envelope *env,
                   const Kr__V1__Submit *s);
/* 0, or ERASED with *why: env names (as its subject or previous subject)
 * a subject erased after env was made. Not for erasure requests and
 * consent revokes. Reads memory only. */
int erasure_refusal(const Kr__V1__Envelope *env, const char **why);
/* The first cron pass after start: apply the register again. */
void erasure_cron(struct broker *b);

#endif
