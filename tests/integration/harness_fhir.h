/*
 * harness_fhir.h - krfhir for the integration tests (harness_fhir.c): a
 * krfhir daemon started on a node with the options a test names, the real
 * curl as the EPD that speaks to it, what FHIR answers hold, the
 * independent validator (tests/fhir/validate.js) over everything a test
 * kept, and the two organisations of the example Bundle
 * (examples/fhir/referral-bundle.json) with the woman's consent, which
 * test_fhir, test_fhir_refusals and test_fhir_notify each start from.
 *
 * Paths come back in small rings of static buffers (h_fhir_path): use one
 * before asking for eight more.
 */
#ifndef KR_HARNESS_FHIR_H
#define KR_HARNESS_FHIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "harness.h"

#define H_KRFHIR KR_BIN_DIR "/clients/krfhir/krfhir"
#define H_FHIR_EXAMPLE KR_SOURCE_DIR "/examples/fhir/referral-bundle.json"
#define H_FHIR_VALIDATOR KR_SOURCE_DIR "/tests/fhir/validate.js"
#define H_FHIR_BSN_SYSTEM "http://fhir.nl/fhir/NamingSystem/bsn"

/* A running krfhir. */
struct h_fhir_gw {
    char label[32];   /* "vl", "jgz-1": names its log and directory */
    char dir[H_PATH]; /* its state_dir (holds the port file) */
    char log[H_PATH]; /* <tmp>/krfhir-<label>.log */
    char base[128];   /* http://127.0.0.1:PORT */
    struct h_proc proc;
};

/* Start krfhir for the node at 'node' (its local endpoint) on a free
 * loopback port, with state_dir 'dir' (NULL: <tmp>/fhir-<label>, made
 * here; a given one is kept as it is, for a restart), debug logs, the
 * notifier's retries at 200..1000 ms, and then 'opts': more "--key",
 * "value" arguments, NULL-ended (NULL: none). Waits until it has written
 * its port; aborts the test if it does not. */
void h_fhir_gw_start(struct h_fhir_gw *g, const struct h_cluster *c,
                     const char *label, const char *node, const char *dir,
                     const char *const *opts);
/* SIGTERM; a check that it exits 0 in time. */
bool h_fhir_gw_stop(struct h_fhir_gw *g);

/* A program in PATH into 'out' (h_run takes a path); whether found. */
bool h_fhir_which(const char *name, char out[H_PATH]);
/* curl: METHOD 'url', with the body file 'body' (or NULL) of content
 * type 'ctype', Accept application/fhir+json. The answer goes to 'out',
 * its headers to 'out'.hdr. The HTTP status, or -1 if curl failed (said
 * in a note). */
int h_fhir_curl(const char *method, const char *url, const char *ctype,
                const char *body, const char *out);
/* The value of header 'name' in what h_fhir_curl wrote for 'out' ("" if
 * none). */
void h_fhir_header_of(const char *out, const char *name, char *val, size_t len);
/* The port a daemon wrote to 'file' (0 if not yet). */
int h_fhir_port_of(const char *file);
/* A loopback port nobody listens on (yet); -1 if none was found. */
int h_fhir_free_port(void);

/* <tmp>/<name>, from a ring of eight buffers. */
const char *h_fhir_path(const struct h_cluster *c, const char *name);
/* A JSON file, parsed (the caller puts it), or NULL. */
json_object *h_fhir_read(const char *path);
/* Write 'o' to 'path' (aborts the test if it cannot). */
void h_fhir_write_json(const char *path, json_object *o);
/* h_json_str that takes NULL for 'o'. */
const char *h_fhir_str(json_object *o, const char *path);
/* Both there and equal. */
bool h_fhir_eq(const char *a, const char *b);
/* The resource of 'bundle's first entry of resourceType 'type'. */
json_object *h_fhir_entry(json_object *bundle, const char *type);
/* The value of r.key's identifier with 'system' (key holds one or an
 * array). */
const char *h_fhir_ident(json_object *r, const char *key, const char *system);
/* "ura:<value>" or "agb:<value>" of a Reference by identifier ("" if
 * none). */
void h_fhir_org_of(json_object *ref, char out[64]);
/* The first issue of an answer: an OperationOutcome, or a response
 * Bundle whose entries hold one; NULL if neither. */
json_object *h_fhir_issue(json_object *o);

/* METHOD a gateway's 'path' (body file or NULL) and check the answer:
 * HTTP 'status' and an OperationOutcome whose diagnostics or expression
 * mention 'needle'. The answer is kept for the validator; its file is
 * returned (for its headers); *ms (if not NULL) is how long it took. */
const char *h_fhir_expect(const struct h_cluster *c, const char *what,
                          const struct h_fhir_gw *g, const char *method,
                          const char *path, const char *body, int status,
                          const char *needle, uint64_t *ms);

/* The long poll at 'g' (GET /Task?requester=<from>&_wait=30) finds the
 * new Task: its id into 'tid' (a check that ends the test if not); the
 * answer is kept for the validator. */
void h_fhir_poll_task(const struct h_cluster *c, const struct h_fhir_gw *g,
                      const char *from, char tid[64]);

/* Keep a returned resource for the validator (up to 64). */
void h_fhir_keep(const char *path);
/* Run tests/fhir/validate.js on every kept file: a check (a note and no
 * check where its npm packages are missing and CI is not set). */
void h_fhir_validate(void);

/* What the example Bundle says, to compare against. */
struct h_fhir_example {
    json_object *bundle;           /* the example, parsed */
    char sender[64], receiver[64]; /* org ids: "ura:..." */
    char bsn[16], family[128], reason[128], purpose[64];
    uint8_t consent_id[16]; /* the consent the ServiceRequest names */
    bool has_consent_id;
};
/* Read the example; aborts the test if it lacks sender, receiver, BSN or
 * reason. h_fhir_example_free puts its Bundle. */
void h_fhir_example_read(struct h_fhir_example *x);
void h_fhir_example_free(struct h_fhir_example *x);
/* A copy of the example (the caller puts it). */
json_object *h_fhir_example_copy(const struct h_fhir_example *x);
/* Make 'b' a new message: its own Bundle.id, and no Task.identifier, so
 * that its referral_id derives from that id instead of reusing the
 * example's referral. */
void h_fhir_fresh(json_object *b, const char *bundle_id);

/* curl is installed (a check that ends the test if not); the broker, the
 * example's sender (*vl, "verloskunde") and receiver
 * (*jgz) with running, connected nodes; the woman's consent for the
 * example's purpose recorded by the sender's node, and the harness's own
 * woman's for h_roundtrip. */
void h_fhir_cluster(struct h_cluster *c, const struct h_fhir_example *x,
                    int *vl, int *jgz);
/* REFERRALs from 'from' in the node's inbox. */
size_t h_fhir_referrals_at(struct h_cluster *c, int node, const char *from);
/* Whether the REFERRAL from 'from' that opened referral 'rid_hex' is
 * marked processed at the node. */
bool h_fhir_processed(struct h_cluster *c, int node, const char *from,
                      const char *rid_hex);
/* The node's outbox total. */
size_t h_fhir_outbox_total(struct h_cluster *c, int node);
/* The end of a test on the example: the validator over what was kept,
 * each of the 'n' gateways stopped (exit 0), a check that none of their
 * logs holds the example's BSN or family name, the example freed; then
 * h_finish (its exit code). */
int h_fhir_finish(struct h_cluster *c, struct h_fhir_example *x,
                  struct h_fhir_gw *const *gws, int n);

#endif
