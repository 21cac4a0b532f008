/*
 * config.h - table-driven configuration: one table per daemon names every
 * option, its type, default, bounds and meaning. The same table reads the
 * INI file (via inih), the command-line flags (--key value) and prints the
 * documented defaults, so the three can never disagree.
 */
#ifndef KR_CONFIG_H
#define KR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type {
    CFG_STR,  /* char *, malloc'd */
    CFG_U64,  /* uint64_t within [min, max] */
    CFG_BOOL, /* bool: true/false, yes/no, on/off, 1/0 */
};

struct cfg_option {
    const char *key; /* also the flag: --key */
    enum cfg_type type;
    size_t offset;     /* of the field in the config struct */
    const char *def;   /* default as text; NULL: no default (required
                          if 'required') */
    uint64_t min, max; /* bounds for CFG_U64 */
    int required;      /* must be set by file or flag */
    const char *help;  /* one line for --help and the docs */
};

/* Set every option to its default. */
int cfg_defaults(const struct cfg_option *opts, void *base, char *err,
                 size_t errlen);
/* Read an INI file; keys must be in [section]. An unknown key, a malformed
 * value or a value out of bounds is an error naming file, line and key. */
int cfg_load_file(const char *path, const char *section,
                  const struct cfg_option *opts, void *base, char *err,
                  size_t errlen);
/* Set one option by key from text. */
int cfg_set(const struct cfg_option *opts, void *base, const char *key,
            const char *value, char *err, size_t errlen);
/* Check that every required option has a value. */
int cfg_check_required(const struct cfg_option *opts, const void *base,
                       char *err, size_t errlen);
/* Free the strings of a config. */
void cfg_free(const struct cfg_option *opts, void *base);
/* Print "  --key VALUE   help (default: x)" for each option. */
void cfg_print_help(FILE *f, const struct cfg_option *opts);

/* Print a commented sample file: the [section] and, for each option, its
 * help as a comment and "key = default" commented out (required ones
 * without a default are left for the operator to fill). */
void cfg_print_sample(FILE *f, const char *prog, const char *section,
                      const struct cfg_option *opts);

/* Parse a daemon command line: -c/--config FILE first (read as the file),
 * then --key VALUE or --key=VALUE for every option in the table, -h/--help
 * and --version handled by the caller through the return value:
 *   0 ok, 1 help asked, 2 version asked, 3 --sample-config asked,
 *   KR_ECONFIG (err set) on error. */
int cfg_parse_args(int argc, char **argv, const char *section,
                   const struct cfg_option *opts, void *base, char *err,
                   size_t errlen);

#endif
