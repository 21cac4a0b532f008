/*
 * harness_signals.h - what the signal tests (test_signals*.c) share: a
 * broker with the signal routes and the nodes of a midwife, JGZ, the
 * coalition's coordinator and a wijkteam; messages through a node's libkr
 * and their outcomes; the match notices in an inbox; the audit tail.
 */
#ifndef HARNESS_SIGNALS_H
#define HARNESS_SIGNALS_H

#include "harness.h"

#define HS_VL "ura:00001234"
#define HS_JGZ "ura:00005678"
#define HS_COORD "ura:00009999"
#define HS_WT "oin:00000001000000000001"

struct hs_test {
    struct h_cluster c;
    int vl, jgz, coord, wt; /* node indices */
};

extern struct hs_test hs;

/* h_init(name, budget_s); the broker with routes.ini (signaal with its
 * coordinator, signaal-kort of three seconds, signaal-toestemming on
 * consent, overdracht-jgz); the four nodes started and connected. */
void hs_setup(const char *name, int budget_s);

/* The woman's year-long overdracht-jgz consent on 'bsn' from the practice
 * to JGZ (its msg_id in cid): required to be taken by the node, then
 * accepted by the broker, or with 'delivered' also delivered to JGZ. */
void hs_consent(const char *bsn, bool delivered, const char *what,
                uint8_t cid[16]);
/* One message through a node's libkr. */
struct hs_msg {
    int type;
    const char *to; /* NULL: the sender itself (a signal) */
    const char *bsn;
    const char *purpose;
    const uint8_t *case_id;
    bool withdraw;
    const uint8_t *signal_id;
};

/* NOTICE_MATCH items in a node's inbox about another organisation. */
struct hs_matches {
    const char *with; /* NULL: any */
    int n, family;
    const Kr__V1__Notice *last; /* valid in the callback only */
    bool fields_ok;
    char coord_with[64];
};

/* One message through the node's libkr; its msg_id in msg_id. */
int hs_send(int node, const struct hs_msg *m, uint8_t msg_id[16]);
/* hs_send, required to be taken, and its final outcome (required). */
struct h_fate hs_do(int node, const struct hs_msg *m, uint8_t msg_id[16]);
/* A signal on 'bsn' (purpose "signaal" if NULL), to its final outcome. */
struct h_fate hs_signal(int node, const char *bsn, const char *purpose,
                        uint8_t id[16]);
/* The NOTICE_MATCH items in the node's inbox with 'with' (NULL: any). */
struct hs_matches hs_matches(int node, const char *with);
/* All the node's match notices. */
int hs_total(int node);
/* An event among the broker's last 100 audit records. */
bool hs_audit_has(const char *event);

#endif
