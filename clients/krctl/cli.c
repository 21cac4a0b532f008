/*
 * cli.c - what every krctl command uses: messages on stderr, option
 * parsing with errors that name the command, checked numbers, and JSON
 * on stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "krctl.h"
#include "util.h"

static void
s_verr(const struct krctl *k, const char *fmt, va_list ap)
{
    char msg[1024];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (k != NULL && k->cmd != NULL)
        fprintf(stderr, "krctl: %s: %s\n", k->cmd, msg);
    else
        fprintf(stderr, "krctl: %s\n", msg);
}

void
krctl_err(const struct krctl *k, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    s_verr(k, fmt, ap);
    va_end(ap);
}

int
krctl_usage_err(const struct krctl *k, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    s_verr(k, fmt, ap);
    va_end(ap);
    if (k != NULL && k->cmd != NULL)
        fprintf(stderr, "usage: see 'krctl %s --help'\n", k->cmd);
    else
        fprintf(stderr, "usage: see 'krctl --help'\n");
    return KRCTL_EXIT_USAGE;
}

void
krctl_getopt_reset(void)
{
    /* glibc: 0 (not 1) also resets its internal state, including the
     * position inside a group of short options of the previous parse. */
    optind = 0;
    opterr = 0;
}

int
krctl_getopt(const struct krctl *k, int argc, char **argv,
             const char *shortopts, const struct option *longopts)
{
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);

    if (c != '?' && c != ':')
        return c;
    /* glibc sets optopt to the option's val for a known option used
     * wrongly, to the character for an unknown short option, and to 0 for
     * an unknown long one. Long-only options have vals >= 256 (see
     * krctl.h), so the two kinds of val cannot be confused. */
    const struct option *o = longopts;
    for (; optopt != 0 && o != NULL && o->name != NULL; o++)
        if (o->val == optopt && o->flag == NULL)
            break;
    if (optopt != 0 && o != NULL && o->name != NULL) {
        if (o->has_arg == required_argument)
            krctl_usage_err(k, "--%s needs an argument", o->name);
        else
            krctl_usage_err(k, "--%s takes no argument", o->name);
    } else if (optopt != 0 && optopt < 256 && optopt != ':' &&
               strchr(shortopts, optopt) != NULL) {
        /* A short option of ours without the argument it takes. */
        krctl_usage_err(k, "-%c needs an argument", optopt);
    } else if (optopt != 0 && optopt < 256) {
        krctl_usage_err(k, "unknown option '-%c'", optopt);
    } else if (optind > 0 && optind <= argc) {
        /* The word getopt stopped at, without any "=value". */
        const char *word = argv[optind - 1];
        krctl_usage_err(k, "unknown option '%.*s'", (int)strcspn(word, "="),
                        word);
    } else {
        krctl_usage_err(k, "bad option");
    }
    return '?';
}

int
krctl_parse_u64(const struct krctl *k, const char *what, const char *s,
                uint64_t min, uint64_t max, uint64_t *out)
{
    if (util_parse_u64(s, min, max, out) != KR_OK)
        return krctl_usage_err(k,
                               "%s: '%s' is not a whole number from %llu "
                               "to %llu",
                               what, s, (unsigned long long)min,
                               (unsigned long long)max);
    return KRCTL_EXIT_OK;
}

int
krctl_print_json(const struct krctl *k, json_object *j)
{
    const char *s = json_object_to_json_string_ext(
        j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
               JSON_C_TO_STRING_NOSLASHESCAPE);

    /* json-c prints an empty array as "[", newline, "]"; an empty inbox is
     * the common case and should read as what it is. */
    if (json_object_is_type(j, json_type_array) &&
        json_object_array_length(j) == 0)
        s = "[]";

    /* A full disk or a closed pipe must not look like success to the
     * script that reads us. */
    if (s == NULL || printf("%s\n", s) < 0 || fflush(stdout) != 0) {
        krctl_err(k, "cannot write output: %s", strerror(errno));
        return KRCTL_EXIT_FAIL;
    }
    return KRCTL_EXIT_OK;
}

int
krctl_print_json_line(const struct krctl *k, json_object *j)
{
    const char *s = json_object_to_json_string_ext(
        j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

    if (s == NULL || printf("%s\n", s) < 0 || fflush(stdout) != 0) {
        krctl_err(k, "cannot write output: %s", strerror(errno));
        return KRCTL_EXIT_FAIL;
    }
    return KRCTL_EXIT_OK;
}

int
krctl_dispatch(struct krctl *k, int argc, char **argv,
               const struct krctl_sub *subs, size_t n, const char *usage)
{
    char names[256] = "";

    if (argc >= 2 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return KRCTL_EXIT_OK;
    }
    for (size_t i = 0; argc >= 2 && i < n; i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            k->cmd = subs[i].cmd;
            return subs[i].fn(k, argc - 1, argv + 1);
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, "%s%s",
                 i == 0 ? "" : (i + 1 == n ? " or " : ", "), subs[i].name);
    }
    if (argc < 2)
        return krctl_usage_err(k, "missing subcommand (%s)", names);
    return krctl_usage_err(k, "unknown subcommand '%s' (%s)", argv[1], names);
}

int
krctl_help_only(struct krctl *k, int argc, char **argv, const char *usage)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    krctl_getopt_reset();
    while ((c = krctl_getopt(k, argc, argv, "h", opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return -1;
        }
        return KRCTL_EXIT_USAGE;
    }
    return KRCTL_EXIT_OK;
}

int
krctl_one_arg(struct krctl *k, int argc, char **argv, const char *usage,
              const char *name, const char **arg)
{
    int rc = krctl_help_only(k, argc, argv, usage);

    if (rc != KRCTL_EXIT_OK)
        return rc;
    if (optind >= argc)
        return krctl_usage_err(k, "missing %s", name);
    if (optind + 1 < argc)
        return krctl_usage_err(k, "unexpected argument '%s'", argv[optind + 1]);
    *arg = argv[optind];
    return KRCTL_EXIT_OK;
}
