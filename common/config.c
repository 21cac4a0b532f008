/* config.c - see config.h. */
#include "config.h"

#include <ini.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kr.h"
#include "util.h"

static const struct cfg_option *
s_find(const struct cfg_option *opts, const char *key)
{
    for (; opts->key != NULL; opts++)
        if (strcmp(opts->key, key) == 0)
            return opts;
    return NULL;
}

static int
s_assign(const struct cfg_option *o, void *base, const char *value, char *err,
         size_t errlen)
{
    char *field = (char *)base + o->offset;

    switch (o->type) {
    case CFG_STR: {
        char **sp = (char **)field;
        free(*sp);
        *sp = xstrdup(value);
        return KR_OK;
    }
    case CFG_U64: {
        uint64_t v;
        if (util_parse_u64(value, o->min, o->max, &v) != KR_OK) {
            snprintf(err, errlen,
                     "%s: '%s' is not a whole number from %llu to %llu", o->key,
                     value, (unsigned long long)o->min,
                     (unsigned long long)o->max);
            return KR_ECONFIG;
        }
        *(uint64_t *)field = v;
        return KR_OK;
    }
    case CFG_BOOL: {
        bool b;
        if (util_parse_bool(value, &b) != KR_OK) {
            snprintf(err, errlen, "%s: '%s' is not true or false", o->key,
                     value);
            return KR_ECONFIG;
        }
        *(bool *)field = b;
        return KR_OK;
    }
    }
    return KR_EINVAL;
}

int
cfg_defaults(const struct cfg_option *opts, void *base, char *err,
             size_t errlen)
{
    for (; opts->key != NULL; opts++) {
        if (opts->def == NULL)
            continue;
        int rc = s_assign(opts, base, opts->def, err, errlen);
        if (rc != KR_OK)
            return rc;
    }
    return KR_OK;
}

int
cfg_set(const struct cfg_option *opts, void *base, const char *key,
        const char *value, char *err, size_t errlen)
{
    const struct cfg_option *o = s_find(opts, key);

    if (o == NULL) {
        snprintf(err, errlen, "unknown option '%s'", key);
        return KR_ECONFIG;
    }
    return s_assign(o, base, value, err, errlen);
}

struct s_ini_ctx {
    const char *section;
    const struct cfg_option *opts;
    void *base;
    unsigned char *seen; /* per option: set in this file already */
    char *err;           /* the first problem, for the caller */
    size_t errlen;
    int rc;
};

static int
s_ini_handler(void *user, const char *section, const char *name,
              const char *value)
{
    struct s_ini_ctx *ctx = user;
    const struct cfg_option *o;

    /* inih goes on after an error and reports the first error's line; keep
     * the first reason too, so that the two belong together. */
    if (ctx->rc != KR_OK)
        return 0;
    if (strcmp(section, ctx->section) != 0) {
        snprintf(ctx->err, ctx->errlen, "option '%s' outside section [%s]",
                 name, ctx->section);
        ctx->rc = KR_ECONFIG;
        return 0;
    }
    if ((o = s_find(ctx->opts, name)) == NULL) {
        snprintf(ctx->err, ctx->errlen, "unknown option '%s'", name);
        ctx->rc = KR_ECONFIG;
        return 0;
    }
    /* inih passes an indented line on as a continuation of the option
     * before it ("a = 1\n  b = 2" sets a to "b = 2"); refusing an option
     * set twice in one file catches that as well as a plain duplicate. */
    if (ctx->seen[o - ctx->opts]++) {
        snprintf(ctx->err, ctx->errlen,
                 "option '%s' set twice (or an indented line after it)", name);
        ctx->rc = KR_ECONFIG;
        return 0;
    }
    if (s_assign(o, ctx->base, value, ctx->err, ctx->errlen) != KR_OK) {
        ctx->rc = KR_ECONFIG;
        return 0;
    }
    return 1;
}

/* Configuration files are small; this bounds what a wrong path can make
 * us read. */
#define S_CONFIG_FILE_MAX (1024 * 1024)

int
cfg_load_file(const char *path, const char *section,
              const struct cfg_option *opts, void *base, char *err,
              size_t errlen)
{
    struct s_ini_ctx ctx = {section, opts, base, NULL, NULL, 0, KR_OK};
    char why[256] = "";
    char *text = NULL;
    size_t n = 0, len, lineno = 1, start = 0;
    int rc;

    rc = util_read_file(path, S_CONFIG_FILE_MAX, &text, &len);
    if (rc != KR_OK) {
        snprintf(err, errlen, "%s: cannot read%s", path,
                 rc == KR_ENOTFOUND ? ": no such file"
                 : rc == KR_EINVAL  ? ": larger than 1 MiB"
                                    : "");
        return KR_ECONFIG;
    }
    /* inih cuts lines longer than its buffer and parses the rest as a line
     * of its own, which could set an option to half a value. */
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n')
            continue;
        if (i - start > INI_MAX_LINE - 2) {
            snprintf(err, errlen, "%s:%zu: line longer than %d characters",
                     path, lineno, INI_MAX_LINE - 2);
            rc = KR_ECONFIG;
            goto done;
        }
        if (memchr(text + start, '\0', i - start) != NULL) {
            snprintf(err, errlen, "%s:%zu: NUL character", path, lineno);
            rc = KR_ECONFIG;
            goto done;
        }
        lineno++;
        start = i + 1;
    }
    for (const struct cfg_option *o = opts; o->key != NULL; o++)
        n++;
    ctx.seen = xcalloc(n + 1, 1);
    ctx.err = why;
    ctx.errlen = sizeof(why);
    int line = ini_parse_string(text, s_ini_handler, &ctx);
    if (line != 0) {
        if (line < 0)
            snprintf(err, errlen, "%s: cannot parse", path);
        else
            snprintf(err, errlen, "%s:%d: %s", path, line,
                     why[0] ? why : "syntax error");
        rc = KR_ECONFIG;
        goto done;
    }
    rc = KR_OK;
