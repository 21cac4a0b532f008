/*
 * krctl.h - what krctl's command modules share: the global options, the
 * exit codes, and the request/reply helpers for the two daemons.
 *
 * Each command lives in its own cmd_*.c and has the signature of
 * krctl_cmd_fn: it parses its own arguments (argv[0] is the command name),
 * does its work, prints its result on stdout and its errors on stderr, and
 * returns one of the KRCTL_EXIT_* codes, which main() passes to exit().
 */
#ifndef KRCTL_H
#define KRCTL_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "admin.pb-c.h"
#include "local.pb-c.h"

/* Exit codes; the usage text documents the same list. */
enum krctl_exit {
    KRCTL_EXIT_OK = 0,          /* success */
    KRCTL_EXIT_FAIL = 1,        /* the operation failed or was refused */
    KRCTL_EXIT_USAGE = 2,       /* unknown command or flag, bad value */
    KRCTL_EXIT_UNREACHABLE = 3, /* the daemon did not answer in time */
};

/* Global options, from the command line or the environment. */
struct krctl {
    const char *admin; /* broker admin endpoint, or NULL */
    const char *node;  /* krnode local endpoint, or NULL */
    int timeout_ms;    /* bound on each request, > 0 */
    const char *cmd;   /* "org add": the command, for messages */
    int maybe_done;    /* the last request went out but its answer did
                          not come: it may have taken effect */
    int send_new_id;   /* send --new: a fresh msg_id, not one derived from
                          the file */
    int send_wait;     /* send --wait: wait for accepted or refused */
    int timeout_set;   /* --timeout was given */
};

typedef int krctl_cmd_fn(struct krctl *k, int argc, char **argv);

krctl_cmd_fn cmd_keygen;
krctl_cmd_fn cmd_org;
krctl_cmd_fn cmd_queues;
krctl_cmd_fn cmd_stats;
krctl_cmd_fn cmd_send;
krctl_cmd_fn cmd_inbox;
krctl_cmd_fn cmd_processed;
krctl_cmd_fn cmd_receipts;
krctl_cmd_fn cmd_status;
krctl_cmd_fn cmd_consent;
krctl_cmd_fn cmd_audit;
krctl_cmd_fn cmd_referral;
krctl_cmd_fn cmd_referrals;
krctl_cmd_fn cmd_routes;
krctl_cmd_fn cmd_escalations;
krctl_cmd_fn cmd_log_level;
krctl_cmd_fn cmd_backup;
krctl_cmd_fn cmd_report;

/* org remove and org rekey (cmd_org_keys.c); usage is the org command's. */
int krctl_org_remove(struct krctl *k, int argc, char **argv, const char *usage);
int krctl_org_rekey(struct krctl *k, int argc, char **argv, const char *usage);

/* send --wait (cmd_send_wait.c): after the node took msg_id, wait until
 * the broker accepted it (exit 0) or it has a final outcome: delivered
 * 0, refused, expired or withdrawn 1 with the reason on stderr; 3 if
 * neither came within --timeout. */
int krctl_send_wait(struct krctl *k, const uint8_t msg_id[16]);
krctl_cmd_fn cmd_signal;    /* cmd_signal.c */
krctl_cmd_fn cmd_matches;   /* cmd_signal.c */
krctl_cmd_fn cmd_erasure;   /* cmd_signal.c */
krctl_cmd_fn cmd_retention; /* cmd_signal.c */

/* Read a message description from 'path' ("-": standard input) and hand
 * it to the node (cmd_send.c). 'check': only validate. 'grant': the file
 * describes a consent-grant ("type" may be left out) whose consent_id
 * krctl picks if the file names none; the result is printed as
 * {"consent_id", "msg_id"} instead of the bare msg_id. Returns an exit
 * code, with any error reported. */
/* `send` and `consent grant`: [--check] FILE.json through the node;
 * 'grant' makes the file a consent grant (see krctl_send_file). */
int krctl_send_cmd(struct krctl *k, int argc, char **argv, const char *usage,
                   int grant);
int krctl_send_file(struct krctl *k, const char *path, int check, int grant);

/* "krctl: <cmd>: <message>" on stderr. Never pass a BSN or content. */
void krctl_err(const struct krctl *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Like krctl_err, plus a pointer to --help; returns KRCTL_EXIT_USAGE. */
/* Options of a command that takes none but --help: 0 to go on, -1 when
 * the usage was printed (exit 0), or KRCTL_EXIT_USAGE. */
int krctl_help_only(struct krctl *k, int argc, char **argv, const char *usage);
/* The same for a command that takes exactly one argument, named 'name'
 * in messages; *arg is set when it returns 0. */
int krctl_one_arg(struct krctl *k, int argc, char **argv, const char *usage,
                  const char *name, const char **arg);

/* A subcommand: "org add" -> its function. */
struct krctl_sub {
    const char *name; /* "add" */
    const char *cmd;  /* "org add", for messages */
    int (*fn)(struct krctl *, int, char **);
};

/* Run the subcommand argv[1] names (argv[0] is the command), or print
 * 'usage' for --help, or a usage error naming the choices. */
int krctl_dispatch(struct krctl *k, int argc, char **argv,
                   const struct krctl_sub *subs, size_t n, const char *usage);

int krctl_usage_err(const struct krctl *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Values of long-only options (struct option.val): >= 256, so that they
 * are never mistaken for a short option's character. Each command numbers
 * its own from KRCTL_OPT_CMD. */
enum krctl_opt {
    KRCTL_OPT_ADMIN = 256,
    KRCTL_OPT_NODE,
    KRCTL_OPT_TIMEOUT,
    KRCTL_OPT_VERSION,
    KRCTL_OPT_CMD = 300,
};

/* getopt_long over a command's arguments, with errors reported as usage
 * errors naming the command. Returns like getopt_long, but '?' only after
 * it has printed the message. Call krctl_getopt_reset() first. */
struct option;
void krctl_getopt_reset(void);
int krctl_getopt(const struct krctl *k, int argc, char **argv,
                 const char *shortopts, const struct option *longopts);

/* Checked number arguments: KRCTL_EXIT_USAGE with a message naming 'what'
 * if 's' is not a whole number within [min, max]. */
int krctl_parse_u64(const struct krctl *k, const char *what, const char *s,
                    uint64_t min, uint64_t max, uint64_t *out);

/* One request to the broker's admin socket. On KRCTL_EXIT_OK *out holds
 * the response (free with kr__v1__admin_response__free_unpacked); any other
 * return has been reported on stderr and *out is NULL. A response with a
 * non-zero error is reported as "<cmd>: <error>: <detail>" (exit 1). */
int krctl_admin(struct krctl *k, const Kr__V1__AdminRequest *req,
                Kr__V1__AdminResponse **out);
/* The same for the node's local socket. */
int krctl_node(struct krctl *k, const Kr__V1__LocalRequest *req,
               Kr__V1__LocalResponse **out);
/* The same with a request that is already packed. */
int krctl_node_packed(struct krctl *k, const uint8_t *req, size_t len,
                      Kr__V1__LocalResponse **out);

/* Print a JSON value on stdout, pretty and stable, with a newline. */
int krctl_print_json(const struct krctl *k, json_object *j);
/* Print a JSON value on stdout as one compact line (JSON lines). */
int krctl_print_json_line(const struct krctl *k, json_object *j);

#endif
