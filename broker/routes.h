/*
 * routes.h - the coalition's agreements as configuration: per purpose,
 * which organisation categories may refer to which, the data category and
 * legal basis, the timers and the coordinator organisation. Loaded from
 * the routes file (option `routes`) at start; routes_load is pure with
 * respect to the running broker, so that a reload (SIGHUP) can check a
 * file before routes_swap installs it. PROTOCOL.md "Routes" describes the
 * file.
 */
#ifndef KR_BROKER_ROUTES_H
#define KR_BROKER_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"

/* A timer's length. Seconds are for tests only (a route whose timers run
 * out while a test waits); deployments use hours, days or workdays. */
enum route_unit {
    ROUTE_UNIT_NONE = 0, /* no timer */
    ROUTE_UNIT_SECONDS,
    ROUTE_UNIT_HOURS,
    ROUTE_UNIT_DAYS,     /* calendar days */
    ROUTE_UNIT_WORKDAYS, /* common/workdays.h */
};

struct route_span {
    uint64_t n;
    enum route_unit unit;
};

#define ROUTE_PURPOSE_MAX 64

struct route {
    char purpose[ROUTE_PURPOSE_MAX];
    unsigned line;      /* of its [route ...] line, for messages */
    uint32_t from_mask; /* bit per kr.v1.OrgCategory */
    uint32_t to_mask;
    int data_category;               /* kr.v1.DataCategory; 0: any */
    uint32_t legal_mask;             /* bit per kr.v1.LegalBasis */
    char coordinator[KR_ORG_ID_MAX]; /* "" if none */
    struct route_span ack;           /* to received */
    struct route_span decide[2];     /* to accepted/rejected: placer, coord. */
    struct route_span contact;       /* accepted to in-progress or completed */
    struct route_span handover[3];   /* SUBJECT_LINK to an accepted HANDOVER */
    /* Signals (signal.c): how long a signal stands at most (never over
     * two years: ROUTE_SIGNAL_MAX_MS), whether a SIGNAL passes the
     * consent gate (ROUTE_BASIS_CONSENT) or stands on the basis the
     * coalition agreed for the route (ROUTE_BASIS_ROUTE, audited as such),
     * and whether the coordinator hears of each match. */
    struct route_span signal_lifetime;
    int signal_basis;
    bool match_coordinator;
};

enum { ROUTE_BASIS_CONSENT = 0, ROUTE_BASIS_ROUTE = 1 };
/* Two years of 365 days and a leap day. */
#define ROUTE_SIGNAL_MAX_MS (731ull * 86400000ull)

struct routes {
    struct route *v;
    size_t n;
    char path[512];
};

/* Read and check a routes file. 0 with *out set, or KR_ECONFIG with
 * "file:line: what" in err. Touches nothing but *out. */
int routes_load(const char *path, struct routes **out, char *err,
                size_t errlen);
/* Install *nr as the active routes (NULL: no route check) and free the
 * routes it replaces; *nr is consumed. */
void routes_swap(struct routes **nr);
void routes_free(struct routes **r);
/* The active routes, or NULL when the broker has no routes file. */
const struct routes *routes_active(void);

/* A message that opens a referral: 0 and its route in *out (NULL when no
 * routes file is loaded), or NO_ROUTE with *why naming what did not
 * match. */
int routes_check(struct broker *b, struct org *from, struct org *to,
                 const Kr__V1__Envelope *env, const struct route **out,
                 const char **why);
/* The first route of a purpose, or NULL. */
const struct route *routes_find(const char *purpose);
const char *routes_coordinator(const struct route *r);
/* When a timer of this length started at from_ms runs out; 0: never. */
uint64_t routes_due(const struct route_span *s, uint64_t from_ms);
/* "5 workdays", "none". */
const char *routes_span_str(const struct route_span *s, char *buf, size_t len);

#endif