done:
    free(ctx.seen);
    free(text);
    return rc;
}

int
cfg_check_required(const struct cfg_option *opts, const void *base, char *err,
                   size_t errlen)
{
    for (; opts->key != NULL; opts++) {
        if (!opts->required || opts->type != CFG_STR)
            continue;
        char *const *sp = (char *const *)((const char *)base + opts->offset);
        if (*sp == NULL || **sp == '\0') {
            snprintf(err, errlen, "option '%s' is required (%s)", opts->key,
                     opts->help);
            return KR_ECONFIG;
        }
    }
    return KR_OK;
}

void
cfg_free(const struct cfg_option *opts, void *base)
{
    for (; opts->key != NULL; opts++) {
        if (opts->type != CFG_STR)
            continue;
        char **sp = (char **)((char *)base + opts->offset);
        free(*sp);
        *sp = NULL;
    }
}

void
cfg_print_help(FILE *f, const struct cfg_option *opts)
{
    for (; opts->key != NULL; opts++) {
        fprintf(f, "  --%-22s %s", opts->key, opts->help);
        if (opts->def != NULL && opts->def[0] != '\0')
            fprintf(f, " (default: %s)", opts->def);
        else if (opts->required)
            fprintf(f, " (required)");
        fputc('\n', f);
    }
}

/* Wrap 'text' into comment lines of at most 76 columns. */
static void
s_print_comment(FILE *f, const char *text)
{
    const char *p = text;

    while (*p != '\0') {
        size_t n = strlen(p);
        if (n > 74) {
            n = 74;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = 74;
        }
        fprintf(f, "; %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

void
cfg_print_sample(FILE *f, const char *prog, const char *section,
                 const struct cfg_option *opts)
{
    fprintf(f,
            "; %s: every option, with its default (generated by\n"
            "; '%s --sample-config' from the option table; see %s.conf(5)).\n"
            "; A line starting with ';' is a comment: uncomment to change.\n"
            "; Flags (--key value) on the command line win over this file.\n"
            "\n[%s]\n",
            prog, prog, prog, section);
    for (; opts->key != NULL; opts++) {
        fputc('\n', f);
        s_print_comment(f, opts->help);
        if (opts->type == CFG_U64)
            fprintf(f, "; (%llu to %llu)\n", (unsigned long long)opts->min,
                    (unsigned long long)opts->max);
        if (opts->required)
            fprintf(f, "; required: no default, set it\n;%s =\n", opts->key);
        else if (opts->def == NULL || opts->def[0] == '\0')
            fprintf(f, ";%s =\n", opts->key);
        else
            fprintf(f, ";%s = %s\n", opts->key, opts->def);
    }
}

/* Split "--key=value" or "--key" into key (NUL-terminated in buf) and
 * value (NULL when the value is the next argument). */
static int
s_split_flag(const char *a, char *key, size_t keylen, const char **value,
             char *err, size_t errlen)
{
    const char *eq = strchr(a + 2, '=');
    size_t kl = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);

    if (kl == 0 || kl >= keylen) {
        snprintf(err, errlen, "unknown option '%s'", a);
        return KR_ECONFIG;
    }
    memcpy(key, a + 2, kl);
    key[kl] = '\0';
    *value = eq != NULL ? eq + 1 : NULL;
    return KR_OK;
}

int
cfg_parse_args(int argc, char **argv, const char *section,
               const struct cfg_option *opts, void *base, char *err,
               size_t errlen)
{
    char key[64];
    const char *value;
    int rc;

    /* First pass: syntax only, with the same reading of values as below,
     * so that a value that looks like "-h" or "-c" is taken as a value.
     * Help and version win over any error in a configuration file. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return 1;
        if (strcmp(a, "--version") == 0)
            return 2;
        if (strcmp(a, "--sample-config") == 0)
            return 3;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a file name", a);
                return KR_ECONFIG;
            }
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(err, errlen, "unexpected argument '%s'", a);
            return KR_ECONFIG;
        }
        if ((rc = s_split_flag(a, key, sizeof(key), &value, err, errlen)) !=
            KR_OK)
            return rc;
        if (s_find(opts, key) == NULL) {
            snprintf(err, errlen, "unknown option '--%s'", key);
            return KR_ECONFIG;
        }
        if (value == NULL) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--%s needs a value", key);
                return KR_ECONFIG;
            }
            i++;
        }
    }
    /* The files next, so that flags override them wherever they stand. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *file = NULL;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
            file = argv[++i];
        else if (strncmp(a, "--config=", 9) == 0)
            file = a + 9;
        else if (strchr(a, '=') == NULL)
            i++; /* skip the value of --key VALUE */
        if (file == NULL)
            continue;
        rc = cfg_load_file(file, section, opts, base, err, errlen);
        if (rc != KR_OK)
            return rc;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if ((rc = s_split_flag(a, key, sizeof(key), &value, err, errlen)) !=
            KR_OK)
            return rc;
        if (value == NULL)
            value = argv[++i];
        rc = cfg_set(opts, base, key, value, err, errlen);
        if (rc != KR_OK)
            return rc;
    }
    return cfg_check_required(opts, base, err, errlen);
}
