/*
 * harness_referral.h - what the referral tests (test_referral*.c) share: a
 * broker with the routes of a test coalition (one without timers, one
 * with timers of seconds, a handover route) and the nodes of a midwife,
 * JGZ, the coordinator and a wijkteam (and JGZ Elders, without a node);
 * the subject's consents; messages through a node and their fates; the
 * referral's state at the broker and at both nodes.
 */
#ifndef HARNESS_REFERRAL_H
#define HARNESS_REFERRAL_H

#include <json-c/json.h>

#include "harness.h"

#define HR_VL "ura:00001234"
#define HR_JGZ "ura:00005678"
#define HR_JGZ2 "ura:00005679"
#define HR_COORD "ura:00009999"
#define HR_WT "oin:00000001000000000001"

struct hr_test {
    struct h_cluster c;
    int vl, jgz, coord, wt; /* node indices */
    struct h_referral ref;  /* the harness's referral: its subject */
    uint8_t cid_phb[16];    /* the consent for prenataal-huisbezoek */
};

extern struct hr_test hr;

/* h_init(name, budget_s); the broker with routes.ini, the organisations,
 * four nodes started and connected; the subject's consents to JGZ for
 * the four purposes, accepted. */
void hr_setup(const char *name, int budget_s);

/* One message through a node: a referral, a status or a follow-up. */
struct hr_msg {
    int type;
    const char *to;
    const uint8_t *referral_id; /* 16 bytes or NULL */
    const uint8_t *case_id;     /* 16 bytes or NULL */
    const char *purpose;        /* NULL: prenataal-huisbezoek */
    const char *status;         /* REFERRAL_STATUS: a name, sealed */
    const char *reason;
    const char *outcome;
    int raw_task_status; /* set in clear as given (bad input) */
};

/* One message through the client's node; its msg_id in msg_id. */
int hr_send(kr_client_t *kc, const struct hr_msg *m, uint8_t msg_id[16]);
/* Send and wait for delivered or refused; the fate. */
struct h_fate hr_do(int node, const struct hr_msg *m, uint8_t msg_id[16]);
/* A REFERRAL_STATUS from 'node' to 'to' about rid, to its fate. */
struct h_fate hr_status(int node, const char *to, const uint8_t rid[16],
                        const char *status, const char *reason,
                        const char *outcome);
/* `krctl referral show ID --json` at the broker, parsed (NULL if none). */
json_object *hr_broker_referral(const uint8_t rid[16]);
/* The referral's state at the broker into buf ("(none)" if none). */
const char *hr_broker_state(const uint8_t rid[16], char *buf, size_t len);
/* The referral's state as a node keeps it (`krctl --node ... referral
 * show --json`), into buf ("(none)" if it has none). */
const char *hr_node_state(int node, const uint8_t rid[16], char *buf,
                          size_t len);
/* Checks: both nodes and the broker say 'want', the broker's history has
 * 'history' steps. */
void hr_expect_state(const uint8_t rid[16], const char *want, size_t history,
                     const char *what);
/* A new referral from vl to 'to' under 'purpose': its referral_id. */
struct h_fate hr_open(const char *to, const char *purpose, uint8_t rid[16]);

#endif
